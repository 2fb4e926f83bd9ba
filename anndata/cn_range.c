/*
 * cn_range.c - a range of a 1-d chunked array read chunk by chunk, the
 * chunks decoded on every core: what the X scans use for the long runs of
 * X/data and X/indices and dense X, where decoding (inflate) is the cost.
 *
 * The chunks under the range are fetched first (cn_chunk_fetch: the I/O,
 * under the caller's lock as every call on the store), then decoded with
 * that lock released (cn_set_lock) by the calling thread and up to
 * RANGE_THREADS - 1 helpers, each chunk into its place in out (the two
 * edge chunks through a scratch buffer). Memory
 * stays bounded by the range: its stored bytes plus one chunk per thread.
 * Sample: 1 000 000 float32 values in h5py's gzip chunks of 20 000 are 50
 * fetches and 50 inflates, 25 per core on two cores. A box of a 2-d array
 * (dense X's row blocks) goes the same way (cn_read_box_range).
 *
 * An array that is not chunked, or whose chunks the back end does not
 * fetch raw (no filters, or HDF5 must decode them), is read by cn_read /
 * cn_read_block, as is an array of rank above 2.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cn_impl.h"

#define RANGE_THREADS 8

/* A box of a rank 1 or 2 array, a rank 1 array seen as one row. */
struct range_job {
	cn_array *a;
	cn_chunk **chunks;
	uint64_t *ids;        /* the chunk numbers of chunks[] */
	size_t n, chunk_max;   /* chunk_max: values in a whole chunk */
	uint64_t start[2], count[2];
	cn_num want;
	unsigned char *out;
	size_t next;          /* the next chunk to decode, under mu */
	pthread_mutex_t mu;
	ad_err e;
	char err[256];
};

/* Decode chunk i into its place: the part of it inside the box, straight
 * into out when it is one run of out, else through scratch. */
static ad_err decode_one(struct range_job *j, size_t i, void **scratch)
{
	uint64_t cst[CN_MAX_RANK], ccnt[CN_MAX_RANK], lo[2], hi[2];
	size_t size = cn_num_size(j->want);
	int rank = j->a->info.rank;
	ad_err e;

	cn_chunk_box(j->a, j->ids[i], cst, ccnt);
	if (rank == 1) {
		cst[1] = cst[0], ccnt[1] = ccnt[0];
		cst[0] = 0, ccnt[0] = 1;
	}
	for (int d = 0; d < 2; d++) {
		lo[d] = cst[d] < j->start[d] ? j->start[d] : cst[d];
		hi[d] = cst[d] + ccnt[d] < j->start[d] + j->count[d] ? cst[d] + ccnt[d]
								 : j->start[d] + j->count[d];
	}
	if (lo[0] == cst[0] && hi[0] == cst[0] + ccnt[0] && lo[1] == cst[1] &&
	    hi[1] == cst[1] + ccnt[1] && (ccnt[0] == 1 || ccnt[1] == j->count[1]))
		return cn_chunk_decode(j->chunks[i], j->want,
				       j->out + ((lo[0] - j->start[0]) * j->count[1] +
						 lo[1] - j->start[1]) * size);
	if (!*scratch && !(*scratch = cn_mallocn(j->chunk_max, size)))
		return AD_ENOMEM;
	e = cn_chunk_decode(j->chunks[i], j->want, *scratch);
	for (uint64_t r = lo[0]; !e && r < hi[0]; r++)
		memcpy(j->out + ((r - j->start[0]) * j->count[1] + lo[1] - j->start[1]) * size,
		       (unsigned char *)*scratch + ((r - cst[0]) * ccnt[1] + lo[1] - cst[1]) * size,
		       (hi[1] - lo[1]) * size);
	return e;
}

static void *decode_worker(void *arg)
{
	struct range_job *j = arg;
	void *scratch = NULL;

	for (;;) {
		size_t i;
		ad_err e;

		pthread_mutex_lock(&j->mu);
		i = j->e ? j->n : j->next++;
		pthread_mutex_unlock(&j->mu);
		if (i >= j->n)
			break;
		e = decode_one(j, i, &scratch);
		if (e) {
			pthread_mutex_lock(&j->mu);
			if (!j->e) {
				j->e = e;
				snprintf(j->err, sizeof j->err, "%s",
					 e == AD_ENOMEM ? "out of memory" : cn_chunk_error(j->chunks[i]));
			}
			pthread_mutex_unlock(&j->mu);
		}
	}
	free(scratch);
	return NULL;
}

