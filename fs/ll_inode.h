/*
 * ll_inode.h - what an inode number stands for, and the numbers of a node's
 * relatives (ll_inode.c). Used by the operations (ll.c) only.
 */
#ifndef LL_INODE_H
#define LL_INODE_H

#include "ll.h"

/* What an inode stands for. */
typedef struct {
	enum { IT_NONE, IT_EXPORT, IT_COLLECTION, IT_STATUS_DIR, IT_STATUS_FILE } type;
	ll_volume *vol;     /* IT_EXPORT: the version, held */
	ll_catalog *cat;    /* IT_COLLECTION: the catalog, held */
	uint32_t node;      /* IT_EXPORT, IT_COLLECTION */
} ll_item;

fuse_ino_t ll_export_ino(const ll_fs *fs, const ll_volume *v, uint32_t node);
fuse_ino_t ll_catalog_ino(const ll_catalog *c, uint32_t node);
/* What ino stands for; an IT_EXPORT item holds a reference to its version
 * until ll_done, an IT_COLLECTION item one to its catalog. */
ll_item ll_resolve(ll_fs *fs, fuse_ino_t ino);
void ll_done(ll_item it);
int ll_is_dir(ll_item it);
/* The inode called name in directory dir (which is d), or 0. */
fuse_ino_t ll_child_ino(ll_fs *fs, fuse_ino_t dir, ll_item d, const char *name);
/* The k-th entry of directory d after "." and ".." (k from 0): its name,
 * inode and whether it is a directory. 0 when there is none. */
int ll_nth_child(ll_fs *fs, ll_item d, size_t k, const char **name, fuse_ino_t *ino, int *dir);
/* The inode of the directory holding ino (which is d). */
fuse_ino_t ll_parent_ino(ll_fs *fs, fuse_ino_t ino, ll_item d);

#endif
