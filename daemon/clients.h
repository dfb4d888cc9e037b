/* clients.h -- how many processes are sending requests (clients.c) */
#ifndef PMFUSE_CLIENTS_H
#define PMFUSE_CLIENTS_H

#include <stdint.h>

#define PM_CLIENT_SLOTS 8

/* Each slot is one word, written without a lock by whichever request
 * thread sees the process: its pid (PID_BITS) and when it last sent a
 * request (the rest, in µs); 0 is an empty slot. */
struct pm_clients {
	uint64_t slot[PM_CLIENT_SLOTS];
};

#define PM_CLIENTS_INIT { { 0 } }

/* pm_now_ns -- CLOCK_MONOTONIC in nanoseconds */
uint64_t pm_now_ns(void);
/* pm_clients_note -- count a request of process pid (0: the kernel's own
 * writeback, not counted); returns how many processes sent requests in the
 * last 2 ms. Safe to call from several threads at once; two new processes
 * seen at the same instant may take the same slot, and one of them is then
 * counted from its next request on. */
unsigned pm_clients_note(struct pm_clients *c, uint32_t pid);
/* pm_clients_note_at -- the same at time now (µs, never 0): for tests */
unsigned pm_clients_note_at(struct pm_clients *c, uint32_t pid, uint64_t now);

#endif
