/* dir.c -- directory entries in 64-byte slots, and their DRAM name index */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "fsi.h"
#include "journal.h"

struct pm_dir {
	GHashTable *names;   /* name -> slot position + 1 */
	GArray *freecnt;     /* guint8 free slots per directory block */
	uint64_t nblocks;
	uint64_t hint;       /* no block below this has room */
};

static inline unsigned slots_for(size_t len)
{
	return (unsigned)((len + 16 + PM_DIRENT_SIZE - 1) / PM_DIRENT_SIZE);
}

static inline unsigned head_slots(const struct pm_dirent *d)
{
	return d->nslots ? d->nslots : 1;
}

void pm_dir_free(struct pm_dir *d)
{
	if (!d)
		return;
	g_hash_table_destroy(d->names);
	g_array_free(d->freecnt, TRUE);
	free(d);
}

static int corrupt(uint64_t ino, uint64_t blk, unsigned slot, const char *what)
{
	return pm_err(EUCLEAN, "directory %lu, block %lu, slot %u: %s; run fsck.pmfuse",
		      (unsigned long)ino, (unsigned long)blk, slot, what);
}

/* block_of -- the slots of directory block b, NULL for a hole */
static int block_of(struct pm_fs *fs, struct pm_ino *dir, uint64_t b, struct pm_dirent **out)
{
	uint8_t *p;
	int ret = pm_data_block(fs, dir, b, false, false, &p);

	*out = (struct pm_dirent *)p;
	return ret;
}

/* next_block -- the first block at or after *b (below nblocks) that is not
 * a hole, in *out and *b; *out NULL when there is none. Holes are skipped a
 * run at a time: a damaged size may claim a million blocks, and a readdir
 * must not look each of them up. */
static int next_block(struct pm_fs *fs, struct pm_ino *dir, uint64_t *b, uint64_t nblocks,
		      struct pm_dirent **out)
{
	uint64_t pblk, run;
	int ret;

	*out = NULL;
	while (*b < nblocks) {
		if ((ret = pm_data_map(fs, dir, *b, nblocks - *b, &pblk, &run)))
			return ret;
		if (pblk) {
			*out = pm_blk_ptr(fs, pblk);
			return 0;
		}
		*b += run;
	}
	return 0;
}

/* check_head -- validate the in-use entry at slot s of block b */
static int check_head(struct pm_fs *fs, uint64_t dino, uint64_t b, unsigned s, const struct pm_dirent *d)
{
	if (head_slots(d) > PM_DIRENT_PER_BLOCK - s)
		return corrupt(dino, b, s, "entry runs past the block");
	if (d->ino == 0)
		return 0;
	if (d->name_len == 0 || d->name_len > PM_NAME_MAX || slots_for(d->name_len) > head_slots(d))
		return corrupt(dino, b, s, "bad name length");
	if (!pm_ino_valid(fs, d->ino))
		return corrupt(dino, b, s, "inode number out of range");
	return 0;
}

static int load(struct pm_fs *fs, struct pm_ino *dir)
{
	struct pm_dir *d = calloc(1, sizeof(*d));
	int ret = 0;

	if (!d)
		return pm_err(ENOMEM, "out of memory");
	if (dir->size / PM_BLOCK_SIZE > PM_DIR_MAX_BLOCKS) {
		free(d);
		return pm_err(EUCLEAN, "directory %lu: size %lu is beyond any directory; run fsck.pmfuse",
			      (unsigned long)dir->ino, (unsigned long)dir->size);
	}
	d->names = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	d->freecnt = g_array_new(FALSE, TRUE, sizeof(guint8));
	d->nblocks = dir->size / PM_BLOCK_SIZE;
	g_array_set_size(d->freecnt, (guint)d->nblocks);
	for (uint64_t b = 0, at; b < d->nblocks && !ret; b++) {
		struct pm_dirent *blk;
		unsigned free = 0;

		at = b;
		if ((ret = next_block(fs, dir, &b, d->nblocks, &blk)))
			break;
		for (; at < b; at++) /* holes: all free */
			g_array_index(d->freecnt, guint8, at) = PM_DIRENT_PER_BLOCK;
		if (!blk)
			break;
		for (unsigned s = 0; s < PM_DIRENT_PER_BLOCK; s += head_slots(&blk[s])) {
			if ((ret = check_head(fs, dir->ino, b, s, &blk[s])))
				break;
			if (blk[s].ino == 0) {
				free += head_slots(&blk[s]);
				continue;
			}
			g_hash_table_replace(d->names, g_strndup(blk[s].name, blk[s].name_len),
					     (gpointer)(uintptr_t)((b << 6 | s) + 1));
		}
		g_array_index(d->freecnt, guint8, b) = (guint8)free;
	}
	if (ret) {
		pm_dir_free(d);
		return ret;
	}
	/* release: pairs with ensure_loaded()'s lock-free acquire load */
	__atomic_store_n(&dir->dir, d, __ATOMIC_RELEASE);
	return 0;
}

