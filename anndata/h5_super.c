/*
 * h5_super.c - the HDF5 superblock read with pread alone (the file format
 * specification, "Superblock"), for the identity check of a source: a file
 * rewritten in place can keep its size, inode and (touch -r) mtime, but
 * HDF5 writes the superblock again whenever it writes the file, its
 * end-of-file address included. Keeping the bytes read at open and
 * comparing them before and after each read costs one pread of at most
 * 128 bytes, and needs no libhdf5, so a daemon that leaves HDF5 to a
 * reader process can still make it.
 *
 * The superblock is at 0 or, after a user block, at 512, 1024, 2048, ...;
 * it starts with the signature \211HDF\r\n\032\n and a version byte:
 *
 *   versions 0, 1: ... sizes of offsets (13) and lengths (14) ... then,
 *     at 24 (version 1: 28), base address, free-space address, end-of-file
 *     address, driver address, and the root group's symbol table entry
 *   versions 2, 3: sizes of offsets (9) and lengths (10), flags, then base
 *     address, extension address, end-of-file address, root object header
 *     address (from 12), and a checksum
 *
 * The specification calls the end-of-file address relative to the base
 * address, but libhdf5 (1.10) writes the file's whole size there, a user
 * block included (tests/test_h5super.c): a file shorter than it has lost
 * bytes HDF5 would read.
 */
#include "h5_super.h"

#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const unsigned char SIGNATURE[8] = { 0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n' };

/* n little-endian bytes (2, 4 or 8) at p. */
static uint64_t le(const unsigned char *p, unsigned n)
{
	uint64_t v = 0;
	while (n--)
		v = v << 8 | p[n];
	return v;
}

/* The superblock at sb->at, whose first bytes are in sb->bytes (got of
 * them): its length and end; -1 for what HDF5 would not have written. */
static int parse(h5_super *sb, size_t got)
{
	const unsigned char *b = sb->bytes;
	unsigned version = b[8], o, addrs;
	size_t len;

	if (version <= 1) {
		o = b[13];
		addrs = version ? 28 : 24;
		len = addrs + 4 * o + 2 * o + 24;  /* + link name offset, header, cache: a symbol entry */
	} else if (version <= 3) {
		o = b[9];
		addrs = 12;
		len = addrs + 4 * o + 4;
	} else {
		return -1;
	}
	if ((o != 2 && o != 4 && o != 8) || len > got)
		return -1;
	sb->end = le(b + addrs + 2 * o, o);
	sb->len = len;
	return 0;
}

int h5_super_read(int fd, h5_super *out)
{
	struct stat st;

	memset(out, 0, sizeof *out);
	if (fstat(fd, &st))
		return -1;
	for (uint64_t at = 0; at < (uint64_t)st.st_size; at = at ? 2 * at : 512) {
		ssize_t got = pread(fd, out->bytes, sizeof out->bytes, (off_t)at);
		if (got < (ssize_t)sizeof SIGNATURE + 8)
			return -1;
		if (memcmp(out->bytes, SIGNATURE, sizeof SIGNATURE))
			continue;
		out->at = at;
		if (parse(out, (size_t)got) == 0)
			return 0;
		break;
	}
	memset(out, 0, sizeof *out);
	return -1;
}

int h5_super_same(int fd, const h5_super *sb, off_t size)
{
	unsigned char now[H5_SUPER_MAX];

	if (!sb->len)
		return 1;
	return size >= 0 && (uint64_t)size >= sb->end &&
	       pread(fd, now, sb->len, (off_t)sb->at) == (ssize_t)sb->len &&
	       !memcmp(now, sb->bytes, sb->len);
}
