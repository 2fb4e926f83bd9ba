/*
 * genes.c - see genes.h.
 *
 * File layout: blocks one after another; block b holds its (cell, value)
 * pairs grouped by gene, so gene g's pairs in block b sit at
 * block_start[b] + offset[b][g] pairs. Cells inside a gene segment keep
 * their row order, so a reader can scatter them without sorting.
 */
#include "genes.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* About 64 MiB of pairs per block: large enough that a gene needs few reads,
 * small enough to keep the build's memory modest. */
#define BLOCK_NNZ ((size_t)8 << 20)

typedef struct {
	uint32_t cell;
	float value;
} pair;

typedef struct {
	float min, max;
	size_t stored;      /* stored entries, to know whether implicit zeros exist */
	int have_finite;
} gene_stats;

struct gi_index {
	size_t n_cells, n_genes;
	gene_stats *stats;
	/* scanned matrices */
	int fd;
	size_t n_blocks;
	uint64_t *block_start;   /* n_blocks, in pairs */
	uint64_t *offsets;       /* n_blocks * (n_genes + 1), in pairs */
	/* CSC matrices, read directly */
	ad_file *direct;
	pthread_mutex_t *h5;
	/* build scratch */
	pair *scratch;
	uint64_t *cursor;
	int write_failed;
};

static int open_temp_file(void)
{
	const char *dir = getenv("TMPDIR");
	if (!dir || !*dir)
		dir = "/tmp";
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
	/* O_TMPFILE needs file-system support; a named file unlinked at once
	 * gives the same lifetime. */
	char path[4096];
	snprintf(path, sizeof path, "%s/cellucidfs-genes-XXXXXX", dir);
	fd = mkstemp(path);
	if (fd >= 0)
		unlink(path);
	return fd;
}

static void note_value(gene_stats *s, float v)
{
	s->stored++;
	if (!isfinite(v))
		return;
	if (!s->have_finite) {
		s->min = s->max = v;
		s->have_finite = 1;
	} else {
		s->min = v < s->min ? v : s->min;
		s->max = v > s->max ? v : s->max;
	}
}

static int grow_blocks(gi_index *g)
{
	size_t n = g->n_blocks + 1;
	uint64_t *start = realloc(g->block_start, n * sizeof *start);
	if (!start)
		return -1;
	g->block_start = start;
	uint64_t *off = realloc(g->offsets, n * (g->n_genes + 1) * sizeof *off);
	if (!off)
		return -1;
	g->offsets = off;
	return 0;
}

static int write_all(int fd, const void *buf, size_t len, off_t at)
{
	const char *p = buf;
	while (len) {
		ssize_t w = pwrite(fd, p, len, at);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w, len -= (size_t)w, at += w;
	}
	return 0;
}

static int read_all(int fd, void *buf, size_t len, off_t at)
{
	char *p = buf;
	while (len) {
		ssize_t r = pread(fd, p, len, at);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r, len -= (size_t)r, at += r;
	}
	return 0;
}

/* Transpose one row block into gene order and append it to the file. */
static int add_block(const ad_rowblock *b, void *ctx)
{
	gi_index *g = ctx;
	size_t nnz = (size_t)b->indptr[b->nrows];
	if (grow_blocks(g) != 0) {
		g->write_failed = ENOMEM;
		return 1;
	}
	pair *scratch = realloc(g->scratch, (nnz ? nnz : 1) * sizeof *scratch);
	if (!scratch) {
		g->write_failed = ENOMEM;
		return 1;
	}
	g->scratch = scratch;

	uint64_t *off = g->offsets + g->n_blocks * (g->n_genes + 1);
	memset(off, 0, (g->n_genes + 1) * sizeof *off);
	for (size_t k = 0; k < nnz; k++)
		off[b->indices[k] + 1]++;
	for (size_t j = 0; j < g->n_genes; j++)
		off[j + 1] += off[j];
	memcpy(g->cursor, off, g->n_genes * sizeof *off);
	for (size_t r = 0; r < b->nrows; r++) {
		uint32_t cell = (uint32_t)(b->row0 + r);
		for (int64_t k = b->indptr[r]; k < b->indptr[r + 1]; k++) {
			uint32_t gene = b->indices[k];
			float v = b->values[k];
			scratch[g->cursor[gene]++] = (pair){cell, v};
			note_value(&g->stats[gene], v);
		}
	}

	uint64_t start = g->n_blocks ? g->block_start[g->n_blocks - 1] +
				       g->offsets[(g->n_blocks - 1) * (g->n_genes + 1) + g->n_genes]
				     : 0;
	g->block_start[g->n_blocks] = start;
	if (write_all(g->fd, scratch, nnz * sizeof *scratch, (off_t)(start * sizeof(pair)))) {
		g->write_failed = errno ? errno : EIO;
		return 1;
	}
	g->n_blocks++;
	return 0;
}

