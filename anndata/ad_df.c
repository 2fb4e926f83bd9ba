/*
 * ad_df.c - AnnData dataframes (obs, var): find the index and the columns
 * when the file is opened, and read a column as numbers or as categories.
 *
 * Three layouts are understood, and all end up as the same ad_column:
 *  - dataframe 0.2.0 (anndata >= 0.8): a column is a dataset (array,
 *    string-array) or a group (categorical, nullable-*), dispatched on its
 *    encoding-type;
 *  - dataframe 0.1.0 (anndata 0.7): plain datasets; a categorical is its codes
 *    with an object-reference attribute `categories`;
 *  - pre-0.7: one compound dataset, a member per column (the first is the
 *    index); a categorical is its integer codes plus uns/<col>_categories.
 * Columns are taken from column-order, never from group iteration, which
 * would also see the index and the groups that '/' in a name creates.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ad_internal.h"

void ad_column_clear(struct ad_column *c)
{
	free(c->name);
	free(c->reason);
	free(c->path);
	free(c->member);
	free(c->mask);
	free(c->categories);
	memset(c, 0, sizeof *c);
}

/* Class names as the messages have always said them (an HDF5 enum is how
 * h5py stores bool). */
static const char *class_name(cn_class c)
{
	switch (c) {
	case CN_T_INT:
	case CN_T_UINT: return "integer";
	case CN_T_FLOAT: return "float";
	case CN_T_STRING: return "string";
	case CN_T_BOOL: return "enum";
	case CN_T_COMPOUND: return "compound";
	case CN_T_ARRAY: return "array";
	case CN_T_REFERENCE: return "reference";
	default: return "unusual";
	}
}

/* The storage that values of class cls have on their own. h5py writes bool
 * as an enum; other enums do not occur in AnnData files. */
static ad_err storage_of(ad_file *f, const char *path, cn_class cls, ad_storage *st)
{
	switch (cls) {
	case CN_T_INT:
	case CN_T_UINT:
	case CN_T_FLOAT: *st = AD_ST_NUMERIC; return AD_OK;
	case CN_T_BOOL: *st = AD_ST_BOOL; return AD_OK;
	case CN_T_STRING: *st = AD_ST_STRINGS; return AD_OK;
	default:
		return ad_fail(f, AD_EUNSUPPORTED, "%s: unsupported %s values", path,
			       class_name(cls));
	}
}

static int storage_accepts(ad_storage st, cn_class cls)
{
	switch (st) {
	case AD_ST_NUMERIC: return ad_is_integer(cls) || cls == CN_T_FLOAT;
	case AD_ST_BOOL: return cls == CN_T_BOOL || ad_is_integer(cls);
	case AD_ST_STRINGS: return cls == CN_T_STRING;
	case AD_ST_CODES: return ad_is_integer(cls);
	}
	return 0;
}

/* The length and value class of the 1-d array at path (member). */
static ad_err values_info(ad_file *f, const char *path, const char *member, size_t *len,
			  cn_class *cls)
{
	cn_type t;
	ad_err e = ad_values_open(f, path, member, NULL, len, &t);

	if (!e)
		*cls = t.cls;
	return e;
}

/* Check that the values, mask and categories of col exist and fit its
 * storage (or, with infer, take the storage from the values), and set its
 * length and kind. */
static ad_err check_column(ad_file *f, struct ad_column *col, int infer)
{
	cn_class cls;
	size_t len;
	ad_err e = values_info(f, col->path, col->member, &col->len, &cls);

	if (!e && infer)
		e = storage_of(f, col->path, cls, &col->storage);
	if (e)
		return e;
	if (!storage_accepts(col->storage, cls))
		return ad_fail(f, AD_EUNSUPPORTED, "%s%s%s: unexpected %s values", col->path,
			       col->member ? ":" : "", col->member ? col->member : "",
			       class_name(cls));
	if (col->mask) {
		e = values_info(f, col->mask, NULL, &len, &cls);
		if (e)
			return e;
		if (len != col->len)
			return ad_fail(f, AD_EFORMAT, "%s: %zu values, but %zu in the mask",
				       col->path, col->len, len);
		if (cls != CN_T_BOOL && !ad_is_integer(cls))
			return ad_fail(f, AD_EFORMAT, "%s: the mask is not boolean", col->mask);
	}
	if (col->categories) {
		e = values_info(f, col->categories, NULL, &len, &cls);
		if (e)
			return e;
		if (cls != CN_T_STRING && !ad_is_integer(cls) && cls != CN_T_FLOAT && cls != CN_T_BOOL)
			return ad_fail(f, AD_EUNSUPPORTED, "%s: unsupported %s categories",
				       col->categories, class_name(cls));
	}
	col->kind = col->storage == AD_ST_NUMERIC ? AD_COL_NUMERIC : AD_COL_CATEGORY;
	return AD_OK;
}

