/*
 * zarr.h - read Zarr stores, v2 and v3: the hierarchy, the attributes, and
 * regions of arrays decoded to native values.
 *
 * A store is a directory tree (DirectoryStore) or a .zip (ZipStore). zr_open
 * reads every group's and array's metadata once (from .zmetadata or the v3
 * root's consolidated metadata when present, else by walking the groups), so
 * afterwards a store is immutable and every call is thread-safe: chunks are
 * read with pread and decoded without any lock, on as many threads as the
 * caller likes.
 *
 *   zr_store *s; char err[ZR_ERRLEN];
 *   if (zr_open("data.zarr", &s, err) != ZR_OK) puts(err);
 *   const zr_array *a;
 *   if (zr_array_get(s, "obs/n_genes", &a, err) == ZR_OK) {
 *           uint64_t start = 0, count = a->shape[0];
 *           zr_read(s, a, &start, &count, buf, err);  // a->size bytes each
 *   }
 *
 * Errors are one line naming the array and what failed, e.g.
 * "X/data: unknown compressor 'foo'" or "X/data: chunk 3 is missing".
 */
#ifndef ZARR_H
#define ZARR_H

#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>

#define ZR_ERRLEN 512
#define ZR_MAXDIM 32

typedef enum {
	ZR_OK = 0,
	ZR_ENOMEM,        /* allocation failed */
	ZR_EIO,           /* reading the store failed */
	ZR_EFORMAT,       /* not Zarr as the specification describes it */
	ZR_EUNSUPPORTED,  /* valid Zarr this reader does not handle */
	ZR_ENOENT         /* no such node */
} zr_rc;

typedef enum { ZR_NONE, ZR_GROUP, ZR_ARRAY } zr_kind;

/* What zr_read delivers per element: native-endian integers and floats of
 * `size` bytes, bool as one byte 0/1, and strings (fixed-width <U/|S, and
 * variable-length UTF-8 or bytes) as a malloc'd NUL-terminated char *. */
typedef enum { ZR_T_BOOL, ZR_T_INT, ZR_T_UINT, ZR_T_FLOAT, ZR_T_STR } zr_type;

typedef struct zr_store zr_store;
struct zr_pipe;

typedef struct zr_array {
	const char *path;          /* "X/data"; "" for a root array */
	unsigned ndim;             /* 0 for a scalar */
	uint64_t shape[ZR_MAXDIM];
	uint64_t chunks[ZR_MAXDIM]; /* the unit of reading (inner chunks when sharded) */
	zr_type type;
	unsigned size;             /* bytes per delivered element */
	unsigned width;            /* ZR_T_STR: characters of a fixed-width
				      string, 0 for variable length */
	const struct zr_pipe *pipe;  /* how chunks are stored and decoded */
} zr_array;

/* Whether path looks like a Zarr store: a directory with root metadata
 * (zarr.json, .zgroup, .zarray or .zmetadata), or a zip file. */
int zr_is_store(const char *path);
/* Open the store at path: a directory, or a regular file read as a zip. */
zr_rc zr_open(const char *path, zr_store **out, char *err);
void zr_close(zr_store *s);
int zr_format(const zr_store *s);  /* 2 or 3 */

/* Paths are relative to the store root, components joined by "/"; the root
 * is "". */
zr_kind zr_kind_at(const zr_store *s, const char *path);
/* The names of the children of the group at path, sorted by byte order, in
 * a malloc'd array of pointers the store owns (free the array only).
 * Returns their count; 0 with *names NULL when there are none. */
size_t zr_children(const zr_store *s, const char *path, const char ***names);
/* The attributes of the node at path (an object, possibly empty); NULL when
 * there is no such node. Owned by the store. */
const cJSON *zr_attrs(const zr_store *s, const char *path);

/* The array at path. Metadata that could not be understood is reported here
 * (the store still opens, so one bad column does not hide the others). */
zr_rc zr_array_get(const zr_store *s, const char *path, const zr_array **out, char *err);

/* Read the region start[i] .. start[i]+count[i] (C order) into out, which
 * holds prod(count) elements of a->size bytes. A region that is one chunk
 * decodes that chunk alone; regions on different threads decode in
 * parallel. Strings are malloc'd per element (free them; on failure none is
 * left allocated). A chunk that is absent reads as the fill value, or fails
 * when the array has none. */
zr_rc zr_read(const zr_store *s, const zr_array *a, const uint64_t *start,
	      const uint64_t *count, void *out, char *err);

/* The two halves of zr_read, for a caller that keeps decoded chunks: the
 * chunk at grid position coords, whole (padded at the edges; prod(chunks)
 * elements, malloc'd: for strings free each too), and copying the part of
 * such a chunk inside a region into out (strings are moved: the chunk's
 * pointers become NULL). */
zr_rc zr_read_chunk(const zr_store *s, const zr_array *a, const uint64_t *coords,
		    unsigned char **out, char *err);
/* Whether the chunk at grid position coords is kept in the store (for a
 * sharded array: its shard is), i.e. does not read as the fill value. */
int zr_chunk_stored(const zr_store *s, const zr_array *a, const uint64_t *coords);
void zr_place(const zr_array *a, const uint64_t *coords, unsigned char *chunk,
	      const uint64_t *start, const uint64_t *count, unsigned char *out);
/* The chunks a region (every count > 0) touches, in C order: zr_cover sets
 * the grid positions lo..hi and c = lo; zr_step moves c to the next one and
 * returns 0 after the last. */
void zr_cover(const zr_array *a, const uint64_t *start, const uint64_t *count,
	      uint64_t *lo, uint64_t *hi, uint64_t *c);
int zr_step(const zr_array *a, uint64_t *c, const uint64_t *lo, const uint64_t *hi);

#endif
