/*
 * cn_h5_lzf.c - part of the HDF5 back end (cn_h5.c): the LZF filter (HDF5
 * filter id 32000, as h5py registers it), decode side only, built on liblzf.
 * It includes hdf5.h (through cn_h5.h) as the back end does; nothing else
 * in anndata/ may.
 *
 * h5py's compression="lzf" (anndata 0.7 files use it throughout) is not part
 * of the HDF5 library, and Debian's plugin for it is underlinked, so the
 * filter is registered here. The writer marks it optional: chunks that did
 * not shrink are stored raw and HDF5 does not call the filter for them.
 */
#include <errno.h>
#include <limits.h>
#include <lzf.h>

#include "cn_h5.h"

#define LZF_FILTER_ID 32000

/* cd_values[2], when the writer recorded it, is the uncompressed chunk size;
 * without it, guess and grow the output while liblzf says E2BIG. */
static size_t lzf_decode(unsigned flags, size_t cd_nelmts, const unsigned cd_values[],
			 size_t nbytes, size_t *buf_size, void **buf)
{
	size_t out_size = cd_nelmts >= 3 && cd_values[2] ? cd_values[2] : 4 * nbytes + 64;

	if (!(flags & H5Z_FLAG_REVERSE))
		return 0; /* this reader never compresses */
	if (out_size > UINT_MAX)
		out_size = UINT_MAX;
	for (;;) {
		void *out = H5allocate_memory(out_size, 0);
		unsigned got;

		if (!out)
			return 0;
		got = lzf_decompress(*buf, (unsigned)nbytes, out, (unsigned)out_size);
		if (got) {
			H5free_memory(*buf);
			*buf = out;
			*buf_size = out_size;
			return got;
		}
		H5free_memory(out);
		if (errno != E2BIG || out_size >= UINT_MAX / 2)
			return 0;
		out_size *= 2;
	}
}

int cn_h5_lzf_register(void)
{
	static const H5Z_class2_t lzf = {
		H5Z_CLASS_T_VERS,
		LZF_FILTER_ID,
		0, /* no encoder */
		1, /* decoder */
		"lzf",
		NULL,
		NULL,
		lzf_decode,
	};

	if (H5Zfilter_avail(LZF_FILTER_ID) > 0)
		return 0;
	return H5Zregister(&lzf) < 0 ? -1 : 0;
}
