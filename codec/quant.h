/*
 * quant.h - quantise float32 arrays to u8/u16 codes (export-format.md §3).
 *
 * Codes: 0..top for finite values, top+1 for NaN/±Inf (the missing marker);
 * top = 254 for 8 bits, 65534 for 16 bits.
 */
#ifndef QUANT_H
#define QUANT_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
	float min, max; /* max already adjusted (min+1) when the data is constant */
} quant_range;

/* min/max over finite values; none finite -> [0, 1]; max == min -> max = min + 1
 * (in float32: beyond 2^24 that is min again, and every code is then 0). */
quant_range quant_find_range(const float *v, size_t n);
/* The same rule applied to a min/max the caller found itself (e.g. while
 * streaming); have_finite == 0 means no finite value was seen. */
quant_range quant_range_adjust(float min, float max, int have_finite);

/* code = trunc(clip((v - min) * scale, 0, top)) with float32 operands and
 * scale = (float)(top / ((double)max - (double)min)), the reference's
 * arithmetic; values outside [min, max] clip. */
void quant_encode_u8(const float *v, size_t n, quant_range r, uint8_t *out);
void quant_encode_u16(const float *v, size_t n, quant_range r, uint16_t *out);

#endif
