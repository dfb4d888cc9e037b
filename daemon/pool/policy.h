/* policy.h -- sync policies (DESIGN.md, "Sync policy"): when dirty data is
 * persisted. Stored in the inode (sync_policy, sync_param), inherited from
 * the directory at creation, read and set as user.pmfuse.sync. */
#ifndef PM_POLICY_H
#define PM_POLICY_H

#include <stddef.h>
#include <stdint.h>

enum pm_sync_kind {
	PM_SYNC_FSYNC = 0,     /* durable on fsync/fdatasync (the default) */
	PM_SYNC_PERIODIC = 1,  /* and by a background flusher every period */
	PM_SYNC_CLOSE = 2,     /* and when the last open handle is released */
	PM_SYNC_IMMEDIATE = 3, /* every write is durable when it returns */
	PM_SYNC_NEVER = 4,     /* only at clean unmount: fsync persists nothing */
	PM_SYNC_KINDS
};

#define PM_SYNC_PERIOD_MIN_MS 1u
#define PM_SYNC_PERIOD_MAX_MS (86400u * 1000u)

struct pm_sync {
	uint32_t kind;         /* enum pm_sync_kind */
	uint32_t period_ms;    /* PM_SYNC_PERIODIC only, else 0 */
};

/* pm_sync_parse -- "fsync", "periodic=500ms", "periodic=5s", "close",
 * "immediate", "never" (len bytes, no NUL needed); -EINVAL otherwise */
int pm_sync_parse(const char *s, size_t len, struct pm_sync *out);
/* pm_sync_format -- the canonical string; returns its length, or -ERANGE */
int pm_sync_format(const struct pm_sync *p, char *buf, size_t size);
/* pm_sync_kind_name -- "fsync", "periodic", ... */
const char *pm_sync_kind_name(uint32_t kind);

#endif
