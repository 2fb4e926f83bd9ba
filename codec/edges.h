/*
 * edges.h - the kNN graph as sorted undirected edge pairs (export-format.md §3).
 *
 * S = C + C^T with every stored entry set to 1; each (r, c) with c > r is an
 * edge, sorted by (src, dst). max_neighbors = the most stored entries in a
 * row of S.
 */
#ifndef EDGES_H
#define EDGES_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
	size_t n_edges;
	size_t max_neighbors;
	uint32_t *src;   /* n_edges */
	uint32_t *dst;   /* n_edges */
	double *weight;  /* n_edges: weight of (r,c) in C + C^T, for layout=index */
} edges;

/* CSR graph of n rows. Returns 0, or -1 on allocation failure. */
int edges_build(size_t n, const int64_t *indptr, const uint32_t *indices,
                const double *data, edges *out);
void edges_free(edges *e);

#endif
