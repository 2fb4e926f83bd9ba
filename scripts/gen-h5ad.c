/*
 * gen-h5ad.c - write a synthetic but realistic single-cell .h5ad file.
 *
 * The file is laid out exactly as anndata >= 0.8 writes it through h5py
 * (h5ad-format.md §2-§3), so cellucidfs, the tests, the demo and the
 * benchmarks can use data of any size without Python:
 *
 *   X                   csr_matrix: K stored values per cell (distinct genes,
 *                       sorted), float32 data, int32 indices, int64 indptr,
 *                       in chunked unfiltered datasets (maxshape unlimited)
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
 * The output is deterministic: the same arguments give the same bytes
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
#include <hdf5.h>

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define N_PCS        50
#define N_NEIGHBORS  15         /* scanpy's default n_neighbors */
#define MAX_CLUSTERS 20
#define MAX_GENES    1000000    /* bounds the sampling trees (16 MB per cluster) */
#define MARKER_BOOST 30.0       /* how much more often a cluster picks its markers */
#define BLOCK_BYTES  (4u << 20) /* staging size for streamed writes */

/* ------------------------------------------------------------------------ */
/* Errors: one line on stderr, and no half-written file left behind.        */

static const char *g_out;      /* the name the user asked for */
static char *g_part;           /* OUT.part while it is being written */

_Noreturn __attribute__((format(printf, 1, 2)))
static void die(const char *fmt, ...)
{
	va_list ap;
	fputs("gen-h5ad: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (g_part)
		unlink(g_part);
	/* _exit: HDF5's exit handler would try to flush the failed file, and
	 * after a write error that crashes (seen with HDF5 1.10.8). */
	fflush(NULL);
	_exit(1);
}

/* H5Ewalk2 callback: keep the innermost message, which is the one that says
 * what went wrong; from a failed system call keep just the strerror text
 * (HDF5 wraps it in "... errno = 28, error message = '...', buf = ..."). */
static herr_t keep_innermost(unsigned n, const H5E_error2_t *e, void *buf)
{
	if (n != 0 || !e->desc)
		return 0;
	const char *msg = strstr(e->desc, "error message = '");
	if (msg) {
		msg += strlen("error message = '");
		snprintf(buf, 256, "%.*s", (int)strcspn(msg, "'"), msg);
	} else {
		snprintf(buf, 256, "%s", e->desc);
	}
	return 0;
}

static const char *h5_reason(void)
{
	static char reason[256];
	snprintf(reason, sizeof reason, "HDF5 error");
	H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, keep_innermost, reason);
	return reason;
}

/* Returns id unless it reports an HDF5 failure; works for hid_t and herr_t. */
static hid_t h5(hid_t id, const char *what)
{
	if (id < 0)
		die("%s: cannot write %s: %s", g_out, what, h5_reason());
	return id;
}

static void *xmalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);
	if (!p)
		die("out of memory (%zu x %zu bytes)", n, size);
	return p;
}

/* ------------------------------------------------------------------------ */
/* Random numbers: xoshiro256**, seeded through splitmix64. Every part of    */
/* the file draws from its own stream, so changing one part (say, the UMAP   */
/* shapes) does not change the others.                                       */

typedef struct {
	uint64_t s[4];
	double spare;
	int has_spare;
} rng;

enum { S_MODEL = 1, S_CELLS, S_X, S_PCA, S_UMAP2, S_UMAP3 };

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15u);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

static void rng_init(rng *r, uint64_t seed, uint64_t stream)
{
	uint64_t x = seed ^ (stream * 0xd1b54a32d192ed03u);
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&x);
	r->has_spare = 0;
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t rng_next(rng *r)
{
	uint64_t *s = r->s, out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return out;
}

/* Uniform in [0, 1) and in (0, 1) (the latter is safe to take the log of). */
static double unit(rng *r) { return (double)(rng_next(r) >> 11) * 0x1.0p-53; }
static double unit_open(rng *r) { return ((double)(rng_next(r) >> 11) + 0.5) * 0x1.0p-53; }
static uint32_t below(rng *r, uint32_t n)
{
	uint32_t v = (uint32_t)(unit(r) * n);
	return v < n ? v : n - 1;   /* the product can round up to n */
}

/* Standard normal, Marsaglia's polar method (two values per draw). */
static double normal(rng *r)
{
	if (r->has_spare) {
		r->has_spare = 0;
		return r->spare;
	}
	double u, v, s;
	do {
		u = 2 * unit(r) - 1;
		v = 2 * unit(r) - 1;
		s = u * u + v * v;
	} while (s >= 1 || s == 0);
	double m = sqrt(-2 * log(s) / s);
	r->spare = v * m;
	r->has_spare = 1;
	return u * m;
}

