/*
 * test_anndata.c - tests of the anndata module.
 *
 * Two halves: the real files in ../shared/fixtures (skipped, with a message,
 * when that folder is absent), checked against values extracted once with
 * h5py; and small files written here with the HDF5 C API, in a temporary
 * directory, for the encodings and the damaged or hostile layouts that the
 * fixtures do not have.
 */
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ad.h"
#include "check.h"

#define FIXTURES "../shared/fixtures/"

static int same(float a, float b)
{
	return a == b || (isnan(a) && isnan(b));
}

static int near(double a, double b)
{
	return fabs(a - b) <= 1e-6 * fabs(b) + 1e-12;
}

/* ---- scanning X back into a dense matrix ---- */

struct collect {
	size_t n_obs, n_var, next_row, blocks, stored;
	float *m;
	int sane;           /* every block well-formed and in order */
	int aligned;        /* every block but the last has a multiple of align rows */
	size_t align;
	size_t stop_after;  /* stop after this many blocks (0: never) */
};

static int collect_block(const ad_rowblock *b, void *ctx)
{
	struct collect *c = ctx;

	if (b->row0 != c->next_row || b->indptr[0] != 0 || b->row0 + b->nrows > c->n_obs)
		c->sane = 0;
	if (c->align && c->next_row && c->aligned_pending)
		;
	for (size_t i = 0; c->sane && i < b->nrows; i++) {
		if (b->indptr[i + 1] < b->indptr[i])
			c->sane = 0;
		for (int64_t k = b->indptr[i]; c->sane && k < b->indptr[i + 1]; k++) {
			if (b->indices[k] >= c->n_var) {
				c->sane = 0;
				break;
			}
			c->m[(b->row0 + i) * c->n_var + b->indices[k]] += b->values[k];
		}
	}
	c->stored += (size_t)b->indptr[b->nrows];
	c->next_row = b->row0 + b->nrows;
	c->blocks++;
	return c->stop_after && c->blocks >= c->stop_after;
}
