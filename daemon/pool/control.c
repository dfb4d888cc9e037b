/* control.c -- the control attributes: user.pmfuse.sync (the sync policy
 * of any inode) and user.pmfuse.stats (statistics, on the root). They are
 * virtual: served from the inode and counters, never stored as xattrs and
 * never listed, so cp -a, rsync -X and tar --xattrs do not copy them. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include "fs.h"
#include "fsi.h"
#include "journal.h"
#include "policy.h"

#define SYNC_ATTR "user.pmfuse.sync"
#define STATS_ATTR "user.pmfuse.stats"

bool pm_control_name(const char *name)
{
	return strncmp(name, "user.pmfuse.", 12) == 0;
}

int pm_fs_stats_json(struct pm_fs *fs, char *buf, size_t size)
{
	uint64_t per[PM_SYNC_KINDS] = { 0 }, flushes, drains, persisted, lane, high, over;
	struct pm_statfs st;
	int n;

	for (uint64_t ino = 1; ino <= fs->sb.inode_count; ino++) {
		const struct pm_dinode *di = pm_dinode(fs, ino);
		if (di->mode && (S_ISREG(di->mode) || S_ISDIR(di->mode)) && di->sync_policy < PM_SYNC_KINDS)
			per[di->sync_policy]++;
	}
	pm_fs_statfs(fs, &st);
	pm_media_counts(fs->m, &flushes, &drains, &persisted); /* all of it: data and metadata */
	pm_journal_usage(fs, &lane, &high, &over);
	n = snprintf(buf, size,
		     "{\"pool_size\":%lu,\"free_bytes\":%lu,\"inodes_total\":%lu,\"inodes_free\":%lu,"
		     "\"granularity\":\"%s\",\"bytes_written\":%lu,\"bytes_persisted\":%lu,"
		     "\"flush_calls\":%lu,\"drains\":%lu,\"fsyncs\":%lu,\"dirty_bytes\":%lu,"
		     "\"periodic_flushes\":%lu,\"policy_inodes\":{\"fsync\":%lu,\"periodic\":%lu,"
		     "\"close\":%lu,\"immediate\":%lu,\"never\":%lu},"
		     "\"journal_lane_bytes\":%lu,\"journal_high_water\":%lu,\"journal_overflows\":%lu}",
		     (unsigned long)fs->sb.pool_size, (unsigned long)(st.bfree * PM_BLOCK_SIZE),
		     (unsigned long)st.files, (unsigned long)st.ffree, pm_media_granularity(fs->m),
		     (unsigned long)pm_counters_get(&fs->ctr, PM_BYTES_WRITTEN),
		     (unsigned long)persisted,
		     (unsigned long)flushes, (unsigned long)drains,
		     (unsigned long)pm_counters_get(&fs->ctr, PM_FSYNCS),
		     (unsigned long)pm_counters_get(&fs->ctr, PM_DIRTY_BYTES),
		     (unsigned long)pm_counters_get(&fs->ctr, PM_PERIODIC_FLUSHES),
		     (unsigned long)per[0], (unsigned long)per[1], (unsigned long)per[2],
		     (unsigned long)per[3], (unsigned long)per[4], (unsigned long)lane,
		     (unsigned long)high, (unsigned long)over);
	return n < 0 || (size_t)n >= size ? -ERANGE : n;
}

/* answer -- the getxattr protocol: size 0 asks for the length */
static int answer(const char *val, int len, void *buf, size_t size)
{
	if (size == 0)
		return len;
	if (size < (size_t)len)
		return -ERANGE;
	memcpy(buf, val, (size_t)len);
	return len;
}

int pm_control_get(struct pm_fs *fs, uint64_t ino, const char *name, void *buf, size_t size)
{
	char val[1024];
	int len;

	if (!pm_ino_valid(fs, ino) || pm_dinode(fs, ino)->mode == 0)
		return -ENOENT;
	if (strcmp(name, SYNC_ATTR) == 0) {
		const struct pm_dinode *di = pm_dinode(fs, ino);
		struct pm_sync p = { di->sync_policy, di->sync_param };
		if (p.kind >= PM_SYNC_KINDS)
			p = (struct pm_sync){ PM_SYNC_FSYNC, 0 };
		len = pm_sync_format(&p, val, sizeof(val));
	} else if (strcmp(name, STATS_ATTR) == 0 && ino == PM_ROOT_INO) {
		len = pm_fs_stats_json(fs, val, sizeof(val));
	} else {
		return -ENODATA;
	}
	return len < 0 ? len : answer(val, len, buf, size);
}

/* store -- an inode's policy, in a transaction */
static int store(struct pm_fs *fs, uint64_t ino, const struct pm_sync *p)
{
	struct pm_ino *pi;
	int ret = pm_ino_live(fs, ino, &pi);

	if (ret)
		return ret;
	pthread_rwlock_wrlock(&pi->lock);
	struct pm_dinode *di = pm_dinode(fs, ino);
	bool own;
	struct pm_tx *tx = pm_tx_join(fs, &own);
	pm_tx_touch(fs, &di->sync_policy, 2 * sizeof(uint32_t));
	di->sync_policy = p->kind;
	di->sync_param = p->kind == PM_SYNC_PERIODIC ? p->period_ms : 0;
	pm_persist(fs, &di->sync_policy, 2 * sizeof(uint32_t));
	pm_tx_end(tx, own);
	/* what is dirty now follows the new policy */
	if (p->kind == PM_SYNC_IMMEDIATE)
		pm_sync_inode(fs, pi);
	else if (p->kind == PM_SYNC_PERIODIC)
		pm_sync_queue_periodic(fs, ino, p->period_ms);
	pthread_mutex_lock(&fs->periodic_lock);
	if (p->kind == PM_SYNC_PERIODIC && pi->opens)
		g_hash_table_add(fs->periodic_open, GUINT_TO_POINTER((guint)ino));
	else
		g_hash_table_remove(fs->periodic_open, GUINT_TO_POINTER((guint)ino));
	pthread_mutex_unlock(&fs->periodic_lock);
	pthread_rwlock_unlock(&pi->lock);
	pm_ino_put(fs, pi);
	return 0;
}

int pm_control_set(struct pm_fs *fs, uint64_t ino, const char *name, const void *value, size_t size,
		   int flags)
{
	struct pm_sync p;

	if (strcmp(name, SYNC_ATTR) != 0)
		return strcmp(name, STATS_ATTR) == 0 ? -EPERM : -EINVAL;
	if (flags & XATTR_CREATE)
		return -EEXIST; /* every inode has a policy */
	/* a trailing newline (echo ... | setfattr) is forgiven */
	if (size && ((const char *)value)[size - 1] == '\n')
		size--;
	if (pm_sync_parse(value, size, &p))
		return pm_err(EINVAL, "invalid sync policy (fsync, periodic=<N>ms|<N>s, close, immediate, never)");
	if (pm_rdonly(fs))
		return -EROFS;
	return store(fs, ino, &p);
}

int pm_fs_set_default_sync(struct pm_fs *fs, const char *policy)
{
	struct pm_sync p;

	if (pm_sync_parse(policy, strlen(policy), &p))
		return pm_err(EINVAL, "invalid sync policy '%s' (fsync, periodic=<N>ms|<N>s, close, "
			      "immediate, never)", policy);
	return store(fs, PM_ROOT_INO, &p);
}
