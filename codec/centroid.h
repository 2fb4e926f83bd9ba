/*
 * centroid.h - per-category centroids on the normalised points and outlier
 * quantiles on the latent space (export-format.md §3).
 */
#ifndef CENTROID_H
#define CENTROID_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
	int present;        /* 0 for categories with fewer than 10 cells */
	double position[3]; /* first d used (float32 values for centroid_compute) */
	size_t n_points;
} centroid;

/* points: n*d floats (d = 1..3, else -1); codes: n, any code outside
 * [0, n_categories) is missing; out: n_categories entries. Returns 0, or -1
 * on allocation failure. Sums, the quantile and the comparisons follow the
 * 0.9 exporter's numpy (1.x) float32 arithmetic bit for bit: see centroid.c. */
int centroid_compute(const float *points, size_t n, int d, const int32_t *codes,
                     size_t n_categories, centroid *out);
/* The same on the newest exporter's float64 points, in float64. */
int centroid_compute_f64(const double *points, size_t n, int d, const int32_t *codes,
                         size_t n_categories, centroid *out);

/* latent: n*dim floats; out: n float32 quantiles (rank / n in float32), NaN
 * for cells with a missing code (as above) or in a category of fewer than 10
 * cells. latent == NULL gives all NaN. Returns 0, or -1 on allocation
 * failure. */
int outlier_quantiles(const float *latent, size_t n, size_t dim,
                      const int32_t *codes, size_t n_categories, float *out);

#endif
