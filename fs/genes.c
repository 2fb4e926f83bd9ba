/*
 * genes.c - the gene index as an object (see genes.h): made, tuned, freed;
 * genes.idx of an earlier mount loaded and checked; a CSC matrix read in
 * place; and every gene served, from the merged file, from the scan's
 * segments before that, or from the source directly. Building the index is
 * genes_scan.c's and genes_merge.c's; the file layout is in genes_index.h.
 *
 *   gi_read_codes(g, 17, 8, range, out, err, len)  gene 17's u8 codes, n_cells of them
 */
#include "genes_index.h"
#include "io.h"

#include <errno.h>
#include <fcntl.h>
#include <libdeflate.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* 2 Mi values per scanned block (16 MiB of pairs): small enough that the
 * transposition scatters within the CPU caches, large enough that a gene's
 * segments stay few before the merge. */
#define BLOCK_VALUES ((size_t)2 << 20)
/* Transposed blocks stay in memory up to this many bytes, and only the rest
 * goes to the scratch file: writing it and reading it back costs more than
 * the scan itself on a matrix that fits. */
#define MEMORY_BUDGET ((size_t)512 << 20)

/* ------------------------------------------------------------- I/O */

int gi_temp_file(const char *dir)
{
	if (!dir) {
		dir = getenv("TMPDIR");
		if (!dir || !*dir)
			dir = "/tmp";
	}
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
	/* O_TMPFILE needs file-system support; a named file unlinked at once
	 * has the same lifetime. */
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/tmp-genes-XXXXXX", dir);
	fd = mkstemp(path);
	if (fd >= 0)
		unlink(path);
	return fd;
}

static size_t tables_bytes(size_t n_genes)
{
	return (n_genes + 1) * sizeof(uint64_t) + n_genes * (sizeof(gene_stats) + sizeof(uint32_t));
}

uint32_t gi_tables_crc(const gi_index *g)
{
	uint32_t crc = libdeflate_crc32(0, g->offsets, (g->n_genes + 1) * sizeof *g->offsets);
	crc = libdeflate_crc32(crc, g->stats, g->n_genes * sizeof *g->stats);
	return libdeflate_crc32(crc, g->crcs, g->n_genes * sizeof *g->crcs);
}

void gi_free_memory_blocks(gi_index *g)
{
	for (size_t b = 0; g->block_mem && b < g->n_blocks; b++) {
		free(g->block_mem[b]);
		g->block_mem[b] = NULL;
	}
	g->mem_used = 0;
}

gi_index *gi_new(size_t n_cells, size_t n_genes)
{
	gi_index *g = calloc(1, sizeof *g);
	if (!g)
		return NULL;
	g->n_cells = n_cells;
	g->n_genes = n_genes;
	g->block_values = BLOCK_VALUES;
	g->memory_budget = MEMORY_BUDGET;
	g->fd = g->scratch = -1;
	g->offsets = calloc(n_genes + 1, sizeof *g->offsets);
	g->stats = calloc(n_genes ? n_genes : 1, sizeof *g->stats);
	g->crcs = calloc(n_genes ? n_genes : 1, sizeof *g->crcs);
	g->pairs_at = (off_t)(sizeof(file_header) + tables_bytes(n_genes));
	pthread_rwlock_init(&g->mode, NULL);
	if (!g->offsets || !g->stats || !g->crcs) {
		gi_free(g);
		return NULL;
	}
	return g;
}

void gi_tune(gi_index *g, size_t block_values, size_t memory_budget)
{
	g->block_values = block_values;
	g->memory_budget = memory_budget;
}

void gi_free(gi_index *g)
{
	if (!g)
		return;
	if (g->fd >= 0)
		close(g->fd);
	if (g->scratch >= 0)
		close(g->scratch);
	pthread_rwlock_destroy(&g->mode);
	free(g->offsets);
	free(g->stats);
	free(g->crcs);
	free(g->path);
	gi_free_memory_blocks(g);
	free(g->block_start);
	free(g->block_mem);
	free(g->block_off);
	free(g);
}

/* --------------------------------------------------------- loading */

