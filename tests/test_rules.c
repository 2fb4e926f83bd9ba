/*
 * test_rules.c - unit tests of the newest exporter's arithmetic in codec/,
 * which layout=index follows (docs/export-rules.md): QUANT_FLOOR64, EDGES_MAX
 * and numfmt's Python repr() of doubles, against figures worked out by hand
 * (the 0.9 exporter's rules are test_codec.c's). tests/parity.sh checks the
 * same rules end to end on a mount.
 */
#include "check.h"
#include "edges.h"
#include "numfmt.h"
#include "quant.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- quantisation --------------------------------------------------- */

/* QUANT_FLOOR64 against figures worked out by hand (with Python floats,
 * i.e. IEEE doubles, for the products quoted). */
static void test_quant_floor64(void)
{
	uint8_t c8[8];
	uint16_t c16[8];
	float constant[3] = {3.5f, 3.5f, NAN};
	quant_range r = quant_find_range(constant, 3, QUANT_FLOOR64);
	CHECK(r.min == 3.5f && r.max == 3.5f && r.rule == QUANT_FLOOR64,
	      "floor64: a constant field keeps [v, v]");
	quant_encode_u8(constant, 3, r, c8);
	quant_encode_u16(constant, 3, r, c16);
	CHECK(c8[0] == 0 && c8[1] == 0 && c8[2] == 255 && c16[0] == 0 && c16[2] == 65535,
	      "floor64: constant -> code 0, NaN still missing");
	r = quant_range_adjust(0.0f, 0.0f, 0, QUANT_FLOOR64);
	CHECK(r.min == 0.0f && r.max == 1.0f, "floor64: nothing finite -> [0, 1]");

	/* max 1.5271801948547363 (float32): (max - 0) * (254 / max) is 254.0
	 * in double but 253.99998 in float32, so the old rule put the field's
	 * maximum at 253. */
	float top[2] = {0.0f, 1.5271801948547363f};
	r = quant_find_range(top, 2, QUANT_FLOOR64);
	quant_encode_u8(top, 2, r, c8);
	CHECK(c8[0] == 0 && c8[1] == 254, "floor64: the maximum is 254 (%u)", c8[1]);
	quant_range old = quant_find_range(top, 2, QUANT_TRUNC32);
	quant_encode_u8(top, 2, old, c8);
	CHECK(c8[1] == 253, "trunc32: the same maximum is 253 under the 0.9 rule (%u)", c8[1]);
	quant_encode_u16(top, 2, r, c16);
	CHECK(c16[1] == 65534, "floor64: the 16-bit maximum is 65534 (%u)", c16[1]);

	/* min 0.1f, max 25.5: v = 8.5 gives 83.99999999002678, which the
	 * 1e-8 lifts to 84; v = 8.45 gives 83.49999808264882 -> 83. */
	float nudge[4] = {0.1f, 25.5f, 8.5f, 8.45f};
	r = quant_find_range(nudge, 4, QUANT_FLOOR64);
	quant_encode_u8(nudge, 4, r, c8);
	CHECK(c8[0] == 0 && c8[1] == 254 && c8[2] == 84 && c8[3] == 83,
	      "floor64: 83.99999999 + 1e-8 -> 84 (%u), 83.6 -> 83 (%u)", c8[2], c8[3]);

	/* min -0.8386748433113098, max 3.88468337059021: v = 1.4114288091659546
	 * is 120.9999... in double (120) but 121 in float32. */
	float high[3] = {-0.8386748433113098f, 3.88468337059021f, 1.4114288091659546f};
	r = quant_find_range(high, 3, QUANT_FLOOR64);
	quant_encode_u8(high, 3, r, c8);
	CHECK(c8[2] == 120, "floor64: the code float32 puts one step high is 120 (%u)", c8[2]);

	float odd[4] = {-INFINITY, INFINITY, -5.0f, 9.0f};
	r = (quant_range){0.0f, 2.0f, QUANT_FLOOR64};
	quant_encode_u8(odd, 4, r, c8);
	CHECK(c8[0] == 255 && c8[1] == 255 && c8[2] == 0 && c8[3] == 254,
	      "floor64: +-Inf missing, values outside the range clip");

	/* Block and tail paths against the formula written out plainly. */
	enum { N = 1003 };
	float v[N];
	uint8_t got8[N];
	uint16_t got16[N];
	uint32_t seed = 99;
	for (int i = 0; i < N; i++) {
		seed = seed * 1664525u + 1013904223u;
		v[i] = i % 89 == 7 ? NAN : (float)(seed >> 8) / 16777216.0f * 13.0f - 2.5f;
	}
	r = quant_find_range(v, N, QUANT_FLOOR64);
	quant_encode_u8(v, N, r, got8);
	quant_encode_u16(v, N, r, got16);
	int bad = 0;
	for (int i = 0; i < N; i++) {
		int want8 = 255, want16 = 65535;
		if (!isnan(v[i])) {
			double d = (double)v[i] - (double)r.min;
			want8 = (int)floor(d * (254.0 / ((double)r.max - r.min)) + 1e-8);
			want16 = (int)floor(d * (65534.0 / ((double)r.max - r.min)) + 1e-8);
		}
		bad += got8[i] != want8 || got16[i] != want16;
	}
	CHECK(bad == 0, "floor64: %d values (vector blocks + tail) match floor(d*s + 1e-8) "
	      "(%d off)", N, bad);
}

