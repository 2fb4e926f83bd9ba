/*
 * cn.h - the container layer: groups, arrays and attributes of a store,
 * addressed by path, whatever the store is made of (HDF5 today; a Zarr
 * directory of JSON metadata and chunk files can implement the same calls).
 *
 * The AnnData encodings (ad.c, ad_df.c, ad_util.c, ad_x.c, ad_sparse.c) see
 * only this header; each back end is one file (cn_h5.c) behind cn.c, which
 * checks arguments, formats the errors every back end shares and derives
 * the chunk grid from the array metadata. Sample:
 *
 *	cn_store *s;
 *	cn_array *a;
 *	int64_t ptr[11];
 *	if (cn_open("pbmc.h5ad", err, sizeof err, &s) == AD_OK &&
 *	    cn_array_open(s, "X/indptr", &a) == AD_OK) {
 *		cn_read(a, NULL, CN_I64, 0, 11, ptr);
 *		cn_array_close(a);
 *	}
 *
 * Paths are relative to the store root ("obs/louvain/codes"; a leading '/'
 * is allowed). A failing call leaves its one-line reason, naming the path,
 * in the buffer given to cn_open (ad_file hands it its own err) and returns
 * one of ad.h's codes. Not thread-safe: the caller serialises the calls on
 * one store, except what cn_concurrent() allows.
 */
#ifndef CN_H
#define CN_H

#include <stddef.h>
#include <stdint.h>

#include "ad.h"

typedef struct cn_store cn_store;
typedef struct cn_array cn_array;

enum { CN_MAX_RANK = 32, CN_RANK_NULL = -1 };

/* CN_REFUSED: a name whose data would come from outside the store (an
 * HDF5 external or user-defined link on the way); cn_check says why. */
typedef enum { CN_ABSENT, CN_GROUP, CN_ARRAY, CN_OTHER, CN_REFUSED } cn_kind;

/* The class of stored elements. CN_T_BOOL is h5py's enum {FALSE, TRUE}
 * (any HDF5 enum) or Zarr's bool; CN_T_ARRAY a fixed-size array element
 * (the pre-0.7 obsm members). */
typedef enum {
	CN_T_INT, CN_T_UINT, CN_T_FLOAT, CN_T_BOOL, CN_T_STRING,
	CN_T_COMPOUND, CN_T_ARRAY, CN_T_REFERENCE, CN_T_OTHER
} cn_class;

typedef struct {
	cn_class cls;
	size_t size;       /* bytes of one stored element */
	int big_endian;    /* numbers: stored byte order */
	int vlen;          /* strings: variable length */
	size_t nmembers;   /* compound: members */
	size_t count;      /* array: elements of a 1-d array element, else 0 */
	cn_class base;     /* array: their class */
} cn_type;

typedef struct {
	cn_type type;
	int rank;                     /* 0: scalar (one value); CN_RANK_NULL: none */
	uint64_t shape[CN_MAX_RANK];
	int chunked;
	uint64_t chunk[CN_MAX_RANK];  /* chunked: the stored chunk shape */
} cn_info;

/* What numeric reads convert to. Values convert as HDF5 does (C casts for
 * the values in range), bools to 0/1. */
typedef enum { CN_I8, CN_I32, CN_U32, CN_I64, CN_U64, CN_F32, CN_F64 } cn_num;
size_t cn_num_size(cn_num t);

/* Call in every thread before its first cn_ (or ad_) call: HDF5's error
 * printing is switched off per thread. Cheap after the first. */
void cn_thread_init(void);

/* Open the store at path read-only. On failure *out is NULL and err holds
 * the reason without the path ("not an HDF5 file", "not a regular file").
 * A FIFO or device is refused without blocking; HDF5 files are opened
 * without file locking, so that other programs may rewrite them. err (errlen bytes)
 * stays the store's error buffer until cn_close. */
ad_err cn_open(const char *path, char *err, size_t errlen, cn_store **out);
void cn_close(cn_store *s);
/* The descriptor of the one file an HDF5 store reads (to fstat its
 * identity), or -1 (a Zarr store is many files). */
int cn_fd(cn_store *s);
/* Whether chunk reads of distinct arrays may run concurrently without the
 * caller's lock (Zarr); 0 for HDF5, whose library is one lock. */
int cn_concurrent(const cn_store *s);
/* The caller's lock as a pair of calls: cn_read_range releases it while it
 * decodes the chunks it fetched, and retakes it before it touches the store
 * again. NULLs (the default): there is no lock to release. */
void cn_set_lock(cn_store *s, void (*release)(void *), void (*retake)(void *), void *ctx);

/* Whether a name exists at path, even one that leads nowhere (a dangling
 * link): the encodings tell "missing" from "broken" with it. */
int cn_exists(cn_store *s, const char *path);
cn_kind cn_kind_of(cn_store *s, const char *path);
/* AD_OK when path stays inside the store; else AD_EUNSUPPORTED with the
 * reason naming the element ("obs/x: a link to another file (a.h5):
 * refused"). Every call that opens an element checks this first, and
 * cn_array_open also refuses data kept elsewhere (HDF5 external storage,
 * virtual datasets), before anything is read. */
ad_err cn_check(cn_store *s, const char *path);
/* The member names of the group at path, sorted by bytes; free with
 * cn_strings_free. */
