/*
 * test_h5super.c - anndata/h5_super.c reads the superblock as HDF5 writes
 * it: versions 0 (the default) and 3 (libver latest), at 0 and after a
 * 512-byte user block; its end is the file's size; the same file stays
 * the same; a changed superblock byte, a rewritten end-of-file address and
 * a file cut short are told apart from it; a file without a signature
 * gives no superblock.
 */
#include <fcntl.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "h5_super.h"

static char tmpdir[64], path[128];

/* A small HDF5 file: libver latest (superblock 3) or not, a user block. */
static void write_file(int latest, hsize_t userblock)
{
	hid_t fcpl = H5Pcreate(H5P_FILE_CREATE), fapl = H5Pcreate(H5P_FILE_ACCESS);
	hsize_t n = 1000;
	int v[1000] = { 0 };

	if (userblock)
		H5Pset_userblock(fcpl, userblock);
	if (latest)
		H5Pset_libver_bounds(fapl, H5F_LIBVER_LATEST, H5F_LIBVER_LATEST);
	hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, fcpl, fapl);
	hid_t sp = H5Screate_simple(1, &n, NULL);
	hid_t d = H5Dcreate2(f, "x", H5T_NATIVE_INT, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
	H5Dwrite(d, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
	H5Dclose(d);
	H5Sclose(sp);
	H5Fclose(f);
	H5Pclose(fcpl);
	H5Pclose(fapl);
}

static off_t size_of(int fd)
{
	struct stat st;
	return fstat(fd, &st) ? -1 : st.st_size;
}

/* Overwrite one byte at off. */
static void poke(int fd, off_t off, unsigned char b)
{
	if (pwrite(fd, &b, 1, off) != 1)
		abort();
}

static void one(const char *what, int latest, hsize_t userblock, unsigned version)
{
	h5_super sb;
	unsigned char old;

	write_file(latest, userblock);
	int fd = open(path, O_RDWR);
	CHECK(fd >= 0 && h5_super_read(fd, &sb) == 0, "%s: the superblock reads", what);
	CHECK(sb.at == userblock && sb.bytes[8] == version, "%s: at %llu, version %u (got %llu, %u)",
	      what, (unsigned long long)userblock, version, (unsigned long long)sb.at, sb.bytes[8]);
	CHECK(sb.end == (uint64_t)size_of(fd), "%s: its end is the file's size (%llu, %lld)", what,
	      (unsigned long long)sb.end, (long long)size_of(fd));
	CHECK(h5_super_same(fd, &sb, size_of(fd)), "%s: the same file is the same", what);
	/* the end-of-file address: after 12 bytes + 2 offsets (v2, v3) or 24 + 2 (v0) */
	off_t eof_at = (off_t)sb.at + (version >= 2 ? 12 + 16 : 24 + 16);
	if (pread(fd, &old, 1, eof_at) != 1)
		abort();
	poke(fd, eof_at, old ^ 0x40);
	CHECK(!h5_super_same(fd, &sb, size_of(fd)), "%s: a rewritten end-of-file address is seen", what);
	poke(fd, eof_at, old);
	poke(fd, (off_t)sb.at, 0);
	CHECK(!h5_super_same(fd, &sb, size_of(fd)), "%s: an overwritten signature is seen", what);
	poke(fd, (off_t)sb.at, 0x89);
	CHECK(h5_super_same(fd, &sb, size_of(fd)), "%s: restored, it is the same again", what);
	CHECK(!h5_super_same(fd, &sb, size_of(fd) - 1), "%s: a file one byte short is seen", what);
	if (ftruncate(fd, size_of(fd) - 100))
		abort();
	CHECK(!h5_super_same(fd, &sb, size_of(fd)), "%s: a file cut short is seen", what);
	close(fd);
}

int main(void)
{
	h5_super sb;

	snprintf(tmpdir, sizeof tmpdir, "/tmp/test_h5super.XXXXXX");
	if (!mkdtemp(tmpdir))
		return 1;
	snprintf(path, sizeof path, "%s/f.h5", tmpdir);
	one("superblock 0", 0, 0, 0);
	one("superblock 3", 1, 0, 3);
	one("superblock 0 after a user block", 0, 512, 0);
	one("superblock 3 after a user block", 1, 2048, 3);

	int fd = open(path, O_WRONLY | O_TRUNC);
	if (fd < 0 || write(fd, "PK\3\4 not an HDF5 file at all, and long enough to look", 54) != 54)
		return 1;
	close(fd);
	fd = open(path, O_RDONLY);
	CHECK(h5_super_read(fd, &sb) == -1 && sb.len == 0, "a file without a signature has no superblock");
	CHECK(h5_super_same(fd, &sb, 0), "and no superblock check");
	close(fd);
	unlink(path);
	rmdir(tmpdir);
	return CHECK_DONE();
}
