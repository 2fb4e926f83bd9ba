/*
 * zarr_meta.c - the hierarchy of a Zarr store: which groups and arrays
 * exist, their attributes and their parsed array metadata, read once at
 * zr_open into a table sorted by path.
 *
 *   v2: ".zmetadata" (consolidated) when present, else from ".zgroup" down:
 *       each group's sub-directories holding a .zgroup or .zarray, with .zattrs
 *   v3: the root "zarr.json"; its consolidated_metadata when present, else
 *       each group's sub-directories holding a zarr.json
 *
 * Only groups are descended into, so the chunks of an array (which may be
 * directories too, with dimension_separator "/") are never listed. A
 * document that is not JSON fails the open; array metadata this reader does
 * not understand (an unknown codec, say) is kept as that array's error, so
 * the rest of the store stays readable.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zarr_internal.h"

#define MAX_NODES (1u << 20)
#define MAX_DEPTH 64

struct zr_node {
	char *path;
	zr_kind kind;
	cJSON *attrs;   /* an object (owned) */
	zr_array arr;   /* ZR_ARRAY */
	zr_rc arr_rc;   /* why arr is unusable, or ZR_OK */
	char *arr_err;
};

struct zr_store {
	struct zr_kv kv;
	int format;
	struct zr_node *nodes;
	size_t n, cap;
};

/* Read key as JSON (with Python's NaN and Infinity); ZR_ENOENT when absent. */
static zr_rc get_json(const zr_store *s, const char *key, cJSON **out, char *err)
{
	void *buf;
	size_t len;
	zr_rc rc = zr_kv_get(&s->kv, key, ZR_META_MAX, &buf, &len, err);

	if (rc != ZR_OK)
		return rc;
	*out = zr_json_parse(buf, len);
	free(buf);
	if (!*out)
		return zr_fail(err, ZR_EFORMAT, "%s: not valid JSON", key);
	return ZR_OK;
}

/* path "/" name, or name alone under the root. */
static char *join(const char *a, const char *b)
{
	return *a ? cn_path_join(a, b) : cn_strdup(b);
}

/* Add a node (taking attrs); meta is its array metadata (not taken). */
static zr_rc add_node(zr_store *s, const char *path, zr_kind kind, cJSON *attrs,
		      const cJSON *meta, char *err)
{
	if (s->n == MAX_NODES) {
		cJSON_Delete(attrs);
		return zr_fail(err, ZR_EUNSUPPORTED, "more than %u groups and arrays", MAX_NODES);
	}
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 64;
		struct zr_node *n = realloc(s->nodes, cap * sizeof *n);
		if (!n) {
			cJSON_Delete(attrs);
			return zr_fail(err, ZR_ENOMEM, "%s: out of memory", path);
		}
		s->nodes = n;
		s->cap = cap;
	}
	struct zr_node *n = &s->nodes[s->n];
	memset(n, 0, sizeof *n);
	n->kind = kind;
	n->attrs = cJSON_IsObject(attrs) ? attrs : (cJSON_Delete(attrs), cJSON_CreateObject());
	n->path = cn_strdup(path);
	if (!n->path || !n->attrs) {
		free(n->path);
		cJSON_Delete(n->attrs);
		return zr_fail(err, ZR_ENOMEM, "%s: out of memory", path);
	}
	s->n++;
	if (kind != ZR_ARRAY)
		return ZR_OK;
	char aerr[ZR_ERRLEN];
	n->arr.path = n->path;
	n->arr_rc = s->format == 3 ? zr_parse_v3_array(meta, &n->arr, aerr) :
		    zr_parse_v2_array(meta, &n->arr, aerr);
	if (n->arr_rc != ZR_OK && !(n->arr_err = cn_strdup(aerr)))
		return zr_fail(err, ZR_ENOMEM, "%s: out of memory", path);
	return ZR_OK;
}

/* ---- v2 ---- */

struct walk {
	zr_store *s;
	const char *parent;
	int depth;
	zr_rc rc;
	char *err;
};

static zr_rc v2_node(zr_store *s, const char *path, int depth, char *err);

static int v2_child(const char *name, void *ctx)
{
	struct walk *w = ctx;
	char *path = join(w->parent, name);

	w->rc = path ? v2_node(w->s, path, w->depth + 1, w->err) :
		zr_fail(w->err, ZR_ENOMEM, "%s: out of memory", w->parent);
	free(path);
	return w->rc != ZR_OK;
}

