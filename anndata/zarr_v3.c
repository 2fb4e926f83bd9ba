/*
 * zarr_v3.c - a v3 array's zarr.json turned into the shared pipeline
 * (struct zr_pipe): data type, chunk grid, chunk key encoding and the codec
 * chain, sharding_indexed included.
 *
 *   "codecs": [{"name": "transpose", "configuration": {"order": [1, 0]}},
 *              {"name": "bytes", "configuration": {"endian": "little"}},
 *              {"name": "blosc", "configuration": {"cname": "lz4", ...}}]
 *
 * A chain is array->array codecs (transpose), exactly one array->bytes codec
 * (bytes, vlen-utf8, vlen-bytes, sharding_indexed), then bytes->bytes codecs
 * (blosc, zstd, gzip, crc32c), which decode in reverse. A shard's inner
 * chain is parsed into the same pipeline, and the array's read unit becomes
 * the inner chunk; shards within shards are refused.
 */
#include <stdlib.h>
#include <string.h>

#include "zarr_internal.h"

static const struct { const char *name; zr_type t; unsigned size; } v3_types[] = {
	{ "bool", ZR_T_BOOL, 1 },   { "int8", ZR_T_INT, 1 },     { "int16", ZR_T_INT, 2 },
	{ "int32", ZR_T_INT, 4 },   { "int64", ZR_T_INT, 8 },    { "uint8", ZR_T_UINT, 1 },
	{ "uint16", ZR_T_UINT, 2 }, { "uint32", ZR_T_UINT, 4 },  { "uint64", ZR_T_UINT, 8 },
	{ "float32", ZR_T_FLOAT, 4 }, { "float64", ZR_T_FLOAT, 8 },
};

static zr_rc v3_dtype(zr_array *a, struct zr_pipe *p, const cJSON *dt, char *err)
{
	const char *name = cJSON_IsString(dt) ? dt->valuestring : zr_json_str(dt, "name");

	if (!name)
		return zr_fail(err, ZR_EFORMAT, "%s: no data_type", a->path);
	for (size_t i = 0; i < sizeof v3_types / sizeof *v3_types; i++)
		if (!strcmp(name, v3_types[i].name)) {
			zr_set_num(a, p, v3_types[i].t, v3_types[i].size, 0);
			return ZR_OK;
		}
	if (!strcmp(name, "string") || !strcmp(name, "bytes")) {
		zr_set_str(a, p, ZR_ST_VLEN, 0);
		return ZR_OK;
	}
	uint64_t len;
	const cJSON *conf = cJSON_GetObjectItemCaseSensitive(dt, "configuration");
	if (!strcmp(name, "fixed_length_utf32") &&
	    zr_json_count(cJSON_GetObjectItemCaseSensitive(conf, "length_bytes"), &len) &&
	    len % 4 == 0 && len && len <= 4u << 20) {
		zr_set_str(a, p, ZR_ST_UCS4, (unsigned)(len / 4));
		return ZR_OK;
	}
	return zr_fail(err, ZR_EUNSUPPORTED, "%s: unsupported data_type '%s'", a->path, name);
}

static zr_rc transpose(zr_array *a, struct zr_pipe *p, const cJSON *conf, char *err)
{
	const cJSON *order = cJSON_GetObjectItemCaseSensitive(conf, "order");
	unsigned seen = 0, i = 0;
	uint64_t v;

	if (p->transposed || !cJSON_IsArray(order) || cJSON_GetArraySize(order) != (int)a->ndim)
		return zr_fail(err, ZR_EUNSUPPORTED, "%s: codec 'transpose' with this order", a->path);
	for (const cJSON *j = order->child; j; j = j->next, i++) {
		if (!zr_json_count(j, &v) || v >= a->ndim || (seen & 1u << v))
			return zr_fail(err, ZR_EFORMAT, "%s: codec 'transpose': order is no permutation", a->path);
		seen |= 1u << v;
		p->transpose[i] = (unsigned)v;
	}
	p->transposed = 1;
	return ZR_OK;
}

static zr_rc endian(zr_array *a, struct zr_pipe *p, const cJSON *conf, char *err)
{
	const char *e = zr_json_str(conf, "endian");

	if (p->storage == ZR_ST_VLEN)
		return zr_fail(err, ZR_EFORMAT, "%s: codec 'bytes' on variable-length strings", a->path);
	if (e && strcmp(e, "little") && strcmp(e, "big"))
		return zr_fail(err, ZR_EFORMAT, "%s: codec 'bytes': endian '%s'", a->path, e);
	if (!e && p->stored_size > 1 && p->storage == ZR_ST_NUM)
		return zr_fail(err, ZR_EFORMAT, "%s: codec 'bytes' without endian", a->path);
	p->big_endian = e && !strcmp(e, "big") && (p->stored_size > 1 || p->storage == ZR_ST_UCS4);
	return ZR_OK;
}

