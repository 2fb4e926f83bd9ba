/*
 * gz.c - deterministic gzip members with libdeflate, and the choice of
 * gzrle (codec/gzrle.c) for payloads of quantised codes.
 *
 * libdeflate writes a fixed gzip header (mtime 0, no name, OS 255, XFL from
 * the level alone), so equal input and level give equal bytes: a file served
 * twice keeps its size and ETag. Allocating a compressor costs far more than
 * compressing one small payload, so each thread keeps one per level and one
 * decompressor; a pthread key destructor frees them when the thread exits.
 */
#include "gz.h"
#include "gzrle.h"

#include <libdeflate.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

/* The densest DEFLATE stream (2 bits per 258-byte match) expands ~1032x;
 * no honest member inflates beyond this many bytes per input byte. */
#define GZ_MAX_RATIO 1032
#define GZ_MIN_MEMBER 18 /* 10-byte header + 8-byte trailer, at least */

struct gz_cache {
	struct libdeflate_compressor *compressor[10]; /* by level 1..9 */
	struct libdeflate_decompressor *decompressor;
};

static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;
static int cache_key_ok;

static void cache_free(void *p)
{
	struct gz_cache *cache = p;
	for (int level = 0; level < 10; level++)
		libdeflate_free_compressor(cache->compressor[level]);
	libdeflate_free_decompressor(cache->decompressor);
	free(cache);
}

static void cache_key_create(void)
{
	cache_key_ok = pthread_key_create(&cache_key, cache_free) == 0;
}

static struct gz_cache *thread_cache(void)
{
	pthread_once(&cache_once, cache_key_create);
	if (!cache_key_ok)
		return NULL;
	struct gz_cache *cache = pthread_getspecific(cache_key);
	if (cache)
		return cache;
	cache = calloc(1, sizeof(*cache));
	if (cache && pthread_setspecific(cache_key, cache) != 0) {
		free(cache);
		cache = NULL;
	}
	return cache;
}

static struct libdeflate_compressor *thread_compressor(int level)
{
	struct gz_cache *cache = thread_cache();
	if (!cache)
		return NULL;
	if (!cache->compressor[level])
		cache->compressor[level] = libdeflate_alloc_compressor(level);
	return cache->compressor[level];
}

static struct libdeflate_decompressor *thread_decompressor(void)
{
	struct gz_cache *cache = thread_cache();
	if (!cache)
		return NULL;
	if (!cache->decompressor)
		cache->decompressor = libdeflate_alloc_decompressor();
	return cache->decompressor;
}

int gz_compress(int level, const void *in, size_t n, void **out, size_t *outlen)
{
	if (level < 1 || level > 9)
		return -1;
	struct libdeflate_compressor *c = thread_compressor(level);
	if (!c)
		return -1;
	size_t bound = libdeflate_gzip_compress_bound(c, n);
	unsigned char *buf = malloc(bound);
	if (!buf)
		return -1;
	size_t len = libdeflate_gzip_compress(c, in, n, buf, bound);
	if (len == 0) {
		free(buf);
		return -1;
	}
	unsigned char *shrunk = realloc(buf, len);
	*out = shrunk ? shrunk : buf;
	*outlen = len;
	return 0;
}

/* gzrle is used at a level only where its files are, in total, no larger
 * than zlib's at that level (the reference exporter's stream). Measured with
 * build/deflate-floor on the 20 000 u8 gene files of a 100 000-cell
 * gen-h5ad file: gzrle 38.8 MB against zlib's 62.7 MB at level 1, 48.3 MB
 * at 4, 49.3 MB at 6, 46.4 MB at 8, 44.7 MB at 9 (libdeflate: 44.4 MB at
 * 6, 45.2 MB at 9); on pbmc68k_reduced's genes, u8 and u16, gzrle is
 * smaller at levels 1, 4, 6 and 9 too. So every level; gzrle's output does
 * not depend on it. */
int gz_compress_codes(int level, int width, const void *in, size_t n, void **out,
		      size_t *outlen)
{
	if (level < 1 || level > 9 || (width != 1 && width != 2))
		return gz_compress(level, in, n, out, outlen);
	unsigned char *buf = malloc(gzrle_bound(n));
	if (!buf)
		return -1;
	size_t len = gzrle_compress(in, n, width, buf, gzrle_bound(n));
	unsigned char *shrunk = realloc(buf, len);
	*out = shrunk ? shrunk : buf;
	*outlen = len;
	return 0;
}

static size_t trailer_isize(const unsigned char *in, size_t n)
{
	const unsigned char *p = in + n - 4;
	return (size_t)p[0] | (size_t)p[1] << 8 | (size_t)p[2] << 16 |
	       (size_t)p[3] << 24;
}

int gz_decompress(const void *in, size_t n, void **out, size_t *outlen)
{
	if (n < GZ_MIN_MEMBER)
		return -1;
	struct libdeflate_decompressor *d = thread_decompressor();
	if (!d)
		return -1;
	size_t limit = n > SIZE_MAX / GZ_MAX_RATIO ? SIZE_MAX : n * GZ_MAX_RATIO;
	/* ISIZE is the size mod 2^32 and may be a lie: use it as the first
	 * guess only within what n bytes can honestly hold, and grow from
	 * there (a member over 4 GiB wraps ISIZE to a smaller number). */
	size_t cap = trailer_isize(in, n);
	if (cap > limit)
		cap = limit;
	for (;;) {
		unsigned char *buf = malloc(cap ? cap : 1);
		if (!buf)
			return -1;
		size_t used_in, used_out;
		enum libdeflate_result r = libdeflate_gzip_decompress_ex(
			d, in, n, buf, cap, &used_in, &used_out);
		if (r == LIBDEFLATE_SUCCESS && used_in == n) {
			*out = buf;
			*outlen = used_out;
			return 0;
		}
		free(buf);
		if (r != LIBDEFLATE_INSUFFICIENT_SPACE || cap == limit)
			return -1;
		/* limit >= GZ_MIN_MEMBER * GZ_MAX_RATIO > 4096: no wrap. */
		cap = cap < (limit - 4096) / 2 ? 2 * cap + 4096 : limit;
	}
}
