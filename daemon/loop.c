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

#include "clients.h"
#include "loop.h"
#include "stop.h"
#include "uring.h"


struct loop {
	struct fuse_session *se;
	int fd, fd_flags;
	uint64_t spin_ns;
	const struct pm_uring *rings; /* NULL: none */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool parallel; /* the mode; the device blocks in parallel mode */
	bool waiter;   /* turn mode: a thread holds the device */
	int idle;      /* threads parked, waiting to hold the device */
	int readers, max_readers; /* parallel mode: threads reading, at most */
	int error;     /* first read error, as a negative errno */
	struct pm_clients clients;
};

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

/* note_client -- how many processes sent requests in the last 2 ms,
 * counting the sender of this one */
static unsigned note_client(struct loop *l, const struct fuse_buf *buf)
{
	const struct fuse_in_header *in = buf->mem;

	return buf->size < sizeof(*in) ? 1 : pm_clients_note(&l->clients, in->pid);
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
	/* with the rings serving the clients, nobody waits for what comes
	 * here: rest, and let the kernel queue FORGETs without a wake-up */
	bool rest = pm_uring_serving(l->rings), rested = false;
	uint64_t spin_ns = rest ? 0 : l->spin_ns;
	uint64_t start = spin_ns ? pm_now_ns() : 0;

	while (!fuse_session_exited(l->se) && !__atomic_load_n(&l->parallel, __ATOMIC_RELAXED)) {
		int r = receive(l, buf);

		if (r >= 0)
			return r;
		if (spin_ns && pm_now_ns() - start < spin_ns) {
			sched_yield(); /* a client that shares this CPU runs first */
			continue;
		}
		if (rest && !rested) {
			struct timespec ts = { 0, 1000000 };
			nanosleep(&ts, NULL);
			rested = true;
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

/* park -- wait (l->lock held) for a change of mode, a free turn or a free
 * reader's place. Timed: the signal that ends the session knocks only the
 * main thread, which may be parked while the readers sleep on a device that
 * carries nothing more (with FUSE over io_uring, only FORGETs come here);
 * once it has seen the end and left, pm_loop_run wakes the readers. */
static void park(struct loop *l)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_nsec += 100 * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	l->idle++;
	pthread_cond_timedwait(&l->cond, &l->lock, &until);
	l->idle--;
}

/* take_turn -- turn mode: hold the device, serving cheap requests, until a
 * costly one comes (returned in buf, > 0), the mode changes or the session
 * ends (0) */
static int take_turn(struct loop *l, struct fuse_buf *buf)
{
	int r;

	pthread_mutex_lock(&l->lock);
	while (l->waiter && !l->parallel && !fuse_session_exited(l->se)) {
		park(l);
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
		park(l);
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

int pm_loop_run(struct fuse_session *se, unsigned threads, unsigned spin_us,
		const struct pm_uring *rings)
{
	struct loop l = { .se = se, .fd = fuse_session_fd(se), .spin_ns = (uint64_t)spin_us * 1000,
			  .rings = rings,
			  .clients = PM_CLIENTS_INIT };
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
	pthread_cond_init(&l.cond, NULL);
	/* the calling thread is a worker too: the signal that stops the mount
	 * is aimed at it (stop.c) */
	for (unsigned i = 1; i < threads; i++)
		if (pthread_create(&tids[started], NULL, worker, &l) == 0)
			started++;
	worker(&l);
	/* threads asleep in a blocking read(2) leave when a signal (SIGUSR1,
	 * whose handler stop.c installs without SA_RESTART) interrupts it */
	for (unsigned i = 0; i < started; i++)
		pm_stop_join(tids[i]);
	pthread_cond_destroy(&l.cond);
	pthread_mutex_destroy(&l.lock);
	free(tids);
	return l.error;
}
