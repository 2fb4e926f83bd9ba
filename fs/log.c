/*
 * log.c - see log.h. Messages are formatted whole before they are written so
 * that lines from concurrent threads never interleave.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <syslog.h>

static int use_syslog;
static void (*warning_sink)(void *ctx, const char *line);
static void *warning_ctx;

void log_to_syslog(int on)
{
	use_syslog = on;
	/* Connected now: once confined, the daemon may not create sockets. */
	if (on)
		openlog("cellucidfs", LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

const char *log_escape(const char *s, char *buf, size_t len)
{
	size_t n = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p && n + 1 < len; p++) {
		int c1 = p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f;
		if (*p >= 0x20 && *p != 0x7f && !c1) {
			buf[n++] = (char)*p;
			continue;
		}
		if (n + (c1 ? 8 : 4) >= len)
			break;
		n += (size_t)sprintf(buf + n, "\\x%02x", *p);
		if (c1)
			n += (size_t)sprintf(buf + n, "\\x%02x", *++p);
	}
	if (len)
		buf[n] = 0;
	return buf;
}

static void emit(int priority, const char *fmt, va_list ap)
{
	char raw[1024], line[4 * sizeof raw];
	vsnprintf(raw, sizeof raw, fmt, ap);
	log_escape(raw, line, sizeof line);
	if (priority == LOG_WARNING && warning_sink)
		warning_sink(warning_ctx, line);
	else if (use_syslog)
		syslog(priority, "%s", line);
	else
		fprintf(stderr, "cellucidfs: %s\n", line);
}

void log_divert_warnings(void (*fn)(void *ctx, const char *line), void *ctx)
{
	warning_ctx = ctx;
	warning_sink = fn;
}

#define DEFINE_LOG(name, priority)                  \
	void name(const char *fmt, ...)             \
	{                                           \
		va_list ap;                         \
		va_start(ap, fmt);                  \
		emit(priority, fmt, ap);            \
		va_end(ap);                         \
	}

DEFINE_LOG(log_error, LOG_ERR)
DEFINE_LOG(log_warn, LOG_WARNING)
DEFINE_LOG(log_info, LOG_INFO)
