/*
 * cn_zarr.c - the Zarr back end of the container layer: a .zarr directory
 * or .zarr.zip (v2 or v3) through the Zarr reader (zarr.h).
 *
 * Groups, arrays and attributes map one to one: a JSON string attribute is
 * a string, a list of strings a 1-d string attribute, a whole number (or a
 * bool, as anndata writes "ordered") an integer. Zarr has no object
 * references and no compound arrays, so those calls answer "none".
 *
 *   cn_open("pbmc.zarr") -> cn_zarr_open -> zr_open (all metadata, once)
 *   cn_read_block(X, rows 0..175) -> the chunks of that row, decoded once
 *     (a small cache per array, sized by cn_array_open_cached), converted
 *
 * The store is read-only and needs no lock, so chunk reads are concurrent:
 * cn_chunk_fetch only notes the chunk, and cn_chunk_decode reads and
 * decodes it in the caller's thread, its errors in the chunk's own buffer.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cn_impl.h"
#include "zarr.h"

/* Decoded chunks an array keeps by default (HDF5 keeps 1 MiB). */
#define DEFAULT_SLOTS 16
#define DEFAULT_BYTES ((size_t)8 << 20)

struct zarr_store {
	struct cn_store base;
	zr_store *zr;
};

struct slot {
	uint64_t k;        /* linear chunk number */
	unsigned char *data;
	uint64_t used;     /* the tick of its last use */
};

struct zarr_array {
	struct cn_array base;
	const zr_array *za;
	struct slot *slots;
	size_t nslots, filled, max_bytes, chunk_bytes;
	uint64_t tick;
};

static zr_store *zr_of(cn_store *s)
{
	return ((struct zarr_store *)s)->zr;
}

static ad_err code(zr_rc rc)
{
	switch (rc) {
	case ZR_OK: return AD_OK;
	case ZR_ENOMEM: return AD_ENOMEM;
	case ZR_EIO: return AD_EIO;
	case ZR_EUNSUPPORTED: return AD_EUNSUPPORTED;
	default: return AD_EFORMAT;
	}
}

/* Paths may start with '/'; the Zarr reader's do not. */
static const char *rel(const char *path)
{
	while (*path == '/')
		path++;
	return path;
}

static void zarr_close(cn_store *s)
{
	zr_close(zr_of(s));
	free(s);
}

static int zarr_exists(cn_store *s, const char *path)
{
	return zr_kind_at(zr_of(s), rel(path)) != ZR_NONE;
}

static cn_kind zarr_kind(cn_store *s, const char *path)
{
	switch (zr_kind_at(zr_of(s), rel(path))) {
	case ZR_GROUP: return CN_GROUP;
	case ZR_ARRAY: return CN_ARRAY;
	default: return CN_ABSENT;
	}
}

/* Nothing in a store leads outside it: no key follows a link (zarr.h). */
static ad_err zarr_check(cn_store *s, const char *path)
{
	(void)s, (void)path;
	return AD_OK;
}

static ad_err zarr_list(cn_store *s, const char *path, char ***names, size_t *n)
{
	const char **kids;

	if (zr_kind_at(zr_of(s), rel(path)) != ZR_GROUP)
		return cn_fail(s, AD_EFORMAT, "%s: not a group", path);
	*n = zr_children(zr_of(s), rel(path), &kids);
	*names = cn_mallocn(*n, sizeof **names);
	for (size_t i = 0; *names && i < *n; i++)
		if (!((*names)[i] = cn_strdup(kids[i]))) {
			cn_strings_free(*names, i);
			*names = NULL;
		}
	free(kids);
	if (!*names) {
		*n = 0;
		return cn_fail(s, AD_ENOMEM, "%s: out of memory", path);
	}
	return AD_OK;
}

static const cJSON *attr(cn_store *s, const char *path, const char *name)
{
	return cJSON_GetObjectItemCaseSensitive(zr_attrs(zr_of(s), rel(path)), name);
}

static int zarr_attr_exists(cn_store *s, const char *path, const char *name)
{
	return attr(s, path, name) != NULL;
}

