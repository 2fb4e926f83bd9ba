/*
 * main.c - cellucidfs: mount an AnnData .h5ad file as a Cellucid export.
 *
 * The mounted tree is the folder the Cellucid viewer loads (manifests, points,
 * obs fields, one file per gene), generated on first access and cached, so
 * any static web server can serve it. Sample session:
 *
 *   $ cellucidfs pbmc.h5ad /mnt/cell
 *   $ ls /mnt/cell
 *   _cellucid  connectivity  connectivity_manifest.json  dataset_identity.json
 *   obs  obs_manifest.json  points_2d.bin.gz  var  var_manifest.json
 *   $ cp -r /mnt/cell export/        # a complete export
 *   $ fusermount3 -u /mnt/cell
 *
 * The sequence follows libfuse's hello_ll: parse, open the data (so that a
 * bad file is reported on the terminal, before daemonising), create the
 * session, mount, daemonise, loop, unmount.
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <strings.h>
#include <time.h>

#include "ad.h"
#include "confine.h"
#include "ll.h"
#include "ll_version.h"
#include "log.h"
#include "prefetch.h"
#include "store.h"
#include "watch.h"
#include "cmd_check.h"
#include "cmd_export.h"

static const char usage[] =
"usage: cellucidfs SOURCE.h5ad MOUNTPOINT [-f] [-o OPTION[,OPTION...]]\n"
"       cellucidfs export SOURCE.h5ad OUTDIR [-o OPTION[,OPTION...]]\n"
"       cellucidfs check SOURCE.h5ad [-o OPTION[,OPTION...]]\n"
"\n"
"Mount an AnnData .h5ad file read-only as a Cellucid viewer export.\n"
"\n"
"cellucidfs options (-o):\n"
"    compression=N          gzip level 1-9 for binary files, 0 = plain files (default 6)\n"
"    var_quantization=B     genes as 8 or 16-bit codes, or none = float32 (default 8)\n"
"    obs_quantization=B     continuous obs fields and outlier quantiles, likewise (default 8)\n"
"    embedding=KEY          use obsm KEY (first min(3, columns) columns) as the only embedding\n"
"    latent=KEY             obsm KEY as the latent space for outlier quantiles\n"
"    expression=SOURCE      gene values from X (default), raw (raw/X, raw/var's genes) or\n"
"                           layer:NAME (layers/NAME)\n"
"    gene_id_column=COL     name the genes by var column COL (default: the var index)\n"
"    obs_keys=A:B:...       only these obs columns, in column order (default: all)\n"
"    dataset_id=ID          dataset id (default: safe name of the file's base name)\n"
"    dataset_name=NAME      dataset name (default: the file's base name)\n"
"    cache_dir=PATH         persistent cache (default $XDG_CACHE_HOME/cellucidfs or\n"
"                           ~/.cache/cellucidfs); none = memory only\n"
"    cache_size=SIZE        memory for generated files without a cache directory (default 512M)\n"
"    prefetch=LEVEL         warm the cache after mounting: none, obs (what the viewer loads\n"
"                           first, the default) or all (every gene too)\n"
"    host=HOST, port=PORT   what _cellucid/info announces (default 127.0.0.1, 8080)\n"
"    watch=yes|no           follow the source when it is rewritten or replaced (default yes)\n"
"    settle=SECONDS         how long a changed source must be quiet before it is taken\n"
"                           (default 1; also the polling interval)\n"
"    layout=index|names     index (default): what the current Cellucid viewer and the\n"
"                           newest prepare() read and write, files named by number;\n"
"                           names: the 0.9 exporter's layout, files named after fields\n"
"                           and genes, for viewer builds before the strict loader\n"
"    confine=yes|no         once mounted, the daemon can read only the source and write\n"
"                           only its cache (Landlock, seccomp; default yes)\n"
"    follow_symlinks=WHICH  directory sources: which symbolic links are members: no,\n"
"                           inside (to a file in the directory; the default) or all\n"
"\n"
"general options:\n"
"    -f                     stay in the foreground\n"
"    -h, --help             this help, then libfuse's options\n"
"    -V, --version          print the version\n"
"\n"
"Unmount with: fusermount3 -u MOUNTPOINT\n"
"\n"
"export writes the same tree to OUTDIR without FUSE, using every core.\n"
"check prints what a mount would expose and how large the export is, and mounts\n"
"nothing (cache_dir=none unless given).\n"
"\n"
"mount(8) and fstab take it as type fuse.cellucidfs, e.g.\n"
"    mount -t fuse.cellucidfs SOURCE.h5ad MOUNTPOINT -o allow_other\n";

typedef struct {
	char *source;
	ex_options opt;
	int bad;
} cli;

/* Options that mount(8) passes, or that fstab lines carry, which mean nothing
 * here and which libfuse would refuse as unknown; they are dropped. "rw":
 * mount(8) passes it whenever ro is not asked for, and this file system is
 * read-only whatever is asked. Access times, i_version, mandatory locks,
 * lazytime: nothing is ever written to a read-only mount. Symlink and log
 * flags: there are no symlinks, and nothing to be silent about. The rest is
 * for mount(8), mount.fuse3 and systemd, which strip it before the helper
 * runs; dropping it too lets an fstab option string work on the command line
 * (or in a unit file) as well. The options libfuse knows (ro, dev, nodev,
 * suid, nosuid, exec, noexec, atime, noatime, sync, async, dirsync, ...) reach
 * the kernel as usual. */
