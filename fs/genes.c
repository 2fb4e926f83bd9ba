/*
 * genes.c - see genes.h.
 *
 * genes.idx layout: a 64-byte header, then the tables - offsets[n_genes + 1]
 * (in pairs), stats[n_genes], crc[n_genes] (one CRC-32 per gene's pairs) -
 * then the pairs, gene after gene, cells in row order within a gene. The
 * header's CRC covers the tables.
 *
 * The scratch file written during the scan holds one segment per row block,
 * grouped by gene inside the block; the merge reads, for a run of genes, the
 * contiguous span of each block and interleaves them, so both passes are
 * sequential I/O.
 */
#include "genes.h"
#include "io.h"

#include <errno.h>
#include <fcntl.h>
#include <libdeflate.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* 2 Mi values per scanned block (16 MiB of pairs): small enough that the
 * transposition scatters within the CPU caches, large enough that a gene's
 * segments stay few before the merge. 64 MiB per merged run of genes. */
#define BLOCK_VALUES ((size_t)2 << 20)
/* Transposed blocks stay in memory up to this many bytes, and only the rest
 * goes to the scratch file: writing it and reading it back costs more than
 * the scan itself on a matrix that fits. */
#define MEMORY_BUDGET ((size_t)512 << 20)
#define MERGE_PAIRS ((uint64_t)8 << 20)

static const char MAGIC[8] = "CFSGENE1";

typedef struct {
	uint32_t cell;
	float value;
} pair;

typedef struct {
	float min, max;
	uint64_t stored;       /* stored entries: fewer than n_cells means zeros too */
	uint32_t have_finite;
	uint32_t non_finite;   /* stored NaN and ±Inf values (saturating) */
} gene_stats;

typedef struct {
	char magic[8];
	uint64_t n_cells, n_genes, nnz;
	uint32_t tables_crc;
	uint32_t unused[7];
} file_header;

struct gi_index {
	size_t n_cells, n_genes;
	size_t block_values, memory_budget; /* gi_tune */
	gene_stats *stats;
	atomic_int cancelled;   /* gi_cancel: stop merging */
	pthread_rwlock_t mode;  /* readers vs. the switch to the merged file */
	int merged;
	/* merged: genes.idx */
	int fd;
	uint64_t *offsets;
	uint32_t *crcs;
	off_t pairs_at;
	char *path;             /* removed if found damaged; NULL if temporary */
	/* direct: a CSC matrix, already gene-major, read in place */
	source *direct;
	/* segmented: the scratch file of gi_scan */
	int scratch;
	size_t n_blocks;
	uint64_t *block_start;  /* in pairs, in the scratch file */
	pair **block_mem;       /* a block kept in memory, or NULL: in the file */
	size_t mem_used;
	uint64_t *block_off;    /* n_blocks * (n_genes + 1) */
};

/* Transposing a block takes longer than reading it, so two threads do it,
 * each on a block of its own, while the scan reads the next. */
#define TRANSPOSERS 2

/* A copy of one row block, handed from the scan to a transposer. At most
 * TRANSPOSERS + 1 of them circulate (one filled while the others are
 * transposed), so their pages are touched once, not once per block. */
typedef struct block_copy {
	struct block_copy *next; /* in the list of spares */
	size_t seq;              /* the block's place in row order */
	size_t row0, nrows;
	int64_t *indptr;
	uint32_t *indices;
	float *values;
	uint64_t *counts;        /* [1 + gene]: the gene's entries in the block */
	size_t rows_cap, nnz_cap;
} block_copy;

/* The scan thread reads X for the statistics (all var_manifest.json needs),
 * then again, copying the blocks and counting each gene's entries per block;
 * the transposers put the blocks in gene order and add them to the index in
 * row order. */
typedef struct {
	gi_index *g;
	size_t rows_done;
	gi_progress_fn progress;
	void *progress_ctx;
	pthread_mutex_t lock;   /* the fields below, and adding blocks to g */
	pthread_cond_t changed;
	block_copy *pending;    /* the next block to transpose */
	block_copy *spares;     /* transposed copies, for the scan to refill */
	size_t blocks_read, blocks_added;
	int finished;
	int error;              /* errno of a failed write or allocation */
} builder;

/* A value on its way to its gene, between the two passes of a transposition. */
typedef struct {
	uint32_t gene, cell;
	float value;
} triple;

