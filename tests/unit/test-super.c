/* test-super.c -- superblock: layout, format, validation, and opening
 * pools that are damaged or hostile */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "media.h"
#include "super.h"
#include "unit.h"

static void layout(struct pm_super *sb, uint64_t size, uint64_t inodes)
{
	int ret = pm_super_layout(sb, size, inodes);

	if (ret)
		g_error("pm_super_layout(%" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT "): %d %s", size, inodes,
			ret, pm_errmsg());
}

/* the invariants every layout must satisfy */
static void assert_sane(const struct pm_super *sb)
{
	static const uint8_t zero[sizeof(sb->reserved)];

	g_assert_cmpmem(sb->magic, 8, PM_MAGIC, 8);
	g_assert_cmpuint(sb->major, ==, PM_MAJOR);
	g_assert_cmpuint(sb->minor, ==, PM_MINOR);
	g_assert_cmpuint(sb->compat, ==, 0);
	g_assert_cmpuint(sb->incompat, ==, 0);
	g_assert_cmpuint(sb->ro_compat, ==, 0);
	g_assert_cmpuint(sb->block_size, ==, PM_BLOCK_SIZE);
	g_assert_cmpuint(sb->inode_size, ==, PM_INODE_SIZE);
	g_assert_cmpuint(sb->pool_size, ==, sb->total_blocks * PM_BLOCK_SIZE);
	g_assert_cmpuint(sb->journal_start, >=, 2); /* after both superblocks */
	g_assert_cmpuint(sb->itable_start, ==, sb->journal_start + sb->journal_blocks);
	g_assert_cmpuint(sb->itable_blocks * (PM_BLOCK_SIZE / PM_INODE_SIZE), ==, sb->inode_count);
	g_assert_cmpuint(sb->data_start, ==, sb->itable_start + sb->itable_blocks);
	g_assert_cmpuint(sb->data_start + sb->data_blocks, ==, sb->total_blocks);
	g_assert_cmpmem(sb->reserved, sizeof(sb->reserved), zero, sizeof(zero));
	g_assert_cmphex(sb->checksum, ==, pm_super_checksum(sb));
	g_assert_cmpuint(sb->uuid[6] >> 4, ==, 4);      /* random UUID */
	g_assert_cmpuint(sb->uuid[8] & 0xc0, ==, 0x80); /* RFC 4122 variant */
	g_assert_cmpint(llabs(sb->mkfs_time - (int64_t)time(NULL)), <=, 5);
}

static void test_layout_64m(void)
{
	struct pm_super sb;

	layout(&sb, 64 * UNIT_MiB, 0);
	assert_sane(&sb);
	g_assert_cmpuint(sb.pool_size, ==, 64 * UNIT_MiB);
	g_assert_cmpuint(sb.total_blocks, ==, 16384);
	g_assert_cmpuint(sb.journal_start, ==, 2);
	g_assert_cmpuint(sb.journal_blocks, ==, PM_JOURNAL_BLOCKS);
	g_assert_cmpuint(sb.itable_start, ==, 258);
	g_assert_cmpuint(sb.inode_count, ==, 8192); /* one per 8 KiB */
	g_assert_cmpuint(sb.itable_blocks, ==, 512);
	g_assert_cmpuint(sb.data_start, ==, 770);
	g_assert_cmpuint(sb.data_blocks, ==, 16384 - 770);
}

static void test_layout_1g(void)
{
	struct pm_super sb;

	layout(&sb, UNIT_GiB, 0);
	assert_sane(&sb);
	g_assert_cmpuint(sb.total_blocks, ==, 262144);
	g_assert_cmpuint(sb.inode_count, ==, 131072);
	g_assert_cmpuint(sb.itable_blocks, ==, 8192);
	g_assert_cmpuint(sb.itable_start, ==, 258);
	g_assert_cmpuint(sb.data_start, ==, 258 + 8192);
	g_assert_cmpuint(sb.data_blocks, ==, 262144 - 8450);

	layout(&sb, UNIT_GiB, 1000);
	assert_sane(&sb);
	g_assert_cmpuint(sb.inode_count, ==, 1008);
	g_assert_cmpuint(sb.itable_blocks, ==, 63);
	g_assert_cmpuint(sb.data_start, ==, 258 + 63);
}