/* Set the parts of a column group from its encoding-type. */
static ad_err classify_group(ad_file *f, struct ad_column *col)
{
	static const struct {
		const char *encoding, *values;
		ad_storage storage;
		int masked;
	} kinds[] = {
		{ "categorical", "codes", AD_ST_CODES, 0 },
		{ "nullable-integer", "values", AD_ST_NUMERIC, 1 },
		{ "nullable-boolean", "values", AD_ST_BOOL, 1 },
		{ "nullable-string-array", "values", AD_ST_STRINGS, 1 },
	};
	char *enc = NULL, *group = col->path;
	int r = cn_attr_string(f->store, group, "encoding-type", &enc);
	ad_err e = AD_OK;
	size_t k;

	if (r <= 0)
		return ad_fail(f, AD_EUNSUPPORTED, "%s: a group without encoding-type", group);
	for (k = 0; k < sizeof kinds / sizeof *kinds; k++)
		if (!strcmp(enc, kinds[k].encoding))
			break;
	if (k == sizeof kinds / sizeof *kinds) {
		e = ad_fail(f, AD_EUNSUPPORTED, "%s: unsupported encoding '%s'", group, enc);
		free(enc);
		return e;
	}
	free(enc);
	col->storage = kinds[k].storage;
	col->path = cn_path_join(group, kinds[k].values);
	if (kinds[k].masked)
		col->mask = cn_path_join(group, "mask");
	if (kinds[k].storage == AD_ST_CODES)
		col->categories = cn_path_join(group, "categories");
	if (!col->path || (kinds[k].masked && !col->mask) ||
	    (kinds[k].storage == AD_ST_CODES && !col->categories))
		e = ad_nomem(f, group);
	free(group);
	return e;
}

/* Where the anndata 0.7 attribute `categories` of a codes dataset points:
 * an object reference (written by 0.7), or a path relative to the dataframe
 * (the zarr style); else the conventional __categories/<col>. */
static ad_err categories_path(ad_file *f, const char *df, struct ad_column *col)
{
	char *rel = NULL;

	if (cn_attr_ref(f->store, col->path, "categories", &col->categories) == 0 &&
	    cn_attr_string(f->store, col->path, "categories", &rel) > 0) {
		col->categories = cn_path_join(df, rel);
		free(rel);
	}
	if (!col->categories) {
		char *dir = cn_path_join(df, "__categories");

		col->categories = dir ? cn_path_join(dir, col->name) : NULL;
		free(dir);
	}
	return col->categories ? AD_OK : ad_nomem(f, col->path);
}

/* Fill col for the element name of the dataframe group at df. */
static ad_err classify(ad_file *f, const char *df, const char *name, struct ad_column *col)
{
	cn_kind kind;
	char *enc = NULL;
	int infer = 0;
	ad_err e = AD_OK;

	col->name = cn_strdup(name);
	col->path = cn_path_join(df, name);
	if (!col->name || !col->path)
		return ad_nomem(f, df);
	kind = cn_kind_of(f->store, col->path);
	if (kind == CN_ABSENT) {
		return ad_fail(f, AD_EFORMAT, "%s: missing", col->path);
	} else if (kind == CN_REFUSED) {
		return cn_check(f->store, col->path);
	} else if (kind == CN_GROUP) {
		e = classify_group(f, col);
	} else if (kind != CN_ARRAY) {
		e = ad_fail(f, AD_EUNSUPPORTED, "%s: neither a group nor a dataset", col->path);
	} else if (cn_attr_string(f->store, col->path, "encoding-type", &enc) > 0 &&
		   strcmp(enc, "array") && strcmp(enc, "string-array")) {
		e = ad_fail(f, AD_EUNSUPPORTED, "%s: unsupported encoding '%s'", col->path, enc);
	} else if (cn_attr_exists(f->store, col->path, "categories") > 0) {
		col->storage = AD_ST_CODES;
		e = categories_path(f, df, col);
	} else {
		infer = 1;
	}
	free(enc);
	return e ? e : check_column(f, col, infer);
}

