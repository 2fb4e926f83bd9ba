/*
 * cache.c - see cache.h.
 *
 * One mutex guards the slot table, the LRU list and the reference counts;
 * generation, storing and checksum checks run unlocked (a slot in state
 * GENERATING makes other callers wait on the condition variable, or leave a
 * waiter that the generating thread calls when it is done).
 */
#include "cache.h"

#include <errno.h>
#include <libdeflate.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

typedef struct entry entry;
typedef struct waiter waiter;

struct waiter {            /* told a size once the generation underway ends */
	fc_size_fn *ready;
	void *ctx;
	waiter *next;
};

struct entry {             /* bytes held in memory */
	const void *data;
	size_t len;
	uint32_t node;
	unsigned refs;     /* the slot's own reference plus one per open file */
	entry *prev, *next;
};

typedef struct {
	enum { SLOT_EMPTY, SLOT_GENERATING, SLOT_MEMORY, SLOT_STORED } state;
	int verified;      /* stored file's checksum checked this mount */
	int64_t size;      /* -1 until known */
	uint32_t crc;
	entry *entry;
	uint64_t offset;   /* in the store's pack */
	waiter *waiters;   /* while GENERATING */
} slot;

typedef struct {
	fc_file file;
	entry *entry;      /* NULL for a stored file */
} handle;

struct fc_cache {
	ex_export *e;
	st_store *store;   /* NULL: memory only */
	int store_writable;   /* cleared when writing to the store failed */
	size_t limit, used;
	pthread_mutex_t lock;
	pthread_cond_t generated;
	slot *slots;
	size_t n_slots;
	entry lru;         /* sentinel; lru.next is the most recently used */
	fc_stats stats;
};

static void adopt_stored(void *ctx, uint32_t node, uint64_t offset, uint64_t size, uint32_t crc)
{
	fc_cache *c = ctx;
	if (node >= c->n_slots || ex_node_at(c->e, node)->kind == EX_DIR)
		return;
	c->slots[node] = (slot){.state = SLOT_STORED, .size = (int64_t)size, .crc = crc,
				.offset = offset};
}

fc_cache *fc_new(ex_export *e, st_store *store, size_t memory_limit)
{
	fc_cache *c = calloc(1, sizeof *c);
	size_t n = ex_node_count(e);
	if (!c || !(c->slots = calloc(n, sizeof *c->slots))) {
		free(c);
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		c->slots[i] = (slot){.size = -1};
	c->e = e;
	c->store = store;
	c->store_writable = store != NULL;
	c->n_slots = n;
	c->limit = memory_limit;
	c->lru.prev = c->lru.next = &c->lru;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->generated, NULL);
	if (store)
		st_scan(store, adopt_stored, c);
	return c;
}

static void unlink_entry(entry *x)
{
	x->prev->next = x->next;
	x->next->prev = x->prev;
}

static void push_front(fc_cache *c, entry *x)
{
	x->next = c->lru.next;
	x->prev = &c->lru;
	c->lru.next->prev = x;
	c->lru.next = x;
}

static void drop_ref(fc_cache *c, entry *x)
{
	if (--x->refs)
		return;
	c->used -= x->len;
	free((void *)x->data);
	free(x);
}

/* Evict unused entries from the cold end until the total fits. Entries still
 * open stay allocated until closed, but leave the slot. */
static void trim(fc_cache *c)
{
	entry *x = c->lru.prev;
	while (c->used > c->limit && x != &c->lru) {
		entry *prev = x->prev;
		slot *s = &c->slots[x->node];
		unlink_entry(x);
		s->entry = NULL;
		s->state = SLOT_EMPTY;
		drop_ref(c, x);
		x = prev;
	}
}

void fc_free(fc_cache *c)
{
	if (!c)
		return;
	while (c->lru.next != &c->lru) {
		entry *x = c->lru.next;
		unlink_entry(x);
		drop_ref(c, x);
	}
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->generated);
	free(c->slots);
	free(c);
}

static handle *memory_handle(entry *x)
{
	handle *h = malloc(sizeof *h);
	if (h)
		*h = (handle){{x->data, x->len, -1, 0}, x};
	return h;
}

/* Does the pack hold exactly the bytes the file was stored with? */
static int verify_stored(int fd, uint64_t offset, uint64_t size, uint32_t crc)
{
	char buf[1 << 16];
	uint64_t done = 0;
	uint32_t sum = 0;
	while (done < size) {
		size_t want = size - done < sizeof buf ? (size_t)(size - done) : sizeof buf;
		ssize_t r = pread(fd, buf, want, (off_t)(offset + done));
		if (r <= 0)
			return 0;
		sum = libdeflate_crc32(sum, buf, (size_t)r);
		done += (uint64_t)r;
	}
	return sum == crc;
}

