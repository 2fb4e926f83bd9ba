/*
 * ll.c - FUSE low-level operations: a read-only tree whose files are
 * generated on first lookup.
 *
 * Inode numbers are computed, never looked up: the high 32 bits say which
 * volume (dataset) a node belongs to and the low 32 bits its node index + 1.
 * A single .h5ad is volume 0 and its root is FUSE_ROOT_ID. For a directory of
 * .h5ad files, volume 0 is the collection's own small tree (datasets.json,
 * _cellucid/, one directory per dataset) and dataset k is volume k + 1,
 * whose root node is that directory.
 *
 * A file is generated when it is first looked up or stat'ed, so that its
 * st_size is exact from the first stat: nginx and the page cache trust that
 * size and never read past it (fuse-design-notes.md §1). Names and sizes
 * never change while mounted, so entries, attributes and negative lookups are
 * cached by the kernel for as long as it likes, and keep_cache lets repeated
 * opens be served from the page cache. Listings carry the entries
 * (readdirplus), so a cp -r that lists a directory then needs one request per
 * file instead of two: a stat of a file whose size was unknown when listed
 * (its listed attributes are stale at once), and no read when the prefetch
 * pool has put the file's bytes in the page cache meanwhile (ll_file_ready).
 *
 * A hidden ".cellucidfs/status.json" (never listed, so cp -r and crawlers do
 * not see it) holds the daemon's counters, made afresh at each open.
 */
#include "ll.h"

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "docs.h"
#include "log.h"

static const char STATUS_DIR[] = ".cellucidfs";
static const char STATUS_FILE[] = "status.json";
/* In volume 0, above any node index. */
#define STATUS_DIR_INO ((fuse_ino_t)0xfffffffe)
#define STATUS_FILE_INO ((fuse_ino_t)0xffffffff)
#define STATUS_SIZE 4096

/* libfuse clamps this; it means "as long as the kernel will keep it". */
static const double FOREVER = 1e9;

/* What an inode stands for. */
typedef struct {
	enum { IT_NONE, IT_EXPORT, IT_COLLECTION, IT_STATUS_DIR, IT_STATUS_FILE } type;
	ll_volume *vol;     /* IT_EXPORT */
	uint32_t node;      /* IT_EXPORT, IT_COLLECTION */
} item;

/* What an open file handle holds: a cached export file, or a document. */
typedef struct {
	ll_volume *vol;
	fc_file *cached;
	const char *text;
	size_t text_len;
	char *owned;        /* the status document, freed at release */
} open_file;

static ll_fs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static double seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------------ inodes */

static fuse_ino_t export_ino(const ll_fs *fs, const ll_volume *v, uint32_t node)
{
	uint64_t vol = (uint64_t)(v - fs->vols) + (fs->co ? 1 : 0);
	return (fuse_ino_t)(vol << 32 | ((uint64_t)node + 1));
}

static item resolve(ll_fs *fs, fuse_ino_t ino)
{
	uint64_t vol = (uint64_t)ino >> 32, low = (uint64_t)ino & 0xffffffffu;
	if (vol == 0 && ino == STATUS_DIR_INO)
		return (item){IT_STATUS_DIR, NULL, 0};
	if (vol == 0 && ino == STATUS_FILE_INO)
		return (item){IT_STATUS_FILE, NULL, 0};
	if (low == 0)
		return (item){IT_NONE, NULL, 0};
	if (fs->co && vol == 0)
		return low - 1 < co_node_count(fs->co) ? (item){IT_COLLECTION, NULL, (uint32_t)(low - 1)}
						       : (item){IT_NONE, NULL, 0};
	size_t k = fs->co ? vol - 1 : vol;
	if (k >= fs->n_vols || low - 1 >= ex_node_count(fs->vols[k].e))
		return (item){IT_NONE, NULL, 0};
	return (item){IT_EXPORT, &fs->vols[k], (uint32_t)(low - 1)};
}

/* The inode of a collection node: a dataset's directory is its volume's root. */
static fuse_ino_t collection_ino(ll_fs *fs, uint32_t node)
{
	const co_node *n = co_node_at(fs->co, node);
	return n->kind == CO_DATASET ? export_ino(fs, &fs->vols[n->arg], 0) : (fuse_ino_t)node + 1;
}

