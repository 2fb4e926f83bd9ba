/*
 * source.c - a source over an ad_file: see source.h. It owns the HDF5 lock;
 * nothing outside this file calls anndata's reading functions or holds the
 * lock, so an HDF5 call never runs in two threads at once and a slow read
 * holds up only other reads, never lookups or files already derived.
 *
 * A file rewritten in place while mounted (anndata truncates and writes
 * again) would hand HDF5 bytes of two versions: every read checks, by
 * fstat of the descriptor HDF5 reads, that the identity is unchanged
 * before and after it (a Zarr directory store: its root's stat before, the
 * stat of every entry of its tree after; an HDF5 file: also, by
 * anndata/h5_super.c, that the superblock still reads as at open, since
 * touch -r can restore an mtime), and fails
 * ("data.h5ad changed while mounted") otherwise. A file replaced by a
 * rename keeps its old inode, which still reads right while open (once
 * closed by the LRU, reopening it fails). Following the new version is
 * fs/watch.c's.
 */
#include "source.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "h5_super.h"

struct source {
	ad_file *ad;
	pthread_mutex_t lock;     /* every call into ad */
	src_identity id;
	h5_super super;           /* an HDF5 file's superblock as opened, or none */
	char *path;
	char why[128];            /* why the file could not be opened again, or "" */
	int changed;              /* under lock: the identity moved; for good */
	int detached;             /* src_detach: the file is closed for good */
	unsigned pins;            /* scans under way: they let go of the lock between blocks */
	int listed;               /* in the list of open sources */
	source *newer, *older;
};

/* At most this many sources keep their file open, however many files a
 * directory source has; the others open theirs again on their next read
 * (after checking it is still the same file). The list holds the open ones,
 * most recently used first; its lock is taken with a source's lock held,
 * and another source's lock only tried under it, so no two threads wait on
 * each other. */
#define SRC_OPEN_MAX 64
static pthread_mutex_t open_lock = PTHREAD_MUTEX_INITIALIZER;
static source *newest, *oldest;
static size_t n_open;

/* The identity of the source at path, stat'ed into st. A Zarr directory
 * store's covers every file in it (the root's stat moves only when its own
 * entries do, not when a chunk or .zattrs is rewritten in place), and its
 * size is its files' bytes. -1 when the tree cannot be read. */
static int identity_of(const char *path, const struct stat *st, src_identity *id)
{
	ad_stamp t;
	*id = (src_identity){st->st_dev, st->st_ino, st->st_size, st->st_mtim, 0};
	if (!S_ISDIR(st->st_mode))
		return 0;
	if (ad_store_stamp(path, &t))
		return -1;
	id->size = (off_t)t.bytes;
	id->tree = t.digest;
	return 0;
}

int src_identity_at(const char *path, struct stat *st, src_identity *id)
{
	*id = (src_identity){0};
	return stat(path, st) ? -1 : identity_of(path, st, id);
}

int src_same(src_identity a, src_identity b)
{
	return a.dev == b.dev && a.ino == b.ino && a.size == b.size &&
	       a.mtime.tv_sec == b.mtime.tv_sec && a.mtime.tv_nsec == b.mtime.tv_nsec &&
	       a.tree == b.tree;
}

static void unlist(source *s)
{
	*(s->newer ? &s->newer->older : &newest) = s->older;
	*(s->older ? &s->older->newer : &oldest) = s->newer;
	s->newer = s->older = NULL;
	s->listed = 0;
	n_open--;
}

/* s (locked, open) becomes the most recently used; the least recently used
 * sources beyond SRC_OPEN_MAX that nobody is reading close their file. */
static void touch(source *s)
{
	pthread_mutex_lock(&open_lock);
	if (s->listed)
		unlist(s);
	s->older = newest;
	*(newest ? &newest->newer : &oldest) = s;
	newest = s;
	s->listed = 1;
	n_open++;
	for (source *t = oldest, *next; t && n_open > SRC_OPEN_MAX; t = next) {
		next = t->newer;
		if (t == s || pthread_mutex_trylock(&t->lock))
			continue;
		if (!t->pins) {
			ad_close_file(t->ad);
			unlist(t);
		}
		pthread_mutex_unlock(&t->lock);
	}
	pthread_mutex_unlock(&open_lock);
}

/* Whether the stat of a directory store's root is still the one opened,
 * without the walk of its tree. */
static int same_root(const struct stat *st, const src_identity *id)
{
	return st->st_dev == id->dev && st->st_ino == id->ino &&
	       st->st_mtim.tv_sec == id->mtime.tv_sec && st->st_mtim.tv_nsec == id->mtime.tv_nsec;
}

/* Whether s (locked) is no longer the version opened: the inode HDF5
 * reads, or the path while the file is closed (or a Zarr store). Once
 * moved, for good, with the reason kept for the read that sees it.
 * Shallow (deep 0), a Zarr store's tree is not walked: the check after a
 * read is the one that vouches for its bytes (a ctime never moves back,
 * so a change before or during the read still shows then), and a scan of
 * X takes the lock once per block. */
