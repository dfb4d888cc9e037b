/* clients.c -- how many processes are sending requests.
 *
 * Both request paths (loop.c on /dev/fuse, uring.c on io_uring) poll for
 * the next request only while one process is sending them: with several,
 * a polling thread would take CPU time from the clients. */
#include <time.h>

#include "clients.h"

#define CLIENT_ACTIVE_NS 2000000u /* a client counts for 2 ms after a request */

uint64_t pm_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

unsigned pm_clients_note(struct pm_clients *c, uint32_t pid)
{
	uint64_t now = pm_now_ns();
	unsigned active = 0, slot = 0;

	pthread_mutex_lock(&c->lock);
	for (unsigned i = 0; i < PM_CLIENT_SLOTS; i++) {
		if (c->slot[i].pid == pid) {
			slot = i;
			break;
		}
		if (c->slot[i].seen < c->slot[slot].seen)
			slot = i;
	}
	if (pid) {
		c->slot[slot].pid = pid;
		c->slot[slot].seen = now;
	}
	for (unsigned i = 0; i < PM_CLIENT_SLOTS; i++)
		if (c->slot[i].seen && now - c->slot[i].seen < CLIENT_ACTIVE_NS)
			active++;
	pthread_mutex_unlock(&c->lock);
	return active;
}
