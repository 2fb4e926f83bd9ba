/*
 * export.c - the export tree of one .h5ad and the generation of its files.
 *
 * ex_open decides everything visible (which fields, genes and embeddings
 * exist and what their files are called), so directory listings and lookups
 * never touch the data. Everything a file needs beyond the obs columns is
 * derived once, on first use, through once_run(): normalised points per
 * dimension, the latent space, the kNN edges, per-field centroids and outlier
 * quantiles, and the gene-major index.
 */
#include "export.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ad.h"
#include "centroid.h"
#include "docs.h"
#include "edges.h"
#include "embed.h"
#include "genes.h"
#include "h5lock.h"
#include "gz.h"
#include "log.h"
#include "quant.h"
#include "safename.h"
#include "store.h"
#include "utf8.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "payloads are written in host order, which must be little-endian"
#endif

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
	once_t summary;           /* centroids and outliers (categorical) */
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

struct ex_export {
	ex_options opt;
	ad_file *ad;
	pthread_mutex_t h5;       /* every HDF5 call */
	pthread_mutex_t memo;     /* once_t states */
	pthread_cond_t memo_done;
	time_t mtime;
	struct stat source;       /* identity of the .h5ad, for the cache key */
	st_store *store;          /* persistent cache directory, or NULL */
	double index_started;     /* gene index build: start time, last report */
	int index_reported;
	atomic_int index_permille; /* see ex_index_permille */
	atomic_int generating;     /* ex_generate calls in progress */
	_Atomic double last_generated; /* now() when the latest one ended */
	char *id, *name;
	char created_at[32];
	size_t n_cells;

	int has_dim[4];
	size_t emb_obsm[4], emb_cols[4]; /* source entry and its column count */
	once_t points_once[4];
	float *points[4];

	float scale[4];           /* each dimension's 2/range, which vector fields share */
	vfield *vfields;          /* velocity-like obsm keys, export-format.md §2 */
	size_t n_vfields, default_vfield;

	int has_latent;
	size_t latent_obsm, latent_dim;
	once_t latent_once;
	float *latent;

	field *fields;
	size_t n_fields;

	char **var_names;
	size_t n_var;
	uint32_t *genes;          /* exposed genes: var positions */
	char **gene_safe;         /* their file-name stems */
	size_t n_genes;
	/* The gene index is built by its own thread: var_manifest.json waits
	 * for the ranges (known once X has been read), genes for the scan's
	 * segments, neither for the merge that follows. */
	enum { GENES_IDLE, GENES_SCANNING, GENES_RANGES, GENES_READY, GENES_FAILED } genes_state;
	quant_range *gene_ranges;  /* by var position, from GENES_RANGES on */
	char genes_error[256];
	pthread_t genes_thread;
	int genes_thread_started;
	gi_index *gi;

	int has_graph;
	once_t edges_once;
	edges edges;

	ex_node *nodes;
	size_t n_nodes, cap_nodes;
	int64_t *table;           /* (parent, name) -> node, open addressing */
	size_t table_mask;
};

/* ------------------------------------------------------------------ once */

typedef ex_err (*once_fn)(ex_export *e, void *arg, char *msg, size_t len);

static ex_err once_run(ex_export *e, once_t *o, once_fn fn, void *arg, char *err, size_t errlen)
{
	pthread_mutex_lock(&e->memo);
	while (o->state == ONCE_BUSY)
		pthread_cond_wait(&e->memo_done, &e->memo);
	if (o->state == ONCE_EMPTY) {
		o->state = ONCE_BUSY;
		pthread_mutex_unlock(&e->memo);
		char msg[256] = "";
		ex_err r = fn(e, arg, msg, sizeof msg);
		pthread_mutex_lock(&e->memo);
		o->err = r;
		memcpy(o->msg, msg, sizeof msg);
		o->state = ONCE_DONE;
		pthread_cond_broadcast(&e->memo_done);
	}
	ex_err r = o->err;
	if (r != EX_OK)
		snprintf(err, errlen, "%s", o->msg);
	pthread_mutex_unlock(&e->memo);
	return r;
}

/* -------------------------------------------------------- derived data */

static void *alloc_array(size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		return NULL;
	size_t bytes = n * size;
	return malloc(bytes ? bytes : 1);
}

/* obsm entry i (n_cells rows of cols) as doubles, and room for n_cells rows
 * of d floats to derive from it. */
static ex_err read_obsm(ex_export *e, size_t i, size_t cols, int d, double **raw, float **out,
			char *msg, size_t len)
{
	*raw = alloc_array(e->n_cells, cols * sizeof **raw);
	*out = alloc_array(e->n_cells, (size_t)d * sizeof **out);
	ad_err r = *raw && *out ? AD_OK : AD_ENOMEM;
	if (r == AD_OK) {
		h5_lock(&e->h5);
		if ((r = ad_obsm_read(e->ad, i, *raw)) != AD_OK)
			snprintf(msg, len, "%s", ad_last_error(e->ad));
		pthread_mutex_unlock(&e->h5);
	} else {
		snprintf(msg, len, "out of memory");
	}
	if (r == AD_OK)
		return EX_OK;
	free(*raw);
	free(*out);
	return r == AD_ENOMEM ? EX_ENOMEM : EX_EIO;
}

static ex_err load_points(ex_export *e, void *arg, char *msg, size_t len)
{
	int d = (int)(intptr_t)arg;
	size_t cols = e->emb_cols[d], n = e->n_cells;
	double *raw;
	float *out;
	ex_err r = read_obsm(e, e->emb_obsm[d], cols, d, &raw, &out, msg, len);
	if (r != EX_OK)
		return r;
	if (cols != (size_t)d) /* embedding=KEY: keep the first d columns */
		for (size_t i = 0; i < n; i++)
			memmove(raw + i * d, raw + i * cols, d * sizeof *raw);
	embed_info info = embed_normalize(raw, n, d, out);
	e->scale[d] = (float)info.scale;
	free(raw);
	if (info.n_nonfinite)
		log_warn("%zu cells have non-finite %dd coordinates; they are placed at 0",
			 info.n_nonfinite, d);
	e->points[d] = out;
	return EX_OK;
}

static ex_err need_points(ex_export *e, int d, char *err, size_t len)
{
	return once_run(e, &e->points_once[d], load_points, (void *)(intptr_t)d, err, len);
}

static ex_err load_latent(ex_export *e, void *arg, char *msg, size_t len)
{
	(void)arg;
	float *out = alloc_array(e->n_cells, e->latent_dim * sizeof *out);
	if (!out) {
		snprintf(msg, len, "out of memory");
		return EX_ENOMEM;
	}
	h5_lock(&e->h5);
	ad_err r = ad_obsm_read_f32(e->ad, e->latent_obsm, out);
	if (r != AD_OK)
		snprintf(msg, len, "%s", ad_last_error(e->ad));
	pthread_mutex_unlock(&e->h5);
	if (r != AD_OK) {
		free(out);
		return EX_EIO;
	}
	e->latent = out;
	return EX_OK;
}

static ex_err load_summary(ex_export *e, void *arg, char *msg, size_t len)
{
	field *f = arg;
	ex_err r;
	if (e->has_latent && (r = once_run(e, &e->latent_once, load_latent, NULL, msg, len)))
		return r;
	f->outliers = alloc_array(e->n_cells, sizeof *f->outliers);
	if (!f->outliers || outlier_quantiles(e->latent, e->n_cells, e->latent_dim, f->cat.codes,
					      f->cat.n_categories, f->outliers)) {
		snprintf(msg, len, "out of memory");
		return EX_ENOMEM;
	}
	f->outlier_range = quant_find_range(f->outliers, e->n_cells);
	for (int d = 1; d <= 3; d++) {
		if (!e->has_dim[d])
			continue;
		if ((r = need_points(e, d, msg, len)))
			return r;
		f->centroids[d] = alloc_array(f->cat.n_categories, sizeof(centroid));
		if (!f->centroids[d] ||
		    centroid_compute(e->points[d], e->n_cells, d, f->cat.codes,
				     f->cat.n_categories, f->centroids[d])) {
			snprintf(msg, len, "out of memory");
			return EX_ENOMEM;
		}
	}
	return EX_OK;
}

static ex_err need_summary(ex_export *e, field *f, char *err, size_t len)
{
	return once_run(e, &f->summary, load_summary, f, err, len);
}

static ex_err load_edges(ex_export *e, void *arg, char *msg, size_t len)
{
	(void)arg;
	ad_graph g = {0};
	h5_lock(&e->h5);
	ad_err r = ad_read_connectivities(e->ad, &g);
	if (r != AD_OK)
		snprintf(msg, len, "%s", ad_last_error(e->ad));
	pthread_mutex_unlock(&e->h5);
	if (r != AD_OK)
		return r == AD_ENOMEM ? EX_ENOMEM : EX_EIO;
	int fail = edges_build(g.n, g.indptr, g.indices, g.data, &e->edges);
	ad_graph_free(&g);
	if (fail) {
		snprintf(msg, len, "obsp/connectivities: invalid graph (or out of memory)");
		return EX_EIO;
	}
	return EX_OK;
}

