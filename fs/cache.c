/*
 * cache.c - see cache.h.
 *
 * One mutex guards the slot table, the LRU list and the reference counts;
 * generation itself runs unlocked (a slot in state GENERATING makes other
 * callers wait on the condition variable instead of generating again).
 */
#include "cache.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct entry entry;

struct entry {
	fc_blob blob;     /* first member: an fc_blob* is an entry* */
	uint32_t node;
	unsigned refs;    /* the slot's own reference plus one per reader */
	entry *prev, *next;
};

typedef struct {
	enum { SLOT_EMPTY, SLOT_GENERATING, SLOT_READY } state;
	entry *entry;
	int64_t size;     /* -1 until first generated */
} slot;

struct fc_cache {
	ex_export *e;
	size_t limit, used;
	pthread_mutex_t lock;
	pthread_cond_t generated;
	slot *slots;
	entry lru;        /* sentinel; lru.next is the most recently used */
};

fc_cache *fc_new(ex_export *e, size_t limit)
{
	fc_cache *c = calloc(1, sizeof *c);
	size_t n = ex_node_count(e);
	if (!c || !(c->slots = calloc(n, sizeof *c->slots))) {
		free(c);
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		c->slots[i].size = -1;
	c->e = e;
	c->limit = limit;
	c->lru.prev = c->lru.next = &c->lru;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->generated, NULL);
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
	c->used -= x->blob.len;
	free((void *)x->blob.data);
	free(x);
}

/* Evict unused entries from the cold end until the total fits. Entries still
 * being read stay (their memory goes when the last reader releases them). */
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

ex_err fc_get(fc_cache *c, uint32_t i, fc_blob **out, char *err, size_t errlen)
{
	slot *s = &c->slots[i];
	pthread_mutex_lock(&c->lock);
	for (;;) {
		if (s->state == SLOT_READY) {
			entry *x = s->entry;
			x->refs++;
			unlink_entry(x);
			push_front(c, x);
			pthread_mutex_unlock(&c->lock);
			*out = &x->blob;
			return EX_OK;
		}
		if (s->state == SLOT_EMPTY)
			break;
		pthread_cond_wait(&c->generated, &c->lock);
	}
	s->state = SLOT_GENERATING;
	pthread_mutex_unlock(&c->lock);

	void *data = NULL;
	size_t len = 0;
	ex_err r = ex_generate(c->e, i, &data, &len, err, errlen);
	entry *x = r == EX_OK ? calloc(1, sizeof *x) : NULL;
	if (r == EX_OK && !x) {
		free(data);
		snprintf(err, errlen, "out of memory");
		r = EX_ENOMEM;
	}

	pthread_mutex_lock(&c->lock);
	if (r == EX_OK) {
		*x = (entry){{data, len}, i, 2, NULL, NULL}; /* slot + caller */
		s->entry = x;
		s->state = SLOT_READY;
		s->size = (int64_t)len;
		c->used += len;
		push_front(c, x);
		*out = &x->blob;
	} else {
		s->state = SLOT_EMPTY;
	}
	pthread_cond_broadcast(&c->generated);
	pthread_mutex_unlock(&c->lock);
	return r;
}

void fc_release(fc_cache *c, fc_blob *b)
{
	pthread_mutex_lock(&c->lock);
	drop_ref(c, (entry *)b);
	trim(c);
	pthread_mutex_unlock(&c->lock);
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
	fc_blob *b;
	ex_err r = fc_get(c, i, &b, err, errlen);
	if (r != EX_OK)
		return r;
	*size = b->len;
	fc_release(c, b);
	return EX_OK;
}
