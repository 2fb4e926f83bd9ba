/*
 * cachekey.c - which persistent store (fs/store.c) an export uses: the
 * cache directory (cache_dir=, else $XDG_CACHE_HOME or ~/.cache) and the key
 * that says which store under it is this export's. The key names everything
 * that changes a byte of the tree, so a store made for another source, other
 * options or another version is never used. What the store holds and how
 * is store.c's and cache.c's; this file only chooses it.
 *
 *   cellucidfs cache, format 0.1.0
 *   source dev=2049 ino=1311 size=1981214 mtime=1733300000.000000000
 *   ...
 *   tree=5c1f0e4d9a2b7c33
 */
#include "engine.h"

#include <stdio.h>
#include <string.h>

#include "log.h"

/* Everything that changes a byte of the tree: a store made under another key
 * is never used. The arithmetic of the codes and weights is named too: it
 * changes bytes without changing the tree. */
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
	src_identity id = src_id(e->src);
	char *key, tree[32] = "";
	/* A directory store's files (a file's key stays as it was). */
	if (id.tree)
		snprintf(tree, sizeof tree, " tree=%016jx", (uintmax_t)id.tree);
	int n = asprintf(&key,
		"cellucidfs cache, format %s\n"
		"source dev=%ju ino=%ju size=%jd mtime=%jd.%09ld%s\n"
		"compression=%d var_bits=%d obs_bits=%d\n"
		"latent=%s\nembedding=%s\ndataset_id=%s\ndataset_name=%s\nhost=%s port=%d\n"
		"expression=%s\ngene_id_column=%s\nobs_keys=%s\n"
		"quantisation=%s edges=%s categories=%s genes_without_value=unlisted\n"
		"tree=%016jx\n",
		CELLUCIDFS_VERSION, (uintmax_t)id.dev, (uintmax_t)id.ino, (intmax_t)id.size,
		(intmax_t)id.mtime.tv_sec, id.mtime.tv_nsec, tree, o->compression, o->var_bits, o->obs_bits,
		o->latent ? o->latent : "", o->embedding ? o->embedding : "", e->id, e->name,
		o->host, o->port, o->expression ? o->expression : "X",
		o->gene_id_column ? o->gene_id_column : "", o->obs_keys ? o->obs_keys : "",
		engine_quant_rule(e) == QUANT_FLOOR64 ? "floor64" : "trunc32",
		engine_edges_rule(e) == EDGES_MAX ? "max" : "sum", o->index_layout ? "json" : "text",
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
ex_err cachekey_open_store(ex_export *e)
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
