/*
 * ad_util.c - what every AnnData encoding file needs: one-line errors, 1-d
 * elements (a dataset, or one member of a pre-0.7 compound table) checked
 * and read whole, any 1-d element read as strings, and Python's float repr.
 *
 * Only the container layer (cn.h) is used to reach the file. Numbers become
 * strings here, as Python's str() writes them, because that is an AnnData
 * convention (categories and var names may be numbers), not a storage one.
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ad_internal.h"

ad_err ad_fail(ad_file *f, ad_err e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(f->err, sizeof f->err, fmt, ap);
	va_end(ap);
	return e;
}

ad_err ad_nomem(ad_file *f, const char *path)
{
	return ad_fail(f, AD_ENOMEM, "%s: out of memory", path);
}

void ad_join(const char *const *names, size_t n, char *buf, size_t len)
{
	size_t used = 0;

	snprintf(buf, len, "none");
	for (size_t i = 0; i < n && used < len; i++)
		used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? ", " : "", names[i]);
}

void ad_strings_free(char **s, size_t n)
{
	cn_strings_free(s, n);
}

/* ---- 1-d elements ---- */

ad_err ad_len(ad_file *f, const cn_array *a, size_t *len)
{
	const cn_info *in = cn_array_info(a);
	const char *path = cn_array_path(a);

	if (in->rank == 0)
		*len = 1;
	else if (in->rank == CN_RANK_NULL)
		return ad_fail(f, AD_EFORMAT, "%s: no values (null dataspace)", path);
	else if (in->rank != 1)
		return ad_fail(f, AD_EFORMAT, "%s: rank %d, expected a 1-d array", path, in->rank);
	else if (in->shape[0] > SIZE_MAX)
		return ad_fail(f, AD_EIO, "%s: cannot read the shape", path);
	else
		*len = (size_t)in->shape[0];
	return AD_OK;
}

ad_err ad_values_open(ad_file *f, const char *path, const char *member, cn_array **out,
		      size_t *len, cn_type *t)
{
	cn_array *a;
	ad_err e = cn_array_open(f->store, path, &a);

	if (e)
		return e;
	e = ad_len(f, a, len);
	if (!e && member)
		e = cn_member_type(a, member, t);
	else if (!e)
		*t = cn_array_info(a)->type;
	if (e || !out)
		cn_array_close(a);
	else
		*out = a;
	return e;
}

/* Open path into *a and check it is 1-d with n values. */
static ad_err open_n(ad_file *f, const char *path, const char *member, size_t n,
		     cn_array **a, cn_type *t)
{
	size_t len;
	ad_err e = ad_values_open(f, path, member, a, &len, t);

	if (!e && len != n) {
		e = ad_fail(f, AD_EFORMAT, "%s: %zu values, expected %zu", path, len, n);
		cn_array_close(*a);
	}
	return e;
}

ad_err ad_read_all(ad_file *f, const char *path, const char *member, cn_num want, size_t n,
		   void *out)
{
	cn_array *a;
	cn_type t;
	ad_err e = open_n(f, path, NULL, n, &a, &t);

	if (e)
		return e;
	e = cn_read(a, member, want, 0, n, out);
	cn_array_close(a);
	return e;
}

/* ---- any 1-d element as strings ---- */

/* Numbers formatted one by one as Python's str() would; bools as False/True. */
static ad_err read_number_values(ad_file *f, cn_array *a, const char *member,
				 const cn_type *t, size_t n, char **out)
{
	const char *path = cn_array_path(a);
	int single = t->cls == CN_T_FLOAT && t->size <= 4;
	cn_num want = t->cls == CN_T_FLOAT ? CN_F64 : t->cls == CN_T_BOOL ? CN_I8 :
		      t->cls == CN_T_UINT ? CN_U64 : CN_I64;
	void *buf = cn_mallocn(n, 8);
	ad_err e;

	if (!buf)
		return ad_nomem(f, path);
	e = cn_read(a, member, want, 0, n, buf);
	for (size_t i = 0; !e && i < n; i++) {
		char s[48];

		if (t->cls == CN_T_FLOAT)
			ad_format_float(((double *)buf)[i], single, s, sizeof s);
		else if (t->cls == CN_T_BOOL)
			strcpy(s, ((int8_t *)buf)[i] ? "True" : "False");
		else if (t->cls == CN_T_UINT)
			snprintf(s, sizeof s, "%" PRIu64, ((uint64_t *)buf)[i]);
		else
			snprintf(s, sizeof s, "%" PRId64, ((int64_t *)buf)[i]);
		out[i] = cn_strdup(s);
		if (!out[i]) {
			while (i--)
				free(out[i]);
			e = ad_nomem(f, path);
		}
	}
	free(buf);
	return e;
}

