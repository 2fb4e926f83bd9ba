/*
 * check.h - the assertion macros of the C unit tests.
 *
 * Each check prints one line, "ok <what>" or "FAIL <what> (file:line)", which
 * tests/run.sh counts; a test program exits 1 when any check failed. SKIP
 * prints "skip <what>: <why>" for a check that cannot run here (e.g. no
 * ../shared/fixtures).
 */
#ifndef CHECK_H
#define CHECK_H

#include <stdio.h>

static int check_failures;

#define CHECK(cond, ...)                                                     \
	do {                                                                 \
		int check_ok_ = !!(cond);                                    \
		if (check_ok_) {                                             \
			printf("ok ");                                       \
		} else {                                                     \
			printf("FAIL ");                                     \
			check_failures++;                                    \
		}                                                            \
		printf(__VA_ARGS__);                                         \
		if (!check_ok_)                                              \
			printf(" (%s:%d: %s)", __FILE__, __LINE__, #cond);   \
		printf("\n");                                                \
	} while (0)

#define SKIP(...)                                                            \
	do {                                                                 \
		printf("skip ");                                             \
		printf(__VA_ARGS__);                                         \
		printf("\n");                                                \
	} while (0)

#define CHECK_DONE() (check_failures ? 1 : 0)

#endif