static size_t cores(size_t chunks)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	size_t t = n < 1 ? 1 : (size_t)n;

	if (t > RANGE_THREADS)
		t = RANGE_THREADS;
	return t < chunks ? t : chunks;
}

/* The chunks of a under the box into j (ids and fetched chunks); *ours
 * says whether we decode them (else HDF5 does: read the box whole). */
static ad_err fetch_box(cn_array *a, struct range_job *j, int *ours)
{
	int rank = a->info.rank;
	uint64_t step[2] = { 1, a->info.chunk[rank - 1] }, k0[2], k1[2], along;

	if (rank == 2)
		step[0] = a->info.chunk[0];
	along = (rank == 2 ? (a->info.shape[1] + step[1] - 1) / step[1] : 0);
	j->chunk_max = (size_t)(step[0] * step[1]);
	for (int d = 0; d < 2; d++) {
		k0[d] = j->start[d] / step[d];
		k1[d] = (j->start[d] + j->count[d] - 1) / step[d] + 1;
	}
	j->n = (size_t)((k1[0] - k0[0]) * (k1[1] - k0[1]));
	j->chunks = calloc(j->n, sizeof *j->chunks);
	j->ids = cn_mallocn(j->n, sizeof *j->ids);
	*ours = 0;
	if (!j->chunks || !j->ids)
		return cn_fail(a->s, AD_ENOMEM, "%s: out of memory", a->path);
	for (uint64_t r = k0[0], i = 0; r < k1[0]; r++)
		for (uint64_t c = k0[1]; c < k1[1]; c++, i++) {
			ad_err e;

			j->ids[i] = rank == 2 ? r * along + c : c;
			e = cn_chunk_fetch(a, j->ids[i], &j->chunks[i]);
			if (e || (i == 0 && !j->chunks[0]->decode))
				return e;
		}
	*ours = 1;
	return AD_OK;
}

/* Decode the fetched chunks of j on every core, the caller's lock let go. */
static ad_err decode_box(cn_array *a, struct range_job *j)
{
	pthread_t th[RANGE_THREADS];
	size_t nt = cores(j->n), started = 0;

	/* Nothing below touches the store: other readers may use it. */
	if (a->s->release)
		a->s->release(a->s->lock_ctx);
	pthread_mutex_init(&j->mu, NULL);
	while (started + 1 < nt && !pthread_create(&th[started], NULL, decode_worker, j))
		started++;
	decode_worker(j);
	for (size_t t = 0; t < started; t++)
		pthread_join(th[t], NULL);
	pthread_mutex_destroy(&j->mu);
	if (a->s->release)
		a->s->retake(a->s->lock_ctx);
	return j->e ? cn_fail(a->s, j->e, "%s", j->err) : AD_OK;
}

ad_err cn_read_box_range(cn_array *a, const uint64_t *start, const uint64_t *count, cn_num want,
			 void *out)
{
	struct range_job j = { .a = a, .want = want, .out = out };
	int rank = a->info.rank, ours;
	ad_err e;

	if (!a->info.chunked || rank < 1 || rank > 2 || !a->info.chunk[0] ||
	    !a->info.chunk[rank - 1])
		return cn_read_block(a, start, count, want, out);
	for (int d = 0; d < rank; d++) {
		if (!count[d])
			return AD_OK;
		if (start[d] > a->info.shape[d] || count[d] > a->info.shape[d] - start[d])
			return cn_read_block(a, start, count, want, out); /* says why */
	}
	j.start[0] = rank == 2 ? start[0] : 0;
	j.count[0] = rank == 2 ? count[0] : 1;
	j.start[1] = start[rank - 1];
	j.count[1] = count[rank - 1];
	e = fetch_box(a, &j, &ours);
	if (!e)
		e = ours ? decode_box(a, &j) : cn_read_block(a, start, count, want, out);
	for (size_t i = 0; i < j.n && j.chunks; i++)
		cn_chunk_free(j.chunks[i]);
	free(j.chunks);
	free(j.ids);
	return e;
}

ad_err cn_read_range(cn_array *a, cn_num want, uint64_t start, uint64_t count, void *out)
{
	if (a->info.rank != 1)
		return cn_read(a, NULL, want, start, count, out);
	return cn_read_box_range(a, &start, &count, want, out);
}
