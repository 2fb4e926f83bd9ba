/*
 * test_docs.c - unit tests of codec/docs: the JSON documents of both layouts
 * (the names layout's shapes that the reference comparison relies on, and
 * layout=index's closed shapes from viewer-contract-strict.md §2-§6), and
 * the strict viewer's text rules used to choose ids, names and keys.
 *
 * Documents are parsed back with cJSON and checked by key and position;
 * tests/strict_check.py checks whole mounted trees.
 */
#include "check.h"
#include "docs.h"

#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

/* A small dataset: one continuous field between two categorical ones, so
 * that column order and layout=index's continuous-first order differ. */
static char *cats_a[] = {"x", "y"};
static char *cats_b[] = {"p", "q", "r"};
static centroid centroids_a[2] = {{1, {0.5f, -0.5f, 0}, 12}, {0, {0, 0, 0}, 0}};

static doc_field fields[3];
static doc_dataset ds;

static void setup(int index_layout)
{
	memset(fields, 0, sizeof fields);
	fields[0] = (doc_field){.key = "leiden", .categorical = 1, .n_categories = 2,
				.categories = cats_a, .code_bits = 8,
				.outlier_range = {0.1f, 1.0f}, .index = 1};
	fields[0].centroids[2] = centroids_a;
	fields[1] = (doc_field){.key = "pct mito", .range = {0.0f, 0.25f}, .index = 0};
	fields[2] = (doc_field){.key = "phase", .categorical = 1, .n_categories = 3,
				.categories = cats_b, .code_bits = 8,
				.outlier_range = {0.2f, 1.0f}, .index = 2};
	ds = (doc_dataset){
		.index_layout = index_layout, .id = "ds1", .name = "Data set 1",
		.created_at = "2024-01-02T03:04:05Z", .version = "0.1.0", .n_cells = 700,
		.n_genes = 2, .has_dim = {0, 0, 1, 0}, .default_dim = 2, .compression = 6,
		.var_bits = 8, .obs_bits = 8, .fields = fields, .n_fields = 3, .has_graph = 1,
		.n_edges = 10, .max_neighbors = 4, .host = "127.0.0.1", .port = 8080,
	};
}

static cJSON *parse(char *text)
{
	cJSON *doc = text ? cJSON_Parse(text) : NULL;
	free(text);
	return doc;
}

static cJSON *get(const cJSON *o, const char *key)
{
	return cJSON_GetObjectItemCaseSensitive(o, key);
}

/* "a,b,c": the object's keys in order. */
static const char *keys_of(const cJSON *o)
{
	static char buf[512];
	size_t n = 0;
	buf[0] = 0;
	for (const cJSON *c = o ? o->child : NULL; c; c = c->next)
		n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%s", n ? "," : "", c->string);
	return buf;
}

static int str_is(const cJSON *item, const char *want)
{
	return cJSON_IsString(item) && !strcmp(item->valuestring, want);
}

static int num_is(const cJSON *item, double want)
{
	return cJSON_IsNumber(item) && item->valuedouble == want;
}

