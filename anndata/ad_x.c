/*
 * ad_x.c - 2-d matrices: X (dense, CSR or CSC) and the neighbour graph.
 *
 * Everything is read in row blocks of bounded size and handed to a
 * callback as CSR; the graph is just such a scan collected into memory. The
 * file's index arrays are read as int64 and checked before use (indptr never
 * decreasing and within the stored values, indices inside the matrix), so a
 * hostile file gives AD_EFORMAT, never a wild access.
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
#define CHUNK_CACHE_MAX ((size_t)256 << 20)

/* A row block as the scanners produce it: values are float or double, as
 * the scan was asked. */
struct block {
	size_t row0, nrows;
	const int64_t *indptr;
	const uint32_t *indices;
	const void *values;
};
typedef int (*block_fn)(const struct block *b, void *ctx);

void ad_matrix_clear(struct ad_matrix *m)
{
	free(m->path);
	memset(m, 0, sizeof *m);
}

static int is_number(H5T_class_t c)
{
	return c == H5T_INTEGER || c == H5T_FLOAT || c == H5T_ENUM;
}

/* ---- dense ---- */

static ad_err probe_dense(ad_file *f, struct ad_matrix *m)
{
	hid_t d = ad_h5_dopen(f, m->path, H5P_DEFAULT);
	hid_t type = -1, space = -1, dcpl = -1;
	hsize_t dims[2], cdims[2];
	int rank;
	ad_err e = AD_OK;

	if (d < 0)
		return AD_EFORMAT;
	type = H5Dget_type(d);
	space = H5Dget_space(d);
	dcpl = H5Dget_create_plist(d);
	rank = space < 0 ? -1 : H5Sget_simple_extent_ndims(space);
	if (type < 0 || space < 0 || dcpl < 0) {
		e = ad_fail(f, AD_EIO, "%s: cannot read the type or shape", m->path);
	} else if (!is_number(H5Tget_class(type))) {
		e = ad_fail(f, AD_EUNSUPPORTED, "%s: values are not numbers", m->path);
	} else if (rank != 2) {
		e = ad_fail(f, AD_EFORMAT, "%s: rank %d, expected a 2-d array", m->path, rank);
	} else if (H5Sget_simple_extent_dims(space, dims, NULL) < 0) {
		e = ad_fail(f, AD_EIO, "%s: cannot read the shape", m->path);
	} else if (dims[0] != m->rows || dims[1] != m->cols) {
		e = ad_fail(f, AD_EFORMAT, "%s: shape %llux%llu, expected %zux%zu", m->path,
			    (unsigned long long)dims[0], (unsigned long long)dims[1], m->rows,
			    m->cols);
	} else if (H5Pget_layout(dcpl) == H5D_CHUNKED && H5Pget_chunk(dcpl, 2, cdims) == 2 &&
		   cdims[0] && cdims[1]) {
		/* Sized in doubles so that a hostile chunk shape cannot overflow. */
		double per_row = (double)((m->cols + cdims[1] - 1) / cdims[1]);
		double bytes = per_row * (double)cdims[0] * (double)cdims[1] *
			       (double)H5Tget_size(type);

		m->chunk_rows = (size_t)cdims[0];
		m->chunks_per_row = (size_t)per_row;
		m->chunk_row_bytes = bytes > CHUNK_CACHE_MAX ? CHUNK_CACHE_MAX : (size_t)bytes;
	}
	if (!e)
		m->kind = AD_X_DENSE;
	if (dcpl >= 0)
		H5Pclose(dcpl);
	if (space >= 0)
		H5Sclose(space);
	if (type >= 0)
		H5Tclose(type);
	H5Dclose(d);
	return e;
}

/* Open a dense matrix with a chunk cache that holds one full row of chunks,
 * so that reading it by rows decompresses each chunk once. */
static hid_t dense_open(ad_file *f, const struct ad_matrix *m)
{
	hid_t dapl = H5Pcreate(H5P_DATASET_ACCESS), d;

	if (dapl < 0) {
		ad_fail(f, AD_EIO, "%s: cannot create a property list", m->path);
		return -1;
	}
	if (m->chunk_rows)
		H5Pset_chunk_cache(dapl, 10 * m->chunks_per_row + 1,
				   m->chunk_row_bytes + (1 << 20), 1.0);
	d = ad_h5_dopen(f, m->path, dapl);
	H5Pclose(dapl);
	return d;
}

