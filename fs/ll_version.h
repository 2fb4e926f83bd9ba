/*
 * ll_version.h - the versions of each dataset of a mount (ll_version.c):
 * opening them, taking and dropping references, switching to a new one when
 * the source changed, and freeing the old ones once nothing uses them.
 */
#ifndef LL_VERSION_H
#define LL_VERSION_H

#include "ll.h"

/* Open the datasets of source (one .h5ad, or every .h5ad of a directory)
 * with fs->opt, as version 0 of one slot each. On failure err holds the
 * reason. ll_slots_close frees every version, current or retired. */
int ll_slots_open(ll_fs *fs, const char *source, char *err, size_t errlen);
void ll_slots_close(ll_fs *fs);

/* Start the prefetch pools of the current versions (after daemonising), and
 * stop them once the session loop has ended: before fuse_session_destroy,
 * which frees only its caller's splice pipe of the threads that stored
 * pages (fuse_lowlevel_notify_store), never a thread's still running. */
void ll_slots_warm(ll_fs *fs);
void ll_slots_cool(ll_fs *fs);

/* The version of slot s whose generation's low 16 bits are gen (the current
 * one, or a replaced one still kept), with a reference; NULL if none. */
ll_volume *ll_version_get(ll_slot *s, uint32_t gen);
/* The current version, with a reference. */
ll_volume *ll_version_current(ll_slot *s);
void ll_version_hold(ll_volume *v);
void ll_version_put(ll_volume *v);

/* What fs/watch.c calls: slot k's source file, its current identity, and
 * the switch to the version now on disk (0, or -1 when it does not open as
 * a usable dataset: the current version stays). ll_reap frees the replaced
 * versions nobody holds any more. None is called from a FUSE request. */
const char *ll_slot_path(void *fs, size_t k);
ex_identity ll_slot_identity(void *fs, size_t k);
int ll_switch(void *fs, size_t k);
void ll_reap(void *fs);

#endif
