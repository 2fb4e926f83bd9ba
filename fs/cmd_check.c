/*
 * cmd_check.c - "cellucidfs check SOURCE [-o OPTIONS]": what a mount of
 * SOURCE with these options would expose, and how large its export is,
 * without FUSE and without writing a cache (cache_dir=none unless given).
 *
 * ex_open decides the tree exactly as for a mount; the warnings it logs
 * (fields and genes left out, and why) are collected and listed under a
 * heading instead of going to stderr. Sizes are measured, not guessed: every
 * file but the genes is generated (they all derive from obs, obsm and the
 * graph, small beside X), then GENE_SAMPLE genes spread over var. Those need
 * the gene index, i.e. two reads of X, as the first gene request of a mount
 * does: bounded memory, progress on stderr, and a check that X can be read at
 * all. The other genes are assumed to compress like the sample, so that total
 * is an estimate and says so; uncompressed sizes are exact, since every gene
 * file has the same raw size.
 *
 *   $ cellucidfs check pbmc68k_reduced.h5ad
 *   cellucidfs: reading X once (the gene index), then generating up to 256 genes
 *   source        /data/pbmc68k_reduced.h5ad (1.9 MB)
 *   layout        index: for the current Cellucid viewer (strict loader, builds from 2026-07-27)
 *                 and as the newest cellucid-python prepare() writes it
 *   dataset id    pbmc68k_reduced
 *   cells         700
 *   genes         765
 *   embeddings    2-D from obsm X_umap
 *   latent space  obsm X_pca, 50 dimensions (for the outlier quantiles)
 *   connectivity  obsp/connectivities (kNN edges)
 *
 *   obs fields (8)
 *     bulk_labels   categorical, 10 categories
 *     n_genes       continuous
 *   ...
 *   left out (0)
 *     none
 *
 *   export size (compression 6, genes 8-bit, obs 8-bit)
 *                           files  uncompressed       served
 *     dataset, handshake        4        1.3 kB       1.3 kB
 *   ...
 *     genes                   766      575.8 kB  ~  311.2 kB  256 of 765 genes generated
 *     graph                     4       60.3 kB      41.8 kB
 *     total                   787      653.8 kB  ~  368.7 kB
 *   ~ estimated: the other 509 genes are assumed to compress like the 256 generated
 */
#include "cmd_check.h"

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ad.h"
#include "log.h"

/* Genes generated to estimate the size of all of them. Gene sizes are
 * skewed (a few genes are expressed everywhere); 256 came within 3 % of the
 * real total on the fixtures and on generated 100 000-cell data, and each
 * costs only one read of the gene index and one compression. */
#define GENE_SAMPLE 256
/* Lines listed under one heading before "... and N more". */
#define LIST_MAX 20

typedef struct {
	char **line;
	size_t n, cap;
} notes;

/* What is listed besides the layout; warnings may come from any thread. */
typedef struct {
	pthread_mutex_t lock;
	notes left_out, warnings, failed;
} findings;

static void note(notes *l, const char *line)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 16;
		char **grown = realloc(l->line, cap * sizeof *grown);
		if (!grown)
			return;
		l->line = grown;
		l->cap = cap;
	}
	if ((l->line[l->n] = strdup(line)))
		l->n++;
}

static void notes_free(notes *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->line[i]);
	free(l->line);
}

static void collect_warning(void *ctx, const char *line)
{
	findings *f = ctx;
	pthread_mutex_lock(&f->lock);
	note(strstr(line, " left out") ? &f->left_out : &f->warnings, line);
	pthread_mutex_unlock(&f->lock);
}

/* ------------------------------------------------------------- sizes */

enum { G_DATASET, G_POINTS, G_FIELDS, G_GENES, G_GRAPH, N_GROUPS };
static const char *const group_name[N_GROUPS] = {
	"dataset, handshake", "embeddings", "cell fields", "genes", "graph",
};

typedef struct {
	size_t files, failed;
	uint64_t raw, packed;   /* of the files generated (genes: extrapolated) */
} tally;