static void test_layout_rounding(void)
{
	static const struct {
		uint64_t want, got;
	} cases[] = { { 1, 16 }, { 15, 16 }, { 16, 16 }, { 17, 32 }, { 31, 32 }, { 4097, 4112 } };
	struct pm_super sb;

	for (unsigned i = 0; i < G_N_ELEMENTS(cases); i++) {
		layout(&sb, 64 * UNIT_MiB, cases[i].want);
		assert_sane(&sb);
		g_assert_cmpuint(sb.inode_count, ==, cases[i].got);
		g_assert_cmpuint(sb.itable_blocks, ==, cases[i].got / 16);
	}
	/* a size that is not a block multiple is rounded down */
	layout(&sb, 64 * UNIT_MiB + 100, 0);
	assert_sane(&sb);
	g_assert_cmpuint(sb.pool_size, ==, 64 * UNIT_MiB);
	g_assert_cmpuint(sb.total_blocks, ==, 16384);
	/* the smallest pool */
	layout(&sb, PM_MIN_POOL_SIZE, 0);
	assert_sane(&sb);
	g_assert_cmpuint(sb.inode_count, ==, 1024);
	g_assert_cmpuint(sb.data_blocks, ==, 2048 - 258 - 64);
}

static void test_layout_errors(void)
{
	struct pm_super sb;

	g_assert_cmpint(pm_super_layout(&sb, PM_MIN_POOL_SIZE - PM_BLOCK_SIZE, 0), ==, -EINVAL);
	unit_errmsg_has("minimum");
	g_assert_cmpint(pm_super_layout(&sb, 0, 0), ==, -EINVAL);
	/* inodes that leave no data area */
	g_assert_cmpint(pm_super_layout(&sb, 8 * UNIT_MiB, 30000), ==, -ENOSPC);
	unit_errmsg_has("inodes");
	g_assert_cmpint(pm_super_layout(&sb, 8 * UNIT_MiB, (1ull << 32) + 1), ==, -EINVAL);
	g_assert_cmpint(pm_super_layout(&sb, 8 * UNIT_MiB, UINT64_MAX - 3), ==, -EINVAL);
}

static void test_layout_uuid(void)
{
	struct pm_super a, b;
	char sa[37], sb_[37];

	layout(&a, 64 * UNIT_MiB, 0);
	layout(&b, 64 * UNIT_MiB, 0);
	g_assert_true(memcmp(a.uuid, b.uuid, 16) != 0);
	pm_super_uuid_str(&a, sa);
	pm_super_uuid_str(&b, sb_);
	g_assert_cmpuint(strlen(sa), ==, 36);
	g_assert_cmpstr(sa, !=, sb_);
	g_assert_true(g_uuid_string_is_valid(sa));
	g_assert_cmpint(sa[14], ==, '4');
}

/* an 8 MiB image in memory, holding a valid superblock */
static uint8_t *image(struct pm_super *sb)
{
	uint8_t *img = g_malloc0(PM_MIN_POOL_SIZE);

	layout(sb, PM_MIN_POOL_SIZE, 0);
	memcpy(img, sb, sizeof(*sb));
	return img;
}

static struct pm_super *sb_of(uint8_t *img)
{
	return (struct pm_super *)img;
}

static void reseal(uint8_t *img)
{
	sb_of(img)->checksum = pm_super_checksum(sb_of(img));
}

static void test_check_valid(void)
{
	struct pm_super sb, out;
	g_autofree uint8_t *img = image(&sb);

	memset(&out, 0xee, sizeof(out));
	g_assert_cmpint(pm_super_check(img, PM_MIN_POOL_SIZE, &out), ==, 0);
	g_assert_cmpmem(&out, sizeof(out), &sb, sizeof(sb));
	/* a larger map than the pool is fine (device-DAX, grown file) */
	g_autofree uint8_t *big = g_malloc0(PM_MIN_POOL_SIZE + 5 * PM_BLOCK_SIZE);
	memcpy(big, img, PM_BLOCK_SIZE);
	g_assert_cmpint(pm_super_check(big, PM_MIN_POOL_SIZE + 5 * PM_BLOCK_SIZE, &out), ==, 0);
	/* a newer minor version is compatible */
	sb_of(img)->minor = PM_MINOR + 3;
	reseal(img);
	g_assert_cmpint(pm_super_check(img, PM_MIN_POOL_SIZE, &out), ==, 0);
	g_assert_cmpuint(out.minor, ==, PM_MINOR + 3);
	g_assert_cmpint(pm_super_looks_like_pool(img, PM_MIN_POOL_SIZE), !=, 0);
}

