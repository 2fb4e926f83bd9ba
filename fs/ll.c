/*
 * ll.c - FUSE low-level operations: a read-only tree whose files are
 * generated on first lookup.
 *
 * A file is generated when it is first looked up or stat'ed, so that its
 * st_size is exact from the first stat: nginx and the page cache trust that
 * size and never read past it (fuse-design-notes.md §1). Names and sizes
 * never change within a version (a new one has new inode numbers, and the
 * kernel is told to forget the old), so entries, attributes and negative
 * lookups are cached by the kernel for as long as it likes, and keep_cache lets repeated
 * opens be served from the page cache. Listings carry the entries
 * (readdirplus), so a cp -r that lists a directory then needs one request per
 * file instead of two: a stat of a file whose size was unknown when listed
 * (its listed attributes are stale at once), and no read when the prefetch
 * pool has put the file's bytes in the page cache meanwhile (ll_file_ready).
 *
 * What an inode number stands for is ll_inode.c's; the versions a dataset
 * goes through when its source changes (each request holds the one it
 * resolved, each open file the one it opened) are ll_version.c's; the hidden
 * status document is ll_status.c's. The engine is reached through export.h and the
 * cache (cache.h) only.
 */
#include "ll.h"
#include "ll_inode.h"
#include "ll_members.h"
#include "ll_status.h"
#include "ll_version.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

/* libfuse clamps this; it means "as long as the kernel will keep it". */
static const double FOREVER = 1e9;

/* What an open file handle holds: a cached export file (and its version),
 * or a document. */
typedef struct {
	ll_volume *vol;
	ll_catalog *cat;    /* a collection's document: the catalog holding it */
	fc_file *cached;
	const char *text;
	size_t text_len;
	char *owned;        /* the status document, freed at release */
} open_file;

static ll_fs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* ------------------------------------------------------------- stat */

/* A version's files have its mtime, a catalog's its own; the rest the
 * current catalog's, or the current version's. */
static time_t mtime_of(ll_fs *fs, const ll_volume *v, const ll_catalog *c)
{
	if (v || c)
		return v ? ex_mtime(v->e) : co_mtime(c->co);
	time_t t;
	if (fs->collection) {
		ll_catalog *cur = ll_catalog_current(fs);
		t = co_mtime(cur->co);
		ll_catalog_put(cur);
	} else {
		ll_volume *cur = ll_version_current(fs->slots[0]);
		t = ex_mtime(cur->e);
		ll_version_put(cur);
	}
	return t;
}

static void stat_common(ll_fs *fs, ll_item it, fuse_ino_t ino, struct stat *st, int dir,
			size_t size)
{
	memset(st, 0, sizeof *st);
	st->st_ino = ino;
	st->st_mtime = st->st_ctime = st->st_atime = mtime_of(fs, it.vol, it.cat);
	st->st_uid = getuid();
	st->st_gid = getgid();
	st->st_blksize = 65536;
	st->st_mode = dir ? S_IFDIR | 0555 : S_IFREG | 0444;
	st->st_nlink = dir ? 2 : 1;
	st->st_size = (off_t)size;
	st->st_blocks = (blkcnt_t)((size + 511) / 512);
}

/* A file that could not be generated: the reason goes to the log, the
 * reader gets EIO. */
static int generation_failed(ll_fs *fs, const char *err)
{
	log_error("%s", err);
	atomic_fetch_add(&fs->errors, 1);
	return EIO;
}

/* Fill st for ino; an export file is generated if its size is unknown.
 * Returns 0 or an errno. */
static int stat_item(ll_fs *fs, fuse_ino_t ino, ll_item it, struct stat *st)
{
	size_t size = 0;
	if (it.type == IT_NONE)
		return ENOENT;
	if (it.type == IT_EXPORT && !ll_is_dir(it)) {
		char err[512];
		if (fc_size(it.vol->cache, it.node, &size, err, sizeof err) != EX_OK)
			return generation_failed(fs, err);
	} else if (it.type == IT_COLLECTION && !ll_is_dir(it)) {
		size = strlen(co_node_at(it.cat->co, it.node)->text);
	} else if (it.type == IT_STATUS_FILE) {
		size = LL_STATUS_SIZE;
	}
	stat_common(fs, it, ino, st, ll_is_dir(it), size);
	if (it.type == IT_STATUS_FILE) /* new content: the kernel drops old pages */
		clock_gettime(CLOCK_REALTIME, &st->st_mtim);
	return 0;
}

