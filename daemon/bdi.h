/* bdi.h -- the kernel's per-mount writeback and read-ahead limits (bdi.c) */
#ifndef PMFUSE_BDI_H
#define PMFUSE_BDI_H

/* read-ahead when requests come over io_uring: four full FUSE requests
 * (max_pages 256), so that a sequential reader has requests in flight on
 * both of a queue's ring threads (uring.c); A/B against one (1024): W2
 * 1.12-1.16, not seen above the spread of the full runs (README step 14) */
#define PM_BDI_READ_AHEAD_URING_KB 4096
/* over /dev/fuse: one full request. Any idle worker takes a request there,
 * on whichever CPU is free, so one request in flight already overlaps the
 * daemon's copy with the reader's; more only queue behind it while the
 * reader waits for the first (W2 1.18x as fast as with 4096, README step 21) */
#define PM_BDI_READ_AHEAD_DEV_KB 1024

/* pm_bdi_tune -- give the FUSE mount on mountpoint (an absolute path, as in
 * /proc/self/mountinfo) the dirty-page share of a local filesystem and
 * read_ahead_kb of read-ahead; 0, or a negative errno (-EACCES when not root) */
int pm_bdi_tune(const char *mountpoint, unsigned read_ahead_kb);

/* pm_bdi_read_ahead -- set only the mount's read-ahead (as pm_bdi_tune) */
int pm_bdi_read_ahead(const char *mountpoint, unsigned read_ahead_kb);

#endif
