/*
 * ad_x.c - 2-d matrices: X (dense, CSR or CSC; also raw/X and layers) and
 * the neighbour graph; dense matrices are read here, sparse ones by
 * ad_sparse.c. Only the container layer (cn.h) is used to reach the file.
 *
 * Everything is read in row blocks of bounded size and handed to a
 * callback as CSR (ad_x_scan_rows); the graph is just such a scan collected
 * into memory. A dense block is read as one box of whole rows (whole rows
 * of chunks when the blocks are that large, with a chunk cache holding one
 * row of chunks) and its zeros are dropped.
 */
#include <stdlib.h>
#include <string.h>

#include "ad_internal.h"

#define CHUNK_CACHE_MAX ((size_t)256 << 20)

void ad_matrix_clear(struct ad_matrix *m)
{
	free(m->path);
	memset(m, 0, sizeof *m);
}

/* ---- dense ---- */

static ad_err probe_dense(ad_file *f, struct ad_matrix *m)
{
	const cn_info *in;
	cn_array *a;
	ad_err e = cn_array_open(f->store, m->path, &a);

	if (e)
		return e;
	in = cn_array_info(a);
	if (!ad_is_number(in->type.cls)) {
		e = ad_fail(f, AD_EUNSUPPORTED, "%s: values are not numbers", m->path);
	} else if (in->rank != 2) {
		e = ad_fail(f, AD_EFORMAT, "%s: rank %d, expected a 2-d array", m->path, in->rank);
	} else if (in->shape[0] != m->rows || in->shape[1] != m->cols) {
		e = ad_fail(f, AD_EFORMAT, "%s: shape %llux%llu, expected %zux%zu", m->path,
			    (unsigned long long)in->shape[0], (unsigned long long)in->shape[1],
			    m->rows, m->cols);
	} else if (in->chunked && in->chunk[0] && in->chunk[1]) {
		/* Sized in doubles so that a hostile chunk shape cannot overflow. */
		double per_row = (double)((m->cols + in->chunk[1] - 1) / in->chunk[1]);
		double bytes = per_row * (double)in->chunk[0] * (double)in->chunk[1] *
			       (double)in->type.size;

		m->chunk_rows = (size_t)in->chunk[0];
		m->chunks_per_row = (size_t)per_row;
		m->chunk_row_bytes = bytes > CHUNK_CACHE_MAX ? CHUNK_CACHE_MAX : (size_t)bytes;
	}
	if (!e)
		m->kind = AD_X_DENSE;
	cn_array_close(a);
	return e;
}

/* Open a dense matrix with a chunk cache that holds one full row of chunks,
 * so that reading it by rows decompresses each chunk once. */
static ad_err dense_open(ad_file *f, const struct ad_matrix *m, cn_array **a)
{
	if (!m->chunk_rows)
		return cn_array_open(f->store, m->path, a);
	return cn_array_open_cached(f->store, m->path, 10 * m->chunks_per_row + 1,
				    m->chunk_row_bytes + (1 << 20), a);
}

/* Read rows [row0, row0 + nrows) x columns [col0, col0 + ncols) into buf. */
static ad_err dense_read(cn_array *a, uint64_t row0, uint64_t nrows, uint64_t col0,
			 uint64_t ncols, cn_num want, void *buf)
{
	uint64_t start[2] = { row0, col0 }, count[2] = { nrows, ncols };

	return cn_read_block(a, start, count, want, buf);
}

