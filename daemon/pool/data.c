/* data.c -- file data: the block radix tree, writes, truncation, holes */
#include <errno.h>
#include <string.h>

#include "err.h"
#include "fs.h"
#include "fsi.h"
#include "journal.h"

_Static_assert(((PM_MAX_FILE_SIZE - 1) >> PM_BLOCK_SHIFT) >> (PM_TREE_SHIFT * PM_TREE_MAX_HEIGHT) == 0,
	       "a tree of the largest height maps every block of the largest file");

static inline uint64_t tree_cap(unsigned h)
{
	return 1ull << (PM_TREE_SHIFT * h);
}

static inline unsigned tree_index(uint64_t lblk, unsigned h)
{
	return (lblk >> (PM_TREE_SHIFT * (h - 1))) & (PM_TREE_FANOUT - 1);
}

static int bad_pointer(uint64_t ino, uint64_t blk)
{
	return pm_err(EUCLEAN, "inode %lu: block pointer %lu is outside the data area; run fsck.pmfuse",
		      (unsigned long)ino, (unsigned long)blk);
}

/* zero_fresh -- clear part of a block allocated in this transaction and
 * have it durable at the commit */
static void zero_fresh(struct pm_fs *fs, uint8_t *p, uint64_t len)
{
	if (len && !pm_media_zero_nt(fs->m, p, len))
		pm_tx_fresh(fs, p, len);
}

/* node_new -- a zeroed tree node, counted in the inode's blocks */
static int node_new(struct pm_fs *fs, struct pm_ino *pi, uint64_t *blk)
{
	struct pm_dinode *di = pm_dinode(fs, pi->ino);
	uint64_t start;
	int64_t n = pm_alloc_blocks(fs, pi->goal, 1, &start);

	if (n < 0)
		return pm_err(ENOSPC, "pool is full");
	pm_media_zero(fs->m, pm_blk_ptr(fs, start), PM_BLOCK_SIZE);
	pm_tx_fresh(fs, pm_blk_ptr(fs, start), PM_BLOCK_SIZE);
	pm_tx_touch(fs, &di->blocks, sizeof(di->blocks));
	di->blocks++;
	*blk = start;
	return 0;
}

/* slot_for -- the leaf pointer that maps lblk; with alloc, grows the tree
 * and creates the missing nodes. *slotp is NULL for a hole when !alloc. */
static int slot_for(struct pm_fs *fs, struct pm_ino *pi, uint64_t lblk, bool alloc, uint64_t **slotp)
{
	struct pm_dinode *di = pm_dinode(fs, pi->ino);
	uint64_t *slot;
	unsigned h;
	int ret;

	*slotp = NULL;
	if (lblk >= tree_cap(PM_TREE_MAX_HEIGHT))
		return -EFBIG;
	if (di->height > PM_TREE_MAX_HEIGHT)
		return pm_err(EUCLEAN, "inode %lu: tree height %u is invalid; run fsck.pmfuse",
			      (unsigned long)pi->ino, di->height);
	if (!alloc && (di->root == 0 || lblk >= tree_cap(di->height)))
		return 0;
	if (di->root == 0) {
		for (h = 0; lblk >= tree_cap(h); h++)
			;
		pm_tx_touch(fs, di, sizeof(*di));
		di->height = h;
		pm_sync_dirty(fs, pi, di, sizeof(*di));
	}
	while (lblk >= tree_cap(di->height)) {
		uint64_t node;
		if ((ret = node_new(fs, pi, &node)))
			return ret;
		((uint64_t *)pm_blk_ptr(fs, node))[0] = di->root;
		pm_tx_touch(fs, di, sizeof(*di));
		di->root = node;
		di->height++;
		pm_sync_dirty(fs, pi, di, sizeof(*di));
	}
	slot = &di->root;
	for (h = di->height; h > 0; h--) {
		if (*slot == 0) {
			if (!alloc)
				return 0;
			pm_tx_touch(fs, slot, sizeof(*slot));
			if ((ret = node_new(fs, pi, slot)))
				return ret;
			pm_sync_dirty(fs, pi, slot, sizeof(*slot));
		}
		if (!pm_blk_valid(fs, *slot))
			return bad_pointer(pi->ino, *slot);
		slot = (uint64_t *)pm_blk_ptr(fs, *slot) + tree_index(lblk, h);
	}
	*slotp = slot;
	return 0;
}