static ex_err need_edges(ex_export *e, char *err, size_t len)
{
	return once_run(e, &e->edges_once, load_edges, NULL, err, len);
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Report the gene index build every 10 %, with an estimate of what is left. */
static void index_progress(void *ctx, double fraction)
{
	ex_export *e = ctx;
	atomic_store(&e->index_permille, (int)(fraction * 999));
	int step = (int)(fraction * 10);
	if (step <= e->index_reported || step >= 10)
		return;
	e->index_reported = step;
	double spent = now() - e->index_started;
	log_info("gene index: scanned %d%% of X in %.1f s (%.0f cells/s), about %.0f s left",
		 step * 10, spent, spent > 0 ? fraction * (double)e->n_cells / spent : 0.0,
		 spent / fraction * (1 - fraction));
}

static void genes_state(ex_export *e, int state, const char *msg)
{
	pthread_mutex_lock(&e->memo);
	e->genes_state = state;
	snprintf(e->genes_error, sizeof e->genes_error, "%s", msg);
	pthread_cond_broadcast(&e->memo_done);
	pthread_mutex_unlock(&e->memo);
}

/* The ranges are copied out: a failed scan retried elsewhere replaces the
 * index, and var_manifest.json may be in the making meanwhile. */
static void ranges_ready(void *ctx, const gi_index *g)
{
	ex_export *e = ctx;
	for (size_t j = 0; j < e->n_var; j++)
		e->gene_ranges[j] = gi_range(g, j);
	atomic_store(&e->index_permille, 1000);
	genes_state(e, GENES_RANGES, "");
}

/* ex_close may cancel the index's merge from another thread: the pointer
 * changes under the lock. */
static void replace_gi(ex_export *e, gi_index *g)
{
	pthread_mutex_lock(&e->memo);
	gi_index *old = e->gi;
	e->gi = g;
	pthread_mutex_unlock(&e->memo);
	gi_free(old);
}

/* Scan X, into the store if possible, else a temporary file. */
static int scan_genes(ex_export *e, const char *dir, char *msg, size_t len)
{
	int r = GI_EWRITE;
	for (int attempt = 0; attempt < 2 && r == GI_EWRITE; attempt++) {
		if (attempt && !dir)
			break;
		if (attempt) {
			log_warn("%s in %s; building it in a temporary file instead", msg, dir);
			dir = NULL;
		}
		replace_gi(e, gi_new(e->n_cells, e->n_var));
		r = e->gi ? gi_scan(e->gi, e->ad, &e->h5, dir, index_progress, ranges_ready, e, msg,
				    len)
			  : GI_EWRITE;
		if (!e->gi)
			snprintf(msg, len, "out of memory");
	}
	return r;
}

/* The merge waits for this long without a file being generated: between
 * two files of a `cp -r` nothing is in progress for a moment, and a merge
 * run slipped into every such gap would take a core from the copy. */
#define MERGE_QUIET_SECONDS 0.5

static int generating_lately(void *ctx)
{
	ex_export *e = ctx;
	return atomic_load(&e->generating) > 0 ||
	       now() - atomic_load(&e->last_generated) < MERGE_QUIET_SECONDS;
}

static void *build_genes(void *arg)
{
	ex_export *e = arg;
	const char *dir = e->store ? st_dir(e->store) : NULL;
	char msg[256] = "";
	e->index_started = now();
	atomic_store(&e->index_permille, 0);
	replace_gi(e, gi_new(e->n_cells, e->n_var));
	if (e->gi && !gi_load(e->gi, dir)) {
		ranges_ready(e, e->gi);
		genes_state(e, GENES_READY, "");
		return NULL;
	}
	h5_lock(&e->h5);
	int csc = ad_x_kind(e->ad) == AD_X_CSC;
	pthread_mutex_unlock(&e->h5);
	if (csc && e->gi) {
		int r = gi_direct(e->gi, e->ad, &e->h5, index_progress, ranges_ready, e, msg,
				  sizeof msg);
		atomic_store(&e->index_permille, r ? -2 : 1000);
		genes_state(e, r ? GENES_FAILED : GENES_READY, msg);
		return NULL;
	}
	if (scan_genes(e, dir, msg, sizeof msg)) {
		atomic_store(&e->index_permille, -2);
		genes_state(e, GENES_FAILED, msg);
		return NULL;
	}
	double scanned = now();
	genes_state(e, GENES_READY, "");
	if (e->index_reported)
		log_info("gene index: genes readable after %.1f s", scanned - e->index_started);
	/* Genes are served from the scan's segments meanwhile, so the merge
	 * only needs CPU time nobody else wants (Linux nices threads singly). */
	setpriority(PRIO_PROCESS, (id_t)gettid(), 19);
	int r = gi_merge(e->gi, dir, generating_lately, e, msg, sizeof msg);
	if (r && !strstr(msg, strerror(ECANCELED)))
		log_warn("%s; genes are read from the unmerged scan", msg);
	else if (!r && e->index_reported)
		log_info("gene index: scanned in %.1f s, merged in %.1f s", scanned - e->index_started,
			 now() - scanned);
	return NULL;
}

/* Wait until the gene index reaches state (GENES_RANGES or GENES_READY),
 * starting its thread if nobody did. */
static ex_err wait_genes(ex_export *e, int state, char *err, size_t len)
{
	pthread_mutex_lock(&e->memo);
	if (e->genes_state == GENES_IDLE) {
		if (pthread_create(&e->genes_thread, NULL, build_genes, e)) {
			e->genes_state = GENES_FAILED;
			snprintf(e->genes_error, sizeof e->genes_error, "cannot start a thread");
		} else {
			e->genes_state = GENES_SCANNING;
			e->genes_thread_started = 1;
		}
	}
	while ((int)e->genes_state < state)
		pthread_cond_wait(&e->memo_done, &e->memo);
	ex_err r = e->genes_state == GENES_FAILED ? EX_EIO : EX_OK;
	if (r != EX_OK)
		snprintf(err, len, "%s", e->genes_error);
	pthread_mutex_unlock(&e->memo);
	return r;
}

/* ------------------------------------------------------------ the tree */

static uint64_t hash_entry(uint32_t parent, const char *name)
{
	uint64_t h = 1469598103934665603ULL ^ parent;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		h = (h ^ *p) * 1099511628211ULL;
	return h ^ (h >> 29);
}

static int build_table(ex_export *e)
{
	size_t cap = 16;
	while (cap < 2 * e->n_nodes)
		cap <<= 1;
	e->table = malloc(cap * sizeof *e->table);
	if (!e->table)
		return -1;
	memset(e->table, 0xff, cap * sizeof *e->table);
	e->table_mask = cap - 1;
	for (size_t i = 1; i < e->n_nodes; i++) {
		size_t slot = hash_entry(e->nodes[i].parent, e->nodes[i].name) & e->table_mask;
		while (e->table[slot] >= 0)
			slot = (slot + 1) & e->table_mask;
		e->table[slot] = (int64_t)i;
	}
	return 0;
}

int64_t ex_lookup(const ex_export *e, uint32_t dir, const char *name)
{
	size_t slot = hash_entry(dir, name) & e->table_mask;
	for (; e->table[slot] >= 0; slot = (slot + 1) & e->table_mask) {
		const ex_node *n = &e->nodes[e->table[slot]];
		if (n->parent == dir && !strcmp(n->name, name))
			return e->table[slot];
	}
	return -1;
}

static int64_t add_node(ex_export *e, uint32_t parent, ex_kind kind, uint32_t arg,
			const char *fmt, ...)
{
	if (e->n_nodes == e->cap_nodes) {
		size_t cap = e->cap_nodes ? 2 * e->cap_nodes : 64;
		ex_node *nodes = realloc(e->nodes, cap * sizeof *nodes);
		if (!nodes)
			return -1;
		e->nodes = nodes;
		e->cap_nodes = cap;
	}
	char *name;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&name, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	e->nodes[e->n_nodes] = (ex_node){name, parent, kind, arg, 0, 0};
	return (int64_t)e->n_nodes++;
}

/* Children are appended right after each other; the directory records them. */
static void open_dir(ex_export *e, int64_t dir)
{
	e->nodes[dir].first_child = (uint32_t)e->n_nodes;
}

static void close_dir(ex_export *e, int64_t dir)
{
	e->nodes[dir].n_children = (uint32_t)(e->n_nodes - e->nodes[dir].first_child);
}

/* ---------------------------------------- what each layout exposes */

/* layout=index leaves out what the strict viewer (viewer-contract-strict.md)
 * would refuse and the names layout serves as the reference does: a key with
 * surrounding whitespace or used twice (§3.4), repeated categories (§3.3), a
 * continuous field missing in every cell (§14), an empty or repeated gene
 * name (§4). The choice is made once, here; documents read it back from the
 * tree. */
typedef struct {
	uint8_t *field, *gene;    /* per e->fields and e->genes entry: 1 to expose */
	size_t n_fields, n_genes;
} exposure;

static int has_value(const float *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (isfinite(v[i]))
			return 1;
	return 0;
}

/* 1 when two categories have the same text, -1 when memory ran out. */
static int repeats_category(const ad_categorical *c)
{
	safename_set *seen = safename_set_new();
	int r = seen ? 0 : -1;
	for (size_t k = 0; k < c->n_categories && r == 0; k++) {
		int added = safename_set_add(seen, c->categories[k]);
		r = added < 0 ? -1 : !added;
	}
	safename_set_free(seen);
	return r;
}

/* 1 to expose, 0 to leave out (with a warning), -1 when memory ran out. */
static int index_field_ok(const ex_export *e, const field *f, safename_set *keys)
{
	const char *why = NULL;
	int r = 0;
	if (!doc_is_trimmed(f->key))
		why = "its name is empty or has surrounding whitespace";
	else if (f->categorical && (r = repeats_category(&f->cat)))
		why = "two of its categories have the same name";
	else if (!f->categorical && !has_value(f->values, e->n_cells))
		why = "it has no value in any cell";
	else if ((r = safename_set_add(keys, f->key)) == 0)
		why = "its name is used twice";
	if (r < 0)
		return -1;
	if (why)
		log_warn("obs field '%s' left out of layout=index: %s", f->key, why);
	return !why;
}

static int index_gene_ok(const char *name, safename_set *names)
{
	int added = *name ? safename_set_add(names, name) : 0;
	if (added == 0)
		log_warn("gene '%s' left out of layout=index: %s", name,
			 *name ? "its name is used twice" : "its name is empty");
	return added;
}

static int choose_exposed(const ex_export *e, exposure *x)
{
	memset(x, 0, sizeof *x);
	x->field = calloc(e->n_fields ? e->n_fields : 1, 1);
	x->gene = calloc(e->n_genes ? e->n_genes : 1, 1);
	safename_set *keys = safename_set_new(), *genes = safename_set_new();
	int r = x->field && x->gene && keys && genes ? 0 : -1;
	for (size_t i = 0; i < e->n_fields && r == 0; i++) {
		int ok = e->opt.index_layout ? index_field_ok(e, &e->fields[i], keys) : 1;
		x->field[i] = ok > 0;
		x->n_fields += ok > 0;
		r = ok < 0 ? -1 : 0;
	}
	for (size_t i = 0; i < e->n_genes && r == 0; i++) {
		int ok = e->opt.index_layout ? index_gene_ok(e->var_names[e->genes[i]], genes) : 1;
		x->gene[i] = ok > 0;
		x->n_genes += ok > 0;
		r = ok < 0 ? -1 : 0;
	}
	safename_set_free(keys);
	safename_set_free(genes);
	return r;
}

/* The id and name every layout=index document shows (§2, §10, §13). Values
 * the user chose were checked with the options; those derived from the file
 * name are made to fit here, once, so that all documents agree. */
static int index_identity(ex_export *e)
{
	if (!doc_is_local_id(e->id)) {
		char *id = doc_local_id(e->id);
		if (!id)
			return -1;
		log_warn("dataset id '%s' is '%s' in layout=index", e->id, id);
		free(e->id);
		e->id = id;
	}
	if (!doc_is_trimmed(e->name) || doc_has_control(e->name)) {
		char *name = doc_clean_name(e->name);
		if (name && !*name) {
			free(name);
			name = strdup(e->id);
		}
		if (!name)
			return -1;
		free(e->name);
		e->name = name;
	}
	return 0;
}

/* The strict viewer refuses a payload over 512 MiB decoded and an embedding
 * whose working set passes 512 MiB (§1, §5, §15), a metadata document over
 * 64 MiB (§1). The files are served all the same, for other readers. */
#define VIEWER_PAYLOAD_LIMIT ((double)(512 << 20))
#define VIEWER_JSON_LIMIT ((double)(64 << 20))

static void over_limit(const char *what, double bytes, double limit)
{
	if (bytes > limit)
		log_warn("layout=index: %s needs %.0f MiB, more than the viewer's limit of "
			 "%.0f MiB; the viewer will refuse it", what, bytes / (1 << 20),
			 limit / (1 << 20));
}

static void warn_index_limits(const ex_export *e)
{
	double n = (double)e->n_cells;
	for (int d = 1; d <= 3; d++) {
		char what[32];
		snprintf(what, sizeof what, "the %dd embedding", d);
		/* float32 positions, plus a copy padded to 3d below 3d */
		if (e->has_dim[d])
			over_limit(what, n * (d == 3 ? 12 : 4 * d + 12), VIEWER_PAYLOAD_LIMIT);
	}
	int widest = !e->opt.obs_bits || (e->n_genes && !e->opt.var_bits) ? 4 : 2;
	over_limit("each obs field or gene", n * widest, VIEWER_PAYLOAD_LIMIT);
}

/* A payload's file-name stem: the safe name, or its number in layout=index. */
static const char *payload_stem(const ex_export *e, const char *safe, uint32_t index,
				char buf[static 12])
{
	if (!e->opt.index_layout)
		return safe;
	snprintf(buf, 12, "%u", (unsigned)index);
	return buf;
}

static int add_field_files(ex_export *e, int64_t obs, uint32_t i, uint32_t index)
{
	const field *f = &e->fields[i];
	const char *gz = e->opt.compression ? ".gz" : "", *ext = doc_ext(e->opt.obs_bits);
	char buf[12];
	const char *stem = payload_stem(e, f->safe, index, buf);
	if (!f->categorical)
		return add_node(e, obs, EX_OBS_VALUES, i, "%s.values.%s%s", stem, ext, gz) < 0;
	return add_node(e, obs, EX_OBS_CODES, i, "%s.codes.%s%s", stem, doc_ext(f->code_bits),
			gz) < 0 ||
	       add_node(e, obs, EX_OBS_OUTLIERS, i, "%s.outliers.%s%s", stem, ext, gz) < 0;
}

/* The obs directory holds each exposed field's files in payload order: the
 * names layout's column order, or layout=index's numbering, continuous
 * fields first (§3.4, §8.4), as doc_identity lists them. */
static int build_tree(ex_export *e)
{
	const char *gz = e->opt.compression ? ".gz" : "";
	const char *var_ext = doc_ext(e->opt.var_bits);
	exposure x;
	int ok = choose_exposed(e, &x) == 0 && (!e->opt.index_layout || index_identity(e) == 0);
	if (ok && e->opt.index_layout)
		warn_index_limits(e);
	int64_t root = ok ? add_node(e, 0, EX_DIR, 0, "%s", "") : -1;
	ok &= root == 0;
	if (!ok)
		goto done;
	open_dir(e, root);
	ok &= add_node(e, 0, EX_IDENTITY, 0, "dataset_identity.json") >= 0;
	ok &= add_node(e, 0, EX_OBS_MANIFEST, 0, "obs_manifest.json") >= 0;
	if (x.n_genes)
		ok &= add_node(e, 0, EX_VAR_MANIFEST, 0, "var_manifest.json") >= 0;
	if (e->has_graph)
		ok &= add_node(e, 0, EX_CONN_MANIFEST, 0, "connectivity_manifest.json") >= 0;
	for (int d = 1; d <= 3; d++)
		if (e->has_dim[d])
			ok &= add_node(e, 0, EX_POINTS, d, "points_%dd.bin%s", d, gz) >= 0;
	int64_t obs = x.n_fields ? add_node(e, 0, EX_DIR, 0, "obs") : 0;
	int64_t var = x.n_genes ? add_node(e, 0, EX_DIR, 0, "var") : 0;
	int64_t conn = e->has_graph ? add_node(e, 0, EX_DIR, 0, "connectivity") : 0;
	int64_t vec = e->n_vfields ? add_node(e, 0, EX_DIR, 0, "vectors") : 0;
	/* In a collection, the handshake files are the collection's. */
	int64_t meta = e->opt.in_collection ? 0 : add_node(e, 0, EX_DIR, 0, "_cellucid");
	ok &= obs >= 0 && var >= 0 && conn >= 0 && vec >= 0 && meta >= 0;
	if (!ok)
		goto done;
	close_dir(e, root);

	if (obs) {
		open_dir(e, obs);
		uint32_t index = 0;
		for (int pass = 0; pass < 2; pass++) {
			for (uint32_t i = 0; i < e->n_fields && ok; i++) {
				int cat = e->fields[i].categorical;
				if (x.field[i] && (e->opt.index_layout ? cat == pass : !pass))
					ok &= !add_field_files(e, obs, i, index++);
			}
		}
		close_dir(e, obs);
	}
	if (var) {
		open_dir(e, var);
		uint32_t index = 0;
		char buf[12];
		for (uint32_t i = 0; i < e->n_genes && ok; i++)
			if (x.gene[i])
				ok &= add_node(e, var, EX_GENE, i, "%s.values.%s%s",
					       payload_stem(e, e->gene_safe[i], index++, buf),
					       var_ext, gz) >= 0;
		close_dir(e, var);
	}
	if (conn) {
		open_dir(e, conn);
		ok &= add_node(e, conn, EX_EDGES_SRC, 0, "edges.src.bin%s", gz) >= 0;
		ok &= add_node(e, conn, EX_EDGES_DST, 0, "edges.dst.bin%s", gz) >= 0;
		if (e->opt.index_layout)
			ok &= add_node(e, conn, EX_EDGES_WEIGHTS, 0, "edges.weights.bin%s", gz) >= 0;
		close_dir(e, conn);
	}
	if (vec) {
		open_dir(e, vec);
		char buf[12];
		for (uint32_t k = 0; k < e->n_vfields && ok; k++)
			for (uint32_t d = 1; d <= 3; d++)
				if (e->vfields[k].has_dim[d])
					ok &= add_node(e, vec, EX_VECTORS, k * 4 + d, "%s_%ud.bin%s",
						       payload_stem(e, e->vfields[k].stem, k, buf), d,
						       gz) >= 0;
		close_dir(e, vec);
	}
	if (meta) {
		open_dir(e, meta);
		ok &= add_node(e, meta, EX_HEALTH, 0, "health") >= 0;
		ok &= add_node(e, meta, EX_INFO, 0, "info") >= 0;
		ok &= add_node(e, meta, EX_DATASETS, 0, "datasets") >= 0;
		close_dir(e, meta);
	}
done:
	free(x.field);
	free(x.gene);
	return ok ? build_table(e) : -1;
}

/* ---------------------------------------------------------- ex_open */

/* A file name is one path component: at most 255 bytes on Linux. */
#define NAME_MAX_BYTES 255

/* Keep the first field or gene of each safe name (the viewer finds files by
 * the safe name of the key, so a later twin cannot be renamed) and any whose
 * longest file name fits. Returns 1 to expose, 0 to leave out, -1 on ENOMEM. */
static int claim_name(safename_set *taken, const char *what, const char *key,
		      const char *safe, size_t longest_suffix)
{
	if (strlen(safe) + longest_suffix > NAME_MAX_BYTES) {
		log_warn("%s '%s' left out: its file name would pass %d bytes", what, key,
			 NAME_MAX_BYTES);
		return 0;
	}
	int added = safename_set_add(taken, safe);
	if (added == 0)
		log_warn("%s '%s' left out: its file name '%s' is already used by an earlier one",
			 what, key, safe);
	return added;
}

static size_t suffix_len(const char *stem, int bits, int compression)
{
	/* ".<stem>.<ext>" plus ".gz" */
	return 1 + strlen(stem) + 1 + strlen(doc_ext(bits)) + (compression ? 3 : 0);
}

/* Replace *s (malloc'd) by its UTF-8 repair when it is not valid UTF-8, so
 * every JSON document stays valid. Returns 1 if repaired, 0 if not, -1 when
 * memory ran out. */
static int repair_text(char **s)
{
	int failed;
	char *fixed = utf8_repair(*s, &failed);
	if (failed)
		return -1;
	if (!fixed)
		return 0;
	free(*s);
	*s = fixed;
	return 1;
}

/* Repair a field's key and categories, with one warning per field. */
static int repair_field_text(field *f)
{
	int key = repair_text(&f->key), cats = 0;
	for (size_t k = 0; k < f->cat.n_categories && key >= 0 && cats >= 0; k++) {
		int r = repair_text(&f->cat.categories[k]);
		cats = r < 0 ? -1 : cats + r;
	}
	if (key < 0 || cats < 0)
		return -1;
	if (key)
		log_warn("obs field '%s': its name is not valid UTF-8; bad bytes are written as U+FFFD",
			 f->key);
	if (cats)
		log_warn("obs field '%s': %d categories are not valid UTF-8; bad bytes are written as "
			 "U+FFFD", f->key, cats);
	return 0;
}

static void field_free(field *f)
{
	free(f->key);
	free(f->safe);
	free(f->values);
	ad_categorical_free(&f->cat);
	for (int d = 1; d <= 3; d++)
		free(f->centroids[d]);
	free(f->outliers);
}

static ex_err read_field(ex_export *e, size_t col, field *f, char *err, size_t errlen)
{
	ad_err r;
	if (f->categorical) {
		r = ad_obs_read_categorical(e->ad, col, &f->cat);
		f->code_bits = f->cat.n_categories <= 254 ? 8 : 16;
	} else {
		f->values = alloc_array(e->n_cells, sizeof *f->values);
		if (!f->values)
			return EX_ENOMEM;
		r = ad_obs_read_numeric(e->ad, col, f->values);
		f->range = quant_find_range(f->values, e->n_cells);
	}
	if (r != AD_OK)
		snprintf(err, errlen, "%s", ad_last_error(e->ad));
	return r == AD_OK ? EX_OK : r == AD_ENOMEM ? EX_ENOMEM : EX_EIO;
}

/* "a, b, c" - the n keys name(ad, 0..n), for error messages. */
static void list_keys(const ex_export *e, size_t n, const char *(*name)(const ad_file *, size_t),
		      char *buf, size_t len)
{
	size_t used = 0;
	buf[0] = 0;
	for (size_t i = 0; i < n && used < len; i++)
		used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? ", " : "",
					 name(e->ad, i));
	if (!n)
		snprintf(buf, len, "none");
}

