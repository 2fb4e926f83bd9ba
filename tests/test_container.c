/*
 * test_container.c - tests of the container layer (anndata/cn.h) on its
 * own, below the AnnData encodings.
 *
 * Two halves, as in test_anndata.c: the real files in ../shared/fixtures
 * (skipped, with a message, when that folder is absent), checked against
 * values read once with h5py; and small files written here with the HDF5 C
 * API in a temporary directory: chunked and compressed arrays with partial
 * edge chunks, fixed and variable-length strings, compound members, scalar
 * and null dataspaces, attributes of every kind the encodings read, links
 * that lead nowhere, and the errors each call gives. What reaches outside
 * the file is tested in test_outside.c.
 */
#include <hdf5.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cn.h"
#include "check.h"
#include "cn_test.h"

#define FIXTURES "../shared/fixtures/"

/* Every chunk of a, read with cn_read_chunk and put in place, equals the
 * whole array read as one box (doubles; rank 1 or 2). */
static int chunks_assemble(cn_array *a)
{
	const cn_info *in = cn_array_info(a);
	uint64_t rows = in->shape[0], cols = in->rank == 2 ? in->shape[1] : 1;
	uint64_t zero[2] = { 0, 0 }, start[2], count[2];
	double *whole = malloc(rows * cols * sizeof *whole);
	double *built = calloc(rows * cols, sizeof *built);
	double *chunk = malloc(rows * cols * sizeof *chunk);
	int ok = whole && built && chunk &&
		 cn_read_block(a, zero, in->shape, CN_F64, whole) == AD_OK;

	for (uint64_t k = 0; ok && k < cn_chunk_count(a); k++) {
		cn_chunk_box(a, k, start, count);
		if (in->rank == 1) {
			start[1] = 0;
			count[1] = 1;
		}
		ok = cn_read_chunk(a, k, CN_F64, chunk) == AD_OK;
		for (uint64_t i = 0; ok && i < count[0]; i++)
			for (uint64_t j = 0; j < count[1]; j++)
				built[(start[0] + i) * cols + start[1] + j] = chunk[i * count[1] + j];
	}
	ok = ok && !memcmp(whole, built, rows * cols * sizeof *whole);
	free(whole);
	free(built);
	free(chunk);
	return ok;
}

/* Decode every other chunk of a fetched list, from index first on. */
struct decoder {
	cn_chunk **chunks;
	float **out;
	size_t n, first;
	int ok;
};

static void *decode_half(void *arg)
{
	struct decoder *d = arg;

	d->ok = 1;
	for (size_t k = d->first; k < d->n; k += 2)
		d->ok &= cn_chunk_decode(d->chunks[k], CN_F32, d->out[k]) == AD_OK;
	return NULL;
}

/* All chunks fetched (the I/O, under the caller's lock), then decoded by
 * two threads at once: the same values as cn_read_chunk gives. */
static int decode_in_threads(cn_store *s, const char *path)
{
	cn_array *a;
	size_t n, len;
	cn_chunk **chunks;
	float **out, *one = NULL;
	pthread_t t[2];
	struct decoder d[2];
	int ok = cn_array_open(s, path, &a) == AD_OK;

	if (!ok)
		return 0;
	n = (size_t)cn_chunk_count(a);
	chunks = calloc(n, sizeof *chunks);
	out = calloc(n, sizeof *out);
	for (size_t k = 0; ok && k < n; k++) {
		ok = cn_chunk_fetch(a, k, &chunks[k]) == AD_OK &&
		     (out[k] = malloc(cn_chunk_len(chunks[k]) * sizeof(float)));
	}
	for (int i = 0; ok && i < 2; i++) {
		d[i] = (struct decoder){ chunks, out, n, (size_t)i, 0 };
		pthread_create(&t[i], NULL, decode_half, &d[i]);
	}
	for (int i = 0; ok && i < 2; i++)
		pthread_join(t[i], NULL);
	ok = ok && d[0].ok && d[1].ok;
	for (size_t k = 0; ok && k < n; k++) {
		len = cn_chunk_len(chunks[k]);
		one = realloc(one, len * sizeof *one);
		ok = cn_read_chunk(a, k, CN_F32, one) == AD_OK &&
		     !memcmp(one, out[k], len * sizeof *one);
	}
	cn_array_close(a);
	for (size_t k = 0; k < n; k++) {
		cn_chunk_free(chunks[k]);
		free(out[k]);
	}
	free(one);
	free(out);
	free(chunks);
	return ok;
}

