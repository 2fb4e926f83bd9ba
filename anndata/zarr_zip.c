/*
 * zarr_zip.c - a ZipStore (.zarr.zip): the keys are the entry names of one
 * zip archive, read from its central directory.
 *
 * Only what zarr-python's ZipStore writes is needed: one disk, entries
 * stored or deflated (libdeflate), zip64 sizes and offsets. The central
 * directory is read once at open and sorted by name; a name that occurs
 * twice means its last entry, as Python's zipfile reads it. Every size and
 * offset is checked against the archive before it is used, and a whole
 * entry read is checked against its CRC-32.
 *
 *   "obs/.zattrs" -> entry 17: deflated, 112 -> 340 bytes at offset 9120
 */
#include <errno.h>
#include <libdeflate.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zarr_internal.h"

#define SIG_EOCD 0x06054b50u
#define SIG_EOCD64 0x06064b50u
#define SIG_LOC64 0x07064b50u
#define SIG_CENTRAL 0x02014b50u
#define SIG_LOCAL 0x04034b50u
#define EOCD_LEN 22
#define CENTRAL_LEN 46
#define LOCAL_LEN 30

struct zentry {
	const char *name;
	size_t order;     /* position in the central directory */
	uint64_t local;   /* offset of the local header */
	uint64_t csize, usize;
	uint32_t crc;
	uint16_t method;
};

struct zr_zip {
	int fd;
	uint64_t size;
	struct zentry *e;
	size_t n;
	char *names;  /* the entry names, each NUL-terminated */
};

