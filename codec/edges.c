/*
 * edges.c - the kNN graph C as sorted undirected edges (u < v), under the
 * 0.9 exporter's rule or the newest one (edges.h).
 *
 * Every edge (u, v) comes from entries C[u, v] (stored in row u) and C[v, u]
 * (stored in row v > u). The second kind is moved into per-column buckets
 * by a counting sort over the rows in order, which leaves each bucket sorted
 * by v already; row u's own upper entries only need sorting when the file
 * did not store them sorted. Merging the two sorted runs per row yields the
 * edges in (u, v) order directly: O(nnz) plus the per-row sorts, and only
 * the entries below the diagonal are copied (12 bytes each) besides the
 * output itself. Degrees of v <= u are final once row u is done, so the
 * maxima need no second pass.
 *
 * EDGES_SUM: like scipy's sparse sum in the 0.9 exporter, an (r, c) whose
 * summed weight is exactly 0 (explicit zeros) is not stored in S, so it is
 * neither an edge nor counted in max_neighbors.
 * EDGES_MAX: the newest exporter writes C[u, v] of a graph it requires to be
 * symmetric; max(C[u, v], C[v, u]) is that value for such a graph and keeps
 * a directed kNN graph whole (the union of both directions) where the
 * reference would refuse it.
 */
#include "edges.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* One stored entry of row u right of the diagonal; pos keeps the sort
 * stable, so duplicates are summed in file order. */
typedef struct {
	size_t pos;
	double w;
	uint32_t col;
} upper_entry;

static int cmp_upper(const void *pa, const void *pb)
{
	const upper_entry *a = pa, *b = pb;
	if (a->col != b->col)
		return a->col < b->col ? -1 : 1;
	return a->pos < b->pos ? -1 : a->pos > b->pos;
}

static void *alloc_array(size_t count, size_t size)
{
	if (count > SIZE_MAX / size)
		return NULL;
	return malloc(count ? count * size : 1);
}

/* Entries below the diagonal, C[v, u] with v > u, bucketed by u. */
typedef struct {
	size_t *start; /* n + 2; bucket u is [start[u], start[u + 1]) */
	uint32_t *row; /* v */
	double *w;
} lower_buckets;

static void lower_free(lower_buckets *l)
{
	free(l->start);
	free(l->row);
	free(l->w);
}

/* Validates the CSR too: -1 for an index >= n or a decreasing indptr. */
static int lower_build(size_t n, const int64_t *indptr,
                       const uint32_t *indices, const double *data,
                       lower_buckets *l, size_t *n_upper, size_t *longest_row)
{
	memset(l, 0, sizeof(*l));
	l->start = n < SIZE_MAX - 2 ? calloc(n + 2, sizeof(size_t)) : NULL;
	if (!l->start || indptr[0] < 0)
		goto fail;
	size_t n_lower = 0;
	*n_upper = 0;
	*longest_row = 0;
	for (size_t r = 0; r < n; r++) {
		if (indptr[r + 1] < indptr[r])
			goto fail;
		size_t len = (size_t)(indptr[r + 1] - indptr[r]);
		*longest_row = len > *longest_row ? len : *longest_row;
		for (int64_t e = indptr[r]; e < indptr[r + 1]; e++) {
			uint32_t c = indices[e];
			if (c >= n)
				goto fail;
			if (c < r) {
				l->start[c + 2]++;
				n_lower++;
			} else if (c > r) {
				(*n_upper)++;
			}
		}
	}
	for (size_t u = 0; u < n; u++)
		l->start[u + 2] += l->start[u + 1];
	l->row = alloc_array(n_lower, sizeof(*l->row));
	l->w = alloc_array(n_lower, sizeof(*l->w));
	if (!l->row || !l->w)
		goto fail;
	for (size_t r = 0; r < n; r++) {
		for (int64_t e = indptr[r]; e < indptr[r + 1]; e++) {
			uint32_t c = indices[e];
			if (c < r) {
				size_t at = l->start[c + 1]++;
				l->row[at] = (uint32_t)r;
				l->w[at] = data[e];
			}
		}
	}
	return 0;
fail:
	lower_free(l);
	return -1;
}

/* Row u's entries right of the diagonal, sorted by column; returns their
 * count and sums the diagonal entries into *diag (*has_diag when any). */
