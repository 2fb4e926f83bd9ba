/*
 * quant.h - quantise float32 arrays to u8/u16 codes (docs/export-rules.md).
 *
 * Codes: 0..top for finite values, top+1 for NaN/±Inf (the missing marker);
 * top = 254 for 8 bits, 65534 for 16 bits. Two exporters, two rules:
 *
 *   QUANT_TRUNC32  the 0.9 exporter (layout=names): a constant field gets
 *                  [v, v + 1]; code = trunc((v - min) * scale) in float32.
 *   QUANT_FLOOR64  the newest exporter (layout=index): a constant field gets
 *                  [v, v] and code 0; code = floor((v - min) * scale + 1e-8)
 *                  in float64, so the maximum is 254 (65534) exactly.
 *
 * Both: scale = top / (max - min) in float64, min/max over the finite
 * values, [0, 1] when there is none, and the result clipped to 0..top.
 */
#ifndef QUANT_H
#define QUANT_H

#include <stddef.h>
#include <stdint.h>

typedef enum { QUANT_TRUNC32, QUANT_FLOOR64 } quant_rule;

typedef struct {
	float min, max;  /* as published; QUANT_TRUNC32's constant max is min + 1 */
	quant_rule rule; /* the arithmetic the codes of this range follow */
} quant_range;

/* min/max over finite values under the rule (see above; QUANT_TRUNC32's
 * min + 1 is min again beyond 2^24 in float32, and every code is then 0). */
quant_range quant_find_range(const float *v, size_t n, quant_rule rule);
/* The same rule applied to a min/max the caller found itself (e.g. while
 * streaming); have_finite == 0 means no finite value was seen. */
quant_range quant_range_adjust(float min, float max, int have_finite, quant_rule rule);

/* The codes of v under r.rule; values outside [min, max] clip. */
void quant_encode_u8(const float *v, size_t n, quant_range r, uint8_t *out);
void quant_encode_u16(const float *v, size_t n, quant_range r, uint16_t *out);

#endif
