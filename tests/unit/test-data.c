/* test-data.c -- file data: the block tree, reads and writes, holes,
 * truncation, punching, fallocate, SEEK_DATA/SEEK_HOLE, limits */
#include <errno.h>
#include <linux/falloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include "media.h"
#include "stream.h"
#include "unit.h"

#define BS ((uint64_t)PM_BLOCK_SIZE)

static uint64_t bfree(struct pm_fs *fs)
{
	struct pm_statfs st;

	unit_statfs(fs, &st);
	return st.bfree;
}

/* blocks_of -- the 4 KiB blocks the inode owns, as getattr reports them */
static uint64_t blocks_of(struct pm_fs *fs, uint64_t ino)
{
	struct pm_attr a;

	unit_attr(fs, ino, &a);
	g_assert_cmpuint(a.blocks % 8, ==, 0);
	return a.blocks / 8;
}

static unsigned height_of(struct pm_fs *fs, uint64_t ino)
{
	return pm_dinode(fs, ino)->height;
}

static int truncate_to(struct pm_fs *fs, uint64_t ino, uint64_t size)
{
	struct pm_setattr sa = { .valid = PM_SET_SIZE, .size = size };

	return pm_fs_setattr(fs, ino, &sa, NULL);
}

static uint64_t seek(struct pm_fs *fs, uint64_t ino, uint64_t off, int whence)
{
	uint64_t r = 0xdead;
	int ret = pm_fs_lseek(fs, ino, off, whence, &r);

	if (ret)
		g_error("lseek(%" G_GUINT64_FORMAT ", %s) = %d", off, whence == SEEK_DATA ? "SEEK_DATA" : "SEEK_HOLE",
			ret);
	return r;
}

static void assert_file_is(struct pm_fs *fs, uint64_t ino, const uint8_t *model, uint64_t size)
{
	g_autofree uint8_t *buf = g_malloc(size + BS);

	g_assert_cmpuint(unit_size(fs, ino), ==, size);
	/* asking for more than the size returns exactly the size */
	g_assert_cmpuint(unit_read(fs, ino, 0, size + BS, buf), ==, size);
	for (uint64_t i = 0; i < size; i++)
		if (buf[i] != model[i])
			g_error("byte %" G_GUINT64_FORMAT " is 0x%02x, expected 0x%02x", i, buf[i], model[i]);
}

static void test_rw_offsets(void)
{
	static const struct {
		uint64_t off;
		size_t len;
	} w[] = {
		{ 0, 1 },                          /* first byte */
		{ 4095, 2 },                       /* across the first block boundary */
		{ 2 * 4096, 4096 },                /* one aligned block */
		{ 3 * 4096 + 100, 10000 },         /* unaligned, three blocks */
		{ 511 * 4096 + 1000, 8192 },       /* across the first leaf: grows to height 2 */
		{ 1023 * 4096 + 4000, 4096 + 200 },/* across the second leaf */
		{ 5 * UNIT_MiB - 3, 7 },           /* far, beyond a hole */
		{ 4000, 300 },                     /* overwrite across a boundary */
		{ 510 * 4096, 3 * 4096 },          /* overwrite across the leaf boundary */
		{ 64 * 1024, 1 },                  /* inside a hole */
		{ 0, 4096 * 5 + 17 },              /* overwrite the start */
	};
	struct unit_pool *p = unit_pool_new(64 * UNIT_MiB, 0);
	uint64_t ino = unit_create(p->fs, PM_ROOT_INO, "f", S_IFREG | 0644), size = 0;
	g_autofree uint8_t *model = g_malloc0(6 * UNIT_MiB);

	for (unsigned i = 0; i < G_N_ELEMENTS(w); i++) {
		unit_write_pattern(p->fs, ino, w[i].off, w[i].len, i + 1);
		unit_pattern(model + w[i].off, w[i].off, w[i].len, i + 1);
		if (w[i].off + w[i].len > size)
			size = w[i].off + w[i].len;
		assert_file_is(p->fs, ino, model, size);
		unit_assert_blocks(p->fs, ino);
	}
	g_assert_cmpint(pm_fs_fsync(p->fs, ino), ==, 0);
	unit_assert_reopen_stable(p);
	assert_file_is(p->fs, ino, model, size);
	unit_assert_blocks(p->fs, ino);
	unit_pool_free(p);
}

/* POSIX: a write of zero bytes to a regular file changes nothing */
static void test_zero_length_write(void)
{
	struct unit_pool *p = unit_pool_new(64 * UNIT_MiB, 0);
	uint64_t ino = unit_create(p->fs, PM_ROOT_INO, "f", S_IFREG | 0644);

	unit_write_pattern(p->fs, ino, 0, 1000, 1);
	g_assert_cmpint(pm_fs_write(p->fs, ino, 500, "", 0, false), ==, 0);
	g_assert_cmpuint(unit_size(p->fs, ino), ==, 1000);
	g_assert_cmpint(pm_fs_write(p->fs, ino, 100 * UNIT_MiB, "", 0, false), ==, 0);
	g_assert_cmpuint(unit_size(p->fs, ino), ==, 1000);
	unit_assert_pattern(p->fs, ino, 0, 1000, 1);
	unit_pool_free(p);
}

static void test_unsynced_data_survives_close(void)
{
	struct unit_pool *p = unit_pool_new(64 * UNIT_MiB, 0);
	struct pm_attr a;
	uint64_t ino;

	/* hold a reference, as the kernel does, so nothing is synced early */
	g_assert_cmpint(pm_fs_mknod(p->fs, PM_ROOT_INO, "f", S_IFREG | 0644, 0, &unit_cred, &a), ==, 0);
	ino = a.ino;
	unit_write_pattern(p->fs, ino, 0, 300 * 1024, 5);
	unit_write_pattern(p->fs, ino, 3 * UNIT_MiB, 1000, 6);
	unit_pool_reopen(p); /* a clean close persists everything */
	g_assert_cmpuint(unit_size(p->fs, ino), ==, 3 * UNIT_MiB + 1000);
	unit_assert_pattern(p->fs, ino, 0, 300 * 1024, 5);
	unit_assert_zero(p->fs, ino, 300 * 1024, 3 * UNIT_MiB - 300 * 1024);
	unit_assert_pattern(p->fs, ino, 3 * UNIT_MiB, 1000, 6);
	unit_pool_free(p);
}

/* large writes go with non-temporal stores: on cache-line granularity no
 * flush of the data at fsync, one drain, and the bytes are there after a
 * reopen; page granularity (stream.c on x86-64) still flushes them */
