/*
 * io.h - whole reads and writes at an offset: pread/pwrite may move fewer
 * bytes than asked (signals, large requests), and every caller here wants
 * all of them or an error.
 */
#ifndef IO_H
#define IO_H

#include <stddef.h>
#include <sys/types.h>

/* 0, or an errno (EIO for an unexpected end of file). */
int io_pread_all(int fd, void *buf, size_t len, off_t at);
int io_pwrite_all(int fd, const void *buf, size_t len, off_t at);

#endif
