/*
 * zarr_dtype.c - an array's metadata turned into what reading needs: shape,
 * chunk grid, data type, fill value and the codec pipeline (struct zr_pipe).
 *
 *   v2 .zarray:   {"dtype": "<f4", "compressor": {"id": "blosc", ...},
 *                  "filters": null, "dimension_separator": "/", ...}
 *   v3 zarr.json: {"data_type": "float32", "codecs": [{"name": "bytes", ...},
 *                  {"name": "zstd", ...}], "chunk_key_encoding": ...}
 *
 * Everything is checked here, once, so that reading can trust it: ranks,
 * chunk sizes (a decoded chunk is at most ZR_CHUNK_MAX bytes), codec names
 * and their order. Errors name the array and the field or codec:
 * "X/data: unknown compressor 'foo'".
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zarr_internal.h"

/* A JSON number that is a whole count in [0, 2^53]. */
int zr_json_count(const cJSON *j, uint64_t *out)
{
	if (!cJSON_IsNumber(j) || !(j->valuedouble >= 0) || j->valuedouble > 9007199254740992.0 ||
	    j->valuedouble != floor(j->valuedouble))
		return 0;
	*out = (uint64_t)j->valuedouble;
	return 1;
}

const char *zr_json_str(const cJSON *obj, const char *key)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(obj, key);
	return cJSON_IsString(j) ? j->valuestring : NULL;
}

/* A list of ndim counts (each >= min) into out; ndim from the list when *ndim is 0. */
zr_rc zr_parse_dims(const zr_array *a, const cJSON *list, const char *field,
		    uint64_t min, unsigned *ndim, uint64_t *out, char *err)
{
	if (!cJSON_IsArray(list))
		return zr_fail(err, ZR_EFORMAT, "%s: %s is not a list", a->path, field);
	int n = cJSON_GetArraySize(list);
	if (n > ZR_MAXDIM)
		return zr_fail(err, ZR_EUNSUPPORTED, "%s: %d dimensions (at most %d)", a->path, n, ZR_MAXDIM);
	if (*ndim != (unsigned)n && (*ndim || field[0] != 's'))
		return zr_fail(err, ZR_EFORMAT, "%s: %s has %d dimensions, the shape %u",
			       a->path, field, n, *ndim);
	*ndim = (unsigned)n;
	int i = 0;
	for (const cJSON *j = list->child; j; j = j->next, i++)
		if (!zr_json_count(j, &out[i]) || out[i] < min)
			return zr_fail(err, ZR_EFORMAT, "%s: %s[%d] is not a valid extent", a->path, field, i);
	return ZR_OK;
}

/* The decoded chunk must fit ZR_CHUNK_MAX; also for the stored elements. */
zr_rc zr_check_chunk(const zr_array *a, const uint64_t *chunks, unsigned stored, char *err)
{
	unsigned __int128 n = 1;
	unsigned biggest = a->size > stored ? a->size : stored;

	for (unsigned i = 0; i < a->ndim; i++) {
		n *= chunks[i];
		if (n * biggest > ZR_CHUNK_MAX)
			return zr_fail(err, ZR_EUNSUPPORTED, "%s: a chunk of more than %llu bytes",
				       a->path, (unsigned long long)ZR_CHUNK_MAX);
	}
	return ZR_OK;
}

/* ---- data types ---- */

void zr_set_num(zr_array *a, struct zr_pipe *p, zr_type t, unsigned size, int big)
{
	a->type = p->stored_type = t;
	a->size = p->stored_size = size;
	p->storage = ZR_ST_NUM;
	p->big_endian = big && size > 1;
}

void zr_set_str(zr_array *a, struct zr_pipe *p, zr_storage st, unsigned width)
{
	a->type = ZR_T_STR;
	a->size = sizeof(char *);
	a->width = width;
	p->storage = st;
	p->width = width;
	p->stored_size = st == ZR_ST_UCS4 ? 4 * width : width;
}