/* ---- the fixtures ---- */

static void test_pbmc(void)
{
	cn_store *s = open_store(FIXTURES "pbmc68k_reduced.h5ad");
	char **names = NULL, *enc = NULL;
	size_t n = 0;
	cn_array *a = NULL;
	float row[4];
	uint64_t start[2] = { 3, 0 }, count[2] = { 1, 4 };

	CHECK(s, "pbmc68k_reduced opens");
	if (!s)
		return;
	CHECK(cn_kind_of(s, "obs") == CN_GROUP && cn_kind_of(s, "X") == CN_ARRAY &&
	      cn_kind_of(s, "nope") == CN_ABSENT && cn_kind_of(s, "obs/nope/x") == CN_ABSENT,
	      "kinds: group, array, absent (also below a missing group)");
	CHECK(cn_list(s, "obsm", &names, &n) == AD_OK && n == 2 && !strcmp(names[0], "X_pca") &&
	      !strcmp(names[1], "X_umap"), "obsm lists X_pca, X_umap");
	cn_strings_free(names, n);
	CHECK(cn_attr_string(s, "obs/louvain", "encoding-type", &enc) == 1 &&
	      !strcmp(enc, "categorical"), "a string attribute");
	free(enc);
	CHECK(cn_array_open(s, "X", &a) == AD_OK, "X opens");
	if (a) {
		const cn_info *in = cn_array_info(a);

		CHECK(in->rank == 2 && in->shape[0] == 700 && in->shape[1] == 765 &&
		      in->type.cls == CN_T_FLOAT && in->type.size == 4 && in->chunked &&
		      in->chunk[0] == 44 && in->chunk[1] == 96, "X: float32 700x765 in 44x96 chunks");
		CHECK(cn_chunk_count(a) == 16 * 8, "X: 16 x 8 chunks, the last ones partial");
		cn_chunk_box(a, 16 * 8 - 1, start, count);
		CHECK(start[0] == 660 && start[1] == 672 && count[0] == 40 && count[1] == 93,
		      "X: the corner chunk is clipped to 40x93");
		start[0] = 3;
		start[1] = 0;
		count[0] = 1;
		count[1] = 4;
		CHECK(cn_read_block(a, start, count, CN_F32, row) == AD_OK &&
		      fabsf(row[0] + 0.326f) < 1e-3f && fabsf(row[2] - 1.134f) < 1e-3f,
		      "X: a box of row 3 as h5py reads it");
		CHECK(chunks_assemble(a), "X: the gzip chunks, decoded one by one, make the matrix");
		cn_array_close(a);
	}
	CHECK(decode_in_threads(s, "X"), "X: chunks fetched, then decoded in two threads");
	CHECK(decode_in_threads(s, "obsp/connectivities/indices"),
	      "int32 chunks decoded to float in two threads");
	cn_close(s);
}

static void test_v070(void)
{
	cn_store *s = open_store(FIXTURES "anndata_archive_v0.7.0.h5ad");
	char *target = NULL, **cats = NULL;
	int32_t ptr[31];
	cn_array *a = NULL;

	CHECK(s, "anndata 0.7.0 archive opens");
	if (!s)
		return;
	CHECK(cn_attr_ref(s, "obs/obs_cat", "categories", &target) == 1 && target &&
	      !strcmp(target, "/obs/__categories/obs_cat"),
	      "an object reference names its target (%s)", target ? target : "none");
	free(target);
	CHECK(cn_attr_ref(s, "obs", "encoding-type", &target) == 0 && !target,
	      "a string attribute is no reference");
	CHECK(cn_array_open(s, "/obs/__categories/obs_cat", &a) == AD_OK, "an absolute path opens");
	cats = calloc(5, sizeof *cats);
	CHECK(a && cn_read_strings(a, NULL, 0, 5, cats) == AD_OK && !strcmp(cats[0], "B") &&
	      !strcmp(cats[4], "H"), "categories as strings");
	cn_strings_free(cats, 5);
	cn_array_close(a);
	CHECK(cn_array_open(s, "X/indptr", &a) == AD_OK, "X/indptr opens");
	if (a) {
		CHECK(cn_read(a, NULL, CN_I32, 0, 31, ptr) == AD_OK && ptr[1] == 4 &&
		      ptr[30] == 228, "X/indptr as int32");
		cn_array_close(a);
	}
	CHECK(cn_array_open(s, "X/data", &a) == AD_OK, "X/data opens");
	if (a) {
		CHECK(cn_array_info(a)->chunked && cn_chunk_count(a) == 1 && chunks_assemble(a),
		      "X/data: one LZF chunk, decoded");
		cn_array_close(a);
	}
	cn_close(s);
}

