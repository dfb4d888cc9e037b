/* media.c -- libpmem2 mapping of the pool and its persistence functions */
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <signal.h>
#include <sys/mman.h>
#include <libpmem2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "counters.h"
#include "err.h"
#include "media.h"
#include "stream.h"

struct pm_media {
	int fd;
	struct pmem2_source *src;
	struct pmem2_map *map;
	void *base;
	size_t size;
	enum pmem2_granularity gran;
	bool map_sync;
	bool in_ram;             /* page granularity on tmpfs/ramfs: msync is a no-op */
	bool resident;           /* a file whose pages are memory (tmpfs, ramfs, DAX) */
	pmem2_flush_fn flush;
	pmem2_drain_fn drain;
	pmem2_persist_fn persist;
	pmem2_memcpy_fn memcpy_fn;
	pmem2_memset_fn memset_fn;
	bool emulate;            /* crash emulation: base is a private copy */
	uint64_t events, crash_at;
	struct pm_counters ctr; /* enum media_stat, per CPU */
	uint64_t faults;     /* SIGBUS taken in the mapping (media errors) */
	uint64_t fault_off;  /* pool offset of the last one */
};

/* statistics (pm_media_counts) */
enum media_stat {
	FLUSHES,
	DRAINS,
	FLUSHED,    /* bytes */
	STREAMED,   /* bytes stored with non-temporal stores */
	OS_FLUSHES, /* flushes for the OS (msyncs on page granularity, made or elided) */
	STATS
};

/* --- media errors ------------------------------------------------------
 * A load or store in the mapping that the media cannot serve (the pool
 * file truncated under the daemon, a poisoned line on DAX) raises SIGBUS.
 * The handler maps an anonymous zero page over the faulting page and
 * returns, so the access completes (reads see zeros, stores go nowhere)
 * with no unwinding through code that holds locks; it notes the fault for
 * the thread, whose request then fails with EIO (pm_media_fault_taken),
 * and the file system above turns read-only. A SIGBUS outside every pool
 * mapping is not ours: the default action (a core dump) is restored.
 * Inside pm_media_copy_out() the handler leaves the page as it is and
 * jumps out of the copy instead: the copy fails, and so will the next. */
#define MAPPINGS 8
static struct pm_media *mappings[MAPPINGS];
static __thread bool fault_taken;
static __thread sigjmp_buf *copy_guard;

static bool cover_page(uintptr_t addr, size_t page)
{
	void *p = (void *)(addr & ~(uintptr_t)(page - 1));

	return mmap(p, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == p;
}

static void on_sigbus(int sig, siginfo_t *si, void *uctx)
{
	uintptr_t a = (uintptr_t)si->si_addr;

	(void)uctx;
	for (unsigned i = 0; i < MAPPINGS; i++) {
		struct pm_media *m = __atomic_load_n(&mappings[i], __ATOMIC_ACQUIRE);
		uintptr_t b = m ? (uintptr_t)m->base : 0;

		if (!m || a < b || a >= b + m->size)
			continue;
		sigjmp_buf *guard = copy_guard;
		if (guard) {
			copy_guard = NULL;
			siglongjmp(*guard, 1);
		}
		/* device DAX splits its mapping only at its own alignment */
		if (!cover_page(a, 4096) && !cover_page(a, 2u << 20))
			break;
		__atomic_store_n(&m->fault_off, (uint64_t)(a - b), __ATOMIC_RELAXED);
		__atomic_add_fetch(&m->faults, 1, __ATOMIC_RELEASE);
		fault_taken = true;
		return;
	}
	signal(sig, SIG_DFL); /* returning re-runs the access: it dies as it would have */
}

static void install_sigbus(void)
{
	struct sigaction sa = { .sa_sigaction = on_sigbus, .sa_flags = SA_SIGINFO | SA_NODEFER };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);
}

