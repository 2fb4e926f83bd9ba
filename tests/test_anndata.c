/*
 * test_anndata.c - tests of the anndata module.
 *
 * Two halves: the real files in ../shared/fixtures (skipped, with a message,
 * when that folder is absent), checked against values extracted once with
 * h5py; and small files written here with the HDF5 C API, in a temporary
 * directory, for the encodings and the damaged or hostile layouts that the
 * fixtures do not have.
 */
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ad.h"
#include "check.h"

#define FIXTURES "../shared/fixtures/"

static int same(float a, float b)
{
	return a == b || (isnan(a) && isnan(b));
}

static size_t obs_col(ad_file *f, const char *name)
{
	for (size_t i = 0; i < ad_obs_ncols(f); i++)
		if (!strcmp(ad_obs_col_name(f, i), name))
			return i;
	return (size_t)-1;
}

/* ---- X scanned back into a dense matrix ---- */

struct collect {
	size_t n_obs, n_var, next_row, blocks, stored;
	float *m;
	int sane;              /* blocks well-formed, in order, genes in range */
	size_t align;          /* if set: every block but the last has k * align rows */
	int aligned, pending;  /* pending: the last block was not a multiple */
	size_t stop_after;     /* stop after this many blocks (0: never) */
};

static int collect_block(const ad_rowblock *b, void *ctx)
{
	struct collect *c = ctx;

	if (b->row0 != c->next_row || b->indptr[0] != 0 || b->row0 + b->nrows > c->n_obs)
		c->sane = 0;
	if (c->align) {
		if (c->pending)
			c->aligned = 0;
		c->pending = b->nrows % c->align != 0;
	}
	for (size_t i = 0; c->sane && i < b->nrows; i++) {
		if (b->indptr[i + 1] < b->indptr[i])
			c->sane = 0;
		for (int64_t k = b->indptr[i]; c->sane && k < b->indptr[i + 1]; k++) {
			if (b->indices[k] >= c->n_var)
				c->sane = 0;
			else
				c->m[(b->row0 + i) * c->n_var + b->indices[k]] += b->values[k];
		}
	}
	c->stored += (size_t)b->indptr[b->nrows];
	c->next_row = b->row0 + b->nrows;
	c->blocks++;
	return c->stop_after && c->blocks >= c->stop_after;
}

/* Scan X with block_nnz into c (c->m is allocated; free it). */
static ad_err scan_x(ad_file *f, size_t block_nnz, struct collect *c)
{
	ad_err e;

	memset(c, 0, sizeof *c);
	c->n_obs = ad_n_obs(f);
	c->n_var = ad_n_var(f);
	c->sane = c->aligned = 1;
	c->m = calloc(c->n_obs * c->n_var + 1, sizeof *c->m);
	e = ad_x_scan_rows(f, block_nnz, collect_block, c);
	return e;
}

/* Every gene of X read directly equals the column the scan rebuilt. */
static int genes_match_scan(ad_file *f, const struct collect *c)
{
	float *g = malloc((c->n_obs + 1) * sizeof *g);
	int ok = 1;

	for (size_t j = 0; ok && j < c->n_var; j++) {
		if (ad_x_read_gene(f, j, g) != AD_OK)
			ok = 0;
		for (size_t i = 0; ok && i < c->n_obs; i++)
			ok = same(g[i], c->m[i * c->n_var + j]);
	}
	free(g);
	return ok;
}

/* ---- the fixtures ---- */

/* pbmc68k_reduced in the modern encoding and as written by anndata 0.6:
 * the same data, so the same answers. */
static void test_pbmc(const char *path, const char *label)
{
	static const char *cols[] = { "bulk_labels", "n_genes", "percent_mito", "n_counts",
				      "S_score", "G2M_score", "phase", "louvain" };
	static const ad_col_kind kinds[] = { AD_COL_CATEGORY, AD_COL_NUMERIC, AD_COL_NUMERIC,
					     AD_COL_NUMERIC, AD_COL_NUMERIC, AD_COL_NUMERIC,
					     AD_COL_CATEGORY, AD_COL_CATEGORY };
	static const size_t rows[] = { 0, 1, 350, 699 };
	static const float n_genes[] = { 1003, 1080, 1076, 1552 };
	static const float percent_mito[] = { 0.023856081068515778f, 0.027458256110548973f,
					      0.014715291559696198f, 0.010885805822908878f };
	static const float s_score[] = { -0.11915980279445648f, 0.06702637672424316f,
					 -0.029679492115974426f, -0.14844906330108643f };
	static const size_t genes[] = { 0, 3, 100, 764 };
	static const float x[4][4] = {
		{ -0.32600000500679016f, 1.1710000038146973f, -0.32600000500679016f, -0.32600000500679016f },
		{ -0.3009999990463257f, -1.2000000476837158f, 1.7400000095367432f, 0.7620000243186951f },
		{ -0.5889999866485596f, -0.5889999866485596f, 8.097000122070312f, 0.5699999928474426f },
		{ 4.011000156402588f, -0.49000000953674316f, -0.49000000953674316f, -0.49000000953674316f },
	};
	static const uint32_t row0_cols[] = { 9, 54, 94, 201, 219, 277, 380, 424, 651 };
	static const double row0_w[] = { 0.17960058288369202, 0.1227288161036776, 1.0,
					 0.6273780800611686, 0.2978587419747513, 0.11423947302853509,
					 0.16222063670851541, 0.6426744901325941, 0.17522663067659716 };
	char err[256];
	ad_file *f;
	ad_categorical c;
	char **names;
	float *v, *g;
	double *d;
	float *d32;
	ad_graph graph;
	struct collect sc;
	int ok;
	size_t i, k;

	if (ad_open(path, &f, err, sizeof err) != AD_OK) {
		CHECK(0, "%s: opens (%s)", label, err);
		return;
	}
	CHECK(ad_n_obs(f) == 700 && ad_n_var(f) == 765, "%s: 700 x 765", label);
	CHECK(ad_x_kind(f) == AD_X_DENSE, "%s: X is dense", label);
	ok = ad_obs_ncols(f) == 8;
	for (i = 0; ok && i < 8; i++)
		ok = !strcmp(ad_obs_col_name(f, i), cols[i]) && ad_obs_col_kind(f, i) == kinds[i];
	CHECK(ok, "%s: obs columns in column-order with their kinds", label);
	CHECK(!strcmp(ad_obs_col_reason(f, 0), ""), "%s: a readable column has an empty reason",
	      label);

	ok = ad_obs_read_categorical(f, 0, &c) == AD_OK && c.n_categories == 10 &&
	     !strcmp(c.categories[0], "CD4+/CD25 T Reg") && !strcmp(c.categories[9], "Dendritic") &&
	     c.codes[0] == 5 && c.codes[1] == 9 && c.codes[2] == 8 && c.codes[350] == 6 &&
	     c.codes[699] == 9;
	CHECK(ok, "%s: bulk_labels categories and codes", label);
	ad_categorical_free(&c);
	ok = ad_obs_read_categorical(f, 7, &c) == AD_OK && c.n_categories == 11;
	for (k = 0; ok && k < 11; k++) {
		char want[4];

		snprintf(want, sizeof want, "%zu", k);
		ok = !strcmp(c.categories[k], want);
	}
	CHECK(ok && c.codes[0] == 1 && c.codes[350] == 4 && c.codes[699] == 2,
	      "%s: louvain categories \"0\"..\"10\" and codes", label);
	ad_categorical_free(&c);
	ok = ad_obs_read_categorical(f, 6, &c) == AD_OK && c.n_categories == 3 &&
	     !strcmp(c.categories[1], "G2M") && c.codes[1] == 2;
	CHECK(ok, "%s: phase", label);
	ad_categorical_free(&c);
	CHECK(ad_obs_read_categorical(f, 1, &c) == AD_EFORMAT && c.codes == NULL,
	      "%s: a numeric column is not read as categories", label);

	v = malloc(700 * sizeof *v);
	ok = ad_obs_read_numeric(f, 1, v) == AD_OK;
	for (i = 0; ok && i < 4; i++)
		ok = v[rows[i]] == n_genes[i];
	CHECK(ok, "%s: n_genes (int64) as float", label);
	ok = ad_obs_read_numeric(f, 2, v) == AD_OK;
	for (i = 0; ok && i < 4; i++)
		ok = v[rows[i]] == percent_mito[i];
	CHECK(ok, "%s: percent_mito", label);
	ok = ad_obs_read_numeric(f, 4, v) == AD_OK;
	for (i = 0; ok && i < 4; i++)
		ok = v[rows[i]] == s_score[i];
	CHECK(ok, "%s: S_score", label);
	CHECK(ad_obs_read_numeric(f, 0, v) == AD_EFORMAT && strstr(ad_last_error(f), "bulk_labels"),
	      "%s: a categorical is not read as numbers (%s)", label, ad_last_error(f));
	CHECK(ad_obs_read_numeric(f, 8, v) == AD_EFORMAT, "%s: column 8 does not exist", label);
	free(v);

	ok = ad_var_names(f, &names) == AD_OK && !strcmp(names[0], "HES4") &&
	     !strcmp(names[1], "TNFRSF4") && !strcmp(names[764], "MT-ND3");
	CHECK(ok, "%s: var names", label);
	if (ok)
		ad_strings_free(names, 765);

	ok = ad_obsm_count(f) == 2 && !strcmp(ad_obsm_key(f, 0), "X_pca") &&
	     !strcmp(ad_obsm_key(f, 1), "X_umap") && ad_obsm_cols(f, 0) == 50 &&
	     ad_obsm_cols(f, 1) == 2;
	CHECK(ok, "%s: obsm X_pca (50 columns) and X_umap (2)", label);
	d = malloc(700 * 50 * sizeof *d);
	d32 = malloc(700 * 50 * sizeof *d32);
	CHECK(ad_obsm_read(f, 0, d) == AD_OK && d[0] == (double)-7.939618110656738f &&
	      d[699 * 50 + 49] == (double)0.6459726691246033f, "%s: X_pca values", label);
	CHECK(ad_obsm_read(f, 1, d) == AD_OK && d[0] == -1.9918625454649166 &&
	      d[699 * 2 + 1] == -3.576067016954922, "%s: X_umap values (float64)", label);
	CHECK(ad_obsm_read_f32(f, 1, d32) == AD_OK && d32[0] == (float)-1.9918625454649166,
	      "%s: X_umap as float32", label);
	free(d32);
	free(d);

	CHECK(ad_has_connectivities(f), "%s: has connectivities", label);
	ok = ad_read_connectivities(f, &graph) == AD_OK && graph.n == 700 &&
	     graph.indptr[700] == 9992 && graph.indptr[1] == 9;
	for (k = 0; ok && k < 9; k++)
		ok = graph.indices[k] == row0_cols[k] && graph.data[k] == row0_w[k];
	CHECK(ok, "%s: connectivities: 9992 edges, row 0", label);
	CHECK(ok && graph.indptr[700] - graph.indptr[699] == 14 &&
	      graph.indices[graph.indptr[699] + 13] == 695 && graph.data[graph.indptr[700] - 1] == 1.0,
	      "%s: connectivities row 699", label);
	ad_graph_free(&graph);

	g = malloc(700 * sizeof *g);
	ok = 1;
	for (k = 0; ok && k < 4; k++) {
		ok = ad_x_read_gene(f, genes[k], g) == AD_OK;
		for (i = 0; ok && i < 4; i++)
			ok = g[rows[i]] == x[k][i];
	}
	CHECK(ok, "%s: X genes 0, 3, 100, 764 read directly", label);
	CHECK(ad_x_read_gene(f, 765, g) == AD_EFORMAT, "%s: gene 765 does not exist", label);
	free(g);

	/* 44-row chunks: blocks of 100 rows' worth come as 88 rows. */
	ok = scan_x(f, 100 * 765, &sc) == AD_OK;
	sc.align = 0;
	CHECK(ok && sc.sane && sc.next_row == 700, "%s: scan covers every row in order", label);
	CHECK(sc.stored == 700 * 765 - 67, "%s: scan drops the 67 zeros", label);
	CHECK(genes_match_scan(f, &sc), "%s: scan == read_gene for every gene", label);
	CHECK(sc.m[5 * 765 + 7] == -0.486f, "%s: X[5,7]", label);
	free(sc.m);
	memset(&sc, 0, sizeof sc);
	sc.n_obs = 700;
	sc.n_var = 765;
	sc.sane = sc.aligned = 1;
	sc.align = 44;
	sc.m = calloc(700 * 765, sizeof *sc.m);
	CHECK(ad_x_scan_rows(f, 100 * 765, collect_block, &sc) == AD_OK && sc.aligned &&
	      sc.blocks == 8, "%s: dense blocks follow the 44-row chunks (%zu blocks)", label,
	      sc.blocks);
	free(sc.m);
	memset(&sc, 0, sizeof sc);
	sc.n_obs = 700;
	sc.n_var = 765;
	sc.sane = 1;
	sc.stop_after = 2;
	sc.m = calloc(700 * 765, sizeof *sc.m);
	CHECK(ad_x_scan_rows(f, 1000, collect_block, &sc) == AD_OK && sc.blocks == 2,
	      "%s: a callback can stop the scan", label);
	free(sc.m);
	ad_close(f);
}

