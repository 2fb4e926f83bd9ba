/*
 * cn_h5.c - the HDF5 back end of the container layer: groups, datasets and
 * attributes of an .h5ad file through the HDF5 C API. With cn_h5_lzf.c it
 * is the only code in anndata/ that includes hdf5.h (through cn_h5.h,
 * with cn_h5_lzf.c, cn_h5_chunk.c and cn_h5_outside.c); it knows nothing of the AnnData
 * encodings (what a group or attribute means is theirs). Every path is
 * checked by cn_h5_outside.c before HDF5 walks it.
 *
 * A dataset stays open (with its type and dataspace) while its cn_array
 * lives, so that the many range reads of a scan cost one H5Dread each.
 * Strings are read with a memory type built from the file type: HDF5
 * converts neither between fixed and variable length nor between ASCII and
 * UTF-8, so the memory type must copy both. Sample: cn_read of a compound
 * member "louvain" reads { louvain } out of every record, as HDF5 matches
 * compound members by name.
 */
#include <stdlib.h>
#include <string.h>

#include "cn_h5.h"

struct h5_store {
	struct cn_store s;
	hid_t file;
};

struct h5_array {
	struct cn_array a;
	hid_t d, type, space;
};

static hid_t file_of(cn_store *s) { return ((struct h5_store *)s)->file; }
static struct h5_array *h5(cn_array *a) { return (struct h5_array *)a; }

/* HDF5 prints its error stack by default; every error here is reported as
 * one line of our own instead. A thread-safe HDF5 keeps that switch per
 * thread, hence a thread-local flag. */
void cn_h5_thread_init(void)
{
	static _Thread_local int quiet;

	if (quiet)
		return;
	H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
	quiet = 1;
}

static hid_t native(cn_num t)
{
	switch (t) {
	case CN_I8: return H5T_NATIVE_INT8;
	case CN_I32: return H5T_NATIVE_INT32;
	case CN_U32: return H5T_NATIVE_UINT32;
	case CN_I64: return H5T_NATIVE_INT64;
	case CN_U64: return H5T_NATIVE_UINT64;
	case CN_F32: return H5T_NATIVE_FLOAT;
	default: return H5T_NATIVE_DOUBLE;
	}
}

static cn_class class_of(hid_t t)
{
	switch (t < 0 ? H5T_NO_CLASS : H5Tget_class(t)) {
	case H5T_INTEGER: return H5Tget_sign(t) == H5T_SGN_NONE ? CN_T_UINT : CN_T_INT;
	case H5T_FLOAT: return CN_T_FLOAT;
	case H5T_ENUM: return CN_T_BOOL;
	case H5T_STRING: return CN_T_STRING;
	case H5T_COMPOUND: return CN_T_COMPOUND;
	case H5T_ARRAY: return CN_T_ARRAY;
	case H5T_REFERENCE: return CN_T_REFERENCE;
	default: return CN_T_OTHER;
	}
}

static void describe(hid_t t, cn_type *out)
{
	memset(out, 0, sizeof *out);
	out->cls = class_of(t);
	if (out->cls == CN_T_OTHER && t < 0)
		return;
	out->size = H5Tget_size(t);
	out->big_endian = H5Tget_order(t) == H5T_ORDER_BE;
	out->vlen = out->cls == CN_T_STRING && H5Tis_variable_str(t) > 0;
	if (out->cls == CN_T_COMPOUND) {
		int n = H5Tget_nmembers(t);

		out->nmembers = n > 0 ? (size_t)n : 0;
	} else if (out->cls == CN_T_ARRAY && H5Tget_array_ndims(t) == 1) {
		hsize_t dims[H5S_MAX_RANK];
		hid_t base = H5Tget_super(t);

		if (H5Tget_array_dims2(t, dims) == 1 && base >= 0) {
			out->count = (size_t)dims[0];
			out->base = class_of(base);
		}
		if (base >= 0)
			H5Tclose(base);
	}
}

/* ---- the file ---- */

static ad_err h5_check(cn_store *s, const char *path)
{
	return cn_h5_check(s, file_of(s), path);
}

static void h5_close(cn_store *s)
{
	H5Fclose(file_of(s));
	free(s);
}