/* Gamma(shape >= 1, scale), Marsaglia & Tsang (2000). */
static double gamma_draw(rng *r, double shape, double scale)
{
	double d = shape - 1.0 / 3, c = 1 / sqrt(9 * d);
	for (;;) {
		double x, v;
		do {
			x = normal(r);
			v = 1 + c * x;
		} while (v <= 0);
		v = v * v * v;
		double u = unit_open(r);
		if (u < 1 - 0.0331 * x * x * x * x || log(u) < 0.5 * x * x + d * (1 - v + log(v)))
			return d * v * scale;
	}
}

/* ------------------------------------------------------------------------ */
/* Gene and cell-type vocabulary.                                            */

/* Each cell type belongs to a lineage (clusters of one lineage sit near each
 * other in every embedding) and names its marker genes. The names contain
 * spaces, '+', '/', parentheses and non-ASCII text, as real annotations do. */
static const struct {
	const char *name;
	int lineage;
	const char *markers;
} TYPES[] = {
	{"CD4+ naive T cells", 0, "CD3D CD3E IL7R CCR7 LEF1"},
	{"CD4+ memory T cells", 0, "CD3D IL7R S100A4 CD2"},
	{"CD8+ cytotoxic T cells", 0, "CD3D CD8A CD8B GZMK CCL5"},
	{"\xce\xb3\xce\xb4 T cells", 0, "TRDC TRGC1 CD3D"},   /* "γδ T cells" */
	{"NK cells", 0, "NKG7 GNLY KLRD1 PRF1"},
	{"Cycling T/NK cells", 0, "MKI67 TOP2A STMN1 CD3D"},
	{"B cells", 1, "MS4A1 CD79A CD79B HLA-DRA"},
	{"Plasma cells", 1, "JCHAIN MZB1 IGHG1"},
	{"CD14+ monocytes", 2, "CD14 LYZ S100A8 S100A9"},
	{"FCGR3A+ monocytes", 2, "FCGR3A MS4A7 LST1"},
	{"Dendritic cells (cDC2)", 2, "FCER1A CST3 HLA-DRA HLA-DQA1"},
	{"Plasmacytoid DC", 2, "LILRA4 IL3RA"},
	{"Mast cells", 2, "TPSAB1 CPA3"},
	{"Megakaryocytes", 3, "PPBP PF4"},
	{"Erythroid progenitors", 3, "HBB HBA1"},
	{"HSPC (CD34+)", 3, "CD34 SOX4"},
};
#define N_TYPES (sizeof TYPES / sizeof *TYPES)
#define N_LINEAGES 4

/* The first genes of var; the rest are GENE00042-style. Mitochondrial genes
 * feed pct_mito; HLA-DRA, RP11-34P13.3, TRBV20/OR9-2 and the like are there
 * because their file names need the safe-name rule (or look like they do). */
static const char *const NAMED_GENES[] = {
	"CD3D", "CD3E", "IL7R", "CCR7", "LEF1", "S100A4", "CD2", "CD8A", "CD8B",
	"GZMK", "CCL5", "TRDC", "TRGC1", "NKG7", "GNLY", "KLRD1", "PRF1", "MKI67",
	"TOP2A", "STMN1", "MS4A1", "CD79A", "CD79B", "JCHAIN", "MZB1", "IGHG1",
	"CD14", "LYZ", "S100A8", "S100A9", "FCGR3A", "MS4A7", "LST1", "FCER1A",
	"CST3", "HLA-DRA", "HLA-DQA1", "LILRA4", "IL3RA", "TPSAB1", "CPA3", "PPBP",
	"PF4", "HBB", "HBA1", "CD34", "SOX4",
	"MT-ND1", "MT-ND2", "MT-CO1", "MT-CO2", "MT-ATP8", "MT-ATP6", "MT-CO3",
	"MT-ND3", "MT-ND4L", "MT-ND4", "MT-ND5", "MT-ND6", "MT-CYB",
	"RPL13", "RPS27", "MALAT1", "ACTB", "B2M", "TMSB4X", "HLA-A", "HLA-B",
	"RP11-34P13.3", "AC009501.4", "RP11-206L10.9", "TRBV20/OR9-2",
	"IGHV1/OR15-1", "LINC00115",
};
#define N_NAMED (sizeof NAMED_GENES / sizeof *NAMED_GENES)

static const char *const PHASES[] = {"G1", "G2M", "S"};   /* pandas' sorted order */
static const char *const BATCHES[] = {"batch1", "batch2", "batch3"};

/* ------------------------------------------------------------------------ */
/* The model: everything about clusters and genes, drawn once from S_MODEL.  */

#define MAX_LOBES 3

typedef struct {
	double centre[3];            /* island centre */
	double axis[3][3];           /* orthonormal axes of the island */
	double sd[3];                /* spread along each axis */
	double bend;                 /* curvature: axis 1 is shifted by bend * t0^2 */
	int lobes;                   /* 1-3 overlapping blobs make the outline irregular */
	double lobe[MAX_LOBES][3];   /* lobe centres, in the island's axes */
	double lobe_scale[MAX_LOBES];
	double radius;               /* what the island covers, for the layout */
} island;