int pm_data_map(struct pm_fs *fs, struct pm_ino *pi, uint64_t lblk, uint64_t max, uint64_t *pblk,
		uint64_t *run)
{
	struct pm_dinode *di = pm_dinode(fs, pi->ino);
	uint64_t *slot = &di->root, span;
	unsigned h, idx, n;

	*pblk = 0;
	*run = max ? max : 1;
	if (di->height > PM_TREE_MAX_HEIGHT)
		return pm_err(EUCLEAN, "inode %lu: tree height %u is invalid; run fsck.pmfuse",
			      (unsigned long)pi->ino, di->height);
	if (di->root == 0 || lblk >= tree_cap(di->height))
		return 0;
	for (h = di->height; h > 1; h--) {
		if (!pm_blk_valid(fs, *slot))
			return bad_pointer(pi->ino, *slot);
		slot = (uint64_t *)pm_blk_ptr(fs, *slot) + tree_index(lblk, h);
		if (*slot == 0) {
			span = tree_cap(h - 1) - (lblk & (tree_cap(h - 1) - 1));
			*run = span < *run ? span : *run;
			return 0;
		}
	}
	if (h == 1) {
		if (!pm_blk_valid(fs, *slot))
			return bad_pointer(pi->ino, *slot);
		slot = (uint64_t *)pm_blk_ptr(fs, *slot);
		idx = tree_index(lblk, 1);
	} else {
		idx = 0; /* height 0: the root is block 0 */
	}
	*pblk = slot[idx];
	if (*pblk && !pm_blk_valid(fs, *pblk))
		return bad_pointer(pi->ino, *pblk);
	n = 1;
	if (h == 1) {
		while (n < *run && idx + n < PM_TREE_FANOUT &&
		       (*pblk ? slot[idx + n] == *pblk + n : slot[idx + n] == 0))
			n++;
		if (*pblk && *pblk + n - 1 >= fs->sb.data_start + fs->sb.data_blocks)
			n = (unsigned)(fs->sb.data_start + fs->sb.data_blocks - *pblk);
	}
	*run = n;
	return 0;
}

/* map_range -- make sure file blocks [lblk, lblk + count) are allocated,
 * zeroing the parts of new blocks that [zfrom, zto) will not overwrite.
 * Each run of new blocks is published by a transaction (the caller's, or
 * its own); returns the number of blocks allocated. */
