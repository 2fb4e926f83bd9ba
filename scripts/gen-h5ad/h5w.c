/*
 * h5w.c - HDF5 elements as h5py writes them for anndata: groups and
 * datasets with their encoding attributes, no modification times (so the
 * same arguments give the same bytes), contiguous arrays, and chunked ones
 * with h5py's chunk shapes and, on request, its gzip (deflate level 4, no
 * shuffle) or LZF filter.
 */
#include "gen.h"

#include <lzf.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define LZF_FILTER 32000  /* h5py's registered id */
#define LZF_FILTER_VERSION 4 /* cd_values[0] as h5py writes it */
#define GZIP_LEVEL 4      /* h5py's default compression_opts */

struct h5_types T;

void types_init(void)
{
	T.str = H5Tcopy(H5T_C_S1);
	H5Tset_size(T.str, H5T_VARIABLE);
	H5Tset_cset(T.str, H5T_CSET_UTF8);
	T.boolean = H5Tenum_create(H5T_STD_I8LE);
	int8_t v = 0;
	H5Tenum_insert(T.boolean, "FALSE", &v);
	v = 1;
	H5Tenum_insert(T.boolean, "TRUE", &v);
	T.gcpl = H5Pcreate(H5P_GROUP_CREATE);
	h5(H5Pset_obj_track_times(T.gcpl, 0), "group properties");
}

void attr_write(hid_t obj, const char *name, hid_t type, hid_t space, const void *buf)
{
	hid_t a = h5(H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT), name);
	h5(H5Awrite(a, type, buf), name);
	H5Aclose(a);
	H5Sclose(space);
}

void attr_string(hid_t obj, const char *name, const char *value)
{
	attr_write(obj, name, T.str, H5Screate(H5S_SCALAR), &value);
}

void attr_strings(hid_t obj, const char *name, const char *const *values, hsize_t n)
{
	attr_write(obj, name, T.str, H5Screate_simple(1, &n, NULL), values);
}

void encoding(hid_t obj, const char *type, const char *version)
{
	attr_string(obj, "encoding-type", type);
	attr_string(obj, "encoding-version", version);
}

hid_t group(hid_t parent, const char *name, const char *type, const char *version)
{
	hid_t g = h5(H5Gcreate2(parent, name, H5P_DEFAULT, T.gcpl, H5P_DEFAULT), name);
	encoding(g, type, version);
	return g;
}

void empty_dict(hid_t parent, const char *name)
{
	H5Gclose(group(parent, name, "dict", "0.1.0"));
}

/* A contiguous dataset (h5py's layout when no compression is asked for),
 * tagged with encoding type enc ("array" or "string-array"). */
hid_t dataset(hid_t parent, const char *name, hid_t type, int rank, const hsize_t *dims,
	      const char *enc)
{
	hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
	H5Pset_obj_track_times(dcpl, 0);
	hid_t space = H5Screate_simple(rank, dims, NULL);
	hid_t d = h5(H5Dcreate2(parent, name, type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT), name);
	H5Sclose(space);
	H5Pclose(dcpl);
	encoding(d, enc, "0.2.0");
	return d;
}

/* h5py's guess_chunk: start from the shape and halve one axis after the
 * other until a chunk is below (or within half of) a target that grows
 * with the data, 16 KiB per MiB, twice that per tenfold more, within
 * 8 KiB..1 MiB. */
static void h5py_chunks(int rank, const hsize_t *dims, size_t typesize, hsize_t *chunk)
{
	double bytes = (double)typesize;
	for (int i = 0; i < rank; i++) {
		chunk[i] = dims[i] ? dims[i] : 1024;
		bytes *= (double)chunk[i];
	}
	double target = 16384 * pow(2, log10(bytes / 1048576));
	target = target < 8192 ? 8192 : target > 1048576 ? 1048576 : target;
	for (int i = 0;; i++) {
		double now = (double)typesize, cells = 1;
		for (int k = 0; k < rank; k++)
			cells *= (double)chunk[k];
		now *= cells;
		if ((now < target || fabs(now - target) / target < 0.5) && now < 1048576)
			break;
		if (cells == 1)
			break;
		chunk[i % rank] = (chunk[i % rank] + 1) / 2;
	}
}

