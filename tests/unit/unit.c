/* unit.c -- shared helpers of the engine's unit tests */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "media.h"
#include "super.h"
#include "unit.h"

struct pm_cred unit_cred;

struct unit_test {
	void (*fn)(void);
};

static void run_isolated(gconstpointer data)
{
	const struct unit_test *t = data;

	if (g_test_subprocess()) {
		t->fn();
		return;
	}
	g_test_trap_subprocess(NULL, 250 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_INHERIT_STDERR);
	g_test_trap_assert_passed();
}

void unit_init(int *argc, char ***argv)
{
	g_test_init(argc, argv, NULL);
	/* the parent reports a failed child and goes on with the next test */
	if (!g_test_subprocess())
		g_test_set_nonfatal_assertions();
	unit_cred.uid = (uint32_t)getuid();
	unit_cred.gid = (uint32_t)getgid();
}

void unit_add(const char *path, void (*fn)(void))
{
	struct unit_test *t = g_new0(struct unit_test, 1); /* lives as long as the process */

	t->fn = fn;
	g_test_add_data_func(path, t, run_isolated);
}

char *unit_pool_file(uint64_t size)
{
	char tmpl[] = "/dev/shm/pmfuse-unit-XXXXXX";
	int fd = mkstemp(tmpl), err;

	if (fd < 0)
		g_error("mkstemp(%s): %s", tmpl, g_strerror(errno));
	/* nameless from the start: nothing is left behind however the test
	 * process ends (a failed assertion in a GTest subprocess is _exit()) */
	unlink(tmpl);
	err = posix_fallocate(fd, 0, (off_t)size);
	if (err)
		g_error("posix_fallocate(%s, %" G_GUINT64_FORMAT "): %s", tmpl, size, g_strerror(err));
	return g_strdup_printf("/proc/self/fd/%d", fd);
}

void unit_pool_format(const char *path, uint64_t size, uint64_t inodes)
{
	struct pm_media *m = NULL;
	struct pm_super sb;
	int ret;

	ret = pm_media_open(path, 0, &m);
	if (ret)
		g_error("pm_media_open(%s): %d %s", path, ret, pm_errmsg());
	ret = pm_super_layout(&sb, size, inodes);
	if (ret)
		g_error("pm_super_layout: %d %s", ret, pm_errmsg());
	ret = pm_super_format(m, &sb, unit_cred.uid, unit_cred.gid);
	if (ret)
		g_error("pm_super_format: %d %s", ret, pm_errmsg());
	pm_media_delete(&m);
	g_assert_null(m);
}

struct unit_pool *unit_pool_new(uint64_t size, uint64_t inodes)
{
	struct unit_pool *p = g_new0(struct unit_pool, 1);

	p->size = size;
	p->path = unit_pool_file(size);
	unit_pool_format(p->path, size, inodes);
	unit_pool_open(p);
	return p;
}

void unit_pool_open(struct unit_pool *p)
{
	int ret;

	g_assert_null(p->fs);
	ret = pm_fs_open(p->path, 0, &p->fs);
	if (ret)
		g_error("pm_fs_open(%s): %d %s", p->path, ret, pm_errmsg());
	g_assert_nonnull(p->fs);
}

void unit_pool_close(struct unit_pool *p)
{
	pm_fs_close(&p->fs);
	g_assert_null(p->fs);
}

void unit_pool_reopen(struct unit_pool *p)
{
	unit_pool_close(p);
	unit_pool_open(p);
}

void unit_pool_free(struct unit_pool *p)
{
	if (!p)
		return;
	if (p->fs)
		unit_pool_close(p);
	g_free(p->path); /* the file goes when the process ends */
	g_free(p);
}

uint64_t unit_create(struct pm_fs *fs, uint64_t dir, const char *name, uint32_t mode)
{
	struct pm_attr a;
	int ret = pm_fs_mknod(fs, dir, name, mode, 0, &unit_cred, &a);

	if (ret)
		g_error("pm_fs_mknod(%" G_GUINT64_FORMAT ", \"%s\", 0%o): %d %s", dir, name, mode, ret,
			pm_errmsg());
	g_assert_cmpuint(a.ino, >, 1);
	pm_fs_forget(fs, a.ino, 1);
	return a.ino;
}

uint64_t unit_lookup(struct pm_fs *fs, uint64_t dir, const char *name)
{
	struct pm_attr a;
	int ret = pm_fs_lookup(fs, dir, name, &a);

	if (ret == -ENOENT)
		return 0;
	if (ret)
		g_error("pm_fs_lookup(%" G_GUINT64_FORMAT ", \"%s\"): %d %s", dir, name, ret, pm_errmsg());
	pm_fs_forget(fs, a.ino, 1);
	return a.ino;
}

void unit_attr(struct pm_fs *fs, uint64_t ino, struct pm_attr *attr)
{
	int ret = pm_fs_getattr(fs, ino, attr);

	if (ret)
		g_error("pm_fs_getattr(%" G_GUINT64_FORMAT "): %d %s", ino, ret, pm_errmsg());
	g_assert_cmpuint(attr->ino, ==, ino);
}

uint64_t unit_size(struct pm_fs *fs, uint64_t ino)
{
	struct pm_attr a;

	unit_attr(fs, ino, &a);
	return a.size;
}

void unit_statfs(struct pm_fs *fs, struct pm_statfs *st)
{
	g_assert_cmpint(pm_fs_statfs(fs, st), ==, 0);
}

