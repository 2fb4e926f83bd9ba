/*
 * ll_version.c - the versions of each dataset: see ll_version.h.
 *
 * A slot's current version answers every new lookup. When fs/watch.c has
 * seen the source settle as another file, ll_switch opens that file beside
 * the current version (a new export, cache and store: the store's key holds
 * the source's identity), makes it current under the slot's lock, and only
 * then, holding no lock, tells the kernel to forget the names, listings,
 * attributes and pages of the old one. The new version's inode numbers carry
 * its generation (ll_inode.c), so nothing the kernel still holds of the old
 * version can be taken for the new one.
 *
 * A member of a directory source may also have no version (its file is
 * gone, or not usable): ll_members.c adds and removes them, and keeps the
 * root's catalog.
 *
 * A replaced version stays resolvable while any request or open file holds
 * it, and for GRACE seconds after the switch: a reader whose kernel opens
 * files without telling us (zero-message opens) reads the old file to its
 * end by inode number. Then ll_reap frees it and deletes its store (that
 * version of the source is gone), in the watcher's thread (never
 * in a request: stopping its prefetch pool waits for threads that may be
 * handing pages to the kernel).
 *
 *   $ python3 -c 'adata[:500].write_h5ad("data.h5ad")'
 *   cellucidfs: data.h5ad changed: now 500 cells, 765 genes
 */
#include "ll_version.h"
#include "ll_inode.h"
#include "ll_members.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "ad.h"
#include "log.h"

/* Seconds a replaced version is kept for readers that hold no handle. */
static const double GRACE = 10;

/* A version over e (taken over: closed on failure); NULL when out of memory. */
static ll_volume *version_new(ll_fs *fs, ll_slot *s, ex_export *e, uint32_t gen)
{
	ll_volume *v = calloc(1, sizeof *v);
	if (v) {
		*v = (ll_volume){.fs = fs, .slot = s, .gen = gen, .e = e};
		v->cache = fc_new(e, ex_store(e), fs->opt->cache_size);
		v->listed = calloc(ex_node_count(e), sizeof *v->listed);
	}
	if (!v || !v->cache || !v->listed) {
		if (v)
			fc_free(v->cache), free(v->listed), free(v);
		ex_close(e);
		return NULL;
	}
	return v;
}

/* A replaced version's store goes with it: its source is gone. */
static void version_free(ll_volume *v)
{
	pf_stop(v->warm);
	fc_free(v->cache);
	free(v->listed);
	if (v->retired)
		ex_discard_store(v->e);
	ex_close(v->e);
	free(v);
}

ll_slot *ll_slot_add(ll_fs *fs, const char *path, ex_identity seen)
{
	size_t k = atomic_load(&fs->n_vols);
	ll_slot *s = k < (fs->collection ? LL_MAX_SLOTS : 1) ? calloc(1, sizeof *s) : NULL;
	if (!s || !(s->path = strdup(path))) {
		free(s);
		return NULL;
	}
	const char *slash = strrchr(s->path, '/');
	s->name = slash ? slash + 1 : s->path;
	s->seen = seen;
	s->vol = (uint32_t)k + (fs->collection ? 1 : 0);
	pthread_mutex_init(&s->lock, NULL);
	fs->slots[k] = s;
	atomic_store(&fs->n_vols, k + 1); /* after the slot is complete */
	return s;
}

