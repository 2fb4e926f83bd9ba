/*
 * ad_sparse.c - CSR and CSC matrices (X, raw/X, layers, the graph): their
 * header (encoding-type or the h5sparse attributes of older files), and
 * reading them as row blocks. Only the container layer (cn.h) is used to
 * reach the file; ad_x.c chooses and dispatches, this file never decides
 * which matrix is read.
 *
 * The file's index arrays are read as int64 (or, stored as 32-bit, as
 * they are) and checked before use (indptr never decreasing and within
 * the stored values, indices inside the matrix), so a hostile file gives
 * AD_EFORMAT, never a wild access.
 *
 * CSC cannot be read by rows directly: one pass counts the entries of each
 * row, then each pass over the entries gathers a range of rows holding at
 * most CSC_BUDGET entries (or block_nnz, when larger). A matrix of nnz
 * entries therefore costs about 1 + nnz / CSC_BUDGET passes.
 */
#include <stdlib.h>
#include <string.h>

#include "ad_internal.h"

enum {
	INDPTR_WINDOW = 1 << 16,   /* CSR rows whose indptr is read at once */
	STREAM_ENTRIES = 1 << 20,  /* CSC entries read at once */
	CSC_BUDGET = 1 << 23,      /* CSC entries gathered per pass */
};

struct sparse_io {
	cn_array *data, *indices, *indptr;
	size_t ndata, nindices, nindptr;
	int indices32;   /* indices stored as 4-byte little-endian integers */
	cn_num idx32;    /* then: CN_I32 or CN_U32 */
};

/* Close what sparse_open opened; safe to call twice. */
static void sparse_close(struct sparse_io *io)
{
	cn_array_close(io->data);
	cn_array_close(io->indices);
	cn_array_close(io->indptr);
	memset(io, 0, sizeof *io);
}

/* Open one part of a sparse group: a 1-d array of the expected class. */
static ad_err open_part(ad_file *f, const char *group, const char *name, int integer_only,
			cn_array **a, size_t *len)
{
	char *path = cn_path_join(group, name);
	cn_type t;
	ad_err e;

	if (!path)
		return ad_nomem(f, group);
	e = ad_values_open(f, path, NULL, a, len, &t);
	if (!e && (integer_only ? t.cls != CN_T_INT && t.cls != CN_T_UINT : !ad_is_number(t.cls)))
		e = ad_fail(f, AD_EFORMAT, "%s: values are not %s", path,
			    integer_only ? "integers" : "numbers");
	free(path);
	return e;
}

static ad_err sparse_open(ad_file *f, const struct ad_matrix *m, struct sparse_io *io)
{
	const cn_type *t;
	ad_err e;

	memset(io, 0, sizeof *io);
	e = open_part(f, m->path, "data", 0, &io->data, &io->ndata);
	if (!e)
		e = open_part(f, m->path, "indices", 1, &io->indices, &io->nindices);
	if (!e)
		e = open_part(f, m->path, "indptr", 1, &io->indptr, &io->nindptr);
	if (e) {
		sparse_close(io);
		return e;
	}
	/* The common 32-bit indices can be read without conversion, straight
	 * into the caller's array: half the memory traffic of going through
	 * int64. */
	t = &cn_array_info(io->indices)->type;
	io->indices32 = t->size == 4 && !t->big_endian;
	io->idx32 = t->cls == CN_T_UINT ? CN_U32 : CN_I32;
	return AD_OK;
}

/* Read indptr[start .. start + count] (count + 1 values) and check that they
 * never decrease and stay within the nnz stored values. */
static ad_err read_indptr(ad_file *f, const struct ad_matrix *m, struct sparse_io *io,
			  size_t start, size_t count, int64_t *ip)
{
	ad_err e = cn_read(io->indptr, NULL, CN_I64, start, (uint64_t)count + 1, ip);

	for (size_t k = 0; !e && k <= count; k++) {
		if (ip[k] < 0 || (uint64_t)ip[k] > m->nnz)
			e = ad_fail(f, AD_EFORMAT, "%s: entry %zu is %lld, outside 0..%llu",
				    cn_array_path(io->indptr), start + k, (long long)ip[k],
				    (unsigned long long)m->nnz);
		else if (k && ip[k] < ip[k - 1])
			e = ad_fail(f, AD_EFORMAT, "%s: decreases at entry %zu", cn_array_path(io->indptr),
				    start + k);
	}
	return e;
}