static void test_legacy(void)
{
	cn_store *s = open_store(FIXTURES "pbmc68k_reduced_legacy.h5ad");
	cn_array *a = NULL;
	char *name = NULL, **idx;
	cn_type t;
	double umap[4];
	int64_t genes[2];

	CHECK(s, "the pre-0.7 file opens");
	if (!s)
		return;
	CHECK(cn_array_open(s, "obs", &a) == AD_OK &&
	      cn_array_info(a)->type.cls == CN_T_COMPOUND &&
	      cn_array_info(a)->type.nmembers == 9, "obs is a compound of 9 members");
	if (!a)
		return cn_close(s);
	CHECK(cn_member(a, 0, &name, &t) == AD_OK && !strcmp(name, "index") &&
	      t.cls == CN_T_STRING && !t.vlen && t.size == 16, "member 0: index, 16-byte strings");
	free(name);
	CHECK(cn_member_type(a, "n_genes", &t) == AD_OK && t.cls == CN_T_INT && t.size == 8,
	      "member n_genes: int64");
	CHECK(cn_read(a, "n_genes", CN_I64, 0, 2, genes) == AD_OK && genes[0] == 1003 &&
	      genes[1] == 1080, "a member read out of each record");
	idx = calloc(2, sizeof *idx);
	CHECK(cn_read_strings(a, "index", 0, 2, idx) == AD_OK &&
	      !strcmp(idx[1], "AAATTCGATGCACA-1"), "a string member");
	cn_strings_free(idx, 2);
	CHECK(cn_member_type(a, "nope", &t) == AD_EFORMAT && !strcmp(err, "obs: no member 'nope'"),
	      "a missing member (%s)", err);
	cn_array_close(a);
	CHECK(cn_array_open(s, "obsm", &a) == AD_OK && cn_member_type(a, "X_umap", &t) == AD_OK &&
	      t.cls == CN_T_ARRAY && t.count == 2 && t.base == CN_T_FLOAT,
	      "obsm member X_umap: an array of 2 floats");
	CHECK(a && cn_read(a, "X_umap", CN_F64, 0, 2, umap) == AD_OK &&
	      fabs(umap[0] + 1.99186255) < 1e-6 && fabs(umap[3] - 7.99994913) < 1e-6,
	      "an array member gives its values per record");
	cn_array_close(a);
	cn_close(s);
}

static void test_fixtures(void)
{
	if (access(FIXTURES "pbmc68k_reduced.h5ad", R_OK) != 0) {
		SKIP("fixtures: %s is absent (a clone without shared/)", FIXTURES);
		return;
	}
	test_pbmc();
	test_v070();
	test_legacy();
}

/* ---- small files written here ---- */

static char tmpdir[64], path[128];

static hid_t str_type(size_t size, H5T_str_t pad)
{
	hid_t t = H5Tcopy(H5T_C_S1);

	H5Tset_size(t, size);
	H5Tset_strpad(t, pad);
	H5Tset_cset(t, H5T_CSET_UTF8);
	return t;
}

static void attr(hid_t loc, const char *obj, const char *name, hid_t type, hid_t space,
		 const void *v)
{
	hid_t a = H5Acreate_by_name(loc, obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT,
				    H5P_DEFAULT);
	H5Awrite(a, type, v);
	H5Aclose(a);
}

