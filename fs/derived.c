/*
 * derived.c - what several files need, computed once, on first use: the
 * normalised points of each dimension, the latent space, the per-field
 * summaries (centroids and outlier quantiles), the kNN edges, and the
 * gene-major index (built by a thread of its own, fs/genes_scan.c).
 *
 * once_run() makes each computation happen once even when many threads ask
 * at the same moment: the first runs it, the others sleep on the export's
 * condvar. The data comes from the source (source.c), which holds its lock
 * only for the read; the arithmetic (codec/embed, centroid, edges) runs
 * outside it. Decides no names and formats no file: plan.c and generate.c
 * do.
 */
#include "engine.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "embed.h"
#include "log.h"

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

/* obsm entry i (n_cells rows of cols) as doubles, and room for n_cells rows
 * of d floats to derive from it. */
ex_err derived_read_obsm(ex_export *e, size_t i, size_t cols, int d, double **raw,
			 float **out, char *msg, size_t len)
{
	*raw = alloc_array(e->n_cells, cols * sizeof **raw);
	*out = alloc_array(e->n_cells, (size_t)d * sizeof **out);
	ex_err r = EX_ENOMEM;
	if (*raw && *out)
		r = src_read_obsm(e->src, i, *raw, msg, len);
	else
		snprintf(msg, len, "out of memory");
	if (r == EX_OK)
		return EX_OK;
	free(*raw);
	free(*out);
	return r;
}

static ex_err load_points(ex_export *e, void *arg, char *msg, size_t len)
{
	int d = (int)(intptr_t)arg;
	size_t cols = e->emb_cols[d], n = e->n_cells;
	double *raw;
	float *out;
	ex_err r = derived_read_obsm(e, e->emb_obsm[d], cols, d, &raw, &out, msg, len);
	if (r != EX_OK)
		return r;
	if (cols != (size_t)d) /* embedding=KEY: keep the first d columns */
		for (size_t i = 0; i < n; i++)
			memmove(raw + i * d, raw + i * cols, d * sizeof *raw);
	double *out64 = NULL;
	if (engine_embed_rule(e) == EMBED_FLOAT64 &&
	    !(out64 = alloc_array(n, (size_t)d * sizeof *out64))) {
		free(raw);
		free(out);
		snprintf(msg, len, "out of memory");
		return EX_ENOMEM;
	}
	embed_info info = embed_normalize(raw, n, d, engine_embed_rule(e), out, out64);
	e->scale[d] = info.scale;
	free(raw);
	if (info.n_nonfinite)
		log_warn("%zu cells have non-finite %dd coordinates; they are placed at 0",
			 info.n_nonfinite, d);
	e->points[d] = out;
	e->points64[d] = out64;
	return EX_OK;
}

ex_err derived_points(ex_export *e, int d, char *err, size_t len)
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
	if (src_read_obsm_f32(e->src, e->latent_obsm, out, msg, len) != EX_OK) {
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
	f->outlier_range = quant_find_range(f->outliers, e->n_cells, engine_quant_rule(e));
	for (int d = 1; d <= 3; d++) {
		if (!e->has_dim[d])
			continue;
		if ((r = derived_points(e, d, msg, len)))
			return r;
		f->centroids[d] = alloc_array(f->cat.n_categories, sizeof(centroid));
		if (!f->centroids[d] ||
		    (e->points64[d] ? centroid_compute_f64(e->points64[d], e->n_cells, d,
							  f->cat.codes, f->cat.n_categories,
							  f->centroids[d])
				    : centroid_compute(e->points[d], e->n_cells, d, f->cat.codes,
						       f->cat.n_categories, f->centroids[d]))) {
			snprintf(msg, len, "out of memory");
			return EX_ENOMEM;
		}
	}
	return EX_OK;
}

ex_err derived_summary(ex_export *e, field *f, char *err, size_t len)
{
	return once_run(e, &f->summary, load_summary, f, err, len);
}

static ex_err load_edges(ex_export *e, void *arg, char *msg, size_t len)
{
	(void)arg;
	ad_graph g = {0};
	ex_err r = src_read_graph(e->src, &g, msg, len);
	if (r != EX_OK)
		return r;
	int fail = edges_build(g.n, g.indptr, g.indices, g.data, engine_edges_rule(e), &e->edges);
	ad_graph_free(&g);
	if (fail) {
		snprintf(msg, len, "obsp/connectivities: invalid graph (or out of memory)");
		return EX_EIO;
	}
	return EX_OK;
}