/* The group or array at path (nothing when it is neither), and below. */
static zr_rc v2_node(zr_store *s, const char *path, int depth, char *err)
{
	char *karr = join(path, ".zarray"), *kgrp = join(path, ".zgroup"), *katt = join(path, ".zattrs");
	cJSON *meta = NULL, *attrs = NULL;
	zr_kind kind = ZR_ARRAY;
	zr_rc rc;

	if (!karr || !kgrp || !katt) {
		rc = zr_fail(err, ZR_ENOMEM, "%s: out of memory", path);
		goto out;
	}
	rc = get_json(s, karr, &meta, err);
	if (rc == ZR_ENOENT) {
		kind = ZR_GROUP;
		rc = get_json(s, kgrp, &meta, err);
	}
	if (rc == ZR_ENOENT && depth > 0) {
		rc = ZR_OK;  /* a directory that is no node */
		goto out;
	}
	if (rc == ZR_ENOENT)
		rc = zr_fail(err, ZR_EFORMAT, "no .zgroup, .zarray or zarr.json at the root: not a Zarr store");
	if (rc == ZR_OK && (rc = get_json(s, katt, &attrs, err)) == ZR_ENOENT)
		rc = ZR_OK;
	if (rc == ZR_OK && (rc = add_node(s, path, kind, attrs, meta, err)) == ZR_OK && kind == ZR_GROUP) {
		if (depth >= MAX_DEPTH) {
			rc = zr_fail(err, ZR_EUNSUPPORTED, "%s: groups nested deeper than %d", path, MAX_DEPTH);
		} else {
			struct walk w = { s, path, depth, ZR_OK, err };
			rc = zr_kv_list(&s->kv, path, v2_child, &w, err);
			if (rc == ZR_OK)
				rc = w.rc;
		}
	} else if (rc != ZR_OK) {
		cJSON_Delete(attrs);
	}
out:
	cJSON_Delete(meta);
	free(karr);
	free(kgrp);
	free(katt);
	return rc;
}

/* Whether path (from consolidated metadata) is a clean relative path. */
static int clean_path(const char *p)
{
	if (!*p)
		return 1;
	for (;;) {
		const char *end = strchr(p, '/');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (!len || (len == 1 && *p == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
			return 0;
		if (!end)
			return 1;
		p = end + 1;
	}
}

/* .zmetadata: {"metadata": {".zgroup": {...}, "obs/.zattrs": {...}, ...}} */
static zr_rc v2_consolidated(zr_store *s, const cJSON *doc, char *err)
{
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(doc, "metadata");
	zr_rc rc = ZR_OK;

	if (!cJSON_IsObject(md))
		return zr_fail(err, ZR_EFORMAT, ".zmetadata: no metadata object");
	for (const cJSON *e = md->child; e && rc == ZR_OK; e = e->next) {
		const char *key = e->string, *slash = strrchr(key, '/');
		const char *file = slash ? slash + 1 : key;
		zr_kind kind = !strcmp(file, ".zarray") ? ZR_ARRAY : !strcmp(file, ".zgroup") ? ZR_GROUP : ZR_NONE;
		if (kind == ZR_NONE)
			continue;  /* .zattrs are looked up by their node */
		size_t plen = slash ? (size_t)(slash - key) : 0;
		char *path = strndup(key, plen), *katt = path ? join(path, ".zattrs") : NULL;
		if (!katt)
			rc = zr_fail(err, ZR_ENOMEM, ".zmetadata: out of memory");
		else if (!clean_path(path))
			rc = zr_fail(err, ZR_EFORMAT, ".zmetadata: key '%s' is not inside the store", key);
		else if (!cJSON_IsObject(e))
			rc = zr_fail(err, ZR_EFORMAT, ".zmetadata: '%s' is not an object", key);
		else
			rc = add_node(s, path, kind, cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(md, katt), 1),
				      e, err);
		free(path);
		free(katt);
	}
	return rc;
}

/* ---- v3 ---- */

static zr_rc v3_add(zr_store *s, const char *path, const cJSON *doc, char *err)
{
	const char *type = zr_json_str(doc, "node_type");
	const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(doc, "zarr_format");

	if (!cJSON_IsNumber(fmt) || fmt->valuedouble != 3 || !type ||
	    (strcmp(type, "group") && strcmp(type, "array")))
		return zr_fail(err, ZR_EFORMAT, "%s%szarr.json: not a zarr_format 3 group or array",
			       path, *path ? "/" : "");
	return add_node(s, path, !strcmp(type, "group") ? ZR_GROUP : ZR_ARRAY,
			cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(doc, "attributes"), 1), doc, err);
}

static zr_rc v3_node(zr_store *s, const char *path, int depth, char *err);

static int v3_child(const char *name, void *ctx)
{
	struct walk *w = ctx;
	char *path = join(w->parent, name);

	w->rc = path ? v3_node(w->s, path, w->depth + 1, w->err) :
		zr_fail(w->err, ZR_ENOMEM, "%s: out of memory", w->parent);
	free(path);
	return w->rc != ZR_OK;
}