/* H5Lexists fails, rather than saying no, when an intermediate group of a
 * nested path is missing; both mean absent here. */
static int h5_exists(cn_store *s, const char *path)
{
	return cn_h5_refused(s, file_of(s), path) || H5Lexists(file_of(s), path, H5P_DEFAULT) > 0;
}

static cn_kind h5_kind(cn_store *s, const char *path)
{
	H5I_type_t kind;
	hid_t obj;

	if (cn_h5_refused(s, file_of(s), path))
		return CN_REFUSED;
	if (H5Lexists(file_of(s), path, H5P_DEFAULT) <= 0)
		return CN_ABSENT;
	obj = H5Oopen(file_of(s), path, H5P_DEFAULT);
	if (obj < 0)
		return CN_ABSENT;
	kind = H5Iget_type(obj);
	H5Oclose(obj);
	return kind == H5I_GROUP ? CN_GROUP : kind == H5I_DATASET ? CN_ARRAY : CN_OTHER;
}

struct names {
	char **v;
	size_t n, cap;
};

static herr_t collect_name(hid_t g, const char *name, const H5L_info_t *info, void *arg)
{
	struct names *ns = arg;

	(void)g;
	(void)info;
	if (ns->n == ns->cap) {
		size_t cap = ns->cap ? 2 * ns->cap : 16;
		char **v = realloc(ns->v, cap * sizeof *v);

		if (!v)
			return -1;
		ns->v = v;
		ns->cap = cap;
	}
	ns->v[ns->n] = cn_strdup(name);
	return ns->v[ns->n++] ? 0 : -1;
}

static ad_err h5_list(cn_store *s, const char *path, char ***names, size_t *n)
{
	ad_err e = cn_h5_check(s, file_of(s), path);
	hid_t g = e ? -1 : H5Gopen2(file_of(s), path, H5P_DEFAULT);
	struct names ns = { 0 };

	if (e) {
		*names = NULL;
		*n = 0;
		return e;
	}
	if (g < 0 || H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, NULL, collect_name, &ns) < 0) {
		e = cn_fail(s, AD_EIO, "%s: cannot list its members", path);
		/* a failed strdup left its slot NULL: free what came before */
		cn_strings_free(ns.v, ns.n && !ns.v[ns.n - 1] ? ns.n - 1 : ns.n);
		ns.v = NULL;
		ns.n = 0;
	}
	if (g >= 0)
		H5Gclose(g);
	*names = ns.v;
	*n = ns.n;
	return e;
}

/* ---- attributes ---- */

/* Open attribute name of the object at path into *attr (and the object
 * into *obj): 1 when open, 0 when the attribute is absent, -1 when the
 * object or the attribute cannot be opened (then nothing stays open). */
static int attr_open(cn_store *s, const char *path, const char *name, hid_t *obj, hid_t *attr)
{
	htri_t there;

	*attr = -1;
	*obj = cn_h5_refused(s, file_of(s), path) ? -1 : H5Oopen(file_of(s), path, H5P_DEFAULT);
	there = *obj < 0 ? -1 : H5Aexists(*obj, name);
	if (there > 0 && (*attr = H5Aopen(*obj, name, H5P_DEFAULT)) >= 0)
		return 1;
	if (*obj >= 0)
		H5Oclose(*obj);
	/* A failing H5Aexists counts as absent, as the encodings always took it. */
	return *obj >= 0 && there <= 0 ? 0 : -1;
}

/* Close what attr_open opened and what was got from the attribute. */
static void attr_close(hid_t obj, hid_t attr, hid_t type, hid_t space)
{
	if (type >= 0)
		H5Tclose(type);
	if (space >= 0)
		H5Sclose(space);
	H5Aclose(attr);
	H5Oclose(obj);
}

static int h5_attr_exists(cn_store *s, const char *path, const char *name)
{
	hid_t obj = cn_h5_refused(s, file_of(s), path) ? -1 : H5Oopen(file_of(s), path, H5P_DEFAULT);
	int r = obj < 0 ? -1 : H5Aexists(obj, name) > 0;

	if (obj >= 0)
		H5Oclose(obj);
	return r;
}

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
	void *buf = cn_mallocn(n, width);

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

