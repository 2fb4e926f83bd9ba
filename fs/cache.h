/*
 * cache.h - generated files, each generated once, kept on disk or in memory.
 *
 * fc_open returns an open file: the first caller generates it while later
 * callers for the same file wait for that result (single flight), so a burst
 * of readers costs one generation. With a store (a persistent cache
 * directory) the bytes are written there and read back from its pack file,
 * which FUSE can splice straight to the kernel; files already in the store
 * from an earlier mount are used as they are, after a checksum check on
 * first use. Without a store, or when writing to it fails (disk full,
 * no permission: warned once), the bytes stay in memory: reference-counted,
 * evicted least recently used first past the limit, and simply regenerated
 * (identically: generation is deterministic) when needed again. A file's size
 * is remembered once known, so stat never regenerates.
 */
#ifndef CACHE_H
#define CACHE_H

#include <stddef.h>
#include <stdint.h>
#include "export.h"
#include "store.h"

/* An open file: bytes in memory (fd == -1), or len bytes at offset of the
 * store's pack file fd. */
typedef struct fc_file {
	const void *data;
	size_t len;
	int fd;
	uint64_t offset;
} fc_file;

typedef struct fc_cache fc_cache;

/* store may be NULL (memory only). */
fc_cache *fc_new(ex_export *e, st_store *store, size_t memory_limit);
void fc_free(fc_cache *c);

/* Open file node i; close it with fc_close. On failure err holds the reason;
 * a failed generation is retried by the next caller. */
ex_err fc_open(fc_cache *c, uint32_t i, fc_file **out, char *err, size_t errlen);
void fc_close(fc_cache *c, fc_file *f);

/* The size of file node i, generating it if it was never generated. */
ex_err fc_size(fc_cache *c, uint32_t i, size_t *size, char *err, size_t errlen);

/* fc_size without waiting: ready gets the size (or the error, r != EX_OK) at
 * once, from this thread, unless another thread is generating the file now;
 * then that thread calls ready with its own result when it is done, and this
 * one goes on. A server thread that would only have waited can take the
 * next request. */
typedef void fc_size_fn(void *ctx, ex_err r, size_t size, const char *err);
void fc_size_then(fc_cache *c, uint32_t i, fc_size_fn *ready, void *ctx);

/* Whether file node i's size is known (no lookup would generate it). */
int fc_known(fc_cache *c, uint32_t i);

/* Whether file node i's size is known or someone is generating it now. */
int fc_underway(fc_cache *c, uint32_t i);

/* Counters for status and logs. */
typedef struct {
	uint64_t generated, hits, misses, stored_bytes, memory_bytes;
} fc_stats;
void fc_get_stats(fc_cache *c, fc_stats *out);

#endif
