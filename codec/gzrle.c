/*
 * gzrle.c - DEFLATE (RFC 1951) in a gzip member (RFC 1952) for vectors of
 * codes that are mostly runs of one value, with no match finder.
 *
 * The input is cut into segments of at most SEG_TOKENS tokens. Within a
 * segment each position gets the longest match at distance 1 (or 2 for u16
 * codes: a run of one code whose two bytes differ) when it is at least 3
 * bytes long, else a literal; the first byte of a run follows a different
 * byte and is a literal, the rest is a match, its end found 64 bytes per
 * compare (SSE2) in the long runs between a gene's expressing cells. That is what zlib's matcher
 * finds on such data too, minus its searches, and with one or two distance
 * symbols the distance costs about a bit. Each segment then becomes the
 * cheapest of a dynamic, fixed or stored block, its cost computed exactly
 * from the symbol counts before anything is written, so the output never
 * exceeds gzrle_bound().
 *
 * Huffman code lengths: the in-place minimum-redundancy algorithm of Moffat
 * and Katajainen (1995) on the counts sorted ascending, then limited to 15
 * bits (7 for the code-length code) by moving the overlong codes up and
 * lengthening the longest shorter ones until the Kraft sum is 1 again. Like
 * zlib, every tree gets at least two codes, so each is complete and any
 * inflater takes it.
 */
#include "gzrle.h"

#include <libdeflate.h>
#include <stdint.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define SEG_TOKENS 16384 /* one block's tokens, on the stack */
#define MAX_MATCH 258
#define MIN_MATCH 3
#define N_LITLEN 288     /* 286 used; the fixed code defines 288 */
#define N_DIST 32        /* 30 used, only 0 and 1 here */
#define N_CLEN 19
#define GZIP_HEADER 10
#define GZIP_TRAILER 8
#define STORED_MAX 65535

/* A token is an id: 0-255 a literal, 256 + 256 * dsym + (length - 3) a
 * match, dsym 0 for distance 1 and 1 for distance 2. Each block turns every
 * id it uses into one code of up to 35 bits (length symbol, extra bits and
 * distance code together), so tokens are written with one table look-up. */
#define N_IDS (256 + 2 * 256)
#define MATCH_ID(len, dsym) (256 + 256 * (dsym) + (len) - MIN_MATCH)

static const uint8_t clen_order[N_CLEN] = {16, 17, 18, 0, 8,  7, 9,  6, 10, 5,
					   11, 4,  12, 3, 13, 2, 14, 1, 15};

typedef struct {
	uint32_t idfreq[N_IDS];
	uint32_t lfreq[N_LITLEN], dfreq[N_DIST];
	uint8_t llen[N_LITLEN], dlen[N_DIST];
	uint16_t lcode[N_LITLEN], dcode[N_DIST];
	/* the code lengths, run-length coded with symbols 0-18 */
	uint8_t hsym[N_LITLEN + N_DIST], hextra[N_LITLEN + N_DIST];
	unsigned nh, hlit, hdist, hclen;
	uint32_t cfreq[N_CLEN];
	uint8_t clen[N_CLEN];
	uint16_t ccode[N_CLEN];
} block;

typedef struct {
	uint8_t *p;
	uint64_t bits;
	unsigned n; /* bits pending in `bits`, < 8 after a flush */
} bitout;

/* ------------------------------------------------------- Huffman codes */

static unsigned length_extra_bits(unsigned sym)
{
	return sym >= 265 && sym < 285 ? (sym - 261) / 4 : 0;
}

/* The symbol of a match length (3..258); its extra bits are the low
 * length_extra_bits(symbol) bits of length - 3. */
static unsigned length_symbol(unsigned len)
{
	unsigned v = len - MIN_MATCH;
	if (v < 8)
		return 257 + v;
	if (v == 255)
		return 285;
	unsigned e = 29u - (unsigned)__builtin_clz(v); /* floor(log2 v) - 2 */
	return 261 + 4 * e + (v >> e & 3);
}

/* The litlen and distance counts of a block from its token counts. */
static void count_symbols(block *b)
{
	memset(b->lfreq, 0, sizeof b->lfreq);
	memset(b->dfreq, 0, sizeof b->dfreq);
	memcpy(b->lfreq, b->idfreq, 256 * sizeof *b->lfreq);
	b->lfreq[256] = 1;
	for (unsigned id = 256; id < N_IDS; id++)
		if (b->idfreq[id]) {
			b->lfreq[length_symbol(MIN_MATCH + (id - 256) % 256)] += b->idfreq[id];
			b->dfreq[(id - 256) / 256] += b->idfreq[id];
		}
}

