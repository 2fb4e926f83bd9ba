/*
 * deflate-floor.c - how long libdeflate alone takes to make the .gz files of
 * a directory again, one thread per core: the floor under the time any
 * exporter needs to write them, whatever else it does (make bench, (c)).
 *
 * Every file is first decompressed into memory (not timed); then the threads
 * take the files one by one and compress each at LEVEL with a compressor of
 * their own, as the daemon does. Each result is compared with the file: equal
 * bytes show that the floor was measured on the very work the daemon did.
 *
 *   $ build/deflate-floor 6 /dev/shm/copy/var
 *   7.214 20000 2000000000 0
 *   (seconds, files, bytes before compression, files whose bytes differ)
 */
#include <dirent.h>
#include <libdeflate.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gz.h"

typedef struct {
	unsigned char *gz, *raw;
	size_t gz_len, raw_len;
} file;

static file *files;
static size_t n_files;
static int level;
static atomic_size_t next, differ;

static double seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static unsigned char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	long n = -1;
	if (!f)
		return NULL;
	if (!fseek(f, 0, SEEK_END))
		n = ftell(f);
	unsigned char *buf = n >= 0 && !fseek(f, 0, SEEK_SET) ? malloc((size_t)n + 1) : NULL;
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	*len = buf ? (size_t)n : 0;
	return buf;
}

static int load(const char *dir)
{
	DIR *dp = opendir(dir);
	struct dirent *e;
	size_t cap = 0;
	if (!dp) {
		fprintf(stderr, "deflate-floor: cannot read %s\n", dir);
		return -1;
	}
	while ((e = readdir(dp))) {
		size_t n = strlen(e->d_name);
		char path[4096];
		if (n < 3 || strcmp(e->d_name + n - 3, ".gz"))
			continue;
		if (n_files == cap && !(files = realloc(files, (cap = cap ? 2 * cap : 1024) * sizeof *files)))
			return -1;
		file *f = &files[n_files];
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		void *raw;
		if (!(f->gz = slurp(path, &f->gz_len)) ||
		    gz_decompress(f->gz, f->gz_len, &raw, &f->raw_len)) {
			fprintf(stderr, "deflate-floor: %s is not a gzip file\n", path);
			return -1;
		}
		f->raw = raw;
		n_files++;
	}
	closedir(dp);
	return 0;
}

static void *compress_files(void *arg)
{
	(void)arg;
	struct libdeflate_compressor *c = libdeflate_alloc_compressor(level);
	size_t cap = 0, i;
	unsigned char *out = NULL;
	while (c && (i = atomic_fetch_add(&next, 1)) < n_files) {
		size_t bound = libdeflate_gzip_compress_bound(c, files[i].raw_len);
		if (bound > cap && !(out = realloc(out, cap = bound)))
			break;
		size_t n = libdeflate_gzip_compress(c, files[i].raw, files[i].raw_len, out, cap);
		if (n != files[i].gz_len || memcmp(out, files[i].gz, n))
			atomic_fetch_add(&differ, 1);
	}
	free(out);
	libdeflate_free_compressor(c);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 3 || (level = atoi(argv[1])) < 1 || level > 12) {
		fprintf(stderr, "usage: deflate-floor LEVEL DIR\n");
		return 2;
	}
	if (load(argv[2]))
		return 1;
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	size_t n = cores > 0 ? (size_t)cores : 1, raw = 0;
	pthread_t threads[n];
	double t0 = seconds();
	for (size_t k = 0; k < n; k++)
		if (pthread_create(&threads[k], NULL, compress_files, NULL))
			return 1;
	for (size_t k = 0; k < n; k++)
		pthread_join(threads[k], NULL);
	double spent = seconds() - t0;
	for (size_t k = 0; k < n_files; k++)
		raw += files[k].raw_len;
	printf("%.3f %zu %zu %zu\n", spent, n_files, raw, atomic_load(&differ));
	return 0;
}
