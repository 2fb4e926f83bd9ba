/*
 * confine.h - the daemon's second wall: once mounted, the serving process
 * confines itself so that a parser tricked by a hostile .h5ad (an HDF5
 * external link, external storage) reaches nothing it was not given.
 *
 *   const char *src[] = {"/data/pbmc.h5ad"}, *cache[] = {"/var/cache/cellucidfs/0123"};
 *   cf_paths p = {src, 1, cache, 1};
 *   cf_guard g;
 *   cf_guard_start(&g, "/mnt/cell");    // before confining
 *   cf_confine(&p, err, sizeof err);
 *   ... serve ...
 *   cf_guard_stop(&g, still_mounted);   // then fuse_session_unmount
 *
 * Landlock: read-only access to the sources (a file, or a directory tree),
 * read-write to the cache directories, and of the rest of the file system
 * only what glibc and libfuse still open (/dev/fuse, the CPU count). No new
 * privileges. A seccomp filter: exec, ptrace, other processes' memory, socket
 * creation, mount, module loading, kexec, bpf, io_uring, namespaces and
 * handle-based opens fail with EPERM. Without Landlock in the kernel the rest
 * still applies, after one warning.
 *
 * The confined process can neither unmount nor run fusermount3, so a guard
 * forked before confining does it: when asked at exit, or when the server
 * died (a crash leaves no dead mount behind).
 */
#ifndef CONFINE_H
#define CONFINE_H

#include <stddef.h>
#include <sys/types.h>

typedef struct {
	const char **read;    /* files or directory trees, read-only */
	size_t n_read;
	const char **write;   /* directory trees, read and write */
	size_t n_write;
} cf_paths;

/* Confine the calling process; call it before any thread starts (Landlock
 * binds the calling thread and its future children). 0 when confined (also
 * when only Landlock was missing, with a warning logged); -1 with a one-line
 * reason in err. */
int cf_confine(const cf_paths *p, char *err, size_t errlen);

typedef struct {
	pid_t pid;
	int fd;               /* the guard's pipe; -1: no guard */
} cf_guard;

/* Fork the guard of mountpoint mnt (an absolute path, mounted). -1 when it
 * cannot be started (g->fd is then -1). */
int cf_guard_start(cf_guard *g, const char *mnt);

/* Have the guard unmount (unmount set: the mount is still there) or just
 * quit, and wait for it. */
void cf_guard_stop(cf_guard *g, int unmount);

#endif