static void test_identity(void)
{
	setup(0);
	cJSON *id = parse(doc_identity(&ds));
	cJSON *of = get(id, "obs_fields");
	CHECK(str_is(get(cJSON_GetArrayItem(of, 0), "key"), "leiden") &&
	      str_is(get(cJSON_GetArrayItem(of, 1), "key"), "pct mito"),
	      "names identity: obs_fields in column order");
	CHECK(str_is(get(get(id, "export_settings"), "obs_categorical_dtype"), "auto"),
	      "names identity: obs_categorical_dtype auto, as the reference");
	cJSON_Delete(id);

	setup(1);
	id = parse(doc_identity(&ds));
	CHECK(!strcmp(keys_of(id), "version,id,name,description,created_at,"
			  "cellucid_data_version,stats,embeddings,obs_fields,export_settings"),
	      "index identity: the contract's keys only (%s)", keys_of(id));
	of = get(id, "obs_fields");
	CHECK(str_is(get(cJSON_GetArrayItem(of, 0), "key"), "pct mito") &&
	      str_is(get(cJSON_GetArrayItem(of, 1), "key"), "leiden") &&
	      str_is(get(cJSON_GetArrayItem(of, 2), "key"), "phase"),
	      "index identity: continuous fields first, then categorical in order");
	CHECK(!strcmp(keys_of(cJSON_GetArrayItem(of, 0)), "key,kind") &&
	      !strcmp(keys_of(cJSON_GetArrayItem(of, 1)), "key,kind,n_categories"),
	      "index identity: closed obs_fields items");
	cJSON *set = get(id, "export_settings");
	CHECK(str_is(get(set, "obs_categorical_dtype"), "uint8") &&
	      !strcmp(keys_of(set), "compression,var_quantization,"
				    "obs_continuous_quantization,obs_categorical_dtype"),
	      "index identity: export_settings with obs_categorical_dtype uint8");
	cJSON_Delete(id);

	fields[0].code_bits = fields[2].code_bits = 16;
	id = parse(doc_identity(&ds));
	CHECK(str_is(get(get(id, "export_settings"), "obs_categorical_dtype"), "uint16"),
	      "index identity: uint16 when every categorical field is uint16");
	cJSON_Delete(id);

	fields[2].code_bits = 8;
	id = parse(doc_identity(&ds));
	CHECK(id && !get(id, "export_settings"),
	      "index identity: no export_settings when code widths mix");
	cJSON_Delete(id);

	ds.n_fields = 0;
	ds.has_graph = 0;
	ds.created_at = "999-01-02T03:04:05Z";
	id = parse(doc_identity(&ds));
	CHECK(str_is(get(get(id, "export_settings"), "obs_categorical_dtype"), "uint8"),
	      "index identity: uint8 when there is no categorical field");
	CHECK(cJSON_IsNull(get(get(id, "stats"), "n_edges")) && !get(id, "created_at"),
	      "index identity: n_edges null without a graph, created_at left out "
	      "when its year has no 4 digits");
	cJSON_Delete(id);
}

