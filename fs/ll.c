/*
 * ll.c - FUSE low-level operations: a read-only tree whose files are
 * generated on first lookup.
 *
 * Inode numbers are node indices + 1 (the root, node 0, is FUSE_ROOT_ID), so
 * no path walking is ever needed. A file is generated when it is first looked
 * up, so that its st_size is exact from the first stat: nginx and the page
 * cache trust that size and never read past it (fuse-design-notes.md §1).
 * Names and sizes never change while mounted, so entries, attributes and
 * negative lookups are cached by the kernel for as long as it likes, and
 * keep_cache lets repeated opens be served from the page cache.
 */
#include "ll.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <stdlib.h>
#include <unistd.h>

#include "docs.h"
#include "log.h"

/*
 * Besides the export, a hidden directory ".cellucidfs" (not listed, so cp -r
 * and nginx autoindex never see it) holds "status.json": the daemon's
 * counters, made afresh at each open. Its inode numbers follow the export's.
 */
#define STATUS_DIR_NAME "cellucidfs"
static const char STATUS_DIR[] = "." STATUS_DIR_NAME;
static const char STATUS_FILE[] = "status.json";

/* What an open file handle holds: a cached export file or a status text. */
typedef struct {
	fc_file *cached;
	char *status;
	size_t status_len;
} open_file;

/* libfuse clamps this; it means "as long as the kernel will keep it". */
static const double FOREVER = 1e9;

static void ll_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	/* Replies from stored files can then move pages instead of copying. */
	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE;
	if (conn->capable & FUSE_CAP_SPLICE_MOVE)
		conn->want |= FUSE_CAP_SPLICE_MOVE;
}

static ll_fs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static int valid_ino(const ll_fs *fs, fuse_ino_t ino)
{
	return ino >= 1 && ino - 1 < ex_node_count(fs->e);
}

static fuse_ino_t status_dir_ino(const ll_fs *fs)
{
	return ex_node_count(fs->e) + 1;
}

static fuse_ino_t status_file_ino(const ll_fs *fs)
{
	return ex_node_count(fs->e) + 2;
}

static double seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static char *status_text(ll_fs *fs)
{
	fc_stats st;
	fc_get_stats(fs->cache, &st);
	st_store *store = ex_store(fs->e);
	doc_status_info info = {
		.version = CELLUCIDFS_VERSION, .dataset_id = ex_id(fs->e),
		.cache_dir = store ? st_dir(store) : NULL, .uptime = seconds() - fs->started,
		.files = ex_node_count(fs->e), .generated = st.generated, .hits = st.hits,
		.misses = st.misses, .errors = atomic_load(&fs->errors),
		.bytes_served = atomic_load(&fs->bytes_served), .stored_bytes = st.stored_bytes,
		.memory_bytes = st.memory_bytes, .index_permille = ex_index_permille(fs->e),
	};
	return doc_status(&info);
}

/* stat of the hidden status entries; the file's size is that of a fresh
 * document, and its attributes are never cached (it changes). */
static int stat_status(ll_fs *fs, fuse_ino_t ino, struct stat *st)
{
	memset(st, 0, sizeof *st);
	st->st_ino = ino;
	st->st_uid = getuid();
	st->st_gid = getgid();
	st->st_mtime = st->st_ctime = st->st_atime = ex_mtime(fs->e);
	if (ino == status_dir_ino(fs)) {
		st->st_mode = S_IFDIR | 0555;
		st->st_nlink = 2;
		return 0;
	}
	char *text = status_text(fs);
	if (!text)
		return ENOMEM;
	st->st_mode = S_IFREG | 0444;
	st->st_nlink = 1;
	st->st_size = (off_t)strlen(text);
	free(text);
	return 0;
}

static int is_status_ino(const ll_fs *fs, fuse_ino_t ino)
{
	return ino == status_dir_ino(fs) || ino == status_file_ino(fs);
}

static uint32_t node_of(fuse_ino_t ino)
{
	return (uint32_t)(ino - 1);
}