typedef struct {
	/* arguments */
	uint32_t n_cells, n_genes, per_cell;
	uint64_t seed;

	/* clusters, numbered by decreasing size like leiden's */
	int k;
	double weight[MAX_CLUSTERS];       /* share of the cells */
	int type[MAX_CLUSTERS];            /* index into TYPES */
	int sister[MAX_CLUSTERS];          /* nearby cluster of the lineage, or -1 */
	island umap2[MAX_CLUSTERS], umap3[MAX_CLUSTERS];
	float pca_centre[MAX_CLUSTERS][N_PCS];

	/* cell_type categories: the types in use, in pandas' sorted order */
	int n_used;
	int used[N_TYPES];
	int type_code[N_TYPES];            /* TYPES index -> category code */

	/* genes */
	char **gene;                       /* names */
	double *popularity;                /* rank^-0.8 */
	uint8_t *marker;                   /* [cluster * n_genes + gene] */
	uint8_t *mito;                     /* MT- genes */
	uint8_t *variable;                 /* highly_variable */

	/* per cell, drawn from S_CELLS */
	uint8_t *cluster;
	int16_t *phase, *batch;
} model;

static int type_order(const void *a, const void *b)
{
	return strcmp(TYPES[*(const int *)a].name, TYPES[*(const int *)b].name);
}

static int weight_desc(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x < y) - (x > y);
}

static double dist(const double *a, const double *b, int d)
{
	double s = 0;
	for (int i = 0; i < d; i++)
		s += (a[i] - b[i]) * (a[i] - b[i]);
	return sqrt(s);
}

/* A random unit vector / an orthonormal basis (Gram-Schmidt of normals). */
static void direction(rng *r, int d, double *v)
{
	double n;
	do {
		n = 0;
		for (int i = 0; i < d; i++) {
			v[i] = normal(r);
			n += v[i] * v[i];
		}
	} while (n < 1e-12);
	for (int i = 0; i < d; i++)
		v[i] /= sqrt(n);
}

static void basis(rng *r, int d, double axis[3][3])
{
	for (int i = 0; i < d; i++) {
		for (;;) {
			direction(r, d, axis[i]);
			for (int j = 0; j < i; j++) {
				double dot = 0;
				for (int c = 0; c < d; c++)
					dot += axis[i][c] * axis[j][c];
				for (int c = 0; c < d; c++)
					axis[i][c] -= dot * axis[j][c];
			}
			double n = 0;
			for (int c = 0; c < d; c++)
				n += axis[i][c] * axis[i][c];
			if (n > 1e-6) {
				for (int c = 0; c < d; c++)
					axis[i][c] /= sqrt(n);
				break;
			}
		}
	}
}

/* Lay out the islands of one d-dimensional embedding: lineages around the
 * origin, clusters around their lineage, no two islands overlapping. Each
 * failed try widens the search a little; after 1000 the island stays where
 * it is, so this always ends. */
static void layout(model *m, rng *r, int d, island *isl)
{
	double lineage[N_LINEAGES][3] = {{0}};
	for (int l = 0; l < N_LINEAGES; l++) {
		direction(r, d, lineage[l]);
		double radius = 6 + 3 * unit(r);
		for (int c = 0; c < d; c++)
			lineage[l][c] *= radius;
	}
	for (int i = 0; i < m->k; i++) {
		island *s = &isl[i];
		double size = 0.8 + 2.4 * sqrt(m->weight[i] / m->weight[0]);
		basis(r, d, s->axis);
		s->sd[0] = 0.4 * size;
		for (int c = 1; c < d; c++)
			s->sd[c] = s->sd[0] * (0.35 + 0.65 * unit(r));
		s->bend = (unit(r) - 0.5) * 0.6 / size;
		s->lobes = 1 + (int)below(r, MAX_LOBES);
		s->radius = 2.2 * s->sd[0];
		for (int l = 0; l < s->lobes; l++) {
			double off = l ? 1.2 * s->sd[0] * (0.6 + 0.6 * unit(r)) : 0;
			direction(r, d, s->lobe[l]);
			for (int c = 0; c < d; c++)
				s->lobe[l][c] *= off;
			s->lobe_scale[l] = l ? 0.45 + 0.35 * unit(r) : 1;
			if (off + 2.2 * s->sd[0] * s->lobe_scale[l] > s->radius)
				s->radius = off + 2.2 * s->sd[0] * s->lobe_scale[l];
		}
		const double *home = lineage[TYPES[m->type[i]].lineage];
		double reach = 1 + 2 * size;
		for (int attempt = 0;; attempt++, reach *= 1.02) {
			double dir[3];
			direction(r, d, dir);
			double step = reach * unit(r);
			for (int c = 0; c < d; c++)
				s->centre[c] = home[c] + dir[c] * step;
			int clear = 1;
			for (int j = 0; j < i && clear; j++)
				clear = dist(s->centre, isl[j].centre, d) > 1.05 * (s->radius + isl[j].radius);
			if (clear || attempt > 1000)
				break;
		}
	}
}

