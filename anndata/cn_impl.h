/*
 * cn_impl.h - what a container back end implements, and what cn.c gives
 * it. Only cn.c and the back ends (cn_h5.c) include this; the encodings
 * see cn.h alone.
 *
 * A back end embeds struct cn_store / struct cn_array first in its own
 * structs and fills in info when an array is opened: cn.c answers the
 * metadata, bounds and chunk-grid questions from it without the back end.
 * Arguments reach the back end already checked (ranges inside the shape,
 * 1-d reads only on rank 0 or 1, count > 0).
 */
#ifndef CN_IMPL_H
#define CN_IMPL_H

#include "cn.h"

struct cn_ops {
	void (*close)(cn_store *s);
	/* The open file's descriptor, or NULL (a store of many files). */
	int (*fd)(cn_store *s);
	int (*exists)(cn_store *s, const char *path);
	cn_kind (*kind)(cn_store *s, const char *path);
	ad_err (*check)(cn_store *s, const char *path);
	/* Member names in any order (cn.c sorts them). */
	ad_err (*list)(cn_store *s, const char *path, char ***names, size_t *n);
	int (*attr_exists)(cn_store *s, const char *path, const char *name);
	int (*attr_strings)(cn_store *s, const char *path, const char *name, char ***out,
			    size_t *n);
	int (*attr_int64)(cn_store *s, const char *path, const char *name, int64_t *out,
			  size_t n);
	int (*attr_ref)(cn_store *s, const char *path, const char *name, char **target);
	/* Open an existing name as an array; fails as "P: not a dataset". */
	ad_err (*array_open)(cn_store *s, const char *path, size_t slots, size_t bytes,
			     cn_array **out);
	void (*array_close)(cn_array *a);
	ad_err (*member)(cn_array *a, size_t i, char **name, cn_type *t);
	/* -1 when there is no member of that name. */
	int (*member_type)(cn_array *a, const char *name, cn_type *t);
	ad_err (*read)(cn_array *a, const char *member, cn_num want, uint64_t start,
		       uint64_t count, void *out);
	ad_err (*read_strings)(cn_array *a, const char *member, uint64_t start, uint64_t count,
			       char **out);
	ad_err (*read_block)(cn_array *a, const uint64_t *start, const uint64_t *count,
			     cn_num want, void *out);
	/* Fetch the box of a chunk into c (see struct cn_chunk); errors go to
	 * the store as for any call. */
	ad_err (*chunk_fetch)(cn_array *a, const uint64_t *start, const uint64_t *count,
			      struct cn_chunk *c);
	/* The bytes of values the store holds for a (decoded; what is not
	 * held reads as the fill value), counted up to need at least: a
	 * bound checked by cn_claim.c before the shape is believed. */
	uint64_t (*held)(cn_array *a, uint64_t need);
	int concurrent;
};

enum { CN_CLAIMS_KEPT = 8 };

struct cn_store {
	const struct cn_ops *ops;
	char *err;
	size_t errlen;
	void (*release)(void *), (*retake)(void *); /* cn_set_lock */
	void *lock_ctx;
	char *claims_ok[CN_CLAIMS_KEPT]; /* cn_claim.c: paths whose claim was found held */
	size_t claims_next;
};

struct cn_array {
	cn_store *s;
	char *path;
	cn_info info;
};

/* A fetched chunk. cn.c allocates it with n and type set; the back end's
 * chunk_fetch fills data (size bytes, malloc'd). With decode NULL, data
 * holds the n values as stored (type, byte order) in C order; else decode
 * (pure computation: no store, no lock) turns data into that form in plain
 * (n * type.size bytes), or fails with a reason in c->err. */
struct cn_chunk {
	cn_type type;
	size_t n;
	void *data;
	size_t size;
	ad_err (*decode)(struct cn_chunk *c, void *plain);
	char path[192];
	char err[256];
};

/* Set s->err from fmt and return e. */
ad_err cn_fail(cn_store *s, ad_err e, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The same into a bare buffer, for failures before the store exists. */
ad_err cn_fail_buf(char *err, size_t errlen, ad_err e, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* cn_claim.c: AD_OK when what a (just opened) claims fits what its store
 * holds (see there); else AD_EFORMAT naming it. cn_claims_free forgets
 * the answers kept for the store. */
ad_err cn_claim_check(cn_array *a);
void cn_claims_free(cn_store *s);

/* cn_num.c: whether values of type t convert to a cn_num, and the
 * conversion of n stored values (in t's byte order) to want. */
int cn_convertible(const cn_type *t);
void cn_convert(const cn_type *t, const void *in, size_t n, cn_num want, void *out);
/* Whether cn_convert of t to want is a copy. */
int cn_converts_as_is(const cn_type *t, cn_num want);

/* The back ends' open functions, tried by cn_open. */
ad_err cn_h5_open(const char *path, char *err, size_t errlen, cn_store **out);
ad_err cn_zarr_open(const char *path, char *err, size_t errlen, cn_store **out);
void cn_h5_thread_init(void);

#endif
