/*
 * embed.c - normalise an embedding into the viewer's [-1, 1] box.
 *
 * The 0.9 exporter casts the coordinates to float32 first and does all of
 * the arithmetic in float32: min, max, range, center = (min + max) / 2 and
 * (x - center) * (2 / range). The newest one does the same steps in double
 * and rounds once, when it writes; the two differ by an ulp on ~80% of the
 * pbmc68k points, so each layout follows its own exporter. Doing the float32
 * steps in double and rounding after each one gives the float32 results
 * exactly (double has more than 2 * 24 + 2 bits), so one loop serves both. A
 * coordinate is finite when its float32 is (a double beyond float range
 * would otherwise reach the viewer as inf).
 */
#include "embed.h"

#include <float.h>
#include <math.h>

#define EMBED_MAX_DIM 3

static int row_is_finite(const double *row, int d)
{
	for (int j = 0; j < d; j++)
		if (!(fabsf((float)row[j]) <= FLT_MAX))
			return 0;
	return 1;
}

/* One arithmetic step of the rule: float32 rounds every result. */
static inline double step(double x, embed_rule rule)
{
	return rule == EMBED_FLOAT32 ? (double)(float)x : x;
}

embed_info embed_normalize(const double *in, size_t n, int d, embed_rule rule, float *out,
                           double *out64)
{
	embed_info info = {0.0, 0};
	if (d < 1 || d > EMBED_MAX_DIM)
		return info;

	double min[EMBED_MAX_DIM], max[EMBED_MAX_DIM];
	for (int j = 0; j < d; j++) {
		min[j] = INFINITY;
		max[j] = -INFINITY;
	}
	for (size_t i = 0; i < n; i++) {
		const double *row = in + i * (size_t)d;
		if (!row_is_finite(row, d)) {
			info.n_nonfinite++;
			continue;
		}
		for (int j = 0; j < d; j++) {
			double x = step(row[j], rule);
			min[j] = x < min[j] ? x : min[j];
			max[j] = x > max[j] ? x : max[j];
		}
	}

	double range = 0.0, center[EMBED_MAX_DIM];
	for (int j = 0; j < d; j++) {
		if (info.n_nonfinite == n) /* nothing to measure */
			min[j] = max[j] = 0.0;
		double r = step(max[j] - min[j], rule);
		range = r > range ? r : range;
		center[j] = step(step(min[j] + max[j], rule) / 2.0, rule);
	}
	if (rule == EMBED_FLOAT32 ? range < 1e-8 : !(range > 0.0))
		range = 1.0;
	double scale = step(2.0 / range, rule);
	info.scale = scale;

	for (size_t i = 0; i < n; i++) {
		const double *row = in + i * (size_t)d;
		int finite = row_is_finite(row, d);
		for (int j = 0; j < d; j++) {
			size_t k = i * (size_t)d + (size_t)j;
			double x = finite ? step(step(row[j], rule) - center[j], rule) * scale : 0.0;
			out[k] = (float)x;
			if (out64)
				out64[k] = x;
		}
	}
	return info;
}
