/*
 * utf8.c - see utf8.h.
 */
#include "utf8.h"

#include <stdlib.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at p (1-4), or 0 if it is invalid. */
static size_t valid_sequence(const unsigned char *p)
{
	if (p[0] < 0x80)
		return 1;
	size_t n;
	unsigned cp, min;
	if ((p[0] & 0xe0) == 0xc0)
		n = 2, cp = p[0] & 0x1f, min = 0x80;
	else if ((p[0] & 0xf0) == 0xe0)
		n = 3, cp = p[0] & 0x0f, min = 0x800;
	else if ((p[0] & 0xf8) == 0xf0)
		n = 4, cp = p[0] & 0x07, min = 0x10000;
	else
		return 0;
	for (size_t k = 1; k < n; k++) {
		if ((p[k] & 0xc0) != 0x80) /* also stops at the terminating NUL */
			return 0;
		cp = cp << 6 | (p[k] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

char *utf8_repair(const char *s, int *failed)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len = 0, bad = 0;
	for (size_t n; *p; p += n) {
		n = valid_sequence(p);
		if (!n) {
			bad++;
			n = 1;
		}
		len += n;
	}
	*failed = 0;
	if (!bad)
		return NULL;
	/* Each bad byte (1) becomes U+FFFD (3 bytes). */
	char *out = malloc(len + 2 * bad + 1), *q = out;
	if (!out) {
		*failed = 1;
		return NULL;
	}
	for (p = (const unsigned char *)s; *p;) {
		size_t n = valid_sequence(p);
		if (n) {
			memcpy(q, p, n);
			q += n, p += n;
		} else {
			memcpy(q, "\xef\xbf\xbd", 3);
			q += 3, p++;
		}
	}
	*q = 0;
	return out;
}
