/* clients.c -- how many processes are sending requests.
 *
 * Both request paths (loop.c on /dev/fuse, uring.c on io_uring) poll for
 * the next request only while one process is sending them: with several,
 * a polling thread would take CPU time from the clients; uring.c also
 * places a queue's second thread by it. Every request asks, on every
 * request thread: so there is no lock, and a slot is rewritten only when
 * its time is REFRESH_US old, so that the threads of two CPUs do not pull
 * one cache line back and forth on each request. */
#include <stdbool.h>
#include <time.h>

#include "clients.h"

#define ACTIVE_US 2000u  /* a client counts for 2 ms after a request */
#define REFRESH_US 250u  /* a client's time is rewritten at most this often */
#define PID_BITS 22      /* Linux's PID_MAX_LIMIT is 1 << 22 */
#define PID_MASK ((1u << PID_BITS) - 1)

uint64_t pm_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

unsigned pm_clients_note(struct pm_clients *c, uint32_t pid)
{
	/* +1: a slot's time is never 0, which marks it empty */
	return pm_clients_note_at(c, pid, pm_now_ns() / 1000 + 1);
}

unsigned pm_clients_note_at(struct pm_clients *c, uint32_t pid, uint64_t now)
{
	uint32_t key = pid & PID_MASK;
	unsigned active = pid != 0, mine = PM_CLIENT_SLOTS, oldest = 0;
	uint64_t oldest_seen = UINT64_MAX, mine_seen = 0, oldest_word = 0;

	for (unsigned i = 0; i < PM_CLIENT_SLOTS; i++) {
		uint64_t w = __atomic_load_n(&c->slot[i], __ATOMIC_RELAXED);
		uint64_t seen = w >> PID_BITS;
		bool same = pid && w && (uint32_t)(w & PID_MASK) == key;

		if (same) {
			mine = i;
			mine_seen = seen;
		} else if (w && now < seen + ACTIVE_US) { /* seen may be after now */
			active++;
		}
		if (seen < oldest_seen) { /* an empty slot (0) is the oldest */
			oldest = i;
			oldest_seen = seen;
			oldest_word = w;
		}
	}
	if (!pid)
		return active;
	uint64_t word = now << PID_BITS | key;
	if (mine < PM_CLIENT_SLOTS) {
		if (now >= mine_seen + REFRESH_US)
			__atomic_store_n(&c->slot[mine], word, __ATOMIC_RELAXED);
	} else {
		/* lost to another thread that took the slot first: this
		 * process gets one at its next request */
		__atomic_compare_exchange_n(&c->slot[oldest], &oldest_word, word, false,
					    __ATOMIC_RELAXED, __ATOMIC_RELAXED);
	}
	return active;
}
