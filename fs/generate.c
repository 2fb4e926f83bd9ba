/*
 * generate.c - the bytes of each kind of file: the JSON documents (codec/docs
 * writes them from what the plan and the tree hold) and the binary payloads
 * (points, obs values, codes and outliers, genes, edges, vectors), gzip'd
 * when compression is on.
 *
 * ex_generate is called by many threads at once (fs/ll.c, fs/prefetch.c,
 * the export command); what a file needs beyond the plan comes from
 * derived.c, once. Nothing is cached here (fs/cache.c and the store are the
 * caller's) and no name decided.
 *
 *   ex_generate(e, node of "var/17.values.u8.gz") -> gene 17's u8 codes, gzip'd
 */
#include "engine.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "docs.h"
#include "gz.h"
#include "log.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "payloads are written in host order, which must be little-endian"
#endif

/* The reader's name for what category texts stand for, in the documents'. */
static doc_category_type category_type(ad_value_type t)
{
	switch (t) {
	case AD_VAL_INT: return DOC_CAT_INT;
	case AD_VAL_FLOAT32: return DOC_CAT_FLOAT32;
	case AD_VAL_FLOAT64: return DOC_CAT_FLOAT64;
	case AD_VAL_BOOL: return DOC_CAT_BOOL;
	default: return DOC_CAT_TEXT;
	}
}

/* What the documents show is what tree_build exposed: the fields are read
 * back from the obs directory in payload order, so their indices are the
 * file numbers, and the genes are counted in the var directory. */
static void describe(const ex_export *e, doc_dataset *d, doc_field *fields)
{
	memset(d, 0, sizeof *d);
	d->index_layout = e->opt.index_layout;
	d->id = e->id;
	d->name = e->name;
	d->created_at = e->created_at;
	d->version = CELLUCIDFS_VERSION;
	d->n_cells = e->n_cells;
	tree_children(e, "var", &d->n_genes);
	for (int dim = 1; dim <= 3; dim++)
		d->has_dim[dim] = e->has_dim[dim];
	d->default_dim = e->has_dim[3] ? 3 : e->has_dim[2] ? 2 : 1;
	d->compression = e->opt.compression;
	d->var_bits = e->opt.var_bits;
	d->obs_bits = e->opt.obs_bits;
	d->has_graph = e->has_graph;
	d->n_edges = e->edges.n_edges;
	d->max_neighbors = e->edges.max_neighbors;
	d->host = e->opt.host;
	d->port = e->opt.port;
	d->gene_id_column = e->opt.gene_id_column;
	d->fields = fields;
	size_t n_files;
	const ex_node *files = tree_children(e, "obs", &n_files);
	for (size_t k = 0; k < n_files; k++) {
		if (files[k].kind == EX_OBS_OUTLIERS) /* the codes came first */
			continue;
		const field *f = &e->fields[files[k].arg];
		doc_field *out = &fields[d->n_fields];
		*out = (doc_field){
			.key = f->key, .categorical = f->categorical, .range = f->range,
			.n_categories = f->cat.n_categories, .categories = f->cat.categories,
			.category_type = category_type(f->cat.type),
			.code_bits = f->code_bits, .outlier_range = f->outlier_range,
			.index = d->n_fields,
		};
		for (int dim = 1; dim <= 3; dim++)
			out->centroids[dim] = f->centroids[dim];
		d->n_fields++;
	}
}

static void describe_vectors(const ex_export *e, doc_dataset *d, doc_vector *out)
{
	for (size_t k = 0; k < e->n_vfields; k++) {
		const vfield *v = &e->vfields[k];
		out[k] = (doc_vector){.id = v->id, .safe_id = v->stem};
		memcpy(out[k].has_dim, v->has_dim, sizeof v->has_dim);
	}
	d->vectors = out;
	d->n_vectors = e->n_vfields;
	d->default_vector = e->default_vfield;
}

static ex_err take_text(char *text, void **data, size_t *len, char *err, size_t errlen)
{
	if (!text) {
		snprintf(err, errlen, "out of memory");
		return EX_ENOMEM;
	}
	*data = text;
	*len = strlen(text);
	return EX_OK;
}

