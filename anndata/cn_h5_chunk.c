/*
 * cn_h5_chunk.c - part of the HDF5 back end (cn_h5.c): chunks read raw
 * under the caller's lock and decoded outside it. cn_h5_chunk_raw fetches
 * the stored bytes of one chunk (H5Dget_chunk_info_by_coord, H5Dread_chunk)
 * with its filter mask; raw_decode, called by cn_chunk_decode in any
 * thread, undoes the filter pipeline with our own code: deflate (a zlib
 * stream) with libdeflate, HDF5's byte shuffle, and the fletcher32
 * checksum checked. Sample: h5py's compression="gzip", shuffle=True stores
 * shuffle then deflate; the decode inflates, then unshuffles, then cuts the
 * chunk to its box at the edges of the shape.
 *
 * Whatever this file does not decode exactly as HDF5 would is left to
 * HDF5 (cn_h5_chunk_raw returns 0): a dataset without filters or with any
 * other filter, an unallocated chunk (HDF5 gives the fill value), a stored
 * size out of proportion to the chunk. So is a pipeline without deflate,
 * LZF's included: decoding it costs less than what the raw path adds (a
 * chunk lookup, a buffer and a copy more per chunk). On the 100k bench
 * shape, LZF-compressed, a read of X took 1.2-1.5 s of CPU on this path
 * and 0.7-0.95 s on HDF5's, the time in lzf_decompress equal (0.4 s).
 *
 * cn_h5_held counts what the stored chunks decode to, for cn_claim.c.
 */
#include <libdeflate.h>
#include <stdlib.h>
#include <string.h>

#include "cn_h5.h"

#define MAX_FILTERS 8

/* What the decode needs, kept in front of the stored bytes in c->data so
 * that cn_chunk_free frees both. */
struct raw_chunk {
	int nfilters;
	H5Z_filter_t id[MAX_FILTERS];
	size_t elem[MAX_FILTERS];  /* shuffle: the element size it shuffled */
	unsigned mask;             /* bit i set: filter i was skipped for this chunk */
	int rank;
	uint64_t chunk[CN_MAX_RANK], count[CN_MAX_RANK];
	size_t full;               /* bytes of the whole decoded chunk */
	size_t stored;             /* bytes following this header */
};

static unsigned char *stored_bytes(struct raw_chunk *r) { return (unsigned char *)(r + 1); }

/* HDF5's fletcher32 (H5_checksum_fletcher32): 16-bit big-endian words,
 * an odd last byte as the high half of a word, sums folded every 360
 * words; (sum2 << 16) | sum1. */
static uint32_t fletcher32(const unsigned char *p, size_t len)
{
	uint32_t s1 = 0, s2 = 0;
	size_t words = len / 2;

	while (words) {
		size_t n = words > 360 ? 360 : words;

		words -= n;
		for (; n; n--, p += 2) {
			s1 += (uint32_t)p[0] << 8 | p[1];
			s2 += s1;
		}
		s1 = (s1 & 0xffff) + (s1 >> 16);
		s2 = (s2 & 0xffff) + (s2 >> 16);
	}
	if (len % 2) {
		s1 += (uint32_t)p[0] << 8;
		s2 += s1;
		s1 = (s1 & 0xffff) + (s1 >> 16);
		s2 = (s2 & 0xffff) + (s2 >> 16);
	}
	s1 = (s1 & 0xffff) + (s1 >> 16);
	s2 = (s2 & 0xffff) + (s2 >> 16);
	return s2 << 16 | s1;
}

/* The checksum is stored after the data, little-endian; HDF5 also accepts
 * it with the bytes of each half swapped, as 1.6 wrote it. */
static int fletcher32_ok(const unsigned char *p, size_t len)
{
	uint32_t sum = fletcher32(p, len), got;
	uint32_t swapped = (sum & 0x00ff00ffu) << 8 | (sum & 0xff00ff00u) >> 8;

	got = (uint32_t)p[len] | (uint32_t)p[len + 1] << 8 | (uint32_t)p[len + 2] << 16 |
	      (uint32_t)p[len + 3] << 24;
	return got == sum || got == swapped;
}

