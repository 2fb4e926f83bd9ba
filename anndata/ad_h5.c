/*
 * ad_h5.c - the small HDF5 helpers of the anndata module: one-line errors,
 * checked allocation, string attributes, 1-d reads (of a dataset or of one
 * member of a compound dataset) and reading any 1-d element as strings.
 *
 * Strings are read whole, with a memory type built from the file type:
 * HDF5 converts neither between fixed and variable length nor between
 * ASCII and UTF-8, so the memory type must copy both from the file.
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

void *ad_mallocn(size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		return NULL;
	return malloc(n && size ? n * size : 1);
}

char *ad_strdup(const char *s)
{
	size_t len = strlen(s) + 1;
	char *d = malloc(len);

	return d ? memcpy(d, s, len) : NULL;
}

char *ad_path_join(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *p = malloc(la + lb + 2);

	if (!p)
		return NULL;
	memcpy(p, a, la);
	p[la] = '/';
	memcpy(p + la + 1, b, lb + 1);
	return p;
}

void ad_strings_free(char **s, size_t n)
{
	if (!s)
		return;
	for (size_t i = 0; i < n; i++)
		free(s[i]);
	free(s);
}

/* H5Lexists fails, rather than saying no, when an intermediate group of a
 * nested path is missing; both mean absent here. */
int ad_h5_exists(hid_t loc, const char *path)
{
	return H5Lexists(loc, path, H5P_DEFAULT) > 0;
}

H5I_type_t ad_h5_kind(hid_t loc, const char *path)
{
	H5I_type_t kind;
	hid_t obj;

	if (!ad_h5_exists(loc, path))
		return H5I_BADID;
	obj = H5Oopen(loc, path, H5P_DEFAULT);
	if (obj < 0)
		return H5I_BADID;
	kind = H5Iget_type(obj);
	H5Oclose(obj);
	return kind;
}

/* ---- strings ---- */

/* A memory string type matching the file string type ftype. */
static hid_t str_memtype(hid_t ftype)
{
	hid_t mt = H5Tcopy(H5T_C_S1);
	htri_t vlen = H5Tis_variable_str(ftype);

	if (mt < 0)
		return -1;
	if (vlen < 0 || H5Tset_size(mt, vlen ? H5T_VARIABLE : H5Tget_size(ftype)) < 0 ||
	    H5Tset_cset(mt, H5Tget_cset(ftype)) < 0 ||
	    (!vlen && H5Tset_strpad(mt, H5Tget_strpad(ftype)) < 0)) {
		H5Tclose(mt);
		return -1;
	}
	return mt;
}

/* Copy n strings read with the string memory type mt out of buf into
 * separately malloc'd strings. Fixed-length strings are not terminated when
 * they fill their width, so they are cut at the first NUL (and trailing
 * spaces are padding under SPACEPAD). Returns 0, or -1 out of memory. */
static int strings_copy(const void *buf, hid_t mt, size_t n, char **out)
{
	size_t width = H5Tget_size(mt);
	int vlen = H5Tis_variable_str(mt) > 0;
	int spacepad = !vlen && H5Tget_strpad(mt) == H5T_STR_SPACEPAD;

	for (size_t i = 0; i < n; i++) {
		const char *s;
		size_t len;

		if (vlen) {
			s = ((char *const *)buf)[i];
			if (!s)
				s = "";
			len = strlen(s);
		} else {
			s = (const char *)buf + i * width;
			len = strnlen(s, width);
			while (spacepad && len && s[len - 1] == ' ')
				len--;
		}
		out[i] = malloc(len + 1);
		if (!out[i]) {
			while (i--)
				free(out[i]);
			return -1;
		}
		memcpy(out[i], s, len);
		out[i][len] = '\0';
	}
	return 0;
}

/* A buffer for n strings of memory type mt. */
static void *strings_buffer(hid_t mt, size_t n)
{
	size_t width = H5Tis_variable_str(mt) > 0 ? sizeof(char *) : H5Tget_size(mt);
	void *buf = ad_mallocn(n, width);

	/* Zeroed, so that an element HDF5 leaves unset reads as "". */
	if (buf)
		memset(buf, 0, n * width);
	return buf;
}

/* Give back the payloads of a vlen read of n elements. */
static void strings_reclaim(hid_t mt, size_t n, void *buf)
{
	hsize_t dim = n;
	hid_t space;

	if (H5Tis_variable_str(mt) <= 0)
		return;
	space = H5Screate_simple(1, &dim, NULL);
	H5Dvlen_reclaim(mt, space, H5P_DEFAULT, buf);
	H5Sclose(space);
}

