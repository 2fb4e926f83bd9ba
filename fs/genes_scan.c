/*
 * genes_scan.c - gi_scan: X read through the source by row blocks, twice -
 * first for every gene's statistics (the ranges var_manifest.json needs),
 * then into segments: each block is copied, handed to one of two transposer
 * threads, put into gene order and added to the index in row order, in
 * memory while the budget allows, else appended to the scratch file. Genes
 * are served from the segments once the scan is done (genes.c); the merge is
 * genes_merge.c's. X is read through the source only (src_scan_x), whose
 * lock is free while a block is copied or transposed.
 *
 *   cellucidfs: gene index: scanned 40% of X in 0.4 s (250000 cells/s), about 0.6 s left
 */
#include "genes_index.h"
#include "io.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

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

void *gi_alloc_big(size_t bytes)
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
	if (!(*(void **)buf = gi_alloc_big(n * size)))
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
		c->indices = gi_alloc_big(c->nnz_cap * sizeof *c->indices);
		c->values = gi_alloc_big(c->nnz_cap * sizeof *c->values);
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
		gi_note_value(&stats[rb->indices[k]], rb->values[k]);
	report_rows(b, rb->nrows);
	return 0;
}

int gi_fits(size_t n_genes, uint64_t stored, size_t block_values, uint64_t budget, char *err,
	    size_t errlen)
{
	/* Offsets per block, and a cursor per gene for each transposer. */
	double blocks = (double)stored / (double)block_values + 2;
	double need = (blocks + TRANSPOSERS) * ((double)n_genes + 1) * sizeof(uint64_t);
	if (need <= (double)budget)
		return 0;
	snprintf(err, errlen, "X: %zu genes and %ju stored values would need %.1f GB for the gene "
		 "index's tables, more than its budget of %.1f GB (half the memory): refused",
		 n_genes, (uintmax_t)stored, need / 1e9, (double)budget / 1e9);
	return -1;
}

int gi_scan(gi_index *g, source *src, const char *dir, gi_progress_fn progress,
	    gi_stats_fn stats_ready, void *ctx, char *err, size_t errlen)
{
	uint64_t memory = (uint64_t)sysconf(_SC_PHYS_PAGES) * (uint64_t)sysconf(_SC_PAGESIZE);
	if (gi_fits(g->n_genes, src_x_stored(src), g->block_values, memory / 2, err, errlen))
		return GI_EREAD;
	builder b = {.g = g, .progress = progress, .progress_ctx = ctx};
	transposer t[TRANSPOSERS] = {{0}};
	size_t started = 0;
	pthread_mutex_init(&b.lock, NULL);
	pthread_cond_init(&b.changed, NULL);
	g->scratch = gi_temp_file(dir);
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
