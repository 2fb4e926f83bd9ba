/*
 * embed.h - embedding normalisation (export-format.md §3).
 *
 * Per embedding: per-axis min/max over finite rows, range = largest axis
 * range (1.0 if < 1e-8), center = (min+max)/2, out = (x - center) * (2/range)
 * as float32. A row with any non-finite coordinate is left out of min/max
 * and written as all zeros.
 */
#ifndef EMBED_H
#define EMBED_H

#include <stddef.h>

typedef struct {
	double scale;        /* 2/range: vector fields of this dimension use it too */
	size_t n_nonfinite;  /* rows written as zeros */
} embed_info;

/* in: n rows of d doubles (row-major); out: n*d floats; d is 1..3 (any other
 * d writes nothing and returns scale 0). As in the reference, the values are
 * cast to float32 first and every step is float32 arithmetic; scale is that
 * float32 2/range, widened. A row that is not finite as float32 counts as
 * non-finite. */
embed_info embed_normalize(const double *in, size_t n, int d, float *out);

#endif
