/*
 * source.c - a source over an ad_file: see source.h. It owns the HDF5 lock;
 * nothing outside this file calls anndata's reading functions or holds the
 * lock, so an HDF5 call never runs in two threads at once and a slow read
 * holds up only other reads, never lookups or files already derived.
 *
 * A file rewritten in place while mounted (anndata truncates and writes
 * again) would hand HDF5 bytes of two versions: every read checks, through
 * a descriptor of the inode it opened, that the identity is unchanged
 * before and after it, and fails ("data.h5ad changed while mounted")
 * otherwise. A file replaced by a rename keeps its old inode, which still
 * reads right. Following the new version is fs/watch.c's.
 */
#include "source.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

struct source {
	ad_file *ad;
	pthread_mutex_t lock;     /* every call into ad */
	src_identity id;
	int fd;                   /* the inode opened, for its identity */
	char *base;               /* the file's name, for the log */
	int changed;              /* under lock: the identity moved (before or during a read) */
	int detached;             /* src_detach: ad is closed */
	ad_x_format x_format;     /* known without ad, once detached */
};

static src_identity identity_of(const struct stat *st)
{
	return (src_identity){st->st_dev, st->st_ino, st->st_size, st->st_mtim};
}

int src_same(src_identity a, src_identity b)
{
	return a.dev == b.dev && a.ino == b.ino && a.size == b.size &&
	       a.mtime.tv_sec == b.mtime.tv_sec && a.mtime.tv_nsec == b.mtime.tv_nsec;
}

static int moved(const source *s)
{
	struct stat st;
	return fstat(s->fd, &st) || !src_same(identity_of(&st), s->id);
}

/* Taking the lock also makes sure HDF5 stays silent in this thread: its
 * error-printing switch is per thread. A read after a change is not made. */
static void lock(source *s)
{
	pthread_mutex_lock(&s->lock);
	ad_thread_init();
	s->changed = s->detached || moved(s);
}

/* The end of a read made under the lock: its reason copied out before
 * another read can replace it. A change during the read voids it. */
static ex_err unlock(source *s, ad_err r, char *err, size_t errlen)
{
	if (s->changed || s->detached || moved(s)) {
		snprintf(err, errlen, "%s changed while mounted", s->base);
		r = AD_EIO;
	} else if (r != AD_OK) {
		snprintf(err, errlen, "%s", ad_last_error(s->ad));
	}
	pthread_mutex_unlock(&s->lock);
	return r == AD_OK ? EX_OK : r == AD_ENOMEM ? EX_ENOMEM : EX_EIO;
}

/* A read of s, made only while the file is the one opened. */
#define READ(s, call) (lock(s), unlock(s, (s)->changed ? AD_EIO : (call), err, errlen))

ex_err src_open(const char *path, source **out, char *err, size_t errlen)
{
	struct stat st;
	*out = NULL;
	/* Non-blocking: a FIFO is refused by ad_open, not waited on. */
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st)) {
		snprintf(err, errlen, "%s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return EX_EIO;
	}
	source *s = calloc(1, sizeof *s);
	const char *slash = strrchr(path, '/');
	if (!s || !(s->base = strdup(slash ? slash + 1 : path))) {
		free(s);
		close(fd);
		snprintf(err, errlen, "out of memory");
		return EX_ENOMEM;
	}
	s->fd = fd;
	s->id = identity_of(&st);
	pthread_mutex_init(&s->lock, NULL);
	if (ad_open(path, &s->ad, err, errlen) != AD_OK) {
		src_close(s);
		return EX_EINVAL;
	}
	/* ad_open went by the path: the inode it opened must be this one. */
	if (stat(path, &st) || !src_same(identity_of(&st), s->id)) {
		snprintf(err, errlen, "%s changed while it was opened", s->base);
		src_close(s);
		return EX_EIO;
	}
	s->x_format = ad_x_kind(s->ad);
	*out = s;
	return EX_OK;
}

void src_detach(source *s)
{
	lock(s);
	ad_close(s->ad);
	s->ad = NULL;
	close(s->fd); /* a replaced file's space is freed; detached is checked first */
	s->fd = -1;
	s->detached = 1;
	pthread_mutex_unlock(&s->lock);
}

void src_close(source *s)
{
	if (!s)
		return;
	ad_close(s->ad);
	close(s->fd);
	free(s->base);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

src_identity src_id(const source *s) { return s->id; }

ex_err src_select_expression(source *s, const char *which, char *err, size_t errlen)
{
	ex_err r = READ(s, ad_select_expression(s->ad, which));
	if (r == EX_OK)
		s->x_format = ad_x_kind(s->ad);
	return r == EX_OK ? EX_OK : EX_EINVAL;
}

size_t src_n_obs(const source *s) { return ad_n_obs(s->ad); }
size_t src_n_var(const source *s) { return ad_n_var(s->ad); }
ad_x_format src_x_format(const source *s) { return s->x_format; }
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
int src_has_graph(const source *s) { return ad_has_connectivities(s->ad); }

ex_err src_read_numeric(source *s, size_t col, float *out, char *err, size_t errlen)
{
	return READ(s, ad_obs_read_numeric(s->ad, col, out));
}

ex_err src_read_categorical(source *s, size_t col, ad_categorical *out, char *err,
			    size_t errlen)
{
	return READ(s, ad_obs_read_categorical(s->ad, col, out));
}

ex_err src_read_var_names(source *s, const char *column, char ***out, char *err,
			  size_t errlen)
{
	return READ(s, column ? ad_var_column(s->ad, column, out) : ad_var_names(s->ad, out));
}

ex_err src_read_obsm(source *s, size_t i, double *out, char *err, size_t errlen)
{
	return READ(s, ad_obsm_read(s->ad, i, out));
}

ex_err src_read_obsm_f32(source *s, size_t i, float *out, char *err, size_t errlen)
{
	return READ(s, ad_obsm_read_f32(s->ad, i, out));
}

ex_err src_read_graph(source *s, ad_graph *out, char *err, size_t errlen)
{
	return READ(s, ad_read_connectivities(s->ad, out));
}

ex_err src_read_x_column(source *s, size_t gene, float *out, char *err, size_t errlen)
{
	return READ(s, ad_x_read_gene(s->ad, gene, out));
}

typedef struct {
	source *s;
	ad_rowblock_fn fn;
	void *ctx;
} scan_call;

/* The scan holds the lock while it reads; the block is worked on without. */
static int unlocked_block(const ad_rowblock *b, void *arg)
{
	scan_call *c = arg;
	pthread_mutex_unlock(&c->s->lock);
	int stop = c->fn(b, c->ctx);
	lock(c->s);
	return stop || c->s->changed;
}

ex_err src_scan_x(source *s, size_t block_values, ad_rowblock_fn fn, void *ctx, char *err,
		  size_t errlen)
{
	scan_call c = {s, fn, ctx};
	return READ(s, ad_x_scan_rows(s->ad, block_values, unlocked_block, &c));
}
