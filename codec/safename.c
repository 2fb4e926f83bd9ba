/*
 * safename.c - the file-name-safe form of a field or gene key, and a set of
 * the names already used in one directory.
 *
 * The viewer derives the file name from the key with the same rule, so the
 * rule is followed byte for byte, and a collision is reported rather than
 * resolved. The set is open addressing with linear probing: a directory may
 * hold ~100k genes, and a probe sequence over one flat array beats chained
 * nodes there.
 */
#include "safename.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int is_safe(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

static int is_strippable(char c)
{
	return c == '.' || c == '_';
}

char *safename(const char *key)
{
	size_t len = strlen(key);
	/* The result is never longer than the key, or than "field". */
	char *out = malloc(len + sizeof("field"));
	if (!out)
		return NULL;
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)key[i];
		if (is_safe(c))
			out[n++] = (char)c;
		else if (i == 0 || is_safe((unsigned char)key[i - 1]))
			out[n++] = '_'; /* first byte of an unsafe run */
	}
	size_t start = 0;
	while (start < n && is_strippable(out[start]))
		start++;
	while (n > start && is_strippable(out[n - 1]))
		n--;
	if (n == start) {
		strcpy(out, "field");
		return out;
	}
	memmove(out, out + start, n - start);
	out[n - start] = '\0';
	return out;
}

struct safename_set {
	char **slot; /* cap entries, NULL = empty */
	size_t cap;  /* a power of two */
	size_t count;
};

#define SET_MIN_CAP 64

static uint64_t hash_name(const char *s)
{
	uint64_t h = 0xcbf29ce484222325u; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3u;
	return h;
}

/* The slot holding name, or the empty slot where it belongs. */
static char **find_slot(char **slot, size_t cap, const char *name)
{
	size_t i = (size_t)hash_name(name) & (cap - 1);
	while (slot[i] && strcmp(slot[i], name) != 0)
		i = (i + 1) & (cap - 1);
	return &slot[i];
}

safename_set *safename_set_new(void)
{
	safename_set *s = malloc(sizeof(*s));
	if (!s)
		return NULL;
	s->slot = calloc(SET_MIN_CAP, sizeof(*s->slot));
	if (!s->slot) {
		free(s);
		return NULL;
	}
	s->cap = SET_MIN_CAP;
	s->count = 0;
	return s;
}

void safename_set_free(safename_set *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->cap; i++)
		free(s->slot[i]);
	free(s->slot);
	free(s);
}

static int grow(safename_set *s)
{
	if (s->cap > SIZE_MAX / 2 / sizeof(*s->slot))
		return -1;
	size_t cap = s->cap * 2;
	char **slot = calloc(cap, sizeof(*slot));
	if (!slot)
		return -1;
	for (size_t i = 0; i < s->cap; i++)
		if (s->slot[i])
			*find_slot(slot, cap, s->slot[i]) = s->slot[i];
	free(s->slot);
	s->slot = slot;
	s->cap = cap;
	return 0;
}

int safename_set_add(safename_set *s, const char *name)
{
	char **at = find_slot(s->slot, s->cap, name);
	if (*at)
		return 0;
	/* Keep the load at most 1/2 so probe runs stay short. */
	if (2 * (s->count + 1) > s->cap) {
		if (grow(s) != 0)
			return -1;
		at = find_slot(s->slot, s->cap, name);
	}
	*at = strdup(name);
	if (!*at)
		return -1;
	s->count++;
	return 1;
}