static void test_obs_manifest(void)
{
	setup(0);
	cJSON *m = parse(doc_obs_manifest(&ds));
	cJSON *cont = cJSON_GetArrayItem(get(m, "_continuousFields"), 0);
	CHECK(cJSON_GetArraySize(cont) == 3 && str_is(cJSON_GetArrayItem(cont, 0), "pct mito"),
	      "names obs manifest: [key, min, max]");
	CHECK(str_is(get(get(get(m, "_obsSchemas"), "continuous"), "pathPattern"),
		     "obs/{key}.values.u8.gz"), "names obs manifest: {key} pattern");
	cJSON_Delete(m);

	setup(1);
	m = parse(doc_obs_manifest(&ds));
	CHECK(!strcmp(keys_of(m), "_format,n_points,centroid_outlier_quantile,latent_key,"
			  "compression,_obsSchemas,_continuousFields,_categoricalFields"),
	      "index obs manifest: closed header");
	cJSON *s = get(m, "_obsSchemas");
	CHECK(str_is(get(get(s, "continuous"), "pathPattern"), "obs/{index}.values.u8.gz"),
	      "index obs manifest: continuous {index} pattern");
	CHECK(str_is(get(get(s, "categorical"), "codesPathPattern"),
		     "obs/{index}.codes.{ext}.gz") &&
	      str_is(get(get(s, "categorical"), "outlierPathPattern"),
		     "obs/{index}.outliers.u8.gz"),
	      "index obs manifest: categorical {index} patterns");
	cont = cJSON_GetArrayItem(get(m, "_continuousFields"), 0);
	CHECK(cJSON_GetArraySize(cont) == 4 && num_is(cJSON_GetArrayItem(cont, 0), 0) &&
	      str_is(cJSON_GetArrayItem(cont, 1), "pct mito") &&
	      num_is(cJSON_GetArrayItem(cont, 3), 0.25f),
	      "index obs manifest: [index, key, min, max]");
	cJSON *cat = get(m, "_categoricalFields");
	cJSON *phase = cJSON_GetArrayItem(cat, 1);
	CHECK(cJSON_GetArraySize(phase) == 8 && num_is(cJSON_GetArrayItem(phase, 0), 2) &&
	      str_is(cJSON_GetArrayItem(phase, 1), "phase") &&
	      str_is(cJSON_GetArrayItem(phase, 3), "uint8") &&
	      num_is(cJSON_GetArrayItem(phase, 4), 255),
	      "index obs manifest: [index, key, categories, dtype, missing, centroids, "
	      "omin, omax]");
	cJSON *c2 = cJSON_GetArrayItem(get(cJSON_GetArrayItem(cJSON_GetArrayItem(cat, 0), 5),
					   "2"), 0);
	CHECK(!strcmp(keys_of(c2), "category,position,n_points") &&
	      cJSON_GetArraySize(get(c2, "position")) == 2,
	      "index obs manifest: closed centroid entries of dim numbers");
	cJSON_Delete(m);

	ds.obs_bits = 0;
	ds.compression = 0;
	fields[0].code_bits = 16;
	m = parse(doc_obs_manifest(&ds));
	s = get(m, "_obsSchemas");
	CHECK(!strcmp(keys_of(get(s, "continuous")), "pathPattern,ext,dtype,quantized") &&
	      str_is(get(get(s, "continuous"), "pathPattern"), "obs/{index}.values.f32") &&
	      str_is(get(get(s, "categorical"), "outlierPathPattern"), "obs/{index}.outliers.f32"),
	      "index obs manifest, float32 and plain: no quantizationBits, no .gz");
	cont = cJSON_GetArrayItem(get(m, "_continuousFields"), 0);
	cJSON *leiden = cJSON_GetArrayItem(get(m, "_categoricalFields"), 0);
	CHECK(cJSON_GetArraySize(cont) == 2 && cJSON_GetArraySize(leiden) == 6 &&
	      str_is(cJSON_GetArrayItem(leiden, 3), "uint16") &&
	      num_is(cJSON_GetArrayItem(leiden, 4), 65535),
	      "index obs manifest, float32: [index, key] and 6-element categorical tuples, "
	      "uint16 per field");
	cJSON_Delete(m);

	ds.n_fields = 1;
	ds.fields = &fields[1];
	m = parse(doc_obs_manifest(&ds));
	CHECK(!strcmp(keys_of(get(m, "_obsSchemas")), "continuous"),
	      "index obs manifest: no schema for an empty list");
	cJSON_Delete(m);
}

static void test_var_manifest(void)
{
	char *genes[] = {"CD3D", "LYZ"};
	quant_range ranges[] = {{0, 4.5f, QUANT_TRUNC32}, {1, 1, QUANT_TRUNC32}};
	setup(1);
	cJSON *m = parse(doc_var_manifest(&ds, genes, ranges, 2));
	cJSON *g = cJSON_GetArrayItem(get(m, "fields"), 1);
	CHECK(cJSON_GetArraySize(g) == 4 && num_is(cJSON_GetArrayItem(g, 0), 1) &&
	      str_is(cJSON_GetArrayItem(g, 1), "LYZ") && num_is(get(m, "quantization"), 8),
	      "index var manifest: [index, gene, min, max]");
	CHECK(str_is(get(get(m, "_varSchema"), "pathPattern"), "var/{index}.values.u8.gz"),
	      "index var manifest: {index} pattern");
	cJSON_Delete(m);
	ds.var_bits = 0;
	m = parse(doc_var_manifest(&ds, genes, ranges, 2));
	g = cJSON_GetArrayItem(get(m, "fields"), 0);
	CHECK(cJSON_GetArraySize(g) == 2 && cJSON_IsNull(get(m, "quantization")) &&
	      !get(get(m, "_varSchema"), "quantizationBits"),
	      "index var manifest, float32: [index, gene], quantization null");
	cJSON_Delete(m);
}

