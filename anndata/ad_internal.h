/*
 * ad_internal.h - what the AnnData encodings of the anndata module share and
 * nobody else sees: the ad_file layout, the error helpers and reading a 1-d
 * element whole. They reach the file only through the container layer
 * (cn.h); no HDF5 (or other storage) header is included here.
 *
 * ad_open reads only the layout: every element is remembered by its path
 * (relative to the store root) and opened again when its data is wanted, so
 * no array stays open across calls, only the store itself.
 */
#ifndef AD_INTERNAL_H
#define AD_INTERNAL_H

#include "ad.h"
#include "cn.h"

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
	char *member;  /* legacy compound obsm: the array member */
	size_t cols;
	char *reason;  /* why an array there was refused (cn's line), or NULL */
};

struct ad_file {
	cn_store *store;
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

/* ---- ad_util.c: errors, 1-d elements read whole ---- */

/* Set f->err from fmt and return e. */
ad_err ad_fail(ad_file *f, ad_err e, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* ad_fail for an allocation failure. */
ad_err ad_nomem(ad_file *f, const char *path);
/* names[0..n) joined by ", " into buf (cut short when it is full), or
 * "none": the list an error message offers instead of a missing name. */
void ad_join(const char *const *names, size_t n, char *buf, size_t len);

/* The length of the 1-d array a (a scalar counts as 1); AD_EFORMAT otherwise. */
ad_err ad_len(ad_file *f, const cn_array *a, size_t *len);
/* Open the 1-d array at path: its length and the type of its values (of
 * its member, with member). With a NULL, it is closed again. */
ad_err ad_values_open(ad_file *f, const char *path, const char *member, cn_array **a,
		      size_t *len, cn_type *t);
/* Open path, check it holds n elements, read them all as want. */
ad_err ad_read_all(ad_file *f, const char *path, const char *member, cn_num want, size_t n,
		   void *out);
/* Read the n values at path (member) as strings, each malloc'd: strings as
 * stored (NULL vlen = ""), integers in decimal, floats as Python repr, bools
 * "False"/"True". Free with ad_strings_free. */
ad_err ad_read_strings(ad_file *f, const char *path, const char *member, size_t n,
		       char ***out);

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

/* Value classes as the encodings group them (h5py's bool enum is a number). */
static inline int ad_is_integer(cn_class c)
{
	return c == CN_T_INT || c == CN_T_UINT;
}
static inline int ad_is_number(cn_class c)
{
	return ad_is_integer(c) || c == CN_T_FLOAT || c == CN_T_BOOL;
}

/* ---- ad_x.c, ad_sparse.c: matrices ---- */

/* A row block as the scanners produce it: values are float or double, as
 * the scan was asked (CN_F32 or CN_F64). */
struct ad_block {
	size_t row0, nrows;
	const int64_t *indptr;
	const uint32_t *indices;
	const void *values;
};
typedef int (*ad_block_fn)(const struct ad_block *b, void *ctx);

/* Check the matrix at path (dense dataset, or csr/csc group) has shape
 * rows x cols and fill m (its path is copied; free it with ad_matrix_clear). */
ad_err ad_matrix_probe(ad_file *f, const char *path, size_t rows, size_t cols,
		       struct ad_matrix *m);
void ad_matrix_clear(struct ad_matrix *m);
/* The format, shape and nnz of the csr/csc group m->path (m->rows and
 * m->cols set by the caller). */
ad_err ad_sparse_probe(ad_file *f, struct ad_matrix *m);
/* Every row of the sparse m, in order, in blocks of about block_nnz. */
ad_err ad_sparse_scan(ad_file *f, const struct ad_matrix *m, size_t block_nnz, cn_num want,
		      ad_block_fn fn, void *ctx);
/* Add line k of the major axis of m (a CSC column) into out[0..minor). */
ad_err ad_sparse_add_line(ad_file *f, const struct ad_matrix *m, size_t k, float *out);

#endif