static int is_dir(ll_fs *fs, item it)
{
	switch (it.type) {
	case IT_EXPORT: return ex_node_at(it.vol->e, it.node)->kind == EX_DIR;
	case IT_COLLECTION: return co_node_at(fs->co, it.node)->kind == CO_DIR;
	case IT_STATUS_DIR: return 1;
	default: return 0;
	}
}

/* ------------------------------------------------------------- stat */

static time_t mtime_of(ll_fs *fs)
{
	return fs->co ? co_mtime(fs->co) : ex_mtime(fs->vols[0].e);
}

static char *status_text(ll_fs *fs)
{
	doc_status_info info = {
		.version = CELLUCIDFS_VERSION,
		.dataset_id = fs->co ? "" : ex_id(fs->vols[0].e),
		.uptime = seconds() - fs->started, .errors = atomic_load(&fs->errors),
		.bytes_served = atomic_load(&fs->bytes_served), .index_permille = 1000,
	};
	/* Counters add up over the datasets; the gene index shows the least
	 * advanced one, and the cache directory the first dataset's. */
	for (size_t k = 0; k < fs->n_vols; k++) {
		fc_stats st;
		ex_export *e = fs->vols[k].e;
		fc_get_stats(fs->vols[k].cache, &st);
		info.files += ex_node_count(e);
		info.generated += st.generated;
		info.hits += st.hits;
		info.misses += st.misses;
		info.stored_bytes += st.stored_bytes;
		info.memory_bytes += st.memory_bytes;
		if (ex_index_permille(e) < info.index_permille)
			info.index_permille = ex_index_permille(e);
		if (!info.cache_dir && ex_store(e))
			info.cache_dir = st_dir(ex_store(e));
	}
	/* A fixed size, padded with the whitespace JSON allows: the kernel
	 * reads up to the size it last saw, and the counters change between
	 * a stat and a read. */
	char *text = doc_status(&info), *padded = text ? malloc(STATUS_SIZE + 1) : NULL;
	if (padded) {
		snprintf(padded, STATUS_SIZE + 1, "%-*s", STATUS_SIZE - 1, text);
		padded[STATUS_SIZE - 1] = '\n';
	}
	free(text);
	return padded;
}

/* One document serves every read for a moment: a reader whose read the
 * kernel splits into several requests must not get pieces of different
 * documents. */
static char *status_snapshot(ll_fs *fs)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	static char *text;
	static double made;
	pthread_mutex_lock(&lock);
	if (!text || seconds() - made > 0.2) {
		char *fresh = status_text(fs);
		if (fresh) {
			free(text);
			text = fresh;
			made = seconds();
		}
	}
	char *copy = text ? strdup(text) : NULL;
	pthread_mutex_unlock(&lock);
	return copy;
}

