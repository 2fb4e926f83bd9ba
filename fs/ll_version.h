/*
 * ll_version.h - the versions of each dataset of a mount (ll_version.c):
 * opening them, taking and dropping references, switching to a new one when
 * the source changed, and freeing the old ones once nothing uses them.
 */
#ifndef LL_VERSION_H
#define LL_VERSION_H

#include <sys/stat.h>

#include "ll.h"

/* Open the datasets of source (one .h5ad, or every dataset of a directory:
 * ll_members.c) with fs->opt, as version 0 of one slot each. On failure err
 * holds the reason. ll_slots_close frees every version, current or retired. */
int ll_slots_open(ll_fs *fs, const char *source, char *err, size_t errlen);
void ll_slots_close(ll_fs *fs);

/* Start the prefetch pools of the current versions (after daemonising),
 * and stop them (with the watcher stopped, before the session ends: their
 * threads hand pages to the kernel through it). */
void ll_slots_warm(ll_fs *fs);
void ll_slots_cool(ll_fs *fs);

/* A new slot for path, with no version yet, whose file was last seen as
 * seen; counted in fs->n_vols. NULL when out of memory or of slots. */
ll_slot *ll_slot_add(ll_fs *fs, const char *path, ex_identity seen);

/* The version of slot s whose generation's low 16 bits are gen (the current
 * one, or a replaced one still kept), with a reference; NULL if none. */
ll_volume *ll_version_get(ll_slot *s, uint32_t gen);
/* The current version, with a reference; NULL when there is none. */
ll_volume *ll_version_current(ll_slot *s);
void ll_version_hold(ll_volume *v);
void ll_version_put(ll_volume *v);

/* The watcher's side (none is called from a FUSE request): e (taken over:
 * closed on failure) becomes slot s's current version, or s has none any
 * more; the version before is retired and the kernel told to forget its
 * nodes. 0, or -1 when out of memory. */
int ll_version_install(ll_fs *fs, ll_slot *s, ex_export *e);
void ll_version_remove(ll_fs *fs, ll_slot *s);
/* Stat s's file into st and take its identity as dealt with; the versions
 * reading that inode (rewritten in place, or brought back) are detached
 * from their source. -1 when the file is gone. */
int ll_note_disk(ll_slot *s, struct stat *st);
/* "data.h5ad changed: now 52 000 cells, 2 000 genes" (what: "changed"). */
void ll_log_version(const ll_slot *s, const char *what);

/* What fs/watch.c calls: the number of files followed, file k's path, the
 * identity last dealt with, and the switch to the version now on disk (0,
 * or -1 when it does not open as a usable dataset: the current version
 * stays). ll_reap frees the replaced versions nobody holds any more. */
size_t ll_slot_count(void *fs);
const char *ll_slot_path(void *fs, size_t k);
ex_identity ll_slot_identity(void *fs, size_t k);
int ll_switch(void *fs, size_t k);
void ll_reap(void *fs);

#endif