static int h5_attr_strings(cn_store *s, const char *path, const char *name, char ***out,
			   size_t *n)
{
	hid_t obj, attr, space = -1, ftype = -1, mt = -1;
	int ret = attr_open(s, path, name, &obj, &attr);
	hssize_t count;
	void *buf = NULL;
	char **v = NULL;

	if (ret <= 0)
		return ret;
	ret = -1;
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
	v = cn_mallocn((size_t)count, sizeof *v);
	if (!buf || !v || H5Aread(attr, mt, buf) < 0)
		goto out;
	if (strings_copy(buf, mt, (size_t)count, v) == 0) {
		*out = v;
		*n = (size_t)count;
		v = NULL;
		ret = 1;
	}
	strings_reclaim(mt, (size_t)count, buf);
out:
	free(v);
	free(buf);
	if (mt >= 0)
		H5Tclose(mt);
	attr_close(obj, attr, ftype, space);
	return ret;
}

static int h5_attr_int64(cn_store *s, const char *path, const char *name, int64_t *out,
			 size_t n)
{
	hid_t obj, attr, space, ftype;
	int ret = attr_open(s, path, name, &obj, &attr);

	if (ret <= 0)
		return ret;
	ret = -1;
	space = H5Aget_space(attr);
	ftype = H5Aget_type(attr);
	if (space >= 0 && ftype >= 0 && H5Tget_class(ftype) == H5T_INTEGER &&
	    H5Sget_simple_extent_npoints(space) == (hssize_t)n &&
	    H5Aread(attr, H5T_NATIVE_INT64, out) >= 0)
		ret = 1;
	attr_close(obj, attr, ftype, space);
	return ret;
}

/* An object reference, dereferenced and named by its path in the file. */
static int h5_attr_ref(cn_store *s, const char *path, const char *name, char **target)
{
	hid_t obj, attr, type, dest = -1;
	hobj_ref_t ref;
	ssize_t len;
	int ret = attr_open(s, path, name, &obj, &attr);

	if (ret <= 0)
		return 0;
	ret = 0;
	type = H5Aget_type(attr);
	if (type >= 0 && H5Tget_class(type) == H5T_REFERENCE) {
		ret = -1;
		if (H5Aread(attr, H5T_STD_REF_OBJ, &ref) >= 0)
			dest = H5Rdereference2(obj, H5P_DEFAULT, H5R_OBJECT, &ref);
		len = dest < 0 ? -1 : H5Iget_name(dest, NULL, 0);
		if (len > 0 && (*target = malloc((size_t)len + 1))) {
			H5Iget_name(dest, *target, (size_t)len + 1);
			ret = 1;
		}
		if (dest >= 0)
			H5Oclose(dest);
	}
	attr_close(obj, attr, type, -1);
	return ret;
}

/* ---- datasets ---- */

static void h5_array_close(cn_array *ca)
{
	struct h5_array *a = h5(ca);

	if (a->space >= 0)
		H5Sclose(a->space);
	if (a->type >= 0)
		H5Tclose(a->type);
	if (a->d >= 0)
		H5Dclose(a->d);
	free(a->a.path);
	free(a);
}

/* The shape, chunking and type of a freshly opened dataset. */
static ad_err fill_info(struct h5_array *a)
{
	cn_info *in = &a->a.info;
	H5S_class_t cls = H5Sget_simple_extent_type(a->space);
	hsize_t dims[CN_MAX_RANK], cdims[CN_MAX_RANK];
	hid_t dcpl;
	ad_err e;

	describe(a->type, &in->type);
	in->rank = cls == H5S_SCALAR ? 0 : cls == H5S_NULL ? CN_RANK_NULL
			: H5Sget_simple_extent_ndims(a->space);
	if ((cls != H5S_NULL && in->rank < 0) || in->rank > CN_MAX_RANK ||
	    (in->rank > 0 && H5Sget_simple_extent_dims(a->space, dims, NULL) < 0))
		return cn_fail(a->a.s, AD_EIO, "%s: cannot read the shape", a->a.path);
	for (int i = 0; i < in->rank; i++)
		in->shape[i] = dims[i];
	dcpl = H5Dget_create_plist(a->d);
	if (dcpl < 0)
		return cn_fail(a->a.s, AD_EIO, "%s: cannot read its storage layout", a->a.path);
	e = cn_h5_check_storage(a->a.s, a->a.path, dcpl);
	if (!e && H5Pget_layout(dcpl) == H5D_CHUNKED &&
	    H5Pget_chunk(dcpl, in->rank, cdims) == in->rank) {
		in->chunked = 1;
		for (int i = 0; i < in->rank; i++)
			in->chunk[i] = cdims[i];
	}
	H5Pclose(dcpl);
	return e;
}

