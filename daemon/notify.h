/* notify.h -- tell systemd (Type=notify) when the mount serves and stops */
#ifndef PM_NOTIFY_H
#define PM_NOTIFY_H

/* pm_notify_ready -- once a statfs(2) of mountpoint has been answered (by
 * the request loop, which must be running or about to), send READY=1 and
 * status; from a thread of its own. Nothing when not run by systemd. */
void pm_notify_ready(const char *mountpoint, const char *status);
/* pm_notify_stopping -- STOPPING=1: the loop has ended, unmounting */
void pm_notify_stopping(void);

#endif
