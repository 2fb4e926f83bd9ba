/*
 * edges.h - the kNN graph as sorted undirected edge pairs (export-format.md §3).
 *
 * S = C + C^T with every stored entry set to 1; each (r, c) with c > r is an
 * edge, sorted by (src, dst). max_neighbors = the most stored entries in a
 * row of S (a stored diagonal entry counts, per export-format.md §3; the
 * reference data has none to check against); max_degree = the most edges at one cell (no self-loops: the degree
 * rule of viewer-contract-strict.md). As with scipy's sparse sum, an (r, c)
 * whose C[r,c] + C[c,r] is exactly 0 (explicit zeros) is not stored in S.
 */
#ifndef EDGES_H
#define EDGES_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
	size_t n_edges;
	size_t max_neighbors;
	size_t max_degree;
	uint32_t *src;   /* n_edges */
	uint32_t *dst;   /* n_edges */
	double *weight;  /* n_edges: weight of (r,c) in C + C^T, for layout=index */
} edges;               /* the arrays are NULL when n_edges == 0 */

/* CSR graph of n rows (n <= UINT32_MAX); indices may be unsorted within a row
 * and repeat (repeats are summed). Returns 0, or -1 on allocation failure or
 * an invalid graph (an index >= n, a decreasing or negative indptr); on -1
 * nothing is left allocated. */
int edges_build(size_t n, const int64_t *indptr, const uint32_t *indices,
                const double *data, edges *out);
void edges_free(edges *e);

#endif