static void test_check_bad_magic(void)
{
	struct pm_super sb, out;
	g_autofree uint8_t *img = image(&sb);

	for (unsigned i = 0; i < 8; i++) {
		img[i] ^= 0x20;
		g_assert_cmpint(pm_super_check(img, PM_MIN_POOL_SIZE, &out), ==, -EINVAL);
		unit_errmsg_has("not a pmfuse pool");
		g_assert_cmpint(pm_super_looks_like_pool(img, PM_MIN_POOL_SIZE), ==, 0);
		img[i] ^= 0x20;
	}
	/* all zeros (a fresh file), and a map too small for the superblocks */
	g_autofree uint8_t *zeros = g_malloc0(PM_MIN_POOL_SIZE);
	g_assert_cmpint(pm_super_check(zeros, PM_MIN_POOL_SIZE, &out), ==, -EINVAL);
	unit_errmsg_has("not a pmfuse pool");
	g_assert_cmpint(pm_super_check(img, 2 * PM_BLOCK_SIZE - 1, &out), ==, -EINVAL);
	g_assert_cmpint(pm_super_check(img, 100, &out), ==, -EINVAL);
	g_assert_cmpint(pm_super_looks_like_pool(img, 100), ==, 0);
}

static void test_check_newer_major(void)
{
	struct pm_super sb, out;
	g_autofree uint8_t *img = image(&sb);

	sb_of(img)->major = PM_MAJOR + 1;
	reseal(img);
	g_assert_cmpint(pm_super_check(img, PM_MIN_POOL_SIZE, &out), ==, -EPROTO);
	unit_errmsg_has("version");
	unit_errmsg_has("2.0");
	/* an unknown incompatible feature is refused as well */
	sb_of(img)->major = PM_MAJOR;
	sb_of(img)->incompat = 1ull << 40;
	reseal(img);
	g_assert_cmpint(pm_super_check(img, PM_MIN_POOL_SIZE, &out), ==, -EPROTO);
	unit_errmsg_has("incompatible");
	/* unknown compat features are fine */
	sb_of(img)->incompat = 0;
	sb_of(img)->compat = 1ull << 3;
	reseal(img);
	g_assert_cmpint(pm_super_check(img, PM_MIN_POOL_SIZE, &out), ==, 0);
}

static void test_check_checksum(void)
{
	struct pm_super sb, out;
	g_autofree uint8_t *img = image(&sb);

	/* any flipped bit after the magic and the version is caught */
	for (size_t off = offsetof(struct pm_super, compat); off < sizeof(struct pm_super); off++) {
		img[off] ^= 0x01;
		g_assert_cmpint(pm_super_check(img, PM_MIN_POOL_SIZE, &out), ==, -EUCLEAN);
		unit_errmsg_has("checksum");
		unit_errmsg_has("fsck.pmfuse");
		img[off] ^= 0x01;
	}
	sb_of(img)->minor ^= 0x100;
	g_assert_cmpint(pm_super_check(img, PM_MIN_POOL_SIZE, &out), ==, -EUCLEAN);
	unit_errmsg_has("checksum");
	sb_of(img)->minor ^= 0x100;
	g_assert_cmpint(pm_super_check(img, PM_MIN_POOL_SIZE, &out), ==, 0);
}

static void test_check_short_pool(void)
{
	struct pm_super sb, out;
	g_autofree uint8_t *img = image(&sb);

	g_assert_cmpint(pm_super_check(img, PM_MIN_POOL_SIZE - PM_BLOCK_SIZE, &out), ==, -EUCLEAN);
	unit_errmsg_has("too short");
	g_assert_cmpint(pm_super_check(img, PM_MIN_POOL_SIZE - 1, &out), ==, -EUCLEAN);
	g_assert_cmpint(pm_super_check(img, 4 * PM_BLOCK_SIZE, &out), ==, -EUCLEAN);
	unit_errmsg_has("too short");
}