static int gene_index(const model *m, const char *name)
{
	for (uint32_t g = 0; g < m->n_genes && g < N_NAMED; g++)
		if (!strcmp(m->gene[g], name))
			return (int)g;
	return -1;
}

static void model_free(model *m)
{
	for (uint32_t g = 0; g < m->n_genes; g++)
		free(m->gene[g]);
	free(m->gene);
	free(m->popularity);
	free(m->marker);
	free(m->mito);
	free(m->variable);
	free(m->cluster);
	free(m->phase);
	free(m->batch);
}

static void model_build(model *m)
{
	rng r;
	rng_init(&r, m->seed, S_MODEL);
	uint32_t G = m->n_genes;

	/* Cluster sizes: log-normal shares, largest first. */
	m->k = 12 + (int)below(&r, 9);
	double total = 0;
	for (int i = 0; i < m->k; i++)
		total += m->weight[i] = exp(0.9 * normal(&r));
	for (int i = 0; i < m->k; i++)
		m->weight[i] /= total;
	qsort(m->weight, (size_t)m->k, sizeof *m->weight, weight_desc);

	/* Cell types: a few types are split into two clusters, as leiden does. */
	int perm[N_TYPES];
	for (size_t i = 0; i < N_TYPES; i++)
		perm[i] = (int)i;
	for (size_t i = N_TYPES - 1; i > 0; i--) {
		uint32_t j = below(&r, (uint32_t)i + 1);
		int t = perm[i];
		perm[i] = perm[j];
		perm[j] = t;
	}
	m->n_used = m->k - 3 < (int)N_TYPES ? m->k - 3 : (int)N_TYPES;
	for (int i = 0; i < m->k; i++)
		m->type[i] = i < m->n_used ? perm[i] : perm[below(&r, (uint32_t)m->n_used)];
	memcpy(m->used, perm, sizeof(int) * (size_t)m->n_used);
	qsort(m->used, (size_t)m->n_used, sizeof *m->used, type_order);
	for (int c = 0; c < m->n_used; c++)
		m->type_code[m->used[c]] = c;

	layout(m, &r, 2, m->umap2);
	layout(m, &r, 3, m->umap3);

	/* A sister is the nearest other cluster of the same lineage in 2-D: the
	 * few cells between them make the bridges seen in real UMAPs. */
	for (int i = 0; i < m->k; i++) {
		double best = INFINITY;
		m->sister[i] = -1;
		for (int j = 0; j < m->k; j++) {
			double dd = dist(m->umap2[i].centre, m->umap2[j].centre, 2);
			if (j != i && TYPES[m->type[j]].lineage == TYPES[m->type[i]].lineage && dd < best) {
				best = dd;
				m->sister[i] = j;
			}
		}
	}

	/* Latent space: lineage centre + cluster offset, variance decaying with
	 * the component index as in a real PCA. */
	float lin[N_LINEAGES][N_PCS];
	for (int l = 0; l < N_LINEAGES; l++)
		for (int j = 0; j < N_PCS; j++)
			lin[l][j] = (float)(6 * normal(&r) / sqrt(1 + 0.3 * j));
	for (int i = 0; i < m->k; i++)
		for (int j = 0; j < N_PCS; j++)
			m->pca_centre[i][j] = lin[TYPES[m->type[i]].lineage][j] +
					      (float)(3 * normal(&r) / sqrt(1 + 0.3 * j));

	/* Gene names. */
	m->gene = xmalloc(G, sizeof *m->gene);
	for (uint32_t g = 0; g < G; g++) {
		char buf[32];
		if (g < N_NAMED)
			snprintf(buf, sizeof buf, "%s", NAMED_GENES[g]);
		else
			snprintf(buf, sizeof buf, "GENE%05u", g + 1);
		if (!(m->gene[g] = strdup(buf)))
			die("out of memory");
	}

	/* Popularity: a random rank per gene, except that mitochondrial and
	 * housekeeping genes are among the most popular, as in real data. */
	uint32_t *rank = xmalloc(G, sizeof *rank);
	for (uint32_t g = 0; g < G; g++)
		rank[g] = g;
	for (uint32_t g = G - 1; g > 0; g--) {
		uint32_t j = below(&r, g + 1), t = rank[g];
		rank[g] = rank[j];
		rank[j] = t;
	}
	m->mito = xmalloc(G, 1);
	uint32_t top = 0;
	for (uint32_t g = 0; g < G && g < N_NAMED; g++) {
		const char *n = m->gene[g];
		m->mito[g] = !strncmp(n, "MT-", 3);
		if (m->mito[g] || !strncmp(n, "RPL", 3) || !strncmp(n, "RPS", 3) || !strcmp(n, "MALAT1") ||
		    !strcmp(n, "ACTB") || !strcmp(n, "B2M") || !strcmp(n, "TMSB4X")) {
			/* give gene g rank 3*top, swapping with whoever had it */
			uint32_t want = 3 * top < G ? 3 * top : G - 1;
			top++;
			for (uint32_t h = 0; h < G; h++)
				if (rank[h] == want) {
					rank[h] = rank[g];
					break;
				}
			rank[g] = want;
		}
	}
	m->popularity = xmalloc(G, sizeof *m->popularity);
	for (uint32_t g = 0; g < G; g++)
		m->popularity[g] = pow(rank[g] + 1.0, -0.8);
	free(rank);

	/* Markers: the cell type's named markers plus ~1% random genes. */
	m->marker = xmalloc((size_t)m->k * G, 1);
	m->variable = xmalloc(G, 1);
	uint32_t extra = G / 100 > 3 ? G / 100 : 3;
	for (int i = 0; i < m->k; i++) {
		uint8_t *mk = m->marker + (size_t)i * G;
		char list[128];
		snprintf(list, sizeof list, "%s", TYPES[m->type[i]].markers);
		for (char *save, *t = strtok_r(list, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
			int g = gene_index(m, t);
			if (g >= 0)
				mk[g] = 1;
		}
		for (uint32_t e = 0; e < extra; e++)
			mk[below(&r, G)] = 1;
		for (uint32_t g = 0; g < G; g++)
			m->variable[g] |= mk[g] && !m->mito[g];
	}
	for (uint32_t g = 0; g < G; g++)
		if (unit(&r) < 0.03 && !m->mito[g])
			m->variable[g] = 1;

	/* Per cell: cluster, cell-cycle phase (cycling types are mostly in S or
	 * G2M) and batch. */
	rng_init(&r, m->seed, S_CELLS);
	m->cluster = xmalloc(m->n_cells, 1);
	m->phase = xmalloc(m->n_cells, sizeof *m->phase);
	m->batch = xmalloc(m->n_cells, sizeof *m->batch);
	for (uint32_t i = 0; i < m->n_cells; i++) {
		double u = unit(&r), acc = 0;
		int c = m->k - 1;
		for (int j = 0; j < m->k - 1; j++)
			if (u < (acc += m->weight[j])) {
				c = j;
				break;
			}
		m->cluster[i] = (uint8_t)c;
		int cycling = strstr(TYPES[m->type[c]].name, "Cycling") != NULL;
		double p = unit(&r);
		m->phase[i] = cycling ? (p < 0.2 ? 0 : p < 0.6 ? 1 : 2) : (p < 0.6 ? 0 : p < 0.8 ? 1 : 2);
		double b = unit(&r);
		m->batch[i] = b < 0.45 ? 0 : b < 0.8 ? 1 : 2;
	}
}

/* ------------------------------------------------------------------------ */
/* HDF5 helpers: elements with their encoding attributes, as h5py writes.    */

static struct {
	hid_t str;     /* vlen UTF-8 string */
	hid_t boolean; /* enum int8 FALSE=0 TRUE=1, h5py's bool */
	hid_t gcpl;    /* groups: no modification times (reproducible bytes) */
} T;

static void types_init(void)
{
	T.str = H5Tcopy(H5T_C_S1);
	H5Tset_size(T.str, H5T_VARIABLE);
	H5Tset_cset(T.str, H5T_CSET_UTF8);
	T.boolean = H5Tenum_create(H5T_STD_I8LE);
	int8_t v = 0;
	H5Tenum_insert(T.boolean, "FALSE", &v);
	v = 1;
	H5Tenum_insert(T.boolean, "TRUE", &v);
	T.gcpl = H5Pcreate(H5P_GROUP_CREATE);
	h5(H5Pset_obj_track_times(T.gcpl, 0), "group properties");
}

static void attr_write(hid_t obj, const char *name, hid_t type, hid_t space, const void *buf)
{
	hid_t a = h5(H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT), name);
	h5(H5Awrite(a, type, buf), name);
	H5Aclose(a);
	H5Sclose(space);
}

