/* uring.c -- FUSE over io_uring (Linux 6.14+), beside /dev/fuse.
 *
 * Why: a request read from /dev/fuse is served by whichever daemon thread
 * the kernel wakes, often on the other CPU; on a virtual machine that
 * cross-CPU wake-up (an IPI to a halted vCPU) costs more than the request.
 * Over io_uring the kernel queues a request on the queue of the CPU the
 * client runs on, and that queue's thread, pinned to the same CPU, gets it
 * without a cross-CPU wake-up.
 *
 * The kernel (fs/fuse/dev_uring.c) takes requests through the rings once
 * every CPU's queue has an entry registered; FORGET and INTERRUPT, and the
 * daemon's notifications, still go over /dev/fuse, whose loop (loop.c)
 * keeps running. libfuse 3.17 knows nothing of this: its requests are fed
 * to fuse_session_process_buf() as if read from /dev/fuse, and its replies
 * come back through the session's custom writev, which puts a reply to a
 * ring request into that request's entry; everything else goes to
 * /dev/fuse as before. Every handler of pmfuse replies before it returns
 * (ops.c): so "the request this thread is serving" identifies the entry.
 *
 * Entry layout: the kernel writes the request's headers into `hdr` and its
 * data into `payload`; the data's buffer is preceded by room for the
 * headers, so that the request libfuse reads is contiguous without copying
 * the data. */
#define FUSE_USE_VERSION 317
#include <errno.h>
#include <liburing.h>
#include <linux/fuse.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fuse_lowlevel.h"
#include "clients.h"
#include "media.h"
#include "stop.h"
#include "uring.h"

/* The kernel's ABI (include/uapi/linux/fuse.h, protocol 7.42): not in the
 * headers of Debian 12 nor of libfuse 3.17. */
#define URING_HDR_SZ 128
#define URING_OP_SZ 128
struct uring_ent_in_out {
	uint64_t flags;
	uint64_t commit_id;
	uint32_t payload_sz;
	uint32_t padding;
	uint64_t reserved;
};
struct uring_req_header {
	char in_out[URING_HDR_SZ];
	char op_in[URING_OP_SZ];
	struct uring_ent_in_out ent;
};
enum { URING_CMD_REGISTER = 1, URING_CMD_COMMIT_AND_FETCH = 2 };
struct uring_cmd_req {
	uint64_t flags;
	uint64_t commit_id;
	uint16_t qid;
	uint8_t padding[6];
};

#define ENTRIES_PER_QUEUE 2
/* Two rings, and threads, register entries for each of the kernel's
 * queues: one pinned to the queue's CPU, one (the helper) that moves. A
 * client's requests go to the entry freed last (the kernel keeps them
 * LIFO). Requests that come while the first thread is busy (read-ahead,
 * writeback: several at once from one CPU) go to the helper; while one
 * client alone sends such bursts, the helper waits on the next CPU, which
 * is idle, and serves them there in parallel, as over /dev/fuse. Once a
 * synchronous client has landed on the helper, though, it stays there
 * (LIFO), and each answer from the next CPU must wake the client's idle
 * one (on this VM an IPI to a halted vCPU: W5 37 k IOPS against 50 k):
 * a helper that serves HELPER_ALONE_REQUESTS with no overlap moves to the
 * queue's CPU, and stays there until an overlap sends it back to the
 * next CPU. While several clients send requests, every CPU has a client
 * of its own and the helper moves to
 * its queue's CPU: once an overlap has made its entry the one freed last,
 * a synchronous client keeps landing on it (LIFO), and on the next CPU
 * each of those requests would wait for a wake-up on a CPU busy with
 * another client (W7: half the speed, in the runs where it happened). */
#define QUEUE_THREADS 2
#define HELPER_MOVE_NS 10000000u /* a helper moves at most every 10 ms */
/* requests that a helper serves since its last overlap (a request while
 * its queue's first thread served one, or had served one since the
 * helper's previous request): then no burst needs it on the next CPU, and
 * it serves on the client's own CPU (QUEUE_THREADS) */
