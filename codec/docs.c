/*
 * docs.c - build the JSON documents of an export, in both dialects.
 *
 * The names layout follows what the reference exporter writes
 * (shared/reference/): manifests as compact_v1, quantised fields as
 * [key, min, max] tuples, float32 ones as [key]. Numbers that the reference
 * computes in float32 are passed here as float and widened to double
 * unchanged, so a parsed document equals the reference's value for value.
 * Both exporters print with Python's json module: what they hold as floats
 * (bounds, positions, the outlier quantile) is printed here as repr() does
 * it (numfmt.c: "1001.0", "4.834000110626221"), counts and codes as
 * integers. A non-finite float is written as null, which keeps every
 * document valid JSON whatever the data holds.
 *
 * layout=index writes the same documents with the strict viewer's
 * differences (viewer-contract-strict.md): tuples led by the payload index,
 * {index} path patterns, continuous fields first in the identity, a real
 * categorical dtype in export_settings (or none), edge weights. Both dialects
 * go through the same builders; the differences are the few branches on
 * index_layout below.
 */
#include "docs.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "numfmt.h"
#include "safename.h"

const char *doc_gz_suffix(const doc_dataset *d)
{
	return d->compression ? ".gz" : "";
}

const char *doc_ext(int bits)
{
	return bits == 8 ? "u8" : bits == 16 ? "u16" : "f32";
}

static const char *dtype_name(int bits)
{
	return bits == 8 ? "uint8" : bits == 16 ? "uint16" : "float32";
}

size_t doc_index_bytes(size_t n_cells, int index_layout)
{
	return n_cells > (index_layout ? 65536u : 65535u) ? 4 : 2;
}

/* The payload-name placeholder of path patterns. */
static const char *placeholder(const doc_dataset *d)
{
	return d->index_layout ? "{index}" : "{key}";
}

/* cJSON reports allocation failure by returning NULL from each constructor and
 * ignoring NULL children, so documents are built optimistically and checked
 * once when printed (a NULL anywhere makes the printed text NULL or the
 * object incomplete; the add helpers below turn a failed add into failure). */
typedef struct {
	int failed;
} builder;

static cJSON *add(builder *b, cJSON *parent, const char *key, cJSON *item)
{
	if (!item || !parent) {
		b->failed = 1;
		cJSON_Delete(item);
		return NULL;
	}
	if (key ? !cJSON_AddItemToObject(parent, key, item)
		: !cJSON_AddItemToArray(parent, item)) {
		b->failed = 1;
		cJSON_Delete(item);
		return NULL;
	}
	return item;
}

static void add_num(builder *b, cJSON *o, const char *key, double v)
{
	add(b, o, key, cJSON_CreateNumber(v));
}

/* A value the reference holds as a Python float, printed as its repr(). */
static void add_float(builder *b, cJSON *o, const char *key, double v)
{
	char text[NUMFMT_LEN];
	if (!isfinite(v)) {
		add(b, o, key, cJSON_CreateNull());
		return;
	}
	numfmt_repr(v, text);
	add(b, o, key, cJSON_CreateRaw(text));
}

static void add_str(builder *b, cJSON *o, const char *key, const char *s)
{
	add(b, o, key, cJSON_CreateString(s));
}

/* Category k of f: in the names layout the text (Python's str(), as the 0.9
 * exporter); in layout=index the value of numpy's .item() as json writes it,
 * as the newest exporter: an integer as is, a float by repr() of the double
 * (float32 widened), a boolean. The reader's text (anndata/ad.h) is exact
 * for its type; strict.c left out fields with non-finite ones. */
static void add_category(builder *b, cJSON *o, const char *key, const doc_dataset *d,
			 const doc_field *f, size_t k)
{
	const char *s = f->categories[k];
	doc_category_type t = d->index_layout ? f->category_type : DOC_CAT_TEXT;
	if (t == DOC_CAT_INT)
		add(b, o, key, cJSON_CreateRaw(s));
	else if (t == DOC_CAT_FLOAT32 || t == DOC_CAT_FLOAT64)
		add_float(b, o, key, t == DOC_CAT_FLOAT32 ? strtof(s, NULL) : strtod(s, NULL));
	else if (t == DOC_CAT_BOOL)
		add(b, o, key, cJSON_CreateBool(!strcmp(s, "True")));
	else
		add_str(b, o, key, s);
}

