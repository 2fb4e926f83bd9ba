/*
 * cn_test.h - what the container tests (test_container.c, test_outside.c)
 * share: the error buffer of the stores they open, opening one, and writing
 * a dataset with the HDF5 API.
 */
#ifndef CN_TEST_H
#define CN_TEST_H

#include <hdf5.h>
#include <stdio.h>

#include "cn.h"

static char err[512];

static cn_store *open_store(const char *path)
{
	cn_store *s = NULL;

	if (cn_open(path, err, sizeof err, &s) != AD_OK)
		printf("# %s: %s\n", path, err);
	return s;
}

/* Write data (of memory type mtype) as dataset name of file type ftype:
 * contiguous, or chunked by chunk, then with shuffle and deflate when
 * deflate is set. */
static inline void put(hid_t loc, const char *name, hid_t ftype, hid_t mtype, int rank,
		const hsize_t *dims, const hsize_t *chunk, int deflate, const void *data)
{
	hid_t space = H5Screate_simple(rank, dims, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);

	if (chunk) {
		H5Pset_chunk(dcpl, rank, chunk);
		if (deflate) {
			H5Pset_shuffle(dcpl);
			H5Pset_deflate(dcpl, 4);
		}
	}
	hid_t d = H5Dcreate2(loc, name, ftype, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
	H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
	H5Dclose(d);
	H5Pclose(dcpl);
	H5Sclose(space);
}

#endif
