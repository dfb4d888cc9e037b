/* uring.h -- FUSE over io_uring beside /dev/fuse (uring.c) */
#ifndef PMFUSE_URING_H
#define PMFUSE_URING_H

#include <stdbool.h>

struct fuse_session;
struct pm_uring;

/* pm_uring_enabled -- does the kernel take FUSE requests over io_uring
 * (Linux 6.14+, the fuse module's enable_uring switch on)? */
bool pm_uring_enabled(void);
/* pm_uring_switch_on -- turn that switch on (root): 0 or a negative errno.
 * It lets every FUSE server that asks use io_uring; it stays on. */
int pm_uring_switch_on(void);
/* pm_uring_start -- before the first request (INIT): a ring, a queue
 * thread and the session's custom I/O per CPU; requests move to the rings
 * once the kernel has them all. Fails (nothing changed) without memory or
 * io_uring. After each request a queue's thread
 * polls for the next for spin_us while a single process sends requests. */
int pm_uring_start(struct fuse_session *se, unsigned spin_us, struct pm_uring **out);
/* pm_uring_serving -- has a request come through a ring yet? (false for
 * NULL) Then the kernel sends clients' requests over the rings, and
 * /dev/fuse only what no client waits for: FORGET, INTERRUPT. */
bool pm_uring_serving(const struct pm_uring *u);
/* pm_uring_stop -- wait for the queue threads (after unmount) and free */
void pm_uring_stop(struct pm_uring *u);

#endif