typedef struct {
	tally group[N_GROUPS];
	size_t n_genes, sampled; /* genes generated; fewer than n_genes: estimated */
} sizes;

static int group_of(ex_kind kind)
{
	switch (kind) {
	case EX_POINTS:
		return G_POINTS;
	case EX_OBS_MANIFEST: case EX_OBS_VALUES: case EX_OBS_CODES: case EX_OBS_OUTLIERS:
		return G_FIELDS;
	case EX_VAR_MANIFEST: case EX_GENE:
		return G_GENES;
	case EX_CONN_MANIFEST: case EX_EDGES_SRC: case EX_EDGES_DST: case EX_EDGES_WEIGHTS:
		return G_GRAPH;
	default:
		return G_DATASET;
	}
}

/* The uncompressed size of a generated file. A .gz file's gzip trailer holds
 * it (ISIZE, RFC 1952): modulo 2^32, which only points_3d of more than 357
 * million cells would pass. */
static uint64_t raw_size(const char *name, const unsigned char *data, size_t len)
{
	size_t n = strlen(name);
	if (n < 3 || strcmp(name + n - 3, ".gz") || len < 18)
		return len;
	const unsigned char *t = data + len - 4;
	return (uint64_t)t[0] | (uint64_t)t[1] << 8 | (uint64_t)t[2] << 16 | (uint64_t)t[3] << 24;
}

static int measure(ex_export *e, uint32_t i, tally *t, findings *f)
{
	void *data;
	size_t len;
	char err[512];
	if (ex_generate(e, i, &data, &len, err, sizeof err) != EX_OK) {
		note(&f->failed, err);
		t->failed++;
		return -1;
	}
	t->packed += len;
	t->raw += raw_size(ex_node_at(e, i)->name, data, len);
	free(data);
	return 0;
}

static void measure_all(ex_export *e, sizes *s, findings *f)
{
	int64_t var = ex_lookup(e, 0, "var");
	if (var >= 0)
		log_info("reading X once (the gene index), then generating up to %d genes",
			 GENE_SAMPLE);
	for (uint32_t i = 0; i < ex_node_count(e); i++) {
		const ex_node *n = ex_node_at(e, i);
		if (n->kind == EX_DIR)
			continue;
		tally *t = &s->group[group_of(n->kind)];
		t->files++;
		if (n->kind != EX_GENE)
			measure(e, i, t, f);
	}
	if (var < 0)
		return;
	const ex_node *dir = ex_node_at(e, (uint32_t)var);
	size_t n = dir->n_children, k = n < GENE_SAMPLE ? n : GENE_SAMPLE;
	tally sample = {0};
	for (size_t j = 0; j < k; j++) {
		/* The middle of each of k equal stretches of var. */
		uint32_t gene = dir->first_child + (uint32_t)((2 * j + 1) * n / (2 * k));
		if (measure(e, gene, &sample, f))
			break; /* the gene index failed: every gene fails alike */
		s->sampled++;
	}
	tally *t = &s->group[G_GENES];
	t->failed += sample.failed;
	s->n_genes = n;
	if (s->sampled) {
		t->raw += sample.raw / s->sampled * n;
		t->packed += (uint64_t)((double)sample.packed * n / s->sampled + 0.5);
	}
}

/* ------------------------------------------------------------ report */

static const char *human(uint64_t bytes, char *buf, size_t len)
{
	static const char *const unit[] = {"kB", "MB", "GB", "TB", "PB"};
	if (bytes < 1000) {
		snprintf(buf, len, "%u B", (unsigned)bytes);
		return buf;
	}
	double v = (double)bytes / 1000;
	size_t u = 0;
	for (; v >= 1000 && u + 1 < sizeof unit / sizeof *unit; u++)
		v /= 1000;
	snprintf(buf, len, "%.1f %s", v, unit[u]);
	return buf;
}

static const char *bits_name(int bits)
{
	return bits == 8 ? "8-bit" : bits == 16 ? "16-bit" : "float32";
}

