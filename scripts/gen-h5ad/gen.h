/*
 * gen.h - what the parts of gen-h5ad share (see main.c for what the tool
 * writes): errors and allocation, random numbers (util.c), the model of
 * clusters and genes (model.c), HDF5 writing as h5py does it (h5w.c), X
 * (x.c), and obs, var, obsm, obsp, uns (obs.c).
 */
#ifndef GEN_H
#define GEN_H

#include <hdf5.h>

#include <stdint.h>
#include <stdio.h>

#define N_PCS        50
#define N_NEIGHBORS  15         /* scanpy's default n_neighbors */
#define MAX_CLUSTERS 20
#define MAX_GENES    1000000    /* bounds the sampling trees (16 MB per cluster) */
#define MARKER_BOOST 30.0       /* how much more often a cluster picks its markers */
#define BLOCK_BYTES  (4u << 20) /* staging size for streamed writes */
#define N_TYPES      16         /* cell types known to model.c */
#define MAX_LOBES    3

/* ------------------------------------------------------------ util.c */

extern const char *g_out; /* the name the user asked for */
extern char *g_part;      /* OUT.part while it is being written */

/* One line on stderr, the .part file removed, exit 1. */
_Noreturn __attribute__((format(printf, 1, 2))) void die(const char *fmt, ...);
const char *h5_reason(void);
/* Returns id unless it reports an HDF5 failure; works for hid_t and herr_t. */
hid_t h5(hid_t id, const char *what);
void *xmalloc(size_t n, size_t size); /* zeroed */

/* xoshiro256**, seeded through splitmix64. Every part of the file draws
 * from its own stream, so changing one part (say, the UMAP shapes) does not
 * change the others. */
typedef struct {
	uint64_t s[4];
	double spare;
	int has_spare;
} rng;

enum { S_MODEL = 1, S_CELLS, S_X, S_PCA, S_UMAP2, S_UMAP3 };

void rng_init(rng *r, uint64_t seed, uint64_t stream);
uint64_t rng_next(rng *r);
double unit(rng *r);      /* uniform in [0, 1) */
double unit_open(rng *r); /* uniform in (0, 1): safe to take the log of */
uint32_t below(rng *r, uint32_t n);
double normal(rng *r);
double gamma_draw(rng *r, double shape, double scale);

/* ----------------------------------------------------------- model.c */

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

/* How X is stored: its chunks' filter, as h5py's compression= writes it. */
typedef enum { X_PLAIN, X_GZIP, X_LZF } x_filter;

typedef struct {
	/* arguments */
	uint32_t n_cells, n_genes, per_cell;
	uint64_t seed;
	int x_dense;                       /* X as a dense chunked array, not CSR */
	x_filter x_filter;

	/* clusters, numbered by decreasing size like leiden's */
	int k;
	double weight[MAX_CLUSTERS];       /* share of the cells */
	int type[MAX_CLUSTERS];            /* cell type (type_name) */
	int sister[MAX_CLUSTERS];          /* nearby cluster of the lineage, or -1 */
	island umap2[MAX_CLUSTERS], umap3[MAX_CLUSTERS];
	float pca_centre[MAX_CLUSTERS][N_PCS];

	/* cell_type categories: the types in use, in pandas' sorted order */
	int n_used;
	int used[N_TYPES];
	int type_code[N_TYPES];            /* type -> category code */

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

void model_build(model *m);
void model_free(model *m);
const char *type_name(int type);

/* ------------------------------------------------------------- h5w.c */

extern struct h5_types {
	hid_t str;     /* vlen UTF-8 string */
	hid_t boolean; /* enum int8 FALSE=0 TRUE=1, h5py's bool */
	hid_t gcpl;    /* groups: no modification times (reproducible bytes) */
} T;

void types_init(void);
void attr_write(hid_t obj, const char *name, hid_t type, hid_t space, const void *buf);
void attr_string(hid_t obj, const char *name, const char *value);
void attr_strings(hid_t obj, const char *name, const char *const *values, hsize_t n);
void encoding(hid_t obj, const char *type, const char *version);
hid_t group(hid_t parent, const char *name, const char *type, const char *version);
void empty_dict(hid_t parent, const char *name);
hid_t dataset(hid_t parent, const char *name, hid_t type, int rank, const hsize_t *dims,
	      const char *enc);
/* A chunked dataset with h5py's chunk shape and the filter of x_filter. */
hid_t chunked_dataset(hid_t parent, const char *name, hid_t type, int rank, const hsize_t *dims,
		      int unlimited, x_filter filter, hsize_t *chunk);
void write_rows(hid_t d, hid_t memtype, hsize_t row0, hsize_t nrows, hsize_t ncols,
		const void *buf, const char *what);
void array(hid_t parent, const char *name, hid_t filetype, hid_t memtype, hsize_t n,
	   const void *buf, const char *enc);
void string_array(hid_t parent, const char *name, const char *const *v, hsize_t n);
void categorical(hid_t df, const char *name, const char *const *cats, hsize_t ncat,
		 const int16_t *codes, hsize_t n);

/* A 1-d chunked dataset with an unlimited maximum, filled from the front,
 * whole chunks at a time. */
typedef struct {
	hid_t d, memtype;
	const char *name;
	size_t size;          /* bytes per element in memory */
	hsize_t n, done;      /* final length, elements written */
	char *buf;
	size_t fill, cap;     /* staged elements; cap is a multiple of the chunk */
} stream;

void stream_open(stream *s, hid_t parent, const char *name, hid_t filetype, hid_t memtype,
		 hsize_t n, x_filter filter);
void stream_put(stream *s, const void *v, size_t count);
void stream_close(stream *s);

/* csr_matrix 0.1.0: the group, its shape attr and the three streams. */
typedef struct {
	hid_t g;
	stream data, indices, indptr;
} csr;

void csr_open(csr *c, hid_t parent, const char *name, hsize_t rows, hsize_t cols, hsize_t nnz,
	      hid_t data_type, hid_t indptr_type, x_filter filter);
void csr_close(csr *c);

/* --------------------------------------------------------------- x.c */

typedef struct {
	double n_counts, pct_mito;
	int64_t n_genes;
} qc;

/* X, and per cell the QC metrics it implies, per gene the cells that have it. */
void write_X(hid_t f, const model *m, qc *cells, int64_t *gene_cells);

/* ------------------------------------------------------------- obs.c */

void write_obs(hid_t f, const model *m, const qc *cells);
void write_var(hid_t f, const model *m, const int64_t *gene_cells);
void write_obsm(hid_t f, const model *m, float *umap2);
void write_obsp(hid_t f, const model *m, const float *umap2);
void colours(hid_t uns, const char *name, int n);

#endif
