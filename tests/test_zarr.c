/*
 * test_zarr.c - tests of the Zarr reader (anndata/zarr*.c).
 *
 * tests/zarr_gen.py writes, into a temporary directory, pbmc68k_reduced as
 * zarr-python 2 stores it with every compressor, as a ZipStore, nested
 * ("/" separator), consolidated, and converted to v3 with each v3 codec
 * (tests/zarr_v3.py); the values of every dataset of the .h5ad read with
 * h5py; a store of what anndata does not write (big-endian, Delta, fixed
 * strings, fill values); and broken stores. Every array of every variant
 * must decode equal to h5py's values, whole, by chunks on two threads and
 * by an unaligned region; each broken store must give its one-line error.
 * Skipped, with a message, without ../shared/fixtures or python3-zarr.
 */
#include <ftw.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "zarr.h"

#define FIXTURE "../shared/fixtures/pbmc68k_reduced.h5ad"
#define PY "/usr/bin/python3"

static char dir[64];

/* A path under the temporary directory. */
#define PATHLEN 1200

struct ref {
	char path[1024];
	char kind[1024];
	unsigned ndim;
	uint64_t shape[ZR_MAXDIM];
	void *data;
	size_t len;
};

static void *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *buf = malloc(n + 1);
	if (buf && fread(buf, 1, n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	if (buf)
		buf[n] = '\0';
	*len = (size_t)n;
	return buf;
}

/* DIR/NAME/manifest and its N.bin files. */
static struct ref *load_refs(const char *name, size_t *n)
{
	char path[PATHLEN], line[1024];
	struct ref *refs = NULL;

	snprintf(path, sizeof path, "%s/%s/manifest", dir, name);
	FILE *f = fopen(path, "r");
	*n = 0;
	while (f && fgets(line, sizeof line, f)) {
		refs = realloc(refs, (*n + 1) * sizeof *refs);
		struct ref *r = &refs[*n];
		memset(r, 0, sizeof *r);
		char *shape = NULL;
		char *tab1 = strchr(line, '\t'), *tab2 = tab1 ? strchr(tab1 + 1, '\t') : NULL;
		if (!tab2)
			break;
		*tab1 = *tab2 = '\0';
		snprintf(r->path, sizeof r->path, "%s", line);
		snprintf(r->kind, sizeof r->kind, "%s", tab1 + 1);
		shape = tab2 + 1;
		for (char *tok = strtok(shape, ",\n"); tok; tok = strtok(NULL, ",\n"))
			r->shape[r->ndim++] = strtoull(tok, NULL, 10);
		snprintf(path, sizeof path, "%s/%s/%zu.bin", dir, name, *n);
		r->data = slurp(path, &r->len);
		(*n)++;
	}
	if (f)
		fclose(f);
	return refs;
}

static void free_refs(struct ref *r, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(r[i].data);
	free(r);
}

static size_t elems(unsigned nd, const uint64_t *count)
{
	size_t n = 1;
	for (unsigned i = 0; i < nd; i++)
		n *= count[i];
	return n;
}

/* Whether values (a region of a, count-shaped, starting at start) equal the
 * reference at the same positions. */
static int equal(const zr_array *a, const struct ref *r, const uint64_t *start,
		 const uint64_t *count, void *values)
{
	size_t n = elems(a->ndim, count);
	/* Strings: the reference's offsets, in C order of the whole array. */
	const char **strs = NULL;
	if (a->type == ZR_T_STR) {
		size_t total = elems(r->ndim, r->shape), k = 0;
		strs = malloc((total + 1) * sizeof *strs);
		for (const char *p = r->data; k < total && p < (char *)r->data + r->len; p += strlen(p) + 1)
			strs[k++] = p;
		if (k != total) {
			free(strs);
			return 0;
		}
	} else if (r->len != elems(r->ndim, r->shape) * a->size) {
		return 0;
	}
	int ok = 1;
	for (size_t k = 0; k < n && ok; k++) {
		/* k in the region -> offset in the whole array */
		size_t rem = k, off = 0, stride = 1;
		uint64_t idx[ZR_MAXDIM];
		for (unsigned i = a->ndim; i-- > 0;) {
			idx[i] = start[i] + rem % count[i];
			rem /= count[i];
		}
		for (unsigned i = a->ndim; i-- > 0;) {
			off += idx[i] * stride;
			stride *= a->shape[i];
		}
		if (a->type == ZR_T_STR)
			ok = !strcmp(((char **)values)[k], strs[off]);
		else
			ok = !memcmp((char *)values + k * a->size, (char *)r->data + off * a->size, a->size);
	}
	free(strs);
	return ok;
}

static void free_values(const zr_array *a, void *v, size_t n)
{
	if (a->type == ZR_T_STR)
		for (size_t i = 0; i < n; i++)
			free(((char **)v)[i]);
	free(v);
}

/* Read the whole array and compare; 1 when equal. */
static int read_equal(const zr_store *s, const zr_array *a, const struct ref *r,
		      const uint64_t *start, const uint64_t *count, char *why)
{
	size_t n = elems(a->ndim, count);
	void *v = calloc(n ? n : 1, a->size);
	char err[ZR_ERRLEN];
	if (zr_read(s, a, start, count, v, err) != ZR_OK) {
		snprintf(why, ZR_ERRLEN, "%s", err);
		free(v);
		return 0;
	}
	int ok = equal(a, r, start, count, v);
	if (!ok)
		snprintf(why, ZR_ERRLEN, "%.400s: values differ", r->path);
	free_values(a, v, n);
	return ok;
}

/* ---- chunk by chunk, on two threads ---- */

struct job {
	const zr_store *s;
	const zr_array *a;
	const struct ref *r;
	int parity, bad;
};

static void *by_chunks(void *p)
{
	struct job *j = p;
	const zr_array *a = j->a;
	uint64_t nchunks = 1, c[ZR_MAXDIM];
	char why[ZR_ERRLEN];

	for (unsigned i = 0; i < a->ndim; i++)
		nchunks *= (a->shape[i] + a->chunks[i] - 1) / a->chunks[i];
	for (uint64_t k = j->parity; k < nchunks; k += 2) {
		uint64_t rem = k, start[ZR_MAXDIM], count[ZR_MAXDIM];
		for (unsigned i = a->ndim; i-- > 0;) {
			uint64_t per = (a->shape[i] + a->chunks[i] - 1) / a->chunks[i];
			c[i] = rem % per;
			rem /= per;
			start[i] = c[i] * a->chunks[i];
			count[i] = a->shape[i] - start[i] < a->chunks[i] ? a->shape[i] - start[i] : a->chunks[i];
		}
		if (!read_equal(j->s, a, j->r, start, count, why))
			j->bad = 1;
	}
	return NULL;
}

static int chunks_equal(const zr_store *s, const zr_array *a, const struct ref *r)
{
	struct job jobs[2] = { { s, a, r, 0, 0 }, { s, a, r, 1, 0 } };
	pthread_t t;
	if (pthread_create(&t, NULL, by_chunks, &jobs[1]) != 0)
		return 0;
	by_chunks(&jobs[0]);
	pthread_join(t, NULL);
	return !jobs[0].bad && !jobs[1].bad;
}

/* Every reference array of store `name`: whole, by chunks, and a region
 * that starts and ends inside chunks. */
static void check_store(const char *name, const char *refdir)
{
	char path[PATHLEN], err[ZR_ERRLEN], why[ZR_ERRLEN] = "";
	size_t nref, good = 0, chunked = 0;
	struct ref *refs = load_refs(refdir, &nref);
	zr_store *s;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	if (zr_open(path, &s, err) != ZR_OK) {
		CHECK(0, "%s: opens (%s)", name, err);
		free_refs(refs, nref);
		return;
	}
	for (size_t i = 0; i < nref; i++) {
		const struct ref *r = &refs[i];
		const zr_array *a;
		zr_rc rc = zr_array_get(s, r->path, &a, err);
		if (!strcmp(r->kind, "refused")) {
			good += rc != ZR_OK;
			if (rc == ZR_OK)
				snprintf(why, sizeof why, "%s: read, but must be refused", r->path);
			continue;
		}
		if (rc != ZR_OK) {
			snprintf(why, sizeof why, "%s", err);
			continue;
		}
		int shape_ok = a->ndim == r->ndim && !memcmp(a->shape, r->shape, r->ndim * sizeof *r->shape);
		uint64_t zero[ZR_MAXDIM] = { 0 };
		if (!shape_ok)
			snprintf(why, sizeof why, "%s: shape differs", r->path);
		else if (read_equal(s, a, r, zero, a->shape, why))
			good++;
		chunked += shape_ok && chunks_equal(s, a, r);
	}
	CHECK(good == nref, "%s: all %zu arrays equal h5py's values (%s)", name, nref, why);
	size_t readable = 0;
	for (size_t i = 0; i < nref; i++)
		readable += strcmp(refs[i].kind, "refused") != 0;
	CHECK(chunked == readable, "%s: every array read chunk by chunk on two threads", name);

	/* X from (3, 5) to (650, 700): no chunk boundary on the edges. */
	const zr_array *x;
	uint64_t start[2] = { 3, 5 }, count[2] = { 647, 695 };
	for (size_t i = 0; i < nref; i++)
		if (!strcmp(refs[i].path, "X") && zr_array_get(s, "X", &x, err) == ZR_OK)
			CHECK(read_equal(s, x, &refs[i], start, count, why), "%s: a region of X inside chunks (%s)",
			      name, why);
	free_refs(refs, nref);
	zr_close(s);
}

static void check_hierarchy(const char *name)
{
	char path[PATHLEN], err[ZR_ERRLEN];
	zr_store *s;
	const char **names;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	if (zr_open(path, &s, err) != ZR_OK)
		return;  /* check_store said so */
	size_t n = zr_children(s, "", &names);
	char list[512] = "";
	for (size_t i = 0; i < n; i++)
		snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? "," : "", names[i]);
	free(names);
	CHECK(!strcmp(list, "X,layers,obs,obsm,obsp,raw,uns,var,varm,varp"), "%s: root members (%s)", name, list);
	n = zr_children(s, "obs/louvain", &names);
	CHECK(n == 2 && !strcmp(names[0], "categories") && !strcmp(names[1], "codes"),
	      "%s: obs/louvain has categories and codes", name);
	free(names);
	const cJSON *idx = cJSON_GetObjectItemCaseSensitive(zr_attrs(s, "obs"), "_index");
	CHECK(cJSON_IsString(idx) && !strcmp(idx->valuestring, "index"), "%s: obs attribute _index", name);
	const cJSON *enc = cJSON_GetObjectItemCaseSensitive(zr_attrs(s, "obs/louvain"), "encoding-type");
	CHECK(cJSON_IsString(enc) && !strcmp(enc->valuestring, "categorical"),
	      "%s: obs/louvain is a categorical", name);
	CHECK(zr_kind_at(s, "obsp/connectivities") == ZR_GROUP && zr_kind_at(s, "X") == ZR_ARRAY &&
	      zr_kind_at(s, "nothing") == ZR_NONE && zr_format(s) == (strncmp(name, "v3", 2) ? 2 : 3),
	      "%s: kinds and format", name);
	zr_close(s);
}

