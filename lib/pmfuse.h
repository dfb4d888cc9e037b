/* pmfuse.h -- libpmfuse: sync policies and statistics of pmfuse mounts
 *
 * A small C API over the virtual extended attributes of a pmfuse mount
 * (DESIGN.md, "Sync policy"): user.pmfuse.sync on every regular file and
 * directory, user.pmfuse.stats on the mount root. Link with
 * `pkg-config --cflags --libs pmfuse`; overview in libpmfuse(3).
 *
 * Every function is thread-safe and keeps no global state. Functions that
 * can fail return 0 (or a length) on success and a negative errno value on
 * failure; pmfuse_errmsg() then describes the failure (thread-local).
 */
#ifndef PMFUSE_H
#define PMFUSE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* names of the virtual extended attributes */
#define PMFUSE_XATTR_SYNC "user.pmfuse.sync"
#define PMFUSE_XATTR_STATS "user.pmfuse.stats"

/* when a file's dirty data becomes durable; the values are stable ABI */
enum pmfuse_sync_kind {
	PMFUSE_SYNC_FSYNC = 0,     /* on fsync/fdatasync (the default) */
	PMFUSE_SYNC_PERIODIC = 1,  /* and every period_ms by a background flusher */
	PMFUSE_SYNC_CLOSE = 2,     /* and when the last open handle is released */
	PMFUSE_SYNC_IMMEDIATE = 3, /* when each write returns */
	PMFUSE_SYNC_NEVER = 4,     /* only at clean unmount (unsafe, scratch data) */
};
#define PMFUSE_SYNC_KINDS 5

/* the range of period_ms: 1 ms .. 86400 s */
#define PMFUSE_PERIOD_MIN_MS 1u
#define PMFUSE_PERIOD_MAX_MS 86400000u

/* a buffer of this size holds any formatted policy and its NUL */
#define PMFUSE_SYNC_STRMAX 32

struct pmfuse_sync_policy {
	enum pmfuse_sync_kind kind;
	uint32_t period_ms; /* PMFUSE_SYNC_PERIODIC only; ignored otherwise */
};

/* pmfuse_sync_parse -- "fsync", "periodic=<N>ms", "periodic=<N>s",
 * "close", "immediate" or "never" into *out; -EINVAL (out untouched) for
 * anything else, including a period outside 1 ms .. 86400 s */
int pmfuse_sync_parse(const char *str, struct pmfuse_sync_policy *out);

/* pmfuse_sync_format -- the canonical string of *p into buf (periods in
 * whole seconds as "<N>s", else "<N>ms"); returns its length without the
 * NUL, -EINVAL for an invalid policy, -ERANGE if size is too small */
int pmfuse_sync_format(const struct pmfuse_sync_policy *p, char *buf, size_t size);

/* pmfuse_sync_get -- the policy of path (symbolic links are followed);
 * -ENOTSUP if path is not on a pmfuse mount */
int pmfuse_sync_get(const char *path, struct pmfuse_sync_policy *out);

/* pmfuse_sync_set -- set the policy of path (a regular file or a
 * directory; a directory passes it to what is created inside it later).
 * Stored in the inode when this returns; durable as the file system's
 * metadata is (DESIGN.md). -ENOTSUP if path is not on a pmfuse mount,
 * -EINVAL for an invalid policy (nothing changes) */
int pmfuse_sync_set(const char *path, const struct pmfuse_sync_policy *p);

/* pmfuse_sync_fget, pmfuse_sync_fset -- the same on an open descriptor */
int pmfuse_sync_fget(int fd, struct pmfuse_sync_policy *out);
int pmfuse_sync_fset(int fd, const struct pmfuse_sync_policy *p);

/* pmfuse_sync_get_str -- the policy of path as its canonical string
 * (a length like pmfuse_sync_format, or -errno) */
int pmfuse_sync_get_str(const char *path, char *buf, size_t size);

/* pmfuse_sync_set_str -- parse policy, then set it on path */
int pmfuse_sync_set_str(const char *path, const char *policy);

/* Mount-wide statistics. Before a call, set size to sizeof(struct
 * pmfuse_stats): fields may be appended in later versions of the library,
 * and it fills only the fields that fit in size (at least up to
 * policy_inodes, PMFUSE_STATS_SIZE_V1). */
struct pmfuse_stats {
	size_t size;               /* set by the caller */
	uint64_t pool_size;        /* bytes of the pool */
	uint64_t free_bytes;       /* free data space */
	uint64_t inodes_total;
	uint64_t inodes_free;
	uint64_t bytes_written;    /* written by write(2) since mount */
	uint64_t bytes_persisted;  /* made durable since mount */
	uint64_t flush_calls;      /* flush operations issued */
	uint64_t drains;           /* drain (store fence) operations */
	uint64_t fsyncs;           /* fsync/fdatasync requests */
	uint64_t dirty_bytes;      /* written and not yet durable, now */
	uint64_t periodic_flushes; /* passes of the periodic flusher */
	char granularity[16];      /* "PAGE", "CACHE_LINE" or "BYTE" */
	uint64_t policy_inodes[PMFUSE_SYNC_KINDS]; /* in use, by enum pmfuse_sync_kind */
};
#define PMFUSE_STATS_SIZE_V1                                                                 \
	(offsetof(struct pmfuse_stats, policy_inodes) + PMFUSE_SYNC_KINDS * sizeof(uint64_t))

/* pmfuse_stats_get -- the statistics of the pmfuse mount that holds
 * mountpoint (its root); -ENOTSUP if it is not a pmfuse mount, -EINVAL if
 * out->size is below PMFUSE_STATS_SIZE_V1, -EPROTO for a malformed answer */
int pmfuse_stats_get(const char *mountpoint, struct pmfuse_stats *out);

/* pmfuse_stats_parse -- parse the JSON object of user.pmfuse.stats
 * (NUL-terminated) into *out, as pmfuse_stats_get does; fields may come in
 * any order, unknown fields are skipped; -EINVAL if it is malformed or
 * lacks a field */
int pmfuse_stats_parse(const char *json, struct pmfuse_stats *out);

/* pmfuse_persist_fd -- make the file's data and metadata durable now:
 * fsync(2), so under the policy "never" it persists nothing; 0 or -errno */
int pmfuse_persist_fd(int fd);

/* pmfuse_errmsg -- what the last failed call of this thread went wrong
 * on ("" if none); valid until the next libpmfuse call in this thread */
const char *pmfuse_errmsg(void);

#ifdef __cplusplus
}
#endif

#endif