int ad_h5_attr_strings(hid_t obj, const char *name, char ***out, size_t *n)
{
	hid_t attr, space = -1, ftype = -1, mt = -1;
	hssize_t count;
	void *buf = NULL;
	char **s = NULL;
	int ret = -1;

	*out = NULL;
	*n = 0;
	if (H5Aexists(obj, name) <= 0)
		return 0;
	attr = H5Aopen(obj, name, H5P_DEFAULT);
	if (attr < 0)
		return -1;
	space = H5Aget_space(attr);
	ftype = H5Aget_type(attr);
	count = space < 0 ? -1 : H5Sget_simple_extent_npoints(space);
	if (count < 0 || H5Sget_simple_extent_ndims(space) > 1)
		goto out;
	if (count == 0) { /* e.g. column-order as float64[0]: no names */
		ret = 1;
		goto out;
	}
	if (H5Tget_class(ftype) != H5T_STRING || (mt = str_memtype(ftype)) < 0)
		goto out;
	buf = strings_buffer(mt, (size_t)count);
	s = ad_mallocn((size_t)count, sizeof *s);
	if (!buf || !s || H5Aread(attr, mt, buf) < 0)
		goto out;
	if (strings_copy(buf, mt, (size_t)count, s) == 0) {
		*out = s;
		*n = (size_t)count;
		s = NULL;
		ret = 1;
	}
	strings_reclaim(mt, (size_t)count, buf);
out:
	free(s);
	free(buf);
	if (mt >= 0)
		H5Tclose(mt);
	if (ftype >= 0)
		H5Tclose(ftype);
	if (space >= 0)
		H5Sclose(space);
	H5Aclose(attr);
	return ret;
}

int ad_h5_attr_string(hid_t obj, const char *name, char **out)
{
	char **s;
	size_t n;
	int r = ad_h5_attr_strings(obj, name, &s, &n);

	*out = NULL;
	if (r <= 0)
		return r;
	if (n != 1) {
		ad_strings_free(s, n);
		return -1;
	}
	*out = s[0];
	free(s);
	return 1;
}

int ad_h5_attr_int64(hid_t obj, const char *name, int64_t *out, size_t n)
{
	hid_t attr, space, ftype;
	int ret = -1;

	if (H5Aexists(obj, name) <= 0)
		return 0;
	attr = H5Aopen(obj, name, H5P_DEFAULT);
	if (attr < 0)
		return -1;
	space = H5Aget_space(attr);
	ftype = H5Aget_type(attr);
	if (space >= 0 && ftype >= 0 && H5Tget_class(ftype) == H5T_INTEGER &&
	    H5Sget_simple_extent_npoints(space) == (hssize_t)n &&
	    H5Aread(attr, H5T_NATIVE_INT64, out) >= 0)
		ret = 1;
	if (ftype >= 0)
		H5Tclose(ftype);
	if (space >= 0)
		H5Sclose(space);
	H5Aclose(attr);
	return ret;
}

/* ---- datasets ---- */

hid_t ad_h5_dopen(ad_file *f, const char *path, hid_t dapl)
{
	hid_t d;

	if (!ad_h5_exists(f->file, path)) {
		ad_fail(f, AD_EFORMAT, "%s: missing", path);
		return -1;
	}
	d = H5Dopen2(f->file, path, dapl);
	if (d < 0)
		ad_fail(f, AD_EFORMAT, "%s: not a dataset", path);
	return d;
}

ad_err ad_h5_len(ad_file *f, hid_t dset, const char *path, size_t *len)
{
	hid_t space = H5Dget_space(dset);
	H5S_class_t cls = space < 0 ? H5S_NO_CLASS : H5Sget_simple_extent_type(space);
	hsize_t dim = 0;
	int rank = cls == H5S_SIMPLE ? H5Sget_simple_extent_ndims(space) : -1;
	ad_err e = AD_OK;

	if (cls == H5S_SCALAR)
		*len = 1;
	else if (cls == H5S_NULL)
		e = ad_fail(f, AD_EFORMAT, "%s: no values (null dataspace)", path);
	else if (rank != 1)
		e = ad_fail(f, AD_EFORMAT, "%s: rank %d, expected a 1-d array", path, rank);
	else if (H5Sget_simple_extent_dims(space, &dim, NULL) < 0 || dim > SIZE_MAX)
		e = ad_fail(f, AD_EIO, "%s: cannot read the shape", path);
	else
		*len = (size_t)dim;
	if (space >= 0)
		H5Sclose(space);
	return e;
}