/* compression is an integer level, or null when files are stored plain. */
static void add_compression(builder *b, cJSON *o, const char *key, int level)
{
	add(b, o, key, level ? cJSON_CreateNumber(level) : cJSON_CreateNull());
}

static void add_bits_or_null(builder *b, cJSON *o, const char *key, int bits)
{
	add(b, o, key, bits ? cJSON_CreateNumber(bits) : cJSON_CreateNull());
}

static char *finish(builder *b, cJSON *root, int pretty)
{
	char *text = NULL;
	if (root && !b->failed)
		text = pretty ? cJSON_Print(root) : cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	return text;
}

static size_t count_categorical(const doc_dataset *d)
{
	size_t n = 0;
	for (size_t i = 0; i < d->n_fields; i++)
		n += d->fields[i].categorical != 0;
	return n;
}

static void add_embeddings(builder *b, cJSON *root, const doc_dataset *d)
{
	cJSON *emb = add(b, root, "embeddings", cJSON_CreateObject());
	cJSON *dims = add(b, emb, "available_dimensions", cJSON_CreateArray());
	add_num(b, emb, "default_dimension", d->default_dim);
	cJSON *files = add(b, emb, "files", cJSON_CreateObject());
	for (int dim = 1; dim <= 3; dim++) {
		if (!d->has_dim[dim])
			continue;
		char key[16], path[48];
		snprintf(key, sizeof key, "%dd", dim);
		snprintf(path, sizeof path, "points_%dd.bin%s", dim, doc_gz_suffix(d));
		add_num(b, dims, NULL, dim);
		add_str(b, files, key, path);
	}
}

/* export_settings.obs_categorical_dtype: "auto" as the reference writes it;
 * the strict viewer wants the one dtype every categorical field has, so
 * there is none to write (NULL: leave export_settings out) when they mix. */
static const char *categorical_dtype(const doc_dataset *d)
{
	if (!d->index_layout)
		return "auto";
	int bits = 0;
	for (size_t i = 0; i < d->n_fields; i++) {
		const doc_field *f = &d->fields[i];
		if (!f->categorical)
			continue;
		if (bits && f->code_bits != bits)
			return NULL;
		bits = f->code_bits;
	}
	return bits == 16 ? "uint16" : "uint8";
}

/* "velocity_umap" -> "Velocity (UMAP)"; the strict dialect wants the id. */
static void vector_label(const doc_dataset *d, const char *id, char *buf, size_t len)
{
	size_t n = strlen(id), suffix = strlen("_umap");
	if (d->index_layout || n <= suffix || strcmp(id + n - suffix, "_umap")) {
		snprintf(buf, len, "%s", id);
		return;
	}
	snprintf(buf, len, "%.*s (UMAP)", (int)(n - suffix), id);
	for (char *p = buf; *p && p < buf + (n - suffix); p++)
		*p = *p == '_' ? ' ' : p == buf && *p >= 'a' && *p <= 'z' ? (char)(*p - 32) : *p;
}