/* The obs columns to expose, in order: those of obs_keys=a:b:c, else every
 * one in column-order. A key that names no column refuses the mount. */
static int by_position(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	return x < y ? -1 : x > y;
}

static ex_err choose_columns(const ex_export *e, size_t **out, size_t *n, char *err,
			     size_t errlen)
{
	const char *keys = e->opt.obs_keys;
	size_t ncols = ad_obs_ncols(e->ad), cap = ncols + 1;
	for (const char *p = keys; p && *p; p++)
		cap += *p == ':';
	size_t *cols = *out = malloc(cap * sizeof *cols);
	*n = 0;
	if (!cols)
		return EX_ENOMEM;
	if (!keys) {
		for (size_t c = 0; c < ncols; c++)
			cols[(*n)++] = c;
		return EX_OK;
	}
	for (const char *k = keys;; k++) {
		size_t len = strcspn(k, ":"), c = 0;
		while (c < ncols && (strncmp(ad_obs_col_name(e->ad, c), k, len) ||
				     ad_obs_col_name(e->ad, c)[len]))
			c++;
		if (c == ncols) {
			char names[512];
			list_keys(e, ncols, ad_obs_col_name, names, sizeof names);
			snprintf(err, errlen, "obs_keys=%s: no obs column '%.*s' (columns: %s)", keys,
				 (int)len, k, names);
			return EX_EINVAL;
		}
		cols[(*n)++] = c;
		k += len;
		if (!*k)
			break;
	}
	/* obs_keys restricts; the order stays column-order's (export-format.md §2). */
	qsort(cols, *n, sizeof *cols, by_position);
	return EX_OK;
}