/* --------------------------------------------------------- operations */

static void ll_init(void *userdata, struct fuse_conn_info *conn)
{
	ll_fs *fs = userdata;
	/* Every file is ready once looked up, so open and release have nothing
	 * to do: answering the first open with ENOSYS makes the kernel stop
	 * sending them (keeping page caches as keep_cache would). That halves
	 * the round trips of a web server that opens each file per request. */
	fs->zero_open = (conn->capable & FUSE_CAP_NO_OPEN_SUPPORT) != 0;
	/* Replies from stored files can then move pages instead of copying. */
	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE;
	if (conn->capable & FUSE_CAP_SPLICE_MOVE)
		conn->want |= FUSE_CAP_SPLICE_MOVE;
	/* Listings carry the entries (see list_dir), every time: cp -r and
	 * rsync list a directory before they stat its files. */
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
}

/* A lookup or stat of an export file, answered once its size is known. */
typedef struct {
	fuse_req_t req;
	ll_fs *fs;
	ll_volume *vol;     /* held until the reply */
	fuse_ino_t ino;
	int lookup;         /* else a stat */
} pending_entry;

/* An entry the kernel may keep for good: a version's tree never changes,
 * and a new version has other inode numbers (ll_version.c tells the kernel
 * to forget the old names). */
static void entry_for(struct fuse_entry_param *ep, fuse_ino_t ino)
{
	memset(ep, 0, sizeof *ep);
	ep->ino = ino;
	ep->attr_timeout = ep->entry_timeout = FOREVER;
}

/* The reply to a lookup (an entry) or a stat (attributes), from the size. */
static void reply_sized(void *ctx, ex_err r, size_t size, const char *err)
{
	pending_entry *pe = ctx;
	struct fuse_entry_param ep;
	entry_for(&ep, pe->ino);
	stat_common(pe->fs, (ll_item){IT_EXPORT, pe->vol, NULL, 0}, pe->ino, &ep.attr, 0, size);
	if (r != EX_OK)
		fuse_reply_err(pe->req, generation_failed(pe->fs, err));
	else if (pe->lookup)
		fuse_reply_entry(pe->req, &ep);
	else
		fuse_reply_attr(pe->req, &ep.attr, FOREVER);
	ll_version_put(pe->vol);
	free(pe);
}

/* Reply to a lookup or stat of an export file once its size is known. While
 * another thread generates the file, this one goes back to serve other
 * requests and that thread replies: requests for files underway do not tie
 * up server threads, and a cp -r that keeps up with readahead switches
 * threads about a tenth less often (one sleep and wake-up fewer per file). */
static void size_export_file(fuse_req_t req, ll_fs *fs, fuse_ino_t ino, ll_item it, int lookup)
{
	/* Before the file is generated, so that readahead runs beside it. */
	pf_looked_up(it.vol->warm, it.node, !fc_known(it.vol->cache, it.node));
	pending_entry *pe = malloc(sizeof *pe);
	if (!pe) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	*pe = (pending_entry){req, fs, it.vol, ino, lookup};
	ll_version_hold(it.vol);
	fc_size_then(it.vol->cache, it.node, reply_sized, pe);
}

static void ll_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	ll_fs *fs = fs_of(req);
	ll_item d = ll_resolve(fs, parent);
	if (!ll_is_dir(d)) {
		fuse_reply_err(req, d.type == IT_NONE ? ENOENT : ENOTDIR);
		ll_done(d);
		return;
	}
	struct fuse_entry_param ep;
	entry_for(&ep, ll_child_ino(fs, parent, d, name));
	ll_done(d);
	if (!ep.ino) {
		/* ino 0 is a negative entry the kernel caches: a name that comes
		 * (a new version's, a new member's) is forgotten when it does. */
		fuse_reply_entry(req, &ep);
		return;
	}
	ll_item it = ll_resolve(fs, ep.ino);
	if (it.type == IT_EXPORT && !ll_is_dir(it)) {
		size_export_file(req, fs, ep.ino, it, 1);
		ll_done(it);
		return;
	}
	int err = stat_item(fs, ep.ino, it, &ep.attr);
	if (it.type == IT_STATUS_FILE)
		ep.attr_timeout = 0; /* it changes */
	ll_done(it);
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_entry(req, &ep);
}

