/*
 * strict.c - what layout=index changes so that the strict viewer
 * (../shared/spec/viewer-contract-strict.md) accepts every file: the obs
 * fields and genes it leaves out, the dataset id and name made to fit, what
 * the kNN graph needed, ±Inf written as missing, and warnings where a file
 * passes one of the viewer's size limits.
 *
 * Rules only: which nodes exist is tree.c's, the bytes are generate.c's;
 * they call these.
 *
 *   cellucidfs: obs field ' leiden' left out of layout=index: its name is
 *     empty or has surrounding whitespace
 */
#include "engine.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "docs.h"
#include "log.h"
#include "safename.h"

/* layout=index leaves out what the strict viewer (viewer-contract-strict.md)
 * would refuse and the names layout serves as the reference does (but for a
 * field with no value, which neither layout serves): a key with
 * surrounding whitespace or used twice (§3.4), categories repeated or not
 * finite (§3.3), a continuous field missing in every cell (§14), an empty or
 * repeated gene name (§4). The choice is made once, here; documents read it back from the
 * tree. */


static int has_value(const float *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (isfinite(v[i]))
			return 1;
	return 0;
}

/* 1 when two categories are one JSON value, -1 when memory ran out. Each
 * type's text is canonical (anndata/ad.h), so equal texts are equal values,
 * but for the float zeros: -0.0 and 0.0 are one number to the viewer and to
 * the newest exporter, which both refuse the pair. */
static int repeats_category(const ad_categorical *c)
{
	int floats = c->type == AD_VAL_FLOAT32 || c->type == AD_VAL_FLOAT64;
	safename_set *seen = safename_set_new();
	int r = seen ? 0 : -1;
	for (size_t k = 0; k < c->n_categories && r == 0; k++) {
		const char *s = c->categories[k];
		int added = safename_set_add(seen, floats && !strcmp(s, "-0.0") ? "0.0" : s);
		r = added < 0 ? -1 : !added;
	}
	safename_set_free(seen);
	return r;
}

/* Why layout=index cannot write c's categories, or NULL; *r = -1 when
 * memory ran out. The strict viewer takes finite JSON numbers (§3.3) and
 * reads them as doubles: a NaN or ±Inf category, or an integer past 2^53 - 1
 * (two would read as one), cannot be written, and the newest exporter
 * refuses the field as it refuses repeated categories. */
#define JS_EXACT_MAX 9007199254740991.0

static const char *category_problem(const ad_categorical *c, int *r)
{
	for (size_t k = 0; k < c->n_categories; k++) {
		double v = strtod(c->categories[k], NULL);
		if ((c->type == AD_VAL_FLOAT32 || c->type == AD_VAL_FLOAT64) && !isfinite(v))
			return "a category is not a finite number";
		if (c->type == AD_VAL_INT && fabs(v) > JS_EXACT_MAX)
			return "a category is an integer beyond JavaScript's exact range (2^53 - 1)";
	}
	*r = repeats_category(c);
	return *r ? "two of its categories are the same value" : NULL;
}

/* NaN and ±Inf are served as missing (the viewer draws NaN grey, §14);
 * the newest exporter refuses the field instead. */
static void warn_non_finite(const ex_export *e, const field *f)
{
	size_t bad = 0;
	for (size_t i = 0; i < e->n_cells; i++)
		bad += !isfinite(f->values[i]);
	if (bad)
		log_warn("layout=index: obs field '%s': %zu of %zu values are NaN or ±Inf, served "
			 "as missing", f->key, bad, e->n_cells);
}

