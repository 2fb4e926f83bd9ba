/*
 * h5_super.h - the HDF5 superblock read by hand (no libhdf5), so that a
 * process which never calls HDF5 can tell whether a file it serves is
 * still the version it opened. See h5_super.c. Sample:
 *
 *	h5_super sb;
 *	if (h5_super_read(fd, &sb) == 0)          // at open
 *		...
 *	if (!h5_super_same(fd, &sb, st.st_size))  // before and after a read
 *		fail("data.h5ad changed while mounted");
 */
#ifndef H5_SUPER_H
#define H5_SUPER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum { H5_SUPER_MAX = 128 };  /* the largest fixed part: version 1, 8-byte offsets: 100 */

typedef struct {
	uint64_t at;                          /* the signature's offset: 0, 512, 1024, ... */
	uint64_t end;                         /* the end-of-file address: the file's size */
	size_t len;                           /* bytes of bytes[] (0: no superblock known) */
	unsigned char bytes[H5_SUPER_MAX];
} h5_super;

/* Find and parse the superblock of the file open at fd: 0 and *out set, or
 * -1 (no signature at 0, 512, 1024, ... below the file's end, a version
 * this code does not know, or offsets of a size HDF5 never writes). */
int h5_super_read(int fd, h5_super *out);
/* Whether the file at fd, now size bytes long, still starts with the
 * superblock sb (byte for byte: HDF5 rewrites it, end-of-file address
 * included, whenever it writes the file) and still holds every byte that
 * superblock says the file has. sb without a superblock (len 0): 1. */
int h5_super_same(int fd, const h5_super *sb, off_t size);

#endif