/* anndata 0.7: categoricals through object references, LZF everywhere. */
static void test_v07(const char *path, const char *label, int v0)
{
	char err[256];
	ad_file *f;
	ad_categorical c;
	char **names;
	float v[30];
	double *d;
	struct collect sc;
	int ok;

	if (ad_open(path, &f, err, sizeof err) != AD_OK) {
		CHECK(0, "%s: opens (%s)", label, err);
		return;
	}
	CHECK(ad_n_obs(f) == 30 && ad_n_var(f) == 20 && ad_x_kind(f) == AD_X_CSR,
	      "%s: 30 x 20, CSR X", label);
	ok = ad_obs_ncols(f) == 5 && !strcmp(ad_obs_col_name(f, 0), "obs_cat") &&
	     ad_obs_col_kind(f, 0) == AD_COL_CATEGORY && ad_obs_col_kind(f, 1) == AD_COL_CATEGORY &&
	     ad_obs_col_kind(f, 2) == AD_COL_NUMERIC && ad_obs_col_kind(f, 4) == AD_COL_NUMERIC;
	CHECK(ok, "%s: 5 columns, __categories is not one", label);
	ok = ad_obs_read_categorical(f, 0, &c) == AD_OK &&
	     c.n_categories == (v0 ? 22u : 21u) && !strcmp(c.categories[0], v0 ? "B" : "A") &&
	     c.codes[0] == (v0 ? 8 : 13) && c.codes[29] == (v0 ? 9 : 3);
	CHECK(ok, "%s: obs_cat through its object reference", label);
	ad_categorical_free(&c);
	ok = ad_obs_read_categorical(f, 1, &c) == AD_OK &&
	     c.n_categories == (v0 ? 22u : 24u) && !strcmp(c.categories[0], v0 ? "A" : "C");
	CHECK(ok, "%s: cat_ordered", label);
	ad_categorical_free(&c);
	ok = ad_obs_read_numeric(f, 2, v) == AD_OK && v[0] == (v0 ? -29 : -16) &&
	     v[29] == (v0 ? 25 : -9);
	CHECK(ok, "%s: int64 column", label);
	ok = ad_obs_read_numeric(f, 4, v) == AD_OK && v[0] == (v0 ? 226 : 73) &&
	     v[29] == (v0 ? 254 : 179);
	CHECK(ok, "%s: uint8 column", label);
	ok = ad_var_names(f, &names) == AD_OK && !strcmp(names[0], "gene0") &&
	     !strcmp(names[19], "gene19");
	CHECK(ok, "%s: var names (LZF vlen strings)", label);
	if (ok)
		ad_strings_free(names, 20);
	ok = ad_obsm_count(f) == 3 && !strcmp(ad_obsm_key(f, 0), "array") &&
	     ad_obsm_cols(f, 0) == 50 && ad_obsm_cols(f, 1) == 0 && ad_obsm_cols(f, 2) == 0;
	CHECK(ok, "%s: obsm array 50, df and sparse 0 columns", label);
	d = malloc(30 * 50 * sizeof *d);
	CHECK(ad_obsm_read(f, 0, d) == AD_OK &&
	      d[0] == (v0 ? 0.4879890005206524 : 0.045898810474264584) &&
	      d[29 * 50 + 49] == (v0 ? 0.20891124926336135 : 0.28180623766425617),
	      "%s: obsm/array values", label);
	CHECK(ad_obsm_read(f, 1, d) == AD_EFORMAT && strstr(ad_last_error(f), "obsm/df"),
	      "%s: obsm/df is not an embedding (%s)", label, ad_last_error(f));
	free(d);
	CHECK(!ad_has_connectivities(f), "%s: no obsp/connectivities", label);
	ok = scan_x(f, 7, &sc) == AD_OK && sc.sane && sc.next_row == 30 &&
	     sc.stored == (v0 ? 228u : 239u);
	CHECK(ok, "%s: CSR scan in small blocks", label);
	CHECK(genes_match_scan(f, &sc), "%s: scan == read_gene", label);
	CHECK(sc.m[1 * 20 + 3] == (v0 ? 1 : 0) && sc.m[2 * 20 + 3] == 2 && sc.m[4 * 20 + 3] == 1,
	      "%s: X values", label);
	free(sc.m);
	ad_close(f);
}

static void test_v0114(const char *path)
{
	char err[256];
	ad_file *f;
	char **names;
	int ok;

	if (ad_open(path, &f, err, sizeof err) != AD_OK) {
		CHECK(0, "v0.11.4: opens (%s)", err);
		return;
	}
	CHECK(ad_n_obs(f) == 10 && ad_n_var(f) == 20, "v0.11.4: 10 x 20");
	CHECK(ad_x_kind(f) == AD_X_NONE, "v0.11.4: no X");
	CHECK(ad_obsm_count(f) == 0 && !ad_has_connectivities(f), "v0.11.4: empty obsm, no graph");
	CHECK(ad_obs_ncols(f) == 0, "v0.11.4: column-order float64[0] means no columns");
	ok = ad_var_names(f, &names) == AD_OK && !strcmp(names[0], "0") && !strcmp(names[19], "19");
	CHECK(ok, "v0.11.4: var names");
	if (ok)
		ad_strings_free(names, 20);
	CHECK(ad_x_scan_rows(f, 100, collect_block, NULL) == AD_EFORMAT &&
	      !strcmp(ad_last_error(f), "no X matrix"), "v0.11.4: scanning no X is an error");
	ad_close(f);
}

/* expression=raw on pbmc68k: raw/X, or raw.X and raw.var as anndata 0.6
 * wrote them; the same CSR matrix in both files. And var columns as names. */
