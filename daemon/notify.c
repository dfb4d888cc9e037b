/* notify.c -- systemd's readiness protocol (sd_notify(3)) for Type=notify
 * units: READY=1 is sent only once the mount answers a request, so that
 * units ordered after pmfuse@NAME find a working file system, not just a
 * mount table entry. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "notify.h"

struct ready {
	char *mountpoint, *status;
};

static void *wait_ready(void *arg)
{
	struct ready *r = arg;
	struct statfs st;

	/* served by the request loop: it answers only once the kernel's INIT
	 * has been answered too */
	if (statfs(r->mountpoint, &st) == 0)
		sd_notifyf(0, "READY=1\nSTATUS=%s", r->status);
	free(r->mountpoint);
	free(r->status);
	free(r);
	return NULL;
}

void pm_notify_ready(const char *mountpoint, const char *status)
{
	struct ready *r;
	pthread_t t;

	if (!getenv("NOTIFY_SOCKET"))
		return;
	r = calloc(1, sizeof(*r));
	if (!r || !(r->mountpoint = strdup(mountpoint)) || !(r->status = strdup(status)) ||
	    pthread_create(&t, NULL, wait_ready, r) != 0) {
		if (r) {
			free(r->mountpoint);
			free(r->status);
		}
		free(r);
		sd_notifyf(0, "READY=1\nSTATUS=%s", status); /* better late checks than none */
		return;
	}
	pthread_detach(t);
}

void pm_notify_stopping(void)
{
	sd_notify(0, "STOPPING=1\nSTATUS=unmounting");
}
