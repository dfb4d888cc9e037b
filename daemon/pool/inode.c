/* inode.c -- the DRAM inode cache, reference counts, inode release */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fsi.h"
#include "journal.h"

void pm_now(struct pm_time *t)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	t->sec = ts.tv_sec;
	t->nsec = (uint32_t)ts.tv_nsec;
	t->pad = 0;
}

/* get_locked -- the cached inode, made if it is not there; icache_lock held */
static struct pm_ino *get_locked(struct pm_fs *fs, uint64_t ino)
{
	struct pm_ino *pi = fs->icache[ino];

	if (!pi) {
		pi = calloc(1, sizeof(*pi));
		if (!pi)
			return NULL;
		pi->ino = ino;
		pthread_rwlock_init(&pi->lock, NULL);
		pi->size = pm_dinode(fs, ino)->size;
		fs->icache[ino] = pi;
	}
	pi->refs++;
	return pi;
}

struct pm_ino *pm_ino_get(struct pm_fs *fs, uint64_t ino)
{
	struct pm_ino *pi;

	pthread_mutex_lock(&fs->icache_lock);
	pi = get_locked(fs, ino);
	pthread_mutex_unlock(&fs->icache_lock);
	return pi;
}

/* live -- pm_ino_live; with unheld, 1 (no reference) for a cached inode */
static int live(struct pm_fs *fs, uint64_t ino, bool unheld, struct pm_ino **out)
{
	int ret = 0;

	*out = NULL;
	if (!pm_ino_valid(fs, ino))
		return -ENOENT;
	/* a cached inode is held, so live: its mode, which a chmod may be
	 * changing under the inode's own lock, is not read (ThreadSanitizer
	 * saw that race) */
	pthread_mutex_lock(&fs->icache_lock);
	if (fs->icache[ino] && unheld)
		ret = 1;
	else if (!fs->icache[ino] && pm_dinode(fs, ino)->mode == 0)
		ret = -ENOENT;
	else if (!(*out = get_locked(fs, ino)))
		ret = -ENOMEM;
	pthread_mutex_unlock(&fs->icache_lock);
	return ret;
}

int pm_ino_live(struct pm_fs *fs, uint64_t ino, struct pm_ino **out)
{
	return live(fs, ino, false, out);
}

int pm_ino_live_unheld(struct pm_fs *fs, uint64_t ino, struct pm_ino **out)
{
	return live(fs, ino, true, out);
}

void pm_ino_ref(struct pm_fs *fs, struct pm_ino *pi, uint64_t n)
{
	pthread_mutex_lock(&fs->icache_lock);
	pi->refs += n;
	pthread_mutex_unlock(&fs->icache_lock);
}

/* finalize -- the last reference is gone: make the inode durable, or free
 * it if no name is left. Runs under icache_lock so that a new pm_ino_get
 * of the same number sees the final state. */
static void finalize(struct pm_fs *fs, struct pm_ino *pi)
{
	struct pm_dinode *di = pm_dinode(fs, pi->ino);

	fs->icache[pi->ino] = NULL;
	if (!pm_rdonly(fs)) {
		if (di->mode && di->nlink == 0)
			pm_inode_release(fs, pi);
		else
			pm_sync_inode(fs, pi);
	}
	if (pi->dirty)
		g_array_free(pi->dirty, TRUE);
	pm_dir_free(pi->dir);
	pthread_rwlock_destroy(&pi->lock);
	free(pi);
}

void pm_ino_put(struct pm_fs *fs, struct pm_ino *pi)
{
	if (!pi)
		return;
	pthread_mutex_lock(&fs->icache_lock);
	if (pi->refs > 0)
		pi->refs--;
	if (pi->refs == 0)
		finalize(fs, pi);
	pthread_mutex_unlock(&fs->icache_lock);
}

void pm_inode_forget(struct pm_fs *fs, uint64_t ino, uint64_t n)
{
	struct pm_ino *pi;

	pthread_mutex_lock(&fs->icache_lock);
	pi = fs->icache[ino];
	if (pi) {
		pi->refs = pi->refs > n ? pi->refs - n : 0;
		if (pi->refs == 0)
			finalize(fs, pi);
	}
	pthread_mutex_unlock(&fs->icache_lock);
}

void pm_inode_touch(struct pm_fs *fs, uint64_t ino, bool mtime, bool ctime)
{
	struct pm_dinode *di = pm_dinode(fs, ino);
	struct pm_time now;

	pm_now(&now);
	pm_tx_touch(fs, &di->mtime, 2 * sizeof(struct pm_time));
	if (mtime)
		di->mtime = now;
	if (ctime)
		di->ctime = now;
}

void pm_inode_release(struct pm_fs *fs, struct pm_ino *pi)
{
	struct pm_dinode *di = pm_dinode(fs, pi->ino);

	pm_xattr_drop(fs, pi);
	pm_data_truncate(fs, pi, 0);
	/* blocks past the size (fallocate with KEEP_SIZE, or a fallocate
	 * that ran out of space half way) are not cut by a truncate to the
	 * size the file already has */
	pm_data_trim(fs, pi);
	if (di->root) /* a tree that could not be freed is left to fsck */
		return;
	bool own;
	struct pm_tx *tx = pm_tx_join(fs, &own);
	pm_tx_touch(fs, di, sizeof(*di));
	di->mode = 0;
	di->nlink = 0;
	di->height = 0;
	di->size = 0;
	di->blocks = 0;
	pm_persist(fs, di, sizeof(*di));
	pm_tx_end(tx, own);
	pm_alloc_inode_free(fs, pi->ino);
}