static void attr_string(hid_t obj, const char *name, const char *value)
{
	attr_write(obj, name, T.str, H5Screate(H5S_SCALAR), &value);
}

static void attr_strings(hid_t obj, const char *name, const char *const *values, hsize_t n)
{
	attr_write(obj, name, T.str, H5Screate_simple(1, &n, NULL), values);
}

static void encoding(hid_t obj, const char *type, const char *version)
{
	attr_string(obj, "encoding-type", type);
	attr_string(obj, "encoding-version", version);
}

static hid_t group(hid_t parent, const char *name, const char *type, const char *version)
{
	hid_t g = h5(H5Gcreate2(parent, name, H5P_DEFAULT, T.gcpl, H5P_DEFAULT), name);
	encoding(g, type, version);
	return g;
}

static void empty_dict(hid_t parent, const char *name)
{
	H5Gclose(group(parent, name, "dict", "0.1.0"));
}

/* A contiguous dataset (h5py's layout when no compression is asked for),
 * tagged with encoding type enc ("array" or "string-array"). */
static hid_t dataset(hid_t parent, const char *name, hid_t type, int rank,
		     const hsize_t *dims, const char *enc)
{
	hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
	H5Pset_obj_track_times(dcpl, 0);
	hid_t space = H5Screate_simple(rank, dims, NULL);
	hid_t d = h5(H5Dcreate2(parent, name, type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT), name);
	H5Sclose(space);
	H5Pclose(dcpl);
	encoding(d, enc, "0.2.0");
	return d;
}