/* Sorts n keys freq << 9 | symbol ascending, given in symbol order with
 * freq < 2^16: a stable radix sort on the count, one byte at a time (one
 * pass when every count is below 256, as in most gene blocks), so ties stay
 * in symbol order and the result is deterministic. */
static void sort_keys(uint32_t *a, unsigned n)
{
	uint32_t tmp[N_LITLEN], max = 0;
	for (unsigned i = 0; i < n; i++)
		max |= a[i];
	for (unsigned shift = 9; shift < 25 && max >> shift; shift += 8) {
		unsigned start[257] = {0};
		for (unsigned i = 0; i < n; i++)
			start[(a[i] >> shift & 255) + 1]++;
		for (unsigned d = 1; d < 257; d++)
			start[d] += start[d - 1];
		for (unsigned i = 0; i < n; i++)
			tmp[start[a[i] >> shift & 255]++] = a[i];
		memcpy(a, tmp, n * sizeof *a);
	}
}

/* Code lengths of n >= 2 weights sorted ascending, in place: a[i] becomes
 * the length of the i-th (Moffat and Katajainen's three passes). */
static void min_redundancy(uint32_t *a, unsigned n)
{
	unsigned root = 0, leaf = 2;
	a[0] += a[1];
	for (unsigned next = 1; next < n - 1; next++) {
		if (leaf >= n || a[root] < a[leaf]) {
			a[next] = a[root];
			a[root++] = next;
		} else {
			a[next] = a[leaf++];
		}
		if (leaf >= n || (root < next && a[root] < a[leaf])) {
			a[next] += a[root];
			a[root++] = next;
		} else {
			a[next] += a[leaf++];
		}
	}
	a[n - 2] = 0;
	for (int next = (int)n - 3; next >= 0; next--)
		a[next] = a[a[next]] + 1;
	int avail = 1, used = 0, depth = 0, r = (int)n - 2, next = (int)n - 1;
	while (avail > 0) {
		while (r >= 0 && (int)a[r] == depth) {
			used++;
			r--;
		}
		while (avail > used) {
			a[next--] = (uint32_t)depth;
			avail--;
		}
		avail = 2 * used;
		depth++;
		used = 0;
	}
}

/* The canonical codes of n code lengths (<= 15), bit-reversed for
 * LSB-first output. */
static void canonical_codes(const uint8_t *len, unsigned n, uint16_t *code)
{
	unsigned count[16] = {0}, next[16], c = 0;
	for (unsigned s = 0; s < n; s++)
		count[len[s]]++;
	count[0] = 0;
	for (unsigned l = 1; l < 16; l++) {
		c = (c + count[l - 1]) << 1;
		next[l] = c;
	}
	for (unsigned s = 0; s < n; s++) {
		unsigned l = len[s], v = l ? next[l]++ : 0, r = 0;
		for (unsigned b = 0; b < l; b++)
			r |= (v >> b & 1) << (l - 1 - b);
		code[s] = (uint16_t)r;
	}
}

/* Lengths (<= limit) of the n symbols from their counts, and their codes. */
static void build_code(const uint32_t *freq, unsigned n, unsigned limit, uint8_t *len,
		       uint16_t *code)
{
	uint32_t key[N_LITLEN];
	unsigned used = 0;
	for (unsigned s = 0; s < n; s++)
		if (freq[s])
			key[used++] = freq[s] << 9 | s;
	/* At least two codes: pad with the lowest unused symbols. */
	for (unsigned s = 0; used < 2; s++)
		if (!freq[s])
			key[used++] = s;
	sort_keys(key, used);
	uint32_t depth[N_LITLEN] = {0}; /* all set: GCC cannot see used >= 2 */
	for (unsigned i = 0; i < used; i++)
		depth[i] = key[i] >> 9;
	min_redundancy(depth, used);

	unsigned count[32] = {0};
	for (unsigned i = 0; i < used; i++)
		count[depth[i] > limit ? limit : depth[i]]++;
	uint32_t kraft = 0;
	for (unsigned l = 1; l <= limit; l++)
		kraft += count[l] << (limit - l);
	/* Each step moves a code of `limit` bits beside the longest shorter
	 * one, which gets one bit longer: as many codes, and the Kraft sum (in
	 * units of 2^-limit) one less. */
	while (kraft > 1u << limit) {
		count[limit]--;
		for (unsigned l = limit - 1; l > 0; l--)
			if (count[l]) {
				count[l]--;
				count[l + 1] += 2;
				break;
			}
		kraft--;
	}
	memset(len, 0, n);
	unsigned i = 0;
	for (unsigned l = limit; l > 0; l--)
		for (unsigned k = 0; k < count[l]; k++)
			len[key[i++] & 511] = (uint8_t)l;
	canonical_codes(len, n, code);
}