int gi_load(gi_index *g, const char *dir)
{
	char path[PATH_MAX];
	if (!dir)
		return -1;
	snprintf(path, sizeof path, "%s/genes.idx", dir);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	file_header h;
	struct stat st;
	int ok = !io_pread_all(fd, &h, sizeof h, 0) && !memcmp(h.magic, GI_MAGIC, sizeof GI_MAGIC) &&
		 h.n_cells == g->n_cells && h.n_genes == g->n_genes && !fstat(fd, &st) &&
		 (uint64_t)st.st_size == (uint64_t)g->pairs_at + h.nnz * sizeof(pair);
	off_t at = sizeof h;
	ok = ok && !io_pread_all(fd, g->offsets, (g->n_genes + 1) * sizeof *g->offsets, at);
	at += (off_t)((g->n_genes + 1) * sizeof *g->offsets);
	ok = ok && !io_pread_all(fd, g->stats, g->n_genes * sizeof *g->stats, at);
	at += (off_t)(g->n_genes * sizeof *g->stats);
	ok = ok && !io_pread_all(fd, g->crcs, g->n_genes * sizeof *g->crcs, at);
	ok = ok && gi_tables_crc(g) == h.tables_crc && g->offsets[g->n_genes] == h.nnz;
	close(fd); /* opened again by each read: a directory of 1 000 datasets holds none */
	if (!ok || !(g->path = strdup(path)))
		return -1;
	g->merged = 1;
	return 0;
}

int gi_direct(gi_index *g, source *src, gi_progress_fn progress, gi_stats_fn stats_ready,
	      void *ctx, char *err, size_t errlen)
{
	float *col = malloc((g->n_cells ? g->n_cells : 1) * sizeof *col);
	if (!col) {
		snprintf(err, errlen, "out of memory");
		return GI_EWRITE;
	}
	g->direct = src;
	for (size_t j = 0; j < g->n_genes; j++) {
		if (gi_read(g, j, col, err, errlen)) {
			free(col);
			return GI_EREAD;
		}
		for (size_t i = 0; i < g->n_cells; i++)
			if (col[i] != 0.0f)
				gi_note_value(&g->stats[j], col[i]);
		if (progress && (j & 255) == 0)
			progress(ctx, (double)j / (double)g->n_genes);
	}
	free(col);
	if (stats_ready)
		stats_ready(ctx, g);
	return 0;
}

/* ----------------------------------------------------------- reads */

uint64_t gi_block_count(const gi_index *g, size_t blk, size_t gene)
{
	const uint64_t *off = g->block_off + blk * (g->n_genes + 1);
	return off[gene + 1] - off[gene];
}

int gi_read_span(const gi_index *g, size_t blk, uint64_t first, uint64_t n, pair *buf,
		 const pair **out)
{
	if (g->block_mem[blk]) {
		*out = g->block_mem[blk] + first;
		return 0;
	}
	*out = buf;
	off_t at = (off_t)((g->block_start[blk] + first) * sizeof(pair));
	return n ? io_pread_all(g->scratch, buf, n * sizeof(pair), at) : 0;
}

quant_range gi_range(const gi_index *g, size_t gene, quant_rule rule)
{
	gene_stats s = g->stats[gene];
	if (s.stored < g->n_cells) /* the implicit zeros are values too */
		gi_note_value(&s, 0.0f);
	return quant_range_adjust(s.min, s.max, (int)s.have_finite, rule);
}

uint32_t gi_non_finite(const gi_index *g, size_t gene)
{
	return g->stats[gene].non_finite;
}

/* Where a gene's stored (cell, value) pairs go: a dense float32 column, or
 * straight into quantised codes (cells not stored hold zero's code), which
 * spares a full-length float array and its pass per gene. */
typedef struct {
	size_t n_cells;
	int bits;            /* 0: values, 8 or 16: codes */
	quant_range range;
	void *out;
} sink;

static void scatter(const sink *s, const pair *p, uint64_t n)
{
	if (!s->bits) {
		float *out = s->out;
		for (uint64_t k = 0; k < n; k++)
			if (p[k].cell < s->n_cells)
				out[p[k].cell] = p[k].value;
		return;
	}
	enum { CHUNK = 512 };
	float v[CHUNK];
	uint16_t codes[CHUNK];
	for (uint64_t k = 0; k < n; k += CHUNK) {
		size_t m = n - k < CHUNK ? (size_t)(n - k) : CHUNK;
		for (size_t j = 0; j < m; j++)
			v[j] = p[k + j].value;
		if (s->bits == 8)
			quant_encode_u8(v, m, s->range, (uint8_t *)codes);
		else
			quant_encode_u16(v, m, s->range, codes);
		for (size_t j = 0; j < m; j++) {
			uint32_t cell = p[k + j].cell;
			if (cell >= s->n_cells)
				continue;
			if (s->bits == 8)
				((uint8_t *)s->out)[cell] = ((uint8_t *)codes)[j];
			else
				((uint16_t *)s->out)[cell] = codes[j];
		}
	}
}

