/*
 * cn_h5.h - what the files of the HDF5 back end share (cn_h5.c,
 * cn_h5_outside.c, cn_h5_lzf.c, cn_h5_chunk.c), and the only header in anndata/ that
 * includes hdf5.h. Nothing outside those files includes it.
 */
#ifndef CN_H5_H
#define CN_H5_H

#include <hdf5.h>

#include "cn_impl.h"

/* ---- cn_h5_outside.c ---- */

/* AD_OK when no link on path leads outside the file; else
 * AD_EUNSUPPORTED with the reason in the store's error buffer. */
ad_err cn_h5_check(cn_store *s, hid_t file, const char *path);
/* The same as a question: the store's error message is left as it was. */
int cn_h5_refused(cn_store *s, hid_t file, const char *path);
/* Refuse a dataset (path, creation property list dcpl) whose values live
 * in other files: external storage or a virtual layout. */
ad_err cn_h5_check_storage(cn_store *s, const char *path, hid_t dcpl);
/* Open the source read-only, unlocked: -1 (err says why; AD_EIO) or -2
 * (not a regular HDF5 file; AD_EFORMAT) on failure. */
hid_t cn_h5_open_source(const char *path, char *err, size_t errlen);

/* ---- cn_h5_lzf.c ---- */

/* Make the LZF filter (id 32000) available to HDF5; idempotent. */
int cn_h5_lzf_register(void);

/* ---- cn_h5_chunk.c ---- */

/* Fetch the chunk at start (its box clipped to count) of the chunked
 * dataset d of a into c raw, with c->decode set to undo its filters: 1,
 * with *e the outcome; 0 when HDF5 must read it instead (no filters, a
 * filter we do not decode, an unallocated chunk). */
int cn_h5_chunk_raw(cn_array *a, hid_t d, const uint64_t *start, const uint64_t *count,
		    struct cn_chunk *c, ad_err *e);
/* The bytes of values the file holds for array a (dataset d): see
 * cn_ops.held. */
uint64_t cn_h5_held(cn_array *a, hid_t d);

#endif