static int build_scanned(gi_index *g, ad_file *f, pthread_mutex_t *h5, char *err, size_t errlen)
{
	g->fd = open_temp_file();
	g->cursor = malloc((g->n_genes + 1) * sizeof *g->cursor);
	if (g->fd < 0 || !g->cursor) {
		snprintf(err, errlen, "cannot create the gene index: %s", strerror(errno));
		return -1;
	}
	pthread_mutex_lock(h5);
	ad_err r = ad_x_scan_rows(f, BLOCK_NNZ, add_block, g);
	if (r != AD_OK)
		snprintf(err, errlen, "cannot read X: %s", ad_last_error(f));
	pthread_mutex_unlock(h5);
	free(g->scratch);
	free(g->cursor);
	g->scratch = NULL;
	g->cursor = NULL;
	if (r == AD_OK && g->write_failed)
		snprintf(err, errlen, "cannot write the gene index: %s", strerror(g->write_failed));
	return r == AD_OK && !g->write_failed ? 0 : -1;
}

static int read_direct(gi_index *g, size_t gene, float *out, char *err, size_t errlen)
{
	pthread_mutex_lock(g->h5);
	ad_err r = ad_x_read_gene(g->direct, gene, out);
	if (r != AD_OK)
		snprintf(err, errlen, "cannot read X column %zu: %s", gene, ad_last_error(g->direct));
	pthread_mutex_unlock(g->h5);
	return r == AD_OK ? 0 : -1;
}

/* CSC X is already gene-major; one read per gene gives its statistics. */
static int build_direct(gi_index *g, ad_file *f, pthread_mutex_t *h5, char *err, size_t errlen)
{
	g->direct = f;
	g->h5 = h5;
	float *col = malloc((g->n_cells ? g->n_cells : 1) * sizeof *col);
	if (!col) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t j = 0; j < g->n_genes; j++) {
		if (read_direct(g, j, col, err, errlen)) {
			free(col);
			return -1;
		}
		for (size_t i = 0; i < g->n_cells; i++)
			if (col[i] != 0.0f)
				note_value(&g->stats[j], col[i]);
	}
	free(col);
	return 0;
}

int gi_build(ad_file *f, pthread_mutex_t *h5, gi_index **out, char *err, size_t errlen)
{
	gi_index *g = calloc(1, sizeof *g);
	if (!g) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	g->fd = -1;
	pthread_mutex_lock(h5);
	g->n_cells = ad_n_obs(f);
	g->n_genes = ad_n_var(f);
	ad_x_format kind = ad_x_kind(f);
	pthread_mutex_unlock(h5);
	g->stats = calloc(g->n_genes ? g->n_genes : 1, sizeof *g->stats);
	int rc = -1;
	if (!g->stats)
		snprintf(err, errlen, "out of memory");
	else if (kind == AD_X_CSC)
		rc = build_direct(g, f, h5, err, errlen);
	else
		rc = build_scanned(g, f, h5, err, errlen);
	if (rc) {
		gi_free(g);
		return -1;
	}
	*out = g;
	return 0;
}

void gi_free(gi_index *g)
{
	if (!g)
		return;
	if (g->fd >= 0)
		close(g->fd);
	free(g->stats);
	free(g->block_start);
	free(g->offsets);
	free(g->scratch);
	free(g->cursor);
	free(g);
}

quant_range gi_range(const gi_index *g, size_t gene)
{
	gene_stats s = g->stats[gene];
	if (s.stored < g->n_cells) { /* the implicit zeros are values too */
		note_value(&s, 0.0f);
	}
	return quant_range_adjust(s.min, s.max, s.have_finite);
}

int gi_read(gi_index *g, size_t gene, float *out, char *err, size_t errlen)
{
	if (g->direct)
		return read_direct(g, gene, out, err, errlen);
	memset(out, 0, g->n_cells * sizeof *out);
	size_t most = 0;
	for (size_t b = 0; b < g->n_blocks; b++) {
		const uint64_t *off = g->offsets + b * (g->n_genes + 1);
		size_t n = (size_t)(off[gene + 1] - off[gene]);
		most = n > most ? n : most;
	}
	pair *buf = malloc((most ? most : 1) * sizeof *buf);
	if (!buf) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t b = 0; b < g->n_blocks; b++) {
		const uint64_t *off = g->offsets + b * (g->n_genes + 1);
		size_t n = (size_t)(off[gene + 1] - off[gene]);
		off_t at = (off_t)((g->block_start[b] + off[gene]) * sizeof(pair));
		if (n && read_all(g->fd, buf, n * sizeof *buf, at)) {
			snprintf(err, errlen, "cannot read the gene index: %s", strerror(errno));
			free(buf);
			return -1;
		}
		for (size_t k = 0; k < n; k++)
			out[buf[k].cell] = buf[k].value;
	}
	free(buf);
	return 0;
}
