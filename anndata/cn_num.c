/*
 * cn_num.c - stored numbers to the type a reader asks for: integers of 1,
 * 2, 4 or 8 bytes (signed or not), floats of 4 or 8 bytes and bools, in
 * either byte order, converted to a cn_num. It is what cn_chunk_decode does
 * after a back end has turned a chunk into its stored values, and it knows
 * no storage format.
 *
 * Values in range convert as C casts do (float to integer truncates, as
 * HDF5 does); out-of-range integers saturate and a NaN becomes integer 0.
 * Sample: int16 big-endian bytes {0xf4, 0x48} as CN_F32 give -3000.0f.
 */
#include <math.h>
#include <string.h>

#include "cn_impl.h"

/* One stored value, widened. */
struct wide {
	enum { W_INT, W_UINT, W_FLOAT } kind;
	int64_t i;
	uint64_t u;
	double d;
};

static int host_big_endian(void)
{
	const uint16_t one = 1;

	return *(const unsigned char *)&one == 0;
}

static struct wide load(const cn_type *t, const unsigned char *p, int swap)
{
	unsigned char b[8] = { 0 };
	struct wide w = { W_INT, 0, 0, 0 };

	for (size_t k = 0; k < t->size; k++)
		b[k] = p[swap ? t->size - 1 - k : k];
	if (t->cls == CN_T_FLOAT) {
		float f;

		w.kind = W_FLOAT;
		if (t->size == 4) {
			memcpy(&f, b, 4);
			w.d = f;
		} else {
			memcpy(&w.d, b, 8);
		}
	} else if (t->cls == CN_T_UINT) {
		uint8_t u8;
		uint16_t u16;
		uint32_t u32;

		w.kind = W_UINT;
		switch (t->size) {
		case 1: memcpy(&u8, b, 1); w.u = u8; break;
		case 2: memcpy(&u16, b, 2); w.u = u16; break;
		case 4: memcpy(&u32, b, 4); w.u = u32; break;
		default: memcpy(&w.u, b, 8);
		}
	} else {
		int8_t i8;
		int16_t i16;
		int32_t i32;

		switch (t->size) {
		case 1: memcpy(&i8, b, 1); w.i = i8; break;
		case 2: memcpy(&i16, b, 2); w.i = i16; break;
		case 4: memcpy(&i32, b, 4); w.i = i32; break;
		default: memcpy(&w.i, b, 8);
		}
	}
	return w;
}

/* w clamped into [lo, hi] as an integer. */
static int64_t to_signed(struct wide w, int64_t lo, int64_t hi)
{
	if (w.kind == W_FLOAT) {
		if (isnan(w.d))
			return 0;
		return w.d <= (double)lo ? lo : w.d >= (double)hi ? hi : (int64_t)w.d;
	}
	if (w.kind == W_UINT)
		return w.u > (uint64_t)hi ? hi : (int64_t)w.u;
	return w.i < lo ? lo : w.i > hi ? hi : w.i;
}

static uint64_t to_unsigned(struct wide w, uint64_t hi)
{
	if (w.kind == W_FLOAT) {
		if (isnan(w.d) || w.d <= 0)
			return 0;
		return w.d >= (double)hi ? hi : (uint64_t)w.d;
	}
	if (w.kind == W_INT)
		return w.i < 0 ? 0 : (uint64_t)w.i > hi ? hi : (uint64_t)w.i;
	return w.u > hi ? hi : w.u;
}

static double to_double(struct wide w)
{
	return w.kind == W_FLOAT ? w.d : w.kind == W_UINT ? (double)w.u : (double)w.i;
}

static void store(struct wide w, cn_num want, unsigned char *out)
{
	int8_t i8;
	int32_t i32;
	uint32_t u32;
	int64_t i64;
	uint64_t u64;
	float f;
	double d;

	switch (want) {
	case CN_I8: i8 = (int8_t)to_signed(w, INT8_MIN, INT8_MAX); memcpy(out, &i8, 1); break;
	case CN_I32: i32 = (int32_t)to_signed(w, INT32_MIN, INT32_MAX); memcpy(out, &i32, 4); break;
	case CN_U32: u32 = (uint32_t)to_unsigned(w, UINT32_MAX); memcpy(out, &u32, 4); break;
	case CN_I64: i64 = to_signed(w, INT64_MIN, INT64_MAX); memcpy(out, &i64, 8); break;
	case CN_U64: u64 = to_unsigned(w, UINT64_MAX); memcpy(out, &u64, 8); break;
	case CN_F32: f = (float)to_double(w); memcpy(out, &f, 4); break;
	case CN_F64: d = to_double(w); memcpy(out, &d, 8); break;
	}
}

/* Whether the stored values already are want's bytes. */
static int same_type(const cn_type *t, cn_num want, int swap)
{
	if (swap || t->size != cn_num_size(want))
		return 0;
	switch (want) {
	case CN_F32:
	case CN_F64: return t->cls == CN_T_FLOAT;
	case CN_U32:
	case CN_U64: return t->cls == CN_T_UINT;
	default: return t->cls == CN_T_INT;
	}
}

int cn_convertible(const cn_type *t)
{
	switch (t->cls) {
	case CN_T_INT:
	case CN_T_UINT:
	case CN_T_BOOL:
		return t->size == 1 || t->size == 2 || t->size == 4 || t->size == 8;
	case CN_T_FLOAT:
		return t->size == 4 || t->size == 8;
	default:
		return 0;
	}
}

int cn_converts_as_is(const cn_type *t, cn_num want)
{
	return same_type(t, want, t->size > 1 && t->big_endian != host_big_endian());
}

void cn_convert(const cn_type *t, const void *in, size_t n, cn_num want, void *out)
{
	int swap = t->size > 1 && t->big_endian != host_big_endian();
	size_t osize = cn_num_size(want);
	cn_type as = *t;

	if (same_type(t, want, swap)) {
		memcpy(out, in, n * osize);
		return;
	}
	/* A bool is stored as its integer value (h5py: an int8 enum). */
	if (as.cls == CN_T_BOOL)
		as.cls = CN_T_INT;
	for (size_t k = 0; k < n; k++)
		store(load(&as, (const unsigned char *)in + k * t->size, swap), want,
		      (unsigned char *)out + k * osize);
}