static void test_pbmc_raw(const char *path, const char *label)
{
	static const size_t rows[] = { 0, 1, 350, 699 };
	static const size_t genes[] = { 0, 3, 100, 764 };
	static const float raw[4][4] = {
		{ 0, 1.5499999523162842f, 0, 0 },
		{ 1.590999960899353f, 0, 2.624000072479248f, 2.255000114440918f },
		{ 0, 0, 3.496000051498413f, 1.6619999408721924f },
		{ 2.177000045776367f, 0, 0, 0 },
	};
	char err[256];
	ad_file *f;
	char **names;
	float *g;
	struct collect sc;
	int ok;

	if (ad_open(path, &f, err, sizeof err) != AD_OK) {
		CHECK(0, "%s raw: opens (%s)", label, err);
		return;
	}
	ok = ad_var_column(f, "n_counts", &names) == AD_OK && !strcmp(names[0], "1153.3875") &&
	     !strcmp(names[1], "304.35815") && !strcmp(names[764], "1214.9142");
	CHECK(ok, "%s: var column n_counts (float32) as names, as str() writes them", label);
	if (ok)
		ad_strings_free(names, 765);
	ok = ad_var_column(f, "highly_variable", &names) == AD_OK &&
	     !strcmp(names[0], "True") && !strcmp(names[2], "False");
	CHECK(ok, "%s: var column highly_variable (bool) as names", label);
	if (ok)
		ad_strings_free(names, 765);

	CHECK(ad_select_expression(f, "raw") == AD_OK && ad_x_kind(f) == AD_X_CSR &&
	      ad_n_var(f) == 765, "%s: expression raw is a 700 x 765 CSR", label);
	ok = ad_var_names(f, &names) == AD_OK && !strcmp(names[0], "HES4") &&
	     !strcmp(names[764], "MT-ND3");
	CHECK(ok, "%s: raw gene names from the raw var index", label);
	if (ok)
		ad_strings_free(names, 765);
	g = malloc(700 * sizeof *g);
	ok = 1;
	for (size_t k = 0; ok && k < 4; k++) {
		ok = ad_x_read_gene(f, genes[k], g) == AD_OK;
		for (size_t i = 0; ok && i < 4; i++)
			ok = g[rows[i]] == raw[k][i];
	}
	CHECK(ok, "%s: raw genes 0, 3, 100, 764", label);
	free(g);
	ok = scan_x(f, 10000, &sc) == AD_OK && sc.sane && sc.next_row == 700 &&
	     sc.stored == 174400;
	CHECK(ok, "%s: raw scan delivers its 174400 entries", label);
	free(sc.m);
	CHECK(ad_var_column(f, "n_counts", &names) == AD_EFORMAT &&
	      strstr(ad_last_error(f), "has no column 'n_counts' (columns: none)"),
	      "%s: columns are raw var's once raw is selected (%s)", label, ad_last_error(f));
	CHECK(ad_select_expression(f, "X") == AD_OK && ad_x_kind(f) == AD_X_DENSE,
	      "%s: X selected again", label);
	ad_close(f);
}

static void test_fixtures(void)
{
	struct stat st;

	if (stat(FIXTURES, &st) != 0) {
		SKIP("fixtures: %s is absent (a clone without shared/)", FIXTURES);
		return;
	}
	test_pbmc(FIXTURES "pbmc68k_reduced.h5ad", "pbmc68k");
	test_pbmc(FIXTURES "pbmc68k_reduced_legacy.h5ad", "pbmc68k legacy");
	test_v07(FIXTURES "anndata_archive_v0.7.0.h5ad", "v0.7.0", 1);
	test_v07(FIXTURES "anndata_archive_v0.7.8.h5ad", "v0.7.8", 0);
	test_v0114(FIXTURES "anndata_archive_v0.11.4.h5ad");
	test_pbmc_raw(FIXTURES "pbmc68k_reduced.h5ad", "pbmc68k");
	test_pbmc_raw(FIXTURES "pbmc68k_reduced_legacy.h5ad", "pbmc68k legacy");
}

/* ---- writing small .h5ad files ---- */

static char tmpdir[64];

static char *tmp_path(const char *name)
{
	static char buf[128];

	snprintf(buf, sizeof buf, "%s/%s", tmpdir, name);
	return buf;
}

static hid_t new_file(const char *name)
{
	return H5Fcreate(tmp_path(name), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
}

static hid_t vlen_str(void)
{
	hid_t t = H5Tcopy(H5T_C_S1);

	H5Tset_size(t, H5T_VARIABLE);
	H5Tset_cset(t, H5T_CSET_UTF8);
	return t;
}

static hid_t bool_type(void)
{
	hid_t t = H5Tenum_create(H5T_STD_I8LE);
	signed char no = 0, yes = 1;

	H5Tenum_insert(t, "FALSE", &no);
	H5Tenum_insert(t, "TRUE", &yes);
	return t;
}

static void attr_strs(hid_t loc, const char *path, const char *name, const char *const *v,
		      size_t n, int scalar)
{
	hid_t obj = H5Oopen(loc, path, H5P_DEFAULT), t = vlen_str();
	hsize_t dim = n;
	hid_t space = scalar ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &dim, NULL);
	hid_t a = H5Acreate2(obj, name, t, space, H5P_DEFAULT, H5P_DEFAULT);

	H5Awrite(a, t, v);
	H5Aclose(a);
	H5Sclose(space);
	H5Tclose(t);
	H5Oclose(obj);
}

static void attr_str(hid_t loc, const char *path, const char *name, const char *value)
{
	attr_strs(loc, path, name, &value, 1, 1);
}

static void attr_i64(hid_t loc, const char *path, const char *name, const int64_t *v, size_t n)
{
	hid_t obj = H5Oopen(loc, path, H5P_DEFAULT);
	hsize_t dim = n;
	hid_t space = H5Screate_simple(1, &dim, NULL);
	hid_t a = H5Acreate2(obj, name, H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT);

	H5Awrite(a, H5T_NATIVE_INT64, v);
	H5Aclose(a);
	H5Sclose(space);
	H5Oclose(obj);
}

/* encoding-type and encoding-version, as anndata >= 0.8 writes them. */
static void encode(hid_t loc, const char *path, const char *type)
{
	int v2 = !strcmp(type, "dataframe") || !strcmp(type, "array") ||
		 !strcmp(type, "string-array") || !strcmp(type, "categorical");

	attr_str(loc, path, "encoding-type", type);
	attr_str(loc, path, "encoding-version", v2 ? "0.2.0" : "0.1.0");
}

static void group(hid_t loc, const char *path, const char *encoding)
{
	hid_t lcpl = H5Pcreate(H5P_LINK_CREATE), g;

	H5Pset_create_intermediate_group(lcpl, 1);
	g = H5Gcreate2(loc, path, lcpl, H5P_DEFAULT, H5P_DEFAULT);
	H5Gclose(g);
	H5Pclose(lcpl);
	if (encoding)
		encode(loc, path, encoding);
}

/* A dataset of the given shape at path (making the groups on the way). */
static void put(hid_t loc, const char *path, const char *encoding, hid_t ftype, hid_t mtype,
		int rank, const hsize_t *dims, const void *data, hid_t dcpl)
{
	hid_t lcpl = H5Pcreate(H5P_LINK_CREATE), space, d;

	H5Pset_create_intermediate_group(lcpl, 1);
	space = H5Screate_simple(rank, dims, NULL);
	d = H5Dcreate2(loc, path, ftype, space, lcpl, dcpl, H5P_DEFAULT);
	if (data)
		H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
	H5Dclose(d);
	H5Sclose(space);
	H5Pclose(lcpl);
	if (encoding)
		encode(loc, path, encoding);
}

static void put_1d(hid_t loc, const char *path, hid_t type, hsize_t n, const void *data)
{
	put(loc, path, "array", type, type, 1, &n, data, H5P_DEFAULT);
}

static void put_strs(hid_t loc, const char *path, const char *const *v, hsize_t n)
{
	hid_t t = vlen_str();

	put(loc, path, "string-array", t, t, 1, &n, v, H5P_DEFAULT);
	H5Tclose(t);
}

/* A dataframe 0.2.0 group: index strings under index_name (unless index is
 * NULL), column-order (an empty float64 array when there are no columns, as
 * h5py writes it). */
static void dataframe(hid_t file, const char *path, const char *index_name,
		      const char *const *index, size_t n, const char *const *cols, size_t ncols)
{
	char child[128];

	group(file, path, "dataframe");
	attr_str(file, path, "_index", index_name);
	if (ncols) {
		attr_strs(file, path, "column-order", cols, ncols, 0);
	} else {
		hid_t g = H5Oopen(file, path, H5P_DEFAULT);
		hsize_t zero = 0;
		hid_t space = H5Screate_simple(1, &zero, NULL);
		hid_t a = H5Acreate2(g, "column-order", H5T_IEEE_F64LE, space, H5P_DEFAULT,
				     H5P_DEFAULT);

		H5Aclose(a);
		H5Sclose(space);
		H5Oclose(g);
	}
	snprintf(child, sizeof child, "%s/%s", path, index_name);
	if (index)
		put_strs(file, child, index, n);
}

static const char *cells[] = { "c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9" };
static const char *genes6[] = { "g0", "g1", "g2", "g3", "g4", "g5" };

/* obs (10 cells, no columns) and var (6 genes). */
static void frames(hid_t file)
{
	dataframe(file, "obs", "_index", cells, 10, NULL, 0);
	dataframe(file, "var", "_index", genes6, 6, NULL, 0);
}

/* The test matrix, 10 x 6, as CSR: unsorted indices in rows 0, 2 and 8,
 * empty rows 1, 3 and 9, an explicit zero at (4, 4) and a NaN at (2, 1). */
#define NNZ 16
static const int64_t csr_ptr[11] = { 0, 2, 2, 4, 4, 6, 12, 13, 14, 16, 16 };
static const int64_t csr_idx[NNZ] = { 2, 0, 5, 1, 3, 4, 0, 1, 2, 3, 4, 5, 5, 1, 4, 0 };
static float csr_val[NNZ] = { 1.5f, 2, -3, 0 /* NaN */, 4, 0, 1, 1, 1, 1, 1, 1, 7, 0.25f, -1, 5 };
static float dense_m[10 * 6];

