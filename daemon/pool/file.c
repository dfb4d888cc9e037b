/* file.c -- file contents and attributes: read, write, copy, fsync,
 * truncate, fallocate, lseek, setattr */
#include <errno.h>
#include <linux/falloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs.h"
#include "fsi.h"
#include "policy.h"
#include "journal.h"

static const uint8_t zeros[64 * 1024];

static struct pm_time to_pm(struct timespec ts)
{
	return (struct pm_time){ .sec = ts.tv_sec, .nsec = (uint32_t)ts.tv_nsec };
}

/* kill_priv -- what FUSE_CAP_HANDLE_KILLPRIV_V2 asks of us on write,
 * truncate and chown: file capabilities always go; setuid, and setgid if
 * group-executable, go when suidgid (the caller lacks CAP_FSETID) */
static void kill_priv(struct pm_fs *fs, struct pm_ino *pi, bool suidgid)
{
	struct pm_dinode *di = pm_dinode(fs, pi->ino);

	if (!S_ISREG(di->mode))
		return;
	if (suidgid) {
		di->mode &= ~(uint32_t)S_ISUID;
		if (di->mode & S_IXGRP)
			di->mode &= ~(uint32_t)S_ISGID;
	}
	pm_xattr_kill_priv(fs, pi);
}

int pm_fs_setattr(struct pm_fs *fs, uint64_t ino, const struct pm_setattr *sa, struct pm_attr *attr)
{
	struct pm_ino *pi;
	struct pm_dinode *di;
	struct pm_time now;
	int ret;

	if (pm_rdonly(fs))
		return -EROFS;
	if ((ret = pm_ino_live(fs, ino, &pi)))
		return ret;
	di = pm_dinode(fs, ino);
	pm_now(&now);
	pthread_rwlock_wrlock(&pi->lock);
	if (sa->valid & PM_SET_SIZE) {
		if (S_ISDIR(di->mode))
			ret = -EISDIR;
		else if (!S_ISREG(di->mode))
			ret = -EINVAL;
		else if ((ret = pm_data_truncate(fs, pi, sa->size)) == 0)
			di->mtime = now;
	}
	if (ret)
		goto out;
	bool own;
	struct pm_tx *tx = pm_tx_join(fs, &own);
	pm_tx_touch(fs, di, sizeof(*di));
	if (sa->valid & (PM_SET_KILL_PRIV | PM_SET_SIZE))
		kill_priv(fs, pi, sa->valid & PM_SET_KILL_PRIV);
	if (sa->valid & PM_SET_MODE)
		di->mode = (di->mode & S_IFMT) | (sa->mode & 07777);
	if (sa->valid & (PM_SET_UID | PM_SET_GID)) {
		bool changed = ((sa->valid & PM_SET_UID) && sa->uid != di->uid) ||
			       ((sa->valid & PM_SET_GID) && sa->gid != di->gid);
		if (sa->valid & PM_SET_UID)
			di->uid = sa->uid;
		if (sa->valid & PM_SET_GID)
			di->gid = sa->gid;
		if (changed && !(sa->valid & PM_SET_MODE))
			kill_priv(fs, pi, true);
	}
	if (sa->valid & PM_SET_ATIME)
		di->atime = to_pm(sa->atime);
	else if (sa->valid & PM_SET_ATIME_NOW)
		di->atime = now;
	if (sa->valid & PM_SET_MTIME)
		di->mtime = to_pm(sa->mtime);
	else if (sa->valid & PM_SET_MTIME_NOW)
		di->mtime = now;
	di->ctime = (sa->valid & PM_SET_CTIME) ? to_pm(sa->ctime) : now;
	/* durable with the commit; the file's unflushed data stays the sync
	 * policy's to persist (a truncation persisted what it needed) */
	pm_persist(fs, di, sizeof(*di));
	pm_tx_end(tx, own);
out:
	if (ret == 0 && attr) {
		pthread_rwlock_unlock(&pi->lock);
		pm_ino_put(fs, pi);
		return pm_fs_getattr(fs, ino, attr);
	}
	pthread_rwlock_unlock(&pi->lock);
	pm_ino_put(fs, pi);
	return ret;
}

struct iov_builder {
	int cnt, max;
	struct iovec iov[];
};

