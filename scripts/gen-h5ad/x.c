/*
 * x.c - X: each cell draws K distinct genes, one after another, with
 * probability proportional to its cluster's gene weights. A Fenwick tree of
 * integer weights per cluster makes each draw O(log G). A gene drawn twice
 * is drawn again, which is cheap while the cell's genes hold little of the
 * weight; once repeats become common the cell's genes are taken out of the
 * tree (and put back after the cell), so K close to G stays O(K log G).
 * Integer weights keep the tree exact through all of this. A bitmap of the
 * drawn genes then yields them in sorted order.
 *
 * The cells go to a CSR matrix (anndata's csr_matrix: float32 data, int32
 * indices, int64 indptr) or, with --x-dense, to a dense float32 array in
 * h5py's chunks, written a row of chunks at a time so that no chunk is
 * read back; either way with the filter --x-compression asks for. The
 * values drawn do not depend on the layout or the filter.
 */
#include "gen.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
	uint64_t *w;    /* [G] weights */
	uint64_t *t;    /* [size + 1] Fenwick tree, 1-based; size = G rounded up to 2^n */
	uint64_t total;
} sampler;

static void fenwick_add(uint64_t *t, uint32_t size, uint32_t g, uint64_t delta)
{
	for (uint32_t i = g + 1; i <= size; i += i & -i)
		t[i] += delta;     /* unsigned wrap-around makes -w a subtraction */
}

/* The gene g with prefix(g) <= u < prefix(g + 1), so never a zero weight.
 * size is a power of two (the tail padded with zero weights), so the descent
 * needs no bounds test. */
static uint32_t fenwick_find(const uint64_t *t, uint32_t size, uint64_t u)
{
	uint32_t pos = 0;
	for (uint32_t step = size / 2; step; step >>= 1) {
		uint64_t v = t[pos + step];
		if (v <= u) {
			pos += step;
			u -= v;
		}
	}
	return pos;
}

/* Draw k distinct genes into pick[] and mark them in bits[]. */
static void draw_genes(sampler *s, uint32_t size, uint32_t k, rng *r, uint64_t *bits,
		       uint32_t *pick)
{
	uint64_t total = s->total;
	uint32_t n = 0, repeats = 0;
	int removing = 0;
	while (n < k) {
		uint64_t u = (uint64_t)(unit(r) * (double)total);
		uint32_t g = fenwick_find(s->t, size, u < total ? u : total - 1);
		if (bits[g / 64] >> (g % 64) & 1) {
			/* more repeats than half the genes so far: take them out */
			if (++repeats > n / 2 + 16 && !removing) {
				removing = 1;
				for (uint32_t j = 0; j < n; j++) {
					fenwick_add(s->t, size, pick[j], -s->w[pick[j]]);
					total -= s->w[pick[j]];
				}
			}
			continue;
		}
		bits[g / 64] |= 1ull << (g % 64);
		pick[n++] = g;
		if (removing) {
			fenwick_add(s->t, size, g, -s->w[g]);
			total -= s->w[g];
		}
	}
	if (removing)
		for (uint32_t j = 0; j < k; j++)
			fenwick_add(s->t, size, pick[j], s->w[pick[j]]);
}

/* Where the cells go: the CSR streams, or rows of dense chunks. */
typedef struct {
	const model *m;
	csr csr;
	int64_t nnz;
	hid_t dense;
	float *rows;      /* chunk[0] rows of n_genes values */
	hsize_t chunk[2], row0;
} x_sink;

static void sink_open(x_sink *x, hid_t f, const model *m)
{
	memset(x, 0, sizeof *x);
	x->m = m;
	if (!m->x_dense) {
		csr_open(&x->csr, f, "X", m->n_cells, m->n_genes, (hsize_t)m->n_cells * m->per_cell,
			 H5T_IEEE_F32LE, H5T_STD_I64LE, m->x_filter);
		return;
	}
	hsize_t dims[2] = {m->n_cells, m->n_genes};
	x->dense = chunked_dataset(f, "X", H5T_IEEE_F32LE, 2, dims, 0, m->x_filter, x->chunk);
	encoding(x->dense, "array", "0.2.0");
	x->rows = xmalloc((size_t)x->chunk[0] * m->n_genes, sizeof *x->rows);
}

