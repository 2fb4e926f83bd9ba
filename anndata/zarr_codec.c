/*
 * zarr_codec.c - the bytes-to-bytes codecs of Zarr chunks (Blosc, Zstd,
 * Zlib, GZip, LZ4, BZ2, CRC32C) and numcodecs' variable-length strings.
 *
 * Each decoder is told the exact decoded size when the array's dtype fixes
 * it, and then accepts nothing else; otherwise (vlen strings, or a codec
 * before another) it grows its buffer up to a cap. Every decoder here is
 * reentrant (blosc through blosc_decompress_ctx, libdeflate with a
 * decompressor per call), so chunks decode in parallel.
 *
 *   blosc(lz4, shuffle) 4 211 bytes -> 2 800 bytes = 700 float32
 *   numcodecs LZ4: u32le decoded size, then one LZ4 block
 *   crc32c: the data, then its CRC-32C as u32le
 */
#include <blosc.h>
#include <bzlib.h>
#include <libdeflate.h>
#include <lz4.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "zarr_internal.h"

static uint32_t rd32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* ---- CRC-32C (Castagnoli, reflected 0x82f63b78), one table ---- */

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
		crc_table[i] = c;
	}
}

uint32_t zr_crc32c(const void *p, size_t n)
{
	const unsigned char *b = p;
	uint32_t c = 0xffffffffu;

	pthread_once(&crc_once, crc_init);
	while (n--)
		c = crc_table[(c ^ *b++) & 0xff] ^ (c >> 8);
	return ~c;
}

/* ---- decoders: 0 done (*got set), 1 out too small, -1 bad data ---- */

typedef int (*try_fn)(const unsigned char *src, size_t n, unsigned char *out,
		      size_t cap, size_t *got);

static int try_zstd(const unsigned char *src, size_t n, unsigned char *out, size_t cap, size_t *got)
{
	size_t r = ZSTD_decompress(out, cap, src, n);
	if (ZSTD_isError(r))
		return ZSTD_getErrorCode(r) == ZSTD_error_dstSize_tooSmall ? 1 : -1;
	*got = r;
	return 0;
}

static int try_deflate(enum libdeflate_result (*fn)(struct libdeflate_decompressor *,
		       const void *, size_t, void *, size_t, size_t *, size_t *),
		       const unsigned char *src, size_t n, unsigned char *out, size_t cap, size_t *got)
{
	struct libdeflate_decompressor *d = libdeflate_alloc_decompressor();
	size_t used;
	if (!d)
		return -1;
	enum libdeflate_result r = fn(d, src, n, out, cap, &used, got);
	libdeflate_free_decompressor(d);
	if (r == LIBDEFLATE_INSUFFICIENT_SPACE)
		return 1;
	return r == LIBDEFLATE_SUCCESS && used == n ? 0 : -1;
}

static int try_zlib(const unsigned char *src, size_t n, unsigned char *out, size_t cap, size_t *got)
{
	return try_deflate(libdeflate_zlib_decompress_ex, src, n, out, cap, got);
}

static int try_gzip(const unsigned char *src, size_t n, unsigned char *out, size_t cap, size_t *got)
{
	return try_deflate(libdeflate_gzip_decompress_ex, src, n, out, cap, got);
}

static int try_bz2(const unsigned char *src, size_t n, unsigned char *out, size_t cap, size_t *got)
{
	unsigned int len = cap > UINT32_MAX ? UINT32_MAX : (unsigned int)cap;
	if (n > UINT32_MAX)
		return -1;
	int r = BZ2_bzBuffToBuffDecompress((char *)out, &len, (char *)src, (unsigned int)n, 0, 0);
	if (r == BZ_OUTBUFF_FULL)
		return 1;
	*got = len;
	return r == BZ_OK ? 0 : -1;
}

/* Run fn with a buffer of expect bytes (exactly), or growing from a guess
 * up to max. */
static zr_rc run(try_fn fn, const char *name, const char *what, const void *src, size_t n,
		 size_t expect, size_t max, void **out, size_t *outlen, char *err)
{
	size_t cap = expect ? expect : n < max / 4 ? 4 * n + 4096 : max;
	if (cap > max)
		cap = max;
	for (;;) {
		unsigned char *buf = malloc(cap ? cap : 1);
		size_t got = 0;
		if (!buf)
			return zr_fail(err, ZR_ENOMEM, "%s: out of memory", what);
		int r = fn(src, n, buf, cap, &got);
		if (r == 0 && (!expect || got == expect)) {
			*out = buf;
			*outlen = got;
			return ZR_OK;
		}
		free(buf);
		if (r == 0 || (r == 1 && expect))
			return zr_fail(err, ZR_EFORMAT, "%s: %s data decodes to another size than the chunk's %zu bytes",
				       what, name, expect);
		if (r < 0)
			return zr_fail(err, ZR_EFORMAT, "%s: %s data is corrupt", what, name);
		if (cap == max)
			return zr_fail(err, ZR_EFORMAT, "%s: %s data decodes to more than %zu bytes",
				       what, name, max);
		cap = cap < max / 2 ? 2 * cap : max;
	}
}

