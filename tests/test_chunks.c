/*
 * test_chunks.c - chunks read raw and decoded by our own code
 * (anndata/cn_h5_chunk.c) give exactly the bytes HDF5's H5Dread gives.
 *
 * Every chunked numeric dataset of every fixture in ../shared/fixtures,
 * and files written here with each filter pipeline (deflate,
 * shuffle+deflate, LZF, shuffle+LZF, fletcher32 before and after deflate,
 * none), odd chunk shapes with partial edge chunks, unallocated chunks
 * (the fill value), LZF chunks the writer stored raw (the filter mask),
 * 1-d and 2-d, several element types and byte orders. A chunk is compared
 * byte for byte in its stored type; the test also asserts which path read
 * it (our decode for allocated chunks of pipelines with deflate; HDF5's
 * otherwise), and
 * that damaged chunks fail with a reason instead of wrong bytes.
 */
#include <hdf5.h>
#include <lzf.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cn_impl.h"
#include "check.h"
#include "cn_test.h"

#define FIXTURES "../shared/fixtures/"
#define LZF_ID 32000

/* A test-only LZF filter that also compresses (the library's decodes
 * only); optional, as h5py's: a chunk that does not shrink stays raw. */
static size_t lzf_both(unsigned flags, size_t ncd, const unsigned cd[], size_t nbytes,
		       size_t *buf_size, void **buf)
{
	size_t cap = flags & H5Z_FLAG_REVERSE ? 1 << 24 : nbytes;
	void *out = H5allocate_memory(cap, 0);
	unsigned got;

	(void)ncd;
	(void)cd;
	if (!out)
		return 0;
	got = flags & H5Z_FLAG_REVERSE ? lzf_decompress(*buf, (unsigned)nbytes, out, (unsigned)cap)
				       : lzf_compress(*buf, (unsigned)nbytes, out, (unsigned)cap - 1);
	if (!got) {
		H5free_memory(out);
		return 0;
	}
	H5free_memory(*buf);
	*buf = out;
	*buf_size = cap;
	return got;
}

static void register_lzf(void)
{
	static const H5Z_class2_t lzf = { H5Z_CLASS_T_VERS, LZF_ID, 1, 1, "lzf (test)",
					  NULL, NULL, lzf_both };

	H5Zregister(&lzf);
}

/* The file read-only as cn opens it (unlocked): HDF5 refuses a second
 * open with other access properties. */
static hid_t open_unlocked(const char *path)
{
	hid_t fapl = H5Pcreate(H5P_FILE_ACCESS), f;

	H5Pset_file_locking(fapl, 0, 1);
	f = H5Fopen(path, H5F_ACC_RDONLY, fapl);
	H5Pclose(fapl);
	return f;
}

/* Chunk k of a as stored (its type, byte order), by the path cn took;
 * *ours says whether it was our decode. NULL when it failed. */
static void *chunk_bytes(cn_array *a, uint64_t k, int *ours)
{
	cn_chunk *c;
	void *plain = NULL;

	if (cn_chunk_fetch(a, k, &c) != AD_OK)
		return NULL;
	*ours = c->decode != NULL;
	plain = malloc(c->n * c->type.size + 1);
	if (plain && c->decode && c->decode(c, plain) != AD_OK) {
		printf("# %s: %s\n", cn_array_path(a), c->err);
		free(plain);
		plain = NULL;
	} else if (plain && !c->decode) {
		memcpy(plain, c->data, c->n * c->type.size);
	}
	cn_chunk_free(c);
	return plain;
}

/* Every chunk of dataset path equals H5Dread of its box in the file type.
 * Returns the number of chunks our decode read, or -1 on a difference. */