static zr_rc codecs(zr_array *a, struct zr_pipe *p, const cJSON *list, const uint64_t *outer,
		    int inner, char *err);

/* index_codecs: the index is (offset, nbytes) u64 pairs, little-endian,
 * optionally followed by its CRC-32C. */
static zr_rc shard_index(zr_array *a, struct zr_pipe *p, const cJSON *list, char *err)
{
	int n = cJSON_GetArraySize(list), i = 0;

	for (const cJSON *c = cJSON_IsArray(list) ? list->child : NULL; c; c = c->next, i++) {
		const char *name = zr_json_str(c, "name");
		const char *e = zr_json_str(cJSON_GetObjectItemCaseSensitive(c, "configuration"), "endian");
		if (i == 0 && name && !strcmp(name, "bytes") && (!e || !strcmp(e, "little")))
			continue;
		if (i == 1 && name && !strcmp(name, "crc32c")) {
			p->index_crc32c = 1;
			continue;
		}
		n = -1;
	}
	if (n < 1 || i == 0)
		return zr_fail(err, ZR_EUNSUPPORTED, "%s: codec 'sharding_indexed' with these index_codecs", a->path);
	return ZR_OK;
}

static zr_rc sharding(zr_array *a, struct zr_pipe *p, const cJSON *conf, const uint64_t *outer,
		      int inner, char *err)
{
	unsigned nd = a->ndim;
	zr_rc rc;

	if (inner || p->transposed)
		return zr_fail(err, ZR_EUNSUPPORTED, "%s: codec 'sharding_indexed' %s", a->path,
			       inner ? "inside a shard" : "after transpose");
	if ((rc = zr_parse_dims(a, cJSON_GetObjectItemCaseSensitive(conf, "chunk_shape"),
				"chunk_shape", 1, &nd, a->chunks, err)))
		return rc;
	for (unsigned i = 0; i < a->ndim; i++)
		if (outer[i] % a->chunks[i])
			return zr_fail(err, ZR_EFORMAT, "%s: codec 'sharding_indexed': chunk_shape does not divide the shard",
				       a->path);
	memcpy(p->shard, outer, sizeof p->shard);
	p->sharded = 1;
	const char *loc = zr_json_str(conf, "index_location");
	if (loc && strcmp(loc, "end") && strcmp(loc, "start"))
		return zr_fail(err, ZR_EFORMAT, "%s: codec 'sharding_indexed': index_location '%s'", a->path, loc);
	p->index_at_start = loc && !strcmp(loc, "start");
	if ((rc = shard_index(a, p, cJSON_GetObjectItemCaseSensitive(conf, "index_codecs"), err)))
		return rc;
	return codecs(a, p, cJSON_GetObjectItemCaseSensitive(conf, "codecs"), a->chunks, 1, err);
}

/* Parse a codec chain (a shard's when inner) into p; outer is the chunk
 * shape the chain encodes. */
static zr_rc codecs(zr_array *a, struct zr_pipe *p, const cJSON *list, const uint64_t *outer,
		    int inner, char *err)
{
	int have_a2b = 0;
	unsigned first_b = p->nb;
	zr_rc rc = ZR_OK;

	if (!cJSON_IsArray(list))
		return zr_fail(err, ZR_EFORMAT, "%s: codecs is not a list", a->path);
	for (const cJSON *c = list->child; c && rc == ZR_OK; c = c->next) {
		const char *name = zr_json_str(c, "name");
		const cJSON *conf = cJSON_GetObjectItemCaseSensitive(c, "configuration");
		if (!name)
			return zr_fail(err, ZR_EFORMAT, "%s: a codec without name", a->path);
		int a2b = !strcmp(name, "bytes") || !strcmp(name, "vlen-utf8") ||
			  !strcmp(name, "vlen-bytes") || !strcmp(name, "sharding_indexed");
		if (a2b && have_a2b)
			return zr_fail(err, ZR_EFORMAT, "%s: two array-to-bytes codecs", a->path);
		if ((a2b || !strcmp(name, "transpose")) && p->nb > first_b)
			return zr_fail(err, ZR_EFORMAT, "%s: codec '%s' after a bytes codec", a->path, name);
		have_a2b |= a2b;
		if (!strcmp(name, "transpose")) {
			if (have_a2b)
				return zr_fail(err, ZR_EFORMAT, "%s: codec 'transpose' after the array-to-bytes codec",
					       a->path);
			rc = transpose(a, p, conf, err);
		} else if (!strcmp(name, "bytes")) {
			rc = endian(a, p, conf, err);
		} else if (!strcmp(name, "vlen-utf8") || !strcmp(name, "vlen-bytes")) {
			if (p->storage != ZR_ST_VLEN)
				rc = zr_fail(err, ZR_EFORMAT, "%s: codec '%s' on a fixed-size data type", a->path, name);
		} else if (!strcmp(name, "sharding_indexed")) {
			rc = sharding(a, p, conf, outer, inner, err);
		} else if (!have_a2b) {
			rc = zr_fail(err, ZR_EFORMAT, "%s: codec '%s' before the array-to-bytes codec", a->path, name);
		} else if (p->sharded && !inner) {
			rc = zr_fail(err, ZR_EUNSUPPORTED, "%s: codec '%s' after sharding_indexed", a->path, name);
		} else {
			rc = zr_add_bcodec(a, p, "codec", name, conf, 1, err);
			/* An extension the writer marked optional may be skipped. */
			const cJSON *mu = cJSON_GetObjectItemCaseSensitive(c, "must_understand");
			if (rc == ZR_EUNSUPPORTED && cJSON_IsFalse(mu))
				rc = ZR_OK;
		}
	}
	if (rc == ZR_OK && !have_a2b)
		rc = zr_fail(err, ZR_EFORMAT, "%s: no array-to-bytes codec", a->path);
	/* Bytes codecs were listed in encoding order; decoding runs backwards. */
	for (unsigned i = first_b, j = p->nb; rc == ZR_OK && i + 1 < j; i++, j--) {
		zr_bcodec t = p->b[i];
		const char *n = p->bname[i];
		p->b[i] = p->b[j - 1];
		p->bname[i] = p->bname[j - 1];
		p->b[j - 1] = t;
		p->bname[j - 1] = n;
	}
	return rc;
}

