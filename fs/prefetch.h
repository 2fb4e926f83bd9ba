/*
 * prefetch.h - generate files before they are asked for.
 *
 * A small pool of low-priority threads (one per core) does two kinds of
 * work, readahead first:
 *   - readahead: when files are looked up one after the other in tree order
 *     (cp -r, rsync, a crawler), the next ones are generated in parallel,
 *     the window doubling while the pattern holds, as the kernel does for
 *     file pages; a random lookup (the viewer picking a gene) warms nothing;
 *   - the prefetch level: every file of that level (see ex_prefetch) that is
 *     not cached yet, in tree order, right after mounting.
 * Foreground requests are never queued behind the pool: a file it is
 * generating is shared with the reader who asks for it (single flight).
 */
#ifndef PREFETCH_H
#define PREFETCH_H

#include "cache.h"
#include "export.h"

typedef struct pf_pool pf_pool;

/* Called by a pool thread after it generated file node i, with no lock held. */
typedef void pf_ready_fn(void *ctx, uint32_t i);

/* NULL when the threads cannot start (then nothing is warmed). ready may be
 * NULL. */
pf_pool *pf_start(ex_export *e, fc_cache *c, ex_prefetch level, pf_ready_fn *ready,
		  void *ready_ctx);
/* Stop after the files in progress and wait for the threads. */
void pf_stop(pf_pool *p);

/* File node i is being looked up; missed: it is not cached yet. */
void pf_looked_up(pf_pool *p, uint32_t i, int missed);

#endif
