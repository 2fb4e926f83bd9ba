/*
 * docs.h - the JSON documents of a Cellucid export (export-format.md §4-§7),
 * built with cJSON from a plain description of the dataset, in either
 * dialect: the names layout the reference exporter writes, or layout=index,
 * the closed documents of viewer-contract-strict.md (§2-§6, §10).
 *
 * Every function returns a malloc'd NUL-terminated document (free with
 * free()), or NULL when memory ran out.
 */
#ifndef DOCS_H
#define DOCS_H

#include <stddef.h>
#include <stdint.h>
#include "centroid.h"
#include "quant.h"

/* What a category's text stands for (doc_field.category_type): layout=index
 * writes each as its JSON type, as the newest exporter does ("3" -> 3, float32
 * "0.1" -> 0.10000000149011612, "True" -> true); the names layout writes the
 * text. */
typedef enum {
	DOC_CAT_TEXT, DOC_CAT_INT, DOC_CAT_FLOAT32, DOC_CAT_FLOAT64, DOC_CAT_BOOL
} doc_category_type;

typedef struct {
	const char *key;
	int categorical;
	quant_range range;               /* continuous, quantised */
	size_t n_categories;             /* categorical */
	char *const *categories;
	doc_category_type category_type;
	int code_bits;                   /* 8 or 16 */
	const centroid *centroids[4];    /* by dimension 1..3; NULL where no points */
	quant_range outlier_range;       /* quantised outliers */
	size_t index;                    /* layout=index: the payload file number */
} doc_field;

/* A vector field (velocity-like obsm keys), export-format.md §2. */
typedef struct {
	const char *id;                  /* e.g. "velocity_umap" */
	const char *safe_id;             /* names layout: vectors/<safe_id>_<d>d.bin; layout=index
					    names them by position: vectors/<i>_<d>d.bin */
	int has_dim[4];                  /* dimensions 1..3 it has (all have points) */
} doc_vector;

typedef struct {
	int index_layout;                /* 0: names layout, 1: layout=index */
	const char *id, *name;
	const char *created_at;          /* "YYYY-MM-DDTHH:MM:SSZ" */
	const char *version;             /* cellucidfs version */
	size_t n_cells, n_genes;         /* n_genes: genes exposed */
	int has_dim[4];                  /* has_dim[d] for d = 1..3 */
	int default_dim;
	int compression;                 /* 0 = off */
	int var_bits, obs_bits;          /* 8, 16 or 0 (float32) */
	/* Exposed obs fields in column order. layout=index lists the
	 * continuous ones first in the identity, as the manifest's tuples
	 * expand (viewer-contract-strict.md §8.4); each field's index is the
	 * caller's choice (the tree numbers them in column order). */
	const doc_field *fields;
	size_t n_fields;
	int has_graph;
	size_t n_edges, max_neighbors;   /* layout=index: edges with a usable weight,
					    and their largest degree */
	const char *host;                /* for _cellucid/info */
	int port;
	const char *gene_id_column;      /* var column naming the genes; NULL: "index" */
	const doc_vector *vectors;       /* vector fields, vectors[default_vector] first choice */
	size_t n_vectors, default_vector;
} doc_dataset;

char *doc_identity(const doc_dataset *d);
char *doc_obs_manifest(const doc_dataset *d);
/* genes[i] with ranges[i] (ignored when var_bits == 0), in var order;
 * layout=index numbers them 0..n-1 in that order. */
char *doc_var_manifest(const doc_dataset *d, char *const *genes,
                       const quant_range *ranges, size_t n);
char *doc_connectivity_manifest(const doc_dataset *d);
char *doc_health(const doc_dataset *d);
char *doc_info(const doc_dataset *d);
char *doc_datasets(const doc_dataset *d);

/* .cellucidfs/status.json: what the daemon has done so far. */
typedef struct {
	/* cache_key: the store's name in its cache directory, NULL: memory
	 * only. No path: the document may reach people who should not learn
	 * the daemon's directories. */
	const char *version, *dataset_id, *cache_key;
	double uptime;
	uint64_t files, generated, hits, misses, errors, bytes_served;
	uint64_t stored_bytes, memory_bytes;
	int index_permille;      /* -1 not started, 0..999 building, 1000 ready, -2 failed */
	const char *source_identity; /* the version of the source served; "": several */
	uint64_t switches;       /* versions switched to since mounting */
} doc_status_info;
char *doc_status(const doc_status_info *s);

/* A directory of datasets (export-format.md §7): datasets.json, and
 * _cellucid/datasets listing each at "/<id>/". ids and names: n of each. */
char *doc_catalog(char *const *ids, char *const *names, size_t n);
char *doc_datasets_list(char *const *ids, char *const *names, size_t n);

/* File-name pieces shared by the documents and the tree: ".gz" or "". */
const char *doc_gz_suffix(const doc_dataset *d);
/* "u8", "u16" or "f32" for a quantisation width. */
const char *doc_ext(int bits);
/* Bytes per edge index: 2 while every cell index fits in uint16 (names
 * layout: n_cells <= 65535, as the reference; layout=index: <= 65536, the
 * strict contract's "smallest that fits"), else 4. */
size_t doc_index_bytes(size_t n_cells, int index_layout);

/* The strict viewer's text rules (viewer-contract-strict.md §2, §3.4, §10,
 * §13), for choosing what layout=index may expose. */
/* Non-empty, and nothing that JavaScript's String.prototype.trim() removes
 * at either end. */
int doc_is_trimmed(const char *s);
/* Any C0/C1 control character or DEL. */
int doc_has_control(const char *s);
/* The local folder picker's dataset id, [A-Za-z0-9][A-Za-z0-9._-]* not
 * ending in '.', that is also a remote dataset directory (a collection's):
 * at most 180 characters and no Windows device name (CON, COM1, ...). */
int doc_is_local_id(const char *s);
/* A malloc'd id derived from s that doc_is_local_id accepts ("dataset" when
 * nothing of s is usable), or NULL when memory ran out. */
char *doc_local_id(const char *s);
/* A malloc'd display name from s: control characters become spaces and
 * surrounding whitespace goes (may leave ""), or NULL when memory ran out. */
char *doc_clean_name(const char *s);

#endif
