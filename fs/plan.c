/*
 * plan.c - what one dataset exposes, decided once at ex_open from the
 * source's layout and the obs columns: the obs fields (read whole: they are
 * small and every document needs them), the genes and their file-name stems,
 * the embedding behind each points_<d>d, the vector fields, the latent
 * space, the graph; the dataset's id, name and date; and what
 * "cellucidfs check" prints of it (ex_layout_of, ex_field_at).
 *
 * A field or gene that cannot be served is left out with one warning naming
 * it; an option that names nothing refuses the mount. No file is made here
 * (generate.c) and no node added (tree.c).
 *
 *   cellucidfs: obs field 'louvain' left out: obs/louvain: categorical codes
 *     are not integers
 */
#include "engine.h"

#include <stdio.h>
#include <string.h>

#include "docs.h"
#include "log.h"
#include "safename.h"
#include "utf8.h"

/* A file name is one path component: at most 255 bytes on Linux. */
#define NAME_MAX_BYTES 255

/* Keep the first field or gene of each safe name (the viewer finds files by
 * the safe name of the key, so a later twin cannot be renamed) and any whose
 * longest file name fits. Returns 1 to expose, 0 to leave out, -1 on ENOMEM. */
static int claim_name(safename_set *taken, const char *what, const char *key,
		      const char *safe, size_t longest_suffix)
{
	if (strlen(safe) + longest_suffix > NAME_MAX_BYTES) {
		log_warn("%s '%s' left out: its file name would pass %d bytes", what, key,
			 NAME_MAX_BYTES);
		return 0;
	}
	int added = safename_set_add(taken, safe);
	if (added == 0)
		log_warn("%s '%s' left out: its file name '%s' is already used by an earlier one",
			 what, key, safe);
	return added;
}

static size_t suffix_len(const char *stem, int bits, int compression)
{
	/* ".<stem>.<ext>" plus ".gz" */
	return 1 + strlen(stem) + 1 + strlen(doc_ext(bits)) + (compression ? 3 : 0);
}

/* Replace *s (malloc'd) by its UTF-8 repair when it is not valid UTF-8, so
 * every JSON document stays valid. Returns 1 if repaired, 0 if not, -1 when
 * memory ran out. */
static int repair_text(char **s)
{
	int failed;
	char *fixed = utf8_repair(*s, &failed);
	if (failed)
		return -1;
	if (!fixed)
		return 0;
	free(*s);
	*s = fixed;
	return 1;
}

/* Repair a field's key and categories, with one warning per field. */
static int repair_field_text(field *f)
{
	int key = repair_text(&f->key), cats = 0;
	for (size_t k = 0; k < f->cat.n_categories && key >= 0 && cats >= 0; k++) {
		int r = repair_text(&f->cat.categories[k]);
		cats = r < 0 ? -1 : cats + r;
	}
	if (key < 0 || cats < 0)
		return -1;
	if (key)
		log_warn("obs field '%s': its name is not valid UTF-8; bad bytes are written as U+FFFD",
			 f->key);
	if (cats)
		log_warn("obs field '%s': %d categories are not valid UTF-8; bad bytes are written as "
			 "U+FFFD", f->key, cats);
	return 0;
}

static void field_free(field *f)
{
	free(f->key);
	free(f->safe);
	free(f->values);
	ad_categorical_free(&f->cat);
	for (int d = 1; d <= 3; d++)
		free(f->centroids[d]);
	free(f->outliers);
}

static ex_err read_field(ex_export *e, size_t col, field *f, char *err, size_t errlen)
{
	ex_err r;
	if (f->categorical) {
		r = src_read_categorical(e->src, col, &f->cat, err, errlen);
		f->code_bits = f->cat.n_categories <= engine_max_categories(e, 8) ? 8 : 16;
	} else {
		f->values = alloc_array(e->n_cells, sizeof *f->values);
		if (!f->values)
			return EX_ENOMEM;
		r = src_read_numeric(e->src, col, f->values, err, errlen);
		f->range = quant_find_range(f->values, e->n_cells, engine_quant_rule(e));
	}
	return r;
}

