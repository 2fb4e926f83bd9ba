/*
 * cmd_export.h - "cellucidfs export": write the whole tree to a directory
 * without FUSE (for containers without /dev/fuse), with every core.
 */
#ifndef CMD_EXPORT_H
#define CMD_EXPORT_H

#include "export.h"

/* Returns the process exit status: 0, or 1 with the reasons on stderr. */
int cmd_export(const char *source, const char *outdir, const ex_options *opt);

#endif