static void print_list(const char *heading, const notes *l, int always)
{
	if (!l->n && !always)
		return;
	printf("\n%s (%zu)\n", heading, l->n);
	if (!l->n)
		printf("  none\n");
	char line[4096];
	for (size_t i = 0; i < l->n && i < LIST_MAX; i++)
		printf("  %s\n", log_escape(l->line[i], line, sizeof line));
	if (l->n > LIST_MAX)
		printf("  ... and %zu more\n", l->n - LIST_MAX);
}

/* The obs field behind node i when i is its values or codes file (one per
 * field, in the tree's order). */
static int field_of(const ex_export *e, uint32_t i, ex_field_info *f)
{
	const ex_node *n = ex_node_at(e, i);
	if (n->kind != EX_OBS_VALUES && n->kind != EX_OBS_CODES)
		return 0;
	ex_field_at(e, n->arg, f);
	return 1;
}

static void print_layout(const ex_export *e, const char *path, uint64_t bytes,
			 const ex_layout *l, const ex_options *opt)
{
	/* Names come from the file (and the path from whoever named it): printed
	 * escaped, like every log line. */
	char size[32], name[1024];
	printf("source        %s (%s)\n", log_escape(path, name, sizeof name),
	       human(bytes, size, sizeof size));
	printf("layout        %s\n", opt->index_layout
	       ? "index: for the current Cellucid viewer (strict loader, builds from 2026-07-27)\n"
		 "              and as the newest cellucid-python prepare() writes it"
	       : "names: the 0.9 exporter's layout, for viewer builds before the strict loader");
	printf("dataset id    %s\n", ex_id(e));
	printf("cells         %zu\n", l->n_cells);
	if (!l->has_x)
		printf("genes         none: the file has no X\n");
	else if (l->n_genes == l->n_var)
		printf("genes         %zu\n", l->n_genes);
	else
		printf("genes         %zu of %zu in var (see left out)\n", l->n_genes, l->n_var);
	const char *label = "embeddings";
	for (int d = 1; d <= 3; d++) {
		if (!l->embedding[d])
			continue;
		printf("%-14s%d-D from obsm %s", label, d,
		       log_escape(l->embedding[d], name, sizeof name));
		if (l->embedding_cols[d] != (size_t)d)
			printf(" (first %d of %zu columns)", d, l->embedding_cols[d]);
		printf("\n");
		label = "";
	}
	if (l->latent)
		printf("latent space  obsm %s, %zu dimensions (for the outlier quantiles)\n",
		       log_escape(l->latent, name, sizeof name), l->latent_dim);
	else
		printf("latent space  none: obsm holds no matrix besides UMAPs, so every outlier\n"
		       "              quantile is missing (latent=KEY names one)\n");
	printf("connectivity  %s\n", l->has_graph ? "obsp/connectivities (kNN edges)"
			       : "none: no obsp/connectivities, the viewer draws no kNN edges");

	ex_field_info f;
	int width = 0;
	for (uint32_t i = 0; i < ex_node_count(e); i++)
		if (field_of(e, i, &f) && (int)strlen(log_escape(f.key, name, sizeof name)) > width)
			width = strlen(name) < 32 ? (int)strlen(name) : 32;
	printf("\nobs fields (%zu)\n", l->n_fields);
	if (!l->n_fields)
		printf("  none\n");
	for (uint32_t i = 0; i < ex_node_count(e); i++) {
		if (!field_of(e, i, &f))
			continue;
		log_escape(f.key, name, sizeof name);
		if (f.categorical)
			printf("  %-*s  categorical, %zu categor%s\n", width, name, f.n_categories,
			       f.n_categories == 1 ? "y" : "ies");
		else
			printf("  %-*s  continuous\n", width, name);
	}
}

