/* stop.c -- a stop signal first makes the kernel write back its dirty pages
 * (syncfs on the mount, answered by the still-running loop), and only then
 * ends the FUSE loop: data that fusermount3 -u would keep survives SIGTERM. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#define FUSE_USE_VERSION 317
#include <fuse_lowlevel.h>

#include "stop.h"

static int stop_pipe[2] = { -1, -1 };
static pthread_t stopper, main_thread;
static struct fuse_session *session;
static const char *mnt;
static volatile bool loop_done;

static void on_stop_signal(int sig)
{
	char c = (char)sig;
	int saved = errno;

	(void)!write(stop_pipe[1], &c, 1);
	errno = saved;
}

static void on_wake(int sig)
{
	(void)sig; /* only interrupts the loop's sem_wait() */
}

int pm_stop_install(void)
{
	struct sigaction sa = { 0 };

	if (pipe2(stop_pipe, O_CLOEXEC) < 0)
		return -errno;
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTERM, &sa, NULL) || sigaction(SIGINT, &sa, NULL) || sigaction(SIGHUP, &sa, NULL))
		return -errno;
	sa.sa_handler = on_wake;
	if (sigaction(SIGUSR1, &sa, NULL))
		return -errno;
	sa.sa_handler = SIG_IGN;
	return sigaction(SIGPIPE, &sa, NULL) ? -errno : 0;
}

static void *stopper_main(void *arg)
{
	char c = 0;

	(void)arg;
	while (read(stop_pipe[0], &c, 1) < 0 && errno == EINTR)
		;
	if (c == 0)
		return NULL; /* the loop ended by itself (unmount) */
	int fd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		syncfs(fd);
		close(fd);
	}
	fuse_session_exit(session);
	/* the main thread may be about to sleep: knock until it has left */
	while (!loop_done) {
		pthread_kill(main_thread, SIGUSR1);
		usleep(20000);
	}
	return NULL;
}

int pm_stop_start(struct fuse_session *se, const char *mountpoint)
{
	session = se;
	mnt = mountpoint;
	main_thread = pthread_self();
	return -pthread_create(&stopper, NULL, stopper_main, NULL);
}

void pm_stop_finish(void)
{
	char c = 0;

	loop_done = true;
	(void)!write(stop_pipe[1], &c, 1);
	pthread_join(stopper, NULL);
	close(stop_pipe[0]);
	close(stop_pipe[1]);
}