/* Numbers as the reference's json.dumps prints them: floats by repr(),
 * integral ones too ("1001.0"), counts as integers; the var index as null. */
static void test_numbers(void)
{
	char *genes[] = {"A", "SSU72"};
	quant_range ranges[] = {{1001.0f, 2605.0f, QUANT_FLOOR64},
				{-0.7279999852180481f, 4.834000110626221f, QUANT_FLOOR64}};
	setup(1);
	char *text = doc_var_manifest(&ds, genes, ranges, 2);
	CHECK(text && strstr(text, "\"fields\":[[0,\"A\",1001.0,2605.0],"
			     "[1,\"SSU72\",-0.7279999852180481,4.834000110626221]]"),
	      "var manifest: bounds printed as Python's repr, indices as integers");
	CHECK(text && strstr(text, "\"var_gene_id_column\":null") &&
	      strstr(text, "\"n_points\":700,") && strstr(text, "\"quantization\":8,"),
	      "index var manifest: var_gene_id_column null for the var index, integers plain");
	free(text);
	ds.gene_id_column = "symbol";
	text = doc_var_manifest(&ds, genes, ranges, 2);
	CHECK(text && strstr(text, "\"var_gene_id_column\":\"symbol\""),
	      "index var manifest: a var column is named");
	free(text);
	setup(0);
	text = doc_var_manifest(&ds, genes, ranges, 2);
	CHECK(text && strstr(text, "\"var_gene_id_column\":\"index\""),
	      "names var manifest: \"index\" for the var index, as the 0.9 exporter");
	free(text);

	setup(1);
	fields[1].range = (quant_range){0.0f, 0.25f, QUANT_FLOOR64};
	text = doc_obs_manifest(&ds);
	CHECK(text && strstr(text, "\"centroid_outlier_quantile\":0.95,") &&
	      strstr(text, "[0,\"pct mito\",0.0,0.25]") &&
	      strstr(text, "\"position\":[0.5,-0.5],\"n_points\":12") &&
	      strstr(text, ",0.10000000149011612,1.0]"),
	      "obs manifest: quantile, bounds, positions and outlier bounds as floats");
	free(text);
}

/* Category values keep their JSON type in layout=index, as the newest
 * exporter writes numpy's .item() of each: the texts are the reader's
 * (Python's str()), the expected JSON worked out by hand. The names layout
 * writes the texts, as the 0.9 exporter. */
static void test_category_types(void)
{
	static const struct {
		doc_category_type type;
		char *cats[3];
		const char *index, *names;
	} cases[] = {
		{DOC_CAT_INT, {"0", "-3", "9007199254740991"}, "[0,-3,9007199254740991]",
		 "[\"0\",\"-3\",\"9007199254740991\"]"},
		/* float32 0.1 is the double 0.100000001490116119384765625 */
		{DOC_CAT_FLOAT32, {"0.1", "1.0", "2.5"}, "[0.10000000149011612,1.0,2.5]",
		 "[\"0.1\",\"1.0\",\"2.5\"]"},
		{DOC_CAT_FLOAT64, {"1.0", "1e-05", "1.5e+16"}, "[1.0,1e-05,1.5e+16]",
		 "[\"1.0\",\"1e-05\",\"1.5e+16\"]"},
		{DOC_CAT_BOOL, {"False", "True", "True"}, "[false,true,true]",
		 "[\"False\",\"True\",\"True\"]"},
		{DOC_CAT_TEXT, {"0", "True", "x"}, "[\"0\",\"True\",\"x\"]",
		 "[\"0\",\"True\",\"x\"]"},
	};
	static centroid cents[3] = {{0, {0}, 0}, {1, {0.25, 0.5, 0}, 11}, {0, {0}, 0}};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		for (int index_layout = 0; index_layout <= 1; index_layout++) {
			setup(index_layout);
			fields[2].categories = (char **)cases[i].cats;
			fields[2].category_type = cases[i].type;
			fields[2].centroids[2] = cents;
			char *text = doc_obs_manifest(&ds);
			const char *want = index_layout ? cases[i].index : cases[i].names;
			char list[160], centroid[160];
			snprintf(list, sizeof list, "\"phase\",%s,\"uint8\"", want);
			/* the centroid's category is the second one, with its type */
			const char *second = strchr(want, ',') + 1;
			snprintf(centroid, sizeof centroid, "{\"category\":%.*s,\"position\"",
				 (int)(strchr(second, ',') - second), second);
			CHECK(text && strstr(text, list) && strstr(text, centroid),
			      "%s obs manifest: categories %s and the centroid's category as %s",
			      index_layout ? "index" : "names", want, centroid);
			free(text);
		}
	}
}

