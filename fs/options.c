/*
 * options.c - the cellucidfs mount options (-o key=value), parsed into
 * ex_options. Each bad value is refused with a reason naming the option.
 */
#include "export.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "docs.h"

void ex_options_init(ex_options *o)
{
	memset(o, 0, sizeof *o);
	o->compression = 6;
	o->var_bits = 8;
	o->obs_bits = 8;
	o->cache_size = (size_t)512 << 20;
	o->port = 8080;
	o->prefetch = EX_PREFETCH_OBS;
	o->watch = 1;
	o->settle = 1;
	o->index_layout = 1;
	o->confine = 1;
}

void ex_options_free(ex_options *o)
{
	free(o->latent);
	free(o->embedding);
	free(o->dataset_id);
	free(o->dataset_name);
	free(o->host);
	free(o->cache_dir);
	free(o->expression);
	free(o->gene_id_column);
	free(o->obs_keys);
	memset(o, 0, sizeof *o);
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

static int parse_bits(const char *s, int *out)
{
	if (!strcmp(s, "none")) {
		*out = 0;
		return 0;
	}
	if (!strcmp(s, "8") || !strcmp(s, "16")) {
		*out = atoi(s);
		return 0;
	}
	return -1;
}

/* The options whose values are words, each listed in the order of its
 * enum (ex_options_set stores the index). */
static const struct {
	const char *key;
	const char *words[4];
	const char *help;
} word_options[] = {
	{"prefetch", {"none", "obs", "all"}, "none, obs or all"},
	{"confine", {"no", "yes"}, "yes or no"},
	{"follow_symlinks", {"inside", "no", "all"}, "no, inside or all"},
	{"watch", {"no", "yes"}, "yes or no"},
	{"layout", {"names", "index"}, "names or index"},
};

/* The word_options entry of key (klen bytes), or -1. */
static int word_option(const char *key, size_t klen)
{
	for (size_t i = 0; i < sizeof word_options / sizeof *word_options; i++)
		if (strlen(word_options[i].key) == klen && !strncmp(key, word_options[i].key, klen))
			return (int)i;
	return -1;
}

/* The index of v among words, or -1. */
static int parse_word(const char *v, const char *const *words)
{
	for (int i = 0; i < 4 && words[i]; i++)
		if (!strcmp(v, words[i]))
			return i;
	return -1;
}

/* "512M", "2G", "1048576": a byte count with an optional K/M/G suffix. */
static int parse_size(const char *s, size_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *s == '-')
		return -1;
	unsigned shift = 0;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	}
	if (*end || (shift && v > (~0ULL >> shift)))
		return -1;
	*out = (size_t)(v << shift);
	return 0;
}

/* Once every option is known (layout=names may come after dataset_id): the
 * strict viewer rejects an id outside its local-folder rule and a name with
 * surrounding whitespace or control characters (viewer-contract-strict.md
 * §2, §10, §13); derived defaults are cleaned instead (fs/strict.c), but a
 * value the user chose is refused rather than silently changed. */
int ex_options_check(const ex_options *o, char *err, size_t errlen)
{
	if (!o->index_layout)
		return 0;
	if (o->dataset_id && !doc_is_local_id(o->dataset_id)) {
		snprintf(err, errlen, "dataset_id '%s' cannot be used with layout=index (at most "
			 "180 letters, digits, '.', '_' and '-', starting with a letter or digit, "
			 "not ending in '.', no device name such as CON)", o->dataset_id);
		return -1;
	}
	if (o->dataset_name && (!doc_is_trimmed(o->dataset_name) ||
				doc_has_control(o->dataset_name))) {
		snprintf(err, errlen, "dataset_name '%s' cannot be used with layout=index "
			 "(no surrounding whitespace, no control characters)", o->dataset_name);
		return -1;
	}
	return 0;
}

/* obs_keys=a:b:c names each column at most once. ':' separates the keys,
 * so a column whose name holds one cannot be named. */
static int check_obs_keys(const char *v, char *err, size_t errlen)
{
	for (const char *k = v;; k++) {
		size_t n = strcspn(k, ":");
		if (!n) {
			snprintf(err, errlen, "bad value '%s' for obs_keys (an empty key)", v);
			return -1;
		}
		for (const char *p = v; p < k; p += strcspn(p, ":") + 1)
			if (strcspn(p, ":") == n && !strncmp(p, k, n)) {
				snprintf(err, errlen, "bad value '%s' for obs_keys ('%.*s' twice)",
					 v, (int)n, k);
				return -1;
			}
		k += n;
		if (!*k)
			return 0;
	}
}