static void watch(struct pm_media *m)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, install_sigbus);
	for (unsigned i = 0; i < MAPPINGS; i++) {
		struct pm_media *none = NULL;
		if (__atomic_compare_exchange_n(&mappings[i], &none, m, false, __ATOMIC_RELEASE, __ATOMIC_RELAXED))
			return;
	}
	/* more pools than slots in one process (tests): unguarded */
}

static void unwatch(struct pm_media *m)
{
	for (unsigned i = 0; i < MAPPINGS; i++) {
		struct pm_media *mine = m;
		__atomic_compare_exchange_n(&mappings[i], &mine, NULL, false, __ATOMIC_RELEASE, __ATOMIC_RELAXED);
	}
}

/* parse_fake -- PMFUSE_FAKE_BADBLOCKS=OFF:LEN[,OFF:LEN...] (bytes), a
 * testing aid: no emulated pmem has a bad-block list */
static size_t parse_fake(const char *s, struct pm_media_range *out, size_t max)
{
	size_t n = 0;

	while (s && *s && n < max) {
		char *end;
		unsigned long long off = strtoull(s, &end, 0), len;
		if (*end != ':')
			break;
		len = strtoull(end + 1, &end, 0);
		if (len)
			out[n++] = (struct pm_media_range){ off, len };
		if (*end != ',')
			break;
		s = end + 1;
	}
	return n;
}

size_t pm_media_badblocks(struct pm_media *m, struct pm_media_range *out, size_t max)
{
	struct pmem2_badblock_context *ctx = NULL;
	struct pmem2_badblock bb;
	const char *fake = getenv("PMFUSE_FAKE_BADBLOCKS");
	size_t n = 0;

	if (fake)
		return parse_fake(fake, out, max);
	if (m->emulate || !m->src)
		return 0;
	/* where libpmem2 cannot tell (a file on a file system without
	 * persistent memory under it), there is no list: nothing known */
	if (pmem2_badblock_context_new(&ctx, m->src) != 0)
		return 0;
	while (n < max && pmem2_badblock_next(ctx, &bb) == 0)
		out[n++] = (struct pm_media_range){ bb.offset, bb.length };
	pmem2_badblock_context_delete(&ctx);
	return n;
}

bool pm_media_fault_taken(void)
{
	bool was = fault_taken;

	fault_taken = false;
	return was;
}

int pm_media_copy_out(void *dst, const void *src, size_t n)
{
	sigjmp_buf env;

	if (sigsetjmp(env, 0)) { /* a media error in src: see on_sigbus() */
		/* SA_NODEFER left SIGBUS unblocked, unless a wrapper of the
		 * handler (ThreadSanitizer's) blocked it: the next one would
		 * kill us. Only this rare path pays for the system call. */
		sigset_t bus;
		sigemptyset(&bus);
		sigaddset(&bus, SIGBUS);
		pthread_sigmask(SIG_UNBLOCK, &bus, NULL);
		return -EFAULT;
	}
	copy_guard = &env;
	__atomic_signal_fence(__ATOMIC_SEQ_CST); /* armed before the first load */
	memcpy(dst, src, n);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	copy_guard = NULL;
	return 0;
}

uint64_t pm_media_faults(const struct pm_media *m, uint64_t *last_off)
{
	if (last_off)
		*last_off = __atomic_load_n(&m->fault_off, __ATOMIC_RELAXED);
	return __atomic_load_n(&m->faults, __ATOMIC_ACQUIRE);
}

#define CACHE_LINE 64u
#define TMPFS_FS_MAGIC 0x01021994
#define RAMFS_FS_MAGIC 0x858458f6

/* backed_by_ram -- is the file on tmpfs or ramfs? Their fsync is
 * noop_fsync: an msync(2) there reaches no further than the stores did
 * (the page cache), and a power failure loses the pool either way. */
static bool backed_by_ram(int fd)
{
	struct statfs sfs;

	if (fstatfs(fd, &sfs) < 0)
		return false;
	return (unsigned long)sfs.f_type == TMPFS_FS_MAGIC || (unsigned long)sfs.f_type == RAMFS_FS_MAGIC;
}

