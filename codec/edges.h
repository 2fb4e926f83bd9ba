/*
 * edges.h - the kNN graph as sorted undirected edge pairs (docs/export-rules.md).
 *
 * Two exporters, two rules for the stored graph C (CSR):
 *
 *   EDGES_SUM  the 0.9 exporter (layout=names): S = C + C^T with every stored
 *              entry set to 1; each (r, c) with c > r is an edge, sorted by
 *              (src, dst); max_neighbors = the most stored entries in a row
 *              of S (a stored diagonal entry counts, per export-format.md §3).
 *              As with scipy's sparse sum, an (r, c) whose C[r,c] + C[c,r] is
 *              exactly 0 (explicit zeros) is not stored in S. weight = that
 *              sum (unused by that layout).
 *   EDGES_MAX  the newest exporter (layout=index): an edge (u, v), u < v, for
 *              every pair stored on either side, weighted C[u,v] -- for the
 *              symmetric graph the reference requires, C[u,v] == C[v,u]. A
 *              pair that is not symmetric (one side only, or two values) gets
 *              the larger stored value: the graph is symmetrised by max
 *              (n_asymmetric counts such pairs). A pair whose weight is not
 *              finite and > 0 -- the strict viewer's rule -- is left out
 *              (n_unusable), and so is a self-loop (n_self counts non-zero
 *              diagonal entries). max_neighbors = max_degree.
 *
 * max_degree = the most edges at one cell (no self-loops: the degree rule of
 * viewer-contract-strict.md §6).
 */
#ifndef EDGES_H
#define EDGES_H

#include <stddef.h>
#include <stdint.h>

typedef enum { EDGES_SUM, EDGES_MAX } edges_rule;

typedef struct {
	size_t n_edges;
	size_t max_neighbors;
	size_t max_degree;
	size_t n_asymmetric;  /* EDGES_MAX: pairs symmetrised by max */
	size_t n_unusable;    /* EDGES_MAX: pairs left out for their weight */
	size_t n_self;        /* cells with a non-zero diagonal entry */
	uint32_t *src;   /* n_edges */
	uint32_t *dst;   /* n_edges */
	double *weight;  /* n_edges, see the rules above */
} edges;               /* the arrays are NULL when n_edges == 0 */

/* CSR graph of n rows (n <= UINT32_MAX); indices may be unsorted within a row
 * and repeat (repeats are summed). Returns 0, or -1 on allocation failure or
 * an invalid graph (an index >= n, a decreasing or negative indptr); on -1
 * nothing is left allocated. */
int edges_build(size_t n, const int64_t *indptr, const uint32_t *indices,
                const double *data, edges_rule rule, edges *out);
void edges_free(edges *e);

#endif