static void add_vector_fields(builder *b, cJSON *root, const doc_dataset *d)
{
	if (!d->n_vectors)
		return;
	cJSON *vf = add(b, root, "vector_fields", cJSON_CreateObject());
	add_str(b, vf, "default_field", d->vectors[d->default_vector].id);
	cJSON *fields = add(b, vf, "fields", cJSON_CreateObject());
	for (size_t i = 0; i < d->n_vectors; i++) {
		const doc_vector *v = &d->vectors[i];
		char label[300];
		vector_label(d, v->id, label, sizeof label);
		/* The strict viewer wants the largest; the names dialect agrees. */
		int largest = 0;
		for (int dim = 1; dim <= 3; dim++)
			largest = v->has_dim[dim] ? dim : largest;
		/* Both exporters' key order; the two lists are filled below. */
		cJSON *o = add(b, fields, v->id, cJSON_CreateObject());
		add_str(b, o, "label", label);
		cJSON *dims = add(b, o, "available_dimensions", cJSON_CreateArray());
		add_num(b, o, "default_dimension", largest);
		cJSON *files = add(b, o, "files", cJSON_CreateObject());
		for (int dim = 1; dim <= 3; dim++) {
			if (!v->has_dim[dim])
				continue;
			char key[16], path[320], position[24];
			snprintf(key, sizeof key, "%dd", dim);
			snprintf(position, sizeof position, "%zu", i);
			snprintf(path, sizeof path, "vectors/%s_%dd.bin%s",
				 d->index_layout ? position : v->safe_id, dim, doc_gz_suffix(d));
			add_num(b, dims, NULL, dim);
			add_str(b, files, key, path);
		}
		add_str(b, o, "basis", "umap");
	}
}

char *doc_identity(const doc_dataset *d)
{
	builder b = {0};
	cJSON *root = cJSON_CreateObject();
	add_num(&b, root, "version", 2);
	add_str(&b, root, "id", d->id);
	add_str(&b, root, "name", d->name);
	add_str(&b, root, "description", "");
	/* Optional for the strict viewer, which wants it to print back as the
	 * same ISO date: a year outside 1000..9999 would not. */
	if (!d->index_layout || strlen(d->created_at) == strlen("YYYY-MM-DDTHH:MM:SSZ"))
		add_str(&b, root, "created_at", d->created_at);
	add_str(&b, root, "cellucid_data_version", d->version);

	size_t n_cat = count_categorical(d);
	cJSON *stats = add(&b, root, "stats", cJSON_CreateObject());
	add_num(&b, stats, "n_cells", (double)d->n_cells);
	add_num(&b, stats, "n_genes", (double)d->n_genes);
	add_num(&b, stats, "n_obs_fields", (double)d->n_fields);
	add_num(&b, stats, "n_categorical_fields", (double)n_cat);
	add_num(&b, stats, "n_continuous_fields", (double)(d->n_fields - n_cat));
	add(&b, stats, "has_connectivity", cJSON_CreateBool(d->has_graph));
	add(&b, stats, "n_edges", d->has_graph ? cJSON_CreateNumber((double)d->n_edges)
					       : cJSON_CreateNull());

	add_embeddings(&b, root, d);

	cJSON *fields = add(&b, root, "obs_fields", cJSON_CreateArray());
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < d->n_fields; i++) {
			const doc_field *f = &d->fields[i];
			if (d->index_layout ? f->categorical != pass : pass)
				continue;
			cJSON *o = add(&b, fields, NULL, cJSON_CreateObject());
			add_str(&b, o, "key", f->key);
			add_str(&b, o, "kind", f->categorical ? "category" : "continuous");
			if (f->categorical)
				add_num(&b, o, "n_categories", (double)f->n_categories);
		}
	}

	const char *dtype = categorical_dtype(d);
	if (dtype) {
		cJSON *set = add(&b, root, "export_settings", cJSON_CreateObject());
		add_compression(&b, set, "compression", d->compression);
		add_bits_or_null(&b, set, "var_quantization", d->var_bits);
		add_bits_or_null(&b, set, "obs_continuous_quantization", d->obs_bits);
		add_str(&b, set, "obs_categorical_dtype", dtype);
	}
	add_vector_fields(&b, root, d);
	return finish(&b, root, 1);
}

/* The schema every quantised-or-not payload family shares. */
static void add_value_schema(builder *b, cJSON *o, const char *pattern_key,
			     const char *dir, const char *stem, int bits,
			     const doc_dataset *d)
{
	char pattern[64];
	snprintf(pattern, sizeof pattern, "%s/%s.%s.%s%s", dir, placeholder(d), stem,
		 doc_ext(bits), doc_gz_suffix(d));
	add_str(b, o, pattern_key, pattern);
	add_str(b, o, "ext", doc_ext(bits));
	add_str(b, o, "dtype", dtype_name(bits));
	add(b, o, "quantized", cJSON_CreateBool(bits != 0));
	if (bits)
		add_num(b, o, "quantizationBits", bits);
}

