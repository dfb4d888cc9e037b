/* test-journal.c -- the undo journal, and every crash point of every
 * metadata operation: with crash emulation, a child process performs one
 * operation and is killed at its Nth flush or drain; the reopened pool must
 * show the operation wholly done or not done at all, for every N. */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "check.h"
#include "crc.h"
#include "journal.h"
#include "unit.h"

/* ---- a canonical description of the whole tree (no times, no inode numbers) */

static void describe_dir(struct pm_fs *fs, uint64_t dir, const char *path, GString *out);

struct walk {
	struct pm_fs *fs;
	const char *path;
	GString *out;
	GPtrArray *names;
	GArray *inos;
};

static int collect(void *arg, const char *name, uint64_t ino, uint32_t type, uint64_t next)
{
	struct walk *w = arg;

	if (strcmp(name, ".") && strcmp(name, "..")) {
		g_ptr_array_add(w->names, g_strdup(name));
		g_array_append_val(w->inos, ino);
	}
	return 0;
}

static void describe_inode(struct pm_fs *fs, uint64_t ino, const char *path, GString *out)
{
	struct pm_attr a;
	char list[4096];
	int n;

	unit_attr(fs, ino, &a);
	g_string_append_printf(out, "%s mode=%o nlink=%u uid=%u size=%lu", path, a.mode, a.nlink, a.uid,
			       (unsigned long)a.size);
	if (S_ISREG(a.mode) && a.size) {
		g_autofree uint8_t *buf = g_malloc(a.size);
		g_assert_cmpuint(unit_read(fs, ino, 0, a.size, buf), ==, a.size);
		g_string_append_printf(out, " crc=%08x", pm_crc32c(0, buf, a.size));
	}
	if (S_ISLNK(a.mode)) {
		char t[4096];
		g_assert_cmpint(pm_fs_readlink(fs, ino, t, sizeof(t)), >, 0);
		g_string_append_printf(out, " -> %s", t);
	}
	n = pm_fs_listxattr(fs, ino, list, sizeof(list));
	g_assert_cmpint(n, >=, 0);
	for (int i = 0; i < n; i += (int)strlen(list + i) + 1) {
		char v[256];
		int vl = pm_fs_getxattr(fs, ino, list + i, v, sizeof(v));
		g_assert_cmpint(vl, >=, 0);
		g_string_append_printf(out, " %s=%.*s", list + i, vl, v);
	}
	g_string_append_c(out, '\n');
	if (S_ISDIR(a.mode))
		describe_dir(fs, ino, path, out);
}