/* What each JSON document needs computed before it can be written. The
 * graph is optional: when it cannot be read, dataset_identity.json leaves it
 * out (*graph 0) instead of failing the whole dataset; its own files fail.
 * Which genes have a value is known once X has been read (GENES_RANGES):
 * the identity counts them and var_manifest.json lists them; when X cannot
 * be read, both count every gene (*genes_known 0), and the genes fail. */
static ex_err prepare_document(ex_export *e, ex_kind kind, int *graph, int *genes_known,
			       char *err, size_t errlen)
{
	ex_err r = EX_OK;
	size_t n_files;
	*graph = e->has_graph;
	*genes_known = 0;
	if ((kind == EX_IDENTITY || kind == EX_VAR_MANIFEST) && tree_children(e, "var", &n_files) &&
	    n_files) {
		r = derived_genes(e, GENES_RANGES, err, errlen);
		*genes_known = r == EX_OK;
		if (r == EX_EIO && !(kind == EX_VAR_MANIFEST && e->opt.var_bits)) {
			log_warn("%s: every gene is counted, X cannot be read: %s",
				 kind == EX_IDENTITY ? "dataset_identity.json" : "var_manifest.json", err);
			r = EX_OK;
		}
		if (r != EX_OK)
			return r;
	}
	if ((kind == EX_IDENTITY || kind == EX_CONN_MANIFEST) && e->has_graph)
		r = derived_edges(e, err, errlen);
	if (r == EX_EIO && kind == EX_IDENTITY) {
		log_warn("dataset_identity.json: the kNN graph is left out: %s", err);
		*graph = 0;
		r = EX_OK;
	}
	if (kind == EX_OBS_MANIFEST)
		for (size_t i = 0; i < e->n_fields && r == EX_OK; i++)
			if (e->fields[i].categorical)
				r = derived_summary(e, &e->fields[i], err, errlen);
	return r;
}

static ex_err gen_document(ex_export *e, ex_kind kind, void **data, size_t *len, char *err,
			   size_t errlen)
{
	int graph, genes_known;
	ex_err r = prepare_document(e, kind, &graph, &genes_known, err, errlen);
	if (r != EX_OK)
		return r;
	doc_dataset d;
	doc_field *fields = alloc_array(e->n_fields, sizeof *fields);
	doc_vector *vectors = alloc_array(e->n_vfields, sizeof *vectors);
	if (!fields || !vectors) {
		free(fields);
		free(vectors);
		return take_text(NULL, data, len, err, errlen);
	}
	describe(e, &d, fields);
	describe_vectors(e, &d, vectors);
	d.has_graph = graph;
	if (genes_known)
		d.n_genes = e->n_genes_listed;
	if (e->opt.index_layout && graph && kind == EX_CONN_MANIFEST)
		strict_warn_edges(e);
	char *text = NULL;
	switch (kind) {
	case EX_IDENTITY: text = doc_identity(&d); break;
	case EX_OBS_MANIFEST: text = doc_obs_manifest(&d); break;
	case EX_CONN_MANIFEST: text = doc_connectivity_manifest(&d); break;
	case EX_HEALTH: text = doc_health(&d); break;
	case EX_INFO: text = doc_info(&d); break;
	case EX_DATASETS: text = doc_datasets(&d); break;
	case EX_VAR_MANIFEST: {
		/* the genes the var files serve, in payload order, those with a value */
		size_t n_files, n = 0;
		const ex_node *files = tree_children(e, "var", &n_files);
		char **names = alloc_array(n_files, sizeof *names);
		quant_range *ranges = alloc_array(n_files, sizeof *ranges);
		for (size_t k = 0; names && ranges && k < n_files; k++) {
			uint32_t a = e->gene_served[files[k].arg], var = e->genes[a];
			if (genes_known && !e->gene_listed[a])
				continue;
			names[n] = e->var_names[var];
			ranges[n++] = e->opt.var_bits ? e->gene_ranges[var] : (quant_range){0, 1, engine_quant_rule(e)};
		}
		if (names && ranges)
			text = doc_var_manifest(&d, names, ranges, n);
		free(names);
		free(ranges);
		break;
	}
	default: break;
	}
	free(fields);
	free(vectors);
	if (text && e->opt.index_layout)
		strict_warn_document(strlen(text));
	return take_text(text, data, len, err, errlen);
}

