/*
 * obs.c - everything but X: obsm (PCA and the UMAPs, from the model's
 * islands), obsp (kNN graphs), obs and var dataframes, uns colours.
 */
#include "gen.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const PHASES[] = {"G1", "G2M", "S"};   /* pandas' sorted order */
static const char *const BATCHES[] = {"batch1", "batch2", "batch3"};

/* ------------------------------------------------------------------------ */
/* obsm.                                                                     */

/* A point of cluster c's island: one of its lobes, each an anisotropic
 * Gaussian, bent along the first axis; 3% of the cells lie on the way to the
 * sister cluster. */
static void island_point(rng *r, const model *m, const island *isl, int c, int d, float *out)
{
	const island *s = &isl[c];
	int l = (int)below(r, (uint32_t)s->lobes);
	double t[3], p[3];
	for (int a = 0; a < d; a++)
		t[a] = s->lobe[l][a] + normal(r) * s->sd[a] * s->lobe_scale[l];
	t[1] += s->bend * t[0] * t[0];
	for (int a = 0; a < d; a++) {
		p[a] = s->centre[a];
		for (int b = 0; b < d; b++)
			p[a] += t[b] * s->axis[b][a];
	}
	if (m->sister[c] >= 0 && unit(r) < 0.03) {
		double along = unit(r);
		const island *to = &isl[m->sister[c]];
		for (int a = 0; a < d; a++)
			p[a] = s->centre[a] + along * (to->centre[a] - s->centre[a]) +
			       0.25 * s->sd[d - 1] * normal(r);
	}
	for (int a = 0; a < d; a++)
		out[a] = (float)p[a];
}

/* Dense (N, d) float32 arrays, generated and written in row blocks. The 2-d
 * UMAP is also returned whole (the kNN graph is built from it). */
void write_obsm(hid_t f, const model *m, float *umap2)
{
	hid_t g = group(f, "obsm", "dict", "0.1.0");
	static const struct { const char *name; int dim, stream; } E[] = {
		{"X_pca", N_PCS, S_PCA}, {"X_umap", 2, S_UMAP2}, {"X_umap_3d", 3, S_UMAP3},
	};
	uint32_t block = BLOCK_BYTES / (N_PCS * sizeof(float));
	float *buf = xmalloc((size_t)block * N_PCS, sizeof *buf);
	for (size_t e = 0; e < sizeof E / sizeof *E; e++) {
		hsize_t dims[2] = {m->n_cells, (hsize_t)E[e].dim};
		hid_t d = dataset(g, E[e].name, H5T_IEEE_F32LE, 2, dims, "array");
		rng r;
		rng_init(&r, m->seed, (uint64_t)E[e].stream);
		for (uint32_t i0 = 0; i0 < m->n_cells; i0 += block) {
			uint32_t n = m->n_cells - i0 < block ? m->n_cells - i0 : block;
			for (uint32_t i = 0; i < n; i++) {
				int c = m->cluster[i0 + i];
				float *row = buf + (size_t)i * (size_t)E[e].dim;
				if (E[e].dim == N_PCS)
					for (int j = 0; j < N_PCS; j++)
						row[j] = m->pca_centre[c][j] +
							 (float)(normal(&r) / sqrt(1 + 0.3 * j));
				else
					island_point(&r, m, E[e].dim == 2 ? m->umap2 : m->umap3, c,
						     E[e].dim, row);
			}
			if (E[e].dim == 2)
				memcpy(umap2 + (size_t)i0 * 2, buf, (size_t)n * 2 * sizeof *buf);
			write_rows(d, H5T_NATIVE_FLOAT, i0, n, (hsize_t)E[e].dim, buf, E[e].name);
		}
		H5Dclose(d);
	}
	free(buf);
	H5Gclose(g);
}

