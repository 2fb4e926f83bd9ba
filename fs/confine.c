/*
 * confine.c - see confine.h.
 */
#include "confine.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <seccomp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"

#define FUSE_SUPER_MAGIC 0x65735546

/* ------------------------------------------------------------ Landlock */

/* Landlock's ABI (linux/landlock.h), spelled out here: Debian 12's kernel
 * headers stop at ABI 2, and a newer kernel enforces the later rights (file
 * truncation, device ioctls, TCP, signals) only for a caller that asks. */
#define LL_VERSION          (1U << 0)   /* landlock_create_ruleset flag */
#define LL_PATH_BENEATH     1           /* rule type */
#define LL_EXECUTE          (1ULL << 0)
#define LL_WRITE_FILE       (1ULL << 1)
#define LL_READ_FILE        (1ULL << 2)
#define LL_READ_DIR         (1ULL << 3)
#define LL_REMOVE_DIR       (1ULL << 4)
#define LL_REMOVE_FILE      (1ULL << 5)
#define LL_MAKE_DIR         (1ULL << 7)
#define LL_MAKE_REG         (1ULL << 8)
#define LL_REFER            (1ULL << 13) /* ABI 2 */
#define LL_TRUNCATE         (1ULL << 14) /* ABI 3 */
#define LL_IOCTL_DEV        (1ULL << 15) /* ABI 5 */
#define LL_NET_TCP          3ULL         /* ABI 4: bind and connect */
#define LL_SCOPES           3ULL         /* ABI 6: abstract unix sockets, signals */
/* The rights that make sense on a file rather than a directory. */
#define LL_FILE_RIGHTS      (LL_EXECUTE | LL_WRITE_FILE | LL_READ_FILE | LL_TRUNCATE | LL_IOCTL_DEV)

#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#define SYS_landlock_add_rule 445
#define SYS_landlock_restrict_self 446
#endif

struct ll_ruleset { uint64_t fs, net, scoped; };
struct ll_beneath { uint64_t allowed; int32_t parent_fd; } __attribute__((packed));

/* What each ABI version handles: the first 13 file-system rights, then
 * one more right or class per version. */
static void handled_by(int abi, struct ll_ruleset *r, size_t *size)
{
	r->fs = (1ULL << 13) - 1;
	if (abi >= 2)
		r->fs |= LL_REFER;
	if (abi >= 3)
		r->fs |= LL_TRUNCATE;
	if (abi >= 5)
		r->fs |= LL_IOCTL_DEV;
	r->net = abi >= 4 ? LL_NET_TCP : 0;
	r->scoped = abi >= 6 ? LL_SCOPES : 0;
	*size = abi >= 6 ? 24 : abi >= 4 ? 16 : 8;
}

/* Allow rights beneath path (or on it, for a file). Paths that do not exist
 * are nobody's business: 1 then, 0 when added, -1 with errno on failure. */
static int allow(int ruleset, uint64_t handled, const char *path, uint64_t rights)
{
	int fd = open(path, O_PATH | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 1 : -1;
	struct stat st;
	int r = fstat(fd, &st);
	if (!r) {
		struct ll_beneath b = {rights & handled, fd};
		if (!S_ISDIR(st.st_mode))
			b.allowed &= LL_FILE_RIGHTS;
		r = (int)syscall(SYS_landlock_add_rule, ruleset, LL_PATH_BENEATH, &b, 0);
	}
	int e = errno;
	close(fd);
	errno = e;
	return r ? -1 : 0;
}

/* What glibc and libfuse open after mounting: /dev/fuse for clone_fd,
 * the CPU count (sysconf), malloc's overcommit setting. The sanitizer
 * build's leak check reads its own /proc entries at exit. */
static const struct { const char *path; uint64_t rights; } runtime[] = {
	{"/dev/fuse", LL_READ_FILE | LL_WRITE_FILE | LL_IOCTL_DEV},
	{"/sys/devices/system/cpu", LL_READ_FILE | LL_READ_DIR},
	{"/proc/sys/vm/overcommit_memory", LL_READ_FILE},
#ifdef __SANITIZE_ADDRESS__
	{"/proc/self", LL_READ_FILE | LL_READ_DIR},
#endif
};

static int landlock(const cf_paths *p, char *err, size_t errlen)
{
	int abi = (int)syscall(SYS_landlock_create_ruleset, NULL, 0, LL_VERSION);
	if (abi < 0) {
		log_warn("Landlock is not available (%s): the daemon can still open any "
			 "file; seccomp and no_new_privs are applied", strerror(errno));
		return 0;
	}
	struct ll_ruleset attr;
	size_t size;
	handled_by(abi, &attr, &size);
	int rs = (int)syscall(SYS_landlock_create_ruleset, &attr, size, 0);
	if (rs < 0) {
		snprintf(err, errlen, "cannot create a Landlock ruleset: %s", strerror(errno));
		return -1;
	}
	const uint64_t rw = LL_READ_FILE | LL_READ_DIR | LL_WRITE_FILE | LL_REMOVE_FILE |
			    LL_REMOVE_DIR | LL_MAKE_REG | LL_MAKE_DIR | LL_REFER | LL_TRUNCATE;
	const char *failed = NULL;
	for (size_t i = 0; !failed && i < p->n_read; i++)
		if (allow(rs, attr.fs, p->read[i], LL_READ_FILE | LL_READ_DIR))
			failed = p->read[i];
	for (size_t i = 0; !failed && i < p->n_write; i++)
		if (allow(rs, attr.fs, p->write[i], rw))
			failed = p->write[i];
	for (size_t i = 0; !failed && i < sizeof runtime / sizeof *runtime; i++)
		if (allow(rs, attr.fs, runtime[i].path, runtime[i].rights) < 0)
			failed = runtime[i].path;
	int r = 0;
	if (failed) {
		snprintf(err, errlen, "cannot confine the daemon to %s: %s", failed, strerror(errno));
		r = -1;
	} else if (syscall(SYS_landlock_restrict_self, rs, 0)) {
		snprintf(err, errlen, "cannot enter the Landlock domain: %s", strerror(errno));
		r = -1;
	}
	close(rs);
	return r;
}

/* ------------------------------------------------------------- seccomp */

/* What a file server never needs once mounted. Names unknown on this
 * architecture are skipped. */
static const char *const forbidden[] = {
	"execve", "execveat",
#ifndef __SANITIZE_ADDRESS__
	"ptrace",             /* LeakSanitizer stops the threads with it at exit */
#endif
	"process_vm_readv", "process_vm_writev", "pidfd_getfd", "kcmp",
	"socket", "socketpair",
	"mount", "move_mount", "open_tree", "fsopen", "fsconfig", "fsmount", "fspick",
	"mount_setattr", "pivot_root", "chroot", "unshare", "setns",
	"open_by_handle_at", "name_to_handle_at", "mknod", "mknodat",
	"kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
	"bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter",
	"io_uring_register", "keyctl", "add_key", "request_key", "reboot", "swapon",
	"swapoff", "acct", "quotactl", "iopl", "ioperm", "syslog", "uselib", "vhangup",
	"settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "sethostname",
	"setdomainname", "fanotify_init",
};

static int seccomp(char *err, size_t errlen)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	if (!ctx) {
		snprintf(err, errlen, "cannot create a seccomp filter");
		return -1;
	}
	/* Every thread, should one exist; other architectures' system calls
	 * (i386 from x86-64) kill, libseccomp's default. */
	int r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
	for (size_t i = 0; !r && i < sizeof forbidden / sizeof *forbidden; i++) {
		int nr = seccomp_syscall_resolve_name(forbidden[i]);
		if (nr != __NR_SCMP_ERROR)
			r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0);
	}
	/* libfuse unmounts at exit when the mount is still there; the guard
	 * has done it by then, so the call is answered "done" without being
	 * made. */
	if (!r)
		r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(0), SCMP_SYS(umount2), 0);
	if (!r)
		r = seccomp_load(ctx);
	seccomp_release(ctx);
	if (r) {
		snprintf(err, errlen, "cannot load the seccomp filter: %s", strerror(-r));
		return -1;
	}
	return 0;
}

