/*
 * source.c - a source over an ad_file: see source.h. It owns the HDF5 lock;
 * nothing outside this file calls anndata's reading functions or holds the
 * lock, so an HDF5 call never runs in two threads at once and a slow read
 * holds up only other reads, never lookups or files already derived.
 */
#include "source.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct source {
	ad_file *ad;
	pthread_mutex_t lock;     /* every call into ad */
	src_identity id;
};

/* Taking the lock also makes sure HDF5 stays silent in this thread: its
 * error-printing switch is per thread. */
static void lock(source *s)
{
	pthread_mutex_lock(&s->lock);
	ad_thread_init();
}

/* The pair ad_set_lock is given: the X scans let go of the lock while
 * they decode chunks already read. */
static void release_lock(void *s) { pthread_mutex_unlock(&((source *)s)->lock); }
static void retake_lock(void *s) { lock(s); }

/* The end of a read made under the lock: its reason copied out before
 * another read can replace it. */
static ex_err unlock(source *s, ad_err r, char *err, size_t errlen)
{
	if (r != AD_OK)
		snprintf(err, errlen, "%s", ad_last_error(s->ad));
	pthread_mutex_unlock(&s->lock);
	return r == AD_OK ? EX_OK : r == AD_ENOMEM ? EX_ENOMEM : EX_EIO;
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
	s->id = (src_identity){st.st_dev, st.st_ino, st.st_size, st.st_mtim};
	pthread_mutex_init(&s->lock, NULL);
	if (ad_open(path, &s->ad, err, errlen) != AD_OK) {
		src_close(s);
		return EX_EINVAL;
	}
	ad_set_lock(s->ad, release_lock, retake_lock, s);
	*out = s;
	return EX_OK;
}

void src_close(source *s)
{
	if (!s)
		return;
	ad_close(s->ad);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

src_identity src_id(const source *s) { return s->id; }

ex_err src_select_expression(source *s, const char *which, char *err, size_t errlen)
{
	lock(s);
	ex_err r = unlock(s, ad_select_expression(s->ad, which), err, errlen);
	return r == EX_OK ? EX_OK : EX_EINVAL;
}

size_t src_n_obs(const source *s) { return ad_n_obs(s->ad); }
size_t src_n_var(const source *s) { return ad_n_var(s->ad); }
ad_x_format src_x_format(const source *s) { return ad_x_kind(s->ad); }
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
	lock(s);
	return unlock(s, ad_obs_read_numeric(s->ad, col, out), err, errlen);
}

ex_err src_read_categorical(source *s, size_t col, ad_categorical *out, char *err,
			    size_t errlen)
{
	lock(s);
	return unlock(s, ad_obs_read_categorical(s->ad, col, out), err, errlen);
}

ex_err src_read_var_names(source *s, const char *column, char ***out, char *err,
			  size_t errlen)
{
	lock(s);
	ad_err r = column ? ad_var_column(s->ad, column, out) : ad_var_names(s->ad, out);
	return unlock(s, r, err, errlen);
}

ex_err src_read_obsm(source *s, size_t i, double *out, char *err, size_t errlen)
{
	lock(s);
	return unlock(s, ad_obsm_read(s->ad, i, out), err, errlen);
}

ex_err src_read_obsm_f32(source *s, size_t i, float *out, char *err, size_t errlen)
{
	lock(s);
	return unlock(s, ad_obsm_read_f32(s->ad, i, out), err, errlen);
}

ex_err src_read_graph(source *s, ad_graph *out, char *err, size_t errlen)
{
	lock(s);
	return unlock(s, ad_read_connectivities(s->ad, out), err, errlen);
}

ex_err src_read_x_column(source *s, size_t gene, float *out, char *err, size_t errlen)
{
	lock(s);
	return unlock(s, ad_x_read_gene(s->ad, gene, out), err, errlen);
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
	return stop;
}

ex_err src_scan_x(source *s, size_t block_values, ad_rowblock_fn fn, void *ctx, char *err,
		  size_t errlen)
{
	scan_call c = {s, fn, ctx};
	lock(s);
	return unlock(s, ad_x_scan_rows(s->ad, block_values, unlocked_block, &c), err, errlen);
}