static void nt_writes(const char *gran, bool expect_nt)
{
	struct unit_pool *p;
	struct pm_attr a;
	uint64_t f0, d0, b0, f1, d1, b1;

	g_setenv("PMEM2_FORCE_GRANULARITY", gran, TRUE);
	p = unit_pool_new(64 * UNIT_MiB, 0);
	g_assert_cmpstr(pm_media_granularity(p->fs->m), ==,
			strcmp(gran, "page") == 0 ? "PAGE" : "CACHE_LINE");
	g_assert_cmpint(pm_fs_mknod(p->fs, PM_ROOT_INO, "f", S_IFREG | 0644, 0, &unit_cred, &a), ==, 0);
	unit_write_pattern(p->fs, a.ino, 0, UNIT_MiB, 1); /* allocating */
	g_assert_cmpint(pm_fs_fsync(p->fs, a.ino), ==, 0);
	pm_media_counts(p->fs->m, &f0, &d0, &b0);
	uint64_t s0 = pm_media_streamed(p->fs->m);
	unit_write_pattern(p->fs, a.ino, 0, UNIT_MiB, 2); /* overwriting */
	if (PM_STREAM_NT)
		g_assert_cmpuint(pm_media_streamed(p->fs->m) - s0, >=, UNIT_MiB - 2 * PM_MEDIA_NT_MIN);
	struct pm_ino *pi = p->fs->icache[a.ino];
	g_assert_nonnull(pi);
	/* the dirty ranges: the data (unless non-temporal) and the times */
	if (expect_nt) { /* no data to flush, a drain owed */
		g_assert_cmpuint(pi->dirty_len, <, PM_MEDIA_NT_MIN * 2); /* short runs do flush */
		g_assert_true(pi->needs_drain);
	} else {
		g_assert_cmpuint(pi->dirty_len, >=, UNIT_MiB);
	}
	g_assert_cmpint(pm_fs_fsync(p->fs, a.ino), ==, 0);
	g_assert_false(pi->needs_drain);
	pm_media_counts(p->fs->m, &f1, &d1, &b1);
	g_assert_cmpuint(f1 - f0, >=, expect_nt ? 0 : 1);
	g_assert_cmpuint(d1 - d0, >=, 1);
	g_assert_cmpuint(b1 - b0, >=, UNIT_MiB);
	unit_pool_reopen(p);
	unit_assert_pattern(p->fs, a.ino, 0, UNIT_MiB, 2);
	unit_pool_free(p);
}

static void test_nt_writes_cache_line(void)
{
	nt_writes("cache_line", true);
}

static void test_nt_writes_page(void)
{
	nt_writes("page", false);
}

static void test_tree_heights(void)
{
	static const struct {
		uint64_t lblk;
		unsigned height;
		uint64_t blocks; /* data blocks + tree nodes after the write */
	} w[] = {
		{ 0, 0, 1 },                   /* the root is the data block */
		{ 1, 1, 3 },                   /* one leaf */
		{ 511, 1, 4 },                 /* last slot of the leaf */
		{ 512, 2, 7 },                 /* root node + two leaves */
		{ 512 * 512 - 1, 2, 9 },       /* last leaf of height 2 */
		{ 512 * 512, 3, 13 },          /* 1 GiB: height 3 */
		{ 512ull * 512 * 512, 4, 18 }, /* 512 GiB: height 4 */
	};
	struct unit_pool *p = unit_pool_new(64 * UNIT_MiB, 0);
	uint64_t ino = unit_create(p->fs, PM_ROOT_INO, "f", S_IFREG | 0644);
	uint64_t b0 = bfree(p->fs);

	for (unsigned i = 0; i < G_N_ELEMENTS(w); i++) {
		unit_write_pattern(p->fs, ino, w[i].lblk * BS + 7, 100, i + 1);
		g_assert_cmpuint(height_of(p->fs, ino), ==, w[i].height);
		g_assert_cmpuint(blocks_of(p->fs, ino), ==, w[i].blocks);
		g_assert_cmpuint(bfree(p->fs), ==, b0 - w[i].blocks);
		unit_assert_blocks(p->fs, ino);
		for (unsigned k = 0; k <= i; k++) {
			unit_assert_zero(p->fs, ino, w[k].lblk * BS, 7);
			unit_assert_pattern(p->fs, ino, w[k].lblk * BS + 7, 100, k + 1);
		}
		g_assert_cmpuint(unit_size(p->fs, ino), ==, w[i].lblk * BS + 107);
	}
	/* the holes between read as zeros */
	unit_assert_zero(p->fs, ino, 2 * BS, 509 * BS);
	unit_assert_zero(p->fs, ino, 513 * BS, 64 * BS);
	unit_assert_zero(p->fs, ino, (512 * 512 - 4) * BS, 3 * BS);
	unit_assert_reopen_stable(p);
	for (unsigned k = 0; k < G_N_ELEMENTS(w); k++)
		unit_assert_pattern(p->fs, ino, w[k].lblk * BS + 7, 100, k + 1);
	/* dropping everything frees every node at every level */
	g_assert_cmpint(truncate_to(p->fs, ino, 0), ==, 0);
	g_assert_cmpuint(blocks_of(p->fs, ino), ==, 0);
	g_assert_cmpuint(bfree(p->fs), ==, b0);
	unit_assert_reopen_stable(p);
	/* and the file grows again from nothing */
	unit_write_pattern(p->fs, ino, 3 * BS, 10, 9);
	unit_assert_pattern(p->fs, ino, 3 * BS, 10, 9);
	unit_assert_zero(p->fs, ino, 0, 3 * BS);
	unit_assert_blocks(p->fs, ino);
	unit_pool_free(p);
}

static void test_sparse_holes(void)
{
	struct unit_pool *p = unit_pool_new(64 * UNIT_MiB, 0);
	uint64_t ino = unit_create(p->fs, PM_ROOT_INO, "f", S_IFREG | 0644);
	uint64_t b0 = bfree(p->fs), end = 100 * UNIT_MiB;
	uint8_t buf[16];

	/* a file larger than the pool, holding one byte */
	unit_write(p->fs, ino, end, "x", 1);
	g_assert_cmpuint(unit_size(p->fs, ino), ==, end + 1);
	g_assert_cmpuint(blocks_of(p->fs, ino), ==, 3); /* data, leaf, root */
	g_assert_cmpuint(bfree(p->fs), ==, b0 - 3);
	unit_assert_zero(p->fs, ino, 0, UNIT_MiB);
	unit_assert_zero(p->fs, ino, 50 * UNIT_MiB + 123, UNIT_MiB);
	unit_assert_zero(p->fs, ino, end - 20 * UNIT_MiB, 20 * UNIT_MiB);
	g_assert_cmpuint(unit_read(p->fs, ino, end - 3, sizeof(buf), buf), ==, 4);
	g_assert_cmpmem(buf, 4, "\0\0\0x", 4);
	/* reads at or past the end return nothing */
	g_assert_cmpuint(unit_read(p->fs, ino, end + 1, sizeof(buf), buf), ==, 0);
	g_assert_cmpuint(unit_read(p->fs, ino, 10 * UNIT_GiB, sizeof(buf), buf), ==, 0);
	/* reading holes allocates nothing */
	g_assert_cmpuint(bfree(p->fs), ==, b0 - 3);
	unit_assert_reopen_stable(p);
	unit_pool_free(p);
}

