/* test-alloc.c -- block and inode allocation */
#include <errno.h>
#include <sys/stat.h>

#include "unit.h"

#define SMALL (8 * UNIT_MiB)

static uint64_t bfree(struct pm_fs *fs)
{
	struct pm_statfs st;

	unit_statfs(fs, &st);
	return st.bfree;
}

static uint64_t ffree(struct pm_fs *fs)
{
	struct pm_statfs st;

	unit_statfs(fs, &st);
	return st.ffree;
}

static void assert_in_data(struct pm_fs *fs, uint64_t start, uint64_t n)
{
	g_assert_cmpuint(n, >, 0);
	g_assert_cmpuint(start, >=, fs->sb.data_start);
	g_assert_cmpuint(start + n, <=, fs->sb.data_start + fs->sb.data_blocks);
}

/* exhaust -- allocate every free block, checking that none comes twice;
 * returns a bitmap (one byte per data block) of what was handed out */
static uint8_t *exhaust(struct pm_fs *fs)
{
	uint64_t nb = fs->sb.data_blocks, total = 0, want = 1, start, free_before = bfree(fs);
	uint8_t *seen = g_malloc0(nb);
	int64_t n;

	while ((n = pm_alloc_blocks(fs, 0, want, &start)) > 0) {
		g_assert_cmpint(n, <=, (int64_t)want);
		assert_in_data(fs, start, (uint64_t)n);
		for (int64_t i = 0; i < n; i++) {
			uint64_t b = start - fs->sb.data_start + (uint64_t)i;
			if (seen[b])
				g_error("block %" G_GUINT64_FORMAT " handed out twice", start + (uint64_t)i);
			seen[b] = 1;
		}
		total += (uint64_t)n;
		want = want % 37 + 1;
	}
	g_assert_cmpint(n, ==, -ENOSPC);
	g_assert_cmpuint(bfree(fs), ==, 0);
	g_assert_cmpuint(total, ==, free_before); /* every free block, once */
	return seen;
}

static void test_in_data_area(void)
{
	struct unit_pool *p = unit_pool_new(SMALL, 0);
	uint64_t start, before = bfree(p->fs);
	int64_t n = pm_alloc_blocks(p->fs, 0, 10, &start);

	g_assert_cmpint(n, ==, 10); /* a fresh pool has room in one piece */
	assert_in_data(p->fs, start, 10);
	g_assert_cmpuint(bfree(p->fs), ==, before - 10);
	/* goals outside the data area are ignored, not obeyed */
	n = pm_alloc_blocks(p->fs, 1, 1, &start);
	assert_in_data(p->fs, start, (uint64_t)n);
	n = pm_alloc_blocks(p->fs, p->fs->sb.itable_start, 3, &start);
	assert_in_data(p->fs, start, (uint64_t)n);
	n = pm_alloc_blocks(p->fs, UINT64_MAX, 3, &start);
	assert_in_data(p->fs, start, (uint64_t)n);
	unit_pool_free(p);
}

static void test_contiguous(void)
{
	struct unit_pool *p = unit_pool_new(SMALL, 0);
	struct pm_fs *fs = p->fs;
	uint64_t a, b, c;

	g_assert_cmpint(pm_alloc_blocks(fs, 0, 100, &a), ==, 100);
	g_assert_cmpint(pm_alloc_blocks(fs, 0, 50, &b), ==, 50);
	g_assert_true(b >= a + 100 || b + 50 <= a); /* no overlap */
	/* a free goal is honoured */
	uint64_t goal = fs->sb.data_start + 1000;
	g_assert_cmpint(pm_alloc_blocks(fs, goal, 4, &c), ==, 4);
	g_assert_cmpuint(c, ==, goal);
	/* a used goal gives the next free blocks, not the used ones */
	g_assert_cmpint(pm_alloc_blocks(fs, goal, 4, &c), ==, 4);
	g_assert_cmpuint(c, ==, goal + 4);
	/* a run stops at a used block: at most what is contiguous */
	g_assert_cmpint(pm_alloc_blocks(fs, goal - 2, 10, &c), ==, 2);
	g_assert_cmpuint(c, ==, goal - 2);
	unit_pool_free(p);
}

