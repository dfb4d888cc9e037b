/* test-namei.c -- the namespace: create, symlinks, links, unlink, rmdir,
 * rename, setgid directories, orphans, inode numbers and generations */
#include <dirent.h>
#include <errno.h>
#include <linux/fs.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "unit.h"

static uint32_t nlink_of(struct pm_fs *fs, uint64_t ino)
{
	struct pm_attr a;

	unit_attr(fs, ino, &a);
	return a.nlink;
}

static bool live(struct pm_fs *fs, uint64_t ino)
{
	struct pm_attr a;
	int ret = pm_fs_getattr(fs, ino, &a);

	g_assert_true(ret == 0 || ret == -ENOENT);
	return ret == 0;
}

static uint64_t mkdir_(struct pm_fs *fs, uint64_t dir, const char *name)
{
	return unit_create(fs, dir, name, S_IFDIR | 0755);
}

static uint64_t mkfile(struct pm_fs *fs, uint64_t dir, const char *name)
{
	return unit_create(fs, dir, name, S_IFREG | 0644);
}

static struct pm_statfs usage(struct pm_fs *fs)
{
	struct pm_statfs st;

	unit_statfs(fs, &st);
	return st;
}

static void assert_usage(struct pm_fs *fs, struct pm_statfs want)
{
	struct pm_statfs st = usage(fs);

	g_assert_cmpuint(st.bfree, ==, want.bfree);
	g_assert_cmpuint(st.ffree, ==, want.ffree);
}

static bool ts_between(struct timespec t, struct timespec lo, struct timespec hi)
{
	return (t.tv_sec > lo.tv_sec || (t.tv_sec == lo.tv_sec && t.tv_nsec >= lo.tv_nsec)) &&
	       (t.tv_sec < hi.tv_sec || (t.tv_sec == hi.tv_sec && t.tv_nsec <= hi.tv_nsec));
}

struct types {
	GHashTable *t; /* name -> DT_* */
};

static int collect_type(void *arg, const char *name, uint64_t ino, uint32_t type, uint64_t next)
{
	g_hash_table_insert(((struct types *)arg)->t, g_strdup(name), GUINT_TO_POINTER(type + 1));
	return 0;
}

static void test_mknod_types(void)
{
	static const struct {
		const char *name;
		uint32_t mode;
		uint64_t rdev, want_rdev;
		uint32_t dt;
	} t[] = {
		{ "reg", S_IFREG | 0640, 0, 0, DT_REG },
		{ "notype", 0600, 0, 0, DT_REG }, /* no type: a regular file */
		{ "dir", S_IFDIR | 0750, 0, 0, DT_DIR },
		{ "fifo", S_IFIFO | 0600, 1234, 0, DT_FIFO },
		{ "sock", S_IFSOCK | 0700, 0, 0, DT_SOCK },
		{ "chr", S_IFCHR | 0620, 0, 0, DT_CHR },
		{ "blk", S_IFBLK | 0660, 0, 0, DT_BLK },
	};
	struct unit_pool *p = unit_pool_new(8 * UNIT_MiB, 0);
	struct pm_fs *fs = p->fs;
	struct pm_cred cred = { 1000, 2000 };
	uint64_t ino[G_N_ELEMENTS(t)];
	struct timespec before, after;
	struct pm_attr a, b;

	clock_gettime(CLOCK_REALTIME, &before);
	for (unsigned i = 0; i < G_N_ELEMENTS(t); i++) {
		uint64_t rdev = t[i].rdev;
		if (S_ISCHR(t[i].mode))
			rdev = makedev(1, 3);
		if (S_ISBLK(t[i].mode))
			rdev = makedev(8, 1);
		g_assert_cmpint(pm_fs_mknod(fs, PM_ROOT_INO, t[i].name, t[i].mode, rdev, &cred, &a), ==, 0);
		ino[i] = a.ino;
		g_assert_cmpuint(a.mode & S_IFMT, ==, (t[i].mode & S_IFMT) ? (t[i].mode & S_IFMT) : S_IFREG);
		g_assert_cmpuint(a.mode & 07777, ==, t[i].mode & 07777);
		g_assert_cmpuint(a.rdev, ==, (S_ISCHR(t[i].mode) || S_ISBLK(t[i].mode)) ? rdev : 0);
		g_assert_cmpuint(a.nlink, ==, S_ISDIR(t[i].mode) ? 2 : 1);
		g_assert_cmpuint(a.uid, ==, 1000);
		g_assert_cmpuint(a.gid, ==, 2000);
		g_assert_cmpuint(a.size, ==, 0);
		g_assert_cmpuint(a.blocks, ==, 0);
		g_assert_cmpuint(a.generation, >=, 1);
		/* lookup agrees, and both handed out a reference */
		g_assert_cmpint(pm_fs_lookup(fs, PM_ROOT_INO, t[i].name, &b), ==, 0);
		g_assert_cmpmem(&a, sizeof(a), &b, sizeof(b));
		pm_fs_forget(fs, a.ino, 2);
	}
	clock_gettime(CLOCK_REALTIME, &after);
	unit_attr(fs, ino[0], &a);
	g_assert_true(ts_between(a.mtime, before, after));
	g_assert_true(ts_between(a.ctime, before, after));
	g_assert_true(ts_between(a.atime, before, after));
	/* the parent gained one link for the subdirectory */
	g_assert_cmpuint(nlink_of(fs, PM_ROOT_INO), ==, 3);
	unit_attr(fs, PM_ROOT_INO, &a);
	g_assert_true(ts_between(a.mtime, before, after));

	/* readdir reports the types */
	struct types ty = { g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL) };
	g_assert_cmpint(pm_fs_readdir(fs, PM_ROOT_INO, 0, collect_type, &ty), ==, 0);
	for (unsigned i = 0; i < G_N_ELEMENTS(t); i++)
		g_assert_cmpuint(GPOINTER_TO_UINT(g_hash_table_lookup(ty.t, t[i].name)), ==, t[i].dt + 1);
	g_hash_table_unref(ty.t);

	/* what is not allowed */
	g_assert_cmpint(pm_fs_mknod(fs, PM_ROOT_INO, "lnk", S_IFLNK | 0777, 0, &cred, &a), ==, -EINVAL);
	g_assert_cmpint(pm_fs_mknod(fs, PM_ROOT_INO, "bad", 0070000 | 0644, 0, &cred, &a), ==, -EINVAL);
	g_assert_cmpint(pm_fs_mknod(fs, PM_ROOT_INO, "reg", S_IFREG | 0644, 0, &cred, &a), ==, -EEXIST);
	g_assert_cmpint(pm_fs_mknod(fs, PM_ROOT_INO, "dir", S_IFDIR | 0755, 0, &cred, &a), ==, -EEXIST);
	g_assert_cmpint(pm_fs_mknod(fs, ino[0], "x", S_IFREG | 0644, 0, &cred, &a), ==, -ENOTDIR);
	g_assert_cmpint(pm_fs_mknod(fs, 500, "x", S_IFREG | 0644, 0, &cred, &a), ==, -ENOENT);
	g_assert_cmpint(pm_fs_mknod(fs, 1ull << 40, "x", S_IFREG | 0644, 0, &cred, &a), ==, -ENOENT);

	/* everything is the same after a reopen */
	struct pm_attr saved[G_N_ELEMENTS(t)];
	for (unsigned i = 0; i < G_N_ELEMENTS(t); i++)
		unit_attr(fs, ino[i], &saved[i]);
	unit_assert_reopen_stable(p);
	for (unsigned i = 0; i < G_N_ELEMENTS(t); i++) {
		g_assert_cmpint(pm_fs_lookup(p->fs, PM_ROOT_INO, t[i].name, &a), ==, 0);
		g_assert_cmpmem(&a, sizeof(a), &saved[i], sizeof(saved[i]));
		pm_fs_forget(p->fs, a.ino, 1);
	}
	unit_pool_free(p);
}

static void test_lookup_dots(void)
{
	struct unit_pool *p = unit_pool_new(8 * UNIT_MiB, 0);
	struct pm_fs *fs = p->fs;
	uint64_t d = mkdir_(fs, PM_ROOT_INO, "d"), e = mkdir_(fs, d, "e");
	uint64_t f = mkfile(fs, e, "f");
	struct pm_attr a;

	g_assert_cmpuint(unit_lookup(fs, PM_ROOT_INO, "."), ==, PM_ROOT_INO);
	g_assert_cmpuint(unit_lookup(fs, PM_ROOT_INO, ".."), ==, PM_ROOT_INO);
	g_assert_cmpuint(unit_lookup(fs, d, "."), ==, d);
	g_assert_cmpuint(unit_lookup(fs, d, ".."), ==, PM_ROOT_INO);
	g_assert_cmpuint(unit_lookup(fs, e, ".."), ==, d);
	g_assert_cmpuint(unit_lookup(fs, e, "f"), ==, f);
	g_assert_cmpuint(unit_lookup(fs, d, "f"), ==, 0);
	g_assert_cmpint(pm_fs_lookup(fs, f, "x", &a), ==, -ENOTDIR);
	g_assert_cmpint(pm_fs_lookup(fs, 777, "x", &a), ==, -ENOENT);
	g_assert_cmpint(pm_fs_lookup(fs, 0, "x", &a), ==, -ENOENT);
	g_assert_cmpint(pm_fs_lookup(fs, UINT64_MAX, "x", &a), ==, -ENOENT);
	g_assert_cmpint(pm_fs_getattr(fs, 0, &a), ==, -ENOENT);
	g_assert_cmpint(pm_fs_getattr(fs, UINT64_MAX, &a), ==, -ENOENT);
	unit_pool_free(p);
}

