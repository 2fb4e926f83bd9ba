/*
 * collection.h - a directory of .h5ad files as one tree (export-format.md §7).
 *
 *   /datasets.json              {"version":1,"default":ID,"datasets":[...]}
 *   /_cellucid/health|info|datasets
 *   /<id>/...                   one dataset's export, without its own _cellucid/
 *
 * Every *.h5ad directly in the directory is opened with the same options; a
 * file that is not usable AnnData is skipped with a warning, and two files
 * whose ids collide keep the first. Since anyone who may write into the
 * directory chooses its members, what is not a regular file is skipped
 * unopened, a symbolic link only followed as follow_symlinks says (by
 * default only to a file inside the directory), and an id that would shadow
 * a root entry (datasets.json.h5ad) is skipped. FUSE-free: fs/ll.c serves it.
 */
#ifndef COLLECTION_H
#define COLLECTION_H

#include <stddef.h>
#include <stdint.h>
#include "export.h"

typedef enum { CO_DIR, CO_DOCUMENT, CO_DATASET } co_kind;

typedef struct {
	const char *name;
	co_kind kind;
	uint32_t parent;
	uint32_t arg;              /* CO_DATASET: dataset index */
	const char *text;          /* CO_DOCUMENT: its JSON */
} co_node;

typedef struct co_collection co_collection;

/* Fails (err set) when dir cannot be read or holds no usable dataset. */
ex_err co_open(const char *dir, const ex_options *opt, co_collection **out, char *err,
	       size_t errlen);
void co_close(co_collection *c);

size_t co_dataset_count(const co_collection *c);
ex_export *co_dataset(const co_collection *c, size_t k);
/* The real path of dataset k's file (outside the directory with
 * follow_symlinks=all). */
const char *co_dataset_path(const co_collection *c, size_t k);
/* The options each dataset is opened with: opt without its id and name. */
ex_options co_member_options(const ex_options *opt);

/* The collection's own nodes; 0 is the root. */
size_t co_node_count(const co_collection *c);
const co_node *co_node_at(const co_collection *c, uint32_t i);
int64_t co_lookup(const co_collection *c, uint32_t dir, const char *name);
time_t co_mtime(const co_collection *c);

#endif