/* Fill st for node i; for files this may generate the file. Returns 0 or an errno. */
static int stat_node(ll_fs *fs, uint32_t i, struct stat *st)
{
	const ex_node *n = ex_node_at(fs->e, i);
	memset(st, 0, sizeof *st);
	st->st_ino = i + 1;
	st->st_mtime = st->st_ctime = st->st_atime = ex_mtime(fs->e);
	st->st_uid = getuid();
	st->st_gid = getgid();
	st->st_blksize = 65536;
	if (n->kind == EX_DIR) {
		st->st_mode = S_IFDIR | 0555;
		st->st_nlink = 2;
		return 0;
	}
	size_t size;
	char err[512];
	if (fc_size(fs->cache, i, &size, err, sizeof err) != EX_OK) {
		log_error("%s", err);
		atomic_fetch_add(&fs->errors, 1);
		return EIO;
	}
	st->st_mode = S_IFREG | 0444;
	st->st_nlink = 1;
	st->st_size = (off_t)size;
	st->st_blocks = (blkcnt_t)((size + 511) / 512);
	return 0;
}

static void ll_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	ll_fs *fs = fs_of(req);
	struct fuse_entry_param ep;
	memset(&ep, 0, sizeof ep);
	ep.attr_timeout = ep.entry_timeout = FOREVER;
	fuse_ino_t hidden = parent == FUSE_ROOT_ID && !strcmp(name, STATUS_DIR) ? status_dir_ino(fs)
			  : parent == status_dir_ino(fs) && !strcmp(name, STATUS_FILE)
			  ? status_file_ino(fs) : 0;
	if (hidden || parent == status_dir_ino(fs)) {
		int err = hidden ? stat_status(fs, hidden, &ep.attr) : 0;
		if (err) {
			fuse_reply_err(req, err);
			return;
		}
		ep.ino = hidden;
		ep.attr_timeout = 0;
		fuse_reply_entry(req, &ep);
		return;
	}
	if (!valid_ino(fs, parent) || ex_node_at(fs->e, node_of(parent))->kind != EX_DIR) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	int64_t i = ex_lookup(fs->e, node_of(parent), name);
	if (i < 0) {
		/* ino 0 is a negative entry the kernel caches: the tree never grows. */
		fuse_reply_entry(req, &ep);
		return;
	}
	int missed = !fc_known(fs->cache, (uint32_t)i);
	int err = stat_node(fs, (uint32_t)i, &ep.attr);
	if (missed && ex_node_at(fs->e, (uint32_t)i)->kind != EX_DIR)
		pf_missed(fs->warm, (uint32_t)i);
	if (err) {
		fuse_reply_err(req, err);
		return;
	}
	ep.ino = (fuse_ino_t)i + 1;
	fuse_reply_entry(req, &ep);
}

static void ll_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)fi;
	ll_fs *fs = fs_of(req);
	struct stat st;
	int err = is_status_ino(fs, ino) ? stat_status(fs, ino, &st)
		: valid_ino(fs, ino) ? stat_node(fs, node_of(ino), &st) : ENOENT;
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_attr(req, &st, is_status_ino(fs, ino) ? 0 : FOREVER);
}

static void ll_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	ll_fs *fs = fs_of(req);
	if (ino == status_dir_ino(fs)) {
		fuse_reply_open(req, fi); /* lists only . and .. */
		return;
	}
	if (!valid_ino(fs, ino) || ex_node_at(fs->e, node_of(ino))->kind != EX_DIR) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	fi->cache_readdir = 1;
	fi->keep_cache = 1;
	fuse_reply_open(req, fi);
}

/* Entries: 0 ".", 1 "..", then the children; off is the next entry's index.
 * Listing fills in only the type and inode, so it generates nothing. */
static void ll_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	(void)fi;
	ll_fs *fs = fs_of(req);
	static const ex_node empty = {0};
	const ex_node *dir = ino == status_dir_ino(fs) ? &empty : ex_node_at(fs->e, node_of(ino));
	char *buf = malloc(size);
	size_t used = 0;
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	for (off_t k = off; k < (off_t)dir->n_children + 2; k++) {
		struct stat st = {0};
		const char *name;
		if (k < 2) {
			name = k == 0 ? "." : "..";
			st.st_ino = k == 0 || ino == status_dir_ino(fs) ? ino : dir->parent + 1;
			st.st_mode = S_IFDIR;
		} else {
			uint32_t child = dir->first_child + (uint32_t)(k - 2);
			const ex_node *n = ex_node_at(fs->e, child);
			name = n->name;
			st.st_ino = child + 1;
			st.st_mode = n->kind == EX_DIR ? S_IFDIR : S_IFREG;
		}
		size_t need = fuse_add_direntry(req, buf + used, size - used, name, &st, k + 1);
		if (need > size - used)
			break;
		used += need;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
}

