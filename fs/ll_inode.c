/*
 * ll_inode.c - inode numbers, computed, never looked up: the high 16 bits say
 * which volume (dataset) a node belongs to, the next 16 which version of it
 * (its generation, modulo 65 536: ll_version.c) and the low 32 bits its node
 * index + 1. A single .h5ad is volume 0 and its root is FUSE_ROOT_ID, in
 * every version. For a directory of .h5ad files, volume 0 is the
 * collection's own small tree (datasets.json, _cellucid/, one directory per
 * dataset), whose generation is its catalog's (ll_members.c) and whose root
 * is FUSE_ROOT_ID in every catalog, and member k is volume k + 1, whose root
 * node is that directory.
 * The hidden status directory and its file take the two numbers above any
 * node of volume 0.
 *
 *   0x0001000000000012  dataset 0 of a collection, node 17, as mounted
 *   0x0001000300000012  the same node after the source changed three times
 *
 * A new version's numbers never alias the old one's (until 65 536 switches),
 * so a number the kernel still holds resolves to the version it was given
 * for, while that version is kept, and to nothing after.
 *
 * Numbers only: no reply is made here (ll.c) and no file generated.
 */
#include "ll_inode.h"

#include <string.h>

#include "ll_members.h"
#include "ll_version.h"

static const char STATUS_DIR[] = ".cellucidfs";
static const char STATUS_FILE[] = "status.json";
/* In volume 0, above any node index. */
#define STATUS_DIR_INO ((fuse_ino_t)0xfffffffe)
#define STATUS_FILE_INO ((fuse_ino_t)0xffffffff)

fuse_ino_t ll_export_ino(const ll_fs *fs, const ll_volume *v, uint32_t node)
{
	if (!fs->collection && node == 0)
		return FUSE_ROOT_ID;
	uint64_t vol = v->slot->vol, gen = v->gen & 0xffff;
	return (fuse_ino_t)(vol << 48 | gen << 32 | ((uint64_t)node + 1));
}

fuse_ino_t ll_catalog_ino(const ll_catalog *c, uint32_t node)
{
	uint64_t gen = c->gen & 0xffff;
	return node == 0 ? FUSE_ROOT_ID : (fuse_ino_t)(gen << 32 | ((uint64_t)node + 1));
}

ll_item ll_resolve(ll_fs *fs, fuse_ino_t ino)
{
	uint64_t vol = (uint64_t)ino >> 48, gen = (uint64_t)ino >> 32 & 0xffff;
	uint64_t low = (uint64_t)ino & 0xffffffffu;
	ll_item none = {IT_NONE, NULL, NULL, 0};
	if (vol == 0 && ino == STATUS_DIR_INO)
		return (ll_item){IT_STATUS_DIR, NULL, NULL, 0};
	if (vol == 0 && ino == STATUS_FILE_INO)
		return (ll_item){IT_STATUS_FILE, NULL, NULL, 0};
	if (low == 0)
		return none;
	if (fs->collection && vol == 0) {
		ll_catalog *c = ino == FUSE_ROOT_ID ? ll_catalog_current(fs)
						    : ll_catalog_get(fs, (uint32_t)gen);
		if (c && low - 1 < co_node_count(c->co))
			return (ll_item){IT_COLLECTION, NULL, c, (uint32_t)(low - 1)};
		ll_catalog_put(c);
		return none;
	}
	size_t k = fs->collection ? vol - 1 : vol;
	if (k >= atomic_load(&fs->n_vols))
		return none;
	ll_volume *v = ino == FUSE_ROOT_ID ? ll_version_current(fs->slots[k])
					   : ll_version_get(fs->slots[k], (uint32_t)gen);
	if (v && low - 1 < ex_node_count(v->e))
		return (ll_item){IT_EXPORT, v, NULL, (uint32_t)(low - 1)};
	ll_version_put(v);
	return none;
}

void ll_done(ll_item it)
{
	if (it.type == IT_EXPORT)
		ll_version_put(it.vol);
	else if (it.type == IT_COLLECTION)
		ll_catalog_put(it.cat);
}

/* The inode of node of catalog c: a dataset's directory is its current
 * version's root (0 once the member is gone). */
static fuse_ino_t collection_ino(ll_fs *fs, const ll_catalog *c, uint32_t node)
{
	const co_node *n = co_node_at(c->co, node);
	if (n->kind != CO_DATASET)
		return ll_catalog_ino(c, node);
	ll_volume *v = ll_version_current(fs->slots[n->arg]);
	fuse_ino_t ino = v ? ll_export_ino(fs, v, 0) : 0;
	ll_version_put(v);
	return ino;
}

int ll_is_dir(ll_item it)
{
	switch (it.type) {
	case IT_EXPORT: return ex_node_at(it.vol->e, it.node)->kind == EX_DIR;
	case IT_COLLECTION: return co_node_at(it.cat->co, it.node)->kind == CO_DIR;
	case IT_STATUS_DIR: return 1;
	default: return 0;
	}
}

fuse_ino_t ll_child_ino(ll_fs *fs, fuse_ino_t dir, ll_item d, const char *name)
{
	int root = dir == FUSE_ROOT_ID;
	if (root && !strcmp(name, STATUS_DIR))
		return STATUS_DIR_INO;
	if (d.type == IT_STATUS_DIR)
		return !strcmp(name, STATUS_FILE) ? STATUS_FILE_INO : 0;
	if (d.type == IT_COLLECTION) {
		int64_t i = co_lookup(d.cat->co, d.node, name);
		return i < 0 ? 0 : collection_ino(fs, d.cat, (uint32_t)i);
	}
	int64_t i = ex_lookup(d.vol->e, d.node, name);
	return i < 0 || !ex_node_served(d.vol->e, (uint32_t)i, 0) ? 0 : ll_export_ino(fs, d.vol, (uint32_t)i);
}

int ll_nth_child(ll_fs *fs, ll_item d, size_t k, const char **name, fuse_ino_t *ino, int *dir)
{
	if (d.type == IT_EXPORT) {
		int64_t i = ex_served_child(d.vol->e, d.node, k);
		if (i < 0)
			return 0;
		uint32_t c = (uint32_t)i;
		*name = ex_node_at(d.vol->e, c)->name;
		*ino = ll_export_ino(fs, d.vol, c);
		*dir = ex_node_at(d.vol->e, c)->kind == EX_DIR;
		return 1;
	}
	if (d.type != IT_COLLECTION)
		return 0;
	for (uint32_t i = 1; i < co_node_count(d.cat->co); i++) {
		const co_node *n = co_node_at(d.cat->co, i);
		if (n->parent != d.node || k--)
			continue;
		*name = n->name;
		*ino = collection_ino(fs, d.cat, i);
		*dir = n->kind != CO_DOCUMENT;
		return 1;
	}
	return 0;
}

fuse_ino_t ll_parent_ino(ll_fs *fs, fuse_ino_t ino, ll_item d)
{
	if (d.type == IT_EXPORT && d.node == 0)
		return FUSE_ROOT_ID; /* a dataset's directory sits in the collection's root */
	if (d.type == IT_EXPORT)
		return ll_export_ino(fs, d.vol, ex_node_at(d.vol->e, d.node)->parent);
	if (d.type == IT_COLLECTION)
		return ll_catalog_ino(d.cat, co_node_at(d.cat->co, d.node)->parent);
	return ino == STATUS_DIR_INO ? FUSE_ROOT_ID : ino;
}