#define HELPER_ALONE_REQUESTS 32
#define HEAD_ROOM 4096 /* before the payload: in header + op header */

struct entry {
	struct uring_req_header hdr;
	struct iovec iov[2];
	char *buf;          /* HEAD_ROOM + payload */
	uint64_t unique;    /* of the request being served */
	bool replied;
};

struct queue {
	struct pm_uring *u;
	unsigned qid;
	unsigned cpu;  /* where its thread runs now */
	unsigned away; /* a helper's CPU while one client alone sends requests */
	uint64_t moved; /* when a helper last moved */
	bool busy;      /* a first thread: serving a request (its helper reads it) */
	unsigned long served; /* a first thread: requests served (its helper reads it) */
	unsigned long seen;   /* a helper: the first thread's count at its previous request */
	bool overlap;   /* a helper: an overlap not yet acted on */
	unsigned alone; /* a helper: requests served since its last overlap */
	pthread_t tid;
	bool started;
	struct io_uring ring;
	struct entry ent[ENTRIES_PER_QUEUE];
};

struct pm_uring {
	struct fuse_session *se;
	int fd;
	uint64_t spin_ns;
	bool solo;     /* one client only: a thread polls after a request */
	bool stopping;
	bool announced; /* a request came through a ring (logged once; pm_uring_serving) */
	unsigned reported;  /* queue threads that have enabled their ring or failed */
	bool failed;        /* one of them failed: the INIT reply is left alone */
	pthread_mutex_t start_lock;
	pthread_cond_t all_reported;
	struct pm_clients clients;
	unsigned nq;       /* the kernel's queues: one per possible CPU */
	unsigned nthreads; /* rings and their threads: QUEUE_THREADS per queue */
	struct queue *q;
};

static __thread struct entry *serving;

/* The unique of the INIT request, while its reply is due: that reply gets
 * FUSE_OVER_IO_URING, which libfuse 3.17 does not know. With it the kernel
 * keeps the connection on io_uring even if enable_uring is switched off
 * later (a commit would fail then, and its request hang), and holds new
 * requests until the rings are registered (or their registration failed:
 * then it goes back to /dev/fuse). */
static uint64_t init_unique;
static bool ask_at_init; /* every queue has its ring: ask for io_uring */
#define OVER_IO_URING_FLAGS2 (1u << (41 - 32)) /* FUSE_OVER_IO_URING, protocol 7.42 */

static void mark_init_reply(struct iovec *iov, int count)
{
	struct fuse_init_out *out = count >= 2 ? iov[1].iov_base : NULL;

	/* libfuse sends the reply's argument whole in iov[1] */
	if (out && iov[1].iov_len >= offsetof(struct fuse_init_out, flags2) + sizeof(out->flags2) &&
	    (out->flags & FUSE_INIT_EXT))
		out->flags2 |= OVER_IO_URING_FLAGS2;
}

/* gather -- copy a reply's data (iov[1..]) into the entry's payload. Data
 * read straight from the pool mapping that the media lost must fail the
 * copy, every time, as the kernel's copy out of a reply written to
 * /dev/fuse does (EFAULT). A small reply is copied with
 * pm_media_copy_out(), which gives that without a system call (one costs
 * about 1 us here; process_vm_readv of 4 KiB 3-4 us, a sixth of the round
 * trip of a 4 KiB read). A big one (read-ahead) is copied by the kernel
 * (process_vm_readv on ourselves), whose cost is spread over the reply:
 * in a full benchmark run the user-space copy of 1 MiB replies read
 * 1.3-1.6 GB/s once the file had been idle for minutes (4.4 right after
 * it was written), where the kernel's copy read 2.7-3.6. */
#define BIG_REPLY (64u << 10)
static pid_t self; /* getpid() is a system call */

