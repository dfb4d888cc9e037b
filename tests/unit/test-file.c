/* test-file.c -- attributes (mode, owner, times), clearing of privileges
 * on write, truncate and chown, fsync */
#include <errno.h>
#include <sys/stat.h>
#include <time.h>

#include "unit.h"

#define CAP "security.capability"

static bool ts_between(struct timespec t, struct timespec lo, struct timespec hi)
{
	return (t.tv_sec > lo.tv_sec || (t.tv_sec == lo.tv_sec && t.tv_nsec >= lo.tv_nsec)) &&
	       (t.tv_sec < hi.tv_sec || (t.tv_sec == hi.tv_sec && t.tv_nsec <= hi.tv_nsec));
}

static void assert_ts(struct timespec t, int64_t sec, long nsec)
{
	g_assert_cmpint(t.tv_sec, ==, sec);
	g_assert_cmpint(t.tv_nsec, ==, nsec);
}

static void now(struct timespec *t)
{
	clock_gettime(CLOCK_REALTIME, t);
}

static uint32_t mode_of(struct pm_fs *fs, uint64_t ino)
{
	struct pm_attr a;

	unit_attr(fs, ino, &a);
	return a.mode;
}

static int setattr(struct pm_fs *fs, uint64_t ino, unsigned valid, uint32_t mode, uint32_t uid, uint32_t gid)
{
	struct pm_setattr sa = { .valid = valid, .mode = mode, .uid = uid, .gid = gid };

	return pm_fs_setattr(fs, ino, &sa, NULL);
}

static void chmod_(struct pm_fs *fs, uint64_t ino, uint32_t mode)
{
	g_assert_cmpint(setattr(fs, ino, PM_SET_MODE, mode, 0, 0), ==, 0);
	g_assert_cmpuint(mode_of(fs, ino) & 07777, ==, mode);
}

static bool has_cap(struct pm_fs *fs, uint64_t ino)
{
	char buf[32];
	int ret = pm_fs_getxattr(fs, ino, CAP, buf, sizeof(buf));

	g_assert_true(ret == 4 || ret == -ENODATA);
	return ret == 4;
}

static void give_cap(struct pm_fs *fs, uint64_t ino)
{
	g_assert_cmpint(pm_fs_setxattr(fs, ino, CAP, "\x01\x02\x03\x04", 4, 0), ==, 0);
	g_assert_cmpint(pm_fs_setxattr(fs, ino, "user.keep", "k", 1, 0), ==, 0);
	g_assert_true(has_cap(fs, ino));
}

static void test_mode(void)
{
	struct unit_pool *p = unit_pool_new(8 * UNIT_MiB, 0);
	struct pm_fs *fs = p->fs;
	uint64_t f = unit_create(fs, PM_ROOT_INO, "f", S_IFREG | 0644);
	uint64_t d = unit_create(fs, PM_ROOT_INO, "d", S_IFDIR | 0755);
	struct pm_setattr sa = { .valid = PM_SET_MODE, .mode = 04751 };
	struct timespec before, after;
	struct pm_attr a;

	now(&before);
	g_assert_cmpint(pm_fs_setattr(fs, f, &sa, &a), ==, 0);
	now(&after);
	g_assert_cmpuint(a.ino, ==, f);
	g_assert_cmpuint(a.mode, ==, S_IFREG | 04751);
	g_assert_true(ts_between(a.ctime, before, after));
	/* type bits in the new mode are ignored */
	sa.mode = S_IFDIR | 01777;
	g_assert_cmpint(pm_fs_setattr(fs, f, &sa, &a), ==, 0);
	g_assert_cmpuint(a.mode, ==, S_IFREG | 01777);
	sa.mode = 0;
	g_assert_cmpint(pm_fs_setattr(fs, d, &sa, &a), ==, 0);
	g_assert_cmpuint(a.mode, ==, S_IFDIR);
	chmod_(fs, d, 03755);
	g_assert_cmpint(pm_fs_setattr(fs, 999, &sa, &a), ==, -ENOENT);
	g_assert_cmpint(pm_fs_setattr(fs, 1ull << 40, &sa, &a), ==, -ENOENT);
	unit_assert_reopen_stable(p);
	g_assert_cmpuint(mode_of(p->fs, f), ==, S_IFREG | 01777);
	g_assert_cmpuint(mode_of(p->fs, d), ==, S_IFDIR | 03755);
	unit_pool_free(p);
}