static uint16_t le16(const unsigned char *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t le64(const unsigned char *p) { return le32(p) | (uint64_t)le32(p + 4) << 32; }

/* Locate the central directory: its offset, size and entry count, from the
 * end-of-central-directory record (and its zip64 twin when a field is full). */
static zr_rc find_cd(int fd, uint64_t size, uint64_t *off, uint64_t *len, uint64_t *count, char *err)
{
	unsigned char tail[EOCD_LEN + 65535];
	size_t n = size < sizeof tail ? (size_t)size : sizeof tail;

	if (n < EOCD_LEN || zr_pread(fd, tail, n, size - n) != 0)
		return zr_fail(err, ZR_EFORMAT, "not a zip file");
	size_t at = n - EOCD_LEN + 1;
	const unsigned char *e = NULL;
	while (at-- > 0)
		if (le32(tail + at) == SIG_EOCD && at + EOCD_LEN + le16(tail + at + 20) <= n) {
			e = tail + at;
			break;
		}
	if (!e)
		return zr_fail(err, ZR_EFORMAT, "not a zip file (no end of central directory)");
	uint64_t eocd = size - n + at;
	if (le16(e + 4) != 0 || le16(e + 6) != 0)
		return zr_fail(err, ZR_EUNSUPPORTED, "a multi-disk zip");
	*count = le16(e + 10);
	*len = le32(e + 12);
	*off = le32(e + 16);
	if (*count == 0xffff || *len == 0xffffffff || *off == 0xffffffff) {
		unsigned char loc[20], rec[56];
		if (eocd < 20 || zr_pread(fd, loc, 20, eocd - 20) != 0 || le32(loc) != SIG_LOC64)
			return zr_fail(err, ZR_EFORMAT, "zip64 locator missing");
		uint64_t at64 = le64(loc + 8);
		if (size < 56 || at64 > size - 56 || zr_pread(fd, rec, 56, at64) != 0 || le32(rec) != SIG_EOCD64)
			return zr_fail(err, ZR_EFORMAT, "zip64 end of central directory missing");
		*count = le64(rec + 32);
		*len = le64(rec + 40);
		*off = le64(rec + 48);
	}
	if (*off > size || *len > size - *off || *count > *len / CENTRAL_LEN)
		return zr_fail(err, ZR_EFORMAT, "zip central directory beyond the file");
	return ZR_OK;
}

/* Replace the 0xffffffff fields of a central entry by its zip64 extra field. */
static int zip64_extra(struct zentry *z, const unsigned char *x, size_t xlen,
		       int want_u, int want_c, int want_l)
{
	while (xlen >= 4) {
		uint16_t id = le16(x), sz = le16(x + 2);
		if ((size_t)sz + 4 > xlen)
			return -1;
		if (id == 1) {
			const unsigned char *p = x + 4;
			size_t left = sz;
			uint64_t *want[3] = { want_u ? &z->usize : NULL, want_c ? &z->csize : NULL,
					      want_l ? &z->local : NULL };
			for (int i = 0; i < 3; i++) {
				if (!want[i])
					continue;
				if (left < 8)
					return -1;
				*want[i] = le64(p);
				p += 8;
				left -= 8;
			}
			return 0;
		}
		x += 4 + sz;
		xlen -= 4 + (size_t)sz;
	}
	return want_u || want_c || want_l ? -1 : 0;
}

static int entry_cmp(const void *a, const void *b)
{
	const struct zentry *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	return c ? c : (x->order > y->order) - (x->order < y->order);
}

static zr_rc parse_cd(struct zr_zip *z, const unsigned char *p, uint64_t len,
		      uint64_t count, char *err)
{
	const unsigned char *end = p + len;
	char *names = z->names;

	z->e = cn_mallocn(count, sizeof *z->e);
	if (!z->e)
		return zr_fail(err, ZR_ENOMEM, "zip central directory: out of memory");
	for (uint64_t i = 0; i < count; i++) {
		if ((size_t)(end - p) < CENTRAL_LEN || le32(p) != SIG_CENTRAL)
			return zr_fail(err, ZR_EFORMAT, "zip central directory entry %llu is damaged",
				       (unsigned long long)i);
		size_t nlen = le16(p + 28), xlen = le16(p + 30), clen = le16(p + 32);
		if ((size_t)(end - p) < CENTRAL_LEN + nlen + xlen + clen)
			return zr_fail(err, ZR_EFORMAT, "zip central directory entry %llu is damaged",
				       (unsigned long long)i);
		struct zentry *e = &z->e[z->n];
		e->order = (size_t)i;
		e->method = le16(p + 10);
		e->crc = le32(p + 16);
		e->csize = le32(p + 20);
		e->usize = le32(p + 24);
		e->local = le32(p + 42);
		uint16_t flags = le16(p + 8);
		if (zip64_extra(e, p + CENTRAL_LEN + nlen, xlen, e->usize == 0xffffffff,
				e->csize == 0xffffffff, e->local == 0xffffffff) != 0)
			return zr_fail(err, ZR_EFORMAT, "zip entry %llu: bad zip64 field", (unsigned long long)i);
		/* Names with a NUL inside or ending in "/" (directories) are
		 * no keys; neither are encrypted entries. */
		const char *name = (const char *)p + CENTRAL_LEN;
		int usable = !(flags & 1) && nlen && !memchr(name, '\0', nlen) && name[nlen - 1] != '/';
		p += CENTRAL_LEN + nlen + xlen + clen;
		if (!usable)
			continue;
		memcpy(names, name, nlen);
		names[nlen] = '\0';
		e->name = names;
		names += nlen + 1;
		z->n++;
	}
	qsort(z->e, z->n, sizeof *z->e, entry_cmp);
	return ZR_OK;
}

zr_rc zr_zip_open(struct zr_zip **out, int fd, char *err)
{
	struct stat st;
	uint64_t off, len, count;

	if (fstat(fd, &st) != 0)
		return zr_fail(err, ZR_EIO, "%s", strerror(errno));
	zr_rc rc = find_cd(fd, (uint64_t)st.st_size, &off, &len, &count, err);
	if (rc != ZR_OK)
		return rc;
	struct zr_zip *z = calloc(1, sizeof *z);
	/* The names take at most the directory's bytes plus a NUL each. */
	unsigned char *cd = malloc(len ? len : 1);
	if (!z || !cd || !(z->names = malloc(len + count + 1))) {
		free(z);
		free(cd);
		return zr_fail(err, ZR_ENOMEM, "zip central directory: out of memory");
	}
	z->fd = fd;
	z->size = (uint64_t)st.st_size;
	if (zr_pread(fd, cd, len, off) != 0)
		rc = zr_fail(err, ZR_EIO, "zip central directory: %s", strerror(errno));
	else
		rc = parse_cd(z, cd, len, count, err);
	free(cd);
	if (rc != ZR_OK) {
		z->fd = -1;
		zr_zip_close(z);
		return rc;
	}
	*out = z;
	return ZR_OK;
}

void zr_zip_close(struct zr_zip *z)
{
	if (!z)
		return;
	if (z->fd >= 0)
		close(z->fd);
	free(z->e);
	free(z->names);
	free(z);
}

/* The entry named key (its last occurrence), or NULL. */
static const struct zentry *find(const struct zr_zip *z, const char *key)
{
	size_t lo = 0, hi = z->n;

	while (lo < hi) {  /* the first entry with a name > key */
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(z->e[mid].name, key) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo && !strcmp(z->e[lo - 1].name, key) ? &z->e[lo - 1] : NULL;
}

/* The entry and the offset of its data, checked to lie inside the archive. */
static zr_rc locate(const struct zr_zip *z, const char *key, const struct zentry **out,
		    uint64_t *data, char *err)
{
	const struct zentry *e = find(z, key);
	unsigned char h[LOCAL_LEN];

	if (!e)
		return zr_fail(err, ZR_ENOENT, "%s: missing", key);
	if (e->method != 0 && e->method != 8)
		return zr_fail(err, ZR_EUNSUPPORTED, "%s: zip compression method %u", key, e->method);
	if (e->method == 0 && e->csize != e->usize)
		return zr_fail(err, ZR_EFORMAT, "%s: stored zip entry with two sizes", key);
	if (z->size < LOCAL_LEN || e->local > z->size - LOCAL_LEN || zr_pread(z->fd, h, LOCAL_LEN, e->local) != 0 ||
	    le32(h) != SIG_LOCAL)
		return zr_fail(err, ZR_EFORMAT, "%s: zip local header damaged", key);
	uint64_t at = e->local + LOCAL_LEN + le16(h + 26) + le16(h + 28);
	if (at > z->size || e->csize > z->size - at)
		return zr_fail(err, ZR_EFORMAT, "%s: zip entry beyond the file", key);
	*out = e;
	*data = at;
	return ZR_OK;
}

zr_rc zr_zip_size(const struct zr_zip *z, const char *key, uint64_t *size, char *err)
{
	const struct zentry *e = find(z, key);

	if (!e)
		return zr_fail(err, ZR_ENOENT, "%s: missing", key);
	*size = e->usize;
	return ZR_OK;
}

zr_rc zr_zip_get(const struct zr_zip *z, const char *key, size_t max,
		 void **buf, size_t *len, char *err)
{
	const struct zentry *e;
	uint64_t at;
	zr_rc rc = locate(z, key, &e, &at, err);

	if (rc != ZR_OK)
		return rc;
	if (e->usize > max)
		return zr_fail(err, ZR_EFORMAT, "%s: %llu bytes, more than the %zu it may hold",
			       key, (unsigned long long)e->usize, max);
	unsigned char *out = malloc(e->usize ? (size_t)e->usize : 1);
	unsigned char *src = e->method == 0 ? out : malloc(e->csize ? (size_t)e->csize : 1);
	if (!out || !src) {
		free(out);
		if (src != out)
			free(src);
		return zr_fail(err, ZR_ENOMEM, "%s: out of memory", key);
	}
	if (zr_pread(z->fd, src, (size_t)e->csize, at) != 0)
		rc = zr_fail(err, ZR_EIO, "%s: %s", key, strerror(errno));
	if (rc == ZR_OK && e->method == 8) {
		struct libdeflate_decompressor *d = libdeflate_alloc_decompressor();
		if (!d)
			rc = zr_fail(err, ZR_ENOMEM, "%s: out of memory", key);
		else if (libdeflate_deflate_decompress(d, src, (size_t)e->csize, out,
						       (size_t)e->usize, NULL) != LIBDEFLATE_SUCCESS)
			rc = zr_fail(err, ZR_EFORMAT, "%s: zip entry does not inflate", key);
		libdeflate_free_decompressor(d);
	}
	if (src != out)
		free(src);
	if (rc == ZR_OK && libdeflate_crc32(0, out, (size_t)e->usize) != e->crc)
		rc = zr_fail(err, ZR_EFORMAT, "%s: zip entry fails its CRC-32", key);
	if (rc != ZR_OK) {
		free(out);
		return rc;
	}
	*buf = out;
	*len = (size_t)e->usize;
	return ZR_OK;
}

zr_rc zr_zip_get_range(const struct zr_zip *z, const char *key, uint64_t off,
		       size_t len, void *out, char *err)
{
	const struct zentry *e;
	uint64_t at;
	zr_rc rc = locate(z, key, &e, &at, err);

	if (rc != ZR_OK)
		return rc;
	if (off > e->usize || len > e->usize - off)
		return zr_fail(err, ZR_EFORMAT, "%s: range beyond its %llu bytes", key,
			       (unsigned long long)e->usize);
	if (e->method == 0)
		return zr_pread(z->fd, out, len, at + off) == 0 ? ZR_OK :
		       zr_fail(err, ZR_EIO, "%s: %s", key, strerror(errno));
	/* A deflated entry has no random access: inflate it whole. */
	void *whole;
	size_t n;
	rc = zr_zip_get(z, key, (size_t)ZR_CHUNK_MAX * 4, &whole, &n, err);
	if (rc != ZR_OK)
		return rc;
	memcpy(out, (unsigned char *)whole + off, len);
	free(whole);
	return ZR_OK;
}

zr_rc zr_zip_list(const struct zr_zip *z, const char *prefix,
		  int (*fn)(const char *name, void *ctx), void *ctx, char *err)
{
	size_t plen = strlen(prefix), lo = 0, hi = z->n;
	const char *prev = NULL;
	size_t prevlen = 0;

	while (lo < hi) {  /* the first entry with a name >= prefix */
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(z->e[mid].name, prefix) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; i < z->n; i++) {
		const char *k = z->e[i].name;
		if (strncmp(k, prefix, plen) != 0)
			break;
		if (plen && k[plen] != '/')
			continue;
		const char *child = k + plen + (plen ? 1 : 0);
		const char *slash = strchr(child, '/');
		if (!slash)
			continue;  /* a key of prefix itself */
		size_t clen = (size_t)(slash - child);
		if (clen == 0 || (prev && clen == prevlen && !memcmp(prev, child, clen)))
			continue;
		prev = child;
		prevlen = clen;
		/* Any length: a zip entry's name, unlike a directory entry's, may
		 * pass 255 bytes (an obs key of 300). */
		char *name = malloc(clen + 1);
		if (!name)
			return zr_fail(err, ZR_ENOMEM, "%s: out of memory", prefix);
		memcpy(name, child, clen);
		name[clen] = '\0';
		int stop = fn(name, ctx);
		free(name);
		if (stop)
			break;
	}
	return ZR_OK;
}
