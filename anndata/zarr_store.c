/*
 * zarr_store.c - the keys of a Zarr store: a directory tree (DirectoryStore)
 * or a zip (ZipStore, zarr_zip.c), behind one get/list interface.
 *
 * A key is "obs/louvain/codes/0": components joined by "/". In a directory
 * each component is opened with openat(O_NOFOLLOW) from the one before, so
 * no symlink is ever followed and no key ("..", "/" or an empty component
 * is refused outright) reaches outside the store; a value must be a regular
 * file (opened O_NONBLOCK: a FIFO planted as a chunk cannot hang a reader).
 * Every call opens what it reads, so calls are independent and thread-safe.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zarr_internal.h"

zr_rc zr_fail(char *err, zr_rc rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, ZR_ERRLEN, fmt, ap);
	va_end(ap);
	return rc;
}

/* Whether every component of key is a plain name. */
static int key_valid(const char *key)
{
	const char *p = key;

	for (;;) {
		const char *end = strchr(p, '/');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len == 0 || (len == 1 && p[0] == '.') ||
		    (len == 2 && p[0] == '.' && p[1] == '.'))
			return 0;
		if (!end)
			return 1;
		p = end + 1;
	}
}

/* Open the directory holding key's last component; *last points at it.
 * -1 with errno when a component is missing, not a directory or a link. */
static int open_parent(int root, const char *key, const char **last)
{
	int fd = dup(root);
	const char *p = key;
	char name[256];

	while (fd >= 0) {
		const char *end = strchr(p, '/');
		if (!end) {
			*last = p;
			return fd;
		}
		size_t len = (size_t)(end - p);
		if (len >= sizeof name) {
			close(fd);
			errno = ENAMETOOLONG;
			return -1;
		}
		memcpy(name, p, len);
		name[len] = '\0';
		int next = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		close(fd);
		fd = next;
		p = end + 1;
	}
	return -1;
}

/* The open regular file at key, and its size. */
static zr_rc dir_open(int root, const char *key, int *out, uint64_t *size, char *err)
{
	const char *last;

	if (!key_valid(key))
		return zr_fail(err, ZR_EFORMAT, "%s: not a key inside the store", key);
	int dir = open_parent(root, key, &last);
	int fd = dir < 0 ? -1 : openat(dir, last, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	int e = errno;
	if (dir >= 0)
		close(dir);
	if (fd < 0) {
		if (e == ENOENT || e == ENOTDIR)
			return zr_fail(err, ZR_ENOENT, "%s: missing", key);
		if (e == ELOOP)
			return zr_fail(err, ZR_EFORMAT, "%s: a symbolic link, not followed", key);
		return zr_fail(err, ZR_EIO, "%s: %s", key, strerror(e));
	}
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return zr_fail(err, ZR_EFORMAT, "%s: not a regular file", key);
	}
	*out = fd;
	*size = (uint64_t)st.st_size;
	return ZR_OK;
}