static int ignored_mount_option(const char *opt)
{
	static const char *const ignored[] = {
		"rw", "relatime", "norelatime", "strictatime", "nostrictatime", "diratime",
		"nodiratime", "lazytime", "nolazytime", "iversion", "noiversion", "mand",
		"nomand", "symfollow", "nosymfollow", "silent", "loud",
		"defaults", "auto", "noauto", "nofail", "_netdev", "user", "nouser", "users",
		"owner", "group",
	};
	for (size_t i = 0; i < sizeof ignored / sizeof *ignored; i++)
		if (!strcmp(opt, ignored[i]))
			return 1;
	/* x-systemd.automount, X-mount.mkdir, comment=x-gvfs-show: userspace notes. */
	return !strncasecmp(opt, "x-", 2) || !strncmp(opt, "comment=", 8);
}

static int take_arg(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	(void)outargs;
	cli *c = data;
	if (key == FUSE_OPT_KEY_NONOPT && !c->source) {
		c->source = strdup(arg);
		return 0;
	}
	if (key != FUSE_OPT_KEY_OPT)
		return 1;
	if (ignored_mount_option(arg))
		return 0;
	char err[256];
	int r = ex_options_set(&c->opt, arg, err, sizeof err);
	if (r < 0) {
		fprintf(stderr, "cellucidfs: %s\n", err);
		c->bad = 1;
		return -1;
	}
	return r ? 0 : 1; /* ours: consumed; otherwise libfuse's */
}

/* "-o fsname=SOURCE,subtype=cellucidfs,ro", last so that it wins. The real
 * path as fsname is what the mount table shows (findmnt, df) and what
 * mount -a and systemd compare with an fstab line's source to see that it is
 * already mounted. fuse_opt splits on commas: they and backslashes are
 * escaped. */
static int add_mount_identity(struct fuse_args *args, const char *source)
{
	char opt[2 * PATH_MAX + 64], *p = opt;
	p += sprintf(p, "-ofsname=");
	for (const char *s = source; *s; s++) {
		if (*s == ',' || *s == '\\')
			*p++ = '\\';
		*p++ = *s;
	}
	strcpy(p, ",subtype=cellucidfs,ro");
	return fuse_opt_add_arg(args, opt);
}

/* What the served datasets need once mounted: their sources, read-only, and
 * their cache directories; the temporary directory too when a dataset keeps
 * no cache directory (its gene index is a temporary file then). Followed
 * (watch=yes), a single file's directory is readable instead, as a rename
 * over the file brings another inode, and the cache directories' parent is
 * writable, as each new version makes its own store and the old one is
 * deleted. */