static int moved(source *s, int deep)
{
	struct stat st;
	src_identity now;
	int fd = s->detached ? -1 : ad_file_fd(s->ad);
	if (!s->changed && !s->detached && !(fd >= 0 ? fstat(fd, &st) : stat(s->path, &st)) &&
	    (!deep && S_ISDIR(st.st_mode) ? same_root(&st, &s->id)
	     : !identity_of(s->path, &st, &now) && src_same(now, s->id)) &&
	    (fd < 0 || h5_super_same(fd, &s->super, st.st_size)))
		return 0;
	const char *slash = strrchr(s->path, '/');
	snprintf(s->why, sizeof s->why, "%s changed while mounted", slash ? slash + 1 : s->path);
	s->changed = 1;
	return 1;
}

/* Open s's file again if it was closed: the same file (device, inode,
 * size, mtime), or the read fails. */
static ad_err reopen(source *s)
{
	if (ad_file_is_open(s->ad))
		return AD_OK;
	if (moved(s, 1) || ad_reopen_file(s->ad, s->path) != AD_OK)
		return AD_EIO;
	return AD_OK;
}

/* Taking the lock also makes sure HDF5 stays silent in this thread (its
 * error-printing switch is per thread) and that the file is open and
 * still the version opened. */
static ad_err lock(source *s)
{
	pthread_mutex_lock(&s->lock);
	ad_thread_init();
	ad_err r = reopen(s);
	if (r == AD_OK)
		touch(s);
	return r == AD_OK && moved(s, 0) ? AD_EIO : r;
}

/* call, made under the lock when the file could be opened. */
#define LOCKED(s, call) (lock(s) == AD_OK ? (call) : AD_EIO)

/* The pair ad_set_lock is given: the X scans let go of the lock while they
 * decode chunks already read. The source stays pinned meanwhile, so that
 * no other source's touch() closes its file under the scan. */
static void release_lock(void *p)
{
	source *s = p;
	s->pins++;
	pthread_mutex_unlock(&s->lock);
}

static void retake_lock(void *p)
{
	source *s = p;
	pthread_mutex_lock(&s->lock);
	s->pins--;
}

/* The end of a read made under the lock: its reason copied out before
 * another read can replace it. A change during the read voids it. */
static ex_err unlock(source *s, ad_err r, char *err, size_t errlen)
{
	if (moved(s, 1))
		r = AD_EIO;
	if (r != AD_OK)
		snprintf(err, errlen, "%s", s->why[0] ? s->why : ad_last_error(s->ad));
	s->why[0] = 0;
	pthread_mutex_unlock(&s->lock);
	return r == AD_OK ? EX_OK : r == AD_ENOMEM ? EX_ENOMEM : EX_EIO;
}

/* Sizes the metadata claims, checked against the file before anything is
 * allocated by them: a cell or a gene takes at least a byte of the file
 * (its name in the index), so a 37 kB file cannot claim 134 M cells. */
static ex_err claims_fit(const source *s, char *err, size_t errlen)
{
	size_t n_obs = ad_n_obs(s->ad), n_var = ad_n_var(s->ad);
	uintmax_t bytes = (uintmax_t)s->id.size;
	if (n_obs <= bytes && n_var <= bytes)
		return EX_OK;
	snprintf(err, errlen, "%s: %zu %s claimed by a file of %ju bytes (each takes at least "
		 "one): refused", n_obs > bytes ? "obs" : "var", n_obs > bytes ? n_obs : n_var,
		 n_obs > bytes ? "cells" : "genes", bytes);
	return EX_EINVAL;
}

ex_err src_open(const char *path, source **out, char *err, size_t errlen)
{
	struct stat st;
	*out = NULL;
	if (stat(path, &st)) {
		snprintf(err, errlen, "%s", strerror(errno));
		return EX_EIO;
	}
	source *s = calloc(1, sizeof *s);
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return EX_ENOMEM;
	}
	pthread_mutex_init(&s->lock, NULL);
	if (!(s->path = strdup(path))) {
		src_close(s);
		snprintf(err, errlen, "out of memory");
		return EX_ENOMEM;
	}
	if (identity_of(path, &st, &s->id)) {
		src_close(s);
		snprintf(err, errlen, "its tree cannot be read: %s", strerror(errno));
		return EX_EIO;
	}
	if (ad_open(path, &s->ad, err, errlen) != AD_OK || claims_fit(s, err, errlen)) {
		src_close(s);
		return EX_EINVAL;
	}
	/* ad_open went by the path: the inode it opened must be this one. */
	if (ad_file_fd(s->ad) >= 0)
		h5_super_read(ad_file_fd(s->ad), &s->super);
	if (moved(s, 1)) {
		const char *slash = strrchr(path, '/');
		snprintf(err, errlen, "%s changed while it was opened", slash ? slash + 1 : path);
		src_close(s);
		return EX_EIO;
	}
	ad_set_lock(s->ad, release_lock, retake_lock, s);
	pthread_mutex_lock(&s->lock);
	touch(s);
	pthread_mutex_unlock(&s->lock);
	*out = s;
	return EX_OK;
}