/* A numpy type string: "<f4", "|b1", ">i8", "<U12", "|S3", "|O". */
static int numpy_type(const char *s, zr_type *t, unsigned *size, char *kind, int *big)
{
	char *end;

	if (!s || !strchr("<>|=", s[0]) || !s[1])
		return 0;
	*big = s[0] == '>';
	*kind = s[1];
	if (s[1] == 'O' && !s[2]) {
		*size = 0;
		return 1;
	}
	unsigned long n = strtoul(s + 2, &end, 10);
	if (*end || end == s + 2 || n == 0 || n > 1u << 20)
		return 0;
	*size = (unsigned)n;
	switch (s[1]) {
	case 'b': *t = ZR_T_BOOL; return n == 1;
	case 'i': *t = ZR_T_INT; return n == 1 || n == 2 || n == 4 || n == 8;
	case 'u': *t = ZR_T_UINT; return n == 1 || n == 2 || n == 4 || n == 8;
	case 'f': *t = ZR_T_FLOAT; return n == 4 || n == 8;
	case 'U': case 'S': *t = ZR_T_STR; return 1;
	}
	return 0;
}

static zr_rc v2_dtype(zr_array *a, struct zr_pipe *p, const cJSON *dt, char *err)
{
	zr_type t;
	unsigned size;
	char kind;
	int big;

	if (cJSON_IsArray(dt))
		return zr_fail(err, ZR_EUNSUPPORTED, "%s: structured dtype", a->path);
	if (!numpy_type(cJSON_IsString(dt) ? dt->valuestring : NULL, &t, &size, &kind, &big))
		return zr_fail(err, ZR_EUNSUPPORTED, "%s: unsupported dtype '%s'", a->path,
			       cJSON_IsString(dt) ? dt->valuestring : "?");
	if (kind == 'O')
		zr_set_str(a, p, ZR_ST_VLEN, 0);
	else if (kind == 'U')
		zr_set_str(a, p, ZR_ST_UCS4, size);
	else if (kind == 'S')
		zr_set_str(a, p, ZR_ST_FIXBYTES, size);
	else
		zr_set_num(a, p, t, size, big);
	p->big_endian = big && (kind == 'U' || p->big_endian);
	return ZR_OK;
}

/* ---- fill values ---- */

char *zr_ucs4_utf8(const unsigned char *p, unsigned width, int big_endian, int *bad)
{
	unsigned n = width;
	char *out, *o;

	*bad = 0;
	while (n && !memcmp(p + 4 * (n - 1), "\0\0\0\0", 4))
		n--;
	if (!(out = o = malloc((size_t)n * 4 + 1)))
		return NULL;
	for (unsigned i = 0; i < n; i++, p += 4) {
		uint32_t c = big_endian ? (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3] :
			     (uint32_t)p[3] << 24 | p[2] << 16 | p[1] << 8 | p[0];
		if (c > 0x10ffff || (c >= 0xd800 && c < 0xe000)) {
			free(out);
			*bad = 1;
			return NULL;
		}
		if (c < 0x80) {
			*o++ = (char)c;
		} else if (c < 0x800) {
			*o++ = (char)(0xc0 | c >> 6);
			*o++ = (char)(0x80 | (c & 0x3f));
		} else if (c < 0x10000) {
			*o++ = (char)(0xe0 | c >> 12);
			*o++ = (char)(0x80 | (c >> 6 & 0x3f));
			*o++ = (char)(0x80 | (c & 0x3f));
		} else {
			*o++ = (char)(0xf0 | c >> 18);
			*o++ = (char)(0x80 | (c >> 12 & 0x3f));
			*o++ = (char)(0x80 | (c >> 6 & 0x3f));
			*o++ = (char)(0x80 | (c & 0x3f));
		}
	}
	*o = '\0';
	return out;
}