static zr_rc blosc_dec(const char *what, const void *src, size_t n, size_t expect, size_t max,
		       void **out, size_t *outlen, char *err)
{
	size_t nbytes;
	if (blosc_cbuffer_validate(src, n, &nbytes) != 0)
		return zr_fail(err, ZR_EFORMAT, "%s: blosc data is corrupt", what);
	if ((expect && nbytes != expect) || nbytes > max || nbytes > INT32_MAX)
		return zr_fail(err, ZR_EFORMAT, "%s: blosc data holds %zu bytes, not the chunk's %zu",
			       what, nbytes, expect ? expect : max);
	void *buf = malloc(nbytes ? nbytes : 1);
	if (!buf)
		return zr_fail(err, ZR_ENOMEM, "%s: out of memory", what);
	if (blosc_decompress_ctx(src, buf, nbytes, 1) != (int)nbytes) {
		free(buf);
		const char *lib = blosc_cbuffer_complib(src);
		return zr_fail(err, ZR_EFORMAT, "%s: blosc data (%s) is corrupt or its compressor is not available",
			       what, lib ? lib : "unknown compressor");
	}
	*out = buf;
	*outlen = nbytes;
	return ZR_OK;
}

static zr_rc lz4_dec(const char *what, const unsigned char *src, size_t n, size_t expect,
		     size_t max, void **out, size_t *outlen, char *err)
{
	if (n < 4 || n - 4 > INT32_MAX)
		return zr_fail(err, ZR_EFORMAT, "%s: lz4 data is corrupt", what);
	size_t size = rd32(src);
	if ((expect && size != expect) || size > max || size > INT32_MAX)
		return zr_fail(err, ZR_EFORMAT, "%s: lz4 data holds %zu bytes, not the chunk's %zu",
			       what, size, expect ? expect : max);
	char *buf = malloc(size ? size : 1);
	if (!buf)
		return zr_fail(err, ZR_ENOMEM, "%s: out of memory", what);
	if (LZ4_decompress_safe((const char *)src + 4, buf, (int)(n - 4), (int)size) != (int)size) {
		free(buf);
		return zr_fail(err, ZR_EFORMAT, "%s: lz4 data is corrupt", what);
	}
	*out = buf;
	*outlen = size;
	return ZR_OK;
}

static zr_rc crc_dec(const char *what, const unsigned char *src, size_t n, size_t expect,
		     void **out, size_t *outlen, char *err)
{
	if (n < 4 || (expect && n - 4 != expect))
		return zr_fail(err, ZR_EFORMAT, "%s: crc32c data has the wrong size", what);
	if (zr_crc32c(src, n - 4) != rd32(src + n - 4))
		return zr_fail(err, ZR_EFORMAT, "%s: crc32c checksum mismatch", what);
	void *buf = malloc(n - 4 ? n - 4 : 1);
	if (!buf)
		return zr_fail(err, ZR_ENOMEM, "%s: out of memory", what);
	memcpy(buf, src, n - 4);
	*out = buf;
	*outlen = n - 4;
	return ZR_OK;
}

zr_rc zr_bdecode(zr_bcodec c, const char *what, const void *src, size_t n,
		 size_t expect, size_t max, void **out, size_t *outlen, char *err)
{
	switch (c) {
	case ZR_BLOSC:
		return blosc_dec(what, src, n, expect, max, out, outlen, err);
	case ZR_ZSTD:
		return run(try_zstd, "zstd", what, src, n, expect, max, out, outlen, err);
	case ZR_ZLIB:
		return run(try_zlib, "zlib", what, src, n, expect, max, out, outlen, err);
	case ZR_GZIP:
		return run(try_gzip, "gzip", what, src, n, expect, max, out, outlen, err);
	case ZR_LZ4:
		return lz4_dec(what, src, n, expect, max, out, outlen, err);
	case ZR_BZ2:
		return run(try_bz2, "bz2", what, src, n, expect, max, out, outlen, err);
	case ZR_CRC32C:
		return crc_dec(what, src, n, expect, out, outlen, err);
	}
	return zr_fail(err, ZR_EUNSUPPORTED, "%s: unknown codec", what);
}

int zr_blosc_has(const char *cname)
{
	const char *list = blosc_list_compressors();
	size_t len = strlen(cname);

	for (const char *p = list; p && *p;) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		if (n == len && !memcmp(p, cname, n))
			return 1;
		p = end ? end + 1 : NULL;
	}
	return 0;
}

zr_rc zr_vlen_decode(const char *what, const void *src, size_t n, size_t count,
		     char **out, char *err)
{
	const unsigned char *p = src, *end = p + n;
	size_t i;
	int nomem = 0;

	if (n < 4 || rd32(p) != count)
		return zr_fail(err, ZR_EFORMAT, "%s: vlen data does not hold the chunk's %zu items",
			       what, count);
	p += 4;
	for (i = 0; i < count; i++) {
		if (end - p < 4 || rd32(p) > (size_t)(end - p) - 4)
			break;
		size_t len = rd32(p);
		if (!(out[i] = malloc(len + 1))) {
			nomem = 1;
			break;
		}
		memcpy(out[i], p + 4, len);
		out[i][len] = '\0';
		p += 4 + len;
	}
	if (i == count)
		return ZR_OK;
	zr_rc rc = nomem ? zr_fail(err, ZR_ENOMEM, "%s: out of memory", what) :
		   zr_fail(err, ZR_EFORMAT, "%s: vlen item %zu runs past the chunk", what, i);
	while (i--)
		free(out[i]);
	return rc;
}
