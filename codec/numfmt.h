/*
 * numfmt.h - doubles as Python's repr() prints them, for the JSON documents.
 *
 * The exporter writes its manifests with Python's json module, which prints
 * a float as repr(): the fewest significant digits that read back as the
 * same double, fixed notation for exponents -4..15 ("0.0001", "1001.0",
 * "4.834000110626221") and scientific otherwise ("1e-05", "1.5e+16").
 * numfmt_repr(1001.0) is "1001.0", numfmt_repr(0.95) is "0.95".
 */
#ifndef NUMFMT_H
#define NUMFMT_H

#include <stddef.h>

/* Long enough for any double: sign, 17 digits, point, "e-308", NUL. */
#define NUMFMT_LEN 32

/* Writes v into buf and returns its length; "nan", "inf" and "-inf" for the
 * non-finite values (not JSON: callers write those as null). */
size_t numfmt_repr(double v, char buf[static NUMFMT_LEN]);

#endif