ex_err derived_edges(ex_export *e, char *err, size_t len)
{
	return once_run(e, &e->edges_once, load_edges, NULL, err, len);
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
	double spent = engine_now() - e->index_started;
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

/* A gene with no finite value in any cell is left out of var_manifest.json
 * (and of the identity's count), in both layouts: the viewer refuses to
 * colour a payload with no value (viewer-contract-strict.md §14), the folder
 * picker checks small exports' genes whole, and the newest exporter refuses
 * any non-finite value. The var directory was made before X was read, so its
 * nodes stay, and those of the genes without a value are not served
 * (ex_node_served): layout=index puts the genes with a value in its first
 * files, in var order; in the names layout each file keeps its gene. */
static void order_genes(ex_export *e, const gi_index *g)
{
	size_t n, listed = 0;
	const ex_node *files = tree_children(e, "var", &n);
	for (size_t k = 0; k < n; k++) {
		uint32_t a = (uint32_t)files[k].arg;
		e->gene_listed[a] = gi_non_finite(g, e->genes[a]) < e->n_cells;
		listed += e->gene_listed[a];
	}
	for (size_t k = 0, with = 0, without = listed; k < n; k++) {
		uint32_t a = (uint32_t)files[k].arg;
		size_t slot = !e->opt.index_layout ? k : e->gene_listed[a] ? with++ : without++;
		e->gene_served[files[slot].arg] = a;
	}
	e->n_genes_listed = listed;
	strict_warn_genes(e, g);
}

/* The ranges are copied out: a failed scan retried elsewhere replaces the
 * index, and var_manifest.json may be in the making meanwhile. */
static void ranges_ready(void *ctx, const gi_index *g)
{
	ex_export *e = ctx;
	for (size_t j = 0; j < e->n_var; j++)
		e->gene_ranges[j] = gi_range(g, j, engine_quant_rule(e));
	order_genes(e, g);
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
		r = e->gi ? gi_scan(e->gi, e->src, dir, index_progress, ranges_ready, e, msg, len)
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
	       engine_now() - atomic_load(&e->last_generated) < MERGE_QUIET_SECONDS;
}

static void *build_genes(void *arg)
{
	ex_export *e = arg;
	const char *dir = e->store ? st_dir(e->store) : NULL;
	char msg[256] = "";
	e->index_started = engine_now();
	atomic_store(&e->index_permille, 0);
	replace_gi(e, gi_new(e->n_cells, e->n_var));
	if (e->gi && !gi_load(e->gi, dir)) {
		ranges_ready(e, e->gi);
		genes_state(e, GENES_READY, "");
		return NULL;
	}
	if (src_x_format(e->src) == AD_X_CSC && e->gi) {
		int r = gi_direct(e->gi, e->src, index_progress, ranges_ready, e, msg, sizeof msg);
		atomic_store(&e->index_permille, r ? -2 : 1000);
		genes_state(e, r ? GENES_FAILED : GENES_READY, msg);
		return NULL;
	}
	if (scan_genes(e, dir, msg, sizeof msg)) {
		atomic_store(&e->index_permille, -2);
		genes_state(e, GENES_FAILED, msg);
		return NULL;
	}
	double scanned = engine_now();
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
			 engine_now() - scanned);
	return NULL;
}

/* Until X has been read, and when it cannot be, every gene's file is served.
 * wait 0: do not wait for X (nor start reading it). */
static int genes_known(ex_export *e, int wait)
{
	char err[256];
	if (wait)
		return derived_genes(e, GENES_RANGES, err, sizeof err) == EX_OK;
	pthread_mutex_lock(&e->memo);
	int known = e->genes_state >= GENES_RANGES && e->genes_state != GENES_FAILED;
	pthread_mutex_unlock(&e->memo);
	return known;
}

/* A lookup need not wait: it comes after a listing (which waits) or after
 * var_manifest.json (which waits too), and a FUSE thread held for each
 * would make libfuse start more of them. */
int ex_node_served(ex_export *e, uint32_t i, int wait)
{
	const ex_node *n = &e->nodes[i];
	return n->kind != EX_GENE || !genes_known(e, wait) || e->gene_listed[e->gene_served[n->arg]];
}

/* The var directory holds only genes' files: in layout=index the served
 * ones come first (order_genes), in the names layout they are where they
 * were, the others skipped. */
int64_t ex_served_child(ex_export *e, uint32_t dir, size_t k)
{
	const ex_node *d = &e->nodes[dir];
	uint32_t first = d->first_child;
	if (k >= d->n_children)
		return -1;
	if (e->nodes[first].kind != EX_GENE || !genes_known(e, 1) || e->n_genes_listed == d->n_children)
		return first + (int64_t)k;
	if (e->opt.index_layout)
		return k < e->n_genes_listed ? first + (int64_t)k : -1;
	for (uint32_t c = first; c < first + d->n_children; c++)
		if (e->gene_listed[e->gene_served[e->nodes[c].arg]] && !k--)
			return c;
	return -1;
}

/* Wait until the gene index reaches state (GENES_RANGES or GENES_READY),
 * starting its thread if nobody did. */
ex_err derived_genes(ex_export *e, int state, char *err, size_t len)
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

/* Stop the gene index's thread (a merge in progress is cancelled), then free
 * what was derived. */
void derived_free(ex_export *e)
{
	if (e->genes_thread_started) {
		pthread_mutex_lock(&e->memo);
		if (e->gi)
			gi_cancel(e->gi);
		pthread_mutex_unlock(&e->memo);
		pthread_join(e->genes_thread, NULL);
	}
	for (int d = 1; d <= 3; d++) {
		free(e->points[d]);
		free(e->points64[d]);
	}
	free(e->latent);
	gi_free(e->gi);
	edges_free(&e->edges);
}