ad_err ad_read_strings(ad_file *f, const char *path, const char *member, size_t n,
		       char ***out)
{
	cn_array *a;
	cn_type t;
	char **s;
	ad_err e = open_n(f, path, member, n, &a, &t);

	*out = NULL;
	if (e)
		return e;
	s = cn_mallocn(n, sizeof *s);
	if (!s)
		e = ad_nomem(f, path);
	else if (t.cls == CN_T_STRING)
		e = cn_read_strings(a, member, 0, n, s);
	else if (t.cls == CN_T_INT || t.cls == CN_T_UINT || t.cls == CN_T_FLOAT ||
		 t.cls == CN_T_BOOL)
		e = read_number_values(f, a, member, &t, n, s);
	else
		e = ad_fail(f, AD_EUNSUPPORTED, "%s: values are neither strings nor numbers",
			    path);
	if (e)
		free(s);
	else
		*out = s;
	cn_array_close(a);
	return e;
}

/* ---- Python float repr ---- */

void ad_format_float(double v, int single, char *buf, size_t len)
{
	char sci[40], digits[24];
	int exp, nd = 0, pos = 0;
	const char *p;

	if (isnan(v)) {
		snprintf(buf, len, "nan");
		return;
	}
	if (isinf(v)) {
		snprintf(buf, len, v < 0 ? "-inf" : "inf");
		return;
	}
	/* The shortest correctly rounded digits that read back to v. */
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(sci, sizeof sci, "%.*e", prec - 1, v);
		if (single ? strtof(sci, NULL) == (float)v : strtod(sci, NULL) == v)
			break;
	}
	p = sci;
	if (*p == '-')
		buf[pos++] = *p++;
	for (; *p != 'e'; p++)
		if (*p != '.')
			digits[nd++] = *p;
	while (nd > 1 && digits[nd - 1] == '0')
		nd--;
	exp = atoi(p + 1);
	/* Python and numpy switch on the value (not the rounded digits: float32
	 * 0.0001 is below 1e-4 and numpy writes 1e-04). */
	if (v != 0 && (fabs(v) < 1e-4 || fabs(v) >= 1e16)) {
		/* d[.ddd]e+XX, as Python writes 1e+16 and 1.5e-05 */
		snprintf(buf + pos, len - pos, "%c%s%.*se%c%02d", digits[0], nd > 1 ? "." : "",
			 nd - 1, digits + 1, exp < 0 ? '-' : '+', abs(exp));
	} else {
		/* fixed: "0.000ddd" below 1; else the integer part, zero-padded,
		 * and at least one fractional digit ("2.0") */
		char fixed[48];
		int point = exp + 1, w = 0;

		if (point <= 0) {
			fixed[w++] = '0';
			fixed[w++] = '.';
			for (int i = 0; i < -point; i++)
				fixed[w++] = '0';
			memcpy(fixed + w, digits, nd);
			w += nd;
		} else {
			for (int i = 0; i < point; i++)
				fixed[w++] = i < nd ? digits[i] : '0';
			fixed[w++] = '.';
			if (nd > point) {
				memcpy(fixed + w, digits + point, nd - point);
				w += nd - point;
			} else {
				fixed[w++] = '0';
			}
		}
		fixed[w] = '\0';
		snprintf(buf + pos, len - pos, "%s", fixed);
	}
}