static int64_t map_range(struct pm_fs *fs, struct pm_ino *pi, uint64_t lblk, uint64_t count,
			 uint64_t zfrom, uint64_t zto)
{
	struct pm_dinode *di = pm_dinode(fs, pi->ino);
	int64_t total = 0;

	while (count) {
		uint64_t *slot, start, want = 1, i;
		int64_t got;
		bool own;
		struct pm_tx *tx = pm_tx_join(fs, &own);
		int ret = slot_for(fs, pi, lblk, true, &slot);

		if (ret == 0 && *slot) {
			pm_tx_end(tx, own);
			lblk++;
			count--;
			continue;
		}
		if (ret) {
			pm_tx_end(tx, own);
			return ret;
		}
		if (di->height > 0)
			while (want < count && tree_index(lblk + want, 1) != 0 && slot[want] == 0)
				want++;
		got = pm_alloc_blocks(fs, pi->goal, want, &start);
		if (got < 0) {
			pm_tx_end(tx, own);
			return pm_err(ENOSPC, "pool is full");
		}
		/* new blocks are durable before a pointer names them: what is
		 * not written here (the caller's [zfrom, zto), which the caller
		 * makes durable in this transaction) is zeroed now */
		uint8_t *zstart = NULL; /* adjacent whole blocks, zeroed in one go */
		uint64_t zlen = 0;
		for (i = 0; i < (uint64_t)got; i++) {
			uint64_t fb = (lblk + i) << PM_BLOCK_SHIFT;
			uint8_t *p = pm_blk_ptr(fs, start + i);
			uint64_t a = zfrom > fb ? zfrom - fb : 0;
			uint64_t b = zto < fb + PM_BLOCK_SIZE ? (zto > fb ? zto - fb : 0) : PM_BLOCK_SIZE;

			if (a < b) {
				zero_fresh(fs, p, a);
				zero_fresh(fs, p + b, PM_BLOCK_SIZE - b);
				continue;
			}
			if (zlen && zstart + zlen != p) { /* written blocks between */
				zero_fresh(fs, zstart, zlen);
				zlen = 0;
			}
			if (!zlen)
				zstart = p;
			zlen += PM_BLOCK_SIZE;
		}
		zero_fresh(fs, zstart, zlen);
		pm_tx_touch(fs, slot, sizeof(*slot) * (size_t)got);
		for (i = 0; i < (uint64_t)got; i++)
			slot[i] = start + i;
		pm_persist(fs, slot, sizeof(*slot) * (size_t)got);
		pm_tx_touch(fs, &di->blocks, sizeof(di->blocks));
		di->blocks += (uint64_t)got;
		pm_persist(fs, di, sizeof(*di));
		pm_tx_end(tx, own);
		pi->goal = start + (uint64_t)got;
		lblk += (uint64_t)got;
		count -= (uint64_t)got;
		total += got;
	}
	return total;
}

int pm_data_block(struct pm_fs *fs, struct pm_ino *pi, uint64_t lblk, bool alloc, bool zero,
		  uint8_t **out)
{
	uint64_t pblk, run;
	int64_t got;
	int ret;

	*out = NULL;
	if (alloc && (got = map_range(fs, pi, lblk, 1, 0, zero ? 0 : UINT64_MAX)) < 0)
		return (int)got;
	if ((ret = pm_data_map(fs, pi, lblk, 1, &pblk, &run)))
		return ret;
	if (pblk)
		*out = pm_blk_ptr(fs, pblk);
	return 0;
}

/* mapped_prefix -- how many of the count blocks from lblk are mapped */
static uint64_t mapped_prefix(struct pm_fs *fs, struct pm_ino *pi, uint64_t lblk, uint64_t count)
{
	uint64_t n = 0, pblk, run;

	while (n < count && pm_data_map(fs, pi, lblk + n, count - n, &pblk, &run) == 0 && pblk)
		n += run;
	return n < count ? n : count;
}

