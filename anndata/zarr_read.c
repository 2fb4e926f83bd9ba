/*
 * zarr_read.c - reading a region of an array: which chunks it touches, the
 * key of each, decoding a chunk through its pipeline (sharding, bytes
 * codecs, byte order, delta, strings, transpose), and copying the part
 * inside the region.
 *
 *   X/data, dimension_separator "/": chunk (3) of a 1-d array -> "X/data/3"
 *   v3 default encoding, chunk (1, 0)                       -> "X/c/1/0"
 *   sharded: inner chunk (5) of shards of 4 -> shard "c/1", index entry 1
 *
 * Each chunk read opens, reads and decodes on its own: no state is shared
 * between calls, so any number run at once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zarr_internal.h"

#define EMPTY UINT64_MAX  /* a shard index entry of an absent inner chunk */

/* Elements per chunk; check_chunk bounded it at parse time. */
static size_t chunk_elems(const zr_array *a)
{
	size_t n = 1;
	for (unsigned i = 0; i < a->ndim; i++)
		n *= (size_t)a->chunks[i];
	return n;
}

/* The key of the chunk (in the grid of grid[]) at coords. */
static void chunk_key(const zr_array *a, const uint64_t *coords, char *key, size_t len)
{
	const struct zr_pipe *p = a->pipe;
	size_t at = (size_t)snprintf(key, len, "%s%s%s", a->path, *a->path ? "/" : "",
				     p->key_prefix_c ? "c" : a->ndim ? "" : "0");

	for (unsigned i = 0; i < a->ndim && at < len; i++)
		at += (size_t)snprintf(key + at, len - at, "%s%llu",
				       i || p->key_prefix_c ? (char[2]){ p->separator, 0 } : "",
				       (unsigned long long)coords[i]);
}

static void swap_bytes(unsigned char *b, size_t n, unsigned size)
{
	for (size_t i = 0; i < n; i++, b += size)
		for (unsigned lo = 0, hi = size - 1; lo < hi; lo++, hi--) {
			unsigned char t = b[lo];
			b[lo] = b[hi];
			b[hi] = t;
		}
}

union num { int64_t i; uint64_t u; double f; };

static union num load(zr_type t, unsigned size, const unsigned char *p)
{
	union num v = { 0 };
	int8_t i1; int16_t i2; int32_t i4; uint8_t u1; uint16_t u2; uint32_t u4; float f4;

	switch (size * 8 + (unsigned)t) {
	case 8 + ZR_T_INT: memcpy(&i1, p, 1); v.i = i1; break;
	case 16 + ZR_T_INT: memcpy(&i2, p, 2); v.i = i2; break;
	case 32 + ZR_T_INT: memcpy(&i4, p, 4); v.i = i4; break;
	case 8 + ZR_T_UINT: memcpy(&u1, p, 1); v.u = u1; break;
	case 16 + ZR_T_UINT: memcpy(&u2, p, 2); v.u = u2; break;
	case 32 + ZR_T_UINT: memcpy(&u4, p, 4); v.u = u4; break;
	case 32 + ZR_T_FLOAT: memcpy(&f4, p, 4); v.f = f4; break;
	default: memcpy(&v, p, 8); break;  /* int64, uint64, float64 */
	}
	return v;
}

/* Undo one Delta filter: out[k] = in[0] + ... + in[k], in out's type (integers
 * wrap as numpy's do). */
static void undo_delta(const struct zr_delta *d, const unsigned char *in, unsigned char *out, size_t n)
{
	uint64_t acc = 0;
	double facc = 0;
	float f4acc = 0;

	for (size_t k = 0; k < n; k++, in += d->in_size, out += d->out_size) {
		union num v = load(d->in, d->in_size, in);
		double x = d->in == ZR_T_FLOAT ? v.f : d->in == ZR_T_INT ? (double)v.i : (double)v.u;
		if (d->out == ZR_T_FLOAT && d->out_size == 4) {
			f4acc += (float)x;
			memcpy(out, &f4acc, 4);
		} else if (d->out == ZR_T_FLOAT) {
			facc += x;
			memcpy(out, &facc, 8);
		} else {
			acc += d->in == ZR_T_FLOAT ? (uint64_t)(int64_t)v.f : v.u;
			memcpy(out, &acc, d->out_size);  /* little-endian: the low bytes */
		}
	}
}

/* Permute a decoded chunk stored in transposed order (encoded dimension i
 * is chunk dimension order[i]) back to C order. */
