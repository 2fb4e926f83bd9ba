/*
 * collection.c - see collection.h.
 */
#include "collection.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "docs.h"
#include "log.h"

struct co_collection {
	ex_export **datasets;
	char **paths;            /* each dataset's file */
	size_t n_datasets;
	co_node *nodes;
	size_t n_nodes;
	char *docs[4];           /* datasets.json, health, info, datasets */
	time_t mtime;
};

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int is_h5ad(const char *name)
{
	size_t n = strlen(name);
	return n > 5 && !strcmp(name + n - 5, ".h5ad") && name[0] != '.';
}

/* The *.h5ad names in dir, sorted, so ids and the default are stable. */
static char **list_h5ad(const char *dir, size_t *n, char *err, size_t errlen)
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
		if (!is_h5ad(ent->d_name))
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
		while (*n)
			free(names[--*n]);
		free(names);
		return NULL;
	}
	if (*n)
		qsort(names, *n, sizeof *names, by_name);
	return names ? names : calloc(1, sizeof *names);
}

static int id_taken(const co_collection *c, const char *id)
{
	for (size_t k = 0; k < c->n_datasets; k++)
		if (!strcmp(ex_id(c->datasets[k]), id))
			return 1;
	return 0;
}

ex_options co_member_options(const ex_options *opt)
{
	ex_options each = *opt;
	each.in_collection = 1;
	/* One id or name for every dataset would collide: they come from the files. */
	each.dataset_id = each.dataset_name = NULL;
	return each;
}

/* Open each file; the unusable ones are skipped with the reason. */
static void open_datasets(co_collection *c, const char *dir, char **names, size_t n,
			  const ex_options *opt)
{
	ex_options each = co_member_options(opt);
	for (size_t i = 0; i < n; i++) {
		char path[PATH_MAX], why[512];
		snprintf(path, sizeof path, "%s/%s", dir, names[i]);
		ex_export *e;
		if (ex_open(path, &each, &e, why, sizeof why) != EX_OK) {
			log_warn("%s skipped: %s", names[i], why);
			continue;
		}
		if (id_taken(c, ex_id(e))) {
			log_warn("%s skipped: its dataset id '%s' is already used by another file",
				 names[i], ex_id(e));
			ex_close(e);
			continue;
		}
		if (!(c->paths[c->n_datasets] = strdup(path))) {
			log_warn("%s skipped: out of memory", names[i]);
			ex_close(e);
			continue;
		}
		c->datasets[c->n_datasets++] = e;
	}
}

static int make_documents(co_collection *c, const ex_options *opt)
{
	size_t n = c->n_datasets;
	char **ids = calloc(n, sizeof *ids), **names = calloc(n, sizeof *names);
	if (!ids || !names) {
		free(ids);
		free(names);
		return -1;
	}
	for (size_t k = 0; k < n; k++) {
		ids[k] = (char *)ex_id(c->datasets[k]);
		names[k] = (char *)ex_name(c->datasets[k]);
	}
	doc_dataset d = {.version = CELLUCIDFS_VERSION, .host = opt->host ? opt->host : "127.0.0.1",
			 .port = opt->port};
	c->docs[0] = doc_catalog(ids, names, n);
	c->docs[1] = doc_health(&d);
	c->docs[2] = doc_info(&d);
	c->docs[3] = doc_datasets_list(ids, names, n);
	free(ids);
	free(names);
	return c->docs[0] && c->docs[1] && c->docs[2] && c->docs[3] ? 0 : -1;
}

/* root, datasets.json, _cellucid/{health,info,datasets}, then one directory
 * per dataset: the root's children are nodes 1, 2 and 6.. */
static int make_nodes(co_collection *c)
{
	c->n_nodes = 6 + c->n_datasets;
	c->nodes = calloc(c->n_nodes, sizeof *c->nodes);
	if (!c->nodes)
		return -1;
	c->nodes[0] = (co_node){"", CO_DIR, 0, 0, NULL};
	c->nodes[1] = (co_node){"datasets.json", CO_DOCUMENT, 0, 0, c->docs[0]};
	c->nodes[2] = (co_node){"_cellucid", CO_DIR, 0, 0, NULL};
	c->nodes[3] = (co_node){"health", CO_DOCUMENT, 2, 0, c->docs[1]};
	c->nodes[4] = (co_node){"info", CO_DOCUMENT, 2, 0, c->docs[2]};
	c->nodes[5] = (co_node){"datasets", CO_DOCUMENT, 2, 0, c->docs[3]};
	for (size_t k = 0; k < c->n_datasets; k++)
		c->nodes[6 + k] = (co_node){ex_id(c->datasets[k]), CO_DATASET, 0, (uint32_t)k, NULL};
	return 0;
}

ex_err co_open(const char *dir, const ex_options *opt, co_collection **out, char *err,
	       size_t errlen)
{
	struct stat st;
	if (stat(dir, &st)) {
		snprintf(err, errlen, "%s", strerror(errno));
		return EX_EIO;
	}
	size_t n;
	char **names = list_h5ad(dir, &n, err, errlen);
	if (!names)
		return EX_EIO;
	co_collection *c = calloc(1, sizeof *c);
	ex_err r = EX_OK;
	if (!c || !(c->datasets = calloc(n ? n : 1, sizeof *c->datasets)) ||
	    !(c->paths = calloc(n ? n : 1, sizeof *c->paths))) {
		snprintf(err, errlen, "out of memory");
		r = EX_ENOMEM;
	} else {
		c->mtime = st.st_mtime;
		open_datasets(c, dir, names, n, opt);
		if (!c->n_datasets) {
			snprintf(err, errlen, "no usable .h5ad file in the directory (%zu found)", n);
			r = EX_EINVAL;
		} else if (make_documents(c, opt) || make_nodes(c)) {
			snprintf(err, errlen, "out of memory");
			r = EX_ENOMEM;
		}
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	if (r != EX_OK) {
		co_close(c);
		return r;
	}
	*out = c;
	return EX_OK;
}

void co_close(co_collection *c)
{
	if (!c)
		return;
	for (size_t k = 0; k < c->n_datasets; k++) {
		ex_close(c->datasets[k]);
		free(c->paths[k]);
	}
	free(c->datasets);
	free(c->paths);
	for (int i = 0; i < 4; i++)
		free(c->docs[i]);
	free(c->nodes);
	free(c);
}

size_t co_dataset_count(const co_collection *c) { return c->n_datasets; }
ex_export *co_dataset(const co_collection *c, size_t k) { return c->datasets[k]; }
const char *co_dataset_path(const co_collection *c, size_t k) { return c->paths[k]; }
size_t co_node_count(const co_collection *c) { return c->n_nodes; }
const co_node *co_node_at(const co_collection *c, uint32_t i) { return &c->nodes[i]; }
time_t co_mtime(const co_collection *c) { return c->mtime; }

int64_t co_lookup(const co_collection *c, uint32_t dir, const char *name)
{
	for (size_t i = 1; i < c->n_nodes; i++)
		if (c->nodes[i].parent == dir && !strcmp(c->nodes[i].name, name))
			return (int64_t)i;
	return -1;
}
