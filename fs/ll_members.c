/*
 * ll_members.c - the members of a directory source: see ll_members.h.
 *
 * Each name of the directory that may be a dataset (collection.h) gets a
 * slot the first time it is seen and keeps it until unmount, so that its
 * volume number stays its own: a file removed and brought back is its
 * slot's next version. fs/watch.c settles each member as it does a single
 * file - a file being copied in is not opened before it has been quiet for
 * settle seconds, and one that does not open is not tried again until it
 * changes - and ll_member_switch opens it by co_open_member's rules, or
 * retires the version served when the file went.
 *
 * Whenever a member comes, goes or changes, a new catalog is made over the
 * members that have a version, in file-name order (the first is the
 * default), and published after a new version and before a removal: a new
 * dataset's directory resolves before datasets.json names it, a removed one
 * is unlisted before its version goes. The kernel is then told to forget
 * the root's listing and every name of the old and new catalogs (a new
 * name may be cached as absent). Catalogs are kept as versions are: an
 * open datasets.json reads the catalog it opened to its end.
 *
 *   $ cp new.h5ad /data/cells/
 *   cellucidfs: new.h5ad added: now 2 500 cells, 765 genes
 *   $ rm /data/cells/old.h5ad
 *   cellucidfs: old.h5ad removed: dataset 'old' is no longer served
 */
#include "ll_members.h"
#include "ll_inode.h"
#include "ll_version.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"

/* A member of the next catalog, with the file name it is ordered by. */
typedef struct {
	const char *file;
	co_entry entry;
} listed;

static int by_file(const void *a, const void *b)
{
	return strcmp(((const listed *)a)->file, ((const listed *)b)->file);
}

/* The newest of the directory's and the members' mtimes: a new catalog is
 * newer than the one before (an HTTP cache's ETag changes). */
static time_t catalog_mtime(ll_fs *fs, const listed *l, size_t n)
{
	struct stat st;
	time_t t = stat(fs->dir, &st) ? 0 : st.st_mtime;
	for (size_t i = 0; i < n; i++) {
		time_t m = ex_mtime(fs->slots[l[i].entry.member]->cur->e);
		if (m > t)
			t = m;
	}
	return t;
}

/* Forget, in the kernel, the root's listing, the names of old's and cur's
 * root and old's own nodes (a dataset's directory is its version's). */
static void forget(ll_fs *fs, ll_catalog *old, ll_catalog *cur)
{
	ll_catalog *both[2] = {old, cur};
	for (int w = 0; w < 2; w++)
		for (uint32_t i = 1; i < co_node_count(both[w]->co); i++) {
			const co_node *n = co_node_at(both[w]->co, i);
			if (n->parent == 0)
				fuse_lowlevel_notify_inval_entry(fs->se, FUSE_ROOT_ID, n->name,
								 strlen(n->name));
		}
	fuse_lowlevel_notify_inval_inode(fs->se, FUSE_ROOT_ID, 0, 0);
	for (uint32_t i = 1; i < co_node_count(old->co); i++)
		if (co_node_at(old->co, i)->kind != CO_DATASET)
			fuse_lowlevel_notify_inval_inode(fs->se, ll_catalog_ino(old, i), 0, 0);
}

/* Make the catalog of the members with a version, but skip; it replaces
 * the current one (if any). -1 when out of memory: the one before stays. */
static int publish(ll_fs *fs, const ll_slot *skip)
{
	size_t n = atomic_load(&fs->n_vols), k = 0;
	listed *l = calloc(n ? n : 1, sizeof *l);
	ll_catalog *c = l ? calloc(1, sizeof *c) : NULL;
	for (size_t i = 0; c && i < n; i++) {
		const ll_slot *s = fs->slots[i];
		if (s != skip && s->cur) /* only this thread changes cur */
			l[k++] = (listed){s->name, {ex_id(s->cur->e), ex_name(s->cur->e), (uint32_t)i}};
	}
	qsort(l, k, sizeof *l, by_file);
	co_entry *m = c ? calloc(k ? k : 1, sizeof *m) : NULL;
	for (size_t i = 0; m && i < k; i++)
		m[i] = l[i].entry;
	if (m)
		c->co = co_catalog_new(m, k, fs->opt, catalog_mtime(fs, l, k));
	free(m);
	free(l);
	if (!c || !c->co) {
		log_warn("%s: out of memory for the new list of datasets", fs->dir);
		free(c);
		return -1;
	}
	pthread_mutex_lock(&fs->cat_lock);
	ll_catalog *old = fs->cat;
	if (old) {
		c->gen = old->gen + 1;
		old->retired = ll_now();
		old->older = fs->cat_retired;
		fs->cat_retired = old;
	}
	fs->cat = c;
	pthread_mutex_unlock(&fs->cat_lock);
	if (old && fs->se)
		forget(fs, old, c);
	return 0;
}

/* The member other than s whose version has dataset id id, or NULL. */
static const ll_slot *id_holder(ll_fs *fs, const ll_slot *s, const char *id)
{
	for (size_t i = 0; i < atomic_load(&fs->n_vols); i++) {
		const ll_slot *t = fs->slots[i];
		if (t != s && t->cur && !strcmp(ex_id(t->cur->e), id))
			return t;
	}
	return NULL;
}