static int ensure_loaded(struct pm_fs *fs, struct pm_ino *dir)
{
	int ret = 0;

	if (__atomic_load_n(&dir->dir, __ATOMIC_ACQUIRE))
		return 0;
	pthread_mutex_lock(&fs->dirload_lock);
	if (!__atomic_load_n(&dir->dir, __ATOMIC_RELAXED))
		ret = load(fs, dir);
	pthread_mutex_unlock(&fs->dirload_lock);
	return ret;
}

/* entry_at -- the slot of position pos */
static int entry_at(struct pm_fs *fs, struct pm_ino *dir, uint64_t pos, struct pm_dirent **out)
{
	struct pm_dirent *blk;
	int ret = block_of(fs, dir, pos >> 6, &blk);

	if (ret)
		return ret;
	if (!blk)
		return corrupt(dir->ino, pos >> 6, pos & 63, "indexed entry in a hole");
	*out = &blk[pos & 63];
	return 0;
}

int pm_dir_find(struct pm_fs *fs, struct pm_ino *dir, const char *name, struct pm_dirent_ref *out)
{
	struct pm_dirent *d;
	gpointer v;
	int ret;

	if ((ret = ensure_loaded(fs, dir)))
		return ret;
	v = g_hash_table_lookup(dir->dir->names, name);
	if (!v)
		return -ENOENT;
	out->pos = (uint64_t)(uintptr_t)v - 1;
	if ((ret = entry_at(fs, dir, out->pos, &d)))
		return ret;
	out->ino = d->ino;
	out->type = d->type;
	return 0;
}

/* find_room -- a run of need free slots: its position and length */
static int find_room(struct pm_fs *fs, struct pm_ino *dir, unsigned need, uint64_t *pos, unsigned *len)
{
	struct pm_dir *d = dir->dir;
	struct pm_dirent *blk;
	uint8_t *p;
	int ret;

	for (uint64_t b = d->hint; b < d->nblocks; b++) {
		if (g_array_index(d->freecnt, guint8, b) < need)
			continue;
		if ((ret = block_of(fs, dir, b, &blk)))
			return ret;
		if (!blk) {
			if ((ret = pm_data_block(fs, dir, b, true, true, &p)))
				return ret;
			pm_sync_inode(fs, dir);
			*pos = b << 6;
			*len = PM_DIRENT_PER_BLOCK;
			return 0;
		}
		unsigned run = 0, start = 0;
		for (unsigned s = 0; s < PM_DIRENT_PER_BLOCK; s += head_slots(&blk[s])) {
			if (blk[s].ino) {
				run = 0;
				continue;
			}
			if (run == 0)
				start = s;
			run += head_slots(&blk[s]);
			if (run >= need) {
				*pos = b << 6 | start;
				*len = run;
				return 0;
			}
		}
	}
	/* no room: a new block at the end */
	if (d->nblocks >= PM_DIR_MAX_BLOCKS)
		return pm_err(ENOSPC, "directory %lu is full", (unsigned long)dir->ino);
	if ((ret = pm_data_block(fs, dir, d->nblocks, true, true, &p)))
		return ret;
	dir->size = (d->nblocks + 1) * PM_BLOCK_SIZE;
	dir->size_dirty = true;
	pm_sync_inode(fs, dir);
	guint8 all = PM_DIRENT_PER_BLOCK;
	g_array_append_val(d->freecnt, all);
	*pos = d->nblocks << 6;
	*len = PM_DIRENT_PER_BLOCK;
	d->nblocks++;
	return 0;
}

int pm_dir_room(struct pm_fs *fs, struct pm_ino *dir, const char *name, struct pm_dir_room *r)
{
	int ret;

	r->need = slots_for(strlen(name));
	r->have = 0;
	r->pos = 0;
	if ((ret = ensure_loaded(fs, dir)) || (ret = find_room(fs, dir, r->need, &r->pos, &r->have)) ||
	    (ret = entry_at(fs, dir, r->pos, &r->d)))
		return ret;
	/* only what changes is logged: the entry's slots and, when the run
	 * is longer, the head of its rest (a whole free block would be 4 KiB
	 * of undo record, copied, checksummed and flushed for nothing) */
	r->changed = (size_t)r->need * PM_DIRENT_SIZE + (r->have > r->need ? 16 : 0);
	return 0;
}

void pm_dir_put(struct pm_fs *fs, struct pm_ino *dir, const struct pm_dir_room *r, const char *name, uint64_t ino,
		uint8_t type)
{
	size_t len = strlen(name);
	unsigned need = r->need, have = r->have;
	struct pm_dirent *d = r->d;
	uint64_t pos = r->pos;

	pm_tx_touch(fs, d, r->changed);
	if (have > need) {
		/* the rest of the run stays a free entry of its own */
		d[need].ino = 0;
		d[need].nslots = (uint8_t)(have - need);
		pm_media_flush(fs->m, &d[need], 16);
	}
	d->nslots = (uint8_t)need;
	d->type = type;
	d->name_len = (uint16_t)len;
	d->hash = 0;
	memcpy(d->name, name, len);
	pm_persist(fs, d, (size_t)need * PM_DIRENT_SIZE);
	/* publish: the entry exists once its inode number is durable */
	__atomic_store_n(&d->ino, ino, __ATOMIC_RELEASE);
	pm_persist(fs, &d->ino, sizeof(d->ino));

	g_array_index(dir->dir->freecnt, guint8, pos >> 6) -= (guint8)need;
	g_hash_table_replace(dir->dir->names, g_strdup(name), (gpointer)(uintptr_t)(pos + 1));
}

