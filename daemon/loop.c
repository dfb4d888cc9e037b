/* loop.c -- the request loop, in two modes.
 *
 * Why not only fuse_session_loop_mt(): a request to pmfuse costs a few
 * microseconds, but waking a thread asleep on /dev/fuse costs far more on a
 * virtual machine (the idle vCPU has halted), and a synchronous client
 * (tar, cp, a database's commit) pays such a wake-up twice per system call.
 *
 * - One client at a time ("turn" mode): one thread holds the device. After
 *   each request it polls the (non-blocking) device for spin_us before it
 *   sleeps in poll(2), so the client's next request is found without a
 *   wake-up, and it serves cheap requests itself, in turn. A costly request
 *   (a large read or write, a truncation, fallocate) is served after the
 *   device passes to a parked thread. An idle mount burns nothing.
 * - Several clients at once ("parallel" mode): as many threads as there
 *   are CPUs (two at least) sleep in a blocking read(2) and serve requests in parallel;
 *   polling would only take CPU time from the clients. The other threads
 *   stay parked: with all of them reading (libfuse's way) the kernel wakes
 *   the longest-asleep, so requests wander over cold threads (two readers
 *   on two CPUs: 4-16 % more IOPS for two fio jobs than ten). A reader
 *   about to serve a costly request first unparks a thread to read in its
 *   place.
 * The mode follows how many processes sent requests in the last 2 ms. */
#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "loop.h"

#define CLIENT_SLOTS 8
#define CLIENT_ACTIVE_NS 2000000u /* a client counts for 2 ms after a request */

struct loop {
	struct fuse_session *se;
	int fd, fd_flags;
	uint64_t spin_ns;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool parallel; /* the mode; the device blocks in parallel mode */
	bool waiter;   /* turn mode: a thread holds the device */
	int idle;      /* threads parked, waiting to hold the device */
	int readers, max_readers; /* parallel mode: threads reading, at most */
	int error;     /* first read error, as a negative errno */
	pthread_mutex_t client_lock;
	struct { uint32_t pid; uint64_t seen; } client[CLIENT_SLOTS];
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* costly -- may this request take long (copy much data, free a file's
 * blocks)? Then it is not served by the thread that holds the device. */
static bool costly(const struct fuse_buf *buf)
{
	const struct fuse_in_header *in = buf->mem;
	const void *arg = in + 1;

	if (buf->size < sizeof(*in))
		return false;
	switch (in->opcode) {
	case FUSE_WRITE:
		return in->len > 64 * 1024;
	case FUSE_READ:
		return buf->size >= sizeof(*in) + sizeof(struct fuse_read_in) &&
		       ((const struct fuse_read_in *)arg)->size > 64 * 1024;
	case FUSE_SETATTR:
		return buf->size < sizeof(*in) + sizeof(struct fuse_setattr_in) ||
		       (((const struct fuse_setattr_in *)arg)->valid & FATTR_SIZE);
	case FUSE_FALLOCATE:
	case FUSE_COPY_FILE_RANGE:
		return true;
	default:
		return false;
	}
}

/* note_client -- count the sender of a request; returns how many
 * processes sent requests in the last CLIENT_ACTIVE_NS */
static unsigned note_client(struct loop *l, const struct fuse_buf *buf)
{
	const struct fuse_in_header *in = buf->mem;
	uint64_t now = now_ns();
	unsigned active = 0, slot = 0;

	if (buf->size < sizeof(*in))
		return 1;
	pthread_mutex_lock(&l->client_lock);
	for (unsigned i = 0; i < CLIENT_SLOTS; i++) {
		if (l->client[i].pid == in->pid) {
			slot = i;
			break;
		}
		if (l->client[i].seen < l->client[slot].seen)
			slot = i;
	}
	if (in->pid) { /* 0: the kernel's own writeback */
		l->client[slot].pid = in->pid;
		l->client[slot].seen = now;
	}
	for (unsigned i = 0; i < CLIENT_SLOTS; i++)
		if (l->client[i].seen && now - l->client[i].seen < CLIENT_ACTIVE_NS)
			active++;
	pthread_mutex_unlock(&l->client_lock);
	return active;
}

static void set_mode(struct loop *l, bool parallel)
{
	pthread_mutex_lock(&l->lock);
	if (l->parallel != parallel) {
		__atomic_store_n(&l->parallel, parallel, __ATOMIC_RELAXED);
		fcntl(l->fd, F_SETFL, parallel ? l->fd_flags & ~O_NONBLOCK : l->fd_flags | O_NONBLOCK);
		pthread_cond_broadcast(&l->cond);
	}
	pthread_mutex_unlock(&l->lock);
}

/* receive -- one request into buf: > 0; 0 when the session ended;
 * -EAGAIN or -EINTR when there was none */
static int receive(struct loop *l, struct fuse_buf *buf)
{
	int r = fuse_session_receive_buf(l->se, buf);

	if (r > 0 || r == -EAGAIN || r == -EINTR)
		return r;
	if (r < 0 && !l->error) {
		l->error = r;
		fuse_session_exit(l->se);
	}
	return 0; /* r == 0: unmounted, libfuse has ended the session */
}

/* wait_turn -- turn mode: poll the device for up to spin_ns, then sleep on
 * it; > 0 with a request in buf, 0 when the session ended or the mode
 * changed */
static int wait_turn(struct loop *l, struct fuse_buf *buf)
{
	uint64_t start = l->spin_ns ? now_ns() : 0;

	while (!fuse_session_exited(l->se) && !__atomic_load_n(&l->parallel, __ATOMIC_RELAXED)) {
		int r = receive(l, buf);

		if (r >= 0)
			return r;
		if (l->spin_ns && now_ns() - start < l->spin_ns) {
			sched_yield(); /* a client that shares this CPU runs first */
			continue;
		}
		/* with a timeout, so that an ended session is noticed even if
		 * nothing knocks */
		struct pollfd p = { .fd = l->fd, .events = POLLIN };
		if (poll(&p, 1, 200) > 0 && (p.revents & (POLLERR | POLLHUP | POLLNVAL))) {
			fuse_session_exit(l->se);
			return 0;
		}
	}
	return 0;
}

/* take_turn -- turn mode: hold the device, serving cheap requests, until a
 * costly one comes (returned in buf, > 0), the mode changes or the session
 * ends (0) */
static int take_turn(struct loop *l, struct fuse_buf *buf)
{
	int r;

	pthread_mutex_lock(&l->lock);
	while (l->waiter && !l->parallel && !fuse_session_exited(l->se)) {
		l->idle++;
		pthread_cond_wait(&l->cond, &l->lock);
		l->idle--;
	}
	if (l->parallel || fuse_session_exited(l->se)) {
		pthread_mutex_unlock(&l->lock);
		return 0;
	}
	l->waiter = true;
	pthread_mutex_unlock(&l->lock);

	while ((r = wait_turn(l, buf)) > 0) {
		if (note_client(l, buf) > 1) {
			set_mode(l, true);
			break;
		}
		if (costly(buf))
			break;
		fuse_session_process_buf(l->se, buf);
	}

	pthread_mutex_lock(&l->lock);
	l->waiter = false;
	if (l->idle)
		pthread_cond_signal(&l->cond);
	pthread_mutex_unlock(&l->lock);
	return r;
}

/* serve_parallel -- parallel mode: while there are fewer than max_readers
 * readers, read one request and serve it; else stay parked until the mode
 * changes or a reader leaves for a costly request */
static void serve_parallel(struct loop *l, struct fuse_buf *buf)
{
	int r;

	pthread_mutex_lock(&l->lock);
	while (l->readers >= l->max_readers && l->parallel && !fuse_session_exited(l->se)) {
		l->idle++;
		pthread_cond_wait(&l->cond, &l->lock);
		l->idle--;
	}
	if (!l->parallel || fuse_session_exited(l->se)) {
		pthread_mutex_unlock(&l->lock);
		return;
	}
	l->readers++;
	pthread_mutex_unlock(&l->lock);

	r = receive(l, buf);
	if (r > 0 && note_client(l, buf) <= 1)
		set_mode(l, false);
	bool handed_over = r > 0 && costly(buf);
	pthread_mutex_lock(&l->lock);
	l->readers--;
	if (handed_over && l->idle)
		pthread_cond_signal(&l->cond);
	pthread_mutex_unlock(&l->lock);
	if (r > 0)
		fuse_session_process_buf(l->se, buf);
}

static void *worker(void *arg)
{
	struct loop *l = arg;
	struct fuse_buf buf = { 0 };

	while (!fuse_session_exited(l->se)) {
		if (__atomic_load_n(&l->parallel, __ATOMIC_RELAXED)) {
			serve_parallel(l, &buf);
		} else {
			int r = take_turn(l, &buf);
			if (r > 0)
				fuse_session_process_buf(l->se, &buf);
		}
	}
	pthread_mutex_lock(&l->lock);
	pthread_cond_broadcast(&l->cond); /* the session ended: all leave */
	pthread_mutex_unlock(&l->lock);
	free(buf.mem);
	return NULL;
}

/* online_cpus -- CPUs this process may run on (at least 1) */
static int online_cpus(void)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set) < 0 || CPU_COUNT(&set) < 1)
		return 1;
	return CPU_COUNT(&set);
}

