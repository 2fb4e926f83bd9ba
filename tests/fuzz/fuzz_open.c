/*
 * fuzz_open.c - the libFuzzer target over opening and generating: the input
 * bytes become a file (a named one, in $TMPDIR, removed at exit: HDF5 resolves
 * the /proc/self/fd link through which the source opens every file, and a
 * memfd's or an unlinked file's target does not resolve), ad_open reads its
 * layout, and when it opens, ex_open plans the export as a mount would
 * (default options, memory only) and ex_generate makes every file of the
 * tree, the genes included. It links the engine, anndata and codec, not the
 * FUSE glue.
 *
 *   $ make fuzz FUZZ_SECONDS=60
 *   $ build/fuzz/fuzz_open -timeout=10 crash-0123abcd   # replay one input
 *
 * A shape the metadata claims beyond what the input's bytes could hold is
 * skipped here, before the engine allocates for it: refusing such claims is
 * the source's job (issue 14, point 5), and an input that only says "134 M
 * cells" would otherwise be reported as running out of memory for ever.
 * scripts/fuzz.sh runs this target and tells crashes in libhdf5 from ours.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ad.h"
#include "export.h"
#include "log.h"

static int input_fd = -1;
static char input_path[4096];

static void drop_warning(void *ctx, const char *line)
{
	(void)ctx;
	(void)line;
}

static void remove_input(void)
{
	unlink(input_path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	const char *dir = getenv("TMPDIR");
	snprintf(input_path, sizeof input_path, "%s/fuzz_open.XXXXXX", dir && *dir ? dir : "/tmp");
	input_fd = mkstemp(input_path);
	if (input_fd < 0) {
		perror("fuzz_open: mkstemp");
		exit(1);
	}
	atexit(remove_input);
	log_divert_warnings(drop_warning, NULL);
	ad_thread_init();
	return 0;
}

static int write_input(const uint8_t *data, size_t size)
{
	if (ftruncate(input_fd, 0))
		return -1;
	for (size_t done = 0; done < size;) {
		ssize_t n = pwrite(input_fd, data + done, size - done, (off_t)done);
		if (n <= 0)
			return -1;
		done += (size_t)n;
	}
	return 0;
}

/* Whether the shape fits the bytes: at least one byte per cell and per gene. */
static int plausible_shape(size_t size)
{
	char err[256];
	ad_file *f;
	if (ad_open(input_path, &f, err, sizeof err) != AD_OK)
		return 0;
	int ok = ad_n_obs(f) <= size && ad_n_var(f) <= size;
	for (size_t i = 0; ok && i < ad_obsm_count(f); i++)
		ok = ad_obsm_cols(f, i) <= size && ad_obsm_cols(f, i) * ad_n_obs(f) <= size * 64;
	ad_close(f);
	return ok;
}

static void generate_all(ex_export *e)
{
	char err[512];
	for (uint32_t i = 0; i < ex_node_count(e); i++) {
		void *data;
		size_t len;
		if (ex_node_at(e, i)->kind == EX_DIR)
			continue;
		if (ex_generate(e, i, &data, &len, err, sizeof err) == EX_OK)
			free(data);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (write_input(data, size) || !plausible_shape(size))
		return 0;
	ex_options o;
	ex_options_init(&o);
	o.cache_dir = strdup("none");
	o.prefetch = EX_PREFETCH_NONE;
	char err[512];
	ex_export *e;
	if (o.cache_dir && ex_open(input_path, &o, &e, err, sizeof err) == EX_OK) {
		generate_all(e);
		ex_close(e);
	}
	ex_options_free(&o);
	return 0;
}
