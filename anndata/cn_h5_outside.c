/*
 * cn_h5_outside.c - part of the HDF5 back end (cn_h5.c): what keeps it to
 * the one file it was given. Paths are checked link by link before HDF5
 * walks them (external and user-defined links are refused, soft links are
 * checked through to their targets), datasets whose values live elsewhere
 * (external storage, virtual datasets) are refused when opened, before any
 * read, and the source is opened without blocking or locking it. Every
 * refusal is one line naming the element, e.g.
 * "obs/cluster/categories: stored in another file (/etc/shadow): refused".
 * It knows nothing of the AnnData encodings.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cn_h5.h"

/* ---- links ----
 * HDF5 follows external links into other files, and user-defined links
 * wherever their class says; a soft link is only a path, but that path may
 * cross such a link. Every path is checked link by link before HDF5 walks
 * it (H5Lget_info on a prefix walks only the links already checked). */

enum { SOFT_DEPTH = 20 };  /* beyond HDF5's own limit of 16 nested soft links */

static ad_err check_links(cn_store *s, hid_t file, const char *path, int depth);

/* The link at prefix (whose parent is everything before its last '/'). */
static ad_err check_link(cn_store *s, hid_t file, const char *prefix, const H5L_info_t *info,
			 int depth)
{
	char *val = NULL, *target = NULL;
	const char *fname = NULL, *obj = NULL;
	unsigned flags;
	ad_err e = AD_OK;

	if (info->type == H5L_TYPE_HARD)
		return AD_OK;
	if (info->type != H5L_TYPE_SOFT && info->type != H5L_TYPE_EXTERNAL)
		return cn_fail(s, AD_EUNSUPPORTED, "%s: a user-defined link: refused", prefix);
	val = malloc(info->u.val_size + 1);
	if (!val)
		return cn_fail(s, AD_ENOMEM, "%s: out of memory", prefix);
	if (H5Lget_val(file, prefix, val, info->u.val_size, H5P_DEFAULT) < 0) {
		e = cn_fail(s, AD_EUNSUPPORTED, "%s: a link that cannot be read: refused", prefix);
	} else if (info->type == H5L_TYPE_EXTERNAL) {
		if (H5Lunpack_elink_val(val, info->u.val_size, &flags, &fname, &obj) < 0)
			fname = "?";
		e = cn_fail(s, AD_EUNSUPPORTED, "%s: a link to another file (%s): refused", prefix,
			    fname);
	} else if (depth >= SOFT_DEPTH) {
		e = cn_fail(s, AD_EUNSUPPORTED, "%s: soft links nested too deeply: refused", prefix);
	} else {
		/* A relative target starts from the group that holds the link. */
		const char *slash = strrchr(prefix, '/');
		size_t plen = slash ? (size_t)(slash - prefix) : 0;

		val[info->u.val_size] = '\0';
		target = val[0] == '/' ? cn_strdup(val) : malloc(plen + strlen(val) + 2);
		if (target && val[0] != '/')
			sprintf(target, "%.*s/%s", (int)plen, prefix, val);
		e = target ? check_links(s, file, target, depth + 1)
			   : cn_fail(s, AD_ENOMEM, "%s: out of memory", prefix);
	}
	free(target);
	free(val);
	return e;
}

static ad_err check_links(cn_store *s, hid_t file, const char *path, int depth)
{
	char *p = cn_strdup(path);
	size_t len = p ? strlen(p) : 0;
	ad_err e = p ? AD_OK : cn_fail(s, AD_ENOMEM, "%s: out of memory", path);

	for (size_t end = 1; !e && end <= len; end++) {
		H5L_info_t info;
		char c = p[end];

		if (c != '/' && c != '\0')
			continue;
		if (p[end - 1] == '/')  /* "/" or "a//b": no link ends here */
			continue;
		p[end] = '\0';
		/* A prefix that does not exist leaves nothing below it to walk. */
		if (H5Lget_info(file, p, &info, H5P_DEFAULT) < 0) {
			p[end] = c;
			break;
		}
		e = check_link(s, file, p, &info, depth);
		p[end] = c;
	}
	free(p);
	return e;
}