/* "a, b, c" - the n keys name(source, 0..n), for error messages. */
static void list_keys(const ex_export *e, size_t n, const char *(*name)(const source *, size_t),
		      char *buf, size_t len)
{
	size_t used = 0;
	buf[0] = 0;
	for (size_t i = 0; i < n && used < len; i++)
		used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? ", " : "",
					 name(e->src, i));
	if (!n)
		snprintf(buf, len, "none");
}

/* The obs columns to expose, in order: those of obs_keys=a:b:c, else every
 * one in column-order. A key that names no column refuses the mount. */
static int by_position(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	return x < y ? -1 : x > y;
}

static ex_err choose_columns(const ex_export *e, size_t **out, size_t *n, char *err,
			     size_t errlen)
{
	const char *keys = e->opt.obs_keys;
	size_t ncols = src_obs_ncols(e->src), cap = ncols + 1;
	for (const char *p = keys; p && *p; p++)
		cap += *p == ':';
	size_t *cols = *out = malloc(cap * sizeof *cols);
	*n = 0;
	if (!cols)
		return EX_ENOMEM;
	if (!keys) {
		for (size_t c = 0; c < ncols; c++)
			cols[(*n)++] = c;
		return EX_OK;
	}
	for (const char *k = keys;; k++) {
		size_t len = strcspn(k, ":"), c = 0;
		while (c < ncols && (strncmp(src_obs_col_name(e->src, c), k, len) ||
				     src_obs_col_name(e->src, c)[len]))
			c++;
		if (c == ncols) {
			char names[512];
			list_keys(e, ncols, src_obs_col_name, names, sizeof names);
			snprintf(err, errlen, "obs_keys=%s: no obs column '%.*s' (columns: %s)", keys,
				 (int)len, k, names);
			return EX_EINVAL;
		}
		cols[(*n)++] = c;
		k += len;
		if (!*k)
			break;
	}
	/* obs_keys restricts; the order stays column-order's (export-format.md §2). */
	qsort(cols, *n, sizeof *cols, by_position);
	return EX_OK;
}

static ex_err load_fields(ex_export *e, char *err, size_t errlen)
{
	size_t *cols, ncols;
	ex_err status = choose_columns(e, &cols, &ncols, err, errlen);
	e->fields = status ? NULL : calloc(ncols ? ncols : 1, sizeof *e->fields);
	safename_set *taken = status ? NULL : safename_set_new();
	if (!status && (!e->fields || !taken))
		status = EX_ENOMEM;
	for (size_t k = 0; k < ncols && status == EX_OK; k++) {
		size_t c = cols[k];
		const char *key = src_obs_col_name(e->src, c);
		ad_col_kind kind = src_obs_col_kind(e->src, c);
		if (kind == AD_COL_UNREADABLE) {
			log_warn("obs field '%s' left out: %s", key, src_obs_col_reason(e->src, c));
			continue;
		}
		field *f = &e->fields[e->n_fields];
		memset(f, 0, sizeof *f);
		f->categorical = kind == AD_COL_CATEGORY;
		char why[256] = "";
		ex_err r = read_field(e, c, f, why, sizeof why);
		if (r == EX_EIO) {
			log_warn("obs field '%s' left out: %s", key, why);
			field_free(f);
			continue;
		}
		if (r == EX_OK && f->categorical &&
		    f->cat.n_categories > engine_max_categories(e, 16)) {
			log_warn("obs field '%s' left out: %zu categories (at most %zu can be encoded)",
				 key, f->cat.n_categories, engine_max_categories(e, 16));
			field_free(f);
			continue;
		}
		f->key = strdup(key);
		f->safe = safename(key);
		if (r != EX_OK || !f->key || !f->safe || repair_field_text(f)) {
			field_free(f);
			status = EX_ENOMEM;
			break;
		}
		size_t longest = f->categorical
			? suffix_len("outliers", e->opt.obs_bits, e->opt.compression)
			: suffix_len("values", e->opt.obs_bits, e->opt.compression);
		/* layout=index names files by number: safe names cannot collide there. */
		int claim = e->opt.index_layout ? 1
						: claim_name(taken, "obs field", f->key, f->safe, longest);
		if (claim < 0)
			status = EX_ENOMEM;
		if (claim <= 0) {
			field_free(f);
			continue;
		}
		e->n_fields++;
	}
	safename_set_free(taken);
	free(cols);
	return status;
}

