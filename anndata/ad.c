/*
 * ad.c - open an .h5ad file: read its layout (obs and var indexes and
 * columns, X, obsm, the neighbour graph), and the obsm embeddings; choose
 * the expression matrix (X, raw or a layer).
 *
 * The layout is told apart by what is there, not by version attributes:
 * obs as a group is a dataframe (anndata >= 0.7), obs as a compound dataset
 * is the pre-0.7 table, with its embeddings as array members of a compound
 * obsm and its graph under uns/neighbors.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ad_internal.h"
#include "zarr.h"

void ad_thread_init(void)
{
	cn_thread_init();
}

/* ---- obsm ---- */

/* Columns of a dense numeric (n_obs, k) or (n_obs,) array at path, else 0;
 * an array the container refuses (data elsewhere, a claim the file cannot
 * hold) leaves its reason in *reason. */
static size_t dense_cols(ad_file *f, const char *path, char **reason)
{
	const cn_info *in;
	uint64_t rows, cols;
	cn_array *a;

	if (cn_kind_of(f->store, path) != CN_ARRAY)
		return 0;
	if (cn_array_open(f->store, path, &a)) {
		*reason = cn_strdup(f->err);
		return 0;
	}
	in = cn_array_info(a);
	rows = in->shape[0];
	cols = in->rank == 2 ? in->shape[1] : 1;
	if (in->rank < 1 || in->rank > 2 ||
	    (in->type.cls != CN_T_INT && in->type.cls != CN_T_UINT && in->type.cls != CN_T_FLOAT))
		rows = (uint64_t)-1;
	cn_array_close(a);
	/* The reader's n_obs * k doubles must be addressable. */
	if (rows != f->n_obs || cols > SIZE_MAX / sizeof(double) / (f->n_obs ? f->n_obs : 1))
		return 0;
	return (size_t)cols;
}

/* Columns of a member of a legacy compound obsm: a 1-d array of numbers is
 * one embedding; anything else is not. */
static size_t member_cols(ad_file *f, const cn_type *t)
{
	size_t cols = 0;

	if (t->cls == CN_T_ARRAY &&
	    (t->base == CN_T_INT || t->base == CN_T_UINT || t->base == CN_T_FLOAT))
		cols = t->count;
	return cols > SIZE_MAX / sizeof(double) / (f->n_obs ? f->n_obs : 1) ? 0 : cols;
}

/* The keys of a legacy compound obsm: its members (when it has n_obs rows). */
static ad_err compound_obsm_keys(ad_file *f, char ***keys, size_t *nkeys, size_t **cols)
{
	cn_array *a;
	cn_type t;
	size_t len = 0, n;
	ad_err e = ad_values_open(f, "obsm", NULL, &a, &len, &t);

	if (e)
		return e;
	n = t.cls == CN_T_COMPOUND ? t.nmembers : 0;
	if (n > 0 && (!(*cols = calloc(n, sizeof **cols)) || !(*keys = calloc(n, sizeof **keys))))
		e = ad_nomem(f, "obsm");
	for (size_t i = 0; !e && i < n; i++) {
		cn_type mt;

		e = cn_member(a, i, &(*keys)[i], &mt);
		*nkeys += !e;
		if (!e)
			(*cols)[i] = len == f->n_obs ? member_cols(f, &mt) : 0;
	}
	cn_array_close(a);
	return e;
}

static int cmp_obsm(const void *a, const void *b)
{
	return strcmp(((const struct ad_obsm *)a)->key, ((const struct ad_obsm *)b)->key);
}

/* obsm: a dict group of arrays (anndata >= 0.7), or a compound dataset
 * with one array member per embedding (pre-0.7). Keys end up sorted. */
