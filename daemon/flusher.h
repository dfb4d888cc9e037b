/* flusher.h -- the periodic sync policy's background flusher */
#ifndef PMFUSE_FLUSHER_H
#define PMFUSE_FLUSHER_H

struct pm_fs;
struct fuse_session;

/* pm_flusher_start -- persist what periodic inodes wrote, every interval
 * (the shortest period among them; checked once a second while none) */
int pm_flusher_start(struct pm_fs *fs, struct fuse_session *se);
/* pm_flusher_stop -- a last round, then join the thread */
void pm_flusher_stop(void);

#endif
