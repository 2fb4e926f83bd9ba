/*
 * source.h - the dataset a mount serves, as the engine sees it: the one
 * thing in fs/ that reads it. Everything else (plan, derived data, the gene
 * index, generation) asks the source, so that the source can become a reader
 * process or the next version of the file without the rest knowing.
 *
 * Today a source is an ad_file (anndata/ad.h) and the lock around every
 * call into it (HDF5 is not reentrant). At most 64 sources keep their file
 * open at a time (a directory of thousands of files); the others open it
 * again on their next read, and fail with "<file> changed while mounted"
 * when it is no longer the file they opened. What src_open found - shapes, names,
 * kinds - is answered from memory, without the lock; every read takes the
 * lock for the time of the read and copies the reason of a failure out
 * under it. The data comes back in anndata's types, freed with its
 * ad_*_free functions.
 *
 *   source *s;
 *   src_open("pbmc.h5ad", &s, err, sizeof err);
 *   src_read_obsm(s, i, coords, err, sizeof err);   // EX_OK, EX_ENOMEM, EX_EIO
 *
 * A read fails with EX_EIO ("data.h5ad changed while mounted") when the
 * file opened is no longer the version src_open found, before or after it.
 *   src_close(s);
 */
#ifndef SOURCE_H
#define SOURCE_H

#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "ad.h"
#include "export.h"

typedef struct source source;

/* What makes this version of the file this one (export.h's ex_identity). */
typedef ex_identity src_identity;

/* Open path and read its layout, not its data. EX_EIO when it cannot be
 * stat'ed, EX_EINVAL when it is not a usable dataset, with a one-line reason
 * (without the path) in err. */
ex_err src_open(const char *path, source **out, char *err, size_t errlen);
void src_close(source *s);
src_identity src_id(const source *s);
/* Close the file and fail every later read ("changed while mounted"), so
 * that its next version can be opened (HDF5 would share an open file's
 * state with a second open of the same inode), or a replaced file's space
 * freed. The layout stays known. */
void src_detach(source *s);
/* Whether two identities are the same version of the same file. */
int src_same(src_identity a, src_identity b);
/* The identity of the file or Zarr store at path as src_open would take it
 * (a store's covers its whole tree), st its stat; -1 when it is gone or
 * a directory's tree cannot be read. */
int src_identity_at(const char *path, struct stat *st, src_identity *id);

/* Choose the expression matrix and the var dataframe naming its genes ("X",
 * "raw" or "layer:NAME", ad_select_expression), before anything reads them. */
ex_err src_select_expression(source *s, const char *which, char *err, size_t errlen);

/* ---- the layout, as found by src_open: no lock, no I/O ---- */
size_t src_n_obs(const source *s);
size_t src_n_var(const source *s);
ad_x_format src_x_format(const source *s);
uint64_t src_x_stored(const source *s);     /* values X claims: nnz, or cells x genes */
size_t src_obs_ncols(const source *s);
const char *src_obs_col_name(const source *s, size_t col);
ad_col_kind src_obs_col_kind(const source *s, size_t col);
const char *src_obs_col_reason(const source *s, size_t col);
size_t src_obsm_count(const source *s);
const char *src_obsm_key(const source *s, size_t i);   /* sorted by key */
size_t src_obsm_cols(const source *s, size_t i);       /* 0: not a dense array */
const char *src_obsm_reason(const source *s, size_t i); /* why refused, or NULL */
int src_has_graph(const source *s);

/* ---- reads: EX_OK, EX_ENOMEM or EX_EIO with the reason in err ---- */
ex_err src_read_numeric(source *s, size_t col, float *out, char *err, size_t errlen);
ex_err src_read_categorical(source *s, size_t col, ad_categorical *out, char *err,
			    size_t errlen);
/* The genes' names: the var index, or the var column `column` (non-NULL). */
ex_err src_read_var_names(source *s, const char *column, char ***out, char *err,
			  size_t errlen);
ex_err src_read_obsm(source *s, size_t i, double *out, char *err, size_t errlen);
ex_err src_read_obsm_f32(source *s, size_t i, float *out, char *err, size_t errlen);
ex_err src_read_graph(source *s, ad_graph *out, char *err, size_t errlen);
/* One gene's values for every cell: direct for dense and CSC X only. */
ex_err src_read_x_column(source *s, size_t gene, float *out, char *err, size_t errlen);

/* Stream every row of X once, in blocks of about block_values stored values
 * (ad_x_scan_rows). fn is called without the lock, so other reads go on
 * while it works on a block; the block stays valid until it returns, and
 * non-zero stops the scan. */
ex_err src_scan_x(source *s, size_t block_values, ad_rowblock_fn fn, void *ctx, char *err,
		  size_t errlen);

#endif