ad_err cn_h5_check(cn_store *s, hid_t file, const char *path)
{
	return check_links(s, file, path, 0);
}

/* Whether path is refused, leaving the store's error message as it was:
 * the calls that only ask (exists, kind, attributes) report no error. */
int cn_h5_refused(cn_store *s, hid_t file, const char *path)
{
	char saved[512];
	int refused;

	snprintf(saved, sizeof saved, "%s", s->err);
	refused = cn_h5_check(s, file, path) != AD_OK;
	snprintf(s->err, s->errlen, "%s", saved);
	return refused;
}

/* ---- datasets ---- */

/* Refuse a dataset whose values live in other files: external storage
 * (raw bytes of any file, e.g. /etc/shadow) or a virtual dataset (mapped
 * from other datasets, in this file or others). Nothing has been read yet:
 * HDF5 opens those files only when values are read. */
ad_err cn_h5_check_storage(cn_store *s, const char *path, hid_t dcpl)
{
	char name[256] = "";
	int n = H5Pget_external_count(dcpl);

	if (H5Pget_layout(dcpl) == H5D_VIRTUAL) {
		if (H5Pget_virtual_filename(dcpl, 0, name, sizeof name) < 0)
			snprintf(name, sizeof name, "?");
		return cn_fail(s, AD_EUNSUPPORTED,
			       "%s: a virtual dataset (mapped from %s): refused", path,
			       strcmp(name, ".") ? name : "this file");
	}
	if (n < 0)
		return cn_fail(s, AD_EIO, "%s: cannot read its storage layout", path);
	if (n > 0) {
		off_t offset;
		hsize_t size;

		if (H5Pget_external(dcpl, 0, sizeof name, name, &offset, &size) < 0)
			snprintf(name, sizeof name, "?");
		return cn_fail(s, AD_EUNSUPPORTED, "%s: stored in another file (%s): refused",
			       path, name);
	}
	return AD_OK;
}

/* ---- the source file ---- */

/* Whether fd starts with an HDF5 superblock: its signature is at 0, 512,
 * 1024, 2048 ... (after a user block), as HDF5 itself looks for it. */
static int has_signature(int fd, off_t size)
{
	static const unsigned char sig[8] = { 0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n' };
	unsigned char buf[8];

	for (off_t at = 0; at + 8 <= size; at = at ? 2 * at : 512)
		if (pread(fd, buf, 8, at) == 8 && !memcmp(buf, sig, 8))
			return 1;
	return 0;
}

/* The file is opened once, without blocking (a FIFO would block an
 * ordinary open for ever) and checked to be a regular file holding an
 * HDF5 signature; HDF5 then opens that same file through /proc/self/fd,
 * so that a rename in between cannot swap in something else. HDF5's file
 * locking is off: a mounted file may be rewritten by anndata, which then
 * shows as a changed source instead of failing to save. */
hid_t cn_h5_open_source(const char *path, char *err, size_t errlen)
{
	struct stat st;
	char self[64];
	hid_t file, fapl;
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);

	if (fd < 0) {
		cn_fail_buf(err, errlen, AD_EIO, "cannot read the file: %s", strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		cn_fail_buf(err, errlen, AD_EIO, "cannot read the file: %s", strerror(errno));
		close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode) || !has_signature(fd, st.st_size)) {
		cn_fail_buf(err, errlen, AD_EFORMAT, S_ISREG(st.st_mode) ? "not an HDF5 file"
									: "not a regular file");
		close(fd);
		return -2;
	}
	snprintf(self, sizeof self, "/proc/self/fd/%d", fd);
	fapl = H5Pcreate(H5P_FILE_ACCESS);
	if (fapl >= 0)
		H5Pset_file_locking(fapl, 0, 1);
	file = fapl < 0 ? -1 : H5Fopen(access(self, R_OK) == 0 ? self : path, H5F_ACC_RDONLY, fapl);
	if (fapl >= 0)
		H5Pclose(fapl);
	close(fd);
	if (file < 0)
		cn_fail_buf(err, errlen, AD_EIO, "cannot open the HDF5 file (damaged?)");
	return file;
}