/* lowest_first -- without a goal the lowest free blocks are taken, so
 * what was freed is used again before space never written is touched */
static void test_lowest_first(void)
{
	struct unit_pool *p = unit_pool_new(SMALL, 0);
	struct pm_fs *fs = p->fs;
	uint64_t a, b, c, d;

	g_assert_cmpint(pm_alloc_blocks(fs, 0, 100, &a), ==, 100);
	g_assert_cmpint(pm_alloc_blocks(fs, 0, 100, &b), ==, 100);
	g_assert_cmpuint(b, ==, a + 100);
	pm_alloc_free(fs, a + 10, 20);
	/* a hole of 20 below: filled first, then the space after b */
	g_assert_cmpint(pm_alloc_blocks(fs, 0, 50, &c), ==, 20);
	g_assert_cmpuint(c, ==, a + 10);
	g_assert_cmpint(pm_alloc_blocks(fs, 0, 50, &c), ==, 50);
	g_assert_cmpuint(c, ==, b + 100);
	/* a file goes on after its last block, past a lower hole */
	pm_alloc_free(fs, a, 5);
	g_assert_cmpint(pm_alloc_blocks(fs, c + 50, 8, &d), ==, 8);
	g_assert_cmpuint(d, ==, c + 50);
	/* and with its goal taken, at the first free block after it */
	g_assert_cmpint(pm_alloc_blocks(fs, b, 8, &d), ==, 8);
	g_assert_cmpuint(d, ==, c + 58);
	/* freeing and allocating again, round after round, stays low */
	for (int round = 0; round < 50; round++) {
		int64_t n = pm_alloc_blocks(fs, 0, 64, &d);

		g_assert_cmpint(n, ==, 5); /* [a, a + 5) is the lowest free run */
		g_assert_cmpuint(d, ==, a);
		pm_alloc_free(fs, d, (uint64_t)n);
	}
	g_assert_cmpint(pm_alloc_blocks(fs, 0, 3, &d), ==, 3);
	g_assert_cmpuint(d, ==, a);
	unit_pool_free(p);
}

static void test_never_twice(void)
{
	struct unit_pool *p = unit_pool_new(SMALL, 0);
	struct pm_fs *fs = p->fs;
	g_autofree uint8_t *seen = exhaust(fs);
	uint64_t start;

	for (uint64_t i = 0; i < fs->sb.data_blocks; i++)
		if (!seen[i])
			g_error("block %" G_GUINT64_FORMAT " was never handed out", fs->sb.data_start + i);
	g_assert_cmpint(pm_alloc_blocks(fs, 0, 1, &start), ==, -ENOSPC);
	g_assert_cmpint(pm_alloc_blocks(fs, fs->sb.data_start, 1, &start), ==, -ENOSPC);
	g_assert_cmpint(pm_alloc_contig(fs, 1, &start), ==, -ENOSPC);
	unit_pool_free(p);
}

static void test_free_returns(void)
{
	struct unit_pool *p = unit_pool_new(SMALL, 0);
	struct pm_fs *fs = p->fs;
	g_autofree uint8_t *seen = exhaust(fs);
	uint64_t ds = fs->sb.data_start, start;
	const uint64_t freed[] = { 5, 6, 7, 100, 1000 };
	gboolean got[G_N_ELEMENTS(freed)] = { 0 };

	for (unsigned i = 0; i < G_N_ELEMENTS(freed); i++)
		pm_alloc_free(fs, ds + freed[i], 1);
	g_assert_cmpuint(bfree(fs), ==, G_N_ELEMENTS(freed));
	/* freeing a free block again changes nothing */
	pm_alloc_free(fs, ds + 100, 1);
	g_assert_cmpuint(bfree(fs), ==, G_N_ELEMENTS(freed));
	for (unsigned k = 0; k < G_N_ELEMENTS(freed); k++) {
		g_assert_cmpint(pm_alloc_blocks(fs, 0, 1, &start), ==, 1);
		unsigned i;
		for (i = 0; i < G_N_ELEMENTS(freed); i++)
			if (start == ds + freed[i])
				break;
		if (i == G_N_ELEMENTS(freed))
			g_error("block %" G_GUINT64_FORMAT " was not free", start);
		g_assert_false(got[i]);
		got[i] = TRUE;
	}
	g_assert_cmpint(pm_alloc_blocks(fs, 0, 1, &start), ==, -ENOSPC);

	/* a freed run comes back in one piece when asked for near it */
	pm_alloc_free(fs, ds + 200, 16);
	g_assert_cmpuint(bfree(fs), ==, 16);
	g_assert_cmpint(pm_alloc_blocks(fs, ds + 200, 16, &start), ==, 16);
	g_assert_cmpuint(start, ==, ds + 200);
	g_assert_cmpuint(bfree(fs), ==, 0);
	unit_pool_free(p);
}