static void test_owner(void)
{
	struct unit_pool *p = unit_pool_new(8 * UNIT_MiB, 0);
	struct pm_fs *fs = p->fs;
	uint64_t f = unit_create(fs, PM_ROOT_INO, "f", S_IFREG | 0644);
	struct pm_attr a;

	g_assert_cmpint(setattr(fs, f, PM_SET_UID | PM_SET_GID, 0, 1001, 2002), ==, 0);
	unit_attr(fs, f, &a);
	g_assert_cmpuint(a.uid, ==, 1001);
	g_assert_cmpuint(a.gid, ==, 2002);
	g_assert_cmpint(setattr(fs, f, PM_SET_UID, 0, 3003, 9), ==, 0);
	unit_attr(fs, f, &a);
	g_assert_cmpuint(a.uid, ==, 3003);
	g_assert_cmpuint(a.gid, ==, 2002);
	g_assert_cmpint(setattr(fs, f, PM_SET_GID, 0, 9, 4004), ==, 0);
	unit_attr(fs, f, &a);
	g_assert_cmpuint(a.uid, ==, 3003);
	g_assert_cmpuint(a.gid, ==, 4004);
	g_assert_cmpint(setattr(fs, f, PM_SET_UID | PM_SET_GID, 0, UINT32_MAX - 1, 0), ==, 0);
	unit_pool_reopen(p);
	unit_attr(p->fs, f, &a);
	g_assert_cmpuint(a.uid, ==, UINT32_MAX - 1);
	g_assert_cmpuint(a.gid, ==, 0);
	g_assert_cmpuint(a.mode, ==, S_IFREG | 0644);
	unit_pool_free(p);
}

static void test_times(void)
{
	struct unit_pool *p = unit_pool_new(8 * UNIT_MiB, 0);
	struct pm_fs *fs = p->fs;
	uint64_t f = unit_create(fs, PM_ROOT_INO, "f", S_IFREG | 0644);
	struct pm_setattr sa = {
		.valid = PM_SET_ATIME | PM_SET_MTIME,
		.atime = { 1234567890, 123456789 },
		.mtime = { 987654321, 999999999 },
	};
	struct timespec before, after;
	struct pm_attr a;

	now(&before);
	g_assert_cmpint(pm_fs_setattr(fs, f, &sa, &a), ==, 0);
	now(&after);
	assert_ts(a.atime, 1234567890, 123456789);
	assert_ts(a.mtime, 987654321, 999999999);
	g_assert_true(ts_between(a.ctime, before, after));
	/* one at a time; the other stays */
	sa = (struct pm_setattr){ .valid = PM_SET_MTIME, .mtime = { 5, 1 } };
	g_assert_cmpint(pm_fs_setattr(fs, f, &sa, &a), ==, 0);
	assert_ts(a.atime, 1234567890, 123456789);
	assert_ts(a.mtime, 5, 1);
	/* before 1970 and far in the future */
	sa = (struct pm_setattr){ .valid = PM_SET_ATIME | PM_SET_MTIME, .atime = { -100, 5 },
				  .mtime = { 1ll << 40, 7 } };
	g_assert_cmpint(pm_fs_setattr(fs, f, &sa, &a), ==, 0);
	assert_ts(a.atime, -100, 5);
	assert_ts(a.mtime, 1ll << 40, 7);
	/* an explicit ctime */
	sa = (struct pm_setattr){ .valid = PM_SET_CTIME, .ctime = { 42, 424242 } };
	g_assert_cmpint(pm_fs_setattr(fs, f, &sa, &a), ==, 0);
	assert_ts(a.ctime, 42, 424242);
	/* now */
	sa = (struct pm_setattr){ .valid = PM_SET_ATIME_NOW | PM_SET_MTIME_NOW };
	now(&before);
	g_assert_cmpint(pm_fs_setattr(fs, f, &sa, &a), ==, 0);
	now(&after);
	g_assert_true(ts_between(a.atime, before, after));
	g_assert_true(ts_between(a.mtime, before, after));
	g_assert_true(ts_between(a.ctime, before, after));
	/* nanoseconds survive a reopen */
	sa = (struct pm_setattr){ .valid = PM_SET_ATIME | PM_SET_MTIME | PM_SET_CTIME,
				  .atime = { 1700000000, 1 }, .mtime = { 1700000001, 999999998 },
				  .ctime = { 1700000002, 500000000 } };
	g_assert_cmpint(pm_fs_setattr(fs, f, &sa, &a), ==, 0);
	unit_pool_reopen(p);
	unit_attr(p->fs, f, &a);
	assert_ts(a.atime, 1700000000, 1);
	assert_ts(a.mtime, 1700000001, 999999998);
	assert_ts(a.ctime, 1700000002, 500000000);
	unit_pool_free(p);
}

