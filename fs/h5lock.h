/*
 * h5lock.h - the one lock around every HDF5 call (export-format's engine and
 * the gene index share it). Taking it also makes sure HDF5 stays silent in
 * this thread: its error-printing switch is per thread.
 */
#ifndef H5LOCK_H
#define H5LOCK_H

#include <pthread.h>
#include "ad.h"

static inline void h5_lock(pthread_mutex_t *m)
{
	pthread_mutex_lock(m);
	ad_thread_init();
}

#endif