static zr_rc untranspose(const zr_array *a, unsigned char **buf, size_t n, char *err)
{
	const struct zr_pipe *p = a->pipe;
	size_t ostride[ZR_MAXDIM], step[ZR_MAXDIM], y[ZR_MAXDIM] = { 0 }, ext[ZR_MAXDIM];
	unsigned nd = a->ndim, size = a->size;
	unsigned char *out = cn_mallocn(n, size), *in = *buf;

	if (!out)
		return zr_fail(err, ZR_ENOMEM, "%s: out of memory", a->path);
	for (unsigned i = nd, s = 1; i-- > 0;) {
		ostride[i] = s;
		s *= (unsigned)a->chunks[i];
	}
	for (unsigned i = 0; i < nd; i++) {
		ext[i] = (size_t)a->chunks[p->transpose[i]];
		step[i] = ostride[p->transpose[i]];
	}
	size_t o = 0;
	for (size_t k = 0; k < n; k++) {
		memcpy(out + o * size, in + k * size, size);
		/* Next encoded coordinate, C order, and its output offset. */
		for (unsigned i = nd; i-- > 0;) {
			o += step[i];
			if (++y[i] < ext[i])
				break;
			o -= step[i] * ext[i];
			y[i] = 0;
		}
	}
	free(in);
	*buf = out;
	return ZR_OK;
}

/* Stored values of n elements (raw, len bytes) as delivered elements. */
static zr_rc to_elements(const zr_array *a, const char *what, unsigned char **raw, size_t len,
			 size_t n, char *err)
{
	const struct zr_pipe *p = a->pipe;

	if (p->storage == ZR_ST_NUM) {
		if (p->big_endian)
			swap_bytes(*raw, n, p->stored_size);
		for (unsigned k = 0; k < p->ndelta; k++) {
			const struct zr_delta *d = &p->delta[k];
			unsigned char *next = cn_mallocn(n, d->out_size);
			if (!next)
				return zr_fail(err, ZR_ENOMEM, "%s: out of memory", what);
			undo_delta(d, *raw, next, n);
			free(*raw);
			*raw = next;
		}
		return ZR_OK;
	}
	char **s = cn_mallocn(n, sizeof *s);
	if (!s)
		return zr_fail(err, ZR_ENOMEM, "%s: out of memory", what);
	zr_rc rc = ZR_OK;
	if (p->storage == ZR_ST_VLEN) {
		rc = zr_vlen_decode(what, *raw, len, n, s, err);
	} else {
		size_t i;
		int bad = 0;
		for (i = 0; i < n; i++) {
			const unsigned char *e = *raw + i * p->stored_size;
			s[i] = p->storage == ZR_ST_UCS4 ? zr_ucs4_utf8(e, p->width, p->big_endian, &bad) :
			       strndup((const char *)e, p->width);
			if (!s[i])
				break;
		}
		if (i < n) {
			rc = bad ? zr_fail(err, ZR_EFORMAT, "%s: element %zu is not Unicode", what, i) :
			     zr_fail(err, ZR_ENOMEM, "%s: out of memory", what);
			while (i--)
				free(s[i]);
		}
	}
	free(*raw);
	*raw = (unsigned char *)s;
	if (rc != ZR_OK) {
		free(s);
		*raw = NULL;
	}
	return rc;
}

/* A chunk's elements when it is absent: the fill value, repeated. */
static zr_rc fill_chunk(const zr_array *a, const char *what, unsigned char **out, char *err)
{
	const struct zr_pipe *p = a->pipe;
	size_t n = chunk_elems(a);

	if (!p->has_fill)
		return zr_fail(err, ZR_EFORMAT, "%s is missing and the array has no fill_value", what);
	unsigned char *buf = cn_mallocn(n, a->size);
	if (!buf)
		return zr_fail(err, ZR_ENOMEM, "%s: out of memory", what);
	for (size_t i = 0; i < n; i++) {
		if (a->type != ZR_T_STR) {
			memcpy(buf + i * a->size, p->fill, a->size);
			continue;
		}
		char *s = cn_strdup(p->fill_str);
		if (!s) {
			while (i--)
				free(((char **)buf)[i]);
			free(buf);
			return zr_fail(err, ZR_ENOMEM, "%s: out of memory", what);
		}
		((char **)buf)[i] = s;
	}
	*out = buf;
	return ZR_OK;
}