/* a resealed superblock whose field at off (8 bytes) is v must be refused */
static void refuse_u64(uint8_t *img, size_t off, uint64_t v, const char *msg)
{
	struct pm_super out;
	uint64_t old;

	memcpy(&old, img + off, 8);
	memcpy(img + off, &v, 8);
	reseal(img);
	int ret = pm_super_check(img, PM_MIN_POOL_SIZE, &out);
	if (ret != -EUCLEAN)
		g_error("field at %zu = %" G_GUINT64_FORMAT ": pm_super_check = %d (%s), expected -EUCLEAN",
			off, v, ret, pm_errmsg());
	unit_errmsg_has(msg);
	memcpy(img + off, &old, 8);
	reseal(img);
	g_assert_cmpint(pm_super_check(img, PM_MIN_POOL_SIZE, &out), ==, 0);
}

#define OFF(f) offsetof(struct pm_super, f)

static void test_check_regions(void)
{
	struct pm_super sb;
	g_autofree uint8_t *img = image(&sb);
	const char *out = "outside the pool";

	/* data area one block past the end, or wrapping around */
	refuse_u64(img, OFF(data_blocks), sb.data_blocks + 1, out);
	refuse_u64(img, OFF(data_blocks), UINT64_MAX, out);
	refuse_u64(img, OFF(data_start), sb.data_start + 1, out);
	refuse_u64(img, OFF(data_start), UINT64_MAX - 10, out);
	/* journal over the superblocks, or past the end */
	refuse_u64(img, OFF(journal_start), 0, out);
	refuse_u64(img, OFF(journal_start), 1, out);
	refuse_u64(img, OFF(journal_blocks), sb.total_blocks, out);
	refuse_u64(img, OFF(journal_blocks), UINT64_MAX, out);
	/* inode table overlapping the journal or the data area */
	refuse_u64(img, OFF(itable_start), sb.itable_start - 1, out);
	refuse_u64(img, OFF(itable_blocks), sb.itable_blocks + 1, out);
	refuse_u64(img, OFF(itable_blocks), UINT64_MAX, out);
	/* more inodes than the table holds, or none */
	refuse_u64(img, OFF(inode_count), sb.inode_count + 1, "inode count");
	refuse_u64(img, OFF(inode_count), 0, "inode count");
	refuse_u64(img, OFF(inode_count), UINT64_MAX, "inode count");
	/* sizes that disagree */
	refuse_u64(img, OFF(pool_size), sb.pool_size + PM_BLOCK_SIZE, "");
	refuse_u64(img, OFF(total_blocks), sb.total_blocks + 1, "");
	refuse_u64(img, OFF(total_blocks), sb.total_blocks - 1, "");
	/* a count whose product with the block size wraps around to the pool
	 * size: regions checked against it were far past the mapping (fuzzers) */
	refuse_u64(img, OFF(total_blocks), sb.total_blocks + (1ull << 52), "");
	refuse_u64(img, OFF(pool_size), sb.pool_size + 1, "");
	/* block and inode sizes other than ours */
	uint64_t bs;
	memcpy(&bs, img + OFF(block_size), 8);
	refuse_u64(img, OFF(block_size), (bs & ~0xffffffffull) | 8192, "block size");
	refuse_u64(img, OFF(block_size), (bs & 0xffffffffull) | (512ull << 32), "inode size");
}

/* DESIGN.md: a damaged pool is refused with a message that names the
 * problem and points to fsck.pmfuse */
static void test_check_messages_name_fsck(void)
{
	struct pm_super sb;
	g_autofree uint8_t *img = image(&sb);
	uint64_t bs;

	refuse_u64(img, OFF(data_blocks), sb.data_blocks + 1, "fsck.pmfuse");
	refuse_u64(img, OFF(pool_size), sb.pool_size + PM_BLOCK_SIZE, "fsck.pmfuse");
	refuse_u64(img, OFF(inode_count), sb.inode_count + 1, "fsck.pmfuse");
	memcpy(&bs, img + OFF(block_size), 8);
	refuse_u64(img, OFF(block_size), (bs & ~0xffffffffull) | 8192, "fsck.pmfuse");
}