/* Write rows [row0, row0 + nrows) of a 1-d (ncols 0) or 2-d dataset. */
static void write_rows(hid_t d, hid_t memtype, hsize_t row0, hsize_t nrows, hsize_t ncols,
		       const void *buf, const char *what)
{
	if (!nrows)
		return;
	int rank = ncols ? 2 : 1;
	hsize_t start[2] = {row0, 0}, count[2] = {nrows, ncols};
	hid_t fs = H5Dget_space(d), ms = H5Screate_simple(rank, count, NULL);
	h5(H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL), what);
	h5(H5Dwrite(d, memtype, ms, fs, H5P_DEFAULT, buf), what);
	H5Sclose(ms);
	H5Sclose(fs);
}

static void array(hid_t parent, const char *name, hid_t filetype, hid_t memtype,
		  hsize_t n, const void *buf, const char *enc)
{
	hid_t d = dataset(parent, name, filetype, 1, &n, enc);
	write_rows(d, memtype, 0, n, 0, buf, name);
	H5Dclose(d);
}

static void string_array(hid_t parent, const char *name, const char *const *v, hsize_t n)
{
	array(parent, name, T.str, T.str, n, v, "string-array");
}

/* categorical 0.2.0: codes as pandas stores them (int8 up to 127 categories,
 * else int16; converted by HDF5 from the int16 in memory) and categories as
 * a string-array; attr ordered is h5py's enum bool. */
static void categorical(hid_t df, const char *name, const char *const *cats, hsize_t ncat,
			const int16_t *codes, hsize_t n)
{
	hid_t g = group(df, name, "categorical", "0.2.0");
	int8_t ordered = 0;
	attr_write(g, "ordered", T.boolean, H5Screate(H5S_SCALAR), &ordered);
	array(g, "codes", ncat <= 127 ? H5T_STD_I8LE : H5T_STD_I16LE, H5T_NATIVE_INT16, n,
	      codes, "array");
	string_array(g, "categories", cats, ncat);
	H5Gclose(g);
}

/* A 1-d chunked dataset with an unlimited maximum, filled from the front.
 * anndata writes the parts of a sparse matrix this way, with chunks sized as
 * h5py sizes them: 16 KiB for 1 MiB of data, twice that for each tenfold
 * more, within 8 KiB..1 MiB. Values are staged and written whole chunks at
 * a time, so HDF5 never has to read a chunk back. */
typedef struct {
	hid_t d, memtype;
	const char *name;
	size_t size;          /* bytes per element in memory */
	hsize_t n, done;      /* final length, elements written */
	char *buf;
	size_t fill, cap;     /* staged elements; cap is a multiple of the chunk */
} stream;

static void stream_open(stream *s, hid_t parent, const char *name, hid_t filetype,
			hid_t memtype, hsize_t n)
{
	size_t size = H5Tget_size(memtype);
	double bytes = (double)n * (double)H5Tget_size(filetype);
	double target = 16384 * pow(2, log10(fmax(bytes, 1) / 1048576));
	target = target < 8192 ? 8192 : target > 1048576 ? 1048576 : target;
	hsize_t chunk = (hsize_t)(target / (double)H5Tget_size(filetype));
	chunk = chunk > n ? n : chunk;
	chunk = chunk ? chunk : 1;

	hsize_t maxdim = H5S_UNLIMITED;
	hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
	H5Pset_obj_track_times(dcpl, 0);
	h5(H5Pset_chunk(dcpl, 1, &chunk), name);
	hid_t space = H5Screate_simple(1, &n, &maxdim);
	s->d = h5(H5Dcreate2(parent, name, filetype, space, H5P_DEFAULT, dcpl, H5P_DEFAULT), name);
	H5Sclose(space);
	H5Pclose(dcpl);

	s->memtype = memtype;
	s->name = name;
	s->size = size;
	s->n = n;
	s->done = 0;
	s->fill = 0;
	s->cap = (size_t)chunk * ((BLOCK_BYTES / size + chunk - 1) / chunk);
	s->buf = xmalloc(s->cap, size);
}

static void stream_flush(stream *s)
{
	write_rows(s->d, s->memtype, s->done, s->fill, 0, s->buf, s->name);
	s->done += s->fill;
	s->fill = 0;
}