/* Read the minor-axis ids of stored entries [e0, e0 + n) into ids,
 * checking each is < limit. */
static ad_err read_ids(ad_file *f, struct sparse_io *io, uint64_t e0, size_t n, size_t limit,
		       int64_t *ids)
{
	ad_err e = cn_read_range(io->indices, CN_I64, e0, n, ids);

	for (size_t k = 0; !e && k < n; k++)
		if (ids[k] < 0 || (uint64_t)ids[k] >= limit)
			e = ad_fail(f, AD_EFORMAT, "%s: entry %llu is %lld, outside 0..%zu",
				    cn_array_path(io->indices), (unsigned long long)(e0 + k), (long long)ids[k],
				    limit - 1);
	return e;
}

/* Read stored entries [e0, e0 + n): the ids into idx, checked through the
 * int64 scratch tmp (STREAM_ENTRIES long) piece by piece, and the values
 * as want. */
/* 32-bit indices read as stored, then checked in place. */
static ad_err read_ids32(ad_file *f, struct sparse_io *io, uint64_t e0, size_t n,
			 size_t limit, uint32_t *idx)
{
	ad_err e = cn_read_range(io->indices, io->idx32, e0, n, idx);
	int is_signed = io->idx32 == CN_I32;

	for (size_t k = 0; !e && k < n; k++)
		if (idx[k] >= limit)
			e = ad_fail(f, AD_EFORMAT, "%s: entry %llu is %lld, outside 0..%zu",
				    cn_array_path(io->indices), (unsigned long long)(e0 + k),
				    is_signed ? (long long)(int32_t)idx[k] : (long long)idx[k],
				    limit - 1);
	return e;
}

static ad_err read_entries(ad_file *f, struct sparse_io *io, uint64_t e0, size_t n,
			   size_t limit, int64_t *tmp, uint32_t *idx, cn_num want, void *vals)
{
	ad_err e = AD_OK;

	if (io->indices32 && limit <= (size_t)INT32_MAX) {
		/* A negative int32 reads as >= 2^31 >= limit: caught by the check. */
		e = read_ids32(f, io, e0, n, limit, idx);
		return e ? e : cn_read_range(io->data, want, e0, n, vals);
	}
	for (size_t done = 0, piece; !e && done < n; done += piece) {
		piece = n - done < STREAM_ENTRIES ? n - done : STREAM_ENTRIES;
		e = read_ids(f, io, e0 + done, piece, limit, tmp);
		for (size_t k = 0; !e && k < piece; k++)
			idx[done + k] = (uint32_t)tmp[k];
	}
	return e ? e : cn_read_range(io->data, want, e0, n, vals);
}

/* The format and shape of a sparse group: encoding-type (anndata >= 0.7)
 * or the h5sparse attributes of older files. */
static ad_err sparse_header(ad_file *f, struct ad_matrix *m)
{
	cn_store *s = f->store;
	char *enc = NULL, *fmt = NULL;
	int64_t shape[2];
	int r;
	ad_err e = AD_OK;

	if (cn_attr_string(s, m->path, "encoding-type", &enc) > 0) {
		m->kind = !strcmp(enc, "csr_matrix") ? AD_X_CSR :
			  !strcmp(enc, "csc_matrix") ? AD_X_CSC : AD_X_NONE;
		if (m->kind == AD_X_NONE)
			e = ad_fail(f, AD_EUNSUPPORTED, "%s: unsupported encoding '%s'", m->path, enc);
	} else if (cn_attr_string(s, m->path, "h5sparse_format", &fmt) > 0) {
		m->kind = !strcmp(fmt, "csr") ? AD_X_CSR : !strcmp(fmt, "csc") ? AD_X_CSC : AD_X_NONE;
		if (m->kind == AD_X_NONE)
			e = ad_fail(f, AD_EUNSUPPORTED, "%s: unsupported h5sparse_format '%s'",
				    m->path, fmt);
	} else {
		e = ad_fail(f, AD_EUNSUPPORTED, "%s: a group that is not a sparse matrix", m->path);
	}
	if (!e) {
		r = cn_attr_int64(s, m->path, "shape", shape, 2);
		if (r == 0)
			r = cn_attr_int64(s, m->path, "h5sparse_shape", shape, 2);
		if (r <= 0)
			e = ad_fail(f, AD_EFORMAT, "%s: no shape of 2 integers", m->path);
		else if (shape[0] < 0 || shape[1] < 0 || (uint64_t)shape[0] != m->rows ||
			 (uint64_t)shape[1] != m->cols)
			e = ad_fail(f, AD_EFORMAT, "%s: shape %lldx%lld, expected %zux%zu",
				    m->path, (long long)shape[0], (long long)shape[1], m->rows,
				    m->cols);
	}
	free(enc);
	free(fmt);
	return e;
}

