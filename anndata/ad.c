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
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ad_internal.h"

/* HDF5 prints its error stack by default; every error here is reported as
 * one line of our own instead. A thread-safe HDF5 keeps that switch per
 * thread, hence a thread-local flag. */
void ad_thread_init(void)
{
	static _Thread_local int quiet;

	if (quiet)
		return;
	H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
	quiet = 1;
}

/* The LZF filter must be there before the first read of the 0.7 files; the
 * filter table is process-wide. */
static void init_hdf5(void)
{
	static int done;

	ad_thread_init();
	if (done)
		return;
	ad_lzf_register();
	done = 1;
}

/* ---- obsm ---- */

struct names {
	char **v;
	size_t n, cap;
};

static int push_name(struct names *ns, const char *name)
{
	char *copy;

	if (ns->n == ns->cap) {
		size_t cap = ns->cap ? 2 * ns->cap : 16;
		char **v = realloc(ns->v, cap * sizeof *v);

		if (!v)
			return -1;
		ns->v = v;
		ns->cap = cap;
	}
	copy = ad_strdup(name);
	if (!copy)
		return -1;
	ns->v[ns->n++] = copy;
	return 0;
}

static herr_t collect_name(hid_t g, const char *name, const H5L_info_t *info, void *ns)
{
	(void)g;
	(void)info;
	return push_name(ns, name);
}

/* Columns of a dense numeric (n_obs, k) or (n_obs,) array at path, else 0. */
static size_t dense_cols(ad_file *f, const char *path)
{
	hid_t d, type, space;
	hsize_t dims[2] = { 0, 1 };
	H5T_class_t cls;
	int rank;

	if (ad_h5_kind(f->file, path) != H5I_DATASET)
		return 0;
	d = H5Dopen2(f->file, path, H5P_DEFAULT);
	if (d < 0)
		return 0;
	type = H5Dget_type(d);
	space = H5Dget_space(d);
	cls = type < 0 ? H5T_NO_CLASS : H5Tget_class(type);
	rank = space < 0 ? -1 : H5Sget_simple_extent_ndims(space);
	if (rank < 1 || rank > 2 || H5Sget_simple_extent_dims(space, dims, NULL) < 0 ||
	    (cls != H5T_INTEGER && cls != H5T_FLOAT))
		dims[0] = (hsize_t)-1;
	if (type >= 0)
		H5Tclose(type);
	if (space >= 0)
		H5Sclose(space);
	H5Dclose(d);
	/* The reader's n_obs * k doubles must be addressable. */
	if (dims[0] != f->n_obs || dims[1] > SIZE_MAX / sizeof(double) / (f->n_obs ? f->n_obs : 1))
		return 0;
	return (size_t)dims[1];
}

/* Columns of member i of a legacy compound obsm: a 1-d H5T_ARRAY of
 * numbers is one embedding; anything else is not. */
static size_t member_cols(ad_file *f, hid_t ctype, unsigned i)
{
	hid_t mt = H5Tget_member_type(ctype, i), base;
	hsize_t dims[H5S_MAX_RANK];
	size_t cols = 0;

	if (mt < 0)
		return 0;
	if (H5Tget_class(mt) == H5T_ARRAY && H5Tget_array_ndims(mt) == 1 &&
	    H5Tget_array_dims2(mt, dims) == 1 && (base = H5Tget_super(mt)) >= 0) {
		if (H5Tget_class(base) == H5T_INTEGER || H5Tget_class(base) == H5T_FLOAT)
			cols = (size_t)dims[0];
		H5Tclose(base);
	}
	H5Tclose(mt);
	return cols > SIZE_MAX / sizeof(double) / (f->n_obs ? f->n_obs : 1) ? 0 : cols;
}

/* The keys of a legacy compound obsm: its members (when it has n_obs rows). */
static ad_err compound_obsm_keys(ad_file *f, struct names *ns, size_t **cols)
{
	hid_t d = ad_h5_dopen(f, "obsm", H5P_DEFAULT), ctype;
	size_t len = 0;
	int n;
	ad_err e;

	if (d < 0)
		return AD_EFORMAT;
	ctype = H5Dget_type(d);
	e = ad_h5_len(f, d, "obsm", &len);
	n = !e && ctype >= 0 && H5Tget_class(ctype) == H5T_COMPOUND ? H5Tget_nmembers(ctype) : 0;
	if (!e && n > 0 && !(*cols = calloc((size_t)n, sizeof **cols)))
		e = ad_nomem(f, "obsm");
	for (int i = 0; !e && i < n; i++) {
		char *name = H5Tget_member_name(ctype, (unsigned)i);

		if (!name || push_name(ns, name) < 0)
			e = ad_nomem(f, "obsm");
		else
			(*cols)[i] = len == f->n_obs ? member_cols(f, ctype, (unsigned)i) : 0;
		H5free_memory(name);
	}
	if (ctype >= 0)
		H5Tclose(ctype);
	H5Dclose(d);
	return e;
}