int ll_slots_open(ll_fs *fs, const char *source, char *err, size_t errlen)
{
	struct stat st;
	pthread_mutex_init(&fs->cat_lock, NULL);
	if (!stat(source, &st) && S_ISDIR(st.st_mode) && !ad_is_store_dir(source))
		return ll_members_open(fs, source, err, errlen);
	ex_export *e;
	if (ex_open(source, fs->opt, &e, err, errlen) != EX_OK)
		return -1;
	ll_slot *s = (fs->slots = calloc(1, sizeof *fs->slots))
		? ll_slot_add(fs, source, ex_source_id(e)) : NULL;
	if (!s || ll_version_install(fs, s, e)) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

void ll_slots_close(ll_fs *fs)
{
	for (size_t k = 0; k < fs->n_vols; k++) {
		ll_slot *s = fs->slots[k];
		while (s->retired) {
			ll_volume *v = s->retired;
			s->retired = v->older;
			version_free(v);
		}
		if (s->cur)
			version_free(s->cur);
		free(s->path);
		pthread_mutex_destroy(&s->lock);
		free(s);
	}
	ll_members_close(fs);
	free(fs->slots);
	pthread_mutex_destroy(&fs->cat_lock);
}

void ll_slots_warm(ll_fs *fs)
{
	for (size_t k = 0; k < fs->n_vols; k++) {
		ll_volume *v = fs->slots[k]->cur;
		if (v)
			v->warm = pf_start(v->e, v->cache, fs->opt->prefetch, ll_file_ready, v);
	}
}

void ll_slots_cool(ll_fs *fs)
{
	for (size_t k = 0; k < atomic_load(&fs->n_vols); k++) {
		ll_volume *v = fs->slots[k]->cur;
		if (v) {
			pf_stop(v->warm);
			v->warm = NULL;
		}
	}
}

ll_volume *ll_version_get(ll_slot *s, uint32_t gen)
{
	pthread_mutex_lock(&s->lock);
	ll_volume *v = s->cur && (s->cur->gen & 0xffff) == gen ? s->cur : s->retired;
	while (v && (v->gen & 0xffff) != gen)
		v = v->older;
	if (v)
		v->refs++;
	pthread_mutex_unlock(&s->lock);
	return v;
}

ll_volume *ll_version_current(ll_slot *s)
{
	pthread_mutex_lock(&s->lock);
	ll_volume *v = s->cur;
	if (v)
		v->refs++;
	pthread_mutex_unlock(&s->lock);
	return v;
}

void ll_version_hold(ll_volume *v)
{
	pthread_mutex_lock(&v->slot->lock);
	v->refs++;
	pthread_mutex_unlock(&v->slot->lock);
}

void ll_version_put(ll_volume *v)
{
	if (!v)
		return;
	pthread_mutex_lock(&v->slot->lock);
	v->refs--;
	pthread_mutex_unlock(&v->slot->lock);
}

size_t ll_slot_count(void *fs)
{
	return atomic_load(&((ll_fs *)fs)->n_vols);
}

const char *ll_slot_path(void *fs, size_t k)
{
	return ((ll_fs *)fs)->slots[k]->path;
}

ex_identity ll_slot_identity(void *fs, size_t k)
{
	return ((ll_fs *)fs)->slots[k]->seen;
}

/* "52 000": a count as the log shows it. */
static const char *grouped(size_t n, char *buf, size_t len)
{
	char digits[32];
	int nd = snprintf(digits, sizeof digits, "%zu", n), o = 0;
	for (int i = 0; i < nd && (size_t)o + 2 < len; i++) {
		if (i && (nd - i) % 3 == 0)
			buf[o++] = ' ';
		buf[o++] = digits[i];
	}
	buf[o] = 0;
	return buf;
}

void ll_log_version(const ll_slot *s, const char *what)
{
	ex_layout l;
	char cells[32], genes[32];
	ll_volume *v = s->cur; /* the watcher's thread, the only one that changes it */
	ex_layout_of(v->e, &l);
	log_info("%s %s: now %s cells, %s genes", s->name, what,
		 grouped(l.n_cells, cells, sizeof cells), grouped(l.n_genes, genes, sizeof genes));
}

/* Forget, in the kernel, every node of old; a single file's root is the
 * mount's, and its names (those of old and of cur, a new version: a name
 * cur has and old had not may be cached as absent) and listing are
 * forgotten too. A collection's root is its catalog's (ll_members.c). */
static void forget(ll_fs *fs, ll_volume *old, ll_volume *cur)
{
	struct fuse_session *se = fs->se;
	if (!fs->collection) {
		ll_volume *both[2] = {old, cur};
		for (int w = 0; w < 2; w++) {
			const ex_node *root = ex_node_at(both[w]->e, 0);
			for (uint32_t c = 0; c < root->n_children; c++) {
				const char *name = ex_node_at(both[w]->e, root->first_child + c)->name;
				fuse_lowlevel_notify_inval_entry(se, FUSE_ROOT_ID, name, strlen(name));
			}
		}
		fuse_lowlevel_notify_inval_inode(se, FUSE_ROOT_ID, 0, 0);
	}
	/* Unknown inodes answer ENOENT: the kernel had forgotten them already. */
	for (uint32_t i = fs->collection ? 0 : 1; i < ex_node_count(old->e); i++)
		fuse_lowlevel_notify_inval_inode(se, ll_export_ino(fs, old, i), 0, 0);
}

/* Slot s's current version becomes v (or none), the one before retired:
 * it stays for readers that hold it (ll_reap frees it). */
static ll_volume *replace(ll_slot *s, ll_volume *v)
{
	pthread_mutex_lock(&s->lock);
	ll_volume *old = s->cur;
	if (old) {
		old->retired = ll_now();
		old->older = s->retired;
		s->retired = old;
		s->switches++;
	}
	s->cur = v;
	pthread_mutex_unlock(&s->lock);
	if (old) {
		pf_stop(old->warm); /* it would only meet "changed while mounted" */
		old->warm = NULL;
	}
	return old;
}

int ll_version_install(ll_fs *fs, ll_slot *s, ex_export *e)
{
	ll_volume *v = version_new(fs, s, e, s->versions++);
	if (!v)
		return -1;
	s->seen = ex_source_id(e);
	if (fs->se) /* mounted: else ll_slots_warm starts it */
		v->warm = pf_start(v->e, v->cache, fs->opt->prefetch, ll_file_ready, v);
	ll_volume *old = replace(s, v);
	if (old && fs->se)
		forget(fs, old, v);
	return 0;
}

void ll_version_remove(ll_fs *fs, ll_slot *s)
{
	/* Only a member of a directory goes: a single file stays served. */
	ll_volume *old = replace(s, NULL);
	if (old)
		forget(fs, old, NULL);
}

/* Switch single file k to what is on disk. */
int ll_switch(void *arg, size_t k)
{
	ll_fs *fs = arg;
	ll_slot *s = fs->slots[k];
	if (fs->collection)
		return ll_member_switch(fs, s);
	char why[512];
	struct stat st;
	ex_export *e;
	ll_note_disk(s, &st);
	if (ex_open(s->path, fs->opt, &e, why, sizeof why) != EX_OK) {
		log_warn("%s changed, but is not usable (%s); still serving the version before",
			 s->name, why);
		return -1;
	}
	if (ll_version_install(fs, s, e)) {
		log_warn("%s changed, but there is no memory for the new version", s->name);
		return -1;
	}
	ll_log_version(s, "changed");
	return 0;
}

int ll_note_disk(ll_slot *s, struct stat *st)
{
	/* The identity is dealt with whether or not it opens: a version that
	 * is not usable is not tried again until the file changes once more. */
	if (ex_identity_at(s->path, st, &s->seen))
		return -1;
	/* Rewritten in place, or brought back after a removal: a version still
	 * reading that inode would hand the new open its state (HDF5 shares an
	 * open file), and its reads fail already or go stale. Only this thread
	 * changes the list. */
	for (ll_volume *v = s->cur ? s->cur : s->retired; v;
	     v = v == s->cur ? s->retired : v->older) {
		ex_identity was = ex_source_id(v->e);
		if (st->st_dev == was.dev && st->st_ino == was.ino)
			ex_detach_source(v->e);
	}
	return 0;
}

void ll_reap(void *arg)
{
	ll_fs *fs = arg;
	double t = ll_now();
	for (size_t k = 0; k < atomic_load(&fs->n_vols); k++) {
		ll_slot *s = fs->slots[k];
		ll_volume *done = NULL;
		pthread_mutex_lock(&s->lock);
		for (ll_volume **p = &s->retired; *p;) {
			ll_volume *v = *p;
			if (v->refs == 0 && t - v->retired >= GRACE) {
				*p = v->older;
				v->older = done;
				done = v;
			} else {
				p = &v->older;
			}
		}
		pthread_mutex_unlock(&s->lock);
		while (done) {
			ll_volume *v = done;
			done = v->older;
			version_free(v);
		}
	}
	ll_members_reap(fs, t, GRACE);
}
