/*
 * centroid.c - per-category label positions and latent-space outlier
 * quantiles, computed the way the exporters' numpy code does.
 *
 * The outputs are compared bit for bit, so the summation order is numpy's: a
 * mean over rows accumulates row after row (numpy reduces axis 0 of a
 * C-ordered (n, d) array elementwise), except for d = 1 where the rows are
 * contiguous and numpy sums them pairwise; a Euclidean norm sums the squares
 * of one row pairwise. A plain row-by-row loop matches all 23 pbmc68k
 * centroids; pairwise or double sums miss 19-20 of them.
 *
 * Two precisions: the 0.9 exporter measures centroids on float32 points, the
 * newest on its float64 ones; both measure outlier quantiles on the float32
 * latent space. Everything here is double, and float32 arithmetic is double
 * arithmetic rounded to float32 after every operation (the "as32" flag):
 * for +, -, *, / and sqrt that gives the float32 result exactly, as double
 * has more than 2 * 24 + 2 bits. So one body serves both.
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

/* The result of one operation, in float32 when as32. */
static inline double rnd(double x, int as32)
{
	return as32 ? (double)(float)x : x;
}

/* A float32 or double array read as doubles. */
typedef struct {
	const float *f;
	const double *d;
} values;

static inline double at(values v, size_t i)
{
	return v.f ? (double)v.f[i] : v.d[i];
}

/* numpy's pairwise summation (8 accumulators in blocks of up to 128,
 * halves above that), so sums agree with np.add.reduce to the bit. */
static double pairwise_sum(const double *a, size_t n, int as32)
{
	if (n < 8) {
		double sum = 0.0;
		for (size_t i = 0; i < n; i++)
			sum = rnd(sum + a[i], as32);
		return sum;
	}
	if (n <= 128) {
		double r[8];
		memcpy(r, a, sizeof(r));
		size_t i = 8;
		for (; i + 8 <= n; i += 8)
			for (int j = 0; j < 8; j++)
				r[j] = rnd(r[j] + a[i + j], as32);
		double sum = rnd(rnd(rnd(r[0] + r[1], as32) + rnd(r[2] + r[3], as32), as32) +
		                 rnd(rnd(r[4] + r[5], as32) + rnd(r[6] + r[7], as32), as32), as32);
		for (; i < n; i++)
			sum = rnd(sum + a[i], as32);
		return sum;
	}
	size_t half = n / 2;
	half -= half % 8;
	return rnd(pairwise_sum(a, half, as32) + pairwise_sum(a + half, n - half, as32), as32);
}

/* np.add.reduce over a contiguous run: the identity +0 plus the pairwise
 * sum (so a sum of -0.0s is +0.0, as in numpy). */
static double numpy_sum(const double *a, size_t n, int as32)
{
	return rnd(0.0 + pairwise_sum(a, n, as32), as32);
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

/* Mean of rows `cell[0..m)` of x (dim values per row), as numpy's
 * x[cell].mean(axis=0). gather: room for m doubles (used when dim == 1). */
static void mean_rows(values x, size_t dim, const size_t *cell, size_t m, int as32,
                      double *gather, double *mean)
{
	double count = rnd((double)m, as32);
	if (dim == 1) {
		for (size_t k = 0; k < m; k++)
			gather[k] = at(x, cell[k]);
		mean[0] = rnd(numpy_sum(gather, m, as32) / count, as32);
		return;
	}
	for (size_t j = 0; j < dim; j++)
		mean[j] = 0.0;
	for (size_t k = 0; k < m; k++)
		for (size_t j = 0; j < dim; j++)
			mean[j] = rnd(mean[j] + at(x, cell[k] * dim + j), as32);
	for (size_t j = 0; j < dim; j++)
		mean[j] = rnd(mean[j] / count, as32);
}

/* np.linalg.norm(row - mean) of row `cell` of x; sq: room for dim doubles. */
static double distance(values x, size_t cell, const double *mean, size_t dim, int as32,
                       double *sq)
{
	for (size_t j = 0; j < dim; j++) {
		double diff = rnd(at(x, cell * dim + j) - mean[j], as32);
		sq[j] = rnd(diff * diff, as32);
	}
	return rnd(sqrt(numpy_sum(sq, dim, as32)), as32);
}

/* numpy's sort order: NaN after everything. */
static int sorts_after(double a, double b)
{
	return a > b || (isnan(a) && !isnan(b));
}

/* A double's bits mapped to an unsigned key in numpy's order: flip the sign
 * bit of positives, every bit of negatives, and put any NaN last. */
static uint64_t sort_key(double f)
{
	uint64_t u;
	if (isnan(f))
		return UINT64_MAX;
	memcpy(&u, &f, sizeof u);
	return u & 0x8000000000000000u ? ~u : u ^ 0x8000000000000000u;
}

static double from_key(uint64_t k)
{
	if (k == UINT64_MAX)
		return NAN;
	uint64_t u = k & 0x8000000000000000u ? k ^ 0x8000000000000000u : ~k;
	double f;
	memcpy(&f, &u, sizeof f);
	return f;
}

/* Sort a[0..m) as numpy does (NaN last), by LSD radix on 11-bit digits:
 * linear, where qsort's comparisons dominated the whole computation. Values
 * that came from float32 have 29 zero bits at the bottom of their key, which
 * the first two passes skip (they would move nothing). */
static void sort_values(double *a, size_t m, int as32, uint64_t *keys, uint64_t *tmp)
{
	for (size_t k = 0; k < m; k++)
		keys[k] = sort_key(a[k]);
	for (unsigned shift = as32 ? 22 : 0; shift < 64; shift += 11) {
		size_t count[2049] = {0};
		for (size_t k = 0; k < m; k++)
			count[((keys[k] >> shift) & 2047) + 1]++;
		for (size_t d = 0; d < 2048; d++)
			count[d + 1] += count[d];
		for (size_t k = 0; k < m; k++)
			tmp[count[(keys[k] >> shift) & 2047]++] = keys[k];
		uint64_t *swap = keys;
		keys = tmp;
		tmp = swap;
	}
	for (size_t k = 0; k < m; k++)
		a[k] = from_key(keys[k]);
}

/* np.quantile(x, q) (method "linear") of sorted[0..m) as numpy 1.x
 * computes it: virtual index and weight in double, the difference of the two
 * neighbours in the array's precision, the interpolation in double, from the
 * upper neighbour when the weight is >= 0.5. */
static double quantile_linear(const double *sorted, size_t m, double q, int as32)
{
	double index = (double)(m - 1) * q;
	double lower = floor(index);
	size_t lo = (size_t)lower, hi = lo + 1 < m ? lo + 1 : m - 1;
	double t = index - lower;
	double diff = rnd(sorted[hi] - sorted[lo], as32);
	if (t >= 0.5)
		return sorted[hi] - diff * (1.0 - t);
	return sorted[lo] + diff * t;
}

/* How many of sorted[0..m) sort at or before x: numpy's
 * searchsorted(sorted, x, side="right"). */
static size_t rank_right(const double *sorted, size_t m, double x)
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
	double *dist, *sorted, *gather;
	size_t *kept;
	uint64_t *keys, *keys_tmp;
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
	s->dist = alloc_array(m, sizeof(double));
	s->sorted = alloc_array(m, sizeof(double));
	s->gather = alloc_array(m, sizeof(double));
	s->kept = alloc_array(m, sizeof(size_t));
	s->keys = alloc_array(m, sizeof(uint64_t));
	s->keys_tmp = alloc_array(m, sizeof(uint64_t));
	if (!s->dist || !s->sorted || !s->gather || !s->kept || !s->keys || !s->keys_tmp) {
		scratch_free(s);
		return -1;
	}
	return 0;
}

