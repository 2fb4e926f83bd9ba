/*
 * cn.c - the container calls that every back end shares: dispatch to the
 * back end, argument and bounds checks with their one-line errors, the
 * chunk grid, sorted listings, and the module's allocation helpers.
 *
 * It knows no storage format (no HDF5 header, no JSON): what it answers comes
 * from the cn_info a back end filled in when the array was opened. Sample:
 * cn_read(a, NULL, CN_I64, 5, 3, out) on a 4-element array fails here with
 * "X/indptr: values 5..8 beyond its length 4" before any back end runs.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cn_impl.h"
#include "zarr.h"

ad_err cn_fail_buf(char *err, size_t errlen, ad_err e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return e;
}

ad_err cn_fail(cn_store *s, ad_err e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->err, s->errlen, fmt, ap);
	va_end(ap);
	return e;
}

void *cn_mallocn(size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		return NULL;
	return malloc(n && size ? n * size : 1);
}

char *cn_strdup(const char *s)
{
	size_t len = strlen(s) + 1;
	char *d = malloc(len);

	return d ? memcpy(d, s, len) : NULL;
}

char *cn_path_join(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *p = malloc(la + lb + 2);

	if (!p)
		return NULL;
	memcpy(p, a, la);
	p[la] = '/';
	memcpy(p + la + 1, b, lb + 1);
	return p;
}

void cn_strings_free(char **s, size_t n)
{
	if (!s)
		return;
	for (size_t i = 0; i < n; i++)
		free(s[i]);
	free(s);
}

size_t cn_num_size(cn_num t)
{
	switch (t) {
	case CN_I8: return 1;
	case CN_I32:
	case CN_U32:
	case CN_F32: return 4;
	default: return 8;
	}
}

/* ---- the store ---- */

void cn_thread_init(void)
{
	cn_h5_thread_init();
}

ad_err cn_open(const char *path, char *err, size_t errlen, cn_store **out)
{
	*out = NULL;
	if (access(path, R_OK) != 0)
		return cn_fail_buf(err, errlen, AD_EIO, "cannot read the file: %s", strerror(errno));
	/* HDF5 is one file; a directory can only be a Zarr store. */
	struct stat st;
	if ((!stat(path, &st) && S_ISDIR(st.st_mode)) || zr_is_store(path))
		return cn_zarr_open(path, err, errlen, out);
	return cn_h5_open(path, err, errlen, out);
}

void cn_close(cn_store *s)
{
	if (s) {
		cn_claims_free(s);
		s->ops->close(s);
	}
}

int cn_fd(cn_store *s) { return s->ops->fd ? s->ops->fd(s) : -1; }
int cn_concurrent(const cn_store *s) { return s->ops->concurrent; }

void cn_set_lock(cn_store *s, void (*release)(void *), void (*retake)(void *), void *ctx)
{
	s->release = release && retake ? release : NULL;
	s->retake = release && retake ? retake : NULL;
	s->lock_ctx = ctx;
}
int cn_exists(cn_store *s, const char *path) { return s->ops->exists(s, path); }
cn_kind cn_kind_of(cn_store *s, const char *path) { return s->ops->kind(s, path); }
ad_err cn_check(cn_store *s, const char *path) { return s->ops->check(s, path); }

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

ad_err cn_list(cn_store *s, const char *path, char ***names, size_t *n)
{
	ad_err e = s->ops->list(s, path, names, n);

	if (!e && *n)
		qsort(*names, *n, sizeof **names, cmp_name);
	return e;
}

/* ---- attributes ---- */

int cn_attr_exists(cn_store *s, const char *path, const char *name)
{
	return s->ops->attr_exists(s, path, name);
}

int cn_attr_strings(cn_store *s, const char *path, const char *name, char ***out, size_t *n)
{
	*out = NULL;
	*n = 0;
	return s->ops->attr_strings(s, path, name, out, n);
}