/* ---- numfmt --------------------------------------------------------- */

/* Expected texts: Python 3's repr() of each value. */
static void test_numfmt(void)
{
	static const struct {
		double v;
		const char *repr;
	} cases[] = {
		{0x0.0p+0, "0.0"},
		{-0x0.0p+0, "-0.0"},
		{0x1.0000000000000p+0, "1.0"},
		{0x1.f480000000000p+9, "1001.0"},
		{0x1.e666666666666p-1, "0.95"},
		{0x1.999999999999ap-4, "0.1"},
		{0x1.3560420000000p+2, "4.834000110626221"},
		{-0x1.4dd2f20000000p-2, "-0.32600000500679016"},
		{0x1.a36e2eb1c432dp-14, "0.0001"},
		{0x1.4f8b588e368f1p-17, "1e-05"},
		{0x1.f75104d551d69p-17, "1.5e-05"},
		{0x1.c12218377de40p+46, "123456789012345.0"},
		{0x1.c6bf526340000p+49, "1000000000000000.0"},
		{0x1.1c37937e08000p+53, "1e+16"},
		{0x1.5eddb25e04800p+53, "1.2345e+16"},
		{0x1.0000000000000p+53, "9007199254740992.0"},
		{0x0.0000000000001p-1022, "5e-324"},
		{0x1.fffffffffffffp+1023, "1.7976931348623157e+308"},
		{-0x1.0c6f7a0b5ed8dp-22, "-2.5e-07"},
		{0x1.3d4e780000000p-8, "0.004841713234782219"},
		{0x1.9000000000000p+6, "100.0"},
		{0x1.0f0cf064dd592p+73, "1e+22"},
		{0x1.3333333333333p-2, "0.3"},
		{0x1.5555555555555p-1, "0.6666666666666666"},
		{0x0.012688b70e62bp-1022, "1e-310"},
		{0x1.4d8399f767c45p+23, "10928588.983213553"},
		{0x1.8fbbcbde5c099p+445, "1.4186613525849614e+134"},
		{0x1.b8c9ebd69fe29p-401, "3.3339745473042614e-121"},
		{0x1.0b125ec1d7da0p-901, "6.171090383105698e-272"},
	};
	char buf[NUMFMT_LEN];
	int bad = 0;
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		size_t n = numfmt_repr(cases[i].v, buf);
		if (strcmp(buf, cases[i].repr) || n != strlen(buf)) {
			printf("# numfmt: %a -> %s, want %s\n", cases[i].v, buf, cases[i].repr);
			bad++;
		}
	}
	CHECK(bad == 0, "numfmt: %zu values print as Python's repr (%d differ)",
	      sizeof cases / sizeof *cases, bad);
	numfmt_repr(NAN, buf);
	int ok = !strcmp(buf, "nan");
	numfmt_repr(-INFINITY, buf);
	CHECK(ok && !strcmp(buf, "-inf"), "numfmt: non-finite values print as nan/-inf");

	/* Any double: reads back exactly, and one digit fewer would not. */
	uint64_t seed = 0x9e3779b97f4a7c15u;
	int wrong = 0, longer = 0;
	for (int i = 0; i < 100000; i++) {
		seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
		double v;
		memcpy(&v, &seed, sizeof v);
		if (!isfinite(v))
			continue;
		if (i % 4 == 0) /* float32 values, as most bounds are */
			v = (float)((double)(seed >> 11) / 9007199254740992.0 * 200.0 - 100.0);
		else if (i % 4 == 1) /* subnormals */
			v = ldexp((double)(seed >> 12), -1074);
		numfmt_repr(v, buf);
		wrong += strtod(buf, NULL) != v;
		size_t digits = 0;
		int seen = 0;
		for (const char *p = buf; *p && *p != 'e'; p++) {
			seen |= *p >= '1' && *p <= '9';
			digits += seen && *p >= '0' && *p <= '9';
		}
		/* trailing zeros of "1001.0" are not significant */
		for (const char *p = strchr(buf, 'e') ? strchr(buf, 'e') : buf + strlen(buf);
		     digits > 1 && (p[-1] == '0' || p[-1] == '.'); p--)
			digits -= p[-1] == '0';
		char shorter[NUMFMT_LEN];
		snprintf(shorter, sizeof shorter, "%.*e", (int)digits - 2, v);
		longer += digits > 1 && strtod(shorter, NULL) == v;
	}
	CHECK(wrong == 0 && longer == 0,
	      "numfmt: 100000 random doubles read back exactly (%d not) with the fewest digits "
	      "(%d could be shorter)", wrong, longer);
}