static void iov_add(struct iov_builder *b, const void *p, size_t len)
{
	if (b->cnt > 0 && (const uint8_t *)b->iov[b->cnt - 1].iov_base + b->iov[b->cnt - 1].iov_len == p &&
	    p != zeros) {
		b->iov[b->cnt - 1].iov_len += len;
		return;
	}
	b->iov[b->cnt].iov_base = (void *)p;
	b->iov[b->cnt].iov_len = len;
	b->cnt++;
}

int pm_fs_read(struct pm_fs *fs, uint64_t ino, uint64_t off, size_t size, pm_read_fn fn, void *arg)
{
	struct iov_builder *b;
	struct pm_ino *pi;
	int ret;

	if ((ret = pm_ino_live(fs, ino, &pi)))
		return ret;
	/* worst case: every block elsewhere, holes in 64 KiB pieces */
	size_t max = size / PM_BLOCK_SIZE + 2;
	b = malloc(sizeof(*b) + max * sizeof(struct iovec));
	if (!b) {
		pm_ino_put(fs, pi);
		return -ENOMEM;
	}
	b->cnt = 0;
	b->max = (int)max;
	pthread_rwlock_rdlock(&pi->lock);
	if (S_ISDIR(pm_dinode(fs, ino)->mode)) {
		ret = -EISDIR;
		goto out;
	}
	uint64_t end = off + size < pi->size ? off + size : pi->size;
	for (uint64_t pos = off; pos < end && b->cnt < b->max;) {
		uint64_t lblk = pos >> PM_BLOCK_SHIFT, boff = pos & (PM_BLOCK_SIZE - 1), pblk, run, n;
		uint64_t last = (end - 1) >> PM_BLOCK_SHIFT;

		if ((ret = pm_data_map(fs, pi, lblk, last - lblk + 1, &pblk, &run)))
			goto out;
		n = (run << PM_BLOCK_SHIFT) - boff;
		if (n > end - pos)
			n = end - pos;
		if (pblk) {
			iov_add(b, (uint8_t *)pm_blk_ptr(fs, pblk) + boff, n);
		} else {
			if (n > sizeof(zeros))
				n = sizeof(zeros);
			iov_add(b, zeros, n);
		}
		pos += n;
	}
	ret = fn(arg, b->iov, b->cnt);
out:
	pthread_rwlock_unlock(&pi->lock);
	pm_ino_put(fs, pi);
	free(b);
	return ret;
}

/* write_locked -- pm_fs_write with the regular file's lock held for
 * writing: the data, then what a write changes beside it */
static ssize_t write_locked(struct pm_fs *fs, struct pm_ino *pi, uint64_t off, const void *buf,
			    size_t size, bool kill)
{
	struct pm_dinode *di = pm_dinode(fs, pi->ino);

	if (size > INT32_MAX)
		size = INT32_MAX;
	ssize_t ret = pm_data_write(fs, pi, off, buf, size);
	if (ret > 0) {
		uint32_t mode = di->mode;
		pm_tx_touch(fs, &di->mode, sizeof(di->mode));
		kill_priv(fs, pi, kill);
		if (di->mode != mode)
			pm_persist(fs, di, sizeof(*di));
		pm_inode_touch(fs, pi->ino, true, true);
		pm_sync_dirty(fs, pi, &di->mtime, 2 * sizeof(struct pm_time));
		pm_counters_add(&fs->ctr, PM_BYTES_WRITTEN, (uint64_t)ret);
		if (di->sync_policy == PM_SYNC_IMMEDIATE)
			pm_sync_inode(fs, pi); /* durable when the write returns */
		else if (di->sync_policy == PM_SYNC_PERIODIC)
			pm_sync_queue_periodic(fs, pi->ino, di->sync_param);
	}
	return ret;
}

ssize_t pm_fs_write(struct pm_fs *fs, uint64_t ino, uint64_t off, const void *buf, size_t size,
		    bool kill)
{
	struct pm_ino *pi;
	ssize_t ret;
	int r;

	if (pm_rdonly(fs))
		return -EROFS;
	if ((r = pm_ino_live(fs, ino, &pi)))
		return r;
	pthread_rwlock_wrlock(&pi->lock);
	if (!S_ISREG(pm_dinode(fs, ino)->mode))
		ret = -EINVAL;
	else
		ret = write_locked(fs, pi, off, buf, size, kill);
	pthread_rwlock_unlock(&pi->lock);
	pm_ino_put(fs, pi);
	return ret;
}

/* copy_locked -- the source's blocks written into the destination straight
 * from the pool, a run of contiguous blocks at a time (holes as zeros) */
