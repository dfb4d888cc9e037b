/* test-copy.c -- pm_fs_copy_range (copy_file_range inside the pool): the
 * bytes, the end of the source, holes, one file, what it refuses, a full
 * pool, and that it is a write to the destination (mode, durability) */
#include <errno.h>
#include <sys/stat.h>

#include "unit.h"

/* assert_copied -- dst holds src's pattern (seed) from src_off on at dst_off */
static void assert_copied(struct pm_fs *fs, uint64_t dst, uint64_t dst_off, uint64_t src_off, size_t len,
			  uint32_t seed)
{
	g_autofree uint8_t *want = g_malloc(len);
	g_autofree uint8_t *got = g_malloc(len);

	unit_pattern(want, src_off, len, seed);
	g_assert_cmpuint(unit_read(fs, dst, dst_off, len, got), ==, len);
	g_assert_cmpmem(got, len, want, len);
}

static void test_data(void)
{
	struct unit_pool *p = unit_pool_new(64 * UNIT_MiB, 0);
	struct pm_fs *fs = p->fs;
	uint64_t a = unit_create(fs, PM_ROOT_INO, "a", S_IFREG | 0644);
	uint64_t b = unit_create(fs, PM_ROOT_INO, "b", S_IFREG | 0644);
	const size_t len = 2 * UNIT_MiB + 123;

	unit_write_pattern(fs, a, 0, 3 * UNIT_MiB, 1);
	unit_write_pattern(fs, b, 0, 4096, 2);
	/* unaligned on both sides: every run of the source straddles blocks */
	g_assert_cmpint(pm_fs_copy_range(fs, a, 1000, b, 5000, len, false), ==, (ssize_t)len);
	g_assert_cmpuint(unit_size(fs, b), ==, 5000 + len);
	unit_assert_pattern(fs, b, 0, 4096, 2);
	unit_assert_zero(fs, b, 4096, 5000 - 4096);
	assert_copied(fs, b, 5000, 1000, len, 1);
	unit_assert_pattern(fs, a, 0, 3 * UNIT_MiB, 1);
	unit_assert_blocks(fs, b);
	/* an overwrite inside the destination leaves its size alone */
	g_assert_cmpint(pm_fs_copy_range(fs, a, 0, b, 0, 4096, false), ==, 4096);
	g_assert_cmpuint(unit_size(fs, b), ==, 5000 + len);
	unit_assert_pattern(fs, b, 0, 4096, 1);
	g_assert_cmpint(pm_fs_fsync(fs, b), ==, 0);
	unit_assert_reopen_stable(p);
	fs = p->fs;
	unit_assert_pattern(fs, b, 0, 4096, 1);
	assert_copied(fs, b, 5000, 1000, len, 1);
	unit_pool_free(p);
}

static void test_end_and_holes(void)
{
	struct unit_pool *p = unit_pool_new(64 * UNIT_MiB, 0);
	struct pm_fs *fs = p->fs;
	uint64_t a = unit_create(fs, PM_ROOT_INO, "a", S_IFREG | 0644);
	uint64_t b = unit_create(fs, PM_ROOT_INO, "b", S_IFREG | 0644);
	uint64_t size = UNIT_MiB + 4096;

	unit_write_pattern(fs, a, 0, 4096, 3);
	unit_write_pattern(fs, a, UNIT_MiB, 4096, 3); /* a hole in between */
	unit_write_pattern(fs, b, 0, 2 * UNIT_MiB, 4); /* bytes the hole must replace */
	/* asked for more than there is: the copy stops at the source's end */
	g_assert_cmpint(pm_fs_copy_range(fs, a, 0, b, 0, 10 * UNIT_MiB, false), ==, (ssize_t)size);
	unit_assert_pattern(fs, b, 0, 4096, 3);
	unit_assert_zero(fs, b, 4096, UNIT_MiB - 4096);
	unit_assert_pattern(fs, b, UNIT_MiB, 4096, 3);
	unit_assert_pattern(fs, b, size, 2 * UNIT_MiB - size, 4);
	g_assert_cmpuint(unit_size(fs, b), ==, 2 * UNIT_MiB);
	/* at or past the end: nothing, and nothing changes */
	g_assert_cmpint(pm_fs_copy_range(fs, a, size, b, 0, 4096, false), ==, 0);
	g_assert_cmpint(pm_fs_copy_range(fs, a, UINT64_MAX - 10, b, 0, 4096, false), ==, 0);
	unit_assert_pattern(fs, b, 0, 4096, 3);
	unit_pool_free(p);
}

static void test_one_file(void)
{
	struct unit_pool *p = unit_pool_new(64 * UNIT_MiB, 0);
	struct pm_fs *fs = p->fs;
	uint64_t a = unit_create(fs, PM_ROOT_INO, "a", S_IFREG | 0644);

	unit_write_pattern(fs, a, 0, UNIT_MiB, 5);
	/* apart: fine, also past the end */
	g_assert_cmpint(pm_fs_copy_range(fs, a, 0, a, UNIT_MiB, 65536, false), ==, 65536);
	g_assert_cmpuint(unit_size(fs, a), ==, UNIT_MiB + 65536);
	assert_copied(fs, a, UNIT_MiB, 0, 65536, 5);
	/* overlapping ranges, either way round: refused, nothing written */
	g_assert_cmpint(pm_fs_copy_range(fs, a, 0, a, 4096, 8192, false), ==, -EINVAL);
	g_assert_cmpint(pm_fs_copy_range(fs, a, 4096, a, 0, 8192, false), ==, -EINVAL);
	unit_assert_pattern(fs, a, 0, UNIT_MiB, 5);
	unit_pool_free(p);
}

