/*
 * cache.h - generated files kept in memory, each generated once.
 *
 * fc_get returns a file's bytes as a reference-counted blob: the first caller
 * generates it while later callers for the same file wait for that result
 * (single flight), so a burst of readers costs one generation. Blobs not in
 * use are evicted, least recently used first, when the total passes the
 * limit; an evicted file is simply generated again (with identical bytes,
 * since generation is deterministic). A file's size is remembered forever
 * once known, so stat never regenerates.
 */
#ifndef CACHE_H
#define CACHE_H

#include <stddef.h>
#include <stdint.h>
#include "export.h"

typedef struct fc_blob {
	const void *data;
	size_t len;
} fc_blob;

typedef struct fc_cache fc_cache;

fc_cache *fc_new(ex_export *e, size_t limit);
void fc_free(fc_cache *c);

/* The bytes of file node i; release them with fc_release. On failure err
 * holds the reason; a failed generation is retried by the next caller. */
ex_err fc_get(fc_cache *c, uint32_t i, fc_blob **out, char *err, size_t errlen);
void fc_release(fc_cache *c, fc_blob *b);

/* The size of file node i, generating it if it was never generated. */
ex_err fc_size(fc_cache *c, uint32_t i, size_t *size, char *err, size_t errlen);

#endif
