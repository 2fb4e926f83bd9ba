/*
 * cmd_check.h - "cellucidfs check": what a mount of a .h5ad would expose, and
 * how large its export is, without mounting anything.
 */
#ifndef CMD_CHECK_H
#define CMD_CHECK_H

#include "export.h"

/* Report on stdout. Returns the process exit status: 0; or 1 when the file
 * cannot be mounted (one line on stderr, as the mount says it) or some file
 * of the export cannot be generated (listed in the report). */
int cmd_check(const char *source, const ex_options *opt);

#endif