static int gather(struct entry *e, const struct iovec *iov, int count, size_t *len)
{
	char *to = e->iov[1].iov_base;
	size_t total = 0;

	for (int i = 1; i < count; i++)
		total += iov[i].iov_len;
	*len = total;
	if (total > e->iov[1].iov_len)
		return -EINVAL; /* cannot happen: replies fit max_read */
	if (total >= BIG_REPLY) {
		struct iovec local = { to, total };
		ssize_t n = process_vm_readv(self, &local, 1, iov + 1, (unsigned long)count - 1, 0);
		if (n == (ssize_t)total)
			return 0;
		return n < 0 && errno != EFAULT ? -errno : -EFAULT;
	}
	for (int i = 1; i < count; i++) {
		int err = pm_media_copy_out(to, iov[i].iov_base, iov[i].iov_len);
		if (err)
			return err;
		to += iov[i].iov_len;
	}
	return 0;
}

static ssize_t pm_uring_writev(int fd, struct iovec *iov, int count, void *userdata)
{
	struct entry *e = serving;
	(void)userdata;

	if (e && count > 0 && iov[0].iov_len == sizeof(struct fuse_out_header) &&
	    ((struct fuse_out_header *)iov[0].iov_base)->unique == e->unique) {
		struct fuse_out_header *oh = (struct fuse_out_header *)e->hdr.in_out;
		size_t len;
		int err = gather(e, iov, count, &len);

		memcpy(oh, iov[0].iov_base, sizeof(*oh));
		e->hdr.ent.payload_sz = err ? 0 : (uint32_t)len;
		e->replied = true;
		if (!err)
			return (ssize_t)(iov[0].iov_len + len);
		/* the request fails: EIO for the client, as over /dev/fuse, and
		 * the copy's error for libfuse and ops.c */
		oh->len = sizeof(*oh);
		oh->error = -EIO;
		errno = -err;
		return -1;
	}
	uint64_t init = __atomic_load_n(&init_unique, __ATOMIC_RELAXED);
	if (init && count > 0 && iov[0].iov_len == sizeof(struct fuse_out_header) &&
	    ((struct fuse_out_header *)iov[0].iov_base)->unique == init) {
		__atomic_store_n(&init_unique, 0, __ATOMIC_RELAXED);
		mark_init_reply(iov, count);
	}
	return writev(fd, iov, count);
}

static ssize_t pm_uring_read(int fd, void *buf, size_t len, void *userdata)
{
	ssize_t n = read(fd, buf, len);
	const struct fuse_in_header *in = buf;

	(void)userdata;
	if (n >= (ssize_t)sizeof(*in) && in->opcode == FUSE_INIT && ask_at_init)
		__atomic_store_n(&init_unique, in->unique, __ATOMIC_RELAXED);
	return n;
}

/* prep -- queue a command for entry e (the ring has room: it holds twice
 * as many SQEs as there are entries, and each entry has one command out) */
static void prep(struct queue *q, struct entry *e, unsigned op, uint64_t commit_id)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&q->ring);
	struct uring_cmd_req req = { .commit_id = commit_id, .qid = (uint16_t)q->qid };
	/* with IORING_SETUP_SQE128 an SQE is two of liburing's structs; the
	 * command is in the second half */
	unsigned char (*big)[128] = (void *)sqe;

	if (!sqe) {
		fuse_log(FUSE_LOG_ERR, "io_uring queue %u: no room in the ring\n", q->qid);
		abort(); /* cannot happen: see above */
	}
	memset(*big, 0, sizeof(*big));
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = q->u->fd;
	sqe->cmd_op = op;
	sqe->addr = (uint64_t)(uintptr_t)e->iov;
	sqe->len = 2;
	memcpy(*big + offsetof(struct io_uring_sqe, cmd), &req, sizeof(req));
	io_uring_sqe_set_data(sqe, e);
}

static bool is_helper(const struct queue *q)
{
	return q->away != q->qid;
}

/* note_overlap -- a helper takes a request: did the first thread of its
 * queue serve one beside it? A synchronous client keeps landing on one
 * entry (LIFO), so a request the first thread served in between means
 * requests came several at once. Both threads may share a CPU, where the
 * helper seldom finds the other one busy: hence the count too. */
