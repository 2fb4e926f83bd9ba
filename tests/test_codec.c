/*
 * test_codec.c - unit tests of codec/ (quantisation, gzip, safe names,
 * embedding normalisation, centroids, outlier quantiles, edges), then the
 * bit-exact comparison with the reference exporter's output for
 * pbmc68k_reduced.
 *
 * The reference part reads its inputs straight from the .h5ad with plain
 * HDF5 calls (not anndata/, so a bug there cannot hide one here) and the
 * expected outputs from ../shared/reference; it skips when ../shared is
 * absent. Run from the repository root.
 */
#include "centroid.h"
#include "check.h"
#include "edges.h"
#include "embed.h"
#include "gz.h"
#include "quant.h"
#include "safename.h"
#include "utf8.h"

#include <hdf5.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SHARED "../shared"
#define FIXTURE SHARED "/fixtures/pbmc68k_reduced.h5ad"
#define REF_RAW SHARED "/reference/pbmc68k_reduced-raw/"
#define REF_Q8 SHARED "/reference/pbmc68k_reduced-c6-q8/"

static int same_float(float a, float b)
{
	return memcmp(&a, &b, sizeof(a)) == 0 || (isnan(a) && isnan(b));
}

static uint32_t float_bits(float f)
{
	uint32_t u;
	memcpy(&u, &f, sizeof(u));
	return u;
}

/* ---- quant ---------------------------------------------------------- */

static void test_quant(void)
{
	float nan3[3] = {NAN, NAN, NAN};
	quant_range r = quant_find_range(nan3, 3, QUANT_TRUNC32);
	CHECK(r.min == 0.0f && r.max == 1.0f, "quant: all-NaN range is [0, 1]");
	uint8_t c8[8];
	uint16_t c16[8];
	quant_encode_u8(nan3, 3, r, c8);
	quant_encode_u16(nan3, 3, r, c16);
	CHECK(c8[0] == 255 && c8[1] == 255 && c8[2] == 255,
	      "quant: all-NaN -> 255 (u8)");
	CHECK(c16[0] == 65535 && c16[2] == 65535, "quant: all-NaN -> 65535 (u16)");

	r = quant_find_range(NULL, 0, QUANT_TRUNC32);
	CHECK(r.min == 0.0f && r.max == 1.0f, "quant: empty range is [0, 1]");

	float constant[4] = {3.5f, 3.5f, 3.5f, 3.5f};
	r = quant_find_range(constant, 4, QUANT_TRUNC32);
	CHECK(r.min == 3.5f && r.max == 4.5f, "quant: constant -> max = min + 1");
	quant_encode_u8(constant, 4, r, c8);
	CHECK(c8[0] == 0 && c8[3] == 0, "quant: constant -> code 0");

	float huge[2] = {1e9f, 1e9f}; /* min + 1 == min in float32 */
	r = quant_find_range(huge, 2, QUANT_TRUNC32);
	quant_encode_u8(huge, 2, r, c8);
	CHECK(c8[0] == 0 && c8[1] == 0, "quant: constant 1e9 (range collapses) -> code 0");

	float inf[5] = {-INFINITY, 1.0f, 2.0f, INFINITY, NAN};
	r = quant_find_range(inf, 5, QUANT_TRUNC32);
	CHECK(r.min == 1.0f && r.max == 2.0f, "quant: +-Inf and NaN left out of the range");
	quant_encode_u8(inf, 5, r, c8);
	CHECK(c8[0] == 255 && c8[1] == 0 && c8[2] == 254 && c8[3] == 255 &&
	      c8[4] == 255, "quant: +-Inf and NaN -> missing, ends -> 0 and 254");
	quant_encode_u16(inf, 5, r, c16);
	CHECK(c16[0] == 65535 && c16[1] == 0 && c16[2] == 65534 &&
	      c16[3] == 65535, "quant: 16-bit ends 0/65534, missing 65535");

	float mid[5] = {0.0f, 0.5f, 1.0f, -3.0f, 7.0f};
	r = (quant_range){0.0f, 1.0f, QUANT_TRUNC32};
	quant_encode_u8(mid, 5, r, c8);
	quant_encode_u16(mid, 5, r, c16);
	CHECK(c8[0] == 0 && c8[1] == 127 && c8[2] == 254,
	      "quant: u8 0/0.5/1 -> 0/127/254 (truncation)");
	CHECK(c16[0] == 0 && c16[1] == 32767 && c16[2] == 65534,
	      "quant: u16 0/0.5/1 -> 0/32767/65534");
	CHECK(c8[3] == 0 && c8[4] == 254 && c16[3] == 0 && c16[4] == 65534,
	      "quant: values outside the range clip");

	r = quant_range_adjust(0.0f, 0.0f, 0, QUANT_TRUNC32);
	CHECK(r.min == 0.0f && r.max == 1.0f, "quant_range_adjust: nothing finite -> [0, 1]");
	r = quant_range_adjust(2.0f, 2.0f, 1, QUANT_TRUNC32);
	CHECK(r.min == 2.0f && r.max == 3.0f, "quant_range_adjust: constant -> [2, 3]");
	r = quant_range_adjust(-1.0f, 5.0f, 1, QUANT_TRUNC32);
	CHECK(r.min == -1.0f && r.max == 5.0f, "quant_range_adjust: keeps a real range");

	/* Block and tail paths against the formula written out plainly. */
	enum { N = 1000 };
	float *v = malloc(N * sizeof(float));
	uint8_t *got8 = malloc(N);
	uint16_t *got16 = malloc(N * sizeof(uint16_t));
	if (!v || !got8 || !got16)
		abort();
	uint32_t seed = 12345;
	float lo = INFINITY, hi = -INFINITY;
	for (int i = 0; i < N; i++) {
		seed = seed * 1664525u + 1013904223u;
		v[i] = (float)(seed >> 8) / 16777216.0f * 20.0f - 7.0f;
		if (i % 97 == 5)
			v[i] = NAN;
		else if (i % 211 == 3)
			v[i] = -INFINITY;
		if (isfinite(v[i])) {
			lo = v[i] < lo ? v[i] : lo;
			hi = v[i] > hi ? v[i] : hi;
		}
	}
	r = quant_find_range(v, N, QUANT_TRUNC32);
	CHECK(r.min == lo && r.max == hi, "quant: range of 1000 values with NaN/-Inf");
	quant_encode_u8(v, N, r, got8);
	quant_encode_u16(v, N, r, got16);
	int bad8 = 0, bad16 = 0;
	float s8 = (float)(254.0 / ((double)r.max - (double)r.min));
	float s16 = (float)(65534.0 / ((double)r.max - (double)r.min));
	for (int i = 0; i < N; i++) {
		int want8 = 255, want16 = 65535;
		if (isfinite(v[i])) {
			float x8 = (v[i] - r.min) * s8, x16 = (v[i] - r.min) * s16;
			want8 = x8 < 0 ? 0 : x8 > 254 ? 254 : (int)x8;
			want16 = x16 < 0 ? 0 : x16 > 65534 ? 65534 : (int)x16;
		}
		bad8 += got8[i] != want8;
		bad16 += got16[i] != want16;
	}
	CHECK(bad8 == 0 && bad16 == 0,
	      "quant: 1000 values (vector blocks + tail) match the scalar formula (%d/%d off)",
	      bad8, bad16);
	free(v);
	free(got8);
	free(got16);
}