static ad_err scan_dense(ad_file *f, const struct ad_matrix *m, size_t block_nnz,
			 cn_num want, ad_block_fn fn, void *ctx)
{
	size_t elsize = cn_num_size(want);
	size_t per = m->cols ? block_nnz / m->cols : m->rows;
	unsigned char *dense = NULL, *values = NULL;
	uint32_t *indices = NULL;
	int64_t *indptr = NULL;
	cn_array *d;
	ad_err e;

	/* Whole rows of chunks per block, when a block is that large. */
	if (m->chunk_rows && per >= m->chunk_rows)
		per -= per % m->chunk_rows;
	if (per < 1)
		per = 1;
	if (per > m->rows)
		per = m->rows;
	e = dense_open(f, m, &d);
	if (e)
		return e;
	dense = cn_mallocn(per * m->cols, elsize);
	values = cn_mallocn(per * m->cols, elsize);
	indices = cn_mallocn(per * m->cols, sizeof *indices);
	indptr = cn_mallocn(per + 1, sizeof *indptr);
	if (!dense || !values || !indices || !indptr)
		e = ad_nomem(f, m->path);
	for (size_t r0 = 0; !e && r0 < m->rows; r0 += per) {
		size_t n = per < m->rows - r0 ? per : m->rows - r0, nnz = 0;
		struct ad_block b = { r0, n, indptr, indices, values };

		e = cn_read_box_range(d, (uint64_t[]){ r0, 0 }, (uint64_t[]){ n, m->cols }, want,
				      dense);
		if (e)
			break;
		/* Drop the zeros; NaN compares unequal to 0 and stays. */
		indptr[0] = 0;
		for (size_t i = 0; i < n; i++) {
			for (size_t j = 0; j < m->cols; j++) {
				size_t k = i * m->cols + j;
				int zero = elsize == sizeof(float) ? ((float *)dense)[k] == 0.0f
								   : ((double *)dense)[k] == 0.0;
				if (zero)
					continue;
				memcpy(values + nnz * elsize, dense + k * elsize, elsize);
				indices[nnz++] = (uint32_t)j;
			}
			indptr[i + 1] = (int64_t)nnz;
		}
		if (fn(&b, ctx))
			break;
	}
	free(indptr);
	free(indices);
	free(values);
	free(dense);
	cn_array_close(d);
	return e;
}

/* ---- dispatch and the public API ---- */

ad_err ad_matrix_probe(ad_file *f, const char *path, size_t rows, size_t cols,
		       struct ad_matrix *m)
{
	cn_kind kind = cn_kind_of(f->store, path);
	ad_err e;

	memset(m, 0, sizeof *m);
	m->rows = rows;
	m->cols = cols;
	m->path = cn_strdup(path);
	if (!m->path)
		return ad_nomem(f, path);
	/* Blocks carry column ids (genes; cells in the graph) as uint32. */
	if (cols > UINT32_MAX)
		e = ad_fail(f, AD_EUNSUPPORTED, "%s: more than 2^32 columns", path);
	else if (kind == CN_GROUP)
		e = ad_sparse_probe(f, m);
	else if (kind == CN_ARRAY)
		e = probe_dense(f, m);
	else if (kind == CN_REFUSED)
		e = cn_check(f->store, path);
	else
		e = ad_fail(f, AD_EFORMAT, "%s: missing", path);
	if (e)
		ad_matrix_clear(m);
	return e;
}

static ad_err scan(ad_file *f, const struct ad_matrix *m, size_t block_nnz, cn_num want,
		   ad_block_fn fn, void *ctx)
{
	if (block_nnz == 0)
		block_nnz = 1;
	switch (m->kind) {
	case AD_X_DENSE: return scan_dense(f, m, block_nnz, want, fn, ctx);
	case AD_X_CSR:
	case AD_X_CSC: return ad_sparse_scan(f, m, block_nnz, want, fn, ctx);
	default: return ad_fail(f, AD_EFORMAT, "no X matrix");
	}
}

struct rowblock_ctx {
	ad_rowblock_fn fn;
	void *ctx;
};

static int to_rowblock(const struct ad_block *b, void *ctx)
{
	const struct rowblock_ctx *p = ctx;
	ad_rowblock rb = { b->row0, b->nrows, b->indptr, b->indices, b->values };

	return p->fn(&rb, p->ctx);
}

ad_err ad_x_scan_rows(ad_file *f, size_t block_nnz, ad_rowblock_fn fn, void *ctx)
{
	struct rowblock_ctx p = { fn, ctx };

	return scan(f, &f->x, block_nnz, CN_F32, to_rowblock, &p);
}

struct gene_ctx {
	uint32_t gene;
	float *out;
};