static long compare_chunks(cn_store *s, hid_t file, const char *path)
{
	cn_array *a;
	hid_t d = H5Dopen2(file, path, H5P_DEFAULT), ft = H5Dget_type(d), fs = H5Dget_space(d);
	long ours_total = 0;

	if (cn_array_open(s, path, &a) != AD_OK) {
		ours_total = -1;
		goto out;
	}
	for (uint64_t k = 0; ours_total >= 0 && k < cn_chunk_count(a); k++) {
		uint64_t st[CN_MAX_RANK], cnt[CN_MAX_RANK];
		hsize_t hst[CN_MAX_RANK], hcnt[CN_MAX_RANK], n = 1;
		int rank = cn_array_info(a)->rank, ours = 0;
		void *got = chunk_bytes(a, k, &ours), *want;
		hid_t ms;

		cn_chunk_box(a, k, st, cnt);
		for (int i = 0; i < rank; i++) {
			hst[i] = st[i];
			n *= hcnt[i] = cnt[i];
		}
		want = malloc(n * H5Tget_size(ft) + 1);
		ms = H5Screate_simple(1, &n, NULL);
		H5Sselect_hyperslab(fs, H5S_SELECT_SET, hst, NULL, hcnt, NULL);
		if (!got || H5Dread(d, ft, ms, fs, H5P_DEFAULT, want) < 0 ||
		    memcmp(got, want, n * H5Tget_size(ft))) {
			printf("# %s: chunk %llu differs\n", path, (unsigned long long)k);
			ours_total = -1;
		} else {
			ours_total += ours;
		}
		H5Sclose(ms);
		free(got);
		free(want);
	}
	cn_array_close(a);
out:
	H5Sclose(fs);
	H5Tclose(ft);
	H5Dclose(d);
	return ours_total;
}

/* ---- the fixtures ---- */

struct walk {
	cn_store *s;
	hid_t file;
	const char *name;
	int datasets, bad;
	long ours;
};

static herr_t visit(hid_t obj, const char *name, const H5O_info_t *info, void *arg)
{
	struct walk *w = arg;
	hid_t d, dcpl, t;
	int chunked, numeric;
	long r;

	(void)obj;
	if (info->type != H5O_TYPE_DATASET)
		return 0;
	d = H5Dopen2(w->file, name, H5P_DEFAULT);
	dcpl = H5Dget_create_plist(d);
	t = H5Dget_type(d);
	chunked = H5Pget_layout(dcpl) == H5D_CHUNKED;
	numeric = H5Tget_class(t) == H5T_INTEGER || H5Tget_class(t) == H5T_FLOAT ||
		  H5Tget_class(t) == H5T_ENUM;
	H5Tclose(t);
	H5Pclose(dcpl);
	H5Dclose(d);
	if (!chunked || !numeric)
		return 0;
	r = compare_chunks(w->s, w->file, name);
	w->datasets++;
	if (r < 0) {
		printf("# %s: %s differs\n", w->name, name);
		w->bad++;
	} else {
		w->ours += r;
	}
	return 0;
}

static void test_fixtures(void)
{
	static const char *files[] = { "pbmc68k_reduced.h5ad", "pbmc68k_reduced_legacy.h5ad",
				       "anndata_archive_v0.7.0.h5ad", "anndata_archive_v0.7.8.h5ad",
				       "anndata_archive_v0.11.4.h5ad" };

	if (access(FIXTURES "pbmc68k_reduced.h5ad", R_OK)) {
		SKIP("the fixtures: ../shared/fixtures is absent");
		return;
	}
	for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
		char p[256];
		struct walk w = { .name = files[i] };

		snprintf(p, sizeof p, FIXTURES "%s", files[i]);
		w.s = open_store(p);
		w.file = open_unlocked(p);
		if (w.s && w.file >= 0)
			H5Ovisit(w.file, H5_INDEX_NAME, H5_ITER_INC, visit, &w);
		/* (the 0.11.4 archive stores everything contiguous) */
		CHECK(w.s && w.file >= 0 && !w.bad,
		      "%s: all chunks of %d chunked datasets equal H5Dread's (%ld by our decode)",
		      files[i], w.datasets, w.ours);
		if (w.file >= 0)
			H5Fclose(w.file);
		if (w.s)
			cn_close(w.s);
	}
}

/* ---- generated files ---- */

enum { F_SHUFFLE = 1, F_DEFLATE = 2, F_LZF = 4, F_FLETCHER_FIRST = 8, F_FLETCHER_LAST = 16 };

static const struct pipe {
	const char *name;
	int f;
} pipes[] = {
	{ "none", 0 },
	{ "deflate", F_DEFLATE },
	{ "shuffle+deflate", F_SHUFFLE | F_DEFLATE },
	{ "lzf", F_LZF },
	{ "shuffle+lzf", F_SHUFFLE | F_LZF },
	{ "fletcher32+deflate", F_FLETCHER_FIRST | F_DEFLATE },
	{ "deflate+fletcher32", F_DEFLATE | F_FLETCHER_LAST },
	{ "shuffle+deflate+fletcher32", F_SHUFFLE | F_DEFLATE | F_FLETCHER_LAST },
	{ "fletcher32", F_FLETCHER_LAST },
};