static gint by_name(gconstpointer a, gconstpointer b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void describe_dir(struct pm_fs *fs, uint64_t dir, const char *path, GString *out)
{
	struct walk w = { fs, path, out, g_ptr_array_new_with_free_func(g_free),
			  g_array_new(FALSE, FALSE, sizeof(uint64_t)) };
	GPtrArray *sorted;

	g_assert_cmpint(pm_fs_readdir(fs, dir, 0, collect, &w), ==, 0);
	sorted = g_ptr_array_new_with_free_func(g_free);
	for (guint i = 0; i < w.names->len; i++)
		g_ptr_array_add(sorted, g_strdup_printf("%s\t%lu", (char *)w.names->pdata[i],
							(unsigned long)g_array_index(w.inos, uint64_t, i)));
	g_ptr_array_sort(sorted, by_name);
	for (guint i = 0; i < sorted->len; i++) {
		char *name = sorted->pdata[i], *tab = strchr(name, '\t');
		*tab = '\0';
		g_autofree char *child = g_strdup_printf("%s/%s", path, name);
		describe_inode(fs, strtoull(tab + 1, NULL, 10), child, out);
	}
	g_ptr_array_free(sorted, TRUE);
	g_ptr_array_free(w.names, TRUE);
	g_array_free(w.inos, TRUE);
}

static char *describe(struct pm_fs *fs)
{
	GString *out = g_string_new(NULL);
	struct pm_statfs st;

	describe_inode(fs, PM_ROOT_INO, "", out);
	pm_fs_statfs(fs, &st);
	g_string_append_printf(out, "inodes used %lu\n", (unsigned long)(st.files - st.ffree));
	return g_string_free(out, FALSE);
}

/* ---- the operations: setup builds the "before" tree, op is the one step */

static uint64_t at(struct pm_fs *fs, const char *path)
{
	uint64_t ino = PM_ROOT_INO;
	g_auto(GStrv) parts = g_strsplit(path, "/", -1);

	for (int i = 0; parts[i]; i++)
		if (*parts[i])
			ino = unit_lookup(fs, ino, parts[i]);
	g_assert_cmpuint(ino, !=, 0);
	return ino;
}

static void setup(struct pm_fs *fs)
{
	uint64_t d = unit_create(fs, PM_ROOT_INO, "d", S_IFDIR | 0755);
	uint64_t e = unit_create(fs, PM_ROOT_INO, "e", S_IFDIR | 0755);
	uint64_t f = unit_create(fs, d, "f", S_IFREG | 0644);
	uint64_t g = unit_create(fs, PM_ROOT_INO, "g", S_IFREG | 0600);
	struct pm_attr a;

	unit_create(fs, e, "empty", S_IFDIR | 0755);
	unit_create(fs, PM_ROOT_INO, "empty2", S_IFDIR | 0700);
	unit_write_pattern(fs, f, 0, 20000, 1);
	unit_write_pattern(fs, g, 0, 5000, 2);
	g_assert_cmpint(pm_fs_fsync(fs, f), ==, 0);
	g_assert_cmpint(pm_fs_fsync(fs, g), ==, 0);
	g_assert_cmpint(pm_fs_link(fs, g, d, "g2", &a), ==, 0);
	pm_fs_forget(fs, g, 1);
	g_assert_cmpint(pm_fs_setxattr(fs, f, "user.k", "v1", 2, 0), ==, 0);
}

static struct pm_cred cred;

static void op_create(struct pm_fs *fs)
{
	struct pm_attr a;
	g_assert_cmpint(pm_fs_mknod(fs, at(fs, "d"), "new", S_IFREG | 0644, 0, &cred, &a), ==, 0);
}
static void op_mkdir(struct pm_fs *fs)
{
	struct pm_attr a;
	g_assert_cmpint(pm_fs_mknod(fs, PM_ROOT_INO, "nd", S_IFDIR | 0755, 0, &cred, &a), ==, 0);
}
static void op_symlink(struct pm_fs *fs)
{
	struct pm_attr a;
	g_assert_cmpint(pm_fs_symlink(fs, PM_ROOT_INO, "sl", "d/f", &cred, &a), ==, 0);
}
static void op_link(struct pm_fs *fs)
{
	struct pm_attr a;
	g_assert_cmpint(pm_fs_link(fs, at(fs, "d/f"), at(fs, "e"), "f3", &a), ==, 0);
}
static void op_unlink_last(struct pm_fs *fs)
{
	g_assert_cmpint(pm_fs_unlink(fs, at(fs, "d"), "f"), ==, 0);
}
static void op_unlink_one_of_two(struct pm_fs *fs)
{
	g_assert_cmpint(pm_fs_unlink(fs, at(fs, "d"), "g2"), ==, 0);
}
static void op_rmdir(struct pm_fs *fs)
{
	g_assert_cmpint(pm_fs_rmdir(fs, at(fs, "e"), "empty"), ==, 0);
}
static void op_rename_plain(struct pm_fs *fs)
{
	g_assert_cmpint(pm_fs_rename(fs, at(fs, "d"), "f", at(fs, "d"), "f-renamed", 0), ==, 0);
}
static void op_rename_across(struct pm_fs *fs)
{
	g_assert_cmpint(pm_fs_rename(fs, at(fs, "d"), "f", at(fs, "e"), "f", 0), ==, 0);
}
static void op_rename_over_file(struct pm_fs *fs)
{
	g_assert_cmpint(pm_fs_rename(fs, at(fs, "d"), "f", PM_ROOT_INO, "g", 0), ==, 0);
}
static void op_rename_dir_over_empty(struct pm_fs *fs)
{
	g_assert_cmpint(pm_fs_rename(fs, PM_ROOT_INO, "d", at(fs, "e"), "empty", 0), ==, 0);
}
static void op_rename_exchange(struct pm_fs *fs)
{
	g_assert_cmpint(pm_fs_rename(fs, PM_ROOT_INO, "g", at(fs, "e"), "empty", RENAME_EXCHANGE), ==, 0);
}
static void op_rename_noreplace(struct pm_fs *fs)
{
	g_assert_cmpint(pm_fs_rename(fs, PM_ROOT_INO, "g", PM_ROOT_INO, "empty2", RENAME_NOREPLACE), ==,
			-EEXIST);
	g_assert_cmpint(pm_fs_rename(fs, PM_ROOT_INO, "g", PM_ROOT_INO, "g-new", RENAME_NOREPLACE), ==, 0);
}
static void op_truncate_shrink(struct pm_fs *fs)
{
	struct pm_setattr sa = { .valid = PM_SET_SIZE, .size = 3000 };
	g_assert_cmpint(pm_fs_setattr(fs, at(fs, "d/f"), &sa, NULL), ==, 0);
}
static void op_truncate_grow(struct pm_fs *fs)
{
	struct pm_setattr sa = { .valid = PM_SET_SIZE, .size = 3000000 };
	g_assert_cmpint(pm_fs_setattr(fs, at(fs, "g"), &sa, NULL), ==, 0);
}
static void op_chmod_chown(struct pm_fs *fs)
{
	struct pm_setattr sa = { .valid = PM_SET_MODE | PM_SET_UID, .mode = 0751, .uid = 4242 };
	g_assert_cmpint(pm_fs_setattr(fs, at(fs, "g"), &sa, NULL), ==, 0);
}
static void op_setxattr(struct pm_fs *fs)
{
	g_assert_cmpint(pm_fs_setxattr(fs, at(fs, "d/f"), "user.k", "value2", 6, XATTR_REPLACE), ==, 0);
}
static void op_removexattr(struct pm_fs *fs)
{
	g_assert_cmpint(pm_fs_removexattr(fs, at(fs, "d/f"), "user.k"), ==, 0);
}
static void op_write_fsync(struct pm_fs *fs)
{
	uint64_t g = at(fs, "g");
	unit_write_pattern(fs, g, 4096 * 3 + 100, 70000, 9); /* allocates, extends */
	g_assert_cmpint(pm_fs_fsync(fs, g), ==, 0);
}
static void op_copy_fsync(struct pm_fs *fs)
{
	uint64_t g = at(fs, "g");
	/* copy_file_range: allocates and extends, from the pool itself */
	g_assert_cmpint(pm_fs_copy_range(fs, at(fs, "d/f"), 100, g, 4096 * 3 + 100, 19000, false), ==, 19000);
	g_assert_cmpint(pm_fs_fsync(fs, g), ==, 0);
}
static void op_fallocate(struct pm_fs *fs)
{
	g_assert_cmpint(pm_fs_fallocate(fs, at(fs, "g"), 0, 0, 300000), ==, 0);
}
static void op_punch(struct pm_fs *fs)
{
	g_assert_cmpint(pm_fs_fallocate(fs, at(fs, "d/f"), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 4096,
					8192),
			==, 0);
}

/* A directory emptied by a rename out of it gives its block back in the
 * rename's transaction: its size, root and block count change after the
 * rename has persisted the whole inode (its times), and must still be
 * logged. prep_emptied leaves t2, a directory that held a file, lost it to
 * a rename and was renamed itself, and s, a directory with one file. */
static void prep_emptied(struct pm_fs *fs)
{
	uint64_t s = unit_create(fs, PM_ROOT_INO, "s", S_IFDIR | 0750);
	uint64_t t = unit_create(fs, PM_ROOT_INO, "t", S_IFDIR | 0750);
	uint64_t one = unit_create(fs, s, "one", S_IFREG | 0644);

	unit_write_pattern(fs, one, 0, 3000, 5);
	g_assert_cmpint(pm_fs_fsync(fs, one), ==, 0);
	unit_create(fs, t, "x", S_IFREG | 0644);
	g_assert_cmpint(pm_fs_rename(fs, t, "x", at(fs, "d"), "x", RENAME_NOREPLACE), ==, 0);
	g_assert_cmpint(pm_fs_rename(fs, PM_ROOT_INO, "t", PM_ROOT_INO, "t2", RENAME_NOREPLACE), ==, 0);
}
static void op_rename_empties_source(struct pm_fs *fs)
{
	g_assert_cmpint(pm_fs_rename(fs, at(fs, "s"), "one", at(fs, "e"), "one", 0), ==, 0);
}
static void op_rename_into_emptied(struct pm_fs *fs)
{
	g_assert_cmpint(pm_fs_rename(fs, at(fs, "d"), "f", at(fs, "t2"), "f", 0), ==, 0);
}
static void op_rename_emptied_to_emptied(struct pm_fs *fs)
{
	/* the campaign's case: s empties, t2 gets its first block again */
	g_assert_cmpint(pm_fs_rename(fs, at(fs, "s"), "one", at(fs, "t2"), "one", 0), ==, 0);
}
static void op_unlink_empties_dir(struct pm_fs *fs)
{
	g_assert_cmpint(pm_fs_unlink(fs, at(fs, "s"), "one"), ==, 0);
}

/* ---- the crash-point loop */

static void report(void *arg, enum pm_check_level level, const char *msg)
{
	if (level == PM_CHECK_PROBLEM)
		g_test_message("fsck: %s", msg);
}

/* assert_fsck_clean -- the checker finds nothing (check only) */
static void assert_fsck_clean(const char *path, uint64_t n)
{
	struct pm_check_opts o = { .mode = PM_CHECK_ONLY, .report = report };
	struct pm_check_result r;

	g_assert_cmpint(pm_check(path, &o, &r), ==, 0);
	if (r.errors)
		g_error("crash point %lu: fsck found %lu problems after recovery", (unsigned long)n,
			(unsigned long)r.errors);
}

static char *read_image(const char *path, size_t size)
{
	char *img = g_malloc(size);
	int fd = open(path, O_RDONLY);

	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpint(pread(fd, img, size, 0), ==, (ssize_t)size);
	close(fd);
	return img;
}

static void write_image(const char *path, const char *img, size_t size)
{
	int fd = open(path, O_WRONLY);

	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpint(pwrite(fd, img, size, 0), ==, (ssize_t)size);
	close(fd);
}

/* run_child -- perform op on the pool with crash emulation, dying at the
 * nth flush/drain after open (0: never); returns whether it was killed */
static bool run_child(const char *path, void (*op)(struct pm_fs *), uint64_t n)
{
	pid_t pid = fork();
	int status;

	g_assert_cmpint(pid, >=, 0);
	if (pid == 0) {
		struct pm_fs *fs;
		if (pm_fs_open(path, PM_FS_EMULATE, &fs))
			_exit(3);
		if (n)
			pm_fs_crash_at(fs, pm_fs_media_events(fs) + n);
		op(fs);
		pm_fs_close(&fs);
		_exit(0);
	}
	g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
	if (WIFSIGNALED(status)) {
		g_assert_cmpint(WTERMSIG(status), ==, SIGKILL);
		return true;
	}
	g_assert_true(WIFEXITED(status));
	g_assert_cmpint(WEXITSTATUS(status), ==, 0);
	return false;
}

static char *state_of(const char *path)
{
	struct pm_fs *fs;
	char *s;
	int ret = pm_fs_open(path, 0, &fs);

	if (ret)
		g_error("reopen after crash: %s", pm_errmsg());
	s = describe(fs);
	pm_fs_close(&fs);
	return s;
}

static void crash_points_after(void (*prep)(struct pm_fs *), void (*op)(struct pm_fs *))
{
	struct unit_pool *p = unit_pool_new(16 * UNIT_MiB, 512);
	g_autofree char *img = NULL, *before = NULL, *after = NULL;
	unsigned points = 0, seen_before = 0, seen_after = 0;

	cred = unit_cred;
	setup(p->fs);
	if (prep)
		prep(p->fs);
	unit_pool_close(p);
	img = read_image(p->path, p->size);
	before = state_of(p->path);
	write_image(p->path, img, p->size);
	g_assert_false(run_child(p->path, op, 0));
	after = state_of(p->path);
	g_assert_cmpstr(before, !=, after);

	for (uint64_t n = 1;; n += unit_stride()) {
		write_image(p->path, img, p->size);
		if (!run_child(p->path, op, n))
			break; /* the operation (and the unmount) went through */
		points++;
		g_autofree char *now = state_of(p->path);
		if (g_strcmp0(now, before) == 0)
			seen_before++;
		else if (g_strcmp0(now, after) == 0)
			seen_after++;
		else
			g_error("crash point %lu left neither state:\n--- before\n%s--- after\n%s--- found\n%s",
				(unsigned long)n, before, after, now);
		/* recovery itself is durable: a second open sees the same, and
		 * the checker finds the pool consistent */
		g_autofree char *again = state_of(p->path);
		g_assert_cmpstr(again, ==, now);
		assert_fsck_clean(p->path, n);
	}
	g_test_message("%u crash points: %u before, %u after", points, seen_before, seen_after);
	g_assert_cmpuint(points, >, 0);
	if (unit_stride() == 1) { /* a thinned run may step over either side */
		g_assert_cmpuint(seen_before, >, 0);
		g_assert_cmpuint(seen_after, >, 0);
	}
	unit_pool_free(p);
}

static void crash_points(void (*op)(struct pm_fs *))
{
	crash_points_after(NULL, op);
}

#define CRASH_TEST(name) \
	static void test_##name(void) { crash_points(op_##name); }
#define CRASH_TEST_AFTER(prep, name) \
	static void test_##name(void) { crash_points_after(prep_##prep, op_##name); }
CRASH_TEST(create)
CRASH_TEST(mkdir)
CRASH_TEST(symlink)
CRASH_TEST(link)
CRASH_TEST(unlink_last)
CRASH_TEST(unlink_one_of_two)
CRASH_TEST(rmdir)
CRASH_TEST(rename_plain)
CRASH_TEST(rename_across)
CRASH_TEST(rename_over_file)
CRASH_TEST(rename_dir_over_empty)
CRASH_TEST(rename_exchange)
CRASH_TEST(rename_noreplace)
CRASH_TEST(truncate_shrink)
CRASH_TEST(truncate_grow)
CRASH_TEST(chmod_chown)
CRASH_TEST(setxattr)
CRASH_TEST(removexattr)
CRASH_TEST(write_fsync)
CRASH_TEST(copy_fsync)
CRASH_TEST(fallocate)
CRASH_TEST(punch)
CRASH_TEST_AFTER(emptied, rename_empties_source)
CRASH_TEST_AFTER(emptied, rename_into_emptied)
CRASH_TEST_AFTER(emptied, rename_emptied_to_emptied)
CRASH_TEST_AFTER(emptied, unlink_empties_dir)

/* a lane left ACTIVE is rolled back at open, and rolling back twice
 * restores the same bytes */
static void test_rollback_is_idempotent(void)
{
	struct unit_pool *p = unit_pool_new(16 * UNIT_MiB, 0);
	uint64_t f = unit_create(p->fs, PM_ROOT_INO, "f", S_IFREG | 0644);
	struct pm_dinode *di = pm_dinode(p->fs, f);
	struct pm_tx *tx = pm_tx_begin(p->fs);
	uint32_t mode = di->mode;

	g_assert_cmpint(pm_tx_snap(tx, di, sizeof(*di)), ==, 0);
	di->mode = 0;
	di->uid = 777;
	pm_persist(p->fs, di, sizeof(*di));
	/* a crash now: the pool is abandoned without commit or close */
	pid_t pid = fork();
	if (pid == 0)
		raise(SIGKILL);
	waitpid(pid, NULL, 0);
	void *base = p->fs->base;
	struct pm_super sb = p->fs->sb;
	struct pm_media *m = p->fs->m;
	g_assert_cmpint(pm_journal_recover(m, base, &sb, true), ==, 1);
	g_assert_cmpint(pm_journal_recover(m, base, &sb, false), ==, 1);
	g_assert_cmpuint(di->mode, ==, mode);
	g_assert_cmpuint(di->uid, ==, unit_cred.uid);
	g_assert_cmpint(pm_journal_recover(m, base, &sb, false), ==, 0);
	g_assert_cmpuint(di->mode, ==, mode);
	_exit(0); /* the engine's state is not consistent for a close (nor for a leak check) */
}

/* a damaged record ends the list: nothing after it is applied */
static void test_bad_record_ends_rollback(void)
{
	struct unit_pool *p = unit_pool_new(16 * UNIT_MiB, 0);
	uint64_t f = unit_create(p->fs, PM_ROOT_INO, "f", S_IFREG | 0644);
	struct pm_dinode *di = pm_dinode(p->fs, f);
	struct pm_tx *tx = pm_tx_begin(p->fs);
	uint8_t *lane = p->fs->base + p->fs->sb.journal_start * PM_BLOCK_SIZE;

	g_assert_cmpint(pm_tx_snap(tx, &di->uid, sizeof(di->uid)), ==, 0);
	g_assert_cmpint(pm_tx_snap(tx, &di->gid, sizeof(di->gid)), ==, 0);
	di->uid = 1;
	di->gid = 2;
	/* corrupt the first record's data: neither record may be applied */
	lane[sizeof(struct pm_lane_hdr) + sizeof(struct pm_jrec)] ^= 0xff;
	g_assert_cmpint(pm_journal_recover(p->fs->m, p->fs->base, &p->fs->sb, false), ==, 1);
	g_assert_cmpuint(di->uid, ==, 1);
	g_assert_cmpuint(di->gid, ==, 2);
	exit(0);
}

/* crash -- what a kill -9 of a pool in /dev/shm leaves: every store made
 * so far, and the lane still active; rolled back as the next open does */
static void crash_and_recover(struct unit_pool *p)
{
	g_assert_cmpint(pm_journal_recover(p->fs->m, p->fs->base, &p->fs->sb, false), ==, 1);
}

/* A range that was only persisted in the transaction (pm_persist,
 * pm_tx_fresh: flushed at the commit, never logged) does not hold old
 * bytes: a later pm_tx_touch inside it must still log them. The rename
 * that empties a directory persisted the whole inode (for its times),
 * then its truncation touched the size, root and block count: they were
 * not logged, and a crash left the directory with size 0 and an entry. */
static void test_touch_inside_persisted(void)
{
	struct unit_pool *p = unit_pool_new(16 * UNIT_MiB, 0);
	uint64_t f = unit_create(p->fs, PM_ROOT_INO, "f", S_IFREG | 0644);
	struct pm_dinode *di = pm_dinode(p->fs, f);
	struct pm_tx *tx = pm_tx_begin(p->fs);
	uint64_t size = di->size, root = di->root;

	pm_persist(p->fs, di, sizeof(*di));
	pm_tx_touch(p->fs, &di->size, sizeof(di->size));
	di->size = 12345;
	pm_tx_fresh(p->fs, &di->root, sizeof(di->root) + sizeof(di->height));
	pm_tx_touch(p->fs, &di->root, sizeof(di->root));
	di->root = 999;
	(void)tx;
	crash_and_recover(p);
	g_assert_cmpuint(di->size, ==, size);
	g_assert_cmpuint(di->root, ==, root);
	_exit(0); /* the engine's state is not consistent for a close */
}

/* ranges remembered for the commit's flush are merged when adjacent: a
 * logged range grown by an adjacent persisted one must not make the
 * persisted bytes count as logged */
static void test_touch_inside_merged(void)
{
	struct unit_pool *p = unit_pool_new(16 * UNIT_MiB, 0);
	uint64_t f = unit_create(p->fs, PM_ROOT_INO, "f", S_IFREG | 0644);
	struct pm_dinode *di = pm_dinode(p->fs, f);
	struct pm_tx *tx = pm_tx_begin(p->fs);
	uint32_t uid = di->uid, nlink = di->nlink;
	uint64_t size = di->size;

	pm_tx_touch(p->fs, &di->uid, sizeof(di->uid));
	di->uid = 4242;
	pm_persist(p->fs, &di->gid, sizeof(di->gid) + sizeof(di->nlink) + sizeof(di->size));
	pm_tx_touch(p->fs, &di->nlink, sizeof(di->nlink) + sizeof(di->size));
	di->nlink = 77;
	di->size = 54321;
	(void)tx;
	crash_and_recover(p);
	g_assert_cmpuint(di->uid, ==, uid);
	g_assert_cmpuint(di->nlink, ==, nlink);
	g_assert_cmpuint(di->size, ==, size);
	_exit(0);
}

/* what is logged once is not logged again, also when the ranges were
 * merged: the lane does not fill with copies */
/* record_valid -- whether recovery would take the record at this offset
 * of the lane: its lane's number, a length inside the lane, a good crc */
static bool record_valid(const uint8_t *lane, size_t at)
{
	const struct pm_jrec *r = (const struct pm_jrec *)(lane + at);
	struct pm_jrec h = *r;

	if (r->seq != ((const struct pm_lane_hdr *)lane)->seq || r->len > UNIT_MiB)
		return false;
	h.crc = 0;
	return r->crc == pm_crc32c(pm_crc32c(0, &h, sizeof(h)), r + 1, r->len);
}

static void test_logged_once(void)
{
	struct unit_pool *p = unit_pool_new(16 * UNIT_MiB, 0);
	uint64_t f = unit_create(p->fs, PM_ROOT_INO, "f", S_IFREG | 0644);
	struct pm_dinode *di = pm_dinode(p->fs, f);
	struct pm_tx *tx = pm_tx_begin(p->fs);
	uint8_t *lane = p->fs->base + p->fs->sb.journal_start * PM_BLOCK_SIZE;
	unsigned recs = 0;

	pm_tx_touch(p->fs, &di->uid, sizeof(di->uid));
	pm_tx_touch(p->fs, &di->gid, sizeof(di->gid));
	pm_tx_touch(p->fs, &di->uid, sizeof(di->uid) + sizeof(di->gid)); /* inside the two */
	pm_tx_touch(p->fs, di, sizeof(*di));
	pm_tx_touch(p->fs, &di->size, sizeof(di->size)); /* inside the inode */
	for (size_t at = sizeof(struct pm_lane_hdr);;) {
		struct pm_jrec *r = (struct pm_jrec *)(lane + at);
		if (!record_valid(lane, at))
			break;
		recs++;
		at += (sizeof(*r) + r->len + 7) & ~(size_t)7;
	}
	g_assert_cmpuint(recs, ==, 3);
	pm_tx_commit(tx);
	unit_pool_free(p);
}

/* The heaviest operations stay inside one lane: a change whose undo
 * record does not fit is not atomic (pm_tx_touch counts it). Big
 * directories, xattrs at their limits, punches and truncations of large
 * trees, unlinks and renames over inodes holding all of those. */
static void test_heaviest_fit(void)
{
	struct unit_pool *p = unit_pool_new(512 * UNIT_MiB, 0);
	struct pm_fs *fs = p->fs;
	uint64_t lane, high, over, d, e, f, g;
	g_autofree char *val = g_malloc(64 * 1024);
	char name[64];

	memset(val, 'v', 64 * 1024);
	d = unit_create(fs, PM_ROOT_INO, "d", S_IFDIR | 0755);
	e = unit_create(fs, PM_ROOT_INO, "e", S_IFDIR | 0755);
	for (int i = 0; i < 4000; i++) {
		snprintf(name, sizeof(name), "a-rather-long-name-to-fill-directory-blocks-%06d", i);
		unit_create(fs, i % 2 ? d : e, name, S_IFREG | 0644);
	}
	/* xattrs up to the inode's 256 KiB, on a file with a deep, wide tree */
	f = unit_create(fs, d, "big", S_IFREG | 0644);
	for (int i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "user.k%d", i);
		g_assert_cmpint(pm_fs_setxattr(fs, f, name, val, 64 * 1024, 0), ==, 0);
	}
	g_assert_cmpint(pm_fs_setxattr(fs, f, "user.k0", val, 60 * 1024, XATTR_REPLACE), ==, 0);
	for (uint64_t off = 0; off < 96 * UNIT_MiB; off += 4 * UNIT_MiB)
		unit_write_pattern(fs, f, off, 2 * UNIT_MiB + 4096, 7);
	unit_write_pattern(fs, f, 64 * UNIT_GiB, 8192, 7); /* a taller tree */
	g_assert_cmpint(pm_fs_fallocate(fs, f, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 4096,
					 40 * UNIT_MiB), ==, 0);
	g_assert_cmpint(pm_fs_fallocate(fs, f, 0, 100 * UNIT_MiB, 32 * UNIT_MiB), ==, 0);
	g = unit_create(fs, e, "big2", S_IFREG | 0644);
	unit_write_pattern(fs, g, 0, 48 * UNIT_MiB, 9);
	g_assert_cmpint(pm_fs_setxattr(fs, g, "user.k", val, 64 * 1024, 0), ==, 0);
	struct pm_setattr sa = { .valid = PM_SET_SIZE, .size = 5000 };
	struct pm_attr a;
	g_assert_cmpint(pm_fs_setattr(fs, g, &sa, &a), ==, 0);
	unit_write_pattern(fs, g, 0, 48 * UNIT_MiB, 9);
	/* rename over the big file, exchange the big directories, empty one */
	g_assert_cmpint(pm_fs_rename(fs, e, "big2", d, "big", 0), ==, 0);
	g_assert_cmpint(pm_fs_rename(fs, PM_ROOT_INO, "d", PM_ROOT_INO, "e", RENAME_EXCHANGE), ==, 0);
	g_assert_cmpint(pm_fs_unlink(fs, d, "big"), ==, 0); /* d is named "e" now */
	for (int i = 0; i < 4000; i += 2) {
		snprintf(name, sizeof(name), "a-rather-long-name-to-fill-directory-blocks-%06d", i);
		g_assert_cmpint(pm_fs_unlink(fs, e, name), ==, 0);
	}
	g_assert_cmpint(pm_fs_rmdir(fs, PM_ROOT_INO, "d"), ==, 0); /* e, emptied */
	g_assert_cmpint(pm_fs_rename(fs, PM_ROOT_INO, "e", PM_ROOT_INO, "d2", 0), ==, 0);
	pm_journal_usage(fs, &lane, &high, &over);
	g_test_message("lane %lu bytes, most used %lu, overflows %lu", (unsigned long)lane,
		       (unsigned long)high, (unsigned long)over);
	g_assert_cmpuint(over, ==, 0);
	g_assert_cmpuint(high, >, 0);
	g_assert_cmpuint(high, <=, lane);
	unit_pool_free(p);
}

