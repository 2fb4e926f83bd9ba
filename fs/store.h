/*
 * store.h - the persistent cache directory of one dataset.
 *
 * Generated files and the gene index live in CACHE_DIR/<key hash>/, where the
 * key names everything that changes bytes: the .h5ad's identity (device,
 * inode, size, mtime), the format version, the options and the shape of the
 * tree. A remount with the same key finds them again.
 *
 * Generated files are appended to one pack file, and a record (node, offset,
 * size, CRC-32, itself checksummed) is appended to an index file once the
 * bytes are written: a crash leaves at most unreferenced bytes, and a
 * record never points at a half-written file. One pack instead of a file per
 * gene spares the file system tens of thousands of inode allocations, and
 * serves every stored file through one descriptor. Checksums of the files
 * are verified on first use; a file found damaged is generated and appended
 * again, its new record superseding the old. One daemon at a time uses a
 * store (an exclusive lock); a second mount with the same key keeps its
 * files in memory. However many stores are open, at most 32 keep their
 * pack and index open (others open them again on demand), and one
 * descriptor per cache directory holds the locks.
 */
#ifndef STORE_H
#define STORE_H

#include <stddef.h>
#include <stdint.h>

typedef struct st_store st_store;

/* NULL with a reason in err when the directory cannot be created or used. */
st_store *st_open(const char *cache_dir, const char *key, char *err, size_t errlen);
void st_close(st_store *s);
/* Close and delete the store: what it holds will never be asked for again. */
void st_remove(st_store *s);

/* The directory itself (for the gene index file). */
const char *st_dir(const st_store *s);

/* The pack file's descriptor, opened again if it was closed, and kept open
 * until st_pack_release: stored files are read from it by offset. -1 with
 * errno (EMFILE ...) when it cannot be opened. */
int st_pack_hold(st_store *s);
void st_pack_release(st_store *s);

typedef void (*st_entry_fn)(void *ctx, uint32_t node, uint64_t offset, uint64_t size,
			    uint32_t crc);
/* Call fn for every stored file, oldest first (a later record for a node
 * supersedes an earlier one). */
void st_scan(st_store *s, st_entry_fn fn, void *ctx);

/* Append a file's bytes; its offset in the pack goes to *offset. 0, or an
 * errno (ENOSPC, EACCES, ...). Thread-safe. */
int st_put(st_store *s, uint32_t node, const void *data, size_t len, uint32_t crc,
	   uint64_t *offset);

#endif