static void make_matrix(void)
{
	csr_val[3] = NAN;
	for (int r = 0; r < 10; r++)
		for (int64_t k = csr_ptr[r]; k < csr_ptr[r + 1]; k++)
			dense_m[r * 6 + csr_idx[k]] += csr_val[k];
}

static void put_sparse(hid_t loc, const char *path, const char *encoding, int64_t rows,
		       int64_t cols, hid_t ptr_type, const void *ptr, hsize_t nptr,
		       hid_t idx_type, const void *idx, hid_t val_type, const void *val,
		       hsize_t nnz)
{
	char child[128];
	int64_t shape[2] = { rows, cols };

	group(loc, path, encoding);
	attr_i64(loc, path, "shape", shape, 2);
	snprintf(child, sizeof child, "%s/indptr", path);
	put(loc, child, NULL, ptr_type, ptr_type, 1, &nptr, ptr, H5P_DEFAULT);
	snprintf(child, sizeof child, "%s/indices", path);
	put(loc, child, NULL, idx_type, idx_type, 1, &nnz, idx, H5P_DEFAULT);
	snprintf(child, sizeof child, "%s/data", path);
	put(loc, child, NULL, val_type, val_type, 1, &nnz, val, H5P_DEFAULT);
}

/* X as CSR with int64 indptr and int32 indices (or a damaged variant). */
static void put_csr_x(hid_t file, const int64_t *ptr, const int32_t *idx, int64_t shape_cols)
{
	put_sparse(file, "X", "csr_matrix", 10, shape_cols, H5T_NATIVE_INT64, ptr, 11,
		   H5T_NATIVE_INT32, idx, H5T_NATIVE_FLOAT, csr_val, NNZ);
}

static void csr_idx32(int32_t *idx)
{
	for (int k = 0; k < NNZ; k++)
		idx[k] = (int32_t)csr_idx[k];
}

/* The columns of the obs dataframe of the "columns" file. */
static const char *obs_cols[] = { "str", "flag", "all_true", "nint", "nbool", "nstr", "icat",
				  "fcat", "bcat", "ecat", "a/b", "u8", "short", "awk", "gone",
				  "cplx", "fcodes", "zst" };

static void write_columns_file(void)
{
	hid_t file = new_file("columns.h5ad"), bt = bool_type();
	const char *str[10] = { "b", "a", "b", NULL, "c", "a", "b", "\xc3\xa9", "a", "b" };
	signed char flag[10] = { 1, 0, 1, 1, 0, 0, 1, 1, 0, 1 };
	signed char all_true[10] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 };
	int32_t nint[10] = { 10, 11, 12, 13, 14, 15, 16, 17, 18, 19 };
	signed char mask[10] = { 0, 1, 0, 0, 0, 0, 0, 0, 0, 1 };
	signed char nbool[10] = { 1, 0, 1, 1, 1, 1, 1, 1, 1, 0 };
	const char *nstr[10] = { "x", "", "y", "x", "x", "x", "y", "x", "x", "" };
	int64_t icats[2] = { 0, 1 };
	signed char icodes[10] = { 1, 0, 1, 1, 0, 0, 1, 1, 0, -1 };
	double fcats[4] = { 1.5, 2.0, 1e-05, 1e16 };
	int16_t fcodes[10] = { 0, 1, 2, 3, 7, -1, 0, 0, 0, 0 };
	signed char bcats[2] = { 0, 1 };
	signed char ecodes[10] = { -1, -1, -1, -1, -1, -1, -1, -1, -1, -1 };
	float ab[10] = { 0.5f, 1, 2, 3, 4, 5, 6, 7, 8, 9.25f };
	uint8_t u8[10] = { 0, 255, 2, 3, 4, 5, 6, 7, 8, 9 };
	float shortv[5] = { 0 };
	float fc[10] = { 0.5f, 1, 2, 3, 4, 5, 6, 7, 8, 9 };
	struct { double r, i; } cplx[10] = { { 0, 0 } };
	hid_t ct = H5Tcreate(H5T_COMPOUND, 16), dcpl = H5Pcreate(H5P_DATASET_CREATE);
	hsize_t ten = 10, chunk = 10, off = 0;
	unsigned cd[1] = { 0 };
	/* 8 bytes each, NUL-padded; "ABCDEFGH" fills its 8 bytes unterminated */
	const char fixed_genes[6][8] = { "g0", "ABCDEFGH", "g2", "g3", "g4", "g5" };
	hid_t ft = H5Tcopy(H5T_C_S1);
	hid_t d;

	dataframe(file, "obs", "_index", cells, 10, obs_cols, sizeof obs_cols / sizeof *obs_cols);
	put_strs(file, "obs/str", str, 10);
	put_1d(file, "obs/flag", bt, 10, flag);
	put_1d(file, "obs/all_true", bt, 10, all_true);
	group(file, "obs/nint", "nullable-integer");
	put_1d(file, "obs/nint/values", H5T_NATIVE_INT32, 10, nint);
	put_1d(file, "obs/nint/mask", bt, 10, mask);
	group(file, "obs/nbool", "nullable-boolean");
	put_1d(file, "obs/nbool/values", bt, 10, nbool);
	put_1d(file, "obs/nbool/mask", bt, 10, mask);
	group(file, "obs/nstr", "nullable-string-array");
	put_strs(file, "obs/nstr/values", nstr, 10);
	put_1d(file, "obs/nstr/mask", bt, 10, mask);
	group(file, "obs/icat", "categorical");
	put_1d(file, "obs/icat/categories", H5T_NATIVE_INT64, 2, icats);
	put_1d(file, "obs/icat/codes", H5T_NATIVE_SCHAR, 10, icodes);
	group(file, "obs/fcat", "categorical");
	put_1d(file, "obs/fcat/categories", H5T_NATIVE_DOUBLE, 4, fcats);
	put_1d(file, "obs/fcat/codes", H5T_NATIVE_INT16, 10, fcodes);
	group(file, "obs/bcat", "categorical");
	put_1d(file, "obs/bcat/categories", bt, 2, bcats);
	put_1d(file, "obs/bcat/codes", H5T_NATIVE_SCHAR, 10, flag);
	group(file, "obs/ecat", "categorical");
	put_strs(file, "obs/ecat/categories", NULL, 0);
	put_1d(file, "obs/ecat/codes", H5T_NATIVE_SCHAR, 10, ecodes);
	put_1d(file, "obs/a/b", H5T_NATIVE_FLOAT, 10, ab);
	put_1d(file, "obs/u8", H5T_NATIVE_UINT8, 10, u8);
	put_1d(file, "obs/short", H5T_NATIVE_FLOAT, 5, shortv);
	group(file, "obs/awk", "awkward-array");
	H5Tinsert(ct, "r", 0, H5T_NATIVE_DOUBLE);
	H5Tinsert(ct, "i", 8, H5T_NATIVE_DOUBLE);
	put_1d(file, "obs/cplx", ct, 10, cplx);
	group(file, "obs/fcodes", "categorical");
	put_strs(file, "obs/fcodes/categories", cells, 2);
	put_1d(file, "obs/fcodes/codes", H5T_NATIVE_FLOAT, 10, fc);
	/* A zstd-compressed column: HDF5 has no such filter here. */
	H5Pset_chunk(dcpl, 1, &chunk);
	H5Pset_filter(dcpl, 32015, H5Z_FLAG_OPTIONAL, 1, cd);
	put(file, "obs/zst", "array", H5T_NATIVE_FLOAT, H5T_NATIVE_FLOAT, 1, &ten, NULL, dcpl);
	d = H5Dopen2(file, "obs/zst", H5P_DEFAULT);
	H5Dwrite_chunk(d, H5P_DEFAULT, 0, &off, sizeof fc, fc);
	H5Dclose(d);

	/* var: fixed-length ASCII, NUL-padded, one name filling all 8 bytes. */
	dataframe(file, "var", "gene_ids", NULL, 0, NULL, 0);
	H5Tset_size(ft, 8);
	H5Tset_strpad(ft, H5T_STR_NULLPAD);
	ten = 6;
	put(file, "var/gene_ids", "string-array", ft, ft, 1, &ten, fixed_genes, H5P_DEFAULT);

	H5Pclose(dcpl);
	H5Tclose(ft);
	H5Tclose(ct);
	H5Tclose(bt);
	H5Fclose(file);
}

