/* resize.c -- grow or shrink an unmounted pool in place.
 *
 * The data area is the last region of a pool and the allocation bitmaps
 * are rebuilt at every mount, so a resize moves only its end: the block
 * count in both superblocks. Growing extends the file first and then
 * writes the superblocks (a crash in between leaves the old pool in a
 * longer file); shrinking checks that no block past the new end is in use,
 * writes the superblocks, then cuts the file (a crash in between leaves
 * the new pool in a longer file). The backup superblock is written before
 * the primary, so the one that is read (the primary, while it is sound)
 * never describes more than the file holds. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "fs.h"
#include "fsi.h"
#include "parse.h"
#include "super.h"

static void write_super(struct pm_fs *fs, const struct pm_super *sb)
{
	memcpy(fs->base + PM_BLOCK_SIZE, sb, sizeof(*sb));
	pm_media_persist(fs->m, fs->base + PM_BLOCK_SIZE, sizeof(*sb));
	memcpy(fs->base, sb, sizeof(*sb));
	pm_media_persist(fs->m, fs->base, sizeof(*sb));
	fs->sb = *sb;
}

int pm_fs_resize(const char *path, uint64_t size, uint64_t *old_size, uint64_t *new_size)
{
	struct pm_fs *fs = NULL;
	struct pm_super sb;
	struct stat st;
	char have[32], want[32];
	uint64_t total = size / PM_BLOCK_SIZE, end;
	int ret, fd = -1;

	if ((ret = pm_fs_open(path, 0, &fs)))
		return ret;
	sb = fs->sb;
	*old_size = sb.pool_size;
	*new_size = total * PM_BLOCK_SIZE;
	if (*new_size == sb.pool_size)
		goto out;
	if (total < sb.data_start + 16) {
		pm_format_size((sb.data_start + 16) * PM_BLOCK_SIZE, want, sizeof(want));
		ret = pm_err(EINVAL, "the pool's inode table and journal need at least %s", want);
		goto out;
	}
	end = pm_alloc_used_end(fs);
	if (total < sb.data_start + end) {
		pm_format_size((sb.data_start + end) * PM_BLOCK_SIZE, want, sizeof(want));
		ret = pm_err(EBUSY, "blocks past the new end are in use: the pool cannot shrink below %s", want);
		goto out;
	}
	if (stat(path, &st) < 0) {
		ret = pm_err(errno, "cannot stat %s: %s", path, strerror(errno));
		goto out;
	}
	if (*new_size > pm_media_size(fs->m)) {
		if (!S_ISREG(st.st_mode)) {
			pm_format_size(pm_media_size(fs->m), have, sizeof(have));
			ret = pm_err(ENOSPC, "the device holds %s: a pool on it cannot grow past that", have);
			goto out;
		}
		fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd < 0 || (errno = posix_fallocate(fd, 0, (off_t)*new_size)) != 0) {
			ret = pm_err(errno, "cannot extend %s: %s", path, strerror(errno));
			goto out;
		}
	}
	sb.total_blocks = total;
	sb.pool_size = *new_size;
	sb.data_blocks = total - sb.data_start;
	sb.checksum = pm_super_checksum(&sb);
	write_super(fs, &sb);
	pm_fs_close(&fs); /* marks it clean */
	if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > *new_size && truncate(path, (off_t)*new_size) < 0) {
		pm_format_size(*new_size, want, sizeof(want));
		ret = pm_err(errno, "the pool is %s now, but %s could not be cut to it: %s", want, path,
			     strerror(errno));
	}
out:
	if (fd >= 0)
		close(fd);
	pm_fs_close(&fs);
	return ret;
}