static ex_err load_fields(ex_export *e, char *err, size_t errlen)
{
	size_t *cols, ncols;
	ex_err status = choose_columns(e, &cols, &ncols, err, errlen);
	e->fields = status ? NULL : calloc(ncols ? ncols : 1, sizeof *e->fields);
	safename_set *taken = status ? NULL : safename_set_new();
	if (!status && (!e->fields || !taken))
		status = EX_ENOMEM;
	for (size_t k = 0; k < ncols && status == EX_OK; k++) {
		size_t c = cols[k];
		const char *key = ad_obs_col_name(e->ad, c);
		ad_col_kind kind = ad_obs_col_kind(e->ad, c);
		if (kind == AD_COL_UNREADABLE) {
			log_warn("obs field '%s' left out: %s", key, ad_obs_col_reason(e->ad, c));
			continue;
		}
		field *f = &e->fields[e->n_fields];
		memset(f, 0, sizeof *f);
		f->categorical = kind == AD_COL_CATEGORY;
		char why[256] = "";
		ex_err r = read_field(e, c, f, why, sizeof why);
		if (r == EX_EIO) {
			log_warn("obs field '%s' left out: %s", key, why);
			field_free(f);
			continue;
		}
		if (r == EX_OK && f->categorical && f->cat.n_categories > 65534) {
			log_warn("obs field '%s' left out: %zu categories (at most 65534 can be encoded)",
				 key, f->cat.n_categories);
			field_free(f);
			continue;
		}
		f->key = strdup(key);
		f->safe = safename(key);
		if (r != EX_OK || !f->key || !f->safe || repair_field_text(f)) {
			field_free(f);
			status = EX_ENOMEM;
			break;
		}
		size_t longest = f->categorical
			? suffix_len("outliers", e->opt.obs_bits, e->opt.compression)
			: suffix_len("values", e->opt.obs_bits, e->opt.compression);
		/* layout=index names files by number: safe names cannot collide there. */
		int claim = e->opt.index_layout ? 1
						: claim_name(taken, "obs field", f->key, f->safe, longest);
		if (claim < 0)
			status = EX_ENOMEM;
		if (claim <= 0) {
			field_free(f);
			continue;
		}
		e->n_fields++;
	}
	safename_set_free(taken);
	free(cols);
	return status;
}

