/*
 * embed.h - embedding normalisation (docs/export-rules.md).
 *
 * Per embedding: per-axis min/max over finite rows, range = the largest axis
 * range, center = (min+max)/2, out = (x - center) * (2/range) as float32. A
 * row with any non-finite coordinate is left out of min/max and written as
 * all zeros. Two exporters, two arithmetics:
 *
 *   EMBED_FLOAT32  the 0.9 exporter: the coordinates cast to float32 first,
 *                  every step in float32; a range below 1e-8 becomes 1.
 *   EMBED_FLOAT64  the newest exporter: every step in double, rounded to
 *                  float32 only when written; the double coordinates are
 *                  what its centroids are measured on. A range of 0 becomes
 *                  1 (the reference refuses such an embedding).
 */
#ifndef EMBED_H
#define EMBED_H

#include <stddef.h>

typedef enum { EMBED_FLOAT32, EMBED_FLOAT64 } embed_rule;

typedef struct {
	double scale;        /* 2/range (EMBED_FLOAT32: the float32 one, widened):
				vector fields of this dimension use it too */
	size_t n_nonfinite;  /* rows written as zeros */
} embed_info;

/* in: n rows of d doubles (row-major); out: n*d floats; out64: NULL, or
 * room for the n*d normalised doubles (EMBED_FLOAT64 only). d is 1..3 (any
 * other d writes nothing and returns scale 0). A row that is not finite as
 * float32 counts as non-finite. */
embed_info embed_normalize(const double *in, size_t n, int d, embed_rule rule, float *out,
                           double *out64);

#endif
