/*
 * zarr_internal.h - what the files of the Zarr reader share and nobody else
 * sees: the key-value store under the hierarchy, the node table, the parsed
 * codec pipeline of an array and the codecs themselves.
 *
 *   zarr_store.c  keys of a directory tree (no symlink followed) or a zip
 *   zarr_zip.c    the zip central directory and its entries
 *   zarr_json.c   JSON with Python's bare NaN, Infinity, -Infinity
 *   zarr_meta.c   .zarray/.zgroup/.zattrs/.zmetadata and zarr.json -> nodes
 *   zarr_dtype.c  data types, fill values, v2 array metadata
 *   zarr_v3.c     v3 array metadata: data types, codec chains, sharding
 *   zarr_codec.c  the byte codecs (compressors, checksums) and vlen strings
 *   zarr_read.c   chunk keys, sharding, decoding chunks, reading regions
 */
#ifndef ZARR_INTERNAL_H
#define ZARR_INTERNAL_H

#include <stdarg.h>

#include "cn.h"  /* cn_mallocn, cn_strdup */
#include "zarr.h"

/* A chunk decodes to at most this many bytes, and a chunk of variable-length
 * strings may be stored in at most this many: larger claims are refused
 * before anything is allocated. */
#define ZR_CHUNK_MAX ((uint64_t)1 << 30)
/* Metadata documents (.zarray, zarr.json, .zmetadata) are read up to this. */
#define ZR_META_MAX ((size_t)64 << 20)