static void test_errmsg(void)
{
	g_assert_cmpint(pm_err(EIO, "first %d", 1), ==, -EIO);
	g_assert_cmpstr(pm_errmsg(), ==, "first 1");
	g_assert_cmpint(pm_err(-ENOSPC, "%s is full", "pool"), ==, -ENOSPC);
	g_assert_cmpstr(pm_errmsg(), ==, "pool is full");
	/* long messages are cut, not overflowed */
	g_autofree char *longs = g_strnfill(2000, 'x');
	g_assert_cmpint(pm_err(EINVAL, "%s", longs), ==, -EINVAL);
	g_assert_cmpuint(strlen(pm_errmsg()), >, 100);
	g_assert_cmpuint(strlen(pm_errmsg()), <, 2000);
}

static gpointer errmsg_thread(gpointer arg)
{
	(void)arg;
	pm_err(EPERM, "from another thread");
	g_assert_cmpstr(pm_errmsg(), ==, "from another thread");
	return NULL;
}

static void test_errmsg_thread_local(void)
{
	pm_err(EIO, "main thread");
	g_thread_join(g_thread_new("errmsg", errmsg_thread, NULL));
	g_assert_cmpstr(pm_errmsg(), ==, "main thread");
}

static void test_format_roundtrip(void)
{
	g_autofree char *path = unit_pool_file(64 * UNIT_MiB);
	struct pm_media *m = NULL;
	struct pm_super sb, out;
	struct pm_info info;
	struct pm_attr a;
	struct pm_fs *fs = NULL;
	uint64_t state;
	char uuid[37];
	uint8_t *base;
	int fd;

	g_assert_cmpint(pm_media_open(path, 0, &m), ==, 0);
	base = pm_media_base(m);
	memset(base + 2 * UNIT_MiB, 0x77, UNIT_MiB / 2); /* old contents in the inode table */
	layout(&sb, pm_media_size(m), 0);
	g_assert_cmpint(pm_super_format(m, &sb, 1234, 5678), ==, 0);
	g_assert_cmpint(pm_super_check(base, pm_media_size(m), &out), ==, 0);
	g_assert_cmpmem(&out, sizeof(out), &sb, sizeof(sb));
	/* the backup copy */
	g_assert_cmpmem(base + PM_BLOCK_SIZE, sizeof(sb), &sb, sizeof(sb));
	memcpy(&state, base + PM_STATE_OFFSET, 8);
	g_assert_cmphex(state, ==, PM_STATE_CLEAN);
	/* the root directory, and a clean inode table */
	const struct pm_dinode *it = (const void *)(base + sb.itable_start * PM_BLOCK_SIZE);
	g_assert_cmpuint(it[0].mode, ==, S_IFDIR | 0755);
	g_assert_cmpuint(it[0].uid, ==, 1234);
	g_assert_cmpuint(it[0].gid, ==, 5678);
	g_assert_cmpuint(it[0].nlink, ==, 2);
	g_assert_cmpuint(it[0].root, ==, 0);
	for (uint64_t i = 1; i < sb.inode_count; i++)
		g_assert_cmpuint(it[i].mode, ==, 0);
	pm_media_delete(&m);

	g_assert_cmpint(pm_fs_open(path, 0, &fs), ==, 0);
	pm_fs_info(fs, &info);
	g_assert_cmpuint(info.pool_size, ==, 64 * UNIT_MiB);
	g_assert_cmpuint(info.data_blocks, ==, sb.data_blocks);
	g_assert_cmpuint(info.inode_count, ==, sb.inode_count);
	g_assert_true(info.was_clean);
	g_assert_cmpuint(info.orphans, ==, 0);
	pm_super_uuid_str(&sb, uuid);
	g_assert_cmpstr(info.uuid, ==, uuid);
	g_assert_nonnull(info.granularity);
	unit_attr(fs, PM_ROOT_INO, &a);
	g_assert_cmpuint(a.mode, ==, S_IFDIR | 0755);
	g_assert_cmpuint(a.uid, ==, 1234);
	g_assert_cmpuint(a.gid, ==, 5678);
	g_assert_cmpuint(a.nlink, ==, 2);
	struct pm_statfs st;
	unit_statfs(fs, &st);
	g_assert_cmpuint(st.blocks, ==, sb.data_blocks);
	g_assert_cmpuint(st.bfree, ==, sb.data_blocks);
	g_assert_cmpuint(st.files, ==, sb.inode_count);
	g_assert_cmpuint(st.ffree, ==, sb.inode_count - 1);
	g_assert_cmpuint(st.bsize, ==, 4096);
	g_assert_cmpuint(st.namemax, ==, 255);

	/* marked in use while open, clean after close */
	fd = open(path, O_RDONLY);
	g_assert_cmpint(pread(fd, &state, 8, PM_STATE_OFFSET), ==, 8);
	g_assert_cmphex(state, ==, PM_STATE_DIRTY);
	pm_fs_close(&fs);
	g_assert_null(fs);
	g_assert_cmpint(pread(fd, &state, 8, PM_STATE_OFFSET), ==, 8);
	g_assert_cmphex(state, ==, PM_STATE_CLEAN);
	close(fd);

	/* formatting again gives an empty file system with a new identity */
	g_assert_cmpint(pm_fs_open(path, 0, &fs), ==, 0);
	unit_create(fs, PM_ROOT_INO, "old", S_IFREG | 0644);
	pm_fs_close(&fs);
	g_assert_cmpint(pm_media_open(path, 0, &m), ==, 0);
	struct pm_super sb2;
	layout(&sb2, pm_media_size(m), 0);
	g_assert_cmpint(pm_super_format(m, &sb2, 0, 0), ==, 0);
	pm_media_delete(&m);
	g_assert_cmpint(pm_fs_open(path, 0, &fs), ==, 0);
	g_assert_cmpuint(unit_lookup(fs, PM_ROOT_INO, "old"), ==, 0);
	pm_fs_info(fs, &info);
	g_assert_cmpstr(info.uuid, !=, uuid);
	pm_fs_close(&fs);
}