/* --------------------------------------------------------- block costs */

static uint64_t data_bits(const block *b, const uint8_t *llen, const uint8_t *dlen)
{
	uint64_t bits = 0;
	for (unsigned s = 0; s < 286; s++)
		bits += (uint64_t)b->lfreq[s] * (llen[s] + length_extra_bits(s));
	for (unsigned s = 0; s < 2; s++)
		bits += (uint64_t)b->dfreq[s] * dlen[s];
	return bits;
}

static void emit_clen(block *b, unsigned sym, unsigned extra)
{
	b->hsym[b->nh] = (uint8_t)sym;
	b->hextra[b->nh++] = (uint8_t)extra;
	b->cfreq[sym]++;
}

/* The dynamic block's tables and its exact size in bits. */
static uint64_t plan_dynamic(block *b)
{
	build_code(b->lfreq, N_LITLEN, 15, b->llen, b->lcode);
	build_code(b->dfreq, N_DIST, 15, b->dlen, b->dcode);
	b->hlit = 286;
	while (b->hlit > 257 && !b->llen[b->hlit - 1])
		b->hlit--;
	b->hdist = 30;
	while (b->hdist > 1 && !b->dlen[b->hdist - 1])
		b->hdist--;

	uint8_t lens[N_LITLEN + N_DIST];
	unsigned total = b->hlit + b->hdist;
	memcpy(lens, b->llen, b->hlit);
	memcpy(lens + b->hlit, b->dlen, b->hdist);
	memset(b->cfreq, 0, sizeof b->cfreq);
	b->nh = 0;
	for (unsigned i = 0; i < total;) {
		unsigned v = lens[i], run = 1;
		while (i + run < total && lens[i + run] == v)
			run++;
		i += run;
		if (v == 0) {
			for (; run >= 11; run -= run < 138 ? run : 138)
				emit_clen(b, 18, (run < 138 ? run : 138) - 11);
			if (run >= 3) {
				emit_clen(b, 17, run - 3);
				run = 0;
			}
		} else {
			emit_clen(b, v, 0);
			run--;
			for (; run >= 3; run -= run < 6 ? run : 6)
				emit_clen(b, 16, (run < 6 ? run : 6) - 3);
		}
		while (run--)
			emit_clen(b, v, 0);
	}
	build_code(b->cfreq, N_CLEN, 7, b->clen, b->ccode);
	b->hclen = N_CLEN;
	while (b->hclen > 4 && !b->clen[clen_order[b->hclen - 1]])
		b->hclen--;

	uint64_t bits = 3 + 5 + 5 + 4 + 3 * b->hclen;
	for (unsigned i = 0; i < b->nh; i++) {
		unsigned s = b->hsym[i];
		bits += b->clen[s] + (s == 16 ? 2 : s == 17 ? 3 : s == 18 ? 7 : 0);
	}
	return bits + data_bits(b, b->llen, b->dlen);
}

static void fixed_lengths(uint8_t *llen, uint8_t *dlen)
{
	for (unsigned s = 0; s < N_LITLEN; s++)
		llen[s] = s < 144 ? 8 : s < 256 ? 9 : s < 280 ? 7 : 8;
	memset(dlen, 5, N_DIST);
}

/* Bits of stored blocks holding n bytes, from any bit position. */
static uint64_t stored_bits(size_t n)
{
	size_t blocks = n ? (n + STORED_MAX - 1) / STORED_MAX : 1;
	return (uint64_t)blocks * (3 + 7 + 32) + 8 * (uint64_t)n;
}

/* -------------------------------------------------------------- output */

static inline void put_le64(uint8_t *p, uint64_t v)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	memcpy(p, &v, sizeof v);
}

/* Up to 32 bits; flushes whole bytes (the buffer has 8 bytes of slack). */
static inline void put(bitout *o, uint32_t v, unsigned count)
{
	o->bits |= (uint64_t)v << o->n;
	o->n += count;
	if (o->n >= 32) {
		put_le64(o->p, o->bits);
		o->p += o->n >> 3;
		o->bits >>= o->n & ~7u;
		o->n &= 7;
	}
}