/* Byte j of element i was stored at j * n + i; bytes beyond whole
 * elements stay where they are. */
static void unshuffle(const unsigned char *in, size_t len, size_t elem, unsigned char *out)
{
	size_t n = len / elem;

	for (size_t j = 0; j < elem; j++) {
		const unsigned char *src = in + j * n;
		unsigned char *dst = out + j;

		for (size_t i = 0; i < n; i++, dst += elem)
			*dst = src[i];
	}
	memcpy(out + n * elem, in + n * elem, len - n * elem);
}

/* Copy the box count[] at the origin of a full chunk (dims chunk[]) of
 * elements of size bytes into out, in C order. */
static void clip(const unsigned char *full, const struct raw_chunk *r, size_t size,
		 unsigned char *out)
{
	uint64_t idx[CN_MAX_RANK] = { 0 };
	int last = r->rank - 1;
	size_t row = (size_t)r->count[last] * size;

	if (r->rank <= 1) {
		memcpy(out, full, row);
		return;
	}
	for (;;) {
		size_t off = 0;
		int i;

		for (i = 0; i < last; i++)
			off = off * r->chunk[i] + idx[i];
		memcpy(out, full + off * r->chunk[last] * size, row);
		out += row;
		for (i = last - 1; i >= 0 && ++idx[i] == r->count[i]; i--)
			idx[i] = 0;
		if (i < 0)
			return;
	}
}

static ad_err damaged(struct cn_chunk *c, const char *what)
{
	/* "read failed", as when HDF5 finds the damage (cn_h5.c) */
	return cn_fail_buf(c->err, sizeof c->err, AD_EIO, "%s: read failed (%s: damaged chunk)",
			   c->path, what);
}

/* Undo the filters, last first, ping-ponging between two buffers. */
static ad_err raw_decode(struct cn_chunk *c, void *plain)
{
	struct raw_chunk *r = c->data;
	size_t cap = r->full + 4 * MAX_FILTERS, len = r->stored;
	unsigned char *buf[2] = { malloc(cap), NULL }, *cur = stored_bytes(r);
	struct libdeflate_decompressor *inflater = NULL;
	ad_err e = AD_OK;
	int next = 0;

	if (!buf[0])
		e = cn_fail_buf(c->err, sizeof c->err, AD_ENOMEM, "%s: out of memory", c->path);
	for (int i = r->nfilters - 1; !e && i >= 0; i--) {
		unsigned char *out;
		size_t got = 0;

		if (r->mask & 1u << i)
			continue;
		/* the second buffer only for a second stage that writes */
		if (!buf[next] && r->id[i] != H5Z_FILTER_FLETCHER32 && !(buf[next] = malloc(cap))) {
			e = cn_fail_buf(c->err, sizeof c->err, AD_ENOMEM, "%s: out of memory", c->path);
			break;
		}
		out = buf[next];
		switch (r->id[i]) {
		case H5Z_FILTER_FLETCHER32:
			if (len < 4 || !fletcher32_ok(cur, len - 4))
				e = damaged(c, "fletcher32 checksum mismatch");
			len -= 4;
			continue;
		case H5Z_FILTER_DEFLATE:
			if (!inflater && !(inflater = libdeflate_alloc_decompressor()))
				e = cn_fail_buf(c->err, sizeof c->err, AD_ENOMEM, "%s: out of memory",
						c->path);
			else if (libdeflate_zlib_decompress(inflater, cur, len, out, cap, &got) !=
				 LIBDEFLATE_SUCCESS)
				e = damaged(c, "deflate stream does not inflate");
			break;
		default: /* H5Z_FILTER_SHUFFLE: only these three reach here */
			if (r->elem[i] <= 1 || len < r->elem[i])
				continue;
			if (len > cap)
				e = damaged(c, "shuffled data larger than the chunk");
			else
				unshuffle(cur, len, r->elem[i], out);
			got = len;
			break;
		}
		cur = out;
		len = got;
		next ^= 1;
	}
	if (!e && len != r->full)
		e = damaged(c, "decoded size differs from the chunk's");
	if (!e)
		clip(cur, r, c->type.size, plain);
	libdeflate_free_decompressor(inflater);
	free(buf[0]);
	free(buf[1]);
	return e;
}

