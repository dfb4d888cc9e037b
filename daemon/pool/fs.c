/* fs.c -- opening a pool (validation, rebuild of volatile state, orphan
 * cleanup), closing it cleanly, statfs and attributes */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fs.h"
#include "fsi.h"
#include "journal.h"
#include "super.h"

static uint64_t *state_word(struct pm_fs *fs)
{
	return (uint64_t *)(fs->base + PM_STATE_OFFSET);
}

static int mark_block(struct pm_fs *fs, uint64_t blk, void *arg)
{
	(*(uint64_t *)arg)++;
	return pm_alloc_mark(fs, blk, 1);
}

/* rebuild -- scan the inode table: claim the blocks of every live inode,
 * free nameless ones (orphans of a crash or of open-unlinked files) */
static int rebuild(struct pm_fs *fs, uint32_t *orphans, GArray *trim)
{
	GArray *orph = g_array_new(FALSE, FALSE, sizeof(uint64_t));
	int ret = 0;

	for (uint64_t ino = 1; ino <= fs->sb.inode_count && !ret; ino++) {
		struct pm_dinode *di = pm_dinode(fs, ino);

		if (di->mode == 0)
			continue;
		if (!pm_mode_valid(di->mode)) {
			ret = pm_err(EUCLEAN, "inode %lu has an invalid type (mode %o); run fsck.pmfuse",
				     (unsigned long)ino, di->mode);
			break;
		}
		if (di->nlink == 0 && ino != PM_ROOT_INO) {
			g_array_append_val(orph, ino);
			continue;
		}
		uint64_t blocks = 0;
		pm_alloc_inode_mark(fs, ino);
		if ((ret = pm_data_walk(fs, di, mark_block, &blocks)) || (ret = pm_xattr_check(fs, di)))
			break;
		if (di->xattr_block)
			ret = pm_alloc_mark(fs, di->xattr_block, di->xattr_blocks);
		blocks += di->xattr_blocks;
		if (di->blocks != blocks && !pm_rdonly(fs)) {
			/* a crash between freeing blocks and counting them */
			di->blocks = blocks;
			pm_persist(fs, &di->blocks, sizeof(di->blocks));
		}
		if (S_ISREG(di->mode) && di->root && trim)
			g_array_append_val(trim, ino);
	}
	if (!ret && !S_ISDIR(pm_dinode(fs, PM_ROOT_INO)->mode))
		ret = pm_err(EUCLEAN, "the root inode is not a directory; run fsck.pmfuse");
	/* Orphans' blocks were not claimed: clearing the inode frees them. */
	for (guint i = 0; !ret && !pm_rdonly(fs) && i < orph->len; i++) {
		struct pm_dinode *di = pm_dinode(fs, g_array_index(orph, uint64_t, i));
		pm_dinode_clear(di);
		pm_persist(fs, di, sizeof(*di));
	}
	*orphans = orph->len;
	g_array_free(orph, TRUE);
	return ret;
}

#define BAD_MAX 64 /* ranges reported and kept out of allocation */

struct pm_fs_priv {
	struct pm_fs fs;
	uint32_t orphans;
	uint32_t rolled_back;
	bool was_clean;
	size_t nbad;
	struct pm_badblock bad[BAD_MAX];
};

/* reserve_bad -- ask the media for its known bad ranges; keep their free
 * blocks out of allocation and remember where each lies */
static void reserve_bad(struct pm_fs_priv *p)
{
	struct pm_fs *fs = &p->fs;
	struct pm_media_range r[BAD_MAX];
	size_t n = pm_media_badblocks(fs->m, r, BAD_MAX);

	for (size_t i = 0; i < n; i++) {
		uint64_t first = r[i].off / PM_BLOCK_SIZE;
		uint64_t last = (r[i].off + r[i].len - 1) / PM_BLOCK_SIZE;

		if (r[i].len == 0 || r[i].off >= fs->sb.pool_size)
			continue; /* not in the pool (a device larger than it) */
		if (r[i].len > fs->sb.pool_size - r[i].off)
			last = (fs->sb.pool_size - 1) / PM_BLOCK_SIZE;
		p->bad[p->nbad++] = (struct pm_badblock){ r[i].off, r[i].len,
							  (enum pm_bad_where)pm_alloc_reserve_bad(fs, first, last) };
	}
}