static void test_truncate(void)
{
	struct unit_pool *p = unit_pool_new(64 * UNIT_MiB, 0);
	struct pm_fs *fs = p->fs;
	uint64_t ino = unit_create(fs, PM_ROOT_INO, "f", S_IFREG | 0644);
	uint64_t b0 = bfree(fs);
	uint8_t buf[8];

	unit_write_pattern(fs, ino, 0, 3 * BS + 500, 1);
	g_assert_cmpuint(blocks_of(fs, ino), ==, 5);
	/* shrink: the contents before the new end stay */
	g_assert_cmpint(truncate_to(fs, ino, 5000), ==, 0);
	g_assert_cmpuint(unit_size(fs, ino), ==, 5000);
	unit_assert_pattern(fs, ino, 0, 5000, 1);
	g_assert_cmpuint(unit_read(fs, ino, 5000, sizeof(buf), buf), ==, 0);
	g_assert_cmpuint(blocks_of(fs, ino), ==, 3); /* two data blocks and the leaf */
	g_assert_cmpuint(bfree(fs), ==, b0 - 3);
	unit_assert_blocks(fs, ino);
	/* grow: what was cut reads as zeros, nothing is allocated */
	g_assert_cmpint(truncate_to(fs, ino, 20000), ==, 0);
	g_assert_cmpuint(unit_size(fs, ino), ==, 20000);
	unit_assert_pattern(fs, ino, 0, 5000, 1);
	unit_assert_zero(fs, ino, 5000, 15000);
	g_assert_cmpuint(blocks_of(fs, ino), ==, 3);
	/* writing past the old end does not bring old bytes back */
	unit_write(fs, ino, 19999, "z", 1);
	unit_assert_zero(fs, ino, 5000, 14999);
	/* shrink inside a block, then grow over it */
	g_assert_cmpint(truncate_to(fs, ino, 4500), ==, 0);
	g_assert_cmpint(truncate_to(fs, ino, 4096 + 4000), ==, 0);
	unit_assert_pattern(fs, ino, 0, 4500, 1);
	unit_assert_zero(fs, ino, 4500, 4096 + 4000 - 4500);
	/* to the same size: nothing changes */
	g_assert_cmpint(truncate_to(fs, ino, 4096 + 4000), ==, 0);
	unit_assert_pattern(fs, ino, 0, 4500, 1);
	/* truncation is durable when it returns */
	unit_assert_reopen_stable(p);
	fs = p->fs;
	g_assert_cmpuint(unit_size(fs, ino), ==, 4096 + 4000);
	unit_assert_pattern(fs, ino, 0, 4500, 1);
	unit_assert_zero(fs, ino, 4500, 4096 + 4000 - 4500);
	/* to zero: nothing is left */
	g_assert_cmpint(truncate_to(fs, ino, 0), ==, 0);
	g_assert_cmpuint(unit_size(fs, ino), ==, 0);
	g_assert_cmpuint(blocks_of(fs, ino), ==, 0);
	g_assert_cmpuint(bfree(fs), ==, b0);
	/* a large sparse size costs nothing */
	g_assert_cmpint(truncate_to(fs, ino, 3 * UNIT_GiB), ==, 0);
	g_assert_cmpuint(unit_size(fs, ino), ==, 3 * UNIT_GiB);
	g_assert_cmpuint(blocks_of(fs, ino), ==, 0);
	unit_assert_zero(fs, ino, 3 * UNIT_GiB - 100, 100);
	unit_assert_reopen_stable(p);
	unit_pool_free(p);
}

static void test_truncate_tree(void)
{
	struct unit_pool *p = unit_pool_new(64 * UNIT_MiB, 0);
	struct pm_fs *fs = p->fs;
	uint64_t ino = unit_create(fs, PM_ROOT_INO, "f", S_IFREG | 0644);
	uint64_t b0 = bfree(fs);

	unit_write_pattern(fs, ino, 0, 1100 * BS, 3); /* 1100 blocks, height 2, 3 leaves */
	g_assert_cmpuint(height_of(fs, ino), ==, 2);
	g_assert_cmpuint(blocks_of(fs, ino), ==, 1100 + 3 + 1);
	/* into the first leaf: the other leaves go, and the root with them
	 * (the leaf left is the root of a tree of height 1) */
	g_assert_cmpint(truncate_to(fs, ino, 100 * BS + 1), ==, 0);
	g_assert_cmpuint(height_of(fs, ino), ==, 1);
	g_assert_cmpuint(blocks_of(fs, ino), ==, 101 + 1);
	g_assert_cmpuint(bfree(fs), ==, b0 - 102);
	unit_assert_blocks(fs, ino);
	unit_assert_pattern(fs, ino, 0, 100 * BS + 1, 3);
	/* regrow into the freed range */
	unit_write_pattern(fs, ino, 600 * BS, BS, 4);
	unit_assert_zero(fs, ino, 100 * BS + 1, 500 * BS - 1);
	unit_assert_pattern(fs, ino, 600 * BS, BS, 4);
	unit_assert_blocks(fs, ino);
	unit_assert_reopen_stable(p);
	unit_pool_free(p);
}

/* a truncation lowers a tree taller than the new size needs: one block
 * written at 64 GiB makes a tree of height 3 (two nodes on the way down to
 * each data block); cut to one block, the file is that block alone */
static void test_truncate_lowers(void)
{
	struct unit_pool *p = unit_pool_new(64 * UNIT_MiB, 0);
	struct pm_fs *fs = p->fs;
	uint64_t ino = unit_create(fs, PM_ROOT_INO, "f", S_IFREG | 0644);
	uint64_t b0 = bfree(fs);

	unit_write_pattern(fs, ino, 0, 3000, 5);
	unit_write_pattern(fs, ino, 64 * UNIT_GiB, BS, 6);
	g_assert_cmpuint(height_of(fs, ino), ==, 3);
	g_assert_cmpuint(blocks_of(fs, ino), ==, 2 + 2 * 2 + 1);
	g_assert_cmpint(truncate_to(fs, ino, 3000), ==, 0);
	g_assert_cmpuint(height_of(fs, ino), ==, 0);
	g_assert_cmpuint(blocks_of(fs, ino), ==, 1);
	g_assert_cmpuint(bfree(fs), ==, b0 - 1);
	unit_assert_blocks(fs, ino);
	unit_assert_pattern(fs, ino, 0, 3000, 5);
	/* and grows again from there */
	unit_write_pattern(fs, ino, 5 * UNIT_MiB, BS, 7);
	g_assert_cmpuint(height_of(fs, ino), ==, 2);
	unit_assert_pattern(fs, ino, 0, 3000, 5);
	unit_assert_zero(fs, ino, 3000, 5 * UNIT_MiB - 3000);
	unit_assert_pattern(fs, ino, 5 * UNIT_MiB, BS, 7);
	unit_assert_blocks(fs, ino);
	unit_assert_reopen_stable(p);
	unit_pool_free(p);
}

static void test_truncate_errors(void)
{
	struct unit_pool *p = unit_pool_new(64 * UNIT_MiB, 0);
	struct pm_fs *fs = p->fs;
	uint64_t dir = unit_create(fs, PM_ROOT_INO, "d", S_IFDIR | 0755);
	uint64_t fifo = unit_create(fs, PM_ROOT_INO, "p", S_IFIFO | 0644);

	g_assert_cmpint(truncate_to(fs, dir, 0), ==, -EISDIR);
	g_assert_cmpint(truncate_to(fs, fifo, 10), ==, -EINVAL);
	g_assert_cmpint(truncate_to(fs, 9999, 10), ==, -ENOENT);
	unit_pool_free(p);
}