hid_t ad_h5_value_type(ad_file *f, hid_t dset, const char *path, const char *member)
{
	hid_t ftype = H5Dget_type(dset), mtype = -1;
	int idx;

	if (ftype < 0 || !member)
		return ftype;
	idx = H5Tget_class(ftype) == H5T_COMPOUND ? H5Tget_member_index(ftype, member) : -1;
	if (idx >= 0)
		mtype = H5Tget_member_type(ftype, (unsigned)idx);
	if (mtype < 0)
		ad_fail(f, AD_EFORMAT, "%s: no member '%s'", path, member);
	H5Tclose(ftype);
	return mtype;
}

ad_err ad_h5_read_failed(ad_file *f, hid_t dset, const char *path)
{
	hid_t dcpl = H5Dget_create_plist(dset);
	int nfilters = dcpl < 0 ? 0 : H5Pget_nfilters(dcpl);
	ad_err e = ad_fail(f, AD_EIO, "%s: read failed (damaged or truncated data)", path);

	for (int i = 0; i < nfilters; i++) {
		unsigned flags, config;
		size_t ncd = 0;
		char name[64] = "";
		H5Z_filter_t id = H5Pget_filter2(dcpl, (unsigned)i, &flags, &ncd, NULL,
						 sizeof name, name, &config);

		if (id >= 0 && H5Zfilter_avail(id) <= 0) {
			e = ad_fail(f, AD_EUNSUPPORTED, "%s: filter %d%s%s%s unavailable", path,
				    (int)id, name[0] ? " \"" : "", name, name[0] ? "\"" : "");
			break;
		}
	}
	if (dcpl >= 0)
		H5Pclose(dcpl);
	return e;
}

/* memtype wrapped as the single member of a compound, so that HDF5 picks
 * that member out of each record (it matches members by name). */
static hid_t member_memtype(const char *member, hid_t memtype)
{
	hid_t ct = H5Tcreate(H5T_COMPOUND, H5Tget_size(memtype));

	if (ct >= 0 && H5Tinsert(ct, member, 0, memtype) < 0) {
		H5Tclose(ct);
		return -1;
	}
	return ct;
}

ad_err ad_h5_read(ad_file *f, hid_t dset, const char *path, const char *member,
		  hid_t memtype, hsize_t start, hsize_t count, void *out)
{
	hid_t fspace = -1, mspace = -1, mt = memtype;
	hsize_t dim = 1;
	ad_err e = AD_OK;

	if (count == 0)
		return AD_OK;
	fspace = H5Dget_space(dset);
	if (fspace < 0)
		return ad_fail(f, AD_EIO, "%s: cannot read the shape", path);
	if (H5Sget_simple_extent_type(fspace) == H5S_SIMPLE &&
	    (H5Sget_simple_extent_ndims(fspace) != 1 ||
	     H5Sget_simple_extent_dims(fspace, &dim, NULL) < 0))
		e = ad_fail(f, AD_EFORMAT, "%s: expected a 1-d array", path);
	else if (start > dim || count > dim - start)
		e = ad_fail(f, AD_EFORMAT, "%s: values %llu..%llu beyond its length %llu", path,
			    (unsigned long long)start, (unsigned long long)(start + count),
			    (unsigned long long)dim);
	if (e)
		goto out;
	if (H5Sget_simple_extent_type(fspace) == H5S_SIMPLE &&
	    H5Sselect_hyperslab(fspace, H5S_SELECT_SET, &start, NULL, &count, NULL) < 0) {
		e = ad_fail(f, AD_EIO, "%s: cannot select values", path);
		goto out;
	}
	mspace = H5Screate_simple(1, &count, NULL);
	if (member)
		mt = member_memtype(member, memtype);
	if (mspace < 0 || mt < 0)
		e = ad_fail(f, AD_EIO, "%s: cannot set up the read", path);
	else if (H5Dread(dset, mt, mspace, fspace, H5P_DEFAULT, out) < 0)
		e = ad_h5_read_failed(f, dset, path);
out:
	if (mt >= 0 && mt != memtype)
		H5Tclose(mt);
	if (mspace >= 0)
		H5Sclose(mspace);
	H5Sclose(fspace);
	return e;
}

