/* stop.h -- stopping the daemon on SIGTERM/SIGINT/SIGHUP without losing
 * what the kernel still holds in its writeback cache */
#ifndef PMFUSE_STOP_H
#define PMFUSE_STOP_H

#include <pthread.h>

struct fuse_session;
struct pm_mount;

/* pm_stop_install -- catch the stop signals (before the FUSE loop starts) */
int pm_stop_install(void);
/* pm_stop_start -- start the thread that handles them (after daemonizing):
 * it syncs the mount while the loop still serves, then ends the loop */
int pm_stop_start(struct fuse_session *se, const char *mountpoint, struct pm_mount *mnt);
/* pm_stop_join -- join a thread that may be asleep in a system call:
 * SIGUSR1 (no SA_RESTART) interrupts it until it has left */
void pm_stop_join(pthread_t tid);
/* pm_stop_finish -- the loop has returned: end and join that thread */
void pm_stop_finish(void);

#endif
