/*
 * gzrle.h - gzip members for quantised vectors, written without a match
 * finder.
 *
 * A gene file is n_cells u8 or u16 codes, nearly all of them the code of 0.0
 * with sparse other values between. A general compressor searches its
 * history for matches at every position; here the only matches tried are
 * the repeats of the previous byte (distance 1) or, for u16 codes, of the
 * previous code (distance 2), found by comparing a word at a time. Literals
 * and those matches are then coded with Huffman tables built from their
 * counts, one DEFLATE block per segment of the input. On gene vectors this
 * is several times faster than libdeflate level 6 and the files are smaller
 * than zlib level 6's (make bench prints both; scripts/deflate-floor.c).
 * Any input is valid, only less well compressed than a match finder would.
 *
 * The output is deterministic (header mtime 0, no name, OS 255), inflates
 * with any gzip reader, and depends on nothing but the input and width.
 *
 *   size_t cap = gzrle_bound(n);
 *   unsigned char *gz = malloc(cap);
 *   size_t len = gzrle_compress(codes, n, 1, gz, cap);   // 0: cap too small
 */
#ifndef GZRLE_H
#define GZRLE_H

#include <stddef.h>

/* Bytes of output enough for any n input bytes. */
size_t gzrle_bound(size_t n);

/* Compress n bytes of codes `width` bytes wide (1 or 2; 2 also tries
 * distance-2 matches) into out. Returns the member's length, or 0 when cap
 * < gzrle_bound(n) or width is not 1 or 2. Thread-safe, no allocation. */
size_t gzrle_compress(const void *in, size_t n, int width, void *out, size_t cap);

#endif
