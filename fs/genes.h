/*
 * genes.h - a gene-major copy of the expression matrix, so that one gene's
 * values for every cell come from one contiguous read instead of a pass over
 * all of X.
 *
 * gi_build streams X once by row blocks (ad_x_scan_rows, any storage: CSR,
 * dense, CSC). Each block is transposed in memory to gene order and appended
 * to a scratch file; a merge pass then writes every gene's (cell, value)
 * pairs contiguously into the index file. The same pass records each gene's
 * min and max, which var_manifest.json needs. Memory stays bounded by the
 * block size whatever the matrix size, and the HDF5 lock is released while a
 * block is transposed, so other files are served during the build.
 *
 * The index file ("genes.idx") lives in the persistent cache directory when
 * there is one, and is reused by a later mount; its tables carry a CRC-32 and
 * each gene's pairs another, so a damaged file is detected and rebuilt.
 * Without a cache directory it is an unlinked file in $TMPDIR.
 */
#ifndef GENES_H
#define GENES_H

#include <pthread.h>
#include <stddef.h>
#include "ad.h"
#include "quant.h"

typedef struct gi_index gi_index;

/* Progress of a build: called with genes' share of the work done, 0..1. */
typedef void (*gi_progress_fn)(void *ctx, double fraction);

enum { GI_EREAD = 1, GI_EWRITE = 2 };

/* dir: where genes.idx is kept (NULL: a temporary file). All HDF5 work
 * happens with *h5 held. Returns 0, GI_EREAD (X cannot be read) or GI_EWRITE
 * (the index cannot be written: out of space, memory, ...) with a reason in
 * err. */
int gi_build(ad_file *f, pthread_mutex_t *h5, const char *dir, gi_progress_fn progress,
	     void *progress_ctx, gi_index **out, char *err, size_t errlen);
void gi_free(gi_index *g);

/* Quantisation range of gene g (its implicit zeros included). */
quant_range gi_range(const gi_index *g, size_t gene);

/* Values of one gene for every cell. Thread-safe. 0, or -1 with err set. */
int gi_read(gi_index *g, size_t gene, float *out, char *err, size_t errlen);

#endif
