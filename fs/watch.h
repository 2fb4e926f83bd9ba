/*
 * watch.h - follow the source files of a mount (watch.c): notice that one
 * changed, wait until it has been quiet for a while, and ask for the switch.
 * FUSE-free: what a switch does is the caller's (fs/ll_version.c).
 *
 *   wt_hooks h = {path_of, identity_of, switch_to, reap};
 *   wt_watch *w = wt_start(n_files, settle_seconds, h, ctx);
 *   ...
 *   wt_stop(w);    // joins the thread
 */
#ifndef WATCH_H
#define WATCH_H

#include <stddef.h>

#include "export.h"

typedef struct {
	const char *(*path)(void *ctx, size_t k);       /* file k */
	ex_identity (*current)(void *ctx, size_t k);    /* the version of file k served */
	int (*changed)(void *ctx, size_t k);            /* switch to what is on disk: 0, or -1 */
	void (*tick)(void *ctx);                        /* housekeeping, once per wake-up */
} wt_hooks;

typedef struct wt_watch wt_watch;

/* NULL (with a warning) when the thread cannot start: nothing is followed. */
wt_watch *wt_start(size_t n, int settle, wt_hooks hooks, void *ctx);
void wt_stop(wt_watch *w);

#endif