/* The pipeline of dataset d into r, when it inflates and every filter is
 * one we decode; 0 otherwise (also for none, or LZF: HDF5's own read is as
 * fast or faster then). */
static int pipeline(hid_t d, struct raw_chunk *r)
{
	hid_t dcpl = H5Dget_create_plist(d);
	int n = dcpl < 0 ? -1 : H5Pget_nfilters(dcpl), ok = n > 0 && n <= MAX_FILTERS, inflates = 0;

	for (int i = 0; ok && i < n; i++) {
		unsigned flags, cd[4], config;
		size_t ncd = 4;
		char name[16];

		r->id[i] = H5Pget_filter2(dcpl, (unsigned)i, &flags, &ncd, cd, sizeof name, name,
					  &config);
		r->elem[i] = ncd ? cd[0] : 0;
		inflates |= r->id[i] == H5Z_FILTER_DEFLATE;
		ok = r->id[i] == H5Z_FILTER_DEFLATE || r->id[i] == H5Z_FILTER_FLETCHER32 ||
		     (r->id[i] == H5Z_FILTER_SHUFFLE && ncd);
	}
	if (dcpl >= 0)
		H5Pclose(dcpl);
	ok = ok && inflates;
	r->nfilters = ok ? n : 0;
	return ok;
}

int cn_h5_chunk_raw(cn_array *a, hid_t d, const uint64_t *start, const uint64_t *count,
		    struct cn_chunk *c, ad_err *e)
{
	struct raw_chunk head = { 0 }, *r;
	hsize_t off[CN_MAX_RANK], size = 0;
	haddr_t addr = HADDR_UNDEF;
	uint32_t mask = 0;

	head.rank = a->info.rank;
	head.full = c->type.size;
	for (int i = 0; i < head.rank; i++) {
		off[i] = start[i];
		head.chunk[i] = a->info.chunk[i];
		head.count[i] = count[i];
		if (head.chunk[i] > SIZE_MAX / head.full)
			return 0;
		head.full *= head.chunk[i];
	}
	if (head.rank < 1 || !pipeline(d, &head) ||
	    H5Dget_chunk_info_by_coord(d, off, &head.mask, &addr, &size) < 0 ||
	    addr == HADDR_UNDEF || !size || size > 2 * (hsize_t)head.full + 4096)
		return 0;
	head.stored = (size_t)size;
	r = malloc(sizeof *r + head.stored);
	if (!r) {
		*e = cn_fail(a->s, AD_ENOMEM, "%s: out of memory", a->path);
		return 1;
	}
	*r = head;
	if (H5Dread_chunk(d, H5P_DEFAULT, off, &mask, stored_bytes(r)) < 0) {
		free(r);
		return 0;
	}
	r->mask = mask;
	c->data = r;
	c->size = sizeof *r + r->stored;
	c->decode = raw_decode;
	*e = AD_OK;
	return 1;
}

/* What the file holds of a: the storage size for contiguous data (0 when
 * never written) and for chunks stored as they are; for filtered chunks,
 * those stored times their decoded size (HDF5 counts them; a deflate
 * chunk of zeros holds 1000 times its stored bytes). */
uint64_t cn_h5_held(cn_array *a, hid_t d)
{
	const cn_info *in = &a->info;
	hid_t dcpl = H5Dget_create_plist(d), space;
	int filtered = dcpl >= 0 && in->chunked && H5Pget_nfilters(dcpl) > 0;
	hsize_t n = 0;
	uint64_t per = in->type.size;

	if (dcpl >= 0)
		H5Pclose(dcpl);
	if (!filtered)
		return H5Dget_storage_size(d);
	for (int i = 0; i < in->rank; i++)
		per = in->chunk[i] && per > UINT64_MAX / in->chunk[i] ? UINT64_MAX : per * in->chunk[i];
	/* (1.10.8 fails with H5S_ALL for the space) */
	if ((space = H5Dget_space(d)) < 0)
		return 0;
	herr_t r = H5Dget_num_chunks(d, space, &n);
	H5Sclose(space);
	if (r < 0)
		return 0;
	return n && per > UINT64_MAX / n ? UINT64_MAX : n * per;
}
