/*
 * genes_merge.c - gi_merge: the scan's segments rewritten gene by gene into
 * genes.idx (layout in genes_index.h), in runs of genes gathered from every
 * block, then swapped in under the index's lock so that readers move from
 * the segments to one contiguous read per gene. The merge yields to
 * foreground work (busy) and stops on gi_cancel. It reads only the index's
 * own segments, never the source.
 *
 *   <cache dir>/genes.idx  header, offsets, stats, CRCs, then the pairs
 */
#include "genes_index.h"
#include "io.h"

#include <errno.h>
#include <libdeflate.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* 64 MiB per merged run of genes. */
#define MERGE_PAIRS ((uint64_t)8 << 20)

static int merge_run(gi_index *g, int out, size_t g0, size_t g1, uint64_t *cursor,
		     pair *merged, pair *span)
{
	for (size_t j = g0; j < g1; j++)
		cursor[j] = g->offsets[j] - g->offsets[g0];
	for (size_t blk = 0; blk < g->n_blocks; blk++) {
		const uint64_t *off = g->block_off + blk * (g->n_genes + 1);
		const pair *from;
		int err = gi_read_span(g, blk, off[g0], off[g1] - off[g0], span, &from);
		if (err)
			return err;
		for (size_t j = g0; j < g1; j++) {
			uint64_t c = gi_block_count(g, blk, j);
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
			n += gi_block_count(g, blk, j);
		g->offsets[j + 1] = g->offsets[j] + n;
		biggest = n > biggest ? n : biggest;
	}
	uint64_t cap = biggest > MERGE_PAIRS ? biggest : MERGE_PAIRS;
	if (cap > g->offsets[g->n_genes])
		cap = g->offsets[g->n_genes];
	pair *merged = gi_alloc_big(cap * sizeof *merged);
	pair *span = gi_alloc_big(cap * sizeof *span);
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
			 .nnz = g->offsets[g->n_genes], .tables_crc = gi_tables_crc(g)};
	memcpy(h.magic, GI_MAGIC, sizeof GI_MAGIC);
	off_t at = sizeof h;
	int err = io_pwrite_all(out, g->offsets, (g->n_genes + 1) * sizeof *g->offsets, at);
	at += (off_t)((g->n_genes + 1) * sizeof *g->offsets);
	err = err ? err : io_pwrite_all(out, g->stats, g->n_genes * sizeof *g->stats, at);
	at += (off_t)(g->n_genes * sizeof *g->stats);
	err = err ? err : io_pwrite_all(out, g->crcs, g->n_genes * sizeof *g->crcs, at);
	/* The header goes last: a file with a valid header is complete. */
	return err ? err : io_pwrite_all(out, &h, sizeof h, 0);
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
		out = gi_temp_file(NULL);
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
	if (path) /* read by its path from now on (gi_load's way) */
		close(out);
	g->fd = path ? -1 : out;
	g->path = path;
	g->merged = 1;
	close(g->scratch);
	g->scratch = -1;
	gi_free_memory_blocks(g);
	pthread_rwlock_unlock(&g->mode);
	return 0;
}

void gi_cancel(gi_index *g)
{
	atomic_store(&g->cancelled, 1);
}
