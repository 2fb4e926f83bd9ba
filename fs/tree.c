/*
 * tree.c - the nodes of the export tree: their kinds, names and order, and
 * the (parent, name) hash table behind lookups.
 *
 * The tree is built once, from the plan (plan.c decided which fields and
 * genes exist and their safe names; strict.c what layout=index leaves out),
 * and never changes: directory listings and lookups never touch the data. A
 * directory's children are consecutive nodes, in the order the documents
 * list their payloads, so documents read that order back (tree_children).
 * Names only: which fields and genes exist is the plan's, and no data is
 * read here.
 *
 *   /                      dataset_identity.json, obs_manifest.json, ...
 *   obs/leiden.codes.u8.gz EX_OBS_CODES, arg = field
 *   var/17.values.u8.gz    EX_GENE, arg = gene (layout=index: numbered)
 */
#include "engine.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "docs.h"

static uint64_t hash_entry(uint32_t parent, const char *name)
{
	uint64_t h = 1469598103934665603ULL ^ parent;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		h = (h ^ *p) * 1099511628211ULL;
	return h ^ (h >> 29);
}

static int build_table(ex_export *e)
{
	size_t cap = 16;
	while (cap < 2 * e->n_nodes)
		cap <<= 1;
	e->table = malloc(cap * sizeof *e->table);
	if (!e->table)
		return -1;
	memset(e->table, 0xff, cap * sizeof *e->table);
	e->table_mask = cap - 1;
	for (size_t i = 1; i < e->n_nodes; i++) {
		size_t slot = hash_entry(e->nodes[i].parent, e->nodes[i].name) & e->table_mask;
		while (e->table[slot] >= 0)
			slot = (slot + 1) & e->table_mask;
		e->table[slot] = (int64_t)i;
	}
	return 0;
}

int64_t ex_lookup(const ex_export *e, uint32_t dir, const char *name)
{
	size_t slot = hash_entry(dir, name) & e->table_mask;
	for (; e->table[slot] >= 0; slot = (slot + 1) & e->table_mask) {
		const ex_node *n = &e->nodes[e->table[slot]];
		if (n->parent == dir && !strcmp(n->name, name))
			return e->table[slot];
	}
	return -1;
}

static int64_t add_node(ex_export *e, uint32_t parent, ex_kind kind, uint32_t arg,
			const char *fmt, ...)
{
	if (e->n_nodes == e->cap_nodes) {
		size_t cap = e->cap_nodes ? 2 * e->cap_nodes : 64;
		ex_node *nodes = realloc(e->nodes, cap * sizeof *nodes);
		if (!nodes)
			return -1;
		e->nodes = nodes;
		e->cap_nodes = cap;
	}
	char *name;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&name, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	e->nodes[e->n_nodes] = (ex_node){name, parent, kind, arg, 0, 0};
	return (int64_t)e->n_nodes++;
}

/* Children are appended right after each other; the directory records them. */
static void open_dir(ex_export *e, int64_t dir)
{
	e->nodes[dir].first_child = (uint32_t)e->n_nodes;
}

static void close_dir(ex_export *e, int64_t dir)
{
	e->nodes[dir].n_children = (uint32_t)(e->n_nodes - e->nodes[dir].first_child);
}

/* A payload's file-name stem: the safe name, or its number in layout=index. */
static const char *payload_stem(const ex_export *e, const char *safe, uint32_t index,
				char buf[static 12])
{
	if (!e->opt.index_layout)
		return safe;
	snprintf(buf, 12, "%u", (unsigned)index);
	return buf;
}

static int add_field_files(ex_export *e, int64_t obs, uint32_t i, uint32_t index)
{
	const field *f = &e->fields[i];
	const char *gz = e->opt.compression ? ".gz" : "", *ext = doc_ext(e->opt.obs_bits);
	char buf[12];
	const char *stem = payload_stem(e, f->safe, index, buf);
	if (!f->categorical)
		return add_node(e, obs, EX_OBS_VALUES, i, "%s.values.%s%s", stem, ext, gz) < 0;
	return add_node(e, obs, EX_OBS_CODES, i, "%s.codes.%s%s", stem, doc_ext(f->code_bits),
			gz) < 0 ||
	       add_node(e, obs, EX_OBS_OUTLIERS, i, "%s.outliers.%s%s", stem, ext, gz) < 0;
}

/* The obs directory holds each exposed field's files in payload order, which
 * is column order in both layouts: layout=index numbers the fields 0..N-1 in
 * that order, continuous and categorical alike, as the newest exporter does
 * (doc_identity then lists the continuous ones first, §8.4). */
