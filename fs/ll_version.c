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

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "ad.h"
#include "log.h"

/* Seconds a replaced version is kept for readers that hold no handle. */
static const double GRACE = 10;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

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
		if (!fs->co || gen)
			ex_close(e);
		return NULL;
	}
	return v;
}

/* The first version of a collection member is the collection's to close. A
 * replaced version's store goes with it: its source is gone. */
static void version_free(ll_volume *v)
{
	pf_stop(v->warm);
	fc_free(v->cache);
	free(v->listed);
	if (v->retired)
		ex_discard_store(v->e);
	if (!v->fs->co || v->gen)
		ex_close(v->e);
	else if (v->retired) /* the collection closes it, at unmount: the file now */
		ex_detach_source(v->e);
	free(v);
}

int ll_slots_open(ll_fs *fs, const char *source, char *err, size_t errlen)
{
	struct stat st;
	ex_export *single = NULL;
	if (!stat(source, &st) && S_ISDIR(st.st_mode) && !ad_is_store_dir(source)) {
		if (co_open(source, fs->opt, &fs->co, err, errlen) != EX_OK)
			return -1;
		fs->n_vols = co_dataset_count(fs->co);
	} else {
		if (ex_open(source, fs->opt, &single, err, errlen) != EX_OK)
			return -1;
		fs->n_vols = 1;
	}
	if (!(fs->slots = calloc(fs->n_vols, sizeof *fs->slots))) {
		if (single)
			ex_close(single);
		fs->n_vols = 0;
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t k = 0; k < fs->n_vols; k++) {
		ll_slot *s = &fs->slots[k];
		pthread_mutex_init(&s->lock, NULL);
		s->vol = (uint32_t)k + (fs->co ? 1 : 0);
		s->path = strdup(fs->co ? co_dataset_path(fs->co, k) : source);
		s->cur = version_new(fs, s, fs->co ? co_dataset(fs->co, k) : single, 0);
		if (!s->path || !s->cur) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
	}
	return 0;
}

void ll_slots_close(ll_fs *fs)
{
	for (size_t k = 0; k < fs->n_vols; k++) {
		ll_slot *s = &fs->slots[k];
		while (s->retired) {
			ll_volume *v = s->retired;
			s->retired = v->older;
			version_free(v);
		}
		if (s->cur)
			version_free(s->cur);
		free(s->path);
		pthread_mutex_destroy(&s->lock);
	}
	if (fs->co)
		co_close(fs->co);
	free(fs->slots);
}

void ll_slots_warm(ll_fs *fs)
{
	for (size_t k = 0; k < fs->n_vols; k++) {
		ll_volume *v = fs->slots[k].cur;
		v->warm = pf_start(v->e, v->cache, fs->opt->prefetch, ll_file_ready, v);
	}
}

void ll_slots_cool(ll_fs *fs)
{
	for (size_t k = 0; k < fs->n_vols; k++) {
		ll_volume *v = fs->slots[k].cur;
		pf_stop(v->warm);
		v->warm = NULL;
	}
}

ll_volume *ll_version_get(ll_slot *s, uint32_t gen)
{
	pthread_mutex_lock(&s->lock);
	ll_volume *v = s->cur;
	while (v && (v->gen & 0xffff) != gen)
		v = v == s->cur ? s->retired : v->older;
	if (v)
		v->refs++;
	pthread_mutex_unlock(&s->lock);
	return v;
}

ll_volume *ll_version_current(ll_slot *s)
{
	pthread_mutex_lock(&s->lock);
	ll_volume *v = s->cur;
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

const char *ll_slot_path(void *fs, size_t k)
{
	return ((ll_fs *)fs)->slots[k].path;
}

ex_identity ll_slot_identity(void *arg, size_t k)
{
	ll_volume *v = ll_version_current(&((ll_fs *)arg)->slots[k]);
	ex_identity id = ex_source_id(v->e);
	ll_version_put(v);
	return id;
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

/* Forget, in the kernel, every node of old and the names of the directory
 * holding it (whose listing changes). Names the new version has and the old
 * had not may be cached as absent: those are forgotten too. */
static void forget(ll_fs *fs, ll_volume *old, ll_volume *cur)
{
	struct fuse_session *se = fs->se;
	if (fs->co) {
		const char *id = ex_id(old->e);
		fuse_lowlevel_notify_inval_entry(se, FUSE_ROOT_ID, id, strlen(id));
	} else {
		ll_volume *both[2] = {old, cur};
		for (int w = 0; w < 2; w++) {
			const ex_node *root = ex_node_at(both[w]->e, 0);
			for (uint32_t c = 0; c < root->n_children; c++) {
				const char *name = ex_node_at(both[w]->e, root->first_child + c)->name;
				fuse_lowlevel_notify_inval_entry(se, FUSE_ROOT_ID, name, strlen(name));
			}
		}
	}
	fuse_lowlevel_notify_inval_inode(se, FUSE_ROOT_ID, 0, 0);
	/* Unknown inodes answer ENOENT: the kernel had forgotten them already. */
	for (uint32_t i = fs->co ? 0 : 1; i < ex_node_count(old->e); i++)
		fuse_lowlevel_notify_inval_inode(se, ll_export_ino(fs, old, i), 0, 0);
}

int ll_switch(void *arg, size_t k)
{
	ll_fs *fs = arg;
	ll_slot *s = &fs->slots[k];
	const char *slash = strrchr(s->path, '/'), *base = slash ? slash + 1 : s->path;
	ex_options each = fs->co ? co_member_options(fs->opt) : *fs->opt;
	ex_export *e;
	char why[512];
	struct stat st;
	ex_identity was = ex_source_id(s->cur->e);
	/* Rewritten in place: the old version's reads fail already, and its
	 * open file would hand the new open its stale state. */
	if (!stat(s->path, &st) && st.st_dev == was.dev && st.st_ino == was.ino)
		ex_detach_source(s->cur->e);
	if (ex_open(s->path, &each, &e, why, sizeof why) != EX_OK) {
		log_warn("%s changed, but is not usable (%s); still serving the version before",
			 base, why);
		return -1;
	}
	uint32_t gen = s->cur->gen + 1; /* cur is only ever replaced here */
	ll_volume *v = version_new(fs, s, e, gen);
	if (!v) {
		log_warn("%s changed, but there is no memory for the new version", base);
		return -1;
	}
	v->warm = pf_start(v->e, v->cache, fs->opt->prefetch, ll_file_ready, v);
	pthread_mutex_lock(&s->lock);
	ll_volume *old = s->cur;
	old->retired = now();
	old->older = s->retired;
	s->retired = old;
	s->cur = v;
	s->switches++;
	pthread_mutex_unlock(&s->lock);
	pf_stop(old->warm); /* it would only meet "changed while mounted" */
	old->warm = NULL;
	forget(fs, old, v);
	ex_layout l;
	char cells[32], genes[32];
	ex_layout_of(e, &l);
	log_info("%s changed: now %s cells, %s genes", base, grouped(l.n_cells, cells, sizeof cells),
		 grouped(l.n_genes, genes, sizeof genes));
	return 0;
}

void ll_reap(void *arg)
{
	ll_fs *fs = arg;
	double t = now();
	for (size_t k = 0; k < fs->n_vols; k++) {
		ll_slot *s = &fs->slots[k];
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
}
