/*
 * store.c - see store.h.
 *
 * Descriptors stay bounded however many stores a directory source opens:
 * a store's pack and index are open only while it is among the
 * ST_OPEN_MAX most recently used (or held: a read, a write or an open
 * file under way), and opened again on demand. The lock that keeps a
 * second daemon off a store cannot then be an flock of the pack (it
 * would go with the descriptor): it is an open-file-description lock on
 * one byte, at the store's hash, of CACHE_DIR/.locks, one descriptor for
 * every store of a cache directory. 1 000 members: 1 + 2 * 32 + the
 * files being read, instead of 3 000.
 */
#include "store.h"
#include "io.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libdeflate.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define RECORD_MAGIC 0x43465331u /* "CFS1" */

typedef struct {
	uint32_t magic, node;
	uint64_t offset, size;
	uint32_t crc;        /* of the file's bytes */
	uint32_t check;      /* of the fields above */
} record;

struct st_store {
	char *dir;           /* CACHE_DIR/<hash> */
	int pack, index;     /* files.pack, files.idx (append-only); -1 while closed */
	unsigned holds;      /* reads and writes under way: the two stay open */
	int slot;            /* in opened[], or -1 */
	uint64_t used;       /* the tick of its last hold */
	int locks;           /* CACHE_DIR/.locks (shared, never closed) */
	off_t lock_at;       /* our byte in it */
	pthread_mutex_t lock;
	uint64_t pack_end;   /* where the next file goes */
};

/* At most this many stores keep their pack and index open: those in
 * opened[] (a store whose slot was taken while it was held closes its
 * files when let go). open_lock guards every store's pack, index, holds,
 * slot and tick, and opened[]. */
#define ST_OPEN_MAX 32
static pthread_mutex_t open_lock = PTHREAD_MUTEX_INITIALIZER;
static st_store *opened[ST_OPEN_MAX];
static uint64_t ticks;

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

static int write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return errno;
	int err = io_pwrite_all(fd, data, len, 0);
	if (close(fd) && !err)
		err = errno;
	return err;
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

/* Remove every file of the directory: what another key, or a crashed run
 * (temporary files), left there. */
static void empty_dir(const char *dir, int only_temporaries)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *ent;
	while ((ent = readdir(d))) {
		if (ent->d_name[0] == '.' || (only_temporaries && strncmp(ent->d_name, "tmp-", 4)))
			continue;
		unlinkat(dirfd(d), ent->d_name, 0);
	}
	closedir(d);
}

/* Make dir hold this key's store, starting afresh when it held another
 * (a hash collision: the key text tells). */
static int claim_dir(const char *dir, const char *key)
{
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/key", dir);
	char *old = read_small_file(path);
	int err = 0;
	if (!old || strcmp(old, key)) {
		empty_dir(dir, 0);
		err = write_file(path, key, strlen(key));
	}
	free(old);
	empty_dir(dir, 1);
	return err;
}

static int open_in(const char *dir, const char *name, int flags)
{
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	return open(path, flags | O_CREAT | O_CLOEXEC, 0600);
}

/* The descriptor of cache_dir/.locks, opened once per cache directory. */
static int locks_of(const char *cache_dir)
{
	static struct { char *dir; int fd; } known[8];
	static pthread_mutex_t known_lock = PTHREAD_MUTEX_INITIALIZER;
	int fd = -1;
	size_t i;
	pthread_mutex_lock(&known_lock);
	for (i = 0; i < sizeof known / sizeof *known && known[i].dir; i++)
		if (!strcmp(known[i].dir, cache_dir))
			break;
	if (i < sizeof known / sizeof *known && known[i].dir) {
		fd = known[i].fd;
	} else if ((fd = open_in(cache_dir, ".locks", O_RDWR)) >= 0 &&
		   i < sizeof known / sizeof *known && (known[i].dir = strdup(cache_dir))) {
		known[i].fd = fd;
	}
	/* (a ninth cache directory keeps its descriptor: there are not many) */
	pthread_mutex_unlock(&known_lock);
	return fd;
}

/* Take (F_WRLCK) or let go of (F_UNLCK) s's byte in the shared lock file. */
static int lock_byte(st_store *s, short type)
{
	struct flock l = {.l_type = type, .l_whence = SEEK_SET, .l_start = s->lock_at, .l_len = 1};
	return fcntl(s->locks, F_OFD_SETLK, &l);
}

static void close_files(st_store *s)
{
	if (s->pack >= 0)
		close(s->pack);
	if (s->index >= 0)
		close(s->index);
	s->pack = s->index = -1;
}

/* A slot of opened[] for a store about to open its files: a free one, else
 * that of the least recently held store nobody holds (its files closed);
 * -1 when every one is held. */
static int free_slot(void)
{
	int k = -1;
	for (int i = 0; i < ST_OPEN_MAX; i++) {
		if (!opened[i])
			return i;
		if (!opened[i]->holds && (k < 0 || opened[i]->used < opened[k]->used))
			k = i;
	}
	if (k >= 0) {
		close_files(opened[k]);
		opened[k]->slot = -1;
		opened[k] = NULL;
	}
	return k;
}

