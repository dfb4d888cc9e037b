/* bdi.h -- the kernel's per-mount writeback and read-ahead limits (bdi.c) */
#ifndef PMFUSE_BDI_H
#define PMFUSE_BDI_H

/* the read-ahead set: one full FUSE request (max_pages 256) */
#define PM_BDI_READ_AHEAD_KB 1024

/* pm_bdi_tune -- give the FUSE mount on mountpoint (an absolute path, as in
 * /proc/self/mountinfo) the dirty-page share and read-ahead of a local
 * filesystem; 0, or a negative errno (-EACCES when not root) */
int pm_bdi_tune(const char *mountpoint);

#endif