static int cmp_obsm(const void *a, const void *b)
{
	return strcmp(((const struct ad_obsm *)a)->key, ((const struct ad_obsm *)b)->key);
}

/* obsm: a dict group of arrays (anndata >= 0.7), or a compound dataset
 * with one H5T_ARRAY member per embedding (pre-0.7). Keys end up sorted. */
static ad_err open_obsm(ad_file *f)
{
	H5I_type_t kind = ad_h5_kind(f->file, "obsm");
	struct names ns = { 0 };
	size_t *member_cols_of = NULL;
	ad_err e = AD_OK;

	if (kind == H5I_GROUP) {
		hid_t g = H5Gopen2(f->file, "obsm", H5P_DEFAULT);

		if (g < 0 || H5Literate(g, H5_INDEX_NAME, H5_ITER_NATIVE, NULL, collect_name, &ns) < 0)
			e = ad_fail(f, AD_EIO, "obsm: cannot list its members");
		if (g >= 0)
			H5Gclose(g);
	} else if (kind == H5I_DATASET) {
		e = compound_obsm_keys(f, &ns, &member_cols_of);
	}
	if (!e && ns.n && !(f->obsm = calloc(ns.n, sizeof *f->obsm)))
		e = ad_nomem(f, "obsm");
	for (size_t i = 0; !e && i < ns.n; i++) {
		struct ad_obsm *o = &f->obsm[i];

		o->key = ns.v[i];
		ns.v[i] = NULL;
		f->nobsm++;
		if (member_cols_of) {
			o->path = ad_strdup("obsm");
			o->member = ad_strdup(o->key);
			o->cols = member_cols_of[i];
		} else {
			o->path = ad_path_join("obsm", o->key);
			o->cols = o->path ? dense_cols(f, o->path) : 0;
		}
		if (!o->path || (member_cols_of && !o->member))
			e = ad_nomem(f, "obsm");
	}
	if (!e && f->nobsm)
		qsort(f->obsm, f->nobsm, sizeof *f->obsm, cmp_obsm);
	ad_strings_free(ns.v, ns.n);
	free(member_cols_of);
	return e;
}

size_t ad_obsm_count(const ad_file *f) { return f->nobsm; }
const char *ad_obsm_key(const ad_file *f, size_t i)
{
	return i < f->nobsm ? f->obsm[i].key : NULL;
}
size_t ad_obsm_cols(const ad_file *f, size_t i)
{
	return i < f->nobsm ? f->obsm[i].cols : 0;
}