/* ------------------------------------------------------------------------ */
/* obsp: kNN graphs in O(N k). Cells are sorted by cluster and then along a  */
/* Z-order curve of their 2-d UMAP position, so cells close in that order    */
/* are close on the island. Neighbours are taken from a window of that       */
/* order within the cluster: distances has the k-1 nearest positions (as     */
/* scanpy stores k-1 per row); connectivities has the positions within       */
/* (k-1)/2 on either side, a symmetric relation, as scanpy's graph is.        */

typedef struct {
	uint64_t key;
	uint32_t cell;
} ordered;

static int by_key(const void *a, const void *b)
{
	const ordered *x = a, *y = b;
	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return (x->cell > y->cell) - (x->cell < y->cell);
}

/* Spread the low 21 bits of v to the even bit positions 0..40. */
static uint64_t spread(uint64_t v)
{
	v &= 0x1fffff;
	v = (v | v << 16) & 0x0000ffff0000ffffu;
	v = (v | v << 8) & 0x00ff00ff00ff00ffu;
	v = (v | v << 4) & 0x0f0f0f0f0f0f0f0fu;
	v = (v | v << 2) & 0x3333333333333333u;
	v = (v | v << 1) & 0x5555555555555555u;
	return v;
}

/* Neighbour positions of position p in [lo, hi): the window of the order
 * that holds p, less p itself, returned as cells in increasing order. */
static int neighbours(const ordered *ord, uint32_t p, uint32_t lo, uint32_t hi, int symmetric,
		      uint32_t *out)
{
	uint32_t a, b, half = (N_NEIGHBORS - 1) / 2;
	if (symmetric) {
		a = p - lo > half ? p - half : lo;
		b = hi - 1 - p > half ? p + half : hi - 1;
	} else {
		uint32_t want = hi - lo - 1 < N_NEIGHBORS - 1 ? hi - lo - 1 : N_NEIGHBORS - 1;
		a = p - lo > want / 2 ? p - want / 2 : lo;
		if (a + want > hi - 1)
			a = hi - 1 - want;
		b = a + want;
	}
	int n = 0;
	for (uint32_t q = a; q <= b; q++) {
		if (q == p)
			continue;
		uint32_t cell = ord[q].cell;
		int j = n++;
		for (; j > 0 && out[j - 1] > cell; j--)
			out[j] = out[j - 1];
		out[j] = cell;
	}
	return n;
}

