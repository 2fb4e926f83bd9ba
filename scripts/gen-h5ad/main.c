/*
 * gen-h5ad - write a synthetic but realistic single-cell .h5ad file.
 *
 * The file is laid out exactly as anndata >= 0.8 writes it through h5py
 * (h5ad-format.md §2-§3), so cellucidfs, the tests, the demo and the
 * benchmarks can use data of any size without Python:
 *
 *   X                   csr_matrix: K stored values per cell (distinct genes,
 *                       sorted), float32 data, int32 indices, int64 indptr,
 *                       in chunked datasets (maxshape unlimited, h5py's
 *                       chunk shapes), unfiltered unless --x-compression
 *                       asks for gzip (deflate level 4, no shuffle: h5py's
 *                       compression="gzip") or lzf (filter 32000); with
 *                       --x-dense a dense float32 array in h5py's chunks
 *   obs                 leiden, cell_type, n_counts, n_genes, pct_mito (0.2%
 *                       NaN), phase, batch; index "cell_000001", ...
 *   var                 gene symbols (a few that need safe-naming), n_cells,
 *                       highly_variable (enum bool)
 *   obsm                X_pca (N, 50), X_umap (N, 2), X_umap_3d (N, 3), float32
 *   obsp                connectivities (float32) and distances (float64) kNN
 *                       graphs, k = 15, int32 indptr
 *   uns                 leiden_colors, cell_type_colors
 *   layers, varm, varp  empty dicts
 *
 * The data has structure, so what the viewer shows looks like a real
 * dataset: 12-20 clusters of varied size, grouped into lineages; each cluster
 * has a centre in the 50-d latent space and an island in each UMAP (one to
 * three overlapping anisotropic blobs, slightly bent, with a few cells
 * bridging to a sister cluster); each cluster has marker genes that it
 * expresses more often and more strongly (CD3D in T cells, LYZ in
 * monocytes, ...). Genes are picked with popularity proportional to
 * rank^-0.8 and values are log1p(Gamma(1.2, 2) x library size).
 *
 * Every X layout and filter holds the same values for the same seed. The
 * output is deterministic: the same arguments give the same bytes
 * (private xoshiro256** generator, no clock, HDF5 object times off). Memory
 * is bounded by the number of cells and genes, never by the number of stored
 * values: X and the graphs are streamed in whole chunks and the dense arrays
 * in row blocks. The file is written as OUT.part and renamed at the end, so a
 * file under the final name is always complete.
 *
 *   $ make build/gen-h5ad
 *   $ build/gen-h5ad --cells 50000 --genes 2000 --seed 1 demo.h5ad
 *   gen-h5ad: wrote demo.h5ad: 50000 cells x 2000 genes, 7500000 stored values, 18 clusters
 *   $ h5ls -r demo.h5ad | head -4
 *   /                        Group
 *   /X                       Group
 *   /X/data                  Dataset {7500000/Inf}
 *   /X/indices               Dataset {7500000/Inf}
 *
 * That file (90 MB) takes about 1 s; 100 000 cells x 20 000 genes x 800
 * values (700 MB) about 16 s in 50 MB of memory; 1 000 000 cells x 1 000
 * values (8.6 GB) a few minutes in 110 MB.
 */
#include "gen.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *to)
{
	fputs("usage: gen-h5ad [--cells N] [--genes G] [--per-cell K] [--seed S]\n"
	      "                [--x-compression none|gzip|lzf] [--x-dense] OUT.h5ad\n"
	      "Write a synthetic, deterministic .h5ad (anndata >= 0.8 encoding).\n"
	      "  --cells N     cells (default 50000)\n"
	      "  --genes G     genes (default 2000, at most 1000000)\n"
	      "  --per-cell K  stored values per cell, at most G (default 150)\n"
	      "  --seed S      random seed (default 1); same arguments, same bytes\n"
	      "  --x-compression none|gzip|lzf\n"
	      "                X's chunks as h5py's compression= writes them: gzip is\n"
	      "                deflate level 4 without shuffle (default none)\n"
	      "  --x-dense     X as a dense chunked array instead of CSR (same values)\n",
	      to);
}