static ad_err open_obsm(ad_file *f)
{
	cn_kind kind = cn_kind_of(f->store, "obsm");
	char **keys = NULL;
	size_t nkeys = 0, *member_cols_of = NULL;
	ad_err e = AD_OK;

	if (kind == CN_GROUP)
		e = cn_list(f->store, "obsm", &keys, &nkeys);
	else if (kind == CN_ARRAY)
		e = compound_obsm_keys(f, &keys, &nkeys, &member_cols_of);
	if (!e && nkeys && !(f->obsm = calloc(nkeys, sizeof *f->obsm)))
		e = ad_nomem(f, "obsm");
	for (size_t i = 0; !e && i < nkeys; i++) {
		struct ad_obsm *o = &f->obsm[i];

		o->key = keys[i];
		keys[i] = NULL;
		f->nobsm++;
		if (member_cols_of) {
			o->path = cn_strdup("obsm");
			o->member = cn_strdup(o->key);
			o->cols = member_cols_of[i];
		} else {
			o->path = cn_path_join("obsm", o->key);
			o->cols = o->path ? dense_cols(f, o->path, &o->reason) : 0;
		}
		if (!o->path || (member_cols_of && !o->member))
			e = ad_nomem(f, "obsm");
	}
	if (!e && f->nobsm)
		qsort(f->obsm, f->nobsm, sizeof *f->obsm, cmp_obsm);
	cn_strings_free(keys, nkeys);
	free(member_cols_of);
	return e;
}

size_t ad_obsm_count(const ad_file *f) { return f->nobsm; }
const char *ad_obsm_key(const ad_file *f, size_t i)
{
	return i < f->nobsm ? f->obsm[i].key : NULL;
}
const char *ad_obsm_reason(const ad_file *f, size_t i)
{
	return i < f->nobsm ? f->obsm[i].reason : NULL;
}
size_t ad_obsm_cols(const ad_file *f, size_t i)
{
	return i < f->nobsm ? f->obsm[i].cols : 0;
}

static ad_err obsm_read(ad_file *f, size_t i, cn_num want, void *out)
{
	const struct ad_obsm *o = i < f->nobsm ? &f->obsm[i] : NULL;
	uint64_t zero[CN_MAX_RANK] = { 0 };
	cn_array *a;
	ad_err e;

	if (!o)
		return ad_fail(f, AD_EFORMAT, "obsm entry %zu of %zu does not exist", i, f->nobsm);
	if (!o->cols)
		return ad_fail(f, AD_EFORMAT, "obsm/%s: not a dense numeric (n_obs, k) array",
			       o->key);
	if (!f->n_obs)
		return AD_OK;
	e = cn_array_open(f->store, o->path, &a);
	if (e)
		return e;
	/* A legacy record's array member lands as one row of k numbers. */
	if (o->member)
		e = cn_read(a, o->member, want, 0, f->n_obs, out);
	else
		e = cn_read_block(a, zero, cn_array_info(a)->shape, want, out);
	cn_array_close(a);
	return e;
}

ad_err ad_obsm_read(ad_file *f, size_t i, double *out)
{
	return obsm_read(f, i, CN_F64, out);
}

ad_err ad_obsm_read_f32(ad_file *f, size_t i, float *out)
{
	return obsm_read(f, i, CN_F32, out);
}

/* ---- the expression source ---- */

/* "no layer 'NAME' (layers: a, b)": the keys of the layers dict. */
static ad_err no_layer(ad_file *f, const char *name)
{
	char **names = NULL, list[256];
	size_t n = 0;

	/* A listing that fails lists nothing: the message says "none". */
	if (cn_kind_of(f->store, "layers") == CN_GROUP)
		cn_list(f->store, "layers", &names, &n);
	ad_join((const char *const *)names, n, list, sizeof list);
	cn_strings_free(names, n);
	return ad_fail(f, AD_EFORMAT, "no layer '%s' (layers: %s)", name, list);
}

ad_err ad_select_expression(ad_file *f, const char *source)
{
	const char *matrix = "X", *var = "var";
	char *layer = NULL, *var_df = NULL;
	struct ad_column index = { 0 };
	struct ad_matrix m = { 0 };
	ad_err e = AD_OK;

	if (!strcmp(source, "raw")) {
		/* anndata >= 0.7 has a raw group; 0.6 wrote raw.X and raw.var at
		 * the root instead. */
		int legacy = cn_kind_of(f->store, "raw") != CN_GROUP &&
			     cn_exists(f->store, "raw.X");

		matrix = legacy ? "raw.X" : "raw/X";
		var = legacy ? "raw.var" : "raw/var";
		if (!cn_exists(f->store, matrix))
			e = ad_fail(f, AD_EFORMAT, "no raw/X (nor the raw.X of files before "
				    "anndata 0.7)");
	} else if (!strncmp(source, "layer:", 6) && source[6]) {
		matrix = layer = cn_path_join("layers", source + 6);
		if (!layer)
			e = ad_nomem(f, "layers");
		else if (!cn_exists(f->store, layer))
			e = no_layer(f, source + 6);
	} else if (strcmp(source, "X")) {
		e = ad_fail(f, AD_EFORMAT, "unknown expression '%s' (X, raw or layer:NAME)",
			    source);
	}
	if (!e)
		e = ad_df_open(f, var, &index, NULL, NULL);
	/* Only X may be absent: raw and layers were checked above. */
	if (!e && cn_exists(f->store, matrix))
		e = ad_matrix_probe(f, matrix, f->n_obs, index.len, &m);
	if (!e && !(var_df = cn_strdup(var)))
		e = ad_nomem(f, var);
	if (e) {
		ad_column_clear(&index);
		ad_matrix_clear(&m);
	} else {
		ad_matrix_clear(&f->x);
		f->x = m;
		free(f->var_df);
		f->var_df = var_df;
		ad_column_clear(&f->var_index);
		f->var_index = index;
		f->n_var = index.len;
	}
	free(layer);
	return e;
}