ad_err cn_list(cn_store *s, const char *path, char ***names, size_t *n);

/* Attributes of the element at path. Each returns 1 when read, 0 when the
 * attribute is absent, -1 when it has another type or cannot be read. */
int cn_attr_exists(cn_store *s, const char *path, const char *name);
/* Strings: scalar or 1-d, any width or encoding; 0 elements of any class
 * give *n = 0. */
int cn_attr_strings(cn_store *s, const char *path, const char *name, char ***out, size_t *n);
int cn_attr_string(cn_store *s, const char *path, const char *name, char **out);
/* Exactly n integers, as int64. */
int cn_attr_int64(cn_store *s, const char *path, const char *name, int64_t *out, size_t n);
/* An attribute naming another element (an HDF5 object reference, as
 * anndata 0.7 writes `categories`): the absolute path of the target in
 * *target ("/obs/__categories/louvain"). 0 also when it is no reference. */
int cn_attr_ref(cn_store *s, const char *path, const char *name, char **target);

/* ---- arrays ---- */

/* Open the array at path ("P: missing", "P: not a dataset"). The _cached
 * form asks the back end to keep about slots chunks / bytes bytes decoded
 * (0, 0: its default), e.g. one row of chunks for a row-wise scan. */
ad_err cn_array_open(cn_store *s, const char *path, cn_array **out);
ad_err cn_array_open_cached(cn_store *s, const char *path, size_t slots, size_t bytes,
			    cn_array **out);
void cn_array_close(cn_array *a);
const cn_info *cn_array_info(const cn_array *a);
const char *cn_array_path(const cn_array *a);

/* Member i of a compound array: its name (malloc'd) and type. */
ad_err cn_member(cn_array *a, size_t i, char **name, cn_type *t);
/* The type of the member called name ("P: no member 'name'"). */
ad_err cn_member_type(cn_array *a, const char *name, cn_type *t);

/* Elements [start, start + count) of a 1-d (or scalar) array as want; with
 * member, that member of each compound element (an array member gives its
 * count values per element). count 0 reads nothing and always succeeds. */
ad_err cn_read(cn_array *a, const char *member, cn_num want, uint64_t start,
	       uint64_t count, void *out);
/* The same range of a string array (or member), each string malloc'd: as
 * stored, fixed width cut at the first NUL (and space padding), a missing
 * variable-length string as "". */
ad_err cn_read_strings(cn_array *a, const char *member, uint64_t start, uint64_t count,
		       char **out);
/* The box start[0..rank) + count[0..rank) of an array of any rank, in C
 * order, as want. */
ad_err cn_read_block(cn_array *a, const uint64_t *start, const uint64_t *count, cn_num want,
		     void *out);

/* ---- chunk-granular reads ----
 * The grid is the stored chunk shape; contiguous storage is one chunk.
 * Chunk k is numbered in C order over the grid; its box is clipped to the
 * shape (edge chunks are partial). A null or scalar array has one chunk. */
uint64_t cn_chunk_count(const cn_array *a);
void cn_chunk_box(const cn_array *a, uint64_t k, uint64_t *start, uint64_t *count);
/* Chunk k decoded into out (its clipped box, C order) as want: fetch and
 * decode below in one call. Numeric (and bool) arrays only. */
ad_err cn_read_chunk(cn_array *a, uint64_t k, cn_num want, void *out);

/* Chunk k in two steps, so that decoding can run outside the caller's lock
 * and on every core. cn_chunk_fetch does the I/O and needs what every other
 * call on the store needs (the caller's lock, unless cn_concurrent());
 * cn_chunk_decode needs no lock and may run in any thread, concurrently for
 * distinct chunks, also after the array is closed. Its failure is told by
 * cn_chunk_error(c), not in the store's buffer (another thread owns that).
 * Values convert as cn_num says; out-of-range integers saturate and a NaN
 * becomes integer 0. */
typedef struct cn_chunk cn_chunk;
ad_err cn_chunk_fetch(cn_array *a, uint64_t k, cn_chunk **out);
/* The number of values the chunk decodes to (the product of its box). */
size_t cn_chunk_len(const cn_chunk *c);
ad_err cn_chunk_decode(cn_chunk *c, cn_num want, void *out);
const char *cn_chunk_error(const cn_chunk *c);
void cn_chunk_free(cn_chunk *c);

/* Elements [start, start + count) of a 1-d array as want, as cn_read gives
 * them; when the array is chunked and its chunks are decoded by our code,
 * the chunks are fetched under the caller's lock and decoded on every
 * core (cn_range.c). For the long reads of a scan. */
ad_err cn_read_range(cn_array *a, cn_num want, uint64_t start, uint64_t count, void *out);
/* The same for a box of a 1-d or 2-d array, as cn_read_block gives it. */
ad_err cn_read_box_range(cn_array *a, const uint64_t *start, const uint64_t *count, cn_num want,
			 void *out);

/* ---- helpers shared by the module ---- */

/* malloc(n * size), NULL when the product overflows; never malloc(0). */
void *cn_mallocn(size_t n, size_t size);
char *cn_strdup(const char *s);
/* "a" "/" "b" in a fresh string. */
char *cn_path_join(const char *a, const char *b);
void cn_strings_free(char **s, size_t n);

#endif