ad_err ad_sparse_probe(ad_file *f, struct ad_matrix *m)
{
	struct sparse_io io;
	int64_t ends[2];
	ad_err e = sparse_header(f, m);

	if (e)
		return e;
	m->major = m->kind == AD_X_CSR ? m->rows : m->cols;
	m->minor = m->kind == AD_X_CSR ? m->cols : m->rows;
	e = sparse_open(f, m, &io);
	if (e)
		return e;
	if (io.nindptr != m->major + 1)
		e = ad_fail(f, AD_EFORMAT, "%s: %zu values, expected %zu", cn_array_path(io.indptr), io.nindptr,
			    m->major + 1);
	if (!e)
		e = cn_read(io.indptr, NULL, CN_I64, 0, 1, &ends[0]);
	if (!e)
		e = cn_read(io.indptr, NULL, CN_I64, m->major, 1, &ends[1]);
	if (!e && ends[0] != 0)
		e = ad_fail(f, AD_EFORMAT, "%s: starts at %lld, not 0", cn_array_path(io.indptr),
			    (long long)ends[0]);
	else if (!e && (ends[1] < 0 || (uint64_t)ends[1] > io.ndata ||
			(uint64_t)ends[1] > io.nindices))
		e = ad_fail(f, AD_EFORMAT, "%s: ends at %lld, but %zu values and %zu indices "
			    "are stored", cn_array_path(io.indptr), (long long)ends[1], io.ndata, io.nindices);
	if (!e)
		m->nnz = (uint64_t)ends[1];
	sparse_close(&io);
	return e;
}

/* Buffers for the entries of one block, grown on demand; the scratch for
 * checking ids never exceeds STREAM_ENTRIES. */
struct entries {
	int64_t *tmp;
	uint32_t *idx;
	unsigned char *vals;
	size_t cap;
};

static void entries_free(struct entries *b)
{
	free(b->tmp);
	free(b->idx);
	free(b->vals);
	memset(b, 0, sizeof *b);
}

/* Blocks never carry NULL arrays, even empty ones. */
static int entries_reserve(struct entries *b, size_t n, size_t elsize)
{
	if (b->tmp && n <= b->cap)
		return 0;
	entries_free(b);
	b->tmp = cn_mallocn(n < STREAM_ENTRIES ? n : STREAM_ENTRIES, sizeof *b->tmp);
	b->idx = cn_mallocn(n, sizeof *b->idx);
	b->vals = cn_mallocn(n, elsize);
	if (!b->tmp || !b->idx || !b->vals)
		return -1;
	b->cap = n;
	return 0;
}