/* Whether every code of the legacy member col is below the length of the
 * categories dataset cats (anndata's condition for making it categorical;
 * negative codes are missing values). */
static ad_err codes_fit(ad_file *f, const struct ad_column *col, const char *cats, int *fit)
{
	size_t ncat, len;
	cn_class cls;
	int32_t *codes = NULL;
	ad_err e = values_info(f, cats, NULL, &ncat, &cls);

	if (!e)
		e = values_info(f, col->path, col->member, &len, &cls);
	if (!e && !(codes = cn_mallocn(len, sizeof *codes)))
		e = ad_nomem(f, col->path);
	if (!e)
		e = ad_read_all(f, col->path, col->member, CN_I32, len, codes);
	*fit = !e;
	for (size_t k = 0; *fit && k < len; k++)
		*fit = codes[k] < (int64_t)ncat;
	free(codes);
	return e;
}

/* Fill col for member i of the pre-0.7 compound dataframe at df; integer
 * members with uns/<name>_categories are categoricals when every code fits. */
static ad_err classify_member(ad_file *f, const char *df, cn_array *table, size_t i,
			      struct ad_column *col)
{
	char *cats;
	cn_type t;
	size_t len;
	int fit = 0;
	ad_err e = cn_member(table, i, &col->name, &t);

	if (e)
		return e;
	col->member = cn_strdup(col->name);
	col->path = cn_strdup(df);
	if (!col->member || !col->path)
		return ad_nomem(f, df);
	e = storage_of(f, df, t.cls, &col->storage);
	if (e || i == 0 || !ad_is_integer(t.cls))
		return e ? e : check_column(f, col, 0);
	len = strlen(col->name) + sizeof "uns/_categories";
	cats = malloc(len);
	if (!cats)
		return ad_nomem(f, df);
	snprintf(cats, len, "uns/%s_categories", col->name);
	if (cn_kind_of(f->store, cats) == CN_ARRAY)
		e = codes_fit(f, col, cats, &fit);
	if (fit) {
		col->storage = AD_ST_CODES;
		col->categories = cats;
	} else {
		free(cats);
	}
	return e ? e : check_column(f, col, 0);
}

/* Classify one data column; a column that cannot be read becomes
 * AD_COL_UNREADABLE with the reason, only running out of memory fails. */
static ad_err add_column(ad_file *f, ad_err e, size_t nrows, const char *df,
			 struct ad_column *col)
{
	if (!e && col->len != nrows)
		e = ad_fail(f, AD_EFORMAT, "%s/%s: %zu values, expected %zu", df, col->name,
			    col->len, nrows);
	if (e == AD_ENOMEM)
		return e;
	if (e) {
		col->kind = AD_COL_UNREADABLE;
		col->reason = cn_strdup(f->err);
		if (!col->reason)
			return ad_nomem(f, df);
		if (!col->name && !(col->name = cn_strdup("")))
			return ad_nomem(f, df);
		f->err[0] = '\0';
	}
	return AD_OK;
}

/* The index name of a dataframe group: its _index attribute, or a child
 * named _index when a foreign writer left the attribute out. */
static ad_err index_name(ad_file *f, const char *path, char **name)
{
	int r = cn_attr_string(f->store, path, "_index", name);
	char *child;

	if (r < 0)
		return ad_fail(f, AD_EFORMAT, "%s: _index attribute is not a string", path);
	child = r == 0 ? cn_path_join(path, "_index") : NULL;
	if (r == 0 && !child)
		return ad_nomem(f, path);
	if (child && cn_exists(f->store, child))
		*name = cn_strdup("_index");
	free(child);
	if (!*name && r == 0)
		return ad_fail(f, AD_EFORMAT, "%s: no _index attribute", path);
	return *name ? AD_OK : ad_nomem(f, path);
}

ad_err ad_df_open(ad_file *f, const char *path, struct ad_column *index,
		  struct ad_column **cols_out, size_t *ncols_out)
{
	cn_kind kind = cn_kind_of(f->store, path);
	struct ad_column *cols = NULL;
	char **names = NULL, *iname = NULL;
	size_t ncols = 0;
	cn_array *table = NULL;
	ad_err e;

