/* prefault.c -- map the pool's data into the daemon's page tables ahead of
 * use.
 *
 * A daemon starts with none of the pool mapped. Every page it, or the
 * kernel copying a read reply out of the mapping, then touches first takes
 * a fault, and the kernel's copy takes the slow path of get_user_pages for
 * each: a 1 GiB file read just after a mount went at 1.5 GB/s, the next
 * read of it at 2.6 (README step 21). This thread takes those faults at
 * once after the mount, on a CPU that has nothing else to do
 * (SCHED_IDLE), as libpmemobj's prefault at open does, and reads a byte
 * of each page (pm_media_prefault: under PVM a first access costs an exit
 * to the host even where the page is mapped). It maps pages, it
 * allocates none: holes are skipped, and on a pool whose pages are not
 * memory (a file on a disk) it does nothing. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#define FUSE_USE_VERSION 317
#include <fuse_log.h>

#include "fs.h"
#include "prefault.h"

static pthread_t thread;
static bool started;
static atomic_bool stop;

static double seconds_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static void *prefault_main(void *arg)
{
	struct sched_param idle = { 0 };
	struct timespec t0;
	int64_t ret;

	pthread_setname_np(pthread_self(), "pmfuse-prefault");
	/* failing that, it runs at the normal priority: still correct */
	pthread_setschedparam(pthread_self(), SCHED_IDLE, &idle);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ret = pm_fs_prefault(arg, &stop);
	/* debug: a step of speed, not of function (a kernel before 5.14 has
	 * no MADV_POPULATE_READ, and the pages fault in as they are used) */
	if (ret < 0)
		fuse_log(FUSE_LOG_DEBUG, "pool not prefaulted: %s\n", strerror((int)-ret));
	else if (ret > 0)
		fuse_log(FUSE_LOG_DEBUG, "prefaulted %lld MiB of the pool in %.2f s%s\n",
			 (long long)(ret >> 20), seconds_since(&t0),
			 atomic_load(&stop) ? " (stopped)" : "");
	return NULL;
}

int pm_prefault_start(struct pm_fs *fs)
{
	atomic_store(&stop, false);
	int ret = pthread_create(&thread, NULL, prefault_main, fs);

	if (ret)
		return -ret;
	started = true;
	return 0;
}

void pm_prefault_stop(void)
{
	if (!started)
		return;
	atomic_store(&stop, true);
	pthread_join(thread, NULL);
	started = false;
}