static void test_times_on_write_truncate(void)
{
	struct unit_pool *p = unit_pool_new(8 * UNIT_MiB, 0);
	struct pm_fs *fs = p->fs;
	uint64_t f = unit_create(fs, PM_ROOT_INO, "f", S_IFREG | 0644);
	struct pm_setattr sa = { .valid = PM_SET_ATIME | PM_SET_MTIME | PM_SET_CTIME,
				 .atime = { 100, 1 }, .mtime = { 200, 2 }, .ctime = { 300, 3 } };
	struct timespec before, after;
	struct pm_attr a;

	g_assert_cmpint(pm_fs_setattr(fs, f, &sa, NULL), ==, 0);
	now(&before);
	unit_write(fs, f, 0, "data", 4);
	now(&after);
	unit_attr(fs, f, &a);
	assert_ts(a.atime, 100, 1);
	g_assert_true(ts_between(a.mtime, before, after));
	g_assert_true(ts_between(a.ctime, before, after));
	g_assert_cmpint(pm_fs_setattr(fs, f, &sa, NULL), ==, 0);
	sa = (struct pm_setattr){ .valid = PM_SET_SIZE, .size = 1 };
	now(&before);
	g_assert_cmpint(pm_fs_setattr(fs, f, &sa, &a), ==, 0);
	now(&after);
	assert_ts(a.atime, 100, 1);
	g_assert_true(ts_between(a.mtime, before, after));
	g_assert_true(ts_between(a.ctime, before, after));
	/* the times set by a write are durable with the data */
	g_assert_cmpint(pm_fs_fsync(fs, f), ==, 0);
	unit_pool_reopen(p);
	struct pm_attr b;
	unit_attr(p->fs, f, &b);
	assert_ts(b.mtime, a.mtime.tv_sec, a.mtime.tv_nsec);
	g_assert_cmpuint(b.size, ==, 1);
	unit_pool_free(p);
}