static ad_err scan_csr(ad_file *f, const struct ad_matrix *m, size_t block_nnz,
		       cn_num want, ad_block_fn fn, void *ctx)
{
	size_t window = m->rows < INDPTR_WINDOW ? m->rows : INDPTR_WINDOW;
	size_t elsize = cn_num_size(want);
	int64_t *ip = cn_mallocn(window + 1, sizeof *ip);
	int64_t *bip = cn_mallocn(window + 1, sizeof *bip);
	struct entries ent = { 0 };
	struct sparse_io io;
	ad_err e = sparse_open(f, m, &io);

	if (!e && (!ip || !bip))
		e = ad_nomem(f, m->path);
	for (size_t r = 0; !e && r < m->rows; r += window) {
		size_t w = window < m->rows - r ? window : m->rows - r;

		e = read_indptr(f, m, &io, r, w, ip);
		for (size_t b = 0, end; !e && b < w; b = end) {
			size_t n;

			/* At least one row, then as many as fit in block_nnz. */
			for (end = b + 1; end < w && (uint64_t)(ip[end + 1] - ip[b]) <= block_nnz;)
				end++;
			n = (size_t)(ip[end] - ip[b]);
			if (entries_reserve(&ent, n, elsize) < 0) {
				e = ad_nomem(f, m->path);
				break;
			}
			e = read_entries(f, &io, (uint64_t)ip[b], n, m->cols, ent.tmp, ent.idx,
					 want, ent.vals);
			for (size_t k = b; !e && k <= end; k++)
				bip[k - b] = ip[k] - ip[b];
			if (!e && fn(&(struct ad_block){ r + b, end - b, bip, ent.idx, ent.vals }, ctx))
				goto out;
		}
	}
out:
	entries_free(&ent);
	free(bip);
	free(ip);
	sparse_close(&io);
	return e;
}

/* Count the entries of each row of a CSC matrix, checking the row ids. */
static ad_err csc_count_rows(ad_file *f, const struct ad_matrix *m, struct sparse_io *io,
			     struct entries *ent, int64_t *counts)
{
	ad_err e = AD_OK;

	for (uint64_t e0 = 0; !e && e0 < m->nnz; e0 += STREAM_ENTRIES) {
		size_t n = m->nnz - e0 < STREAM_ENTRIES ? (size_t)(m->nnz - e0) : STREAM_ENTRIES;

		e = read_ids(f, io, e0, n, m->rows, ent->tmp);
		for (size_t k = 0; !e && k < n; k++)
			counts[ent->tmp[k]]++;
	}
	return e;
}

/* One pass over all entries of a CSC matrix that puts those of rows
 * [r0, r1) at the next free slot of their row (cursor[row - r0]); columns
 * come in order, so each row ends up sorted by gene. */
static ad_err csc_gather(ad_file *f, const struct ad_matrix *m, struct sparse_io *io,
			 const int64_t *colptr, struct entries *ent, cn_num want,
			 size_t r0, size_t r1, int64_t *cursor, uint32_t *oidx,
			 unsigned char *ovals)
{
	size_t elsize = cn_num_size(want), col = 0;
	ad_err e = AD_OK;

	for (uint64_t e0 = 0; !e && e0 < m->nnz; e0 += STREAM_ENTRIES) {
		size_t n = m->nnz - e0 < STREAM_ENTRIES ? (size_t)(m->nnz - e0) : STREAM_ENTRIES;
		size_t k = 0;

		e = read_ids(f, io, e0, n, m->rows, ent->tmp);
		while (!e && k < n && ((size_t)ent->tmp[k] < r0 || (size_t)ent->tmp[k] >= r1))
			k++;
		if (e || k == n) /* no entry of these rows here: skip the values */
			continue;
		e = cn_read_range(io->data, want, e0, n, ent->vals);
		for (k = 0; !e && k < n; k++) {
			size_t row = (size_t)ent->tmp[k];
			int64_t pos;

			while ((uint64_t)colptr[col + 1] <= e0 + k)
				col++;
			if (row < r0 || row >= r1)
				continue;
			pos = cursor[row - r0]++;
			oidx[pos] = (uint32_t)col;
			memcpy(ovals + (size_t)pos * elsize, ent->vals + k * elsize, elsize);
		}
	}
	return e;
}

/* Hand rows [r0, r1) of a gathered range (row starts rip, relative to r0)
 * to fn in blocks of about block_nnz entries. Returns 1 when fn stopped. */
static int deliver_range(size_t r0, size_t r1, const int64_t *rip, int64_t *bip,
			 const uint32_t *oidx, const unsigned char *ovals, size_t elsize,
			 size_t block_nnz, ad_block_fn fn, void *ctx)
{
	for (size_t b = r0, end; b < r1; b = end) {
		int64_t base = rip[b - r0];

		for (end = b + 1; end < r1 && (uint64_t)(rip[end + 1 - r0] - base) <= block_nnz;)
			end++;
		for (size_t k = b; k <= end; k++)
			bip[k - b] = rip[k - r0] - base;
		if (fn(&(struct ad_block){ b, end - b, bip, oidx + base, ovals + (size_t)base * elsize },
		       ctx))
			return 1;
	}
	return 0;
}

