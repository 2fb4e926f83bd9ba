/*
 * zarr_json.c - the JSON of Zarr metadata documents, with the extension
 * Python's json module writes: bare NaN, Infinity and -Infinity. zarr-python
 * dumps attributes (and a consolidated .zmetadata of them) with
 * allow_nan, so a float attribute or a NaN in uns gives
 *
 *   {"encoding-type": "dataframe", "threshold": NaN}
 *
 * which strict JSON (cJSON) refuses. Outside strings, each such token is
 * rewritten into a marked string before parsing, and the marked strings
 * are turned back into numbers after it: the value is the number Python
 * meant, and a string "NaN" (a v2 fill_value) stays a string.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "zarr_internal.h"

/* The tokens, and what each becomes in the text given to cJSON: a string
 * starting with U+0001, which no metadata has reason to hold. */
static const struct {
	const char *token, *marked;
	double value;
} bare[] = {
	{ "-Infinity", "\"\\u0001-Infinity\"", -INFINITY },
	{ "Infinity", "\"\\u0001Infinity\"", INFINITY },
	{ "NaN", "\"\\u0001NaN\"", NAN },
};
#define NBARE (sizeof bare / sizeof *bare)

static int word_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '.' || c == '+' || c == '-';
}

/* The bare token at buf[i] (outside a string, not part of a longer word),
 * or -1. */
static int bare_at(const char *buf, size_t len, size_t i)
{
	if (i > 0 && word_char(buf[i - 1]))
		return -1;
	for (size_t t = 0; t < NBARE; t++) {
		size_t n = strlen(bare[t].token);
		if (len - i >= n && !memcmp(buf + i, bare[t].token, n) &&
		    (i + n == len || !word_char(buf[i + n])))
			return (int)t;
	}
	return -1;
}

/* Copy buf into out (when non-NULL) with the bare tokens marked; the
 * length of the result. */
static size_t mark(const char *buf, size_t len, char *out)
{
	size_t o = 0;
	int in_string = 0;

	for (size_t i = 0; i < len; i++) {
		int t = in_string ? -1 : bare_at(buf, len, i);
		if (t >= 0) {
			size_t m = strlen(bare[t].marked);
			if (out)
				memcpy(out + o, bare[t].marked, m);
			o += m;
			i += strlen(bare[t].token) - 1;
			continue;
		}
		if (buf[i] == '"')
			in_string = !in_string;
		else if (in_string && buf[i] == '\\' && i + 1 < len) {
			if (out)
				out[o] = buf[i];
			o++, i++;  /* the escaped character, an escaped quote too */
		}
		if (out)
			out[o] = buf[i];
		o++;
	}
	return o;
}

/* The marked strings of j, at any depth, back into numbers. */
static void unmark(cJSON *j)
{
	for (; j; j = j->next) {
		if (cJSON_IsString(j) && j->valuestring[0] == '\1') {
			for (size_t t = 0; t < NBARE; t++)
				if (!strcmp(j->valuestring + 1, bare[t].token)) {
					free(j->valuestring);
					j->valuestring = NULL;
					j->type = cJSON_Number;
					j->valuedouble = bare[t].value;
					j->valueint = 0;
					break;
				}
		}
		unmark(j->child);
	}
}

cJSON *zr_json_parse(const char *buf, size_t len)
{
	size_t n = mark(buf, len, NULL);

	if (n == len)
		return cJSON_ParseWithLength(buf, len);
	char *text = malloc(n);
	if (!text)
		return NULL;
	mark(buf, len, text);
	cJSON *j = cJSON_ParseWithLength(text, n);
	free(text);
	unmark(j);
	return j;
}