int pm_loop_run(struct fuse_session *se, unsigned threads, unsigned spin_us)
{
	struct loop l = { .se = se, .fd = fuse_session_fd(se), .spin_ns = (uint64_t)spin_us * 1000 };
	pthread_t *tids;
	unsigned started = 0;

	if (threads == 0)
		threads = 1;
	/* two at least: one may be stuck in a slow request (an msync on a
	 * disk-backed pool) that was not foreseen as costly */
	l.max_readers = online_cpus() < 2 ? 2 : online_cpus();
	l.fd_flags = fcntl(l.fd, F_GETFL);
	if (l.fd_flags < 0 || fcntl(l.fd, F_SETFL, l.fd_flags | O_NONBLOCK) < 0)
		return -errno;
	tids = calloc(threads, sizeof(*tids));
	if (!tids)
		return -ENOMEM;
	pthread_mutex_init(&l.lock, NULL);
	pthread_mutex_init(&l.client_lock, NULL);
	pthread_cond_init(&l.cond, NULL);
	/* the calling thread is a worker too: the signal that stops the mount
	 * is aimed at it (stop.c) */
	for (unsigned i = 1; i < threads; i++)
		if (pthread_create(&tids[started], NULL, worker, &l) == 0)
			started++;
	worker(&l);
	/* threads asleep in a blocking read(2) leave when a signal (SIGUSR1,
	 * whose handler stop.c installs without SA_RESTART) interrupts it */
	for (unsigned i = 0; i < started; i++) {
		while (pthread_tryjoin_np(tids[i], NULL) == EBUSY) {
			pthread_kill(tids[i], SIGUSR1);
			usleep(1000);
		}
	}
	pthread_cond_destroy(&l.cond);
	pthread_mutex_destroy(&l.client_lock);
	pthread_mutex_destroy(&l.lock);
	free(tids);
	return l.error;
}