/* A manifest tuple opens with the key, or with [index, key] in layout=index. */
static cJSON *open_tuple(builder *b, const doc_dataset *d, cJSON *list, size_t index,
			 const char *key)
{
	cJSON *t = add(b, list, NULL, cJSON_CreateArray());
	if (d->index_layout)
		add_num(b, t, NULL, (double)index);
	add_str(b, t, NULL, key);
	return t;
}

/* [key] or [key, min, max]: the tuple shape of continuous fields and genes. */
static void add_range_tuple(builder *b, const doc_dataset *d, cJSON *list, size_t index,
			    const char *key, int bits, quant_range r)
{
	cJSON *t = open_tuple(b, d, list, index, key);
	if (bits) {
		add_float(b, t, NULL, r.min);
		add_float(b, t, NULL, r.max);
	}
}

static void add_centroids(builder *b, cJSON *tuple, const doc_dataset *d,
			  const doc_field *f)
{
	cJSON *by_dim = add(b, tuple, NULL, cJSON_CreateObject());
	for (int dim = 1; dim <= 3; dim++) {
		const centroid *c = f->centroids[dim];
		if (!c)
			continue;
		char key[16];
		snprintf(key, sizeof key, "%d", dim);
		cJSON *list = add(b, by_dim, key, cJSON_CreateArray());
		for (size_t k = 0; k < f->n_categories; k++) {
			if (!c[k].present)
				continue;
			cJSON *o = add(b, list, NULL, cJSON_CreateObject());
			add_category(b, o, "category", d, f, k);
			cJSON *pos = add(b, o, "position", cJSON_CreateArray());
			for (int j = 0; j < dim; j++)
				add_float(b, pos, NULL, c[k].position[j]);
			add_num(b, o, "n_points", (double)c[k].n_points);
		}
	}
}

static void add_categorical_tuple(builder *b, const doc_dataset *d, cJSON *list,
				  const doc_field *f)
{
	cJSON *t = open_tuple(b, d, list, f->index, f->key);
	cJSON *cats = add(b, t, NULL, cJSON_CreateArray());
	for (size_t k = 0; k < f->n_categories; k++)
		add_category(b, cats, NULL, d, f, k);
	add_str(b, t, NULL, f->code_bits == 8 ? "uint8" : "uint16");
	add_num(b, t, NULL, f->code_bits == 8 ? 255 : 65535);
	add_centroids(b, t, d, f);
	if (d->obs_bits) {
		add_float(b, t, NULL, f->outlier_range.min);
		add_float(b, t, NULL, f->outlier_range.max);
	}
}

char *doc_obs_manifest(const doc_dataset *d)
{
	builder b = {0};
	cJSON *root = cJSON_CreateObject();
	add_str(&b, root, "_format", "compact_v1");
	add_num(&b, root, "n_points", (double)d->n_cells);
	add_float(&b, root, "centroid_outlier_quantile", 0.95);
	add_str(&b, root, "latent_key", "latent_space");
	add_compression(&b, root, "compression", d->compression);

	size_t n_cat = count_categorical(d);
	cJSON *schemas = add(&b, root, "_obsSchemas", cJSON_CreateObject());
	if (d->n_fields > n_cat) {
		cJSON *s = add(&b, schemas, "continuous", cJSON_CreateObject());
		add_value_schema(&b, s, "pathPattern", "obs", "values", d->obs_bits, d);
	}
	if (n_cat) {
		cJSON *s = add(&b, schemas, "categorical", cJSON_CreateObject());
		char pattern[64];
		snprintf(pattern, sizeof pattern, "obs/%s.codes.{ext}%s", placeholder(d),
			 doc_gz_suffix(d));
		add_str(&b, s, "codesPathPattern", pattern);
		snprintf(pattern, sizeof pattern, "obs/%s.outliers.%s%s", placeholder(d),
			 doc_ext(d->obs_bits), doc_gz_suffix(d));
		add_str(&b, s, "outlierPathPattern", pattern);
		add_str(&b, s, "outlierExt", doc_ext(d->obs_bits));
		add_str(&b, s, "outlierDtype", dtype_name(d->obs_bits));
		add(&b, s, "outlierQuantized", cJSON_CreateBool(d->obs_bits != 0));
	}

	cJSON *cont = add(&b, root, "_continuousFields", cJSON_CreateArray());
	cJSON *cat = add(&b, root, "_categoricalFields", cJSON_CreateArray());
	for (size_t i = 0; i < d->n_fields; i++) {
		const doc_field *f = &d->fields[i];
		if (f->categorical)
			add_categorical_tuple(&b, d, cat, f);
		else
			add_range_tuple(&b, d, cont, f->index, f->key, d->obs_bits, f->range);
	}
	return finish(&b, root, 0);
}

