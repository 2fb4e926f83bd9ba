/*
 * gz.h - deterministic gzip members with libdeflate, or gzrle for codes.
 *
 * The same input and level always give the same bytes (header mtime 0, no
 * file name, OS byte fixed), so a regenerated file keeps its size and ETag.
 * Compressors are cached per thread; every function is thread-safe.
 */
#ifndef GZ_H
#define GZ_H

#include <stddef.h>

/* Compress n bytes at level 1..9 into a new malloc'd buffer. 0 on success,
 * -1 on allocation failure or a level outside 1..9. */
int gz_compress(int level, const void *in, size_t n, void **out, size_t *outlen);

/* The same for a payload of codes `width` bytes wide (1: u8, 2: u16
 * little-endian; 0: anything else). Codes go through gzrle at the levels
 * where its gene files are, in total, no larger than zlib's at that level
 * (scripts/deflate-floor.c measures both; gz.c has the figures): all of
 * 1..9, with one output whatever the level. Other payloads go through
 * gz_compress. */
int gz_compress_codes(int level, int width, const void *in, size_t n, void **out,
		      size_t *outlen);

/* Inflate exactly one gzip member (no trailing bytes) into a new malloc'd
 * buffer (tests, checks). The trailer's size only sizes the first attempt,
 * capped by what n bytes of DEFLATE can hold, so a lying header cannot make
 * it allocate more. 0 on success, -1 on bad data or allocation failure. */
int gz_decompress(const void *in, size_t n, void **out, size_t *outlen);

#endif
