/*
 * test_confine.c - unit tests of fs/confine: a process confined to a source
 * directory (read) and a cache directory (read-write) can do exactly that.
 * Outside them nothing opens, not even through HDF5 (the call an external
 * link or external storage makes), and exec, socket creation, ptrace and
 * mount fail. The guard unmounts when asked and when its server dies.
 *
 * Each confinement runs in a forked child, which reports its checks on
 * stdout and exits 1 when one failed.
 */
#include "check.h"
#include "confine.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char top[] = "/tmp/cellucidfs-confine-XXXXXX";
static char src[64], cache[64], secret_dir[64], secret_h5[96], secret_txt[96], in_src[96];

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text) || close(fd)) {
		perror(path);
		exit(1);
	}
}

/* An HDF5 file with one dataset, which an external link could name. */
static void write_h5(const char *path)
{
	hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
	hsize_t n = 4;
	hid_t space = H5Screate_simple(1, &n, NULL);
	hid_t d = H5Dcreate2(f, "secret", H5T_NATIVE_INT, space, H5P_DEFAULT, H5P_DEFAULT,
			     H5P_DEFAULT);
	int v[4] = {42, 42, 42, 42};
	H5Dwrite(d, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
	H5Dclose(d);
	H5Sclose(space);
	H5Fclose(f);
	chmod(path, 0600);
}

static void setup(void)
{
	if (!mkdtemp(top)) {
		perror("mkdtemp");
		exit(1);
	}
	snprintf(src, sizeof src, "%s/src", top);
	snprintf(cache, sizeof cache, "%s/cache", top);
	snprintf(secret_dir, sizeof secret_dir, "%s/secret", top);
	snprintf(secret_h5, sizeof secret_h5, "%s/secret.h5", secret_dir);
	snprintf(secret_txt, sizeof secret_txt, "%s/shadow", secret_dir);
	snprintf(in_src, sizeof in_src, "%s/data.h5", src);
	mkdir(src, 0755);
	mkdir(cache, 0700);
	mkdir(secret_dir, 0700);
	write_h5(secret_h5);
	write_h5(in_src);
	write_file(secret_txt, "root:$y$secret\n", 0600);
}

static int opens(const char *path, int flags)
{
	int fd = open(path, flags | O_CLOEXEC, 0600);
	if (fd >= 0)
		close(fd);
	return fd >= 0;
}

static int h5_opens(const char *path)
{
	hid_t f;
	H5E_BEGIN_TRY { f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT); } H5E_END_TRY;
	if (f >= 0)
		H5Fclose(f);
	return f >= 0;
}

/* Run fn confined to src (read) and cache (read-write) in a child. */
static void confined(void (*fn)(void))
{
	fflush(stdout);
	pid_t pid = fork();
	if (!pid) {
		const char *r[] = {src}, *w[] = {cache};
		cf_paths p = {r, 1, w, 1};
		char err[256];
		int ok = !cf_confine(&p, err, sizeof err);
		CHECK(ok, "cf_confine succeeds%s%s", ok ? "" : ": ", ok ? "" : err);
		if (ok)
			fn();
		fflush(stdout);
		_exit(CHECK_DONE());
	}
	int st;
	waitpid(pid, &st, 0);
	CHECK(WIFEXITED(st) && !WEXITSTATUS(st), "the confined child exits 0 (status %#x)", st);
}