static void test_symlink(void)
{
	struct unit_pool *p = unit_pool_new(8 * UNIT_MiB, 0);
	struct pm_fs *fs = p->fs;
	g_autofree char *t4095 = g_strnfill(4095, 't'), *t4096 = g_strnfill(4096, 't');
	const char *targets[] = { "x", "../some/where/else", "/absolute/path with spaces", t4095 };
	uint64_t ino[G_N_ELEMENTS(targets)], f = mkfile(fs, PM_ROOT_INO, "f");
	struct pm_statfs st0 = usage(fs);
	char buf[4200];
	struct pm_attr a;

	for (unsigned i = 0; i < G_N_ELEMENTS(targets); i++) {
		char name[16];
		snprintf(name, sizeof(name), "l%u", i);
		g_assert_cmpint(pm_fs_symlink(fs, PM_ROOT_INO, name, targets[i], &unit_cred, &a), ==, 0);
		pm_fs_forget(fs, a.ino, 1);
		ino[i] = a.ino;
		g_assert_cmpuint(a.mode, ==, S_IFLNK | 0777);
		g_assert_cmpuint(a.size, ==, strlen(targets[i]));
		g_assert_cmpuint(a.nlink, ==, 1);
	}
	for (int round = 0; round < 2; round++) {
		for (unsigned i = 0; i < G_N_ELEMENTS(targets); i++) {
			memset(buf, 'Z', sizeof(buf));
			g_assert_cmpint(pm_fs_readlink(p->fs, ino[i], buf, sizeof(buf)), ==, (int)strlen(targets[i]));
			g_assert_cmpstr(buf, ==, targets[i]);
		}
		unit_assert_reopen_stable(p);
		fs = p->fs;
	}
	/* a small buffer gets a cut, terminated target */
	memset(buf, 'Z', sizeof(buf));
	g_assert_cmpint(pm_fs_readlink(fs, ino[1], buf, 5), ==, 4);
	g_assert_cmpstr(buf, ==, "../s");
	/* limits */
	g_assert_cmpint(pm_fs_symlink(fs, PM_ROOT_INO, "long", t4096, &unit_cred, &a), ==, -ENAMETOOLONG);
	g_assert_cmpint(pm_fs_symlink(fs, PM_ROOT_INO, "empty", "", &unit_cred, &a), ==, -ENOENT);
	g_assert_cmpint(pm_fs_symlink(fs, PM_ROOT_INO, "l0", "x", &unit_cred, &a), ==, -EEXIST);
	g_assert_cmpint(pm_fs_readlink(fs, f, buf, sizeof(buf)), ==, -EINVAL);
	g_assert_cmpint(pm_fs_readlink(fs, PM_ROOT_INO, buf, sizeof(buf)), ==, -EINVAL);
	g_assert_cmpint(pm_fs_readlink(fs, 999, buf, sizeof(buf)), ==, -ENOENT);
	/* removing them gives back their blocks and inodes */
	for (unsigned i = 0; i < G_N_ELEMENTS(targets); i++) {
		char name[16];
		snprintf(name, sizeof(name), "l%u", i);
		g_assert_cmpint(pm_fs_unlink(fs, PM_ROOT_INO, name), ==, 0);
	}
	struct pm_statfs st = usage(fs);
	g_assert_cmpuint(st.ffree, ==, st0.ffree);
	g_assert_cmpuint(st.bfree, ==, st0.bfree);
	unit_pool_free(p);
}

static void test_link(void)
{
	struct unit_pool *p = unit_pool_new(8 * UNIT_MiB, 0);
	struct pm_fs *fs = p->fs;
	uint64_t d = mkdir_(fs, PM_ROOT_INO, "d");
	mkfile(fs, d, "keep"); /* d's first block */
	struct pm_statfs st0 = usage(fs);
	uint64_t f = mkfile(fs, PM_ROOT_INO, "f");
	struct pm_attr a;

	unit_write_pattern(fs, f, 0, 10000, 1);
	g_assert_cmpint(pm_fs_link(fs, f, d, "g", &a), ==, 0);
	pm_fs_forget(fs, f, 1); /* link hands out a reference */
	g_assert_cmpuint(a.ino, ==, f);
	g_assert_cmpuint(a.nlink, ==, 2);
	g_assert_cmpuint(unit_lookup(fs, d, "g"), ==, f);
	g_assert_cmpint(pm_fs_link(fs, f, PM_ROOT_INO, "h", &a), ==, 0);
	pm_fs_forget(fs, f, 1);
	g_assert_cmpuint(nlink_of(fs, f), ==, 3);
	/* a link does not change the directory's link count */
	g_assert_cmpuint(nlink_of(fs, d), ==, 2);
	g_assert_cmpuint(nlink_of(fs, PM_ROOT_INO), ==, 3);

	g_assert_cmpint(pm_fs_link(fs, d, PM_ROOT_INO, "dlink", &a), ==, -EPERM);
	g_assert_cmpint(pm_fs_link(fs, f, d, "g", &a), ==, -EEXIST);
	g_assert_cmpint(pm_fs_link(fs, f, f, "x", &a), ==, -ENOTDIR);
	g_assert_cmpint(pm_fs_link(fs, 999, d, "x", &a), ==, -ENOENT);
	g_assert_cmpint(pm_fs_link(fs, f, d, ".", &a), ==, -EEXIST);
	g_assert_cmpuint(nlink_of(fs, f), ==, 3);

	unit_assert_reopen_stable(p);
	fs = p->fs;
	g_assert_cmpuint(nlink_of(fs, f), ==, 3);
	g_assert_cmpint(pm_fs_unlink(fs, PM_ROOT_INO, "f"), ==, 0);
	g_assert_cmpuint(nlink_of(fs, f), ==, 2);
	g_assert_cmpint(pm_fs_unlink(fs, PM_ROOT_INO, "h"), ==, 0);
	g_assert_cmpuint(nlink_of(fs, f), ==, 1);
	unit_assert_pattern(fs, unit_lookup(fs, d, "g"), 0, 10000, 1);
	g_assert_cmpint(pm_fs_unlink(fs, d, "g"), ==, 0);
	g_assert_false(live(fs, f));
	assert_usage(fs, st0);
	unit_pool_free(p);
}

static void test_unlink_rmdir(void)
{
	struct unit_pool *p = unit_pool_new(8 * UNIT_MiB, 0);
	struct pm_fs *fs = p->fs;
	uint64_t keep = mkfile(fs, PM_ROOT_INO, "keep"); /* the root's first block */
	struct pm_statfs st0 = usage(fs);
	uint64_t d = mkdir_(fs, PM_ROOT_INO, "d"), e = mkdir_(fs, d, "e");
	uint64_t f = mkfile(fs, d, "f");

	g_assert_cmpuint(nlink_of(fs, PM_ROOT_INO), ==, 3);
	g_assert_cmpuint(nlink_of(fs, d), ==, 3);
	g_assert_cmpint(pm_fs_unlink(fs, d, "nothing"), ==, -ENOENT);
	g_assert_cmpint(pm_fs_rmdir(fs, d, "nothing"), ==, -ENOENT);
	g_assert_cmpint(pm_fs_unlink(fs, d, "e"), ==, -EISDIR);
	g_assert_cmpint(pm_fs_rmdir(fs, d, "f"), ==, -ENOTDIR);
	g_assert_cmpint(pm_fs_rmdir(fs, PM_ROOT_INO, "d"), ==, -ENOTEMPTY);
	g_assert_cmpint(pm_fs_rmdir(fs, d, "."), ==, -EINVAL);
	g_assert_cmpint(pm_fs_rmdir(fs, d, ".."), ==, -ENOTEMPTY);
	g_assert_cmpint(pm_fs_unlink(fs, f, "x"), ==, -ENOTDIR);
	g_assert_true(live(fs, d));

	g_assert_cmpint(pm_fs_rmdir(fs, d, "e"), ==, 0);
	g_assert_false(live(fs, e));
	g_assert_cmpuint(nlink_of(fs, d), ==, 2);
	g_assert_cmpint(pm_fs_rmdir(fs, PM_ROOT_INO, "d"), ==, -ENOTEMPTY);
	g_assert_cmpint(pm_fs_unlink(fs, d, "f"), ==, 0);
	g_assert_false(live(fs, f));
	/* emptied by unlinks: removable */
	g_assert_cmpint(pm_fs_rmdir(fs, PM_ROOT_INO, "d"), ==, 0);
	g_assert_false(live(fs, d));
	g_assert_cmpuint(nlink_of(fs, PM_ROOT_INO), ==, 2);
	assert_usage(fs, st0);
	unit_assert_reopen_stable(p);
	g_assert_cmpuint(unit_lookup(p->fs, PM_ROOT_INO, "d"), ==, 0);
	g_assert_cmpuint(unit_lookup(p->fs, PM_ROOT_INO, "keep"), ==, keep);
	/* a directory read back from the pool is not empty either */
	d = mkdir_(p->fs, PM_ROOT_INO, "d");
	mkfile(p->fs, d, "f");
	unit_pool_reopen(p);
	g_assert_cmpint(pm_fs_rmdir(p->fs, PM_ROOT_INO, "d"), ==, -ENOTEMPTY);
	unit_pool_free(p);
}