char *doc_var_manifest(const doc_dataset *d, char *const *genes,
		       const quant_range *ranges, size_t n)
{
	builder b = {0};
	cJSON *root = cJSON_CreateObject();
	add_str(&b, root, "_format", "compact_v1");
	add_num(&b, root, "n_points", (double)d->n_cells);
	/* The var index: "index" in the 0.9 exporter's manifest, null in the
	 * newest one's. */
	if (d->gene_id_column || !d->index_layout)
		add_str(&b, root, "var_gene_id_column", d->gene_id_column ? d->gene_id_column : "index");
	else
		add(&b, root, "var_gene_id_column", cJSON_CreateNull());
	add_compression(&b, root, "compression", d->compression);
	add_bits_or_null(&b, root, "quantization", d->var_bits);
	cJSON *schema = add(&b, root, "_varSchema", cJSON_CreateObject());
	add_str(&b, schema, "kind", "continuous");
	add_value_schema(&b, schema, "pathPattern", "var", "values", d->var_bits, d);
	cJSON *fields = add(&b, root, "fields", cJSON_CreateArray());
	for (size_t i = 0; i < n; i++)
		add_range_tuple(&b, d, fields, i, genes[i], d->var_bits,
				d->var_bits ? ranges[i] : (quant_range){0, 0, QUANT_TRUNC32});
	return finish(&b, root, 0);
}

char *doc_connectivity_manifest(const doc_dataset *d)
{
	builder b = {0};
	int wide = doc_index_bytes(d->n_cells, d->index_layout) == 4;
	char path[48];
	cJSON *root = cJSON_CreateObject();
	add_str(&b, root, "format", "edge_pairs");
	add_num(&b, root, "n_cells", (double)d->n_cells);
	add_num(&b, root, "n_edges", (double)d->n_edges);
	add_num(&b, root, "max_neighbors", (double)d->max_neighbors);
	add_num(&b, root, "index_bytes", wide ? 4 : 2);
	add_str(&b, root, "index_dtype", wide ? "uint32" : "uint16");
	snprintf(path, sizeof path, "connectivity/edges.src.bin%s", doc_gz_suffix(d));
	add_str(&b, root, "sourcesPath", path);
	snprintf(path, sizeof path, "connectivity/edges.dst.bin%s", doc_gz_suffix(d));
	add_str(&b, root, "destinationsPath", path);
	if (d->index_layout) {
		snprintf(path, sizeof path, "connectivity/edges.weights.f64.bin%s", doc_gz_suffix(d));
		add_str(&b, root, "weightsPath", path);
		add_str(&b, root, "weight_dtype", "float64");
		add_num(&b, root, "weight_bytes", 8);
	}
	add_compression(&b, root, "compression", d->compression);
	return finish(&b, root, 0);
}

char *doc_health(const doc_dataset *d)
{
	builder b = {0};
	cJSON *root = cJSON_CreateObject();
	add_str(&b, root, "status", "ok");
	add_str(&b, root, "type", "exported");
	add_str(&b, root, "version", d->version);
	return finish(&b, root, 0);
}