static void note_overlap(struct queue *q)
{
	const struct queue *first = &q->u->q[q->qid];
	unsigned long served = __atomic_load_n(&first->served, __ATOMIC_RELAXED);

	if (__atomic_load_n(&first->busy, __ATOMIC_RELAXED) || served != q->seen) {
		q->overlap = true;
		q->alone = 0;
	} else if (q->alone < HELPER_ALONE_REQUESTS) {
		q->alone++;
	}
	q->seen = served;
}

static void serve(struct queue *q, struct entry *e)
{
	const struct fuse_in_header *in = (const struct fuse_in_header *)e->hdr.in_out;
	uint32_t payload = e->hdr.ent.payload_sz;
	size_t oplen = in->len >= sizeof(*in) + payload ? in->len - sizeof(*in) - payload : 0;

	if (oplen > URING_OP_SZ)
		oplen = URING_OP_SZ;
	char *start = e->buf + HEAD_ROOM - sizeof(*in) - oplen;
	memcpy(start, in, sizeof(*in));
	memcpy(start + sizeof(*in), e->hdr.op_in, oplen);
	struct fuse_buf fb = { .mem = start, .size = sizeof(*in) + oplen + payload };
	uint64_t commit = e->hdr.ent.commit_id;

	/* poll for the next request only while a single client sends them.
	 * Both flags are shared by every ring's thread: written only when
	 * they change, so that each request does not pull their cache line
	 * away from the other CPU. */
	bool solo = pm_clients_note(&q->u->clients, in->pid) <= 1;
	if (__atomic_load_n(&q->u->solo, __ATOMIC_RELAXED) != solo)
		__atomic_store_n(&q->u->solo, solo, __ATOMIC_RELAXED);
	if (!__atomic_load_n(&q->u->announced, __ATOMIC_RELAXED) &&
	    !__atomic_exchange_n(&q->u->announced, true, __ATOMIC_RELAXED))
		fuse_log(FUSE_LOG_NOTICE, "requests come over io_uring: %u queues, one per CPU\n", q->u->nq);
	e->unique = in->unique;
	e->replied = false;
	if (!is_helper(q))
		__atomic_store_n(&q->busy, true, __ATOMIC_RELAXED);
	else
		note_overlap(q);
	serving = e;
	fuse_session_process_buf(q->u->se, &fb);
	serving = NULL;
	if (!is_helper(q)) {
		__atomic_store_n(&q->busy, false, __ATOMIC_RELAXED);
		__atomic_store_n(&q->served, q->served + 1, __ATOMIC_RELAXED);
	}
	if (!e->replied) { /* no handler answered: the request must end */
		struct fuse_out_header oh = { .len = sizeof(oh), .error = -EIO, .unique = e->unique };
		memcpy(e->hdr.in_out, &oh, sizeof(oh));
		e->hdr.ent.payload_sz = 0;
	}
	prep(q, e, URING_CMD_COMMIT_AND_FETCH, commit);
}

/* ready -- a queue thread has its ring (ok) or has given up: the last one
 * lets pm_uring_start() return */
static void ready(struct pm_uring *u, bool ok)
{
	pthread_mutex_lock(&u->start_lock);
	if (!ok)
		u->failed = true;
	if (++u->reported == u->nthreads)
		pthread_cond_signal(&u->all_reported);
	pthread_mutex_unlock(&u->start_lock);
}