/* Decode one stored chunk (enc, n bytes) into delivered elements. */
static zr_rc decode(const zr_array *a, const char *what, void *enc, size_t n,
		    unsigned char **out, char *err)
{
	const struct zr_pipe *p = a->pipe;
	size_t elems = chunk_elems(a), raw = elems * p->stored_size;
	unsigned char *buf = enc;
	zr_rc rc = ZR_OK;

	for (unsigned k = 0; k < p->nb && rc == ZR_OK; k++) {
		int last = k + 1 == p->nb, fixed = p->storage != ZR_ST_VLEN;
		void *next;
		size_t len;
		rc = zr_bdecode(p->b[k], what, buf, n, last && fixed ? raw : 0,
				last && fixed ? raw : ZR_CHUNK_MAX, &next, &len, err);
		free(buf);
		buf = rc == ZR_OK ? next : NULL;
		n = len;
	}
	if (rc == ZR_OK && p->storage != ZR_ST_VLEN && n != raw)
		rc = zr_fail(err, ZR_EFORMAT, "%s holds %zu bytes, not %zu", what, n, raw);
	if (rc == ZR_OK)
		rc = to_elements(a, what, &buf, n, elems, err);
	if (rc == ZR_OK && p->transposed)
		rc = untranspose(a, &buf, elems, err);
	if (rc != ZR_OK) {
		free(buf);
		return rc;
	}
	*out = buf;
	return ZR_OK;
}

/* What a stored chunk of raw bytes may take, encoded: compressors add a
 * little to incompressible data; strings have no raw size. */
static size_t encoded_max(const zr_array *a)
{
	const struct zr_pipe *p = a->pipe;
	size_t raw = chunk_elems(a) * p->stored_size;
	return p->storage == ZR_ST_VLEN ? (size_t)ZR_CHUNK_MAX : raw + raw / 8 + 65536;
}

static uint64_t rd64(const unsigned char *b)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | b[i];
	return v;
}

/* The inner chunk at coords (inner grid) of a sharded array. */
static zr_rc read_inner(const zr_store *s, const zr_array *a, const uint64_t *coords,
			unsigned char **out, char *err)
{
	const struct zr_pipe *p = a->pipe;
	const struct zr_kv *kv = zr_store_kv(s);
	uint64_t shard[ZR_MAXDIM], lin = 0, total = 1, size;
	char key[4096], what[4200];

	for (unsigned i = 0; i < a->ndim; i++) {
		uint64_t per = p->shard[i] / a->chunks[i];
		shard[i] = coords[i] / per;
		lin = lin * per + coords[i] % per;
		total *= per;
	}
	chunk_key(a, shard, key, sizeof key);
	snprintf(what, sizeof what, "%s: shard %s, inner chunk %llu", a->path,
		 key + strlen(a->path) + (*a->path ? 1 : 0), (unsigned long long)lin);
	zr_rc rc = zr_kv_size(kv, key, &size, err);
	if (rc == ZR_ENOENT)
		return fill_chunk(a, what, out, err);
	if (rc != ZR_OK)
		return rc;
	size_t isize = (size_t)total * 16 + (p->index_crc32c ? 4 : 0);
	if (size < isize)
		return zr_fail(err, ZR_EFORMAT, "%s: shard smaller than its index", what);
	unsigned char *index = malloc(isize);
	if (!index)
		return zr_fail(err, ZR_ENOMEM, "%s: out of memory", what);
	rc = zr_kv_get_range(kv, key, p->index_at_start ? 0 : size - isize, isize, index, err);
	if (rc == ZR_OK && p->index_crc32c &&
	    zr_crc32c(index, isize - 4) != (uint32_t)(rd64(index + isize - 8) >> 32))
		rc = zr_fail(err, ZR_EFORMAT, "%s: shard index fails its crc32c", what);
	uint64_t off = rc == ZR_OK ? rd64(index + lin * 16) : 0, len = rc == ZR_OK ? rd64(index + lin * 16 + 8) : 0;
	free(index);
	if (rc != ZR_OK)
		return rc;
	if (off == EMPTY && len == EMPTY)
		return fill_chunk(a, what, out, err);
	if (off > size || len > size - off || len > encoded_max(a))
		return zr_fail(err, ZR_EFORMAT, "%s: index entry outside the shard", what);
	void *enc = malloc(len ? (size_t)len : 1);
	if (!enc)
		return zr_fail(err, ZR_ENOMEM, "%s: out of memory", what);
	if ((rc = zr_kv_get_range(kv, key, off, (size_t)len, enc, err)) != ZR_OK) {
		free(enc);
		return rc;
	}
	return decode(a, what, enc, (size_t)len, out, err);
}

