/* stream.h -- copies and zeroing with non-temporal stores, for the media
 * layer at page granularity, where libpmem2 offers none without an msync
 * per call (media.c, store()) */
#ifndef PM_STREAM_H
#define PM_STREAM_H

#include <stdbool.h>
#include <stddef.h>

/* PM_STREAM_NT -- 1 where the functions below make non-temporal stores
 * (x86-64); elsewhere they are plain memcpy/memset */
#if defined(__x86_64__) && defined(__SSE2__)
#define PM_STREAM_NT 1
#else
#define PM_STREAM_NT 0
#endif

/* copy -- memcpy(dst, src, len) with stores that bypass the CPU caches,
 * ordered (sfence) before the caller's next store; the ranges must not
 * overlap. Returns PM_STREAM_NT: whether it made such stores, so that
 * what counts them counts what ran. */
bool pm_stream_copy(void *dst, const void *src, size_t len);
/* zero -- memset(dst, 0, len) likewise */
bool pm_stream_zero(void *dst, size_t len);

#endif