static int zarr_attr_strings(cn_store *s, const char *path, const char *name, char ***out,
			     size_t *n)
{
	const cJSON *j = attr(s, path, name);
	int len = cJSON_IsArray(j) ? cJSON_GetArraySize(j) : 1;

	if (!j)
		return 0;
	if (!cJSON_IsString(j) && !cJSON_IsArray(j))
		return -1;
	if (!(*out = cn_mallocn((size_t)len, sizeof **out)))
		return -1;
	const cJSON *e = cJSON_IsArray(j) ? j->child : j;
	for (int i = 0; i < len; i++, e = e->next)
		if (!cJSON_IsString(e) || !((*out)[i] = cn_strdup(e->valuestring))) {
			cn_strings_free(*out, (size_t)i);
			*out = NULL;
			return -1;
		}
	*n = (size_t)len;
	return 1;
}

static int whole(const cJSON *j, int64_t *v)
{
	if (cJSON_IsBool(j)) {
		*v = cJSON_IsTrue(j);
		return 1;
	}
	/* NaN and the infinities (zarr_json.c) and numbers out of range are
	 * no integers, and may not be cast to one. */
	if (!cJSON_IsNumber(j) || !(fabs(j->valuedouble) < 9223372036854775808.0) ||
	    j->valuedouble != (double)(int64_t)j->valuedouble)
		return 0;
	*v = (int64_t)j->valuedouble;
	return 1;
}

static int zarr_attr_int64(cn_store *s, const char *path, const char *name, int64_t *out,
			   size_t n)
{
	const cJSON *j = attr(s, path, name);

	if (!j)
		return 0;
	if (!cJSON_IsArray(j))
		return n == 1 && whole(j, out) ? 1 : -1;
	if ((size_t)cJSON_GetArraySize(j) != n)
		return -1;
	size_t i = 0;
	for (const cJSON *e = j->child; e; e = e->next)
		if (!whole(e, &out[i++]))
			return -1;
	return 1;
}

static int zarr_attr_ref(cn_store *s, const char *path, const char *name, char **target)
{
	(void)s, (void)path, (void)name, (void)target;
	return 0;  /* Zarr has no object references */
}

/* ---- arrays ---- */

static ad_err zarr_array_open(cn_store *s, const char *path, size_t slots, size_t bytes,
			      cn_array **out)
{
	char err[ZR_ERRLEN];
	const zr_array *za;

	if (zr_kind_at(zr_of(s), rel(path)) != ZR_ARRAY)
		return cn_fail(s, AD_EFORMAT, "%s: not a dataset", path);
	zr_rc rc = zr_array_get(zr_of(s), rel(path), &za, err);
	if (rc != ZR_OK)
		return cn_fail(s, code(rc), "%s", err);
	struct zarr_array *a = calloc(1, sizeof *a);
	if (!a || !(a->base.path = cn_strdup(path))) {
		free(a);
		return cn_fail(s, AD_ENOMEM, "%s: out of memory", path);
	}
	a->base.s = s;
	a->za = za;
	cn_info *in = &a->base.info;
	static const cn_class cls[] = { [ZR_T_BOOL] = CN_T_BOOL, [ZR_T_INT] = CN_T_INT,
					[ZR_T_UINT] = CN_T_UINT, [ZR_T_FLOAT] = CN_T_FLOAT,
					[ZR_T_STR] = CN_T_STRING };
	in->type.cls = cls[za->type];
	in->type.size = za->type == ZR_T_STR && za->width ? za->width : za->size;
	in->type.vlen = za->type == ZR_T_STR && !za->width;
	in->rank = (int)za->ndim;
	in->chunked = 1;
	memcpy(in->shape, za->shape, sizeof in->shape);
	memcpy(in->chunk, za->chunks, sizeof in->chunk);
	a->chunk_bytes = za->size;
	for (unsigned i = 0; i < za->ndim; i++)
		a->chunk_bytes *= (size_t)za->chunks[i];
	a->nslots = slots ? slots : DEFAULT_SLOTS;
	a->max_bytes = bytes ? bytes : DEFAULT_BYTES;
	if (a->nslots > a->max_bytes / (a->chunk_bytes ? a->chunk_bytes : 1))
		a->nslots = a->max_bytes / (a->chunk_bytes ? a->chunk_bytes : 1);
	if (za->type == ZR_T_STR)
		a->nslots = 0;  /* strings are read once, moved out of their chunk */
	if (a->nslots && !(a->slots = calloc(a->nslots, sizeof *a->slots)))
		a->nslots = 0;
	*out = &a->base;
	return AD_OK;
}

static void zarr_array_close(cn_array *ca)
{
	struct zarr_array *a = (struct zarr_array *)ca;

	for (size_t i = 0; i < a->filled; i++)
		free(a->slots[i].data);
	free(a->slots);
	free(a->base.path);
	free(a);
}

