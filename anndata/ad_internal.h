/*
 * ad_internal.h - what the files of the anndata module share and nobody else
 * sees: the ad_file layout, the error helper and the small HDF5 helpers.
 *
 * ad_open reads only the layout: every element is remembered by its path
 * (relative to the file root) and opened again when its data is wanted, so no
 * HDF5 id outlives a call except the file itself.
 */
#ifndef AD_INTERNAL_H
#define AD_INTERNAL_H

#include <hdf5.h>

#include "ad.h"

/* How a dataframe column (or index) stores its values. A column is one or
 * two 1-d sources; a source is a dataset, or one member of a compound
 * dataset in the pre-0.7 layout. */
typedef enum {
	AD_ST_NUMERIC,  /* int/uint/float values (+ mask: nullable-integer) */
	AD_ST_BOOL,     /* enum-bool values (+ mask: nullable-boolean) */
	AD_ST_STRINGS,  /* string values (+ mask: nullable-string-array) */
	AD_ST_CODES     /* integer codes + a categories element */
} ad_storage;

struct ad_column {
	char *name;
	ad_col_kind kind;
	char *reason;      /* AD_COL_UNREADABLE only */
	ad_storage storage;
	char *path;        /* the values or codes dataset */
	char *member;      /* compound member holding the values, or NULL */
	char *mask;        /* mask dataset (nullable encodings), or NULL */
	char *categories;  /* categories dataset (AD_ST_CODES) */
	size_t len;        /* number of rows */
};

/* A 2-d matrix: X or a graph. Sparse parts live under path as data,
 * indices and indptr; major is rows for CSR and columns for CSC. */
struct ad_matrix {
	ad_x_format kind;
	char *path;
	size_t rows, cols;
	size_t major, minor;
	uint64_t nnz;            /* sparse: indptr[major] */
	size_t chunk_rows;       /* dense: 0 when contiguous */
	size_t chunks_per_row;   /* dense: chunks across one row of chunks */
	size_t chunk_row_bytes;  /* dense: their decompressed size */
};

struct ad_obsm {
	char *key;
	char *path;
	char *member;  /* legacy compound obsm: the H5T_ARRAY member */
	size_t cols;
};

struct ad_file {
	hid_t file;
	size_t n_obs, n_var;
	struct ad_column *cols;
	size_t ncols;
	/* The selected expression (ad_select_expression): its matrix, the
	 * dataframe naming its genes and that dataframe's index (n_var rows). */
	struct ad_matrix x;
	char *var_df;
	struct ad_column var_index;
	struct ad_obsm *obsm;
	size_t nobsm;
	char *graph;  /* path of the neighbour graph, NULL when there is none */
	char err[512];
};

/* ---- ad_h5.c: errors, allocation, HDF5 element helpers ---- */

/* Set f->err from fmt and return e. */
ad_err ad_fail(ad_file *f, ad_err e, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* malloc(n * size), NULL when the product overflows; never malloc(0). */
void *ad_mallocn(size_t n, size_t size);
char *ad_strdup(const char *s);
/* "a" "/" "b" in a fresh string. */
char *ad_path_join(const char *a, const char *b);
/* ad_fail for an allocation failure. */
ad_err ad_nomem(ad_file *f, const char *path);
/* names[0..n) joined by ", " into buf (cut short when it is full), or
 * "none": the list an error message offers instead of a missing name. */
void ad_join(const char *const *names, size_t n, char *buf, size_t len);

/* Whether a link path (nested paths too) exists under loc. */
int ad_h5_exists(hid_t loc, const char *path);
/* The class (H5I_GROUP / H5I_DATASET) of the object at path, H5I_BADID when absent. */
H5I_type_t ad_h5_kind(hid_t loc, const char *path);

/* Read attribute name of obj as strings (vlen or fixed, any cset; scalar
 * or 1-d; 0 elements of any class give n = 0). Returns 1 when read, 0 when
 * absent, -1 when it is not a string attribute or cannot be read. */
int ad_h5_attr_strings(hid_t obj, const char *name, char ***out, size_t *n);
/* A single string attribute (see above), in *out. */
int ad_h5_attr_string(hid_t obj, const char *name, char **out);
/* Attribute name of obj read as int64 values into out[0..n). Returns 1 when
 * read, 0 when absent, -1 when it has another length or type. */
int ad_h5_attr_int64(hid_t obj, const char *name, int64_t *out, size_t n);

/* The dataset at path, opened with access property list dapl; on failure
 * f->err names path. */
hid_t ad_h5_dopen(ad_file *f, const char *path, hid_t dapl);
/* The length of a 1-d dataset (a scalar counts as 1); AD_EFORMAT otherwise. */
ad_err ad_h5_len(ad_file *f, hid_t dset, const char *path, size_t *len);
/* The stored type of the values: the dataset type or its member's. */
hid_t ad_h5_value_type(ad_file *f, hid_t dset, const char *path, const char *member);

/* Read count elements from start of the 1-d dataset dset (or its compound
 * member) into out as memtype. A failing read names its missing filter. */
ad_err ad_h5_read(ad_file *f, hid_t dset, const char *path, const char *member,
		  hid_t memtype, hsize_t start, hsize_t count, void *out);
/* Open path, check it holds n elements, read them all as memtype. */
ad_err ad_h5_read_all(ad_file *f, const char *path, const char *member,
		      hid_t memtype, size_t n, void *out);
/* Explain a failed H5Dread of dset: an unavailable filter, or corruption. */
ad_err ad_h5_read_failed(ad_file *f, hid_t dset, const char *path);

/* Read the n values at path (member) as strings, each malloc'd: strings as
 * stored (NULL vlen = ""), integers in decimal, floats as Python repr, bools
 * "False"/"True". Free with ad_strings_free. */
ad_err ad_h5_read_strings(ad_file *f, const char *path, const char *member,
			  size_t n, char ***out);

/* Python's repr() of a float; single is set for float32 (numpy str()). */
void ad_format_float(double v, int single, char *buf, size_t len);

/* ---- ad_df.c: dataframes ---- */

/* Find the index and the columns of the dataframe at path: a group
 * (dataframe 0.1.0 / 0.2.0) or a pre-0.7 compound dataset. A column that
 * cannot be read is AD_COL_UNREADABLE with its reason; the index must be
 * readable. With cols NULL only the index is looked at. */
ad_err ad_df_open(ad_file *f, const char *path, struct ad_column *index,
		  struct ad_column **cols, size_t *ncols);
void ad_column_clear(struct ad_column *c);

/* ---- ad_x.c: matrices ---- */

/* Check the matrix at path (dense dataset, or csr/csc group) has shape
 * rows x cols and fill m (its path is copied; free it with ad_matrix_clear). */
ad_err ad_matrix_probe(ad_file *f, const char *path, size_t rows, size_t cols,
		       struct ad_matrix *m);
void ad_matrix_clear(struct ad_matrix *m);

/* ---- ad_lzf.c ---- */

/* Make the LZF filter (id 32000) available to HDF5; idempotent. */
int ad_lzf_register(void);

#endif
