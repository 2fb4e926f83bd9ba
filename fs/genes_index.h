/*
 * genes_index.h - the inside of a gi_index, shared by the gene index's three
 * files and nothing else (the engine sees genes.h):
 *
 *   genes.c        the object, genes.idx loaded, CSC read in place, genes served
 *   genes_scan.c   X read by row blocks and transposed into segments
 *   genes_merge.c  the segments rewritten gene by gene into genes.idx
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
#ifndef GENES_INDEX_H
#define GENES_INDEX_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#include "genes.h"

static const char GI_MAGIC[8] = "CFSGENE1";

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

/* An unlinked file in dir (NULL: $TMPDIR), or -1. */
int gi_temp_file(const char *dir);
/* The CRC-32 of the tables, as the header keeps it. */
uint32_t gi_tables_crc(const gi_index *g);
/* Drop the segments kept in memory (once merged, or at the end). */
void gi_free_memory_blocks(gi_index *g);
/* Count one stored value into a gene's statistics. */
void gi_note_value(gene_stats *s, float v);
/* A buffer the transposition or the merge scatters into (huge pages). */
void *gi_alloc_big(size_t bytes);
/* Stored entries of gene in scanned block blk. */
uint64_t gi_block_count(const gi_index *g, size_t blk, size_t gene);
/* n pairs of block blk from pair first on: in place when the block is in
 * memory (*out points there), else read into buf. 0 or an errno. */
int gi_read_span(const gi_index *g, size_t blk, uint64_t first, uint64_t n, pair *buf,
		 const pair **out);

#endif