/* 1 to expose, 0 to leave out (with a warning), -1 when memory ran out. */
static int index_field_ok(const ex_export *e, const field *f, safename_set *keys)
{
	const char *why = NULL;
	int r = 0;
	if (!doc_is_trimmed(f->key))
		why = "its name is empty or has surrounding whitespace";
	else if (f->categorical)
		why = category_problem(&f->cat, &r);
	else if (!has_value(f->values, e->n_cells))
		why = "it has no value in any cell";
	if (!why && r == 0 && (r = safename_set_add(keys, f->key)) == 0)
		why = "its name is used twice";
	if (r < 0)
		return -1;
	if (why)
		log_warn("obs field '%s' left out of layout=index: %s", f->key, why);
	else if (!f->categorical)
		warn_non_finite(e, f);
	return !why;
}

/* The names layout leaves out only a continuous field with no value in any
 * cell, as layout=index does: no viewer can colour it. */
static int names_field_ok(const ex_export *e, const field *f)
{
	if (f->categorical || has_value(f->values, e->n_cells))
		return 1;
	log_warn("obs field '%s' left out: it has no value in any cell", f->key);
	return 0;
}

static int index_gene_ok(const char *name, safename_set *names)
{
	int added = *name ? safename_set_add(names, name) : 0;
	if (added == 0)
		log_warn("gene '%s' left out of layout=index: %s", name,
			 *name ? "its name is used twice" : "its name is empty");
	return added;
}

int strict_choose_exposed(const ex_export *e, exposure *x)
{
	memset(x, 0, sizeof *x);
	x->field = calloc(e->n_fields ? e->n_fields : 1, 1);
	x->gene = calloc(e->n_genes ? e->n_genes : 1, 1);
	safename_set *keys = safename_set_new(), *genes = safename_set_new();
	int r = x->field && x->gene && keys && genes ? 0 : -1;
	for (size_t i = 0; i < e->n_fields && r == 0; i++) {
		int ok = e->opt.index_layout ? index_field_ok(e, &e->fields[i], keys)
					     : names_field_ok(e, &e->fields[i]);
		x->field[i] = ok > 0;
		x->n_fields += ok > 0;
		r = ok < 0 ? -1 : 0;
	}
	for (size_t i = 0; i < e->n_genes && r == 0; i++) {
		int ok = e->opt.index_layout ? index_gene_ok(e->var_names[e->genes[i]], genes) : 1;
		x->gene[i] = ok > 0;
		x->n_genes += ok > 0;
		r = ok < 0 ? -1 : 0;
	}
	safename_set_free(keys);
	safename_set_free(genes);
	return r;
}

/* The id and name every layout=index document shows (§2, §10, §13). Values
 * the user chose were checked with the options; those derived from the file
 * name are made to fit here, once, so that all documents agree. */
int strict_identity(ex_export *e)
{
	if (!doc_is_local_id(e->id)) {
		char *id = doc_local_id(e->id);
		if (!id)
			return -1;
		log_warn("dataset id '%s' is '%s' in layout=index", e->id, id);
		free(e->id);
		e->id = id;
	}
	if (!doc_is_trimmed(e->name) || doc_has_control(e->name)) {
		char *name = doc_clean_name(e->name);
		if (name && !*name) {
			free(name);
			name = strdup(e->id);
		}
		if (!name)
			return -1;
		free(e->name);
		e->name = name;
	}
	return 0;
}

/* The strict viewer refuses a payload over 512 MiB decoded and an embedding
 * whose working set passes 512 MiB (§1, §5, §15), a metadata document over
 * 64 MiB (§1). The files are served all the same, for other readers. */
#define VIEWER_PAYLOAD_LIMIT ((double)(512 << 20))
#define VIEWER_JSON_LIMIT ((double)(64 << 20))

static void over_limit(const char *what, double bytes, double limit)
{
	if (bytes > limit)
		log_warn("layout=index: %s needs %.0f MiB, more than the viewer's limit of "
			 "%.0f MiB; the viewer will refuse it", what, bytes / (1 << 20),
			 limit / (1 << 20));
}