static ex_err load_genes_names(ex_export *e, char *err, size_t errlen)
{
	if (ad_x_kind(e->ad) == AD_X_NONE)
		return EX_OK;
	e->n_var = ad_n_var(e->ad);
	if (!e->n_var)
		return EX_OK;
	const char *column = e->opt.gene_id_column;
	if (column && ad_var_column(e->ad, column, &e->var_names) != AD_OK) {
		snprintf(err, errlen, "gene_id_column=%s: %s", column, ad_last_error(e->ad));
		return EX_EINVAL;
	}
	if (!column && ad_var_names(e->ad, &e->var_names) != AD_OK) {
		snprintf(err, errlen, "cannot read the var index: %s", ad_last_error(e->ad));
		return EX_EIO;
	}
	e->genes = alloc_array(e->n_var, sizeof *e->genes);
	e->gene_ranges = alloc_array(e->n_var, sizeof *e->gene_ranges);
	e->gene_safe = calloc(e->n_var, sizeof *e->gene_safe);
	safename_set *taken = safename_set_new();
	ex_err status = e->genes && e->gene_safe && e->gene_ranges && taken ? EX_OK : EX_ENOMEM;
	size_t longest = suffix_len("values", e->opt.var_bits, e->opt.compression);
	size_t repaired = 0;
	for (size_t j = 0; j < e->n_var && status == EX_OK; j++) {
		int r = repair_text(&e->var_names[j]);
		if (r < 0) {
			status = EX_ENOMEM;
			break;
		}
		repaired += (size_t)r;
		char *safe = safename(e->var_names[j]);
		int claim = !safe ? -1 : e->opt.index_layout ? 1
				: claim_name(taken, "gene", e->var_names[j], safe, longest);
		if (claim < 0)
			status = EX_ENOMEM;
		if (claim <= 0) {
			free(safe);
			continue;
		}
		e->genes[e->n_genes] = (uint32_t)j;
		e->gene_safe[e->n_genes++] = safe;
	}
	safename_set_free(taken);
	if (repaired)
		log_warn("%zu gene names are not valid UTF-8; bad bytes are written as U+FFFD",
			 repaired);
	return status;
}

static int64_t find_obsm(const ex_export *e, const char *key)
{
	for (size_t i = 0; i < ad_obsm_count(e->ad); i++)
		if (!strcmp(ad_obsm_key(e->ad, i), key))
			return (int64_t)i;
	return -1;
}

/* "X_pca, X_umap" - the obsm keys, for error messages. */
static void list_obsm(const ex_export *e, char *buf, size_t len)
{
	list_keys(e, ad_obsm_count(e->ad), ad_obsm_key, buf, len);
}

/* export-format.md §2: X_umap_<d>d, else X_umap for its own d; or the user's
 * embedding=KEY (its first min(3, columns) columns) as the only one. */
static ex_err choose_embeddings(ex_export *e, char *err, size_t errlen)
{
	char keys[512];
	if (e->opt.embedding) {
		int64_t i = find_obsm(e, e->opt.embedding);
		size_t cols = i >= 0 ? ad_obsm_cols(e->ad, (size_t)i) : 0;
		if (!cols) {
			list_obsm(e, keys, sizeof keys);
			snprintf(err, errlen, "embedding=%s: %s (obsm keys: %s)", e->opt.embedding,
				 i < 0 ? "no such obsm key" : "not a dense numeric array", keys);
			return EX_EINVAL;
		}
		int d = cols < 3 ? (int)cols : 3;
		e->has_dim[d] = 1;
		e->emb_obsm[d] = (size_t)i;
		e->emb_cols[d] = cols;
		return EX_OK;
	}
	int64_t umap = find_obsm(e, "X_umap");
	size_t umap_cols = umap >= 0 ? ad_obsm_cols(e->ad, (size_t)umap) : 0;
	for (int d = 1; d <= 3; d++) {
		char key[24];
		snprintf(key, sizeof key, "X_umap_%dd", d);
		int64_t i = find_obsm(e, key);
		if (i >= 0 && ad_obsm_cols(e->ad, (size_t)i) == (size_t)d) {
			e->emb_obsm[d] = (size_t)i;
		} else if (umap_cols == (size_t)d) {
			e->emb_obsm[d] = (size_t)umap;
		} else {
			continue;
		}
		e->has_dim[d] = 1;
		e->emb_cols[d] = (size_t)d;
	}
	if (e->has_dim[1] || e->has_dim[2] || e->has_dim[3])
		return EX_OK;
	list_obsm(e, keys, sizeof keys);
	snprintf(err, errlen, "no embedding: no obsm X_umap, X_umap_1d, X_umap_2d or X_umap_3d "
		 "(obsm keys: %s); choose one with -o embedding=KEY", keys);
	return EX_EINVAL;
}

static int by_vector_id(const void *a, const void *b)
{
	return strcmp(((const vfield *)a)->id, ((const vfield *)b)->id);
}

/* The vector field called id with len bytes, added if new; NULL on ENOMEM. */
static vfield *vector_field(ex_export *e, const char *id, size_t len)
{
	for (size_t k = 0; k < e->n_vfields; k++)
		if (strlen(e->vfields[k].id) == len && !strncmp(e->vfields[k].id, id, len))
			return &e->vfields[k];
	vfield *v = &e->vfields[e->n_vfields];
	memset(v, 0, sizeof *v);
	if (!(v->id = strndup(id, len)) || !(v->stem = safename(v->id))) {
		free(v->id);
		free(v->stem);
		return NULL;
	}
	e->n_vfields++;
	return v;
}

/* export-format.md §2: obsm keys <field>_umap_<d>d (explicit) or <field>_umap
 * with 1-3 columns (implicit, only where no explicit key gives that d), never
 * keys starting with X_, only in dimensions that have points. The default is
 * velocity_umap if present, else the first by name. */
static ex_err choose_vectors(ex_export *e)
{
	size_t n = ad_obsm_count(e->ad);
	e->vfields = calloc(n ? n : 1, sizeof *e->vfields);
	if (!e->vfields)
		return EX_ENOMEM;
	for (int explicit = 1; explicit >= 0; explicit--) {
		for (size_t i = 0; i < n; i++) {
			const char *key = ad_obsm_key(e->ad, i);
			size_t len = strlen(key), cols = ad_obsm_cols(e->ad, i), idlen;
			int d;
			if (!strncmp(key, "X_", 2) || !cols)
				continue;
			if (explicit && len > 8 && !strncmp(key + len - 8, "_umap_", 6) &&
			    key[len - 2] >= '1' && key[len - 2] <= '3' && key[len - 1] == 'd')
				d = key[len - 2] - '0', idlen = len - 3;
			else if (!explicit && len > 5 && !strcmp(key + len - 5, "_umap") && cols <= 3)
				d = (int)cols, idlen = len;
			else
				continue;
			if ((size_t)d != cols || !e->has_dim[d])
				continue;
			vfield *v = vector_field(e, key, idlen);
			if (!v)
				return EX_ENOMEM;
			if (!v->has_dim[d]) {
				v->has_dim[d] = 1;
				v->obsm[d] = i;
			}
		}
	}
	qsort(e->vfields, e->n_vfields, sizeof *e->vfields, by_vector_id);
	for (size_t k = 0; k < e->n_vfields; k++)
		if (!strcmp(e->vfields[k].id, "velocity_umap"))
			e->default_vfield = k;
	return EX_OK;
}

/* export-format.md §2: latent=KEY, else the first known name, else the first
 * obsm entry that is not a UMAP. */
static ex_err choose_latent(ex_export *e, char *err, size_t errlen)
{
	static const char *const known[] = {"scanvi", "scvi", "X_scvi", "X_pca", "harmony",
					    "X_harmony"};
	int64_t pick = -1;
	if (e->opt.latent) {
		pick = find_obsm(e, e->opt.latent);
		if (pick < 0 || !ad_obsm_cols(e->ad, (size_t)pick)) {
			char keys[512];
			list_obsm(e, keys, sizeof keys);
			snprintf(err, errlen, "latent=%s: %s (obsm keys: %s)", e->opt.latent,
				 pick < 0 ? "no such obsm key" : "not a dense numeric array", keys);
			return EX_EINVAL;
		}
	}
	for (size_t k = 0; pick < 0 && k < sizeof known / sizeof *known; k++) {
		int64_t i = find_obsm(e, known[k]);
		if (i >= 0 && ad_obsm_cols(e->ad, (size_t)i))
			pick = i;
	}
	for (size_t i = 0; pick < 0 && i < ad_obsm_count(e->ad); i++)
		if (strncmp(ad_obsm_key(e->ad, i), "X_umap", 6) && ad_obsm_cols(e->ad, i))
			pick = (int64_t)i;
	if (pick >= 0) {
		e->has_latent = 1;
		e->latent_obsm = (size_t)pick;
		e->latent_dim = ad_obsm_cols(e->ad, (size_t)pick);
	}
	return EX_OK;
}

/* The base name without its extension: "/data/pbmc.h5ad" -> "pbmc"; also
 * "pbmc.zarr/" and "pbmc.zarr.zip" -> "pbmc". */
static char *base_stem(const char *path)
{
	size_t end = strlen(path);
	while (end > 1 && path[end - 1] == '/')
		end--;
	const char *base = memrchr(path, '/', end);
	base = base ? base + 1 : path;
	size_t n = (size_t)(path + end - base);
	if (n > 9 && !memcmp(base + n - 9, ".zarr.zip", 9))
		n -= 4;  /* ".zip" first, then the extension */
	const char *dot = memrchr(base, '.', n);
	return strndup(base, dot && dot != base ? (size_t)(dot - base) : n);
}

