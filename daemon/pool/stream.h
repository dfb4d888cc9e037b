/* stream.h -- copies and zeroing with non-temporal stores, for the media
 * layer at page granularity, where libpmem2 offers none without an msync
 * per call (media.c, store()) */
#ifndef PM_STREAM_H
#define PM_STREAM_H

#include <stdbool.h>
#include <stddef.h>

/* copy -- memcpy(dst, src, len) with stores that bypass the CPU caches,
 * ordered (sfence) before the caller's next store; the ranges must not
 * overlap. Returns false where the CPU has no such stores that we use
 * (off x86-64): then it was a plain memcpy. */
bool pm_stream_copy(void *dst, const void *src, size_t len);
/* zero -- memset(dst, 0, len) likewise */
bool pm_stream_zero(void *dst, size_t len);

#endif