/* ---- gz ------------------------------------------------------------- */

struct gz_job {
	const unsigned char *in;
	size_t n;
	int level;
	void *out;
	size_t outlen;
	int rc;
};

static void *gz_worker(void *arg)
{
	struct gz_job *job = arg;
	job->rc = gz_compress(job->level, job->in, job->n, &job->out,
	                      &job->outlen);
	return NULL;
}

static void test_gz(void)
{
	enum { N = 200000 };
	unsigned char *in = malloc(N);
	if (!in)
		abort();
	for (size_t i = 0; i < N; i++)
		in[i] = (unsigned char)((i * 7) % 251 ^ (i >> 9));

	int round_trips = 0, deterministic = 0, headers = 0;
	void *first[10] = {0};
	size_t first_len[10] = {0};
	for (int level = 1; level <= 9; level++) {
		void *a, *b, *back;
		size_t alen, blen, backlen;
		if (gz_compress(level, in, N, &a, &alen) != 0 ||
		    gz_compress(level, in, N, &b, &blen) != 0)
			continue;
		deterministic += alen == blen && memcmp(a, b, alen) == 0;
		const unsigned char *h = a;
		headers += h[0] == 0x1f && h[1] == 0x8b && h[2] == 8 &&
		           h[3] == 0 && h[4] == 0 && h[5] == 0 && h[6] == 0 &&
		           h[7] == 0 && h[9] == 0xff;
		if (gz_decompress(a, alen, &back, &backlen) == 0) {
			round_trips += backlen == N && memcmp(back, in, N) == 0;
			free(back);
		}
		first[level] = a;
		first_len[level] = alen;
		free(b);
	}
	CHECK(deterministic == 9, "gz: same input and level give the same bytes (levels 1-9)");
	CHECK(headers == 9, "gz: header has no flags/name, mtime 0, OS 255");
	CHECK(round_trips == 9, "gz: round trip at every level");

	/* Threads at different levels get the bytes the main thread got. */
	enum { THREADS = 12 };
	pthread_t tid[THREADS];
	struct gz_job job[THREADS];
	int started = 0;
	for (int t = 0; t < THREADS; t++) {
		job[t] = (struct gz_job){in, N, t % 9 + 1, NULL, 0, -1};
		started += pthread_create(&tid[t], NULL, gz_worker, &job[t]) == 0;
	}
	int same = 0;
	for (int t = 0; t < started; t++) {
		pthread_join(tid[t], NULL);
		int level = job[t].level;
		same += job[t].rc == 0 && first[level] &&
		        job[t].outlen == first_len[level] &&
		        memcmp(job[t].out, first[level], first_len[level]) == 0;
		free(job[t].out);
	}
	CHECK(started == THREADS && same == THREADS,
	      "gz: %d threads compress identically to the main thread", THREADS);

	void *out = NULL, *back = NULL;
	size_t outlen, backlen = 99;
	int rc0 = gz_compress(0, in, N, &out, &outlen);
	int rc10 = gz_compress(10, in, N, &out, &outlen);
	CHECK(rc0 == -1 && rc10 == -1, "gz: levels outside 1-9 refused");

	int rc = gz_compress(6, in, 0, &out, &outlen);
	CHECK(rc == 0, "gz: empty input compresses");
	rc = rc == 0 ? gz_decompress(out, outlen, &back, &backlen) : -1;
	CHECK(rc == 0 && backlen == 0, "gz: empty member inflates to 0 bytes");
	free(back);
	free(out);

	unsigned char *member = first[6];
	size_t len = first_len[6];
	unsigned char *bad = malloc(len + 1);
	if (!bad)
		abort();
	memcpy(bad, member, len);
	bad[len - 1] = 0xff; /* ISIZE claims ~4 GiB */
	rc = gz_decompress(bad, len, &back, &backlen);
	CHECK(rc == -1, "gz: ISIZE lying upward is refused (capped, no 4 GiB buffer)");
	memcpy(bad, member, len);
	bad[len - 4] = 1, bad[len - 3] = bad[len - 2] = bad[len - 1] = 0;
	rc = gz_decompress(bad, len, &back, &backlen);
	CHECK(rc == -1, "gz: ISIZE lying downward is refused after growing");
	memcpy(bad, member, len);
	bad[len / 2] ^= 0x55;
	rc = gz_decompress(bad, len, &back, &backlen);
	CHECK(rc == -1, "gz: corrupt data refused");
	memcpy(bad, member, len);
	bad[len] = 0;
	rc = gz_decompress(bad, len + 1, &back, &backlen);
	CHECK(rc == -1, "gz: trailing bytes refused");
	rc = gz_decompress(member, len - 5, &back, &backlen);
	CHECK(rc == -1, "gz: truncated member refused");
	rc = gz_decompress(member, 10, &back, &backlen);
	CHECK(rc == -1, "gz: too short for a member");
	free(bad);
	for (int level = 1; level <= 9; level++)
		free(first[level]);
	free(in);
}