/* One contiguous read, checked against the gene's CRC. */
static int read_merged(gi_index *g, size_t gene, const sink *out, char *err, size_t errlen)
{
	uint64_t n = g->offsets[gene + 1] - g->offsets[gene];
	pair *buf = malloc((n ? n : 1) * sizeof *buf);
	if (!buf) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	int fd = g->fd >= 0 ? g->fd : open(g->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) { /* out of descriptors, say: not damage */
		snprintf(err, errlen, "cannot open the gene index: %s", strerror(errno));
		free(buf);
		return -1;
	}
	int e = io_pread_all(fd, buf, n * sizeof *buf,
			     g->pairs_at + (off_t)(g->offsets[gene] * sizeof(pair)));
	if (fd != g->fd)
		close(fd);
	if (e || libdeflate_crc32(0, buf, n * sizeof *buf) != g->crcs[gene]) {
		snprintf(err, errlen, "the gene index is damaged (%s); it is rebuilt at the next mount",
			 e ? strerror(e) : "checksum mismatch");
		if (g->path)
			unlink(g->path);
		free(buf);
		return -1;
	}
	scatter(out, buf, n);
	free(buf);
	return 0;
}

/* One read per scanned block, before the merge is done. */
static int read_segments(gi_index *g, size_t gene, const sink *out, char *err, size_t errlen)
{
	uint64_t most = 0;
	for (size_t blk = 0; blk < g->n_blocks; blk++) {
		uint64_t n = gi_block_count(g, blk, gene);
		most = n > most ? n : most;
	}
	pair *buf = malloc((most ? most : 1) * sizeof *buf);
	if (!buf) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t blk = 0; blk < g->n_blocks; blk++) {
		const uint64_t *off = g->block_off + blk * (g->n_genes + 1);
		uint64_t n = gi_block_count(g, blk, gene);
		const pair *from;
		int e = gi_read_span(g, blk, off[gene], n, buf, &from);
		if (e) {
			snprintf(err, errlen, "cannot read the gene scratch file: %s", strerror(e));
			free(buf);
			return -1;
		}
		scatter(out, from, n);
	}
	free(buf);
	return 0;
}

static int read_direct(gi_index *g, size_t gene, float *out, char *err, size_t errlen)
{
	char why[512];
	if (src_read_x_column(g->direct, gene, out, why, sizeof why) == EX_OK)
		return 0;
	snprintf(err, errlen, "cannot read X column %zu: %s", gene, why);
	return -1;
}

static int read_pairs(gi_index *g, size_t gene, const sink *out, char *err, size_t errlen)
{
	pthread_rwlock_rdlock(&g->mode);
	int r = g->merged ? read_merged(g, gene, out, err, errlen)
			  : read_segments(g, gene, out, err, errlen);
	pthread_rwlock_unlock(&g->mode);
	return r;
}

int gi_read(gi_index *g, size_t gene, float *out, char *err, size_t errlen)
{
	if (g->direct)
		return read_direct(g, gene, out, err, errlen);
	memset(out, 0, g->n_cells * sizeof *out);
	sink s = {g->n_cells, 0, {0, 1, QUANT_TRUNC32}, out};
	return read_pairs(g, gene, &s, err, errlen);
}

int gi_read_codes(gi_index *g, size_t gene, int bits, quant_range range, void *out, char *err,
		  size_t errlen)
{
	const float zero = 0.0f;
	if (g->direct) {
		float *col = malloc((g->n_cells ? g->n_cells : 1) * sizeof *col);
		int r = col ? read_direct(g, gene, col, err, errlen) : -1;
		if (!col)
			snprintf(err, errlen, "out of memory");
		else if (!r && bits == 8)
			quant_encode_u8(col, g->n_cells, range, out);
		else if (!r)
			quant_encode_u16(col, g->n_cells, range, out);
		free(col);
		return r;
	}
	if (bits == 8) {
		uint8_t code;
		quant_encode_u8(&zero, 1, range, &code);
		memset(out, code, g->n_cells);
	} else {
		uint16_t code, *o = out;
		quant_encode_u16(&zero, 1, range, &code);
		for (size_t i = 0; i < g->n_cells; i++)
			o[i] = code;
	}
	sink s = {g->n_cells, bits, range, out};
	return read_pairs(g, gene, &s, err, errlen);
}