static size_t gather_upper(size_t u, const int64_t *indptr,
                           const uint32_t *indices, const double *data,
                           upper_entry *up, double *diag, int *has_diag)
{
	size_t m = 0;
	int sorted = 1;
	*diag = 0.0;
	*has_diag = 0;
	for (int64_t e = indptr[u]; e < indptr[u + 1]; e++) {
		uint32_t c = indices[e];
		if (c == u) {
			*diag += data[e];
			*has_diag = 1;
		} else if (c > u) {
			if (m && c <= up[m - 1].col)
				sorted = 0;
			up[m] = (upper_entry){m, data[e], c};
			m++;
		}
	}
	if (!sorted)
		qsort(up, m, sizeof(*up), cmp_upper);
	return m;
}

static void *shrunk(void *p, size_t bytes)
{
	void *q = realloc(p, bytes);
	return q ? q : p;
}

/* Whether pair (u, v) is an edge under the rule, and its weight *w, from
 * its two sides (each side's repeats summed; a side not stored is absent,
 * not 0). Counts what EDGES_MAX repaired or left out. */
static int pair_edge(edges_rule rule, double w_uv, int has_uv, double w_vu, int has_vu,
                     double *w, edges *out)
{
	if (rule == EDGES_SUM) {
		*w = w_uv + w_vu;
		return *w != 0.0; /* NaN is stored in S, as scipy does */
	}
	if (has_uv != has_vu || !(w_uv == w_vu))
		out->n_asymmetric++;
	*w = !has_uv ? w_vu : !has_vu ? w_uv : isnan(w_uv) || isnan(w_vu) ? NAN
	   : w_uv > w_vu ? w_uv : w_vu;
	if (*w > 0.0 && *w <= DBL_MAX)
		return 1;
	out->n_unusable++;
	return 0;
}

int edges_build(size_t n, const int64_t *indptr, const uint32_t *indices,
                const double *data, edges_rule rule, edges *out)
{
	memset(out, 0, sizeof(*out));
	if (n > UINT32_MAX)
		return -1;
	lower_buckets low;
	size_t n_upper, longest_row;
	if (lower_build(n, indptr, indices, data, &low, &n_upper,
	                &longest_row) != 0)
		return -1;
	size_t cap = n_upper + low.start[n];
	uint32_t *degree = calloc(n ? n : 1, sizeof(*degree));
	upper_entry *up = alloc_array(longest_row, sizeof(*up));
	out->src = alloc_array(cap, sizeof(*out->src));
	out->dst = alloc_array(cap, sizeof(*out->dst));
	out->weight = alloc_array(cap, sizeof(*out->weight));
	if (!degree || !up || !out->src || !out->dst || !out->weight) {
		free(degree);
		free(up);
		lower_free(&low);
		edges_free(out);
		return -1;
	}

	size_t n_edges = 0;
	for (size_t u = 0; u < n; u++) {
		double diag;
		int has_diag;
		size_t m = gather_upper(u, indptr, indices, data, up, &diag,
		                        &has_diag);
		size_t i = 0, j = low.start[u], j_end = low.start[u + 1];
		while (i < m || j < j_end) {
			uint32_t v = i < m ? up[i].col : UINT32_MAX;
			if (j < j_end && low.row[j] < v)
				v = low.row[j];
			/* Each side's duplicates summed first, in file
			 * order (scipy's order). */
			double w_uv = 0.0, w_vu = 0.0;
			size_t i0 = i, j0 = j;
			for (; i < m && up[i].col == v; i++)
				w_uv += up[i].w;
			for (; j < j_end && low.row[j] == v; j++)
				w_vu += low.w[j];
			double w;
			if (!pair_edge(rule, w_uv, i > i0, w_vu, j > j0, &w, out))
				continue;
			out->src[n_edges] = (uint32_t)u;
			out->dst[n_edges] = v;
			out->weight[n_edges] = w;
			n_edges++;
			degree[u]++;
			degree[v]++;
		}
		/* EDGES_SUM: S[u,u] = 2 C[u,u] is stored unless it sums to
		 * 0. EDGES_MAX: a self-loop is no edge, and not counted. */
		int self = has_diag && diag != 0.0;
		out->n_self += self;
		size_t stored = degree[u] + (rule == EDGES_SUM && self);
		if (degree[u] > out->max_degree)
			out->max_degree = degree[u];
		if (stored > out->max_neighbors)
			out->max_neighbors = stored;
	}
	free(degree);
	free(up);
	lower_free(&low);

	out->n_edges = n_edges;
	if (n_edges == 0) {
		edges_free(out);
		return 0;
	}
	out->src = shrunk(out->src, n_edges * sizeof(*out->src));
	out->dst = shrunk(out->dst, n_edges * sizeof(*out->dst));
	out->weight = shrunk(out->weight, n_edges * sizeof(*out->weight));
	return 0;
}

void edges_free(edges *e)
{
	free(e->src);
	free(e->dst);
	free(e->weight);
	e->src = e->dst = NULL;
	e->weight = NULL;
}
