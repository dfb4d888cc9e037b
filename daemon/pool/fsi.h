/* fsi.h -- the engine's internal state, shared by its modules (not by the
 * FUSE edge or the tools, which use fs.h) */
#ifndef PM_FSI_H
#define PM_FSI_H

#include <glib.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "counters.h"
#include "format.h"
#include "media.h"

struct pm_dir;
struct pm_journal;

/* DRAM state of an inode in use. Lock order: fs->ns_lock, then inode locks
 * in ascending inode number, then fs->alloc_lock / fs->icache_lock. */
struct pm_ino {
	uint64_t ino;
	pthread_rwlock_t lock;   /* tree, size, blocks, dirty ranges, xattrs */
	uint64_t refs;           /* kernel lookups + engine references (icache_lock) */
	uint64_t size;           /* current size; the dinode holds the durable one */
	bool size_dirty;         /* size differs from the dinode's */
	bool needs_drain;        /* non-temporal stores since the last sync */
	GArray *dirty;           /* struct pm_range of pool bytes not yet flushed */
	struct pm_dir *dir;      /* directory index, built on first use */
	uint64_t goal;           /* next physical block wanted (contiguity) */
	uint64_t dirty_len;      /* bytes recorded in dirty (statistics) */
	uint32_t opens;          /* open handles (the close policy) */
	bool no_caps;            /* known to have no security.capability */
};

struct pm_range {
	uint64_t off;
	uint64_t len;
};

/* pm_range_merge -- extend r by [off, off + len) if that starts inside r
 * or right after it; returns how many bytes r grew by, or UINT64_MAX if
 * the two do not touch (r unchanged). Every list of ranges (dirty data,
 * the journal's flush list, a released file's blocks) appends in mostly
 * ascending order and merges into its last entry this way. */
static inline uint64_t pm_range_merge(struct pm_range *r, uint64_t off, uint64_t len)
{
	uint64_t end = r->off + r->len;

	if (off < r->off || off > end)
		return UINT64_MAX;
	if (off + len <= end)
		return 0;
	r->len = off + len - r->off;
	return off + len - end;
}

/* the file system's statistics (pmfusectl stats), in struct pm_fs's ctr */
enum pm_fs_stat { PM_BYTES_WRITTEN, PM_FSYNCS, PM_DIRTY_BYTES, PM_PERIODIC_FLUSHES, PM_FS_STATS };

struct pm_fs {
	struct pm_media *m;
	uint8_t *base;
	struct pm_super sb;
	struct pm_dinode *itable;
	bool rdonly;                    /* also set after a media error */
	bool media_failed;              /* a media error was taken: see pm_fs_media_check */
	struct pm_journal *journal;

	pthread_rwlock_t ns_lock;       /* the namespace: dirents, link counts */
	pthread_mutex_t dirload_lock;   /* building a directory index */

	pthread_mutex_t icache_lock;
	struct pm_ino **icache;         /* inode_count + 1 slots */

	pthread_mutex_t alloc_lock;
	uint64_t *bmap;                 /* data blocks in use, bit per block */
	uint64_t free_blocks;
	uint64_t low;                   /* no block below it is free */
	struct pm_counters ctr;         /* statistics (enum pm_fs_stat), per CPU */
	pthread_mutex_t periodic_lock;
	GHashTable *periodic_dirty;     /* inode numbers with data for the flusher */
	GHashTable *periodic_open;      /* open files with the periodic policy */
	uint32_t periodic_ms;           /* shortest period seen, 0 if none */

	uint64_t *imap;                 /* inodes in use */
	uint64_t free_inodes;
	uint64_t icursor;
};

/* pm_rdonly -- read-only: mounted so, or turned so by a media error on
 * another thread (pm_fs_media_failed stores it atomically) */
static inline bool pm_rdonly(const struct pm_fs *fs)
{
	return __atomic_load_n(&fs->rdonly, __ATOMIC_ACQUIRE);
}

static inline struct pm_dinode *pm_dinode(struct pm_fs *fs, uint64_t ino)
{
	return &fs->itable[ino - 1];
}

static inline bool pm_ino_valid(const struct pm_fs *fs, uint64_t ino)
{
	return ino >= 1 && ino <= fs->sb.inode_count;
}