void unit_write(struct pm_fs *fs, uint64_t ino, uint64_t off, const void *buf, size_t len)
{
	ssize_t n = pm_fs_write(fs, ino, off, buf, len, false);

	if (n < 0)
		g_error("pm_fs_write(%" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT ", %zu): %zd %s", ino, off,
			len, n, pm_errmsg());
	g_assert_cmpint(n, ==, (ssize_t)len);
}

struct read_ctx {
	uint8_t *dst;
	size_t room;
	size_t got;
	int calls;
};

static int read_cb(void *arg, const struct iovec *iov, int cnt)
{
	struct read_ctx *c = arg;

	c->calls++;
	for (int i = 0; i < cnt; i++) {
		g_assert_cmpuint(c->got + iov[i].iov_len, <=, c->room);
		memcpy(c->dst + c->got, iov[i].iov_base, iov[i].iov_len);
		c->got += iov[i].iov_len;
	}
	return 0;
}

size_t unit_read(struct pm_fs *fs, uint64_t ino, uint64_t off, size_t len, void *buf)
{
	size_t total = 0;

	while (total < len) {
		struct read_ctx c = { (uint8_t *)buf + total, len - total, 0, 0 };
		int ret = pm_fs_read(fs, ino, off + total, len - total, read_cb, &c);

		if (ret)
			g_error("pm_fs_read(%" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT ", %zu): %d %s", ino,
				off + total, len - total, ret, pm_errmsg());
		g_assert_cmpint(c.calls, ==, 1);
		if (c.got == 0)
			break;
		total += c.got;
	}
	return total;
}

void unit_pattern(void *buf, uint64_t off, size_t len, uint32_t seed)
{
	uint8_t *p = buf;

	for (size_t i = 0; i < len; i++)
		p[i] = unit_pattern_byte(off + i, seed);
}

void unit_write_pattern(struct pm_fs *fs, uint64_t ino, uint64_t off, size_t len, uint32_t seed)
{
	g_autofree uint8_t *buf = g_malloc(len ? len : 1);

	unit_pattern(buf, off, len, seed);
	unit_write(fs, ino, off, buf, len);
}

void unit_assert_pattern(struct pm_fs *fs, uint64_t ino, uint64_t off, size_t len, uint32_t seed)
{
	g_autofree uint8_t *buf = g_malloc(len ? len : 1);
	size_t n = unit_read(fs, ino, off, len, buf);

	g_assert_cmpuint(n, ==, len);
	for (size_t i = 0; i < len; i++)
		if (buf[i] != unit_pattern_byte(off + i, seed))
			g_error("inode %" G_GUINT64_FORMAT ": byte at %" G_GUINT64_FORMAT
				" is 0x%02x, expected 0x%02x (seed %u)",
				ino, off + i, buf[i], unit_pattern_byte(off + i, seed), seed);
}

void unit_assert_zero(struct pm_fs *fs, uint64_t ino, uint64_t off, size_t len)
{
	g_autofree uint8_t *buf = g_malloc(len ? len : 1);
	size_t n = unit_read(fs, ino, off, len, buf);

	g_assert_cmpuint(n, ==, len);
	for (size_t i = 0; i < len; i++)
		if (buf[i])
			g_error("inode %" G_GUINT64_FORMAT ": byte at %" G_GUINT64_FORMAT
				" is 0x%02x, expected zero",
				ino, off + i, buf[i]);
}

static int count_block(struct pm_fs *fs, uint64_t blk, void *arg)
{
	(void)fs;
	(void)blk;
	(*(uint64_t *)arg)++;
	return 0;
}

uint64_t unit_tree_blocks(struct pm_fs *fs, uint64_t ino)
{
	uint64_t n = 0;

	g_assert_cmpint(pm_data_walk(fs, pm_dinode(fs, ino), count_block, &n), ==, 0);
	return n;
}

void unit_assert_blocks(struct pm_fs *fs, uint64_t ino)
{
	const struct pm_dinode *di = pm_dinode(fs, ino);
	struct pm_attr a;

	unit_attr(fs, ino, &a);
	g_assert_cmpuint(di->blocks, ==, unit_tree_blocks(fs, ino) + di->xattr_blocks);
	g_assert_cmpuint(a.blocks, ==, di->blocks * (PM_BLOCK_SIZE / 512));
}

void unit_assert_reopen_stable(struct unit_pool *p)
{
	struct pm_statfs before, after;

	unit_statfs(p->fs, &before);
	unit_pool_reopen(p);
	unit_statfs(p->fs, &after);
	g_assert_cmpuint(after.bfree, ==, before.bfree);
	g_assert_cmpuint(after.ffree, ==, before.ffree);
	g_assert_cmpuint(after.blocks, ==, before.blocks);
	g_assert_cmpuint(after.files, ==, before.files);
}

void unit_in_child(void (*fn)(void *arg), void *arg)
{
	int status;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	g_assert_cmpint(pid, >=, 0);
	if (pid == 0) {
		fn(arg);
		_exit(0);
	}
	g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		g_error("the child process failed (status 0x%x)", status);
}

uint8_t *unit_map_pool(const char *path, struct pm_media **m)
{
	int ret = pm_media_open(path, PM_MEDIA_NOLOCK, m);

	if (ret)
		g_error("pm_media_open(%s): %d %s", path, ret, pm_errmsg());
	return pm_media_base(*m);
}

void unit_unmap_pool(struct pm_media **m)
{
	pm_media_persist(*m, pm_media_base(*m), pm_media_size(*m));
	pm_media_delete(m);
}

unsigned unit_stride(void)
{
	const char *s = getenv("PMFUSE_UNIT_STRIDE");
	unsigned long n = s ? strtoul(s, NULL, 10) : 1;

	return n >= 1 && n <= 1000 ? (unsigned)n : 1;
}