int zr_pread(int fd, void *buf, size_t len, uint64_t off)
{
	unsigned char *p = buf;

	while (len) {
		ssize_t n = pread(fd, p, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;  /* the file shrank under us */
			return -1;
		}
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static zr_rc pread_all(int fd, void *buf, size_t len, uint64_t off, const char *key, char *err)
{
	if (zr_pread(fd, buf, len, off) != 0)
		return zr_fail(err, ZR_EIO, "%s: %s", key, strerror(errno));
	return ZR_OK;
}

zr_rc zr_kv_open(struct zr_kv *kv, const char *path, char *err)
{
	kv->dirfd = -1;
	kv->zip = NULL;
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0) {
		zr_rc rc = zr_fail(err, errno == ENOENT ? ZR_ENOENT : ZR_EIO, "%s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return rc;
	}
	if (S_ISDIR(st.st_mode)) {
		kv->dirfd = fd;
		return ZR_OK;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return zr_fail(err, ZR_EFORMAT, "neither a directory nor a zip file");
	}
	zr_rc rc = zr_zip_open(&kv->zip, fd, err);
	if (rc != ZR_OK)
		close(fd);
	return rc;
}

void zr_kv_close(struct zr_kv *kv)
{
	if (kv->dirfd >= 0)
		close(kv->dirfd);
	if (kv->zip)
		zr_zip_close(kv->zip);
	kv->dirfd = -1;
	kv->zip = NULL;
}

zr_rc zr_kv_size(const struct zr_kv *kv, const char *key, uint64_t *size, char *err)
{
	if (kv->zip)
		return zr_zip_size(kv->zip, key, size, err);
	int fd;
	zr_rc rc = dir_open(kv->dirfd, key, &fd, size, err);
	if (rc == ZR_OK)
		close(fd);
	return rc;
}

zr_rc zr_kv_get(const struct zr_kv *kv, const char *key, size_t max,
		void **buf, size_t *len, char *err)
{
	if (kv->zip)
		return zr_zip_get(kv->zip, key, max, buf, len, err);
	int fd;
	uint64_t size;
	zr_rc rc = dir_open(kv->dirfd, key, &fd, &size, err);
	if (rc != ZR_OK)
		return rc;
	if (size > max) {
		close(fd);
		return zr_fail(err, ZR_EFORMAT, "%s: %llu bytes, more than the %zu it may hold",
			       key, (unsigned long long)size, max);
	}
	void *p = malloc(size ? size : 1);
	if (!p) {
		close(fd);
		return zr_fail(err, ZR_ENOMEM, "%s: out of memory", key);
	}
	rc = pread_all(fd, p, size, 0, key, err);
	close(fd);
	if (rc != ZR_OK) {
		free(p);
		return rc;
	}
	*buf = p;
	*len = size;
	return ZR_OK;
}

zr_rc zr_kv_get_range(const struct zr_kv *kv, const char *key, uint64_t off,
		      size_t len, void *out, char *err)
{
	if (kv->zip)
		return zr_zip_get_range(kv->zip, key, off, len, out, err);
	int fd;
	uint64_t size;
	zr_rc rc = dir_open(kv->dirfd, key, &fd, &size, err);
	if (rc != ZR_OK)
		return rc;
	if (off > size || len > size - off)
		rc = zr_fail(err, ZR_EFORMAT, "%s: range beyond its %llu bytes", key,
			     (unsigned long long)size);
	else
		rc = pread_all(fd, out, len, off, key, err);
	close(fd);
	return rc;
}

zr_rc zr_kv_list(const struct zr_kv *kv, const char *prefix,
		 int (*fn)(const char *name, void *ctx), void *ctx, char *err)
{
	if (kv->zip)
		return zr_zip_list(kv->zip, prefix, fn, ctx, err);
	int fd;
	if (!*prefix) {
		fd = dup(kv->dirfd);
	} else {
		if (!key_valid(prefix))
			return zr_fail(err, ZR_EFORMAT, "%s: not a key inside the store", prefix);
		const char *last;
		int dir = open_parent(kv->dirfd, prefix, &last);
		fd = dir < 0 ? -1 : openat(dir, last, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (dir >= 0)
			close(dir);
	}
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	if (!d) {
		if (fd >= 0)
			close(fd);
		return zr_fail(err, ZR_EIO, "%s: cannot list: %s", *prefix ? prefix : "/", strerror(errno));
	}
	struct dirent *e;
	int stop = 0;
	while (!stop && (e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		struct stat st;
		/* Links are not followed: a linked directory is no member. */
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode))
			stop = fn(e->d_name, ctx);
	}
	closedir(d);
	return ZR_OK;
}

int zr_is_store(const char *path)
{
	static const char *const roots[] = { "zarr.json", ".zgroup", ".zarray", ".zmetadata" };
	unsigned char sig[4];
	struct stat st;
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC), yes = 0;

	if (fd < 0)
		return 0;
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		for (size_t i = 0; !yes && i < sizeof roots / sizeof *roots; i++)
			yes = fstatat(fd, roots[i], &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
	} else if (S_ISREG(st.st_mode) && zr_pread(fd, sig, 4, 0) == 0) {
		/* A local file header, or the end record of an empty zip. */
		yes = !memcmp(sig, "PK\3\4", 4) || !memcmp(sig, "PK\5\6", 4);
	}
	close(fd);
	return yes;
}