static ad_err obsm_read(ad_file *f, size_t i, hid_t native, void *out)
{
	const struct ad_obsm *o = i < f->nobsm ? &f->obsm[i] : NULL;
	hsize_t k;
	hid_t d, at;
	ad_err e = AD_OK;

	if (!o)
		return ad_fail(f, AD_EFORMAT, "obsm entry %zu of %zu does not exist", i, f->nobsm);
	if (!o->cols)
		return ad_fail(f, AD_EFORMAT, "obsm/%s: not a dense numeric (n_obs, k) array",
			       o->key);
	if (!f->n_obs)
		return AD_OK;
	d = ad_h5_dopen(f, o->path, H5P_DEFAULT);
	if (d < 0)
		return AD_EFORMAT;
	if (o->member) {
		/* Each record's array member lands as one row of k numbers. */
		k = o->cols;
		at = H5Tarray_create2(native, 1, &k);
		e = at < 0 ? ad_fail(f, AD_EIO, "obsm/%s: cannot build the array type", o->key)
			   : ad_h5_read(f, d, o->path, o->member, at, 0, f->n_obs, out);
		if (at >= 0)
			H5Tclose(at);
	} else if (H5Dread(d, native, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0) {
		e = ad_h5_read_failed(f, d, o->path);
	}
	H5Dclose(d);
	return e;
}

ad_err ad_obsm_read(ad_file *f, size_t i, double *out)
{
	return obsm_read(f, i, H5T_NATIVE_DOUBLE, out);
}

ad_err ad_obsm_read_f32(ad_file *f, size_t i, float *out)
{
	return obsm_read(f, i, H5T_NATIVE_FLOAT, out);
}

/* ---- the expression source ---- */

/* "no layer 'NAME' (layers: a, b)": the keys of the layers dict. */
static ad_err no_layer(ad_file *f, const char *name)
{
	struct names ns = { 0 };
	char list[256];
	hid_t g = ad_h5_kind(f->file, "layers") == H5I_GROUP
			  ? H5Gopen2(f->file, "layers", H5P_DEFAULT) : -1;

	/* Only running out of memory stops the listing: then it lists fewer. */
	if (g >= 0) {
		H5Literate(g, H5_INDEX_NAME, H5_ITER_NATIVE, NULL, collect_name, &ns);
		H5Gclose(g);
	}
	ad_join((const char *const *)ns.v, ns.n, list, sizeof list);
	ad_strings_free(ns.v, ns.n);
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
		int legacy = ad_h5_kind(f->file, "raw") != H5I_GROUP &&
			     ad_h5_exists(f->file, "raw.X");

		matrix = legacy ? "raw.X" : "raw/X";
		var = legacy ? "raw.var" : "raw/var";
		if (!ad_h5_exists(f->file, matrix))
			e = ad_fail(f, AD_EFORMAT, "no raw/X (nor the raw.X of files before "
				    "anndata 0.7)");
	} else if (!strncmp(source, "layer:", 6) && source[6]) {
		matrix = layer = ad_path_join("layers", source + 6);
		if (!layer)
			e = ad_nomem(f, "layers");
		else if (!ad_h5_exists(f->file, layer))
			e = no_layer(f, source + 6);
	} else if (strcmp(source, "X")) {
		e = ad_fail(f, AD_EFORMAT, "unknown expression '%s' (X, raw or layer:NAME)",
			    source);
	}
	if (!e)
		e = ad_df_open(f, var, &index, NULL, NULL);
	/* Only X may be absent: raw and layers were checked above. */
	if (!e && ad_h5_exists(f->file, matrix))
		e = ad_matrix_probe(f, matrix, f->n_obs, index.len, &m);
	if (!e && !(var_df = ad_strdup(var)))
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

static ad_err open_file(ad_file *f, const char *path)
{
	if (access(path, R_OK) != 0)
		return ad_fail(f, AD_EIO, "cannot read the file: %s", strerror(errno));
	if (H5Fis_hdf5(path) <= 0)
		return ad_fail(f, AD_EFORMAT, "not an HDF5 file");
	f->file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
	if (f->file < 0)
		return ad_fail(f, AD_EIO, "cannot open the HDF5 file (damaged?)");
	return AD_OK;
}

/* The neighbour graph: obsp/connectivities, or where pre-0.7 files keep it. */
static ad_err find_graph(ad_file *f, int legacy)
{
	const char *path = "obsp/connectivities";

	if (!ad_h5_exists(f->file, path) && legacy)
		path = "uns/neighbors/connectivities";
	if (!ad_h5_exists(f->file, path))
		return AD_OK;
	f->graph = ad_strdup(path);
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
	f->file = -1;
	init_hdf5();
	e = open_file(f, path);
	if (!e)
		e = ad_df_open(f, "obs", &obs_index, &f->cols, &f->ncols);
	f->n_obs = obs_index.len;
	if (!e)
		e = ad_select_expression(f, "X");
	if (!e)
		e = open_obsm(f);
	if (!e)
		e = find_graph(f, ad_h5_kind(f->file, "obs") == H5I_DATASET);
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
	}
	free(f->obsm);
	ad_matrix_clear(&f->x);
	free(f->graph);
	if (f->file >= 0)
		H5Fclose(f->file);
	free(f);
}

void ad_close_file(ad_file *f)
{
	if (f->file >= 0)
		H5Fclose(f->file);
	f->file = -1;
}

ad_err ad_reopen_file(ad_file *f, const char *path)
{
	return f->file >= 0 ? AD_OK : open_file(f, path);
}

int ad_file_is_open(const ad_file *f) { return f->file >= 0; }
const char *ad_last_error(const ad_file *f) { return f->err; }
size_t ad_n_obs(const ad_file *f) { return f->n_obs; }
size_t ad_n_var(const ad_file *f) { return f->n_var; }
ad_x_format ad_x_kind(const ad_file *f) { return f->x.kind; }
uint64_t ad_x_stored(const ad_file *f)
{
	return f->x.kind == AD_X_DENSE ? (uint64_t)f->x.rows * f->x.cols : f->x.nnz;
}