static void files(void)
{
	char path[128];
	CHECK(opens(in_src, O_RDONLY), "reads a file of the source");
	CHECK(h5_opens(in_src), "H5Fopen of a file in the source works");
	CHECK(!opens(in_src, O_WRONLY) && errno == EACCES, "cannot write into the source");
	snprintf(path, sizeof path, "%s/new", src);
	CHECK(!opens(path, O_WRONLY | O_CREAT), "cannot create a file in the source");
	snprintf(path, sizeof path, "%s/pack", cache);
	CHECK(opens(path, O_RDWR | O_CREAT), "creates and writes a file in the cache directory");
	snprintf(path, sizeof path, "%s/genes.idx", cache);
	char tmp[128];
	snprintf(tmp, sizeof tmp, "%s/pack", cache);
	CHECK(!rename(tmp, path) && !unlink(path), "renames and unlinks in the cache directory");
	CHECK(opens(cache, O_RDWR | O_TMPFILE), "an O_TMPFILE in the cache directory");
	CHECK(!opens(secret_txt, O_RDONLY) && errno == EACCES,
	      "open of a 0600 file outside fails with EACCES");
	CHECK(!h5_opens(secret_h5), "H5Fopen of an HDF5 file outside fails (an external link's call)");
	CHECK(!opens("/etc/shadow", O_RDONLY) && !opens("/etc/passwd", O_RDONLY),
	      "/etc/shadow and /etc/passwd do not open");
	CHECK(!opens("/proc/1/environ", O_RDONLY), "another process's /proc entry does not open");
	snprintf(path, sizeof path, "%s/planted", secret_dir);
	CHECK(!opens(path, O_WRONLY | O_CREAT), "cannot create a file outside");
	CHECK(opens("/dev/fuse", O_RDWR) || access("/dev/fuse", F_OK), "/dev/fuse still opens");
}

static void calls(void)
{
	char *argv[] = {"/bin/true", NULL};
	CHECK(execv("/bin/true", argv) && errno == EPERM, "execve fails with EPERM");
	CHECK(socket(AF_UNIX, SOCK_STREAM, 0) < 0 && errno == EPERM, "socket fails with EPERM");
	CHECK(socket(AF_INET, SOCK_STREAM, 0) < 0, "no TCP socket either");
	int sv[2];
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) && errno == EPERM, "socketpair fails with EPERM");
	CHECK(mount("none", cache, "tmpfs", 0, NULL) && errno == EPERM, "mount fails with EPERM");
#ifndef __SANITIZE_ADDRESS__
	CHECK(ptrace(PTRACE_ATTACH, getppid(), 0, 0) && errno == EPERM, "ptrace fails with EPERM");
#endif
	FILE *f = fopen("/proc/self/status", "r");
	char line[128];
	int nnp = 0, filter = 0;
	while (f && fgets(line, sizeof line, f)) {
		nnp |= !strcmp(line, "NoNewPrivs:\t1\n");
		filter |= !strcmp(line, "Seccomp:\t2\n");
	}
	if (f)
		fclose(f);
#ifdef __SANITIZE_ADDRESS__
	CHECK(nnp && filter, "/proc/self/status says NoNewPrivs 1, Seccomp 2");
#else
	CHECK(!f, "its own /proc entries do not open either (only the sanitizer build's do)");
#endif
}

/* The guard unmounts a tmpfs mounted at mnt when told to, and when the
 * "server" (a child holding the guard) dies without a word. */
static void guard(void)
{
	if (geteuid()) {
		SKIP("the guard's unmount: needs root to mount a tmpfs");
		return;
	}
	char mnt[96];
	snprintf(mnt, sizeof mnt, "%s/mnt", top);
	mkdir(mnt, 0755);
	struct stat below, st;
	stat(mnt, &below);
	cf_guard g;
	int ok = !mount("none", mnt, "tmpfs", 0, NULL) && !cf_guard_start(&g, mnt);
	CHECK(ok, "a tmpfs is mounted and its guard started");
	if (!ok)
		return;
	cf_guard_stop(&g, 0);
	CHECK(!stat(mnt, &st) && st.st_dev != below.st_dev, "told to quit, the guard leaves the mount");
	cf_guard_start(&g, mnt);
	cf_guard_stop(&g, 1);
	CHECK(!stat(mnt, &st) && st.st_dev == below.st_dev, "told to unmount, the guard unmounts");
}

int main(void)
{
	setup();
	CHECK(opens(secret_txt, O_RDONLY) && h5_opens(secret_h5),
	      "unconfined, the secret files open (the checks below can fail)");
	confined(files);
	confined(calls);
	guard();
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", top);
	if (system(cmd))
		return 1;
	return CHECK_DONE();
}