static void ll_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	ll_fs *fs = fs_of(req);
	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
		fuse_reply_err(req, EROFS);
		return;
	}
	open_file *of = calloc(1, sizeof *of);
	if (!of) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (ino == status_file_ino(fs)) {
		/* A new document per open, read through to EOF whatever stat said. */
		of->status = status_text(fs);
		of->status_len = of->status ? strlen(of->status) : 0;
		fi->direct_io = 1;
	} else if (valid_ino(fs, ino) && ex_node_at(fs->e, node_of(ino))->kind != EX_DIR) {
		char err[512];
		if (fc_open(fs->cache, node_of(ino), &of->cached, err, sizeof err) != EX_OK) {
			log_error("%s", err);
			atomic_fetch_add(&fs->errors, 1);
			free(of);
			fuse_reply_err(req, EIO);
			return;
		}
		fi->keep_cache = 1;
	}
	if (!of->cached && !of->status) {
		free(of);
		fuse_reply_err(req, is_status_ino(fs, ino) ? ENOMEM : EISDIR);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)of;
	if (fuse_reply_open(req, fi)) { /* the opener went away: no release will come */
		if (of->cached)
			fc_close(fs->cache, of->cached);
		free(of->status);
		free(of);
	}
}

static void ll_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	(void)ino;
	const open_file *of = (const open_file *)(uintptr_t)fi->fh;
	const fc_file *f = of->cached;
	const char *data = f ? f->data : of->status;
	size_t len = f ? f->len : of->status_len;
	if (off < 0 || (size_t)off >= len) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	size_t n = len - (size_t)off < size ? len - (size_t)off : size;
	if (f)
		atomic_fetch_add(&fs_of(req)->bytes_served, n);
	if (!f || f->fd < 0) {
		fuse_reply_buf(req, data + off, n);
		return;
	}
	/* A stored file: libfuse reads (or splices) it straight from the
	 * descriptor, without a copy through this process. */
	struct fuse_bufvec buf = FUSE_BUFVEC_INIT(n);
	buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	buf.buf[0].fd = f->fd;
	buf.buf[0].pos = off;
	fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
}

static void ll_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	open_file *of = (open_file *)(uintptr_t)fi->fh;
	if (of->cached)
		fc_close(fs_of(req)->cache, of->cached);
	free(of->status);
	free(of);
	fuse_reply_err(req, 0);
}

static void ll_statfs(fuse_req_t req, fuse_ino_t ino)
{
	(void)ino;
	struct statvfs sv = {0};
	sv.f_bsize = sv.f_frsize = 4096;
	sv.f_files = ex_node_count(fs_of(req)->e);
	sv.f_namemax = 255;
	sv.f_flag = ST_RDONLY;
	fuse_reply_statfs(req, &sv);
}

/* Every operation that would change the tree. */
static void reply_erofs(fuse_req_t req)
{
	fuse_reply_err(req, EROFS);
}

static void ll_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	(void)ino, (void)attr, (void)to_set, (void)fi;
	reply_erofs(req);
}

static void ll_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		     dev_t rdev)
{
	(void)parent, (void)name, (void)mode, (void)rdev;
	reply_erofs(req);
}

static void ll_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	(void)parent, (void)name, (void)mode;
	reply_erofs(req);
}

static void ll_remove(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	(void)parent, (void)name;
	reply_erofs(req);
}

static void ll_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	(void)link, (void)parent, (void)name;
	reply_erofs(req);
}

static void ll_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		      fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	(void)parent, (void)name, (void)newparent, (void)newname, (void)flags;
	reply_erofs(req);
}

static void ll_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	(void)ino, (void)newparent, (void)newname;
	reply_erofs(req);
}

static void ll_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	(void)parent, (void)name, (void)mode, (void)fi;
	reply_erofs(req);
}

static void ll_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
			size_t size, int flags)
{
	(void)ino, (void)name, (void)value, (void)size, (void)flags;
	reply_erofs(req);
}

static void ll_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	(void)ino, (void)name;
	reply_erofs(req);
}

const struct fuse_lowlevel_ops ll_ops = {
	.init = ll_init,
	.lookup = ll_lookup,
	.getattr = ll_getattr,
	.opendir = ll_opendir,
	.readdir = ll_readdir,
	.open = ll_open,
	.read = ll_read,
	.release = ll_release,
	.statfs = ll_statfs,
	.setattr = ll_setattr,
	.mknod = ll_mknod,
	.mkdir = ll_mkdir,
	.unlink = ll_remove,
	.rmdir = ll_remove,
	.symlink = ll_symlink,
	.rename = ll_rename,
	.link = ll_link,
	.create = ll_create,
	.setxattr = ll_setxattr,
	.removexattr = ll_removexattr,
};