	if (cols_out) {
		*cols_out = NULL;
		*ncols_out = 0;
	}
	if (kind == CN_REFUSED)
		return cn_check(f->store, path);
	if (kind != CN_GROUP && kind != CN_ARRAY)
		return ad_fail(f, AD_EFORMAT, "no %s dataframe", path);
	if (kind == CN_GROUP) {
		e = index_name(f, path, &iname);
		if (!e)
			e = classify(f, path, iname, index);
		if (!e && cols_out &&
		    cn_attr_strings(f->store, path, "column-order", &names, &ncols) < 0)
			e = ad_fail(f, AD_EFORMAT, "%s: column-order is not a list of names", path);
	} else {
		const cn_type *t;

		e = cn_array_open(f->store, path, &table);
		if (e)
			return e;
		t = &cn_array_info(table)->type;
		if (t->cls != CN_T_COMPOUND || t->nmembers < 1)
			e = ad_fail(f, AD_EFORMAT, "%s: a dataset, but not a compound table", path);
		else
			e = classify_member(f, path, table, 0, index);
		if (!e && cols_out)
			ncols = t->nmembers - 1;
	}
	if (!cols_out)
		goto out;
	if (!e && !(cols = calloc(ncols ? ncols : 1, sizeof *cols)))
		e = ad_nomem(f, path);
	for (size_t i = 0; !e && i < ncols; i++) {
		ad_err ce = kind == CN_GROUP ? classify(f, path, names[i], &cols[i])
					     : classify_member(f, path, table, i + 1, &cols[i]);

		e = add_column(f, ce, index->len, path, &cols[i]);
	}
	if (e && cols) {
		for (size_t i = 0; i < ncols; i++)
			ad_column_clear(&cols[i]);
		free(cols);
	} else if (!e) {
		*cols_out = cols;
		*ncols_out = ncols;
	}
out:
	ad_strings_free(names, ncols);
	free(iname);
	cn_array_close(table);
	return e;
}

/* ---- reading columns ---- */

static const struct ad_column *obs_column(ad_file *f, size_t i)
{
	if (i >= f->ncols) {
		ad_fail(f, AD_EFORMAT, "obs column %zu of %zu does not exist", i, f->ncols);
		return NULL;
	}
	return &f->cols[i];
}

size_t ad_obs_ncols(const ad_file *f) { return f->ncols; }
const char *ad_obs_col_name(const ad_file *f, size_t i)
{
	return i < f->ncols ? f->cols[i].name : NULL;
}
ad_col_kind ad_obs_col_kind(const ad_file *f, size_t i)
{
	return i < f->ncols ? f->cols[i].kind : AD_COL_UNREADABLE;
}
const char *ad_obs_col_reason(const ad_file *f, size_t i)
{
	return i < f->ncols && f->cols[i].reason ? f->cols[i].reason : "";
}

/* The mask of col as one byte per row (1 = missing), or NULL in *mask
 * when the column has none. */
static ad_err read_mask(ad_file *f, const struct ad_column *col, int8_t **mask)
{
	ad_err e;

	*mask = NULL;
	if (!col->mask)
		return AD_OK;
	*mask = cn_mallocn(col->len, 1);
	if (!*mask)
		return ad_nomem(f, col->mask);
	e = ad_read_all(f, col->mask, NULL, CN_I8, col->len, *mask);
	if (e) {
		free(*mask);
		*mask = NULL;
	}
	return e;
}

ad_err ad_obs_read_numeric(ad_file *f, size_t i, float *out)
{
	const struct ad_column *col = obs_column(f, i);
	double *v;
	int8_t *mask = NULL;
	ad_err e;

	if (!col)
		return AD_EFORMAT;
	if (col->kind != AD_COL_NUMERIC)
		return ad_fail(f, AD_EFORMAT, "obs/%s: not a numeric column", col->name);
	v = cn_mallocn(col->len, sizeof *v);
	if (!v)
		return ad_nomem(f, col->path);
	/* Through double, then one rounding to float: what astype(float32) does. */
	e = ad_read_all(f, col->path, col->member, CN_F64, col->len, v);
	if (!e)
		e = read_mask(f, col, &mask);
	for (size_t k = 0; !e && k < col->len; k++)
		out[k] = mask && mask[k] ? NAN : (float)v[k];
	free(mask);
	free(v);
	return e;
}

