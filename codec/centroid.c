/*
 * centroid.c - per-category label positions and latent-space outlier
 * quantiles, computed the way the reference exporter's numpy code does.
 *
 * The outputs are float32 and compared bit for bit, so the summation order
 * is numpy's: a float32 mean over rows accumulates row after row (numpy
 * reduces axis 0 of a C-ordered (n, d) array elementwise), except for d = 1
 * where the rows are contiguous and numpy sums them pairwise; a float32
 * Euclidean norm sums the squares of one row pairwise. A plain row-by-row
 * float32 loop matches all 23 pbmc68k centroids; pairwise or double sums
 * miss 19-20 of them.
 *
 * Cells are first grouped by category with one counting sort (each group in
 * cell order, which the sums depend on), so the work is O(n log n) for the
 * per-category sorts, whatever the number of categories.
 */
#include "centroid.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MIN_CELLS 10
#define OUTLIER_QUANTILE 0.95

/* numpy's pairwise summation of float32 (8 accumulators in blocks of up to
 * 128, halves above that), so sums agree with np.add.reduce to the bit. */
static float pairwise_sum(const float *a, size_t n)
{
	if (n < 8) {
		float sum = 0.0f;
		for (size_t i = 0; i < n; i++)
			sum += a[i];
		return sum;
	}
	if (n <= 128) {
		float r[8];
		memcpy(r, a, sizeof(r));
		size_t i = 8;
		for (; i + 8 <= n; i += 8)
			for (int j = 0; j < 8; j++)
				r[j] += a[i + j];
		float sum = ((r[0] + r[1]) + (r[2] + r[3])) +
		            ((r[4] + r[5]) + (r[6] + r[7]));
		for (; i < n; i++)
			sum += a[i];
		return sum;
	}
	size_t half = n / 2;
	half -= half % 8;
	return pairwise_sum(a, half) + pairwise_sum(a + half, n - half);
}

/* np.add.reduce over a contiguous run: the identity +0 plus the pairwise
 * sum (so a sum of -0.0s is +0.0, as in numpy). */
static float numpy_sum(const float *a, size_t n)
{
	return 0.0f + pairwise_sum(a, n);
}

/* malloc for count elements, NULL when the size overflows; never 0 bytes,
 * so NULL always means failure. */
static void *alloc_array(size_t count, size_t size)
{
	if (count > SIZE_MAX / size)
		return NULL;
	return malloc(count ? count * size : 1);
}

/* Cells of category c are cell[start[c] .. start[c+1]), in cell order.
 * Codes outside [0, k) are missing and belong to no group. */
typedef struct {
	size_t *start; /* k + 2, of which [0, k] are used */
	size_t *cell;  /* n */
	size_t largest;
} groups;

static void groups_free(groups *g)
{
	free(g->start);
	free(g->cell);
}

static int group_cells(const int32_t *codes, size_t n, size_t k, groups *g)
{
	g->start = k < SIZE_MAX - 2 ? calloc(k + 2, sizeof(size_t)) : NULL;
	g->cell = alloc_array(n, sizeof(size_t));
	if (!g->start || !g->cell) {
		groups_free(g);
		return -1;
	}
	/* Count into start[c + 2], prefix-sum into start[c + 1], then fill
	 * by advancing start[c + 1], which leaves it at group c's end. */
	for (size_t i = 0; i < n; i++)
		if (codes[i] >= 0 && (size_t)codes[i] < k)
			g->start[(size_t)codes[i] + 2]++;
	g->largest = 0;
	for (size_t c = 0; c < k; c++) {
		if (g->start[c + 2] > g->largest)
			g->largest = g->start[c + 2];
		g->start[c + 2] += g->start[c + 1];
	}
	for (size_t i = 0; i < n; i++)
		if (codes[i] >= 0 && (size_t)codes[i] < k)
			g->cell[g->start[(size_t)codes[i] + 1]++] = i;
	return 0;
}

/* Mean of rows `cell[0..m)` of x (dim floats per row), as numpy's
 * x[cell].mean(axis=0). gather: room for m floats (used when dim == 1). */
