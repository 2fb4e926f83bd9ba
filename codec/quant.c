/*
 * quant.c - float32 -> u8/u16 codes, bit-identical to either exporter.
 *
 * QUANT_TRUNC32 is the 0.9 exporter: scale = top / (max - min) in double,
 * then (v - min) * scale with v, min and scale as float32, truncated. Every
 * other grouping we tried changes a few codes in 1e5 (see tests/test_codec.c).
 * QUANT_FLOOR64 is the newest exporter: v widened to double, (v - min) *
 * scale + 1e-8, clipped, truncated (= floor, the value is >= 0 by then). The
 * 1e-8 lifts products that land a rounding error below an integer, the
 * maximum above all: (max - min) * (254 / (max - min)) can be 253.99999...
 * The multiply and the add must stay two roundings: the Makefile builds
 * with -ffp-contract=off so that no compiler fuses them into an FMA.
 *
 * These run over every gene of every cell, so the loops are written for the
 * auto-vectoriser: no branches in the body, and a fixed-length inner block,
 * because GCC at -O2 only vectorises loops whose trip count is a known
 * multiple of the vector width.
 */
#include "quant.h"

#include <float.h>
#include <math.h>

#define QUANT_BLOCK 32

static inline int is_finite(float v)
{
	return fabsf(v) <= FLT_MAX; /* false for NaN and both infinities */
}

quant_range quant_range_adjust(float min, float max, int have_finite, quant_rule rule)
{
	if (!have_finite)
		return (quant_range){0.0f, 1.0f, rule};
	if (max == min && rule == QUANT_TRUNC32)
		max = min + 1.0f;
	return (quant_range){min, max, rule};
}

quant_range quant_find_range(const float *restrict v, size_t n, quant_rule rule)
{
	/* One running min/max per lane, so the block loop is elementwise
	 * rather than a float reduction the compiler may not reorder. */
	float lo[QUANT_BLOCK], hi[QUANT_BLOCK];
	for (size_t j = 0; j < QUANT_BLOCK; j++) {
		lo[j] = INFINITY;
		hi[j] = -INFINITY;
	}
	size_t i = 0;
	for (; i + QUANT_BLOCK <= n; i += QUANT_BLOCK) {
		for (size_t j = 0; j < QUANT_BLOCK; j++) {
			float x = v[i + j];
			float xl = is_finite(x) ? x : INFINITY;
			float xh = is_finite(x) ? x : -INFINITY;
			lo[j] = xl < lo[j] ? xl : lo[j];
			hi[j] = xh > hi[j] ? xh : hi[j];
		}
	}
	float min = INFINITY, max = -INFINITY;
	for (size_t j = 0; j < QUANT_BLOCK; j++) {
		min = lo[j] < min ? lo[j] : min;
		max = hi[j] > max ? hi[j] : max;
	}
	for (; i < n; i++) {
		if (is_finite(v[i])) {
			min = v[i] < min ? v[i] : min;
			max = v[i] > max ? v[i] : max;
		}
	}
	/* Finite values are < INFINITY, so min <= max iff one was seen. */
	return quant_range_adjust(min, max, min <= max, rule);
}

/* Double division for both rules. A constant range (QUANT_FLOOR64) gives
 * inf; 0 * inf is NaN, which the clips below turn into code 0. */
static double quant_scale(quant_range r, int top)
{
	return top / ((double)r.max - (double)r.min);
}

/* Clip in the arithmetic's own type so that the conversion is always
 * defined (NaN becomes 0); the conversion then truncates toward zero. */
static inline int32_t code_trunc32(float v, float min, float scale, int top)
{
	float x = (v - min) * scale;
	x = x > 0.0f ? x : 0.0f;
	x = x < (float)top ? x : (float)top;
	return is_finite(v) ? (int32_t)x : top + 1;
}

/* The missing marker is chosen in double too: one conversion per value
 * vectorises better than a select after it. */
static inline int32_t code_floor64(float v, double min, double scale, int top)
{
	double x = ((double)v - min) * scale + 1e-8;
	x = x > 0.0 ? x : 0.0;
	x = x < (double)top ? x : (double)top;
	return (int32_t)(is_finite(v) ? x : top + 1.0);
}

/* One loop for every width and rule: CODE(v[i]) into out[i]. */
#define QUANT_LOOP(CODE)                                                       \
	do {                                                                   \
		size_t i = 0;                                                  \
		for (; i + QUANT_BLOCK <= n; i += QUANT_BLOCK)                 \
			for (size_t j = 0; j < QUANT_BLOCK; j++)               \
				out[i + j] = CODE(v[i + j]);                   \
		for (; i < n; i++)                                             \
			out[i] = CODE(v[i]);                                   \
	} while (0)

#define QUANT_ENCODE(top)                                                      \
	do {                                                                   \
		double scale = quant_scale(r, (top));                          \
		if (r.rule == QUANT_FLOOR64) {                                 \
			double min = r.min;                                    \
			QUANT_LOOP(FLOOR64);                                   \
		} else {                                                       \
			float min = r.min, fscale = (float)scale;              \
			QUANT_LOOP(TRUNC32);                                   \
		}                                                              \
	} while (0)
#define FLOOR64(x) code_floor64((x), min, scale, top)
#define TRUNC32(x) code_trunc32((x), min, fscale, top)

/* Two doubles per SSE2 vector make QUANT_FLOOR64 twice as slow as the
 * float32 rule; with AVX2's four it is faster than that was. So x86-64
 * gets an AVX2 clone of each encoder, chosen once at load time. A 100 000-
 * cell gene, 8 bits: QUANT_TRUNC32 52 us (SSE2) or 18 us (AVX2),
 * QUANT_FLOOR64 126 us (SSE2) or 47 us (AVX2). Not with clang (the fuzz
 * build): clang 14 names the clones' resolver only where every declaration,
 * the header's too, carries the attribute, so callers would not link. */
#if defined(__x86_64__) && defined(__has_attribute) && !defined(__clang__)
#if __has_attribute(target_clones)
#define QUANT_CLONES __attribute__((target_clones("avx2", "default")))
#endif
#endif
#ifndef QUANT_CLONES
#define QUANT_CLONES
#endif

QUANT_CLONES void quant_encode_u8(const float *restrict v, size_t n, quant_range r,
                     uint8_t *restrict out)
{
	const int top = 254;
	QUANT_ENCODE(top);
}

QUANT_CLONES void quant_encode_u16(const float *restrict v, size_t n, quant_range r,
                      uint16_t *restrict out)
{
	const int top = 65534;
	QUANT_ENCODE(top);
}