/* A handle on the stored file of slot i (lock held, released meanwhile while
 * a first use checks its checksum), holding the store's pack open until
 * fc_close. NULL with *gone set when the bytes are damaged (the slot is
 * then EMPTY, to be generated again and appended anew), or with *gone
 * clear when memory or descriptors ran out. */
static handle *open_stored(fc_cache *c, uint32_t i, int *gone)
{
	slot *s = &c->slots[i];
	slot seen = *s;
	int fd = st_pack_hold(c->store);
	*gone = 0;
	if (fd < 0) {
		log_warn("cannot open the cache directory's pack (%s): %s", st_dir(c->store),
			 strerror(errno));
		return NULL;
	}
	if (!seen.verified) {
		pthread_mutex_unlock(&c->lock);
		*gone = !verify_stored(fd, seen.offset, (uint64_t)seen.size, seen.crc);
		pthread_mutex_lock(&c->lock);
	}
	if (*gone) {
		char path[512];
		ex_node_path(c->e, i, path, sizeof path);
		log_warn("cached %s is damaged; generating it again", path);
		if (s->state == SLOT_STORED && s->offset == seen.offset)
			s->state = SLOT_EMPTY;
		st_pack_release(c->store);
		return NULL;
	}
	if (s->offset == seen.offset)
		s->verified = 1;
	handle *h = malloc(sizeof *h);
	if (h)
		*h = (handle){{NULL, (size_t)seen.size, fd, seen.offset}, NULL};
	else
		st_pack_release(c->store);
	return h;
}

/* Errors after which the store stays unusable; others (out of descriptors,
 * interrupted, ...) only keep this one file in memory. */
static int store_is_broken(int err)
{
	return err == ENOSPC || err == EDQUOT || err == EROFS || err == EACCES ||
	       err == EPERM || err == EIO;
}

/* Keep freshly generated bytes: in the store if there is one (the memory is
 * freed), else in memory. Lock not held. Returns 1 when stored. */
static int keep_in_store(fc_cache *c, uint32_t i, const void *data, size_t len, uint32_t *crc,
			 uint64_t *offset)
{
	pthread_mutex_lock(&c->lock);
	int writable = c->store_writable;
	pthread_mutex_unlock(&c->lock);
	if (!writable)
		return 0;
	*crc = libdeflate_crc32(0, data, len);
	int err = st_put(c->store, i, data, len, *crc, offset);
	if (!err)
		return 1;
	if (!store_is_broken(err))
		return 0;
	pthread_mutex_lock(&c->lock);
	if (c->store_writable) {
		log_warn("cannot write to the cache directory (%s): %s; keeping generated files in "
			 "memory from now on", st_dir(c->store), strerror(err));
		c->store_writable = 0;
	}
	pthread_mutex_unlock(&c->lock);
	return 0;
}

static ex_err generate(fc_cache *c, uint32_t i, handle **out, char *err, size_t errlen)
{
	slot *s = &c->slots[i];
	void *data = NULL;
	size_t len = 0;
	uint32_t crc = 0;
	uint64_t offset = 0;
	ex_err r = ex_generate(c->e, i, &data, &len, err, errlen);
	int stored = r == EX_OK && keep_in_store(c, i, data, len, &crc, &offset);
	entry *x = NULL;
	if (r == EX_OK && !stored && !(x = calloc(1, sizeof *x))) {
		snprintf(err, errlen, "out of memory");
		r = EX_ENOMEM;
	}
	if (stored || r != EX_OK)
		free(data);

	pthread_mutex_lock(&c->lock);
	handle *h = NULL;
	waiter *w = s->waiters;
	if (r == EX_OK) {
		c->stats.generated++;
		s->size = (int64_t)len;
		if (stored) {
			*s = (slot){.state = SLOT_STORED, .verified = 1, .size = (int64_t)len,
				    .crc = crc, .offset = offset};
			c->stats.stored_bytes += len;
		} else {
			*x = (entry){data, len, i, 1, NULL, NULL};
			*s = (slot){.state = SLOT_MEMORY, .size = (int64_t)len, .entry = x};
			c->used += len;
			push_front(c, x);
		}
	} else {
		s->state = SLOT_EMPTY;
	}
	s->waiters = NULL;
	ex_err told = r;
	if (r == EX_OK) {
		int gone;
		h = stored ? open_stored(c, i, &gone) : (x->refs++, memory_handle(x));
		if (!h) {
			snprintf(err, errlen, "cannot open the generated file");
			r = EX_EIO;
		}
	}
	pthread_mutex_unlock(&c->lock);
	/* After unlocking: a waiter woken with the lock still held would only
	 * go back to sleep on it. */
	pthread_cond_broadcast(&c->generated);
	while (w) {
		waiter *next = w->next;
		w->ready(w->ctx, told, len, err);
		free(w);
		w = next;
	}
	*out = h;
	return r;
}

