/*
 * io.c - see io.h.
 */
#include "io.h"

#include <errno.h>
#include <unistd.h>

int io_pread_all(int fd, void *buf, size_t len, off_t at)
{
	char *p = buf;
	while (len) {
		ssize_t r = pread(fd, p, len, at);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? errno : EIO;
		p += r, len -= (size_t)r, at += r;
	}
	return 0;
}

int io_pwrite_all(int fd, const void *buf, size_t len, off_t at)
{
	const char *p = buf;
	while (len) {
		ssize_t w = pwrite(fd, p, len, at);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? errno : EIO;
		p += w, len -= (size_t)w, at += w;
	}
	return 0;
}
