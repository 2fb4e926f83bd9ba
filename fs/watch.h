/*
 * watch.h - follow the source files of a mount (watch.c): notice that one
 * changed, came or went, wait until it has been quiet for a while, and ask
 * for the switch. FUSE-free: what a switch does is the caller's
 * (fs/ll_version.c, fs/ll_members.c).
 *
 *   wt_hooks h = {count, path_of, identity_of, switch_to, rescan, reap};
 *   wt_watch *w = wt_start(dir_or_NULL, settle_seconds, h, ctx);
 *   ...
 *   wt_stop(w);    // joins the thread
 */
#ifndef WATCH_H
#define WATCH_H

#include <stddef.h>

#include "export.h"

typedef struct {
	size_t (*count)(void *ctx);                     /* the files followed; it may grow */
	const char *(*path)(void *ctx, size_t k);       /* file k */
	ex_identity (*current)(void *ctx, size_t k);    /* file k's identity last dealt with */
	int (*changed)(void *ctx, size_t k);            /* deal with what is on disk: 0, or -1 */
	void (*rescan)(void *ctx);                      /* a directory source: new files? */
	void (*tick)(void *ctx);                        /* housekeeping, once per wake-up */
} wt_hooks;

typedef struct wt_watch wt_watch;

/* dir: a directory source, whose files may come and go (a file gone is a
 * change, identity 0), or NULL: one file, gone only while it is replaced.
 * NULL (with a warning) when the thread cannot start: nothing is followed. */
wt_watch *wt_start(const char *dir, int settle, wt_hooks hooks, void *ctx);
void wt_stop(wt_watch *w);

#endif