static void test_columns(void)
{
	char err[256];
	ad_file *f;
	ad_categorical c;
	char **names;
	float v[10];
	size_t i;
	int ok;

	write_columns_file();
	if (ad_open(tmp_path("columns.h5ad"), &f, err, sizeof err) != AD_OK) {
		CHECK(0, "columns: opens (%s)", err);
		return;
	}
	CHECK(ad_obs_ncols(f) == sizeof obs_cols / sizeof *obs_cols, "columns: all listed");

	i = obs_col(f, "str");
	ok = ad_obs_col_kind(f, i) == AD_COL_CATEGORY && ad_obs_read_categorical(f, i, &c) == AD_OK &&
	     c.n_categories == 5 && !strcmp(c.categories[0], "") && !strcmp(c.categories[1], "a") &&
	     !strcmp(c.categories[3], "c") && !strcmp(c.categories[4], "\xc3\xa9") &&
	     c.codes[0] == 2 && c.codes[1] == 1 && c.codes[3] == 0 && c.codes[7] == 4;
	CHECK(ok, "string-array: sorted distinct values, NULL vlen = \"\"");
	ad_categorical_free(&c);

	i = obs_col(f, "flag");
	ok = ad_obs_col_kind(f, i) == AD_COL_CATEGORY && ad_obs_read_categorical(f, i, &c) == AD_OK &&
	     c.n_categories == 2 && !strcmp(c.categories[0], "False") &&
	     !strcmp(c.categories[1], "True") && c.codes[0] == 1 && c.codes[1] == 0;
	CHECK(ok, "bool: False/True");
	ad_categorical_free(&c);
	ok = ad_obs_read_categorical(f, obs_col(f, "all_true"), &c) == AD_OK &&
	     c.n_categories == 1 && !strcmp(c.categories[0], "True") && c.codes[5] == 0;
	CHECK(ok, "bool: only the values present");
	ad_categorical_free(&c);

	i = obs_col(f, "nint");
	ok = ad_obs_col_kind(f, i) == AD_COL_NUMERIC && ad_obs_read_numeric(f, i, v) == AD_OK &&
	     v[0] == 10 && isnan(v[1]) && v[8] == 18 && isnan(v[9]);
	CHECK(ok, "nullable-integer: masked = NaN");
	i = obs_col(f, "nbool");
	ok = ad_obs_col_kind(f, i) == AD_COL_CATEGORY && ad_obs_read_categorical(f, i, &c) == AD_OK &&
	     c.n_categories == 1 && !strcmp(c.categories[0], "True") && c.codes[1] == -1 &&
	     c.codes[9] == -1 && c.codes[0] == 0;
	CHECK(ok, "nullable-boolean: masked = -1, categories of the rest");
	ad_categorical_free(&c);
	i = obs_col(f, "nstr");
	ok = ad_obs_col_kind(f, i) == AD_COL_CATEGORY && ad_obs_read_categorical(f, i, &c) == AD_OK &&
	     c.n_categories == 2 && !strcmp(c.categories[0], "x") && c.codes[1] == -1 &&
	     c.codes[2] == 1;
	CHECK(ok, "nullable-string-array: masked = -1");
	ad_categorical_free(&c);

	ok = ad_obs_read_categorical(f, obs_col(f, "icat"), &c) == AD_OK && c.n_categories == 2 &&
	     !strcmp(c.categories[0], "0") && !strcmp(c.categories[1], "1") && c.codes[0] == 1 &&
	     c.codes[9] == -1;
	CHECK(ok, "categorical: int64 categories as \"0\", \"1\"");
	ad_categorical_free(&c);
	ok = ad_obs_read_categorical(f, obs_col(f, "fcat"), &c) == AD_OK && c.n_categories == 4 &&
	     !strcmp(c.categories[0], "1.5") && !strcmp(c.categories[1], "2.0") &&
	     !strcmp(c.categories[2], "1e-05") && !strcmp(c.categories[3], "1e+16") &&
	     c.codes[3] == 3 && c.codes[4] == -1 && c.codes[5] == -1;
	CHECK(ok, "categorical: float categories as Python repr, int16 codes, bad code = -1");
	ad_categorical_free(&c);
	ok = ad_obs_read_categorical(f, obs_col(f, "bcat"), &c) == AD_OK && c.n_categories == 2 &&
	     !strcmp(c.categories[0], "False") && !strcmp(c.categories[1], "True");
	CHECK(ok, "categorical: bool categories");
	ad_categorical_free(&c);
	ok = ad_obs_read_categorical(f, obs_col(f, "ecat"), &c) == AD_OK && c.n_categories == 0 &&
	     c.codes[0] == -1 && c.codes[9] == -1;
	CHECK(ok, "categorical: empty categories");
	ad_categorical_free(&c);

	i = obs_col(f, "a/b");
	ok = ad_obs_col_kind(f, i) == AD_COL_NUMERIC && ad_obs_read_numeric(f, i, v) == AD_OK &&
	     v[0] == 0.5f && v[9] == 9.25f;
	CHECK(ok, "a column named a/b lives in a nested group");
	ok = ad_obs_read_numeric(f, obs_col(f, "u8"), v) == AD_OK && v[1] == 255;
	CHECK(ok, "uint8 column");

	i = obs_col(f, "short");
	CHECK(ad_obs_col_kind(f, i) == AD_COL_UNREADABLE &&
	      !strcmp(ad_obs_col_reason(f, i), "obs/short: 5 values, expected 10"),
	      "wrong length: unreadable (%s)", ad_obs_col_reason(f, i));
	i = obs_col(f, "awk");
	CHECK(ad_obs_col_kind(f, i) == AD_COL_UNREADABLE &&
	      !strcmp(ad_obs_col_reason(f, i), "obs/awk: unsupported encoding 'awkward-array'"),
	      "awkward-array: unreadable (%s)", ad_obs_col_reason(f, i));
	i = obs_col(f, "gone");
	CHECK(ad_obs_col_kind(f, i) == AD_COL_UNREADABLE &&
	      !strcmp(ad_obs_col_reason(f, i), "obs/gone: missing"),
	      "a listed column that is not there: unreadable (%s)", ad_obs_col_reason(f, i));
	i = obs_col(f, "cplx");
	CHECK(ad_obs_col_kind(f, i) == AD_COL_UNREADABLE && strstr(ad_obs_col_reason(f, i), "obs/cplx"),
	      "compound values: unreadable (%s)", ad_obs_col_reason(f, i));
	i = obs_col(f, "fcodes");
	CHECK(ad_obs_col_kind(f, i) == AD_COL_UNREADABLE &&
	      strstr(ad_obs_col_reason(f, i), "obs/fcodes/codes"),
	      "float codes: unreadable (%s)", ad_obs_col_reason(f, i));
	i = obs_col(f, "zst");
	CHECK(ad_obs_col_kind(f, i) == AD_COL_NUMERIC && ad_obs_read_numeric(f, i, v) == AD_EUNSUPPORTED &&
	      !strcmp(ad_last_error(f), "obs/zst: filter 32015 unavailable"),
	      "a missing filter is named (%s)", ad_last_error(f));

	ok = ad_var_names(f, &names) == AD_OK && ad_n_var(f) == 6 && !strcmp(names[0], "g0") &&
	     !strcmp(names[1], "ABCDEFGH") && !strcmp(names[5], "g5");
	CHECK(ok, "var index: fixed-length NUL-padded strings, custom _index name");
	if (ok)
		ad_strings_free(names, 6);
	CHECK(ad_x_kind(f) == AD_X_NONE && ad_n_var(f) == 6, "no X: n_var from the var index");
	ad_close(f);
}

/* Indexes that are groups: a nullable-string-array obs index (pandas 3), and
 * a categorical var index found without an _index attribute. */
static void test_index_kinds(void)
{
	const char *ids[4] = { "a", "", "c", "d" }, *cats[2] = { "B", "A" };
	signed char mask[4] = { 0, 1, 0, 0 }, codes[3] = { 0, 1, -1 };
	hid_t file = new_file("index_kinds.h5ad"), bt = bool_type();
	char err[256];
	ad_file *f;
	char **names;
	int ok;

	dataframe(file, "obs", "cell_id", NULL, 0, NULL, 0);
	group(file, "obs/cell_id", "nullable-string-array");
	put_strs(file, "obs/cell_id/values", ids, 4);
	put_1d(file, "obs/cell_id/mask", bt, 4, mask);
	group(file, "var", "dataframe");
	group(file, "var/_index", "categorical");
	put_strs(file, "var/_index/categories", cats, 2);
	put_1d(file, "var/_index/codes", H5T_NATIVE_SCHAR, 3, codes);
	H5Tclose(bt);
	H5Fclose(file);
	if (ad_open(tmp_path("index_kinds.h5ad"), &f, err, sizeof err) != AD_OK) {
		CHECK(0, "index kinds: opens (%s)", err);
		return;
	}
	CHECK(ad_n_obs(f) == 4 && ad_n_var(f) == 3 && ad_obs_ncols(f) == 0,
	      "index kinds: n_obs from a nullable-string index, n_var from a categorical one");
	ok = ad_var_names(f, &names) == AD_OK && !strcmp(names[0], "B") && !strcmp(names[1], "A") &&
	     !strcmp(names[2], "");
	CHECK(ok, "index kinds: categorical var names, a missing one as \"\"");
	if (ok)
		ad_strings_free(names, 3);
	ad_close(f);
}