static int confine_server(ll_fs *fs, const char *source, int watch, char *err, size_t errlen)
{
	const char **write = calloc(fs->n_vols + 1, sizeof *write);
	const char **read = calloc(fs->n_vols + 1, sizeof *read);
	char (*dirs)[PATH_MAX] = calloc(fs->n_vols + 1, sizeof *dirs);
	if (!write || !read || !dirs) {
		free(write);
		free(read);
		free(dirs);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	/* A directory's members may be links to files outside it (follow_symlinks=all). */
	size_t n_read = 0;
	if (watch && !fs->co) {
		snprintf(dirs[fs->n_vols], PATH_MAX, "%s", source);
		read[n_read++] = dirname(dirs[fs->n_vols]);
	} else {
		read[n_read++] = source;
	}
	for (size_t k = 0; fs->co && k < fs->n_vols; k++)
		read[n_read++] = co_dataset_path(fs->co, k);
	size_t n_write = 0;
	int memory_only = 0;
	for (size_t k = 0; k < fs->n_vols; k++) {
		ll_volume *v = ll_version_current(&fs->slots[k]);
		const st_store *s = ex_store(v->e);
		if (s && watch) {
			snprintf(dirs[k], PATH_MAX, "%s", st_dir(s));
			write[n_write++] = dirname(dirs[k]);
		} else if (s) {
			write[n_write++] = st_dir(s);
		} else {
			memory_only = 1;
		}
		ll_version_put(v);
	}
	const char *tmp = getenv("TMPDIR");
	if (memory_only)
		write[n_write++] = tmp && *tmp ? tmp : "/tmp";
	cf_paths p = {read, n_read, write, n_write};
	int r = cf_confine(&p, err, errlen);
	free(read);
	free(write);
	free(dirs);
	return r;
}

/* Whether the kernel still has the mount: fusermount3 -u ends the
 * connection, and the descriptor reports an error from then on. */
static int still_mounted(struct fuse_session *se)
{
	struct pollfd pfd = {.fd = fuse_session_fd(se)};
	return !(poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLERR));
}

/* Mount, confine, serve until unmounted or signalled, unmount. Up to 16
 * threads serve requests so that one slow generation does not stall other
 * readers. */
static int run(struct fuse_args *args, struct fuse_cmdline_opts *o, ll_fs *fs,
	       const char *source, const ex_options *opt)
{
	int status = 1;
	struct fuse_session *se = fuse_session_new(args, &ll_ops, sizeof ll_ops, fs);
	if (!se)
		return 1;
	fs->se = se;
	if (fuse_set_signal_handlers(se))
		goto out_destroy;
	if (fuse_session_mount(se, o->mountpoint))
		goto out_signals;
	fuse_daemonize(o->foreground);
	log_to_syslog(!o->foreground);
	/* Confined before any thread starts, which then inherits it. */
	cf_guard guard = {.fd = -1};
	char err[512];
	if (opt->confine && (cf_guard_start(&guard, o->mountpoint) ||
			     confine_server(fs, source, opt->watch, err, sizeof err))) {
		log_error("%s", guard.fd < 0 ? "cannot start the unmount guard" : err);
		cf_guard_stop(&guard, 0);
		goto out_unmount;
	}
	/* Threads start after fuse_daemonize(): a fork keeps only its caller. */
	ll_slots_warm(fs);
	wt_hooks hooks = {ll_slot_path, ll_slot_identity, ll_switch, ll_reap};
	wt_watch *w = opt->watch ? wt_start(fs->n_vols, opt->settle, hooks, fs) : NULL;
	if (o->singlethread) {
		status = fuse_session_loop(se);
	} else {
		struct fuse_loop_config *cfg = fuse_loop_cfg_create();
		fuse_loop_cfg_set_max_threads(cfg, 16);
		fuse_loop_cfg_set_clone_fd(cfg, o->clone_fd);
		status = fuse_session_loop_mt(se, cfg);
		fuse_loop_cfg_destroy(cfg);
	}
	/* fusermount3 -u ends the loop with 0; SIGTERM, SIGINT and SIGHUP end it
	 * with the signal's number (libfuse's handler records it), errors with a
	 * negative errno. Only errors are failures. */
	if (status > 0)
		status = 0;
	wt_stop(w);
	ll_slots_cool(fs);
	cf_guard_stop(&guard, still_mounted(se));
out_unmount:
	fuse_session_unmount(se);
out_signals:
	fuse_remove_signal_handlers(se);
out_destroy:
	fuse_session_destroy(se);
	return status ? 1 : 0;
}

/* Every file a reader holds open is a descriptor on its cached file here, and
 * nginx alone keeps up to open_file_cache max files open per worker: raise
 * the limit as far as allowed (root: up to the kernel's nr_open). */
static void raise_fd_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl))
		return;
	FILE *f = fopen("/proc/sys/fs/nr_open", "r");
	unsigned long long nr_open = 0;
	if (f) {
		if (fscanf(f, "%llu", &nr_open) != 1)
			nr_open = 0;
		fclose(f);
	}
	struct rlimit want = {rl.rlim_max, rl.rlim_max};
	if (nr_open > rl.rlim_max) {
		want.rlim_cur = want.rlim_max = (rlim_t)nr_open;
		if (!setrlimit(RLIMIT_NOFILE, &want))
			return;
		want.rlim_cur = want.rlim_max = rl.rlim_max;
	}
	setrlimit(RLIMIT_NOFILE, &want);
}