int ll_member_switch(ll_fs *fs, ll_slot *s)
{
	struct stat st;
	char why[512];
	ex_export *e;
	const ll_slot *holder;
	if (ll_note_disk(s, &st)) {
		s->seen = (ex_identity){0};
		if (!s->cur)
			return 0;
		log_info("%s removed: dataset '%s' is no longer served", s->name, ex_id(s->cur->e));
		publish(fs, s);
		ll_version_remove(fs, s);
		return 0;
	}
	int had = s->cur != NULL;
	if (co_open_member(fs->dir, s->name, fs->opt, &e, why, sizeof why)) {
		/* why says it */
	} else if ((holder = id_holder(fs, s, ex_id(e)))) {
		snprintf(why, sizeof why, "its dataset id '%s' is already used by another file (%s)",
			 ex_id(e), holder->name);
		ex_close(e);
	} else if (ll_version_install(fs, s, e)) {
		snprintf(why, sizeof why, "out of memory");
	} else {
		if (fs->se) { /* mounted: else the first catalog comes after every member */
			ll_log_version(s, had ? "changed" : "added");
			publish(fs, NULL);
		}
		return 0;
	}
	if (had)
		log_warn("%s changed, but is not usable (%s); still serving the version before",
			 s->name, why);
	else
		log_warn("%s skipped: %s", s->name, why);
	return -1;
}

/* A slot for name, in the directory (none is opened yet); NULL when there
 * is no room. */
static ll_slot *add_member(ll_fs *fs, const char *name)
{
	char path[PATH_MAX];
	ll_slot *s = NULL;
	if ((size_t)snprintf(path, sizeof path, "%s/%s", fs->dir, name) < sizeof path)
		s = ll_slot_add(fs, path, (ex_identity){0});
	if (!s)
		log_warn("%s skipped: %s", name, atomic_load(&fs->n_vols) >= LL_MAX_SLOTS
			 ? "too many datasets in the directory" : "out of memory");
	return s;
}

int ll_members_open(ll_fs *fs, const char *dir, char *err, size_t errlen)
{
	char root[PATH_MAX];
	size_t n, usable = 0;
	char **names = NULL;
	fs->collection = 1;
	if (!realpath(dir, root)) {
		snprintf(err, errlen, "%s", strerror(errno));
		return -1;
	}
	if (!(names = co_list(root, &n, err, errlen)))
		return -1;
	if (!(fs->dir = strdup(root)) || !(fs->slots = calloc(LL_MAX_SLOTS, sizeof *fs->slots))) {
		co_names_free(names, n);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		ll_slot *s = add_member(fs, names[i]);
		usable += s && !ll_member_switch(fs, s);
	}
	co_names_free(names, n);
	if (!usable) {
		snprintf(err, errlen, "no usable .h5ad file in the directory (%zu found)", n);
		return -1;
	}
	if (publish(fs, NULL)) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void ll_members_rescan(void *arg)
{
	ll_fs *fs = arg;
	char err[256];
	size_t n, have = atomic_load(&fs->n_vols);
	char **names = co_list(fs->dir, &n, err, sizeof err);
	const char **known = calloc(have ? have : 1, sizeof *known);
	if (!names || !known) {
		log_warn("%s: cannot list the directory: %s", fs->dir, names ? "out of memory" : err);
		free(known);
		if (names)
			co_names_free(names, n);
		return;
	}
	for (size_t k = 0; k < have; k++)
		known[k] = fs->slots[k]->name;
	qsort(known, have, sizeof *known, by_name);
	for (size_t i = 0; i < n; i++)
		if (!bsearch(&names[i], known, have, sizeof *known, by_name) &&
		    !add_member(fs, names[i]))
			break;
	free(known);
	co_names_free(names, n);
}

ll_catalog *ll_catalog_get(ll_fs *fs, uint32_t gen)
{
	pthread_mutex_lock(&fs->cat_lock);
	ll_catalog *c = (fs->cat->gen & 0xffff) == gen ? fs->cat : fs->cat_retired;
	while (c && (c->gen & 0xffff) != gen)
		c = c->older;
	if (c)
		atomic_fetch_add(&c->refs, 1);
	pthread_mutex_unlock(&fs->cat_lock);
	return c;
}

ll_catalog *ll_catalog_current(ll_fs *fs)
{
	pthread_mutex_lock(&fs->cat_lock);
	ll_catalog *c = fs->cat;
	atomic_fetch_add(&c->refs, 1);
	pthread_mutex_unlock(&fs->cat_lock);
	return c;
}

void ll_catalog_hold(ll_catalog *c)
{
	atomic_fetch_add(&c->refs, 1);
}

void ll_catalog_put(ll_catalog *c)
{
	if (c)
		atomic_fetch_sub(&c->refs, 1);
}

static void catalog_free(ll_catalog *c)
{
	co_catalog_free(c->co);
	free(c);
}

void ll_members_reap(ll_fs *fs, double t, double grace)
{
	ll_catalog *done = NULL;
	pthread_mutex_lock(&fs->cat_lock);
	for (ll_catalog **p = &fs->cat_retired; *p;) {
		ll_catalog *c = *p;
		if (atomic_load(&c->refs) == 0 && t - c->retired >= grace) {
			*p = c->older;
			c->older = done;
			done = c;
		} else {
			p = &c->older;
		}
	}
	pthread_mutex_unlock(&fs->cat_lock);
	while (done) {
		ll_catalog *c = done;
		done = c->older;
		catalog_free(c);
	}
}

void ll_members_close(ll_fs *fs)
{
	ll_catalog *c = fs->cat;
	while (c) {
		ll_catalog *older = c == fs->cat ? fs->cat_retired : c->older;
		catalog_free(c);
		c = older;
	}
	free(fs->dir);
}