/* the counter the test above relies on: a record that does not fit */
static void test_overflow_counted(void)
{
	struct unit_pool *p = unit_pool_new(16 * UNIT_MiB, 0);
	uint64_t lane, high, over, f = unit_create(p->fs, PM_ROOT_INO, "f", S_IFREG | 0644);
	struct pm_tx *tx;
	uint8_t *data;

	unit_write_pattern(p->fs, f, 0, 256 * UNIT_KiB, 3);
	pm_journal_usage(p->fs, &lane, &high, &over);
	g_assert_cmpuint(over, ==, 0);
	g_assert_cmpint(pm_fs_fsync(p->fs, f), ==, 0);
	data = pm_blk_ptr(p->fs, pm_dinode(p->fs, f)->root); /* some block of the pool */
	tx = pm_tx_begin(p->fs);
	pm_tx_touch(p->fs, data, lane); /* more than the lane's room */
	pm_tx_commit(tx);
	pm_journal_usage(p->fs, &lane, &high, &over);
	g_assert_cmpuint(over, ==, 1);
	unit_pool_free(p);
}

/* A crash can keep a transaction's records and lose its claim (the two
 * are flushed together, drained once). No later transaction may take those
 * records for its own: one of the same number in the same lane, logging
 * fewer records, would find the stale one after its own and roll it back
 * too. The open wipes the lanes. */