static void test_punch_hole(void)
{
	struct unit_pool *p = unit_pool_new(64 * UNIT_MiB, 0);
	struct pm_fs *fs = p->fs;
	uint64_t ino = unit_create(fs, PM_ROOT_INO, "f", S_IFREG | 0644);
	const int punch = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
	uint64_t b0 = bfree(fs);

	unit_write_pattern(fs, ino, 0, 16 * BS, 1);
	g_assert_cmpuint(blocks_of(fs, ino), ==, 17);
	g_assert_cmpint(pm_fs_fallocate(fs, ino, punch, 5000, 25000), ==, 0);
	g_assert_cmpuint(unit_size(fs, ino), ==, 16 * BS);
	unit_assert_pattern(fs, ino, 0, 5000, 1);
	unit_assert_zero(fs, ino, 5000, 25000);
	unit_assert_pattern(fs, ino, 30000, 16 * BS - 30000, 1);
	/* blocks 2..6 are wholly inside [5000, 30000): freed */
	g_assert_cmpuint(blocks_of(fs, ino), ==, 12);
	g_assert_cmpuint(bfree(fs), ==, b0 - 12);
	unit_assert_blocks(fs, ino);
	g_assert_cmpuint(seek(fs, ino, 0, SEEK_HOLE), ==, 2 * BS);
	g_assert_cmpuint(seek(fs, ino, 2 * BS, SEEK_DATA), ==, 7 * BS);

	/* inside one block: zeros, no block freed */
	g_assert_cmpint(pm_fs_fallocate(fs, ino, punch, 100, 100), ==, 0);
	unit_assert_pattern(fs, ino, 0, 100, 1);
	unit_assert_zero(fs, ino, 100, 100);
	unit_assert_pattern(fs, ino, 200, 5000 - 200, 1);
	g_assert_cmpuint(blocks_of(fs, ino), ==, 12);
	/* exactly one block */
	g_assert_cmpint(pm_fs_fallocate(fs, ino, punch, 8 * BS, BS), ==, 0);
	unit_assert_zero(fs, ino, 8 * BS, BS);
	unit_assert_zero(fs, ino, 5000, 25000); /* the first hole */
	unit_assert_pattern(fs, ino, 30000, 8 * BS - 30000, 1);
	unit_assert_pattern(fs, ino, 9 * BS, 7 * BS, 1);
	g_assert_cmpuint(blocks_of(fs, ino), ==, 11);
	/* past the end: nothing to do, the size stays */
	g_assert_cmpint(pm_fs_fallocate(fs, ino, punch, 100 * BS, 10 * BS), ==, 0);
	g_assert_cmpuint(unit_size(fs, ino), ==, 16 * BS);
	unit_assert_reopen_stable(p);
	fs = p->fs;
	unit_assert_zero(fs, ino, 8 * BS, BS);
	/* everything: the tree goes too, the size stays */
	g_assert_cmpint(pm_fs_fallocate(fs, ino, punch, 0, 16 * BS), ==, 0);
	g_assert_cmpuint(unit_size(fs, ino), ==, 16 * BS);
	unit_assert_zero(fs, ino, 0, 16 * BS);
	g_assert_cmpuint(blocks_of(fs, ino), ==, 0);
	g_assert_cmpuint(bfree(fs), ==, b0);
	unit_assert_reopen_stable(p);
	unit_pool_free(p);
}

static void test_fallocate(void)
{
	struct unit_pool *p = unit_pool_new(64 * UNIT_MiB, 0);
	struct pm_fs *fs = p->fs;
	uint64_t ino = unit_create(fs, PM_ROOT_INO, "f", S_IFREG | 0644);
	uint64_t b0 = bfree(fs), r;
	uint8_t buf[8];

	/* KEEP_SIZE: blocks without size */
	g_assert_cmpint(pm_fs_fallocate(fs, ino, FALLOC_FL_KEEP_SIZE, 0, UNIT_MiB), ==, 0);
	g_assert_cmpuint(unit_size(fs, ino), ==, 0);
	g_assert_cmpuint(blocks_of(fs, ino), ==, 256 + 1);
	g_assert_cmpuint(bfree(fs), ==, b0 - 257);
	g_assert_cmpuint(unit_read(fs, ino, 0, sizeof(buf), buf), ==, 0);
	g_assert_cmpint(pm_fs_lseek(fs, ino, 0, SEEK_DATA, &r), ==, -ENXIO);
	unit_assert_blocks(fs, ino);
	/* writing into preallocated blocks takes no more */
	unit_write_pattern(fs, ino, 0, 10, 1);
	g_assert_cmpuint(unit_size(fs, ino), ==, 10);
	g_assert_cmpuint(blocks_of(fs, ino), ==, 257);
	/* the preallocated blocks read as zeros once the size covers them */
	g_assert_cmpint(truncate_to(fs, ino, UNIT_MiB), ==, 0);
	unit_assert_pattern(fs, ino, 0, 10, 1);
	unit_assert_zero(fs, ino, 10, UNIT_MiB - 10);
	g_assert_cmpuint(blocks_of(fs, ino), ==, 257);
	/* without KEEP_SIZE the size grows */
	g_assert_cmpint(pm_fs_fallocate(fs, ino, 0, 2 * UNIT_MiB, BS), ==, 0);
	g_assert_cmpuint(unit_size(fs, ino), ==, 2 * UNIT_MiB + BS);
	g_assert_cmpuint(blocks_of(fs, ino), ==, 257 + 1 + 2); /* data, leaf, new root */
	unit_assert_zero(fs, ino, UNIT_MiB, UNIT_MiB + BS);
	/* an allocated range keeps its data */
	unit_write_pattern(fs, ino, 100, 5000, 2);
	g_assert_cmpint(pm_fs_fallocate(fs, ino, 0, 0, 8192), ==, 0);
	unit_assert_pattern(fs, ino, 100, 5000, 2);
	g_assert_cmpuint(unit_size(fs, ino), ==, 2 * UNIT_MiB + BS);
	/* the size set by fallocate and the blocks kept past it are durable */
	g_assert_cmpint(pm_fs_fallocate(fs, ino, FALLOC_FL_KEEP_SIZE, 3 * UNIT_MiB, 3 * BS), ==, 0);
	g_assert_cmpuint(unit_size(fs, ino), ==, 2 * UNIT_MiB + BS);
	unit_assert_blocks(fs, ino);
	unit_assert_reopen_stable(p);
	fs = p->fs;
	g_assert_cmpuint(unit_size(fs, ino), ==, 2 * UNIT_MiB + BS);
	g_assert_cmpuint(blocks_of(fs, ino), ==, 260 + 3); /* the leaf was there */
	unit_assert_pattern(fs, ino, 100, 5000, 2);
	unit_pool_free(p);
}

/* blocks kept past the size (fallocate with KEEP_SIZE) go back to the
 * free space, with the inode, when the file's last name goes: they used to
 * stay with a nameless inode for fsck to find (stress-ng --fallocate) */
