/*
 * ll_status.c - the hidden ".cellucidfs/status.json" (never listed, so cp -r
 * and crawlers do not see it): the daemon's counters, summed over the
 * datasets, made afresh at most every 0.2 s and padded to a fixed size.
 * codec/docs.c writes the JSON; ll.c serves it. It only reads counters:
 * nothing here generates a file or changes a cache.
 *
 *   $ cat /mnt/cell/.cellucidfs/status.json
 *   {"version": "0.1.0", "dataset_id": "pbmc", ..., "uptime_seconds": 12.5,
 *    "files": 786, "files_generated": 31, ..., "gene_index": {"state": "ready", ...}}
 */
#include "ll_status.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "docs.h"
#include "ll_version.h"

/* "2049-1311-1981214-1733300000.000000000": which version of the file is
 * served, without saying where it is. */
static void identity_text(ex_identity id, char *buf, size_t len)
{
	snprintf(buf, len, "%ju-%ju-%jd-%jd.%09ld", (uintmax_t)id.dev, (uintmax_t)id.ino,
		 (intmax_t)id.size, (intmax_t)id.mtime.tv_sec, id.mtime.tv_nsec);
}

static char *status_text(ll_fs *fs)
{
	char identity[128] = "";
	doc_status_info info = {
		.version = CELLUCIDFS_VERSION,
		.uptime = ll_now() - fs->started, .errors = atomic_load(&fs->errors),
		.bytes_served = atomic_load(&fs->bytes_served), .index_permille = 1000,
		.source_identity = identity,
	};
	/* Counters add up over the datasets' current versions (and so do the
	 * switches); the gene index shows the least advanced one, the cache key
	 * the first dataset's (the name of its store, CACHE_DIR/<key>/, never
	 * the path) and the source identity a single file's. */
	ll_volume *single = NULL;
	char cache_key[256] = "";
	size_t n = atomic_load(&fs->n_vols);
	for (size_t k = 0; k < n; k++) {
		fc_stats st;
		ll_slot *s = fs->slots[k];
		pthread_mutex_lock(&s->lock);
		info.switches += s->switches;
		pthread_mutex_unlock(&s->lock);
		ll_volume *v = ll_version_current(s);
		if (!v)
			continue;
		ex_export *e = v->e;
		fc_get_stats(v->cache, &st);
		info.files += ex_node_count(e);
		info.generated += st.generated;
		info.hits += st.hits;
		info.misses += st.misses;
		info.stored_bytes += st.stored_bytes;
		info.memory_bytes += st.memory_bytes;
		if (ex_index_permille(e) < info.index_permille)
			info.index_permille = ex_index_permille(e);
		if (!cache_key[0] && ex_store(e)) {
			const char *dir = st_dir(ex_store(e)), *slash = strrchr(dir, '/');
			snprintf(cache_key, sizeof cache_key, "%s", slash ? slash + 1 : dir);
			info.cache_key = cache_key;
		}
		if (!fs->collection) { /* held until the document is made */
			single = v;
			info.dataset_id = ex_id(e);
			identity_text(ex_source_id(e), identity, sizeof identity);
		} else {
			ll_version_put(v);
		}
	}
	if (fs->collection)
		info.dataset_id = "";
	/* A fixed size, padded with the whitespace JSON allows: the kernel
	 * reads up to the size it last saw, and the counters change between
	 * a stat and a read. */
	char *text = doc_status(&info), *padded = text ? malloc(LL_STATUS_SIZE + 1) : NULL;
	if (padded) {
		snprintf(padded, LL_STATUS_SIZE + 1, "%-*s", LL_STATUS_SIZE - 1, text);
		padded[LL_STATUS_SIZE - 1] = '\n'; /* over snprintf's terminator: */
		padded[LL_STATUS_SIZE] = '\0';
	}
	free(text);
	ll_version_put(single);
	return padded;
}

/* One document serves every read for a moment: a reader whose read the
 * kernel splits into several requests must not get pieces of different
 * documents. */
char *ll_status_snapshot(ll_fs *fs)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	static char *text;
	static double made;
	pthread_mutex_lock(&lock);
	if (!text || ll_now() - made > 0.2) {
		char *fresh = status_text(fs);
		if (fresh) {
			free(text);
			text = fresh;
			made = ll_now();
		}
	}
	char *copy = text ? strdup(text) : NULL;
	pthread_mutex_unlock(&lock);
	return copy;
}
