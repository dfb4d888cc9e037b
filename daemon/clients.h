/* clients.h -- how many processes are sending requests (clients.c) */
#ifndef PMFUSE_CLIENTS_H
#define PMFUSE_CLIENTS_H

#include <pthread.h>
#include <stdint.h>

#define PM_CLIENT_SLOTS 8

struct pm_clients {
	pthread_mutex_t lock;
	struct { uint32_t pid; uint64_t seen; } slot[PM_CLIENT_SLOTS];
};

#define PM_CLIENTS_INIT { .lock = PTHREAD_MUTEX_INITIALIZER }

/* pm_now_ns -- CLOCK_MONOTONIC in nanoseconds */
uint64_t pm_now_ns(void);
/* pm_clients_note -- count a request of process pid (0: the kernel's own
 * writeback, not counted); returns how many processes sent requests in the
 * last 2 ms */
unsigned pm_clients_note(struct pm_clients *c, uint32_t pid);

#endif