/* ---- broken stores ---- */

/* Open bad/NAME and read array a whole; the error must contain want. */
static void check_bad(const char *name, const char *array, const char *want)
{
	char path[PATHLEN], err[ZR_ERRLEN] = "";
	zr_store *s;
	const zr_array *a;
	zr_rc rc;

	snprintf(path, sizeof path, "%s/bad/%s", dir, name);
	if ((rc = zr_open(path, &s, err)) == ZR_OK) {
		if ((rc = zr_array_get(s, array, &a, err)) == ZR_OK) {
			uint64_t zero[ZR_MAXDIM] = { 0 };
			void *v = calloc(elems(a->ndim, a->shape), a->size);
			rc = v ? zr_read(s, a, zero, a->shape, v, err) : ZR_ENOMEM;
			if (rc == ZR_OK)
				free_values(a, v, elems(a->ndim, a->shape));
			else
				free(v);
		}
		zr_close(s);
	}
	CHECK(rc != ZR_OK && strstr(err, want) && !strchr(err, '\n'), "%s: \"%s\"", name, err);
}

static void test_bad(void)
{
	check_bad("badjson", "a", "a/.zarray: not valid JSON");
	check_bad("unknowncodec", "a", "a: unknown compressor 'foo'");
	check_bad("unknownfilter", "a", "a: unknown filter 'bar'");
	check_bad("missingchunk", "a", "a: chunk 3 is missing and the array has no fill_value");
	check_bad("symlink", "a", "a: a/0: a symbolic link, not followed");
	check_bad("hugeshape", "a", "a: a chunk of more than");
	check_bad("corrupt", "a", "a: chunk 1: blosc data is corrupt");
	check_bad("forder", "a", "a: order 'F'");
	check_bad("vlenlies", "a", "a: chunk 0: vlen item 0 runs past the chunk");
	check_bad("truncated.zarr.zip", "a", "not a zip file");

	char path[PATHLEN], err[ZR_ERRLEN];
	zr_store *s;
	snprintf(path, sizeof path, "%s/bad/missingchunk", dir);
	if (zr_open(path, &s, err) == ZR_OK) {
		const zr_array *b;
		int32_t v[100];
		uint64_t zero = 0, n = 100;
		CHECK(zr_array_get(s, "b", &b, err) == ZR_OK && zr_read(s, b, &zero, &n, v, err) == ZR_OK &&
		      v[29] == 29 && v[30] == 7 && v[39] == 7 && v[40] == 40,
		      "missingchunk: an absent chunk reads as the fill value");
		zr_close(s);
	}
	snprintf(path, sizeof path, "%s/bad/symlink", dir);
	if (zr_open(path, &s, err) == ZR_OK) {
		CHECK(zr_kind_at(s, "linked") == ZR_NONE && zr_kind_at(s, "linked/x") == ZR_NONE,
		      "symlink: a linked group out of the store is no member");
		zr_close(s);
	}
}

