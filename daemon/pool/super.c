/* super.c -- superblock layout, formatting and validation */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#include "crc.h"
#include "err.h"
#include "super.h"

#define FSCK_HINT "run fsck.pmfuse"

uint32_t pm_super_checksum(const struct pm_super *sb)
{
	return pm_crc32c(0, sb, offsetof(struct pm_super, checksum));
}

void pm_super_uuid_str(const struct pm_super *sb, char out[37])
{
	const uint8_t *u = sb->uuid;

	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12],
		 u[13], u[14], u[15]);
}

int pm_super_layout(struct pm_super *sb, uint64_t size, uint64_t inodes)
{
	uint64_t total = size / PM_BLOCK_SIZE;
	uint64_t per_block = PM_BLOCK_SIZE / PM_INODE_SIZE;

	if (size < PM_MIN_POOL_SIZE)
		return pm_err(EINVAL, "pool size %" PRIu64 " is below the minimum of %u MiB", size,
			      PM_MIN_POOL_SIZE >> 20);
	if (inodes == 0)
		inodes = size / 8192;
	if (inodes > UINT32_MAX - per_block)
		return pm_err(EINVAL, "at most %u inodes are supported", (unsigned)(UINT32_MAX - per_block));
	inodes = (inodes + per_block - 1) / per_block * per_block;
	if (inodes < per_block)
		inodes = per_block;

	memset(sb, 0, sizeof(*sb));
	memcpy(sb->magic, PM_MAGIC, sizeof(sb->magic));
	sb->major = PM_MAJOR;
	sb->minor = PM_MINOR;
	sb->pool_size = total * PM_BLOCK_SIZE;
	sb->block_size = PM_BLOCK_SIZE;
	sb->inode_size = PM_INODE_SIZE;
	sb->total_blocks = total;
	sb->journal_start = 2;
	sb->journal_blocks = PM_JOURNAL_BLOCKS;
	sb->itable_start = sb->journal_start + sb->journal_blocks;
	sb->itable_blocks = inodes / per_block;
	sb->inode_count = inodes;
	sb->data_start = sb->itable_start + sb->itable_blocks;
	if (sb->data_start + 16 > total)
		return pm_err(ENOSPC, "%" PRIu64 " inodes leave no room for data in %" PRIu64
			      " bytes; give fewer --inodes or a larger --size", inodes, size);
	sb->data_blocks = total - sb->data_start;
	sb->mkfs_time = time(NULL);
	if (getrandom(sb->uuid, sizeof(sb->uuid), 0) != sizeof(sb->uuid))
		return pm_err(EIO, "cannot generate a UUID");
	sb->uuid[6] = (sb->uuid[6] & 0x0f) | 0x40; /* version 4 */
	sb->uuid[8] = (sb->uuid[8] & 0x3f) | 0x80;
	sb->checksum = pm_super_checksum(sb);
	return 0;
}

int pm_super_format(struct pm_media *m, const struct pm_super *sb, uint32_t uid, uint32_t gid)
{
	uint8_t *base = pm_media_base(m);
	struct pm_dinode *root;
	struct timespec now;
	uint64_t *state = (uint64_t *)(base + PM_STATE_OFFSET);

	if (pm_media_size(m) < sb->pool_size)
		return pm_err(ENOSPC, "the pool holds %zu bytes, the layout needs %" PRIu64,
			      pm_media_size(m), sb->pool_size);
	/* Invalidate the old superblock first: a crash while formatting must
	 * not leave an old superblock describing new contents. */
	memset(base, 0, PM_BLOCK_SIZE * 2);
	pm_media_persist(m, base, PM_BLOCK_SIZE * 2);

	pm_media_zero(m, base + sb->journal_start * PM_BLOCK_SIZE,
		      (sb->journal_blocks + sb->itable_blocks) * PM_BLOCK_SIZE);
	clock_gettime(CLOCK_REALTIME, &now);
	root = (struct pm_dinode *)(base + sb->itable_start * PM_BLOCK_SIZE);
	root->mode = S_IFDIR | 0755;
	root->uid = uid;
	root->gid = gid;
	root->nlink = 2;
	root->generation = 1;
	root->parent = PM_ROOT_INO;
	root->atime = root->mtime = root->ctime = root->btime =
		(struct pm_time){ .sec = now.tv_sec, .nsec = (uint32_t)now.tv_nsec };
	pm_media_persist(m, base + sb->journal_start * PM_BLOCK_SIZE,
			 (sb->journal_blocks + sb->itable_blocks) * PM_BLOCK_SIZE);

	memcpy(base + PM_BLOCK_SIZE, sb, sizeof(*sb));
	pm_media_persist(m, base + PM_BLOCK_SIZE, sizeof(*sb));
	*state = PM_STATE_CLEAN;
	pm_media_persist(m, state, sizeof(*state));
	memcpy(base, sb, sizeof(*sb));
	pm_media_persist(m, base, sizeof(*sb));
	return 0;
}

