/*
 * ll.h - the FUSE low-level operations over one export or a collection.
 *
 * Each dataset of the mount is a slot holding its current version and the
 * versions it replaced that are still in use (ll_version.c): a request
 * holds a reference to the version it resolved, an open file to the one it
 * opened, so no read ever mixes two versions.
 */
#ifndef LL_H
#define LL_H

#define FUSE_USE_VERSION FUSE_MAKE_VERSION(3, 12)
#include <fuse_lowlevel.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "cache.h"
#include "collection.h"
#include "export.h"
#include "prefetch.h"

typedef struct ll_fs ll_fs;
typedef struct ll_slot ll_slot;

/* One version of one dataset: its export, its cache and its background
 * warmer. */
typedef struct ll_volume {
	ll_fs *fs;
	ll_slot *slot;
	uint32_t gen;                  /* 0 for the version mounted, then 1, 2, ... */
	ex_export *e;
	fc_cache *cache;
	pf_pool *warm;                 /* NULL: nothing is generated ahead */
	atomic_uchar *listed;          /* [node]: listed to the kernel before its size was known */
	int refs;                      /* under the slot's lock: requests and open files */
	double retired;                /* CLOCK_MONOTONIC seconds it was replaced at, or 0 */
	struct ll_volume *older;       /* the slot's list of replaced versions */
} ll_volume;

/* One dataset of the mount and its versions. A member of a directory
 * source has a slot from the moment its name is seen until unmount; while
 * the file is absent or not usable, it has no current version. */
struct ll_slot {
	pthread_mutex_t lock;          /* cur, the retired list and every refs */
	ll_volume *cur;                /* NULL: none (a member absent or unusable) */
	ll_volume *retired;            /* newest first */
	uint32_t vol;                  /* its number in inode numbers (ll_inode.c) */
	uint32_t versions;             /* made so far: the next one's generation */
	char *path;                    /* the source file */
	const char *name;              /* its name in the directory (in path) */
	ex_identity seen;              /* the file's identity last dealt with (watcher only) */
	unsigned switches;
};

/* One listing of a directory source's root (collection.h's catalog), kept
 * like a version: while held, and for a grace time once replaced. */
typedef struct ll_catalog {
	co_catalog *co;
	uint32_t gen;                  /* 0 for the one mounted, then 1, 2, ... */
	atomic_int refs;               /* taken under the fs's cat_lock */
	double retired;
	struct ll_catalog *older;
} ll_catalog;

/* Volume numbers are 16 bits (ll_inode.c); 0 is the catalog's. */
#define LL_MAX_SLOTS 65535

struct ll_fs {
	int collection;                /* a directory source; else a single .h5ad at the root */
	char *dir;                     /* a collection's directory (real path) */
	pthread_mutex_t cat_lock;      /* cat, cat_retired and every catalog's refs */
	ll_catalog *cat, *cat_retired;
	ll_slot **slots;               /* [n_vols]; a collection's array holds LL_MAX_SLOTS */
	atomic_size_t n_vols;          /* grows (a slot is complete before it is counted) */
	const ex_options *opt;         /* what every version is opened with */
	double started;                /* CLOCK_MONOTONIC seconds at mount */
	int zero_open;                 /* the kernel opens and closes files without asking */
	struct fuse_session *se;
	atomic_uint_fast64_t bytes_served, errors;
};

extern const struct fuse_lowlevel_ops ll_ops;

/* CLOCK_MONOTONIC seconds: when versions and catalogs were replaced. */
static inline double ll_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A pf_ready_fn for volume v (an ll_volume *): hand a file the prefetch pool
 * has just generated to the kernel's page cache if the kernel may soon read
 * it. */
void ll_file_ready(void *v, uint32_t node);

#endif