static void ll_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)fi;
	ll_fs *fs = fs_of(req);
	ll_item it = ll_resolve(fs, ino);
	if (it.type == IT_EXPORT && !ll_is_dir(it)) {
		size_export_file(req, fs, ino, it, 0);
		ll_done(it);
		return;
	}
	struct stat st;
	int err = stat_item(fs, ino, it, &st);
	ll_done(it);
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_attr(req, &st, it.type == IT_STATUS_FILE ? 0 : FOREVER);
}

static void ll_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	ll_fs *fs = fs_of(req);
	ll_item it = ll_resolve(fs, ino);
	int dir = ll_is_dir(it);
	ll_done(it);
	if (!dir) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	fi->cache_readdir = 1;
	fi->keep_cache = 1;
	fuse_reply_open(req, fi);
}

/* What a listing with entries (readdirplus) says of a child, generating
 * nothing: its attributes when its size is known. Otherwise attributes that
 * are stale at once, so that a stat asks (and gets the exact size) - and the
 * inode now exists in the kernel, so that the file's contents can be put in
 * its page cache once generated (ll_file_ready), and a cp -r reads them
 * without asking. */
static void listed_entry(ll_fs *fs, fuse_ino_t ino, struct fuse_entry_param *ep)
{
	ll_item it = ll_resolve(fs, ino);
	entry_for(ep, ino);
	if (it.type == IT_EXPORT && !ll_is_dir(it) && !fc_known(it.vol->cache, it.node)) {
		stat_common(fs, it, ino, &ep->attr, 0, 0);
		ep->attr_timeout = 0;
		atomic_store(&it.vol->listed[it.node], 1);
	} else if (stat_item(fs, ino, it, &ep->attr)) {
		ep->ino = 0; /* a name alone; a lookup will tell */
	}
	ll_done(it);
}

/* Entries: 0 ".", 1 "..", then the children; off is the next entry's index. */
static void list_dir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, int plus)
{
	ll_fs *fs = fs_of(req);
	ll_item d = ll_resolve(fs, ino);
	char *buf = malloc(size);
	size_t used = 0;
	if (!buf) {
		ll_done(d);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	for (off_t k = off;; k++) {
		struct stat st = {0};
		const char *name;
		int dir = 1;
		if (k < 2) {
			name = k == 0 ? "." : "..";
			st.st_ino = k == 0 ? ino : ll_parent_ino(fs, ino, d);
		} else {
			fuse_ino_t child;
			if (!ll_nth_child(fs, d, (size_t)(k - 2), &name, &child, &dir))
				break;
			st.st_ino = child;
		}
		st.st_mode = dir ? S_IFDIR : S_IFREG;
		struct fuse_entry_param ep;
		if (plus)
			listed_entry(fs, st.st_ino, &ep);
		size_t need = plus ? fuse_add_direntry_plus(req, buf + used, size - used, name, &ep, k + 1)
				   : fuse_add_direntry(req, buf + used, size - used, name, &st, k + 1);
		if (need > size - used)
			break;
		used += need;
	}
	ll_done(d);
	fuse_reply_buf(req, buf, used);
	free(buf);
}

static void ll_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	(void)fi;
	list_dir(req, ino, size, off, 0);
}

static void ll_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	(void)fi;
	list_dir(req, ino, size, off, 1);
}

static void release_contents(open_file *of)
{
	if (of->cached)
		fc_close(of->vol->cache, of->cached);
	ll_version_put(of->vol);
	ll_catalog_put(of->cat);
	free(of->owned);
}

static void close_file(open_file *of)
{
	release_contents(of);
	free(of);
}

/* Fill of for item it: 0, or an errno. */
static int open_item(ll_fs *fs, ll_item it, open_file *of, struct fuse_file_info *fi)
{
	if (it.type == IT_STATUS_FILE) {
		/* A new document per open, read through to EOF whatever stat said. */
		if (!(of->owned = ll_status_snapshot(fs)))
			return ENOMEM;
		of->text = of->owned;
		of->text_len = strlen(of->owned);
		fi->direct_io = 1;
		return 0;
	}
	if (it.type == IT_COLLECTION) {
		of->text = co_node_at(it.cat->co, it.node)->text;
		of->text_len = strlen(of->text);
		of->cat = it.cat;
		ll_catalog_hold(it.cat);
		fi->keep_cache = 1;
		return 0;
	}
	char err[512];
	if (fc_open(it.vol->cache, it.node, &of->cached, err, sizeof err) != EX_OK) {
		log_error("%s", err);
		atomic_fetch_add(&fs->errors, 1);
		return EIO;
	}
	of->vol = it.vol;
	ll_version_hold(it.vol);
	fi->keep_cache = 1;
	return 0;
}