static ssize_t copy_locked(struct pm_fs *fs, struct pm_ino *in, uint64_t off_in, struct pm_ino *out,
			   uint64_t off_out, size_t len, bool kill)
{
	size_t done = 0;
	ssize_t ret = 0;

	while (done < len) {
		uint64_t pos = off_in + done, lblk = pos >> PM_BLOCK_SHIFT, pblk, run;
		uint64_t last = (off_in + len - 1) >> PM_BLOCK_SHIFT, boff = pos & (PM_BLOCK_SIZE - 1);

		if ((ret = pm_data_map(fs, in, lblk, last - lblk + 1, &pblk, &run)))
			break;
		size_t n = (run << PM_BLOCK_SHIFT) - boff;
		if (n > len - done)
			n = len - done;
		if (!pblk && n > sizeof(zeros))
			n = sizeof(zeros);
		const void *src = pblk ? (const uint8_t *)pm_blk_ptr(fs, pblk) + boff : zeros;
		ret = write_locked(fs, out, off_out + done, src, n, kill);
		if (ret <= 0)
			break;
		done += (size_t)ret;
		if ((size_t)ret < n)
			break; /* the pool is full */
	}
	return done ? (ssize_t)done : ret;
}

ssize_t pm_fs_copy_range(struct pm_fs *fs, uint64_t ino_in, uint64_t off_in, uint64_t ino_out,
			 uint64_t off_out, size_t len, bool kill)
{
	struct pm_ino *in, *out;
	ssize_t ret;
	int r;

	if (pm_rdonly(fs))
		return -EROFS;
	if ((r = pm_ino_live(fs, ino_in, &in)))
		return r;
	if (ino_out == ino_in) {
		out = in;
	} else if ((r = pm_ino_live(fs, ino_out, &out))) {
		pm_ino_put(fs, in);
		return r;
	}
	/* as namei.c's lock_set: ascending inode numbers */
	if (in == out) {
		pthread_rwlock_wrlock(&out->lock);
	} else if (ino_in < ino_out) {
		pthread_rwlock_rdlock(&in->lock);
		pthread_rwlock_wrlock(&out->lock);
	} else {
		pthread_rwlock_wrlock(&out->lock);
		pthread_rwlock_rdlock(&in->lock);
	}
	uint32_t mode_in = pm_dinode(fs, ino_in)->mode, mode_out = pm_dinode(fs, ino_out)->mode;
	uint64_t left = off_in < in->size ? in->size - off_in : 0;

	if (len > left)
		len = (size_t)left;
	if (len > INT32_MAX)
		len = INT32_MAX;
	if (S_ISDIR(mode_in) || S_ISDIR(mode_out))
		ret = -EISDIR;
	else if (!S_ISREG(mode_in) || !S_ISREG(mode_out))
		ret = -EINVAL;
	else if (in == out && len && off_in < off_out + len && off_out < off_in + len)
		ret = -EINVAL; /* overlapping ranges of one file, as copy_file_range(2) */
	else
		ret = len ? copy_locked(fs, in, off_in, out, off_out, len, kill) : 0;
	pthread_rwlock_unlock(&out->lock);
	if (in != out) {
		pthread_rwlock_unlock(&in->lock);
		pm_ino_put(fs, out);
	}
	pm_ino_put(fs, in);
	return ret;
}

int pm_fs_fsync(struct pm_fs *fs, uint64_t ino)
{
	struct pm_ino *pi;
	int ret;

	if (pm_rdonly(fs))
		return 0;
	if ((ret = pm_ino_live(fs, ino, &pi)))
		return ret;
	pm_counters_add(&fs->ctr, PM_FSYNCS, 1);
	pthread_rwlock_wrlock(&pi->lock);
	if (pm_dinode(fs, ino)->sync_policy != PM_SYNC_NEVER)
		pm_sync_inode(fs, pi);
	pthread_rwlock_unlock(&pi->lock);
	pm_ino_put(fs, pi);
	return 0;
}

int pm_fs_open_file(struct pm_fs *fs, uint64_t ino, bool *direct)
{
	struct pm_ino *pi;
	int ret = pm_ino_live(fs, ino, &pi);

	if (ret)
		return ret;
	pthread_rwlock_wrlock(&pi->lock);
	pi->opens++;
	*direct = pm_dinode(fs, ino)->sync_policy == PM_SYNC_IMMEDIATE;
	if (pm_dinode(fs, ino)->sync_policy == PM_SYNC_PERIODIC) {
		pthread_mutex_lock(&fs->periodic_lock);
		g_hash_table_add(fs->periodic_open, GUINT_TO_POINTER((guint)ino));
		uint32_t ms = pm_dinode(fs, ino)->sync_param;
		if (ms && (fs->periodic_ms == 0 || ms < fs->periodic_ms))
			fs->periodic_ms = ms;
		pthread_mutex_unlock(&fs->periodic_lock);
	}
	pthread_rwlock_unlock(&pi->lock);
	pm_ino_put(fs, pi);
	return 0;
}