static void stat_common(ll_fs *fs, fuse_ino_t ino, struct stat *st, int dir, size_t size)
{
	memset(st, 0, sizeof *st);
	st->st_ino = ino;
	st->st_mtime = st->st_ctime = st->st_atime = mtime_of(fs);
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
static int stat_item(ll_fs *fs, fuse_ino_t ino, item it, struct stat *st)
{
	size_t size = 0;
	if (it.type == IT_NONE)
		return ENOENT;
	if (it.type == IT_EXPORT && !is_dir(fs, it)) {
		char err[512];
		if (fc_size(it.vol->cache, it.node, &size, err, sizeof err) != EX_OK)
			return generation_failed(fs, err);
	} else if (it.type == IT_COLLECTION && !is_dir(fs, it)) {
		size = strlen(co_node_at(fs->co, it.node)->text);
	} else if (it.type == IT_STATUS_FILE) {
		size = STATUS_SIZE;
	}
	stat_common(fs, ino, st, is_dir(fs, it), size);
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

/* The inode called name in directory dir, or 0. */
static fuse_ino_t child_ino(ll_fs *fs, fuse_ino_t dir, item d, const char *name)
{
	int root = dir == FUSE_ROOT_ID;
	if (root && !strcmp(name, STATUS_DIR))
		return STATUS_DIR_INO;
	if (d.type == IT_STATUS_DIR)
		return !strcmp(name, STATUS_FILE) ? STATUS_FILE_INO : 0;
	if (d.type == IT_COLLECTION) {
		int64_t i = co_lookup(fs->co, d.node, name);
		return i < 0 ? 0 : collection_ino(fs, (uint32_t)i);
	}
	int64_t i = ex_lookup(d.vol->e, d.node, name);
	return i < 0 ? 0 : export_ino(fs, d.vol, (uint32_t)i);
}

/* A lookup or stat of an export file, answered once its size is known. */
typedef struct {
	fuse_req_t req;
	ll_fs *fs;
	fuse_ino_t ino;
	int lookup;         /* else a stat */
} pending_entry;

/* An entry the kernel may keep for good (the tree never changes). */
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
	stat_common(pe->fs, pe->ino, &ep.attr, 0, size);
	if (r != EX_OK)
		fuse_reply_err(pe->req, generation_failed(pe->fs, err));
	else if (pe->lookup)
		fuse_reply_entry(pe->req, &ep);
	else
		fuse_reply_attr(pe->req, &ep.attr, FOREVER);
	free(pe);
}

/* Reply to a lookup or stat of an export file once its size is known. While
 * another thread generates the file, this one goes back to serve other
 * requests and that thread replies: requests for files underway do not tie
 * up server threads, and a cp -r that keeps up with readahead switches
 * threads about a tenth less often (one sleep and wake-up fewer per file). */
static void size_export_file(fuse_req_t req, ll_fs *fs, fuse_ino_t ino, item it, int lookup)
{
	/* Before the file is generated, so that readahead runs beside it. */
	pf_looked_up(it.vol->warm, it.node, !fc_known(it.vol->cache, it.node));
	pending_entry *pe = malloc(sizeof *pe);
	if (!pe) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	*pe = (pending_entry){req, fs, ino, lookup};
	fc_size_then(it.vol->cache, it.node, reply_sized, pe);
}

static void ll_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	ll_fs *fs = fs_of(req);
	item d = resolve(fs, parent);
	if (!is_dir(fs, d)) {
		fuse_reply_err(req, d.type == IT_NONE ? ENOENT : ENOTDIR);
		return;
	}
	struct fuse_entry_param ep;
	entry_for(&ep, child_ino(fs, parent, d, name));
	if (!ep.ino) {
		/* ino 0 is a negative entry the kernel caches: the tree never grows. */
		fuse_reply_entry(req, &ep);
		return;
	}
	item it = resolve(fs, ep.ino);
	if (it.type == IT_EXPORT && !is_dir(fs, it)) {
		size_export_file(req, fs, ep.ino, it, 1);
		return;
	}
	int err = stat_item(fs, ep.ino, it, &ep.attr);
	if (it.type == IT_STATUS_FILE)
		ep.attr_timeout = 0; /* it changes */
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_entry(req, &ep);
}

static void ll_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)fi;
	ll_fs *fs = fs_of(req);
	item it = resolve(fs, ino);
	if (it.type == IT_EXPORT && !is_dir(fs, it)) {
		size_export_file(req, fs, ino, it, 0);
		return;
	}
	struct stat st;
	int err = stat_item(fs, ino, it, &st);
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_attr(req, &st, it.type == IT_STATUS_FILE ? 0 : FOREVER);
}

static void ll_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	ll_fs *fs = fs_of(req);
	if (!is_dir(fs, resolve(fs, ino))) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	fi->cache_readdir = 1;
	fi->keep_cache = 1;
	fuse_reply_open(req, fi);
}

/* The k-th entry of directory d after "." and ".." (k from 0): its name,
 * inode and whether it is a directory. 0 when there is none. */
static int nth_child(ll_fs *fs, item d, size_t k, const char **name, fuse_ino_t *ino, int *dir)
{
	if (d.type == IT_EXPORT) {
		const ex_node *n = ex_node_at(d.vol->e, d.node);
		if (k >= n->n_children)
			return 0;
		uint32_t c = n->first_child + (uint32_t)k;
		*name = ex_node_at(d.vol->e, c)->name;
		*ino = export_ino(fs, d.vol, c);
		*dir = ex_node_at(d.vol->e, c)->kind == EX_DIR;
		return 1;
	}
	if (d.type != IT_COLLECTION)
		return 0;
	for (uint32_t i = 1; i < co_node_count(fs->co); i++) {
		const co_node *n = co_node_at(fs->co, i);
		if (n->parent != d.node || k--)
			continue;
		*name = n->name;
		*ino = collection_ino(fs, i);
		*dir = n->kind != CO_DOCUMENT;
		return 1;
	}
	return 0;
}