/* Open path into *d and check it is 1-d with n values. */
static ad_err open_n(ad_file *f, const char *path, size_t n, hid_t *d)
{
	size_t len;
	ad_err e;

	*d = ad_h5_dopen(f, path, H5P_DEFAULT);
	if (*d < 0)
		return AD_EFORMAT;
	e = ad_h5_len(f, *d, path, &len);
	if (!e && len != n)
		e = ad_fail(f, AD_EFORMAT, "%s: %zu values, expected %zu", path, len, n);
	if (e) {
		H5Dclose(*d);
		*d = -1;
	}
	return e;
}

ad_err ad_h5_read_all(ad_file *f, const char *path, const char *member, hid_t memtype,
		      size_t n, void *out)
{
	hid_t d;
	ad_err e = open_n(f, path, n, &d);

	if (e)
		return e;
	e = ad_h5_read(f, d, path, member, memtype, 0, n, out);
	H5Dclose(d);
	return e;
}

/* ---- any 1-d element as strings ---- */

static ad_err read_string_values(ad_file *f, hid_t d, const char *path, const char *member,
				 hid_t vtype, size_t n, char **out)
{
	hid_t mt = str_memtype(vtype);
	void *buf = mt < 0 ? NULL : strings_buffer(mt, n);
	ad_err e;

	if (mt < 0)
		return ad_fail(f, AD_EIO, "%s: cannot read the string type", path);
	if (!buf) {
		H5Tclose(mt);
		return ad_nomem(f, path);
	}
	e = ad_h5_read(f, d, path, member, mt, 0, n, buf);
	if (!e && strings_copy(buf, mt, n, out) < 0)
		e = ad_nomem(f, path);
	strings_reclaim(mt, n, buf);
	free(buf);
	H5Tclose(mt);
	return e;
}

/* Numbers formatted one by one as Python's str() would; bools as False/True. */
static ad_err read_number_values(ad_file *f, hid_t d, const char *path, const char *member,
				 hid_t vtype, size_t n, char **out)
{
	H5T_class_t cls = H5Tget_class(vtype);
	int is_unsigned = cls == H5T_INTEGER && H5Tget_sign(vtype) == H5T_SGN_NONE;
	int single = cls == H5T_FLOAT && H5Tget_size(vtype) <= 4;
	hid_t mt = cls == H5T_FLOAT ? H5T_NATIVE_DOUBLE :
		   cls == H5T_ENUM ? H5T_NATIVE_INT8 :
		   is_unsigned ? H5T_NATIVE_UINT64 : H5T_NATIVE_INT64;
	void *buf = ad_mallocn(n, 8);
	ad_err e;

	if (!buf)
		return ad_nomem(f, path);
	e = ad_h5_read(f, d, path, member, mt, 0, n, buf);
	for (size_t i = 0; !e && i < n; i++) {
		char s[48];

		if (cls == H5T_FLOAT)
			ad_format_float(((double *)buf)[i], single, s, sizeof s);
		else if (cls == H5T_ENUM)
			strcpy(s, ((int8_t *)buf)[i] ? "True" : "False");
		else if (is_unsigned)
			snprintf(s, sizeof s, "%" PRIu64, ((uint64_t *)buf)[i]);
		else
			snprintf(s, sizeof s, "%" PRId64, ((int64_t *)buf)[i]);
		out[i] = ad_strdup(s);
		if (!out[i]) {
			while (i--)
				free(out[i]);
			e = ad_nomem(f, path);
		}
	}
	free(buf);
	return e;
}

ad_err ad_h5_read_strings(ad_file *f, const char *path, const char *member, size_t n,
			  char ***out)
{
	hid_t d, vtype;
	char **s;
	ad_err e = open_n(f, path, n, &d);

	*out = NULL;
	if (e)
		return e;
	vtype = ad_h5_value_type(f, d, path, member);
	s = ad_mallocn(n, sizeof *s);
	if (vtype < 0)
		e = AD_EFORMAT;
	else if (!s)
		e = ad_nomem(f, path);
	else if (H5Tget_class(vtype) == H5T_STRING)
		e = read_string_values(f, d, path, member, vtype, n, s);
	else if (H5Tget_class(vtype) == H5T_INTEGER || H5Tget_class(vtype) == H5T_FLOAT ||
		 H5Tget_class(vtype) == H5T_ENUM)
		e = read_number_values(f, d, path, member, vtype, n, s);
	else
		e = ad_fail(f, AD_EUNSUPPORTED, "%s: values are neither strings nor numbers",
			    path);
	if (e)
		free(s);
	else
		*out = s;
	if (vtype >= 0)
		H5Tclose(vtype);
	H5Dclose(d);
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
