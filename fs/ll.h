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

/* One dataset: its export, its cache and its background warmer. */
typedef struct {
	ex_export *e;
	fc_cache *cache;
	pf_pool *warm;                 /* NULL: nothing is generated ahead */
} ll_volume;

typedef struct {
	co_collection *co;             /* NULL: a single .h5ad, served at the root */
	ll_volume *vols;
	size_t n_vols;
	double started;                /* CLOCK_MONOTONIC seconds at mount */
	int zero_open;                 /* the kernel opens and closes files without asking */
	atomic_uint_fast64_t bytes_served, errors;
} ll_fs;

extern const struct fuse_lowlevel_ops ll_ops;

#endif
