/*
 * watch.c - following the source files: see watch.h.
 *
 * One thread. inotify watches each file and the directory holding it, so
 * that both ways of saving are seen: anndata's write_h5ad truncates and
 * writes the file in place (events on the file), other tools write a
 * temporary file and rename it over (events in the directory; the file's
 * own watch stays on the old inode and is renewed). inotify only wakes the
 * thread: what counts is the file's identity (device, inode, size, mtime),
 * which is also polled every `settle` seconds for the file systems that
 * deliver no events (NFS, SMB, FUSE). A new identity is taken once it has
 * stayed the same, and nothing happened in the directories, for `settle`
 * seconds (the caller takes note of an identity it could not open, and is
 * not asked again until the file changes once more).
 *
 * A directory source's own directory is watched too, and listed (the
 * caller's rescan) at every wake-up: a new name is one more file to follow,
 * whose identity last dealt with is none, so it is taken - opened - once it
 * has settled like any change; a file that is gone is a change to
 * identity none, which settles too (a save that deletes and writes anew is
 * not taken for a removal). A Zarr store's identity covers its whole tree
 * (a chunk rewritten in place does not move the directory's own stat).
 */
#include "watch.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

/* What was seen of one file. */
typedef struct {
	ex_identity pending;      /* the identity on disk, other than the one dealt with */
	double since;             /* when it was first seen */
	int has_pending;
} wt_file;

struct wt_watch {
	const char *dir;          /* a directory source, or NULL */
	size_t n, cap;            /* files[] followed, allocated */
	int settle;
	wt_hooks h;
	void *ctx;
	wt_file *files;
	int ino_fd;               /* inotify, or -1: polling only */
	int stop[2];              /* a pipe: a byte ends the thread */
	double last_event;
	pthread_t thread;
};

static const uint32_t FILE_EVENTS = IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_DELETE_SELF |
				    IN_MOVE_SELF;
static const uint32_t DIR_EVENTS = IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_CREATE |
				   IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Watch path and its directory; a failure leaves polling to notice. A
 * directory source's watch sees its files: only a Zarr store, itself a
 * directory, needs its own. */
static void add_watches(wt_watch *w, const char *path)
{
	struct stat st;
	if (w->ino_fd < 0)
		return;
	if (w->dir) {
		if (!stat(path, &st) && S_ISDIR(st.st_mode))
			inotify_add_watch(w->ino_fd, path, DIR_EVENTS);
		return;
	}
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	size_t n = slash ? (size_t)(slash - path) : 0;
	if (n >= sizeof dir)
		return;
	memcpy(dir, path, n);
	strcpy(dir + n, n ? "" : slash ? "/" : ".");
	inotify_add_watch(w->ino_fd, dir, DIR_EVENTS);
	inotify_add_watch(w->ino_fd, path, FILE_EVENTS);
}

/* The identity of the file (or Zarr store, its whole tree) at path, as the
 * source has it; none when it is gone. */
static int read_identity(const char *path, ex_identity *id)
{
	struct stat st;
	if (ex_identity_at(path, &st, id) || !(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))) {
		*id = (ex_identity){0};
		return -1;
	}
	return 0;
}

/* Look at file k: note a new identity, or switch to one that has settled. */
static void look(wt_watch *w, size_t k, double t)
{
	wt_file *f = &w->files[k];
	const char *path = w->h.path(w->ctx, k);
	ex_identity id;
	/* A single file gone is being replaced: the version served stays. */
	if ((read_identity(path, &id) && !w->dir) ||
	    ex_identity_same(id, w->h.current(w->ctx, k))) {
		f->has_pending = 0;
		return;
	}
	if (!f->has_pending || !ex_identity_same(id, f->pending)) {
		f->pending = id;
		f->since = t;
		f->has_pending = 1;
		add_watches(w, path); /* a file renamed over is a new inode */
		return;
	}
	if (t - f->since < w->settle || t - w->last_event < w->settle)
		return;
	w->h.changed(w->ctx, k);
	f->has_pending = 0;
}

/* Follow the files the caller has added since: a directory source's new
 * names. 0, or -1 when out of memory (they are followed later). */
static int grow(wt_watch *w)
{
	if (w->h.rescan)
		w->h.rescan(w->ctx);
	size_t n = w->h.count(w->ctx);
	if (n > w->cap) {
		size_t cap = n > 2 * w->cap ? n : 2 * w->cap;
		wt_file *more = realloc(w->files, cap * sizeof *more);
		if (!more)
			return -1;
		memset(more + w->cap, 0, (cap - w->cap) * sizeof *more);
		w->files = more;
		w->cap = cap;
	}
	for (; w->n < n; w->n++)
		add_watches(w, w->h.path(w->ctx, w->n));
	return 0;
}

static int any_pending(const wt_watch *w)
{
	for (size_t k = 0; k < w->n; k++)
		if (w->files[k].has_pending)
			return 1;
	return 0;
}

/* Drain the events: only their arrival matters. */
static void drain(wt_watch *w)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	while (read(w->ino_fd, buf, sizeof buf) > 0)
		w->last_event = now();
}

static void *watch_main(void *arg)
{
	wt_watch *w = arg;
	for (;;) {
		/* A pending change is looked at four times per settle period. */
		int timeout = w->settle * 1000 / (any_pending(w) ? 4 : 1);
		struct pollfd p[2] = {{w->stop[0], POLLIN, 0}, {w->ino_fd, POLLIN, 0}};
		if (poll(p, w->ino_fd < 0 ? 1 : 2, timeout) < 0 && errno != EINTR)
			break;
		if (p[0].revents)
			break;
		if (w->ino_fd >= 0 && p[1].revents)
			drain(w);
		grow(w);
		double t = now();
		for (size_t k = 0; k < w->n; k++)
			look(w, k, t);
		w->h.tick(w->ctx);
	}
	return NULL;
}

wt_watch *wt_start(const char *dir, int settle, wt_hooks hooks, void *ctx)
{
	wt_watch *w = calloc(1, sizeof *w);
	if (!w || pipe2(w->stop, O_CLOEXEC)) {
		log_warn("the source is not followed: %s", strerror(errno));
		free(w);
		return NULL;
	}
	*w = (wt_watch){dir, 0, 0, settle, hooks, ctx, NULL, -1, {w->stop[0], w->stop[1]}, 0, 0};
	w->ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->ino_fd < 0)
		log_warn("no inotify (%s): the source is polled every %d s", strerror(errno), settle);
	else if (dir)
		inotify_add_watch(w->ino_fd, dir, DIR_EVENTS);
	if (grow(w)) {
		log_warn("the source is not followed: out of memory");
		w->thread = 0;
		wt_stop(w);
		return NULL;
	}
	if (pthread_create(&w->thread, NULL, watch_main, w)) {
		log_warn("the source is not followed: cannot start a thread");
		w->thread = 0;
		wt_stop(w);
		return NULL;
	}
	return w;
}

void wt_stop(wt_watch *w)
{
	if (!w)
		return;
	if (w->thread) {
		char b = 0;
		if (write(w->stop[1], &b, 1) == 1)
			pthread_join(w->thread, NULL);
	}
	close(w->stop[0]);
	close(w->stop[1]);
	if (w->ino_fd >= 0)
		close(w->ino_fd);
	free(w->files);
	free(w);
}
