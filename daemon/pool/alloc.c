/* alloc.c -- block and inode allocation; volatile bitmaps rebuilt at mount */
#include <errno.h>
#include <stdlib.h>

#include "err.h"
#include "fs.h"
#include "fsi.h"

#define BIT_TEST(map, i) (((map)[(i) >> 6] >> ((i) & 63)) & 1)
#define BIT_SET(map, i) ((map)[(i) >> 6] |= 1ull << ((i) & 63))
#define BIT_CLR(map, i) ((map)[(i) >> 6] &= ~(1ull << ((i) & 63)))

int pm_alloc_init(struct pm_fs *fs)
{
	uint64_t nb = fs->sb.data_blocks, ni = fs->sb.inode_count + 1;

	fs->bmap = calloc((nb + 63) / 64, sizeof(uint64_t));
	fs->imap = calloc((ni + 63) / 64, sizeof(uint64_t));
	if (!fs->bmap || !fs->imap)
		return pm_err(ENOMEM, "out of memory for the allocation bitmaps");
	fs->free_blocks = nb;
	fs->free_inodes = fs->sb.inode_count;
	BIT_SET(fs->imap, 0); /* inode numbers start at 1 */
	pthread_mutex_init(&fs->alloc_lock, NULL);
	return 0;
}

void pm_alloc_fini(struct pm_fs *fs)
{
	free(fs->bmap);
	free(fs->imap);
	fs->bmap = fs->imap = NULL;
	pthread_mutex_destroy(&fs->alloc_lock);
}

/* find_free -- first clear bit at or after from, below n; n if none */
static uint64_t find_free(const uint64_t *map, uint64_t from, uint64_t n)
{
	uint64_t i = from;

	while (i < n) {
		uint64_t w = map[i >> 6] | ((1ull << (i & 63)) - 1);
		if (w != ~0ull) {
			i = (i & ~63ull) + (uint64_t)__builtin_ctzll(~w);
			return i < n ? i : n;
		}
		i = (i & ~63ull) + 64;
	}
	return n;
}

int64_t pm_alloc_blocks(struct pm_fs *fs, uint64_t goal, uint64_t want, uint64_t *start)
{
	uint64_t n = fs->sb.data_blocks, i, len;

	pthread_mutex_lock(&fs->alloc_lock);
	if (fs->free_blocks == 0) {
		pthread_mutex_unlock(&fs->alloc_lock);
		return -ENOSPC;
	}
	/* a file goes on where it ended; anything else takes the lowest free
	 * blocks, so that what was freed is used again before space never
	 * written since mkfs: a rotating cursor walked through all of that,
	 * and a pool page's first touch costs a fault and, on tmpfs, a
	 * cleared page (README step 22) */
	i = n;
	if (goal >= fs->sb.data_start && goal < fs->sb.data_start + n)
		i = find_free(fs->bmap, goal - fs->sb.data_start, n);
	if (i == n)
		i = fs->low = find_free(fs->bmap, fs->low, n);
	for (len = 0; len < want && i + len < n && !BIT_TEST(fs->bmap, i + len); len++)
		BIT_SET(fs->bmap, i + len);
	fs->free_blocks -= len;
	if (i == fs->low)
		fs->low = i + len;
	pthread_mutex_unlock(&fs->alloc_lock);
	*start = fs->sb.data_start + i;
	return (int64_t)len;
}

void pm_alloc_free(struct pm_fs *fs, uint64_t start, uint64_t count)
{
	pthread_mutex_lock(&fs->alloc_lock);
	for (uint64_t i = start - fs->sb.data_start; count--; i++) {
		if (BIT_TEST(fs->bmap, i)) {
			BIT_CLR(fs->bmap, i);
			fs->free_blocks++;
			if (i < fs->low)
				fs->low = i;
		}
	}
	pthread_mutex_unlock(&fs->alloc_lock);
}

int pm_alloc_mark(struct pm_fs *fs, uint64_t start, uint64_t count)
{
	for (uint64_t i = start - fs->sb.data_start; count--; i++) {
		if (BIT_TEST(fs->bmap, i))
			return pm_err(EUCLEAN, "block %lu is owned twice; run fsck.pmfuse",
				      (unsigned long)(i + fs->sb.data_start));
		BIT_SET(fs->bmap, i);
		fs->free_blocks--;
	}
	return 0;
}

int pm_alloc_reserve_bad(struct pm_fs *fs, uint64_t first, uint64_t last)
{
	int where = PM_BAD_RESERVED;

	for (uint64_t b = first; b <= last; b++) {
		uint64_t i = b - fs->sb.data_start;

		if (b < fs->sb.data_start || i >= fs->sb.data_blocks) {
			where = PM_BAD_METADATA; /* or past the pool's end */
		} else if (BIT_TEST(fs->bmap, i)) {
			if (where == PM_BAD_RESERVED)
				where = PM_BAD_IN_USE;
		} else {
			BIT_SET(fs->bmap, i); /* never handed out while mounted */
			fs->free_blocks--;
		}
	}
	return where;
}

uint64_t pm_alloc_used_end(struct pm_fs *fs)
{
	uint64_t i = fs->sb.data_blocks;

	pthread_mutex_lock(&fs->alloc_lock);
	while (i > 0 && !BIT_TEST(fs->bmap, i - 1))
		i--;
	pthread_mutex_unlock(&fs->alloc_lock);
	return i;
}

int pm_alloc_inode(struct pm_fs *fs, uint64_t *ino)
{
	uint64_t n = fs->sb.inode_count + 1, i;

	pthread_mutex_lock(&fs->alloc_lock);
	if (fs->free_inodes == 0) {
		pthread_mutex_unlock(&fs->alloc_lock);
		return pm_err(ENOSPC, "no free inodes");
	}
	i = find_free(fs->imap, fs->icursor, n);
	if (i == n)
		i = find_free(fs->imap, 1, n);
	BIT_SET(fs->imap, i);
	fs->free_inodes--;
	fs->icursor = i + 1;
	pthread_mutex_unlock(&fs->alloc_lock);
	*ino = i;
	return 0;
}

void pm_alloc_inode_free(struct pm_fs *fs, uint64_t ino)
{
	pthread_mutex_lock(&fs->alloc_lock);
	if (BIT_TEST(fs->imap, ino)) {
		BIT_CLR(fs->imap, ino);
		fs->free_inodes++;
	}
	pthread_mutex_unlock(&fs->alloc_lock);
}

void pm_alloc_inode_mark(struct pm_fs *fs, uint64_t ino)
{
	if (!BIT_TEST(fs->imap, ino)) {
		BIT_SET(fs->imap, ino);
		fs->free_inodes--;
	}
}

int pm_alloc_contig(struct pm_fs *fs, uint64_t want, uint64_t *start)
{
	uint64_t n = fs->sb.data_blocks, i = 0, len;

	pthread_mutex_lock(&fs->alloc_lock);
	while ((i = find_free(fs->bmap, i, n)) < n) {
		for (len = 0; len < want && i + len < n && !BIT_TEST(fs->bmap, i + len); len++)
			;
		if (len == want) {
			for (len = 0; len < want; len++)
				BIT_SET(fs->bmap, i + len);
			fs->free_blocks -= want;
			pthread_mutex_unlock(&fs->alloc_lock);
			*start = fs->sb.data_start + i;
			return 0;
		}
		i += len;
	}
	pthread_mutex_unlock(&fs->alloc_lock);
	return -ENOSPC;
}