zr_rc zr_read_chunk(const zr_store *s, const zr_array *a, const uint64_t *coords,
		    unsigned char **out, char *err)
{
	char key[4096], what[4200];
	void *enc;
	size_t n;

	if (a->pipe->sharded)
		return read_inner(s, a, coords, out, err);
	chunk_key(a, coords, key, sizeof key);
	snprintf(what, sizeof what, "%s: chunk %s", a->path, key + strlen(a->path) + (*a->path ? 1 : 0));
	zr_rc rc = zr_kv_get(zr_store_kv(s), key, encoded_max(a), &enc, &n, err);
	if (rc == ZR_ENOENT)
		return fill_chunk(a, what, out, err);
	if (rc != ZR_OK) {
		/* The store names the key; name the array too. */
		char why[ZR_ERRLEN];
		snprintf(why, sizeof why, "%s", err);
		return zr_fail(err, rc, "%s: %s", a->path, why);
	}
	return decode(a, what, enc, n, out, err);
}

int zr_chunk_stored(const zr_store *s, const zr_array *a, const uint64_t *coords)
{
	uint64_t at[ZR_MAXDIM], size;
	char key[4096], err[ZR_ERRLEN];

	for (unsigned i = 0; i < a->ndim; i++)
		at[i] = a->pipe->sharded ? coords[i] / (a->pipe->shard[i] / a->chunks[i]) : coords[i];
	chunk_key(a, at, key, sizeof key);
	return zr_kv_size(zr_store_kv(s), key, &size, err) == ZR_OK;
}

void zr_place(const zr_array *a, const uint64_t *c, unsigned char *buf, const uint64_t *start,
	      const uint64_t *count, unsigned char *out)
{
	unsigned nd = a->ndim, size = a->size;
	uint64_t lo[ZR_MAXDIM], hi[ZR_MAXDIM], x[ZR_MAXDIM];

	for (unsigned i = 0; i < nd; i++) {
		uint64_t c0 = c[i] * a->chunks[i], c1 = c0 + a->chunks[i];
		lo[i] = start[i] > c0 ? start[i] : c0;
		hi[i] = start[i] + count[i] < c1 ? start[i] + count[i] : c1;
		x[i] = lo[i];
	}
	size_t run = nd ? (size_t)(hi[nd - 1] - lo[nd - 1]) : 1;
	for (;;) {
		size_t bo = 0, oo = 0;
		for (unsigned i = 0; i < nd; i++) {
			bo = bo * (size_t)a->chunks[i] + (size_t)(x[i] - c[i] * a->chunks[i]);
			oo = oo * (size_t)count[i] + (size_t)(x[i] - start[i]);
		}
		memcpy(out + oo * size, buf + bo * size, run * size);
		if (a->type == ZR_T_STR)  /* moved: the chunk no longer owns them */
			memset(buf + bo * size, 0, run * size);
		unsigned i = nd ? nd - 1 : 0;
		while (i-- > 0) {
			if (++x[i] < hi[i])
				break;
			x[i] = lo[i];
		}
		if (i == (unsigned)-1)
			return;
	}
}

static void free_strings(char **s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(s[i]);
}

void zr_cover(const zr_array *a, const uint64_t *start, const uint64_t *count,
	      uint64_t *lo, uint64_t *hi, uint64_t *c)
{
	for (unsigned i = 0; i < a->ndim; i++) {
		lo[i] = c[i] = start[i] / a->chunks[i];
		hi[i] = (start[i] + count[i] - 1) / a->chunks[i];
	}
}

int zr_step(const zr_array *a, uint64_t *c, const uint64_t *lo, const uint64_t *hi)
{
	for (unsigned i = a->ndim; i-- > 0;) {
		if (++c[i] <= hi[i])
			return 1;
		c[i] = lo[i];
	}
	return 0;
}

zr_rc zr_read(const zr_store *s, const zr_array *a, const uint64_t *start,
	      const uint64_t *count, void *out, char *err)
{
	uint64_t lo[ZR_MAXDIM], hi[ZR_MAXDIM], c[ZR_MAXDIM];
	size_t total = 1, elems = chunk_elems(a);

	for (unsigned i = 0; i < a->ndim; i++) {
		if (start[i] > a->shape[i] || count[i] > a->shape[i] - start[i])
			return zr_fail(err, ZR_EFORMAT, "%s: region beyond the shape", a->path);
		if (!count[i])
			return ZR_OK;
		total *= (size_t)count[i];
	}
	zr_cover(a, start, count, lo, hi, c);
	if (a->type == ZR_T_STR)
		memset(out, 0, total * sizeof(char *));
	do {
		unsigned char *buf;
		zr_rc rc = zr_read_chunk(s, a, c, &buf, err);
		if (rc != ZR_OK) {
			if (a->type == ZR_T_STR)
				free_strings(out, total);
			return rc;
		}
		zr_place(a, c, buf, start, count, out);
		if (a->type == ZR_T_STR)
			free_strings((char **)buf, elems);
		free(buf);
	} while (zr_step(a, c, lo, hi));
	return ZR_OK;
}