static void test_lost_claim_leaves_no_record(void)
{
	struct unit_pool *p = unit_pool_new(16 * UNIT_MiB, 0);
	uint64_t f = unit_create(p->fs, PM_ROOT_INO, "f", S_IFREG | 0644);
	struct pm_dinode *di = pm_dinode(p->fs, f);
	struct pm_lane_hdr *h = (struct pm_lane_hdr *)(p->fs->base + p->fs->sb.journal_start * PM_BLOCK_SIZE);
	uint32_t mode = di->mode, gid = di->gid;
	struct pm_tx *tx = pm_tx_begin(p->fs);

	g_assert_cmpint(pm_tx_snap(tx, &di->uid, sizeof(di->uid)), ==, 0);
	g_assert_cmpuint(h->state, ==, PM_LANE_ACTIVE); /* lane 0: the first free one */
	di->gid = 4242;
	g_assert_cmpint(pm_tx_snap(tx, &di->gid, sizeof(di->gid)), ==, 0); /* the stale record */
	di->gid = gid;
	/* the crash: both records durable, the claim lost */
	h->state = PM_LANE_IDLE;
	pm_journal_fini(p->fs);
	g_assert_cmpint(pm_journal_recover(p->fs->m, p->fs->base, &p->fs->sb, false), ==, 0);
	g_assert_cmpint(pm_journal_init(p->fs, false), ==, 0); /* as after a crash */
	/* the next transaction (lane 0 again) logs one record, then crashes */
	tx = pm_tx_begin(p->fs);
	g_assert_cmpint(pm_tx_snap(tx, &di->mode, sizeof(di->mode)), ==, 0);
	di->mode = 0;
	g_assert_cmpint(pm_journal_recover(p->fs->m, p->fs->base, &p->fs->sb, false), ==, 1);
	g_assert_cmpuint(di->mode, ==, mode);
	g_assert_cmpuint(di->gid, ==, gid); /* 4242 if the stale record was taken */
	_exit(0); /* the engine's state is not consistent for a close */
}