/* LZF, encode side (the reader is anndata/ad_lzf.c): cd_values as h5py's
 * filter sets them, the last one the chunk's size in bytes. Registered as
 * optional, as h5py does: a chunk that does not shrink is stored raw. */
static herr_t lzf_set_local(hid_t dcpl, hid_t type, hid_t space)
{
	(void)space;
	hsize_t chunk[2];
	int rank = H5Pget_chunk(dcpl, 2, chunk);
	unsigned flags, cd[3] = {LZF_FILTER_VERSION, LZF_VERSION, 0};
	size_t ncd = 3;
	if (rank < 0 || H5Pget_filter_by_id2(dcpl, LZF_FILTER, &flags, &ncd, cd, 0, NULL, NULL) < 0)
		return -1;
	size_t bytes = H5Tget_size(type);
	for (int i = 0; i < rank; i++)
		bytes *= chunk[i];
	cd[0] = LZF_FILTER_VERSION;
	cd[1] = LZF_VERSION;
	cd[2] = (unsigned)bytes;
	return H5Pmodify_filter(dcpl, LZF_FILTER, flags, 3, cd);
}

static size_t lzf_encode(unsigned flags, size_t cd_nelmts, const unsigned cd_values[],
			 size_t nbytes, size_t *buf_size, void **buf)
{
	(void)cd_nelmts;
	(void)cd_values;
	if (flags & H5Z_FLAG_REVERSE)
		return 0; /* the generator never reads X back */
	void *out = H5allocate_memory(nbytes, 0);
	unsigned n = out ? lzf_compress(*buf, (unsigned)nbytes, out, (unsigned)nbytes) : 0;
	if (!n) {
		H5free_memory(out);
		return 0;
	}
	H5free_memory(*buf);
	*buf = out;
	*buf_size = nbytes;
	return n;
}

static void lzf_register(void)
{
	static const H5Z_class2_t lzf = {
		H5Z_CLASS_T_VERS, LZF_FILTER, 1, 0, "lzf", NULL, lzf_set_local, lzf_encode,
	};
	h5(H5Zregister(&lzf), "the LZF filter");
}

hid_t chunked_dataset(hid_t parent, const char *name, hid_t type, int rank, const hsize_t *dims,
		      int unlimited, x_filter filter, hsize_t *chunk)
{
	hsize_t maxdims[2] = {H5S_UNLIMITED, H5S_UNLIMITED};
	hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
	H5Pset_obj_track_times(dcpl, 0);
	h5py_chunks(rank, dims, H5Tget_size(type), chunk);
	h5(H5Pset_chunk(dcpl, rank, chunk), name);
	if (filter == X_GZIP)
		h5(H5Pset_deflate(dcpl, GZIP_LEVEL), name);
	if (filter == X_LZF) {
		static int registered;
		if (!registered++)
			lzf_register();
		h5(H5Pset_filter(dcpl, LZF_FILTER, H5Z_FLAG_OPTIONAL, 0, NULL), name);
	}
	hid_t space = H5Screate_simple(rank, dims, unlimited ? maxdims : NULL);
	hid_t d = h5(H5Dcreate2(parent, name, type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT), name);
	H5Sclose(space);
	H5Pclose(dcpl);
	return d;
}

/* Write rows [row0, row0 + nrows) of a 1-d (ncols 0) or 2-d dataset. */
void write_rows(hid_t d, hid_t memtype, hsize_t row0, hsize_t nrows, hsize_t ncols,
		const void *buf, const char *what)
{
	if (!nrows)
		return;
	int rank = ncols ? 2 : 1;
	hsize_t start[2] = {row0, 0}, count[2] = {nrows, ncols};
	hid_t fs = H5Dget_space(d), ms = H5Screate_simple(rank, count, NULL);
	h5(H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL), what);
	h5(H5Dwrite(d, memtype, ms, fs, H5P_DEFAULT, buf), what);
	H5Sclose(ms);
	H5Sclose(fs);
}

void array(hid_t parent, const char *name, hid_t filetype, hid_t memtype, hsize_t n,
	   const void *buf, const char *enc)
{
	hid_t d = dataset(parent, name, filetype, 1, &n, enc);
	write_rows(d, memtype, 0, n, 0, buf, name);
	H5Dclose(d);
}