/* A transposer's own buffers. */
typedef struct {
	builder *b;
	pthread_t thread;
	pair *buf;
	size_t buf_len;
	triple *sorted;         /* the block by runs of genes (first pass) */
	size_t sorted_len;
	uint64_t *cursor;       /* [run], then [gene]: where the next one goes */
} transposer;

/* ------------------------------------------------------------- I/O */

static int temp_file(const char *dir)
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

static uint32_t tables_crc(const gi_index *g)
{
	uint32_t crc = libdeflate_crc32(0, g->offsets, (g->n_genes + 1) * sizeof *g->offsets);
	crc = libdeflate_crc32(crc, g->stats, g->n_genes * sizeof *g->stats);
	return libdeflate_crc32(crc, g->crcs, g->n_genes * sizeof *g->crcs);
}

static void free_memory_blocks(gi_index *g)
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
	free_memory_blocks(g);
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
	int ok = !io_pread_all(fd, &h, sizeof h, 0) && !memcmp(h.magic, MAGIC, sizeof MAGIC) &&
		 h.n_cells == g->n_cells && h.n_genes == g->n_genes && !fstat(fd, &st) &&
		 (uint64_t)st.st_size == (uint64_t)g->pairs_at + h.nnz * sizeof(pair);
	off_t at = sizeof h;
	ok = ok && !io_pread_all(fd, g->offsets, (g->n_genes + 1) * sizeof *g->offsets, at);
	at += (off_t)((g->n_genes + 1) * sizeof *g->offsets);
	ok = ok && !io_pread_all(fd, g->stats, g->n_genes * sizeof *g->stats, at);
	at += (off_t)(g->n_genes * sizeof *g->stats);
	ok = ok && !io_pread_all(fd, g->crcs, g->n_genes * sizeof *g->crcs, at);
	ok = ok && tables_crc(g) == h.tables_crc && g->offsets[g->n_genes] == h.nnz;
	if (!ok || !(g->path = strdup(path))) {
		close(fd);
		return -1;
	}
	g->fd = fd;
	g->merged = 1;
	return 0;
}

/* ------------------------------------------------------------ scan */

static void note_value(gene_stats *s, float v)
{
	s->stored++;
	if (!isfinite(v)) {
		s->non_finite += s->non_finite < UINT32_MAX;
		return;
	}
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
	size_t n = g->n_blocks + 1, genes = g->n_genes + 1;
	uint64_t *start = realloc(g->block_start, n * sizeof *start);
	if (start)
		g->block_start = start;
	pair **mem = start ? realloc(g->block_mem, n * sizeof *mem) : NULL;
	if (mem)
		g->block_mem = mem;
	uint64_t *off = mem ? realloc(g->block_off, n * genes * sizeof *off) : NULL;
	if (off)
		g->block_off = off;
	return off ? 0 : ENOMEM;
}

/* Add a transposed block (its offsets, its pairs in t->buf) to the index
 * once every block before it is there: in memory while the budget allows,
 * else appended to the scratch file. */
static int add_block(transposer *t, const block_copy *c)
{
	builder *b = t->b;
	gi_index *g = b->g;
	size_t genes = g->n_genes + 1, bytes = (size_t)c->counts[g->n_genes] * sizeof(pair);
	pthread_mutex_lock(&b->lock);
	while (b->blocks_added != c->seq && !b->error)
		pthread_cond_wait(&b->changed, &b->lock);
	int err = b->error ? b->error : grow_blocks(g);
	size_t k = g->n_blocks;
	/* This block starts where the previous one ended: its start plus its
	 * pair count, the last entry of its offset table. */
	uint64_t start = k ? g->block_start[k - 1] + g->block_off[k * genes - 1] : 0;
	int keep = !err && g->mem_used + bytes <= g->memory_budget;
	if (!err) {
		memcpy(g->block_off + k * genes, c->counts, genes * sizeof *c->counts);
		g->block_start[k] = start;
		g->block_mem[k] = keep ? t->buf : NULL;
		g->mem_used += keep ? bytes : 0;
		g->n_blocks++;
		b->blocks_added++;
		pthread_cond_broadcast(&b->changed);
	}
	pthread_mutex_unlock(&b->lock);
	if (keep) {
		t->buf = NULL; /* the next block gets a new buffer */
		t->buf_len = 0;
	} else if (!err) {
		err = io_pwrite_all(g->scratch, t->buf, bytes, (off_t)(start * sizeof(pair)));
	}
	return err;
}

