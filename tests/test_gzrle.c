/*
 * test_gzrle.c - unit tests of codec/gzrle: every member it writes is
 * inflated by both zlib and libdeflate and compared with the input, over
 * edge cases (empty, one byte, no runs at all, runs at every length
 * boundary, u8 and u16), every size up to 1 000 and a sweep to 70 000,
 * 2 000 000 bytes, skewed counts that force length-limited codes, and gene
 * vectors: generated sparse ones and the genes of pbmc68k_reduced through
 * the project's quantisation (skipped when ../shared is absent). On the
 * gene vectors the total size must not exceed zlib level 6's. Also
 * gz_compress_codes, the daemon's call: gzrle for codes, libdeflate else.
 *
 * zlib is linked here only, as the independent inflater and the size
 * reference (the reference exporter writes zlib's stream).
 */
#include "check.h"
#include "gz.h"
#include "gzrle.h"
#include "quant.h"

#include <hdf5.h>
#include <libdeflate.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define FIXTURE "../shared/fixtures/pbmc68k_reduced.h5ad"

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
	z = (z ^ z >> 30) * 0xbf58476d1ce4e5b9u;
	z = (z ^ z >> 27) * 0x94d049bb133111ebu;
	return z ^ z >> 31;
}

static double unit(void)
{
	return (double)(rnd() >> 11) * 0x1.0p-53;
}

/* zlib's inflate of one whole gzip member; 0 when it equals in[0..n). */
static int zlib_matches(const uint8_t *gz, size_t len, const uint8_t *in, size_t n)
{
	z_stream z;
	memset(&z, 0, sizeof z);
	if (inflateInit2(&z, 16 + 15) != Z_OK)
		return -1;
	uint8_t *out = malloc(n + 1);
	z.next_in = (uint8_t *)gz;
	z.avail_in = (uInt)len;
	z.next_out = out;
	z.avail_out = (uInt)(n + 1);
	int rc = inflate(&z, Z_FINISH);
	int ok = rc == Z_STREAM_END && z.avail_in == 0 && z.total_out == n &&
		 memcmp(out, in, n) == 0;
	inflateEnd(&z);
	free(out);
	return ok ? 0 : -1;
}

static int libdeflate_matches(const uint8_t *gz, size_t len, const uint8_t *in, size_t n)
{
	static struct libdeflate_decompressor *d;
	if (!d)
		d = libdeflate_alloc_decompressor();
	uint8_t *out = malloc(n + 1);
	size_t used_in = 0, used_out = 0;
	enum libdeflate_result r =
		libdeflate_gzip_decompress_ex(d, gz, len, out, n + 1, &used_in, &used_out);
	int ok = r == LIBDEFLATE_SUCCESS && used_in == len && used_out == n &&
		 memcmp(out, in, n) == 0;
	free(out);
	return ok ? 0 : -1;
}