static ex_err load_genes_names(ex_export *e, char *err, size_t errlen)
{
	if (src_x_format(e->src) == AD_X_NONE)
		return EX_OK;
	e->n_var = src_n_var(e->src);
	if (!e->n_var)
		return EX_OK;
	const char *column = e->opt.gene_id_column;
	char why[512];
	if (src_read_var_names(e->src, column, &e->var_names, why, sizeof why) != EX_OK) {
		if (column)
			snprintf(err, errlen, "gene_id_column=%s: %s", column, why);
		else
			snprintf(err, errlen, "cannot read the var index: %s", why);
		return column ? EX_EINVAL : EX_EIO;
	}
	e->genes = alloc_array(e->n_var, sizeof *e->genes);
	e->gene_ranges = alloc_array(e->n_var, sizeof *e->gene_ranges);
	e->gene_served = alloc_array(e->n_var, sizeof *e->gene_served);
	e->gene_listed = alloc_array(e->n_var, 1);
	e->gene_safe = calloc(e->n_var, sizeof *e->gene_safe);
	safename_set *taken = safename_set_new();
	ex_err status = e->genes && e->gene_safe && e->gene_ranges && e->gene_served &&
			e->gene_listed && taken ? EX_OK : EX_ENOMEM;
	for (size_t j = 0; j < e->n_var && status == EX_OK; j++) {
		e->gene_served[j] = (uint32_t)j; /* until X has been read */
		e->gene_listed[j] = 1;
	}
	size_t longest = suffix_len("values", e->opt.var_bits, e->opt.compression);
	size_t repaired = 0;
	for (size_t j = 0; j < e->n_var && status == EX_OK; j++) {
		int r = repair_text(&e->var_names[j]);
		if (r < 0) {
			status = EX_ENOMEM;
			break;
		}
		repaired += (size_t)r;
		char *safe = safename(e->var_names[j]);
		int claim = !safe ? -1 : e->opt.index_layout ? 1
				: claim_name(taken, "gene", e->var_names[j], safe, longest);
		if (claim < 0)
			status = EX_ENOMEM;
		if (claim <= 0) {
			free(safe);
			continue;
		}
		e->genes[e->n_genes] = (uint32_t)j;
		e->gene_safe[e->n_genes++] = safe;
	}
	safename_set_free(taken);
	if (repaired)
		log_warn("%zu gene names are not valid UTF-8; bad bytes are written as U+FFFD",
			 repaired);
	return status;
}

static int64_t find_obsm(const ex_export *e, const char *key)
{
	for (size_t i = 0; i < src_obsm_count(e->src); i++)
		if (!strcmp(src_obsm_key(e->src, i), key))
			return (int64_t)i;
	return -1;
}

/* "X_pca, X_umap" - the obsm keys, for error messages. */
static void list_obsm(const ex_export *e, char *buf, size_t len)
{
	list_keys(e, src_obsm_count(e->src), src_obsm_key, buf, len);
}

/* Each obsm array the container refused, with one warning: left out of
 * every choice below. */
static void warn_refused_obsm(const ex_export *e)
{
	for (size_t i = 0; i < src_obsm_count(e->src); i++)
		if (src_obsm_reason(e->src, i))
			log_warn("obsm '%s' left out: %s", src_obsm_key(e->src, i),
				 src_obsm_reason(e->src, i));
}