void string_array(hid_t parent, const char *name, const char *const *v, hsize_t n)
{
	array(parent, name, T.str, T.str, n, v, "string-array");
}

/* categorical 0.2.0: codes as pandas stores them (int8 up to 127 categories,
 * else int16; converted by HDF5 from the int16 in memory) and categories as
 * a string-array; attr ordered is h5py's enum bool. */
void categorical(hid_t df, const char *name, const char *const *cats, hsize_t ncat,
		 const int16_t *codes, hsize_t n)
{
	hid_t g = group(df, name, "categorical", "0.2.0");
	int8_t ordered = 0;
	attr_write(g, "ordered", T.boolean, H5Screate(H5S_SCALAR), &ordered);
	array(g, "codes", ncat <= 127 ? H5T_STD_I8LE : H5T_STD_I16LE, H5T_NATIVE_INT16, n, codes,
	      "array");
	string_array(g, "categories", cats, ncat);
	H5Gclose(g);
}

/* anndata writes the parts of a sparse matrix as 1-d chunked datasets with
 * an unlimited maximum, in h5py's chunks. Values are staged and written
 * whole chunks at a time, so HDF5 never has to read a chunk back. */
void stream_open(stream *s, hid_t parent, const char *name, hid_t filetype, hid_t memtype,
		 hsize_t n, x_filter filter)
{
	size_t size = H5Tget_size(memtype);
	hsize_t chunk;
	s->d = chunked_dataset(parent, name, filetype, 1, &n, 1, filter, &chunk);
	s->memtype = memtype;
	s->name = name;
	s->size = size;
	s->n = n;
	s->done = 0;
	s->fill = 0;
	s->cap = (size_t)chunk * ((BLOCK_BYTES / size + chunk - 1) / chunk);
	s->buf = xmalloc(s->cap, size);
}

static void stream_flush(stream *s)
{
	write_rows(s->d, s->memtype, s->done, s->fill, 0, s->buf, s->name);
	s->done += s->fill;
	s->fill = 0;
}

void stream_put(stream *s, const void *v, size_t count)
{
	const char *p = v;
	while (count) {
		size_t take = s->cap - s->fill < count ? s->cap - s->fill : count;
		memcpy(s->buf + s->fill * s->size, p, take * s->size);
		s->fill += take;
		p += take * s->size;
		count -= take;
		if (s->fill == s->cap)
			stream_flush(s);
	}
}

void stream_close(stream *s)
{
	stream_flush(s);
	if (s->done != s->n)
		die("internal error: %s has %llu of %llu values", s->name,
		    (unsigned long long)s->done, (unsigned long long)s->n);
	free(s->buf);
	H5Dclose(s->d);
}

/* The shape attr is int64[2]; the three streams have no attributes. */
void csr_open(csr *c, hid_t parent, const char *name, hsize_t rows, hsize_t cols, hsize_t nnz,
	      hid_t data_type, hid_t indptr_type, x_filter filter)
{
	c->g = group(parent, name, "csr_matrix", "0.1.0");
	int64_t shape[2] = {(int64_t)rows, (int64_t)cols};
	hsize_t two = 2;
	attr_write(c->g, "shape", H5T_STD_I64LE, H5Screate_simple(1, &two, NULL), shape);
	hid_t mem_data = H5Tget_size(data_type) == 8 ? H5T_NATIVE_DOUBLE : H5T_NATIVE_FLOAT;
	stream_open(&c->data, c->g, "data", data_type, mem_data, nnz, filter);
	stream_open(&c->indices, c->g, "indices", H5T_STD_I32LE, H5T_NATIVE_INT32, nnz, filter);
	stream_open(&c->indptr, c->g, "indptr", indptr_type, H5T_NATIVE_INT64, rows + 1, filter);
	int64_t zero = 0;
	stream_put(&c->indptr, &zero, 1);
}

void csr_close(csr *c)
{
	stream_close(&c->data);
	stream_close(&c->indices);
	stream_close(&c->indptr);
	H5Gclose(c->g);
}