static void test_create_in_removed_dir(void)
{
	struct unit_pool *p = unit_pool_new(8 * UNIT_MiB, 0);
	struct pm_fs *fs = p->fs;
	struct pm_statfs st0;
	struct pm_attr a;
	uint64_t d;

	mkfile(fs, PM_ROOT_INO, "keep");
	st0 = usage(fs);

	/* the kernel still holds the directory (a process's cwd) */
	g_assert_cmpint(pm_fs_mknod(fs, PM_ROOT_INO, "d", S_IFDIR | 0755, 0, &unit_cred, &a), ==, 0);
	d = a.ino;
	g_assert_cmpint(pm_fs_rmdir(fs, PM_ROOT_INO, "d"), ==, 0);
	g_assert_true(live(fs, d));
	g_assert_cmpint(pm_fs_mknod(fs, d, "f", S_IFREG | 0644, 0, &unit_cred, &a), ==, -ENOENT);
	g_assert_cmpint(pm_fs_symlink(fs, d, "l", "t", &unit_cred, &a), ==, -ENOENT);
	uint64_t f = mkfile(fs, PM_ROOT_INO, "f");
	g_assert_cmpint(pm_fs_link(fs, f, d, "g", &a), ==, -ENOENT);
	g_assert_cmpint(pm_fs_rename(fs, PM_ROOT_INO, "f", d, "g", 0), ==, -ENOENT);
	g_assert_cmpuint(unit_lookup(fs, PM_ROOT_INO, "f"), ==, f);
	g_assert_cmpint(pm_fs_unlink(fs, PM_ROOT_INO, "f"), ==, 0);
	pm_fs_forget(fs, d, 1);
	g_assert_false(live(fs, d));
	assert_usage(fs, st0);
	unit_pool_free(p);
}

/* ---- rename ---- */

static void test_rename_simple(void)
{
	struct unit_pool *p = unit_pool_new(8 * UNIT_MiB, 0);
	struct pm_fs *fs = p->fs;
	uint64_t d = mkdir_(fs, PM_ROOT_INO, "d");
	uint64_t a = mkfile(fs, PM_ROOT_INO, "a");
	struct pm_attr at;

	unit_write_pattern(fs, a, 0, 5000, 1);
	g_assert_cmpint(pm_fs_rename(fs, PM_ROOT_INO, "a", PM_ROOT_INO, "b", 0), ==, 0);
	g_assert_cmpuint(unit_lookup(fs, PM_ROOT_INO, "a"), ==, 0);
	g_assert_cmpuint(unit_lookup(fs, PM_ROOT_INO, "b"), ==, a);
	g_assert_cmpint(pm_fs_rename(fs, PM_ROOT_INO, "b", d, "c", 0), ==, 0);
	g_assert_cmpuint(unit_lookup(fs, PM_ROOT_INO, "b"), ==, 0);
	g_assert_cmpuint(unit_lookup(fs, d, "c"), ==, a);
	unit_attr(fs, a, &at);
	g_assert_cmpuint(at.nlink, ==, 1);
	g_assert_cmpuint(nlink_of(fs, d), ==, 2);
	g_assert_cmpuint(nlink_of(fs, PM_ROOT_INO), ==, 3);
	unit_assert_pattern(fs, a, 0, 5000, 1);
	/* onto itself: nothing happens */
	g_assert_cmpint(pm_fs_rename(fs, d, "c", d, "c", 0), ==, 0);
	g_assert_cmpuint(unit_lookup(fs, d, "c"), ==, a);
	/* errors */
	g_assert_cmpint(pm_fs_rename(fs, d, "missing", d, "x", 0), ==, -ENOENT);
	g_assert_cmpint(pm_fs_rename(fs, d, "c", 999, "x", 0), ==, -ENOENT);
	g_assert_cmpint(pm_fs_rename(fs, d, "c", d, "..", 0), ==, -EBUSY);
	g_assert_cmpint(pm_fs_rename(fs, d, "c", d, ".", 0), ==, -EBUSY);
	g_assert_cmpint(pm_fs_rename(fs, d, ".", d, "x", 0), ==, -EBUSY);
	g_assert_cmpint(pm_fs_rename(fs, d, "..", d, "x", 0), ==, -EBUSY);
	g_assert_cmpint(pm_fs_rename(fs, d, "c", d, "a/b", 0), ==, -EINVAL);
	g_assert_cmpint(pm_fs_rename(fs, d, "c", d, "x", 1u << 7), ==, -EINVAL);
	g_assert_cmpint(pm_fs_rename(fs, d, "c", d, "x", RENAME_NOREPLACE | RENAME_EXCHANGE), ==, -EINVAL);
	g_assert_cmpuint(unit_lookup(fs, d, "c"), ==, a);
	unit_assert_reopen_stable(p);
	g_assert_cmpuint(unit_lookup(p->fs, d, "c"), ==, a);
	unit_pool_free(p);
}

/* a rename refused because a parent is not a directory must leave the
 * reference counts alone: the kernel's reference on that file keeps it
 * alive after its last name goes */
static void test_rename_notdir(void)
{
	struct unit_pool *p = unit_pool_new(8 * UNIT_MiB, 0);
	struct pm_fs *fs = p->fs;
	uint64_t d = mkdir_(fs, PM_ROOT_INO, "d");
	uint64_t c = mkfile(fs, d, "c");
	uint64_t f = mkfile(fs, PM_ROOT_INO, "f"), g = mkfile(fs, PM_ROOT_INO, "g");
	struct pm_attr a;

	g_assert_cmpint(pm_fs_ref(fs, f, &a), ==, 0); /* the kernel's reference */
	g_assert_cmpint(pm_fs_ref(fs, g, &a), ==, 0);
	g_assert_cmpint(pm_fs_rename(fs, d, "c", f, "x", 0), ==, -ENOTDIR); /* new parent */
	g_assert_cmpint(pm_fs_rename(fs, g, "c", d, "x", 0), ==, -ENOTDIR); /* old parent */
	g_assert_cmpuint(unit_lookup(fs, d, "c"), ==, c);
	g_assert_cmpint(pm_fs_unlink(fs, PM_ROOT_INO, "f"), ==, 0);
	g_assert_cmpint(pm_fs_unlink(fs, PM_ROOT_INO, "g"), ==, 0);
	g_assert_true(live(fs, f));
	g_assert_true(live(fs, g));
	pm_fs_forget(fs, f, 1);
	pm_fs_forget(fs, g, 1);
	g_assert_false(live(fs, f));
	g_assert_false(live(fs, g));
	unit_pool_free(p);
}

static void test_rename_over_file(void)
{
	struct unit_pool *p = unit_pool_new(8 * UNIT_MiB, 0);
	struct pm_fs *fs = p->fs;
	uint64_t d1 = mkdir_(fs, PM_ROOT_INO, "d1"), d2 = mkdir_(fs, PM_ROOT_INO, "d2");
	uint64_t a = mkfile(fs, d1, "a"), b = mkfile(fs, d2, "b"), c = mkfile(fs, d2, "c");
	struct pm_statfs before;

	mkfile(fs, d1, "keep"); /* no directory here becomes empty */
	mkfile(fs, d2, "keep");

	unit_write_pattern(fs, a, 0, 3000, 1);
	before = usage(fs);
	unit_write_pattern(fs, b, 0, 50000, 2);
	/* the replaced file is gone, with its blocks */
	g_assert_cmpint(pm_fs_rename(fs, d1, "a", d2, "b", 0), ==, 0);
	g_assert_cmpuint(unit_lookup(fs, d1, "a"), ==, 0);
	g_assert_cmpuint(unit_lookup(fs, d2, "b"), ==, a);
	g_assert_false(live(fs, b));
	before.ffree++;
	assert_usage(fs, before);
	unit_assert_pattern(fs, a, 0, 3000, 1);
	g_assert_cmpuint(nlink_of(fs, d1), ==, 2);
	g_assert_cmpuint(nlink_of(fs, d2), ==, 2);
	g_assert_cmpuint(nlink_of(fs, a), ==, 1);
	/* same directory */
	g_assert_cmpint(pm_fs_rename(fs, d2, "b", d2, "c", 0), ==, 0);
	g_assert_cmpuint(unit_lookup(fs, d2, "c"), ==, a);
	g_assert_cmpuint(unit_lookup(fs, d2, "b"), ==, 0);
	g_assert_false(live(fs, c));
	/* a file with a second name keeps living under it */
	struct pm_attr at;
	uint64_t e = mkfile(fs, d1, "e");
	g_assert_cmpint(pm_fs_link(fs, e, d1, "e2", &at), ==, 0);
	pm_fs_forget(fs, e, 1);
	g_assert_cmpint(pm_fs_rename(fs, d2, "c", d1, "e", 0), ==, 0);
	g_assert_true(live(fs, e));
	g_assert_cmpuint(nlink_of(fs, e), ==, 1);
	g_assert_cmpuint(unit_lookup(fs, d1, "e2"), ==, e);
	unit_assert_reopen_stable(p);
	unit_pool_free(p);
}

