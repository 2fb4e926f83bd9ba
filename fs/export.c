/*
 * export.c - one dataset's export: ex_open runs the engine's parts in order
 * (source.c opens the dataset, plan.c decides what is exposed, tree.c builds
 * the nodes, cachekey.c opens the store) and ex_close undoes them. Everything a
 * file needs beyond that is derived on first use (derived.c) and made by
 * generate.c. The rest of the program sees only export.h. Decides nothing
 * itself: what is exposed is plan.c's, what a file holds generate.c's.
 */
#include "engine.h"

#include <stdio.h>
#include <string.h>

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
	pthread_mutex_init(&e->memo, NULL);
	pthread_cond_init(&e->memo_done, NULL);
	ex_err r = copy_options(&e->opt, opt) ? EX_ENOMEM : src_open(path, &e->src, err, errlen);
	if (r == EX_OK)
		r = plan_read(e, path, err, errlen);
	if (r == EX_OK && tree_build(e))
		r = EX_ENOMEM;
	if (r == EX_OK)
		r = cachekey_open_store(e);
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
	derived_free(e);
	plan_free(e);
	tree_free(e);
	src_close(e->src);
	if (e->discard_store)
		st_remove(e->store);
	else
		st_close(e->store);
	ex_options_free(&e->opt);
	pthread_mutex_destroy(&e->memo);
	pthread_cond_destroy(&e->memo_done);
	free(e);
}

int ex_index_permille(const ex_export *e) { return atomic_load(&e->index_permille); }
const char *ex_id(const ex_export *e) { return e->id; }
const char *ex_name(const ex_export *e) { return e->name; }
time_t ex_mtime(const ex_export *e) { return e->mtime; }
ex_identity ex_source_id(const ex_export *e) { return src_id(e->src); }
int ex_identity_same(ex_identity a, ex_identity b) { return src_same(a, b); }
int ex_identity_at(const char *path, struct stat *st, ex_identity *id) { return src_identity_at(path, st, id); }
void ex_detach_source(ex_export *e) { src_detach(e->src); }
void ex_discard_store(ex_export *e) { e->discard_store = 1; }
