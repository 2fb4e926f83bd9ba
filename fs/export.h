/*
 * export.h - the Cellucid export of one .h5ad, as a tree of lazily generated
 * files. FUSE-free: fs/ll.c serves it, tests and (later) the export command
 * use it directly.
 *
 * ex_open reads the .h5ad's layout and its obs columns, decides every name in
 * the tree and returns. File bytes are made by ex_generate, on demand; what
 * several files need (normalised points, the latent space, the kNN edges, the
 * gene-major index) is computed once, the first time a file needs it, even
 * when many threads ask at the same moment. The dataset is read only through
 * the source (source.h), under its lock; quantisation and compression run
 * outside it. The files behind this interface are listed in engine.h.
 */
#ifndef EXPORT_H
#define EXPORT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

/* The version is the top-level VERSION file's; the Makefile passes it. */
#ifndef CELLUCIDFS_VERSION
#error "CELLUCIDFS_VERSION is not defined: build with make (it passes -DCELLUCIDFS_VERSION from VERSION)"
#endif

typedef enum {
	EX_OK = 0,
	EX_ENOMEM,   /* out of memory */
	EX_EIO,      /* the .h5ad could not be read */
	EX_EINVAL,   /* bad option or unusable dataset */
	EX_ENOENT    /* no such node */
} ex_err;

typedef enum {
	EX_PREFETCH_NONE,
	EX_PREFETCH_OBS,   /* what the viewer loads at start: documents, points, obs, graph */
	EX_PREFETCH_ALL    /* and every gene */
} ex_prefetch;

/* follow_symlinks=: which symbolic links of a directory source are members. */
typedef enum { EX_FOLLOW_INSIDE, EX_FOLLOW_NO, EX_FOLLOW_ALL } ex_follow;

typedef struct {
	int compression;          /* 0 (plain files) .. 9; default 6 */
	int var_bits, obs_bits;   /* 8, 16 or 0 = float32; default 8 */
	char *latent;             /* obsm key, or NULL for the default search */
	char *embedding;          /* obsm key used as the only embedding, or NULL */
	char *dataset_id, *dataset_name;
	size_t cache_size;        /* bytes of generated files kept in memory */
	char *host;
	int port;
	char *cache_dir;          /* NULL: $XDG_CACHE_HOME/cellucidfs or ~/.cache/cellucidfs;
				     "none": memory only */
	ex_prefetch prefetch;     /* default EX_PREFETCH_OBS */
	int in_collection;        /* co_member_options: no _cellucid/ of its own */
	int index_layout;         /* layout=index (viewer-contract-strict.md); 0: layout=names */
	char *expression;         /* "X" (or NULL), "raw" or "layer:NAME": the gene values */
	char *gene_id_column;     /* var column naming the genes, or NULL for the var index */
	char *obs_keys;           /* "a:b:c": only these obs columns, in this order; NULL: all */
	int watch;                /* follow the source when it changes (default 1; fs/watch.c) */
	int settle;               /* seconds a change must be quiet before it is taken (default 1) */
	int confine;              /* the mounted daemon confines itself (fs/confine.h); default 1 */
	ex_follow follow_symlinks; /* directory sources; default EX_FOLLOW_INSIDE */
} ex_options;

void ex_options_init(ex_options *o);
void ex_options_free(ex_options *o);
/* Apply one "key" or "key=value" mount option. Returns 1 when it was ours and
 * valid, 0 when the key is not ours (libfuse's), -1 with a one-line reason in
 * err for a bad value. */
int ex_options_set(ex_options *o, const char *opt, char *err, size_t errlen);
/* After the last ex_options_set: what only the whole set can refuse.
 * 0, or -1 with err set. */
int ex_options_check(const ex_options *o, char *err, size_t errlen);

typedef enum {
	EX_DIR,
	EX_IDENTITY, EX_OBS_MANIFEST, EX_VAR_MANIFEST, EX_CONN_MANIFEST,
	EX_HEALTH, EX_INFO, EX_DATASETS,
	EX_POINTS,            /* arg = dimension */
	EX_OBS_VALUES,        /* arg = field */
	EX_OBS_CODES,         /* arg = field */
	EX_OBS_OUTLIERS,      /* arg = field */
	EX_GENE,              /* arg = gene */
	EX_EDGES_SRC, EX_EDGES_DST,
	EX_EDGES_WEIGHTS,     /* layout=index only */
	EX_VECTORS            /* arg = vector field * 4 + dimension */
} ex_kind;