static ex_err describe_dataset(ex_export *e, const char *path, const struct stat *st)
{
	char *stem = base_stem(path);
	if (!stem)
		return EX_ENOMEM;
	e->name = e->opt.dataset_name ? strdup(e->opt.dataset_name) : strdup(stem);
	e->id = e->opt.dataset_id ? strdup(e->opt.dataset_id) : safename(stem);
	free(stem);
	if (!e->name || !e->id || repair_text(&e->name) < 0 || repair_text(&e->id) < 0)
		return EX_ENOMEM;
	e->mtime = st->st_mtime;
	e->source = *st;
	struct tm tm;
	gmtime_r(&e->mtime, &tm);
	strftime(e->created_at, sizeof e->created_at, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return EX_OK;
}

static int copy_options(ex_options *dst, const ex_options *src)
{
	*dst = *src;
	dst->latent = src->latent ? strdup(src->latent) : NULL;
	dst->embedding = src->embedding ? strdup(src->embedding) : NULL;
	dst->dataset_id = src->dataset_id ? strdup(src->dataset_id) : NULL;
	dst->dataset_name = src->dataset_name ? strdup(src->dataset_name) : NULL;
	dst->host = strdup(src->host ? src->host : "127.0.0.1");
	dst->cache_dir = src->cache_dir ? strdup(src->cache_dir) : NULL;
	dst->expression = src->expression ? strdup(src->expression) : NULL;
	dst->gene_id_column = src->gene_id_column ? strdup(src->gene_id_column) : NULL;
	dst->obs_keys = src->obs_keys ? strdup(src->obs_keys) : NULL;
	return (src->latent && !dst->latent) || (src->embedding && !dst->embedding) ||
	       (src->cache_dir && !dst->cache_dir) ||
	       (src->expression && !dst->expression) ||
	       (src->gene_id_column && !dst->gene_id_column) ||
	       (src->obs_keys && !dst->obs_keys) ||
	       (src->dataset_id && !dst->dataset_id) ||
	       (src->dataset_name && !dst->dataset_name) || !dst->host ? -1 : 0;
}

static ex_err open_layout(ex_export *e, const char *path, char *err, size_t errlen)
{
	struct stat st;
	if (stat(path, &st)) {
		snprintf(err, errlen, "%s", strerror(errno));
		return EX_EIO;
	}
	if (ad_open(path, &e->ad, err, errlen) != AD_OK)
		return EX_EINVAL;
	/* Before anything reads X or the gene names. */
	if (e->opt.expression && ad_select_expression(e->ad, e->opt.expression) != AD_OK) {
		snprintf(err, errlen, "expression=%s: %s", e->opt.expression, ad_last_error(e->ad));
		return EX_EINVAL;
	}
	e->n_cells = ad_n_obs(e->ad);
	if (!e->n_cells) {
		snprintf(err, errlen, "no cells (obs is empty)");
		return EX_EINVAL;
	}
	if (e->n_cells > UINT32_MAX) {
		snprintf(err, errlen, "%zu cells: more than 2^32 cannot be indexed", e->n_cells);
		return EX_EINVAL;
	}
	ex_err r;
	if ((r = describe_dataset(e, path, &st)) || (r = choose_embeddings(e, err, errlen)) ||
	    (r = choose_vectors(e)) ||
	    (r = choose_latent(e, err, errlen)))
		return r;
	e->has_graph = ad_has_connectivities(e->ad);
	if ((r = load_fields(e, err, errlen)) == EX_OK)
		r = load_genes_names(e, err, errlen);
	return r;
}

/* Everything that changes a byte of the tree: a store made under another key
 * is never used. */
/* Cached files are named by node index: the key holds a hash of every node's
 * kind, argument and name, so that any option that reshapes the tree (now or
 * later) gets a store of its own. */
static uint64_t tree_hash(const ex_export *e)
{
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < e->n_nodes; i++) {
		const ex_node *n = &e->nodes[i];
		h = (h ^ n->kind) * 1099511628211ULL;
		h = (h ^ n->arg) * 1099511628211ULL;
		h = (h ^ n->parent) * 1099511628211ULL;
		for (const unsigned char *p = (const unsigned char *)n->name; *p; p++)
			h = (h ^ *p) * 1099511628211ULL;
		h = (h ^ '/') * 1099511628211ULL;
	}
	return h;
}

static char *cache_key(const ex_export *e)
{
	const ex_options *o = &e->opt;
	char *key;
	int n = asprintf(&key,
		"cellucidfs cache, format %s\n"
		"source dev=%ju ino=%ju size=%jd mtime=%jd.%09ld\n"
		"compression=%d var_bits=%d obs_bits=%d\n"
		"latent=%s\nembedding=%s\ndataset_id=%s\ndataset_name=%s\nhost=%s port=%d\n"
		"expression=%s\ngene_id_column=%s\nobs_keys=%s\n"
		"tree=%016jx\n",
		CELLUCIDFS_VERSION, (uintmax_t)e->source.st_dev, (uintmax_t)e->source.st_ino,
		(intmax_t)e->source.st_size, (intmax_t)e->source.st_mtim.tv_sec,
		e->source.st_mtim.tv_nsec, o->compression, o->var_bits, o->obs_bits,
		o->latent ? o->latent : "", o->embedding ? o->embedding : "", e->id, e->name,
		o->host, o->port, o->expression ? o->expression : "X",
		o->gene_id_column ? o->gene_id_column : "", o->obs_keys ? o->obs_keys : "",
		(uintmax_t)tree_hash(e));
	return n < 0 ? NULL : key;
}

/* $XDG_CACHE_HOME/cellucidfs, else ~/.cache/cellucidfs; NULL if neither is set. */
static char *default_cache_dir(void)
{
	const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	char *dir = NULL;
	if (xdg && *xdg == '/') {
		if (asprintf(&dir, "%s/cellucidfs", xdg) < 0)
			dir = NULL;
	} else if (home && *home == '/') {
		if (asprintf(&dir, "%s/.cache/cellucidfs", home) < 0)
			dir = NULL;
	}
	return dir;
}

/* An unusable cache directory is not fatal: files are then kept in memory. */
static ex_err open_store(ex_export *e)
{
	if (e->opt.cache_dir && !strcmp(e->opt.cache_dir, "none"))
		return EX_OK;
	char *dir = e->opt.cache_dir ? strdup(e->opt.cache_dir) : default_cache_dir();
	char *key = cache_key(e);
	char why[512] = "no HOME or XDG_CACHE_HOME";
	if (dir && key)
		e->store = st_open(dir, key, why, sizeof why);
	if (!e->store)
		log_warn("no cache directory (%s); generated files are kept in memory", why);
	free(dir);
	free(key);
	return EX_OK;
}

struct st_store *ex_store(const ex_export *e)
{
	return e->store;
}

int ex_prefetches(const ex_export *e, uint32_t i, ex_prefetch p)
{
	ex_kind kind = e->nodes[i].kind;
	if (kind == EX_DIR || p == EX_PREFETCH_NONE)
		return 0;
	return kind != EX_GENE || p == EX_PREFETCH_ALL;
}

ex_err ex_open(const char *path, const ex_options *opt, ex_export **out, char *err,
	       size_t errlen)
{
	ex_export *e = calloc(1, sizeof *e);
	if (!e) {
		snprintf(err, errlen, "out of memory");
		return EX_ENOMEM;
	}
	atomic_init(&e->index_permille, -1);
	atomic_init(&e->generating, 0);
	atomic_init(&e->last_generated, 0.0);
	pthread_mutex_init(&e->h5, NULL);
	pthread_mutex_init(&e->memo, NULL);
	pthread_cond_init(&e->memo_done, NULL);
	ex_err r = copy_options(&e->opt, opt) ? EX_ENOMEM : open_layout(e, path, err, errlen);
	if (r == EX_OK && build_tree(e))
		r = EX_ENOMEM;
	if (r == EX_OK)
		r = open_store(e);
	if (r == EX_ENOMEM)
		snprintf(err, errlen, "out of memory");
	if (r != EX_OK) {
		ex_close(e);
		return r;
	}
	*out = e;
	return EX_OK;
}

void ex_close(ex_export *e)
{
	if (!e)
		return;
	if (e->genes_thread_started) {
		pthread_mutex_lock(&e->memo);
		if (e->gi)
			gi_cancel(e->gi);
		pthread_mutex_unlock(&e->memo);
		pthread_join(e->genes_thread, NULL);
	}
	for (size_t i = 0; i < e->n_fields; i++)
		field_free(&e->fields[i]);
	free(e->fields);
	for (int d = 1; d <= 3; d++)
		free(e->points[d]);
	free(e->latent);
	for (size_t k = 0; k < e->n_vfields; k++) {
		free(e->vfields[k].id);
		free(e->vfields[k].stem);
	}
	free(e->vfields);
	if (e->var_names)
		ad_strings_free(e->var_names, e->n_var);
	for (size_t i = 0; i < e->n_genes; i++)
		free(e->gene_safe[i]);
	free(e->gene_safe);
	free(e->genes);
	free(e->gene_ranges);
	gi_free(e->gi);
	edges_free(&e->edges);
	for (size_t i = 0; i < e->n_nodes; i++)
		free((char *)e->nodes[i].name);
	free(e->nodes);
	free(e->table);
	ad_close(e->ad);
	st_close(e->store);
	ex_options_free(&e->opt);
	free(e->id);
	free(e->name);
	pthread_mutex_destroy(&e->h5);
	pthread_mutex_destroy(&e->memo);
	pthread_cond_destroy(&e->memo_done);
	free(e);
}

