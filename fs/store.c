/*
 * store.c - see store.h.
 */
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct st_store {
	char *dir;      /* CACHE_DIR/<hash> */
	char *files;    /* .../files */
	int files_fd;   /* the files directory, for openat */
};

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

/* mkdir -p, private to the user: cached data is as sensitive as the source. */
static int make_dirs(const char *path)
{
	char buf[PATH_MAX];
	if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
		return ENAMETOOLONG;
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(buf, 0700) && errno != EEXIST)
			return errno;
		*p = '/';
	}
	if (mkdir(buf, 0700) && errno != EEXIST)
		return errno;
	return 0;
}

static int write_fd_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (len) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return errno;
		p += w, len -= (size_t)w;
	}
	return 0;
}

static int write_atomic_in(const char *dir, const char *name, const void *data, size_t len)
{
	char tmp[PATH_MAX], path[PATH_MAX];
	snprintf(tmp, sizeof tmp, "%s/tmp-XXXXXX", dir);
	snprintf(path, sizeof path, "%s/%s", dir, name);
	int fd = mkstemp(tmp);
	if (fd < 0)
		return errno;
	int err = write_fd_all(fd, data, len);
	if (close(fd) && !err)
		err = errno;
	if (!err && rename(tmp, path))
		err = errno;
	if (err)
		unlink(tmp);
	return err;
}

int st_write_atomic(st_store *s, const char *name, const void *data, size_t len)
{
	return write_atomic_in(s->dir, name, data, len);
}

static char *read_small_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *buf = malloc(65536);
	size_t n = buf ? fread(buf, 1, 65535, f) : 0;
	fclose(f);
	if (buf)
		buf[n] = 0;
	return buf;
}

/* Remove every file of a directory that a crashed or older run left. */
static void empty_dir(const char *dir, int only_temporaries)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *ent;
	while ((ent = readdir(d))) {
		if (ent->d_name[0] == '.')
			continue;
		if (only_temporaries && strncmp(ent->d_name, "tmp-", 4))
			continue;
		unlinkat(dirfd(d), ent->d_name, 0);
	}
	closedir(d);
}

st_store *st_open(const char *cache_dir, const char *key, char *err, size_t errlen)
{
	st_store *s = calloc(1, sizeof *s);
	char keypath[PATH_MAX];
	if (s)
		s->files_fd = -1;
	if (!s || asprintf(&s->dir, "%s/%016" PRIx64, cache_dir, fnv1a(key)) < 0 ||
	    asprintf(&s->files, "%s/files", s->dir) < 0) {
		snprintf(err, errlen, "out of memory");
		if (s)
			s->dir = s->files = NULL;
		st_close(s);
		return NULL;
	}
	int e = make_dirs(s->files);
	if (!e) {
		snprintf(keypath, sizeof keypath, "%s/key", s->dir);
		char *old = read_small_file(keypath);
		if (!old || strcmp(old, key)) {
			/* New, or another key with the same hash: start afresh. */
			empty_dir(s->files, 0);
			empty_dir(s->dir, 0);
			e = write_atomic_in(s->dir, "key", key, strlen(key));
		}
		free(old);
		empty_dir(s->files, 1);
		empty_dir(s->dir, 1);
	}
	if (!e && access(s->files, W_OK))
		e = errno;
	if (!e && (s->files_fd = open(s->files, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		e = errno;
	if (e) {
		snprintf(err, errlen, "%s: %s", s->dir, strerror(e));
		st_close(s);
		return NULL;
	}
	return s;
}

void st_close(st_store *s)
{
	if (!s)
		return;
	if (s->files_fd >= 0)
		close(s->files_fd);
	free(s->dir);
	free(s->files);
	free(s);
}

const char *st_dir(const st_store *s)
{
	return s->dir;
}

static void entry_name(char *buf, size_t len, uint32_t node, uint64_t size, uint32_t crc)
{
	snprintf(buf, len, "f%" PRIu32 "-%" PRIu64 "-%08" PRIx32, node, size, crc);
}

void st_scan(st_store *s, st_entry_fn fn, void *ctx)
{
	DIR *d = opendir(s->files);
	if (!d)
		return;
	struct dirent *ent;
	while ((ent = readdir(d))) {
		uint32_t node, crc;
		uint64_t size;
		char check[64];
		if (sscanf(ent->d_name, "f%" SCNu32 "-%" SCNu64 "-%8" SCNx32, &node, &size, &crc) != 3)
			continue;
		entry_name(check, sizeof check, node, size, crc);
		if (!strcmp(check, ent->d_name)) /* only names we write */
			fn(ctx, node, size, crc);
	}
	closedir(d);
}

int st_put(st_store *s, uint32_t node, const void *data, size_t len, uint32_t crc)
{
	char name[64];
	entry_name(name, sizeof name, node, len, crc);
	return write_atomic_in(s->files, name, data, len);
}

int st_open_entry(st_store *s, uint32_t node, uint64_t size, uint32_t crc)
{
	char name[64];
	entry_name(name, sizeof name, node, size, crc);
	return openat(s->files_fd, name, O_RDONLY | O_CLOEXEC);
}

void st_remove(st_store *s, uint32_t node, uint64_t size, uint32_t crc)
{
	char name[64];
	entry_name(name, sizeof name, node, size, crc);
	unlinkat(s->files_fd, name, 0);
}