static int add_gene(const struct ad_block *b, void *ctx)
{
	const struct gene_ctx *g = ctx;
	const float *v = b->values;

	for (size_t i = 0; i < b->nrows; i++)
		for (int64_t k = b->indptr[i]; k < b->indptr[i + 1]; k++)
			if (b->indices[k] == g->gene)
				g->out[b->row0 + i] += v[k];
	return 0;
}

/* Duplicate entries of one cell and gene add up, as in scipy. */
ad_err ad_x_read_gene(ad_file *f, size_t gene, float *out)
{
	const struct ad_matrix *m = &f->x;
	cn_array *d;
	ad_err e;

	if (m->kind == AD_X_NONE)
		return ad_fail(f, AD_EFORMAT, "no X matrix");
	if (gene >= m->cols)
		return ad_fail(f, AD_EFORMAT, "X: gene %zu of %zu does not exist", gene, m->cols);
	if (m->kind == AD_X_DENSE) {
		e = cn_array_open(f->store, m->path, &d);
		if (e)
			return e;
		e = dense_read(d, 0, m->rows, gene, 1, CN_F32, out);
		cn_array_close(d);
		return e;
	}
	memset(out, 0, m->rows * sizeof *out);
	if (m->kind == AD_X_CSR)
		return scan(f, m, 1 << 20, CN_F32, add_gene,
			    &(struct gene_ctx){ (uint32_t)gene, out });
	return ad_sparse_add_line(f, m, gene, out);
}

/* ---- the neighbour graph ---- */

struct graph_ctx {
	ad_graph *g;
	size_t cap;
	int nomem;
};

static int graph_append(const struct ad_block *b, void *ctx)
{
	struct graph_ctx *a = ctx;
	ad_graph *g = a->g;
	size_t have = (size_t)g->indptr[b->row0], n = (size_t)b->indptr[b->nrows];

	if (have + n > a->cap) {
		size_t cap = a->cap * 2 > have + n ? a->cap * 2 : have + n;
		uint32_t *idx = realloc(g->indices, cap * sizeof *idx);
		double *data;

		if (idx)
			g->indices = idx;
		data = idx ? realloc(g->data, cap * sizeof *data) : NULL;
		if (!data)
			return a->nomem = 1;
		g->data = data;
		a->cap = cap;
	}
	memcpy(g->indices + have, b->indices, n * sizeof *g->indices);
	memcpy(g->data + have, b->values, n * sizeof *g->data);
	for (size_t i = 0; i < b->nrows; i++)
		g->indptr[b->row0 + i + 1] = (int64_t)have + b->indptr[i + 1];
	return 0;
}

void ad_graph_free(ad_graph *g)
{
	if (!g)
		return;
	free(g->indptr);
	free(g->indices);
	free(g->data);
	memset(g, 0, sizeof *g);
}

int ad_has_connectivities(const ad_file *f)
{
	return f->graph != NULL;
}

ad_err ad_read_connectivities(ad_file *f, ad_graph *out)
{
	struct graph_ctx a = { out, 0, 0 };
	struct ad_matrix m;
	ad_err e;

	memset(out, 0, sizeof *out);
	if (!f->graph)
		return ad_fail(f, AD_EFORMAT, "no obsp/connectivities");
	e = ad_matrix_probe(f, f->graph, f->n_obs, f->n_obs, &m);
	if (e)
		return e;
	out->n = f->n_obs;
	out->indptr = cn_mallocn(f->n_obs + 1, sizeof *out->indptr);
	if (m.kind != AD_X_DENSE && m.nnz <= SIZE_MAX / sizeof(double)) {
		a.cap = (size_t)m.nnz;
		out->indices = cn_mallocn(a.cap, sizeof *out->indices);
		out->data = cn_mallocn(a.cap, sizeof *out->data);
	}
	if (!out->indptr || (a.cap && (!out->indices || !out->data)))
		e = ad_nomem(f, f->graph);
	if (!e) {
		out->indptr[0] = 0;
		e = scan(f, &m, 1 << 22, CN_F64, graph_append, &a);
	}
	if (!e && a.nomem)
		e = ad_nomem(f, f->graph);
	if (e)
		ad_graph_free(out);
	ad_matrix_clear(&m);
	return e;
}