/* Genes per run of the first pass: 2^RUN_SHIFT. */
#define RUN_SHIFT 8

/* The scan's big buffers are written all over (the transposition scatters
 * into them): on 2 MiB pages that takes a page fault per 2 MiB instead of
 * per 4 KiB, and far fewer TLB misses: on the 100k bench dataset, 9 000
 * page faults instead of 175 000, genes readable after 1.5 s instead of 2.0 s
 * (this 2-core VM's page faults are dear). Aligned, so that
 * all of the buffer can be huge pages; the madvise is only a hint. */
#define HUGE_PAGE ((size_t)2 << 20)

static void *alloc_big(size_t bytes)
{
	if (bytes < HUGE_PAGE)
		return malloc(bytes ? bytes : 1);
	size_t rounded = (bytes + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
	void *p = aligned_alloc(HUGE_PAGE, rounded);
	if (p)
		madvise(p, rounded, MADV_HUGEPAGE);
	return p;
}

/* Make *buf hold at least n items of size bytes; its contents are lost. */
static int reserve(void *buf, size_t *len, size_t n, size_t size)
{
	if (n <= *len)
		return 0;
	free(*(void **)buf);
	*len = 0;
	if (!(*(void **)buf = alloc_big(n * size)))
		return ENOMEM;
	*len = n;
	return 0;
}

/* Put one row block into gene order: its counts become offsets. Writing each
 * value straight to its gene's place keeps ~20 000 places in use at once, and
 * nearly every write missed the CPU caches. Two stable passes - to runs of
 * 2^RUN_SHIFT genes, then to the genes within each run - keep few places in
 * use at a time: a fifth less time, for a second buffer per transposer.
 * (Passes over parts of the block, to keep that buffer small, were slower:
 * each gene's place was then written in as many visits as parts.) */
static int transpose_block(transposer *t, block_copy *c)
{
	const gi_index *g = t->b->g;
	size_t nnz = (size_t)c->indptr[c->nrows], n_runs = (g->n_genes >> RUN_SHIFT) + 1;
	if (reserve(&t->buf, &t->buf_len, nnz, sizeof(pair)) ||
	    reserve(&t->sorted, &t->sorted_len, nnz, sizeof(triple)))
		return ENOMEM;
	uint64_t *off = c->counts;
	for (size_t j = 0; j < g->n_genes; j++)
		off[j + 1] += off[j];
	/* Run r holds genes [r << RUN_SHIFT, (r + 1) << RUN_SHIFT): in both
	 * passes it starts where its first gene does. */
	for (size_t r = 0; r < n_runs; r++)
		t->cursor[r] = off[r << RUN_SHIFT];
	for (size_t r = 0; r < c->nrows; r++) {
		uint32_t cell = (uint32_t)(c->row0 + r);
		for (int64_t k = c->indptr[r]; k < c->indptr[r + 1]; k++) {
			uint32_t gene = c->indices[k];
			t->sorted[t->cursor[gene >> RUN_SHIFT]++] = (triple){gene, cell, c->values[k]};
		}
	}
	memcpy(t->cursor, off, g->n_genes * sizeof *off);
	for (size_t k = 0; k < nnz; k++) {
		triple x = t->sorted[k];
		t->buf[t->cursor[x.gene]++] = (pair){x.cell, x.value};
	}
	return add_block(t, c);
}

static void free_copy(block_copy *c)
{
	if (!c)
		return;
	free(c->indptr);
	free(c->indices);
	free(c->values);
	free(c->counts);
	free(c);
}

/* Copy rb into c (a recycled copy, or NULL for a new one), counting each
 * gene's entries on the way. */
static block_copy *copy_block(block_copy *c, const ad_rowblock *rb, gi_index *g)
{
	size_t nnz = (size_t)rb->indptr[rb->nrows];
	if (!c && !(c = calloc(1, sizeof *c)))
		return NULL;
	if (!c->counts)
		c->counts = malloc((g->n_genes + 1) * sizeof *c->counts);
	if (rb->nrows + 1 > c->rows_cap) {
		free(c->indptr);
		c->rows_cap = rb->nrows + 1;
		c->indptr = malloc(c->rows_cap * sizeof *c->indptr);
	}
	if (nnz > c->nnz_cap || !c->indices) {
		free(c->indices);
		free(c->values);
		c->nnz_cap = nnz ? nnz : 1;
		c->indices = alloc_big(c->nnz_cap * sizeof *c->indices);
		c->values = alloc_big(c->nnz_cap * sizeof *c->values);
	}
	if (!c->indptr || !c->indices || !c->values || !c->counts) {
		free_copy(c);
		return NULL;
	}
	c->row0 = rb->row0;
	c->nrows = rb->nrows;
	memcpy(c->indptr, rb->indptr, (rb->nrows + 1) * sizeof *c->indptr);
	memset(c->counts, 0, (g->n_genes + 1) * sizeof *c->counts);
	for (size_t k = 0; k < nnz; k++) {
		uint32_t gene = rb->indices[k];
		c->counts[gene + 1]++;
		c->indices[k] = gene;
		c->values[k] = rb->values[k];
	}
	return c;
}

static void *transpose_blocks(void *arg)
{
	transposer *t = arg;
	builder *b = t->b;
	for (;;) {
		pthread_mutex_lock(&b->lock);
		while (!b->pending && !b->finished)
			pthread_cond_wait(&b->changed, &b->lock);
		block_copy *c = b->pending;
		int failed = b->error;
		b->pending = NULL;
		pthread_cond_broadcast(&b->changed);
		pthread_mutex_unlock(&b->lock);
		if (!c)
			return NULL;
		int err = failed ? 0 : transpose_block(t, c);
		pthread_mutex_lock(&b->lock);
		c->next = b->spares;
		b->spares = c;
		if (err && !b->error)
			b->error = err;
		pthread_cond_broadcast(&b->changed);
		pthread_mutex_unlock(&b->lock);
	}
}

/* Progress of the pass that gathers the statistics. */
static void report_rows(builder *b, size_t rows)
{
	b->rows_done += rows;
	if (b->progress && b->g->n_cells)
		b->progress(b->progress_ctx, (double)b->rows_done / (double)b->g->n_cells);
}

/* Queue a copy of the block for a transposer (the source is not locked
 * meanwhile). */
static int on_block(const ad_rowblock *rb, void *ctx)
{
	builder *b = ctx;
	gi_index *g = b->g;
	pthread_mutex_lock(&b->lock);
	block_copy *c = b->spares;
	if (c)
		b->spares = c->next;
	pthread_mutex_unlock(&b->lock);
	c = copy_block(c, rb, g);
	pthread_mutex_lock(&b->lock);
	while (b->pending && !b->error)
		pthread_cond_wait(&b->changed, &b->lock);
	if (c && !b->error) {
		c->seq = b->blocks_read++;
		b->pending = c;
		c = NULL;
		pthread_cond_broadcast(&b->changed);
	} else if (!b->error) {
		b->error = ENOMEM;
	}
	int stop = b->error != 0;
	pthread_mutex_unlock(&b->lock);
	free_copy(c);
	report_rows(b, rb->nrows);
	return stop;
}

/* The first of two passes: the statistics only. */
static int keep_ranges(const ad_rowblock *rb, void *ctx)
{
	builder *b = ctx;
	gene_stats *stats = b->g->stats;
	size_t nnz = (size_t)rb->indptr[rb->nrows];
	for (size_t k = 0; k < nnz; k++)
		note_value(&stats[rb->indices[k]], rb->values[k]);
	report_rows(b, rb->nrows);
	return 0;
}

/* ----------------------------------------------------------- merge */

static uint64_t block_count(const gi_index *g, size_t blk, size_t gene)
{
	const uint64_t *off = g->block_off + blk * (g->n_genes + 1);
	return off[gene + 1] - off[gene];
}

/* n pairs of block blk from pair first on: in place when the block is in
 * memory, else read into buf. */
static int read_span(const gi_index *g, size_t blk, uint64_t first, uint64_t n, pair *buf,
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

static int merge_run(gi_index *g, int out, size_t g0, size_t g1, uint64_t *cursor,
		     pair *merged, pair *span)
{
	for (size_t j = g0; j < g1; j++)
		cursor[j] = g->offsets[j] - g->offsets[g0];
	for (size_t blk = 0; blk < g->n_blocks; blk++) {
		const uint64_t *off = g->block_off + blk * (g->n_genes + 1);
		const pair *from;
		int err = read_span(g, blk, off[g0], off[g1] - off[g0], span, &from);
		if (err)
			return err;
		for (size_t j = g0; j < g1; j++) {
			uint64_t c = block_count(g, blk, j);
			memcpy(merged + cursor[j], from + (off[j] - off[g0]), c * sizeof(pair));
			cursor[j] += c;
		}
	}
	for (size_t j = g0; j < g1; j++)
		g->crcs[j] = libdeflate_crc32(0, merged + (g->offsets[j] - g->offsets[g0]),
					      (g->offsets[j + 1] - g->offsets[j]) * sizeof(pair));
	uint64_t n = g->offsets[g1] - g->offsets[g0];
	return io_pwrite_all(out, merged, n * sizeof(pair),
			  g->pairs_at + (off_t)(g->offsets[g0] * sizeof(pair)));
}

/* Runs of consecutive genes of at most MERGE_PAIRS pairs (or one bigger
 * gene) are gathered from every block and written in one piece. */
static int merge_all(gi_index *g, int out, int (*busy)(void *ctx), void *ctx)
{
	uint64_t biggest = 0;
	for (size_t j = 0; j < g->n_genes; j++) {
		uint64_t n = 0;
		for (size_t blk = 0; blk < g->n_blocks; blk++)
			n += block_count(g, blk, j);
		g->offsets[j + 1] = g->offsets[j] + n;
		biggest = n > biggest ? n : biggest;
	}
	uint64_t cap = biggest > MERGE_PAIRS ? biggest : MERGE_PAIRS;
	if (cap > g->offsets[g->n_genes])
		cap = g->offsets[g->n_genes];
	pair *merged = alloc_big(cap * sizeof *merged);
	pair *span = alloc_big(cap * sizeof *span);
	uint64_t *cursor = malloc((g->n_genes + 1) * sizeof *cursor);
	int err = merged && span && cursor ? 0 : ENOMEM;
	for (size_t g0 = 0, g1; g0 < g->n_genes && !err; g0 = g1) {
		g1 = g0 + 1;
		while (g1 < g->n_genes && g->offsets[g1 + 1] - g->offsets[g0] <= cap)
			g1++;
		/* Segments serve genes fine meanwhile: yield to foreground work. */
		while (busy && busy(ctx) && !atomic_load(&g->cancelled))
			nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);
		err = atomic_load(&g->cancelled) ? ECANCELED
						 : merge_run(g, out, g0, g1, cursor, merged, span);
	}
	free(merged);
	free(span);
	free(cursor);
	return err;
}

static int write_tables(gi_index *g, int out)
{
	file_header h = {.n_cells = g->n_cells, .n_genes = g->n_genes,
			 .nnz = g->offsets[g->n_genes], .tables_crc = tables_crc(g)};
	memcpy(h.magic, MAGIC, sizeof MAGIC);
	off_t at = sizeof h;
	int err = io_pwrite_all(out, g->offsets, (g->n_genes + 1) * sizeof *g->offsets, at);
	at += (off_t)((g->n_genes + 1) * sizeof *g->offsets);
	err = err ? err : io_pwrite_all(out, g->stats, g->n_genes * sizeof *g->stats, at);
	at += (off_t)(g->n_genes * sizeof *g->stats);
	err = err ? err : io_pwrite_all(out, g->crcs, g->n_genes * sizeof *g->crcs, at);
	/* The header goes last: a file with a valid header is complete. */
	return err ? err : io_pwrite_all(out, &h, sizeof h, 0);
}

int gi_scan(gi_index *g, source *src, const char *dir, gi_progress_fn progress,
	    gi_stats_fn stats_ready, void *ctx, char *err, size_t errlen)
{
	builder b = {.g = g, .progress = progress, .progress_ctx = ctx};
	transposer t[TRANSPOSERS] = {{0}};
	size_t started = 0;
	pthread_mutex_init(&b.lock, NULL);
	pthread_cond_init(&b.changed, NULL);
	g->scratch = temp_file(dir);
	int rc = GI_EWRITE, no_memory = 0;
	for (size_t k = 0; k < TRANSPOSERS; k++) {
		t[k].b = &b;
		no_memory |= !(t[k].cursor = malloc((g->n_genes + 1) * sizeof *t[k].cursor));
	}
	if (g->scratch < 0 || no_memory) {
		snprintf(err, errlen, "cannot create the gene index: %s",
			 no_memory ? "out of memory" : strerror(errno));
		goto out;
	}
	while (started < TRANSPOSERS &&
	       !pthread_create(&t[started].thread, NULL, transpose_blocks, &t[started]))
		started++;
	if (!started) {
		snprintf(err, errlen, "cannot start a thread");
		goto out;
	}
	char why[512];
	ex_err r = src_scan_x(src, g->block_values, keep_ranges, &b, why, sizeof why);
	b.progress = NULL;
	if (r == EX_OK && stats_ready)
		stats_ready(ctx, g);
	if (r == EX_OK)
		r = src_scan_x(src, g->block_values, on_block, &b, why, sizeof why);
	if (r != EX_OK)
		snprintf(err, errlen, "cannot read X: %s", why);
	pthread_mutex_lock(&b.lock);
	b.finished = 1;
	pthread_cond_broadcast(&b.changed);
	pthread_mutex_unlock(&b.lock);
	for (size_t k = 0; k < started; k++)
		pthread_join(t[k].thread, NULL);
	if (r != EX_OK)
		rc = GI_EREAD;
	else if (b.error)
		snprintf(err, errlen, "cannot write the gene index: %s", strerror(b.error));
	else
		rc = 0;
out:
	free_copy(b.pending);
	while (b.spares) {
		block_copy *next = b.spares->next;
		free_copy(b.spares);
		b.spares = next;
	}
	for (size_t k = 0; k < TRANSPOSERS; k++) {
		free(t[k].buf);
		free(t[k].sorted);
		free(t[k].cursor);
	}
	pthread_mutex_destroy(&b.lock);
	pthread_cond_destroy(&b.changed);
	if (rc && g->scratch >= 0) {
		close(g->scratch);
		g->scratch = -1;
	}
	return rc;
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
				note_value(&g->stats[j], col[i]);
		if (progress && (j & 255) == 0)
			progress(ctx, (double)j / (double)g->n_genes);
	}
	free(col);
	if (stats_ready)
		stats_ready(ctx, g);
	return 0;
}

