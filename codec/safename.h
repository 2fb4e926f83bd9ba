/*
 * safename.h - file-name-safe keys (export-format.md §3, names layout).
 *
 * Every maximal run of characters outside [A-Za-z0-9._-] becomes one '_',
 * then leading and trailing '.' and '_' are stripped; "" becomes "field".
 * Bytes >= 0x80 count as outside the set (one run per run of such bytes).
 */
#ifndef SAFENAME_H
#define SAFENAME_H

#include <stddef.h>

char *safename(const char *key); /* malloc'd; NULL on allocation failure */

/* A set of safe names already used in one directory, to detect collisions. */
typedef struct safename_set safename_set;
safename_set *safename_set_new(void);
void safename_set_free(safename_set *s);
/* 1 if name was added, 0 if it was already present, -1 on allocation failure. */
int safename_set_add(safename_set *s, const char *name);

#endif