static uint64_t parse_count(const char *opt, const char *s, uint64_t min, uint64_t max)
{
	char *end;
	errno = 0;
	unsigned long long v = s ? strtoull(s, &end, 10) : 0;
	if (!s || errno || end == s || *end || *s == '-' || v < min || v > max)
		die("%s needs a whole number from %llu to %llu, not '%s'", opt,
		    (unsigned long long)min, (unsigned long long)max, s ? s : "");
	return v;
}

static x_filter parse_filter(const char *s)
{
	if (s && !strcmp(s, "none"))
		return X_PLAIN;
	if (s && !strcmp(s, "gzip"))
		return X_GZIP;
	if (s && !strcmp(s, "lzf"))
		return X_LZF;
	die("--x-compression needs none, gzip or lzf, not '%s'", s ? s : "");
}

int main(int argc, char **argv)
{
	model m = {.n_cells = 50000, .n_genes = 2000, .per_cell = 150, .seed = 1};
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(a, "--cells")) {
			m.n_cells = (uint32_t)parse_count(a, v, 1, INT32_MAX - 1);
			i++;
		} else if (!strcmp(a, "--genes")) {
			m.n_genes = (uint32_t)parse_count(a, v, 1, MAX_GENES);
			i++;
		} else if (!strcmp(a, "--per-cell")) {
			m.per_cell = (uint32_t)parse_count(a, v, 0, MAX_GENES);
			i++;
		} else if (!strcmp(a, "--seed")) {
			m.seed = parse_count(a, v, 0, UINT64_MAX);
			i++;
		} else if (!strcmp(a, "--x-compression")) {
			m.x_filter = parse_filter(v);
			i++;
		} else if (!strcmp(a, "--x-dense")) {
			m.x_dense = 1;
		} else if (a[0] == '-' && a[1]) {
			usage(stderr);
			die("unknown option %s", a);
		} else if (g_out) {
			die("one output file only (got %s and %s)", g_out, a);
		} else {
			g_out = a;
		}
	}
	if (!g_out) {
		usage(stderr);
		die("no output file given");
	}
	if (m.per_cell > m.n_genes)
		die("--per-cell %u exceeds --genes %u", m.per_cell, m.n_genes);

	H5Eset_auto2(H5E_DEFAULT, NULL, NULL);   /* errors are reported by h5() */
	types_init();
	model_build(&m);

	g_part = xmalloc(strlen(g_out) + 6, 1);
	sprintf(g_part, "%s.part", g_out);
	hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
	h5(H5Pset_obj_track_times(fcpl, 0), "file properties");   /* the root group */
	hid_t f = H5Fcreate(g_part, H5F_ACC_TRUNC, fcpl, H5P_DEFAULT);
	if (f < 0)
		die("cannot create %s: %s", g_part, h5_reason());
	H5Pclose(fcpl);
	encoding(f, "anndata", "0.1.0");

	qc *cells = xmalloc(m.n_cells, sizeof *cells);
	int64_t *gene_cells = xmalloc(m.n_genes, sizeof *gene_cells);
	float *umap2 = xmalloc((size_t)m.n_cells * 2, sizeof *umap2);
	write_X(f, &m, cells, gene_cells);
	write_obs(f, &m, cells);
	write_var(f, &m, gene_cells);
	write_obsm(f, &m, umap2);
	write_obsp(f, &m, umap2);
	hid_t uns = group(f, "uns", "dict", "0.1.0");
	colours(uns, "leiden_colors", m.k);
	colours(uns, "cell_type_colors", m.n_used);
	H5Gclose(uns);
	empty_dict(f, "layers");
	empty_dict(f, "varm");
	empty_dict(f, "varp");
	h5(H5Fclose(f), "the file");
	if (rename(g_part, g_out))
		die("cannot rename %s to %s: %s", g_part, g_out, strerror(errno));
	printf("gen-h5ad: wrote %s: %u cells x %u genes, %llu stored values, %d clusters\n",
	       g_out, m.n_cells, m.n_genes, (unsigned long long)m.n_cells * m.per_cell, m.k);
	free(cells);
	free(gene_cells);
	free(umap2);
	free(g_part);
	model_free(&m);
	return 0;
}