char *doc_info(const doc_dataset *d)
{
	builder b = {0};
	cJSON *root = cJSON_CreateObject();
	add_str(&b, root, "version", d->version);
	add_str(&b, root, "host", d->host);
	add_num(&b, root, "port", d->port);
	add_str(&b, root, "mode", "standalone");
	return finish(&b, root, 0);
}

char *doc_datasets(const doc_dataset *d)
{
	builder b = {0};
	cJSON *root = cJSON_CreateObject();
	cJSON *list = add(&b, root, "datasets", cJSON_CreateArray());
	cJSON *o = add(&b, list, NULL, cJSON_CreateObject());
	add_str(&b, o, "id", d->id);
	add_str(&b, o, "path", "/");
	add_str(&b, o, "name", d->name);
	return finish(&b, root, 0);
}

char *doc_status(const doc_status_info *s)
{
	builder b = {0};
	cJSON *root = cJSON_CreateObject();
	add_str(&b, root, "version", s->version);
	add_str(&b, root, "dataset_id", s->dataset_id);
	add(&b, root, "cache_key", s->cache_key ? cJSON_CreateString(s->cache_key)
					       : cJSON_CreateNull());
	add_num(&b, root, "uptime_seconds", s->uptime);
	add_num(&b, root, "files", (double)s->files);
	add_num(&b, root, "files_generated", (double)s->generated);
	add_num(&b, root, "cache_hits", (double)s->hits);
	add_num(&b, root, "cache_misses", (double)s->misses);
	add_num(&b, root, "errors", (double)s->errors);
	add_num(&b, root, "bytes_served", (double)s->bytes_served);
	add_num(&b, root, "stored_bytes", (double)s->stored_bytes);
	add_num(&b, root, "memory_bytes", (double)s->memory_bytes);
	add(&b, root, "source_identity", s->source_identity && *s->source_identity
		? cJSON_CreateString(s->source_identity) : cJSON_CreateNull());
	add_num(&b, root, "switches", (double)s->switches);
	cJSON *idx = add(&b, root, "gene_index", cJSON_CreateObject());
	int p = s->index_permille;
	add_str(&b, idx, "state", p == -1 ? "not started" : p == -2 ? "failed"
				  : p >= 1000 ? "ready" : "building");
	add_num(&b, idx, "progress", p < 0 ? 0.0 : p / 1000.0);
	return finish(&b, root, 1);
}

/* ------------------------------------------------ strict text rules */

/* The code point at p (avail bytes left) and its byte length; a malformed
 * sequence is one byte that matches no rule below (U+FFFD). */
static unsigned long next_cp(const unsigned char *p, size_t avail, size_t *len)
{
	unsigned c = p[0];
	size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
	*len = 1;
	if (n == 1)
		return c;
	if (n == 0 || n > avail)
		return 0xfffd;
	unsigned long cp = c & (0x7fu >> n);
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0xfffd;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	*len = n;
	return cp;
}

/* The last code point of s[0..n), n > 0, and its byte length. */
static unsigned long last_cp(const unsigned char *s, size_t n, size_t *len)
{
	size_t start = n - 1;
	while (start > 0 && n - start < 4 && (s[start] & 0xc0) == 0x80)
		start--;
	unsigned long cp = next_cp(s + start, n - start, len);
	if (start + *len != n) { /* a stray continuation byte */
		*len = 1;
		return 0xfffd;
	}
	return cp;
}

/* What JavaScript's trim() removes: WhiteSpace and LineTerminator. */
static int js_space(unsigned long c)
{
	return (c >= 0x09 && c <= 0x0d) || c == 0x20 || c == 0xa0 || c == 0x1680 ||
	       (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f ||
	       c == 0x205f || c == 0x3000 || c == 0xfeff;
}

static int is_control(unsigned long c)
{
	return c < 0x20 || (c >= 0x7f && c <= 0x9f);
}

/* s[*start..*end) without the whitespace at either end. */
static void trim_span(const unsigned char *s, size_t *start, size_t *end)
{
	size_t len;
	while (*start < *end && js_space(next_cp(s + *start, *end - *start, &len)))
		*start += len;
	while (*end > *start && js_space(last_cp(s + *start, *end - *start, &len)))
		*end -= len;
}

int doc_is_trimmed(const char *s)
{
	size_t start = 0, end = strlen(s);
	trim_span((const unsigned char *)s, &start, &end);
	return end > 0 && start == 0 && end == strlen(s);
}

int doc_has_control(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), len;
	for (size_t i = 0; i < n; i += len)
		if (is_control(next_cp(p + i, n - i, &len)))
			return 1;
	return 0;
}