static void one_centroid(values points, size_t d, const size_t *cell, size_t m, int as32,
                         scratch *s, centroid *out)
{
	double mean[3], sq[3];
	mean_rows(points, d, cell, m, as32, s->gather, mean);
	out->n_points = m;
	if (m > MIN_CELLS) {
		for (size_t k = 0; k < m; k++)
			s->dist[k] = distance(points, cell[k], mean, d, as32, sq);
		memcpy(s->sorted, s->dist, m * sizeof(double));
		sort_values(s->sorted, m, as32, s->keys, s->keys_tmp);
		/* numpy compares float32 distances with the threshold rounded
		 * to float32. */
		double threshold = rnd(quantile_linear(s->sorted, m, OUTLIER_QUANTILE, as32), as32);
		size_t kept = 0;
		for (size_t k = 0; k < m; k++)
			if (s->dist[k] <= threshold)
				s->kept[kept++] = cell[k];
		if (kept >= MIN_CELLS) {
			mean_rows(points, d, s->kept, kept, as32, s->gather, mean);
			out->n_points = kept;
		}
	}
	out->present = 1;
	memcpy(out->position, mean, d * sizeof(double));
}

static int compute(values points, int as32, size_t n, int d, const int32_t *codes,
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
			one_centroid(points, (size_t)d, g.cell + g.start[c], m, as32, &s, &out[c]);
	}
	scratch_free(&s);
	groups_free(&g);
	return 0;
}

int centroid_compute(const float *points, size_t n, int d, const int32_t *codes,
                     size_t n_categories, centroid *out)
{
	return compute((values){points, NULL}, 1, n, d, codes, n_categories, out);
}

int centroid_compute_f64(const double *points, size_t n, int d, const int32_t *codes,
                         size_t n_categories, centroid *out)
{
	return compute((values){NULL, points}, 0, n, d, codes, n_categories, out);
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
	double *mean = alloc_array(dim, sizeof(double));
	double *sq = alloc_array(dim, sizeof(double));
	if (!mean || !sq || scratch_alloc(&s, g.largest) != 0) {
		free(mean);
		free(sq);
		groups_free(&g);
		return -1;
	}
	values x = {latent, NULL};
	for (size_t c = 0; c < n_categories; c++) {
		const size_t *cell = g.cell + g.start[c];
		size_t m = g.start[c + 1] - g.start[c];
		if (m < MIN_CELLS)
			continue;
		mean_rows(x, dim, cell, m, 1, s.gather, mean);
		for (size_t k = 0; k < m; k++)
			s.dist[k] = distance(x, cell[k], mean, dim, 1, sq);
		memcpy(s.sorted, s.dist, m * sizeof(double));
		sort_values(s.sorted, m, 1, s.keys, s.keys_tmp);
		/* numpy divides the float32 ranks by the int n in float32:
		 * both are rounded to float32 first (visible above 2^24). */
		for (size_t k = 0; k < m; k++)
			out[cell[k]] = (float)rank_right(s.sorted, m, s.dist[k]) / (float)m;
	}
	scratch_free(&s);
	free(mean);
	free(sq);
	groups_free(&g);
	return 0;
}