int cn_attr_string(cn_store *s, const char *path, const char *name, char **out)
{
	char **v;
	size_t n;
	int r = cn_attr_strings(s, path, name, &v, &n);

	*out = NULL;
	if (r <= 0)
		return r;
	if (n != 1) {
		cn_strings_free(v, n);
		return -1;
	}
	*out = v[0];
	free(v);
	return 1;
}

int cn_attr_int64(cn_store *s, const char *path, const char *name, int64_t *out, size_t n)
{
	return s->ops->attr_int64(s, path, name, out, n);
}

int cn_attr_ref(cn_store *s, const char *path, const char *name, char **target)
{
	*target = NULL;
	return s->ops->attr_ref(s, path, name, target);
}

/* ---- arrays ---- */

ad_err cn_array_open_cached(cn_store *s, const char *path, size_t slots, size_t bytes,
			    cn_array **out)
{
	*out = NULL;
	if (!cn_exists(s, path))
		return cn_fail(s, AD_EFORMAT, "%s: missing", path);
	ad_err e = s->ops->array_open(s, path, slots, bytes, out);
	if (!e && (e = cn_claim_check(*out))) {
		cn_array_close(*out);
		*out = NULL;
	}
	return e;
}

ad_err cn_array_open(cn_store *s, const char *path, cn_array **out)
{
	return cn_array_open_cached(s, path, 0, 0, out);
}

void cn_array_close(cn_array *a)
{
	if (a)
		a->s->ops->array_close(a);
}

const cn_info *cn_array_info(const cn_array *a) { return &a->info; }
const char *cn_array_path(const cn_array *a) { return a->path; }

ad_err cn_member(cn_array *a, size_t i, char **name, cn_type *t)
{
	*name = NULL;
	return a->s->ops->member(a, i, name, t);
}

ad_err cn_member_type(cn_array *a, const char *name, cn_type *t)
{
	if (a->info.type.cls != CN_T_COMPOUND || a->s->ops->member_type(a, name, t) < 0)
		return cn_fail(a->s, AD_EFORMAT, "%s: no member '%s'", a->path, name);
	return AD_OK;
}

/* Check that [start, start + count) lies in a 1-d (or scalar) array. */
static ad_err check_range(cn_array *a, uint64_t start, uint64_t count)
{
	uint64_t len = a->info.rank == 1 ? a->info.shape[0] : 1;

	if (a->info.rank > 1)
		return cn_fail(a->s, AD_EFORMAT, "%s: expected a 1-d array", a->path);
	if (start > len || count > len - start)
		return cn_fail(a->s, AD_EFORMAT, "%s: values %llu..%llu beyond its length %llu",
			       a->path, (unsigned long long)start,
			       (unsigned long long)(start + count), (unsigned long long)len);
	return AD_OK;
}

ad_err cn_read(cn_array *a, const char *member, cn_num want, uint64_t start, uint64_t count,
	       void *out)
{
	ad_err e;

	if (count == 0)
		return AD_OK;
	e = check_range(a, start, count);
	return e ? e : a->s->ops->read(a, member, want, start, count, out);
}

ad_err cn_read_strings(cn_array *a, const char *member, uint64_t start, uint64_t count,
		       char **out)
{
	ad_err e;

	if (count == 0)
		return AD_OK;
	e = check_range(a, start, count);
	return e ? e : a->s->ops->read_strings(a, member, start, count, out);
}

ad_err cn_read_block(cn_array *a, const uint64_t *start, const uint64_t *count, cn_num want,
		     void *out)
{
	int rank = a->info.rank;

	if (rank < 1)
		return cn_read(a, NULL, want, 0, rank == 0, out);
	for (int i = 0; i < rank; i++) {
		if (!count[i])
			return AD_OK;
		if (start[i] > a->info.shape[i] || count[i] > a->info.shape[i] - start[i])
			return cn_fail(a->s, AD_EFORMAT, "%s: box beyond the shape in dimension %d",
				       a->path, i);
	}
	return a->s->ops->read_block(a, start, count, want, out);
}

/* ---- the chunk grid ---- */

