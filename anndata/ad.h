/*
 * ad.h - read AnnData files: .h5ad, and .zarr stores (directory or zip).
 *
 * This module knows the AnnData encodings (../shared/spec/h5ad-format.md),
 * read through its container layer (cn.h: HDF5 in cn_h5.c, Zarr in
 * cn_zarr.c over zarr.h, chosen by what the path is), and
 * nothing about FUSE or the Cellucid export. It is not thread-safe: the
 * caller serialises every call on one ad_file (cellucidfs holds one lock around
 * all HDF5 work).
 *
 * Every failing call leaves a one-line reason naming the element in
 * ad_last_error(), e.g. "obs/louvain: categorical codes are not integers".
 */
#ifndef AD_H
#define AD_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
	AD_OK = 0,
	AD_ENOMEM,       /* allocation failed */
	AD_EIO,          /* HDF5 failed to read an element that exists */
	AD_EFORMAT,      /* HDF5, but not AnnData as the spec describes it */
	AD_EUNSUPPORTED  /* a valid encoding this reader does not handle */
} ad_err;

typedef struct ad_file ad_file;

/* HDF5 keeps its error-printing switch per thread (in thread-safe builds):
 * call this in every thread before its first ad_ call, so that failures are
 * reported only as this module's one-line messages. Cheap after the first. */
void ad_thread_init(void);

/* Whether the directory at path is one dataset (a Zarr store) rather than
 * a folder of them. */
int ad_is_store_dir(const char *path);

/* Which version of the directory store at path is on disk (zarr_stamp.c):
 * its entries, the bytes of its regular files, and a digest (never 0) of
 * every entry's path, inode, type, size, mtime and ctime, so that an edit
 * in place of any chunk or metadata file gives another digest. -1 when path
 * is no directory or its tree cannot be read. */
typedef struct {
	uint64_t entries, bytes, digest;
} ad_stamp;
int ad_store_stamp(const char *path, ad_stamp *out);

/* Open path read-only and read the layout (shapes, names, kinds), not the data.
 * On failure *out is NULL and err holds a one-line reason without the path,
 * e.g. "not an HDF5 file" or "no obs dataframe". */
ad_err ad_open(const char *path, ad_file **out, char *err, size_t errlen);
void ad_close(ad_file *f);
/* Let go of the file's descriptor but keep the layout (a directory of many
 * files keeps only some open); ad_reopen_file opens path again. Reads in
 * between fail. */
void ad_close_file(ad_file *f);
ad_err ad_reopen_file(ad_file *f, const char *path);
int ad_file_is_open(const ad_file *f);
/* The open file's descriptor (to fstat its identity), or -1: closed, or a
 * Zarr store. */
int ad_file_fd(const ad_file *f);
const char *ad_last_error(const ad_file *f);
/* The caller's lock around every ad_ call on f, as a pair: the long X scans
 * call release(ctx) while they only decode chunks already read, and
 * retake(ctx) before the next call into the file. NULLs: no lock. */
void ad_set_lock(ad_file *f, void (*release)(void *), void (*retake)(void *), void *ctx);

size_t ad_n_obs(const ad_file *f);
size_t ad_n_var(const ad_file *f);

/* ---- obs columns, in column-order ---- */
typedef enum {
	AD_COL_NUMERIC,     /* int/uint/float array or nullable-integer */
	AD_COL_CATEGORY,    /* categorical, bool, string-array, nullable-boolean/string */
	AD_COL_UNREADABLE   /* anything else; ad_obs_col_reason() says why */
} ad_col_kind;

size_t ad_obs_ncols(const ad_file *f);
const char *ad_obs_col_name(const ad_file *f, size_t i);
ad_col_kind ad_obs_col_kind(const ad_file *f, size_t i);
const char *ad_obs_col_reason(const ad_file *f, size_t i);  /* "" when readable */

/* A numeric column cast to float32 (as numpy astype(float32)); masked -> NaN. */
ad_err ad_obs_read_numeric(ad_file *f, size_t i, float *out /* n_obs */);

/* A category-like column. categories: a stored categorical keeps its stored
 * order (unused ones too), each written as Python str() would (ints "0","1",
 * floats "1.5", bools "False"/"True"); string, bool and nullable columns give
 * the distinct values present, sorted (strings by code point/byte order,
 * "False" < "True"). codes: one per cell, -1 = missing (also any stored code
 * outside [0, n_categories)). type says what the text stands for, so that
 * JSON can write 3, 1.5 or true where Python's json would. */
typedef enum {
	AD_VAL_STRING,      /* text as stored */
	AD_VAL_INT,         /* any integer width: decimal text */
	AD_VAL_FLOAT32,     /* float16/32: the shortest text of the float32 */
	AD_VAL_FLOAT64,     /* repr() of the double */
	AD_VAL_BOOL         /* "False" / "True" */
} ad_value_type;
typedef struct {
	size_t n_categories;
	char **categories;
	ad_value_type type; /* what the categories were before they became text */
	int32_t *codes;
} ad_categorical;
ad_err ad_obs_read_categorical(ad_file *f, size_t i, ad_categorical *out);
void ad_categorical_free(ad_categorical *c);

