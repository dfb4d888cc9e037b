/* loop.h -- pmfuse's request loop (loop.c) */
#ifndef PMFUSE_LOOP_H
#define PMFUSE_LOOP_H

#define FUSE_USE_VERSION 317
#include <fuse_lowlevel.h>

struct pm_uring;

/* pm_loop_run -- serve the session with up to threads threads; the thread
 * that waits for requests polls the device for spin_us microseconds after
 * each request before it sleeps (0: sleep at once). Once rings (NULL: none)
 * serve the clients (pm_uring_serving), only FORGET and INTERRUPT come
 * here: then it rests 1 ms instead before it sleeps on the device, so that
 * FORGETs queued meanwhile wake no one and come in one batch. Returns 0
 * when the session ended, or a negative errno if reading the device
 * failed. */
int pm_loop_run(struct fuse_session *se, unsigned threads, unsigned spin_us,
		const struct pm_uring *rings);

#endif