int pm_fs_release_file(struct pm_fs *fs, uint64_t ino)
{
	struct pm_ino *pi;
	int ret = pm_ino_live(fs, ino, &pi);

	if (ret)
		return ret;
	pthread_rwlock_wrlock(&pi->lock);
	if (pi->opens > 0 && --pi->opens == 0) {
		if (pm_dinode(fs, ino)->sync_policy == PM_SYNC_CLOSE && !pm_rdonly(fs))
			pm_sync_inode(fs, pi);
		pthread_mutex_lock(&fs->periodic_lock);
		g_hash_table_remove(fs->periodic_open, GUINT_TO_POINTER((guint)ino));
		pthread_mutex_unlock(&fs->periodic_lock);
	}
	pthread_rwlock_unlock(&pi->lock);
	pm_ino_put(fs, pi);
	return 0;
}

int pm_fs_fallocate(struct pm_fs *fs, uint64_t ino, int mode, uint64_t off, uint64_t len)
{
	struct pm_ino *pi;
	int ret;

	if (pm_rdonly(fs))
		return -EROFS;
	if (mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE))
		return -EOPNOTSUPP;
	if ((mode & FALLOC_FL_PUNCH_HOLE) && !(mode & FALLOC_FL_KEEP_SIZE))
		return -EOPNOTSUPP;
	if (len == 0)
		return -EINVAL;
	if (off + len > PM_MAX_FILE_SIZE || off + len < off)
		return -EFBIG;
	if ((ret = pm_ino_live(fs, ino, &pi)))
		return ret;
	pthread_rwlock_wrlock(&pi->lock);
	if (!S_ISREG(pm_dinode(fs, ino)->mode)) {
		ret = S_ISDIR(pm_dinode(fs, ino)->mode) ? -EISDIR : -ENODEV;
	} else if (mode & FALLOC_FL_PUNCH_HOLE) {
		ret = pm_data_punch(fs, pi, off, len);
	} else {
		ret = pm_data_allocate(fs, pi, off, len);
		if (ret == 0 && !(mode & FALLOC_FL_KEEP_SIZE) && off + len > pi->size) {
			pi->size = off + len;
			pi->size_dirty = true;
		}
	}
	if (ret == 0) {
		pm_inode_touch(fs, ino, !(mode & FALLOC_FL_KEEP_SIZE) || (mode & FALLOC_FL_PUNCH_HOLE), true);
		pm_sync_dirty(fs, pi, pm_dinode(fs, ino), sizeof(struct pm_dinode));
	}
	pm_sync_inode(fs, pi);
	pthread_rwlock_unlock(&pi->lock);
	pm_ino_put(fs, pi);
	return ret;
}

int pm_fs_lseek(struct pm_fs *fs, uint64_t ino, uint64_t off, int whence, uint64_t *result)
{
	struct pm_ino *pi;
	int ret;

	if (whence != SEEK_DATA && whence != SEEK_HOLE)
		return -EINVAL;
	if ((ret = pm_ino_live(fs, ino, &pi)))
		return ret;
	pthread_rwlock_rdlock(&pi->lock);
	uint64_t size = pi->size, pos = off;
	if (off >= size) {
		ret = -ENXIO;
		goto out;
	}
	while (pos < size) {
		uint64_t lblk = pos >> PM_BLOCK_SHIFT, pblk, run;
		uint64_t left = ((size - 1) >> PM_BLOCK_SHIFT) - lblk + 1;

		if ((ret = pm_data_map(fs, pi, lblk, left, &pblk, &run)))
			goto out;
		if ((pblk != 0) == (whence == SEEK_DATA))
			break;
		pos = (lblk + run) << PM_BLOCK_SHIFT;
	}
	if (pos >= size) {
		if (whence == SEEK_DATA) {
			ret = -ENXIO;
			goto out;
		}
		pos = size;
	}
	*result = pos < off ? off : pos;
out:
	pthread_rwlock_unlock(&pi->lock);
	pm_ino_put(fs, pi);
	return ret;
}