/* A claim is one 8-byte store: a crash that keeps it alone must not make
 * the lane active under the number of the transaction before, whose
 * records are still in it (a header written as number, then state, could
 * be torn that way on the media). */
static void test_torn_claim_replays_nothing(void)
{
	struct unit_pool *p = unit_pool_new(16 * UNIT_MiB, 0);
	uint64_t f = unit_create(p->fs, PM_ROOT_INO, "f", S_IFREG | 0644);
	struct pm_dinode *di = pm_dinode(p->fs, f);
	struct pm_lane_hdr *h = (struct pm_lane_hdr *)(p->fs->base + p->fs->sb.journal_start * PM_BLOCK_SIZE);
	struct pm_tx *tx = pm_tx_begin(p->fs);

	g_assert_cmpint(pm_tx_snap(tx, &di->uid, sizeof(di->uid)), ==, 0); /* lane 0 */
	di->uid = 4242;
	pm_persist(p->fs, di, sizeof(*di));
	pm_tx_commit(tx);
	/* the next transaction in lane 0 claims it, and the crash keeps only
	 * that store */
	h->state = PM_LANE_ACTIVE;
	g_assert_cmpint(pm_journal_recover(p->fs->m, p->fs->base, &p->fs->sb, false), ==, 1);
	g_assert_cmpuint(di->uid, ==, 4242); /* the finished transaction stays */
	_exit(0); /* the engine's state is not consistent for a close */
}