/* Standard base64 (v2 fill values of fixed-width strings) into out. */
static int base64(const char *s, unsigned char *out, size_t cap, size_t *len)
{
	static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	uint32_t acc = 0;
	int bits = 0;

	*len = 0;
	for (; *s && *s != '='; s++) {
		const char *c = strchr(abc, *s);
		if (!c || !*c)
			return 0;
		acc = acc << 6 | (uint32_t)(c - abc);
		if ((bits += 6) >= 8) {
			bits -= 8;
			if (*len == cap)
				return 0;
			out[(*len)++] = (unsigned char)(acc >> bits);
		}
	}
	return 1;
}

static int fill_string(struct zr_pipe *p, const cJSON *j, int v2)
{
	if (!cJSON_IsString(j))
		return 0;
	if (p->storage == ZR_ST_VLEN || !v2) {
		p->fill_str = cn_strdup(j->valuestring);
		return p->fill_str != NULL;
	}
	size_t cap = p->stored_size, len;
	unsigned char *raw = calloc(1, cap + 1);
	int bad = 0;
	if (raw && base64(j->valuestring, raw, cap, &len))
		p->fill_str = p->storage == ZR_ST_UCS4 ? zr_ucs4_utf8(raw, p->width, p->big_endian, &bad) :
			      cn_strdup((char *)raw);
	free(raw);
	return p->fill_str != NULL;
}

static int fill_number(const zr_array *a, struct zr_pipe *p, const cJSON *j)
{
	double d;
	unsigned char *f = p->fill;

	if (cJSON_IsBool(j) && a->type == ZR_T_BOOL) {
		f[0] = cJSON_IsTrue(j);
		return 1;
	}
	if (cJSON_IsString(j) && a->type == ZR_T_FLOAT) {
		const char *s = j->valuestring;
		if (!strcmp(s, "NaN"))
			d = NAN;
		else if (!strcmp(s, "Infinity"))
			d = INFINITY;
		else if (!strcmp(s, "-Infinity"))
			d = -INFINITY;
		else if (s[0] == '0' && s[1] == 'x' && strlen(s) == 2 + 2 * a->size) {
			uint64_t bits = strtoull(s + 2, NULL, 16);
			if (a->size == 4) {
				uint32_t b = (uint32_t)bits;
				memcpy(f, &b, 4);
			} else {
				memcpy(f, &bits, 8);
			}
			return 1;
		} else {
			return 0;
		}
	} else if (cJSON_IsNumber(j)) {
		d = j->valuedouble;
	} else {
		return 0;
	}
	switch (a->type) {
	case ZR_T_FLOAT:
		if (a->size == 4) {
			float v = (float)d;
			memcpy(f, &v, 4);
		} else {
			memcpy(f, &d, 8);
		}
		return 1;
	case ZR_T_BOOL:
		f[0] = d != 0;
		return 1;
	case ZR_T_INT: case ZR_T_UINT: {
		if (d != floor(d) || !(fabs(d) < 18446744073709551616.0))
			return 0;
		uint64_t u = a->type == ZR_T_INT ? (uint64_t)(int64_t)d : (uint64_t)d;
		/* Native little-endian: the low bytes of u are the value. */
		memcpy(f, &u, a->size);
		return 1;
	}
	case ZR_T_STR:
		break;
	}
	return 0;
}

/* fill_value: null (no fill: an absent chunk is an error), a number, a
 * special float, a bool or a string. Unusable ones count as null. */
void zr_parse_fill(const zr_array *a, struct zr_pipe *p, const cJSON *j, int v2)
{
	if (!j || cJSON_IsNull(j))
		return;
	if (a->type == ZR_T_STR) {
		if (fill_string(p, j, v2))
			memcpy(p->fill, &p->fill_str, sizeof p->fill_str);
		p->has_fill = p->fill_str != NULL;
	} else {
		p->has_fill = fill_number(a, p, j);
	}
}

/* ---- codecs ---- */