static void dense_flush(x_sink *x, hsize_t upto)
{
	write_rows(x->dense, H5T_NATIVE_FLOAT, x->row0, upto - x->row0, x->m->n_genes, x->rows, "X");
	memset(x->rows, 0, (size_t)x->chunk[0] * x->m->n_genes * sizeof *x->rows);
	x->row0 = upto;
}

static void sink_put(x_sink *x, uint32_t cell, const int32_t *idx, const float *val, uint32_t k)
{
	if (!x->m->x_dense) {
		stream_put(&x->csr.data, val, k);
		stream_put(&x->csr.indices, idx, k);
		x->nnz += k;
		stream_put(&x->csr.indptr, &x->nnz, 1);
		return;
	}
	float *row = x->rows + (size_t)(cell - x->row0) * x->m->n_genes;
	for (uint32_t j = 0; j < k; j++)
		row[idx[j]] = val[j];
	if (cell + 1 - x->row0 == x->chunk[0])
		dense_flush(x, cell + 1);
}

static void sink_close(x_sink *x)
{
	if (!x->m->x_dense) {
		csr_close(&x->csr);
		return;
	}
	dense_flush(x, x->m->n_cells);
	free(x->rows);
	H5Dclose(x->dense);
}

void write_X(hid_t f, const model *m, qc *cells, int64_t *gene_cells)
{
	uint32_t G = m->n_genes, K = m->per_cell, size = 1;
	while (size < G)
		size *= 2;
	sampler *sp = xmalloc((size_t)m->k, sizeof *sp);
	for (int c = 0; c < m->k; c++) {
		sp[c].w = xmalloc(G, sizeof(uint64_t));
		sp[c].t = xmalloc((size_t)size + 1, sizeof(uint64_t));
		for (uint32_t g = 0; g < size; g++) {
			if (g < G) {
				double w = m->popularity[g] *
					   (m->marker[(size_t)c * G + g] ? MARKER_BOOST : 1);
				sp[c].w[g] = (uint64_t)ldexp(w, 32) + 1;
				sp[c].total += sp[c].w[g];
				sp[c].t[g + 1] += sp[c].w[g];
			}
			uint32_t up = (g + 1) + ((g + 1) & -(g + 1));   /* O(G) build */
			if (up <= size)
				sp[c].t[up] += sp[c].t[g + 1];
		}
	}

	uint32_t *pick = xmalloc(K, sizeof *pick);
	int32_t *idx = xmalloc(K, sizeof *idx);
	float *val = xmalloc(K, sizeof *val);
	size_t nwords = G / 64 + 1;
	uint64_t *bits = xmalloc(nwords, sizeof *bits);

	x_sink x;
	sink_open(&x, f, m);
	rng r;
	rng_init(&r, m->seed, S_X);
	for (uint32_t i = 0; i < m->n_cells; i++) {
		const uint8_t *mk = m->marker + (size_t)m->cluster[i] * G;
		draw_genes(&sp[m->cluster[i]], size, K, &r, bits, pick);
		uint32_t n = 0;
		for (size_t wi = 0; wi < nwords; wi++)
			for (; bits[wi]; bits[wi] &= bits[wi] - 1)
				idx[n++] = (int32_t)(wi * 64 + (size_t)__builtin_ctzll(bits[wi]));

		/* values: log1p(counts), counts ~ Gamma(1.2, 2) x library size,
		 * markers three times higher. The QC metrics come from the same
		 * counts; n_genes counts the genes with at least one (rounded). */
		double library = exp(0.35 * normal(&r)), sum = 0, mt = 0;
		int64_t detected = 0;
		for (uint32_t j = 0; j < K; j++) {
			uint32_t g = (uint32_t)idx[j];
			double counts = gamma_draw(&r, 1.2, 2) * library * (mk[g] ? 3 : 1);
			val[j] = (float)log1p(counts);
			sum += counts;
			mt += m->mito[g] ? counts : 0;
			detected += counts >= 0.5;
			gene_cells[g]++;
		}
		cells[i].n_counts = sum;
		cells[i].n_genes = detected;
		/* a few cells lack the metric, so NaN handling gets exercised */
		cells[i].pct_mito = sum > 0 && unit(&r) >= 0.002 ? 100 * mt / sum : NAN;

		sink_put(&x, i, idx, val, K);
	}
	sink_close(&x);

	for (int c = 0; c < m->k; c++) {
		free(sp[c].w);
		free(sp[c].t);
	}
	free(sp);
	free(pick);
	free(idx);
	free(val);
	free(bits);
}