/* release_block -- give an emptied directory block back to the pool: the
 * directory shrinks when it is at the end, else it becomes a hole (which
 * reads as a free block). Positions of other entries never move. */
static int release_block(struct pm_fs *fs, struct pm_ino *dir, uint64_t b)
{
	struct pm_dir *d = dir->dir;

	uint8_t *p;
	int ret;

	if (g_array_index(d->freecnt, guint8, b) != PM_DIRENT_PER_BLOCK)
		return 0;
	if (b + 1 < d->nblocks) {
		if ((ret = pm_data_block(fs, dir, b, false, false, &p)) || !p)
			return ret;
		return pm_data_punch(fs, dir, b * PM_BLOCK_SIZE, PM_BLOCK_SIZE);
	}
	while (d->nblocks > 0 && g_array_index(d->freecnt, guint8, d->nblocks - 1) == PM_DIRENT_PER_BLOCK)
		d->nblocks--;
	g_array_set_size(d->freecnt, (guint)d->nblocks);
	return pm_data_truncate(fs, dir, d->nblocks * PM_BLOCK_SIZE);
}

int pm_dir_slot(struct pm_fs *fs, struct pm_ino *dir, const char *name, struct pm_span *out)
{
	struct pm_dirent_ref ref;
	struct pm_dirent *d;
	int ret;

	if ((ret = pm_dir_find(fs, dir, name, &ref)) || (ret = entry_at(fs, dir, ref.pos, &d)))
		return ret;
	*out = (struct pm_span){ d, offsetof(struct pm_dirent, name) };
	return 0;
}

int pm_dir_remove(struct pm_fs *fs, struct pm_ino *dir, const char *name)
{
	struct pm_dirent_ref ref;
	struct pm_dirent *d;
	int ret;

	if ((ret = pm_dir_find(fs, dir, name, &ref)) || (ret = entry_at(fs, dir, ref.pos, &d)))
		return ret;
	pm_tx_touch(fs, &d->ino, sizeof(d->ino));
	__atomic_store_n(&d->ino, 0, __ATOMIC_RELEASE);
	pm_persist(fs, &d->ino, sizeof(d->ino));
	g_array_index(dir->dir->freecnt, guint8, ref.pos >> 6) += (guint8)head_slots(d);
	if ((ref.pos >> 6) < dir->dir->hint)
		dir->dir->hint = ref.pos >> 6;
	g_hash_table_remove(dir->dir->names, name);
	return 0;
}

int pm_dir_trim(struct pm_fs *fs, struct pm_ino *dir)
{
	struct pm_dir *d = dir->dir;
	int ret = 0;

	if (!d)
		return 0;
	for (uint64_t b = 0; b < d->nblocks && !ret; b++)
		ret = release_block(fs, dir, b);
	return ret;
}

int pm_dir_repoint(struct pm_fs *fs, struct pm_ino *dir, const char *name, uint64_t ino, uint8_t type)
{
	struct pm_dirent_ref ref;
	struct pm_dirent *d;
	int ret;

	if ((ret = pm_dir_find(fs, dir, name, &ref)) || (ret = entry_at(fs, dir, ref.pos, &d)))
		return ret;
	pm_tx_touch(fs, d, 16);
	d->type = type;
	__atomic_store_n(&d->ino, ino, __ATOMIC_RELEASE);
	pm_persist(fs, d, 16);
	return 0;
}

bool pm_dir_is_empty(struct pm_fs *fs, struct pm_ino *dir)
{
	if (ensure_loaded(fs, dir))
		return false;
	return g_hash_table_size(dir->dir->names) == 0;
}

int pm_dir_next(struct pm_fs *fs, struct pm_ino *dir, uint64_t pos, struct pm_dirent_ref *out,
		char name[PM_NAME_MAX + 1])
{
	uint64_t nblocks = dir->size / PM_BLOCK_SIZE;
	int ret;

	for (uint64_t b = pos >> 6; b < nblocks; b++) {
		struct pm_dirent *blk;
		unsigned from;

		if ((ret = next_block(fs, dir, &b, nblocks, &blk)))
			return ret;
		if (!blk)
			break;
		from = b == (pos >> 6) ? (unsigned)(pos & 63) : 0;
		for (unsigned s = 0; s < PM_DIRENT_PER_BLOCK; s += head_slots(&blk[s])) {
			if ((ret = check_head(fs, dir->ino, b, s, &blk[s])))
				return ret;
			if (s < from || blk[s].ino == 0)
				continue;
			out->ino = blk[s].ino;
			out->type = blk[s].type;
			out->pos = b << 6 | s;
			memcpy(name, blk[s].name, blk[s].name_len);
			name[blk[s].name_len] = '\0';
			return 0;
		}
	}
	return -ENOENT;
}
