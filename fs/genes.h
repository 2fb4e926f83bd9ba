/*
 * genes.h - a gene-major copy of the expression matrix, so that one gene's
 * values for every cell come from a few contiguous reads instead of a pass
 * over all of X.
 *
 * gi_build streams X once by row blocks (ad_x_scan_rows). Each block is
 * transposed in memory to gene order and appended to an unlinked temporary
 * file as (cell, value) pairs; per block and gene the offset is kept. The same
 * pass records each gene's min and max, which var_manifest.json needs. Memory
 * stays bounded by the block size, whatever the matrix size. CSC matrices are
 * already gene-major: they are read directly.
 */
#ifndef GENES_H
#define GENES_H

#include <pthread.h>
#include <stddef.h>
#include "ad.h"
#include "quant.h"

typedef struct gi_index gi_index;

/* All HDF5 work happens with *h5 held. On failure err holds a reason. */
int gi_build(ad_file *f, pthread_mutex_t *h5, gi_index **out, char *err, size_t errlen);
void gi_free(gi_index *g);

/* Quantisation range of gene g (its implicit zeros included). */
quant_range gi_range(const gi_index *g, size_t gene);

/* Values of one gene for every cell. Thread-safe. 0, or -1 with err set. */
int gi_read(gi_index *g, size_t gene, float *out, char *err, size_t errlen);

#endif