/* The arguments of a FUSE-free command, "NAME POSITIONAL... [-o LIST]...":
 * exactly npos positional arguments into pos, every option applied to opt.
 * Returns -1 to go on, else the exit status: 0 after the help, 2 after one
 * line saying what is wrong. */
static int parse_command(int argc, char *argv[], const char **pos, size_t npos,
			 ex_options *opt)
{
	size_t n = 0;
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(usage, stdout);
			return 0;
		}
		if (!strcmp(argv[i], "-o") && i + 1 < argc) {
			char *list = strdup(argv[++i]), *save = NULL, err[256];
			if (!list) {
				fprintf(stderr, "cellucidfs: out of memory\n");
				return 2;
			}
			for (char *o = strtok_r(list, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
				int r = ex_options_set(opt, o, err, sizeof err);
				if (r <= 0) {
					if (r)
						fprintf(stderr, "cellucidfs: %s\n", err);
					else
						fprintf(stderr, "cellucidfs: unknown option '%s'\n", o);
					free(list);
					return 2;
				}
			}
			free(list);
		} else if (argv[i][0] != '-' && n < npos) {
			pos[n++] = argv[i];
		} else {
			fprintf(stderr, "cellucidfs: unexpected argument '%s'\n", argv[i]);
			return 2;
		}
	}
	if (n != npos) {
		fputs(usage, stderr);
		return 2;
	}
	char err[256];
	if (ex_options_check(opt, err, sizeof err)) {
		fprintf(stderr, "cellucidfs: %s\n", err);
		return 2;
	}
	return -1;
}

/* "export SOURCE OUTDIR" and "check SOURCE". check keeps nothing on disk
 * unless asked: its default cache_dir is none. */
static int run_command(int argc, char *argv[])
{
	int check = !strcmp(argv[1], "check");
	ex_options opt;
	ex_options_init(&opt);
	const char *pos[2];
	char err[64];
	int status = check && ex_options_set(&opt, "cache_dir=none", err, sizeof err) < 0
		? 1 : parse_command(argc, argv, pos, check ? 1 : 2, &opt);
	if (status < 0)
		status = check ? cmd_check(pos[0], &opt) : cmd_export(pos[0], pos[1], &opt);
	ex_options_free(&opt);
	return status;
}

int main(int argc, char *argv[])
{
	if (argc > 1 && (!strcmp(argv[1], "export") || !strcmp(argv[1], "check")))
		return run_command(argc, argv);

	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts o = {0};
	cli c = {0};
	ex_options_init(&c.opt);
	int status = 1;

	char err[512];
	if (fuse_opt_parse(&args, &c, NULL, take_arg) || c.bad)
		goto out;
	if (ex_options_check(&c.opt, err, sizeof err)) {
		fprintf(stderr, "cellucidfs: %s\n", err);
		goto out;
	}
	if (fuse_parse_cmdline(&args, &o))
		goto out;
	if (o.show_help) {
		fputs(usage, stdout);
		fuse_lowlevel_help();
		status = 0;
		goto out;
	}
	if (o.show_version) {
		printf("cellucidfs %s (libfuse %s)\n", CELLUCIDFS_VERSION, fuse_pkgversion());
		status = 0;
		goto out;
	}
	if (!c.source || !o.mountpoint) {
		fputs(usage, stderr);
		status = 2;
		goto out;
	}

	/* fuse_daemonize() changes to "/": resolve the source first. */
	char source[PATH_MAX];
	if (!realpath(c.source, source)) {
		fprintf(stderr, "cellucidfs: cannot open %s: %s\n", c.source, strerror(errno));
		goto out;
	}
	ll_fs fs = {.opt = &c.opt};
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	fs.started = (double)ts.tv_sec + ts.tv_nsec / 1e9;
	raise_fd_limit();
	if (ll_slots_open(&fs, source, err, sizeof err)) {
		fprintf(stderr, "cellucidfs: cannot open %s: %s\n", c.source, err);
	} else if (add_mount_identity(&args, source)) {
		fprintf(stderr, "cellucidfs: out of memory\n");
	} else {
		status = run(&args, &o, &fs, source, &c.opt);
	}
	ll_slots_close(&fs);
out:
	free(o.mountpoint);
	free(c.source);
	ex_options_free(&c.opt);
	fuse_opt_free_args(&args);
	return status;
}