int pm_data_write(struct pm_fs *fs, struct pm_ino *pi, uint64_t off, const void *buf, size_t len)
{
	const uint8_t *src = buf;
	size_t done = 0;
	int ret = 0;

	if (len == 0)
		return 0;
	if (off >= PM_MAX_FILE_SIZE)
		return -EFBIG;
	if (len > PM_MAX_FILE_SIZE - off)
		len = PM_MAX_FILE_SIZE - off;
	while (done < len && !ret) {
		uint64_t pos = off + done, lblk = pos >> PM_BLOCK_SHIFT;
		uint64_t last = (off + len - 1) >> PM_BLOCK_SHIFT, cnt = last - lblk + 1;
		struct pm_tx *tx = NULL;
		bool own = false;

		if (cnt > 64)
			cnt = 64;
		uint64_t end = (lblk + cnt) << PM_BLOCK_SHIFT;
		if (end > off + len)
			end = off + len;
		/* blocks allocated here are published, in one transaction, with
		 * the data written into them: a crash never shows stale bytes */
		if (mapped_prefix(fs, pi, lblk, cnt) < cnt) {
			tx = pm_tx_join(fs, &own);
			int64_t got = map_range(fs, pi, lblk, cnt, pos, off + len);
			if (got < 0) {
				uint64_t have = mapped_prefix(fs, pi, lblk, cnt);
				if (have == 0)
					ret = (int)got;
				else if (end > (lblk + have) << PM_BLOCK_SHIFT)
					end = (lblk + have) << PM_BLOCK_SHIFT;
			}
		}
		while (!ret && pos < end) {
			uint64_t pblk, run, n, boff = pos & (PM_BLOCK_SIZE - 1);

			if ((ret = pm_data_map(fs, pi, pos >> PM_BLOCK_SHIFT,
					       ((end - 1) >> PM_BLOCK_SHIFT) - (pos >> PM_BLOCK_SHIFT) + 1,
					       &pblk, &run)))
				break;
			if (!pblk) {
				ret = -EIO; /* cannot happen: the range was just mapped */
				break;
			}
			n = (run << PM_BLOCK_SHIFT) - boff;
			if (n > end - pos)
				n = end - pos;
			uint8_t *dst = (uint8_t *)pm_blk_ptr(fs, pblk) + boff;
			/* large copies bypass the caches where that makes them
			 * durable at the next drain: the commit's, or fsync's */
			if (pm_media_copy_nt(fs->m, dst, src + done, n))
				pi->needs_drain |= !tx;
			else if (tx)
				pm_tx_fresh(fs, dst, n);
			else
				pm_sync_dirty(fs, pi, dst, n);
			pos += n;
			done += n;
		}
		if (tx)
			pm_tx_end(tx, own);
		if (!ret && done < len && pos < (lblk + cnt) << PM_BLOCK_SHIFT && pos < off + len)
			ret = -ENOSPC; /* only a prefix fitted */
	}
	if (off + done > pi->size) {
		pi->size = off + done;
		pi->size_dirty = true;
	}
	return done ? (int)done : ret;
}

/* free_range -- free the blocks of file blocks [first, last] below *slot, a
 * pointer of height h covering [base, base + cap(h)); returns whether the
 * subtree is now empty. Freed blocks go to freed. Inside a transaction the
 * cleared pointers are logged first; outside, each clear is one 8-byte
 * store, flushed. */
static bool free_range(struct pm_fs *fs, uint64_t *slot, unsigned h, uint64_t base, uint64_t first,
		       uint64_t last, GArray *freed)
{
	bool empty = true;

	if (*slot == 0)
		return true;
	if (!pm_blk_valid(fs, *slot))
		return false; /* leave damage to fsck */
	if (h > 0) {
		uint64_t *node = pm_blk_ptr(fs, *slot), span = tree_cap(h - 1);
		unsigned lo = PM_TREE_FANOUT, hi = 0;

		for (unsigned i = 0; i < PM_TREE_FANOUT; i++) {
			uint64_t cb = base + i * span;
			if (cb <= last && cb + span - 1 >= first) {
				lo = i < lo ? i : lo;
				hi = i;
			}
		}
		if (h == 1 && lo <= hi)
			pm_tx_touch(fs, &node[lo], (hi - lo + 1) * sizeof(*node));
		for (unsigned i = 0; i < PM_TREE_FANOUT; i++) {
			if (i < lo || i > hi) {
				empty = empty && node[i] == 0;
				continue;
			}
			if (!free_range(fs, &node[i], h - 1, base + i * span, first, last, freed))
				empty = false;
		}
		if (!empty)
			return false;
	} else if (base < first || base > last) {
		return false;
	}
	g_array_append_val(freed, *slot);
	pm_tx_touch(fs, slot, sizeof(*slot));
	*slot = 0;
	pm_persist(fs, slot, sizeof(*slot));
	return true;
}

/* lower -- take the root out while only its first child is left (a file
 * cut below what its tree's height maps): root, height and block count
 * change in one transaction, the old root is freed after it commits */