static void lane_counts(struct unit_pool *p, uint64_t *flushes, uint64_t *drains)
{
	uint64_t bytes;

	pm_media_counts(p->fs->m, flushes, drains, &bytes);
}

/* What a transaction costs in drains: one that logs nothing never touches
 * its lane (one drain, for its changes); one that logs a record drains the
 * record with the lane's claim, then the changes, then the retirement. */
static void test_claim_with_first_record(void)
{
	struct unit_pool *p = unit_pool_new(16 * UNIT_MiB, 0);
	uint64_t f = unit_create(p->fs, PM_ROOT_INO, "f", S_IFREG | 0644), fl0, dr0, fl1, dr1;
	struct pm_dinode *di = pm_dinode(p->fs, f);
	uint8_t *lanes = p->fs->base + p->fs->sb.journal_start * PM_BLOCK_SIZE;
	uint8_t before[sizeof(struct pm_lane_hdr)];
	struct pm_tx *tx;

	memcpy(before, lanes, sizeof(before));
	uint64_t next = ((struct pm_lane_hdr *)lanes)->seq;
	lane_counts(p, &fl0, &dr0);
	tx = pm_tx_begin(p->fs);
	di->atime.sec = 1; /* fresh-like change: persisted, not logged */
	pm_persist(p->fs, di, sizeof(*di));
	pm_tx_commit(tx);
	lane_counts(p, &fl1, &dr1);
	g_assert_cmpuint(dr1 - dr0, ==, 1);
	g_assert_cmpmem(lanes, sizeof(before), before, sizeof(before));

	tx = pm_tx_begin(p->fs);
	pm_tx_touch(p->fs, &di->uid, sizeof(di->uid));
	di->uid = 5;
	pm_persist(p->fs, di, sizeof(*di));
	pm_tx_commit(tx);
	lane_counts(p, &fl0, &dr0);
	g_assert_cmpuint(dr0 - dr1, ==, 3);
	g_assert_cmpuint(((struct pm_lane_hdr *)lanes)->state, ==, PM_LANE_IDLE);
	g_assert_cmpuint(((struct pm_lane_hdr *)lanes)->seq, ==, next + 1); /* the lane's next number */
	unit_pool_reopen(p);
	g_assert_cmpuint(pm_dinode(p->fs, f)->uid, ==, 5);
	/* the clean close wiped the lanes: all zero, as mkfs leaves them */
	lanes = p->fs->base + p->fs->sb.journal_start * PM_BLOCK_SIZE;
	for (size_t i = 0; i < p->fs->sb.journal_blocks * PM_BLOCK_SIZE; i++)
		if (lanes[i])
			g_error("journal byte %zu is %u after a clean close", i, lanes[i]);
	unit_pool_free(p);
}

