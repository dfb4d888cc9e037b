/* stop.c -- a stop signal first makes the kernel write back its dirty pages
 * (syncfs on the mount, answered by the still-running loop), and only then
 * ends the FUSE loop: data that fusermount3 -u would keep survives SIGTERM.
 *
 * syncfs can return while writeback requests still wait in the kernel's
 * queue. A statfs on the mount queues behind them; a round of syncfs +
 * statfs during which no write began or ended, with none in progress,
 * means the queue held no more writes; two such rounds in a row are asked
 * for. Requests being processed when the loop ends are finished: libfuse
 * cancels workers only while they read. */
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#define FUSE_USE_VERSION 317
#include <fuse_lowlevel.h>

#include "flusher.h"
#include "ops.h"
#include "stop.h"

static int stop_pipe[2] = { -1, -1 };
static pthread_t stopper, main_thread;
static struct fuse_session *session;
static const char *mnt;
static struct pm_mount *mount_state;
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

/* sync_from_child -- syncfs on the mount, from a child process: the kernel
 * writes back nothing when the FUSE server itself asks (seen on Linux 6.18) */
static void sync_from_child(int fd)
{
	pid_t pid = fork();
	int status;

	if (pid == 0) {
		syncfs(fd);
		_exit(0);
	}
	if (pid < 0) {
		/* loud: the writeback cache's pages may be lost at this stop */
		fuse_log(FUSE_LOG_WARNING, "stop: cannot fork to sync the mount (%s); dirty pages the "
			 "kernel still holds may be lost\n", strerror(errno));
		syncfs(fd);
	} else {
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
	}
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
	if (fd < 0)
		fuse_log(FUSE_LOG_WARNING, "stop: cannot open %s to sync it (%s); dirty pages the "
			 "kernel still holds may be lost\n", mnt, strerror(errno));
	/* two quiet rounds in a row: one costs a millisecond, and a write the
	 * first round's fence overtook cannot hide in the second */
	for (int round = 0, quiet = 0; fd >= 0 && round < 100 && quiet < 2; round++) {
		unsigned long b0 = __atomic_load_n(&mount_state->writes_begun, __ATOMIC_SEQ_CST);
		unsigned long d0 = __atomic_load_n(&mount_state->writes_done, __ATOMIC_SEQ_CST);
		struct statvfs st;

		sync_from_child(fd);
		fstatvfs(fd, &st);
		unsigned long b1 = __atomic_load_n(&mount_state->writes_begun, __ATOMIC_SEQ_CST);
		unsigned long d1 = __atomic_load_n(&mount_state->writes_done, __ATOMIC_SEQ_CST);
		quiet = b1 == b0 && d1 == d0 && b1 == d1 ? quiet + 1 : 0;
	}
	if (fd >= 0)
		close(fd);
	/* the flusher may ask the kernel for writeback: only while the loop
	 * serves */
	pm_flusher_stop();
	fuse_session_exit(session);
	/* the main thread may be about to sleep: knock until it has left */
	while (!loop_done) {
		pthread_kill(main_thread, SIGUSR1);
		usleep(20000);
	}
	return NULL;
}

void pm_stop_join(pthread_t tid)
{
	while (pthread_tryjoin_np(tid, NULL) == EBUSY) {
		pthread_kill(tid, SIGUSR1);
		usleep(1000);
	}
}

int pm_stop_start(struct fuse_session *se, const char *mountpoint, struct pm_mount *m)
{
	session = se;
	mount_state = m;
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