static const struct shape {
	int rank;
	hsize_t dims[2], chunk[2];
} shapes[] = {
	{ 1, { 1000 }, { 37 } },       /* a partial last chunk */
	{ 1, { 64 }, { 64 } },         /* one whole chunk */
	{ 2, { 50, 33 }, { 7, 5 } },   /* partial in both dimensions */
	{ 2, { 9, 400 }, { 16, 3 } },  /* a chunk taller than the shape (extendible) */
};

/* Values that compress (small, repeated) in the first half and that do
 * not (pseudo-random bytes) in the second, so that an optional LZF leaves
 * some chunks raw. */
static void fill(unsigned char *buf, size_t n, size_t size, unsigned seed)
{
	for (size_t i = 0; i < n; i++) {
		for (size_t b = 0; b < size; b++) {
			seed = seed * 1103515245u + 12345u;
			buf[i * size + b] = i < n / 2 ? (unsigned char)(b == 0 ? i % 7 : 0)
						      : (unsigned char)(seed >> 16);
		}
	}
}

/* Dataset name: shape sh of file type ft, filters p; with sparse set, only
 * the first and the last third of the chunks written (the rest keep the
 * fill value 42). */
static void write_case(hid_t file, const char *name, const struct shape *sh, hid_t ft, int f,
		       int sparse)
{
	hsize_t max[2] = { H5S_UNLIMITED, H5S_UNLIMITED };
	int taller = sh->chunk[0] > sh->dims[0];
	hid_t space = H5Screate_simple(sh->rank, sh->dims, taller ? max : NULL);
	hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE), d;
	size_t n = sh->dims[0] * (sh->rank > 1 ? sh->dims[1] : 1), size = H5Tget_size(ft);
	unsigned char *buf = malloc(n * size), fillv[8] = { 0 };

	H5Pset_chunk(dcpl, sh->rank, sh->chunk);
	if (f & F_FLETCHER_FIRST)
		H5Pset_fletcher32(dcpl);
	if (f & F_SHUFFLE)
		H5Pset_shuffle(dcpl);
	if (f & F_DEFLATE)
		H5Pset_deflate(dcpl, 4);
	if (f & F_LZF)
		H5Pset_filter(dcpl, LZF_ID, H5Z_FLAG_OPTIONAL, 0, NULL);
	if (f & F_FLETCHER_LAST)
		H5Pset_fletcher32(dcpl);
	fillv[0] = 42;
	H5Pset_fill_value(dcpl, H5T_NATIVE_UCHAR, fillv);
	d = H5Dcreate2(file, name, ft, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
	fill(buf, n, size, (unsigned)n);
	if (sparse) {
		/* rows (1-d: values) [0, dims/3) and [2 dims/3, dims) */
		hsize_t st[2] = { 0, 0 }, cnt[2] = { sh->dims[0] / 3, sh->rank > 1 ? sh->dims[1] : 1 };

		H5Sselect_hyperslab(space, H5S_SELECT_SET, st, NULL, cnt, NULL);
		st[0] = 2 * sh->dims[0] / 3;
		cnt[0] = sh->dims[0] - st[0];
		H5Sselect_hyperslab(space, H5S_SELECT_OR, st, NULL, cnt, NULL);
	}
	H5Dwrite(d, ft, space, space, H5P_DEFAULT, buf);
	H5Dclose(d);
	H5Pclose(dcpl);
	H5Sclose(space);
	free(buf);
}

static void test_generated(const char *path)
{
	hid_t types[] = { H5T_IEEE_F32LE, H5T_STD_I32LE, H5T_STD_I64LE, H5T_STD_U16BE,
			  H5T_STD_I8LE, H5T_IEEE_F64BE };
	hid_t file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
	cn_store *s;
	char name[64];

	for (size_t p = 0; p < sizeof pipes / sizeof *pipes; p++)
		for (size_t h = 0; h < sizeof shapes / sizeof *shapes; h++)
			for (size_t t = 0; t < sizeof types / sizeof *types; t++)
				for (int sparse = 0; sparse < 2; sparse++) {
					snprintf(name, sizeof name, "p%zu_s%zu_t%zu_%d", p, h, t, sparse);
					write_case(file, name, &shapes[h], types[t], pipes[p].f, sparse);
				}
	H5Fclose(file);
	s = open_store(path);
	file = open_unlocked(path);
	for (size_t p = 0; s && p < sizeof pipes / sizeof *pipes; p++) {
		long ours = 0, chunks = 0;
		int bad = 0;

		for (size_t h = 0; h < sizeof shapes / sizeof *shapes; h++)
			for (size_t t = 0; t < sizeof types / sizeof *types; t++)
				for (int sparse = 0; sparse < 2; sparse++) {
					cn_array *a = NULL;
					long r;

					snprintf(name, sizeof name, "p%zu_s%zu_t%zu_%d", p, h, t, sparse);
					r = compare_chunks(s, file, name);
					if (cn_array_open(s, name, &a) == AD_OK) {
						chunks += (long)cn_chunk_count(a);
						cn_array_close(a);
					}
					if (r < 0)
						bad++;
					else
						ours += r;
				}
		/* Written chunks: 2/3 of them; unallocated ones, and pipelines
		 * without deflate, go to HDF5. */
		CHECK(!bad && (pipes[p].f & F_DEFLATE ? ours > chunks / 2 && ours < chunks : ours == 0),
		      "%s: %ld chunks equal H5Dread's, %ld by our decode", pipes[p].name, chunks,
		      ours);
	}
	H5Fclose(file);
	if (s)
		cn_close(s);
}