static void test_rename_hardlinks(void)
{
	struct unit_pool *p = unit_pool_new(8 * UNIT_MiB, 0);
	struct pm_fs *fs = p->fs;
	uint64_t a = mkfile(fs, PM_ROOT_INO, "a");
	struct pm_attr at;

	g_assert_cmpint(pm_fs_link(fs, a, PM_ROOT_INO, "b", &at), ==, 0);
	pm_fs_forget(fs, a, 1);
	/* two names of one file: POSIX says rename does nothing */
	g_assert_cmpint(pm_fs_rename(fs, PM_ROOT_INO, "a", PM_ROOT_INO, "b", 0), ==, 0);
	g_assert_cmpuint(unit_lookup(fs, PM_ROOT_INO, "a"), ==, a);
	g_assert_cmpuint(unit_lookup(fs, PM_ROOT_INO, "b"), ==, a);
	g_assert_cmpuint(nlink_of(fs, a), ==, 2);
	unit_pool_free(p);
}

static void test_rename_dir(void)
{
	struct unit_pool *p = unit_pool_new(8 * UNIT_MiB, 0);
	struct pm_fs *fs = p->fs;
	uint64_t p1 = mkdir_(fs, PM_ROOT_INO, "p1"), p2 = mkdir_(fs, PM_ROOT_INO, "p2");
	uint64_t x = mkdir_(fs, p1, "x");
	uint64_t f = mkfile(fs, x, "f");

	g_assert_cmpuint(nlink_of(fs, p1), ==, 3);
	g_assert_cmpint(pm_fs_rename(fs, p1, "x", p2, "y", 0), ==, 0);
	g_assert_cmpuint(nlink_of(fs, p1), ==, 2);
	g_assert_cmpuint(nlink_of(fs, p2), ==, 3);
	g_assert_cmpuint(nlink_of(fs, x), ==, 2);
	g_assert_cmpuint(unit_lookup(fs, x, ".."), ==, p2);
	g_assert_cmpuint(unit_lookup(fs, p2, "y"), ==, x);
	g_assert_cmpuint(unit_lookup(fs, x, "f"), ==, f);
	/* within one directory nothing changes in the link counts */
	g_assert_cmpint(pm_fs_rename(fs, p2, "y", p2, "z", 0), ==, 0);
	g_assert_cmpuint(nlink_of(fs, p2), ==, 3);
	g_assert_cmpuint(unit_lookup(fs, x, ".."), ==, p2);
	/* up to the root */
	g_assert_cmpint(pm_fs_rename(fs, p2, "z", PM_ROOT_INO, "top", 0), ==, 0);
	g_assert_cmpuint(nlink_of(fs, p2), ==, 2);
	g_assert_cmpuint(nlink_of(fs, PM_ROOT_INO), ==, 5);
	g_assert_cmpuint(unit_lookup(fs, x, ".."), ==, PM_ROOT_INO);
	/* parents and link counts are durable */
	unit_assert_reopen_stable(p);
	fs = p->fs;
	g_assert_cmpuint(unit_lookup(fs, x, ".."), ==, PM_ROOT_INO);
	g_assert_cmpuint(nlink_of(fs, PM_ROOT_INO), ==, 5);
	g_assert_cmpuint(nlink_of(fs, p1), ==, 2);
	g_assert_cmpuint(nlink_of(fs, p2), ==, 2);
	/* and the moved directory can be emptied and removed */
	g_assert_cmpint(pm_fs_unlink(fs, x, "f"), ==, 0);
	g_assert_cmpint(pm_fs_rmdir(fs, PM_ROOT_INO, "top"), ==, 0);
	g_assert_cmpuint(nlink_of(fs, PM_ROOT_INO), ==, 4);
	unit_pool_free(p);
}

static void test_rename_over_empty_dir(void)
{
	struct unit_pool *p = unit_pool_new(8 * UNIT_MiB, 0);
	struct pm_fs *fs = p->fs;
	uint64_t p1 = mkdir_(fs, PM_ROOT_INO, "p1"), p2 = mkdir_(fs, PM_ROOT_INO, "p2");
	uint64_t a = mkdir_(fs, p1, "a"), b = mkdir_(fs, p2, "b");
	struct pm_statfs before;

	mkfile(fs, p1, "keep"); /* no parent becomes empty */
	mkfile(fs, p2, "keep");
	before = usage(fs);

	/* across parents: p1 loses a subdirectory, p2 swaps one for another */
	g_assert_cmpint(pm_fs_rename(fs, p1, "a", p2, "b", 0), ==, 0);
	g_assert_cmpuint(nlink_of(fs, p1), ==, 2);
	g_assert_cmpuint(nlink_of(fs, p2), ==, 3);
	g_assert_cmpuint(nlink_of(fs, a), ==, 2);
	g_assert_cmpuint(unit_lookup(fs, p2, "b"), ==, a);
	g_assert_cmpuint(unit_lookup(fs, a, ".."), ==, p2);
	g_assert_false(live(fs, b));
	before.ffree++;
	assert_usage(fs, before);

	/* same parent: one subdirectory fewer */
	uint64_t c = mkdir_(fs, p2, "c");
	g_assert_cmpuint(nlink_of(fs, p2), ==, 4);
	g_assert_cmpint(pm_fs_rename(fs, p2, "b", p2, "c", 0), ==, 0);
	g_assert_cmpuint(nlink_of(fs, p2), ==, 3);
	g_assert_false(live(fs, c));
	g_assert_cmpuint(unit_lookup(fs, p2, "c"), ==, a);

	/* a directory emptied by unlinks can be replaced */
	uint64_t d = mkdir_(fs, p1, "d");
	mkfile(fs, d, "tmp");
	g_assert_cmpint(pm_fs_unlink(fs, d, "tmp"), ==, 0);
	g_assert_cmpint(pm_fs_rename(fs, p2, "c", p1, "d", 0), ==, 0);
	g_assert_false(live(fs, d));
	g_assert_cmpuint(nlink_of(fs, p1), ==, 3);
	g_assert_cmpuint(nlink_of(fs, p2), ==, 2);
	unit_assert_reopen_stable(p);
	fs = p->fs;
	g_assert_cmpuint(nlink_of(fs, p1), ==, 3);
	g_assert_cmpuint(nlink_of(fs, p2), ==, 2);
	g_assert_cmpuint(unit_lookup(fs, a, ".."), ==, p1);
	unit_pool_free(p);
}

static void test_rename_errors(void)
{
	struct unit_pool *p = unit_pool_new(8 * UNIT_MiB, 0);
	struct pm_fs *fs = p->fs;
	uint64_t a = mkdir_(fs, PM_ROOT_INO, "a"), b = mkdir_(fs, a, "b"), c = mkdir_(fs, b, "c");
	uint64_t full = mkdir_(fs, PM_ROOT_INO, "full"), f = mkfile(fs, full, "f");
	uint64_t file = mkfile(fs, PM_ROOT_INO, "file"), e = mkdir_(fs, PM_ROOT_INO, "e");

	/* a directory into its own subtree */
	g_assert_cmpint(pm_fs_rename(fs, PM_ROOT_INO, "a", b, "x", 0), ==, -EINVAL);
	g_assert_cmpint(pm_fs_rename(fs, PM_ROOT_INO, "a", c, "x", 0), ==, -EINVAL);
	g_assert_cmpint(pm_fs_rename(fs, PM_ROOT_INO, "a", a, "x", 0), ==, -EINVAL);
	g_assert_cmpint(pm_fs_rename(fs, PM_ROOT_INO, "a", b, "c", 0), ==, -EINVAL); /* c is empty */
	/* over a non-empty directory */
	g_assert_cmpint(pm_fs_rename(fs, PM_ROOT_INO, "e", PM_ROOT_INO, "full", 0), ==, -ENOTEMPTY);
	g_assert_cmpint(pm_fs_rename(fs, b, "c", PM_ROOT_INO, "a", 0), ==, -ENOTEMPTY);
	/* a directory over a file, a file over a directory */
	g_assert_cmpint(pm_fs_rename(fs, PM_ROOT_INO, "e", PM_ROOT_INO, "file", 0), ==, -ENOTDIR);
	g_assert_cmpint(pm_fs_rename(fs, PM_ROOT_INO, "file", PM_ROOT_INO, "e", 0), ==, -EISDIR);
	/* NOREPLACE */
	g_assert_cmpint(pm_fs_rename(fs, PM_ROOT_INO, "file", full, "f", RENAME_NOREPLACE), ==, -EEXIST);
	g_assert_cmpint(pm_fs_rename(fs, PM_ROOT_INO, "e", PM_ROOT_INO, "a", RENAME_NOREPLACE), ==, -EEXIST);
	/* nothing moved */
	g_assert_cmpuint(unit_lookup(fs, PM_ROOT_INO, "a"), ==, a);
	g_assert_cmpuint(unit_lookup(fs, a, "b"), ==, b);
	g_assert_cmpuint(unit_lookup(fs, b, "c"), ==, c);
	g_assert_cmpuint(unit_lookup(fs, full, "f"), ==, f);
	g_assert_cmpuint(unit_lookup(fs, PM_ROOT_INO, "file"), ==, file);
	g_assert_cmpuint(unit_lookup(fs, PM_ROOT_INO, "e"), ==, e);
	g_assert_cmpuint(nlink_of(fs, PM_ROOT_INO), ==, 5);
	g_assert_cmpuint(nlink_of(fs, a), ==, 3);
	g_assert_cmpuint(nlink_of(fs, b), ==, 3);
	g_assert_cmpuint(nlink_of(fs, full), ==, 2);
	/* NOREPLACE to a free name works */
	g_assert_cmpint(pm_fs_rename(fs, PM_ROOT_INO, "file", full, "g", RENAME_NOREPLACE), ==, 0);
	g_assert_cmpuint(unit_lookup(fs, full, "g"), ==, file);
	/* a directory may move down a sibling's subtree */
	g_assert_cmpint(pm_fs_rename(fs, PM_ROOT_INO, "e", c, "e", 0), ==, 0);
	g_assert_cmpuint(unit_lookup(fs, e, ".."), ==, c);
	g_assert_cmpuint(nlink_of(fs, c), ==, 3);
	g_assert_cmpuint(nlink_of(fs, PM_ROOT_INO), ==, 4);
	unit_assert_reopen_stable(p);
	unit_pool_free(p);
}

