/*
 * ll_status.h - the hidden ".cellucidfs/status.json" (ll_status.c).
 */
#ifndef LL_STATUS_H
#define LL_STATUS_H

#include "ll.h"

/* Its size, whatever the counters say: the document is padded to it. */
#define LL_STATUS_SIZE 4096

/* A copy of the current document (malloc'd), or NULL when memory ran out. */
char *ll_status_snapshot(ll_fs *fs);

#endif
