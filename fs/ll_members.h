/*
 * ll_members.h - the members of a directory source while mounted
 * (ll_members.c): which of its files are served, as which slot, and the
 * catalog (the root's listing, datasets.json, _cellucid/datasets) over them.
 */
#ifndef LL_MEMBERS_H
#define LL_MEMBERS_H

#include "ll.h"

/* Open every dataset of dir (a slot each, the unusable ones without a
 * version) and the first catalog; -1 with err set when dir cannot be read
 * or holds no usable dataset. ll_members_close frees every catalog. */
int ll_members_open(ll_fs *fs, const char *dir, char *err, size_t errlen);
void ll_members_close(ll_fs *fs);

/* The catalog whose generation's low 16 bits are gen (the current one, or
 * a replaced one still kept), or the current one, with a reference; NULL
 * if none. */
ll_catalog *ll_catalog_get(ll_fs *fs, uint32_t gen);
ll_catalog *ll_catalog_current(ll_fs *fs);
void ll_catalog_hold(ll_catalog *c);
void ll_catalog_put(ll_catalog *c);

/* The watcher's side. ll_members_rescan (a wt_hooks rescan) gives each new
 * name in the directory a slot without a version; ll_member_switch brings
 * member s to what is on disk: a new version, none (the file is gone), or
 * the current one kept (-1: not usable, or its id is taken); the catalog
 * follows. ll_members_reap frees the catalogs replaced at least grace
 * seconds before t that nobody holds. */
void ll_members_rescan(void *fs);
int ll_member_switch(ll_fs *fs, ll_slot *s);
void ll_members_reap(ll_fs *fs, double t, double grace);

#endif