static void align(bitout *o)
{
	put_le64(o->p, o->bits);
	o->p += (o->n + 7) >> 3;
	o->bits = 0;
	o->n = 0;
}

/* The tokens of a block with the given code. */
static void write_tokens(bitout *o, const block *b, const uint16_t *tok, size_t nt,
			 const uint8_t *llen, const uint16_t *lcode, const uint8_t *dlen,
			 const uint16_t *dcode)
{
	uint64_t code[N_IDS];
	uint8_t len[N_IDS];
	for (unsigned id = 0; id < 256; id++) {
		code[id] = lcode[id];
		len[id] = llen[id];
	}
	for (unsigned id = 256; id < N_IDS; id++) {
		if (!b->idfreq[id])
			continue;
		unsigned v = (id - 256) % 256, d = (id - 256) / 256, sym = length_symbol(v + 3);
		unsigned e = length_extra_bits(sym), l = llen[sym];
		code[id] = lcode[sym] | (uint64_t)(v & ((1u << e) - 1)) << l |
			   (uint64_t)dcode[d] << (l + e);
		len[id] = (uint8_t)(l + e + dlen[d]);
	}
	uint64_t bits = o->bits;
	unsigned n = o->n;
	uint8_t *p = o->p;
	for (size_t i = 0; i < nt; i++) {
		bits |= code[tok[i]] << n;
		n += len[tok[i]];
		put_le64(p, bits);
		p += n >> 3;
		bits >>= n & ~7u;
		n &= 7;
	}
	o->bits = bits;
	o->n = n;
	o->p = p;
}

static void write_stored(bitout *o, const uint8_t *in, size_t n, int final)
{
	do {
		size_t k = n < STORED_MAX ? n : STORED_MAX;
		put(o, final && k == n, 3);
		align(o);
		o->p[0] = (uint8_t)k;
		o->p[1] = (uint8_t)(k >> 8);
		o->p[2] = (uint8_t)~k;
		o->p[3] = (uint8_t)(~k >> 8);
		memcpy(o->p + 4, in, k);
		o->p += 4 + k;
		in += k;
		n -= k;
	} while (n);
}

static void write_dynamic_header(bitout *o, const block *b, int final)
{
	put(o, final | 2u << 1, 3);
	put(o, b->hlit - 257, 5);
	put(o, b->hdist - 1, 5);
	put(o, b->hclen - 4, 4);
	for (unsigned i = 0; i < b->hclen; i++)
		put(o, b->clen[clen_order[i]], 3);
	for (unsigned i = 0; i < b->nh; i++) {
		unsigned s = b->hsym[i];
		put(o, b->ccode[s], b->clen[s]);
		if (s >= 16)
			put(o, b->hextra[i], s == 16 ? 2 : s == 17 ? 3 : 7);
	}
}

/* One segment (tokens and the bytes they stand for) as its cheapest block. */
static void write_block(bitout *o, block *b, const uint16_t *tok, size_t nt,
			const uint8_t *bytes, size_t nbytes, int final)
{
	count_symbols(b);
	uint8_t flen[N_LITLEN], fdlen[N_DIST];
	fixed_lengths(flen, fdlen);
	uint64_t dynamic = plan_dynamic(b);
	uint64_t fixed = 3 + data_bits(b, flen, fdlen);
	uint64_t stored = stored_bits(nbytes);
	if (stored < dynamic && stored < fixed) {
		write_stored(o, bytes, nbytes, final);
	} else if (fixed < dynamic) {
		uint16_t fcode[N_LITLEN], fdcode[N_DIST];
		canonical_codes(flen, N_LITLEN, fcode);
		canonical_codes(fdlen, N_DIST, fdcode);
		put(o, final | 1u << 1, 3);
		write_tokens(o, b, tok, nt, flen, fcode, fdlen, fdcode);
		put(o, fcode[256], flen[256]);
	} else {
		write_dynamic_header(o, b, final);
		write_tokens(o, b, tok, nt, b->llen, b->lcode, b->dlen, b->dcode);
		put(o, b->lcode[256], b->llen[256]);
	}
}

/* ----------------------------------------------------------- matching */

#ifndef __SSE2__
static inline uint64_t load64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof v);
	return v;
}
#endif