static void mean_rows(const float *x, size_t dim, const size_t *cell, size_t m,
                      float *gather, float *mean)
{
	if (dim == 1) {
		for (size_t k = 0; k < m; k++)
			gather[k] = x[cell[k]];
		mean[0] = numpy_sum(gather, m) / (float)m;
		return;
	}
	for (size_t j = 0; j < dim; j++)
		mean[j] = 0.0f;
	for (size_t k = 0; k < m; k++) {
		const float *row = x + cell[k] * dim;
		for (size_t j = 0; j < dim; j++)
			mean[j] += row[j];
	}
	for (size_t j = 0; j < dim; j++)
		mean[j] /= (float)m;
}

/* np.linalg.norm(row - mean) in float32; sq: room for dim floats. */
static float distance(const float *row, const float *mean, size_t dim,
                      float *sq)
{
	for (size_t j = 0; j < dim; j++) {
		float diff = row[j] - mean[j];
		sq[j] = diff * diff;
	}
	return sqrtf(numpy_sum(sq, dim));
}

/* numpy's sort order for floats: NaN after everything. */
static int sorts_after(float a, float b)
{
	return a > b || (isnan(a) && !isnan(b));
}

/* A float's bits mapped to an unsigned key in numpy's order: flip the sign
 * bit of positives, every bit of negatives, and put any NaN last. */
static uint32_t sort_key(float f)
{
	uint32_t u;
	if (isnan(f))
		return UINT32_MAX;
	memcpy(&u, &f, sizeof u);
	return u & 0x80000000u ? ~u : u ^ 0x80000000u;
}

static float from_key(uint32_t k)
{
	if (k == UINT32_MAX)
		return NAN;
	uint32_t u = k & 0x80000000u ? k ^ 0x80000000u : ~k;
	float f;
	memcpy(&f, &u, sizeof f);
	return f;
}

/* Sort a[0..m) as numpy does (NaN last), by LSD radix on 11-bit digits:
 * linear, where qsort's comparisons dominated the whole computation. */
static void sort_floats(float *a, size_t m, uint32_t *keys, uint32_t *tmp)
{
	for (size_t k = 0; k < m; k++)
		keys[k] = sort_key(a[k]);
	for (unsigned shift = 0; shift < 32; shift += 11) {
		size_t count[2049] = {0};
		for (size_t k = 0; k < m; k++)
			count[((keys[k] >> shift) & 2047) + 1]++;
		for (size_t d = 0; d < 2048; d++)
			count[d + 1] += count[d];
		for (size_t k = 0; k < m; k++)
			tmp[count[(keys[k] >> shift) & 2047]++] = keys[k];
		uint32_t *swap = keys;
		keys = tmp;
		tmp = swap;
	}
	/* Three passes: the sorted keys ended in tmp's original buffer. */
	for (size_t k = 0; k < m; k++)
		a[k] = from_key(keys[k]);
}

/* np.quantile(x, q) (method "linear") of sorted[0..m) as numpy 1.x
 * computes it: virtual index and weight in double, the difference of the two
 * neighbours in float32, the interpolation in double, from the upper
 * neighbour when the weight is >= 0.5. */
static double quantile_linear(const float *sorted, size_t m, double q)
{
	double index = (double)(m - 1) * q;
	double lower = floor(index);
	size_t lo = (size_t)lower, hi = lo + 1 < m ? lo + 1 : m - 1;
	double t = index - lower;
	float diff = sorted[hi] - sorted[lo];
	if (t >= 0.5)
		return (double)sorted[hi] - (double)diff * (1.0 - t);
	return (double)sorted[lo] + (double)diff * t;
}

/* How many of sorted[0..m) sort at or before x: numpy's
 * searchsorted(sorted, x, side="right"). */