static void test_kill_priv_setattr(void)
{
	static const struct {
		uint32_t before, after;
	} t[] = {
		{ 06755, 00755 }, /* setuid goes; setgid with group exec goes */
		{ 04644, 00644 },
		{ 02644, 02644 }, /* setgid without group exec stays (mandatory locking mark) */
		{ 02654, 00654 },
		{ 06745, 02745 },
		{ 01755, 01755 }, /* sticky is no privilege */
		{ 00755, 00755 },
	};
	struct unit_pool *p = unit_pool_new(8 * UNIT_MiB, 0);
	struct pm_fs *fs = p->fs;
	uint64_t f = unit_create(fs, PM_ROOT_INO, "f", S_IFREG | 0644);
	uint64_t d = unit_create(fs, PM_ROOT_INO, "d", S_IFDIR | 0755);

	for (unsigned i = 0; i < G_N_ELEMENTS(t); i++) {
		chmod_(fs, f, t[i].before);
		g_assert_cmpint(setattr(fs, f, PM_SET_KILL_PRIV, 0, 0, 0), ==, 0);
		g_assert_cmpuint(mode_of(fs, f), ==, S_IFREG | t[i].after);
	}
	/* security.capability goes, other attributes stay */
	give_cap(fs, f);
	g_assert_cmpint(setattr(fs, f, PM_SET_KILL_PRIV, 0, 0, 0), ==, 0);
	g_assert_false(has_cap(fs, f));
	g_assert_cmpint(pm_fs_getxattr(fs, f, "user.keep", NULL, 0), ==, 1);
	/* with a truncation (FATTR_KILL_SUIDGID on truncate) */
	chmod_(fs, f, 06755);
	struct pm_setattr sa = { .valid = PM_SET_SIZE | PM_SET_KILL_PRIV, .size = 0 };
	g_assert_cmpint(pm_fs_setattr(fs, f, &sa, NULL), ==, 0);
	g_assert_cmpuint(mode_of(fs, f), ==, S_IFREG | 0755);
	/* directories keep their setgid bit */
	chmod_(fs, d, 02775);
	g_assert_cmpint(setattr(fs, d, PM_SET_KILL_PRIV, 0, 0, 0), ==, 0);
	g_assert_cmpuint(mode_of(fs, d), ==, S_IFDIR | 02775);
	/* durable */
	chmod_(fs, f, 04711);
	g_assert_cmpint(setattr(fs, f, PM_SET_KILL_PRIV, 0, 0, 0), ==, 0);
	unit_pool_reopen(p);
	g_assert_cmpuint(mode_of(p->fs, f), ==, S_IFREG | 0711);
	unit_pool_free(p);
}

static void test_chown_kills_priv(void)
{
	struct unit_pool *p = unit_pool_new(8 * UNIT_MiB, 0);
	struct pm_fs *fs = p->fs;
	uint64_t f = unit_create(fs, PM_ROOT_INO, "f", S_IFREG | 0644);
	struct pm_attr a;

	chmod_(fs, f, 06755);
	give_cap(fs, f);
	g_assert_cmpint(setattr(fs, f, PM_SET_UID, 0, 1234, 0), ==, 0);
	g_assert_cmpuint(mode_of(fs, f), ==, S_IFREG | 0755);
	g_assert_false(has_cap(fs, f));
	g_assert_cmpint(pm_fs_getxattr(fs, f, "user.keep", NULL, 0), ==, 1);
	/* group change; setgid without group exec stays */
	chmod_(fs, f, 06745);
	g_assert_cmpint(setattr(fs, f, PM_SET_GID, 0, 0, 777), ==, 0);
	g_assert_cmpuint(mode_of(fs, f), ==, S_IFREG | 02745);
	/* a mode given with the owner is taken as it is */
	chmod_(fs, f, 06755);
	g_assert_cmpint(setattr(fs, f, PM_SET_UID | PM_SET_MODE, 04750, 99, 0), ==, 0);
	unit_attr(fs, f, &a);
	g_assert_cmpuint(a.mode, ==, S_IFREG | 04750);
	g_assert_cmpuint(a.uid, ==, 99);
	unit_pool_free(p);
}

