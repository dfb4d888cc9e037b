/* flusher.c -- the background flusher of the periodic sync policy */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <time.h>

#define FUSE_USE_VERSION 317
#include <fuse_lowlevel.h>

#include "flusher.h"
#include "fs.h"

static pthread_t thread;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static bool stopping, started;
static struct pm_fs *pool;
static struct fuse_session *session;

/* writeback -- the kernel writes back the file's cached pages (FUSE
 * launders dirty pages before it drops them), so they reach the pool */
static void writeback(void *arg, uint64_t ino)
{
	(void)arg;
	fuse_lowlevel_notify_inval_inode(session, (fuse_ino_t)ino, 0, 0);
}

static void *flusher_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&lock);
	while (!stopping) {
		uint32_t ms = pm_fs_periodic_ms(pool);
		struct timespec until;

		clock_gettime(CLOCK_REALTIME, &until);
		if (ms == 0)
			ms = 1000;
		until.tv_sec += ms / 1000;
		until.tv_nsec += (long)(ms % 1000) * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&wake, &lock, &until);
		pthread_mutex_unlock(&lock);
		if (!stopping)
			pm_fs_periodic_open(pool, writeback, NULL);
		pm_fs_flush_periodic(pool);
		pm_fs_media_check(pool, 0); /* a media error here turns the mount read-only too */
		pthread_mutex_lock(&lock);
	}
	pthread_mutex_unlock(&lock);
	return NULL;
}

int pm_flusher_start(struct pm_fs *fs, struct fuse_session *se)
{
	pool = fs;
	session = se;
	stopping = false;
	if (pthread_create(&thread, NULL, flusher_main, NULL))
		return -errno;
	started = true;
	return 0;
}

void pm_flusher_stop(void)
{
	if (!started)
		return;
	pthread_mutex_lock(&lock);
	stopping = true;
	pthread_cond_signal(&wake);
	pthread_mutex_unlock(&lock);
	pthread_join(thread, NULL);
	started = false;
}