static uint64_t armed_crash_at;

void pm_media_arm_crash(uint64_t n)
{
	armed_crash_at = n;
}

static int lock_pool(int fd, const char *path, unsigned flags)
{
	if (flags & PM_MEDIA_NOLOCK)
		return 0;
	if (flock(fd, ((flags & PM_MEDIA_RDONLY) ? LOCK_SH : LOCK_EX) | LOCK_NB) == 0)
		return 0;
	if (errno == EWOULDBLOCK)
		return pm_err(EBUSY, "%s is already mounted or in use (locked by another process)", path);
	return pm_err(errno, "cannot lock %s: %s", path, strerror(errno));
}

int pm_media_open(const char *path, unsigned flags, struct pm_media **out)
{
	struct pm_media *m = calloc(1, sizeof(*m));
	struct pmem2_config *cfg = NULL;
	struct stat st;
	int ret;

	if (!m || pm_counters_init(&m->ctr, STATS)) {
		free(m);
		return pm_err(ENOMEM, "out of memory");
	}
	m->fd = open(path, ((flags & PM_MEDIA_RDONLY) ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (m->fd < 0) {
		ret = pm_err(errno, "cannot open %s: %s", path, strerror(errno));
		goto err_free;
	}
	if (fstat(m->fd, &st) < 0 || !(S_ISREG(st.st_mode) || S_ISCHR(st.st_mode))) {
		ret = pm_err(EINVAL, "%s is neither a regular file nor a device-DAX node", path);
		goto err_close;
	}
	ret = lock_pool(m->fd, path, flags);
	if (ret)
		goto err_close;
	if (pmem2_source_from_fd(&m->src, m->fd)) {
		ret = pm_err(EINVAL, "%s: %s", path, pmem2_errormsg());
		goto err_close;
	}
	if (pmem2_source_size(m->src, &m->size)) {
		ret = pm_err(EINVAL, "%s: %s", path, pmem2_errormsg());
		goto err_source;
	}
	if (m->size == 0) {
		ret = pm_err(EINVAL, "%s is empty: not a pmfuse pool (create one with mkfs.pmfuse)", path);
		goto err_source;
	}
	if (flags & PM_MEDIA_EMULATE) {
		/* MAP_PRIVATE: stores stay in this process until flushed */
		m->base = mmap(NULL, m->size, PROT_READ | PROT_WRITE, MAP_PRIVATE, m->fd, 0);
		if (m->base == MAP_FAILED) {
			ret = pm_err(errno, "cannot map %s: %s", path, strerror(errno));
			goto err_source;
		}
		m->emulate = true;
		m->crash_at = armed_crash_at;
		m->gran = PMEM2_GRANULARITY_CACHE_LINE;
		watch(m);
		*out = m;
		return 0;
	}
	if (pmem2_config_new(&cfg)) {
		ret = pm_err(ENOMEM, "%s", pmem2_errormsg());
		goto err_source;
	}
	/* PAGE accepts emulated pmem (msync); real pmem still gives CACHE_LINE
	 * or BYTE, and MAP_SYNC where the file system offers it. */
	pmem2_config_set_required_store_granularity(cfg, PMEM2_GRANULARITY_PAGE);
	if (flags & PM_MEDIA_RDONLY)
		pmem2_config_set_protection(cfg, PMEM2_PROT_READ);
	if (pmem2_map_new(&m->map, cfg, m->src)) {
		ret = pm_err(EIO, "cannot map %s: %s", path, pmem2_errormsg());
		goto err_config;
	}
	pmem2_config_delete(&cfg);
	m->base = pmem2_map_get_address(m->map);
	m->size = pmem2_map_get_size(m->map);
	m->gran = pmem2_map_get_store_granularity(m->map);
	m->map_sync = m->gran != PMEM2_GRANULARITY_PAGE;
	m->resident = S_ISREG(st.st_mode) && (backed_by_ram(m->fd) || m->map_sync);
	m->in_ram = m->gran == PMEM2_GRANULARITY_PAGE && m->resident;
	m->flush = pmem2_get_flush_fn(m->map);
	m->drain = pmem2_get_drain_fn(m->map);
	m->persist = pmem2_get_persist_fn(m->map);
	m->memcpy_fn = pmem2_get_memcpy_fn(m->map);
	m->memset_fn = pmem2_get_memset_fn(m->map);
	watch(m);
	*out = m;
	return 0;

err_config:
	pmem2_config_delete(&cfg);
err_source:
	pmem2_source_delete(&m->src);
err_close:
	close(m->fd);
err_free:
	pm_counters_fini(&m->ctr);
	free(m);
	return ret;
}

/* With page granularity a flush is an msync(2), whose cost is mostly the
 * system call (and, on a disk-backed file, the file system's commit).
 * Flushes are durable only after a drain, so this thread's flushes are
 * gathered into a few spans and msynced at its next drain: a transaction
 * that touched four ranges costs one or two calls, not four. A span never
 * grows past SPAN_MAX, so that on a disk-backed pool an msync does not
 * write back unrelated dirty pages in between. (Crash emulation keeps
 * every flush exact.) */
#define SPANS 4
#define SPAN_MAX (1u << 20)

static void os_flush(struct pm_media *m, const void *addr, size_t len)
{
	pm_counters_add(&m->ctr, OS_FLUSHES, 1);
	/* measured on this project's 2-CPU VM: a quarter of the daemon's time
	 * in rm -rf went to msyncs that did nothing */
	if (!m->in_ram)
		m->flush(addr, len);
}

uint64_t pm_media_os_flushes(const struct pm_media *m)
{
	return pm_counters_get(&m->ctr, OS_FLUSHES);
}

static __thread struct {
	struct pm_media *m;
	unsigned n;
	struct { uintptr_t lo, hi; } s[SPANS];
} spans;

static void span_sync(void)
{
	for (unsigned i = 0; i < spans.n; i++)
		os_flush(spans.m, (void *)spans.s[i].lo, spans.s[i].hi - spans.s[i].lo);
	spans.n = 0;
	spans.m = NULL;
}

static void span_add(struct pm_media *m, const void *addr, size_t len)
{
	uintptr_t lo = (uintptr_t)addr, hi = lo + len;

	if (spans.m != m)
		span_sync();
	spans.m = m;
	for (unsigned i = 0; i < spans.n; i++) {
		uintptr_t nlo = lo < spans.s[i].lo ? lo : spans.s[i].lo;
		uintptr_t nhi = hi > spans.s[i].hi ? hi : spans.s[i].hi;
		if (nhi - nlo <= SPAN_MAX) {
			spans.s[i].lo = nlo;
			spans.s[i].hi = nhi;
			return;
		}
	}
	if (spans.n == SPANS || len > SPAN_MAX) {
		os_flush(m, addr, len); /* far from the others, or large itself */
		return;
	}
	spans.s[spans.n].lo = lo;
	spans.s[spans.n].hi = hi;
	spans.n++;
}

void pm_media_delete(struct pm_media **mp)
{
	struct pm_media *m = *mp;

	if (!m)
		return;
	if (spans.m == m)
		span_sync(); /* every flush is followed by a drain: defensive */
	unwatch(m);
	if (m->emulate)
		munmap(m->base, m->size);
	else
		pmem2_map_delete(&m->map);
	pmem2_source_delete(&m->src);
	close(m->fd); /* drops the pool lock */
	pm_counters_fini(&m->ctr);
	free(m);
	*mp = NULL;
}

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22 /* Linux 5.14 */
#endif
#define PREFAULT_STEP (4u << 20) /* per madvise: how soon a stop is seen */

/* touch_pages -- read a byte of every page. Where the hypervisor keeps
 * shadow page tables (a PVM guest), a page the guest has mapped still
 * costs an exit to the host on this process's first access to it, about
 * 5 us, or 11 us for a first write: a first pass of writes over mapped
 * pages ran at 350-800 MiB/s and, after a read of each page, at 170 GB/s
 * (README step 22). Elsewhere this is a TLB miss per page. */
static void touch_pages(const uint8_t *p, size_t len)
{
	const size_t page = 4096;
	uint8_t sum = 0;

	for (size_t i = 0; i < len; i += page)
		sum ^= *(const volatile uint8_t *)(p + i);
	(void)sum;
}

int64_t pm_media_prefault(struct pm_media *m, const atomic_bool *stop)
{
	int64_t done = 0;
	off_t off = 0, end;

	if (!m->resident || m->emulate)
		return 0;
	/* holes stay holes: a read fault there would allocate the page */
	while (!atomic_load(stop) && (off = lseek(m->fd, off, SEEK_DATA)) >= 0 &&
	       (uint64_t)off < m->size) {
		end = lseek(m->fd, off, SEEK_HOLE);
		if (end < 0 || (uint64_t)end > m->size)
			end = (off_t)m->size;
		for (; off < end && !atomic_load(stop); off += PREFAULT_STEP) {
			size_t len = (size_t)(end - off) < PREFAULT_STEP ? (size_t)(end - off) : PREFAULT_STEP;

			if (madvise((char *)m->base + off, len, MADV_POPULATE_READ) != 0)
				return -errno; /* EINVAL: a kernel before 5.14 */
			touch_pages((const uint8_t *)m->base + off, len);
			done += (int64_t)len;
		}
		off = end;
	}
	return done;
}

void *pm_media_base(const struct pm_media *m) { return m->base; }
size_t pm_media_size(const struct pm_media *m) { return m->size; }
bool pm_media_map_sync(const struct pm_media *m) { return m->map_sync; }
bool pm_media_in_ram(const struct pm_media *m) { return m->in_ram; }

const char *pm_media_granularity(const struct pm_media *m)
{
	switch (m->gran) {
	case PMEM2_GRANULARITY_BYTE: return "BYTE";
	case PMEM2_GRANULARITY_CACHE_LINE: return "CACHE_LINE";
	default: return "PAGE";
	}
}

void pm_media_crash_at(struct pm_media *m, uint64_t n)
{
	m->crash_at = n;
}

uint64_t pm_media_events(const struct pm_media *m)
{
	return __atomic_load_n(&m->events, __ATOMIC_RELAXED);
}

/* event -- count a flush or drain; the crash point is a power failure */
static void event(struct pm_media *m)
{
	uint64_t n = __atomic_add_fetch(&m->events, 1, __ATOMIC_SEQ_CST);

	if (m->crash_at && n >= m->crash_at)
		raise(SIGKILL);
}

/* emulated_flush -- the cache lines of a range reach the pool file */
static void emulated_flush(struct pm_media *m, const void *addr, size_t len)
{
	uintptr_t b = (uintptr_t)m->base;
	uintptr_t lo = ((uintptr_t)addr - b) & ~(uintptr_t)(CACHE_LINE - 1);
	uintptr_t hi = ((uintptr_t)addr - b + len + CACHE_LINE - 1) & ~(uintptr_t)(CACHE_LINE - 1);

	if (hi > m->size)
		hi = m->size;
	while (lo < hi) {
		ssize_t n = pwrite(m->fd, (const char *)m->base + lo, hi - lo, (off_t)lo);
		if (n <= 0 && errno != EINTR)
			abort(); /* the emulated media is gone: nothing sane to do */
		if (n > 0)
			lo += (uintptr_t)n;
	}
}

void pm_media_counts(const struct pm_media *m, uint64_t *flushes, uint64_t *drains, uint64_t *bytes)
{
	*flushes = pm_counters_get(&m->ctr, FLUSHES);
	*drains = pm_counters_get(&m->ctr, DRAINS);
	*bytes = pm_counters_get(&m->ctr, FLUSHED);
}

uint64_t pm_media_streamed(const struct pm_media *m)
{
	return pm_counters_get(&m->ctr, STREAMED);
}

void pm_media_flush(struct pm_media *m, const void *addr, size_t len)
{
	if (!len)
		return;
	uint64_t *ctr = pm_counters_here(&m->ctr);
	pm_counters_bump(ctr, FLUSHES, 1);
	pm_counters_bump(ctr, FLUSHED, len);
	if (m->emulate) {
		event(m);
		emulated_flush(m, addr, len);
		return;
	}
	if (m->gran == PMEM2_GRANULARITY_PAGE)
		span_add(m, addr, len);
	else
		os_flush(m, addr, len);
}

void pm_media_drain(struct pm_media *m)
{
	pm_counters_add(&m->ctr, DRAINS, 1);
	if (m->emulate) {
		event(m);
		return;
	}
	span_sync();
	m->drain();
}

void pm_media_persist(struct pm_media *m, const void *addr, size_t len)
{
	if (!len)
		return;
	if (m->emulate || m->gran == PMEM2_GRANULARITY_PAGE) {
		pm_media_flush(m, addr, len);
		pm_media_drain(m);
		return;
	}
	uint64_t *ctr = pm_counters_here(&m->ctr);
	pm_counters_bump(ctr, FLUSHES, 1);
	pm_counters_bump(ctr, FLUSHED, len);
	pm_counters_bump(ctr, DRAINS, 1);
	m->persist(addr, len);
}

/* store -- copy src into the pool, or zero the range when src is NULL.
 * With nt_allowed, a store of at least PM_MEDIA_NT_MIN bytes bypasses the
 * CPU caches (the lines written are cold: ordinary stores would read each
 * from memory first). On media that need no page-sized flush (cache-line
 * or byte granularity) libpmem2 does it, flushing the partial cache lines
 * at either end itself, and the range is durable at the next drain:
 * returns true. At page granularity stream.c does it: libpmem2 1.12 makes
 * non-temporal stores there only with an msync of the range after every
 * call (a synchronous write-back per request on a disk-backed pool), and
 * checks PMEM2_F_MEM_NOFLUSH first, so NONTEMPORAL|NOFLUSH silently gives
 * ordinary stores. The range still needs its page flush: returns false,
 * as does any other store, which flushes nothing. Emulation models only
 * flushed cache lines, so it never takes the non-temporal path. */
static bool store(struct pm_media *m, void *dst, const void *src, size_t len, bool nt_allowed)
{
	bool big = nt_allowed && !m->emulate && len >= PM_MEDIA_NT_MIN;
	bool nt = big && m->gran != PMEM2_GRANULARITY_PAGE;
	unsigned flags = nt ? PMEM2_F_MEM_NONTEMPORAL | PMEM2_F_MEM_NODRAIN : PMEM2_F_MEM_NOFLUSH;
	bool streamed = nt;

	if (m->emulate && src)
		memcpy(dst, src, len);
	else if (m->emulate)
		memset(dst, 0, len);
	else if (big && !nt && src)
		streamed = pm_stream_copy(dst, src, len);
	else if (big && !nt)
		streamed = pm_stream_zero(dst, len);
	else if (src)
		m->memcpy_fn(dst, src, len, flags);
	else
		m->memset_fn(dst, 0, len, flags);
	if (streamed)
		pm_counters_add(&m->ctr, STREAMED, len);
	if (nt)
		pm_counters_add(&m->ctr, FLUSHED, len);
	return nt;
}

void pm_media_copy(struct pm_media *m, void *dst, const void *src, size_t len)
{
	store(m, dst, src, len, false);
}

bool pm_media_copy_nt(struct pm_media *m, void *dst, const void *src, size_t len)
{
	return store(m, dst, src, len, true);
}

bool pm_media_zero_nt(struct pm_media *m, void *dst, size_t len)
{
	return store(m, dst, NULL, len, true);
}

void pm_media_zero(struct pm_media *m, void *dst, size_t len)
{
	store(m, dst, NULL, len, false);
}