static void test_rename_exchange(void)
{
	struct unit_pool *p = unit_pool_new(8 * UNIT_MiB, 0);
	struct pm_fs *fs = p->fs;
	uint64_t p1 = mkdir_(fs, PM_ROOT_INO, "p1"), p2 = mkdir_(fs, PM_ROOT_INO, "p2");
	uint64_t f1 = mkfile(fs, p1, "f1"), f2 = mkfile(fs, p2, "f2");
	uint64_t d1 = mkdir_(fs, p1, "d1"), d2 = mkdir_(fs, p2, "d2");
	uint64_t sub = mkdir_(fs, d1, "sub");
	const unsigned X = RENAME_EXCHANGE;

	g_assert_cmpuint(nlink_of(fs, p1), ==, 3);
	g_assert_cmpuint(nlink_of(fs, p2), ==, 3);
	/* two files */
	g_assert_cmpint(pm_fs_rename(fs, p1, "f1", p2, "f2", X), ==, 0);
	g_assert_cmpuint(unit_lookup(fs, p1, "f1"), ==, f2);
	g_assert_cmpuint(unit_lookup(fs, p2, "f2"), ==, f1);
	g_assert_cmpuint(nlink_of(fs, f1), ==, 1);
	g_assert_cmpuint(nlink_of(fs, f2), ==, 1);
	g_assert_true(live(fs, f1) && live(fs, f2));
	/* two directories: the parents swap, the link counts stay */
	g_assert_cmpint(pm_fs_rename(fs, p1, "d1", p2, "d2", X), ==, 0);
	g_assert_cmpuint(unit_lookup(fs, p1, "d1"), ==, d2);
	g_assert_cmpuint(unit_lookup(fs, p2, "d2"), ==, d1);
	g_assert_cmpuint(unit_lookup(fs, d1, ".."), ==, p2);
	g_assert_cmpuint(unit_lookup(fs, d2, ".."), ==, p1);
	g_assert_cmpuint(nlink_of(fs, p1), ==, 3);
	g_assert_cmpuint(nlink_of(fs, p2), ==, 3);
	g_assert_cmpuint(nlink_of(fs, d1), ==, 3);
	/* a directory and a file: the directory's link moves */
	g_assert_cmpint(pm_fs_rename(fs, p1, "d1", p2, "f2", X), ==, 0); /* p1/d1 is d2, p2/f2 is f1 */
	g_assert_cmpuint(unit_lookup(fs, p1, "d1"), ==, f1);
	g_assert_cmpuint(unit_lookup(fs, p2, "f2"), ==, d2);
	g_assert_cmpuint(unit_lookup(fs, d2, ".."), ==, p2);
	g_assert_cmpuint(nlink_of(fs, p1), ==, 2);
	g_assert_cmpuint(nlink_of(fs, p2), ==, 4);
	/* within one directory */
	g_assert_cmpint(pm_fs_rename(fs, p2, "f2", p2, "d2", X), ==, 0);
	g_assert_cmpuint(unit_lookup(fs, p2, "f2"), ==, d1);
	g_assert_cmpuint(unit_lookup(fs, p2, "d2"), ==, d2);
	g_assert_cmpuint(nlink_of(fs, p2), ==, 4);
	/* errors */
	g_assert_cmpint(pm_fs_rename(fs, p1, "d1", p2, "missing", X), ==, -ENOENT);
	g_assert_cmpint(pm_fs_rename(fs, p1, "missing", p2, "d2", X), ==, -ENOENT);
	/* a directory with something inside itself */
	g_assert_cmpint(pm_fs_rename(fs, p2, "f2", d1, "sub", X), ==, -EINVAL); /* d1 <-> d1/sub */
	g_assert_cmpint(pm_fs_rename(fs, d1, "sub", p2, "f2", X), ==, -EINVAL);
	g_assert_cmpint(pm_fs_rename(fs, PM_ROOT_INO, "p2", d1, "sub", X), ==, -EINVAL);
	g_assert_cmpuint(unit_lookup(fs, d1, "sub"), ==, sub);
	g_assert_cmpuint(unit_lookup(fs, sub, ".."), ==, d1);
	unit_assert_reopen_stable(p);
	fs = p->fs;
	g_assert_cmpuint(unit_lookup(fs, d2, ".."), ==, p2);
	g_assert_cmpuint(unit_lookup(fs, d1, ".."), ==, p2);
	g_assert_cmpuint(nlink_of(fs, p1), ==, 2);
	g_assert_cmpuint(nlink_of(fs, p2), ==, 4);
	unit_pool_free(p);
}

/* link counts stop at the engine's maximum (65000) with EMLINK */
static void test_emlink(void)
{
	struct unit_pool *p = unit_pool_new(64 * UNIT_MiB, 70000);
	struct pm_fs *fs = p->fs;
	uint64_t d = mkdir_(fs, PM_ROOT_INO, "d"), other = mkdir_(fs, PM_ROOT_INO, "other");
	uint64_t x = mkdir_(fs, other, "x"), f = mkfile(fs, PM_ROOT_INO, "f");
	struct pm_attr a;
	uint32_t n;
	char name[32];
	int ret;

	/* hold the directories, as the kernel does while they are in use */
	g_assert_cmpint(pm_fs_ref(fs, d, &a), ==, 0);
	g_assert_cmpint(pm_fs_ref(fs, PM_ROOT_INO, &a), ==, 0);
	for (n = 0;; n++) {
		snprintf(name, sizeof(name), "s%u", n);
		ret = pm_fs_mknod(fs, d, name, S_IFDIR | 0755, 0, &unit_cred, &a);
		if (ret)
			break;
		pm_fs_forget(fs, a.ino, 1);
		g_assert_cmpuint(n, <, 70000);
	}
	g_assert_cmpint(ret, ==, -EMLINK);
	g_assert_cmpuint(nlink_of(fs, d), ==, 65000);
	g_assert_cmpuint(n, ==, 65000 - 2);
	/* files still fit, directories do not come in by rename either */
	mkfile(fs, d, "file");
	g_assert_cmpint(pm_fs_rename(fs, other, "x", d, "x", 0), ==, -EMLINK);
	g_assert_cmpuint(unit_lookup(fs, other, "x"), ==, x);
	/* hard links of a file */
	for (n = 1;; n++) {
		snprintf(name, sizeof(name), "l%u", n);
		ret = pm_fs_link(fs, f, PM_ROOT_INO, name, &a);
		if (ret)
			break;
		pm_fs_forget(fs, f, 1);
		g_assert_cmpuint(n, <, 70000);
	}
	g_assert_cmpint(ret, ==, -EMLINK);
	g_assert_cmpuint(nlink_of(fs, f), ==, 65000);
	unit_pool_free(p);
}

