/*
 * cn_claim.c - the bytes an array's metadata claims, checked against what
 * the store holds before anything is allocated or read by that claim.
 * Metadata costs nothing to write: a 60 kB .h5ad can declare an obsm of
 * 40 x 2^24 doubles (5 GB, no chunk written), a Zarr store an array of
 * missing chunks of any shape, and every reader that takes the shape at
 * its word allocates and fills it (20 s of check, or the memory).
 *
 * Values the store does not hold read as the fill value: legitimate (Zarr
 * leaves out chunks equal to it; HDF5 leaves unwritten chunks out) but
 * free to claim. So an array may claim up to CN_CLAIM_FREE bytes with no
 * question asked, and beyond that at most CN_FILL_RATIO times more than
 * its stored values (the back end's held: HDF5 stored chunks times their
 * decoded size, or the storage size; Zarr the chunks present):
 *
 *   obsm/X_pca 40 x 16777216 float32, 0 chunks stored ->
 *   "obsm/X_pca: claims 40 x 16777216 values (2.7 GB) of which the file holds
 *    0 B: refused"
 *
 * The answer for a path is remembered while the store is open, as a dense
 * X opened once per gene would otherwise count its chunks each time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cn_impl.h"

/* What any array may claim beyond what it holds: 64 MiB of fill value. */
#define CN_CLAIM_FREE ((uint64_t)64 << 20)
/* Values read as fill per value held: a Zarr X of which 99.6 % of chunks
 * are all zeros (left out) still opens. */
#define CN_FILL_RATIO 256

/* The claimed bytes of a, or UINT64_MAX when they do not fit 64 bits. */
static uint64_t claimed(const cn_info *in)
{
	uint64_t n = in->type.size ? in->type.size : 1;
	for (int i = 0; i < in->rank; i++) {
		if (in->shape[i] && n > UINT64_MAX / in->shape[i])
			return UINT64_MAX;
		n *= in->shape[i];
	}
	return n;
}

/* "40 x 16777216" */
static void shape_text(const cn_info *in, char *buf, size_t len)
{
	size_t at = 0;
	buf[0] = 0;
	for (int i = 0; i < in->rank && at < len; i++)
		at += (size_t)snprintf(buf + at, len - at, "%s%llu", i ? " x " : "",
				       (unsigned long long)in->shape[i]);
}

static void bytes_text(uint64_t b, char *buf, size_t len)
{
	static const char *const unit[] = { "B", "kB", "MB", "GB", "TB", "PB", "EB" };
	double v = (double)b;
	unsigned u = 0;
	while (v >= 1000 && u < 6) {
		v /= 1000;
		u++;
	}
	snprintf(buf, len, u ? "%.1f %s" : "%.0f %s", v, unit[u]);
}

static int remembered(cn_store *s, const char *path)
{
	for (size_t i = 0; i < CN_CLAIMS_KEPT; i++)
		if (s->claims_ok[i] && !strcmp(s->claims_ok[i], path))
			return 1;
	return 0;
}

static void remember(cn_store *s, const char *path)
{
	char *p = cn_strdup(path);
	if (!p)
		return;
	free(s->claims_ok[s->claims_next]);
	s->claims_ok[s->claims_next] = p;
	s->claims_next = (s->claims_next + 1) % CN_CLAIMS_KEPT;
}

ad_err cn_claim_check(cn_array *a)
{
	const cn_info *in = &a->info;
	uint64_t claim = claimed(in), held = 0, need;
	char shape[160], c[32], h[32];

	if (claim <= CN_CLAIM_FREE || remembered(a->s, a->path))
		return AD_OK;
	/* claim <= FREE + (RATIO + 1) * held, with held counted only so far */
	need = (claim - CN_CLAIM_FREE) / (CN_FILL_RATIO + 1) + 1;
	if (claim != UINT64_MAX && a->s->ops->held)
		held = a->s->ops->held(a, need);
	if (claim != UINT64_MAX && held >= need) {
		remember(a->s, a->path);
		return AD_OK;
	}
	shape_text(in, shape, sizeof shape);
	bytes_text(claim, c, sizeof c);
	bytes_text(held, h, sizeof h);
	return cn_fail(a->s, AD_EFORMAT, "%s: claims %s values (%s%s) of which the file holds %s: "
		       "refused", a->path, shape, claim == UINT64_MAX ? "more than " : "", c, h);
}

void cn_claims_free(cn_store *s)
{
	for (size_t i = 0; i < CN_CLAIMS_KEPT; i++) {
		free(s->claims_ok[i]);
		s->claims_ok[i] = NULL;
	}
}