/* The first chunk of dataset name, rewritten raw with its middle byte
 * flipped (truncate: cut to half its size), must fail to decode with
 * reason in its error; reason NULL: a pipeline left to HDF5, whose read
 * must fail. */
static void test_damaged(const char *path, const char *name, int truncate, const char *reason)
{
	hid_t file = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT), d = H5Dopen2(file, name, H5P_DEFAULT);
	hsize_t off[2] = { 0, 0 }, size = 0;
	uint32_t mask = 0;
	unsigned char *raw;
	cn_store *s;
	cn_array *a = NULL;
	cn_chunk *c = NULL;
	double out[64];

	H5Dget_chunk_storage_size(d, off, &size);
	raw = malloc(size);
	H5Dread_chunk(d, H5P_DEFAULT, off, &mask, raw);
	raw[size / 2] ^= 0x55;
	H5Dwrite_chunk(d, H5P_DEFAULT, mask, off, truncate ? size / 2 : size, raw);
	free(raw);
	H5Dclose(d);
	H5Fclose(file);
	s = open_store(path);
	if (!reason)
		CHECK(s && cn_array_open(s, name, &a) == AD_OK && cn_chunk_fetch(a, 0, &c) != AD_OK &&
		      !c, "%s damaged: HDF5's read fails", name);
	else
		CHECK(s && cn_array_open(s, name, &a) == AD_OK && cn_chunk_fetch(a, 0, &c) == AD_OK &&
		      c->decode && cn_chunk_decode(c, CN_F64, out) == AD_EIO &&
		      strstr(cn_chunk_error(c), reason) && strstr(cn_chunk_error(c), name),
		      "%s damaged: %s", name, c ? cn_chunk_error(c) : "not fetched");
	cn_chunk_free(c);
	if (a)
		cn_array_close(a);
	if (s)
		cn_close(s);
}

/* Decode in threads while the fetches go on: what the scans do. */
struct job {
	cn_chunk *c;
	float out[64];
	ad_err e;
};

static void *decode_job(void *arg)
{
	struct job *j = arg;

	j->e = cn_chunk_decode(j->c, CN_F32, j->out);
	return NULL;
}

static void test_threads(const char *path)
{
	cn_store *s = open_store(path);
	cn_array *a = NULL;
	struct job jobs[28];
	pthread_t th[28];
	int ok = s && cn_array_open(s, "p2_s0_t0_0", &a) == AD_OK && cn_chunk_count(a) == 28;

	for (int k = 0; ok && k < 28; k++) {
		ok = cn_chunk_fetch(a, (uint64_t)k, &jobs[k].c) == AD_OK &&
		     pthread_create(&th[k], NULL, decode_job, &jobs[k]) == 0;
	}
	for (int k = 0; ok && k < 28; k++) {
		float one[64];

		pthread_join(th[k], NULL);
		ok = jobs[k].e == AD_OK && cn_read_chunk(a, (uint64_t)k, CN_F32, one) == AD_OK &&
		     !memcmp(one, jobs[k].out, cn_chunk_len(jobs[k].c) * sizeof(float));
		cn_chunk_free(jobs[k].c);
	}
	CHECK(ok, "shuffle+deflate chunks decoded in 28 threads while the next are fetched");
	if (a)
		cn_array_close(a);
	if (s)
		cn_close(s);
}

/* The caller's lock as cn_set_lock sees it: held, and how often let go. */
struct fake_lock {
	int held, releases, misuse;
};

static void fake_release(void *arg)
{
	struct fake_lock *l = arg;

	l->misuse += !l->held;
	l->held = 0;
	l->releases++;
}

static void fake_retake(void *arg)
{
	struct fake_lock *l = arg;

	l->misuse += l->held;
	l->held = 1;
}

