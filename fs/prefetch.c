/*
 * prefetch.c - see prefetch.h.
 */
#include "prefetch.h"

#include <pthread.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define MAX_THREADS 8
#define MAX_WINDOW 256

struct pf_pool {
	ex_export *e;
	fc_cache *c;
	ex_prefetch level;
	pf_ready_fn *ready;
	void *ready_ctx;
	pthread_mutex_t lock;
	pthread_cond_t work;
	int stop;
	/* readahead: nodes [ahead_next, ahead_end) are wanted */
	uint32_t ahead_next, ahead_end, last_lookup, window;
	/* prefetch level: the next node to consider */
	uint32_t level_next;
	size_t level_total, level_done, level_failed;
	int level_reported;        /* tenths of the level already logged */
	double started;
	int busy;
	size_t n_threads;
	pthread_t threads[MAX_THREADS];
};

static double seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The next node to warm, or -1 to wait (lock held). Readahead comes first:
 * someone is waiting for those files. */
static int64_t next_job(pf_pool *p, int *for_level)
{
	uint32_t n = (uint32_t)ex_node_count(p->e);
	if (p->ahead_next < p->ahead_end && p->ahead_next < n) {
		*for_level = 0;
		return p->ahead_next++;
	}
	while (p->level_next < n && !ex_prefetches(p->e, p->level_next, p->level))
		p->level_next++;
	if (p->level_next < n) {
		*for_level = 1;
		return p->level_next++;
	}
	return -1;
}

/* Every tenth of the level: how far, how fast, how long still (lock held). */
static void report_level(pf_pool *p)
{
	size_t done = p->level_done + p->level_failed;
	int tenth = p->level_total ? (int)(10 * done / p->level_total) : 10;
	if (tenth <= p->level_reported || tenth >= 10)
		return;
	p->level_reported = tenth;
	double spent = seconds() - p->started, rate = spent > 0 ? (double)done / spent : 0;
	log_info("prefetch: %d%% (%zu of %zu files, %.0f files/s), about %.0f s left", tenth * 10,
		 done, p->level_total, rate, rate > 0 ? (double)(p->level_total - done) / rate : 0.0);
}

static void *warm(void *arg)
{
	pf_pool *p = arg;
	/* Nice only this thread (Linux applies it per thread), so the readers'
	 * threads keep the CPU when both want it. */
	setpriority(PRIO_PROCESS, (id_t)gettid(), 10);
	pthread_mutex_lock(&p->lock);
	while (!p->stop) {
		int for_level;
		int64_t i = next_job(p, &for_level);
		if (i < 0) {
			if (!p->busy && p->level != EX_PREFETCH_NONE && p->level_done + p->level_failed) {
				log_info("prefetch: %zu files ready in %.1f s%s", p->level_done,
					 seconds() - p->started,
					 p->level_failed ? " (some failed: see above)" : "");
				p->level_done = p->level_failed = 0;
			}
			pthread_cond_wait(&p->work, &p->lock);
			continue;
		}
		if (ex_node_at(p->e, (uint32_t)i)->kind == EX_DIR)
			continue;
		/* Known, or being generated for someone else: waiting for it would
		 * hold this thread back from the next file. */
		int ok = 1;
		if (!fc_underway(p->c, (uint32_t)i)) {
			p->busy++;
			pthread_mutex_unlock(&p->lock);
			size_t size;
			char err[512];
			ok = fc_size(p->c, (uint32_t)i, &size, err, sizeof err) == EX_OK;
			if (ok && p->ready)
				p->ready(p->ready_ctx, (uint32_t)i);
			pthread_mutex_lock(&p->lock);
			p->busy--;
			if (!ok && (!for_level || p->level_failed++ == 0))
				log_warn("prefetch: %s", err);
		}
		if (for_level && ok)
			p->level_done++;
		if (for_level)
			report_level(p);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

pf_pool *pf_start(ex_export *e, fc_cache *c, ex_prefetch level, pf_ready_fn *ready,
		  void *ready_ctx)
{
	pf_pool *p = calloc(1, sizeof *p);
	if (!p)
		return NULL;
	p->e = e;
	p->c = c;
	p->level = level;
	p->ready = ready;
	p->ready_ctx = ready_ctx;
	p->started = seconds();
	for (uint32_t i = 0; i < ex_node_count(e); i++)
		p->level_total += ex_prefetches(e, i, level);
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->work, NULL);
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	size_t want = cores < 1 ? 1 : cores > MAX_THREADS ? MAX_THREADS : (size_t)cores;
	for (; p->n_threads < want; p->n_threads++)
		if (pthread_create(&p->threads[p->n_threads], NULL, warm, p))
			break;
	if (!p->n_threads) {
		log_warn("prefetch: cannot start a thread");
		pthread_mutex_destroy(&p->lock);
		pthread_cond_destroy(&p->work);
		free(p);
		return NULL;
	}
	return p;
}

void pf_stop(pf_pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = 1;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->lock);
	for (size_t k = 0; k < p->n_threads; k++)
		pthread_join(p->threads[k], NULL);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->work);
	free(p);
}

void pf_looked_up(pf_pool *p, uint32_t i, int missed)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	int sequential = i == p->last_lookup + 1 || (i >= p->ahead_next && i <= p->ahead_end);
	/* A miss extends the window at once; a hit only when the reader is
	 * half a window from its end. Extending on misses alone stalled: a
	 * reader served from the window met a miss past its end, which did not
	 * follow the previous miss, and readahead stopped at every window. */
	if (sequential && (missed || (p->window && i + p->window / 2 >= p->ahead_end))) {
		p->window = p->window ? (p->window * 2 > MAX_WINDOW ? MAX_WINDOW : p->window * 2) : 4;
		if (p->ahead_next <= i)
			p->ahead_next = i + 1;
		if (p->ahead_end < i + 1 + p->window) {
			p->ahead_end = i + 1 + p->window;
			pthread_cond_broadcast(&p->work);
		}
	} else if (!sequential && missed) {
		p->window = 0; /* random access: guessing ahead would be waste */
	}
	p->last_lookup = i;
	pthread_mutex_unlock(&p->lock);
}