/* The grid step along dimension i: the chunk, or the whole extent. */
static uint64_t step(const cn_array *a, int i)
{
	uint64_t c = a->info.chunked ? a->info.chunk[i] : a->info.shape[i];

	return c ? c : 1;
}

uint64_t cn_chunk_count(const cn_array *a)
{
	uint64_t n = 1;

	for (int i = 0; i < a->info.rank; i++) {
		uint64_t along = (a->info.shape[i] + step(a, i) - 1) / step(a, i);

		if (!along)
			return 0;
		n = along > UINT64_MAX / n ? UINT64_MAX : n * along;
	}
	return n;
}

void cn_chunk_box(const cn_array *a, uint64_t k, uint64_t *start, uint64_t *count)
{
	/* Last dimension fastest: C order. */
	for (int i = a->info.rank - 1; i >= 0; i--) {
		uint64_t st = step(a, i), along = (a->info.shape[i] + st - 1) / st;
		uint64_t pos = along ? k % along : 0;

		k = along ? k / along : 0;
		start[i] = pos * st;
		count[i] = a->info.shape[i] - start[i] < st ? a->info.shape[i] - start[i] : st;
	}
}

/* ---- chunks in two steps ---- */

ad_err cn_chunk_fetch(cn_array *a, uint64_t k, cn_chunk **out)
{
	uint64_t start[CN_MAX_RANK], count[CN_MAX_RANK], n = 1;
	struct cn_chunk *c;
	ad_err e;

	*out = NULL;
	if (!cn_convertible(&a->info.type))
		return cn_fail(a->s, AD_EUNSUPPORTED, "%s: chunks of non-numeric values", a->path);
	if (k >= cn_chunk_count(a))
		return cn_fail(a->s, AD_EFORMAT, "%s: chunk %llu of %llu does not exist", a->path,
			       (unsigned long long)k, (unsigned long long)cn_chunk_count(a));
	cn_chunk_box(a, k, start, count);
	for (int i = 0; i < a->info.rank; i++)
		n = count[i] && n > UINT64_MAX / count[i] ? UINT64_MAX : n * count[i];
	if (a->info.rank == CN_RANK_NULL)
		n = 0;
	if (n > SIZE_MAX / 8 || !(c = calloc(1, sizeof *c)))
		return cn_fail(a->s, AD_ENOMEM, "%s: out of memory", a->path);
	c->type = a->info.type;
	c->n = (size_t)n;
	snprintf(c->path, sizeof c->path, "%s", a->path);
	e = n ? a->s->ops->chunk_fetch(a, start, count, c) : AD_OK;
	if (e) {
		cn_chunk_free(c);
		return e;
	}
	*out = c;
	return AD_OK;
}

size_t cn_chunk_len(const cn_chunk *c) { return c->n; }
const char *cn_chunk_error(const cn_chunk *c) { return c->err; }

ad_err cn_chunk_decode(cn_chunk *c, cn_num want, void *out)
{
	void *plain = c->data;
	ad_err e = AD_OK;

	if (!c->n)
		return AD_OK;
	/* Values kept as stored: decoded straight into out, no second pass. */
	if (c->decode && cn_converts_as_is(&c->type, want))
		return c->decode(c, out);
	if (c->decode) {
		plain = cn_mallocn(c->n, c->type.size);
		if (!plain)
			return cn_fail_buf(c->err, sizeof c->err, AD_ENOMEM, "%s: out of memory",
					   c->path);
		e = c->decode(c, plain);
	}
	if (!e)
		cn_convert(&c->type, plain, c->n, want, out);
	if (plain != c->data)
		free(plain);
	return e;
}

void cn_chunk_free(cn_chunk *c)
{
	if (!c)
		return;
	free(c->data);
	free(c);
}

ad_err cn_read_chunk(cn_array *a, uint64_t k, cn_num want, void *out)
{
	cn_chunk *c;
	ad_err e = cn_chunk_fetch(a, k, &c);

	if (e)
		return e;
	e = cn_chunk_decode(c, want, out);
	if (e)
		cn_fail(a->s, e, "%s", c->err);
	cn_chunk_free(c);
	return e;
}