static void test_contig(void)
{
	struct unit_pool *p = unit_pool_new(SMALL, 0);
	struct pm_fs *fs = p->fs;
	uint64_t ds = fs->sb.data_start, start;

	/* the whole data area is one run in a fresh pool, and no more */
	g_assert_cmpint(pm_alloc_contig(fs, fs->sb.data_blocks + 1, &start), ==, -ENOSPC);
	g_assert_cmpint(pm_alloc_contig(fs, fs->sb.data_blocks, &start), ==, 0);
	g_assert_cmpuint(start, ==, ds);
	g_assert_cmpuint(bfree(fs), ==, 0);
	pm_alloc_free(fs, ds, fs->sb.data_blocks);
	g_assert_cmpuint(bfree(fs), ==, fs->sb.data_blocks);

	g_free(exhaust(fs));
	pm_alloc_free(fs, ds + 10, 3);
	pm_alloc_free(fs, ds + 20, 8);
	pm_alloc_free(fs, ds + 40, 1);
	pm_alloc_free(fs, ds + fs->sb.data_blocks - 2, 2); /* a run at the very end */
	g_assert_cmpuint(bfree(fs), ==, 14);
	g_assert_cmpint(pm_alloc_contig(fs, 9, &start), ==, -ENOSPC);
	g_assert_cmpuint(bfree(fs), ==, 14);
	g_assert_cmpint(pm_alloc_contig(fs, 8, &start), ==, 0);
	g_assert_cmpuint(start, ==, ds + 20);
	g_assert_cmpint(pm_alloc_contig(fs, 4, &start), ==, -ENOSPC);
	g_assert_cmpint(pm_alloc_contig(fs, 3, &start), ==, 0);
	g_assert_cmpuint(start, ==, ds + 10);
	g_assert_cmpint(pm_alloc_contig(fs, 2, &start), ==, 0);
	g_assert_cmpuint(start, ==, ds + fs->sb.data_blocks - 2);
	g_assert_cmpint(pm_alloc_contig(fs, 1, &start), ==, 0);
	g_assert_cmpuint(start, ==, ds + 40);
	g_assert_cmpint(pm_alloc_contig(fs, 1, &start), ==, -ENOSPC);
	g_assert_cmpuint(bfree(fs), ==, 0);
	unit_pool_free(p);
}

static void test_mark(void)
{
	struct unit_pool *p = unit_pool_new(SMALL, 0);
	struct pm_fs *fs = p->fs;
	uint64_t start;

	g_assert_cmpint(pm_alloc_blocks(fs, 0, 4, &start), ==, 4);
	g_assert_cmpint(pm_alloc_mark(fs, start + 2, 1), ==, -EUCLEAN);
	unit_errmsg_has("owned twice");
	g_assert_cmpint(pm_alloc_mark(fs, start + 4, 2), ==, 0);
	g_assert_cmpint(pm_alloc_blocks(fs, start + 4, 1, &start), ==, 1);
	g_assert_cmpuint(start, !=, fs->sb.data_start + 4);
	g_assert_cmpuint(start, !=, fs->sb.data_start + 5);
	unit_pool_free(p);
}