void ad_categorical_free(ad_categorical *c)
{
	if (!c)
		return;
	ad_strings_free(c->categories, c->n_categories);
	free(c->codes);
	memset(c, 0, sizeof *c);
}

/* Stored codes and categories; codes outside the categories are missing. */
static ad_err read_codes(ad_file *f, const struct ad_column *col, ad_categorical *out)
{
	cn_type t;
	ad_err e = ad_values_open(f, col->categories, NULL, NULL, &out->n_categories, &t);

	if (e)
		return e;
	e = ad_read_strings(f, col->categories, NULL, out->n_categories, &out->categories);
	out->type = t.cls == CN_T_BOOL ? AD_VAL_BOOL : t.cls == CN_T_INT || t.cls == CN_T_UINT ?
		    AD_VAL_INT : t.cls != CN_T_FLOAT ? AD_VAL_STRING : t.size <= 4 ? AD_VAL_FLOAT32 :
		    AD_VAL_FLOAT64;
	if (!e)
		e = ad_read_all(f, col->path, col->member, CN_I32, col->len,
				   out->codes);
	for (size_t k = 0; !e && k < col->len; k++)
		if (out->codes[k] < 0 || (size_t)out->codes[k] >= out->n_categories)
			out->codes[k] = -1;
	return e;
}

/* Bools: the categories present among the rows not masked, False < True. */
static ad_err read_bools(ad_file *f, const struct ad_column *col, const int8_t *mask,
			 ad_categorical *out)
{
	int8_t *v = cn_mallocn(col->len, 1);
	int present[2] = { 0, 0 };
	int32_t code_of[2] = { -1, -1 };
	ad_err e;

	if (!v)
		return ad_nomem(f, col->path);
	e = ad_read_all(f, col->path, col->member, CN_I8, col->len, v);
	for (size_t k = 0; !e && k < col->len; k++)
		if (!(mask && mask[k]))
			present[v[k] != 0] = 1;
	out->type = AD_VAL_BOOL;
	out->categories = e ? NULL : calloc(2, sizeof *out->categories);
	if (!e && !out->categories)
		e = ad_nomem(f, col->path);
	for (int b = 0; !e && b < 2; b++) {
		if (!present[b])
			continue;
		code_of[b] = (int32_t)out->n_categories;
		out->categories[out->n_categories] = cn_strdup(b ? "True" : "False");
		if (!out->categories[out->n_categories++])
			e = ad_nomem(f, col->path);
	}
	for (size_t k = 0; !e && k < col->len; k++)
		out->codes[k] = mask && mask[k] ? -1 : code_of[v[k] != 0];
	free(v);
	return e;
}

struct row_string {
	const char *s;
	size_t row;
};

static int cmp_row_string(const void *a, const void *b)
{
	return strcmp(((const struct row_string *)a)->s, ((const struct row_string *)b)->s);
}

/* Strings: the distinct values among the rows not masked, sorted by bytes
 * (= code points for UTF-8), as pandas astype("category") orders them. */
static ad_err read_string_categories(ad_file *f, const struct ad_column *col,
				     const int8_t *mask, ad_categorical *out)
{
	struct row_string *order = NULL;
	char **v = NULL;
	size_t n = 0;
	ad_err e = ad_read_strings(f, col->path, col->member, col->len, &v);

	if (!e && (!(order = cn_mallocn(col->len, sizeof *order)) ||
		   !(out->categories = cn_mallocn(col->len, sizeof *out->categories))))
		e = ad_nomem(f, col->path);
	if (e)
		goto out;
	for (size_t k = 0; k < col->len; k++) {
		out->codes[k] = -1;
		if (!(mask && mask[k]))
			order[n++] = (struct row_string){ v[k], k };
	}
	qsort(order, n, sizeof *order, cmp_row_string);
	for (size_t k = 0; k < n; k++) {
		size_t row = order[k].row;

		if (k == 0 || strcmp(order[k - 1].s, order[k].s)) {
			/* The category takes over the string of its first row. */
			out->categories[out->n_categories++] = v[row];
			v[row] = NULL;
		}
		out->codes[row] = (int32_t)(out->n_categories - 1);
	}
out:
	free(order);
	ad_strings_free(v, col->len);
	return e;
}