/* export-format.md §2: X_umap_<d>d, else X_umap for its own d; or the user's
 * embedding=KEY (its first min(3, columns) columns) as the only one. */
static ex_err choose_embeddings(ex_export *e, char *err, size_t errlen)
{
	char keys[512];
	if (e->opt.embedding) {
		int64_t i = find_obsm(e, e->opt.embedding);
		size_t cols = i >= 0 ? src_obsm_cols(e->src, (size_t)i) : 0;
		if (!cols) {
			list_obsm(e, keys, sizeof keys);
			snprintf(err, errlen, "embedding=%s: %s (obsm keys: %s)", e->opt.embedding,
				 i < 0 ? "no such obsm key" : src_obsm_reason(e->src, (size_t)i) ?
				 src_obsm_reason(e->src, (size_t)i) : "not a dense numeric array", keys);
			return EX_EINVAL;
		}
		int d = cols < 3 ? (int)cols : 3;
		e->has_dim[d] = 1;
		e->emb_obsm[d] = (size_t)i;
		e->emb_cols[d] = cols;
		return EX_OK;
	}
	int64_t umap = find_obsm(e, "X_umap");
	size_t umap_cols = umap >= 0 ? src_obsm_cols(e->src, (size_t)umap) : 0;
	for (int d = 1; d <= 3; d++) {
		char key[24];
		snprintf(key, sizeof key, "X_umap_%dd", d);
		int64_t i = find_obsm(e, key);
		if (i >= 0 && src_obsm_cols(e->src, (size_t)i) == (size_t)d) {
			e->emb_obsm[d] = (size_t)i;
		} else if (umap_cols == (size_t)d) {
			e->emb_obsm[d] = (size_t)umap;
		} else {
			continue;
		}
		e->has_dim[d] = 1;
		e->emb_cols[d] = (size_t)d;
	}
	if (e->has_dim[1] || e->has_dim[2] || e->has_dim[3])
		return EX_OK;
	if (umap >= 0 && src_obsm_reason(e->src, (size_t)umap)) {
		snprintf(err, errlen, "no embedding: %s; choose one with -o embedding=KEY",
			 src_obsm_reason(e->src, (size_t)umap));
		return EX_EINVAL;
	}
	list_obsm(e, keys, sizeof keys);
	snprintf(err, errlen, "no embedding: no obsm X_umap, X_umap_1d, X_umap_2d or X_umap_3d "
		 "(obsm keys: %s); choose one with -o embedding=KEY", keys);
	return EX_EINVAL;
}

static int by_vector_id(const void *a, const void *b)
{
	return strcmp(((const vfield *)a)->id, ((const vfield *)b)->id);
}

/* The vector field called id with len bytes, added if new; NULL on ENOMEM. */
static vfield *vector_field(ex_export *e, const char *id, size_t len)
{
	for (size_t k = 0; k < e->n_vfields; k++)
		if (strlen(e->vfields[k].id) == len && !strncmp(e->vfields[k].id, id, len))
			return &e->vfields[k];
	vfield *v = &e->vfields[e->n_vfields];
	memset(v, 0, sizeof *v);
	if (!(v->id = strndup(id, len)) || !(v->stem = safename(v->id))) {
		free(v->id);
		free(v->stem);
		return NULL;
	}
	e->n_vfields++;
	return v;
}

/* export-format.md §2: obsm keys <field>_umap_<d>d (explicit) or <field>_umap
 * with 1-3 columns (implicit, only where no explicit key gives that d), never
 * keys starting with X_, only in dimensions that have points. The default is
 * velocity_umap if present, else the first by name. */