static void print_sizes(const sizes *s, const ex_options *opt)
{
	char raw[32], packed[32];
	char level[32] = "no compression";
	if (opt->compression)
		snprintf(level, sizeof level, "compression %d", opt->compression);
	printf("\nexport size (%s, genes %s, obs %s)\n", level, bits_name(opt->var_bits),
	       bits_name(opt->obs_bits));
	printf("  %-20s%7s  %12s  %11s\n", "", "files", "uncompressed", "served");
	/* Without compression every gene file has the same, known, size. */
	int estimated = opt->compression && s->sampled < s->n_genes;
	tally total = {0};
	int total_guess = 0;
	for (int g = 0; g < N_GROUPS; g++) {
		const tally *t = &s->group[g];
		if (!t->files)
			continue;
		/* A group with a file that cannot be generated has no size. */
		int guess = g == G_GENES && estimated && !t->failed;
		printf("  %-20s%7zu  %12s  %s%9s", group_name[g], t->files,
		       t->failed ? "?" : human(t->raw, raw, sizeof raw), guess ? "~ " : "  ",
		       t->failed ? "?" : human(t->packed, packed, sizeof packed));
		if (t->failed)
			printf("  %zu cannot be generated", t->failed);
		else if (guess)
			printf("  %zu of %zu genes generated", s->sampled, s->n_genes);
		printf("\n");
		total.files += t->files;
		total.failed += t->failed;
		if (!t->failed) {
			total.raw += t->raw;
			total.packed += t->packed;
			total_guess |= guess;
		}
	}
	printf("  %-20s%7zu  %12s  %s%9s%s\n", "total", total.files,
	       human(total.raw, raw, sizeof raw), total_guess ? "~ " : "  ",
	       human(total.packed, packed, sizeof packed),
	       total.failed ? "  without the groups marked ?" : "");
	if (total_guess)
		printf("~ estimated: the other %zu genes are assumed to compress like the %zu generated\n",
		       s->n_genes - s->sampled, s->sampled);
}

/* The bytes of the source: a file's size, or what a store directory's
 * regular files hold (links not followed). */
static uint64_t store_bytes;
static int add_bytes(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)path, (void)ftw;
	if (flag == FTW_F && S_ISREG(st->st_mode))
		store_bytes += (uint64_t)st->st_size;
	return 0;
}

static uint64_t source_bytes(const char *path, const struct stat *st, const ex_layout *l)
{
	if (!S_ISDIR(st->st_mode))
		return l->source_bytes;
	store_bytes = 0;
	nftw(path, add_bytes, 16, FTW_PHYS);
	return store_bytes;
}

int cmd_check(const char *source, const ex_options *opt)
{
	char real[PATH_MAX], err[512];
	struct stat st;
	if (!realpath(source, real) || stat(real, &st)) {
		log_error("cannot open %s: %s", source, strerror(errno));
		return 1;
	}
	/* A directory mounts as a collection, whose warnings cannot be told
	 * apart per dataset: each file is checked on its own. */
	if (S_ISDIR(st.st_mode) && !ad_is_store_dir(real)) {
		log_error("cannot open %s: a directory; check takes one .h5ad file at a time",
			  source);
		return 1;
	}
	findings f = {.lock = PTHREAD_MUTEX_INITIALIZER};
	log_divert_warnings(collect_warning, &f);
	ex_export *e;
	int status = 1;
	if (ex_open(real, opt, &e, err, sizeof err) != EX_OK) {
		log_error("cannot open %s: %s", source, err);
	} else {
		ex_layout l;
		sizes s = {0};
		ex_layout_of(e, &l);
		measure_all(e, &s, &f);
		pthread_mutex_lock(&f.lock);
		print_layout(e, real, source_bytes(real, &st, &l), &l, opt);
		print_list("left out", &f.left_out, 1);
		print_list("warnings", &f.warnings, 0);
		print_list("cannot be generated", &f.failed, 0);
		pthread_mutex_unlock(&f.lock);
		print_sizes(&s, opt);
		fflush(stdout);
		status = f.failed.n ? 1 : 0;
		ex_close(e); /* after the report: it waits for the gene index merge */
	}
	log_divert_warnings(NULL, NULL);
	notes_free(&f.left_out);
	notes_free(&f.warnings);
	notes_free(&f.failed);
	return status;
}
