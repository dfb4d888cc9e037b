/* ops.h -- the FUSE low-level operations of pmfuse */
#ifndef PMFUSE_OPS_H
#define PMFUSE_OPS_H

#include <stdbool.h>

#define FUSE_USE_VERSION 317
#include <fuse_lowlevel.h>

struct pm_fs;

struct pm_mount {
	struct pm_fs *fs;
	double timeout;  /* entry and attribute cache timeout, seconds */
	bool writeback;  /* kernel writeback cache */
	unsigned max_readahead; /* bytes; 0: the kernel's offer */
	unsigned max_read;      /* bytes, -o max_read=; 0: not given */
	bool excl_direct; /* O_EXCL creations get direct I/O (see ops.c) */
	/* writes begun and finished: how a stop knows the kernel's queue of
	 * writeback requests has drained (stop.c) */
	unsigned long writes_begun, writes_done;
};

extern const struct fuse_lowlevel_ops pm_ops;

#endif