/* Nodes are numbered from 0 (the root); a directory's children are
 * consecutive nodes [first_child, first_child + n_children). */
typedef struct {
	const char *name;
	uint32_t parent;
	ex_kind kind;
	uint32_t arg;
	uint32_t first_child, n_children;
} ex_node;

typedef struct ex_export ex_export;

/* On failure err holds a one-line reason (without the path). */
ex_err ex_open(const char *path, const ex_options *opt, ex_export **out,
	       char *err, size_t errlen);
void ex_close(ex_export *e);

/* What makes a version of the source file this one: a rewrite or a
 * replacement changes at least one of these. */
typedef struct {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	uint64_t tree;   /* a directory store: ad_store_stamp's digest; a file: 0 */
} ex_identity;

/* The identity of the file the export was opened from, and whether two
 * identities are the same version of the same file. */
ex_identity ex_source_id(const ex_export *e);
int ex_identity_same(ex_identity a, ex_identity b);
/* The identity of the file or store at path, as an export opened from it
 * would have it; st its stat. -1 when it is gone or cannot be read. */
int ex_identity_at(const char *path, struct stat *st, ex_identity *id);
/* Delete the export's store when it is closed: the version of the source it
 * was made from is gone (replaced while mounted). */
void ex_discard_store(ex_export *e);
/* Stop reading the source (src_detach): what is generated or cached is still
 * served, everything else fails. Thread-safe. */
void ex_detach_source(ex_export *e);

size_t ex_node_count(const ex_export *e);
const ex_node *ex_node_at(const ex_export *e, uint32_t i);
/* The child of dir called name, or -1. */
int64_t ex_lookup(const ex_export *e, uint32_t dir, const char *name);
/* The tree as served leaves out the files of genes with no finite value in
 * any cell (docs/export-rules.md), known once X has been read. Whether node
 * i is served (wait 0: every node until then), and the k-th served child of
 * directory dir (-1 past the last; in var/ this waits for X). Thread-safe. */
int ex_node_served(ex_export *e, uint32_t i, int wait);
int64_t ex_served_child(ex_export *e, uint32_t dir, size_t k);
time_t ex_mtime(const ex_export *e);

/* Generate the bytes of file node i into a new malloc'd buffer. Thread-safe.
 * On failure err holds a one-line reason naming the file. */
ex_err ex_generate(ex_export *e, uint32_t i, void **data, size_t *len,
		   char *err, size_t errlen);

/* The persistent cache directory of this dataset, or NULL (memory only). */
struct st_store *ex_store(const ex_export *e);

/* Whether file node i belongs to what prefetch level p warms. */
int ex_prefetches(const ex_export *e, uint32_t i, ex_prefetch p);

/* Gene index build: -1 not started, 0..999 building, 1000 ready, -2 failed. */
int ex_index_permille(const ex_export *e);
const char *ex_id(const ex_export *e);
const char *ex_name(const ex_export *e);

/* The node's path from the root, e.g. "obs/leiden.codes.u8.gz" (for logs). */
void ex_node_path(const ex_export *e, uint32_t i, char *buf, size_t len);

/* What ex_open decided, for "cellucidfs check". Strings live until ex_close. */
typedef struct {
	uint64_t source_bytes;        /* the source's size when it was opened */
	size_t n_cells;
	int has_x;                    /* whether the file has an X at all */
	size_t n_var, n_genes;        /* var entries; genes in the tree (one file each) */
	const char *embedding[4];     /* obsm key behind points_<d>d, or NULL */
	size_t embedding_cols[4];     /* that entry's column count */
	const char *latent;           /* obsm key of the latent space, or NULL */
	size_t latent_dim;
	size_t n_fields;              /* obs fields in the tree */
	int has_graph;
} ex_layout;

typedef struct {
	const char *key;
	int categorical;
	size_t n_categories;
} ex_field_info;

void ex_layout_of(const ex_export *e, ex_layout *out);
/* The obs field of an EX_OBS_* node, whose arg is i. */
void ex_field_at(const ex_export *e, size_t i, ex_field_info *out);

#endif