/* float32 values as stored (bits 0) or quantised to u8/u16 codes. */
static ex_err encode_values(const float *v, size_t n, int bits, quant_range range,
			    void **out, size_t *len)
{
	size_t width = bits == 8 ? 1 : bits == 16 ? 2 : 4;
	void *buf = alloc_array(n, width);
	if (!buf)
		return EX_ENOMEM;
	if (bits == 8)
		quant_encode_u8(v, n, range, buf);
	else if (bits == 16)
		quant_encode_u16(v, n, range, buf);
	else
		memcpy(buf, v, n * width);
	*out = buf;
	*len = n * width;
	return EX_OK;
}

static ex_err encode_codes(const field *f, size_t n, void **out, size_t *len)
{
	size_t width = f->code_bits / 8;
	void *buf = alloc_array(n, width);
	if (!buf)
		return EX_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		int32_t c = f->cat.codes[i];
		int missing = c < 0 || (size_t)c >= f->cat.n_categories;
		if (width == 1)
			((uint8_t *)buf)[i] = missing ? 255 : (uint8_t)c;
		else
			((uint16_t *)buf)[i] = missing ? 65535 : (uint16_t)c;
	}
	*out = buf;
	*len = n * width;
	return EX_OK;
}

/* One edge file (kind EX_EDGES_SRC, _DST or _WEIGHTS). */
static ex_err encode_edges(const ex_export *e, ex_kind kind, void **out, size_t *len)
{
	const edges *g = &e->edges;
	const uint32_t *ids = kind == EX_EDGES_SRC ? g->src : g->dst;
	size_t width = kind == EX_EDGES_WEIGHTS ? sizeof(double)
						 : doc_index_bytes(e->n_cells, e->opt.index_layout);
	void *buf = alloc_array(g->n_edges, width);
	if (!buf)
		return EX_ENOMEM;
	for (size_t k = 0; k < g->n_edges; k++) {
		if (kind == EX_EDGES_WEIGHTS)
			((double *)buf)[k] = g->weight[k];
		else if (width == 4)
			((uint32_t *)buf)[k] = ids[k];
		else
			((uint16_t *)buf)[k] = (uint16_t)ids[k];
	}
	*out = buf;
	*len = g->n_edges * width;
	return EX_OK;
}

static ex_err gen_gene(ex_export *e, uint32_t gene, void **data, size_t *len, char *err,
		       size_t errlen)
{
	ex_err r = derived_genes(e, GENES_READY, err, errlen);
	if (r != EX_OK)
		return r;
	size_t var = e->genes[e->gene_served[gene]];
	int bits = e->opt.var_bits;
	size_t width = bits ? (size_t)bits / 8 : sizeof(float);
	void *out = alloc_array(e->n_cells, width);
	if (!out)
		return EX_ENOMEM;
	int failed = bits ? gi_read_codes(e->gi, var, bits, e->gene_ranges[var], out, err, errlen)
			  : gi_read(e->gi, var, out, err, errlen);
	if (failed) {
		free(out);
		return EX_EIO;
	}
	*data = out;
	*len = e->n_cells * width;
	return EX_OK;
}

/* One displacement per cell, float32, scaled like the points
 * (export-format.md §3). The strict viewer also multiplies them by its own
 * normalisation scale (viewer-contract-strict.md §7), but computes that from
 * the points as served, already normalised: a scale of 1. Non-finite
 * vectors become 0: the viewer rejects them. */
static ex_err gen_vectors(ex_export *e, const vfield *v, int d, void **data, size_t *len,
			  char *err, size_t errlen)
{
	ex_err r = derived_points(e, d, err, errlen);
	if (r != EX_OK)
		return r;
	size_t n = e->n_cells * (size_t)d;
	double *raw;
	float *out;
	if ((r = derived_read_obsm(e, v->obsm[d], (size_t)d, d, &raw, &out, err, errlen)) != EX_OK)
		return r;
	double scale = e->scale[d];
	size_t bad = 0;
	for (size_t i = 0; i < n; i++) {
		float x = (float)(raw[i] * scale);
		bad += !isfinite(x);
		out[i] = isfinite(x) ? x : 0.0f;
	}
	free(raw);
	if (bad)
		log_warn("vector field %s: %zu non-finite values written as 0", v->id, bad);
	*data = out;
	*len = n * sizeof *out;
	return EX_OK;
}