size_t ex_node_count(const ex_export *e) { return e->n_nodes; }
int ex_index_permille(const ex_export *e) { return atomic_load(&e->index_permille); }
const char *ex_id(const ex_export *e) { return e->id; }
const char *ex_name(const ex_export *e) { return e->name; }
const ex_node *ex_node_at(const ex_export *e, uint32_t i) { return &e->nodes[i]; }
time_t ex_mtime(const ex_export *e) { return e->mtime; }

void ex_node_path(const ex_export *e, uint32_t i, char *buf, size_t len)
{
	if (i == 0 || e->nodes[i].parent == 0) {
		snprintf(buf, len, "%s", i ? e->nodes[i].name : "/");
		return;
	}
	snprintf(buf, len, "%s/%s", e->nodes[e->nodes[i].parent].name, e->nodes[i].name);
}

/* ------------------------------------------------------- generation */

/* The children of top-level directory name: NULL and 0 when it is absent. */
static const ex_node *dir_children(const ex_export *e, const char *name, size_t *n)
{
	int64_t dir = ex_lookup(e, 0, name);
	*n = dir < 0 ? 0 : e->nodes[dir].n_children;
	return dir < 0 ? NULL : &e->nodes[e->nodes[dir].first_child];
}

/* What the documents show is what build_tree exposed: the fields are read
 * back from the obs directory in payload order, so their indices are the
 * file numbers, and the genes are counted in the var directory. */
static void describe(const ex_export *e, doc_dataset *d, doc_field *fields)
{
	memset(d, 0, sizeof *d);
	d->index_layout = e->opt.index_layout;
	d->id = e->id;
	d->name = e->name;
	d->created_at = e->created_at;
	d->version = CELLUCIDFS_VERSION;
	d->n_cells = e->n_cells;
	dir_children(e, "var", &d->n_genes);
	for (int dim = 1; dim <= 3; dim++)
		d->has_dim[dim] = e->has_dim[dim];
	d->default_dim = e->has_dim[3] ? 3 : e->has_dim[2] ? 2 : 1;
	d->compression = e->opt.compression;
	d->var_bits = e->opt.var_bits;
	d->obs_bits = e->opt.obs_bits;
	d->has_graph = e->has_graph;
	d->n_edges = e->edges.n_edges;
	d->max_neighbors = e->edges.max_neighbors;
	d->host = e->opt.host;
	d->port = e->opt.port;
	d->gene_id_column = e->opt.gene_id_column;
	d->fields = fields;
	size_t n_files;
	const ex_node *files = dir_children(e, "obs", &n_files);
	for (size_t k = 0; k < n_files; k++) {
		if (files[k].kind == EX_OBS_OUTLIERS) /* the codes came first */
			continue;
		const field *f = &e->fields[files[k].arg];
		doc_field *out = &fields[d->n_fields];
		*out = (doc_field){
			.key = f->key, .categorical = f->categorical, .range = f->range,
			.n_categories = f->cat.n_categories, .categories = f->cat.categories,
			.code_bits = f->code_bits, .outlier_range = f->outlier_range,
			.index = d->n_fields,
		};
		for (int dim = 1; dim <= 3; dim++)
			out->centroids[dim] = f->centroids[dim];
		d->n_fields++;
	}
}

/* layout=index serves only the edges whose weight the strict viewer accepts,
 * finite and > 0 (§6). A sum C[u,v] + C[v,u] below 0 is no affinity (scipy
 * already drops those that are exactly 0) and a non-finite one no usable
 * value: such an edge is left out rather than given an invented weight, and
 * max_neighbors is the largest degree over the edges that remain. */
static int usable_weight(double w)
{
	return isfinite(w) && w > 0;
}

static int index_edge_stats(const ex_export *e, size_t *n_edges, size_t *max_degree)
{
	const edges *g = &e->edges;
	size_t kept = 0;
	for (size_t k = 0; k < g->n_edges; k++)
		kept += usable_weight(g->weight[k]);
	*n_edges = kept;
	*max_degree = g->max_degree;
	if (kept == g->n_edges)
		return 0;
	uint32_t *degree = calloc(e->n_cells, sizeof *degree);
	if (!degree)
		return -1;
	*max_degree = 0;
	for (size_t k = 0; k < g->n_edges; k++) {
		if (!usable_weight(g->weight[k]))
			continue;
		uint32_t a = ++degree[g->src[k]], b = ++degree[g->dst[k]];
		*max_degree = a > *max_degree ? a : *max_degree;
		*max_degree = b > *max_degree ? b : *max_degree;
	}
	free(degree);
	return 0;
}

/* The viewer's limits on the graph (§6, §15), and the edges left out. */
static void warn_index_edges(const ex_export *e, size_t n_edges)
{
	if (n_edges < e->edges.n_edges)
		log_warn("layout=index: %zu of %zu edges left out: their weight is not a finite "
			 "number above 0", e->edges.n_edges - n_edges, e->edges.n_edges);
	size_t per_edge = doc_index_bytes(e->n_cells, 1) == 2 ? 48 : 44;
	over_limit("the connectivity graph", (double)n_edges * per_edge + 4.0 * e->n_cells,
		   VIEWER_PAYLOAD_LIMIT);
}

static void describe_vectors(const ex_export *e, doc_dataset *d, doc_vector *out)
{
	for (size_t k = 0; k < e->n_vfields; k++) {
		const vfield *v = &e->vfields[k];
		out[k] = (doc_vector){.id = v->id, .safe_id = v->stem};
		memcpy(out[k].has_dim, v->has_dim, sizeof v->has_dim);
	}
	d->vectors = out;
	d->n_vectors = e->n_vfields;
	d->default_vector = e->default_vfield;
}

static ex_err take_text(char *text, void **data, size_t *len, char *err, size_t errlen)
{
	if (!text) {
		snprintf(err, errlen, "out of memory");
		return EX_ENOMEM;
	}
	*data = text;
	*len = strlen(text);
	return EX_OK;
}

/* What each JSON document needs computed before it can be written. */
static ex_err prepare_document(ex_export *e, ex_kind kind, char *err, size_t errlen)
{
	ex_err r = EX_OK;
	if ((kind == EX_IDENTITY || kind == EX_CONN_MANIFEST) && e->has_graph)
		r = need_edges(e, err, errlen);
	if (kind == EX_OBS_MANIFEST)
		for (size_t i = 0; i < e->n_fields && r == EX_OK; i++)
			if (e->fields[i].categorical)
				r = need_summary(e, &e->fields[i], err, errlen);
	if (kind == EX_VAR_MANIFEST && e->opt.var_bits)
		r = wait_genes(e, GENES_RANGES, err, errlen);
	return r;
}

static ex_err gen_document(ex_export *e, ex_kind kind, void **data, size_t *len, char *err,
			   size_t errlen)
{
	ex_err r = prepare_document(e, kind, err, errlen);
	if (r != EX_OK)
		return r;
	doc_dataset d;
	doc_field *fields = alloc_array(e->n_fields, sizeof *fields);
	doc_vector *vectors = alloc_array(e->n_vfields, sizeof *vectors);
	if (!fields || !vectors) {
		free(fields);
		free(vectors);
		return take_text(NULL, data, len, err, errlen);
	}
	describe(e, &d, fields);
	describe_vectors(e, &d, vectors);
	if (e->opt.index_layout && e->has_graph &&
	    (kind == EX_IDENTITY || kind == EX_CONN_MANIFEST)) {
		if (index_edge_stats(e, &d.n_edges, &d.max_neighbors)) {
			free(fields);
			free(vectors);
			return take_text(NULL, data, len, err, errlen);
		}
		if (kind == EX_CONN_MANIFEST)
			warn_index_edges(e, d.n_edges);
	}
	char *text = NULL;
	switch (kind) {
	case EX_IDENTITY: text = doc_identity(&d); break;
	case EX_OBS_MANIFEST: text = doc_obs_manifest(&d); break;
	case EX_CONN_MANIFEST: text = doc_connectivity_manifest(&d); break;
	case EX_HEALTH: text = doc_health(&d); break;
	case EX_INFO: text = doc_info(&d); break;
	case EX_DATASETS: text = doc_datasets(&d); break;
	case EX_VAR_MANIFEST: {
		/* the exposed genes, in payload order */
		const ex_node *files = dir_children(e, "var", &d.n_genes);
		char **names = alloc_array(d.n_genes, sizeof *names);
		quant_range *ranges = alloc_array(d.n_genes, sizeof *ranges);
		for (size_t i = 0; names && ranges && i < d.n_genes; i++) {
			uint32_t var = e->genes[files[i].arg];
			names[i] = e->var_names[var];
			ranges[i] = e->opt.var_bits ? e->gene_ranges[var] : (quant_range){0, 1};
		}
		if (names && ranges)
			text = doc_var_manifest(&d, names, ranges, d.n_genes);
		free(names);
		free(ranges);
		break;
	}
	default: break;
	}
	free(fields);
	free(vectors);
	if (text && e->opt.index_layout)
		over_limit("a metadata document", (double)strlen(text), VIEWER_JSON_LIMIT);
	return take_text(text, data, len, err, errlen);
}

/* float32 values as stored (bits 0) or quantised to u8/u16 codes. */
static ex_err encode_values(const float *v, size_t n, int bits, quant_range range,
			    void **out, size_t *len)
{
	size_t width = bits == 8 ? 1 : bits == 16 ? 2 : 4;
	void *buf = alloc_array(n, width);
	if (!buf)
		return EX_ENOMEM;
	if (bits == 8)
		quant_encode_u8(v, n, range, buf);
	else if (bits == 16)
		quant_encode_u16(v, n, range, buf);
	else
		memcpy(buf, v, n * width);
	*out = buf;
	*len = n * width;
	return EX_OK;
}