/* cn_read_range over ranges that start and end inside chunks, span
 * unallocated chunks, or lie inside one chunk: cn_read's values; the
 * caller's lock let go while our decode runs (the last dataset has no
 * filters: HDF5 reads it, under the lock). */
static void test_ranges(const char *path)
{
	static const char *names[] = { "p2_s0_t1_1", "p5_s0_t0_1", "p7_s0_t5_0", "p0_s0_t2_0" };
	static const uint64_t ranges[][2] = { { 0, 1000 }, { 5, 990 }, { 36, 2 }, { 300, 400 },
					      { 999, 1 }, { 40, 30 } };
	cn_store *s = open_store(path);
	struct fake_lock l = { 1, 0, 0 };

	if (s)
		cn_set_lock(s, fake_release, fake_retake, &l);
	for (size_t i = 0; s && i < sizeof names / sizeof *names; i++) {
		cn_array *a = NULL;
		int ok = cn_array_open(s, names[i], &a) == AD_OK, before = l.releases;

		for (size_t r = 0; ok && r < sizeof ranges / sizeof *ranges; r++) {
			double got[1000], want[1000];
			uint64_t st = ranges[r][0], n = ranges[r][1];

			ok = cn_read_range(a, CN_F64, st, n, got) == AD_OK &&
			     cn_read(a, NULL, CN_F64, st, n, want) == AD_OK &&
			     !memcmp(got, want, n * sizeof *got);
		}
		CHECK(ok && l.held && !l.misuse &&
		      (i == 3 ? l.releases == before : l.releases == before + 6),
		      "%s: ranges read chunk by chunk in threads equal cn_read's (lock let go %d times)",
		      names[i], l.releases - before);
		if (a)
			cn_array_close(a);
	}
	if (s)
		cn_close(s);
}

/* cn_read_box_range over boxes of 2-d arrays: whole rows of chunks, boxes
 * cut inside chunks in both dimensions, one value, the whole array, a
 * column of whole chunks (decoded straight into place). */
static void test_boxes(const char *path)
{
	static const char *names[] = { "p2_s2_t0_1", "p3_s2_t4_0", "p5_s3_t3_1", "p0_s2_t1_0" };
	static const uint64_t boxes[][4] = { { 0, 0, 50, 33 }, { 7, 0, 14, 33 }, { 3, 4, 20, 11 },
					     { 49, 32, 1, 1 }, { 0, 0, 9, 400 }, { 2, 100, 5, 7 },
					     { 0, 30, 14, 3 } };
	cn_store *s = open_store(path);

	for (size_t i = 0; s && i < sizeof names / sizeof *names; i++) {
		cn_array *a = NULL;
		int ok = cn_array_open(s, names[i], &a) == AD_OK;

		for (size_t b = 0; ok && b < sizeof boxes / sizeof *boxes; b++) {
			static double got[50 * 400], want[50 * 400];
			const cn_info *in = cn_array_info(a);
			const uint64_t *st = boxes[b], *cnt = boxes[b] + 2;

			if (st[0] + cnt[0] > in->shape[0] || st[1] + cnt[1] > in->shape[1])
				continue;
			ok = cn_read_box_range(a, st, cnt, CN_F64, got) == AD_OK &&
			     cn_read_block(a, st, cnt, CN_F64, want) == AD_OK &&
			     !memcmp(got, want, cnt[0] * cnt[1] * sizeof *got);
		}
		CHECK(ok, "%s: boxes read chunk by chunk in threads equal cn_read_block's", names[i]);
		if (a)
			cn_array_close(a);
	}
	if (s)
		cn_close(s);
}

int main(void)
{
	char dir[] = "/tmp/test_chunks.XXXXXX", path[64];

	cn_thread_init();
	H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
	register_lzf();
	test_fixtures();
	if (!mkdtemp(dir)) {
		CHECK(0, "mkdtemp");
		return CHECK_DONE();
	}
	snprintf(path, sizeof path, "%s/filters.h5", dir);
	test_generated(path);
	test_threads(path);
	test_ranges(path);
	test_boxes(path);
	test_damaged(path, "p6_s1_t2_0", 0, "fletcher32 checksum mismatch");
	test_damaged(path, "p1_s1_t2_0", 0, "deflate stream does not inflate");
	test_damaged(path, "p3_s1_t0_0", 1, NULL);
	CHECK(H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL) == 0, "every HDF5 object closed");
	unlink(path);
	CHECK(rmdir(dir) == 0, "temporary files removed");
	return CHECK_DONE();
}