void write_obsp(hid_t f, const model *m, const float *umap2)
{
	uint32_t N = m->n_cells;
	float lo[2] = {INFINITY, INFINITY}, hi[2] = {-INFINITY, -INFINITY};
	for (uint32_t i = 0; i < N; i++)
		for (int a = 0; a < 2; a++) {
			lo[a] = fminf(lo[a], umap2[2 * i + a]);
			hi[a] = fmaxf(hi[a], umap2[2 * i + a]);
		}
	ordered *ord = xmalloc(N, sizeof *ord);
	for (uint32_t i = 0; i < N; i++) {
		uint64_t q[2];
		for (int a = 0; a < 2; a++)
			q[a] = (uint64_t)((umap2[2 * i + a] - lo[a]) / (hi[a] - lo[a] + 1e-9f) * 0x1fffff);
		ord[i].key = (uint64_t)m->cluster[i] << 48 | spread(q[0]) | spread(q[1]) << 1;
		ord[i].cell = i;
	}
	qsort(ord, N, sizeof *ord, by_key);

	uint32_t *pos = xmalloc(N, sizeof *pos), start[MAX_CLUSTERS + 1] = {0};
	for (uint32_t p = 0; p < N; p++) {
		pos[ord[p].cell] = p;
		start[m->cluster[ord[p].cell] + 1] = p + 1;
	}
	for (int c = 1; c <= m->k; c++)   /* empty clusters start where the last ended */
		if (start[c] < start[c - 1])
			start[c] = start[c - 1];

	/* Edge weight 1 / (1 + (d / scale)^2), UMAP's kernel, in (0, 1]; scale
	 * is about the kNN radius of the island. */
	double scale[MAX_CLUSTERS];
	for (int c = 0; c < m->k; c++) {
		double n = start[c + 1] - start[c];
		scale[c] = m->umap2[c].sd[0] * 2 * sqrt(N_NEIGHBORS / (n > 1 ? n : 1));
	}

	uint32_t nb[N_NEIGHBORS];
	hsize_t nnz_dist = 0, nnz_conn = 0;
	for (uint32_t i = 0; i < N; i++) {
		int c = m->cluster[i];
		nnz_dist += (hsize_t)neighbours(ord, pos[i], start[c], start[c + 1], 0, nb);
		nnz_conn += (hsize_t)neighbours(ord, pos[i], start[c], start[c + 1], 1, nb);
	}

	hid_t g = group(f, "obsp", "dict", "0.1.0");
	csr conn, dist;
	/* int32 indptr as scipy writes it, int64 once the counts need it */
	csr_open(&conn, g, "connectivities", N, N, nnz_conn, H5T_IEEE_F32LE,
		 nnz_conn > INT32_MAX ? H5T_STD_I64LE : H5T_STD_I32LE, X_PLAIN);
	csr_open(&dist, g, "distances", N, N, nnz_dist, H5T_IEEE_F64LE,
		 nnz_dist > INT32_MAX ? H5T_STD_I64LE : H5T_STD_I32LE, X_PLAIN);
	int64_t end_conn = 0, end_dist = 0;
	for (uint32_t i = 0; i < N; i++) {
		int c = m->cluster[i];
		for (int symmetric = 0; symmetric < 2; symmetric++) {
			int n = neighbours(ord, pos[i], start[c], start[c + 1], symmetric, nb);
			csr *x = symmetric ? &conn : &dist;
			for (int j = 0; j < n; j++) {
				double dx = (double)umap2[2 * i] - umap2[2 * nb[j]];
				double dy = (double)umap2[2 * i + 1] - umap2[2 * nb[j] + 1];
				double d = sqrt(dx * dx + dy * dy);
				int32_t cell = (int32_t)nb[j];
				if (symmetric) {
					float w = (float)(1 / (1 + (d / scale[c]) * (d / scale[c])));
					stream_put(&x->data, &w, 1);
				} else {
					stream_put(&x->data, &d, 1);
				}
				stream_put(&x->indices, &cell, 1);
			}
			int64_t *end = symmetric ? &end_conn : &end_dist;
			*end += n;
			stream_put(&x->indptr, end, 1);
		}
	}
	csr_close(&conn);
	csr_close(&dist);
	H5Gclose(g);
	free(ord);
	free(pos);
}

/* ------------------------------------------------------------------------ */
/* obs, var, uns.                                                            */

/* dataframe 0.2.0: the group with its _index and column-order attrs. */
static hid_t dataframe(hid_t parent, const char *name, const char *const *columns, hsize_t n)
{
	hid_t g = group(parent, name, "dataframe", "0.2.0");
	attr_string(g, "_index", "_index");
	attr_strings(g, "column-order", columns, n);
	return g;
}

/* The index "cell_000001", ... written in blocks so 10^7 cells stay cheap. */
static void write_cell_names(hid_t df, uint32_t n)
{
	enum { B = 65536 };
	hsize_t dims = n;
	hid_t d = dataset(df, "_index", T.str, 1, &dims, "string-array");
	char (*text)[24] = xmalloc(B, sizeof *text);
	const char **ptr = xmalloc(B, sizeof *ptr);
	for (uint32_t i0 = 0; i0 < n; i0 += B) {
		uint32_t k = n - i0 < B ? n - i0 : B;
		for (uint32_t i = 0; i < k; i++) {
			snprintf(text[i], sizeof *text, "cell_%06u", i0 + i + 1);
			ptr[i] = text[i];
		}
		write_rows(d, T.str, i0, k, 0, ptr, "obs/_index");
	}
	free(text);
	free(ptr);
	H5Dclose(d);
}