static void test_unlink_preallocated(void)
{
	struct unit_pool *p = unit_pool_new(64 * UNIT_MiB, 0);
	struct pm_fs *fs = p->fs;
	struct pm_statfs st0, st;
	uint64_t a, b, c;

	unit_statfs(fs, &st0);
	a = unit_create(fs, PM_ROOT_INO, "a", S_IFREG | 0644);
	b = unit_create(fs, PM_ROOT_INO, "b", S_IFREG | 0644);
	c = unit_create(fs, PM_ROOT_INO, "c", S_IFREG | 0644);
	/* size 0, blocks past it */
	g_assert_cmpint(pm_fs_fallocate(fs, a, FALLOC_FL_KEEP_SIZE, 0, UNIT_MiB), ==, 0);
	/* data, and blocks past its end */
	unit_write_pattern(fs, b, 0, 5000, 1);
	g_assert_cmpint(pm_fs_fallocate(fs, b, FALLOC_FL_KEEP_SIZE, 0, 3 * UNIT_MiB), ==, 0);
	/* blocks past the end, then a truncate to the size it has */
	g_assert_cmpint(pm_fs_fallocate(fs, c, FALLOC_FL_KEEP_SIZE, UNIT_MiB, UNIT_MiB), ==, 0);
	g_assert_cmpint(truncate_to(fs, c, 0), ==, 0);
	g_assert_cmpuint(unit_size(fs, a), ==, 0);
	g_assert_cmpuint(unit_size(fs, b), ==, 5000);
	g_assert_cmpuint(bfree(fs), <, st0.bfree - 5 * 256);
	g_assert_cmpint(pm_fs_unlink(fs, PM_ROOT_INO, "a"), ==, 0);
	g_assert_cmpint(pm_fs_unlink(fs, PM_ROOT_INO, "b"), ==, 0);
	g_assert_cmpint(pm_fs_unlink(fs, PM_ROOT_INO, "c"), ==, 0);
	unit_statfs(fs, &st);
	g_assert_cmpuint(st.bfree, ==, st0.bfree);
	g_assert_cmpuint(st.ffree, ==, st0.ffree);
	unit_assert_reopen_stable(p);
	fs = p->fs;
	unit_statfs(fs, &st);
	g_assert_cmpuint(st.bfree, ==, st0.bfree);
	g_assert_cmpuint(st.ffree, ==, st0.ffree);
	unit_pool_free(p);
}

static void test_fallocate_errors(void)
{
	struct unit_pool *p = unit_pool_new(64 * UNIT_MiB, 0);
	struct pm_fs *fs = p->fs;
	uint64_t ino = unit_create(fs, PM_ROOT_INO, "f", S_IFREG | 0644);
	uint64_t dir = unit_create(fs, PM_ROOT_INO, "d", S_IFDIR | 0755);

	g_assert_cmpint(pm_fs_fallocate(fs, ino, FALLOC_FL_COLLAPSE_RANGE, 0, BS), ==, -EOPNOTSUPP);
	g_assert_cmpint(pm_fs_fallocate(fs, ino, FALLOC_FL_ZERO_RANGE, 0, BS), ==, -EOPNOTSUPP);
	g_assert_cmpint(pm_fs_fallocate(fs, ino, FALLOC_FL_PUNCH_HOLE, 0, BS), ==, -EOPNOTSUPP);
	g_assert_cmpint(pm_fs_fallocate(fs, ino, 0, 0, 0), ==, -EINVAL);
	g_assert_cmpint(pm_fs_fallocate(fs, dir, 0, 0, BS), ==, -EISDIR);
	g_assert_cmpint(pm_fs_fallocate(fs, 4242, 0, 0, BS), ==, -ENOENT);
	g_assert_cmpuint(blocks_of(fs, ino), ==, 0);
	unit_pool_free(p);
}

/* Releasing a file costs the same drains whatever it holds: its inode is
 * cleared with one store of its free state (an orphan's, as the next open
 * would free it), its blocks go back after that, and its unflushed data is
 * dropped, not flushed. The old release freed block by block, one drain
 * each. */
static void test_release_cost(void)
{
	struct unit_pool *p = unit_pool_new(64 * UNIT_MiB, 0);
	struct pm_fs *fs = p->fs;
	struct pm_statfs st0, st;
	struct pm_attr a;
	uint64_t small, big, f0, d0, b0, f1, d1, b1, f2, d2, b2;

	unit_create(fs, PM_ROOT_INO, "keep", S_IFREG | 0644); /* the directory stays as it is */
	unit_statfs(fs, &st0);
	small = unit_create(fs, PM_ROOT_INO, "small", S_IFREG | 0644);
	big = unit_create(fs, PM_ROOT_INO, "big", S_IFREG | 0644);
	unit_write_pattern(fs, big, 0, 4 * UNIT_MiB, 1); /* a tree of height 1 */
	g_assert_cmpint(pm_fs_setxattr(fs, big, "user.k", "v", 1, 0), ==, 0);
	/* held, as by an open file: released at the last forget */
	g_assert_cmpint(pm_fs_ref(fs, small, &a), ==, 0);
	g_assert_cmpint(pm_fs_ref(fs, big, &a), ==, 0);
	unit_write_pattern(fs, big, 8192, 16384, 2); /* in place, below the non-temporal size */
	g_assert_cmpuint(pm_counters_get(&fs->ctr, PM_DIRTY_BYTES), >=, 16384);

	pm_media_counts(fs->m, &f0, &d0, &b0);
	g_assert_cmpint(pm_fs_unlink(fs, PM_ROOT_INO, "small"), ==, 0);
	pm_fs_forget(fs, small, 1);
	pm_media_counts(fs->m, &f1, &d1, &b1);
	g_assert_cmpint(pm_fs_unlink(fs, PM_ROOT_INO, "big"), ==, 0);
	g_assert_cmpuint(pm_counters_get(&fs->ctr, PM_DIRTY_BYTES), >=, 16384); /* an open-unlinked file keeps it */
	pm_fs_forget(fs, big, 1);
	pm_media_counts(fs->m, &f2, &d2, &b2);
	g_assert_cmpuint(d2 - d1, ==, d1 - d0);
	g_assert_cmpuint(b2 - b1, <, 16384);
	g_assert_cmpuint(pm_counters_get(&fs->ctr, PM_DIRTY_BYTES), ==, 0);
	unit_statfs(fs, &st);
	g_assert_cmpuint(st.bfree, ==, st0.bfree);
	g_assert_cmpuint(st.ffree, ==, st0.ffree);
	unit_assert_reopen_stable(p);
	unit_statfs(p->fs, &st);
	g_assert_cmpuint(st.bfree, ==, st0.bfree);
	unit_pool_free(p);
}