static void lower(struct pm_fs *fs, struct pm_dinode *di)
{
	while (di->height > 0 && pm_blk_valid(fs, di->root)) {
		uint64_t *node = pm_blk_ptr(fs, di->root), old = di->root;
		bool own;

		for (unsigned i = 1; i < PM_TREE_FANOUT; i++)
			if (node[i])
				return;
		struct pm_tx *tx = pm_tx_join(fs, &own);
		pm_tx_touch(fs, di, sizeof(*di));
		di->root = node[0];
		di->height--;
		di->blocks -= di->blocks ? 1 : 0;
		pm_persist(fs, di, sizeof(*di));
		pm_tx_release(fs, old, 1);
		pm_tx_end(tx, own);
	}
}

static int free_blocks(struct pm_fs *fs, struct pm_ino *pi, uint64_t first, uint64_t last)
{
	struct pm_dinode *di = pm_dinode(fs, pi->ino);
	GArray *freed;

	if (di->root == 0 || first >= tree_cap(di->height) || first > last)
		return 0;
	freed = g_array_new(FALSE, FALSE, sizeof(uint64_t));
	/* The cleared pointers reach the media before the blocks can be
	 * handed to another file: no block is ever owned twice. */
	pm_sync_inode(fs, pi);
	free_range(fs, &di->root, di->height, 0, first, last, freed);
	if (!pm_tx_active())
		pm_media_drain(fs->m);
	for (guint i = 0; i < freed->len; i++)
		pm_tx_release(fs, g_array_index(freed, uint64_t, i), 1);
	pm_tx_touch(fs, &di->blocks, sizeof(di->blocks));
	di->blocks -= freed->len <= di->blocks ? freed->len : di->blocks;
	pm_persist(fs, di, sizeof(*di));
	g_array_free(freed, TRUE);
	if (last == UINT64_MAX) /* a truncation: the tree may be taller than needed */
		lower(fs, di);
	return 0;
}

/* zero_part -- clear bytes [from, to) of one file block, if it is mapped */
static int zero_part(struct pm_fs *fs, struct pm_ino *pi, uint64_t from, uint64_t to)
{
	uint64_t pblk, run;
	int ret = pm_data_map(fs, pi, from >> PM_BLOCK_SHIFT, 1, &pblk, &run);

	if (ret || !pblk || from >= to)
		return ret;
	uint8_t *p = (uint8_t *)pm_blk_ptr(fs, pblk) + (from & (PM_BLOCK_SIZE - 1));
	if (pm_tx_active()) { /* part of an atomic truncate or punch */
		pm_tx_touch(fs, p, to - from);
		pm_media_zero(fs->m, p, to - from);
		pm_persist(fs, p, to - from);
		return 0;
	}
	pm_media_zero(fs->m, p, to - from);
	pm_sync_dirty(fs, pi, p, to - from);
	return 0;
}

int pm_data_truncate(struct pm_fs *fs, struct pm_ino *pi, uint64_t size)
{
	struct pm_dinode *di = pm_dinode(fs, pi->ino);
	int ret = 0;

	if (size > PM_MAX_FILE_SIZE)
		return -EFBIG;
	if (size < pi->size || size < di->size) {
		uint64_t first = (size + PM_BLOCK_SIZE - 1) >> PM_BLOCK_SHIFT;
		bool own;
		struct pm_tx *tx = pm_tx_join(fs, &own);

		/* the tail is zeroed and the size set in one transaction; the
		 * blocks past the new end go after it committed (a crash between
		 * leaves them past the end, where mount trims them) */
		if (size & (PM_BLOCK_SIZE - 1))
			ret = zero_part(fs, pi, size, (size | (PM_BLOCK_SIZE - 1)) + 1);
		pi->size = size;
		pi->size_dirty = true;
		pm_sync_inode(fs, pi);
		pm_tx_end(tx, own);
		if (!ret)
			ret = free_blocks(fs, pi, first, UINT64_MAX);
	} else {
		pi->size = size;
		pi->size_dirty = true;
		pm_sync_inode(fs, pi);
	}
	return ret;
}