void write_obs(hid_t f, const model *m, const qc *cells)
{
	static const char *const COLUMNS[] = {"leiden", "cell_type", "n_counts", "n_genes",
					      "pct_mito", "phase", "batch"};
	uint32_t N = m->n_cells;
	hid_t df = dataframe(f, "obs", COLUMNS, sizeof COLUMNS / sizeof *COLUMNS);
	write_cell_names(df, N);

	int16_t *codes = xmalloc(N, sizeof *codes);
	char leiden_names[MAX_CLUSTERS][12];
	const char *leiden[MAX_CLUSTERS], *types[N_TYPES];
	for (int c = 0; c < m->k; c++) {
		snprintf(leiden_names[c], sizeof *leiden_names, "%d", c);
		leiden[c] = leiden_names[c];
	}
	for (uint32_t i = 0; i < N; i++)
		codes[i] = m->cluster[i];
	categorical(df, "leiden", leiden, (hsize_t)m->k, codes, N);
	for (int c = 0; c < m->n_used; c++)
		types[c] = type_name(m->used[c]);
	for (uint32_t i = 0; i < N; i++)
		codes[i] = (int16_t)m->type_code[m->type[m->cluster[i]]];
	categorical(df, "cell_type", types, (hsize_t)m->n_used, codes, N);
	categorical(df, "phase", PHASES, 3, m->phase, N);
	categorical(df, "batch", BATCHES, 3, m->batch, N);
	free(codes);

	float *f32 = xmalloc(N, sizeof *f32);
	int64_t *i64 = xmalloc(N, sizeof *i64);
	for (uint32_t i = 0; i < N; i++)
		f32[i] = (float)cells[i].n_counts;
	array(df, "n_counts", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, N, f32, "array");
	for (uint32_t i = 0; i < N; i++)
		i64[i] = cells[i].n_genes;
	array(df, "n_genes", H5T_STD_I64LE, H5T_NATIVE_INT64, N, i64, "array");
	for (uint32_t i = 0; i < N; i++)
		f32[i] = (float)cells[i].pct_mito;
	array(df, "pct_mito", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, N, f32, "array");
	free(f32);
	free(i64);
	H5Gclose(df);
}

void write_var(hid_t f, const model *m, const int64_t *gene_cells)
{
	static const char *const COLUMNS[] = {"n_cells", "highly_variable"};
	hid_t df = dataframe(f, "var", COLUMNS, 2);
	string_array(df, "_index", (const char *const *)m->gene, m->n_genes);
	array(df, "n_cells", H5T_STD_I64LE, H5T_NATIVE_INT64, m->n_genes, gene_cells, "array");
	array(df, "highly_variable", T.boolean, T.boolean, m->n_genes, m->variable, "array");
	H5Gclose(df);
}

/* Colour lists as scanpy keeps them in uns: "#rrggbb" per category. Hues
 * step by the golden angle so neighbouring categories differ. */
void colours(hid_t uns, const char *name, int n)
{
	char hex[MAX_CLUSTERS][8];
	const char *ptr[MAX_CLUSTERS];
	for (int i = 0; i < n; i++) {
		double h = fmod(0.07 + i * 0.618033988749895, 1) * 6, s = i % 2 ? 0.55 : 0.75, v = 0.85;
		double x = v * s * (1 - fabs(fmod(h, 2) - 1)), c = v * s, m0 = v - c, rgb[3];
		int sector = (int)h;
		rgb[0] = sector == 0 || sector == 5 ? c : sector == 1 || sector == 4 ? x : 0;
		rgb[1] = sector == 1 || sector == 2 ? c : sector == 0 || sector == 3 ? x : 0;
		rgb[2] = sector == 3 || sector == 4 ? c : sector == 2 || sector == 5 ? x : 0;
		snprintf(hex[i], sizeof *hex, "#%02x%02x%02x", (int)lround((rgb[0] + m0) * 255),
			 (int)lround((rgb[1] + m0) * 255), (int)lround((rgb[2] + m0) * 255));
		ptr[i] = hex[i];
	}
	string_array(uns, name, ptr, (hsize_t)n);
}