static void test_lseek(void)
{
	struct unit_pool *p = unit_pool_new(64 * UNIT_MiB, 0);
	struct pm_fs *fs = p->fs;
	uint64_t ino = unit_create(fs, PM_ROOT_INO, "f", S_IFREG | 0644), r;
	uint64_t size = 600 * BS + 100;

	unit_write_pattern(fs, ino, 0, BS, 1);
	unit_write_pattern(fs, ino, UNIT_MiB, BS, 1);
	unit_write_pattern(fs, ino, 600 * BS, 100, 1);
	g_assert_cmpuint(unit_size(fs, ino), ==, size);

	g_assert_cmpuint(seek(fs, ino, 0, SEEK_DATA), ==, 0);
	g_assert_cmpuint(seek(fs, ino, 100, SEEK_DATA), ==, 100);
	g_assert_cmpuint(seek(fs, ino, 0, SEEK_HOLE), ==, BS);
	g_assert_cmpuint(seek(fs, ino, 100, SEEK_HOLE), ==, BS);
	g_assert_cmpuint(seek(fs, ino, BS, SEEK_HOLE), ==, BS);
	g_assert_cmpuint(seek(fs, ino, BS + 5, SEEK_HOLE), ==, BS + 5);
	g_assert_cmpuint(seek(fs, ino, BS, SEEK_DATA), ==, UNIT_MiB);
	g_assert_cmpuint(seek(fs, ino, BS + 1, SEEK_DATA), ==, UNIT_MiB);
	g_assert_cmpuint(seek(fs, ino, UNIT_MiB + 5, SEEK_DATA), ==, UNIT_MiB + 5);
	g_assert_cmpuint(seek(fs, ino, UNIT_MiB, SEEK_HOLE), ==, UNIT_MiB + BS);
	g_assert_cmpuint(seek(fs, ino, UNIT_MiB + BS, SEEK_DATA), ==, 600 * BS);
	/* the end of the file is a hole */
	g_assert_cmpuint(seek(fs, ino, 600 * BS, SEEK_HOLE), ==, size);
	g_assert_cmpuint(seek(fs, ino, size - 1, SEEK_DATA), ==, size - 1);
	g_assert_cmpuint(seek(fs, ino, size - 1, SEEK_HOLE), ==, size);
	g_assert_cmpint(pm_fs_lseek(fs, ino, size, SEEK_DATA, &r), ==, -ENXIO);
	g_assert_cmpint(pm_fs_lseek(fs, ino, size, SEEK_HOLE, &r), ==, -ENXIO);
	g_assert_cmpint(pm_fs_lseek(fs, ino, size + UNIT_GiB, SEEK_DATA, &r), ==, -ENXIO);
	g_assert_cmpint(pm_fs_lseek(fs, ino, 0, SEEK_SET, &r), ==, -EINVAL);
	g_assert_cmpint(pm_fs_lseek(fs, ino, 0, SEEK_END, &r), ==, -EINVAL);

	/* a trailing hole, and blocks kept past the end do not count */
	g_assert_cmpint(truncate_to(fs, ino, 10 * UNIT_MiB), ==, 0);
	g_assert_cmpint(pm_fs_fallocate(fs, ino, FALLOC_FL_KEEP_SIZE, 20 * UNIT_MiB, BS), ==, 0);
	g_assert_cmpint(pm_fs_lseek(fs, ino, 601 * BS, SEEK_DATA, &r), ==, -ENXIO);
	g_assert_cmpuint(seek(fs, ino, 600 * BS + 200, SEEK_HOLE), ==, 601 * BS);
	g_assert_cmpuint(seek(fs, ino, 601 * BS, SEEK_HOLE), ==, 601 * BS);

	/* far apart: SEEK_DATA skips a large hole */
	unit_write_pattern(fs, ino, 40 * UNIT_GiB + 3, 10, 2);
	g_assert_cmpuint(seek(fs, ino, 20 * UNIT_MiB + BS, SEEK_DATA), ==, 40 * UNIT_GiB);
	g_assert_cmpuint(seek(fs, ino, 40 * UNIT_GiB, SEEK_HOLE), ==, 40 * UNIT_GiB + 13);

	/* an empty file has neither */
	uint64_t e = unit_create(fs, PM_ROOT_INO, "e", S_IFREG | 0644);
	g_assert_cmpint(pm_fs_lseek(fs, e, 0, SEEK_DATA, &r), ==, -ENXIO);
	g_assert_cmpint(pm_fs_lseek(fs, e, 0, SEEK_HOLE, &r), ==, -ENXIO);
	/* a file of data only has its hole at the end */
	unit_write_pattern(fs, e, 0, 3 * BS + 1, 3);
	g_assert_cmpuint(seek(fs, e, 0, SEEK_HOLE), ==, 3 * BS + 1);
	g_assert_cmpuint(seek(fs, e, 2 * BS, SEEK_DATA), ==, 2 * BS);
	unit_pool_free(p);
}

static void test_efbig(void)
{
	struct unit_pool *p = unit_pool_new(64 * UNIT_MiB, 0);
	struct pm_fs *fs = p->fs;
	uint64_t ino = unit_create(fs, PM_ROOT_INO, "f", S_IFREG | 0644);
	const uint64_t max = PM_MAX_FILE_SIZE;
	uint8_t buf[100];

	unit_pattern(buf, max - 10, sizeof(buf), 1);
	g_assert_cmpint(pm_fs_write(fs, ino, max, buf, 1, false), ==, -EFBIG);
	g_assert_cmpint(pm_fs_write(fs, ino, max + 12345, buf, 1, false), ==, -EFBIG);
	g_assert_cmpint(pm_fs_write(fs, ino, UINT64_MAX - 5, buf, 1, false), ==, -EFBIG);
	g_assert_cmpuint(unit_size(fs, ino), ==, 0);
	/* a write across the limit is cut at the limit */
	g_assert_cmpint(pm_fs_write(fs, ino, max - 10, buf, sizeof(buf), false), ==, 10);
	g_assert_cmpuint(unit_size(fs, ino), ==, max);
	unit_assert_pattern(fs, ino, max - 10, 10, 1);
	g_assert_cmpuint(height_of(fs, ino), ==, PM_TREE_MAX_HEIGHT);
	unit_assert_blocks(fs, ino);
	g_assert_cmpint(truncate_to(fs, ino, max + 1), ==, -EFBIG);
	g_assert_cmpint(truncate_to(fs, ino, UINT64_MAX), ==, -EFBIG);
	g_assert_cmpuint(unit_size(fs, ino), ==, max);
	g_assert_cmpint(pm_fs_fallocate(fs, ino, 0, max - BS, 2 * BS), ==, -EFBIG);
	g_assert_cmpint(pm_fs_fallocate(fs, ino, 0, UINT64_MAX - 10, 100), ==, -EFBIG);
	g_assert_cmpint(pm_fs_fallocate(fs, ino, FALLOC_FL_KEEP_SIZE, max - BS, BS), ==, 0);
	unit_assert_reopen_stable(p);
	g_assert_cmpuint(unit_size(p->fs, ino), ==, max);
	unit_assert_pattern(p->fs, ino, max - 10, 10, 1);
	g_assert_cmpint(truncate_to(p->fs, ino, 0), ==, 0);
	g_assert_cmpuint(blocks_of(p->fs, ino), ==, 0);
	unit_pool_free(p);
}