/* ---- safename ------------------------------------------------------- */

static void check_safename(const char *key, const char *want)
{
	char *got = safename(key);
	CHECK(got && strcmp(got, want) == 0, "safename(\"%s\") = \"%s\" (want \"%s\")",
	      key, got ? got : "(null)", want);
	free(got);
}

static void test_safename(void)
{
	check_safename("pct mito", "pct_mito");
	check_safename("..a b..", "a_b");
	check_safename("", "field");
	check_safename("CD4+/CD25 T Reg", "CD4_CD25_T_Reg");
	check_safename("CD4+/CD45RA+/CD25- Naive T", "CD4_CD45RA_CD25-_Naive_T");
	check_safename("a__b", "a__b");      /* '_' is safe: kept as is */
	check_safename("a _b", "a__b");      /* run -> '_', then the safe '_' */
	check_safename("a+-+b", "a_-_b");
	check_safename("_._", "field");
	check_safename("G\xc3\xa8ne", "G_ne"); /* one run per UTF-8 run */
	check_safename("\xc3\xa9", "field");
	check_safename("AC079767.4", "AC079767.4");
	check_safename("x!", "x");

	safename_set *s = safename_set_new();
	CHECK(s != NULL, "safename_set_new");
	if (!s)
		return;
	int first = safename_set_add(s, "pct_mito");
	int second = safename_set_add(s, "pct_mito");
	CHECK(first == 1, "safename_set: first add -> 1");
	CHECK(second == 0, "safename_set: collision -> 0");
	int added = 0, again = 0;
	char name[32];
	for (int i = 0; i < 100000; i++) {
		snprintf(name, sizeof(name), "gene%d", i);
		added += safename_set_add(s, name) == 1;
	}
	for (int i = 0; i < 100000; i++) {
		snprintf(name, sizeof(name), "gene%d", i);
		again += safename_set_add(s, name) == 0;
	}
	CHECK(added == 100000 && again == 100000,
	      "safename_set: 100k names added once, all found again");
	safename_set_free(s);
	safename_set_free(NULL);
}

/* ---- embed ---------------------------------------------------------- */

static void test_embed(void)
{
	double in[6] = {0, 0, 4, 1, 2, 0.5};
	float out[6];
	embed_info info = embed_normalize(in, 3, 2, EMBED_FLOAT32, out, NULL);
	CHECK(info.scale == 0.5 && info.n_nonfinite == 0, "embed: scale = 2/largest range");
	CHECK(out[0] == -1.0f && out[1] == -0.25f && out[2] == 1.0f &&
	      out[3] == 0.25f && out[4] == 0.0f && out[5] == 0.0f,
	      "embed: centred, aspect ratio kept");

	double bad[8] = {0, 0, NAN, 5, 4, 1, 1e300, 0};
	float out4[8];
	info = embed_normalize(bad, 4, 2, EMBED_FLOAT32, out4, NULL);
	CHECK(info.n_nonfinite == 2, "embed: NaN row and float-overflowing row are non-finite");
	CHECK(out4[2] == 0 && out4[3] == 0 && out4[6] == 0 && out4[7] == 0 &&
	      out4[0] == -1.0f && out4[5] == 0.25f,
	      "embed: non-finite rows -> 0, left out of min/max");

	double flat[3] = {3, 3, 3};
	info = embed_normalize(flat, 3, 1, EMBED_FLOAT32, out, NULL);
	CHECK(info.scale == 2.0 && out[0] == 0 && out[2] == 0,
	      "embed: range < 1e-8 -> 1.0");

	double none[2] = {INFINITY, NAN};
	info = embed_normalize(none, 2, 1, EMBED_FLOAT32, out, NULL);
	CHECK(info.n_nonfinite == 2 && out[0] == 0 && out[1] == 0,
	      "embed: all rows non-finite -> zeros");

	info = embed_normalize(in, 1, 4, EMBED_FLOAT32, out, NULL);
	CHECK(info.scale == 0.0, "embed: d outside 1..3 refused (scale 0)");
	/* EMBED_FLOAT64: x = 0.1, 0.7, 0.35 -> center 0.4 and scale
	 * 2 / 0.6 = 3.3333333333333335 in double: 0.35 becomes
	 * (0.35 - 0.39999999999999997) * 3.3333333333333335 = -0.1666666666666665,
	 * float32 -0.16666667 where the float32 steps give -0.16666669. */
	double thirds[3] = {0.1, 0.7, 0.35};
	double out64[3];
	info = embed_normalize(thirds, 3, 1, EMBED_FLOAT64, out, out64);
	CHECK(info.scale == 2.0 / (0.7 - 0.1) && out64[2] == (0.35 - (0.1 + 0.7) / 2) * info.scale &&
	      out[2] == (float)out64[2] && out[0] == -1.0f && out[1] == 1.0f,
	      "embed float64: every step in double, rounded once (%.9g)", out[2]);
	float out32[3];
	embed_normalize(thirds, 3, 1, EMBED_FLOAT32, out32, NULL);
	float c32 = ((float)0.1 + (float)0.7) / 2.0f, s32 = 2.0f / ((float)0.7 - (float)0.1);
	CHECK(out32[2] == ((float)0.35 - c32) * s32,
	      "embed float32: the same steps in float32 (%.9g)", out32[2]);
	info = embed_normalize(flat, 3, 1, EMBED_FLOAT64, out, out64);
	CHECK(info.scale == 2.0 && out[1] == 0, "embed float64: a range of 0 -> 1.0");
}