/* ---- edges --------------------------------------------------------- */

/* EDGES_MAX, the newest exporter's rule, on graphs worked out by hand. */
static void test_edges_max(void)
{
	edges e;
	/* Symmetric 3-cycle with weights 0.5, 0.25, 0.75 (each stored twice,
	 * rows unsorted): the weight is C[u,v], not C[u,v] + C[v,u]. */
	int64_t p1[4] = {0, 2, 4, 6};
	uint32_t i1[6] = {2, 1, 0, 2, 1, 0};
	double d1[6] = {0.25, 0.5, 0.5, 0.75, 0.75, 0.25};
	int rc = edges_build(3, p1, i1, d1, EDGES_MAX, &e);
	CHECK(rc == 0 && e.n_edges == 3 && e.src[0] == 0 && e.dst[0] == 1 && e.src[1] == 0 &&
	      e.dst[1] == 2 && e.src[2] == 1 && e.dst[2] == 2,
	      "edges max: symmetric triangle, sorted (src, dst)");
	CHECK(e.n_edges == 3 && e.weight[0] == 0.5 && e.weight[1] == 0.25 && e.weight[2] == 0.75,
	      "edges max: weights are C[u,v] of the symmetric graph (not doubled)");
	CHECK(e.max_neighbors == 2 && e.max_degree == 2 && e.n_asymmetric == 0 &&
	      e.n_unusable == 0 && e.n_self == 0,
	      "edges max: max_neighbors is the largest degree; nothing repaired");
	edges_free(&e);

	/* A directed kNN graph of 4 cells: 0->1 (0.9), 1->0 (0.4), 2->3 (0.6)
	 * only, 3->1 (0.2) only, a self-loop at 2 (1.0), 1->2 stored twice
	 * (0.25 + 0.5) against 2->1 0.75. Max-symmetrised: 0-1 0.9, 1-2 0.75,
	 * 1-3 0.2, 2-3 0.6; asymmetric pairs 0-1, 2-3, 1-3; 1-2 is symmetric
	 * once each side's repeats are summed. */
	int64_t p2[5] = {0, 1, 4, 7, 8};
	uint32_t i2[8] = {1, 0, 2, 2, 3, 1, 2, 1};
	double d2[8] = {0.9, 0.4, 0.25, 0.5, 0.6, 0.75, 1.0, 0.2};
	rc = edges_build(4, p2, i2, d2, EDGES_MAX, &e);
	CHECK(rc == 0 && e.n_edges == 4 && e.src[0] == 0 && e.dst[0] == 1 && e.src[1] == 1 &&
	      e.dst[1] == 2 && e.src[2] == 1 && e.dst[2] == 3 && e.src[3] == 2 && e.dst[3] == 3,
	      "edges max: a directed graph keeps the union of both directions");
	CHECK(e.n_edges == 4 && e.weight[0] == 0.9 && e.weight[1] == 0.75 &&
	      e.weight[2] == 0.2 && e.weight[3] == 0.6,
	      "edges max: asymmetric pairs get the larger side, repeats summed first");
	CHECK(e.n_asymmetric == 3 && e.n_self == 1 && e.n_unusable == 0 && e.max_neighbors == 3 &&
	      e.max_degree == 3, "edges max: 3 asymmetric pairs, 1 self-loop left out, degree 3");
	edges_free(&e);

	/* Unusable weights: 0-1 NaN on one side, 0-2 negative both sides,
	 * 1-2 an explicit zero one side and 2.0 on the other (kept, 2.0),
	 * 0-3 +Inf. */
	int64_t p3[5] = {0, 3, 5, 7, 8};
	uint32_t i3[8] = {1, 2, 3, 0, 2, 0, 1, 0};
	double d3[8] = {NAN, -1.0, INFINITY, 0.5, 0.0, -1.0, 2.0, INFINITY};
	rc = edges_build(4, p3, i3, d3, EDGES_MAX, &e);
	CHECK(rc == 0 && e.n_edges == 1 && e.src[0] == 1 && e.dst[0] == 2 && e.weight[0] == 2.0,
	      "edges max: NaN, negative and infinite pairs left out, 0 vs 2.0 kept as 2.0");
	CHECK(e.n_unusable == 3 && e.max_neighbors == 1,
	      "edges max: 3 pairs left out for their weight (%zu)", e.n_unusable);
	edges_free(&e);
}

int main(void)
{
	test_quant_floor64();
	test_numfmt();
	test_edges_max();
	return CHECK_DONE();
}