static ex_err choose_vectors(ex_export *e)
{
	size_t n = src_obsm_count(e->src);
	e->vfields = calloc(n ? n : 1, sizeof *e->vfields);
	if (!e->vfields)
		return EX_ENOMEM;
	for (int explicit = 1; explicit >= 0; explicit--) {
		for (size_t i = 0; i < n; i++) {
			const char *key = src_obsm_key(e->src, i);
			size_t len = strlen(key), cols = src_obsm_cols(e->src, i), idlen;
			int d;
			if (!strncmp(key, "X_", 2) || !cols)
				continue;
			if (explicit && len > 8 && !strncmp(key + len - 8, "_umap_", 6) &&
			    key[len - 2] >= '1' && key[len - 2] <= '3' && key[len - 1] == 'd')
				d = key[len - 2] - '0', idlen = len - 3;
			else if (!explicit && len > 5 && !strcmp(key + len - 5, "_umap") && cols <= 3)
				d = (int)cols, idlen = len;
			else
				continue;
			if ((size_t)d != cols || !e->has_dim[d])
				continue;
			vfield *v = vector_field(e, key, idlen);
			if (!v)
				return EX_ENOMEM;
			if (!v->has_dim[d]) {
				v->has_dim[d] = 1;
				v->obsm[d] = i;
			}
		}
	}
	qsort(e->vfields, e->n_vfields, sizeof *e->vfields, by_vector_id);
	for (size_t k = 0; k < e->n_vfields; k++)
		if (!strcmp(e->vfields[k].id, "velocity_umap"))
			e->default_vfield = k;
	return EX_OK;
}

/* export-format.md §2: latent=KEY, else the first known name, else the first
 * obsm entry that is not a UMAP. */
static ex_err choose_latent(ex_export *e, char *err, size_t errlen)
{
	static const char *const known[] = {"scanvi", "scvi", "X_scvi", "X_pca", "harmony",
					    "X_harmony"};
	int64_t pick = -1;
	if (e->opt.latent) {
		pick = find_obsm(e, e->opt.latent);
		if (pick < 0 || !src_obsm_cols(e->src, (size_t)pick)) {
			char keys[512];
			list_obsm(e, keys, sizeof keys);
			snprintf(err, errlen, "latent=%s: %s (obsm keys: %s)", e->opt.latent,
				 pick < 0 ? "no such obsm key" : "not a dense numeric array", keys);
			return EX_EINVAL;
		}
	}
	for (size_t k = 0; pick < 0 && k < sizeof known / sizeof *known; k++) {
		int64_t i = find_obsm(e, known[k]);
		if (i >= 0 && src_obsm_cols(e->src, (size_t)i))
			pick = i;
	}
	for (size_t i = 0; pick < 0 && i < src_obsm_count(e->src); i++)
		if (strncmp(src_obsm_key(e->src, i), "X_umap", 6) && src_obsm_cols(e->src, i))
			pick = (int64_t)i;
	if (pick >= 0) {
		e->has_latent = 1;
		e->latent_obsm = (size_t)pick;
		e->latent_dim = src_obsm_cols(e->src, (size_t)pick);
	}
	return EX_OK;
}

/* The base name without its extension: "/data/pbmc.h5ad" -> "pbmc"; also
 * "pbmc.zarr/" and "pbmc.zarr.zip" -> "pbmc". */
static char *base_stem(const char *path)
{
	size_t end = strlen(path);
	while (end > 1 && path[end - 1] == '/')
		end--;
	const char *base = memrchr(path, '/', end);
	base = base ? base + 1 : path;
	size_t n = (size_t)(path + end - base);
	if (n > 9 && !memcmp(base + n - 9, ".zarr.zip", 9))
		n -= 4;  /* ".zip" first, then the extension */
	const char *dot = memrchr(base, '.', n);
	return strndup(base, dot && dot != base ? (size_t)(dot - base) : n);
}