/* pm_tx_touch_all logs every range, then drains once (an unlink logs two
 * inodes so, a directory's move three); ranges logged already cost
 * nothing; and a crash after the changes rolls all of them back */
static void test_touch_all_drains_once(void)
{
	struct unit_pool *p = unit_pool_new(16 * UNIT_MiB, 0);
	uint64_t a = unit_create(p->fs, PM_ROOT_INO, "a", S_IFREG | 0644);
	uint64_t b = unit_create(p->fs, PM_ROOT_INO, "b", S_IFREG | 0644);
	struct pm_dinode *da = pm_dinode(p->fs, a), *db = pm_dinode(p->fs, b);
	struct pm_dinode *dr = pm_dinode(p->fs, PM_ROOT_INO);
	const struct pm_span spans[] = { { da, sizeof(*da) }, { db, sizeof(*db) }, { dr, sizeof(*dr) } };
	uint32_t nlink = dr->nlink;
	uint64_t f0, d0, f1, d1;
	bool own;

	pm_tx_join(p->fs, &own);
	g_assert_true(own);
	lane_counts(p, &f0, &d0);
	pm_tx_touch_all(p->fs, spans, 3);
	lane_counts(p, &f1, &d1);
	g_assert_cmpuint(d1 - d0, ==, 1);
	g_assert_cmpuint(f1 - f0, ==, 4); /* the lane's claim, three records */
	pm_tx_touch_all(p->fs, spans, 3);
	lane_counts(p, &f0, &d0);
	g_assert_cmpuint(d0, ==, d1);
	g_assert_cmpuint(f0, ==, f1);
	da->uid = 11;
	db->uid = 12;
	dr->nlink = 99;
	for (unsigned i = 0; i < 3; i++)
		pm_persist(p->fs, spans[i].p, spans[i].len);
	/* a crash now: the pool is abandoned without commit or close */
	pid_t pid = fork();
	if (pid == 0)
		raise(SIGKILL);
	waitpid(pid, NULL, 0);
	struct pm_super sb = p->fs->sb;
	g_assert_cmpint(pm_journal_recover(p->fs->m, p->fs->base, &sb, false), ==, 1);
	g_assert_cmpuint(da->uid, ==, unit_cred.uid);
	g_assert_cmpuint(db->uid, ==, unit_cred.uid);
	g_assert_cmpuint(dr->nlink, ==, nlink);
	_exit(0); /* the engine's state is not consistent for a close */
}

