/*
 * store.h - the persistent cache directory of one dataset.
 *
 * Generated files and the gene index live in CACHE_DIR/<key hash>/, where the
 * key names everything that changes bytes: the .h5ad's identity (device,
 * inode, size, mtime), the format version and the options. A remount with the
 * same key finds them again. Each generated file is written under a temporary
 * name and renamed to "f<node>-<size>-<crc32>", so a crash never leaves a
 * half-written file under a real name, and the size and checksum are known
 * from a directory scan alone; the checksum is verified on first use.
 */
#ifndef STORE_H
#define STORE_H

#include <stddef.h>
#include <stdint.h>

typedef struct st_store st_store;

/* NULL with a reason in err when the directory cannot be created or used. */
st_store *st_open(const char *cache_dir, const char *key, char *err, size_t errlen);
void st_close(st_store *s);

/* The directory itself (for the gene index file). */
const char *st_dir(const st_store *s);

typedef void (*st_entry_fn)(void *ctx, uint32_t node, uint64_t size, uint32_t crc);
/* Call fn for every stored file. */
void st_scan(st_store *s, st_entry_fn fn, void *ctx);

/* Store a file's bytes. 0, or an errno (ENOSPC, EACCES, ...). */
int st_put(st_store *s, uint32_t node, const void *data, size_t len, uint32_t crc);

/* Open a stored file read-only, or -1. */
int st_open_entry(st_store *s, uint32_t node, uint64_t size, uint32_t crc);

/* Forget a stored file (found corrupt). */
void st_remove(st_store *s, uint32_t node, uint64_t size, uint32_t crc);

/* Write a file atomically into the store directory (tmp + rename). 0 or errno. */
int st_write_atomic(st_store *s, const char *name, const void *data, size_t len);

#endif