static void test_write_kill_priv(void)
{
	struct unit_pool *p = unit_pool_new(8 * UNIT_MiB, 0);
	struct pm_fs *fs = p->fs;
	uint64_t f = unit_create(fs, PM_ROOT_INO, "f", S_IFREG | 0644);

	chmod_(fs, f, 06755);
	g_assert_cmpint(pm_fs_write(fs, f, 0, "a", 1, false), ==, 1);
	g_assert_cmpuint(mode_of(fs, f), ==, S_IFREG | 06755);
	g_assert_cmpint(pm_fs_write(fs, f, 1, "b", 1, true), ==, 1);
	g_assert_cmpuint(mode_of(fs, f), ==, S_IFREG | 0755);
	chmod_(fs, f, 02644);
	g_assert_cmpint(pm_fs_write(fs, f, 2, "c", 1, true), ==, 1);
	g_assert_cmpuint(mode_of(fs, f), ==, S_IFREG | 02644);
	chmod_(fs, f, 04700);
	g_assert_cmpint(pm_fs_write(fs, f, 3, "d", 1, true), ==, 1);
	g_assert_cmpuint(mode_of(fs, f), ==, S_IFREG | 0700);
	/* a write that fails changes nothing */
	chmod_(fs, f, 04700);
	g_assert_cmpint(pm_fs_write(fs, f, PM_MAX_FILE_SIZE, "e", 1, true), ==, -EFBIG);
	g_assert_cmpuint(mode_of(fs, f), ==, S_IFREG | 04700);
	char buf[4];
	g_assert_cmpuint(unit_read(fs, f, 0, 4, buf), ==, 4);
	g_assert_cmpmem(buf, 4, "abcd", 4);
	/* durable: the mode reaches the media with the write */
	g_assert_cmpint(pm_fs_write(fs, f, 4, "e", 1, true), ==, 1);
	unit_pool_reopen(p);
	g_assert_cmpuint(mode_of(p->fs, f), ==, S_IFREG | 0700);
	unit_pool_free(p);
}

/* DESIGN.md: pmfuse "clears setuid/setgid/capabilities itself on write":
 * a write with kill_priv drops security.capability even on a file
 * without setuid/setgid bits */
static void test_write_kill_priv_caps(void)
{
	struct unit_pool *p = unit_pool_new(8 * UNIT_MiB, 0);
	struct pm_fs *fs = p->fs;
	uint64_t f = unit_create(fs, PM_ROOT_INO, "f", S_IFREG | 0755);

	give_cap(fs, f);
	g_assert_cmpint(pm_fs_write(fs, f, 0, "x", 1, true), ==, 1);
	g_assert_false(has_cap(fs, f));
	g_assert_cmpint(pm_fs_getxattr(fs, f, "user.keep", NULL, 0), ==, 1);
	unit_pool_free(p);
}

/* libfuse, FUSE_CAP_HANDLE_KILLPRIV_V2: the file system unsets "setuid and
 * setgid bit and additionally cap (stored as xattr) when a file is
 * written, truncated, or its owner is changed. Upon write/truncate
 * suid/sgid is only killed if caller does not have CAP_FSETID": the
 * capability goes on every write and truncation, whatever the caller. */
static void test_write_truncate_drop_caps_always(void)
{
	struct unit_pool *p = unit_pool_new(8 * UNIT_MiB, 0);
	struct pm_fs *fs = p->fs;
	uint64_t f = unit_create(fs, PM_ROOT_INO, "f", S_IFREG | 0755);
	struct pm_setattr sa = { .valid = PM_SET_SIZE, .size = 100 };

	give_cap(fs, f);
	g_assert_cmpint(pm_fs_write(fs, f, 0, "x", 1, false), ==, 1);
	g_assert_false(has_cap(fs, f));
	give_cap(fs, f);
	g_assert_cmpint(pm_fs_setattr(fs, f, &sa, NULL), ==, 0);
	g_assert_false(has_cap(fs, f));
	unit_pool_free(p);
}