static ad_err zarr_member(cn_array *a, size_t i, char **name, cn_type *t)
{
	(void)i, (void)name, (void)t;
	return cn_fail(a->s, AD_EFORMAT, "%s: not a compound array", a->path);
}

static int zarr_member_type(cn_array *a, const char *name, cn_type *t)
{
	(void)a, (void)name, (void)t;
	return -1;
}

/* The decoded chunk at grid coords (linear number k): from the cache, or
 * read and kept there (evicting the least recently used). *owned is set
 * when the caller must free it. */
static ad_err chunk(struct zarr_array *a, const uint64_t *coords, uint64_t k,
		    unsigned char **out, int *owned)
{
	char err[ZR_ERRLEN];

	*owned = 0;
	for (size_t i = 0; i < a->filled; i++)
		if (a->slots[i].k == k) {
			a->slots[i].used = ++a->tick;
			*out = a->slots[i].data;
			return AD_OK;
		}
	zr_rc rc = zr_read_chunk(zr_of(a->base.s), a->za, coords, out, err);
	if (rc != ZR_OK)
		return cn_fail(a->base.s, code(rc), "%s", err);
	*owned = a->nslots == 0;
	if (*owned)
		return AD_OK;
	size_t victim = a->filled;
	if (a->filled == a->nslots) {
		victim = 0;
		for (size_t i = 1; i < a->filled; i++)
			if (a->slots[i].used < a->slots[victim].used)
				victim = i;
		free(a->slots[victim].data);
	} else {
		a->filled++;
	}
	a->slots[victim] = (struct slot){ k, *out, ++a->tick };
	return AD_OK;
}

/* The box start/count as stored values (native order) in buf. */
static ad_err read_box(struct zarr_array *a, const uint64_t *start, const uint64_t *count,
		       unsigned char *buf)
{
	const zr_array *za = a->za;
	uint64_t lo[ZR_MAXDIM], hi[ZR_MAXDIM], c[ZR_MAXDIM];

	zr_cover(za, start, count, lo, hi, c);
	do {
		uint64_t k = 0;  /* the chunk's number in C order, its cache key */
		for (unsigned i = 0; i < za->ndim; i++)
			k = k * ((za->shape[i] + za->chunks[i] - 1) / za->chunks[i]) + c[i];
		unsigned char *data;
		int owned;
		ad_err e = chunk(a, c, k, &data, &owned);
		if (e)
			return e;
		zr_place(za, c, data, start, count, buf);
		if (owned)
			free(data);
	} while (zr_step(za, c, lo, hi));
	return AD_OK;
}

static ad_err zarr_read_block(cn_array *ca, const uint64_t *start, const uint64_t *count,
			      cn_num want, void *out)
{
	struct zarr_array *a = (struct zarr_array *)ca;
	size_t n = 1;

	if (!cn_convertible(&ca->info.type))
		return cn_fail(ca->s, AD_EFORMAT, "%s: values are not numbers", ca->path);
	for (int i = 0; i < ca->info.rank; i++)
		n *= (size_t)count[i];
	unsigned char *buf = cn_mallocn(n, a->za->size);
	if (!buf)
		return cn_fail(ca->s, AD_ENOMEM, "%s: out of memory", ca->path);
	ad_err e = read_box(a, start, count, buf);
	if (!e)
		cn_convert(&ca->info.type, buf, n, want, out);
	free(buf);
	return e;
}

static ad_err zarr_read(cn_array *a, const char *member, cn_num want, uint64_t start,
			uint64_t count, void *out)
{
	if (member)
		return cn_fail(a->s, AD_EFORMAT, "%s: no member '%s'", a->path, member);
	return zarr_read_block(a, &start, &count, want, out);
}

static ad_err zarr_read_strings(cn_array *ca, const char *member, uint64_t start,
				uint64_t count, char **out)
{
	struct zarr_array *a = (struct zarr_array *)ca;
	char err[ZR_ERRLEN];

	if (member)
		return cn_fail(ca->s, AD_EFORMAT, "%s: no member '%s'", ca->path, member);
	if (a->za->type != ZR_T_STR)
		return cn_fail(ca->s, AD_EFORMAT, "%s: not strings", ca->path);
	zr_rc rc = zr_read(zr_of(ca->s), a->za, &start, &count, out, err);
	return rc == ZR_OK ? AD_OK : cn_fail(ca->s, code(rc), "%s", err);
}