/* X as CSR (and a CSC graph and obsm entries); then the same X as CSC. */
static void test_sparse(void)
{
	double emb[20], pts1[10], w[20];
	int32_t ints[30] = { 0 }, idx32[NNZ];
	float bad[10] = { 0 };
	int64_t gptr[11];
	int32_t gidx[20], cptr[7];
	uint16_t cidx[NNZ];
	double cval[NNZ];
	hsize_t dims2[2] = { 10, 2 }, dims3[2] = { 10, 3 }, dims5[2] = { 5, 2 };
	char err[256];
	ad_file *f;
	ad_graph g;
	struct collect sc;
	size_t i, n;
	hid_t file;
	int ok;

	for (i = 0; i < 20; i++)
		emb[i] = (double)i / 4;
	for (i = 0; i < 10; i++)
		pts1[i] = (double)i;
	/* The graph: row r links to r + 1 (weight r + 0.5) and r + 3 (weight 1),
	 * stored as CSC: column c holds rows c - 1 and c - 3. */
	for (size_t c = 0, k = 0; c < 10; c++) {
		size_t a = (c + 9) % 10, b = (c + 7) % 10;

		gptr[c] = (int64_t)k;
		gidx[k] = (int32_t)(a < b ? a : b);
		w[k++] = a < b ? (double)a + 0.5 : 1.0;
		gidx[k] = (int32_t)(a < b ? b : a);
		w[k++] = a < b ? 1.0 : (double)a + 0.5;
	}
	gptr[10] = 20;

	file = new_file("csr.h5ad");
	frames(file);
	csr_idx32(idx32);
	put_csr_x(file, csr_ptr, idx32, 6);
	group(file, "obsm", "dict");
	put(file, "obsm/X_umap", "array", H5T_NATIVE_DOUBLE, H5T_NATIVE_DOUBLE, 2, dims2, emb,
	    H5P_DEFAULT);
	put_1d(file, "obsm/one_d", H5T_NATIVE_DOUBLE, 10, pts1);
	put(file, "obsm/ints", "array", H5T_NATIVE_INT32, H5T_NATIVE_INT32, 2, dims3, ints,
	    H5P_DEFAULT);
	put(file, "obsm/bad", "array", H5T_NATIVE_FLOAT, H5T_NATIVE_FLOAT, 2, dims5, bad,
	    H5P_DEFAULT);
	dataframe(file, "obsm/df", "_index", cells, 10, NULL, 0);
	group(file, "obsp", "dict");
	put_sparse(file, "obsp/connectivities", "csc_matrix", 10, 10, H5T_NATIVE_INT64, gptr, 11,
		   H5T_NATIVE_INT32, gidx, H5T_NATIVE_DOUBLE, w, 20);
	H5Fclose(file);

	if (ad_open(tmp_path("csr.h5ad"), &f, err, sizeof err) != AD_OK) {
		CHECK(0, "csr: opens (%s)", err);
		return;
	}
	CHECK(ad_x_kind(f) == AD_X_CSR, "csr: X is CSR");
	for (size_t block = 1; block <= 1000; block *= 10) {
		ok = scan_x(f, block, &sc) == AD_OK && sc.sane && sc.next_row == 10 &&
		     sc.stored == NNZ;
		for (i = 0; ok && i < 60; i++)
			ok = same(sc.m[i], dense_m[i]);
		CHECK(ok, "csr: scan in blocks of %zu rebuilds X (empty rows, unsorted, NaN)", block);
		CHECK(genes_match_scan(f, &sc), "csr: scan == read_gene (blocks of %zu)", block);
		free(sc.m);
	}

	ok = ad_obsm_count(f) == 5 && !strcmp(ad_obsm_key(f, 0), "X_umap") &&
	     !strcmp(ad_obsm_key(f, 1), "bad") && !strcmp(ad_obsm_key(f, 2), "df") &&
	     !strcmp(ad_obsm_key(f, 3), "ints") && !strcmp(ad_obsm_key(f, 4), "one_d");
	CHECK(ok, "obsm: keys sorted");
	CHECK(ad_obsm_cols(f, 0) == 2 && ad_obsm_cols(f, 1) == 0 && ad_obsm_cols(f, 2) == 0 &&
	      ad_obsm_cols(f, 3) == 3 && ad_obsm_cols(f, 4) == 1,
	      "obsm: 2 columns, wrong length 0, dataframe 0, ints 3, rank 1 = 1 column");
	ok = ad_obsm_read(f, 4, pts1) == AD_OK && pts1[9] == 9.0;
	CHECK(ok, "obsm: rank-1 array read");

	ok = ad_read_connectivities(f, &g) == AD_OK && g.n == 10 && g.indptr[10] == 20;
	for (size_t r = 0; ok && r < 10; r++) {
		size_t a = (r + 1) % 10, b = (r + 3) % 10;

		ok = g.indptr[r + 1] - g.indptr[r] == 2;
		for (int64_t k = g.indptr[r]; ok && k < g.indptr[r + 1]; k++)
			ok = (g.indices[k] == a && g.data[k] == (double)r + 0.5) ||
			     (g.indices[k] == b && g.data[k] == 1.0);
		ok = ok && g.indices[g.indptr[r]] < g.indices[g.indptr[r] + 1];
	}
	CHECK(ok, "connectivities: CSC converted to CSR, columns sorted");
	ad_graph_free(&g);
	ad_close(f);

	/* The same X as CSC: int32 indptr, uint16 row ids, float64 values. */
	n = 0;
	for (int c = 0; c < 6; c++) {
		cptr[c] = (int32_t)n;
		for (int r = 0; r < 10; r++)
			for (int64_t k = csr_ptr[r]; k < csr_ptr[r + 1]; k++)
				if (csr_idx[k] == c) {
					cidx[n] = (uint16_t)r;
					cval[n++] = csr_val[k];
				}
	}
	cptr[6] = (int32_t)n;
	file = new_file("csc.h5ad");
	frames(file);
	put_sparse(file, "X", "csc_matrix", 10, 6, H5T_NATIVE_INT32, cptr, 7, H5T_NATIVE_UINT16,
		   cidx, H5T_NATIVE_DOUBLE, cval, NNZ);
	H5Fclose(file);
	if (ad_open(tmp_path("csc.h5ad"), &f, err, sizeof err) != AD_OK) {
		CHECK(0, "csc: opens (%s)", err);
		return;
	}
	CHECK(ad_x_kind(f) == AD_X_CSC && ad_obs_ncols(f) == 0 && ad_obsm_count(f) == 0 &&
	      !ad_has_connectivities(f), "csc: X is CSC; no columns, obsm or graph");
	for (size_t block = 1; block <= 1000; block *= 10) {
		ok = scan_x(f, block, &sc) == AD_OK && sc.sane && sc.next_row == 10 &&
		     sc.stored == NNZ;
		for (i = 0; ok && i < 60; i++)
			ok = same(sc.m[i], dense_m[i]);
		CHECK(ok, "csc: scan in blocks of %zu rebuilds X", block);
		CHECK(genes_match_scan(f, &sc), "csc: scan == read_gene (blocks of %zu)", block);
		free(sc.m);
	}
	ad_close(f);
}

/* A sparse X without a single stored value, as CSC and as CSR. */
static void test_empty_sparse(void)
{
	static const char *name[2] = { "empty_csc.h5ad", "empty_csr.h5ad" };
	int64_t ptr[11] = { 0 };
	char err[256];
	ad_file *f;
	struct collect sc;
	float g[10];
	int ok;

	for (int csr = 0; csr < 2; csr++) {
		hid_t file = new_file(name[csr]);

		frames(file);
		put_sparse(file, "X", csr ? "csr_matrix" : "csc_matrix", 10, 6, H5T_NATIVE_INT64,
			   ptr, csr ? 11 : 7, H5T_NATIVE_INT32, NULL, H5T_NATIVE_FLOAT, NULL, 0);
		H5Fclose(file);
		if (ad_open(tmp_path(name[csr]), &f, err, sizeof err) != AD_OK) {
			CHECK(0, "%s: opens (%s)", name[csr], err);
			continue;
		}
		ok = scan_x(f, 4, &sc) == AD_OK && sc.sane && sc.next_row == 10 && sc.stored == 0 &&
		     ad_x_read_gene(f, 5, g) == AD_OK && g[0] == 0 && g[9] == 0;
		CHECK(ok, "%s: every row delivered, none stored", name[csr]);
		free(sc.m);
		ad_close(f);
	}
}

/* Dense X: float64, chunked 3 x 4 with deflate; and int32, contiguous. */
static void test_dense(void)
{
	double m64[60];
	int32_t mi[6] = { 0, 1, 2, 0, 0, 0 };
	hsize_t dims[2] = { 10, 6 }, chunk[2] = { 3, 4 }, dims_i[2] = { 3, 2 };
	hid_t file, dcpl = H5Pcreate(H5P_DATASET_CREATE);
	const char *two[] = { "g0", "g1" };
	char err[256];
	ad_file *f;
	struct collect sc;
	int ok;

	for (int i = 0; i < 60; i++)
		m64[i] = dense_m[i];
	H5Pset_chunk(dcpl, 2, chunk);
	H5Pset_deflate(dcpl, 4);
	file = new_file("dense.h5ad");
	frames(file);
	put(file, "X", "array", H5T_NATIVE_DOUBLE, H5T_NATIVE_DOUBLE, 2, dims, m64, dcpl);
	H5Fclose(file);
	H5Pclose(dcpl);
	if (ad_open(tmp_path("dense.h5ad"), &f, err, sizeof err) != AD_OK) {
		CHECK(0, "dense: opens (%s)", err);
		return;
	}
	for (size_t block = 1; block <= 100; block *= 10) {
		ok = scan_x(f, block, &sc) == AD_OK && sc.sane && sc.next_row == 10 &&
		     sc.stored == NNZ - 1 /* the explicit zero is gone */;
		for (int i = 0; ok && i < 60; i++)
			ok = same(sc.m[i], dense_m[i]);
		CHECK(ok, "dense: scan in blocks of %zu drops zeros, keeps NaN", block);
		CHECK(genes_match_scan(f, &sc), "dense: scan == read_gene (blocks of %zu)", block);
		free(sc.m);
	}
	ad_close(f);

	file = new_file("dense_int.h5ad");
	dataframe(file, "obs", "_index", cells, 3, NULL, 0);
	dataframe(file, "var", "_index", two, 2, NULL, 0);
	put(file, "X", "array", H5T_NATIVE_INT32, H5T_NATIVE_INT32, 2, dims_i, mi, H5P_DEFAULT);
	H5Fclose(file);
	if (ad_open(tmp_path("dense_int.h5ad"), &f, err, sizeof err) != AD_OK) {
		CHECK(0, "dense int: opens (%s)", err);
		return;
	}
	ok = scan_x(f, 4, &sc) == AD_OK && sc.stored == 2 && sc.m[1] == 1 && sc.m[2] == 2;
	CHECK(ok, "dense int32 contiguous X read as float");
	free(sc.m);
	ad_close(f);
}

/* ---- damaged and hostile files ---- */