/* Read rows [row0, row0 + nrows) x columns [col0, col0 + ncols) into buf. */
static ad_err dense_read(ad_file *f, const struct ad_matrix *m, hid_t d, hsize_t row0,
			 hsize_t nrows, hsize_t col0, hsize_t ncols, hid_t memtype, void *buf)
{
	hsize_t start[2] = { row0, col0 }, count[2] = { nrows, ncols };
	hid_t fspace, mspace;
	ad_err e = AD_OK;

	if (!nrows || !ncols)
		return AD_OK;
	fspace = H5Dget_space(d);
	mspace = H5Screate_simple(2, count, NULL);
	if (fspace < 0 || mspace < 0 ||
	    H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL) < 0)
		e = ad_fail(f, AD_EIO, "%s: cannot select values", m->path);
	else if (H5Dread(d, memtype, mspace, fspace, H5P_DEFAULT, buf) < 0)
		e = ad_h5_read_failed(f, d, m->path);
	if (mspace >= 0)
		H5Sclose(mspace);
	if (fspace >= 0)
		H5Sclose(fspace);
	return e;
}

static ad_err scan_dense(ad_file *f, const struct ad_matrix *m, size_t block_nnz,
			 hid_t memtype, block_fn fn, void *ctx)
{
	size_t elsize = H5Tget_size(memtype);
	size_t per = m->cols ? block_nnz / m->cols : m->rows;
	unsigned char *dense = NULL, *values = NULL;
	uint32_t *indices = NULL;
	int64_t *indptr = NULL;
	hid_t d;
	ad_err e = AD_OK;

	/* Whole rows of chunks per block, when a block is that large. */
	if (m->chunk_rows && per >= m->chunk_rows)
		per -= per % m->chunk_rows;
	if (per < 1)
		per = 1;
	if (per > m->rows)
		per = m->rows;
	d = dense_open(f, m);
	if (d < 0)
		return AD_EFORMAT;
	dense = ad_mallocn(per * m->cols, elsize);
	values = ad_mallocn(per * m->cols, elsize);
	indices = ad_mallocn(per * m->cols, sizeof *indices);
	indptr = ad_mallocn(per + 1, sizeof *indptr);
	if (!dense || !values || !indices || !indptr)
		e = ad_nomem(f, m->path);
	for (size_t r0 = 0; !e && r0 < m->rows; r0 += per) {
		size_t n = per < m->rows - r0 ? per : m->rows - r0, nnz = 0;
		struct block b = { r0, n, indptr, indices, values };

		e = dense_read(f, m, d, r0, n, 0, m->cols, memtype, dense);
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
	H5Dclose(d);
	return e;
}

/* ---- sparse ---- */

struct sparse_io {
	hid_t data, indices, indptr;
	char *pdata, *pindices, *pindptr;
	size_t ndata, nindices, nindptr;
	hid_t indices32;  /* native int32/uint32 when indices are stored so, else -1 */
};

/* Close what sparse_open opened; safe to call twice. */
static void sparse_close(struct sparse_io *io)
{
	if (io->data >= 0)
		H5Dclose(io->data);
	if (io->indices >= 0)
		H5Dclose(io->indices);
	if (io->indptr >= 0)
		H5Dclose(io->indptr);
	free(io->pdata);
	free(io->pindices);
	free(io->pindptr);
	memset(io, 0, sizeof *io);
	io->data = io->indices = io->indptr = -1;
}

/* Open one part of a sparse group: a 1-d dataset of the expected class. */
static ad_err open_part(ad_file *f, const char *group, const char *name, int integer_only,
			hid_t *d, char **path, size_t *len)
{
	hid_t type;
	H5T_class_t cls;
	ad_err e;

	*path = ad_path_join(group, name);
	if (!*path)
		return ad_nomem(f, group);
	*d = ad_h5_dopen(f, *path, H5P_DEFAULT);
	if (*d < 0)
		return AD_EFORMAT;
	e = ad_h5_len(f, *d, *path, len);
	type = H5Dget_type(*d);
	cls = type < 0 ? H5T_NO_CLASS : H5Tget_class(type);
	if (!e && (integer_only ? cls != H5T_INTEGER : !is_number(cls)))
		e = ad_fail(f, AD_EFORMAT, "%s: values are not %s", *path,
			    integer_only ? "integers" : "numbers");
	if (type >= 0)
		H5Tclose(type);
	return e;
}

static ad_err sparse_open(ad_file *f, const struct ad_matrix *m, struct sparse_io *io)
{
	ad_err e;

	memset(io, 0, sizeof *io);
	io->data = io->indices = io->indptr = -1;
	e = open_part(f, m->path, "data", 0, &io->data, &io->pdata, &io->ndata);
	if (!e)
		e = open_part(f, m->path, "indices", 1, &io->indices, &io->pindices,
			      &io->nindices);
	if (!e)
		e = open_part(f, m->path, "indptr", 1, &io->indptr, &io->pindptr, &io->nindptr);
	io->indices32 = -1;
	if (!e) {
		/* The common 32-bit indices can be read without conversion, straight
		 * into the caller's array: half the memory traffic of going through
		 * int64. */
		hid_t t = H5Dget_type(io->indices);
		if (t >= 0 && H5Tget_class(t) == H5T_INTEGER && H5Tget_size(t) == 4 &&
		    H5Tget_order(t) == H5T_ORDER_LE)
			io->indices32 = H5Tget_sign(t) == H5T_SGN_NONE ? H5T_NATIVE_UINT32
								       : H5T_NATIVE_INT32;
		if (t >= 0)
			H5Tclose(t);
	}
	if (e)
		sparse_close(io);
	return e;
}

/* Read indptr[start .. start + count] (count + 1 values) and check that they
 * never decrease and stay within the nnz stored values. */
static ad_err read_indptr(ad_file *f, const struct ad_matrix *m, struct sparse_io *io,
			  size_t start, size_t count, int64_t *ip)
{
	ad_err e = ad_h5_read(f, io->indptr, io->pindptr, NULL, H5T_NATIVE_INT64, start,
			      (hsize_t)count + 1, ip);

	for (size_t k = 0; !e && k <= count; k++) {
		if (ip[k] < 0 || (uint64_t)ip[k] > m->nnz)
			e = ad_fail(f, AD_EFORMAT, "%s: entry %zu is %lld, outside 0..%llu",
				    io->pindptr, start + k, (long long)ip[k],
				    (unsigned long long)m->nnz);
		else if (k && ip[k] < ip[k - 1])
			e = ad_fail(f, AD_EFORMAT, "%s: decreases at entry %zu", io->pindptr,
				    start + k);
	}
	return e;
}

/* Read the minor-axis ids of stored entries [e0, e0 + n) into ids,
 * checking each is < limit. */
static ad_err read_ids(ad_file *f, struct sparse_io *io, uint64_t e0, size_t n, size_t limit,
		       int64_t *ids)
{
	ad_err e = ad_h5_read(f, io->indices, io->pindices, NULL, H5T_NATIVE_INT64, e0, n, ids);

	for (size_t k = 0; !e && k < n; k++)
		if (ids[k] < 0 || (uint64_t)ids[k] >= limit)
			e = ad_fail(f, AD_EFORMAT, "%s: entry %llu is %lld, outside 0..%zu",
				    io->pindices, (unsigned long long)(e0 + k), (long long)ids[k],
				    limit - 1);
	return e;
}

/* Read stored entries [e0, e0 + n): the ids into idx, checked through the
 * int64 scratch tmp (STREAM_ENTRIES long) piece by piece, and the values
 * as memtype. */
/* 32-bit indices read as stored, then checked in place. */
static ad_err read_ids32(ad_file *f, struct sparse_io *io, uint64_t e0, size_t n,
			 size_t limit, uint32_t *idx)
{
	ad_err e = ad_h5_read(f, io->indices, io->pindices, NULL, io->indices32, e0, n, idx);
	int is_signed = io->indices32 == H5T_NATIVE_INT32;

	for (size_t k = 0; !e && k < n; k++)
		if (idx[k] >= limit)
			e = ad_fail(f, AD_EFORMAT, "%s: entry %llu is %lld, outside 0..%zu",
				    io->pindices, (unsigned long long)(e0 + k),
				    is_signed ? (long long)(int32_t)idx[k] : (long long)idx[k],
				    limit - 1);
	return e;
}

static ad_err read_entries(ad_file *f, struct sparse_io *io, uint64_t e0, size_t n,
			   size_t limit, int64_t *tmp, uint32_t *idx, hid_t memtype, void *vals)
{
	ad_err e = AD_OK;

	if (io->indices32 >= 0 && limit <= (size_t)INT32_MAX) {
		/* A negative int32 reads as >= 2^31 >= limit: caught by the check. */
		e = read_ids32(f, io, e0, n, limit, idx);
		return e ? e : ad_h5_read(f, io->data, io->pdata, NULL, memtype, e0, n, vals);
	}
	for (size_t done = 0, piece; !e && done < n; done += piece) {
		piece = n - done < STREAM_ENTRIES ? n - done : STREAM_ENTRIES;
		e = read_ids(f, io, e0 + done, piece, limit, tmp);
		for (size_t k = 0; !e && k < piece; k++)
			idx[done + k] = (uint32_t)tmp[k];
	}
	return e ? e : ad_h5_read(f, io->data, io->pdata, NULL, memtype, e0, n, vals);
}

/* The format and shape of a sparse group: encoding-type (anndata >= 0.7)
 * or the h5sparse attributes of older files. */
static ad_err sparse_header(ad_file *f, struct ad_matrix *m)
{
	hid_t g = H5Oopen(f->file, m->path, H5P_DEFAULT);
	char *enc = NULL, *fmt = NULL;
	int64_t shape[2];
	int r;
	ad_err e = AD_OK;

	if (g < 0)
		return ad_fail(f, AD_EIO, "%s: cannot open", m->path);
	if (ad_h5_attr_string(g, "encoding-type", &enc) > 0) {
		m->kind = !strcmp(enc, "csr_matrix") ? AD_X_CSR :
			  !strcmp(enc, "csc_matrix") ? AD_X_CSC : AD_X_NONE;
		if (m->kind == AD_X_NONE)
			e = ad_fail(f, AD_EUNSUPPORTED, "%s: unsupported encoding '%s'", m->path, enc);
	} else if (ad_h5_attr_string(g, "h5sparse_format", &fmt) > 0) {
		m->kind = !strcmp(fmt, "csr") ? AD_X_CSR : !strcmp(fmt, "csc") ? AD_X_CSC : AD_X_NONE;
		if (m->kind == AD_X_NONE)
			e = ad_fail(f, AD_EUNSUPPORTED, "%s: unsupported h5sparse_format '%s'",
				    m->path, fmt);
	} else {
		e = ad_fail(f, AD_EUNSUPPORTED, "%s: a group that is not a sparse matrix", m->path);
	}
	if (!e) {
		r = ad_h5_attr_int64(g, "shape", shape, 2);
		if (r == 0)
			r = ad_h5_attr_int64(g, "h5sparse_shape", shape, 2);
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
	H5Oclose(g);
	return e;
}

static ad_err probe_sparse(ad_file *f, struct ad_matrix *m)
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
		e = ad_fail(f, AD_EFORMAT, "%s: %zu values, expected %zu", io.pindptr, io.nindptr,
			    m->major + 1);
	if (!e)
		e = ad_h5_read(f, io.indptr, io.pindptr, NULL, H5T_NATIVE_INT64, 0, 1, &ends[0]);
	if (!e)
		e = ad_h5_read(f, io.indptr, io.pindptr, NULL, H5T_NATIVE_INT64, m->major, 1,
			       &ends[1]);
	if (!e && ends[0] != 0)
		e = ad_fail(f, AD_EFORMAT, "%s: starts at %lld, not 0", io.pindptr,
			    (long long)ends[0]);
	else if (!e && (ends[1] < 0 || (uint64_t)ends[1] > io.ndata ||
			(uint64_t)ends[1] > io.nindices))
		e = ad_fail(f, AD_EFORMAT, "%s: ends at %lld, but %zu values and %zu indices "
			    "are stored", io.pindptr, (long long)ends[1], io.ndata, io.nindices);
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
	b->tmp = ad_mallocn(n < STREAM_ENTRIES ? n : STREAM_ENTRIES, sizeof *b->tmp);
	b->idx = ad_mallocn(n, sizeof *b->idx);
	b->vals = ad_mallocn(n, elsize);
	if (!b->tmp || !b->idx || !b->vals)
		return -1;
	b->cap = n;
	return 0;
}

static ad_err scan_csr(ad_file *f, const struct ad_matrix *m, size_t block_nnz,
		       hid_t memtype, block_fn fn, void *ctx)
{
	size_t window = m->rows < INDPTR_WINDOW ? m->rows : INDPTR_WINDOW;
	size_t elsize = H5Tget_size(memtype);
	int64_t *ip = ad_mallocn(window + 1, sizeof *ip);
	int64_t *bip = ad_mallocn(window + 1, sizeof *bip);
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
					 memtype, ent.vals);
			for (size_t k = b; !e && k <= end; k++)
				bip[k - b] = ip[k] - ip[b];
			if (!e && fn(&(struct block){ r + b, end - b, bip, ent.idx, ent.vals }, ctx))
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
			 const int64_t *colptr, struct entries *ent, hid_t memtype,
			 size_t r0, size_t r1, int64_t *cursor, uint32_t *oidx,
			 unsigned char *ovals)
{
	size_t elsize = H5Tget_size(memtype), col = 0;
	ad_err e = AD_OK;

	for (uint64_t e0 = 0; !e && e0 < m->nnz; e0 += STREAM_ENTRIES) {
		size_t n = m->nnz - e0 < STREAM_ENTRIES ? (size_t)(m->nnz - e0) : STREAM_ENTRIES;
		size_t k = 0;

		e = read_ids(f, io, e0, n, m->rows, ent->tmp);
		while (!e && k < n && ((size_t)ent->tmp[k] < r0 || (size_t)ent->tmp[k] >= r1))
			k++;
		if (e || k == n) /* no entry of these rows here: skip the values */
			continue;
		e = ad_h5_read(f, io->data, io->pdata, NULL, memtype, e0, n, ent->vals);
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
			 size_t block_nnz, block_fn fn, void *ctx)
{
	for (size_t b = r0, end; b < r1; b = end) {
		int64_t base = rip[b - r0];

		for (end = b + 1; end < r1 && (uint64_t)(rip[end + 1 - r0] - base) <= block_nnz;)
			end++;
		for (size_t k = b; k <= end; k++)
			bip[k - b] = rip[k - r0] - base;
		if (fn(&(struct block){ b, end - b, bip, oidx + base, ovals + (size_t)base * elsize },
		       ctx))
			return 1;
	}
	return 0;
}

static ad_err scan_csc(ad_file *f, const struct ad_matrix *m, size_t block_nnz,
		       hid_t memtype, block_fn fn, void *ctx)
{
	size_t elsize = H5Tget_size(memtype), ocap = 0;
	uint64_t budget = block_nnz > CSC_BUDGET ? block_nnz : CSC_BUDGET;
	int64_t *colptr = ad_mallocn(m->cols + 1, sizeof *colptr);
	int64_t *counts = calloc(m->rows ? m->rows : 1, sizeof *counts);
	int64_t *rip = ad_mallocn(m->rows + 1, sizeof *rip);
	int64_t *bip = ad_mallocn(m->rows + 1, sizeof *bip);
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
			oidx = ad_mallocn(total, sizeof *oidx);
			ovals = ad_mallocn(total, elsize);
			ocap = total;
			if (!oidx || !ovals) {
				e = ad_nomem(f, m->path);
				break;
			}
		}
		e = csc_gather(f, m, &io, colptr, &ent, memtype, r0, r1, counts + r0, oidx, ovals);
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

/* ---- dispatch and the public API ---- */

ad_err ad_matrix_probe(ad_file *f, const char *path, size_t rows, size_t cols,
		       struct ad_matrix *m)
{
	H5I_type_t kind = ad_h5_kind(f->file, path);
	ad_err e;

	memset(m, 0, sizeof *m);
	m->rows = rows;
	m->cols = cols;
	m->path = ad_strdup(path);
	if (!m->path)
		return ad_nomem(f, path);
	/* Blocks carry column ids (genes; cells in the graph) as uint32. */
	if (cols > UINT32_MAX)
		e = ad_fail(f, AD_EUNSUPPORTED, "%s: more than 2^32 columns", path);
	else if (kind == H5I_GROUP)
		e = probe_sparse(f, m);
	else if (kind == H5I_DATASET)
		e = probe_dense(f, m);
	else
		e = ad_fail(f, AD_EFORMAT, "%s: missing", path);
	if (e)
		ad_matrix_clear(m);
	return e;
}

static ad_err scan(ad_file *f, const struct ad_matrix *m, size_t block_nnz, hid_t memtype,
		   block_fn fn, void *ctx)
{
	if (block_nnz == 0)
		block_nnz = 1;
	switch (m->kind) {
	case AD_X_DENSE: return scan_dense(f, m, block_nnz, memtype, fn, ctx);
	case AD_X_CSR: return scan_csr(f, m, block_nnz, memtype, fn, ctx);
	case AD_X_CSC: return scan_csc(f, m, block_nnz, memtype, fn, ctx);
	default: return ad_fail(f, AD_EFORMAT, "no X matrix");
	}
}

struct rowblock_ctx {
	ad_rowblock_fn fn;
	void *ctx;
};

static int to_rowblock(const struct block *b, void *ctx)
{
	const struct rowblock_ctx *p = ctx;
	ad_rowblock rb = { b->row0, b->nrows, b->indptr, b->indices, b->values };

	return p->fn(&rb, p->ctx);
}

ad_err ad_x_scan_rows(ad_file *f, size_t block_nnz, ad_rowblock_fn fn, void *ctx)
{
	struct rowblock_ctx p = { fn, ctx };

	return scan(f, &f->x, block_nnz, H5T_NATIVE_FLOAT, to_rowblock, &p);
}

struct gene_ctx {
	uint32_t gene;
	float *out;
};

static int add_gene(const struct block *b, void *ctx)
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
	struct sparse_io io;
	struct entries ent = { 0 };
	int64_t ip[2];
	hid_t d;
	ad_err e;

	if (m->kind == AD_X_NONE)
		return ad_fail(f, AD_EFORMAT, "no X matrix");
	if (gene >= m->cols)
		return ad_fail(f, AD_EFORMAT, "X: gene %zu of %zu does not exist", gene, m->cols);
	if (m->kind == AD_X_DENSE) {
		d = ad_h5_dopen(f, m->path, H5P_DEFAULT);
		if (d < 0)
			return AD_EFORMAT;
		e = dense_read(f, m, d, 0, m->rows, gene, 1, H5T_NATIVE_FLOAT, out);
		H5Dclose(d);
		return e;
	}
	memset(out, 0, m->rows * sizeof *out);
	if (m->kind == AD_X_CSR)
		return scan(f, m, 1 << 20, H5T_NATIVE_FLOAT, add_gene,
			    &(struct gene_ctx){ (uint32_t)gene, out });
	e = sparse_open(f, m, &io);
	if (!e)
		e = read_indptr(f, m, &io, gene, 1, ip);
	if (!e && entries_reserve(&ent, (size_t)(ip[1] - ip[0]), sizeof(float)) < 0)
		e = ad_nomem(f, m->path);
	if (!e)
		e = read_entries(f, &io, (uint64_t)ip[0], (size_t)(ip[1] - ip[0]), m->rows, ent.tmp,
				 ent.idx, H5T_NATIVE_FLOAT, ent.vals);
	for (int64_t k = 0; !e && k < ip[1] - ip[0]; k++)
		out[ent.idx[k]] += ((float *)ent.vals)[k];
	entries_free(&ent);
	sparse_close(&io);
	return e;
}

/* ---- the neighbour graph ---- */

struct graph_ctx {
	ad_graph *g;
	size_t cap;
	int nomem;
};

static int graph_append(const struct block *b, void *ctx)
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
	out->indptr = ad_mallocn(f->n_obs + 1, sizeof *out->indptr);
	if (m.kind != AD_X_DENSE && m.nnz <= SIZE_MAX / sizeof(double)) {
		a.cap = (size_t)m.nnz;
		out->indices = ad_mallocn(a.cap, sizeof *out->indices);
		out->data = ad_mallocn(a.cap, sizeof *out->data);
	}
	if (!out->indptr || (a.cap && (!out->indices || !out->data)))
		e = ad_nomem(f, f->graph);
	if (!e) {
		out->indptr[0] = 0;
		e = scan(f, &m, 1 << 22, H5T_NATIVE_DOUBLE, graph_append, &a);
	}
	if (!e && a.nomem)
		e = ad_nomem(f, f->graph);
	if (e)
		ad_graph_free(out);
	ad_matrix_clear(&m);
	return e;
}