static ex_err describe_dataset(ex_export *e, const char *path)
{
	char *stem = base_stem(path);
	if (!stem)
		return EX_ENOMEM;
	e->name = e->opt.dataset_name ? strdup(e->opt.dataset_name) : strdup(stem);
	e->id = e->opt.dataset_id ? strdup(e->opt.dataset_id) : safename(stem);
	free(stem);
	if (!e->name || !e->id || repair_text(&e->name) < 0 || repair_text(&e->id) < 0)
		return EX_ENOMEM;
	e->mtime = src_id(e->src).mtime.tv_sec;
	struct tm tm;
	gmtime_r(&e->mtime, &tm);
	strftime(e->created_at, sizeof e->created_at, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return EX_OK;
}

ex_err plan_read(ex_export *e, const char *path, char *err, size_t errlen)
{
	/* Before anything reads X or the gene names. */
	char why[512];
	if (e->opt.expression &&
	    src_select_expression(e->src, e->opt.expression, why, sizeof why) != EX_OK) {
		snprintf(err, errlen, "expression=%s: %s", e->opt.expression, why);
		return EX_EINVAL;
	}
	e->n_cells = src_n_obs(e->src);
	if (!e->n_cells) {
		snprintf(err, errlen, "no cells (obs is empty)");
		return EX_EINVAL;
	}
	if (e->n_cells > UINT32_MAX) {
		snprintf(err, errlen, "%zu cells: more than 2^32 cannot be indexed", e->n_cells);
		return EX_EINVAL;
	}
	ex_err r;
	if ((r = describe_dataset(e, path)) || (r = choose_embeddings(e, err, errlen)) ||
	    (r = choose_vectors(e)) ||
	    (r = choose_latent(e, err, errlen)))
		return r;
	warn_refused_obsm(e);
	e->has_graph = src_has_graph(e->src);
	if ((r = load_fields(e, err, errlen)) == EX_OK)
		r = load_genes_names(e, err, errlen);
	return r;
}

void plan_free(ex_export *e)
{
	for (size_t i = 0; i < e->n_fields; i++)
		field_free(&e->fields[i]);
	free(e->fields);
	for (size_t k = 0; k < e->n_vfields; k++) {
		free(e->vfields[k].id);
		free(e->vfields[k].stem);
	}
	free(e->vfields);
	if (e->var_names)
		ad_strings_free(e->var_names, e->n_var);
	for (size_t i = 0; i < e->n_genes; i++)
		free(e->gene_safe[i]);
	free(e->gene_safe);
	free(e->genes);
	free(e->gene_ranges);
	free(e->gene_served);
	free(e->gene_listed);
	free(e->id);
	free(e->name);
}

/* ---------------------------------------------------------- for check */

void ex_layout_of(const ex_export *e, ex_layout *out)
{
	memset(out, 0, sizeof *out);
	out->source_bytes = (uint64_t)src_id(e->src).size;
	out->n_cells = e->n_cells;
	out->has_x = src_x_format(e->src) != AD_X_NONE;
	out->n_var = src_n_var(e->src);
	for (int d = 1; d <= 3; d++) {
		if (!e->has_dim[d])
			continue;
		out->embedding[d] = src_obsm_key(e->src, e->emb_obsm[d]);
		out->embedding_cols[d] = src_obsm_cols(e->src, e->emb_obsm[d]);
	}
	if (e->has_latent) {
		out->latent = src_obsm_key(e->src, e->latent_obsm);
		out->latent_dim = e->latent_dim;
	}
	/* What the tree holds: layout=index may leave some out. */
	for (size_t i = 0; i < e->n_nodes; i++) {
		ex_kind k = e->nodes[i].kind;
		out->n_fields += k == EX_OBS_VALUES || k == EX_OBS_CODES;
		out->n_genes += k == EX_GENE;
	}
	out->has_graph = e->has_graph;
}

void ex_field_at(const ex_export *e, size_t i, ex_field_info *out)
{
	const field *f = &e->fields[i];
	*out = (ex_field_info){f->key, f->categorical, f->cat.n_categories};
}
