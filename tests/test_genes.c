/*
 * test_genes.c - the gene index (fs/genes.c), scanning X through a source
 * (fs/source.c), against the reader's own column reads (ad_x_read_gene), on
 * a CSR matrix written by build/gen-h5ad.
 *
 * Small blocks and memory budgets make the scan cut the matrix into dozens of
 * blocks, transposed out of order by its two threads, kept in memory, in the
 * scratch file or both; every gene must come back bit for bit from the
 * segments, from the merged genes.idx and from a reload of that file, with
 * the ranges and 8-/16-bit codes quant_* gives for the reference column.
 *
 *   $ build/tests/test_genes
 *   ok gene index: 4000 x 300 matrix written by gen-h5ad
 *   ok default blocks, in memory: every gene's values equal the reference
 *   ...
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ad.h"
#include "check.h"
#include "genes.h"
#include "quant.h"
#include "source.h"

enum { CELLS = 4000, GENES = 300, PER_CELL = 40 };

static float *reference; /* GENES columns of CELLS values */
static int stats_calls;

static int same_bits(float a, float b)
{
	return memcmp(&a, &b, sizeof a) == 0;
}

static void count_stats(void *ctx, const gi_index *g)
{
	(void)ctx;
	(void)g;
	stats_calls++;
}

/* Every gene through gi_read, gi_range and gi_read_codes against the
 * reference column; one check line per property. */
static void check_genes(gi_index *g, const char *what)
{
	float *col = malloc(CELLS * sizeof *col);
	uint8_t *codes8 = malloc(CELLS), *want8 = malloc(CELLS);
	uint16_t *codes16 = malloc(CELLS * sizeof *codes16), *want16 = malloc(CELLS * sizeof *want16);
	size_t bad_values = 0, bad_ranges = 0, bad_codes = 0, failed = 0;
	char err[256];
	for (size_t j = 0; j < GENES; j++) {
		const float *ref = reference + j * CELLS;
		quant_range want = quant_find_range(ref, CELLS, QUANT_TRUNC32),
			    got = gi_range(g, j, QUANT_TRUNC32);
		bad_ranges += !same_bits(want.min, got.min) || !same_bits(want.max, got.max);
		quant_encode_u8(ref, CELLS, want, want8);
		quant_encode_u16(ref, CELLS, want, want16);
		if (gi_read(g, j, col, err, sizeof err) ||
		    gi_read_codes(g, j, 8, want, codes8, err, sizeof err) ||
		    gi_read_codes(g, j, 16, want, codes16, err, sizeof err)) {
			failed++;
			continue;
		}
		for (size_t i = 0; i < CELLS; i++)
			bad_values += !same_bits(col[i], ref[i]);
		bad_codes += memcmp(codes8, want8, CELLS) != 0;
		bad_codes += memcmp(codes16, want16, CELLS * sizeof *codes16) != 0;
	}
	CHECK(failed == 0, "%s: every gene reads (%zu failed, last: %s)", what, failed,
	      failed ? err : "-");
	CHECK(bad_values == 0, "%s: every gene's values equal the reference (%zu differ)", what,
	      bad_values);
	CHECK(bad_ranges == 0, "%s: every gene's range equals quant_find_range (%zu differ)", what,
	      bad_ranges);
	CHECK(bad_codes == 0, "%s: 8- and 16-bit codes equal quant_encode (%zu genes differ)", what,
	      bad_codes);
	free(col);
	free(codes8);
	free(want8);
	free(codes16);
	free(want16);
}

/* Scan with the given block size and memory budget, check, merge into dir,
 * check, reload from dir, check. */