static void test_enospc(void)
{
	struct unit_pool *p = unit_pool_new(8 * UNIT_MiB, 0);
	struct pm_fs *fs = p->fs;
	uint64_t a = unit_create(fs, PM_ROOT_INO, "a", S_IFREG | 0644);
	uint64_t b = unit_create(fs, PM_ROOT_INO, "b", S_IFREG | 0644);
	uint64_t c = unit_create(fs, PM_ROOT_INO, "c", S_IFREG | 0644);
	const size_t chunk = 64 * 1024;
	g_autofree uint8_t *buf = g_malloc(chunk);
	uint64_t off = 0, free_before_b;
	ssize_t n;

	unit_write_pattern(fs, a, 0, UNIT_MiB, 1);
	g_assert_cmpint(pm_fs_fsync(fs, a), ==, 0);
	free_before_b = bfree(fs);
	for (;;) {
		unit_pattern(buf, off, chunk, 2);
		n = pm_fs_write(fs, b, off, buf, chunk, false);
		if (n <= 0)
			break;
		g_assert_cmpint(n, <=, (ssize_t)chunk);
		off += (uint64_t)n;
		g_assert_cmpuint(off, <, 8 * UNIT_MiB);
	}
	g_assert_cmpint(n, ==, -ENOSPC);
	g_test_message("wrote %" G_GUINT64_FORMAT " bytes before ENOSPC", off);
	g_assert_cmpuint(off, >, 4 * UNIT_MiB);
	g_assert_cmpuint(bfree(fs), ==, 0);
	g_assert_cmpuint(unit_size(fs, b), ==, off);
	g_assert_cmpint(pm_fs_fsync(fs, b), ==, 0);
	/* what was written before, and what fitted, are intact */
	unit_assert_pattern(fs, a, 0, UNIT_MiB, 1);
	unit_assert_pattern(fs, b, 0, off, 2);
	unit_assert_blocks(fs, b);
	/* other files cannot grow */
	g_assert_cmpint(pm_fs_write(fs, c, 0, "x", 1, false), ==, -ENOSPC);
	g_assert_cmpuint(unit_size(fs, c), ==, 0);
	g_assert_cmpint(pm_fs_fallocate(fs, c, 0, 0, BS), ==, -ENOSPC);
	g_assert_cmpuint(unit_size(fs, c), ==, 0);
	unit_assert_reopen_stable(p);
	fs = p->fs;
	unit_assert_pattern(fs, b, 0, off, 2);
	/* unlinking frees the space, and it can be used again */
	g_assert_cmpint(pm_fs_unlink(fs, PM_ROOT_INO, "b"), ==, 0);
	g_assert_cmpuint(bfree(fs), ==, free_before_b);
	unit_write_pattern(fs, c, 0, 2 * UNIT_MiB, 3);
	unit_assert_pattern(fs, c, 0, 2 * UNIT_MiB, 3);
	unit_assert_pattern(fs, a, 0, UNIT_MiB, 1);
	unit_assert_reopen_stable(p);
	unit_pool_free(p);
}

static void test_enospc_metadata(void)
{
	struct unit_pool *p = unit_pool_new(8 * UNIT_MiB, 0);
	struct pm_fs *fs = p->fs;
	uint64_t d = unit_create(fs, PM_ROOT_INO, "d", S_IFDIR | 0755);
	uint64_t fill = unit_create(fs, PM_ROOT_INO, "fill", S_IFREG | 0644), start;
	struct pm_statfs st0, st1;
	struct pm_attr a;

	/* use up every block */
	g_assert_cmpint(pm_fs_fallocate(fs, fill, 0, 0, 6 * UNIT_MiB), ==, 0);
	while (pm_alloc_blocks(fs, 0, 64, &start) > 0)
		;
	unit_statfs(fs, &st0);
	g_assert_cmpuint(st0.bfree, ==, 0);
	/* an empty directory needs a block for its first entry */
	g_assert_cmpint(pm_fs_mknod(fs, d, "f", S_IFREG | 0644, 0, &unit_cred, &a), ==, -ENOSPC);
	g_assert_cmpint(pm_fs_symlink(fs, PM_ROOT_INO, "l", "target", &unit_cred, &a), ==, -ENOSPC);
	g_assert_cmpint(pm_fs_setxattr(fs, fill, "user.x", "y", 1, 0), ==, -ENOSPC);
	/* failed creates leave no inode behind */
	unit_statfs(fs, &st1);
	g_assert_cmpuint(st1.ffree, ==, st0.ffree);
	g_assert_cmpuint(st1.bfree, ==, 0);
	g_assert_cmpuint(unit_lookup(fs, d, "f"), ==, 0);
	g_assert_cmpuint(unit_lookup(fs, PM_ROOT_INO, "l"), ==, 0);
	/* the root directory still had room: creating there works */
	uint64_t e = unit_create(fs, PM_ROOT_INO, "e", S_IFREG | 0644);
	g_assert_cmpuint(e, !=, 0);
	unit_pool_free(p);
}

/* blocks freed by one file hold its old bytes: nothing of them may show
 * through another file's holes, tails, tree nodes, directory blocks,
 * symlinks or attribute blobs */
static void test_no_stale_data(void)
{
	struct unit_pool *p = unit_pool_new(8 * UNIT_MiB, 0);
	struct pm_fs *fs = p->fs;
	uint64_t junk = unit_create(fs, PM_ROOT_INO, "junk", S_IFREG | 0644), f, off = 0;
	g_autofree uint8_t *buf = g_malloc(64 * 1024);
	struct pm_attr a;
	ssize_t n;

	/* every free block gets non-zero bytes, then is freed */
	memset(buf, 0xa5, 64 * 1024);
	while ((n = pm_fs_write(fs, junk, off, buf, 64 * 1024, false)) > 0)
		off += (uint64_t)n;
	g_assert_cmpuint(bfree(fs), ==, 0);
	g_assert_cmpint(pm_fs_unlink(fs, PM_ROOT_INO, "junk"), ==, 0);

	f = unit_create(fs, PM_ROOT_INO, "f", S_IFREG | 0644);
	/* a write into the middle of a new block: head and tail are zeros */
	unit_write_pattern(fs, f, 10, 100, 1);
	g_assert_cmpint(truncate_to(fs, f, 3 * BS), ==, 0);
	unit_assert_zero(fs, f, 0, 10);
	unit_assert_pattern(fs, f, 10, 100, 1);
	unit_assert_zero(fs, f, 110, 3 * BS - 110);
	/* past the end, leaving a gap inside the new block */
	unit_write_pattern(fs, f, 5 * BS + 100, 10, 2);
	unit_assert_zero(fs, f, 3 * BS, 2 * BS + 100);
	g_assert_cmpint(truncate_to(fs, f, 6 * BS), ==, 0);
	unit_assert_zero(fs, f, 5 * BS + 110, BS - 110);
	/* far away: new tree nodes, whose unused pointers are holes */
	unit_write_pattern(fs, f, 3 * UNIT_GiB, 10, 3);
	unit_assert_zero(fs, f, 6 * BS, 2 * UNIT_MiB);
	unit_assert_zero(fs, f, 3 * UNIT_GiB - 3 * UNIT_MiB, 3 * UNIT_MiB);
	/* preallocated blocks */
	g_assert_cmpint(pm_fs_fallocate(fs, f, 0, 20 * BS, 8 * BS), ==, 0);
	unit_assert_zero(fs, f, 20 * BS, 8 * BS);
	unit_assert_blocks(fs, f);
	/* a directory's new block lists nothing it was not given */
	uint64_t d = unit_create(fs, PM_ROOT_INO, "d", S_IFDIR | 0755);
	uint64_t g = unit_create(fs, d, "g", S_IFREG | 0644);
	g_assert_cmpuint(unit_lookup(fs, d, "g"), ==, g);
	g_assert_cmpint(pm_fs_rmdir(fs, PM_ROOT_INO, "d"), ==, -ENOTEMPTY);
	g_assert_cmpint(pm_fs_unlink(fs, d, "g"), ==, 0);
	g_assert_cmpint(pm_fs_rmdir(fs, PM_ROOT_INO, "d"), ==, 0);
	/* a symlink's target ends where it ends */
	char target[64];
	g_assert_cmpint(pm_fs_symlink(fs, PM_ROOT_INO, "l", "abc", &unit_cred, &a), ==, 0);
	pm_fs_forget(fs, a.ino, 1);
	g_assert_cmpint(pm_fs_readlink(fs, a.ino, target, sizeof(target)), ==, 3);
	g_assert_cmpstr(target, ==, "abc");
	/* an attribute blob lists what was set */
	char names[64];
	g_assert_cmpint(pm_fs_setxattr(fs, f, "user.a", "b", 1, 0), ==, 0);
	g_assert_cmpint(pm_fs_listxattr(fs, f, names, sizeof(names)), ==, 7);
	g_assert_cmpstr(names, ==, "user.a");
	unit_assert_reopen_stable(p);
	unit_pool_free(p);
}