static void stream_put(stream *s, const void *v, size_t count)
{
	const char *p = v;
	while (count) {
		size_t take = s->cap - s->fill < count ? s->cap - s->fill : count;
		memcpy(s->buf + s->fill * s->size, p, take * s->size);
		s->fill += take;
		p += take * s->size;
		count -= take;
		if (s->fill == s->cap)
			stream_flush(s);
	}
}

static void stream_close(stream *s)
{
	stream_flush(s);
	if (s->done != s->n)
		die("internal error: %s has %llu of %llu values", s->name,
		    (unsigned long long)s->done, (unsigned long long)s->n);
	free(s->buf);
	H5Dclose(s->d);
}

/* csr_matrix 0.1.0: the group, its shape attr (int64[2]) and the three
 * attribute-less streams. */
typedef struct {
	hid_t g;
	stream data, indices, indptr;
} csr;

static void csr_open(csr *c, hid_t parent, const char *name, hsize_t rows, hsize_t cols,
		     hsize_t nnz, hid_t data_type, hid_t indptr_type)
{
	c->g = group(parent, name, "csr_matrix", "0.1.0");
	int64_t shape[2] = {(int64_t)rows, (int64_t)cols};
	hsize_t two = 2;
	attr_write(c->g, "shape", H5T_STD_I64LE, H5Screate_simple(1, &two, NULL), shape);
	hid_t mem_data = H5Tget_size(data_type) == 8 ? H5T_NATIVE_DOUBLE : H5T_NATIVE_FLOAT;
	stream_open(&c->data, c->g, "data", data_type, mem_data, nnz);
	stream_open(&c->indices, c->g, "indices", H5T_STD_I32LE, H5T_NATIVE_INT32, nnz);
	stream_open(&c->indptr, c->g, "indptr", indptr_type, H5T_NATIVE_INT64, rows + 1);
	int64_t zero = 0;
	stream_put(&c->indptr, &zero, 1);
}

static void csr_close(csr *c)
{
	stream_close(&c->data);
	stream_close(&c->indices);
	stream_close(&c->indptr);
	H5Gclose(c->g);
}

/* ------------------------------------------------------------------------ */
/* X. Each cell draws K distinct genes, one after another, with probability  */
/* proportional to its cluster's gene weights. A Fenwick tree of integer     */
/* weights per cluster makes each draw O(log G). A gene drawn twice is drawn */
/* again, which is cheap while the cell's genes hold little of the weight;   */
/* once repeats become common the cell's genes are taken out of the tree     */
/* (and put back after the cell), so K close to G stays O(K log G). Integer  */
/* weights keep the tree exact through all of this. A bitmap of the drawn    */
/* genes then yields them in sorted order.                                   */

typedef struct {
	double n_counts, pct_mito;
	int64_t n_genes;
} qc;

typedef struct {
	uint64_t *w;    /* [G] weights */
	uint64_t *t;    /* [size + 1] Fenwick tree, 1-based; size = G rounded up to 2^n */
	uint64_t total;
} sampler;

static void fenwick_add(uint64_t *t, uint32_t size, uint32_t g, uint64_t delta)
{
	for (uint32_t i = g + 1; i <= size; i += i & -i)
		t[i] += delta;     /* unsigned wrap-around makes -w a subtraction */
}

/* The gene g with prefix(g) <= u < prefix(g + 1), so never a zero weight.
 * size is a power of two (the tail padded with zero weights), so the descent
 * needs no bounds test. */
static uint32_t fenwick_find(const uint64_t *t, uint32_t size, uint64_t u)
{
	uint32_t pos = 0;
	for (uint32_t step = size / 2; step; step >>= 1) {
		uint64_t v = t[pos + step];
		if (v <= u) {
			pos += step;
			u -= v;
		}
	}
	return pos;
}

/* Draw k distinct genes into pick[] and mark them in bits[]. */
static void draw_genes(sampler *s, uint32_t size, uint32_t k, rng *r, uint64_t *bits,
		       uint32_t *pick)
{
	uint64_t total = s->total;
	uint32_t n = 0, repeats = 0;
	int removing = 0;
	while (n < k) {
		uint64_t u = (uint64_t)(unit(r) * (double)total);
		uint32_t g = fenwick_find(s->t, size, u < total ? u : total - 1);
		if (bits[g / 64] >> (g % 64) & 1) {
			/* more repeats than half the genes so far: take them out */
			if (++repeats > n / 2 + 16 && !removing) {
				removing = 1;
				for (uint32_t j = 0; j < n; j++) {
					fenwick_add(s->t, size, pick[j], -s->w[pick[j]]);
					total -= s->w[pick[j]];
				}
			}
			continue;
		}
		bits[g / 64] |= 1ull << (g % 64);
		pick[n++] = g;
		if (removing) {
			fenwick_add(s->t, size, g, -s->w[g]);
			total -= s->w[g];
		}
	}
	if (removing)
		for (uint32_t j = 0; j < k; j++)
			fenwick_add(s->t, size, pick[j], s->w[pick[j]]);
}