/* s's pack and index open (again) and held. 0 or an errno. Under open_lock. */
static int hold_locked(st_store *s)
{
	if (s->pack < 0) {
		if ((s->pack = open_in(s->dir, "files.pack", O_RDWR)) < 0 ||
		    (s->index = open_in(s->dir, "files.idx", O_RDWR | O_APPEND)) < 0) {
			int e = errno;
			close_files(s);
			return e;
		}
		if ((s->slot = free_slot()) >= 0)
			opened[s->slot] = s;
	}
	s->holds++;
	s->used = ++ticks;
	return 0;
}

static int hold(st_store *s)
{
	pthread_mutex_lock(&open_lock);
	int e = hold_locked(s);
	pthread_mutex_unlock(&open_lock);
	return e;
}

static void release(st_store *s)
{
	pthread_mutex_lock(&open_lock);
	if (!--s->holds && s->slot < 0)
		close_files(s);
	pthread_mutex_unlock(&open_lock);
}

int st_pack_hold(st_store *s)
{
	int e = hold(s);
	if (e) {
		errno = e;
		return -1;
	}
	return s->pack; /* held: no other thread closes it */
}

void st_pack_release(st_store *s)
{
	release(s);
}

st_store *st_open(const char *cache_dir, const char *key, char *err, size_t errlen)
{
	st_store *s = calloc(1, sizeof *s);
	if (!s || asprintf(&s->dir, "%s/%016" PRIx64, cache_dir, fnv1a(key)) < 0) {
		free(s);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->pack = s->index = s->locks = s->slot = -1;
	s->lock_at = (off_t)(fnv1a(key) >> 2);
	pthread_mutex_init(&s->lock, NULL);
	int e = make_dirs(s->dir), locked = 0;
	if (!e && (s->locks = locks_of(cache_dir)) < 0)
		e = errno;
	if (!e && lock_byte(s, F_WRLCK))
		e = errno == EAGAIN || errno == EACCES ? EBUSY : errno;
	locked = !e;
	if (!e)
		e = claim_dir(s->dir, key);
	struct stat st;
	if (!e && !(e = hold(s))) {
		if (fstat(s->pack, &st))
			e = errno;
		release(s);
	}
	if (e) {
		snprintf(err, errlen, "%s: %s", s->dir,
			 e == EBUSY ? "in use by another cellucidfs" : strerror(e));
		if (!locked)
			s->locks = -1; /* not ours to let go of */
		st_close(s);
		return NULL;
	}
	s->pack_end = (uint64_t)st.st_size;
	return s;
}

void st_close(st_store *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&open_lock);
	if (s->slot >= 0)
		opened[s->slot] = NULL;
	close_files(s);
	pthread_mutex_unlock(&open_lock);
	if (s->locks >= 0)
		lock_byte(s, F_UNLCK);
	pthread_mutex_destroy(&s->lock);
	free(s->dir);
	free(s);
}

void st_remove(st_store *s)
{
	if (!s)
		return;
	empty_dir(s->dir, 0); /* still under its lock: no other daemon starts on it */
	rmdir(s->dir);
	st_close(s);
}

const char *st_dir(const st_store *s)
{
	return s->dir;
}


static uint32_t record_check(const record *r)
{
	return libdeflate_crc32(0, r, offsetof(record, check));
}

void st_scan(st_store *s, st_entry_fn fn, void *ctx)
{
	record buf[512];
	off_t at = 0;
	ssize_t got;
	if (hold(s))
		return;
	while ((got = pread(s->index, buf, sizeof buf, at)) >= (ssize_t)sizeof *buf) {
		size_t n = (size_t)got / sizeof *buf;
		for (size_t k = 0; k < n; k++) {
			const record *r = &buf[k];
			/* Records whose bytes are not all in the pack come from a
			 * crash mid-write: skip them. */
			if (r->magic == RECORD_MAGIC && r->check == record_check(r) &&
			    r->offset + r->size <= s->pack_end && r->offset + r->size >= r->offset)
				fn(ctx, r->node, r->offset, r->size, r->crc);
		}
		at += (off_t)(n * sizeof *buf);
	}
	release(s);
}

int st_put(st_store *s, uint32_t node, const void *data, size_t len, uint32_t crc,
	   uint64_t *offset)
{
	int err = hold(s);
	if (err)
		return err;
	pthread_mutex_lock(&s->lock);
	uint64_t at = s->pack_end;
	s->pack_end += len;
	pthread_mutex_unlock(&s->lock);
	err = io_pwrite_all(s->pack, data, len, (off_t)at);
	record r = {RECORD_MAGIC, node, at, len, crc, 0};
	r.check = record_check(&r);
	/* O_APPEND: each record lands whole after the others. */
	ssize_t w = err ? 0 : write(s->index, &r, sizeof r);
	release(s);
	if (err)
		return err;
	if (w != (ssize_t)sizeof r)
		return w < 0 ? errno : EIO;
	*offset = at;
	return 0;
}