static void test_vectors(void)
{
	doc_vector v = {.id = "velocity_umap", .safe_id = "velocity_umap", .has_dim = {0, 0, 1, 1}};
	for (int layout = 0; layout <= 1; layout++) {
		setup(layout);
		ds.has_dim[3] = 1;
		ds.vectors = &v;
		ds.n_vectors = 1;
		cJSON *id = parse(doc_identity(&ds));
		cJSON *f = get(get(get(id, "vector_fields"), "fields"), "velocity_umap");
		CHECK(!strcmp(keys_of(f), "label,available_dimensions,default_dimension,files,basis") &&
		      num_is(get(f, "default_dimension"), 3) &&
		      str_is(get(get(f, "files"), "2d"), layout ? "vectors/0_2d.bin.gz"
							       : "vectors/velocity_umap_2d.bin.gz"),
		      "%s vector field: the exporters' key order, the largest dimension by default",
		      layout ? "index" : "names");
		cJSON_Delete(id);
	}
}

static void test_connectivity(void)
{
	setup(0);
	cJSON *m = parse(doc_connectivity_manifest(&ds));
	CHECK(!get(m, "weightsPath") && num_is(get(m, "max_neighbors"), 4),
	      "names connectivity manifest: no weights");
	cJSON_Delete(m);
	setup(1);
	ds.n_cells = 65536;
	m = parse(doc_connectivity_manifest(&ds));
	CHECK(!strcmp(keys_of(m), "format,n_cells,n_edges,max_neighbors,index_bytes,index_dtype,"
			  "sourcesPath,destinationsPath,weightsPath,weight_dtype,weight_bytes,"
			  "compression"),
	      "index connectivity manifest: the reference's keys in its order (%s)", keys_of(m));
	CHECK(str_is(get(m, "weightsPath"), "connectivity/edges.weights.f64.bin.gz") &&
	      num_is(get(m, "weight_bytes"), 8) && str_is(get(m, "weight_dtype"), "float64"),
	      "index connectivity manifest: float64 weights");
	CHECK(str_is(get(m, "index_dtype"), "uint16") && num_is(get(m, "index_bytes"), 2),
	      "index connectivity manifest: uint16 for 65536 cells");
	cJSON_Delete(m);
	CHECK(doc_index_bytes(65535, 0) == 2 && doc_index_bytes(65536, 0) == 4 &&
	      doc_index_bytes(65536, 1) == 2 && doc_index_bytes(65537, 1) == 4,
	      "index widths: names <= 65535 cells, index <= 65536 cells in uint16");
}

static void test_handshake(void)
{
	setup(1);
	cJSON *h = parse(doc_health(&ds)), *i = parse(doc_info(&ds)), *l = parse(doc_datasets(&ds));
	CHECK(!strcmp(keys_of(h), "status,type,version") && str_is(get(h, "type"), "exported"),
	      "health: status, type exported, version");
	CHECK(!strcmp(keys_of(i), "version,host,port,mode") && num_is(get(i, "port"), 8080),
	      "info: version, host, port, mode (no ws_port)");
	cJSON *entry = cJSON_GetArrayItem(get(l, "datasets"), 0);
	CHECK(!strcmp(keys_of(entry), "id,path,name") && str_is(get(entry, "path"), "/") &&
	      str_is(get(entry, "name"), "Data set 1"),
	      "datasets: one entry with the identity's id and name at /");
	cJSON_Delete(h);
	cJSON_Delete(i);
	cJSON_Delete(l);
}