/* Write X variant name with ptr/idx/shape and check where it fails. */
static void hostile_csr(const char *name, const int64_t *ptr, const int32_t *idx,
			int64_t shape_cols, int open_fails, const char *want)
{
	char err[256] = "";
	ad_file *f;
	struct collect sc;
	float g[10];
	ad_err e;
	hid_t file = new_file(name);

	frames(file);
	put_csr_x(file, ptr, idx, shape_cols);
	H5Fclose(file);
	e = ad_open(tmp_path(name), &f, err, sizeof err);
	if (open_fails) {
		CHECK(e == AD_EFORMAT && !f && strstr(err, want), "%s: refused at open (%s)", name,
		      err);
		return;
	}
	if (e != AD_OK) {
		CHECK(0, "%s: opens (%s)", name, err);
		return;
	}
	e = scan_x(f, 4, &sc);
	CHECK(e == AD_EFORMAT && strstr(ad_last_error(f), want), "%s: scan fails (%s)", name,
	      ad_last_error(f));
	free(sc.m);
	CHECK(ad_x_read_gene(f, 1, g) == AD_EFORMAT, "%s: read_gene fails too", name);
	ad_close(f);
}

static void test_hostile(void)
{
	int64_t ptr[11];
	int32_t idx[NNZ];
	char err[256];
	ad_file *f;
	hid_t file;
	hsize_t d3[3] = { 10, 6, 1 }, d2[2] = { 6, 10 };
	FILE *fp;
	char *buf;
	long size;

	memcpy(ptr, csr_ptr, sizeof ptr);
	csr_idx32(idx);
	ptr[5] = 1; /* below ptr[4] = 4 */
	hostile_csr("decreasing.h5ad", ptr, idx, 6, 0, "X/indptr: decreases at entry 5");
	memcpy(ptr, csr_ptr, sizeof ptr);
	ptr[3] = -7;
	hostile_csr("negative.h5ad", ptr, idx, 6, 0, "X/indptr: entry 3 is -7");
	memcpy(ptr, csr_ptr, sizeof ptr);
	idx[13] = 6;
	hostile_csr("gene_out.h5ad", ptr, idx, 6, 0, "X/indices: entry 13 is 6, outside 0..5");
	csr_idx32(idx);
	idx[2] = -1;
	hostile_csr("gene_neg.h5ad", ptr, idx, 6, 0, "X/indices: entry 2 is -1");
	csr_idx32(idx);
	hostile_csr("shape.h5ad", ptr, idx, 7, 1, "X: shape 10x7, expected 10x6");
	ptr[10] = 17;
	hostile_csr("beyond.h5ad", ptr, idx, 6, 1, "X/indptr: ends at 17");
	ptr[10] = 16;
	ptr[0] = 1;
	hostile_csr("start.h5ad", ptr, idx, 6, 1, "X/indptr: starts at 1");

	file = new_file("rank3.h5ad");
	frames(file);
	put(file, "X", "array", H5T_NATIVE_FLOAT, H5T_NATIVE_FLOAT, 3, d3, NULL, H5P_DEFAULT);
	H5Fclose(file);
	CHECK(ad_open(tmp_path("rank3.h5ad"), &f, err, sizeof err) == AD_EFORMAT &&
	      !strcmp(err, "X: rank 3, expected a 2-d array"), "rank-3 X refused (%s)", err);
	file = new_file("transposed.h5ad");
	frames(file);
	put(file, "X", "array", H5T_NATIVE_FLOAT, H5T_NATIVE_FLOAT, 2, d2, NULL, H5P_DEFAULT);
	H5Fclose(file);
	CHECK(ad_open(tmp_path("transposed.h5ad"), &f, err, sizeof err) == AD_EFORMAT &&
	      !strcmp(err, "X: shape 6x10, expected 10x6"), "transposed X refused (%s)", err);

	file = new_file("awkward_x.h5ad");
	frames(file);
	group(file, "X", "awkward-array");
	H5Fclose(file);
	CHECK(ad_open(tmp_path("awkward_x.h5ad"), &f, err, sizeof err) == AD_EUNSUPPORTED &&
	      !strcmp(err, "X: unsupported encoding 'awkward-array'"), "awkward X refused (%s)",
	      err);

	file = new_file("no_obs.h5ad");
	dataframe(file, "var", "_index", genes6, 6, NULL, 0);
	H5Fclose(file);
	CHECK(ad_open(tmp_path("no_obs.h5ad"), &f, err, sizeof err) == AD_EFORMAT && !f &&
	      !strcmp(err, "no obs dataframe"), "no obs (%s)", err);
	file = new_file("no_var.h5ad");
	dataframe(file, "obs", "_index", cells, 10, NULL, 0);
	H5Fclose(file);
	CHECK(ad_open(tmp_path("no_var.h5ad"), &f, err, sizeof err) == AD_EFORMAT &&
	      !strcmp(err, "no var dataframe"), "no var (%s)", err);
	file = new_file("bad_index.h5ad");
	frames(file);
	H5Adelete_by_name(file, "obs", "_index", H5P_DEFAULT);
	attr_str(file, "obs", "_index", "nowhere");
	H5Fclose(file);
	CHECK(ad_open(tmp_path("bad_index.h5ad"), &f, err, sizeof err) == AD_EFORMAT &&
	      !strcmp(err, "obs/nowhere: missing"), "_index naming nothing (%s)", err);

	fp = fopen(tmp_path("text.h5ad"), "w");
	fputs("index,louvain\nc0,1\n", fp);
	fclose(fp);
	CHECK(ad_open(tmp_path("text.h5ad"), &f, err, sizeof err) == AD_EFORMAT && !f &&
	      !strcmp(err, "not an HDF5 file"), "a text file: not an HDF5 file (%s)", err);
	CHECK(ad_open(tmp_path("absent.h5ad"), &f, err, sizeof err) == AD_EIO && !f &&
	      strstr(err, "No such file"), "a missing file (%s)", err);

	/* The first half of a real file. */
	fp = fopen(tmp_path("csr.h5ad"), "rb");
	fseek(fp, 0, SEEK_END);
	size = ftell(fp);
	rewind(fp);
	buf = malloc((size_t)size);
	CHECK(fread(buf, 1, (size_t)size, fp) == (size_t)size, "read csr.h5ad");
	fclose(fp);
	fp = fopen(tmp_path("truncated.h5ad"), "wb");
	fwrite(buf, 1, (size_t)size / 2, fp);
	fclose(fp);
	free(buf);
	CHECK(ad_open(tmp_path("truncated.h5ad"), &f, err, sizeof err) != AD_OK && !f && err[0],
	      "a truncated file is refused (%s)", err);
}

/* ---- expression sources and gene names ---- */

/* raw/X: 10 x 8 CSR, genes 0..5 as X, plus gene 6 = 1 in every row and
 * gene 7 empty. */
static void put_raw(hid_t file)
{
	static const char *raw_genes[8] = { "r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7" };
	static const char *raw_cols[1] = { "rid" };
	int64_t ptr[11];
	int32_t idx[NNZ + 10];
	float val[NNZ + 10];
	size_t n = 0;

	for (int r = 0; r < 10; r++) {
		ptr[r] = (int64_t)n;
		for (int64_t k = csr_ptr[r]; k < csr_ptr[r + 1]; k++) {
			idx[n] = (int32_t)csr_idx[k];
			val[n++] = csr_val[k];
		}
		idx[n] = 6;
		val[n++] = 1;
	}
	ptr[10] = (int64_t)n;
	group(file, "raw", "raw");
	put_sparse(file, "raw/X", "csr_matrix", 10, 8, H5T_NATIVE_INT64, ptr, 11,
		   H5T_NATIVE_INT32, idx, H5T_NATIVE_FLOAT, val, n);
	dataframe(file, "raw/var", "_index", raw_genes, 8, raw_cols, 1);
	put_strs(file, "raw/var/rid", genes6, 6); /* 6 rows, not 8: unreadable */
}

static const char *var_cols[] = { "gene_ids", "sym", "score", "n", "hv", "awk" };

/* X (CSR) with var columns; raw; layers counts (dense float64), spliced
 * (CSC) and bad (10 x 5). */
static void write_expression_file(void)
{
	static const char *ids[6] = { "ENSG0", "ENSG1", "ENSG2", "ENSG3", "ENSG4", "ENSG5" };
	static const char *syms[3] = { "CD3D", "LYZ", "MS4A1" };
	signed char codes[6] = { 1, 0, -1, 2, 0, 1 };
	float score[6] = { 0.1f, 2, -1.5f, 1e-05f, 3.25f, 0 };
	int64_t n[6] = { 7, -2, 0, 1, 99, 3 };
	signed char hv[6] = { 1, 0, 0, 1, 1, 0 };
	double m64[60];
	int32_t idx32[NNZ], cptr[7];
	uint16_t cidx[NNZ];
	float cval[NNZ];
	hsize_t dims[2] = { 10, 6 }, dims5[2] = { 10, 5 };
	hid_t file = new_file("expression.h5ad"), bt = bool_type();
	size_t k = 0;

	dataframe(file, "obs", "_index", cells, 10, NULL, 0);
	dataframe(file, "var", "_index", genes6, 6, var_cols, 6);
	put_strs(file, "var/gene_ids", ids, 6);
	group(file, "var/sym", "categorical");
	put_strs(file, "var/sym/categories", syms, 3);
	put_1d(file, "var/sym/codes", H5T_NATIVE_SCHAR, 6, codes);
	put_1d(file, "var/score", H5T_NATIVE_FLOAT, 6, score);
	put_1d(file, "var/n", H5T_NATIVE_INT64, 6, n);
	put_1d(file, "var/hv", bt, 6, hv);
	group(file, "var/awk", "awkward-array");
	csr_idx32(idx32);
	put_csr_x(file, csr_ptr, idx32, 6);
	put_raw(file);

	group(file, "layers", "dict");
	for (int i = 0; i < 60; i++)
		m64[i] = dense_m[i];
	put(file, "layers/counts", "array", H5T_NATIVE_DOUBLE, H5T_NATIVE_DOUBLE, 2, dims, m64,
	    H5P_DEFAULT);
	for (int c = 0; c < 6; c++) {
		cptr[c] = (int32_t)k;
		for (int r = 0; r < 10; r++)
			for (int64_t j = csr_ptr[r]; j < csr_ptr[r + 1]; j++)
				if (csr_idx[j] == c) {
					cidx[k] = (uint16_t)r;
					cval[k++] = csr_val[j];
				}
	}
	cptr[6] = (int32_t)k;
	put_sparse(file, "layers/spliced", "csc_matrix", 10, 6, H5T_NATIVE_INT32, cptr, 7,
		   H5T_NATIVE_UINT16, cidx, H5T_NATIVE_FLOAT, cval, NNZ);
	put(file, "layers/bad", "array", H5T_NATIVE_FLOAT, H5T_NATIVE_FLOAT, 2, dims5, NULL,
	    H5P_DEFAULT);
	H5Tclose(bt);
	H5Fclose(file);
}