/* ---- centroids and outlier quantiles -------------------------------- */

static void test_centroid(void)
{
	/* cat 0: 9 cells; cat 1: 10 cells; cat 2: 19 at origin + 1 at 100;
	 * plus missing (-1) and out-of-range (7) codes. */
	enum { N = 41 };
	float pts[N * 2] = {0};
	int32_t codes[N];
	for (int i = 0; i < 9; i++)
		codes[i] = 0, pts[2 * i] = 50;
	for (int i = 9; i < 19; i++)
		codes[i] = 1, pts[2 * i] = (float)(i - 9), pts[2 * i + 1] = 2;
	for (int i = 19; i < 39; i++)
		codes[i] = 2;
	pts[2 * 38] = 100;
	codes[39] = -1, pts[2 * 39] = 1000;
	codes[40] = 7, pts[2 * 40] = 1000;
	centroid c[3];
	int rc = centroid_compute(pts, N, 2, codes, 3, c);
	CHECK(rc == 0, "centroid_compute runs");
	CHECK(!c[0].present, "centroid: < 10 cells -> none");
	CHECK(c[1].present && c[1].n_points == 10 && c[1].position[0] == 4.5f &&
	      c[1].position[1] == 2.0f, "centroid: exactly 10 cells -> plain mean");
	/* mean (5, 0); distances 19 x 5 and 95; q95 = 5 + 0.05 * 90 = 9.5 */
	CHECK(c[2].present && c[2].n_points == 19 && c[2].position[0] == 0.0f &&
	      c[2].position[1] == 0.0f, "centroid: outlier beyond the 0.95 quantile dropped");
	float minus_zero[20];
	for (int i = 0; i < 20; i++)
		minus_zero[i] = i % 2 ? 1.0f : -0.0f;
	rc = centroid_compute(minus_zero, 10, 2, codes + 9, 2, c);
	CHECK(rc == 0 && c[1].present && float_bits(c[1].position[0]) == 0,
	      "centroid: sums start at +0 like numpy (-0.0 points -> +0.0)");
	rc = centroid_compute(pts, N, 4, codes, 3, c);
	CHECK(rc == -1, "centroid: d = 4 refused");

	/* Values from numpy 1.24 (the reference's arithmetic). d = 1 sums
	 * pairwise (a sequential sum gives 1018.20013); d = 3 sequentially
	 * (per-column pairwise sums differ in the last bits). */
	enum { M = 300 };
	float *p1 = malloc(M * sizeof(float)), *p3 = malloc(3 * M * sizeof(float));
	int32_t *zero = calloc(M, sizeof(int32_t));
	if (!p1 || !p3 || !zero)
		abort();
	for (int i = 0; i < M; i++) {
		float k = (float)(i * 11 % 101), scaled = k * 0.37f;
		p1[i] = scaled + 1000.0f;
		p3[3 * i] = (float)((double)(i * 7 % 101) * 0.37 + 1000.0);
		p3[3 * i + 1] = (float)((double)(i * i % 97) / 3.0);
		p3[3 * i + 2] = (float)(1.0 / (i + 1));
	}
	centroid one;
	centroid_compute(p1, M, 1, zero, 1, &one);
	CHECK(one.present && one.n_points == 285 &&
	      float_bits(one.position[0]) == 1149144272u,
	      "centroid: d=1 equals numpy bit for bit (%.9g, n %zu)",
	      one.position[0], one.n_points);
	centroid_compute(p3, M, 3, zero, 1, &one);
	CHECK(one.present && one.n_points == 285 &&
	      float_bits(one.position[0]) == 0x447e9b03u &&
	      float_bits(one.position[1]) == 0x417ab442u &&
	      float_bits(one.position[2]) == 0x3c8429dau,
	      "centroid: d=3 equals numpy bit for bit");
	free(p1);
	free(p3);
	free(zero);
}

static void test_outliers(void)
{
	enum { N = 22 };
	float latent[N];
	int32_t codes[N];
	for (int i = 0; i < 10; i++)
		codes[i] = 0, latent[i] = (float)i;
	for (int i = 10; i < 19; i++)
		codes[i] = 1, latent[i] = 0;
	codes[19] = -1, codes[20] = 5, codes[21] = 0;
	latent[19] = latent[20] = 0, latent[21] = 4.5f;
	float q[N];
	int rc = outlier_quantiles(latent, N, 1, codes, 2, q);
	CHECK(rc == 0, "outlier_quantiles runs");
	/* category 0 = 0..9 and 4.5: mean 4.5, distances 4.5..0.5, 0 */
	CHECK(q[21] == 1.0f / 11 && q[4] == 3.0f / 11 && q[5] == 3.0f / 11 &&
	      q[0] == 1.0f && q[9] == 1.0f,
	      "outliers: rank/n with ties counted (d_j <= d_i)");
	int nans = 0;
	for (int i = 10; i < 21; i++)
		nans += isnan(q[i]) != 0;
	CHECK(nans == 11, "outliers: small category, missing and out-of-range codes -> NaN");
	rc = outlier_quantiles(NULL, N, 1, codes, 2, q);
	CHECK(rc == 0 && isnan(q[0]) && isnan(q[21]), "outliers: no latent space -> all NaN");
}

/* ---- edges ---------------------------------------------------------- */