void src_detach(source *s)
{
	pthread_mutex_lock(&s->lock);
	pthread_mutex_lock(&open_lock);
	if (s->listed)
		unlist(s);
	pthread_mutex_unlock(&open_lock);
	ad_close_file(s->ad); /* a replaced file's space is freed; the layout stays */
	s->detached = 1;
	pthread_mutex_unlock(&s->lock);
}

void src_close(source *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&open_lock);
	if (s->listed)
		unlist(s);
	pthread_mutex_unlock(&open_lock);
	ad_close(s->ad);
	free(s->path);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

src_identity src_id(const source *s) { return s->id; }

ex_err src_select_expression(source *s, const char *which, char *err, size_t errlen)
{
	ex_err r = unlock(s, LOCKED(s, ad_select_expression(s->ad, which)), err, errlen);
	return r == EX_OK && !claims_fit(s, err, errlen) ? EX_OK : EX_EINVAL;
}

size_t src_n_obs(const source *s) { return ad_n_obs(s->ad); }
size_t src_n_var(const source *s) { return ad_n_var(s->ad); }
ad_x_format src_x_format(const source *s) { return ad_x_kind(s->ad); }
uint64_t src_x_stored(const source *s) { return ad_x_stored(s->ad); }
size_t src_obs_ncols(const source *s) { return ad_obs_ncols(s->ad); }
const char *src_obs_col_name(const source *s, size_t col) { return ad_obs_col_name(s->ad, col); }
ad_col_kind src_obs_col_kind(const source *s, size_t col) { return ad_obs_col_kind(s->ad, col); }
const char *src_obs_col_reason(const source *s, size_t col)
{
	return ad_obs_col_reason(s->ad, col);
}
size_t src_obsm_count(const source *s) { return ad_obsm_count(s->ad); }
const char *src_obsm_key(const source *s, size_t i) { return ad_obsm_key(s->ad, i); }
size_t src_obsm_cols(const source *s, size_t i) { return ad_obsm_cols(s->ad, i); }
const char *src_obsm_reason(const source *s, size_t i) { return ad_obsm_reason(s->ad, i); }
int src_has_graph(const source *s) { return ad_has_connectivities(s->ad); }

ex_err src_read_numeric(source *s, size_t col, float *out, char *err, size_t errlen)
{
	return unlock(s, LOCKED(s, ad_obs_read_numeric(s->ad, col, out)), err, errlen);
}

ex_err src_read_categorical(source *s, size_t col, ad_categorical *out, char *err,
			    size_t errlen)
{
	return unlock(s, LOCKED(s, ad_obs_read_categorical(s->ad, col, out)), err, errlen);
}

ex_err src_read_var_names(source *s, const char *column, char ***out, char *err,
			  size_t errlen)
{
	ad_err r = lock(s);
	if (r == AD_OK)
		r = column ? ad_var_column(s->ad, column, out) : ad_var_names(s->ad, out);
	return unlock(s, r, err, errlen);
}

ex_err src_read_obsm(source *s, size_t i, double *out, char *err, size_t errlen)
{
	return unlock(s, LOCKED(s, ad_obsm_read(s->ad, i, out)), err, errlen);
}

ex_err src_read_obsm_f32(source *s, size_t i, float *out, char *err, size_t errlen)
{
	return unlock(s, LOCKED(s, ad_obsm_read_f32(s->ad, i, out)), err, errlen);
}

ex_err src_read_graph(source *s, ad_graph *out, char *err, size_t errlen)
{
	return unlock(s, LOCKED(s, ad_read_connectivities(s->ad, out)), err, errlen);
}

ex_err src_read_x_column(source *s, size_t gene, float *out, char *err, size_t errlen)
{
	return unlock(s, LOCKED(s, ad_x_read_gene(s->ad, gene, out)), err, errlen);
}

typedef struct {
	source *s;
	ad_rowblock_fn fn;
	void *ctx;
} scan_call;

/* The scan holds the lock while it reads; the block is worked on without.
 * Pinned meanwhile, the file stays open (its datasets are). */
static int unlocked_block(const ad_rowblock *b, void *arg)
{
	scan_call *c = arg;
	pthread_mutex_unlock(&c->s->lock);
	int stop = c->fn(b, c->ctx);
	return lock(c->s) != AD_OK || stop;
}

ex_err src_scan_x(source *s, size_t block_values, ad_rowblock_fn fn, void *ctx, char *err,
		  size_t errlen)
{
	scan_call c = {s, fn, ctx};
	ad_err r = lock(s);
	if (r == AD_OK) {
		s->pins++;
		r = ad_x_scan_rows(s->ad, block_values, unlocked_block, &c);
		s->pins--;
	}
	return unlock(s, r, err, errlen);
}
