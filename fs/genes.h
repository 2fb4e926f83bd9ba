/*
 * genes.h - a gene-major copy of the expression matrix, so that one gene's
 * values for every cell come from one contiguous read instead of a pass over
 * all of X.
 *
 * gi_scan reads X by row blocks (src_scan_x, any storage: CSR, dense, CSC)
 * twice: first for each gene's min and max, which var_manifest.json
 * needs, so that file can be served after one read of X; then each block is
 * transposed to gene order by one of two threads and kept in memory, or
 * appended to a scratch file once a memory budget is spent. gi_merge then
 * rewrites every gene's (cell, value) pairs contiguously into the index
 * file, while genes are already served from the segments.
 * Memory stays bounded by the budget whatever the matrix size, and the
 * source's lock is released while a block is transposed, so other files are
 * served during the scan.
 *
 * CSC matrices are gene-major already: gi_direct reads them in place.
 *
 * The index file ("genes.idx") lives in the persistent cache directory when
 * there is one, and is reused by a later mount; its tables carry a CRC-32 and
 * each gene's pairs another, so a damaged file is detected and rebuilt.
 * Without a cache directory it is an unlinked file in $TMPDIR.
 */
#ifndef GENES_H
#define GENES_H

#include <stddef.h>
#include "quant.h"
#include "source.h"

typedef struct gi_index gi_index;

/* Progress of a build: called with the share of the work done, 0..1. */
typedef void (*gi_progress_fn)(void *ctx, double fraction);

enum { GI_EREAD = 1, GI_EWRITE = 2 };

gi_index *gi_new(size_t n_cells, size_t n_genes); /* NULL: out of memory */
void gi_free(gi_index *g);

/* Values per scanned block (default 2 Mi) and bytes of transposed blocks
 * kept in memory (default 512 MiB) before gi_scan: small ones let tests
 * cover many blocks and the scratch file with a small matrix. */
void gi_tune(gi_index *g, size_t block_values, size_t memory_budget);

/* Whether a scan of X (stored values, in blocks of block_values) fits the
 * budget: each block keeps an offset per gene until the merge, so a
 * shape claiming millions of genes and many blocks would take all memory.
 * The scan asks first, with half the machine's memory as the budget; 0, or
 * -1 with the numbers in err. */
int gi_fits(size_t n_genes, uint64_t stored, size_t block_values, uint64_t budget, char *err,
	    size_t errlen);

/* Reuse dir/genes.idx when it is complete and belongs to this matrix: 0, or
 * -1 when it must be built. */
int gi_load(gi_index *g, const char *dir);

/* Called once every gene's range is known (gi_range may be used from then
 * on), while the scan goes on with the segments. */
typedef void (*gi_stats_fn)(void *ctx, const gi_index *g);

/* Read X for the ranges (stats_ready is called then), then again into
 * segments, one per row block, in memory or in a scratch file in dir (NULL:
 * $TMPDIR). Afterwards genes can be read (from the segments). The source is
 * read with its lock held, the transposition runs without, in other threads. The
 * first read is worth its cost: the ranges do not wait for the
 * transposition (on the 100k bench dataset, viewer-ready after 1.0-1.1 s
 * instead of 1.5-2.3 s, for 0.15 s more of a cold cp -r), nor, when most
 * segments go to the scratch file, for the disk. Returns 0, GI_EREAD (X
 * cannot be read) or GI_EWRITE (the scratch file cannot be written) with a
 * reason in err. */
int gi_scan(gi_index *g, source *src, const char *dir, gi_progress_fn progress,
	    gi_stats_fn stats_ready, void *ctx, char *err, size_t errlen);

/* A CSC matrix is gene-major already: no copy, every gene is read in place
 * from the source; this reads each column once for the ranges. Returns like
 * gi_scan; no merge follows. */
int gi_direct(gi_index *g, source *src, gi_progress_fn progress, gi_stats_fn stats_ready,
	      void *ctx, char *err, size_t errlen);

/* Rewrite the segments gene by gene into dir/genes.idx (dir NULL: an unlinked
 * temporary file), then serve reads from it with one contiguous read per
 * gene. Readers keep working during the merge, which waits while busy(ctx)
 * says other work wants the CPU. On failure (GI_EWRITE, with a reason) reads
 * keep using the segments. */
int gi_merge(gi_index *g, const char *dir, int (*busy)(void *ctx), void *ctx, char *err,
	     size_t errlen);

/* Make a merge in progress stop soon (GI_EWRITE "Operation canceled"):
 * the mount is going away. Safe from any thread. */
void gi_cancel(gi_index *g);

/* Quantisation range of gene g (its implicit zeros included); valid after a
 * successful gi_load or gi_scan. */
quant_range gi_range(const gi_index *g, size_t gene, quant_rule rule);
/* How many of gene g's cells hold NaN or ±Inf (at most UINT32_MAX); valid
 * from the same point on. */
uint32_t gi_non_finite(const gi_index *g, size_t gene);

/* Values of one gene for every cell. Thread-safe. 0, or -1 with err set. */
int gi_read(gi_index *g, size_t gene, float *out, char *err, size_t errlen);

/* The same quantised to bits (8 or 16) over range, exactly as quant_encode
 * of gi_read's column, into n_cells codes at out. */
int gi_read_codes(gi_index *g, size_t gene, int bits, quant_range range, void *out, char *err,
		  size_t errlen);

#endif
