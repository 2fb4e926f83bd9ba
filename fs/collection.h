/*
 * collection.h - a directory of .h5ad files as one tree (export-format.md §7).
 *
 *   /datasets.json              {"version":1,"default":ID,"datasets":[...]}
 *   /_cellucid/health|info|datasets
 *   /<id>/...                   one dataset's export, without its own _cellucid/
 *
 * Every dataset directly in the directory is opened with the same options; a
 * file that is not usable AnnData is skipped with a warning, and two files
 * whose ids collide keep the first. Since anyone who may write into the
 * directory chooses its members, what is not a regular file is skipped
 * unopened, a symbolic link only followed as follow_symlinks says (by
 * default only to a file inside the directory), and an id that would shadow
 * a root entry (datasets.json.h5ad) is skipped. The members come and go
 * while mounted (fs/ll_members.c follows the directory): each listing of
 * the root is a catalog, made anew when they change. FUSE-free: fs/ll.c
 * serves it.
 *
 *   char **names = co_list(dir, &n, err, sizeof err);
 *   co_open_member(root, names[0], opt, &e, why, sizeof why);
 *   co_catalog *c = co_catalog_new((co_entry[]){{ex_id(e), ex_name(e), 0}}, 1, opt, mtime);
 */
#ifndef COLLECTION_H
#define COLLECTION_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "export.h"

typedef enum { CO_DIR, CO_DOCUMENT, CO_DATASET } co_kind;

typedef struct {
	const char *name;
	co_kind kind;
	uint32_t parent;
	uint32_t arg;              /* CO_DATASET: the member's number (its slot) */
	const char *text;          /* CO_DOCUMENT: its JSON */
} co_node;

/* ---- the members: which names of the directory are datasets ---- */

/* The candidate names in dir (*.h5ad, *.zarr, *.zarr.zip), sorted so that
 * ids and the default are stable; NULL (err set) when dir cannot be read.
 * Free with co_names_free. */
char **co_list(const char *dir, size_t *n, char *err, size_t errlen);
void co_names_free(char **names, size_t n);
/* Open member name of the directory whose real path is root, as the rules
 * above say; 0 and *out, or -1 with the reason in why. */
int co_open_member(const char *root, const char *name, const ex_options *opt, ex_export **out,
		   char *why, size_t whylen);
/* The options each dataset is opened with: opt without its id and name. */
ex_options co_member_options(const ex_options *opt);

/* ---- the catalog: the root's own tree over the members present ---- */

typedef struct co_catalog co_catalog;
typedef struct {
	const char *id, *name;     /* copied */
	uint32_t member;
} co_entry;

/* The catalog of n members, in that order (the first is the default); the
 * root's mtime is mtime. NULL when out of memory. */
co_catalog *co_catalog_new(const co_entry *m, size_t n, const ex_options *opt, time_t mtime);
void co_catalog_free(co_catalog *c);
/* Its nodes; 0 is the root. */
size_t co_node_count(const co_catalog *c);
const co_node *co_node_at(const co_catalog *c, uint32_t i);
int64_t co_lookup(const co_catalog *c, uint32_t dir, const char *name);
time_t co_mtime(const co_catalog *c);

#endif