static const struct { const char *name; zr_bcodec c; } bcodecs[] = {
	{ "blosc", ZR_BLOSC }, { "zstd", ZR_ZSTD }, { "zlib", ZR_ZLIB },
	{ "gzip", ZR_GZIP },   { "lz4", ZR_LZ4 },   { "bz2", ZR_BZ2 }, { "crc32c", ZR_CRC32C },
};

/* Append the bytes codec called name (conf: its configuration) to p. */
zr_rc zr_add_bcodec(const zr_array *a, struct zr_pipe *p, const char *what,
		    const char *name, const cJSON *conf, int v3, char *err)
{
	for (size_t i = 0; i < sizeof bcodecs / sizeof *bcodecs; i++) {
		if (strcmp(name, bcodecs[i].name))
			continue;
		/* v3 has no zlib, lz4 or bz2 codec; v2 no crc32c compressor. */
		if (v3 ? (bcodecs[i].c == ZR_ZLIB || bcodecs[i].c == ZR_LZ4 || bcodecs[i].c == ZR_BZ2) :
			 bcodecs[i].c == ZR_CRC32C)
			break;
		if (p->nb == sizeof p->b / sizeof *p->b)
			return zr_fail(err, ZR_EUNSUPPORTED, "%s: too many codecs", a->path);
		const char *cname = zr_json_str(conf, "cname");
		if (bcodecs[i].c == ZR_BLOSC && cname && !zr_blosc_has(cname))
			return zr_fail(err, ZR_EUNSUPPORTED, "%s: blosc compressor '%s' is not available",
				       a->path, cname);
		p->bname[p->nb] = bcodecs[i].name;
		p->b[p->nb++] = bcodecs[i].c;
		return ZR_OK;
	}
	return zr_fail(err, ZR_EUNSUPPORTED, "%s: unknown %s '%s'", a->path, what, name);
}

/* A v2 Delta filter's dtype / astype: a plain number type. */
static int delta_type(const char *s, zr_type *t, unsigned *size)
{
	char kind;
	int big;
	return numpy_type(s, t, size, &kind, &big) && strchr("iuf", kind);
}

static zr_rc v2_filters(zr_array *a, struct zr_pipe *p, const cJSON *filters, char *err)
{
	int n = cJSON_IsArray(filters) ? cJSON_GetArraySize(filters) : 0, object_codec = 0;

	if (filters && !cJSON_IsNull(filters) && !cJSON_IsArray(filters))
		return zr_fail(err, ZR_EFORMAT, "%s: filters is not a list", a->path);
	/* Decoding runs the list backwards. */
	for (int i = n - 1; i >= 0; i--) {
		const cJSON *f = cJSON_GetArrayItem(filters, i);
		const char *id = zr_json_str(f, "id");
		if (!id)
			return zr_fail(err, ZR_EFORMAT, "%s: a filter without id", a->path);
		if (!strcmp(id, "vlen-utf8") || !strcmp(id, "vlen-bytes")) {
			if (p->storage != ZR_ST_VLEN || i != 0)
				return zr_fail(err, ZR_EFORMAT, "%s: filter '%s' on a %s array",
					       a->path, id, p->storage == ZR_ST_VLEN ? "filtered" : "non-object");
			object_codec = 1;
			continue;
		}
		if (strcmp(id, "delta"))
			return zr_fail(err, ZR_EUNSUPPORTED, "%s: unknown filter '%s'", a->path, id);
		struct zr_delta *d = &p->delta[p->ndelta];
		const char *dt = zr_json_str(f, "dtype"), *as = zr_json_str(f, "astype");
		if (p->storage != ZR_ST_NUM || p->ndelta == sizeof p->delta / sizeof *p->delta ||
		    !delta_type(dt, &d->out, &d->out_size) ||
		    !delta_type(as ? as : dt, &d->in, &d->in_size))
			return zr_fail(err, ZR_EUNSUPPORTED, "%s: filter 'delta' with these types", a->path);
		p->ndelta++;
	}
	if (p->storage == ZR_ST_VLEN && !object_codec)
		return zr_fail(err, ZR_EUNSUPPORTED, "%s: object array without the vlen-utf8 filter", a->path);
	if (p->ndelta) {
		/* Each filter's output is the next one's input, the last the array's. */
		for (unsigned k = 0; k + 1 < p->ndelta; k++)
			if (p->delta[k].out != p->delta[k + 1].in || p->delta[k].out_size != p->delta[k + 1].in_size)
				return zr_fail(err, ZR_EUNSUPPORTED, "%s: delta filters of mismatched types", a->path);
		const struct zr_delta *last = &p->delta[p->ndelta - 1];
		if (last->out != a->type || last->out_size != a->size)
			return zr_fail(err, ZR_EUNSUPPORTED, "%s: delta filter of another dtype", a->path);
		p->stored_type = p->delta[0].in;
		p->stored_size = p->delta[0].in_size;
	}
	return ZR_OK;
}