static ad_err h5_array_open(cn_store *s, const char *path, size_t slots, size_t bytes,
			    cn_array **out)
{
	struct h5_array *a = calloc(1, sizeof *a);
	hid_t dapl = H5P_DEFAULT;
	ad_err e = AD_OK;

	if (!a || !(a->a.path = cn_strdup(path))) {
		free(a);
		return cn_fail(s, AD_ENOMEM, "%s: out of memory", path);
	}
	a->a.s = s;
	a->type = a->space = -1;
	a->d = -1;
	e = cn_h5_check(s, file_of(s), path);
	if (e) {
		h5_array_close(&a->a);
		return e;
	}
	if ((slots || bytes) && (dapl = H5Pcreate(H5P_DATASET_ACCESS)) >= 0)
		H5Pset_chunk_cache(dapl, slots, bytes, 1.0);
	a->d = dapl < 0 ? -1 : H5Dopen2(file_of(s), path, dapl);
	if (dapl >= 0 && dapl != H5P_DEFAULT)
		H5Pclose(dapl);
	if (a->d < 0)
		e = cn_fail(s, AD_EFORMAT, "%s: not a dataset", path);
	else if ((a->type = H5Dget_type(a->d)) < 0 || (a->space = H5Dget_space(a->d)) < 0)
		e = cn_fail(s, AD_EIO, "%s: cannot read the type or shape", path);
	else
		e = fill_info(a);
	if (e) {
		h5_array_close(&a->a);
		return e;
	}
	*out = &a->a;
	return AD_OK;
}

static ad_err h5_member(cn_array *ca, size_t i, char **name, cn_type *t)
{
	struct h5_array *a = h5(ca);
	char *n = H5Tget_member_name(a->type, (unsigned)i);
	hid_t mt;

	if (!n)
		return cn_fail(ca->s, AD_EIO, "%s: cannot read member %zu", ca->path, i);
	*name = cn_strdup(n);
	H5free_memory(n);
	if (!*name)
		return cn_fail(ca->s, AD_ENOMEM, "%s: out of memory", ca->path);
	mt = H5Tget_member_type(a->type, (unsigned)i);
	describe(mt, t);
	if (mt >= 0)
		H5Tclose(mt);
	return AD_OK;
}

/* The file type of member name, or -1. */
static hid_t member_ftype(struct h5_array *a, const char *name)
{
	int idx = H5Tget_member_index(a->type, name);

	return idx < 0 ? -1 : H5Tget_member_type(a->type, (unsigned)idx);
}

static int h5_member_type(cn_array *ca, const char *name, cn_type *t)
{
	hid_t mt = member_ftype(h5(ca), name);

	if (mt < 0)
		return -1;
	describe(mt, t);
	H5Tclose(mt);
	return 0;
}

/* Explain a failed H5Dread of a: an unavailable filter, or corruption. */
static ad_err read_failed(struct h5_array *a)
{
	hid_t dcpl = H5Dget_create_plist(a->d);
	int nfilters = dcpl < 0 ? 0 : H5Pget_nfilters(dcpl);
	ad_err e = cn_fail(a->a.s, AD_EIO, "%s: read failed (damaged or truncated data)",
			   a->a.path);

	for (int i = 0; i < nfilters; i++) {
		unsigned flags, config;
		size_t ncd = 0;
		char name[64] = "";
		H5Z_filter_t id = H5Pget_filter2(dcpl, (unsigned)i, &flags, &ncd, NULL,
						 sizeof name, name, &config);

		if (id >= 0 && H5Zfilter_avail(id) <= 0) {
			e = cn_fail(a->a.s, AD_EUNSUPPORTED, "%s: filter %d%s%s%s unavailable",
				    a->a.path, (int)id, name[0] ? " \"" : "", name,
				    name[0] ? "\"" : "");
			break;
		}
	}
	if (dcpl >= 0)
		H5Pclose(dcpl);
	return e;
}

