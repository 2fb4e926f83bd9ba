/*
 * collection.c - see collection.h: the rules for a directory's members, and
 * the root's catalog (its nodes and documents) over the members present.
 */
#include "collection.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ad.h"
#include "docs.h"
#include "log.h"

struct co_catalog {
	co_node *nodes;
	size_t n_nodes;
	char **ids;              /* [member in the catalog]: copies, the nodes' names */
	size_t n_ids;
	char *docs[4];           /* datasets.json, health, info, datasets */
	time_t mtime;
};

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A dataset's name: an .h5ad file, or a Zarr store (.zarr, .zarr.zip). */
static int is_dataset(const char *name)
{
	static const char *const ext[] = { ".h5ad", ".zarr", ".zarr.zip" };
	size_t n = strlen(name);
	for (size_t i = 0; i < sizeof ext / sizeof *ext; i++) {
		size_t e = strlen(ext[i]);
		if (n > e && !strcmp(name + n - e, ext[i]) && name[0] != '.')
			return 1;
	}
	return 0;
}

void co_names_free(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

char **co_list(const char *dir, size_t *n, char *err, size_t errlen)
{
	DIR *d = opendir(dir);
	if (!d) {
		snprintf(err, errlen, "%s", strerror(errno));
		return NULL;
	}
	char **names = NULL;
	size_t cap = 0;
	struct dirent *ent;
	*n = 0;
	while ((ent = readdir(d))) {
		if (!is_dataset(ent->d_name))
			continue;
		if (*n == cap) {
			cap = cap ? 2 * cap : 16;
			char **more = realloc(names, cap * sizeof *names);
			if (!more)
				break;
			names = more;
		}
		if (!(names[*n] = strdup(ent->d_name)))
			break;
		(*n)++;
	}
	closedir(d);
	if (ent) {
		snprintf(err, errlen, "out of memory");
		co_names_free(names, *n);
		return NULL;
	}
	if (*n)
		qsort(names, *n, sizeof *names, by_name);
	return names ? names : calloc(1, sizeof *names);
}

/* The names of the collection's root (and the hidden status directory,
 * fs/ll_status.c): a dataset directory of that name would shadow them. */
static int id_reserved(const char *id)
{
	return !strcmp(id, "datasets.json") || !strcmp(id, "_cellucid") ||
	       !strcmp(id, ".cellucidfs");
}

/* Whether the member at path (in the directory whose real path is root)
 * may be opened; its real path goes to real, its identity to st. A
 * symbolic link is judged by follow_symlinks; whatever is not a regular
 * file (a FIFO, a device, a directory) is refused unopened, as opening it
 * could block or act, and the file itself is opened without blocking only
 * to see that it is still what was judged. 0 with the reason in why. */
static int admit(const char *root, const char *path, ex_follow follow, char *real,
		 struct stat *st, char *why, size_t whylen)
{
	struct stat lst;
	size_t n = strlen(root);
	if (lstat(path, &lst) || !realpath(path, real)) {
		snprintf(why, whylen, "%s", strerror(errno));
		return 0;
	}
	if (S_ISLNK(lst.st_mode) && follow == EX_FOLLOW_NO) {
		snprintf(why, whylen, "a symbolic link (follow_symlinks=no)");
		return 0;
	}
	if (S_ISLNK(lst.st_mode) && follow == EX_FOLLOW_INSIDE &&
	    (strncmp(real, root, n) || real[n] != '/')) {
		snprintf(why, whylen, "a symbolic link to outside the directory "
			 "(follow_symlinks=inside)");
		return 0;
	}
	if (stat(real, st)) {
		snprintf(why, whylen, "%s", strerror(errno));
		return 0;
	}
	/* A Zarr store is a directory; its back end opens every file in it
	 * without following links (anndata/zarr_store.c). */
	if (S_ISDIR(st->st_mode) && ad_is_store_dir(real))
		return 1;
	if (!S_ISREG(st->st_mode)) {
		snprintf(why, whylen, "not a regular file");
		return 0;
	}
	int fd = open(real, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		snprintf(why, whylen, "%s", strerror(errno));
		return 0;
	}
	struct stat now;
	int same = !fstat(fd, &now) && now.st_dev == st->st_dev && now.st_ino == st->st_ino;
	close(fd);
	if (!same)
		snprintf(why, whylen, "replaced while being opened");
	return same;
}

ex_options co_member_options(const ex_options *opt)
{
	ex_options each = *opt;
	each.in_collection = 1;
	/* One id or name for every dataset would collide: they come from the files. */
	each.dataset_id = each.dataset_name = NULL;
	return each;
}

int co_open_member(const char *root, const char *name, const ex_options *opt, ex_export **out,
		   char *why, size_t whylen)
{
	char path[PATH_MAX], real[PATH_MAX];
	struct stat st;
	ex_options each = co_member_options(opt);
	ex_export *e = NULL;
	*out = NULL;
	if ((size_t)snprintf(path, sizeof path, "%s/%s", root, name) >= sizeof path) {
		snprintf(why, whylen, "its path is too long");
		return -1;
	}
	if (!admit(root, path, opt->follow_symlinks, real, &st, why, whylen) ||
	    ex_open(path, &each, &e, why, whylen) != EX_OK)
		return -1;
	/* The file HDF5 opened is the one judged (a swap in between). */
	ex_identity id = ex_source_id(e);
	if (id.dev != st.st_dev || id.ino != st.st_ino) {
		snprintf(why, whylen, "replaced while being opened");
		ex_close(e);
		return -1;
	}
	if (id_reserved(ex_id(e))) {
		snprintf(why, whylen, "its dataset id '%s' is a name of the collection's root",
			 ex_id(e));
		ex_close(e);
		return -1;
	}
	*out = e;
	return 0;
}

static int make_documents(co_catalog *c, const co_entry *m, const ex_options *opt)
{
	size_t n = c->n_ids;
	char **names = calloc(n ? n : 1, sizeof *names);
	if (!names)
		return -1;
	for (size_t k = 0; k < n; k++)
		names[k] = (char *)m[k].name;
	doc_dataset d = {.version = CELLUCIDFS_VERSION, .host = opt->host ? opt->host : "127.0.0.1",
			 .port = opt->port};
	c->docs[0] = doc_catalog(c->ids, names, n);
	c->docs[1] = doc_health(&d);
	c->docs[2] = doc_info(&d);
	c->docs[3] = doc_datasets_list(c->ids, names, n);
	free(names);
	return c->docs[0] && c->docs[1] && c->docs[2] && c->docs[3] ? 0 : -1;
}

/* root, datasets.json, _cellucid/{health,info,datasets}, then one directory
 * per dataset: the root's children are nodes 1, 2 and 6.. */
static int make_nodes(co_catalog *c, const co_entry *m)
{
	c->n_nodes = 6 + c->n_ids;
	c->nodes = calloc(c->n_nodes, sizeof *c->nodes);
	if (!c->nodes)
		return -1;
	c->nodes[0] = (co_node){"", CO_DIR, 0, 0, NULL};
	c->nodes[1] = (co_node){"datasets.json", CO_DOCUMENT, 0, 0, c->docs[0]};
	c->nodes[2] = (co_node){"_cellucid", CO_DIR, 0, 0, NULL};
	c->nodes[3] = (co_node){"health", CO_DOCUMENT, 2, 0, c->docs[1]};
	c->nodes[4] = (co_node){"info", CO_DOCUMENT, 2, 0, c->docs[2]};
	c->nodes[5] = (co_node){"datasets", CO_DOCUMENT, 2, 0, c->docs[3]};
	for (size_t k = 0; k < c->n_ids; k++)
		c->nodes[6 + k] = (co_node){c->ids[k], CO_DATASET, 0, m[k].member, NULL};
	return 0;
}

co_catalog *co_catalog_new(const co_entry *m, size_t n, const ex_options *opt, time_t mtime)
{
	co_catalog *c = calloc(1, sizeof *c);
	if (!c || !(c->ids = calloc(n ? n : 1, sizeof *c->ids))) {
		free(c);
		return NULL;
	}
	c->mtime = mtime;
	for (; c->n_ids < n; c->n_ids++)
		if (!(c->ids[c->n_ids] = strdup(m[c->n_ids].id)))
			break;
	if (c->n_ids < n || make_documents(c, m, opt) || make_nodes(c, m)) {
		co_catalog_free(c);
		return NULL;
	}
	return c;
}

void co_catalog_free(co_catalog *c)
{
	if (!c)
		return;
	co_names_free(c->ids, c->n_ids);
	for (int i = 0; i < 4; i++)
		free(c->docs[i]);
	free(c->nodes);
	free(c);
}

size_t co_node_count(const co_catalog *c) { return c->n_nodes; }
const co_node *co_node_at(const co_catalog *c, uint32_t i) { return &c->nodes[i]; }
time_t co_mtime(const co_catalog *c) { return c->mtime; }

int64_t co_lookup(const co_catalog *c, uint32_t dir, const char *name)
{
	for (size_t i = 1; i < c->n_nodes; i++)
		if (c->nodes[i].parent == dir && !strcmp(c->nodes[i].name, name))
			return (int64_t)i;
	return -1;
}