static int set_string(char **slot, const char *value)
{
	char *copy = strdup(value);
	if (!copy)
		return -1;
	free(*slot);
	*slot = copy;
	return 0;
}

int ex_options_set(ex_options *o, const char *opt, char *err, size_t errlen)
{
	const char *eq = strchr(opt, '=');
	size_t klen = eq ? (size_t)(eq - opt) : strlen(opt);
	const char *v = eq ? eq + 1 : NULL;
	long n;
	int w;
#define KEY(name) (klen == strlen(name) && !strncmp(opt, name, klen))
#define BAD(...) do { snprintf(err, errlen, __VA_ARGS__); return -1; } while (0)
#define NEED_VALUE(name) do { if (!v || !*v) BAD("option %s needs a value", name); } while (0)

	if (KEY("compression")) {
		NEED_VALUE("compression");
		if (parse_long(v, 0, 9, &n))
			BAD("bad value '%s' for compression (0 to 9)", v);
		o->compression = (int)n;
	} else if (KEY("var_quantization") || KEY("obs_quantization")) {
		int *slot = KEY("var_quantization") ? &o->var_bits : &o->obs_bits;
		NEED_VALUE("quantization");
		if (parse_bits(v, slot))
			BAD("bad value '%s' for %.*s (8, 16 or none)", v, (int)klen, opt);
	} else if (KEY("cache_size")) {
		NEED_VALUE("cache_size");
		if (parse_size(v, &o->cache_size))
			BAD("bad value '%s' for cache_size (bytes, or a number with K, M or G)", v);
	} else if (KEY("port")) {
		NEED_VALUE("port");
		if (parse_long(v, 1, 65535, &n))
			BAD("bad value '%s' for port (1 to 65535)", v);
		o->port = (int)n;
	} else if ((w = word_option(opt, klen)) >= 0) {
		NEED_VALUE(word_options[w].key);
		if ((n = parse_word(v, word_options[w].words)) < 0)
			BAD("bad value '%s' for %s (%s)", v, word_options[w].key, word_options[w].help);
		switch (w) {
		case 0: o->prefetch = (ex_prefetch)n; break;
		case 1: o->confine = (int)n; break;
		case 2: o->follow_symlinks = (ex_follow)n; break;
		case 3: o->watch = (int)n; break;
		default: o->index_layout = (int)n; break;
		}
	} else if (KEY("settle")) {
		NEED_VALUE("settle");
		if (parse_long(v, 1, 3600, &n))
			BAD("bad value '%s' for settle (seconds, 1 to 3600)", v);
		o->settle = (int)n;
	} else if (KEY("latent") || KEY("embedding") || KEY("dataset_id") ||
		   KEY("dataset_name") || KEY("host") || KEY("cache_dir") ||
		   KEY("expression") || KEY("gene_id_column") || KEY("obs_keys")) {
		char **slot = KEY("latent") ? &o->latent : KEY("embedding") ? &o->embedding
			    : KEY("dataset_id") ? &o->dataset_id
			    : KEY("dataset_name") ? &o->dataset_name
			    : KEY("cache_dir") ? &o->cache_dir
			    : KEY("expression") ? &o->expression
			    : KEY("gene_id_column") ? &o->gene_id_column
			    : KEY("obs_keys") ? &o->obs_keys : &o->host;
		if (!v || !*v)
			BAD("option %.*s needs a value", (int)klen, opt);
		if (KEY("host") && strpbrk(v, " \t\r\n"))
			BAD("bad value '%s' for host (no whitespace)", v);
		if (KEY("expression") && strcmp(v, "X") && strcmp(v, "raw") &&
		    (strncmp(v, "layer:", 6) || !v[6]))
			BAD("bad value '%s' for expression (X, raw or layer:NAME)", v);
		if (KEY("obs_keys") && check_obs_keys(v, err, errlen))
			return -1;
		if (set_string(slot, v))
			BAD("out of memory");
	} else {
		return 0;
	}
	return 1;
#undef KEY
#undef BAD
#undef NEED_VALUE
}
