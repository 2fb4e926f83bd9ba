/*
 * prefetch.h - warm the cache in the background after mounting.
 *
 * One low-priority thread generates, in tree order, every file of the chosen
 * prefetch level that is not cached yet. Foreground requests are never
 * queued behind it: a file the thread is generating is simply shared with
 * the reader who asks for it (single flight), and the HDF5 lock is held only
 * around reads.
 */
#ifndef PREFETCH_H
#define PREFETCH_H

#include "cache.h"
#include "export.h"

typedef struct pf_worker pf_worker;

/* NULL when level is EX_PREFETCH_NONE or the thread cannot start. */
pf_worker *pf_start(ex_export *e, fc_cache *c, ex_prefetch level);
/* Ask the thread to stop after its current file and wait for it. */
void pf_stop(pf_worker *w);

#endif