int main(int argc, char **argv)
{
	unit_init(&argc, &argv);
	unit_add("/journal/rollback-is-idempotent", test_rollback_is_idempotent);
	unit_add("/journal/bad-record-ends-rollback", test_bad_record_ends_rollback);
	unit_add("/journal/touch-inside-persisted", test_touch_inside_persisted);
	unit_add("/journal/touch-inside-merged", test_touch_inside_merged);
	unit_add("/journal/logged-once", test_logged_once);
	unit_add("/journal/heaviest-operations-fit", test_heaviest_fit);
	unit_add("/journal/overflow-counted", test_overflow_counted);
	unit_add("/journal/lost-claim-leaves-no-record", test_lost_claim_leaves_no_record);
	unit_add("/journal/torn-claim-replays-nothing", test_torn_claim_replays_nothing);
	unit_add("/journal/claim-with-first-record", test_claim_with_first_record);
	unit_add("/journal/touch-all-drains-once", test_touch_all_drains_once);
#define ADD(name) unit_add("/journal/crash-points/" #name, test_##name)
	ADD(create);
	ADD(mkdir);
	ADD(symlink);
	ADD(link);
	ADD(unlink_last);
	ADD(unlink_one_of_two);
	ADD(rmdir);
	ADD(rename_plain);
	ADD(rename_across);
	ADD(rename_over_file);
	ADD(rename_dir_over_empty);
	ADD(rename_exchange);
	ADD(rename_noreplace);
	ADD(truncate_shrink);
	ADD(truncate_grow);
	ADD(chmod_chown);
	ADD(setxattr);
	ADD(removexattr);
	ADD(write_fsync);
	ADD(copy_fsync);
	ADD(fallocate);
	ADD(punch);
	ADD(rename_empties_source);
	ADD(rename_into_emptied);
	ADD(rename_emptied_to_emptied);
	ADD(unlink_empties_dir);
	return g_test_run();
}
