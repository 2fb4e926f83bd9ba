/*
 * util.c - gen-h5ad's errors (one line on stderr, no half-written file left
 * behind), allocation and random numbers (xoshiro256** with a stream per
 * part of the file).
 */
#include "gen.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------------------ */
/* Errors: one line on stderr, and no half-written file left behind.        */

const char *g_out;
char *g_part;

_Noreturn __attribute__((format(printf, 1, 2)))
_Noreturn void die(const char *fmt, ...)
{
	va_list ap;
	fputs("gen-h5ad: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (g_part)
		unlink(g_part);
	/* _exit: HDF5's exit handler would try to flush the failed file, and
	 * after a write error that crashes (seen with HDF5 1.10.8). */
	fflush(NULL);
	_exit(1);
}

/* H5Ewalk2 callback: keep the innermost message, which is the one that says
 * what went wrong; from a failed system call keep just the strerror text
 * (HDF5 wraps it in "... errno = 28, error message = '...', buf = ..."). */
static herr_t keep_innermost(unsigned n, const H5E_error2_t *e, void *buf)
{
	if (n != 0 || !e->desc)
		return 0;
	const char *msg = strstr(e->desc, "error message = '");
	if (msg) {
		msg += strlen("error message = '");
		snprintf(buf, 256, "%.*s", (int)strcspn(msg, "'"), msg);
	} else {
		snprintf(buf, 256, "%s", e->desc);
	}
	return 0;
}

const char *h5_reason(void)
{
	static char reason[256];
	snprintf(reason, sizeof reason, "HDF5 error");
	H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, keep_innermost, reason);
	return reason;
}

/* Returns id unless it reports an HDF5 failure; works for hid_t and herr_t. */
hid_t h5(hid_t id, const char *what)
{
	if (id < 0)
		die("%s: cannot write %s: %s", g_out, what, h5_reason());
	return id;
}

void *xmalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);
	if (!p)
		die("out of memory (%zu x %zu bytes)", n, size);
	return p;
}

/* ------------------------------------------------------------------------ */
/* Random numbers: xoshiro256**, seeded through splitmix64. Every part of    */
/* the file draws from its own stream, so changing one part (say, the UMAP   */
/* shapes) does not change the others.                                       */



static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15u);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

void rng_init(rng *r, uint64_t seed, uint64_t stream)
{
	uint64_t x = seed ^ (stream * 0xd1b54a32d192ed03u);
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&x);
	r->has_spare = 0;
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t rng_next(rng *r)
{
	uint64_t *s = r->s, out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return out;
}

/* Uniform in [0, 1) and in (0, 1) (the latter is safe to take the log of). */
double unit(rng *r) { return (double)(rng_next(r) >> 11) * 0x1.0p-53; }
double unit_open(rng *r) { return ((double)(rng_next(r) >> 11) + 0.5) * 0x1.0p-53; }
uint32_t below(rng *r, uint32_t n)
{
	uint32_t v = (uint32_t)(unit(r) * n);
	return v < n ? v : n - 1;   /* the product can round up to n */
}

/* Standard normal, Marsaglia's polar method (two values per draw). */
double normal(rng *r)
{
	if (r->has_spare) {
		r->has_spare = 0;
		return r->spare;
	}
	double u, v, s;
	do {
		u = 2 * unit(r) - 1;
		v = 2 * unit(r) - 1;
		s = u * u + v * v;
	} while (s >= 1 || s == 0);
	double m = sqrt(-2 * log(s) / s);
	r->spare = v * m;
	r->has_spare = 1;
	return u * m;
}

/* Gamma(shape >= 1, scale), Marsaglia & Tsang (2000). */
double gamma_draw(rng *r, double shape, double scale)
{
	double d = shape - 1.0 / 3, c = 1 / sqrt(9 * d);
	for (;;) {
		double x, v;
		do {
			x = normal(r);
			v = 1 + c * x;
		} while (v <= 0);
		v = v * v * v;
		double u = unit_open(r);
		if (u < 1 - 0.0331 * x * x * x * x || log(u) < 0.5 * x * x + d * (1 - v + log(v)))
			return d * v * scale;
	}
}