size_t pm_fs_badblocks(struct pm_fs *fs, const struct pm_badblock **list)
{
	struct pm_fs_priv *p = (struct pm_fs_priv *)fs;

	*list = p->bad;
	return p->nbad;
}

int pm_fs_open(const char *path, unsigned flags, struct pm_fs **out)
{
	struct pm_fs_priv *p = calloc(1, sizeof(*p));
	struct pm_fs *fs = &p->fs;
	int ret;

	if (!p || pm_counters_init(&fs->ctr, PM_FS_STATS)) {
		free(p);
		return pm_err(ENOMEM, "out of memory");
	}
	fs->rdonly = flags & PM_FS_RDONLY;
	if ((ret = pm_media_open(path, (pm_rdonly(fs) ? PM_MEDIA_RDONLY : 0) |
					     ((flags & PM_FS_EMULATE) ? PM_MEDIA_EMULATE : 0), &fs->m)))
		goto err_free;
	fs->base = pm_media_base(fs->m);
	if ((ret = pm_super_check(fs->base, pm_media_size(fs->m), &fs->sb)))
		goto err_media;
	if (fs->sb.ro_compat & ~PM_FEATURE_RO_COMPAT_SUPP && !pm_rdonly(fs)) {
		ret = pm_err(EROFS, "pool uses unknown read-only-compatible features; mount it read-only");
		goto err_media;
	}
	/* undo what a crash left half done, before anything is read */
	ret = pm_journal_recover(fs->m, fs->base, &fs->sb, pm_rdonly(fs));
	if (ret > 0 && pm_rdonly(fs)) {
		ret = pm_err(EROFS, "the journal holds unfinished transactions: mount read-write once, "
			     "or run fsck.pmfuse -y");
		goto err_media;
	}
	if (ret < 0)
		goto err_media;
	p->rolled_back = (uint32_t)ret;
	fs->itable = (struct pm_dinode *)pm_blk_ptr(fs, fs->sb.itable_start);
	fs->icache = calloc(fs->sb.inode_count + 1, sizeof(*fs->icache));
	if (!fs->icache) {
		ret = pm_err(ENOMEM, "out of memory for the inode cache");
		goto err_media;
	}
	if ((ret = pm_alloc_init(fs)))
		goto err_icache;
	p->was_clean = *state_word(fs) == PM_STATE_CLEAN;
	/* after a crash, blocks past a file's durable size hold nothing that
	 * was promised: they go (and would otherwise show after a grow) */
	GArray *trim = p->was_clean || pm_rdonly(fs) ? NULL : g_array_new(FALSE, FALSE, sizeof(uint64_t));
	ret = rebuild(fs, &p->orphans, trim);
	if (ret == 0)
		reserve_bad(p); /* after rebuild: which blocks are in use is known */
	if (ret == 0)
		ret = pm_journal_init(fs, p->was_clean);
	if (ret) {
		if (trim)
			g_array_free(trim, TRUE);
		goto err_alloc;
	}
	pthread_rwlock_init(&fs->ns_lock, NULL);
	pthread_mutex_init(&fs->dirload_lock, NULL);
	pthread_mutex_init(&fs->icache_lock, NULL);
	pthread_mutex_init(&fs->periodic_lock, NULL);
	fs->periodic_dirty = g_hash_table_new(g_direct_hash, g_direct_equal);
	fs->periodic_open = g_hash_table_new(g_direct_hash, g_direct_equal);
	for (guint i = 0; trim && i < trim->len; i++) {
		struct pm_ino *pi = pm_ino_get(fs, g_array_index(trim, uint64_t, i));
		if (pi) {
			pm_data_trim(fs, pi);
			pm_ino_put(fs, pi);
		}
	}
	if (trim)
		g_array_free(trim, TRUE);
	/* the kernel never looks the root up, so it holds no counted reference
	 * to it: pin it, or its directory index would be rebuilt for every
	 * request in it (the close forgets every reference) */
	if (!pm_ino_get(fs, PM_ROOT_INO)) {
		ret = pm_err(ENOMEM, "out of memory for the inode cache");
		goto err_alloc;
	}
	if (!pm_rdonly(fs)) {
		*state_word(fs) = PM_STATE_DIRTY;
		pm_persist(fs, state_word(fs), sizeof(uint64_t));
	}
	*out = fs;
	return 0;

err_alloc:
	pm_alloc_fini(fs);
err_icache:
	free(fs->icache);
err_media:
	pm_media_delete(&fs->m);
err_free:
	pm_counters_fini(&fs->ctr);
	free(p);
	return ret;
}

