/*
 * ll.h - the FUSE low-level operations over an export and its cache.
 */
#ifndef LL_H
#define LL_H

#define FUSE_USE_VERSION FUSE_MAKE_VERSION(3, 12)
#include <fuse_lowlevel.h>

#include "cache.h"
#include "export.h"
#include "prefetch.h"

#include <stdatomic.h>
#include <stdint.h>

typedef struct {
	ex_export *e;
	fc_cache *cache;
	pf_pool *warm;                 /* NULL: nothing is generated ahead */
	double started;                /* CLOCK_MONOTONIC seconds at mount */
	atomic_uint_fast64_t bytes_served, errors;
} ll_fs;

extern const struct fuse_lowlevel_ops ll_ops;

#endif