int tree_build(ex_export *e)
{
	const char *gz = e->opt.compression ? ".gz" : "";
	const char *var_ext = doc_ext(e->opt.var_bits);
	exposure x;
	int ok = strict_choose_exposed(e, &x) == 0 &&
		 (!e->opt.index_layout || strict_identity(e) == 0);
	if (ok && e->opt.index_layout)
		strict_warn_limits(e);
	int64_t root = ok ? add_node(e, 0, EX_DIR, 0, "%s", "") : -1;
	ok &= root == 0;
	if (!ok)
		goto done;
	open_dir(e, root);
	ok &= add_node(e, 0, EX_IDENTITY, 0, "dataset_identity.json") >= 0;
	ok &= add_node(e, 0, EX_OBS_MANIFEST, 0, "obs_manifest.json") >= 0;
	if (x.n_genes)
		ok &= add_node(e, 0, EX_VAR_MANIFEST, 0, "var_manifest.json") >= 0;
	if (e->has_graph)
		ok &= add_node(e, 0, EX_CONN_MANIFEST, 0, "connectivity_manifest.json") >= 0;
	for (int d = 1; d <= 3; d++)
		if (e->has_dim[d])
			ok &= add_node(e, 0, EX_POINTS, d, "points_%dd.bin%s", d, gz) >= 0;
	int64_t obs = x.n_fields ? add_node(e, 0, EX_DIR, 0, "obs") : 0;
	int64_t var = x.n_genes ? add_node(e, 0, EX_DIR, 0, "var") : 0;
	int64_t conn = e->has_graph ? add_node(e, 0, EX_DIR, 0, "connectivity") : 0;
	int64_t vec = e->n_vfields ? add_node(e, 0, EX_DIR, 0, "vectors") : 0;
	/* In a collection, the handshake files are the collection's. */
	int64_t meta = e->opt.in_collection ? 0 : add_node(e, 0, EX_DIR, 0, "_cellucid");
	ok &= obs >= 0 && var >= 0 && conn >= 0 && vec >= 0 && meta >= 0;
	if (!ok)
		goto done;
	close_dir(e, root);

	if (obs) {
		open_dir(e, obs);
		uint32_t index = 0;
		for (uint32_t i = 0; i < e->n_fields && ok; i++)
			if (x.field[i])
				ok &= !add_field_files(e, obs, i, index++);
		close_dir(e, obs);
	}
	if (var) {
		open_dir(e, var);
		uint32_t index = 0;
		char buf[12];
		for (uint32_t i = 0; i < e->n_genes && ok; i++)
			if (x.gene[i])
				ok &= add_node(e, var, EX_GENE, i, "%s.values.%s%s",
					       payload_stem(e, e->gene_safe[i], index++, buf),
					       var_ext, gz) >= 0;
		close_dir(e, var);
	}
	if (conn) {
		open_dir(e, conn);
		ok &= add_node(e, conn, EX_EDGES_SRC, 0, "edges.src.bin%s", gz) >= 0;
		ok &= add_node(e, conn, EX_EDGES_DST, 0, "edges.dst.bin%s", gz) >= 0;
		if (e->opt.index_layout)
			ok &= add_node(e, conn, EX_EDGES_WEIGHTS, 0, "edges.weights.f64.bin%s", gz) >= 0;
		close_dir(e, conn);
	}
	if (vec) {
		open_dir(e, vec);
		char buf[12];
		for (uint32_t k = 0; k < e->n_vfields && ok; k++)
			for (uint32_t d = 1; d <= 3; d++)
				if (e->vfields[k].has_dim[d])
					ok &= add_node(e, vec, EX_VECTORS, k * 4 + d, "%s_%ud.bin%s",
						       payload_stem(e, e->vfields[k].stem, k, buf), d,
						       gz) >= 0;
		close_dir(e, vec);
	}
	if (meta) {
		open_dir(e, meta);
		ok &= add_node(e, meta, EX_HEALTH, 0, "health") >= 0;
		ok &= add_node(e, meta, EX_INFO, 0, "info") >= 0;
		ok &= add_node(e, meta, EX_DATASETS, 0, "datasets") >= 0;
		close_dir(e, meta);
	}
done:
	free(x.field);
	free(x.gene);
	return ok ? build_table(e) : -1;
}

void tree_free(ex_export *e)
{
	for (size_t i = 0; i < e->n_nodes; i++)
		free((char *)e->nodes[i].name);
	free(e->nodes);
	free(e->table);
}

/* The children of top-level directory name: NULL and 0 when it is absent. */
const ex_node *tree_children(const ex_export *e, const char *name, size_t *n)
{
	int64_t dir = ex_lookup(e, 0, name);
	*n = dir < 0 ? 0 : e->nodes[dir].n_children;
	return dir < 0 ? NULL : &e->nodes[e->nodes[dir].first_child];
}

size_t ex_node_count(const ex_export *e) { return e->n_nodes; }
const ex_node *ex_node_at(const ex_export *e, uint32_t i) { return &e->nodes[i]; }

void ex_node_path(const ex_export *e, uint32_t i, char *buf, size_t len)
{
	if (i == 0 || e->nodes[i].parent == 0) {
		snprintf(buf, len, "%s", i ? e->nodes[i].name : "/");
		return;
	}
	snprintf(buf, len, "%s/%s", e->nodes[e->nodes[i].parent].name, e->nodes[i].name);
}