ex_err fc_open(fc_cache *c, uint32_t i, fc_file **out, char *err, size_t errlen)
{
	slot *s = &c->slots[i];
	handle *h = NULL;
	pthread_mutex_lock(&c->lock);
	for (;;) {
		if (s->state == SLOT_MEMORY) {
			entry *x = s->entry;
			x->refs++;
			unlink_entry(x);
			push_front(c, x);
			h = memory_handle(x);
			if (!h)
				drop_ref(c, x);
			c->stats.hits++;
			break;
		}
		if (s->state == SLOT_STORED) {
			int gone;
			if ((h = open_stored(c, i, &gone)) || !gone) {
				c->stats.hits += h != NULL;
				break;
			}
			continue; /* generated again below, or by whoever came first */
		}
		if (s->state == SLOT_EMPTY) {
			s->state = SLOT_GENERATING;
			c->stats.misses++;
			pthread_mutex_unlock(&c->lock);
			ex_err r = generate(c, i, &h, err, errlen);
			*out = h ? &h->file : NULL;
			return r;
		}
		if (s->state == SLOT_GENERATING)
			pthread_cond_wait(&c->generated, &c->lock);
	}
	pthread_mutex_unlock(&c->lock);
	if (!h) {
		snprintf(err, errlen, "cannot open the cached file (see above)");
		return EX_EIO;
	}
	*out = &h->file;
	return EX_OK;
}

void fc_close(fc_cache *c, fc_file *f)
{
	handle *h = (handle *)f;
	if (h->entry) {
		pthread_mutex_lock(&c->lock);
		drop_ref(c, h->entry);
		trim(c);
		pthread_mutex_unlock(&c->lock);
	} else {
		st_pack_release(c->store);
	}
	free(h);
}

ex_err fc_size(fc_cache *c, uint32_t i, size_t *size, char *err, size_t errlen)
{
	pthread_mutex_lock(&c->lock);
	int64_t known = c->slots[i].size;
	pthread_mutex_unlock(&c->lock);
	if (known >= 0) {
		*size = (size_t)known;
		return EX_OK;
	}
	fc_file *f;
	ex_err r = fc_open(c, i, &f, err, errlen);
	if (r != EX_OK)
		return r;
	*size = f->len;
	fc_close(c, f);
	return EX_OK;
}

void fc_size_then(fc_cache *c, uint32_t i, fc_size_fn *ready, void *ctx)
{
	slot *s = &c->slots[i];
	pthread_mutex_lock(&c->lock);
	if (s->size < 0 && s->state == SLOT_GENERATING) {
		waiter *w = malloc(sizeof *w);
		if (w) {
			*w = (waiter){ready, ctx, s->waiters};
			s->waiters = w;
			c->stats.hits++; /* as if it had waited in fc_open */
			pthread_mutex_unlock(&c->lock);
			return;
		}
	}
	pthread_mutex_unlock(&c->lock);
	size_t size = 0;
	char err[512];
	ex_err r = fc_size(c, i, &size, err, sizeof err);
	ready(ctx, r, size, err);
}

int fc_known(fc_cache *c, uint32_t i)
{
	pthread_mutex_lock(&c->lock);
	int known = c->slots[i].size >= 0;
	pthread_mutex_unlock(&c->lock);
	return known;
}

int fc_underway(fc_cache *c, uint32_t i)
{
	pthread_mutex_lock(&c->lock);
	int underway = c->slots[i].size >= 0 || c->slots[i].state == SLOT_GENERATING;
	pthread_mutex_unlock(&c->lock);
	return underway;
}

void fc_get_stats(fc_cache *c, fc_stats *out)
{
	pthread_mutex_lock(&c->lock);
	*out = c->stats;
	out->memory_bytes = c->used;
	pthread_mutex_unlock(&c->lock);
}
