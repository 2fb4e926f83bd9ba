/*
 * embed.c - normalise an embedding into the viewer's [-1, 1] box.
 *
 * The reference casts the coordinates to float32 first and does all of the
 * arithmetic in float32: min, max, range, center = (min + max) / 2 and
 * (x - center) * (2 / range). Doing it in double instead moves ~80% of the
 * pbmc68k points by an ulp and some by more than 1e-6 relative, so we follow
 * the float32 path. A coordinate is finite when its float32 is (a double
 * beyond float range would otherwise reach the viewer as inf).
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

embed_info embed_normalize(const double *in, size_t n, int d, float *out)
{
	embed_info info = {0.0, 0};
	if (d < 1 || d > EMBED_MAX_DIM)
		return info;

	float min[EMBED_MAX_DIM], max[EMBED_MAX_DIM];
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
			float x = (float)row[j];
			min[j] = x < min[j] ? x : min[j];
			max[j] = x > max[j] ? x : max[j];
		}
	}

	float range = 0.0f, center[EMBED_MAX_DIM];
	for (int j = 0; j < d; j++) {
		if (info.n_nonfinite == n) { /* nothing to measure */
			min[j] = max[j] = 0.0f;
		}
		float r = max[j] - min[j];
		range = r > range ? r : range;
		center[j] = (min[j] + max[j]) / 2.0f;
	}
	if (range < 1e-8)
		range = 1.0f;
	float scale = 2.0f / range;
	info.scale = scale;

	for (size_t i = 0; i < n; i++) {
		const double *row = in + i * (size_t)d;
		float *o = out + i * (size_t)d;
		int finite = row_is_finite(row, d);
		for (int j = 0; j < d; j++)
			o[j] = finite ? ((float)row[j] - center[j]) * scale : 0.0f;
	}
	return info;
}