/* punch_piece -- punch [off, off + len), atomically */
static int punch_piece(struct pm_fs *fs, struct pm_ino *pi, uint64_t off, uint64_t len)
{
	uint64_t end = off + len, first, lastp1;
	int ret;

	if (len == 0)
		return 0;
	first = (off + PM_BLOCK_SIZE - 1) >> PM_BLOCK_SHIFT;
	lastp1 = end >> PM_BLOCK_SHIFT;
	if (first > lastp1) { /* inside one block */
		return zero_part(fs, pi, off, end);
	}
	if ((ret = zero_part(fs, pi, off, first << PM_BLOCK_SHIFT)))
		return ret;
	if ((ret = zero_part(fs, pi, lastp1 << PM_BLOCK_SHIFT, end)))
		return ret;
	if (lastp1 > first)
		ret = free_blocks(fs, pi, first, lastp1 - 1);
	return ret;
}

/* pm_data_punch -- a punch inside one leaf's span (2 MiB) is atomic; a
 * longer one is atomic piece by piece (a lane holds one leaf's pointers) */
int pm_data_punch(struct pm_fs *fs, struct pm_ino *pi, uint64_t off, uint64_t len)
{
	const uint64_t span = (uint64_t)PM_TREE_FANOUT << PM_BLOCK_SHIFT;
	int ret = 0;

	while (len && !ret) {
		uint64_t n = span - (off % span);
		bool own;
		struct pm_tx *tx;

		if (n > len)
			n = len;
		pm_sync_inode(fs, pi);
		tx = pm_tx_join(fs, &own);
		ret = punch_piece(fs, pi, off, n);
		pm_tx_end(tx, own);
		off += n;
		len -= n;
	}
	return ret;
}

int pm_data_allocate(struct pm_fs *fs, struct pm_ino *pi, uint64_t off, uint64_t len)
{
	uint64_t first = off >> PM_BLOCK_SHIFT, last;

	if (len == 0)
		return 0;
	if (off + len > PM_MAX_FILE_SIZE || off + len < off)
		return -EFBIG;
	last = (off + len - 1) >> PM_BLOCK_SHIFT;
	int64_t got = map_range(fs, pi, first, last - first + 1, 0, 0);
	return got < 0 ? (int)got : 0;
}

int pm_data_trim(struct pm_fs *fs, struct pm_ino *pi)
{
	return free_blocks(fs, pi, (pi->size + PM_BLOCK_SIZE - 1) >> PM_BLOCK_SHIFT, UINT64_MAX);
}

static int walk(struct pm_fs *fs, uint64_t ino, uint64_t blk, unsigned h,
		int (*fn)(struct pm_fs *, uint64_t, void *), void *arg)
{
	int ret;

	if (!pm_blk_valid(fs, blk))
		return bad_pointer(ino, blk);
	if ((ret = fn(fs, blk, arg)))
		return ret;
	if (h == 0)
		return 0;
	const uint64_t *node = pm_blk_ptr(fs, blk);
	for (unsigned i = 0; i < PM_TREE_FANOUT; i++)
		if (node[i] && (ret = walk(fs, ino, node[i], h - 1, fn, arg)))
			return ret;
	return 0;
}

int pm_data_walk(struct pm_fs *fs, const struct pm_dinode *di,
		 int (*fn)(struct pm_fs *fs, uint64_t blk, void *arg), void *arg)
{
	uint64_t ino = (uint64_t)(di - fs->itable) + 1;

	if (di->root == 0)
		return 0;
	if (di->height > PM_TREE_MAX_HEIGHT)
		return pm_err(EUCLEAN, "inode %lu: tree height %u is invalid; run fsck.pmfuse",
			      (unsigned long)ino, di->height);
	return walk(fs, ino, di->root, di->height, fn, arg);
}