/* Read col as categories and codes; the caller checked it is no number. */
static ad_err read_category(ad_file *f, const struct ad_column *col, ad_categorical *out)
{
	int8_t *mask = NULL;
	ad_err e;

	memset(out, 0, sizeof *out);
	if (col->len > INT32_MAX)
		return ad_fail(f, AD_EUNSUPPORTED, "%s: more than 2^31 rows", col->path);
	out->codes = cn_mallocn(col->len, sizeof *out->codes);
	if (!out->codes)
		return ad_nomem(f, col->path);
	e = read_mask(f, col, &mask);
	if (!e && col->storage == AD_ST_CODES)
		e = read_codes(f, col, out);
	else if (!e && col->storage == AD_ST_BOOL)
		e = read_bools(f, col, mask, out);
	else if (!e)
		e = read_string_categories(f, col, mask, out);
	free(mask);
	if (e)
		ad_categorical_free(out);
	return e;
}

ad_err ad_obs_read_categorical(ad_file *f, size_t i, ad_categorical *out)
{
	const struct ad_column *col = obs_column(f, i);

	memset(out, 0, sizeof *out);
	if (!col)
		return AD_EFORMAT;
	if (col->kind != AD_COL_CATEGORY)
		return ad_fail(f, AD_EFORMAT, "obs/%s: not a category column", col->name);
	return read_category(f, col, out);
}

/* The labels of a categorical index, a missing one as "". */
static ad_err expand_codes(ad_file *f, const struct ad_column *col, char **s)
{
	ad_categorical c;
	ad_err e = read_category(f, col, &c);

	for (size_t k = 0; !e && k < col->len; k++) {
		s[k] = cn_strdup(c.codes[k] < 0 ? "" : c.categories[c.codes[k]]);
		if (!s[k]) {
			while (k--)
				free(s[k]);
			e = ad_nomem(f, col->path);
		}
	}
	ad_categorical_free(&c);
	return e;
}

/* The values of a var column (or index) as strings; a masked one is "". */
static ad_err column_strings(ad_file *f, const struct ad_column *col, char ***out)
{
	int8_t *mask = NULL;
	char **s = NULL;
	ad_err e;

	*out = NULL;
	if (col->storage == AD_ST_CODES) {
		s = cn_mallocn(col->len, sizeof *s);
		e = s ? expand_codes(f, col, s) : ad_nomem(f, col->path);
		if (e) {
			free(s);
			return e;
		}
	} else {
		e = ad_read_strings(f, col->path, col->member, col->len, &s);
		if (!e)
			e = read_mask(f, col, &mask);
		for (size_t k = 0; !e && mask && k < col->len; k++)
			if (mask[k])
				s[k][0] = '\0';
		free(mask);
		if (e) {
			ad_strings_free(s, s ? col->len : 0);
			return e;
		}
	}
	*out = s;
	return AD_OK;
}

ad_err ad_var_names(ad_file *f, char ***out)
{
	return column_strings(f, &f->var_index, out);
}

ad_err ad_var_column(ad_file *f, const char *column, char ***out)
{
	struct ad_column index = { 0 }, *cols = NULL;
	size_t ncols = 0, k = 0;
	ad_err e = ad_df_open(f, f->var_df, &index, &cols, &ncols);

	*out = NULL;
	while (!e && k < ncols && strcmp(cols[k].name, column))
		k++;
	if (!e && k == ncols) {
		const char **names = cn_mallocn(ncols, sizeof *names);
		char list[256];

		for (size_t i = 0; names && i < ncols; i++)
			names[i] = cols[i].name;
		ad_join(names, names ? ncols : 0, list, sizeof list);
		free(names);
		e = ad_fail(f, AD_EFORMAT, "%s has no column '%s' (columns: %s)", f->var_df,
			    column, list);
	} else if (!e && cols[k].kind == AD_COL_UNREADABLE) {
		e = ad_fail(f, AD_EUNSUPPORTED, "%s", cols[k].reason);
	} else if (!e) {
		e = column_strings(f, &cols[k], out);
	}
	for (size_t i = 0; i < ncols; i++)
		ad_column_clear(&cols[i]);
	free(cols);
	ad_column_clear(&index);
	return e;
}