/* what: the input spelt out, as it may hold control characters. */
static void check_clean(const char *what, const char *in, const char *want)
{
	char *out = doc_clean_name(in);
	CHECK(out && !strcmp(out, want), "doc_clean_name(%s) is \"%s\"", what, want);
	free(out);
}

static void check_local_id(const char *in, const char *want)
{
	char *out = doc_local_id(in);
	CHECK(out && !strcmp(out, want) && doc_is_local_id(out),
	      "doc_local_id(\"%s\") is \"%s\" (got \"%s\")", in, want, out ? out : "NULL");
	free(out);
}

static void test_text_rules(void)
{
	CHECK(doc_is_trimmed("a b") && doc_is_trimmed("\xc3\xa9") && doc_is_trimmed("x\xc2\x85"),
	      "trimmed: inner space, non-ASCII, U+0085 (not JavaScript whitespace)");
	CHECK(!doc_is_trimmed("") && !doc_is_trimmed(" a") && !doc_is_trimmed("a\n") &&
	      !doc_is_trimmed("a\xc2\xa0") && !doc_is_trimmed("\xe3\x80\x80" "a") &&
	      !doc_is_trimmed("\xef\xbb\xbf" "a") && !doc_is_trimmed("a\xe2\x80\xa8"),
	      "not trimmed: empty, space, newline, U+00A0, U+3000, U+FEFF, U+2028");
	CHECK(doc_is_trimmed("a\x80") && doc_is_trimmed("\xff"),
	      "malformed UTF-8 is not whitespace");
	CHECK(doc_has_control("a\x01") && doc_has_control("a\x7f") &&
	      doc_has_control("\xc2\x9f") && !doc_has_control("caf\xc3\xa9 x"),
	      "control characters: C0, DEL and C1, not letters");
	CHECK(doc_is_local_id("pbmc") && doc_is_local_id("a.b-c_d9") && doc_is_local_id("x-"),
	      "local ids accepted");
	CHECK(!doc_is_local_id("") && !doc_is_local_id("-x") && !doc_is_local_id("_x") &&
	      !doc_is_local_id("x.") && !doc_is_local_id("x y") && !doc_is_local_id("x/y") &&
	      !doc_is_local_id("con") && !doc_is_local_id("LPT1"),
	      "local ids refused: empty, leading - or _, trailing ., space, slash, device names");
	char long_id[200];
	memset(long_id, 'a', sizeof long_id);
	long_id[180] = 0;
	int fits = doc_is_local_id(long_id);
	long_id[180] = 'a';
	long_id[181] = 0;
	CHECK(fits && !doc_is_local_id(long_id), "local ids: 180 characters at most");
	long_id[179] = '.';
	char *cut = doc_local_id(long_id);
	CHECK(cut && strlen(cut) == 179 && doc_is_local_id(cut),
	      "doc_local_id cuts at 180 and drops a trailing '.'");
	free(cut);
	check_local_id("-pbmc", "pbmc");
	check_local_id("-.x", "x");
	check_local_id("Con", "Con_");
	check_local_id("COM10", "COM10");
	check_local_id("my data (v2)", "my_data_v2");
	check_local_id("---", "dataset");
	check_local_id("pbmc68k_reduced", "pbmc68k_reduced");
	check_clean("\" pbmc 3k \"", " pbmc 3k ", "pbmc 3k");
	check_clean("a TAB b SOH", "a\tb\x01", "a b");
	check_clean("U+3000 x U+00A0", "\xe3\x80\x80x\xc2\xa0", "x");
	check_clean("space newline", " \n", "");
}

int main(void)
{
	test_identity();
	test_obs_manifest();
	test_var_manifest();
	test_numbers();
	test_category_types();
	test_vectors();
	test_connectivity();
	test_handshake();
	test_text_rules();
	return CHECK_DONE();
}