static double grid_value(size_t i, size_t j) { return (double)(i * 100 + j) - 250.5; }

static void write_file(void)
{
	hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
	hid_t vs = str_type(H5T_VARIABLE, H5T_STR_NULLTERM), scalar = H5Screate(H5S_SCALAR);
	hsize_t d2[2] = { 10, 7 }, c2[2] = { 4, 3 }, d1 = 11, c1 = 5, n3 = 3, n4 = 4;
	double grid[10 * 7];
	int16_t be[11];
	uint32_t plain[11];
	const char *vals[4] = { "alpha", NULL, "\xc3\xa9t\xc3\xa9", "" };
	const char fixed[3][4] = { "ab", "abcd", "x" };
	const char spaced[2][5] = { "ab  ", "c   " };
	const char *list[3] = { "one", "two", "three" };
	int64_t ints[2] = { 7, -9 };
	double nothing = 0;

	for (size_t i = 0; i < 10; i++)
		for (size_t j = 0; j < 7; j++)
			grid[i * 7 + j] = grid_value(i, j);
	for (int i = 0; i < 11; i++) {
		be[i] = (int16_t)(i * 1000 - 3000);
		plain[i] = (uint32_t)i * 400000000u;
	}
	H5Gclose(H5Gcreate2(f, "g", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
	put(f, "g/grid", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, d2, c2, 1, grid);
	put(f, "g/be", H5T_STD_I16BE, H5T_NATIVE_INT16, 1, &d1, &c1, 1, be);
	put(f, "g/plain", H5T_STD_U32LE, H5T_NATIVE_UINT32, 1, &d1, NULL, 0, plain);
	put(f, "vlen", vs, vs, 1, &n4, NULL, 0, vals);
	hid_t f4 = str_type(4, H5T_STR_NULLPAD), f5 = str_type(5, H5T_STR_SPACEPAD);
	put(f, "fixed", f4, f4, 1, &n3, NULL, 0, fixed);
	hsize_t two = 2;
	put(f, "spaced", f5, f5, 1, &two, NULL, 0, spaced);
	H5Tclose(f4);
	H5Tclose(f5);
	/* created out of order: the listing sorts by bytes */
	H5Gclose(H5Gcreate2(f, "g/b", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
	H5Gclose(H5Gcreate2(f, "g/C", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
	H5Lcreate_soft("/nowhere", f, "dangling", H5P_DEFAULT, H5P_DEFAULT);
	hid_t named = H5Tcopy(H5T_NATIVE_INT);
	H5Tcommit2(f, "named", named, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
	H5Tclose(named);
	int32_t one = 42;
	hid_t sd = H5Dcreate2(f, "scalar", H5T_STD_I32LE, scalar, H5P_DEFAULT, H5P_DEFAULT,
			      H5P_DEFAULT);
	H5Dwrite(sd, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, &one);
	H5Dclose(sd);
	hid_t null = H5Screate(H5S_NULL);
	H5Dclose(H5Dcreate2(f, "null", H5T_STD_I32LE, null, H5P_DEFAULT, H5P_DEFAULT,
			    H5P_DEFAULT));
	/* attributes */
	attr(f, "g", "enc", vs, scalar, &list[0]);
	hid_t s3 = H5Screate_simple(1, &n3, NULL), s2 = H5Screate_simple(1, &two, NULL);
	hsize_t zero = 0;
	hid_t s0 = H5Screate_simple(1, &zero, NULL);
	attr(f, "g", "names", vs, s3, list);
	attr(f, "g", "shape", H5T_NATIVE_INT64, s2, ints);
	attr(f, "g", "none", H5T_NATIVE_DOUBLE, s0, &nothing);
	attr(f, "g", "number", H5T_NATIVE_DOUBLE, scalar, &nothing);
	hobj_ref_t ref;
	H5Rcreate(&ref, f, "/g/be", H5R_OBJECT, -1);
	attr(f, "g/plain", "target", H5T_STD_REF_OBJ, scalar, &ref);
	H5Sclose(s0);
	H5Sclose(s2);
	H5Sclose(s3);
	H5Sclose(null);
	H5Sclose(scalar);
	H5Tclose(vs);
	H5Fclose(f);
}

static void test_chunks(cn_store *s)
{
	cn_array *a = NULL;
	uint64_t start[2], count[2];
	double box[6];
	int32_t cut[6];
	int ok = 1;

	CHECK(cn_array_open(s, "g/grid", &a) == AD_OK, "a chunked, compressed 2-d array opens");
	if (!a)
		return;
	CHECK(cn_array_info(a)->chunked && cn_chunk_count(a) == 3 * 3,
	      "10x7 in 4x3 chunks: 3 x 3 of them");
	cn_chunk_box(a, 5, start, count);
	CHECK(start[0] == 4 && start[1] == 6 && count[0] == 4 && count[1] == 1,
	      "chunk 5 is rows 4..8 x column 6 (partial at the edge)");
	cn_chunk_box(a, 8, start, count);
	CHECK(start[0] == 8 && start[1] == 6 && count[0] == 2 && count[1] == 1,
	      "the last chunk is 2x1");
	CHECK(cn_read_chunk(a, 8, CN_F64, box) == AD_OK && box[0] == grid_value(8, 6) &&
	      box[1] == grid_value(9, 6), "the last chunk decoded");
	CHECK(chunks_assemble(a), "every chunk in its place makes the array");
	start[0] = 2;
	start[1] = 1;
	count[0] = 2;
	count[1] = 3;
	CHECK(cn_read_block(a, start, count, CN_F64, box) == AD_OK, "a box across chunks");
	for (int i = 0; i < 6; i++)
		ok &= box[i] == grid_value(2 + (size_t)i / 3, 1 + (size_t)i % 3);
	CHECK(ok, "the box holds its values, in C order");
	CHECK(cn_read_block(a, start, count, CN_I32, cut) == AD_OK && cut[0] == -49 &&
	      cut[5] == 52, "converted to int32 as C truncates (%d, %d)", cut[0], cut[5]);
	CHECK(cn_read_chunk(a, 9, CN_F64, box) == AD_EFORMAT &&
	      !strcmp(err, "g/grid: chunk 9 of 9 does not exist"), "chunk 9 does not exist (%s)",
	      err);
	count[0] = 9;
	CHECK(cn_read_block(a, start, count, CN_F64, box) == AD_EFORMAT, "a box beyond the shape");
	CHECK(cn_read(a, NULL, CN_F64, 0, 1, box) == AD_EFORMAT &&
	      !strcmp(err, "g/grid: expected a 1-d array"), "a 1-d read of a 2-d array (%s)", err);
	cn_array_close(a);
}

static void test_numbers(cn_store *s)
{
	cn_array *a = NULL;
	int64_t v[11];
	float x[3];
	uint64_t u[2];
	int8_t sat[10];
	double dv[5];
	cn_chunk *c = NULL;

	CHECK(cn_array_open(s, "g/be", &a) == AD_OK && cn_array_info(a)->type.big_endian &&
	      cn_array_info(a)->type.cls == CN_T_INT && cn_array_info(a)->type.size == 2,
	      "a big-endian int16 array");
	if (a) {
		CHECK(cn_chunk_count(a) == 3, "11 values in chunks of 5: 3 chunks");
		CHECK(cn_read(a, NULL, CN_I64, 0, 11, v) == AD_OK && v[0] == -3000 &&
		      v[10] == 7000, "read whole as int64");
		CHECK(cn_read_chunk(a, 2, CN_I64, v) == AD_OK && v[0] == 7000,
		      "the partial last chunk holds one value");
		CHECK(cn_read(a, NULL, CN_I8, 0, 5, sat) == AD_OK &&
		      cn_read_chunk(a, 0, CN_I8, sat + 5) == AD_OK && sat[0] == -128 &&
		      sat[3] == 0 && sat[4] == 127 && !memcmp(sat, sat + 5, 5),
		      "int16 to int8 saturates, decoded as HDF5 converts");
		CHECK(cn_read(a, NULL, CN_F32, 8, 3, x) == AD_OK && x[0] == 5000.0f,
		      "a range as float32");
		CHECK(cn_read(a, NULL, CN_I64, 9, 3, v) == AD_EFORMAT &&
		      !strcmp(err, "g/be: values 9..12 beyond its length 11"),
		      "a range beyond the end (%s)", err);
		CHECK(cn_read(a, NULL, CN_I64, 99, 0, v) == AD_OK, "an empty range reads nothing");
		CHECK(cn_chunk_fetch(a, 1, &c) == AD_OK && cn_chunk_len(c) == 5,
		      "a chunk fetched: 5 values");
		cn_array_close(a);
		CHECK(c && cn_chunk_decode(c, CN_F64, dv) == AD_OK && dv[0] == 2000.0 &&
		      dv[4] == 6000.0,
		      "and decoded after its array was closed");
		cn_chunk_free(c);
	}
	CHECK(cn_array_open(s, "vlen", &a) == AD_OK && cn_chunk_fetch(a, 0, &c) == AD_EUNSUPPORTED &&
	      !c && !strcmp(err, "vlen: chunks of non-numeric values"),
	      "strings have no numeric chunks (%s)", err);
	cn_array_close(a);
	CHECK(cn_array_open(s, "g/plain", &a) == AD_OK && !cn_array_info(a)->chunked &&
	      cn_array_info(a)->type.cls == CN_T_UINT && cn_chunk_count(a) == 1,
	      "contiguous uint32: one chunk");
	if (a) {
		CHECK(cn_read(a, NULL, CN_U64, 9, 2, u) == AD_OK && u[0] == 3600000000u,
		      "uint32 beyond 2^31 as uint64");
		CHECK(chunks_assemble(a), "its one chunk is the array");
		cn_array_close(a);
	}
	CHECK(cn_array_open(s, "scalar", &a) == AD_OK && cn_array_info(a)->rank == 0 &&
	      cn_chunk_count(a) == 1 && cn_read(a, NULL, CN_I64, 0, 1, v) == AD_OK && v[0] == 42,
	      "a scalar is one value");
	cn_array_close(a);
	CHECK(cn_array_open(s, "null", &a) == AD_OK && cn_array_info(a)->rank == CN_RANK_NULL,
	      "a null dataspace has no rank");
	cn_array_close(a);
}

static int strings_are(cn_store *s, const char *name, uint64_t start, uint64_t n,
		       const char *const *want)
{
	cn_array *a = NULL;
	char **got = calloc(n, sizeof *got);
	int ok = got && cn_array_open(s, name, &a) == AD_OK &&
		 cn_read_strings(a, NULL, start, n, got) == AD_OK;

	for (uint64_t i = 0; ok && i < n; i++)
		ok = !strcmp(got[i], want[i]);
	cn_strings_free(got, n);
	cn_array_close(a);
	return ok;
}

static void test_strings(cn_store *s)
{
	static const char *vlen[] = { "", "\xc3\xa9t\xc3\xa9" };
	static const char *fixed[] = { "ab", "abcd", "x" };
	static const char *spaced[] = { "ab", "c" };
	cn_array *a = NULL;

	CHECK(cn_array_open(s, "vlen", &a) == AD_OK && cn_array_info(a)->type.vlen &&
	      cn_array_info(a)->type.cls == CN_T_STRING, "variable-length strings");
	cn_array_close(a);
	CHECK(strings_are(s, "vlen", 1, 2, vlen), "a range of them; a NULL one reads as \"\"");
	CHECK(strings_are(s, "fixed", 0, 3, fixed), "fixed width, one filling its width");
	CHECK(strings_are(s, "spaced", 0, 2, spaced), "space padding is cut");
}

static void test_attributes(cn_store *s)
{
	char *one = NULL, **many = NULL, *target = NULL;
	size_t n = 9;
	int64_t shape[2];

	CHECK(cn_attr_string(s, "g", "enc", &one) == 1 && !strcmp(one, "one"), "a string");
	free(one);
	CHECK(cn_attr_strings(s, "g", "names", &many, &n) == 1 && n == 3 &&
	      !strcmp(many[2], "three"), "a list of strings");
	cn_strings_free(many, n);
	CHECK(cn_attr_string(s, "g", "names", &one) == -1 && !one, "a list is not one string");
	CHECK(cn_attr_strings(s, "g", "none", &many, &n) == 1 && n == 0, "no elements: no names");
	CHECK(cn_attr_string(s, "g", "number", &one) == -1, "a number is not a string");
	CHECK(cn_attr_string(s, "g", "absent", &one) == 0 && cn_attr_exists(s, "g", "absent") == 0 &&
	      cn_attr_exists(s, "g", "enc") == 1, "absent and present attributes");
	CHECK(cn_attr_int64(s, "g", "shape", shape, 2) == 1 && shape[0] == 7 && shape[1] == -9,
	      "two int64s");
	CHECK(cn_attr_int64(s, "g", "shape", shape, 3) == -1, "not three of them");
	CHECK(cn_attr_int64(s, "g", "enc", shape, 1) == -1, "a string is not an integer");
	CHECK(cn_attr_ref(s, "g/plain", "target", &target) == 1 && !strcmp(target, "/g/be"),
	      "a reference names its target");
	free(target);
	CHECK(cn_attr_string(s, "nope", "enc", &one) == -1, "no element: -1");
}

static void test_names(cn_store *s)
{
	char **names = NULL;
	size_t n = 0;
	cn_array *a = NULL;

	CHECK(cn_list(s, "g", &names, &n) == AD_OK && n == 5 && !strcmp(names[0], "C") &&
	      !strcmp(names[1], "b") && !strcmp(names[2], "be") && !strcmp(names[4], "plain"),
	      "members sorted by bytes: C, b, be, grid, plain");
	cn_strings_free(names, n);
	CHECK(cn_list(s, "vlen", &names, &n) == AD_EIO &&
	      !strcmp(err, "vlen: cannot list its members") && !names && !n,
	      "an array is no group (%s)", err);
	CHECK(cn_exists(s, "dangling") && cn_kind_of(s, "dangling") == CN_ABSENT,
	      "a dangling link exists but leads nowhere");
	CHECK(cn_kind_of(s, "named") == CN_OTHER, "a named datatype is neither group nor array");
	CHECK(cn_array_open(s, "nope", &a) == AD_EFORMAT && !a && !strcmp(err, "nope: missing"),
	      "a missing array (%s)", err);
	CHECK(cn_array_open(s, "g", &a) == AD_EFORMAT && !strcmp(err, "g: not a dataset"),
	      "a group is not an array (%s)", err);
	CHECK(cn_array_open(s, "dangling", &a) == AD_EFORMAT &&
	      !strcmp(err, "dangling: not a dataset"), "nor is a dangling link (%s)", err);
}

static void test_open_errors(void)
{
	cn_store *s = NULL;
	char text[128];
	FILE *fp;

	CHECK(cn_open("/nonexistent/x.h5ad", err, sizeof err, &s) == AD_EIO && !s &&
	      !strcmp(err, "cannot read the file: No such file or directory"),
	      "a missing file (%s)", err);
	snprintf(text, sizeof text, "%s/text.h5ad", tmpdir);
	fp = fopen(text, "w");
	if (fp) {
		fputs("not hdf5\n", fp);
		fclose(fp);
	}
	CHECK(cn_open(text, err, sizeof err, &s) == AD_EFORMAT && !s &&
	      !strcmp(err, "not an HDF5 file"), "a text file (%s)", err);
	unlink(text);
}

int main(void)
{
	cn_store *s;

	cn_thread_init();
	H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
	test_fixtures();
	strcpy(tmpdir, "/tmp/test_container.XXXXXX");
	if (!mkdtemp(tmpdir)) {
		CHECK(0, "mkdtemp");
		return CHECK_DONE();
	}
	snprintf(path, sizeof path, "%s/small.h5", tmpdir);
	write_file();
	s = open_store(path);
	CHECK(s != NULL, "the written file opens");
	if (s) {
		test_chunks(s);
		test_numbers(s);
		test_strings(s);
		test_attributes(s);
		test_names(s);
		cn_close(s);
	}
	test_open_errors();
	CHECK(H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL) == 0, "every HDF5 object closed");
	unlink(path);
	CHECK(rmdir(tmpdir) == 0, "temporary files removed");
	return CHECK_DONE();
}