static void pin(unsigned cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

/* place_helper -- a helper goes where its requests are best served now
 * (QUEUE_THREADS); at most every HELPER_MOVE_NS, so that a client count
 * that flickers does not make it move on every request */
static void place_helper(struct queue *q)
{
	unsigned want = q->qid;

	if (__atomic_load_n(&q->u->solo, __ATOMIC_RELAXED)) {
		if (q->overlap)
			want = q->away;
		else if (q->alone < HELPER_ALONE_REQUESTS)
			want = q->cpu;
	}
	if (want == q->cpu) {
		q->overlap = false;
		return;
	}
	uint64_t now = pm_now_ns();
	if (now - q->moved < HELPER_MOVE_NS)
		return; /* an overlap waits for the next call */
	q->overlap = false;
	q->moved = now;
	q->cpu = want;
	pin(want);
}

static void *queue_thread(void *arg)
{
	struct queue *q = arg;
	char name[16];

	snprintf(name, sizeof(name), "pmfuse-ring%u%s", q->qid, is_helper(q) ? "b" : "");
	pthread_setname_np(pthread_self(), name);
	pin(q->cpu);
	/* a single-issuer ring belongs to the thread that enables it
	 * (liburing 2.3 declares io_uring_enable_rings() but lacks it) */
	if (syscall(__NR_io_uring_register, q->ring.ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0) < 0) {
		fuse_log(FUSE_LOG_WARNING, "io_uring queue %u: %s; requests stay on /dev/fuse\n", q->qid,
			 strerror(errno));
		ready(q->u, false);
		return NULL;
	}
	ready(q->u, true);
	for (unsigned i = 0; i < ENTRIES_PER_QUEUE; i++)
		prep(q, &q->ent[i], URING_CMD_REGISTER, 0);
	/* serve until the kernel ends the connection (unmount) or
	 * pm_uring_stop() knocks: requests keep coming until the unmount */
	while (!__atomic_load_n(&q->u->stopping, __ATOMIC_RELAXED)) {
		struct io_uring_cqe *cqe;
		int r = io_uring_submit_and_get_events(&q->ring);
		uint64_t start = q->u->spin_ns ? pm_now_ns() : 0;

		/* like loop.c's turn mode: the client that just had its
		 * answer is likely to send the next request at once */
		while (r >= 0 && !io_uring_cq_ready(&q->ring) && q->u->spin_ns &&
		       __atomic_load_n(&q->u->solo, __ATOMIC_RELAXED) &&
		       pm_now_ns() - start < q->u->spin_ns) {
			sched_yield();
			r = io_uring_get_events(&q->ring);
		}
		if (r >= 0 && !io_uring_cq_ready(&q->ring))
			r = io_uring_submit_and_wait(&q->ring, 1);

		if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY)
			break;
		unsigned head, seen = 0;
		bool stop = false;
		io_uring_for_each_cqe(&q->ring, head, cqe) {
			struct entry *e = io_uring_cqe_get_data(cqe);
			seen++;
			if (cqe->res == -EAGAIN) { /* the kernel has not had our INIT reply yet */
				usleep(1000);
				prep(q, e, URING_CMD_REGISTER, 0);
			} else if (cqe->res < 0) {
				/* the connection ended: ENOTCONN, ECANCELED, or
				 * ECONNABORTED for a command submitted after the
				 * unmount aborted it (a commit racing the unmount) */
				if (cqe->res != -ENOTCONN && cqe->res != -ECANCELED &&
				    cqe->res != -ECONNABORTED)
					fuse_log(FUSE_LOG_WARNING, "io_uring queue %u: %s; requests stay "
						 "on /dev/fuse\n", q->qid, strerror(-cqe->res));
				stop = true;
			} else {
				serve(q, e);
			}
		}
		io_uring_cq_advance(&q->ring, seen);
		if (stop)
			break;
		if (is_helper(q))
			place_helper(q);
	}
	return NULL;
}

bool pm_uring_serving(const struct pm_uring *u)
{
	return u && __atomic_load_n(&u->announced, __ATOMIC_RELAXED);
}

void pm_uring_stop(struct pm_uring *u)
{
	if (!u)
		return;
	__atomic_store_n(&u->stopping, true, __ATOMIC_RELAXED);
	for (unsigned i = 0; i < u->nthreads; i++) {
		if (u->q[i].started)
			pm_stop_join(u->q[i].tid);
		if (u->q[i].ring.ring_fd >= 0)
			io_uring_queue_exit(&u->q[i].ring);
		for (unsigned j = 0; j < ENTRIES_PER_QUEUE; j++)
			free(u->q[i].ent[j].buf);
	}
	free(u->q);
	free(u);
}

#define ENABLE_URING "/sys/module/fuse/parameters/enable_uring"

/* possible_cpus -- the kernel makes a queue per possible CPU, numbered
 * from 0, and takes requests over the rings only once each has an entry */
