/*
 * log.h - one-line diagnostics: "cellucidfs: <message>" on stderr while in the
 * foreground, syslog once the daemon has detached (stderr is /dev/null then).
 */
#ifndef LOG_H
#define LOG_H

#include <stddef.h>

void log_to_syslog(int on);

/* s with its control characters (C0, DEL and UTF-8's C1, the terminal
 * escapes) written as \xNN, in buf (len bytes, always terminated): a
 * name from a file never drives the terminal or splits a log line. Every
 * log line goes through it; "check" prints names with it. Returns buf. */
const char *log_escape(const char *s, char *buf, size_t len);
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Hand warnings to fn instead of writing them (fn NULL: write them again), so
 * that a command can list them in its own report. Set it while no other
 * thread logs; fn is then called from whichever thread warns. */
void log_divert_warnings(void (*fn)(void *ctx, const char *line), void *ctx);

#endif