/* How many bytes from p on repeat the byte d before them, up to end. */
static inline size_t repeat_len(const uint8_t *p, const uint8_t *end, unsigned d)
{
	const uint8_t *start = p, *q = p - d;
#ifdef __SSE2__
	/* Long runs are the common case: 64 bytes per test. */
	while (end - p >= 64) {
		__m128i eq = _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)p),
					    _mm_loadu_si128((const __m128i *)q));
		for (int k = 16; k < 64; k += 16)
			eq = _mm_and_si128(eq, _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(p + k)),
							      _mm_loadu_si128((const __m128i *)(q + k))));
		if (_mm_movemask_epi8(eq) != 0xffff)
			break;
		p += 64;
		q += 64;
	}
#endif
	while (end - p >= 16) {
#ifdef __SSE2__
		__m128i a = _mm_loadu_si128((const __m128i *)p);
		__m128i b = _mm_loadu_si128((const __m128i *)q);
		unsigned differ = ~(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(a, b)) & 0xffff;
		if (differ)
			return (size_t)(p - start) + (size_t)__builtin_ctz(differ);
#else
		uint64_t x = load64(p) ^ load64(q);
		uint64_t y = load64(p + 8) ^ load64(q + 8);
		if (x | y) {
			/* without a branch: which half differs first is a coin toss */
			size_t half = x ? 0 : 8;
			x = x ? x : y;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
			return (size_t)(p - start) + half + (size_t)__builtin_ctzll(x) / 8;
#else
			return (size_t)(p - start) + half + (size_t)__builtin_clzll(x) / 8;
#endif
		}
#endif
		p += 16;
		q += 16;
	}
	while (p < end && *p == *q) {
		p++;
		q++;
	}
	return (size_t)(p - start);
}

/* Tokens for in[pos..] into tok (at most SEG_TOKENS), counted in
 * b->idfreq; returns the position after them. */
static size_t tokenize(const uint8_t *in, size_t pos, size_t n, int width, uint16_t *tok,
		       size_t *ntok, block *b)
{
	const uint8_t *end = in + n;
	size_t nt = 0;
	while (pos < n && nt < SEG_TOKENS) {
		/* Most positions are literals: one byte compare says so. */
		size_t run = pos >= 1 && in[pos] == in[pos - 1] ? repeat_len(in + pos, end, 1) : 0;
		unsigned dsym = 0;
		if (run < MIN_MATCH && width == 2 && pos >= 2 && in[pos] == in[pos - 2]) {
			run = repeat_len(in + pos, end, 2);
			dsym = 1;
		}
		if (run < MIN_MATCH) {
			b->idfreq[in[pos]]++;
			tok[nt++] = in[pos++];
			continue;
		}
		for (; run >= MIN_MATCH && nt < SEG_TOKENS; nt++) {
			unsigned len = run < MAX_MATCH ? (unsigned)run : MAX_MATCH;
			unsigned id = MATCH_ID(len, dsym);
			b->idfreq[id]++;
			tok[nt] = (uint16_t)id;
			run -= len;
			pos += len;
		}
	}
	*ntok = nt;
	return pos;
}

/* ---------------------------------------------------------------- API */

size_t gzrle_bound(size_t n)
{
	/* Every block costs at most its stored form (5 bytes per 65535 and
	 * one of padding); a segment holds SEG_TOKENS tokens, so >= that many
	 * bytes unless it is the last; 8 bytes of slack for put_le64. */
	size_t blocks = n / STORED_MAX + n / SEG_TOKENS + 2;
	return GZIP_HEADER + GZIP_TRAILER + n + 6 * blocks + 8;
}

size_t gzrle_compress(const void *in, size_t n, int width, void *out, size_t cap)
{
	if ((width != 1 && width != 2) || cap < gzrle_bound(n))
		return 0;
	static const uint8_t header[GZIP_HEADER] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255};
	const uint8_t *src = in;
	uint8_t *dst = out;
	memcpy(dst, header, GZIP_HEADER);
	bitout o = {dst + GZIP_HEADER, 0, 0};
	uint16_t tok[SEG_TOKENS];
	size_t pos = 0;
	do {
		block b;
		size_t nt, start = pos;
		memset(b.idfreq, 0, sizeof b.idfreq);
		pos = tokenize(src, pos, n, width, tok, &nt, &b);
		write_block(&o, &b, tok, nt, src + start, pos - start, pos == n);
	} while (pos < n);
	align(&o);
	uint32_t crc = libdeflate_crc32(0, in, n);
	for (int i = 0; i < 4; i++) {
		o.p[i] = (uint8_t)(crc >> 8 * i);
		o.p[4 + i] = (uint8_t)(n >> 8 * i);
	}
	return (size_t)(o.p + GZIP_TRAILER - dst);
}