int cf_confine(const cf_paths *p, char *err, size_t errlen)
{
	/* glibc loads libgcc_s when a thread is cancelled (libfuse cancels its
	 * workers at exit); loaded now, it is found without opening a file. */
	dlopen("libgcc_s.so.1", RTLD_NOW | RTLD_NODELETE);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) {
		snprintf(err, errlen, "cannot set no_new_privs: %s", strerror(errno));
		return -1;
	}
	return landlock(p, err, errlen) || seccomp(err, errlen) ? -1 : 0;
}

/* --------------------------------------------------------------- guard */

/* Unmount as libfuse would: lazily, by umount2 as root, else through the
 * set-uid fusermount3. */
static void unmount(const char *mnt)
{
	if (!geteuid()) {
		umount2(mnt, MNT_DETACH);
		return;
	}
	execlp("fusermount3", "fusermount3", "-u", "-q", "-z", "--", mnt, (char *)NULL);
}

/* Whether mnt is a FUSE mount whose server has gone. Attributes may be
 * served from the kernel's cache, a statfs never is; the connection ends
 * as the dead server's descriptors are released, which may come just after
 * its pipe closed: a FUSE mount still answering is asked again for 2 s. A
 * statfs under way when the connection ends fails with ECONNABORTED, one
 * made after it with ENOTCONN. */
static int dead_mount(const char *mnt)
{
	for (int i = 0; i < 200; i++) {
		struct statfs st;
		if (statfs(mnt, &st))
			return errno == ENOTCONN || errno == ECONNABORTED;
		if (st.f_type != FUSE_SUPER_MAGIC)
			return 0;
		usleep(10000);
	}
	return 0;
}

/* The guard: no descriptor but its pipe, deaf to the signals that end the
 * server. 'u': unmount; 'q': quit; end of file: the server died, so unmount
 * if its dead mount is there (not if it was unmounted before). */
static void guard(int fd, const char *mnt)
{
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	if (fd > 3)
		close_range(3, (unsigned)fd - 1, 0);
	close_range((unsigned)fd + 1, ~0U, 0);
	char c = 0;
	ssize_t n;
	while ((n = read(fd, &c, 1)) < 0 && errno == EINTR)
		;
	if (n == 1 ? c == 'u' : dead_mount(mnt))
		unmount(mnt);
	_exit(0);
}

int cf_guard_start(cf_guard *g, const char *mnt)
{
	int pipefd[2];
	g->fd = -1;
	if (pipe2(pipefd, O_CLOEXEC))
		return -1;
	g->pid = fork();
	if (g->pid < 0) {
		close(pipefd[0]);
		close(pipefd[1]);
		return -1;
	}
	if (!g->pid)
		guard(pipefd[0], mnt);
	close(pipefd[0]);
	g->fd = pipefd[1];
	return 0;
}

void cf_guard_stop(cf_guard *g, int unmount)
{
	if (g->fd < 0)
		return;
	if (write(g->fd, unmount ? "u" : "q", 1) != 1)
		log_warn("the unmount guard has gone: %s", strerror(errno));
	close(g->fd);
	g->fd = -1;
	while (waitpid(g->pid, NULL, 0) < 0 && errno == EINTR)
		;
}