static void test_fsync(void)
{
	struct unit_pool *p = unit_pool_new(8 * UNIT_MiB, 0);
	struct pm_fs *fs = p->fs;
	uint64_t f = unit_create(fs, PM_ROOT_INO, "f", S_IFREG | 0644);
	uint64_t d = unit_create(fs, PM_ROOT_INO, "d", S_IFDIR | 0755);
	struct pm_attr a;

	g_assert_cmpint(pm_fs_fsync(fs, f), ==, 0); /* nothing to do */
	unit_write_pattern(fs, f, 0, 100000, 1);
	g_assert_cmpint(pm_fs_fsync(fs, f), ==, 0);
	g_assert_cmpint(pm_fs_fsync(fs, f), ==, 0);
	g_assert_cmpint(pm_fs_fsync(fs, d), ==, 0);
	g_assert_cmpint(pm_fs_fsync(fs, PM_ROOT_INO), ==, 0);
	g_assert_cmpint(pm_fs_symlink(fs, PM_ROOT_INO, "l", "f", &unit_cred, &a), ==, 0);
	g_assert_cmpint(pm_fs_fsync(fs, a.ino), ==, 0);
	pm_fs_forget(fs, a.ino, 1);
	g_assert_cmpint(pm_fs_fsync(fs, 999), ==, -ENOENT);
	g_assert_cmpint(pm_fs_fsync(fs, 0), ==, -ENOENT);
	/* with a reference held (nothing synced on release), fsync makes the
	 * size and the data durable: the dinode holds them */
	g_assert_cmpint(pm_fs_ref(fs, f, &a), ==, 0);
	unit_write_pattern(fs, f, 100000, 5000, 2);
	g_assert_cmpint(pm_fs_fsync(fs, f), ==, 0);
	g_assert_cmpuint(pm_dinode(fs, f)->size, ==, 105000);
	pm_fs_forget(fs, f, 1);
	unit_pool_free(p);
}

/* A chmod or utime makes the inode's change durable, not the file's
 * unflushed data: that stays the sync policy's (fsync), and a file that is
 * written, closed and then chmod'ed by tar costs no flush of its data. */
static void test_setattr_leaves_data(void)
{
	struct unit_pool *p = unit_pool_new(16 * UNIT_MiB, 0);
	struct pm_fs *fs = p->fs;
	uint64_t f = unit_create(fs, PM_ROOT_INO, "f", S_IFREG | 0644);
	struct pm_setattr sa = { .valid = PM_SET_MODE | PM_SET_MTIME, .mode = 0600 };
	struct pm_attr a;

	unit_write_pattern(fs, f, 0, 16384, 1); /* allocating: durable at its commit */
	g_assert_cmpint(pm_fs_ref(fs, f, &a), ==, 0); /* the inode stays cached */
	unit_write_pattern(fs, f, 0, 16384, 2); /* in place, below the non-temporal size */
	g_assert_cmpuint(pm_counters_get(&fs->ctr, PM_DIRTY_BYTES), >=, 16384);
	sa.mtime.tv_sec = 1000;
	g_assert_cmpint(pm_fs_setattr(fs, f, &sa, &a), ==, 0);
	g_assert_cmpuint(pm_counters_get(&fs->ctr, PM_DIRTY_BYTES), >=, 16384);
	g_assert_cmpuint(pm_dinode(fs, f)->mode & 07777, ==, 0600);
	g_assert_cmpint(pm_fs_fsync(fs, f), ==, 0);
	g_assert_cmpuint(pm_counters_get(&fs->ctr, PM_DIRTY_BYTES), ==, 0);
	pm_fs_forget(fs, f, 1);
	unit_pool_reopen(p);
	unit_attr(p->fs, f, &a);
	g_assert_cmpuint(a.mode & 07777, ==, 0600);
	g_assert_cmpint(a.mtime.tv_sec, ==, 1000);
	unit_assert_pattern(p->fs, f, 0, 16384, 2);
	unit_pool_free(p);
}

int main(int argc, char **argv)
{
	unit_init(&argc, &argv);
	unit_add("/file/mode", test_mode);
	unit_add("/file/owner", test_owner);
	unit_add("/file/times", test_times);
	unit_add("/file/times-on-write-truncate", test_times_on_write_truncate);
	unit_add("/file/kill-priv-setattr", test_kill_priv_setattr);
	unit_add("/file/chown-kills-priv", test_chown_kills_priv);
	unit_add("/file/write-kill-priv", test_write_kill_priv);
	unit_add("/file/write-kill-priv-drops-caps", test_write_kill_priv_caps);
	unit_add("/file/write-truncate-drop-caps-always", test_write_truncate_drop_caps_always);
	unit_add("/file/fsync", test_fsync);
	unit_add("/file/setattr-leaves-data-to-the-policy", test_setattr_leaves_data);
	return g_test_run();
}
