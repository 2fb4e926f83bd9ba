/*
 * deflate-floor.c - how long compression alone takes to make the .gz files
 * of a directory again, one thread per core: the floor under the time any
 * exporter needs to write them, whatever else it does (make bench, (c)).
 *
 * Every file is first inflated into memory (not timed), by libdeflate and
 * by zlib, which must agree. Then three encoders make all the files again
 * at LEVEL, each with its threads taking the files one by one with a
 * compressor of their own: cellucidfs's own choice (gz_compress_codes, the
 * daemon's call, given the width the file name says: .u8.gz, .u16.gz),
 * libdeflate and zlib (the reference exporter's). One line each: seconds,
 * MB/s of input, files, bytes in, bytes out, and the files whose bytes
 * differ from the file: 0 for cellucidfs shows the floor was measured on the
 * very work the daemon did, and that its output is deterministic.
 *
 *   $ build/deflate-floor 6 /dev/shm/copy/var
 *   encoder     seconds    MB/s  files     bytes_in   bytes_out  differ
 *   cellucidfs    0.712  2808.9  20000   2000000000   95012345       0
 *   libdeflate    5.780   346.0  20000   2000000000   98765432   20000
 *   zlib         11.020   181.5  20000   2000000000  110987654   20000
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
#include <zlib.h>

#include "gz.h"

typedef struct {
	unsigned char *gz, *raw;
	size_t gz_len, raw_len;
	int width; /* of the codes, by the file name: 1, 2 or 0 */
} file;

typedef enum { ENC_CELLUCIDFS, ENC_LIBDEFLATE, ENC_ZLIB, N_ENC } encoder;
static const char *const enc_name[N_ENC] = {"cellucidfs", "libdeflate", "zlib"};

static file *files;
static size_t n_files;
static int level;
static encoder enc;
static atomic_size_t next, differ, out_bytes;
static atomic_int failed;

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

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);
	return n >= k && !strcmp(s + n - k, suffix);
}

/* zlib's inflate of f->gz equals f->raw (one member, nothing after it). */
static int zlib_agrees(const file *f)
{
	z_stream z = {0};
	unsigned char *out = malloc(f->raw_len + 1);
	if (!out || inflateInit2(&z, 16 + 15) != Z_OK) {
		free(out);
		return 0;
	}
	z.next_in = f->gz;
	z.avail_in = (uInt)f->gz_len;
	z.next_out = out;
	z.avail_out = (uInt)(f->raw_len + 1);
	int ok = inflate(&z, Z_FINISH) == Z_STREAM_END && z.avail_in == 0 &&
		 z.total_out == f->raw_len && !memcmp(out, f->raw, f->raw_len);
	inflateEnd(&z);
	free(out);
	return ok;
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
		char path[4096];
		if (!ends_with(e->d_name, ".gz"))
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
		f->width = ends_with(e->d_name, ".u8.gz") ? 1 : ends_with(e->d_name, ".u16.gz") ? 2 : 0;
		if (!zlib_agrees(f)) {
			fprintf(stderr, "deflate-floor: %s: zlib inflates it to other bytes\n", path);
			return -1;
		}
		n_files++;
	}
	closedir(dp);
	return 0;
}

static void tally(const file *f, const void *out, size_t n)
{
	atomic_fetch_add(&out_bytes, n);
	if (n != f->gz_len || memcmp(out, f->gz, n))
		atomic_fetch_add(&differ, 1);
}

static void *with_cellucidfs(void)
{
	size_t i;
	while ((i = atomic_fetch_add(&next, 1)) < n_files) {
		void *out;
		size_t n;
		if (gz_compress_codes(level, files[i].width, files[i].raw, files[i].raw_len, &out,
				      &n)) {
			atomic_store(&failed, 1);
			break;
		}
		tally(&files[i], out, n);
		free(out);
	}
	return NULL;
}

static void *with_libdeflate(void)
{
	struct libdeflate_compressor *c = libdeflate_alloc_compressor(level);
	size_t cap = 0, i;
	unsigned char *out = NULL;
	while (c && (i = atomic_fetch_add(&next, 1)) < n_files) {
		size_t bound = libdeflate_gzip_compress_bound(c, files[i].raw_len);
		if (bound > cap && !(out = realloc(out, cap = bound)))
			break;
		tally(&files[i], out, libdeflate_gzip_compress(c, files[i].raw, files[i].raw_len, out, cap));
	}
	if (!c || i < n_files)
		atomic_store(&failed, 1);
	free(out);
	libdeflate_free_compressor(c);
	return NULL;
}

/* zlib's gzip member (header mtime 0, OS 3: what gzip.compress writes
 * but for the OS byte; the size is the same). */
static void *with_zlib(void)
{
	z_stream z = {0};
	size_t cap = 0, i;
	unsigned char *out = NULL;
	if (deflateInit2(&z, level, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
		atomic_store(&failed, 1);
		return NULL;
	}
	while ((i = atomic_fetch_add(&next, 1)) < n_files) {
		size_t bound = deflateBound(&z, files[i].raw_len);
		if (bound > cap && !(out = realloc(out, cap = bound)))
			break;
		z.next_in = files[i].raw;
		z.avail_in = (uInt)files[i].raw_len;
		z.next_out = out;
		z.avail_out = (uInt)cap;
		if (deflate(&z, Z_FINISH) != Z_STREAM_END)
			break;
		tally(&files[i], out, z.total_out);
		deflateReset(&z);
	}
	if (i < n_files)
		atomic_store(&failed, 1);
	free(out);
	deflateEnd(&z);
	return NULL;
}

static void *compress_files(void *arg)
{
	(void)arg;
	return enc == ENC_CELLUCIDFS ? with_cellucidfs() :
	       enc == ENC_LIBDEFLATE ? with_libdeflate() : with_zlib();
}

int main(int argc, char **argv)
{
	if (argc != 3 || (level = atoi(argv[1])) < 1 || level > 9) {
		fprintf(stderr, "usage: deflate-floor LEVEL DIR   (LEVEL 1..9)\n");
		return 2;
	}
	if (load(argv[2]))
		return 1;
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	size_t n = cores > 0 ? (size_t)cores : 1, raw = 0;
	pthread_t threads[n];
	for (size_t k = 0; k < n_files; k++)
		raw += files[k].raw_len;
	printf("%-10s %8s %8s %6s %12s %12s %7s\n", "encoder", "seconds", "MB/s", "files",
	       "bytes_in", "bytes_out", "differ");
	for (enc = 0; enc < N_ENC; enc++) {
		atomic_store(&next, 0);
		atomic_store(&differ, 0);
		atomic_store(&out_bytes, 0);
		double t0 = seconds();
		for (size_t k = 0; k < n; k++)
			if (pthread_create(&threads[k], NULL, compress_files, NULL))
				return 1;
		for (size_t k = 0; k < n; k++)
			pthread_join(threads[k], NULL);
		double spent = seconds() - t0;
		if (atomic_load(&failed)) {
			fprintf(stderr, "deflate-floor: %s failed (out of memory?)\n", enc_name[enc]);
			return 1;
		}
		printf("%-10s %8.3f %8.1f %6zu %12zu %12zu %7zu\n", enc_name[enc], spent,
		       spent > 0 ? (double)raw / spent / 1e6 : 0.0, n_files, raw,
		       atomic_load(&out_bytes), atomic_load(&differ));
	}
	return 0;
}