/* Read [start, start + count) of a 1-d or scalar dataset as memtype (with
 * member: memtype is that member's, wrapped as the single member of a
 * compound, so that HDF5 picks it out of each record by name). */
static ad_err read_range(struct h5_array *a, const char *member, hid_t memtype,
			 hsize_t start, hsize_t count, void *out)
{
	hid_t mspace, mt = memtype;
	ad_err e = AD_OK;

	if (a->a.info.rank == 1 &&
	    H5Sselect_hyperslab(a->space, H5S_SELECT_SET, &start, NULL, &count, NULL) < 0)
		return cn_fail(a->a.s, AD_EIO, "%s: cannot select values", a->a.path);
	mspace = H5Screate_simple(1, &count, NULL);
	if (member && (mt = H5Tcreate(H5T_COMPOUND, H5Tget_size(memtype))) >= 0 &&
	    H5Tinsert(mt, member, 0, memtype) < 0) {
		H5Tclose(mt);
		mt = -1;
	}
	if (mspace < 0 || mt < 0)
		e = cn_fail(a->a.s, AD_EIO, "%s: cannot set up the read", a->a.path);
	else if (H5Dread(a->d, mt, mspace, a->space, H5P_DEFAULT, out) < 0)
		e = read_failed(a);
	if (mt >= 0 && mt != memtype)
		H5Tclose(mt);
	if (mspace >= 0)
		H5Sclose(mspace);
	return e;
}

/* A member that is a 1-d array of k numbers lands as k values per record. */
static ad_err h5_read(cn_array *ca, const char *member, cn_num want, uint64_t start,
		      uint64_t count, void *out)
{
	struct h5_array *a = h5(ca);
	hid_t mt = native(want), ft = member ? member_ftype(a, member) : -1, at = -1;
	ad_err e;

	if (ft >= 0 && H5Tget_class(ft) == H5T_ARRAY) {
		hsize_t k = 0;

		if (H5Tget_array_ndims(ft) != 1 || H5Tget_array_dims2(ft, &k) != 1 ||
		    (at = H5Tarray_create2(mt, 1, &k)) < 0) {
			H5Tclose(ft);
			return cn_fail(ca->s, AD_EIO, "%s: cannot build the array type", ca->path);
		}
		mt = at;
	}
	e = read_range(a, member, mt, start, count, out);
	if (at >= 0)
		H5Tclose(at);
	if (ft >= 0)
		H5Tclose(ft);
	return e;
}

static ad_err h5_read_strings(cn_array *ca, const char *member, uint64_t start,
			      uint64_t count, char **out)
{
	struct h5_array *a = h5(ca);
	hid_t ft = member ? member_ftype(a, member) : a->type;
	hid_t mt = ft < 0 || H5Tget_class(ft) != H5T_STRING ? -1 : str_memtype(ft);
	void *buf = mt < 0 ? NULL : strings_buffer(mt, (size_t)count);
	ad_err e;

	if (member && ft >= 0)
		H5Tclose(ft);
	if (mt < 0)
		return cn_fail(ca->s, AD_EIO, "%s: cannot read the string type", ca->path);
	if (!buf) {
		H5Tclose(mt);
		return cn_fail(ca->s, AD_ENOMEM, "%s: out of memory", ca->path);
	}
	e = read_range(a, member, mt, start, count, buf);
	if (!e && strings_copy(buf, mt, (size_t)count, out) < 0)
		e = cn_fail(ca->s, AD_ENOMEM, "%s: out of memory", ca->path);
	strings_reclaim(mt, (size_t)count, buf);
	free(buf);
	H5Tclose(mt);
	return e;
}

