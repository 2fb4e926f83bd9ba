/*
 * cmd_export.c - "cellucidfs export SOURCE OUTDIR": the tree a mount would
 * show, written to OUTDIR. The bytes are those cp -r of a mount gives, since
 * both come from ex_generate. One worker per core takes the next file in
 * tree order; progress goes to the terminal as a bar, or as plain lines
 * (every 10 %) when stderr is not a terminal.
 *
 *   $ cellucidfs export pbmc.h5ad out/
 *   [##########################....] 88%  690/786 files  1.2 MB  ETA 0 s
 *   cellucidfs: exported 786 files (1.4 MB) to out/ in 0.6 s
 */
#include "cmd_export.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

typedef struct {
	ex_export *e;
	const char *outdir;
	atomic_uint next, done, failed;
	atomic_uint_fast64_t bytes;
	size_t n_files;
	double started;
	pthread_mutex_t report_lock;
	int last_decile, tty;
} job;

static double seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int write_file(const char *path, const void *data, size_t len, time_t mtime)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return errno;
	const char *p = data;
	int err = 0;
	while (len && !err) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno != EINTR)
			err = errno;
		else if (w > 0)
			p += w, len -= (size_t)w;
	}
	struct timespec times[2] = {{mtime, 0}, {mtime, 0}};
	if (!err && futimens(fd, times))
		err = errno;
	if (close(fd) && !err)
		err = errno;
	return err;
}

static void report(job *j, int final)
{
	unsigned done = atomic_load(&j->done) + atomic_load(&j->failed);
	double spent = seconds() - j->started, frac = j->n_files ? (double)done / j->n_files : 1;
	double mb = (double)atomic_load(&j->bytes) / 1e6;
	pthread_mutex_lock(&j->report_lock);
	if (j->tty) {
		char bar[31];
		int fill = (int)(frac * 30);
		for (int k = 0; k < 30; k++)
			bar[k] = k < fill ? '#' : '.';
		bar[30] = 0;
		fprintf(stderr, "\r[%s] %3d%%  %u/%zu files  %.1f MB  ETA %.0f s ", bar,
			(int)(frac * 100), done, j->n_files, mb,
			frac > 0 ? spent / frac * (1 - frac) : 0.0);
		if (final)
			fputc('\n', stderr);
	} else if ((int)(frac * 10) > j->last_decile && !final) {
		j->last_decile = (int)(frac * 10);
		fprintf(stderr, "cellucidfs: export %d%%: %u/%zu files, %.1f MB, %.1f MB/s, ETA %.0f s\n",
			j->last_decile * 10, done, j->n_files, mb, spent > 0 ? mb / spent : 0.0,
			frac > 0 ? spent / frac * (1 - frac) : 0.0);
	}
	pthread_mutex_unlock(&j->report_lock);
}

static void export_node(job *j, uint32_t i)
{
	char rel[PATH_MAX], path[PATH_MAX * 2], err[512];
	void *data = NULL;
	size_t len = 0;
	ex_node_path(j->e, i, rel, sizeof rel);
	snprintf(path, sizeof path, "%s/%s", j->outdir, rel);
	ex_err r = ex_generate(j->e, i, &data, &len, err, sizeof err);
	int e = r == EX_OK ? write_file(path, data, len, ex_mtime(j->e)) : 0;
	free(data);
	if (r != EX_OK)
		log_error("%s", err);
	else if (e)
		log_error("cannot write %s: %s", path, strerror(e));
	if (r == EX_OK && !e) {
		atomic_fetch_add(&j->bytes, len);
		atomic_fetch_add(&j->done, 1);
	} else {
		atomic_fetch_add(&j->failed, 1);
	}
}

static void *worker(void *arg)
{
	job *j = arg;
	uint32_t i;
	double last = 0;
	while ((i = atomic_fetch_add(&j->next, 1)) < ex_node_count(j->e)) {
		if (ex_node_at(j->e, i)->kind == EX_DIR || !ex_node_served(j->e, i, 1))
			continue;
		export_node(j, i);
		/* The bar is redrawn at most five times a second; plain lines come
		 * once per tenth, so every file may check for the next one. */
		if (!j->tty || seconds() - last > 0.2) {
			last = seconds();
			report(j, 0);
		}
	}
	return NULL;
}

static int make_dirs(job *j)
{
	char rel[PATH_MAX], path[PATH_MAX * 2];
	if (mkdir(j->outdir, 0755) && errno != EEXIST) {
		fprintf(stderr, "cellucidfs: cannot create %s: %s\n", j->outdir, strerror(errno));
		return -1;
	}
	for (uint32_t i = 1; i < ex_node_count(j->e); i++) {
		if (ex_node_at(j->e, i)->kind != EX_DIR)
			continue;
		ex_node_path(j->e, i, rel, sizeof rel);
		snprintf(path, sizeof path, "%s/%s", j->outdir, rel);
		if (mkdir(path, 0755) && errno != EEXIST) {
			fprintf(stderr, "cellucidfs: cannot create %s: %s\n", path, strerror(errno));
			return -1;
		}
	}
	return 0;
}

int cmd_export(const char *source, const char *outdir, const ex_options *opt)
{
	char real[PATH_MAX], err[512];
	ex_export *e;
	if (!realpath(source, real)) {
		fprintf(stderr, "cellucidfs: cannot open %s: %s\n", source, strerror(errno));
		return 1;
	}
	if (ex_open(real, opt, &e, err, sizeof err) != EX_OK) {
		fprintf(stderr, "cellucidfs: cannot open %s: %s\n", source, err);
		return 1;
	}
	job j = {.e = e, .outdir = outdir, .started = seconds(), .tty = isatty(2)};
	pthread_mutex_init(&j.report_lock, NULL);
	for (uint32_t i = 0; i < ex_node_count(e); i++)
		j.n_files += ex_node_at(e, i)->kind != EX_DIR && ex_node_served(e, i, 1);
	int status = 1;
	if (!make_dirs(&j)) {
		long cores = sysconf(_SC_NPROCESSORS_ONLN);
		size_t n = cores > 0 ? (size_t)cores : 1;
		pthread_t threads[n];
		size_t started = 0;
		for (; started < n; started++)
			if (pthread_create(&threads[started], NULL, worker, &j))
				break;
		if (!started)
			worker(&j);
		for (size_t k = 0; k < started; k++)
			pthread_join(threads[k], NULL);
		report(&j, 1);
		unsigned failed = atomic_load(&j.failed);
		if (failed)
			fprintf(stderr, "cellucidfs: %u files could not be exported (see above)\n", failed);
		else
			fprintf(stderr, "cellucidfs: exported %zu files (%.1f MB) to %s in %.1f s\n",
				j.n_files, (double)atomic_load(&j.bytes) / 1e6, outdir,
				seconds() - j.started);
		status = failed ? 1 : 0;
	}
	pthread_mutex_destroy(&j.report_lock);
	ex_close(e);
	return status;
}