/* The selected matrix, scanned, equals dense_m in its first 6 genes. */
static int selected_is_test_matrix(ad_file *f, size_t n_var)
{
	struct collect sc;
	int ok = scan_x(f, 3, &sc) == AD_OK && sc.sane && sc.next_row == 10 &&
		 ad_n_var(f) == n_var && genes_match_scan(f, &sc);

	for (size_t r = 0; ok && r < 10; r++)
		for (size_t j = 0; ok && j < 6; j++)
			ok = same(sc.m[r * n_var + j], dense_m[r * 6 + j]);
	free(sc.m);
	return ok;
}

/* The call that filled *names succeeded with want[0..n); *names is freed.
 * (A pointer, as arguments are evaluated in no fixed order.) */
static int names_are(ad_err e, char ***names, const char *const *want, size_t n)
{
	int ok = e == AD_OK;

	for (size_t i = 0; ok && i < n; i++)
		ok = !strcmp((*names)[i], want[i]);
	if (e == AD_OK)
		ad_strings_free(*names, n);
	return ok;
}

static void test_expression(void)
{
	static const char *ids[6] = { "ENSG0", "ENSG1", "ENSG2", "ENSG3", "ENSG4", "ENSG5" };
	static const char *syms[6] = { "LYZ", "CD3D", "", "MS4A1", "CD3D", "LYZ" };
	static const char *scores[6] = { "0.1", "2.0", "-1.5", "1e-05", "3.25", "0.0" };
	static const char *ns[6] = { "7", "-2", "0", "1", "99", "3" };
	static const char *hvs[6] = { "True", "False", "False", "True", "True", "False" };
	static const char *raw_genes[8] = { "r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7" };
	char err[256], **names = NULL;
	float g[10];
	ad_file *f;
	int ok;

	write_expression_file();
	if (ad_open(tmp_path("expression.h5ad"), &f, err, sizeof err) != AD_OK) {
		CHECK(0, "expression: opens (%s)", err);
		return;
	}
	CHECK(ad_x_kind(f) == AD_X_CSR && selected_is_test_matrix(f, 6), "expression: X by default");
	CHECK(names_are(ad_var_column(f, "gene_ids", &names), &names, ids, 6),
	      "gene names from a string-array var column");
	CHECK(names_are(ad_var_column(f, "sym", &names), &names, syms, 6),
	      "gene names from a categorical var column, a missing one as \"\"");
	CHECK(names_are(ad_var_column(f, "score", &names), &names, scores, 6),
	      "gene names from a float32 var column, as str() writes them");
	CHECK(names_are(ad_var_column(f, "n", &names), &names, ns, 6),
	      "gene names from an int64 var column");
	CHECK(names_are(ad_var_column(f, "hv", &names), &names, hvs, 6),
	      "gene names from a bool var column");
	CHECK(ad_var_column(f, "nope", &names) == AD_EFORMAT && !names &&
	      !strcmp(ad_last_error(f), "var has no column 'nope' (columns: gene_ids, sym, score, "
		      "n, hv, awk)"), "a missing var column lists the columns (%s)",
	      ad_last_error(f));
	CHECK(ad_var_column(f, "awk", &names) == AD_EUNSUPPORTED &&
	      !strcmp(ad_last_error(f), "var/awk: unsupported encoding 'awkward-array'"),
	      "an unreadable var column says why (%s)", ad_last_error(f));

	CHECK(ad_select_expression(f, "raw") == AD_OK && ad_x_kind(f) == AD_X_CSR &&
	      selected_is_test_matrix(f, 8), "raw: raw/X with 8 genes, the first 6 as X's");
	ok = ad_x_read_gene(f, 6, g) == AD_OK && g[0] == 1 && g[9] == 1 &&
	     ad_x_read_gene(f, 7, g) == AD_OK && g[0] == 0 && g[9] == 0 &&
	     ad_x_read_gene(f, 8, g) == AD_EFORMAT;
	CHECK(ok, "raw: the genes X does not have");
	CHECK(names_are(ad_var_names(f, &names), &names, raw_genes, 8), "raw: names from raw/var");
	CHECK(ad_var_column(f, "rid", &names) == AD_EUNSUPPORTED &&
	      strstr(ad_last_error(f), "raw/var/rid: 6 values, expected 8"),
	      "raw: a raw/var column of the wrong length is refused (%s)", ad_last_error(f));

	CHECK(ad_select_expression(f, "layer:counts") == AD_OK && ad_x_kind(f) == AD_X_DENSE &&
	      selected_is_test_matrix(f, 6), "layer:counts: dense float64");
	CHECK(names_are(ad_var_names(f, &names), &names, genes6, 6), "layer: names from var");
	CHECK(ad_select_expression(f, "layer:spliced") == AD_OK && ad_x_kind(f) == AD_X_CSC &&
	      selected_is_test_matrix(f, 6), "layer:spliced: CSC");
	CHECK(ad_select_expression(f, "layer:nope") == AD_EFORMAT &&
	      !strcmp(ad_last_error(f), "no layer 'nope' (layers: bad, counts, spliced)"),
	      "a missing layer lists the layers (%s)", ad_last_error(f));
	CHECK(ad_x_kind(f) == AD_X_CSC && ad_n_var(f) == 6,
	      "a failed selection keeps the previous one");
	CHECK(ad_select_expression(f, "layer:bad") == AD_EFORMAT &&
	      !strcmp(ad_last_error(f), "layers/bad: shape 10x5, expected 10x6"),
	      "a layer of the wrong shape is refused (%s)", ad_last_error(f));
	CHECK(ad_select_expression(f, "layer:") == AD_EFORMAT &&
	      ad_select_expression(f, "x") == AD_EFORMAT &&
	      !strcmp(ad_last_error(f), "unknown expression 'x' (X, raw or layer:NAME)"),
	      "unknown sources are refused (%s)", ad_last_error(f));
	CHECK(ad_select_expression(f, "X") == AD_OK && ad_x_kind(f) == AD_X_CSR &&
	      selected_is_test_matrix(f, 6), "X selected again");
	ad_close(f);

	/* csr.h5ad (test_sparse) has neither raw nor layers. */
	if (ad_open(tmp_path("csr.h5ad"), &f, err, sizeof err) != AD_OK) {
		CHECK(0, "csr: opens (%s)", err);
		return;
	}
	CHECK(ad_select_expression(f, "raw") == AD_EFORMAT &&
	      !strcmp(ad_last_error(f), "no raw/X (nor the raw.X of files before anndata 0.7)"),
	      "no raw: refused (%s)", ad_last_error(f));
	CHECK(ad_select_expression(f, "layer:counts") == AD_EFORMAT &&
	      !strcmp(ad_last_error(f), "no layer 'counts' (layers: none)"),
	      "no layers: refused (%s)", ad_last_error(f));
	CHECK(ad_var_column(f, "x", &names) == AD_EFORMAT &&
	      !strcmp(ad_last_error(f), "var has no column 'x' (columns: none)"),
	      "a var without columns (%s)", ad_last_error(f));
	ad_close(f);
}

/* ---- main ---- */

static const char *written[] = {
	"columns.h5ad", "index_kinds.h5ad", "csr.h5ad", "csc.h5ad", "empty_csc.h5ad",
	"empty_csr.h5ad", "dense.h5ad", "dense_int.h5ad",
	"decreasing.h5ad", "negative.h5ad", "gene_out.h5ad", "gene_neg.h5ad", "shape.h5ad",
	"beyond.h5ad", "start.h5ad", "rank3.h5ad", "transposed.h5ad", "awkward_x.h5ad",
	"no_obs.h5ad", "no_var.h5ad", "bad_index.h5ad", "text.h5ad", "truncated.h5ad",
	"expression.h5ad",
};

int main(void)
{
	H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
	test_fixtures();

	strcpy(tmpdir, "/tmp/test_anndata.XXXXXX");
	if (!mkdtemp(tmpdir)) {
		CHECK(0, "mkdtemp");
		return CHECK_DONE();
	}
	make_matrix();
	test_columns();
	test_index_kinds();
	test_sparse();
	test_empty_sparse();
	test_dense();
	test_hostile();
	test_expression();
	CHECK(H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL) == 0, "every HDF5 object closed");
	for (size_t i = 0; i < sizeof written / sizeof *written; i++)
		unlink(tmp_path(written[i]));
	CHECK(rmdir(tmpdir) == 0, "temporary files removed");
	return CHECK_DONE();
}