zr_rc zr_parse_v3_array(const cJSON *m, zr_array *a, char *err)
{
	struct zr_pipe *p = calloc(1, sizeof *p);
	uint64_t outer[ZR_MAXDIM];
	zr_rc rc;

	if (!p)
		return zr_fail(err, ZR_ENOMEM, "%s: out of memory", a->path);
	a->pipe = p;
	for (unsigned i = 0; i < ZR_MAXDIM; i++)
		p->transpose[i] = i;
	a->ndim = 0;
	const cJSON *grid = cJSON_GetObjectItemCaseSensitive(m, "chunk_grid");
	const char *gname = zr_json_str(grid, "name");
	if ((rc = zr_parse_dims(a, cJSON_GetObjectItemCaseSensitive(m, "shape"), "shape", 0, &a->ndim, a->shape, err)) ||
	    (rc = v3_dtype(a, p, cJSON_GetObjectItemCaseSensitive(m, "data_type"), err)))
		return rc;
	if (!gname || strcmp(gname, "regular"))
		return zr_fail(err, ZR_EUNSUPPORTED, "%s: chunk_grid '%s'", a->path, gname ? gname : "?");
	if ((rc = zr_parse_dims(a, cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(grid, "configuration"),
								    "chunk_shape"),
				"chunk_shape", 1, &a->ndim, outer, err)))
		return rc;
	memcpy(a->chunks, outer, sizeof outer);
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(m, "storage_transformers");
	if (cJSON_GetArraySize(st) > 0)
		return zr_fail(err, ZR_EUNSUPPORTED, "%s: storage_transformers", a->path);

	const cJSON *enc = cJSON_GetObjectItemCaseSensitive(m, "chunk_key_encoding");
	const char *ename = zr_json_str(enc, "name");
	const char *sep = zr_json_str(cJSON_GetObjectItemCaseSensitive(enc, "configuration"), "separator");
	if (!ename || (strcmp(ename, "default") && strcmp(ename, "v2")))
		return zr_fail(err, ZR_EUNSUPPORTED, "%s: chunk_key_encoding '%s'", a->path, ename ? ename : "?");
	p->key_prefix_c = !strcmp(ename, "default");
	if (sep && strcmp(sep, ".") && strcmp(sep, "/"))
		return zr_fail(err, ZR_EFORMAT, "%s: chunk_key_encoding separator '%s'", a->path, sep);
	p->separator = sep ? sep[0] : p->key_prefix_c ? '/' : '.';

	if ((rc = codecs(a, p, cJSON_GetObjectItemCaseSensitive(m, "codecs"), outer, 0, err)) ||
	    (rc = zr_check_chunk(a, a->chunks, p->stored_size, err)))
		return rc;
	if (p->sharded) {
		/* The index: 16 bytes per inner chunk. */
		zr_array idx = *a;
		idx.size = 16;
		for (unsigned i = 0; i < a->ndim; i++)
			idx.chunks[i] = p->shard[i] / a->chunks[i];
		if ((rc = zr_check_chunk(&idx, idx.chunks, 16, err)))
			return rc;
	}
	zr_parse_fill(a, p, cJSON_GetObjectItemCaseSensitive(m, "fill_value"), 0);
	return ZR_OK;
}