static size_t rank_right(const float *sorted, size_t m, float x)
{
	size_t lo = 0, hi = m;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (sorts_after(sorted[mid], x))
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/* Scratch sized for the largest group, shared by both computations. */
typedef struct {
	float *dist, *sorted, *gather;
	size_t *kept;
	uint32_t *keys, *keys_tmp;
} scratch;

static void scratch_free(scratch *s)
{
	free(s->dist);
	free(s->sorted);
	free(s->gather);
	free(s->kept);
	free(s->keys);
	free(s->keys_tmp);
}

static int scratch_alloc(scratch *s, size_t m)
{
	s->dist = alloc_array(m, sizeof(float));
	s->sorted = alloc_array(m, sizeof(float));
	s->gather = alloc_array(m, sizeof(float));
	s->kept = alloc_array(m, sizeof(size_t));
	s->keys = alloc_array(m, sizeof(uint32_t));
	s->keys_tmp = alloc_array(m, sizeof(uint32_t));
	if (!s->dist || !s->sorted || !s->gather || !s->kept || !s->keys || !s->keys_tmp) {
		scratch_free(s);
		return -1;
	}
	return 0;
}

static void one_centroid(const float *points, size_t d, const size_t *cell,
                         size_t m, scratch *s, centroid *out)
{
	float mean[3], sq[3];
	mean_rows(points, d, cell, m, s->gather, mean);
	out->n_points = m;
	if (m > MIN_CELLS) {
		for (size_t k = 0; k < m; k++)
			s->dist[k] = distance(points + cell[k] * d, mean, d, sq);
		memcpy(s->sorted, s->dist, m * sizeof(float));
		sort_floats(s->sorted, m, s->keys, s->keys_tmp);
		/* numpy compares the float32 distances with the threshold
		 * rounded to float32. */
		float threshold =
			(float)quantile_linear(s->sorted, m, OUTLIER_QUANTILE);
		size_t kept = 0;
		for (size_t k = 0; k < m; k++)
			if (s->dist[k] <= threshold)
				s->kept[kept++] = cell[k];
		if (kept >= MIN_CELLS) {
			mean_rows(points, d, s->kept, kept, s->gather, mean);
			out->n_points = kept;
		}
	}
	out->present = 1;
	memcpy(out->position, mean, d * sizeof(float));
}

int centroid_compute(const float *points, size_t n, int d, const int32_t *codes,
                     size_t n_categories, centroid *out)
{
	if (d < 1 || d > 3)
		return -1;
	groups g;
	scratch s;
	if (group_cells(codes, n, n_categories, &g) != 0)
		return -1;
	if (scratch_alloc(&s, g.largest) != 0) {
		groups_free(&g);
		return -1;
	}
	for (size_t c = 0; c < n_categories; c++) {
		size_t m = g.start[c + 1] - g.start[c];
		memset(&out[c], 0, sizeof(out[c]));
		if (m >= MIN_CELLS)
			one_centroid(points, (size_t)d, g.cell + g.start[c], m,
			             &s, &out[c]);
	}
	scratch_free(&s);
	groups_free(&g);
	return 0;
}

int outlier_quantiles(const float *latent, size_t n, size_t dim,
                      const int32_t *codes, size_t n_categories, float *out)
{
	for (size_t i = 0; i < n; i++)
		out[i] = NAN;
	if (!latent || dim == 0)
		return 0;
	groups g;
	scratch s;
	if (group_cells(codes, n, n_categories, &g) != 0)
		return -1;
	float *mean = alloc_array(dim, sizeof(float));
	float *sq = alloc_array(dim, sizeof(float));
	if (!mean || !sq || scratch_alloc(&s, g.largest) != 0) {
		free(mean);
		free(sq);
		groups_free(&g);
		return -1;
	}
	for (size_t c = 0; c < n_categories; c++) {
		const size_t *cell = g.cell + g.start[c];
		size_t m = g.start[c + 1] - g.start[c];
		if (m < MIN_CELLS)
			continue;
		mean_rows(latent, dim, cell, m, s.gather, mean);
		for (size_t k = 0; k < m; k++)
			s.dist[k] = distance(latent + cell[k] * dim, mean, dim, sq);
		memcpy(s.sorted, s.dist, m * sizeof(float));
		sort_floats(s.sorted, m, s.keys, s.keys_tmp);
		/* numpy divides the float32 ranks by the int n in float32:
		 * both are rounded to float32 first (visible above 2^24). */
		for (size_t k = 0; k < m; k++)
			out[cell[k]] = (float)rank_right(s.sorted, m, s.dist[k]) /
			               (float)m;
	}
	scratch_free(&s);
	free(mean);
	free(sq);
	groups_free(&g);
	return 0;
}
