/*
 * prefetch.c - see prefetch.h.
 */
#include "prefetch.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

struct pf_worker {
	ex_export *e;
	fc_cache *c;
	ex_prefetch level;
	atomic_int stop;
	pthread_t thread;
};

static double seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *prefetch_main(void *arg)
{
	pf_worker *w = arg;
	/* Nice only this thread (Linux applies it per thread), so the readers'
	 * threads keep the CPU when both want it. */
	setpriority(PRIO_PROCESS, (id_t)gettid(), 10);
	double start = seconds();
	size_t done = 0, failed = 0;
	for (uint32_t i = 0; i < ex_node_count(w->e) && !atomic_load(&w->stop); i++) {
		if (!ex_prefetches(w->e, i, w->level))
			continue;
		size_t size;
		char err[512];
		if (fc_size(w->c, i, &size, err, sizeof err) == EX_OK) {
			done++;
		} else if (failed++ == 0) {
			log_warn("prefetch: %s", err);
		}
	}
	if (!atomic_load(&w->stop))
		log_info("prefetch: %zu files ready in %.1f s%s", done, seconds() - start,
			 failed ? " (some failed: see above)" : "");
	return NULL;
}

pf_worker *pf_start(ex_export *e, fc_cache *c, ex_prefetch level)
{
	if (level == EX_PREFETCH_NONE)
		return NULL;
	pf_worker *w = calloc(1, sizeof *w);
	if (!w)
		return NULL;
	*w = (pf_worker){.e = e, .c = c, .level = level};
	atomic_init(&w->stop, 0);
	if (pthread_create(&w->thread, NULL, prefetch_main, w)) {
		log_warn("prefetch: cannot start a thread");
		free(w);
		return NULL;
	}
	return w;
}

void pf_stop(pf_worker *w)
{
	if (!w)
		return;
	atomic_store(&w->stop, 1);
	pthread_join(w->thread, NULL);
	free(w);
}