static inline bool pm_blk_valid(const struct pm_fs *fs, uint64_t blk)
{
	return blk >= fs->sb.data_start && blk < fs->sb.data_start + fs->sb.data_blocks;
}

static inline void *pm_blk_ptr(struct pm_fs *fs, uint64_t blk)
{
	return fs->base + (blk << PM_BLOCK_SHIFT);
}

static inline uint64_t pm_off(struct pm_fs *fs, const void *p)
{
	return (uint64_t)((const uint8_t *)p - fs->base);
}

/* pm_persist -- a metadata range must be durable: now, or at the commit of
 * the thread's transaction if one runs (journal.c) */
void pm_persist(struct pm_fs *fs, const void *p, size_t len);

/* alloc.c */
int pm_alloc_init(struct pm_fs *fs);
/* pm_alloc_reserve_bad -- keep the free blocks among first..last (a known
 * bad range of the media) out of allocation; says where the worst of them
 * lies (enum pm_bad_where, fs.h) */
int pm_alloc_reserve_bad(struct pm_fs *fs, uint64_t first, uint64_t last);
/* pm_alloc_used_end -- index in the data area of the last block in use + 1
 * (0: none in use) */
uint64_t pm_alloc_used_end(struct pm_fs *fs);
void pm_alloc_fini(struct pm_fs *fs);
/* pm_alloc_blocks -- up to want contiguous blocks: at goal or the first
 * free after it; without a goal (or none free after it) the lowest free
 * blocks of the pool. Returns the count (> 0) and the first block in
 * *start, or -ENOSPC */
int64_t pm_alloc_blocks(struct pm_fs *fs, uint64_t goal, uint64_t want, uint64_t *start);
void pm_alloc_free(struct pm_fs *fs, uint64_t start, uint64_t count);
/* pm_alloc_contig -- exactly want contiguous blocks, or -ENOSPC */
int pm_alloc_contig(struct pm_fs *fs, uint64_t want, uint64_t *start);
/* pm_alloc_mark -- claim blocks found in use at mount; -EUCLEAN if owned twice */
int pm_alloc_mark(struct pm_fs *fs, uint64_t start, uint64_t count);
int pm_alloc_inode(struct pm_fs *fs, uint64_t *ino);
void pm_alloc_inode_free(struct pm_fs *fs, uint64_t ino);
void pm_alloc_inode_mark(struct pm_fs *fs, uint64_t ino);

/* inode.c */
struct pm_ino *pm_ino_get(struct pm_fs *fs, uint64_t ino);
void pm_ino_put(struct pm_fs *fs, struct pm_ino *pi);
/* pm_ino_live -- a referenced inode if ino names a live one, else -ENOENT */
int pm_ino_live(struct pm_fs *fs, uint64_t ino, struct pm_ino **out);
/* pm_ino_live_unheld -- pm_ino_live, but 1 and no reference if something
 * (the kernel, another request) already holds the inode */
int pm_ino_live_unheld(struct pm_fs *fs, uint64_t ino, struct pm_ino **out);
void pm_ino_ref(struct pm_fs *fs, struct pm_ino *pi, uint64_t n);
void pm_inode_forget(struct pm_fs *fs, uint64_t ino, uint64_t n);
void pm_now(struct pm_time *t);
void pm_inode_touch(struct pm_fs *fs, uint64_t ino, bool mtime, bool ctime);
/* pm_inode_release -- free an inode's blocks, xattrs and number (nlink 0,
 * durably or in the calling thread's transaction) */
void pm_inode_release(struct pm_fs *fs, struct pm_ino *pi);

/* data.c: callers hold pi->lock (write for changes) */
int pm_data_block(struct pm_fs *fs, struct pm_ino *pi, uint64_t lblk, bool alloc, bool zero,
		  uint8_t **out);
int pm_data_write(struct pm_fs *fs, struct pm_ino *pi, uint64_t off, const void *buf, size_t len);
int pm_data_truncate(struct pm_fs *fs, struct pm_ino *pi, uint64_t size);
int pm_data_punch(struct pm_fs *fs, struct pm_ino *pi, uint64_t off, uint64_t len);
int pm_data_allocate(struct pm_fs *fs, struct pm_ino *pi, uint64_t off, uint64_t len);
/* pm_data_trim -- free the blocks past the end of the file */
int pm_data_trim(struct pm_fs *fs, struct pm_ino *pi);
/* pm_data_map -- physical block of lblk (0: hole) and how many following
 * blocks continue the same run (contiguous blocks, or holes), at most max */