int gi_merge(gi_index *g, const char *dir, int (*busy)(void *ctx), void *ctx, char *err,
	     size_t errlen)
{
	char tmp[PATH_MAX] = "", *path = NULL;
	int out, e;
	if (dir) {
		snprintf(tmp, sizeof tmp, "%s/tmp-genes-XXXXXX", dir);
		out = mkstemp(tmp);
	} else {
		out = temp_file(NULL);
	}
	if (out < 0)
		e = errno;
	else if (!(e = merge_all(g, out, busy, ctx)) && !(e = write_tables(g, out)) && dir &&
		 asprintf(&path, "%s/genes.idx", dir) < 0)
		e = ENOMEM, path = NULL;
	if (!e && path && rename(tmp, path))
		e = errno;
	if (e) {
		snprintf(err, errlen, "cannot write the gene index: %s", strerror(e));
		if (out >= 0)
			close(out);
		if (*tmp)
			unlink(tmp);
		free(path);
		return GI_EWRITE;
	}
	pthread_rwlock_wrlock(&g->mode);
	g->fd = out;
	g->path = path;
	g->merged = 1;
	close(g->scratch);
	g->scratch = -1;
	free_memory_blocks(g);
	pthread_rwlock_unlock(&g->mode);
	return 0;
}

void gi_cancel(gi_index *g)
{
	atomic_store(&g->cancelled, 1);
}

quant_range gi_range(const gi_index *g, size_t gene, quant_rule rule)
{
	gene_stats s = g->stats[gene];
	if (s.stored < g->n_cells) /* the implicit zeros are values too */
		note_value(&s, 0.0f);
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
	int e = io_pread_all(g->fd, buf, n * sizeof *buf,
			  g->pairs_at + (off_t)(g->offsets[gene] * sizeof(pair)));
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
		uint64_t n = block_count(g, blk, gene);
		most = n > most ? n : most;
	}
	pair *buf = malloc((most ? most : 1) * sizeof *buf);
	if (!buf) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t blk = 0; blk < g->n_blocks; blk++) {
		const uint64_t *off = g->block_off + blk * (g->n_genes + 1);
		uint64_t n = block_count(g, blk, gene);
		const pair *from;
		int e = read_span(g, blk, off[gene], n, buf, &from);
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