/* Set err from fmt and return rc. */
zr_rc zr_fail(char *err, zr_rc rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* len bytes of JSON as cJSON, bare NaN, Infinity and -Infinity outside
 * strings read as those numbers (zarr-python writes them); NULL when it is
 * not JSON or memory runs out. */
cJSON *zr_json_parse(const char *buf, size_t len);

/* ---- zarr_store.c / zarr_zip.c: keys ---- */

/* pread exactly len bytes at off; -1 with errno on failure or a short file. */
int zr_pread(int fd, void *buf, size_t len, uint64_t off);

struct zr_zip;

struct zr_kv {
	int dirfd;           /* directory store root, or -1 */
	struct zr_zip *zip;  /* zip store, or NULL */
};

zr_rc zr_kv_open(struct zr_kv *kv, const char *path, char *err);
void zr_kv_close(struct zr_kv *kv);
/* The size of the value at key (ZR_ENOENT when absent). */
zr_rc zr_kv_size(const struct zr_kv *kv, const char *key, uint64_t *size, char *err);
/* The whole value at key in a new malloc'd buffer, refused (ZR_EFORMAT) when
 * it is larger than max. ZR_ENOENT when absent. */
zr_rc zr_kv_get(const struct zr_kv *kv, const char *key, size_t max,
		void **buf, size_t *len, char *err);
/* len bytes at offset off of the value at key into out; the range must lie
 * inside the value. */
zr_rc zr_kv_get_range(const struct zr_kv *kv, const char *key, uint64_t off,
		      size_t len, void *out, char *err);
/* Call fn for each name that has keys beneath "prefix/" (prefix "" is the
 * root): the sub-directories of a directory store. A name may come twice. */
zr_rc zr_kv_list(const struct zr_kv *kv, const char *prefix,
		 int (*fn)(const char *name, void *ctx), void *ctx, char *err);

/* The keys under a store's hierarchy (zarr_meta.c). */
const struct zr_kv *zr_store_kv(const zr_store *s);

/* zarr_zip.c */
zr_rc zr_zip_open(struct zr_zip **out, int fd, char *err);
void zr_zip_close(struct zr_zip *z);
zr_rc zr_zip_size(const struct zr_zip *z, const char *key, uint64_t *size, char *err);
zr_rc zr_zip_get(const struct zr_zip *z, const char *key, size_t max,
		 void **buf, size_t *len, char *err);
zr_rc zr_zip_get_range(const struct zr_zip *z, const char *key, uint64_t off,
		       size_t len, void *out, char *err);
zr_rc zr_zip_list(const struct zr_zip *z, const char *prefix,
		  int (*fn)(const char *name, void *ctx), void *ctx, char *err);

/* ---- the codec pipeline of an array (zarr_dtype.c parses it) ---- */

/* A bytes-to-bytes codec: a v2 compressor or a v3 bytes->bytes codec. */
typedef enum { ZR_BLOSC, ZR_ZSTD, ZR_ZLIB, ZR_GZIP, ZR_LZ4, ZR_BZ2, ZR_CRC32C } zr_bcodec;

/* How stored values are laid out before conversion to what zr_read gives. */
typedef enum {
	ZR_ST_NUM,       /* fixed-size numbers / bool, stored_size bytes, endian */
	ZR_ST_UCS4,      /* fixed-width <U: width code points */
	ZR_ST_FIXBYTES,  /* fixed-width |S: width bytes, NUL-padded */
	ZR_ST_VLEN       /* numcodecs vlen-utf8 / vlen-bytes */
} zr_storage;

/* Delta (v2 filter): decoded values (out) are the running sum of the
 * stored ones (in), both native by then. */
struct zr_delta {
	zr_type in, out;
	unsigned in_size, out_size;
};

struct zr_pipe {
	unsigned nb;
	zr_bcodec b[8];           /* in decode order */
	const char *bname[8];     /* their names, for errors */
	zr_storage storage;
	unsigned stored_size;     /* bytes per stored element (NUM, UCS4, FIXBYTES) */
	unsigned width;           /* UCS4 / FIXBYTES: characters per element */
	int big_endian;           /* NUM / UCS4 */
	zr_type stored_type;      /* NUM: of the stored values (differs under delta) */
	unsigned ndelta;
	struct zr_delta delta[4]; /* in decode order; the first reads the stored type */
	unsigned transpose[ZR_MAXDIM]; /* v3 transpose: order (identity when none) */
	int transposed;
	/* sharding_indexed: the chunk grid is the shard grid, each shard holds
	 * shard[i] / chunks[i] inner chunks and an index of (offset, nbytes). */
	int sharded;
	uint64_t shard[ZR_MAXDIM];
	int index_at_start;
	int index_crc32c;
	/* The chunk key: v2 "0.1", v3 default "c/0/1" (prefix "c"). */
	char separator;
	int key_prefix_c;
	/* The fill value as one delivered element (a->size bytes; for strings
	 * the char * of fill_str); has_fill is 0 for fill_value null. */
	int has_fill;
	unsigned char fill[8];
	char *fill_str;
};

/* Parse the array metadata of a v2 .zarray or a v3 zarr.json into a (its
 * path set already) and a fresh pipe. The error names the array and the
 * field or codec. */
zr_rc zr_parse_v2_array(const cJSON *meta, zr_array *a, char *err);
zr_rc zr_parse_v3_array(const cJSON *meta, zr_array *a, char *err);
void zr_pipe_free(struct zr_pipe *p);

/* zarr_dtype.c's pieces that the v3 parser (zarr_v3.c) shares. */
int zr_json_count(const cJSON *j, uint64_t *out);  /* a whole number in [0, 2^53] */
const char *zr_json_str(const cJSON *obj, const char *key);
/* A list of *ndim extents >= min (the shape sets *ndim) into out. */
zr_rc zr_parse_dims(const zr_array *a, const cJSON *list, const char *field,
		    uint64_t min, unsigned *ndim, uint64_t *out, char *err);
/* Refuse chunks whose elements (delivered or stored) exceed ZR_CHUNK_MAX bytes. */
zr_rc zr_check_chunk(const zr_array *a, const uint64_t *chunks, unsigned stored, char *err);
void zr_set_num(zr_array *a, struct zr_pipe *p, zr_type t, unsigned size, int big);
void zr_set_str(zr_array *a, struct zr_pipe *p, zr_storage st, unsigned width);
void zr_parse_fill(const zr_array *a, struct zr_pipe *p, const cJSON *j, int v2);
/* Append the bytes codec name (what: "compressor", "codec") to p's list. */
zr_rc zr_add_bcodec(const zr_array *a, struct zr_pipe *p, const char *what,
		    const char *name, const cJSON *conf, int v3, char *err);
/* width UCS-4 code points (trailing NULs dropped, as numpy does) as a
 * malloc'd UTF-8 string; NULL when one is no Unicode scalar value or
 * allocation fails (*bad tells which). */
char *zr_ucs4_utf8(const unsigned char *p, unsigned width, int big_endian, int *bad);

/* ---- zarr_codec.c ---- */

/* Decode src through bytes codec c into a new malloc'd buffer. expect is
 * the exact decoded size when known (0: unknown, bounded by max). */
zr_rc zr_bdecode(zr_bcodec c, const char *what, const void *src, size_t n,
		 size_t expect, size_t max, void **out, size_t *outlen, char *err);
uint32_t zr_crc32c(const void *p, size_t n);
/* Split numcodecs' vlen encoding (u32 count, then u32 length + bytes per
 * item) into count malloc'd strings in out[0..count). */
zr_rc zr_vlen_decode(const char *what, const void *src, size_t n, size_t count,
		     char **out, char *err);
/* Whether libblosc can decode cname ("lz4", "zstd", ...). */
int zr_blosc_has(const char *cname);

#endif