int pm_data_map(struct pm_fs *fs, struct pm_ino *pi, uint64_t lblk, uint64_t max, uint64_t *pblk,
		uint64_t *run);
/* pm_data_walk -- call fn on every block of the tree (nodes and data) */
int pm_data_walk(struct pm_fs *fs, const struct pm_dinode *di,
		 int (*fn)(struct pm_fs *fs, uint64_t blk, void *arg), void *arg);

/* sync.c: callers hold pi->lock */
void pm_sync_dirty(struct pm_fs *fs, struct pm_ino *pi, const void *p, size_t len);
/* pm_sync_inode -- persist pi's dirty ranges, then its size: durable on return */
void pm_sync_inode(struct pm_fs *fs, struct pm_ino *pi);
/* pm_sync_discard -- forget the dirty ranges and size of a file being
 * released: nothing of it needs to be durable any more */
void pm_sync_discard(struct pm_fs *fs, struct pm_ino *pi);
/* pm_sync_queue_periodic -- ino has data for the periodic flusher */
void pm_sync_queue_periodic(struct pm_fs *fs, uint64_t ino, uint32_t period_ms);

/* dir.c: callers hold fs->ns_lock (write for changes) */
struct pm_dirent_ref {
	uint64_t ino;
	uint8_t type;
	uint64_t pos;  /* slot position: (file block << 6) | slot */
};
int pm_dir_find(struct pm_fs *fs, struct pm_ino *dir, const char *name, struct pm_dirent_ref *out);
/* pm_dir_room -- a place for a new entry of name: the slots it will take,
 * and how many bytes there pm_dir_put() changes (changed, from d), so
 * that a transaction can log them with its other ranges in one drain
 * (pm_tx_touch_all). It may give the directory a block of room first.
 * pm_dir_put() fills it, the directory still locked as when it was found. */
struct pm_dir_room {
	uint64_t pos;
	struct pm_dirent *d;
	unsigned need, have; /* slots taken; the free run they come from */
	size_t changed;
};
int pm_dir_room(struct pm_fs *fs, struct pm_ino *dir, const char *name, struct pm_dir_room *r);
void pm_dir_put(struct pm_fs *fs, struct pm_ino *dir, const struct pm_dir_room *r, const char *name, uint64_t ino,
		uint8_t type);
struct pm_span;
/* pm_dir_slot -- the head of name's entry (its inode number and type):
 * what pm_dir_remove() or pm_dir_repoint() of name changes, to be logged
 * with other ranges as pm_dir_room's */
int pm_dir_slot(struct pm_fs *fs, struct pm_ino *dir, const char *name, struct pm_span *out);
int pm_dir_remove(struct pm_fs *fs, struct pm_ino *dir, const char *name);
int pm_dir_repoint(struct pm_fs *fs, struct pm_ino *dir, const char *name, uint64_t ino, uint8_t type);
bool pm_dir_is_empty(struct pm_fs *fs, struct pm_ino *dir);
/* pm_dir_trim -- give emptied directory blocks back (inside the transaction
 * that emptied them) */
int pm_dir_trim(struct pm_fs *fs, struct pm_ino *dir);
void pm_dir_free(struct pm_dir *d);
/* pm_dir_next -- the first entry at or after position pos; -ENOENT at the end */
int pm_dir_next(struct pm_fs *fs, struct pm_ino *dir, uint64_t pos, struct pm_dirent_ref *out,
		char name[PM_NAME_MAX + 1]);

/* control.c: the virtual user.pmfuse.* attributes */
bool pm_control_name(const char *name);
int pm_control_get(struct pm_fs *fs, uint64_t ino, const char *name, void *buf, size_t size);
int pm_control_set(struct pm_fs *fs, uint64_t ino, const char *name, const void *value, size_t size,
		   int flags);

/* xattr.c: callers hold pi->lock */
/* pm_xattr_check -- validate an inode's xattr blob (bounds, records) */
int pm_xattr_check(struct pm_fs *fs, const struct pm_dinode *di);
/* pm_xattr_kill_priv -- drop security.capability (write/truncate/chown) */
void pm_xattr_kill_priv(struct pm_fs *fs, struct pm_ino *pi);

#endif