zr_rc zr_parse_v2_array(const cJSON *m, zr_array *a, char *err)
{
	struct zr_pipe *p = calloc(1, sizeof *p);
	zr_rc rc;

	if (!p)
		return zr_fail(err, ZR_ENOMEM, "%s: out of memory", a->path);
	a->pipe = p;
	p->separator = '.';
	const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(m, "zarr_format");
	if (!cJSON_IsNumber(fmt) || fmt->valuedouble != 2)
		return zr_fail(err, ZR_EFORMAT, "%s: .zarray is not zarr_format 2", a->path);
	a->ndim = 0;
	if ((rc = zr_parse_dims(a, cJSON_GetObjectItemCaseSensitive(m, "shape"), "shape", 0, &a->ndim, a->shape, err)) ||
	    (rc = zr_parse_dims(a, cJSON_GetObjectItemCaseSensitive(m, "chunks"), "chunks", 1, &a->ndim, a->chunks, err)) ||
	    (rc = v2_dtype(a, p, cJSON_GetObjectItemCaseSensitive(m, "dtype"), err)))
		return rc;
	const char *order = zr_json_str(m, "order");
	if (order && !strcmp(order, "F") && a->ndim > 1)
		return zr_fail(err, ZR_EUNSUPPORTED, "%s: order 'F' (column-major chunks) is not supported", a->path);
	if (order && strcmp(order, "C") && strcmp(order, "F"))
		return zr_fail(err, ZR_EFORMAT, "%s: order '%s'", a->path, order);
	const char *sep = zr_json_str(m, "dimension_separator");
	if (sep && strcmp(sep, ".") && strcmp(sep, "/"))
		return zr_fail(err, ZR_EFORMAT, "%s: dimension_separator '%s'", a->path, sep);
	if (sep)
		p->separator = sep[0];
	const cJSON *comp = cJSON_GetObjectItemCaseSensitive(m, "compressor");
	if (comp && !cJSON_IsNull(comp)) {
		const char *id = zr_json_str(comp, "id");
		if (!id)
			return zr_fail(err, ZR_EFORMAT, "%s: compressor without id", a->path);
		if ((rc = zr_add_bcodec(a, p, "compressor", id, comp, 0, err)))
			return rc;
	}
	if ((rc = v2_filters(a, p, cJSON_GetObjectItemCaseSensitive(m, "filters"), err)) ||
	    (rc = zr_check_chunk(a, a->chunks, p->stored_size, err)))
		return rc;
	for (unsigned i = 0; i < ZR_MAXDIM; i++)
		p->transpose[i] = i;
	zr_parse_fill(a, p, cJSON_GetObjectItemCaseSensitive(m, "fill_value"), 1);
	return ZR_OK;
}

void zr_pipe_free(struct zr_pipe *p)
{
	if (!p)
		return;
	free(p->fill_str);
	free(p);
}
