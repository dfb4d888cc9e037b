/* media.h -- the persistence domain: the mapped pool and how bytes in it
 * become durable (libpmem2 flush/drain/persist/memcpy). The only module
 * that knows about libpmem2. */
#ifndef PM_MEDIA_H
#define PM_MEDIA_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum pm_media_flags {
	PM_MEDIA_RDONLY = 1 << 0,  /* map read-only; shared lock only */
	PM_MEDIA_NOLOCK = 1 << 1,  /* take no lock (tests) */
	/* crash emulation (a testing aid): work on a volatile copy; only
	 * flushed ranges, rounded to cache lines, reach the pool file, so a
	 * kill leaves what a power failure would */
	PM_MEDIA_EMULATE = 1 << 2,
};

struct pm_media;

/* pm_media_open -- open, lock (exclusive unless RDONLY) and map a pool
 * file or device-DAX node. */
int pm_media_open(const char *path, unsigned flags, struct pm_media **out);
void pm_media_delete(struct pm_media **m);

/* pm_media_crash_at -- with crash emulation: SIGKILL ourselves at the nth
 * flush-or-drain event (0: never) */
void pm_media_crash_at(struct pm_media *m, uint64_t n);
/* pm_media_arm_crash -- the crash point of the next emulated open, so that
 * recovery at open can be crashed too (counted from that open) */
void pm_media_arm_crash(uint64_t n);
/* pm_media_events -- flush and drain events so far (crash emulation) */
uint64_t pm_media_events(const struct pm_media *m);
/* pm_media_counts -- flush calls, drains and bytes flushed so far */
void pm_media_counts(const struct pm_media *m, uint64_t *flushes, uint64_t *drains, uint64_t *bytes);

void *pm_media_base(const struct pm_media *m);
size_t pm_media_size(const struct pm_media *m);
/* "BYTE", "CACHE_LINE" or "PAGE": what libpmem2 reported for this mapping */
const char *pm_media_granularity(const struct pm_media *m);
bool pm_media_map_sync(const struct pm_media *m);
/* in_ram -- page granularity on a tmpfs or ramfs file: msync(2) is a no-op
 * in the kernel there, so flushes make no system call (durability is that
 * of RAM either way: a crashed daemon loses nothing, power loss all) */
bool pm_media_in_ram(const struct pm_media *m);

/* prefault -- map the pool's pages that hold data into this process's page
 * tables (MADV_POPULATE_READ), a few MiB at a time until *stop, so that
 * later accesses, and the kernel's copies of read replies out of the
 * mapping, find them mapped instead of faulting each page in. Only where
 * the pages are memory (a file on tmpfs, ramfs or DAX); holes are skipped.
 * Bytes mapped, or a negative errno. */
int64_t pm_media_prefault(struct pm_media *m, const atomic_bool *stop);

/* fault_taken -- did this thread take a media error (SIGBUS in a pool
 * mapping) since the last call? Clears it. The faulting page now reads as
 * zeros and ignores stores; the caller fails its request with EIO. */
bool pm_media_fault_taken(void);
/* copy_out -- memcpy(dst, src, n) for a src that may lie in a pool
 * mapping: 0, or -EFAULT when the media cannot serve part of it (as the
 * kernel's own copy out of the mapping fails). Unlike other accesses the
 * faulting page is not replaced by zeros and no fault is counted: every
 * later copy of it fails too. dst must not be in a pool mapping. */
int pm_media_copy_out(void *dst, const void *src, size_t n);
/* faults -- media errors taken so far; *last_off: pool offset of the last */
uint64_t pm_media_faults(const struct pm_media *m, uint64_t *last_off);

/* badblocks -- the known bad ranges of the pool's media, in bytes from its
 * start, as libpmem2 reports them (up to max; 0 where it cannot tell).
 * PMFUSE_FAKE_BADBLOCKS=OFF:LEN[,...] replaces the list (a testing aid). */
struct pm_media_range {
	uint64_t off, len;
};
size_t pm_media_badblocks(struct pm_media *m, struct pm_media_range *out, size_t max);

/* flush -- start write-back of a range; durable only after pm_media_drain */
void pm_media_flush(struct pm_media *m, const void *addr, size_t len);
/* os_flushes -- flushes handed to the OS so far: with page granularity,
 * msync(2) calls (a drain msyncs the flushed ranges of its thread,
 * gathered into spans of up to 1 MiB), elided when pm_media_in_ram */
uint64_t pm_media_os_flushes(const struct pm_media *m);
/* drain -- wait until every flushed range is durable */
void pm_media_drain(struct pm_media *m);
/* persist -- flush + drain: the range is durable on return */
void pm_media_persist(struct pm_media *m, const void *addr, size_t len);
/* copy -- copy into the pool without flushing (flushed later, by fsync) */
void pm_media_copy(struct pm_media *m, void *dst, const void *src, size_t len);
/* copy_nt -- copy into the pool (the ranges must not overlap); when len is
 * at least PM_MEDIA_NT_MIN (and not under crash emulation), with stores
 * that bypass the CPU caches (on x86-64 at page granularity; wherever
 * libpmem2 gives them at finer ones).
 * Returns true when the bytes are then durable after the next drain, with
 * no flush: non-temporal stores on media that need no page-sized flush
 * (cache-line or byte granularity). Otherwise (a smaller copy, or page
 * granularity, whose pages still need their msync) it returns false and
 * the range needs a flush, as after pm_media_copy. */
#define PM_MEDIA_NT_MIN (32u * 1024)
bool pm_media_copy_nt(struct pm_media *m, void *dst, const void *src, size_t len);
/* zero_nt -- pm_media_zero with non-temporal stores, under the same rule
 * as pm_media_copy_nt; returns true when the range needs only a drain */
bool pm_media_zero_nt(struct pm_media *m, void *dst, size_t len);
/* streamed -- bytes stored non-temporally so far (by stream.c at page
 * granularity, or asked of libpmem2 at finer ones) */
uint64_t pm_media_streamed(const struct pm_media *m);
/* zero -- clear a range of the pool without flushing */
void pm_media_zero(struct pm_media *m, void *dst, size_t len);

#endif