static void test_read_errors(void)
{
	struct unit_pool *p = unit_pool_new(8 * UNIT_MiB, 0);
	struct pm_fs *fs = p->fs;
	uint8_t buf[4];

	g_assert_cmpint(pm_fs_read(fs, PM_ROOT_INO, 0, 4, NULL, buf), ==, -EISDIR);
	g_assert_cmpint(pm_fs_read(fs, 77, 0, 4, NULL, buf), ==, -ENOENT);
	g_assert_cmpint(pm_fs_read(fs, 0, 0, 4, NULL, buf), ==, -ENOENT);
	g_assert_cmpint(pm_fs_read(fs, 1ull << 40, 0, 4, NULL, buf), ==, -ENOENT);
	g_assert_cmpint(pm_fs_write(fs, 77, 0, buf, 4, false), ==, -ENOENT);
	g_assert_cmpint(pm_fs_write(fs, 1ull << 40, 0, buf, 4, false), ==, -ENOENT);
	g_assert_cmpint(pm_fs_write(fs, PM_ROOT_INO, 0, buf, 4, false), <, 0);
	g_assert_cmpint(pm_fs_fsync(fs, 1ull << 40), ==, -ENOENT);
	unit_pool_free(p);
}

struct one_call {
	int calls;
	size_t bytes;
	int iovs;
};

static int count_iov(void *arg, const struct iovec *iov, int cnt)
{
	struct one_call *c = arg;

	c->calls++;
	c->iovs = cnt;
	for (int i = 0; i < cnt; i++)
		c->bytes += iov[i].iov_len;
	return 0;
}

/* The FUSE edge answers a read with the iovecs of one pm_fs_read call, and
 * the kernel takes a short answer for the end of the file. libfuse
 * negotiates reads of up to 1 MiB (256 pages): one call must cover that
 * however fragmented the file is. */
static void test_read_fragmented(void)
{
	struct unit_pool *p = unit_pool_new(64 * UNIT_MiB, 0);
	struct pm_fs *fs = p->fs;
	uint64_t a = unit_create(fs, PM_ROOT_INO, "a", S_IFREG | 0644);
	uint64_t b = unit_create(fs, PM_ROOT_INO, "b", S_IFREG | 0644);
	struct one_call c = { 0 };

	/* interleaved block writes: no two blocks of a are adjacent */
	for (uint64_t i = 0; i < 300; i++) {
		unit_write_pattern(fs, a, i * BS, BS, 1);
		unit_write_pattern(fs, b, i * BS, BS, 2);
	}
	unit_assert_pattern(fs, a, 0, 300 * BS, 1);
	g_assert_cmpint(pm_fs_read(fs, a, 0, UNIT_MiB, count_iov, &c), ==, 0);
	g_assert_cmpint(c.calls, ==, 1);
	g_test_message("1 MiB of 256 fragments: %zu bytes in %d iovecs", c.bytes, c.iovs);
	g_assert_cmpuint(c.bytes, ==, UNIT_MiB);

	/* the same for data blocks alternating with holes */
	uint64_t h = unit_create(fs, PM_ROOT_INO, "h", S_IFREG | 0644);
	for (uint64_t i = 0; i < 300; i += 2)
		unit_write_pattern(fs, h, i * BS, BS, 3);
	memset(&c, 0, sizeof(c));
	g_assert_cmpint(pm_fs_read(fs, h, 0, UNIT_MiB, count_iov, &c), ==, 0);
	g_assert_cmpuint(c.bytes, ==, UNIT_MiB);
	unit_pool_free(p);
}

static void test_corrupt_pointer_at_runtime(void)
{
	struct unit_pool *p = unit_pool_new(8 * UNIT_MiB, 0);
	struct pm_fs *fs = p->fs;
	uint64_t ino = unit_create(fs, PM_ROOT_INO, "f", S_IFREG | 0644), r;
	struct one_call c = { 0 };

	unit_write_pattern(fs, ino, 0, 3 * BS, 1);
	uint64_t *leaf = pm_blk_ptr(fs, pm_dinode(fs, ino)->root);
	uint64_t saved = leaf[1];
	leaf[1] = fs->sb.total_blocks + 7;
	/* refused with EUCLEAN, not followed */
	g_assert_cmpint(pm_fs_read(fs, ino, BS, 16, count_iov, &c), ==, -EUCLEAN);
	g_assert_cmpint(c.calls, ==, 0);
	unit_errmsg_has("fsck.pmfuse");
	g_assert_cmpint(pm_fs_write(fs, ino, BS, "x", 1, false), <, 0);
	g_assert_cmpint(pm_fs_lseek(fs, ino, BS, SEEK_DATA, &r), ==, -EUCLEAN);
	leaf[1] = saved;
	unit_assert_pattern(fs, ino, 0, 3 * BS, 1);
	unit_pool_free(p);
}

int main(int argc, char **argv)
{
	unit_init(&argc, &argv);
	unit_add("/data/rw-offsets", test_rw_offsets);
	unit_add("/data/zero-length-write", test_zero_length_write);
	unit_add("/data/unsynced-data-survives-close", test_unsynced_data_survives_close);
	unit_add("/data/nt-writes-cache-line", test_nt_writes_cache_line);
	unit_add("/data/nt-writes-page", test_nt_writes_page);
	unit_add("/data/tree-heights", test_tree_heights);
	unit_add("/data/sparse-holes", test_sparse_holes);
	unit_add("/data/truncate", test_truncate);
	unit_add("/data/truncate-tree", test_truncate_tree);
	unit_add("/data/truncate-lowers-the-tree", test_truncate_lowers);
	unit_add("/data/truncate-errors", test_truncate_errors);
	unit_add("/data/punch-hole", test_punch_hole);
	unit_add("/data/fallocate", test_fallocate);
	unit_add("/data/fallocate-errors", test_fallocate_errors);
	unit_add("/data/unlink-preallocated", test_unlink_preallocated);
	unit_add("/data/release-cost", test_release_cost);
	unit_add("/data/lseek", test_lseek);
	unit_add("/data/efbig", test_efbig);
	unit_add("/data/enospc", test_enospc);
	unit_add("/data/enospc-metadata", test_enospc_metadata);
	unit_add("/data/no-stale-data", test_no_stale_data);
	unit_add("/data/read-errors", test_read_errors);
	unit_add("/data/read-fragmented-1MiB-one-call", test_read_fragmented);
	unit_add("/data/corrupt-pointer-at-runtime", test_corrupt_pointer_at_runtime);
	return g_test_run();
}