/* ---- var ---- */
/* The gene names of the selected expression (see ad_select_expression): its
 * var index as strings (n_var of them); free with ad_strings_free. */
ad_err ad_var_names(ad_file *f, char ***out);
/* The same genes named by the column `column` of that var dataframe instead:
 * strings as stored, categoricals by label, numbers as Python str() writes
 * them ("7", float32 "0.1", "True"); a missing value is "". A column that is
 * not there fails with the columns that are. */
ad_err ad_var_column(ad_file *f, const char *column, char ***out);
void ad_strings_free(char **s, size_t n);

/* ---- obsm ---- */
size_t ad_obsm_count(const ad_file *f);
const char *ad_obsm_key(const ad_file *f, size_t i);   /* sorted by key */
/* Column count of a dense numeric obsm array (rank 1 counts as 1 column);
 * 0 when the entry is not a dense numeric (n_obs, k) array. */
size_t ad_obsm_cols(const ad_file *f, size_t i);
/* Why entry i, an array, was refused ("obsm/X_pca: claims 40 x 16777216
 * values ... refused"), or NULL (a matrix, or no array at all). */
const char *ad_obsm_reason(const ad_file *f, size_t i);
ad_err ad_obsm_read(ad_file *f, size_t i, double *out /* n_obs * cols, row-major */);
ad_err ad_obsm_read_f32(ad_file *f, size_t i, float *out /* n_obs * cols */);

/* ---- obsp/connectivities ---- */
typedef struct {
	size_t n;           /* n_obs */
	int64_t *indptr;    /* n + 1 (CSR rows) */
	uint32_t *indices;  /* indptr[n] column ids */
	double *data;       /* indptr[n] weights */
} ad_graph;
/* 1 when obsp/connectivities exists (pre-0.7 files: uns/neighbors/connectivities);
 * ad_read_connectivities then reads it (CSR, CSC or dense) or says why not. */
int ad_has_connectivities(const ad_file *f);
ad_err ad_read_connectivities(ad_file *f, ad_graph *out); /* CSC is converted to CSR */
void ad_graph_free(ad_graph *g);

/* ---- expression matrix (X) ---- */
/* Choose the matrix that every ad_x_ call reads and the var dataframe that
 * names its genes (ad_var_names, ad_var_column; ad_n_var follows):
 *   "X"           X with var, what ad_open selects; X may be absent (no genes);
 *   "raw"         raw/X with raw/var, which may have more genes than var
 *                 (files before anndata 0.7: the root-level raw.X, raw.var);
 *   "layer:NAME"  layers/NAME (dense, CSR or CSC, n_obs x n_var) with var.
 * On failure the selection is unchanged and the reason says what exists,
 * e.g. "no layer 'counts' (layers: spliced, unspliced)". */
ad_err ad_select_expression(ad_file *f, const char *source);

typedef enum { AD_X_NONE, AD_X_DENSE, AD_X_CSR, AD_X_CSC } ad_x_format;
uint64_t ad_x_stored(const ad_file *f);  /* values X claims to store: nnz, or rows x cols */
ad_x_format ad_x_kind(const ad_file *f);  /* the type is ad_x_format: C forbids a type and function of one name */

/* A block of consecutive rows of X as CSR with float32 values. Dense X is
 * delivered the same way with its zeros dropped (absent = 0.0). */
typedef struct {
	size_t row0, nrows;
	const int64_t *indptr;    /* nrows + 1, indptr[0] == 0 */
	const uint32_t *indices;  /* gene ids, each < n_var */
	const float *values;
} ad_rowblock;
typedef int (*ad_rowblock_fn)(const ad_rowblock *b, void *ctx); /* non-zero stops */

/* Stream every row of X once, in order, in blocks of about block_nnz stored
 * values (dense: about block_nnz elements). Memory is bounded by the block
 * size, not by the matrix. Returns AD_OK, an error, or AD_OK after a callback
 * stopped it early (the callback knows). A row longer than block_nnz comes
 * alone in its block. CSC X is transposed on the way: one counting pass, then
 * one pass over all entries per 8M (or block_nnz, if larger) delivered
 * entries, holding those and O(n_obs) counters in memory; within a row, CSC
 * entries come sorted by gene, CSR entries in stored order (explicit zeros
 * and duplicates included). */
ad_err ad_x_scan_rows(ad_file *f, size_t block_nnz, ad_rowblock_fn fn, void *ctx);

/* One gene's values for every cell (n_obs floats). Direct for dense and CSC
 * X; for CSR it scans the whole matrix (a test oracle, not a serving path). */
ad_err ad_x_read_gene(ad_file *f, size_t gene, float *out);

#endif