static void test_edges(void)
{
	edges e;
	int64_t empty_ptr[6] = {0};
	int rc = edges_build(5, empty_ptr, NULL, NULL, EDGES_SUM, &e);
	CHECK(rc == 0 && e.n_edges == 0 && e.max_neighbors == 0 && !e.src &&
	      !e.dst && !e.weight, "edges: empty graph");
	edges_free(&e);
	rc = edges_build(0, empty_ptr, NULL, NULL, EDGES_SUM, &e);
	CHECK(rc == 0 && e.n_edges == 0, "edges: zero cells");

	/* Asymmetric: only C[0,2]. */
	int64_t p1[4] = {0, 1, 1, 1};
	uint32_t i1[1] = {2};
	double d1[1] = {0.5};
	rc = edges_build(3, p1, i1, d1, EDGES_SUM, &e);
	CHECK(rc == 0 && e.n_edges == 1 && e.src[0] == 0 && e.dst[0] == 2 && e.weight[0] == 0.5 &&
	      e.max_neighbors == 1 && e.max_degree == 1,
	      "edges: one direction suffices (C + C^T)");
	edges_free(&e);

	/* Row 0 unsorted with a duplicate, row 2 -> 0, diagonal at 1, an
	 * explicit zero pair 1-3, and C[1,0] + C[0,1]. */
	int64_t p2[5] = {0, 3, 7, 8, 9};
	uint32_t i2[9] = {2, 1, 2, 1, 0, 3, 3, 0, 1};
	double d2[9] = {1, 2, 4, 5, 0.25, 0, 0, 8, 0};
	rc = edges_build(4, p2, i2, d2, EDGES_SUM, &e);
	CHECK(rc == 0, "edges: duplicates and unsorted build");
	CHECK(e.n_edges == 2 && e.src[0] == 0 && e.dst[0] == 1 && e.src[1] == 0 &&
	      e.dst[1] == 2, "edges: sorted, deduplicated, zero-weight pair dropped");
	CHECK(e.n_edges == 2 && e.weight[0] == 2.25 && e.weight[1] == 13,
	      "edges: weights are C[r,c] + C[c,r] with repeats summed");
	CHECK(e.max_neighbors == 2 && e.max_degree == 2,
	      "edges: max_neighbors 2 (cell 0: two edges; cell 1: edge + diagonal)");
	edges_free(&e);

	int64_t p3[3] = {0, 1, 2};
	uint32_t i3[2] = {0, 1};
	double d3[2] = {1, 1};
	rc = edges_build(2, p3, i3, d3, EDGES_SUM, &e);
	CHECK(rc == 0 && e.n_edges == 0 &&
	      e.max_neighbors == 1 && e.max_degree == 0,
	      "edges: diagonal only -> no edge, counted in max_neighbors, not in max_degree");
	edges_free(&e);

	uint32_t out_of_range[1] = {3};
	rc = edges_build(3, p1, out_of_range, d1, EDGES_SUM, &e);
	CHECK(rc == -1 && !e.src, "edges: index >= n refused");
	int64_t backwards[4] = {0, 1, 0, 1};
	rc = edges_build(3, backwards, i1, d1, EDGES_SUM, &e);
	CHECK(rc == -1, "edges: decreasing indptr refused");

	/* Random graph against a dense brute force. Integer weights keep the
	 * sums exact whatever their order. */
	enum { N = 60, PER_ROW = 9 };
	int64_t ptr[N + 1];
	uint32_t idx[N * PER_ROW];
	double val[N * PER_ROW];
	static double dense[N][N];
	uint32_t seed = 7;
	ptr[0] = 0;
	for (int r = 0; r < N; r++) {
		for (int k = 0; k < PER_ROW; k++) {
			seed = seed * 1664525u + 1013904223u;
			idx[r * PER_ROW + k] = (seed >> 8) % N;
			val[r * PER_ROW + k] = (double)((seed >> 4) % 5 + 1);
			dense[r][idx[r * PER_ROW + k]] += val[r * PER_ROW + k];
		}
		ptr[r + 1] = (r + 1) * PER_ROW;
	}
	rc = edges_build(N, ptr, idx, val, EDGES_SUM, &e);
	CHECK(rc == 0, "edges: random graph builds");
	size_t k = 0, wrong = 0, max_stored = 0;
	for (int r = 0; r < N; r++) {
		size_t stored = 0;
		for (int c = 0; c < N; c++) {
			double w = dense[r][c] + dense[c][r];
			stored += w != 0;
			if (c <= r || w == 0)
				continue;
			if (k >= e.n_edges || e.src[k] != (uint32_t)r ||
			    e.dst[k] != (uint32_t)c || e.weight[k] != w)
				wrong++;
			k++;
		}
		max_stored = stored > max_stored ? stored : max_stored;
	}
	CHECK(wrong == 0 && k == e.n_edges && e.max_neighbors == max_stored,
	      "edges: random graph equals the dense brute force (%zu edges, max %zu)",
	      e.n_edges, e.max_neighbors);
	edges_free(&e);
}

/* ---- the reference export ------------------------------------------- */

static void *read_whole(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	void *buf = NULL;
	if (fseek(f, 0, SEEK_END) == 0) {
		long size = ftell(f);
		if (size >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
		    (buf = malloc(size ? (size_t)size + 1 : 1)) != NULL) {
			if (fread(buf, 1, (size_t)size, f) != (size_t)size) {
				free(buf);
				buf = NULL;
			} else {
				((char *)buf)[size] = '\0';
				*len = (size_t)size;
			}
		}
	}
	fclose(f);
	return buf;
}

/* A reference payload, inflated when its name ends in .gz. */
static void *read_payload(const char *path, size_t *len)
{
	size_t n;
	void *raw = read_whole(path, &n);
	size_t plen = strlen(path);
	if (!raw || plen < 3 || strcmp(path + plen - 3, ".gz") != 0) {
		*len = n;
		return raw;
	}
	void *out = NULL;
	if (gz_decompress(raw, n, &out, len) != 0)
		out = NULL;
	free(raw);
	return out;
}