static void ll_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	ll_fs *fs = fs_of(req);
	ll_item it = ll_resolve(fs, ino);
	int err = (fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC) ? EROFS
		: it.type == IT_NONE ? ENOENT : ll_is_dir(it) ? EISDIR
		: fs->zero_open ? ENOSYS : 0;
	open_file *of = err ? NULL : calloc(1, sizeof *of);
	if (!err)
		err = of ? open_item(fs, it, of, fi) : ENOMEM;
	ll_done(it);
	if (err) {
		free(of);
		fuse_reply_err(req, err);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)of;
	if (fuse_reply_open(req, fi))
		close_file(of); /* the opener went away: no release will come */
}

/* n bytes of a cached file from off: in memory, or read (or spliced) by
 * libfuse straight from the store's descriptor, without a copy through this
 * process. */
static struct fuse_bufvec cached_bytes(const fc_file *f, size_t off, size_t n)
{
	struct fuse_bufvec buf = FUSE_BUFVEC_INIT(n);
	if (f->fd < 0) {
		buf.buf[0].mem = (char *)f->data + off;
	} else {
		buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
		buf.buf[0].fd = f->fd;
		buf.buf[0].pos = (off_t)(f->offset + off);
	}
	return buf;
}

/* Reply to a read of of's contents. */
static void read_open_file(fuse_req_t req, const open_file *of, size_t size, off_t off)
{
	const fc_file *f = of->cached;
	size_t len = f ? f->len : of->text_len;
	if (off < 0 || (size_t)off >= len) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	size_t n = len - (size_t)off < size ? len - (size_t)off : size;
	if (!f) {
		fuse_reply_buf(req, of->text + off, n);
		return;
	}
	atomic_fetch_add(&fs_of(req)->bytes_served, n);
	struct fuse_bufvec buf = cached_bytes(f, (size_t)off, n);
	fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
}

/* With zero-message opens there is no handle: the file is opened for the
 * read alone (reads are rare: the kernel keeps the pages). */
static void ll_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	if (fi->fh) {
		read_open_file(req, (const open_file *)(uintptr_t)fi->fh, size, off);
		return;
	}
	ll_fs *fs = fs_of(req);
	ll_item it = ll_resolve(fs, ino);
	open_file of = {0};
	struct fuse_file_info scratch = {0};
	/* IT_NONE: a version or member gone since the kernel had the inode. */
	int err = it.type == IT_NONE ? ENOENT : ll_is_dir(it) ? EISDIR
		: open_item(fs, it, &of, &scratch);
	ll_done(it);
	if (err) {
		fuse_reply_err(req, err);
		return;
	}
	read_open_file(req, &of, size, off);
	release_contents(&of);
}

static void ll_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	close_file((open_file *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

/* Only files listed before their size was known: their inodes exist in the
 * kernel with stale attributes, so the store sets the exact size (the next
 * stat still asks, and is answered from the cache) and leaves the pages
 * ready. Called from a prefetch thread after the file was published, never
 * from a server thread: the store waits for pages a read may have locked,
 * and that read is answered by a server thread. */
void ll_file_ready(void *volume, uint32_t node)
{
	ll_volume *v = volume;
	fc_file *f;
	char err[512];
	if (!atomic_load(&v->listed[node]) || fc_open(v->cache, node, &f, err, sizeof err) != EX_OK)
		return;
	struct fuse_bufvec buf = cached_bytes(f, 0, f->len);
	/* ENOENT: the kernel has forgotten the inode since; nothing to do. */
	if (f->len)
		fuse_lowlevel_notify_store(v->fs->se, ll_export_ino(v->fs, v, node), 0, &buf, 0);
	fc_close(v->cache, f);
}

static void ll_statfs(fuse_req_t req, fuse_ino_t ino)
{
	(void)ino;
	ll_fs *fs = fs_of(req);
	struct statvfs sv = {0};
	sv.f_bsize = sv.f_frsize = 4096;
	for (size_t k = 0; k < atomic_load(&fs->n_vols); k++) {
		ll_volume *v = ll_version_current(fs->slots[k]);
		sv.f_files += v ? ex_node_count(v->e) : 0;
		ll_version_put(v);
	}
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
	.readdirplus = ll_readdirplus,
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