static void test_inodes(void)
{
	struct unit_pool *p = unit_pool_new(SMALL, 0);
	struct pm_fs *fs = p->fs;
	uint64_t count = fs->sb.inode_count, ino, n = 0;
	g_autofree uint8_t *seen = g_malloc0(count + 1);
	struct pm_attr a;
	int ret;

	g_assert_cmpuint(ffree(fs), ==, count - 1); /* the root is in use */
	while ((ret = pm_alloc_inode(fs, &ino)) == 0) {
		g_assert_cmpuint(ino, >=, 2);
		g_assert_cmpuint(ino, <=, count);
		if (seen[ino])
			g_error("inode %" G_GUINT64_FORMAT " handed out twice", ino);
		seen[ino] = 1;
		n++;
	}
	g_assert_cmpint(ret, ==, -ENOSPC);
	g_assert_cmpuint(n, ==, count - 1);
	g_assert_cmpuint(ffree(fs), ==, 0);
	g_assert_cmpint(pm_fs_mknod(fs, PM_ROOT_INO, "f", S_IFREG | 0644, 0, &unit_cred, &a), ==, -ENOSPC);

	pm_alloc_inode_free(fs, 77);
	pm_alloc_inode_free(fs, 77); /* twice: counted once */
	g_assert_cmpuint(ffree(fs), ==, 1);
	g_assert_cmpint(pm_alloc_inode(fs, &ino), ==, 0);
	g_assert_cmpuint(ino, ==, 77);
	g_assert_cmpint(pm_alloc_inode(fs, &ino), ==, -ENOSPC);

	pm_alloc_inode_free(fs, 5);
	g_assert_cmpint(pm_fs_mknod(fs, PM_ROOT_INO, "f", S_IFREG | 0644, 0, &unit_cred, &a), ==, 0);
	g_assert_cmpuint(a.ino, ==, 5);
	pm_fs_forget(fs, a.ino, 1);
	unit_pool_free(p);
}

static void test_usage_follows_files(void)
{
	struct unit_pool *p = unit_pool_new(SMALL, 0);
	struct pm_fs *fs = p->fs;
	uint64_t b0 = bfree(fs), f0 = ffree(fs);
	uint64_t keep = unit_create(fs, PM_ROOT_INO, "keep", S_IFREG | 0644);

	g_assert_cmpuint(keep, !=, 0);
	g_assert_cmpuint(ffree(fs), ==, f0 - 1);
	/* the root directory got its first block */
	g_assert_cmpuint(bfree(fs), ==, b0 - 1);
	uint64_t ino = unit_create(fs, PM_ROOT_INO, "f", S_IFREG | 0644);
	g_assert_cmpuint(bfree(fs), ==, b0 - 1);
	unit_write_pattern(fs, ino, 0, 10 * PM_BLOCK_SIZE, 1);
	/* ten data blocks and one tree node */
	g_assert_cmpuint(bfree(fs), ==, b0 - 1 - 11);
	unit_assert_blocks(fs, ino);
	unit_assert_reopen_stable(p);
	g_assert_cmpint(pm_fs_unlink(p->fs, PM_ROOT_INO, "f"), ==, 0);
	g_assert_cmpuint(bfree(p->fs), ==, b0 - 1);
	g_assert_cmpuint(ffree(p->fs), ==, f0 - 1);
	/* the last name gone, the directory gives its block back */
	g_assert_cmpint(pm_fs_unlink(p->fs, PM_ROOT_INO, "keep"), ==, 0);
	g_assert_cmpuint(bfree(p->fs), ==, b0);
	g_assert_cmpuint(ffree(p->fs), ==, f0);
	unit_assert_reopen_stable(p);
	unit_pool_free(p);
}

int main(int argc, char **argv)
{
	unit_init(&argc, &argv);
	unit_add("/alloc/in-data-area", test_in_data_area);
	unit_add("/alloc/contiguous", test_contiguous);
	unit_add("/alloc/never-twice", test_never_twice);
	unit_add("/alloc/lowest-first", test_lowest_first);
	unit_add("/alloc/free-returns", test_free_returns);
	unit_add("/alloc/contig", test_contig);
	unit_add("/alloc/mark", test_mark);
	unit_add("/alloc/inodes", test_inodes);
	unit_add("/alloc/usage-follows-files", test_usage_follows_files);
	return g_test_run();
}