/* ---- chunks, read and decoded in the decoding thread ---- */

struct pending {
	zr_store *zr;
	const zr_array *za;
	uint64_t start[ZR_MAXDIM], count[ZR_MAXDIM];
};

static ad_err decode_pending(struct cn_chunk *c, void *plain)
{
	const struct pending *p = c->data;
	char err[ZR_ERRLEN];
	zr_rc rc = zr_read(p->zr, p->za, p->start, p->count, plain, err);

	return rc == ZR_OK ? AD_OK : cn_fail_buf(c->err, sizeof c->err, code(rc), "%s", err);
}

static ad_err zarr_chunk_fetch(cn_array *ca, const uint64_t *start, const uint64_t *count,
			       struct cn_chunk *c)
{
	struct zarr_array *a = (struct zarr_array *)ca;
	struct pending *p = calloc(1, sizeof *p);

	if (!p)
		return cn_fail(ca->s, AD_ENOMEM, "%s: out of memory", ca->path);
	p->zr = zr_of(ca->s);
	p->za = a->za;
	memcpy(p->start, start, a->za->ndim * sizeof *start);
	memcpy(p->count, count, a->za->ndim * sizeof *count);
	c->data = p;
	c->size = sizeof *p;
	c->decode = decode_pending;
	return AD_OK;
}

/* At most this many chunk positions are looked up for cn_claim.c; a
 * larger grid is sampled evenly and the count scaled. */
#define HELD_PROBES ((uint64_t)1 << 16)

/* The chunks of a the store keeps (a missing one reads as the fill value),
 * in decoded bytes: counted until they reach need. */
static uint64_t zarr_held(cn_array *ca, uint64_t need)
{
	const zr_array *za = ((struct zarr_array *)ca)->za;
	uint64_t grid[ZR_MAXDIM], total = 1, coords[ZR_MAXDIM];
	uint64_t per = ((struct zarr_array *)ca)->chunk_bytes, held = 0;

	for (unsigned i = 0; i < za->ndim; i++) {
		grid[i] = za->shape[i] / za->chunks[i] + (za->shape[i] % za->chunks[i] != 0);
		total = grid[i] && total > UINT64_MAX / grid[i] ? UINT64_MAX : total * grid[i];
	}
	uint64_t probes = total < HELD_PROBES ? total : HELD_PROBES, step = total / (probes ? probes : 1);
	if (per > UINT64_MAX / (step ? step : 1))
		per = UINT64_MAX;
	else
		per *= step;
	for (uint64_t j = 0; j < probes && held < need; j++) {
		uint64_t k = j * step;
		for (unsigned i = za->ndim; i-- > 0;) {
			coords[i] = k % grid[i];
			k /= grid[i];
		}
		if (zr_chunk_stored(zr_of(ca->s), za, coords))
			held = held > UINT64_MAX - per ? UINT64_MAX : held + per;
	}
	return held;
}

static const struct cn_ops zarr_ops = {
	.close = zarr_close,
	.exists = zarr_exists,
	.kind = zarr_kind,
	.check = zarr_check,
	.list = zarr_list,
	.attr_exists = zarr_attr_exists,
	.attr_strings = zarr_attr_strings,
	.attr_int64 = zarr_attr_int64,
	.attr_ref = zarr_attr_ref,
	.array_open = zarr_array_open,
	.array_close = zarr_array_close,
	.member = zarr_member,
	.member_type = zarr_member_type,
	.read = zarr_read,
	.read_strings = zarr_read_strings,
	.read_block = zarr_read_block,
	.chunk_fetch = zarr_chunk_fetch,
	.held = zarr_held,
	.concurrent = 1,
};

ad_err cn_zarr_open(const char *path, char *err, size_t errlen, cn_store **out)
{
	char why[ZR_ERRLEN];
	struct zarr_store *s = calloc(1, sizeof *s);

	if (!s)
		return cn_fail_buf(err, errlen, AD_ENOMEM, "out of memory");
	zr_rc rc = zr_open(path, &s->zr, why);
	if (rc != ZR_OK) {
		free(s);
		return cn_fail_buf(err, errlen, code(rc), "%s", why);
	}
	s->base.ops = &zarr_ops;
	s->base.err = err;
	s->base.errlen = errlen;
	*out = &s->base;
	return AD_OK;
}