static void test_format_too_small(void)
{
	g_autofree char *path = unit_pool_file(16 * UNIT_MiB);
	struct pm_media *m = NULL;
	struct pm_super sb;

	g_assert_cmpint(pm_media_open(path, 0, &m), ==, 0);
	layout(&sb, 32 * UNIT_MiB, 0);
	g_assert_cmpint(pm_super_format(m, &sb, 0, 0), ==, -ENOSPC);
	/* nothing was written: the file is still not a pool */
	g_assert_cmpint(pm_super_looks_like_pool(pm_media_base(m), pm_media_size(m)), ==, 0);
	pm_media_delete(&m);
}

/* open must fail with ret and a message holding msg, and leave the pool
 * unlocked */
static void refuse_open(const char *path, int ret, const char *msg)
{
	struct pm_fs *fs = NULL;
	struct pm_media *m = NULL;
	int r = pm_fs_open(path, 0, &fs);

	if (r != ret)
		g_error("pm_fs_open = %d (%s), expected %d", r, r ? pm_errmsg() : "", ret);
	g_assert_null(fs);
	unit_errmsg_has(msg);
	g_assert_cmpint(pm_media_open(path, 0, &m), ==, 0);
	pm_media_delete(&m);
}

static void test_open_refuses_damaged(void)
{
	struct unit_pool *p = unit_pool_new(8 * UNIT_MiB, 0);
	struct pm_media *m;
	uint8_t *base;

	unit_pool_close(p);
	base = unit_map_pool(p->path, &m);
	base[40] ^= 0xff;
	unit_unmap_pool(&m);
	refuse_open(p->path, -EUCLEAN, "checksum");
	unit_errmsg_has("fsck.pmfuse");

	base = unit_map_pool(p->path, &m);
	base[40] ^= 0xff;
	base[0] = 'X';
	unit_unmap_pool(&m);
	refuse_open(p->path, -EINVAL, "not a pmfuse pool");

	base = unit_map_pool(p->path, &m);
	base[0] = 'P';
	unit_unmap_pool(&m);
	unit_pool_open(p);
	unit_pool_close(p);

	/* a pool file cut short */
	g_assert_cmpint(truncate(p->path, 4 * UNIT_MiB), ==, 0);
	refuse_open(p->path, -EUCLEAN, "too short");
	unit_pool_free(p);
}