static fuse_ino_t parent_ino(ll_fs *fs, fuse_ino_t ino, item d)
{
	if (d.type == IT_EXPORT && d.node == 0)
		return FUSE_ROOT_ID; /* a dataset's directory sits in the collection's root */
	if (d.type == IT_EXPORT)
		return export_ino(fs, d.vol, ex_node_at(d.vol->e, d.node)->parent);
	if (d.type == IT_COLLECTION)
		return (fuse_ino_t)co_node_at(fs->co, d.node)->parent + 1;
	return ino == STATUS_DIR_INO ? FUSE_ROOT_ID : ino;
}

/* What a listing with entries (readdirplus) says of a child, generating
 * nothing: its attributes when its size is known. Otherwise attributes that
 * are stale at once, so that a stat asks (and gets the exact size) - and the
 * inode now exists in the kernel, so that the file's contents can be put in
 * its page cache once generated (ll_file_ready), and a cp -r reads them
 * without asking. */
static void listed_entry(ll_fs *fs, fuse_ino_t ino, struct fuse_entry_param *ep)
{
	item it = resolve(fs, ino);
	entry_for(ep, ino);
	if (it.type == IT_EXPORT && !is_dir(fs, it) && !fc_known(it.vol->cache, it.node)) {
		stat_common(fs, ino, &ep->attr, 0, 0);
		ep->attr_timeout = 0;
		atomic_store(&it.vol->listed[it.node], 1);
	} else if (stat_item(fs, ino, it, &ep->attr)) {
		ep->ino = 0; /* a name alone; a lookup will tell */
	}
}

/* Entries: 0 ".", 1 "..", then the children; off is the next entry's index. */
static void list_dir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, int plus)
{
	ll_fs *fs = fs_of(req);
	item d = resolve(fs, ino);
	char *buf = malloc(size);
	size_t used = 0;
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	for (off_t k = off;; k++) {
		struct stat st = {0};
		const char *name;
		int dir = 1;
		if (k < 2) {
			name = k == 0 ? "." : "..";
			st.st_ino = k == 0 ? ino : parent_ino(fs, ino, d);
		} else {
			fuse_ino_t child;
			if (!nth_child(fs, d, (size_t)(k - 2), &name, &child, &dir))
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
	free(of->owned);
}

static void close_file(open_file *of)
{
	release_contents(of);
	free(of);
}

/* Fill of for item it: 0, or an errno. */
static int open_item(ll_fs *fs, item it, open_file *of, struct fuse_file_info *fi)
{
	if (it.type == IT_STATUS_FILE) {
		/* A new document per open, read through to EOF whatever stat said. */
		if (!(of->owned = status_snapshot(fs)))
			return ENOMEM;
		of->text = of->owned;
		of->text_len = strlen(of->owned);
		fi->direct_io = 1;
		return 0;
	}
	if (it.type == IT_COLLECTION) {
		of->text = co_node_at(fs->co, it.node)->text;
		of->text_len = strlen(of->text);
		fi->keep_cache = 1;
		return 0;
	}
	char err[512];
	of->vol = it.vol;
	if (fc_open(it.vol->cache, it.node, &of->cached, err, sizeof err) != EX_OK) {
		log_error("%s", err);
		atomic_fetch_add(&fs->errors, 1);
		return EIO;
	}
	fi->keep_cache = 1;
	return 0;
}

static void ll_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	ll_fs *fs = fs_of(req);
	item it = resolve(fs, ino);
	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if (it.type == IT_NONE || is_dir(fs, it)) {
		fuse_reply_err(req, it.type == IT_NONE ? ENOENT : EISDIR);
		return;
	}
	if (fs->zero_open) {
		fuse_reply_err(req, ENOSYS);
		return;
	}
	open_file *of = calloc(1, sizeof *of);
	int err = of ? open_item(fs, it, of, fi) : ENOMEM;
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
	item it = resolve(fs, ino);
	open_file of = {0};
	struct fuse_file_info scratch = {0};
	int err = it.type == IT_NONE || is_dir(fs, it) ? EISDIR : open_item(fs, it, &of, &scratch);
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
		fuse_lowlevel_notify_store(v->fs->se, export_ino(v->fs, v, node), 0, &buf, 0);
	fc_close(v->cache, f);
}

static void ll_statfs(fuse_req_t req, fuse_ino_t ino)
{
	(void)ino;
	ll_fs *fs = fs_of(req);
	struct statvfs sv = {0};
	sv.f_bsize = sv.f_frsize = 4096;
	for (size_t k = 0; k < fs->n_vols; k++)
		sv.f_files += ex_node_count(fs->vols[k].e);
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