void strict_warn_limits(const ex_export *e)
{
	double n = (double)e->n_cells;
	for (int d = 1; d <= 3; d++) {
		char what[32];
		snprintf(what, sizeof what, "the %dd embedding", d);
		/* float32 positions, plus a copy padded to 3d below 3d */
		if (e->has_dim[d])
			over_limit(what, n * (d == 3 ? 12 : 4 * d + 12), VIEWER_PAYLOAD_LIMIT);
	}
	int widest = !e->opt.obs_bits || (e->n_genes && !e->opt.var_bits) ? 4 : 2;
	over_limit("each obs field or gene", n * widest, VIEWER_PAYLOAD_LIMIT);
}

/* What EDGES_MAX (codec/edges.h) did to a graph the newest exporter would
 * refuse: it requires C symmetric, with a zero diagonal, and weights the
 * strict viewer accepts (finite, > 0, §6). The graph is served all the same,
 * symmetrised by max and without the pairs it cannot weigh; the warnings
 * say so, and check lists them. Then the viewer's limits (§6, §15). */
void strict_warn_edges(const ex_export *e)
{
	const edges *g = &e->edges;
	if (g->n_asymmetric)
		log_warn("layout=index: the kNN graph is not symmetric (%zu cell pairs stored one "
			 "way only or with two weights); each edge has the larger of C[i,j] and "
			 "C[j,i]", g->n_asymmetric);
	if (g->n_unusable)
		log_warn("layout=index: %zu cell pairs of the kNN graph left out: their weight is "
			 "not a finite number above 0", g->n_unusable);
	if (g->n_self)
		log_warn("layout=index: %zu self-loop%s of the kNN graph (diagonal entries) left "
			 "out", g->n_self, g->n_self == 1 ? "" : "s");
	size_t per_edge = doc_index_bytes(e->n_cells, 1) == 2 ? 48 : 44;
	over_limit("the connectivity graph", (double)g->n_edges * per_edge + 4.0 * e->n_cells,
		   VIEWER_PAYLOAD_LIMIT);
}

/* The strict viewer cannot colour a float32 field holding ±Inf (§14);
 * layout=index writes those values as missing (NaN), as quantisation does. */
void strict_inf_to_nan(const ex_export *e, int bits, void *data, size_t len)
{
	if (e->opt.index_layout && !bits)
		for (float *v = data; len >= sizeof *v; v++, len -= sizeof *v)
			if (isinf(*v))
				*v = NAN;
}

/* The newest exporter refuses a gene holding NaN or ±Inf; the strict viewer
 * draws such cells as missing (§14), which is what layout=index serves (±Inf
 * as NaN, or the missing code). A gene missing in every cell is left out of
 * var_manifest.json in both layouts (derived.c: order_genes). Both are named
 * here. */
#define NAMED_MAX 5

static void warn_gene_list(const ex_export *e, const gi_index *g, int all_missing,
			   const char *what)
{
	char names[256] = "";
	size_t n = 0, used = 0;
	for (size_t i = 0; i < e->n_genes; i++) {
		uint32_t bad = gi_non_finite(g, e->genes[i]);
		if (!bad || (all_missing != (bad >= e->n_cells)))
			continue;
		if (n++ < NAMED_MAX && used < sizeof names)
			used += (size_t)snprintf(names + used, sizeof names - used, "%s%s",
						 used ? ", " : "", e->var_names[e->genes[i]]);
	}
	if (n)
		log_warn("%s%zu gene%s %s: %s%s", e->opt.index_layout ? "layout=index: " : "", n,
			 n == 1 ? "" : "s", what, names, n > NAMED_MAX ? ", ..." : "");
}

void strict_warn_genes(const ex_export *e, const gi_index *g)
{
	if (e->opt.index_layout)
		warn_gene_list(e, g, 0, "with NaN or ±Inf values, served as missing");
	warn_gene_list(e, g, 1, "with no finite value in any cell left out of var_manifest.json");
}

/* Every JSON document (§1). */
void strict_warn_document(size_t bytes)
{
	over_limit("a metadata document", (double)bytes, VIEWER_JSON_LIMIT);
}