static zr_rc v3_node(zr_store *s, const char *path, int depth, char *err)
{
	char *key = join(path, "zarr.json");
	cJSON *doc = NULL;
	zr_rc rc = key ? get_json(s, key, &doc, err) : zr_fail(err, ZR_ENOMEM, "%s: out of memory", path);

	free(key);
	if (rc == ZR_ENOENT && depth > 0)
		return ZR_OK;
	if (rc == ZR_OK)
		rc = v3_add(s, path, doc, err);
	const cJSON *cons = cJSON_GetObjectItemCaseSensitive(doc, "consolidated_metadata");
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(cons, "metadata");
	if (rc == ZR_OK && depth == 0 && cJSON_IsObject(md)) {
		/* {"obs": {...zarr.json...}, "obs/louvain": {...}, ...} */
		for (const cJSON *e = md->child; e && rc == ZR_OK; e = e->next)
			rc = !*e->string || !clean_path(e->string) ?
			     zr_fail(err, ZR_EFORMAT, "zarr.json: consolidated key '%s' is not inside the store", e->string) :
			     v3_add(s, e->string, e, err);
	} else if (rc == ZR_OK && s->nodes[s->n - 1].kind == ZR_GROUP) {
		if (depth >= MAX_DEPTH) {
			rc = zr_fail(err, ZR_EUNSUPPORTED, "%s: groups nested deeper than %d", path, MAX_DEPTH);
		} else {
			struct walk w = { s, path, depth, ZR_OK, err };
			rc = zr_kv_list(&s->kv, path, v3_child, &w, err);
			if (rc == ZR_OK)
				rc = w.rc;
		}
	}
	cJSON_Delete(doc);
	return rc;
}

/* ---- the table ---- */

static int node_cmp(const void *a, const void *b)
{
	return strcmp(((const struct zr_node *)a)->path, ((const struct zr_node *)b)->path);
}

static const struct zr_node *find(const zr_store *s, const char *path)
{
	struct zr_node key = { .path = (char *)path };
	return bsearch(&key, s->nodes, s->n, sizeof key, node_cmp);
}

zr_rc zr_open(const char *path, zr_store **out, char *err)
{
	zr_store *s = calloc(1, sizeof *s);
	cJSON *doc = NULL;
	zr_rc rc;

	*out = NULL;
	if (!s)
		return zr_fail(err, ZR_ENOMEM, "out of memory");
	if ((rc = zr_kv_open(&s->kv, path, err)) != ZR_OK) {
		free(s);
		return rc;
	}
	uint64_t size;
	s->format = zr_kv_size(&s->kv, "zarr.json", &size, err) == ZR_OK ? 3 : 2;
	if (s->format == 3)
		rc = v3_node(s, "", 0, err);
	else if ((rc = get_json(s, ".zmetadata", &doc, err)) == ZR_OK)
		rc = v2_consolidated(s, doc, err);
	else if (rc == ZR_ENOENT)
		rc = v2_node(s, "", 0, err);
	cJSON_Delete(doc);
	if (rc == ZR_OK) {
		qsort(s->nodes, s->n, sizeof *s->nodes, node_cmp);
		for (size_t i = 1; i < s->n && rc == ZR_OK; i++)
			if (!strcmp(s->nodes[i - 1].path, s->nodes[i].path))
				rc = zr_fail(err, ZR_EFORMAT, "%s: described twice", s->nodes[i].path);
		if (rc == ZR_OK && !find(s, ""))
			rc = zr_fail(err, ZR_EFORMAT, "no root group: not a Zarr store");
	}
	if (rc != ZR_OK) {
		zr_close(s);
		return rc;
	}
	*out = s;
	return ZR_OK;
}

void zr_close(zr_store *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++) {
		free(s->nodes[i].path);
		cJSON_Delete(s->nodes[i].attrs);
		zr_pipe_free((struct zr_pipe *)s->nodes[i].arr.pipe);
		free(s->nodes[i].arr_err);
	}
	free(s->nodes);
	zr_kv_close(&s->kv);
	free(s);
}

int zr_format(const zr_store *s)
{
	return s->format;
}

const struct zr_kv *zr_store_kv(const zr_store *s)
{
	return &s->kv;
}

zr_kind zr_kind_at(const zr_store *s, const char *path)
{
	const struct zr_node *n = find(s, path);
	return n ? n->kind : ZR_NONE;
}

const cJSON *zr_attrs(const zr_store *s, const char *path)
{
	const struct zr_node *n = find(s, path);
	return n ? n->attrs : NULL;
}

size_t zr_children(const zr_store *s, const char *path, const char ***names)
{
	size_t plen = strlen(path), count = 0;
	const char **out = NULL;

	*names = NULL;
	for (int pass = 0; pass < 2; pass++) {
		count = 0;
		for (size_t i = 0; i < s->n; i++) {
			const char *p = s->nodes[i].path;
			if (!*p || strncmp(p, path, plen) || (plen && p[plen] != '/'))
				continue;
			const char *name = p + plen + (plen ? 1 : 0);
			if (strchr(name, '/'))
				continue;
			if (out)
				out[count] = name;
			count++;
		}
		if (pass == 0 && (!count || !(out = cn_mallocn(count, sizeof *out))))
			return 0;
	}
	*names = out;
	return count;
}

zr_rc zr_array_get(const zr_store *s, const char *path, const zr_array **out, char *err)
{
	const struct zr_node *n = find(s, path);

	if (!n || n->kind != ZR_ARRAY)
		return zr_fail(err, ZR_ENOENT, "%s: no such array", path);
	if (n->arr_rc != ZR_OK)
		return zr_fail(err, n->arr_rc, "%s", n->arr_err);
	*out = &n->arr;
	return ZR_OK;
}
