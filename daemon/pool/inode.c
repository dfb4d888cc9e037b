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

/* add_block -- a block of the tree being released, into runs */
static int add_block(struct pm_fs *fs, uint64_t blk, void *arg)
{
	GArray *runs = arg;

	(void)fs;
	if (!runs->len ||
	    pm_range_merge(&g_array_index(runs, struct pm_range, runs->len - 1), blk, 1) == UINT64_MAX)
		g_array_append_val(runs, ((struct pm_range){ blk, 1 }));
	return 0;
}

/* An inode whose last link went in a committed transaction is an orphan
 * on the media: the next open would free it by setting it to its free
 * state. Release does the same: the inode is cleared and persisted (one
 * drain, whatever the file's size; its unflushed data is dropped, not
 * flushed), and only then do its blocks go back to the allocator, so no
 * block is ever named by two inodes. Inside a transaction (a create that
 * failed half way) the clear is logged and the blocks wait for the commit
 * like any release; the number is free at once, which is safe because
 * only create() allocates numbers and it holds ns_lock until its commit. */
void pm_inode_release(struct pm_fs *fs, struct pm_ino *pi)
{
	struct pm_dinode *di = pm_dinode(fs, pi->ino);
	GArray *runs = g_array_new(FALSE, FALSE, sizeof(struct pm_range));

	pm_sync_discard(fs, pi);
	/* a damaged tree or blob is left to fsck: the orphan stays */
	if (pm_data_walk(fs, di, add_block, runs))
		goto out;
	if (di->xattr_block) {
		if (!pm_blk_valid(fs, di->xattr_block) || !pm_blk_valid(fs, di->xattr_block + di->xattr_blocks - 1))
			goto out;
		g_array_append_val(runs, ((struct pm_range){ di->xattr_block, di->xattr_blocks }));
	}
	pm_tx_touch(fs, di, sizeof(*di));
	pm_dinode_clear(di);
	pm_persist(fs, di, sizeof(*di));
	for (guint i = 0; i < runs->len; i++) {
		struct pm_range *r = &g_array_index(runs, struct pm_range, i);
		pm_tx_release(fs, r->off, r->len);
	}
	pm_alloc_inode_free(fs, pi->ino);
out:
	g_array_free(runs, TRUE);
}