static bool ts_equal(struct timespec a, struct timespec b)
{
	return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

/* set_old_times -- put an inode's times in the past, to see them change */
static void set_old_times(struct pm_fs *fs, uint64_t ino)
{
	struct pm_setattr sa = { .valid = PM_SET_ATIME | PM_SET_MTIME | PM_SET_CTIME,
				 .atime = { 1000, 1 }, .mtime = { 1000, 2 }, .ctime = { 1000, 3 } };

	g_assert_cmpint(pm_fs_setattr(fs, ino, &sa, NULL), ==, 0);
}

/* POSIX: creating or removing a name changes the directory's mtime and
 * ctime; link and unlink change the file's ctime */
static void test_times(void)
{
	struct unit_pool *p = unit_pool_new(8 * UNIT_MiB, 0);
	struct pm_fs *fs = p->fs;
	uint64_t d1 = mkdir_(fs, PM_ROOT_INO, "d1"), d2 = mkdir_(fs, PM_ROOT_INO, "d2");
	struct timespec before, after;
	struct pm_attr a, b;
	uint64_t f;

	set_old_times(fs, d1);
	clock_gettime(CLOCK_REALTIME, &before);
	f = mkfile(fs, d1, "f");
	clock_gettime(CLOCK_REALTIME, &after);
	unit_attr(fs, d1, &a);
	g_assert_true(ts_between(a.mtime, before, after));
	g_assert_true(ts_between(a.ctime, before, after));

	set_old_times(fs, d2);
	set_old_times(fs, f);
	clock_gettime(CLOCK_REALTIME, &before);
	g_assert_cmpint(pm_fs_link(fs, f, d2, "g", &a), ==, 0);
	pm_fs_forget(fs, f, 1);
	clock_gettime(CLOCK_REALTIME, &after);
	unit_attr(fs, d2, &a);
	g_assert_true(ts_between(a.mtime, before, after));
	unit_attr(fs, f, &a);
	g_assert_true(ts_between(a.ctime, before, after));
	g_assert_true(ts_equal(a.mtime, (struct timespec){ 1000, 2 }));

	set_old_times(fs, d1);
	set_old_times(fs, f);
	clock_gettime(CLOCK_REALTIME, &before);
	g_assert_cmpint(pm_fs_unlink(fs, d1, "f"), ==, 0);
	clock_gettime(CLOCK_REALTIME, &after);
	unit_attr(fs, d1, &a);
	g_assert_true(ts_between(a.mtime, before, after));
	g_assert_true(ts_between(a.ctime, before, after));
	unit_attr(fs, f, &b);
	g_assert_true(ts_between(b.ctime, before, after));

	set_old_times(fs, d1);
	set_old_times(fs, d2);
	clock_gettime(CLOCK_REALTIME, &before);
	g_assert_cmpint(pm_fs_rename(fs, d2, "g", d1, "h", 0), ==, 0);
	clock_gettime(CLOCK_REALTIME, &after);
	unit_attr(fs, d1, &a);
	unit_attr(fs, d2, &b);
	g_assert_true(ts_between(a.mtime, before, after));
	g_assert_true(ts_between(b.mtime, before, after));
	unit_pool_free(p);
}

/* ---- setgid directories ---- */

static void test_setgid_dir(void)
{
	struct unit_pool *p = unit_pool_new(8 * UNIT_MiB, 0);
	struct pm_fs *fs = p->fs;
	struct pm_cred me = { 1000, 100 };
	struct pm_setattr sa = { .valid = PM_SET_GID | PM_SET_MODE, .gid = 4242, .mode = 02775 };
	struct pm_attr a;
	uint64_t g;

	g_assert_cmpint(pm_fs_mknod(fs, PM_ROOT_INO, "g", S_IFDIR | 0775, 0, &me, &a), ==, 0);
	g = a.ino;
	pm_fs_forget(fs, g, 1);
	g_assert_cmpint(pm_fs_setattr(fs, g, &sa, &a), ==, 0);
	g_assert_cmpuint(a.mode, ==, S_IFDIR | 02775);
	g_assert_cmpuint(a.gid, ==, 4242);

	/* files take the directory's group, without setgid */
	g_assert_cmpint(pm_fs_mknod(fs, g, "f", S_IFREG | 0644, 0, &me, &a), ==, 0);
	pm_fs_forget(fs, a.ino, 1);
	g_assert_cmpuint(a.gid, ==, 4242);
	g_assert_cmpuint(a.uid, ==, 1000);
	g_assert_cmpuint(a.mode, ==, S_IFREG | 0644);
	g_assert_cmpint(pm_fs_symlink(fs, g, "l", "f", &me, &a), ==, 0);
	pm_fs_forget(fs, a.ino, 1);
	g_assert_cmpuint(a.gid, ==, 4242);
	/* directories take the group and the setgid bit */
	g_assert_cmpint(pm_fs_mknod(fs, g, "sub", S_IFDIR | 0755, 0, &me, &a), ==, 0);
	pm_fs_forget(fs, a.ino, 1);
	uint64_t sub = a.ino;
	g_assert_cmpuint(a.gid, ==, 4242);
	g_assert_cmpuint(a.mode, ==, S_IFDIR | 02755);
	/* and pass them on */
	g_assert_cmpint(pm_fs_mknod(fs, sub, "deeper", S_IFDIR | 0700, 0, &me, &a), ==, 0);
	pm_fs_forget(fs, a.ino, 1);
	g_assert_cmpuint(a.gid, ==, 4242);
	g_assert_cmpuint(a.mode, ==, S_IFDIR | 02700);
	/* elsewhere the creator's group is used */
	g_assert_cmpint(pm_fs_mknod(fs, PM_ROOT_INO, "plain", S_IFDIR | 0755, 0, &me, &a), ==, 0);
	pm_fs_forget(fs, a.ino, 1);
	g_assert_cmpuint(a.gid, ==, 100);
	g_assert_cmpuint(a.mode, ==, S_IFDIR | 0755);
	unit_assert_reopen_stable(p);
	unit_attr(p->fs, sub, &a);
	g_assert_cmpuint(a.gid, ==, 4242);
	g_assert_cmpuint(a.mode, ==, S_IFDIR | 02755);
	unit_pool_free(p);
}

/* ---- references and orphans ---- */

static void test_orphan_freed_at_forget(void)
{
	struct unit_pool *p = unit_pool_new(8 * UNIT_MiB, 0);
	struct pm_fs *fs = p->fs;
	struct pm_statfs st0, st;
	struct pm_attr a;
	uint64_t ino;

	mkfile(fs, PM_ROOT_INO, "keep"); /* the root's directory block */
	st0 = usage(fs);
	g_assert_cmpint(pm_fs_mknod(fs, PM_ROOT_INO, "f", S_IFREG | 0644, 0, &unit_cred, &a), ==, 0);
	ino = a.ino;
	g_assert_cmpint(pm_fs_lookup(fs, PM_ROOT_INO, "f", &a), ==, 0); /* two references */
	unit_write_pattern(fs, ino, 0, 100000, 1);
	g_assert_cmpint(pm_fs_setxattr(fs, ino, "user.x", "y", 1, 0), ==, 0);
	g_assert_cmpint(pm_fs_unlink(fs, PM_ROOT_INO, "f"), ==, 0);
	g_assert_cmpuint(unit_lookup(fs, PM_ROOT_INO, "f"), ==, 0);
	/* still open: readable and writable, no name */
	unit_attr(fs, ino, &a);
	g_assert_cmpuint(a.nlink, ==, 0);
	unit_assert_pattern(fs, ino, 0, 100000, 1);
	unit_write_pattern(fs, ino, 100000, 10, 2);
	st = usage(fs);
	g_assert_cmpuint(st.bfree, <, st0.bfree);
	g_assert_cmpuint(st.ffree, ==, st0.ffree - 1);
	pm_fs_forget(fs, ino, 1);
	g_assert_true(live(fs, ino));
	pm_fs_forget(fs, ino, 1);
	/* the last reference took everything with it */
	g_assert_false(live(fs, ino));
	assert_usage(fs, st0);
	unit_assert_reopen_stable(p);
	unit_pool_free(p);
}

static void test_orphan_freed_at_close(void)
{
	struct unit_pool *p = unit_pool_new(8 * UNIT_MiB, 0);
	struct pm_statfs st0;
	struct pm_info info;
	struct pm_attr a;
	uint64_t f, d;

	mkfile(p->fs, PM_ROOT_INO, "keep");
	st0 = usage(p->fs);
	g_assert_cmpint(pm_fs_mknod(p->fs, PM_ROOT_INO, "f", S_IFREG | 0644, 0, &unit_cred, &a), ==, 0);
	f = a.ino;
	g_assert_cmpint(pm_fs_mknod(p->fs, PM_ROOT_INO, "d", S_IFDIR | 0755, 0, &unit_cred, &a), ==, 0);
	d = a.ino;
	mkfile(p->fs, d, "tmp");
	g_assert_cmpint(pm_fs_unlink(p->fs, d, "tmp"), ==, 0);
	unit_write_pattern(p->fs, f, 0, 200000, 1);
	g_assert_cmpint(pm_fs_unlink(p->fs, PM_ROOT_INO, "f"), ==, 0);
	g_assert_cmpint(pm_fs_rmdir(p->fs, PM_ROOT_INO, "d"), ==, 0);
	g_assert_true(live(p->fs, f));
	g_assert_true(live(p->fs, d));
	/* the clean close ends the kernel's references: both are freed */
	unit_pool_reopen(p);
	pm_fs_info(p->fs, &info);
	g_assert_cmpuint(info.orphans, ==, 0);
	g_assert_true(info.was_clean);
	g_assert_false(live(p->fs, f));
	g_assert_false(live(p->fs, d));
	assert_usage(p->fs, st0);
	unit_pool_free(p);
}

struct crash_arg {
	const char *path;
};

static void unlink_then_crash(void *arg)
{
	struct crash_arg *c = arg;
	struct pm_fs *fs = NULL;
	struct pm_attr a;

	g_assert_cmpint(pm_fs_open(c->path, 0, &fs), ==, 0);
	g_assert_cmpint(pm_fs_mknod(fs, PM_ROOT_INO, "f", S_IFREG | 0644, 0, &unit_cred, &a), ==, 0);
	unit_write_pattern(fs, a.ino, 0, 300000, 1);
	g_assert_cmpint(pm_fs_setxattr(fs, a.ino, "user.x", "y", 1, 0), ==, 0);
	g_assert_cmpint(pm_fs_fsync(fs, a.ino), ==, 0);
	g_assert_cmpint(pm_fs_mknod(fs, PM_ROOT_INO, "d", S_IFDIR | 0755, 0, &unit_cred, &a), ==, 0);
	g_assert_cmpint(pm_fs_unlink(fs, PM_ROOT_INO, "f"), ==, 0);
	g_assert_cmpint(pm_fs_rmdir(fs, PM_ROOT_INO, "d"), ==, 0);
	/* the daemon dies here, holding both */
}

static void test_orphan_freed_at_next_open(void)
{
	struct unit_pool *p = unit_pool_new(8 * UNIT_MiB, 0);
	struct crash_arg c = { p->path };
	struct pm_statfs st0;
	struct pm_info info;
	struct pm_attr a;

	uint64_t keep = mkfile(p->fs, PM_ROOT_INO, "keep");
	st0 = usage(p->fs);
	unit_pool_close(p);
	unit_in_child(unlink_then_crash, &c);
	unit_pool_open(p);
	pm_fs_info(p->fs, &info);
	g_assert_false(info.was_clean);
	g_assert_cmpuint(info.orphans, ==, 2);
	assert_usage(p->fs, st0);
	/* no inode is left but the root and "keep" */
	for (uint64_t ino = 1; ino <= p->fs->sb.inode_count; ino++)
		g_assert_cmpint(pm_fs_getattr(p->fs, ino, &a), ==, (ino == PM_ROOT_INO || ino == keep) ? 0 : -ENOENT);
	unit_assert_reopen_stable(p);
	pm_fs_info(p->fs, &info);
	g_assert_cmpuint(info.orphans, ==, 0);
	unit_pool_free(p);
}

static void test_references(void)
{
	struct unit_pool *p = unit_pool_new(8 * UNIT_MiB, 0);
	struct pm_fs *fs = p->fs;
	uint64_t f = mkfile(fs, PM_ROOT_INO, "f");
	struct pm_attr a;

	g_assert_cmpint(pm_fs_lookup(fs, PM_ROOT_INO, "f", &a), ==, 0);
	g_assert_cmpint(pm_fs_ref(fs, f, &a), ==, 0);
	g_assert_cmpint(pm_fs_lookup(fs, PM_ROOT_INO, "f", &a), ==, 0);
	g_assert_cmpint(pm_fs_unlink(fs, PM_ROOT_INO, "f"), ==, 0);
	pm_fs_forget(fs, f, 2);
	g_assert_true(live(fs, f));
	pm_fs_forget(fs, f, 1);
	g_assert_false(live(fs, f));
	/* forgetting more than held, or unknown numbers, is harmless */
	pm_fs_forget(fs, f, 5);
	pm_fs_forget(fs, 0, 1);
	pm_fs_forget(fs, 1ull << 40, 1);
	g_assert_cmpint(pm_fs_ref(fs, f, &a), ==, -ENOENT);
	g_assert_cmpint(pm_fs_ref(fs, 1ull << 40, &a), ==, -ENOENT);
	/* the root is never freed */
	pm_fs_forget(fs, PM_ROOT_INO, 100);
	g_assert_true(live(fs, PM_ROOT_INO));
	unit_pool_free(p);
}

/* ---- inode numbers and generations ---- */

static void test_ino_gen_stable(void)
{
	struct unit_pool *p = unit_pool_new(8 * UNIT_MiB, 16); /* 15 inodes besides the root */
	uint64_t ino[15], gen[15];
	struct pm_attr a;
	char name[16];

	for (unsigned i = 0; i < 15; i++) {
		snprintf(name, sizeof(name), "f%u", i);
		g_assert_cmpint(pm_fs_mknod(p->fs, PM_ROOT_INO, name, S_IFREG | 0644, 0, &unit_cred, &a), ==, 0);
		pm_fs_forget(p->fs, a.ino, 1);
		ino[i] = a.ino;
		gen[i] = a.generation;
		for (unsigned k = 0; k < i; k++)
			g_assert_cmpuint(ino[k], !=, ino[i]);
	}
	g_assert_cmpint(pm_fs_mknod(p->fs, PM_ROOT_INO, "more", S_IFREG | 0644, 0, &unit_cred, &a), ==, -ENOSPC);
	unit_assert_reopen_stable(p);
	for (unsigned i = 0; i < 15; i++) {
		snprintf(name, sizeof(name), "f%u", i);
		g_assert_cmpint(pm_fs_lookup(p->fs, PM_ROOT_INO, name, &a), ==, 0);
		pm_fs_forget(p->fs, a.ino, 1);
		g_assert_cmpuint(a.ino, ==, ino[i]);
		g_assert_cmpuint(a.generation, ==, gen[i]);
	}
	/* a reused number gets a new generation, which is durable */
	g_assert_cmpint(pm_fs_unlink(p->fs, PM_ROOT_INO, "f7"), ==, 0);
	g_assert_cmpint(pm_fs_mknod(p->fs, PM_ROOT_INO, "new", S_IFREG | 0644, 0, &unit_cred, &a), ==, 0);
	pm_fs_forget(p->fs, a.ino, 1);
	g_assert_cmpuint(a.ino, ==, ino[7]);
	g_assert_cmpuint(a.generation, >, gen[7]);
	uint64_t g2 = a.generation;
	unit_pool_reopen(p);
	g_assert_cmpint(pm_fs_lookup(p->fs, PM_ROOT_INO, "new", &a), ==, 0);
	pm_fs_forget(p->fs, a.ino, 1);
	g_assert_cmpuint(a.ino, ==, ino[7]);
	g_assert_cmpuint(a.generation, ==, g2);
	/* again, after an unlink and a reopen in between */
	g_assert_cmpint(pm_fs_unlink(p->fs, PM_ROOT_INO, "new"), ==, 0);
	unit_pool_reopen(p);
	g_assert_cmpint(pm_fs_mknod(p->fs, PM_ROOT_INO, "newer", S_IFREG | 0644, 0, &unit_cred, &a), ==, 0);
	pm_fs_forget(p->fs, a.ino, 1);
	g_assert_cmpuint(a.ino, ==, ino[7]);
	g_assert_cmpuint(a.generation, >, g2);
	unit_pool_free(p);
}

/* ---- threads: the FUSE loop calls the engine from several at once ---- */

#define THREADS 4
#define ROUNDS 300

struct worker {
	struct pm_fs *fs;
	uint64_t dir;
	int id;
	volatile gint *stop;
};

static gpointer worker(gpointer arg)
{
	struct worker *w = arg;
	struct pm_fs *fs = w->fs;
	char name[32], other[32];
	struct pm_attr a;

	for (int k = 0; k < ROUNDS; k++) {
		snprintf(name, sizeof(name), "t%d-%d", w->id, k);
		snprintf(other, sizeof(other), "r%d-%d", w->id, k);
		g_assert_cmpint(pm_fs_mknod(fs, w->dir, name, S_IFREG | 0644, 0, &unit_cred, &a), ==, 0);
		uint64_t ino = a.ino;
		unit_write_pattern(fs, ino, 0, 8192 + (size_t)k, (uint32_t)(w->id * 1000 + k));
		unit_assert_pattern(fs, ino, 0, 8192 + (size_t)k, (uint32_t)(w->id * 1000 + k));
		g_assert_cmpint(pm_fs_setxattr(fs, ino, "user.k", &k, sizeof(k), 0), ==, 0);
		g_assert_cmpint(pm_fs_rename(fs, w->dir, name, w->dir, other, 0), ==, 0);
		if (k % 2)
			g_assert_cmpint(pm_fs_unlink(fs, w->dir, other), ==, 0);
		pm_fs_forget(fs, ino, 1);
	}
	return NULL;
}

static int count_entry(void *arg, const char *name, uint64_t ino, uint32_t type, uint64_t next)
{
	(*(unsigned *)arg)++;
	return 0;
}

static gpointer lister(gpointer arg)
{
	struct worker *w = arg;

	while (!g_atomic_int_get(w->stop)) {
		unsigned n = 0;
		g_assert_cmpint(pm_fs_readdir(w->fs, w->dir, 0, count_entry, &n), ==, 0);
		g_assert_cmpuint(n, >=, 2);
		unit_lookup(w->fs, w->dir, "t0-0");
	}
	return NULL;
}

static void test_threads(void)
{
	struct unit_pool *p = unit_pool_new(64 * UNIT_MiB, 0);
	struct pm_fs *fs = p->fs;
	uint64_t d = mkdir_(fs, PM_ROOT_INO, "d");
	struct worker w[THREADS + 1];
	GThread *t[THREADS + 1];
	volatile gint stop = 0;
	struct pm_attr a;

	g_assert_cmpint(pm_fs_ref(fs, d, &a), ==, 0);
	for (int i = 0; i <= THREADS; i++) {
		w[i] = (struct worker){ fs, d, i, &stop };
		t[i] = g_thread_new("worker", i < THREADS ? worker : lister, &w[i]);
	}
	for (int i = 0; i < THREADS; i++)
		g_thread_join(t[i]);
	g_atomic_int_set(&stop, 1);
	g_thread_join(t[THREADS]);
	pm_fs_forget(fs, d, 1);
	unit_assert_reopen_stable(p);
	fs = p->fs;
	for (int i = 0; i < THREADS; i++) {
		for (int k = 0; k < ROUNDS; k++) {
			char name[32];
			snprintf(name, sizeof(name), "r%d-%d", i, k);
			uint64_t ino = unit_lookup(fs, d, name);
			if (k % 2) {
				g_assert_cmpuint(ino, ==, 0);
				continue;
			}
			g_assert_cmpuint(ino, !=, 0);
			unit_assert_pattern(fs, ino, 0, 8192 + (size_t)k, (uint32_t)(i * 1000 + k));
			int v = -1;
			g_assert_cmpint(pm_fs_getxattr(fs, ino, "user.k", &v, sizeof(v)), ==, sizeof(v));
			g_assert_cmpint(v, ==, k);
			unit_assert_blocks(fs, ino);
		}
	}
	unit_pool_free(p);
}

/* ---- a read-only pool (mapped read-only: a stray store would crash) ---- */

static void test_rdonly(void)
{
	struct unit_pool *p = unit_pool_new(8 * UNIT_MiB, 0);
	uint64_t d = mkdir_(p->fs, PM_ROOT_INO, "d"), f = mkfile(p->fs, d, "f");
	struct pm_setattr sa = { .valid = PM_SET_MODE, .mode = 0600 };
	struct pm_fs *fs = NULL;
	struct pm_attr a;
	struct pm_info info;
	char buf[64];
	uint64_t r;

	unit_write_pattern(p->fs, f, 0, 10000, 1);
	g_assert_cmpint(pm_fs_setxattr(p->fs, f, "user.x", "y", 1, 0), ==, 0);
	g_assert_cmpint(pm_fs_symlink(p->fs, d, "l", "f", &unit_cred, &a), ==, 0);
	pm_fs_forget(p->fs, a.ino, 1);
	unit_pool_close(p);

	g_assert_cmpint(pm_fs_open(p->path, PM_FS_RDONLY, &fs), ==, 0);
	/* reading works */
	g_assert_cmpuint(unit_lookup(fs, d, "f"), ==, f);
	unit_assert_pattern(fs, f, 0, 10000, 1);
	g_assert_cmpint(pm_fs_getxattr(fs, f, "user.x", buf, sizeof(buf)), ==, 1);
	g_assert_cmpint(pm_fs_listxattr(fs, f, buf, sizeof(buf)), ==, 7);
	g_assert_cmpint(pm_fs_readlink(fs, unit_lookup(fs, d, "l"), buf, sizeof(buf)), ==, 1);
	g_assert_cmpint(pm_fs_lseek(fs, f, 0, SEEK_HOLE, &r), ==, 0);
	g_assert_cmpint(pm_fs_fsync(fs, f), ==, 0);
	/* changing does not */
	g_assert_cmpint(pm_fs_mknod(fs, d, "n", S_IFREG | 0644, 0, &unit_cred, &a), ==, -EROFS);
	g_assert_cmpint(pm_fs_mknod(fs, d, "n", S_IFDIR | 0755, 0, &unit_cred, &a), ==, -EROFS);
	g_assert_cmpint(pm_fs_symlink(fs, d, "n", "t", &unit_cred, &a), ==, -EROFS);
	g_assert_cmpint(pm_fs_link(fs, f, d, "n", &a), ==, -EROFS);
	g_assert_cmpint(pm_fs_unlink(fs, d, "f"), ==, -EROFS);
	g_assert_cmpint(pm_fs_rmdir(fs, PM_ROOT_INO, "d"), ==, -EROFS);
	g_assert_cmpint(pm_fs_rename(fs, d, "f", d, "g", 0), ==, -EROFS);
	g_assert_cmpint(pm_fs_setattr(fs, f, &sa, &a), ==, -EROFS);
	g_assert_cmpint(pm_fs_write(fs, f, 0, "x", 1, false), ==, -EROFS);
	g_assert_cmpint(pm_fs_fallocate(fs, f, 0, 0, 4096), ==, -EROFS);
	g_assert_cmpint(pm_fs_setxattr(fs, f, "user.x", "z", 1, 0), ==, -EROFS);
	g_assert_cmpint(pm_fs_removexattr(fs, f, "user.x"), ==, -EROFS);
	pm_fs_close(&fs);
	/* the pool was not marked in use */
	unit_pool_open(p);
	pm_fs_info(p->fs, &info);
	g_assert_true(info.was_clean);
	unit_pool_free(p);
}

/* drains -- the media's drains so far */
static uint64_t drains(struct pm_fs *fs)
{
	uint64_t flushes, n, bytes;

	pm_media_counts(fs->m, &flushes, &n, &bytes);
	return n;
}

/* A new name or a removed one logs what it changes (the entry, the inode
 * it names, the directory's inode) with one drain, then drains for its
 * commit and its retire: three drains, where logging each range as it
 * changed took five for a create and four for a link or an unlink. A
 * rename logs both entries, both inodes and both directories so: three
 * drains, where a rename to a new name in another directory took seven. */
static void test_name_changes_drain_thrice(void)
{
	struct unit_pool *p = unit_pool_new(8 * UNIT_MiB, 0);
	struct pm_fs *fs = p->fs;
	uint64_t d = mkdir_(fs, PM_ROOT_INO, "d"), d0, f;
	struct pm_attr a;

	mkfile(fs, d, "keep"); /* d's first block */
	d0 = drains(fs);
	f = mkfile(fs, d, "f");
	g_assert_cmpuint(drains(fs) - d0, ==, 3);
	d0 = drains(fs);
	g_assert_cmpint(pm_fs_link(fs, f, d, "g", &a), ==, 0);
	g_assert_cmpuint(drains(fs) - d0, ==, 3);
	pm_fs_forget(fs, f, 1); /* link hands out a reference */
	d0 = drains(fs);
	g_assert_cmpint(pm_fs_unlink(fs, d, "f"), ==, 0);
	g_assert_cmpuint(drains(fs) - d0, ==, 3);
	g_assert_cmpuint(nlink_of(fs, f), ==, 1);
	g_assert_cmpuint(unit_lookup(fs, d, "g"), ==, f);

	/* renames: to a new name in another directory, over a name (whose
	 * inode keeps another link, so nothing is freed), and an exchange */
	d0 = drains(fs);
	g_assert_cmpint(pm_fs_rename(fs, d, "g", PM_ROOT_INO, "h", 0), ==, 0);
	g_assert_cmpuint(drains(fs) - d0, ==, 3);
	uint64_t v = mkfile(fs, d, "v"), x = mkfile(fs, PM_ROOT_INO, "x");
	g_assert_cmpint(pm_fs_link(fs, v, d, "v2", &a), ==, 0);
	pm_fs_forget(fs, v, 1);
	d0 = drains(fs);
	g_assert_cmpint(pm_fs_rename(fs, PM_ROOT_INO, "h", d, "v", 0), ==, 0);
	g_assert_cmpuint(drains(fs) - d0, ==, 3);
	d0 = drains(fs);
	g_assert_cmpint(pm_fs_rename(fs, d, "v", PM_ROOT_INO, "x", RENAME_EXCHANGE), ==, 0);
	g_assert_cmpuint(drains(fs) - d0, ==, 3);
	g_assert_cmpuint(unit_lookup(fs, d, "v"), ==, x);
	g_assert_cmpuint(unit_lookup(fs, PM_ROOT_INO, "x"), ==, f);
	g_assert_cmpuint(nlink_of(fs, v), ==, 1);
	unit_assert_reopen_stable(p);
	unit_pool_free(p);
}

int main(int argc, char **argv)
{
	unit_init(&argc, &argv);
	unit_add("/namei/mknod-types", test_mknod_types);
	unit_add("/namei/lookup-dots", test_lookup_dots);
	unit_add("/namei/symlink", test_symlink);
	unit_add("/namei/link", test_link);
	unit_add("/namei/name-changes-drain-thrice", test_name_changes_drain_thrice);
	unit_add("/namei/unlink-rmdir", test_unlink_rmdir);
	unit_add("/namei/create-in-removed-dir", test_create_in_removed_dir);
	unit_add("/namei/rename-simple", test_rename_simple);
	unit_add("/namei/rename-notdir", test_rename_notdir);
	unit_add("/namei/rename-over-file", test_rename_over_file);
	unit_add("/namei/rename-hardlinks", test_rename_hardlinks);
	unit_add("/namei/rename-dir", test_rename_dir);
	unit_add("/namei/rename-over-empty-dir", test_rename_over_empty_dir);
	unit_add("/namei/rename-errors", test_rename_errors);
	unit_add("/namei/rename-exchange", test_rename_exchange);
	unit_add("/namei/emlink", test_emlink);
	unit_add("/namei/times", test_times);
	unit_add("/namei/setgid-dir", test_setgid_dir);
	unit_add("/namei/orphan-freed-at-forget", test_orphan_freed_at_forget);
	unit_add("/namei/orphan-freed-at-close", test_orphan_freed_at_close);
	unit_add("/namei/orphan-freed-at-next-open", test_orphan_freed_at_next_open);
	unit_add("/namei/references", test_references);
	unit_add("/namei/ino-gen-stable", test_ino_gen_stable);
	unit_add("/namei/threads", test_threads);
	unit_add("/namei/rdonly", test_rdonly);
	return g_test_run();
}