void pm_fs_close(struct pm_fs **fsp)
{
	struct pm_fs *fs = *fsp;

	if (!fs)
		return;
	/* the kernel's remaining references end with the mount */
	for (uint64_t ino = 1; ino <= fs->sb.inode_count; ino++)
		if (fs->icache[ino])
			pm_inode_forget(fs, ino, UINT64_MAX);
	if (!pm_rdonly(fs)) {
		pm_media_drain(fs->m);
		pm_journal_wipe(fs);
		*state_word(fs) = PM_STATE_CLEAN;
		pm_persist(fs, state_word(fs), sizeof(uint64_t));
	}
	pm_journal_fini(fs);
	g_hash_table_destroy(fs->periodic_dirty);
	g_hash_table_destroy(fs->periodic_open);
	pthread_mutex_destroy(&fs->periodic_lock);
	pm_alloc_fini(fs);
	free(fs->icache);
	pm_media_delete(&fs->m);
	pthread_rwlock_destroy(&fs->ns_lock);
	pthread_mutex_destroy(&fs->dirload_lock);
	pthread_mutex_destroy(&fs->icache_lock);
	pm_counters_fini(&fs->ctr);
	free(fs);
	*fsp = NULL;
}

void pm_fs_info(struct pm_fs *fs, struct pm_info *info)
{
	struct pm_fs_priv *p = (struct pm_fs_priv *)fs;

	memset(info, 0, sizeof(*info));
	info->pool_size = fs->sb.pool_size;
	info->data_blocks = fs->sb.data_blocks;
	info->inode_count = fs->sb.inode_count;
	info->granularity = pm_media_granularity(fs->m);
	info->map_sync = pm_media_map_sync(fs->m);
	info->in_ram = pm_media_in_ram(fs->m);
	info->was_clean = p->was_clean;
	info->orphans = p->orphans;
	info->rolled_back = p->rolled_back;
	pm_super_uuid_str(&fs->sb, info->uuid);
}

int64_t pm_fs_prefault(struct pm_fs *fs, const atomic_bool *stop)
{
	return pm_media_prefault(fs->m, stop);
}

int pm_fs_media_check(struct pm_fs *fs, int ret)
{
	if (!pm_media_fault_taken())
		return ret;
	pm_fs_media_failed(fs);
	return -EIO;
}

void pm_fs_media_failed(struct pm_fs *fs)
{
	/* every change checks rdonly first; nothing is written from now on,
	 * and the pool stays marked in use, so that the next mount recovers
	 * and fsck.pmfuse is due */
	__atomic_store_n(&fs->rdonly, true, __ATOMIC_RELEASE);
	__atomic_store_n(&fs->media_failed, true, __ATOMIC_RELEASE);
}

bool pm_fs_media_error(struct pm_fs *fs, uint64_t *faults, uint64_t *last_off)
{
	*faults = pm_media_faults(fs->m, last_off);
	return __atomic_load_n(&fs->media_failed, __ATOMIC_ACQUIRE);
}

void pm_fs_arm_crash(uint64_t n)
{
	pm_media_arm_crash(n);
}

void pm_fs_crash_at(struct pm_fs *fs, uint64_t n)
{
	pm_media_crash_at(fs->m, n);
}

uint64_t pm_fs_media_events(struct pm_fs *fs)
{
	return pm_media_events(fs->m);
}

int pm_fs_statfs(struct pm_fs *fs, struct pm_statfs *st)
{
	pthread_mutex_lock(&fs->alloc_lock);
	st->blocks = fs->sb.data_blocks;
	st->bfree = fs->free_blocks;
	st->files = fs->sb.inode_count;
	st->ffree = fs->free_inodes;
	pthread_mutex_unlock(&fs->alloc_lock);
	st->bsize = PM_BLOCK_SIZE;
	st->namemax = PM_NAME_MAX;
	return 0;
}
