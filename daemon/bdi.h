/* bdi.h -- the kernel's per-mount writeback and read-ahead limits (bdi.c) */
#ifndef PMFUSE_BDI_H
#define PMFUSE_BDI_H

/* the read-ahead set: four full FUSE requests (max_pages 256), so that a
 * sequential reader has requests in flight on both of a queue's ring
 * threads (uring.c); A/B against one (1024): W2 1.12-1.16, not seen above
 * the spread of the full runs (README step 14) */
#define PM_BDI_READ_AHEAD_KB 4096

/* pm_bdi_tune -- give the FUSE mount on mountpoint (an absolute path, as in
 * /proc/self/mountinfo) the dirty-page share and read-ahead of a local
 * filesystem; 0, or a negative errno (-EACCES when not root) */
int pm_bdi_tune(const char *mountpoint);

#endif
