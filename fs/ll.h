/*
 * ll.h - the FUSE low-level operations over one export or a collection.
 */
#ifndef LL_H
#define LL_H

#define FUSE_USE_VERSION FUSE_MAKE_VERSION(3, 12)
#include <fuse_lowlevel.h>

#include <stdatomic.h>
#include <stdint.h>

#include "cache.h"
#include "collection.h"
#include "export.h"
#include "prefetch.h"

typedef struct ll_fs ll_fs;

/* One dataset: its export, its cache and its background warmer. */
typedef struct {
	ll_fs *fs;
	ex_export *e;
	fc_cache *cache;
	pf_pool *warm;                 /* NULL: nothing is generated ahead */
	atomic_uchar *listed;          /* [node]: listed to the kernel before its size was known */
} ll_volume;

struct ll_fs {
	co_collection *co;             /* NULL: a single .h5ad, served at the root */
	ll_volume *vols;
	size_t n_vols;
	double started;                /* CLOCK_MONOTONIC seconds at mount */
	int zero_open;                 /* the kernel opens and closes files without asking */
	struct fuse_session *se;
	atomic_uint_fast64_t bytes_served, errors;
};

extern const struct fuse_lowlevel_ops ll_ops;

/* A pf_ready_fn for volume v (an ll_volume *): hand a file the prefetch pool
 * has just generated to the kernel's page cache if the kernel may soon read
 * it. */
void ll_file_ready(void *v, uint32_t node);

#endif