/* The uncompressed bytes of a binary payload. */
static ex_err gen_payload(ex_export *e, const ex_node *n, void **data, size_t *len,
			  char *err, size_t errlen)
{
	ex_err r;
	field *f = n->kind >= EX_OBS_VALUES && n->kind <= EX_OBS_OUTLIERS ? &e->fields[n->arg]
									  : NULL;
	switch (n->kind) {
	case EX_VECTORS:
		return gen_vectors(e, &e->vfields[n->arg / 4], (int)(n->arg % 4), data, len, err,
				   errlen);
	case EX_POINTS:
		if ((r = derived_points(e, (int)n->arg, err, errlen)))
			return r;
		return encode_values(e->points[n->arg], e->n_cells * n->arg, 0,
				     (quant_range){0, 1, engine_quant_rule(e)}, data, len);
	case EX_OBS_VALUES:
		r = encode_values(f->values, e->n_cells, e->opt.obs_bits, f->range, data, len);
		if (r == EX_OK)
			strict_inf_to_nan(e, e->opt.obs_bits, *data, *len);
		return r;
	case EX_OBS_CODES:
		return encode_codes(f, e->n_cells, data, len);
	case EX_OBS_OUTLIERS:
		if ((r = derived_summary(e, f, err, errlen)))
			return r;
		return encode_values(f->outliers, e->n_cells, e->opt.obs_bits, f->outlier_range,
				     data, len);
	case EX_GENE:
		r = gen_gene(e, n->arg, data, len, err, errlen);
		if (r == EX_OK)
			strict_inf_to_nan(e, e->opt.var_bits, *data, *len);
		return r;
	case EX_EDGES_SRC:
	case EX_EDGES_DST:
	case EX_EDGES_WEIGHTS:
		if ((r = derived_edges(e, err, errlen)))
			return r;
		return encode_edges(e, n->kind, data, len);
	default:
		snprintf(err, errlen, "not a payload");
		return EX_ENOENT;
	}
}

static int is_document(ex_kind kind)
{
	return kind >= EX_IDENTITY && kind <= EX_DATASETS;
}

ex_err ex_generate(ex_export *e, uint32_t i, void **data, size_t *len, char *err,
		   size_t errlen)
{
	char why[256] = "";
	if (i >= e->n_nodes || e->nodes[i].kind == EX_DIR) {
		snprintf(err, errlen, "no such file");
		return EX_ENOENT;
	}
	const ex_node *n = &e->nodes[i];
	void *raw = NULL;
	size_t raw_len = 0;
	atomic_fetch_add(&e->generating, 1);
	ex_err r = is_document(n->kind) ? gen_document(e, n->kind, &raw, &raw_len, why, sizeof why)
					: gen_payload(e, n, &raw, &raw_len, why, sizeof why);
	if (r == EX_OK && e->opt.compression && !is_document(n->kind)) {
		void *packed;
		size_t packed_len;
		if (gz_compress_codes(e->opt.compression, n->kind == EX_GENE ? e->opt.var_bits / 8 : 0,
				      raw, raw_len, &packed, &packed_len)) {
			r = EX_ENOMEM;
		} else {
			free(raw);
			raw = packed;
			raw_len = packed_len;
		}
	}
	atomic_store(&e->last_generated, engine_now());
	atomic_fetch_sub(&e->generating, 1);
	if (r != EX_OK) {
		free(raw);
		char path[512];
		ex_node_path(e, i, path, sizeof path);
		snprintf(err, errlen, "cannot generate %s: %s", path,
			 r == EX_ENOMEM ? "out of memory" : why);
		return r;
	}
	*data = raw;
	*len = raw_len;
	return EX_OK;
}