/* ---- Python's bare NaN and Infinity in metadata ---- */

static void put(const char *name, const char *text)
{
	char path[PATHLEN];
	snprintf(path, sizeof path, "%s/nan/%s", dir, name);
	FILE *f = fopen(path, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

/* A store as zarr-python writes a float attribute and a NaN fill value
 * (json.dumps, allow_nan): it opens, the tokens are numbers, the same
 * words inside strings stay strings, and an absent chunk reads as NaN. */
static void test_nan(void)
{
	char path[PATHLEN], err[ZR_ERRLEN] = "";
	zr_store *s;
	const zr_array *a;

	snprintf(path, sizeof path, "%s/nan", dir);
	mkdir(path, 0755);
	snprintf(path, sizeof path, "%s/nan/a", dir);
	mkdir(path, 0755);
	put(".zgroup", "{\"zarr_format\": 2}");
	put(".zattrs", "{\"t\": NaN, \"list\": [Infinity,-Infinity, 1.5],"
		       "\"words\": \"NaN \\\" Infinity\", \"NaN\": -Infinity}");
	put("a/.zarray", "{\"chunks\": [4], \"compressor\": null, \"dtype\": \"<f8\","
			 "\"fill_value\": NaN, \"filters\": null, \"order\": \"C\","
			 "\"shape\": [8], \"zarr_format\": 2}");
	put("a/.zattrs", "{\"x\":Infinity}");
	snprintf(path, sizeof path, "%s/nan", dir);
	zr_rc rc = zr_open(path, &s, err);
	CHECK(rc == ZR_OK, "bare NaN/Infinity: the store opens (%s)", err);
	if (rc != ZR_OK)
		return;
	const cJSON *r = zr_attrs(s, ""), *l = cJSON_GetObjectItem(r, "list");
	const cJSON *t = cJSON_GetObjectItem(r, "t"), *w = cJSON_GetObjectItem(r, "words");
	const cJSON *k = cJSON_GetObjectItem(r, "NaN");
	CHECK(cJSON_IsNumber(t) && isnan(t->valuedouble), "bare NaN: a NaN number");
	CHECK(cJSON_GetArraySize(l) == 3 && cJSON_GetArrayItem(l, 0)->valuedouble == INFINITY &&
	      cJSON_GetArrayItem(l, 1)->valuedouble == -INFINITY &&
	      cJSON_GetArrayItem(l, 2)->valuedouble == 1.5, "bare Infinity, -Infinity in a list");
	CHECK(cJSON_IsString(w) && !strcmp(w->valuestring, "NaN \" Infinity"),
	      "NaN and Infinity inside a string stay text");
	CHECK(cJSON_IsNumber(k) && k->valuedouble == -INFINITY, "a key \"NaN\" is a key");
	const cJSON *x = cJSON_GetObjectItem(zr_attrs(s, "a"), "x");
	CHECK(cJSON_IsNumber(x) && x->valuedouble == INFINITY, "an array's bare Infinity");
	double v[8];
	uint64_t zero = 0, n = 8;
	rc = zr_array_get(s, "a", &a, err);
	if (rc == ZR_OK)
		rc = zr_read(s, a, &zero, &n, v, err);
	CHECK(rc == ZR_OK && isnan(v[0]) && isnan(v[7]), "fill_value NaN (bare): absent chunks read NaN (%s)",
	      err);
	zr_close(s);
	put("a/.zattrs", "{\"x\": NaNa}");
	snprintf(path, sizeof path, "%s/nan", dir);
	rc = zr_open(path, &s, err);
	CHECK(rc != ZR_OK && strstr(err, "a/.zattrs: not valid JSON"), "NaNa is no token: \"%s\"", err);
	if (rc == ZR_OK)
		zr_close(s);
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st; (void)flag; (void)ftw;
	return remove(p);
}

int main(void)
{
	char cmd[512];

	if (access(FIXTURE, R_OK) != 0) {
		SKIP("zarr: %s is absent (a clone without shared/)", FIXTURE);
		return 0;
	}
	if (system(PY " -c 'import zarr, anndata, h5py' 2>/dev/null") != 0) {
		SKIP("zarr: %s lacks zarr/anndata/h5py (apt-get install python3-zarr python3-anndata)", PY);
		return 0;
	}
	strcpy(dir, "/tmp/test_zarr.XXXXXX");
	if (!mkdtemp(dir)) {
		CHECK(0, "mkdtemp");
		return CHECK_DONE();
	}
	snprintf(cmd, sizeof cmd, PY " tests/zarr_gen.py %s %s --refs --bad", FIXTURE, dir);
	if (system(cmd) == 0) {
		char path[PATHLEN], line[256];
		snprintf(path, sizeof path, "%s/variants", dir);
		FILE *f = fopen(path, "r");
		while (f && fgets(line, sizeof line, f)) {
			line[strcspn(line, "\n")] = '\0';
			check_store(line, "ref");
			check_hierarchy(line);
		}
		if (f)
			fclose(f);
		check_store("extras.zarr", "ref-extras");
		test_bad();
		test_nan();
	} else {
		CHECK(0, "tests/zarr_gen.py wrote the stores");
	}
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	CHECK(access(dir, F_OK) != 0, "temporary files removed");
	return CHECK_DONE();
}