static void scan_merge_load(source *src, const char *dir, size_t block_values,
			    size_t memory_budget, const char *label)
{
	char what[160], err[256] = "";
	gi_index *g = gi_new(CELLS, GENES);
	if (!g) {
		CHECK(0, "%s: gi_new", label);
		return;
	}
	gi_tune(g, block_values, memory_budget);
	stats_calls = 0;
	int r = gi_scan(g, src, dir, NULL, count_stats, NULL, err, sizeof err);
	CHECK(r == 0 && stats_calls == 1, "%s: scan succeeds, ranges announced once (%s)", label,
	      err);
	if (r) {
		gi_free(g);
		return;
	}
	snprintf(what, sizeof what, "%s, segments", label);
	check_genes(g, what);
	r = gi_merge(g, dir, NULL, NULL, err, sizeof err);
	CHECK(r == 0, "%s: merge succeeds (%s)", label, err);
	snprintf(what, sizeof what, "%s, merged", label);
	if (!r)
		check_genes(g, what);
	gi_free(g);

	g = gi_new(CELLS, GENES);
	r = g ? gi_load(g, dir) : -1;
	CHECK(r == 0, "%s: genes.idx reloads", label);
	snprintf(what, sizeof what, "%s, reloaded", label);
	if (!r)
		check_genes(g, what);
	gi_free(g);
	char path[512];
	snprintf(path, sizeof path, "%s/genes.idx", dir);
	unlink(path);
}

/* The budget the scan checks first: an atlas fits, a shape claiming 16 M
 * genes over many blocks is refused with its numbers. */
static void budget(void)
{
	char err[256] = "";
	uint64_t gb12 = (uint64_t)12 << 30;
	CHECK(!gi_fits(33000, 2000000000ULL, (size_t)2 << 20, gb12, err, sizeof err),
	      "gene index budget: 33 000 genes and 2e9 values fit in 12 GB");
	CHECK(gi_fits(16777216, (uint64_t)16777216 * 64, (size_t)2 << 20, gb12, err, sizeof err) &&
	      strstr(err, "X: 16777216 genes and 1073741824 stored values would need") &&
	      strstr(err, "budget of 12.9 GB"),
	      "gene index budget: 16 M genes over 512 blocks are refused (%s)", err);
}

int main(void)
{
	budget();
	char dir[] = "/tmp/test_genes-XXXXXX", path[600], cmd[1024], err[256];
	if (!mkdtemp(dir)) {
		CHECK(0, "gene index: temporary directory");
		return CHECK_DONE();
	}
	snprintf(path, sizeof path, "%s/x.h5ad", dir);
	snprintf(cmd, sizeof cmd,
		 "build/gen-h5ad --cells %d --genes %d --per-cell %d --seed 11 %s >/dev/null",
		 CELLS, GENES, PER_CELL, path);
	ad_file *f = NULL;
	int made = access("build/gen-h5ad", X_OK) == 0 && system(cmd) == 0;
	if (!made) {
		SKIP("gene index: build/gen-h5ad missing or failed (run from the repository after "
		     "make build)");
		rmdir(dir);
		return CHECK_DONE();
	}
	int opened = ad_open(path, &f, err, sizeof err) == AD_OK && ad_x_kind(f) == AD_X_CSR;
	CHECK(opened, "gene index: %d x %d matrix written by gen-h5ad", CELLS, GENES);
	reference = malloc((size_t)GENES * CELLS * sizeof *reference);
	for (size_t j = 0; opened && reference && j < GENES; j++)
		opened = ad_x_read_gene(f, j, reference + j * CELLS) == AD_OK;
	CHECK(opened && reference, "gene index: reference columns read");
	source *src = NULL;
	if (opened && reference && src_open(path, &src, err, sizeof err) != EX_OK)
		CHECK(0, "gene index: the source opens (%s)", err);
	if (src) {
		const size_t pair = 8, values = (size_t)CELLS * PER_CELL;
		/* One block; ~40 blocks all in memory; all in the scratch file;
		 * the first ~10 in memory and the rest in the file. */
		scan_merge_load(src, dir, (size_t)2 << 20, (size_t)512 << 20, "one block, in memory");
		scan_merge_load(src, dir, 4000, (size_t)512 << 20, "4000-value blocks, in memory");
		scan_merge_load(src, dir, 4000, 0, "4000-value blocks, scratch file");
		scan_merge_load(src, dir, 4000, values * pair / 4, "4000-value blocks, both");
	}
	free(reference);
	src_close(src);
	ad_close(f);
	unlink(path);
	rmdir(dir);
	return CHECK_DONE();
}