/* ---- open and close ---- */

/* The neighbour graph: obsp/connectivities, or where pre-0.7 files keep it. */
static ad_err find_graph(ad_file *f, int legacy)
{
	const char *path = "obsp/connectivities";

	if (!cn_exists(f->store, path) && legacy)
		path = "uns/neighbors/connectivities";
	if (!cn_exists(f->store, path))
		return AD_OK;
	f->graph = cn_strdup(path);
	return f->graph ? AD_OK : ad_nomem(f, path);
}

ad_err ad_open(const char *path, ad_file **out, char *err, size_t errlen)
{
	ad_file *f = calloc(1, sizeof *f);
	struct ad_column obs_index = { 0 };
	ad_err e;

	*out = NULL;
	if (!f) {
		snprintf(err, errlen, "out of memory");
		return AD_ENOMEM;
	}
	e = cn_open(path, f->err, sizeof f->err, &f->store);
	if (!e)
		e = ad_df_open(f, "obs", &obs_index, &f->cols, &f->ncols);
	f->n_obs = obs_index.len;
	if (!e)
		e = ad_select_expression(f, "X");
	if (!e)
		e = open_obsm(f);
	if (!e)
		e = find_graph(f, cn_kind_of(f->store, "obs") == CN_ARRAY);
	ad_column_clear(&obs_index);
	if (e) {
		snprintf(err, errlen, "%s", f->err);
		ad_close(f);
		return e;
	}
	*out = f;
	return AD_OK;
}

void ad_close(ad_file *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->ncols; i++)
		ad_column_clear(&f->cols[i]);
	free(f->cols);
	ad_column_clear(&f->var_index);
	free(f->var_df);
	for (size_t i = 0; i < f->nobsm; i++) {
		free(f->obsm[i].key);
		free(f->obsm[i].path);
		free(f->obsm[i].member);
		free(f->obsm[i].reason);
	}
	free(f->obsm);
	ad_matrix_clear(&f->x);
	free(f->graph);
	cn_close(f->store);
	free(f);
}

void ad_close_file(ad_file *f)
{
	cn_close(f->store);
	f->store = NULL;
}

ad_err ad_reopen_file(ad_file *f, const char *path)
{
	return f->store ? AD_OK : (ad_err)cn_open(path, f->err, sizeof f->err, &f->store);
}

int ad_file_is_open(const ad_file *f) { return f->store != NULL; }
int ad_file_fd(const ad_file *f) { return f->store ? cn_fd(f->store) : -1; }
const char *ad_last_error(const ad_file *f) { return f->err; }

void ad_set_lock(ad_file *f, void (*release)(void *), void (*retake)(void *), void *ctx)
{
	cn_set_lock(f->store, release, retake, ctx);
}
size_t ad_n_obs(const ad_file *f) { return f->n_obs; }
size_t ad_n_var(const ad_file *f) { return f->n_var; }
ad_x_format ad_x_kind(const ad_file *f) { return f->x.kind; }

int ad_is_store_dir(const char *path)
{
	/* Named so, it is meant as a store: one that is not gets Zarr's
	 * reason, not a collection's "no .h5ad file". */
	size_t n = strlen(path);
	while (n > 1 && path[n - 1] == '/')
		n--;
	return zr_is_store(path) || (n > 5 && !memcmp(path + n - 5, ".zarr", 5));
}

uint64_t ad_x_stored(const ad_file *f)
{
	return f->x.kind == AD_X_DENSE ? (uint64_t)f->x.rows * f->x.cols : f->x.nnz;
}