static ex_err encode_codes(const field *f, size_t n, void **out, size_t *len)
{
	size_t width = f->code_bits / 8;
	void *buf = alloc_array(n, width);
	if (!buf)
		return EX_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		int32_t c = f->cat.codes[i];
		int missing = c < 0 || (size_t)c >= f->cat.n_categories;
		if (width == 1)
			((uint8_t *)buf)[i] = missing ? 255 : (uint8_t)c;
		else
			((uint16_t *)buf)[i] = missing ? 65535 : (uint16_t)c;
	}
	*out = buf;
	*len = n * width;
	return EX_OK;
}

/* One edge file (kind EX_EDGES_SRC, _DST or _WEIGHTS); layout=index leaves
 * out the edges index_edge_stats does not count. */
static ex_err encode_edges(const ex_export *e, ex_kind kind, void **out, size_t *len)
{
	const edges *g = &e->edges;
	const uint32_t *ids = kind == EX_EDGES_SRC ? g->src : g->dst;
	size_t width = kind == EX_EDGES_WEIGHTS ? sizeof(double)
						 : doc_index_bytes(e->n_cells, e->opt.index_layout);
	void *buf = alloc_array(g->n_edges, width);
	if (!buf)
		return EX_ENOMEM;
	size_t m = 0;
	for (size_t k = 0; k < g->n_edges; k++) {
		if (e->opt.index_layout && !usable_weight(g->weight[k]))
			continue;
		if (kind == EX_EDGES_WEIGHTS)
			((double *)buf)[m++] = g->weight[k];
		else if (width == 4)
			((uint32_t *)buf)[m++] = ids[k];
		else
			((uint16_t *)buf)[m++] = (uint16_t)ids[k];
	}
	*out = buf;
	*len = m * width;
	return EX_OK;
}

/* The strict viewer cannot colour a float32 field holding ±Inf (§14);
 * layout=index writes those values as missing (NaN), as quantisation does. */
static void inf_to_nan(const ex_export *e, int bits, void *data, size_t len)
{
	if (e->opt.index_layout && !bits)
		for (float *v = data; len >= sizeof *v; v++, len -= sizeof *v)
			if (isinf(*v))
				*v = NAN;
}

static ex_err gen_gene(ex_export *e, uint32_t gene, void **data, size_t *len, char *err,
		       size_t errlen)
{
	ex_err r = wait_genes(e, GENES_READY, err, errlen);
	if (r != EX_OK)
		return r;
	size_t var = e->genes[gene];
	int bits = e->opt.var_bits;
	size_t width = bits ? (size_t)bits / 8 : sizeof(float);
	void *out = alloc_array(e->n_cells, width);
	if (!out)
		return EX_ENOMEM;
	int failed = bits ? gi_read_codes(e->gi, var, bits, e->gene_ranges[var], out, err, errlen)
			  : gi_read(e->gi, var, out, err, errlen);
	if (failed) {
		free(out);
		return EX_EIO;
	}
	*data = out;
	*len = e->n_cells * width;
	return EX_OK;
}

/* One displacement per cell, float32, scaled like the points
 * (export-format.md §3). The strict viewer also multiplies them by its own
 * normalisation scale (viewer-contract-strict.md §7), but computes that from
 * the points as served, already normalised: a scale of 1. Non-finite
 * vectors become 0: the viewer rejects them. */
static ex_err gen_vectors(ex_export *e, const vfield *v, int d, void **data, size_t *len,
			  char *err, size_t errlen)
{
	ex_err r = need_points(e, d, err, errlen);
	if (r != EX_OK)
		return r;
	size_t n = e->n_cells * (size_t)d;
	double *raw;
	float *out;
	if ((r = read_obsm(e, v->obsm[d], (size_t)d, d, &raw, &out, err, errlen)) != EX_OK)
		return r;
	double scale = e->scale[d];
	size_t bad = 0;
	for (size_t i = 0; i < n; i++) {
		float x = (float)(raw[i] * scale);
		bad += !isfinite(x);
		out[i] = isfinite(x) ? x : 0.0f;
	}
	free(raw);
	if (bad)
		log_warn("vector field %s: %zu non-finite values written as 0", v->id, bad);
	*data = out;
	*len = n * sizeof *out;
	return EX_OK;
}

/* The uncompressed bytes of a binary payload. */
static ex_err gen_payload(ex_export *e, const ex_node *n, void **data, size_t *len,
			  char *err, size_t errlen)
{
	ex_err r;
	field *f = n->kind >= EX_OBS_VALUES && n->kind <= EX_OBS_OUTLIERS ? &e->fields[n->arg]
									  : NULL;
	switch (n->kind) {
	case EX_VECTORS:
		return gen_vectors(e, &e->vfields[n->arg / 4], (int)(n->arg % 4), data, len, err,
				   errlen);
	case EX_POINTS:
		if ((r = need_points(e, (int)n->arg, err, errlen)))
			return r;
		return encode_values(e->points[n->arg], e->n_cells * n->arg, 0,
				     (quant_range){0, 1}, data, len);
	case EX_OBS_VALUES:
		r = encode_values(f->values, e->n_cells, e->opt.obs_bits, f->range, data, len);
		if (r == EX_OK)
			inf_to_nan(e, e->opt.obs_bits, *data, *len);
		return r;
	case EX_OBS_CODES:
		return encode_codes(f, e->n_cells, data, len);
	case EX_OBS_OUTLIERS:
		if ((r = need_summary(e, f, err, errlen)))
			return r;
		return encode_values(f->outliers, e->n_cells, e->opt.obs_bits, f->outlier_range,
				     data, len);
	case EX_GENE:
		r = gen_gene(e, n->arg, data, len, err, errlen);
		if (r == EX_OK)
			inf_to_nan(e, e->opt.var_bits, *data, *len);
		return r;
	case EX_EDGES_SRC:
	case EX_EDGES_DST:
	case EX_EDGES_WEIGHTS:
		if ((r = need_edges(e, err, errlen)))
			return r;
		return encode_edges(e, n->kind, data, len);
	default:
		snprintf(err, errlen, "not a payload");
		return EX_ENOENT;
	}
}

static int is_document(ex_kind kind)
{
	return kind >= EX_IDENTITY && kind <= EX_DATASETS;
}

ex_err ex_generate(ex_export *e, uint32_t i, void **data, size_t *len, char *err,
		   size_t errlen)
{
	char why[256] = "";
	if (i >= e->n_nodes || e->nodes[i].kind == EX_DIR) {
		snprintf(err, errlen, "no such file");
		return EX_ENOENT;
	}
	const ex_node *n = &e->nodes[i];
	void *raw = NULL;
	size_t raw_len = 0;
	atomic_fetch_add(&e->generating, 1);
	ex_err r = is_document(n->kind) ? gen_document(e, n->kind, &raw, &raw_len, why, sizeof why)
					: gen_payload(e, n, &raw, &raw_len, why, sizeof why);
	if (r == EX_OK && e->opt.compression && !is_document(n->kind)) {
		void *packed;
		size_t packed_len;
		if (gz_compress(e->opt.compression, raw, raw_len, &packed, &packed_len)) {
			r = EX_ENOMEM;
		} else {
			free(raw);
			raw = packed;
			raw_len = packed_len;
		}
	}
	atomic_store(&e->last_generated, now());
	atomic_fetch_sub(&e->generating, 1);
	if (r != EX_OK) {
		free(raw);
		char path[512];
		ex_node_path(e, i, path, sizeof path);
		snprintf(err, errlen, "cannot generate %s: %s", path,
			 r == EX_ENOMEM ? "out of memory" : why);
		return r;
	}
	*data = raw;
	*len = raw_len;
	return EX_OK;
}

/* ------------------------------------------------------ for check */

void ex_layout_of(const ex_export *e, ex_layout *out)
{
	memset(out, 0, sizeof *out);
	out->n_cells = e->n_cells;
	out->has_x = ad_x_kind(e->ad) != AD_X_NONE;
	out->n_var = ad_n_var(e->ad);
	for (int d = 1; d <= 3; d++) {
		if (!e->has_dim[d])
			continue;
		out->embedding[d] = ad_obsm_key(e->ad, e->emb_obsm[d]);
		out->embedding_cols[d] = ad_obsm_cols(e->ad, e->emb_obsm[d]);
	}
	if (e->has_latent) {
		out->latent = ad_obsm_key(e->ad, e->latent_obsm);
		out->latent_dim = e->latent_dim;
	}
	/* What the tree holds: layout=index may leave some out. */
	for (size_t i = 0; i < e->n_nodes; i++) {
		ex_kind k = e->nodes[i].kind;
		out->n_fields += k == EX_OBS_VALUES || k == EX_OBS_CODES;
		out->n_genes += k == EX_GENE;
	}
	out->has_graph = e->has_graph;
}

void ex_field_at(const ex_export *e, size_t i, ex_field_info *out)
{
	const field *f = &e->fields[i];
	*out = (ex_field_info){f->key, f->categorical, f->cat.n_categories};
}
