/*
 * quant.c - float32 -> u8/u16 codes, bit-identical to the reference exporter.
 *
 * The reference computes scale = top / (max - min) in double, then
 * (v - min) * scale with v, min and scale as float32, and truncates. Every
 * other grouping we tried changes a few codes in 1e5 (see tests/test_codec.c),
 * so the arithmetic below is exactly that one.
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

quant_range quant_range_adjust(float min, float max, int have_finite)
{
	if (!have_finite)
		return (quant_range){0.0f, 1.0f};
	if (max == min)
		max = min + 1.0f;
	return (quant_range){min, max};
}

quant_range quant_find_range(const float *restrict v, size_t n)
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
	return quant_range_adjust(min, max, min <= max);
}

static float quant_scale(quant_range r, int top)
{
	/* Double division, then float32: what the reference does. A range
	 * whose width underflows gives inf, which quant_code clips. */
	return (float)(top / ((double)r.max - (double)r.min));
}

static inline int32_t quant_code(float v, float min, float scale, int top)
{
	float x = (v - min) * scale;
	/* Clip in float so the conversion below is always defined; NaN
	 * (0 * inf for a range of width ~0) becomes 0. The conversion then
	 * truncates toward zero. */
	x = x > 0.0f ? x : 0.0f;
	x = x < (float)top ? x : (float)top;
	return is_finite(v) ? (int32_t)x : top + 1;
}

/* One body for both widths; `out` has the element type of the function. */
#define QUANT_ENCODE(top)                                                      \
	do {                                                                   \
		float scale = quant_scale(r, (top));                           \
		size_t i = 0;                                                  \
		for (; i + QUANT_BLOCK <= n; i += QUANT_BLOCK)                 \
			for (size_t j = 0; j < QUANT_BLOCK; j++)               \
				out[i + j] = quant_code(v[i + j], r.min,       \
				                        scale, (top));         \
		for (; i < n; i++)                                             \
			out[i] = quant_code(v[i], r.min, scale, (top));        \
	} while (0)

void quant_encode_u8(const float *restrict v, size_t n, quant_range r,
                     uint8_t *restrict out)
{
	QUANT_ENCODE(254);
}

void quant_encode_u16(const float *restrict v, size_t n, quant_range r,
                      uint16_t *restrict out)
{
	QUANT_ENCODE(65534);
}