static int is_alnum(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

#define LOCAL_ID_MAX 180

static int is_device_name(const char *s)
{
	static const char *const devices[] = {"CON", "PRN", "AUX", "NUL"};
	for (size_t i = 0; i < sizeof devices / sizeof *devices; i++)
		if (!strcasecmp(s, devices[i]))
			return 1;
	return (!strncasecmp(s, "COM", 3) || !strncasecmp(s, "LPT", 3)) &&
	       s[3] >= '1' && s[3] <= '9' && !s[4];
}

int doc_is_local_id(const char *s)
{
	size_t n = strlen(s);
	if (!n || n > LOCAL_ID_MAX || !is_alnum(s[0]) || s[n - 1] == '.' || is_device_name(s))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!is_alnum(s[i]) && !strchr("._-", s[i]))
			return 0;
	return 1;
}

/* safename() leaves only [A-Za-z0-9._-]; what remains is to start with a
 * letter or digit, to fit 180 characters without ending in '.', and to be
 * no device name. */
char *doc_local_id(const char *s)
{
	char *safe = safename(s);
	if (!safe)
		return NULL;
	const char *from = safe + strspn(safe, "-._");
	char *id = malloc(LOCAL_ID_MAX + sizeof "_");
	if (id) {
		snprintf(id, LOCAL_ID_MAX + 1, "%s", *from ? from : "dataset");
		for (size_t n = strlen(id); n && id[n - 1] == '.'; n--)
			id[n - 1] = 0;
		if (is_device_name(id))
			strcat(id, "_");
	}
	free(safe);
	return id;
}

char *doc_clean_name(const char *s)
{
	size_t n = strlen(s), len;
	char *out = malloc(n + 1);
	if (!out)
		return NULL;
	size_t m = 0;
	for (size_t i = 0; i < n; i += len) {
		unsigned long cp = next_cp((const unsigned char *)s + i, n - i, &len);
		if (is_control(cp)) {
			out[m++] = ' ';
		} else {
			memcpy(out + m, s + i, len);
			m += len;
		}
	}
	size_t start = 0, end = m;
	trim_span((const unsigned char *)out, &start, &end);
	memmove(out, out + start, end - start);
	out[end - start] = 0;
	return out;
}

/* The datasets of a directory source: {"id", "path", "name"} each, with the
 * path written by format from the id. */
static void add_dataset_list(builder *b, cJSON *list, char *const *ids, char *const *names,
			     size_t n, const char *format)
{
	for (size_t i = 0; i < n; i++) {
		char path[512];
		snprintf(path, sizeof path, format, ids[i]);
		cJSON *o = add(b, list, NULL, cJSON_CreateObject());
		add_str(b, o, "id", ids[i]);
		add_str(b, o, "path", path);
		add_str(b, o, "name", names[i]);
	}
}

char *doc_catalog(char *const *ids, char *const *names, size_t n)
{
	builder b = {0};
	cJSON *root = cJSON_CreateObject();
	add_num(&b, root, "version", 1);
	add_str(&b, root, "default", n ? ids[0] : "");
	add_dataset_list(&b, add(&b, root, "datasets", cJSON_CreateArray()), ids, names, n, "%s/");
	return finish(&b, root, 1);
}

char *doc_datasets_list(char *const *ids, char *const *names, size_t n)
{
	builder b = {0};
	cJSON *root = cJSON_CreateObject();
	add_dataset_list(&b, add(&b, root, "datasets", cJSON_CreateArray()), ids, names, n, "/%s/");
	return finish(&b, root, 0);
}