static void test_open_ro_compat(void)
{
	struct unit_pool *p = unit_pool_new(8 * UNIT_MiB, 0);
	struct pm_super *sb;
	struct pm_media *m;
	struct pm_fs *fs = NULL;

	unit_pool_close(p);
	sb = (struct pm_super *)unit_map_pool(p->path, &m);
	sb->ro_compat = 1ull << 7;
	sb->checksum = pm_super_checksum(sb);
	unit_unmap_pool(&m);
	refuse_open(p->path, -EROFS, "read-only");
	g_assert_cmpint(pm_fs_open(p->path, PM_FS_RDONLY, &fs), ==, 0);
	g_assert_cmpuint(unit_lookup(fs, PM_ROOT_INO, "nothing"), ==, 0);
	pm_fs_close(&fs);
	unit_pool_free(p);
}

static void crash_while_open(void *arg)
{
	struct pm_fs *fs = NULL;

	g_assert_cmpint(pm_fs_open(arg, 0, &fs), ==, 0);
	unit_create(fs, PM_ROOT_INO, "f", S_IFREG | 0600);
	/* no pm_fs_close */
}

static void test_unclean_shutdown(void)
{
	struct unit_pool *p = unit_pool_new(8 * UNIT_MiB, 0);
	struct pm_info info;

	pm_fs_info(p->fs, &info);
	g_assert_true(info.was_clean);
	unit_pool_close(p);
	unit_in_child(crash_while_open, p->path);
	unit_pool_open(p);
	pm_fs_info(p->fs, &info);
	g_assert_false(info.was_clean);
	g_assert_cmpuint(unit_lookup(p->fs, PM_ROOT_INO, "f"), !=, 0);
	unit_pool_reopen(p);
	pm_fs_info(p->fs, &info);
	g_assert_true(info.was_clean);
	unit_pool_free(p);
}

/* a pool whose file "f" has its inode edited by edit(): open must refuse
 * it with EUCLEAN and a message naming the problem and fsck.pmfuse */
static void hostile_inode(void (*edit)(struct pm_dinode *di, const struct pm_super *sb), const char *msg)
{
	struct unit_pool *p = unit_pool_new(8 * UNIT_MiB, 0);
	uint64_t ino = unit_create(p->fs, PM_ROOT_INO, "f", S_IFREG | 0644);
	uint64_t other = unit_create(p->fs, PM_ROOT_INO, "g", S_IFREG | 0644);
	struct pm_media *m;
	uint8_t *base;

	unit_write_pattern(p->fs, ino, 0, 3 * PM_BLOCK_SIZE, 1);
	unit_write_pattern(p->fs, other, 0, PM_BLOCK_SIZE, 2);
	g_assert_cmpint(pm_fs_setxattr(p->fs, ino, "user.a", "b", 1, 0), ==, 0);
	unit_pool_close(p);
	base = unit_map_pool(p->path, &m);
	const struct pm_super *sb = (const void *)base;
	struct pm_dinode *it = (void *)(base + sb->itable_start * PM_BLOCK_SIZE);
	edit(&it[ino - 1], sb);
	unit_unmap_pool(&m);
	refuse_open(p->path, -EUCLEAN, msg);
	unit_errmsg_has("fsck.pmfuse");
	unit_pool_free(p);
}

static void edit_type(struct pm_dinode *di, const struct pm_super *sb)
{
	(void)sb;
	di->mode = 0070644; /* no such file type */
}

static void edit_root_far(struct pm_dinode *di, const struct pm_super *sb)
{
	di->root = sb->total_blocks + 100;
}

static void edit_root_meta(struct pm_dinode *di, const struct pm_super *sb)
{
	di->root = sb->itable_start; /* the inode table is no data block */
}

static void edit_leaf_far(struct pm_dinode *di, const struct pm_super *sb)
{
	uint64_t *leaf = (uint64_t *)((uint8_t *)sb + di->root * PM_BLOCK_SIZE);

	leaf[1] = UINT64_MAX;
}

static void edit_height(struct pm_dinode *di, const struct pm_super *sb)
{
	(void)sb;
	di->height = 77;
}

static void edit_cycle(struct pm_dinode *di, const struct pm_super *sb)
{
	uint64_t *leaf = (uint64_t *)((uint8_t *)sb + di->root * PM_BLOCK_SIZE);

	/* a tree whose node points to itself: walking it must end */
	for (unsigned i = 0; i < PM_TREE_FANOUT; i++)
		leaf[i] = di->root;
	di->height = PM_TREE_MAX_HEIGHT;
}