/* zlib level 6 member size of in (the reference exporter's stream). */
static size_t zlib6_size(const uint8_t *in, size_t n)
{
	z_stream z;
	memset(&z, 0, sizeof z);
	if (deflateInit2(&z, 6, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return 0;
	size_t cap = deflateBound(&z, n);
	uint8_t *out = malloc(cap);
	z.next_in = (uint8_t *)in;
	z.avail_in = (uInt)n;
	z.next_out = out;
	z.avail_out = (uInt)cap;
	size_t len = deflate(&z, Z_FINISH) == Z_STREAM_END ? z.total_out : 0;
	deflateEnd(&z);
	free(out);
	return len;
}

/* Compress; 0 when both inflaters give the input back, the output is
 * within gzrle_bound and the same bytes come out a second time. *len gets
 * the size. */
static int round_trip(const uint8_t *in, size_t n, int width, size_t *len)
{
	size_t cap = gzrle_bound(n);
	uint8_t *a = malloc(cap), *b = malloc(cap);
	size_t la = gzrle_compress(in, n, width, a, cap);
	size_t lb = gzrle_compress(in, n, width, b, cap);
	int ok = la > 0 && la <= cap && la == lb && memcmp(a, b, la) == 0 &&
		 zlib_matches(a, la, in, n) == 0 && libdeflate_matches(a, la, in, n) == 0;
	free(a);
	free(b);
	if (len)
		*len = la;
	return ok ? 0 : -1;
}

/* ---------------------------------------------------------- edge cases */

static void test_edges(void)
{
	uint8_t one = 7, buf[4] = {0};
	size_t len;
	CHECK(round_trip(buf, 0, 1, &len) == 0 && len == 20, "empty input: a 20-byte member");
	CHECK(round_trip(buf, 0, 2, NULL) == 0, "empty input, width 2");
	CHECK(round_trip(&one, 1, 1, NULL) == 0, "one byte");
	CHECK(round_trip(buf, 2, 2, NULL) == 0, "one u16 code");
	CHECK(gzrle_compress(buf, 4, 1, buf, 0) == 0, "a buffer below gzrle_bound is refused");
	uint8_t out[64];
	CHECK(gzrle_compress(buf, 4, 3, out, sizeof out) == 0, "width 3 is refused");

	size_t n = 300000;
	uint8_t *v = malloc(n);
	memset(v, 0, n);
	CHECK(round_trip(v, n, 1, &len) == 0 && len < 400, "300 000 zeros (%zu bytes)", len);
	memset(v, 200, n);
	CHECK(round_trip(v, n, 2, NULL) == 0, "300 000 equal bytes, width 2");
	for (size_t i = 0; i < n; i++)
		v[i] = (uint8_t)rnd();
	CHECK(round_trip(v, n, 1, &len) == 0 && len <= n + n / 1000 + 64,
	      "random bytes (no background): stored blocks (%zu bytes)", len);
	CHECK(round_trip(v, n, 2, NULL) == 0, "random bytes, width 2");
	for (size_t i = 0; i < n; i++)
		v[i] = (uint8_t)(rnd() % 5 + 'a');
	CHECK(round_trip(v, n, 1, &len) == 0 && len < n / 2,
	      "random over 5 symbols: Huffman-coded literals (%zu bytes)", len);
	free(v);
}

/* gz_compress_codes: gzrle's bytes for u8/u16 codes at every level, and
 * gz_compress's for other payloads. */
static void test_selection(void)
{
	size_t n = 50000, cap = gzrle_bound(n);
	uint8_t *v = malloc(n), *own = malloc(cap);
	for (size_t i = 0; i < n; i++)
		v[i] = unit() < 0.05 ? (uint8_t)(1 + rnd() % 254) : 0;
	int bad = 0;
	for (int width = 1; width <= 2; width++) {
		size_t len = gzrle_compress(v, n, width, own, cap);
		for (int level = 1; level <= 9; level++) {
			void *out;
			size_t outlen;
			bad += gz_compress_codes(level, width, v, n, &out, &outlen) != 0 ||
			       outlen != len || memcmp(out, own, len) != 0;
			free(out);
		}
	}
	CHECK(!bad, "gz_compress_codes: gzrle's bytes for u8 and u16 codes at levels 1-9");
	void *a, *b;
	size_t alen, blen;
	int rc = gz_compress_codes(6, 0, v, n, &a, &alen) | gz_compress(6, v, n, &b, &blen);
	CHECK(rc == 0 && alen == blen && memcmp(a, b, alen) == 0,
	      "gz_compress_codes: other payloads are gz_compress's (libdeflate's) bytes");
	free(a);
	free(b);
	CHECK(gz_compress_codes(0, 1, v, n, &a, &alen) == -1 &&
	      gz_compress_codes(10, 1, v, n, &a, &alen) == -1,
	      "gz_compress_codes: levels 0 and 10 are refused");
	free(v);
	free(own);
}

/* Runs of every boundary length between single other bytes, in both widths:
 * a run of n is one literal and n - 1 bytes of matches. */
static void test_run_lengths(void)
{
	static const size_t lens[] = {1,   2,   3,   4,   5,   257, 258, 259, 260, 261, 516,
				      517, 518, 775, 776, 777, 778, 1000, 65535, 65536, 70000};
	size_t nl = sizeof lens / sizeof *lens, total = 0;
	for (size_t k = 0; k < nl; k++)
		total += lens[k] + 1;
	int bad8 = 0, bad16 = 0;
	for (size_t k = 0; k < nl; k++) {
		uint8_t *v = malloc(lens[k] + 1);
		memset(v, 0, lens[k]);
		v[lens[k]] = 9;
		bad8 += round_trip(v, lens[k] + 1, 1, NULL) != 0;
		free(v);
	}
	CHECK(!bad8, "u8 runs of 1-5, 257-261, 2*258 +-1, 3*258+-2, 65535, 65536, 70000");
	/* All in one vector, u8 and as u16 codes with unequal bytes (0x0102)
	 * and equal ones (0x0000), with other codes between. */
	uint8_t *v8 = malloc(total);
	uint16_t *v16 = malloc(2 * total), *z16 = malloc(2 * total);
	size_t p = 0;
	for (size_t k = 0; k < nl; k++) {
		for (size_t i = 0; i < lens[k]; i++, p++) {
			v8[p] = 4;
			v16[p] = 0x0102;
			z16[p] = 0;
		}
		v8[p] = (uint8_t)(k + 10);
		v16[p] = (uint16_t)(0x0100 + k);
		z16[p++] = (uint16_t)(0x0012 + k);
	}
	bad8 = round_trip(v8, total, 1, NULL) != 0;
	bad16 = round_trip((uint8_t *)v16, 2 * total, 2, NULL) != 0 ||
		round_trip((uint8_t *)z16, 2 * total, 2, NULL) != 0;
	CHECK(!bad8, "u8: every boundary run in one vector");
	CHECK(!bad16, "u16: every boundary run of 0x0102 (distance 2) and 0x0000 (distance 1)");
	size_t len16, len8;
	round_trip((uint8_t *)v16, 2 * total, 2, &len16);
	round_trip((uint8_t *)v16, 2 * total, 1, &len8);
	CHECK(len16 * 4 < len8, "u16: distance-2 matches make runs of 0x0102 small (%zu vs %zu)",
	      len16, len8);
	free(v8);
	free(v16);
	free(z16);
}

/* Sparse vector: background 0 with a fraction of other codes. */
static void sparse(uint8_t *v, size_t n, double density)
{
	for (size_t i = 0; i < n; i++)
		v[i] = unit() < density ? (uint8_t)(1 + rnd() % 254) : 0;
}

static void test_sizes(void)
{
	size_t max = 70000;
	uint8_t *v = malloc(max);
	sparse(v, max, 0.05);
	int bad = 0;
	for (size_t n = 1; n <= 1000; n++)
		bad += round_trip(v, n, 1, NULL) != 0 || round_trip(v, n & ~(size_t)1, 2, NULL) != 0;
	for (size_t n = 1001; n <= max; n += n / 23 + 1)
		bad += round_trip(v, n, 1, NULL) != 0 || round_trip(v, n & ~(size_t)1, 2, NULL) != 0;
	CHECK(!bad, "sizes 1..1000 and a sweep to 70 000, sparse, u8 and u16 (%d bad)", bad);
	free(v);

	size_t big = 2000000;
	uint8_t *w = malloc(big);
	sparse(w, big, 0.04);
	CHECK(round_trip(w, big, 1, NULL) == 0, "2 000 000 sparse u8 codes");
	for (size_t i = 0; i < big; i++)
		w[i] = (uint8_t)rnd();
	CHECK(round_trip(w, big, 1, NULL) == 0, "2 000 000 random bytes");
	free(w);
}

/* Literal counts 1, 2, 3, 5, ... 4181 over 18 symbols (10 944 bytes: one
 * block), with the end-of-block symbol as one more 1, give a Huffman code 18
 * bits deep unless limited to 15. No byte repeats the one before, so there
 * are no matches and the counts stay exact. */
static void test_skewed(void)
{
	size_t f[18], n = 0;
	f[0] = 1;
	f[1] = 2;
	for (int k = 2; k < 18; k++)
		f[k] = f[k - 1] + f[k - 2];
	for (int k = 0; k < 18; k++)
		n += f[k];
	uint8_t *v = malloc(n);
	int last = -1;
	for (size_t p = 0; p < n; p++) {
		int best = -1;
		for (int k = 0; k < 18; k++)
			if (k != last && f[k] && (best < 0 || f[k] > f[best]))
				best = k;
		f[best]--;
		v[p] = (uint8_t)(best * 9 + 1);
		last = best;
	}
	size_t len;
	CHECK(round_trip(v, n, 1, &len) == 0,
	      "Fibonacci literal counts over %zu bytes: codes limited to 15 bits (%zu bytes)", n, len);
	free(v);
}

/* -------------------------------------------------- gene vectors, size */

/* Codes of one generated gene: zero for most cells, else log1p of a
 * gamma-ish count, quantised over the gene's range like the export does. */
static void gene_codes(float *x, size_t n, double density, int bits, void *codes)
{
	for (size_t i = 0; i < n; i++) {
		double u = unit();
		x[i] = u < density ? (float)log1p(-log(unit() + 1e-12) * 2.4 * (1 + 3 * unit())) : 0.0f;
	}
	quant_range r = quant_find_range(x, n, QUANT_FLOOR64);
	if (bits == 8)
		quant_encode_u8(x, n, r, codes);
	else
		quant_encode_u16(x, n, r, codes);
}

static void test_generated_genes(void)
{
	size_t n = 100000, genes = 60;
	float *x = malloc(n * sizeof *x);
	uint16_t *codes = malloc(n * sizeof *codes);
	for (int bits = 8; bits <= 16; bits += 8) {
		size_t ours = 0, zlib = 0, bytes = n * (size_t)bits / 8;
		int bad = 0;
		for (size_t g = 0; g < genes; g++) {
			/* 4 % on average, from 0.2 % to 12 % */
			double density = 0.002 + 0.118 * (double)g / (double)(genes - 1) * (g & 1 ? 0.2 : 0.48);
			gene_codes(x, n, density, bits, codes);
			size_t len;
			bad += round_trip((uint8_t *)codes, bytes, bits / 8, &len) != 0;
			ours += len;
			zlib += zlib6_size((uint8_t *)codes, bytes);
		}
		CHECK(!bad, "%zu generated u%d genes of %zu cells inflate to their codes", genes, bits,
		      n);
		CHECK(ours <= zlib, "generated u%d genes: %zu bytes, zlib level 6 %zu (%.1f %%)", bits,
		      ours, zlib, 100.0 * (double)ours / (double)zlib);
	}
	free(x);
	free(codes);
}

static void test_pbmc_genes(void)
{
	if (access(FIXTURE, R_OK) != 0) {
		SKIP("pbmc68k_reduced genes: %s absent", FIXTURE);
		return;
	}
	hid_t f = H5Fopen(FIXTURE, H5F_ACC_RDONLY, H5P_DEFAULT);
	hid_t d = f < 0 ? -1 : H5Dopen2(f, "/X", H5P_DEFAULT);
	hid_t s = d < 0 ? -1 : H5Dget_space(d);
	hsize_t dims[2] = {0, 0};
	float *x = NULL;
	if (s >= 0 && H5Sget_simple_extent_dims(s, dims, NULL) == 2 &&
	    (x = malloc(dims[0] * dims[1] * sizeof *x)) &&
	    H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, x) < 0) {
		free(x);
		x = NULL;
	}
	if (s >= 0)
		H5Sclose(s);
	if (d >= 0)
		H5Dclose(d);
	if (f >= 0)
		H5Fclose(f);
	CHECK(x != NULL, "pbmc68k_reduced: X readable");
	if (!x)
		return;
	size_t cells = dims[0], genes = dims[1];
	float *col = malloc(cells * sizeof *col);
	uint16_t *codes = malloc(cells * sizeof *codes);
	for (int bits = 8; bits <= 16; bits += 8) {
		size_t ours = 0, zlib = 0, bytes = cells * (size_t)bits / 8, len;
		int bad = 0;
		for (size_t g = 0; g < genes; g++) {
			for (size_t i = 0; i < cells; i++)
				col[i] = x[i * genes + g];
			quant_range r = quant_find_range(col, cells, QUANT_FLOOR64);
			if (bits == 8)
				quant_encode_u8(col, cells, r, (uint8_t *)codes);
			else
				quant_encode_u16(col, cells, r, codes);
			bad += round_trip((uint8_t *)codes, bytes, bits / 8, &len) != 0;
			ours += len;
			zlib += zlib6_size((uint8_t *)codes, bytes);
		}
		CHECK(!bad, "pbmc68k_reduced: %zu u%d genes inflate to their codes", genes, bits);
		CHECK(ours <= zlib, "pbmc68k_reduced u%d genes: %zu bytes, zlib level 6 %zu (%.1f %%)",
		      bits, ours, zlib, 100.0 * (double)ours / (double)zlib);
	}
	free(col);
	free(codes);
	free(x);
}

int main(void)
{
	test_edges();
	test_selection();
	test_run_lengths();
	test_sizes();
	test_skewed();
	test_generated_genes();
	test_pbmc_genes();
	return CHECK_DONE();
}