static unsigned possible_cpus(void)
{
	FILE *f = fopen("/sys/devices/system/cpu/possible", "re");
	unsigned first = 0, last = 0;
	int n = f ? fscanf(f, "%u-%u", &first, &last) : 0;

	if (f)
		fclose(f);
	if (n == 2 && first == 0)
		return last + 1;
	long c = sysconf(_SC_NPROCESSORS_CONF);
	return c > 0 ? (unsigned)c : 1;
}

bool pm_uring_enabled(void)
{
	FILE *f = fopen(ENABLE_URING, "re");
	int c = f ? fgetc(f) : EOF;

	if (f)
		fclose(f);
	return c == 'Y';
}

int pm_uring_switch_on(void)
{
	FILE *f = fopen(ENABLE_URING, "we");
	int ret = f && fputs("Y\n", f) >= 0 ? 0 : -errno;

	if (f && fclose(f) != 0 && !ret)
		ret = -errno;
	return ret;
}

int pm_uring_start(struct fuse_session *se, unsigned spin_us, struct pm_uring **out)
{
	static const struct fuse_custom_io io = { .writev = pm_uring_writev, .read = pm_uring_read };
	struct pm_uring *u = calloc(1, sizeof(*u));
	/* the kernel's max_payload_sz: max_write and max_pages are at most
	 * libfuse's 256 pages */
	size_t max_payload = 256 * (size_t)sysconf(_SC_PAGESIZE);
	int ret = 0;

	if (!u)
		return -ENOMEM;
	u->se = se;
	u->fd = fuse_session_fd(se);
	u->spin_ns = (uint64_t)spin_us * 1000;
	u->solo = true; /* no client yet: the helpers start on the next CPU */
	self = getpid();
	u->nq = possible_cpus();
	u->nthreads = u->nq > 1 ? u->nq * QUEUE_THREADS : u->nq;
	u->q = calloc(u->nthreads, sizeof(*u->q));
	if (!u->q) {
		free(u);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < u->nthreads; i++)
		u->q[i].ring.ring_fd = -1;
	for (unsigned i = 0; i < u->nthreads && !ret; i++) {
		struct queue *q = &u->q[i];
		q->u = u;
		q->qid = i % u->nq;
		q->away = (q->qid + i / u->nq) % u->nq;
		q->cpu = q->away;
		/* made here, so that a failure leaves the session on /dev/fuse;
		 * disabled until its thread takes it */
		ret = io_uring_queue_init(ENTRIES_PER_QUEUE * 2, &q->ring,
					  IORING_SETUP_SQE128 | IORING_SETUP_SINGLE_ISSUER |
					  IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_R_DISABLED);
		if (ret < 0)
			q->ring.ring_fd = -1;
		for (unsigned j = 0; j < ENTRIES_PER_QUEUE && !ret; j++) {
			struct entry *e = &q->ent[j];
			e->buf = aligned_alloc(4096, HEAD_ROOM + max_payload);
			if (!e->buf)
				ret = -ENOMEM;
			e->iov[0] = (struct iovec){ &e->hdr, sizeof(e->hdr) };
			e->iov[1] = (struct iovec){ e->buf + HEAD_ROOM, max_payload };
		}
	}
	if (!ret)
		ret = fuse_session_custom_io(se, &io, sizeof(io), u->fd);
	if (ret) {
		pm_uring_stop(u);
		return ret;
	}
	pthread_mutex_init(&u->start_lock, NULL);
	pthread_cond_init(&u->all_reported, NULL);
	for (unsigned i = 0; i < u->nthreads; i++) {
		if (pthread_create(&u->q[i].tid, NULL, queue_thread, &u->q[i]) == 0)
			u->q[i].started = true;
		else
			ready(u, false);
	}
	/* before the INIT request is read: its reply asks for io_uring only if
	 * every queue will register (else the kernel would hold requests for
	 * a ring that never gets ready) */
	pthread_mutex_lock(&u->start_lock);
	while (u->reported < u->nthreads)
		pthread_cond_wait(&u->all_reported, &u->start_lock);
	if (!u->failed)
		ask_at_init = true;
	pthread_mutex_unlock(&u->start_lock);
	*out = u;
	return 0;
}