static void edit_shared(struct pm_dinode *di, const struct pm_super *sb)
{
	/* inode "g" (the next one) owns this block too */
	uint64_t *leaf = (uint64_t *)((uint8_t *)sb + di->root * PM_BLOCK_SIZE);

	leaf[2] = di[1].root;
}

static void edit_xattr_far(struct pm_dinode *di, const struct pm_super *sb)
{
	di->xattr_block = sb->total_blocks - 1;
	di->xattr_blocks = 2;
}

static void edit_xattr_size(struct pm_dinode *di, const struct pm_super *sb)
{
	(void)sb;
	di->xattr_size = di->xattr_blocks * PM_BLOCK_SIZE + 8;
}

static void edit_xattr_record(struct pm_dinode *di, const struct pm_super *sb)
{
	struct pm_xattr_rec *r = (void *)((uint8_t *)sb + di->xattr_block * PM_BLOCK_SIZE);

	r->value_len = 0xfffffff0u;
}

static void test_open_refuses_hostile(void)
{
	hostile_inode(edit_type, "invalid type");
	hostile_inode(edit_root_far, "outside the data area");
	hostile_inode(edit_root_meta, "outside the data area");
	hostile_inode(edit_leaf_far, "outside the data area");
	hostile_inode(edit_height, "height");
	hostile_inode(edit_cycle, "owned twice");
	hostile_inode(edit_shared, "owned twice");
	hostile_inode(edit_xattr_far, "out of bounds");
	hostile_inode(edit_xattr_size, "out of bounds");
	hostile_inode(edit_xattr_record, "extended attribute");
}

static void test_open_refuses_root_not_dir(void)
{
	struct unit_pool *p = unit_pool_new(8 * UNIT_MiB, 0);
	struct pm_media *m;
	uint8_t *base;

	unit_pool_close(p);
	base = unit_map_pool(p->path, &m);
	struct pm_dinode *root = (void *)(base + ((struct pm_super *)base)->itable_start * PM_BLOCK_SIZE);
	root->mode = S_IFREG | 0644;
	unit_unmap_pool(&m);
	refuse_open(p->path, -EUCLEAN, "root");
	unit_errmsg_has("fsck.pmfuse");

	base = unit_map_pool(p->path, &m);
	root = (void *)(base + ((struct pm_super *)base)->itable_start * PM_BLOCK_SIZE);
	root->mode = 0;
	unit_unmap_pool(&m);
	refuse_open(p->path, -EUCLEAN, "root");
	unit_pool_free(p);
}

int main(int argc, char **argv)
{
	unit_init(&argc, &argv);
	unit_add("/super/layout-64M", test_layout_64m);
	unit_add("/super/layout-1G", test_layout_1g);
	unit_add("/super/layout-inode-rounding", test_layout_rounding);
	unit_add("/super/layout-errors", test_layout_errors);
	unit_add("/super/layout-uuid", test_layout_uuid);
	unit_add("/super/check-valid", test_check_valid);
	unit_add("/super/check-bad-magic", test_check_bad_magic);
	unit_add("/super/check-newer-major", test_check_newer_major);
	unit_add("/super/check-checksum", test_check_checksum);
	unit_add("/super/check-short-pool", test_check_short_pool);
	unit_add("/super/check-regions", test_check_regions);
	unit_add("/super/check-messages-name-fsck", test_check_messages_name_fsck);
	unit_add("/super/errmsg", test_errmsg);
	unit_add("/super/errmsg-thread-local", test_errmsg_thread_local);
	unit_add("/super/format-roundtrip", test_format_roundtrip);
	unit_add("/super/format-too-small", test_format_too_small);
	unit_add("/super/open-refuses-damaged", test_open_refuses_damaged);
	unit_add("/super/open-ro-compat", test_open_ro_compat);
	unit_add("/super/unclean-shutdown", test_unclean_shutdown);
	unit_add("/super/open-refuses-hostile-inodes", test_open_refuses_hostile);
	unit_add("/super/open-refuses-root-not-dir", test_open_refuses_root_not_dir);
	return g_test_run();
}