static void test_refused(void)
{
	struct unit_pool *p = unit_pool_new(64 * UNIT_MiB, 0);
	struct pm_fs *fs = p->fs;
	uint64_t a = unit_create(fs, PM_ROOT_INO, "a", S_IFREG | 0644);
	uint64_t d = unit_create(fs, PM_ROOT_INO, "d", S_IFDIR | 0755);
	uint64_t fifo = unit_create(fs, PM_ROOT_INO, "fifo", S_IFIFO | 0644);

	unit_write_pattern(fs, a, 0, 8192, 6);
	g_assert_cmpint(pm_fs_copy_range(fs, a, 0, d, 0, 4096, false), ==, -EISDIR);
	g_assert_cmpint(pm_fs_copy_range(fs, d, 0, a, 0, 4096, false), ==, -EISDIR);
	g_assert_cmpint(pm_fs_copy_range(fs, a, 0, fifo, 0, 4096, false), ==, -EINVAL);
	g_assert_cmpint(pm_fs_copy_range(fs, fifo, 0, a, 0, 4096, false), ==, -EINVAL);
	/* an inode number that names no file */
	g_assert_cmpint(pm_fs_copy_range(fs, a, 0, 999999, 0, 4096, false), <, 0);
	g_assert_cmpint(pm_fs_copy_range(fs, 999999, 0, a, 0, 4096, false), <, 0);
	/* past the largest file */
	g_assert_cmpint(pm_fs_copy_range(fs, a, 0, a, PM_MAX_FILE_SIZE, 4096, false), ==, -EFBIG);
	unit_assert_pattern(fs, a, 0, 8192, 6);
	g_assert_cmpuint(unit_size(fs, a), ==, 8192);
	unit_pool_free(p);
}

static void test_full_pool(void)
{
	struct unit_pool *p = unit_pool_new(16 * UNIT_MiB, 0);
	struct pm_fs *fs = p->fs;
	uint64_t a = unit_create(fs, PM_ROOT_INO, "a", S_IFREG | 0644);
	uint64_t b = unit_create(fs, PM_ROOT_INO, "b", S_IFREG | 0644);
	uint64_t off = 0;
	ssize_t n;

	unit_write_pattern(fs, a, 0, 6 * UNIT_MiB, 7);
	/* copies of a until the pool is full: the last one short, then ENOSPC */
	while ((n = pm_fs_copy_range(fs, a, 0, b, off, 6 * UNIT_MiB, false)) == 6 * (ssize_t)UNIT_MiB)
		off += (uint64_t)n;
	g_assert_cmpint(n, >, 0);
	g_assert_cmpint(n, <, 6 * (ssize_t)UNIT_MiB);
	off += (uint64_t)n;
	g_assert_cmpint(pm_fs_copy_range(fs, a, 0, b, off, 6 * UNIT_MiB, false), ==, -ENOSPC);
	g_assert_cmpuint(unit_size(fs, b), ==, off);
	for (uint64_t o = 0; o < off; o += 6 * UNIT_MiB)
		assert_copied(fs, b, o, 0, MIN(6 * UNIT_MiB, off - o), 7);
	unit_assert_pattern(fs, a, 0, 6 * UNIT_MiB, 7);
	unit_assert_blocks(fs, b);
	unit_assert_reopen_stable(p);
	unit_pool_free(p);
}

static void test_kill_priv(void)
{
	struct unit_pool *p = unit_pool_new(16 * UNIT_MiB, 0);
	struct pm_fs *fs = p->fs;
	uint64_t a = unit_create(fs, PM_ROOT_INO, "a", S_IFREG | 0644);
	uint64_t b = unit_create(fs, PM_ROOT_INO, "b", S_IFREG | 06755);
	struct pm_attr attr;

	unit_write_pattern(fs, a, 0, 4096, 8);
	/* a caller that may keep setuid (as for pm_fs_write) */
	g_assert_cmpint(pm_fs_copy_range(fs, a, 0, b, 0, 4096, false), ==, 4096);
	unit_attr(fs, b, &attr);
	g_assert_cmpuint(attr.mode, ==, S_IFREG | 06755);
	g_assert_cmpint(pm_fs_copy_range(fs, a, 0, b, 0, 4096, true), ==, 4096);
	unit_attr(fs, b, &attr);
	g_assert_cmpuint(attr.mode, ==, S_IFREG | 0755);
	/* nothing copied (the source's end): nothing changes */
	struct pm_setattr sa = { .valid = PM_SET_MODE, .mode = 06755 };
	g_assert_cmpint(pm_fs_setattr(fs, b, &sa, NULL), ==, 0);
	g_assert_cmpint(pm_fs_copy_range(fs, a, 4096, b, 0, 4096, true), ==, 0);
	unit_attr(fs, b, &attr);
	g_assert_cmpuint(attr.mode, ==, S_IFREG | 06755);
	unit_pool_free(p);
}

int main(int argc, char **argv)
{
	unit_init(&argc, &argv);
	unit_add("/copy/data", test_data);
	unit_add("/copy/end-and-holes", test_end_and_holes);
	unit_add("/copy/one-file", test_one_file);
	unit_add("/copy/refused", test_refused);
	unit_add("/copy/full-pool", test_full_pool);
	unit_add("/copy/kill-priv", test_kill_priv);
	return g_test_run();
}
