/* prefault.h -- map the pool's data into the daemon's page tables after the
 * mount, in the background (prefault.c) */
#ifndef PMFUSE_PREFAULT_H
#define PMFUSE_PREFAULT_H

struct pm_fs;

/* pm_prefault_start -- a thread that runs only on an idle CPU and maps the
 * pool's data (pm_fs_prefault), then ends; 0 or a negative errno */
int pm_prefault_start(struct pm_fs *fs);
/* pm_prefault_stop -- stop it (within one step of a few MiB) and join it */
void pm_prefault_stop(void);

#endif