/* Read the box start + count of a (rank 0: its one value) as memtype. */
static ad_err read_box(struct h5_array *a, const uint64_t *start, const uint64_t *count,
		       hid_t memtype, void *out)
{
	int rank = a->a.info.rank;
	hsize_t st[CN_MAX_RANK], cnt[CN_MAX_RANK];
	hid_t mspace;
	ad_err e = AD_OK;

	for (int i = 0; i < rank; i++) {
		st[i] = start[i];
		cnt[i] = count[i];
	}
	mspace = rank > 0 ? H5Screate_simple(rank, cnt, NULL) : H5Screate(H5S_SCALAR);
	if (mspace < 0 ||
	    (rank > 0 && H5Sselect_hyperslab(a->space, H5S_SELECT_SET, st, NULL, cnt, NULL) < 0))
		e = cn_fail(a->a.s, AD_EIO, "%s: cannot select values", a->a.path);
	else if (H5Dread(a->d, memtype, mspace, a->space, H5P_DEFAULT, out) < 0)
		e = read_failed(a);
	if (mspace >= 0)
		H5Sclose(mspace);
	return e;
}

static ad_err h5_read_block(cn_array *ca, const uint64_t *start, const uint64_t *count,
			    cn_num want, void *out)
{
	return read_box(h5(ca), start, count, native(want), out);
}

/* A filtered chunk raw, for our own decode outside the lock
 * (cn_h5_chunk.c); else the box read with the dataset's own type as the
 * memory type: HDF5 runs the filters and converts nothing, so the bytes
 * are the stored values. */
static ad_err h5_chunk_fetch(cn_array *ca, const uint64_t *start, const uint64_t *count,
			     struct cn_chunk *c)
{
	ad_err e;

	if (ca->info.chunked && cn_h5_chunk_raw(ca, h5(ca)->d, start, count, c, &e))
		return e;
	c->size = c->n * c->type.size;
	c->data = cn_mallocn(c->n, c->type.size);
	if (!c->data)
		return cn_fail(ca->s, AD_ENOMEM, "%s: out of memory", ca->path);
	return read_box(h5(ca), start, count, h5(ca)->type, c->data);
}

/* The sec2 driver's descriptor (the default driver, cn_h5_open_source). */
static uint64_t h5_held(cn_array *a, uint64_t need)
{
	(void)need;
	return cn_h5_held(a, h5(a)->d);
}

static int h5_fd(cn_store *s)
{
	void *handle = NULL;
	if (H5Fget_vfd_handle(file_of(s), H5P_DEFAULT, &handle) < 0 || !handle)
		return -1;
	return *(int *)handle;
}

static const struct cn_ops h5_ops = {
	.close = h5_close,
	.fd = h5_fd,
	.exists = h5_exists,
	.kind = h5_kind,
	.check = h5_check,
	.list = h5_list,
	.attr_exists = h5_attr_exists,
	.attr_strings = h5_attr_strings,
	.attr_int64 = h5_attr_int64,
	.attr_ref = h5_attr_ref,
	.array_open = h5_array_open,
	.held = h5_held,
	.array_close = h5_array_close,
	.member = h5_member,
	.member_type = h5_member_type,
	.read = h5_read,
	.read_strings = h5_read_strings,
	.read_block = h5_read_block,
	.chunk_fetch = h5_chunk_fetch,
	.concurrent = 0,
};

/* The LZF filter must be there before the first read of the 0.7 files;
 * the filter table is process-wide. */
ad_err cn_h5_open(const char *path, char *err, size_t errlen, cn_store **out)
{
	static int registered;
	struct h5_store *s;
	hid_t file;

	cn_h5_thread_init();
	if (!registered) {
		cn_h5_lzf_register();
		registered = 1;
	}
	file = cn_h5_open_source(path, err, errlen);
	if (file < 0)
		return file == -2 ? AD_EFORMAT : AD_EIO;
	s = calloc(1, sizeof *s);
	if (!s) {
		H5Fclose(file);
		return cn_fail_buf(err, errlen, AD_ENOMEM, "out of memory");
	}
	s->s.ops = &h5_ops;
	s->s.err = err;
	s->s.errlen = errlen;
	s->file = file;
	*out = &s->s;
	return AD_OK;
}
