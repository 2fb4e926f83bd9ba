/*
 * engine.h - the inside of an ex_export, shared by the engine's files and by
 * nothing else: the glue (ll*.c, main.c) and the commands see only export.h.
 * Each member of struct ex_export is written by the file its group names,
 * and only read by the others.
 *
 *   export.c    ex_open / ex_close: runs the others in order
 *   source.c    the dataset (source.h): the only reader of it, behind its lock
 *   plan.c      what the dataset exposes and under which names; check's view
 *   strict.c    what layout=index leaves out or changes for the strict viewer
 *   tree.c      the nodes, their names and the lookup table
 *   derived.c   data computed once: points, latent, summaries, edges, gene index
 *   generate.c  the bytes of every kind of file
 *   cachekey.c  which persistent store the export uses
 *   genes*.c    the gene-major index (genes.h), which derived.c builds
 */
#ifndef ENGINE_H
#define ENGINE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>

#include "centroid.h"
#include "edges.h"
#include "embed.h"
#include "export.h"
#include "genes.h"
#include "quant.h"
#include "source.h"
#include "store.h"

/* A computation done at most once; waiters sleep on the export's condvar. */
typedef struct {
	enum { ONCE_EMPTY, ONCE_BUSY, ONCE_DONE } state;
	ex_err err;
	char msg[256];
} once_t;

typedef struct {
	char *key, *safe;
	int categorical;
	float *values;            /* continuous */
	quant_range range;
	ad_categorical cat;       /* categorical */
	int code_bits;
	once_t summary;           /* derived.c: centroids and outliers (categorical) */
	centroid *centroids[4];
	float *outliers;
	quant_range outlier_range;
} field;

typedef struct {
	char *id;                 /* "velocity_umap" */
	char *stem;               /* its file-name stem (names layout) */
	int has_dim[4];
	size_t obsm[4];           /* source entry per dimension */
} vfield;

/* The gene index's progress (derived.c); the states are ordered. */
enum { GENES_IDLE, GENES_SCANNING, GENES_RANGES, GENES_READY, GENES_FAILED };

struct ex_export {
	/* export.c, at ex_open */
	ex_options opt;
	source *src;              /* the only way to the data */
	st_store *store;          /* cachekey.c: persistent cache directory, or NULL */
	int discard_store;        /* ex_discard_store: st_remove at ex_close */

	/* plan.c, at ex_open (strict.c may fix id and name); read-only after */
	char *id, *name;
	char created_at[32];
	time_t mtime;
	size_t n_cells;
	int has_dim[4];
	size_t emb_obsm[4], emb_cols[4]; /* source entry and its column count */
	vfield *vfields;          /* velocity-like obsm keys, export-format.md §2 */
	size_t n_vfields, default_vfield;
	int has_latent;
	size_t latent_obsm, latent_dim;
	field *fields;
	size_t n_fields;
	char **var_names;
	size_t n_var;
	uint32_t *genes;          /* exposed genes: var positions */
	char **gene_safe;         /* their file-name stems */
	size_t n_genes;
	int has_graph;

	/* tree.c, at ex_open */
	ex_node *nodes;
	size_t n_nodes, cap_nodes;
	int64_t *table;           /* (parent, name) -> node, open addressing */
	size_t table_mask;

	/* derived.c, on first use; memo guards the once_t states */
	pthread_mutex_t memo;
	pthread_cond_t memo_done;
	once_t points_once[4];
	float *points[4];
	double *points64[4];      /* layout=index: the float64 ones its centroids use */
	double scale[4];          /* each dimension's 2/range, which vector fields share */
	once_t latent_once;
	float *latent;
	once_t edges_once;
	edges edges;
	/* The gene index is built by its own thread: var_manifest.json waits
	 * for the ranges (known once X has been read), genes for the scan's
	 * segments, neither for the merge that follows. */
	int genes_state;          /* GENES_* above */
	quant_range *gene_ranges;  /* by var position, from GENES_RANGES on (plan.c allocates) */
	/* From GENES_RANGES on, by e->genes entry (derived.c: order_genes; plan.c
	 * allocates them as if every gene had a value): the entry whose gene the
	 * var file made for entry a serves, and whether entry a's gene has a value
	 * anywhere; var_manifest.json lists the n_genes_listed files serving those. */
	uint32_t *gene_served;
	uint8_t *gene_listed;
	size_t n_genes_listed;
	char genes_error[256];
	pthread_t genes_thread;
	int genes_thread_started;
	gi_index *gi;
	double index_started;     /* gene index build: start time, last report */
	int index_reported;
	atomic_int index_permille; /* see ex_index_permille */