/* A whole dataset converted to memtype; count = its element count. */
static void *h5_read(hid_t file, const char *name, hid_t memtype, size_t *count)
{
	hid_t d = H5Dopen2(file, name, H5P_DEFAULT);
	if (d < 0)
		return NULL;
	hid_t space = H5Dget_space(d);
	hssize_t n = H5Sget_simple_extent_npoints(space);
	void *buf = n >= 0 ? malloc((size_t)(n ? n : 1) * H5Tget_size(memtype)) : NULL;
	if (buf && H5Dread(d, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
		free(buf);
		buf = NULL;
	}
	H5Sclose(space);
	H5Dclose(d);
	*count = (size_t)n;
	return buf;
}

/* A 1-D dataset of variable-length strings, as malloc'd copies. */
static char **h5_read_strings(hid_t file, const char *name, size_t *count)
{
	hid_t d = H5Dopen2(file, name, H5P_DEFAULT);
	if (d < 0)
		return NULL;
	hid_t ftype = H5Dget_type(d), space = H5Dget_space(d);
	hid_t mtype = H5Tcopy(H5T_C_S1);
	H5Tset_size(mtype, H5T_VARIABLE);
	H5Tset_cset(mtype, H5Tget_cset(ftype));
	hssize_t n = H5Sget_simple_extent_npoints(space);
	char **raw = calloc((size_t)(n > 0 ? n : 1), sizeof(char *));
	char **copy = calloc((size_t)(n > 0 ? n : 1), sizeof(char *));
	if (raw && copy && H5Dread(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw) >= 0) {
		for (hssize_t i = 0; i < n; i++)
			copy[i] = strdup(raw[i] ? raw[i] : "");
#if H5_VERSION_GE(1, 12, 0)
		H5Treclaim(mtype, space, H5P_DEFAULT, raw);
#else
		H5Dvlen_reclaim(mtype, space, H5P_DEFAULT, raw);
#endif
		*count = (size_t)n;
	} else {
		free(copy);
		copy = NULL;
	}
	free(raw);
	H5Tclose(mtype);
	H5Tclose(ftype);
	H5Sclose(space);
	H5Dclose(d);
	return copy;
}

static void free_strings(char **s, size_t n)
{
	for (size_t i = 0; s && i < n; i++)
		free(s[i]);
	free(s);
}

/* The manifests are read by looking for known snippets: enough for the
 * fixed shape the reference writes, and no JSON library in the test. */
static const char *after(const char *text, const char *snippet)
{
	const char *at = strstr(text, snippet);
	return at ? at + strlen(snippet) : NULL;
}

/* `["key", min, max]` of a continuous field or gene. */
static int manifest_range(const char *json, const char *key, float *min, float *max)
{
	char snippet[256];
	snprintf(snippet, sizeof(snippet), "[\"%s\", ", key);
	const char *p = after(json, snippet);
	if (!p)
		return -1;
	char *end;
	*min = (float)strtod(p, &end);
	if (strncmp(end, ", ", 2) != 0)
		return -1;
	*max = (float)strtod(end + 2, &end);
	return *end == ']' ? 0 : -1;
}

static void check_embedding(const double *umap, float *points)
{
	embed_info info = embed_normalize(umap, 700, 2, EMBED_FLOAT32, points, NULL);
	const char *paths[2] = {REF_RAW "points_2d.bin", REF_Q8 "points_2d.bin.gz"};
	for (int k = 0; k < 2; k++) {
		size_t len;
		float *ref = read_payload(paths[k], &len);
		if (!ref || len != sizeof(float) * 1400) {
			CHECK(0, "reference %s readable", paths[k]);
			free(ref);
			continue;
		}
		size_t differ = 0;
		double worst = 0;
		for (int i = 0; i < 1400; i++) {
			differ += !same_float(points[i], ref[i]);
			double rel = fabs((double)points[i] - ref[i]) /
			             (fabs((double)ref[i]) + 1e-30);
			worst = rel > worst ? rel : worst;
		}
		CHECK(differ == 0 && info.n_nonfinite == 0,
		      "reference: X_umap normalised equals %s bit for bit (%zu differ, max rel %.3g)",
		      paths[k], differ, worst);
		free(ref);
	}
}

static void check_genes(hid_t file)
{
	size_t nx, ngenes;
	float *x = h5_read(file, "/X", H5T_NATIVE_FLOAT, &nx);
	char **genes = h5_read_strings(file, "/var/index", &ngenes);
	size_t mlen;
	char *manifest = read_whole(REF_Q8 "var_manifest.json", &mlen);
	float *column = malloc(700 * sizeof(float));
	uint8_t *codes = malloc(700);
	if (!x || !genes || !manifest || !column || !codes || nx != 700 * ngenes) {
		CHECK(0, "reference: X, var/index and var_manifest.json readable");
		goto out;
	}
	size_t differ = 0, genes_differ = 0, bad_range = 0, unreadable = 0;
	for (size_t g = 0; g < ngenes; g++) {
		for (size_t i = 0; i < 700; i++)
			column[i] = x[i * ngenes + g];
		quant_range r = quant_find_range(column, 700, QUANT_TRUNC32);
		quant_encode_u8(column, 700, r, codes);
		float min, max;
		if (manifest_range(manifest, genes[g], &min, &max) != 0 ||
		    min != r.min || max != r.max)
			bad_range++;
		char *safe = safename(genes[g]), path[512];
		snprintf(path, sizeof(path), REF_Q8 "var/%s.values.u8.gz", safe);
		free(safe);
		size_t len;
		uint8_t *ref = read_payload(path, &len);
		if (!ref || len != 700) {
			unreadable++;
		} else {
			size_t d = 0;
			for (size_t i = 0; i < 700; i++)
				d += codes[i] != ref[i];
			differ += d;
			genes_differ += d != 0;
		}
		free(ref);
	}
	CHECK(unreadable == 0, "reference: all %zu var/*.values.u8.gz readable", ngenes);
	CHECK(bad_range == 0,
	      "reference: gene min/max equal var_manifest.json (%zu of %zu differ)",
	      bad_range, ngenes);
	CHECK(differ == 0,
	      "reference: 8-bit codes of all %zu genes equal (%zu codes in %zu genes differ)",
	      ngenes, differ, genes_differ);
out:
	free(x);
	free_strings(genes, ngenes);
	free(manifest);
	free(column);
	free(codes);
}

static void check_obs_values(hid_t file, const char *obs_manifest)
{
	static const char *keys[] = {"n_genes", "percent_mito", "n_counts",
	                             "S_score", "G2M_score"};
	for (size_t k = 0; k < sizeof(keys) / sizeof(*keys); k++) {
		char name[128], path[512];
		snprintf(name, sizeof(name), "/obs/%s", keys[k]);
		snprintf(path, sizeof(path), REF_Q8 "obs/%s.values.u8.gz", keys[k]);
		size_t n, len;
		float *v = h5_read(file, name, H5T_NATIVE_FLOAT, &n);
		uint8_t *ref = read_payload(path, &len);
		uint8_t codes[700];
		float min, max;
		int ok = v && ref && n == 700 && len == 700 &&
		         manifest_range(obs_manifest, keys[k], &min, &max) == 0;
		size_t differ = 0;
		quant_range r = {0, 0, QUANT_TRUNC32};
		if (ok) {
			r = quant_find_range(v, n, QUANT_TRUNC32);
			quant_encode_u8(v, n, r, codes);
			for (size_t i = 0; i < n; i++)
				differ += codes[i] != ref[i];
		}
		CHECK(ok && differ == 0 && r.min == min && r.max == max,
		      "reference: obs %s range and 8-bit codes equal (%zu differ)",
		      keys[k], differ);
		free(v);
		free(ref);
	}
}

/* The text of field key's centroid list in obs_manifest.json, cut at its
 * end (the caller's copy is modified). Also its outlier min/max. */
static char *centroid_block(char *json, const char *key, float *omin, float *omax)
{
	char snippet[128];
	snprintf(snippet, sizeof(snippet), "[\"%s\", [", key);
	char *p = strstr(json, snippet);
	char *block = p ? strstr(p, "{\"2\": [") : NULL;
	char *end = block ? strstr(block, "]}") : NULL;
	if (!end)
		return NULL;
	char *rest;
	*omin = (float)strtod(end + 4, &rest); /* after "]}, " */
	*omax = (float)strtod(rest + 2, NULL);
	*end = '\0';
	return block;
}

static void check_categorical(hid_t file, const char *key, const float *points,
                              const float *pca, const char *obs_manifest)
{
	char name[128], path[512];
	size_t n, ncat;
	snprintf(name, sizeof(name), "/obs/%s/codes", key);
	int32_t *codes = h5_read(file, name, H5T_NATIVE_INT32, &n);
	snprintf(name, sizeof(name), "/obs/%s/categories", key);
	char **cats = h5_read_strings(file, name, &ncat);
	char *json = strdup(obs_manifest);
	centroid *cent = cats ? calloc(ncat, sizeof(*cent)) : NULL;
	float omin, omax, q[700];
	char *block = json ? centroid_block(json, key, &omin, &omax) : NULL;
	if (!codes || !cats || !cent || !block || n != 700) {
		CHECK(0, "reference: %s codes, categories and manifest entry readable", key);
		goto out;
	}

	int rc = centroid_compute(points, 700, 2, codes, ncat, cent);
	CHECK(rc == 0, "reference: %s centroids computed", key);
	size_t wrong = 0, present = 0;
	for (size_t c = 0; c < ncat; c++) {
		char snippet[256];
		snprintf(snippet, sizeof(snippet),
		         "{\"category\": \"%s\", \"position\": [", cats[c]);
		const char *at = after(block, snippet);
		if (!cent[c].present) {
			wrong += at != NULL;
			continue;
		}
		present++;
		char *end;
		float x = at ? (float)strtod(at, &end) : NAN;
		float y = at ? (float)strtod(end + 2, &end) : NAN;
		const char *np = at ? after(end, "\"n_points\": ") : NULL;
		long n_points = np ? strtol(np, NULL, 10) : -1;
		wrong += !(same_float(x, cent[c].position[0]) &&
		           same_float(y, cent[c].position[1]) &&
		           n_points == (long)cent[c].n_points);
	}
	CHECK(wrong == 0,
	      "reference: %s centroids (%zu of %zu categories) equal obs_manifest.json bit for bit (%zu differ)",
	      key, present, ncat, wrong);

	rc = outlier_quantiles(pca, 700, 50, codes, ncat, q);
	CHECK(rc == 0, "reference: %s outlier quantiles computed", key);
	size_t len, differ = 0;
	snprintf(path, sizeof(path), REF_RAW "obs/%s.outliers.f32", key);
	float *ref = read_payload(path, &len);
	for (size_t i = 0; ref && len == sizeof(q) && i < 700; i++)
		differ += !same_float(q[i], ref[i]);
	CHECK(ref && len == sizeof(q) && differ == 0,
	      "reference: %s outlier quantiles equal %s.outliers.f32 (%zu differ)",
	      key, key, differ);
	free(ref);

	quant_range r = quant_find_range(q, 700, QUANT_TRUNC32);
	uint8_t qc[700];
	quant_encode_u8(q, 700, r, qc);
	snprintf(path, sizeof(path), REF_Q8 "obs/%s.outliers.u8.gz", key);
	uint8_t *ref8 = read_payload(path, &len);
	differ = 0;
	for (size_t i = 0; ref8 && len == 700 && i < 700; i++)
		differ += qc[i] != ref8[i];
	CHECK(ref8 && len == 700 && differ == 0 && r.min == omin && r.max == omax,
	      "reference: %s quantised outliers and their range equal (%zu differ)",
	      key, differ);
	free(ref8);
out:
	free(codes);
	free_strings(cats, ncat);
	free(cent);
	free(json);
}

static void check_edges(hid_t file)
{
	size_t np, ni, nd;
	int64_t *indptr = h5_read(file, "/obsp/connectivities/indptr",
	                          H5T_NATIVE_INT64, &np);
	uint32_t *indices = h5_read(file, "/obsp/connectivities/indices",
	                            H5T_NATIVE_UINT32, &ni);
	double *data = h5_read(file, "/obsp/connectivities/data",
	                       H5T_NATIVE_DOUBLE, &nd);
	size_t mlen;
	char *manifest = read_whole(REF_Q8 "connectivity_manifest.json", &mlen);
	const char *p_edges = manifest ? after(manifest, "\"n_edges\": ") : NULL;
	const char *p_max = manifest ? after(manifest, "\"max_neighbors\": ") : NULL;
	edges e = {0};
	if (!indptr || !indices || !data || np != 701 || ni != nd || !p_edges ||
	    !p_max || edges_build(700, indptr, indices, data, EDGES_SUM, &e) != 0) {
		CHECK(0, "reference: connectivities read and edges built");
		goto out;
	}
	CHECK(e.n_edges == (size_t)strtol(p_edges, NULL, 10) &&
	      e.max_neighbors == (size_t)strtol(p_max, NULL, 10),
	      "reference: n_edges %zu and max_neighbors %zu equal the manifest",
	      e.n_edges, e.max_neighbors);
	const char *files[4] = {REF_RAW "connectivity/edges.src.bin",
	                        REF_RAW "connectivity/edges.dst.bin",
	                        REF_Q8 "connectivity/edges.src.bin.gz",
	                        REF_Q8 "connectivity/edges.dst.bin.gz"};
	for (int k = 0; k < 4; k++) {
		size_t len, differ = 0;
		uint16_t *ref = read_payload(files[k], &len);
		const uint32_t *ours = k % 2 ? e.dst : e.src;
		int ok = ref && len == e.n_edges * sizeof(uint16_t);
		for (size_t i = 0; ok && i < e.n_edges; i++)
			differ += ours[i] != ref[i];
		CHECK(ok && differ == 0, "reference: %s equal (%zu differ)", files[k],
		      differ);
		free(ref);
	}
	size_t nonpositive = 0;
	for (size_t i = 0; i < e.n_edges; i++)
		nonpositive += !(e.weight[i] > 0);
	CHECK(nonpositive == 0 && e.max_degree == e.max_neighbors,
	      "reference: weights positive, max_degree = max_neighbors (no diagonal)");
out:
	edges_free(&e);
	free(indptr);
	free(indices);
	free(data);
	free(manifest);
}

static void test_reference(void)
{
	if (access(SHARED, F_OK) != 0) {
		SKIP("reference comparison: " SHARED " is absent (fresh clone without shared/)");
		return;
	}
	H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
	hid_t file = H5Fopen(FIXTURE, H5F_ACC_RDONLY, H5P_DEFAULT);
	if (file < 0) {
		CHECK(0, "reference: %s opens", FIXTURE);
		return;
	}
	size_t nu, np, mlen;
	double *umap = h5_read(file, "/obsm/X_umap", H5T_NATIVE_DOUBLE, &nu);
	float *pca = h5_read(file, "/obsm/X_pca", H5T_NATIVE_FLOAT, &np);
	char *obs_manifest = read_whole(REF_Q8 "obs_manifest.json", &mlen);
	float *points = malloc(1400 * sizeof(float));
	if (!umap || !pca || !obs_manifest || !points || nu != 1400 || np != 35000) {
		CHECK(0, "reference: X_umap, X_pca and obs_manifest.json readable");
	} else {
		check_embedding(umap, points);
		check_genes(file);
		check_obs_values(file, obs_manifest);
		check_categorical(file, "bulk_labels", points, pca, obs_manifest);
		check_categorical(file, "phase", points, pca, obs_manifest);
		check_categorical(file, "louvain", points, pca, obs_manifest);
		check_edges(file);
	}
	free(umap);
	free(pca);
	free(obs_manifest);
	free(points);
	H5Fclose(file);
}

static void check_utf8(const char *in, const char *want, const char *what)
{
	int failed;
	char *got = utf8_repair(in, &failed);
	CHECK(!failed && (want ? got && !strcmp(got, want) : !got), "utf8_repair: %s", what);
	if (got) {
		char *a = safename(in), *b = safename(got);
		CHECK(a && b && !strcmp(a, b), "utf8_repair keeps the safe name: %s", what);
		free(a);
		free(b);
	}
	free(got);
}

static void test_utf8(void)
{
	check_utf8("CD4+ T", NULL, "ASCII is left alone");
	check_utf8("G\xc3\xa8ne \xe2\x82\xac \xf0\x9f\x98\x80", NULL, "valid 2-4 byte sequences");
	check_utf8("a\xff" "b", "a\xef\xbf\xbd" "b", "a stray byte");
	check_utf8("x\xc3", "x\xef\xbf\xbd", "a truncated sequence at the end");
	check_utf8("\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd", "an overlong '/'");
	check_utf8("\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", "a surrogate");
	check_utf8("\xf4\x90\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd",
		   "past U+10FFFF");
}

int main(void)
{
	test_quant();
	test_gz();
	test_safename();
	test_utf8();
	test_embed();
	test_centroid();
	test_outliers();
	test_edges();
	test_reference();
	return CHECK_DONE();
}