static ad_err scan_csc(ad_file *f, const struct ad_matrix *m, size_t block_nnz,
		       cn_num want, ad_block_fn fn, void *ctx)
{
	size_t elsize = cn_num_size(want), ocap = 0;
	uint64_t budget = block_nnz > CSC_BUDGET ? block_nnz : CSC_BUDGET;
	int64_t *colptr = cn_mallocn(m->cols + 1, sizeof *colptr);
	int64_t *counts = calloc(m->rows ? m->rows : 1, sizeof *counts);
	int64_t *rip = cn_mallocn(m->rows + 1, sizeof *rip);
	int64_t *bip = cn_mallocn(m->rows + 1, sizeof *bip);
	uint32_t *oidx = NULL;
	unsigned char *ovals = NULL;
	struct entries ent = { 0 };
	struct sparse_io io;
	ad_err e = sparse_open(f, m, &io);

	if (!e && (!colptr || !counts || !rip || !bip ||
		   entries_reserve(&ent, m->nnz < STREAM_ENTRIES ? m->nnz : STREAM_ENTRIES,
				   elsize) < 0))
		e = ad_nomem(f, m->path);
	if (!e)
		e = read_indptr(f, m, &io, 0, m->cols, colptr);
	if (!e)
		e = csc_count_rows(f, m, &io, &ent, counts);
	for (size_t r0 = 0, r1; !e && r0 < m->rows; r0 = r1) {
		uint64_t total = 0;

		/* The rows of this pass: at least one, then while they fit. */
		for (r1 = r0; r1 < m->rows && (r1 == r0 || total + counts[r1] <= budget); r1++)
			total += (uint64_t)counts[r1];
		rip[0] = 0;
		for (size_t r = r0; r < r1; r++) {
			rip[r - r0 + 1] = rip[r - r0] + counts[r];
			counts[r] = rip[r - r0]; /* from now on: the row's cursor */
		}
		if (!oidx || total > ocap) {
			free(oidx);
			free(ovals);
			oidx = cn_mallocn(total, sizeof *oidx);
			ovals = cn_mallocn(total, elsize);
			ocap = total;
			if (!oidx || !ovals) {
				e = ad_nomem(f, m->path);
				break;
			}
		}
		e = csc_gather(f, m, &io, colptr, &ent, want, r0, r1, counts + r0, oidx, ovals);
		if (!e && deliver_range(r0, r1, rip, bip, oidx, ovals, elsize, block_nnz, fn, ctx))
			break;
	}
	free(ovals);
	free(oidx);
	entries_free(&ent);
	free(bip);
	free(rip);
	free(counts);
	free(colptr);
	sparse_close(&io);
	return e;
}

ad_err ad_sparse_scan(ad_file *f, const struct ad_matrix *m, size_t block_nnz, cn_num want,
		      ad_block_fn fn, void *ctx)
{
	return m->kind == AD_X_CSR ? scan_csr(f, m, block_nnz, want, fn, ctx)
				   : scan_csc(f, m, block_nnz, want, fn, ctx);
}

/* Duplicate entries of one cell and gene add up, as in scipy. */
ad_err ad_sparse_add_line(ad_file *f, const struct ad_matrix *m, size_t k, float *out)
{
	struct sparse_io io;
	struct entries ent = { 0 };
	int64_t ip[2];
	ad_err e = sparse_open(f, m, &io);

	if (!e)
		e = read_indptr(f, m, &io, k, 1, ip);
	if (!e && entries_reserve(&ent, (size_t)(ip[1] - ip[0]), sizeof(float)) < 0)
		e = ad_nomem(f, m->path);
	if (!e)
		e = read_entries(f, &io, (uint64_t)ip[0], (size_t)(ip[1] - ip[0]), m->minor, ent.tmp,
				 ent.idx, CN_F32, ent.vals);
	for (int64_t j = 0; !e && j < ip[1] - ip[0]; j++)
		out[ent.idx[j]] += ((float *)ent.vals)[j];
	entries_free(&ent);
	sparse_close(&io);
	return e;
}