	/* generate.c: the merge of the gene index waits for quiet */
	atomic_int generating;     /* ex_generate calls in progress */
	_Atomic double last_generated; /* engine_now() when the latest one ended */
};

/* n elements of size bytes, NULL when that overflows or memory ran out. */
static inline void *alloc_array(size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		return NULL;
	size_t bytes = n * size;
	return malloc(bytes ? bytes : 1);
}

/* The exporter each layout matches (docs/export-rules.md): the 0.9 one's
 * arithmetic for layout=names, the newest one's for layout=index. */
static inline quant_rule engine_quant_rule(const ex_export *e)
{
	return e->opt.index_layout ? QUANT_FLOOR64 : QUANT_TRUNC32;
}

static inline embed_rule engine_embed_rule(const ex_export *e)
{
	return e->opt.index_layout ? EMBED_FLOAT64 : EMBED_FLOAT32;
}

/* Categories a code width holds besides the missing code (255, 65535): the
 * newest exporter and the strict viewer use every other code, the 0.9
 * exporter one fewer. */
static inline size_t engine_max_categories(const ex_export *e, int bits)
{
	return (bits == 8 ? 255u : 65535u) - !e->opt.index_layout;
}

static inline edges_rule engine_edges_rule(const ex_export *e)
{
	return e->opt.index_layout ? EDGES_MAX : EDGES_SUM;
}

/* Monotonic seconds, for progress reports and the merge's quiet time. */
static inline double engine_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* plan.c: decide from the open source (path names the dataset) the fields,
 * genes, embeddings, vectors and latent space; free what it decided. */
ex_err plan_read(ex_export *e, const char *path, char *err, size_t errlen);
void plan_free(ex_export *e);

/* strict.c: the rules of layout=index (viewer-contract-strict.md). */
typedef struct {
	uint8_t *field, *gene;    /* per e->fields and e->genes entry: 1 to expose */
	size_t n_fields, n_genes;
} exposure;
int strict_choose_exposed(const ex_export *e, exposure *x);
int strict_identity(ex_export *e);
void strict_warn_limits(const ex_export *e);
void strict_warn_document(size_t bytes);
void strict_warn_edges(const ex_export *e);
void strict_inf_to_nan(const ex_export *e, int bits, void *data, size_t len);
void strict_warn_genes(const ex_export *e, const gi_index *g);

/* tree.c: build the nodes from the plan (0, or -1 when memory ran out);
 * the children of a top-level directory (NULL and 0 when it is absent). */
int tree_build(ex_export *e);
void tree_free(ex_export *e);
const ex_node *tree_children(const ex_export *e, const char *name, size_t *n);

/* derived.c: each computes its data on first use, once, and waits for it;
 * derived_genes waits for GENES_RANGES or GENES_READY. */
ex_err derived_points(ex_export *e, int d, char *err, size_t len);
ex_err derived_summary(ex_export *e, field *f, char *err, size_t len);
ex_err derived_edges(ex_export *e, char *err, size_t len);
ex_err derived_genes(ex_export *e, int state, char *err, size_t len);
ex_err derived_read_obsm(ex_export *e, size_t i, size_t cols, int d, double **raw,
			 float **out, char *msg, size_t len);
void derived_free(ex_export *e);

/* cachekey.c: open the store of this export (none: files stay in memory). */
ex_err cachekey_open_store(ex_export *e);

#endif