int pm_super_looks_like_pool(const void *base, size_t size)
{
	return size >= sizeof(struct pm_super) && memcmp(base, PM_MAGIC, 8) == 0;
}

static int check_region(const struct pm_super *sb, const char *what, uint64_t start, uint64_t n,
			uint64_t min_start)
{
	if (start < min_start || n > sb->total_blocks || start > sb->total_blocks - n)
		return pm_err(EUCLEAN, "superblock: %s region (block %" PRIu64 ", %" PRIu64
			      " blocks) is outside the pool; " FSCK_HINT, what, start, n);
	return 0;
}

int pm_super_check(const void *base, size_t size, struct pm_super *out)
{
	const struct pm_super *sb = base;
	int ret;

	if (size < PM_BLOCK_SIZE * 2 || !pm_super_looks_like_pool(base, size))
		return pm_err(EINVAL, "not a pmfuse pool (bad magic; create one with mkfs.pmfuse)");
	if (sb->major > PM_MAJOR)
		return pm_err(EPROTO, "pool format version %u.%u is newer than this pmfuse supports (%u.%u)",
			      sb->major, sb->minor, PM_MAJOR, PM_MINOR);
	if (sb->checksum != pm_super_checksum(sb))
		return pm_err(EUCLEAN, "superblock checksum mismatch (stored %08x, computed %08x); " FSCK_HINT,
			      sb->checksum, pm_super_checksum(sb));
	if (sb->incompat & ~PM_FEATURE_INCOMPAT_SUPP)
		return pm_err(EPROTO, "pool uses unknown incompatible features 0x%llx",
			      (unsigned long long)(sb->incompat & ~PM_FEATURE_INCOMPAT_SUPP));
	if (sb->block_size != PM_BLOCK_SIZE || sb->inode_size != PM_INODE_SIZE)
		return pm_err(EUCLEAN, "superblock: unsupported block size %u or inode size %u; " FSCK_HINT,
			      sb->block_size, sb->inode_size);
	/* not total_blocks * PM_BLOCK_SIZE: a damaged count can wrap around to
	 * the right size, and every region is checked against the count
	 * (found by the fuzzers: reads and repairs far past the mapping) */
	if (sb->pool_size % PM_BLOCK_SIZE || sb->total_blocks != sb->pool_size / PM_BLOCK_SIZE)
		return pm_err(EUCLEAN, "superblock: pool size and block count disagree; " FSCK_HINT);
	if (sb->pool_size > size)
		return pm_err(EUCLEAN, "pool file is too short: %zu bytes, the superblock says %" PRIu64
			      " (truncated pool?)", size, sb->pool_size);
	if ((ret = check_region(sb, "journal", sb->journal_start, sb->journal_blocks, 2)) ||
	    (ret = check_region(sb, "inode table", sb->itable_start, sb->itable_blocks,
				sb->journal_start + sb->journal_blocks)) ||
	    (ret = check_region(sb, "data", sb->data_start, sb->data_blocks,
				sb->itable_start + sb->itable_blocks)))
		return ret;
	if (sb->inode_count == 0 || sb->inode_count > sb->itable_blocks * (PM_BLOCK_SIZE / PM_INODE_SIZE))
		return pm_err(EUCLEAN, "superblock: inode count %" PRIu64 " does not fit the inode table; " FSCK_HINT,
			      sb->inode_count);
	memcpy(out, sb, sizeof(*out));
	return 0;
}
