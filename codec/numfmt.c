/*
 * numfmt.c - shortest round-trip decimal text of a double, laid out as
 * Python's repr() does (numfmt.h).
 *
 * The digits: a normal double has 15.95 decimal digits of precision, so
 * whatever the shortest round-tripping decimal is, it has at most 17
 * digits, and if one with p <= 15 digits exists, "%.14e" (15 digits)
 * yields it with trailing zeros. For 16 and 17 digits printf's correct
 * rounding gives the nearest p-digit decimal, which round-trips whenever
 * any p-digit one does. So trying 15, 16 and 17 digits in turn and keeping
 * the first that strtod reads back exactly gives the digits repr() picks.
 * Subnormals have fewer bits (5e-324 is one), so for them the search
 * starts at one digit. The layout is then rebuilt from the digits and the
 * exponent.
 */
#include "numfmt.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Python switches to scientific notation outside 1e-4 <= |v| < 1e16. */
#define FIXED_MIN_EXP (-4)
#define FIXED_MAX_EXP 15

size_t numfmt_repr(double v, char buf[static NUMFMT_LEN])
{
	if (!isfinite(v))
		return (size_t)snprintf(buf, NUMFMT_LEN, "%s",
					isnan(v) ? "nan" : v > 0 ? "inf" : "-inf");
	char sci[NUMFMT_LEN];
	for (int digits = fabs(v) < DBL_MIN ? 1 : 15; digits <= 17; digits++) {
		snprintf(sci, sizeof sci, "%.*e", digits - 1, v);
		if (strtod(sci, NULL) == v)
			break;
	}
	/* sci is [-]d.ddde[+-]xx: collect the digits without trailing zeros. */
	const char *p = sci;
	char *out = buf;
	if (*p == '-')
		*out++ = *p++;
	char mant[20];
	size_t n = 0;
	for (; *p != 'e'; p++)
		if (*p != '.')
			mant[n++] = *p;
	while (n > 1 && mant[n - 1] == '0')
		n--;
	int exp = atoi(p + 1);

	if (exp < FIXED_MIN_EXP || exp > FIXED_MAX_EXP) {
		*out++ = mant[0];
		if (n > 1) {
			*out++ = '.';
			memcpy(out, mant + 1, n - 1);
			out += n - 1;
		}
		out += sprintf(out, "e%c%02d", exp < 0 ? '-' : '+', abs(exp));
	} else if (exp < 0) {
		*out++ = '0';
		*out++ = '.';
		for (int z = -1; z > exp; z--)
			*out++ = '0';
		memcpy(out, mant, n);
		out += n;
	} else {
		size_t whole = (size_t)exp + 1; /* digits before the point */
		for (size_t i = 0; i < whole; i++)
			*out++ = i < n ? mant[i] : '0';
		*out++ = '.';
		if (n > whole) {
			memcpy(out, mant + whole, n - whole);
			out += n - whole;
		} else {
			*out++ = '0';
		}
	}
	*out = 0;
	return (size_t)(out - buf);
}