static void write_X(hid_t f, const model *m, qc *cells, int64_t *gene_cells)
{
	uint32_t G = m->n_genes, K = m->per_cell, size = 1;
	while (size < G)
		size *= 2;
	sampler *sp = xmalloc((size_t)m->k, sizeof *sp);
	for (int c = 0; c < m->k; c++) {
		sp[c].w = xmalloc(G, sizeof(uint64_t));
		sp[c].t = xmalloc((size_t)size + 1, sizeof(uint64_t));
		for (uint32_t g = 0; g < size; g++) {
			if (g < G) {
				double w = m->popularity[g] *
					   (m->marker[(size_t)c * G + g] ? MARKER_BOOST : 1);
				sp[c].w[g] = (uint64_t)ldexp(w, 32) + 1;
				sp[c].total += sp[c].w[g];
				sp[c].t[g + 1] += sp[c].w[g];
			}
			uint32_t up = (g + 1) + ((g + 1) & -(g + 1));   /* O(G) build */
			if (up <= size)
				sp[c].t[up] += sp[c].t[g + 1];
		}
	}

	uint32_t *pick = xmalloc(K, sizeof *pick);
	int32_t *idx = xmalloc(K, sizeof *idx);
	float *val = xmalloc(K, sizeof *val);
	size_t nwords = G / 64 + 1;
	uint64_t *bits = xmalloc(nwords, sizeof *bits);

	csr x;
	csr_open(&x, f, "X", m->n_cells, G, (hsize_t)m->n_cells * K, H5T_IEEE_F32LE,
		 H5T_STD_I64LE);
	rng r;
	rng_init(&r, m->seed, S_X);
	int64_t nnz = 0;
	for (uint32_t i = 0; i < m->n_cells; i++) {
		const uint8_t *mk = m->marker + (size_t)m->cluster[i] * G;
		draw_genes(&sp[m->cluster[i]], size, K, &r, bits, pick);
		uint32_t n = 0;
		for (size_t wi = 0; wi < nwords; wi++)
			for (; bits[wi]; bits[wi] &= bits[wi] - 1)
				idx[n++] = (int32_t)(wi * 64 + (size_t)__builtin_ctzll(bits[wi]));

		/* values: log1p(counts), counts ~ Gamma(1.2, 2) x library size,
		 * markers three times higher. The QC metrics come from the same
		 * counts; n_genes counts the genes with at least one (rounded). */
		double library = exp(0.35 * normal(&r)), sum = 0, mt = 0;
		int64_t detected = 0;
		for (uint32_t j = 0; j < K; j++) {
			uint32_t g = (uint32_t)idx[j];
			double counts = gamma_draw(&r, 1.2, 2) * library * (mk[g] ? 3 : 1);
			val[j] = (float)log1p(counts);
			sum += counts;
			mt += m->mito[g] ? counts : 0;
			detected += counts >= 0.5;
			gene_cells[g]++;
		}
		cells[i].n_counts = sum;
		cells[i].n_genes = detected;
		/* a few cells lack the metric, so NaN handling gets exercised */
		cells[i].pct_mito = sum > 0 && unit(&r) >= 0.002 ? 100 * mt / sum : NAN;

		stream_put(&x.data, val, K);
		stream_put(&x.indices, idx, K);
		nnz += K;
		stream_put(&x.indptr, &nnz, 1);
	}
	csr_close(&x);

	for (int c = 0; c < m->k; c++) {
		free(sp[c].w);
		free(sp[c].t);
	}
	free(sp);
	free(pick);
	free(idx);
	free(val);
	free(bits);
}

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
static void write_obsm(hid_t f, const model *m, float *umap2)
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

static void write_obsp(hid_t f, const model *m, const float *umap2)
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
		 nnz_conn > INT32_MAX ? H5T_STD_I64LE : H5T_STD_I32LE);
	csr_open(&dist, g, "distances", N, N, nnz_dist, H5T_IEEE_F64LE,
		 nnz_dist > INT32_MAX ? H5T_STD_I64LE : H5T_STD_I32LE);
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

static void write_obs(hid_t f, const model *m, const qc *cells)
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
		types[c] = TYPES[m->used[c]].name;
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

static void write_var(hid_t f, const model *m, const int64_t *gene_cells)
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
static void colours(hid_t uns, const char *name, int n)
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

/* ------------------------------------------------------------------------ */

static void usage(FILE *to)
{
	fputs("usage: gen-h5ad [--cells N] [--genes G] [--per-cell K] [--seed S] OUT.h5ad\n"
	      "Write a synthetic, deterministic .h5ad (anndata >= 0.8 encoding).\n"
	      "  --cells N     cells (default 50000)\n"
	      "  --genes G     genes (default 2000, at most 1000000)\n"
	      "  --per-cell K  stored values per cell, at most G (default 150)\n"
	      "  --seed S      random seed (default 1); same arguments, same bytes\n",
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
