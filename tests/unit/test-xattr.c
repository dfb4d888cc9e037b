/* test-xattr.c -- extended attributes: set, get, list, remove, limits,
 * persistence, space accounting */
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include "unit.h"

#define VALUE_MAX 65536

static uint64_t bfree(struct pm_fs *fs)
{
	struct pm_statfs st;

	unit_statfs(fs, &st);
	return st.bfree;
}

static void set(struct pm_fs *fs, uint64_t ino, const char *name, const void *v, size_t len)
{
	int ret = pm_fs_setxattr(fs, ino, name, v, len, 0);

	if (ret)
		g_error("setxattr(%s, %zu bytes): %d %s", name, len, ret, pm_errmsg());
}

static void assert_value(struct pm_fs *fs, uint64_t ino, const char *name, const void *v, size_t len)
{
	g_autofree uint8_t *buf = g_malloc(len + 16);

	g_assert_cmpint(pm_fs_getxattr(fs, ino, name, NULL, 0), ==, (int)len);
	g_assert_cmpint(pm_fs_getxattr(fs, ino, name, buf, len + 16), ==, (int)len);
	g_assert_cmpmem(buf, len, v, len);
	if (len) {
		g_assert_cmpint(pm_fs_getxattr(fs, ino, name, buf, len), ==, (int)len);
		g_assert_cmpmem(buf, len, v, len);
	}
}

static void assert_absent(struct pm_fs *fs, uint64_t ino, const char *name)
{
	char buf[8];

	g_assert_cmpint(pm_fs_getxattr(fs, ino, name, buf, sizeof(buf)), ==, -ENODATA);
	g_assert_cmpint(pm_fs_getxattr(fs, ino, name, NULL, 0), ==, -ENODATA);
}

/* assert_names -- listxattr gives exactly the n names (any order) */
static void assert_names(struct pm_fs *fs, uint64_t ino, const char *const *names, unsigned n)
{
	int need = pm_fs_listxattr(fs, ino, NULL, 0), total = 0;
	g_autofree char *buf = NULL;
	unsigned count = 0;

	for (unsigned i = 0; i < n; i++)
		total += (int)strlen(names[i]) + 1;
	g_assert_cmpint(need, ==, total);
	buf = g_malloc0((size_t)need + 1);
	g_assert_cmpint(pm_fs_listxattr(fs, ino, buf, (size_t)need), ==, need);
	for (char *s = buf; s < buf + need; s += strlen(s) + 1) {
		unsigned i;
		for (i = 0; i < n; i++)
			if (g_str_equal(s, names[i]))
				break;
		if (i == n)
			g_error("listxattr gave \"%s\"", s);
		count++;
	}
	g_assert_cmpuint(count, ==, n);
}

static void test_set_get_list_remove(void)
{
	struct unit_pool *p = unit_pool_new(8 * UNIT_MiB, 0);
	struct pm_fs *fs = p->fs;
	uint64_t ino = unit_create(fs, PM_ROOT_INO, "f", S_IFREG | 0644);
	const uint8_t bin[] = { 0, 1, 2, 0, 0xff, 0 };

	assert_names(fs, ino, NULL, 0);
	assert_absent(fs, ino, "user.a");
	set(fs, ino, "user.a", "1", 1);
	set(fs, ino, "user.bb", "22", 2);
	set(fs, ino, "trusted.t", "trusted value", 13);
	set(fs, ino, "security.selinux", "system_u:object_r:tmp_t:s0", 27);
	set(fs, ino, "user.empty", "", 0);
	set(fs, ino, "user.bin", bin, sizeof(bin));
	assert_value(fs, ino, "user.a", "1", 1);
	assert_value(fs, ino, "user.bb", "22", 2);
	assert_value(fs, ino, "trusted.t", "trusted value", 13);
	assert_value(fs, ino, "security.selinux", "system_u:object_r:tmp_t:s0", 27);
	assert_value(fs, ino, "user.empty", "", 0);
	assert_value(fs, ino, "user.bin", bin, sizeof(bin));
	assert_absent(fs, ino, "user.b");
	assert_absent(fs, ino, "user.aa");
	assert_absent(fs, ino, "user");
	const char *all[] = { "user.a", "user.bb", "trusted.t", "security.selinux", "user.empty", "user.bin" };
	assert_names(fs, ino, all, 6);

	/* a new value of another length replaces the old one */
	set(fs, ino, "user.bb", "a much longer value than before", 31);
	assert_value(fs, ino, "user.bb", "a much longer value than before", 31);
	set(fs, ino, "user.a", "", 0);
	assert_value(fs, ino, "user.a", "", 0);
	assert_value(fs, ino, "trusted.t", "trusted value", 13);
	assert_names(fs, ino, all, 6);

	/* removal */
	g_assert_cmpint(pm_fs_removexattr(fs, ino, "user.bb"), ==, 0);
	assert_absent(fs, ino, "user.bb");
	g_assert_cmpint(pm_fs_removexattr(fs, ino, "user.bb"), ==, -ENODATA);
	g_assert_cmpint(pm_fs_removexattr(fs, ino, "user.nothing"), ==, -ENODATA);
	const char *rest[] = { "user.a", "trusted.t", "security.selinux", "user.empty", "user.bin" };
	assert_names(fs, ino, rest, 5);
	assert_value(fs, ino, "user.bin", bin, sizeof(bin));
	for (unsigned i = 0; i < G_N_ELEMENTS(rest); i++)
		g_assert_cmpint(pm_fs_removexattr(fs, ino, rest[i]), ==, 0);
	assert_names(fs, ino, NULL, 0);
	/* with nothing left the blob is gone */
	g_assert_cmpuint(pm_dinode(fs, ino)->xattr_block, ==, 0);
	unit_assert_blocks(fs, ino);

	/* directories and the root have attributes too */
	set(fs, PM_ROOT_INO, "user.root", "r", 1);
	uint64_t d = unit_create(fs, PM_ROOT_INO, "d", S_IFDIR | 0755);
	set(fs, d, "user.dir", "d", 1);
	assert_value(fs, PM_ROOT_INO, "user.root", "r", 1);
	assert_value(fs, d, "user.dir", "d", 1);
	assert_absent(fs, d, "user.root");
	unit_pool_free(p);
}

static void test_create_replace(void)
{
	struct unit_pool *p = unit_pool_new(8 * UNIT_MiB, 0);
	struct pm_fs *fs = p->fs;
	uint64_t ino = unit_create(fs, PM_ROOT_INO, "f", S_IFREG | 0644);

	g_assert_cmpint(pm_fs_setxattr(fs, ino, "user.x", "new", 3, XATTR_REPLACE), ==, -ENODATA);
	assert_absent(fs, ino, "user.x");
	g_assert_cmpint(pm_fs_setxattr(fs, ino, "user.x", "one", 3, XATTR_CREATE), ==, 0);
	assert_value(fs, ino, "user.x", "one", 3);
	g_assert_cmpint(pm_fs_setxattr(fs, ino, "user.x", "two", 3, XATTR_CREATE), ==, -EEXIST);
	assert_value(fs, ino, "user.x", "one", 3);
	g_assert_cmpint(pm_fs_setxattr(fs, ino, "user.x", "three", 5, XATTR_REPLACE), ==, 0);
	assert_value(fs, ino, "user.x", "three", 5);
	g_assert_cmpint(pm_fs_setxattr(fs, ino, "user.x", "4", 1, 0), ==, 0);
	assert_value(fs, ino, "user.x", "4", 1);
	const char *one[] = { "user.x" };
	assert_names(fs, ino, one, 1);
	unit_pool_free(p);
}

static void test_erange(void)
{
	struct unit_pool *p = unit_pool_new(8 * UNIT_MiB, 0);
	struct pm_fs *fs = p->fs;
	uint64_t ino = unit_create(fs, PM_ROOT_INO, "f", S_IFREG | 0644);
	char buf[64];
	g_autofree char *n250 = g_strnfill(250, 'n'), *n251 = g_strnfill(251, 'n');
	g_autofree char *name255 = NULL, *name256 = NULL;

	set(fs, ino, "user.abc", "0123456789", 10);
	set(fs, ino, "user.d", "x", 1);
	g_assert_cmpint(pm_fs_getxattr(fs, ino, "user.abc", buf, 9), ==, -ERANGE);
	g_assert_cmpint(pm_fs_getxattr(fs, ino, "user.abc", buf, 1), ==, -ERANGE);
	g_assert_cmpint(pm_fs_getxattr(fs, ino, "user.abc", buf, 10), ==, 10);
	/* "user.abc\0user.d\0" is 16 bytes */
	g_assert_cmpint(pm_fs_listxattr(fs, ino, NULL, 0), ==, 16);
	g_assert_cmpint(pm_fs_listxattr(fs, ino, buf, 15), ==, -ERANGE);
	g_assert_cmpint(pm_fs_listxattr(fs, ino, buf, 1), ==, -ERANGE);
	g_assert_cmpint(pm_fs_listxattr(fs, ino, buf, 16), ==, 16);
	g_assert_cmpint(pm_fs_listxattr(fs, ino, buf, sizeof(buf)), ==, 16);
	/* names: at most 255 bytes with the namespace */
	name255 = g_strdup_printf("user.%s", n250);
	name256 = g_strdup_printf("user.%s", n251);
	g_assert_cmpuint(strlen(name255), ==, 255);
	set(fs, ino, name255, "v", 1);
	assert_value(fs, ino, name255, "v", 1);
	g_assert_cmpint(pm_fs_setxattr(fs, ino, name256, "v", 1, 0), ==, -ERANGE);
	g_assert_cmpint(pm_fs_setxattr(fs, ino, "", "v", 1, 0), <, 0);
	unit_pool_free(p);
}

static void test_e2big(void)
{
	struct unit_pool *p = unit_pool_new(8 * UNIT_MiB, 0);
	struct pm_fs *fs = p->fs;
	uint64_t ino = unit_create(fs, PM_ROOT_INO, "f", S_IFREG | 0644);
	g_autofree uint8_t *big = g_malloc(VALUE_MAX + 1);

	unit_pattern(big, 0, VALUE_MAX + 1, 3);
	g_assert_cmpint(pm_fs_setxattr(fs, ino, "user.big", big, VALUE_MAX + 1, 0), ==, -E2BIG);
	assert_absent(fs, ino, "user.big");
	set(fs, ino, "user.big", big, VALUE_MAX);
	assert_value(fs, ino, "user.big", big, VALUE_MAX);
	g_assert_cmpint(pm_fs_setxattr(fs, ino, "user.big", big, VALUE_MAX + 1, 0), ==, -E2BIG);
	assert_value(fs, ino, "user.big", big, VALUE_MAX);
	unit_assert_blocks(fs, ino);
	unit_pool_free(p);
}

static void test_namespaces(void)
{
	struct unit_pool *p = unit_pool_new(8 * UNIT_MiB, 0);
	struct pm_fs *fs = p->fs;
	uint64_t ino = unit_create(fs, PM_ROOT_INO, "f", S_IFREG | 0644);
	const char *bad[] = { "foo.bar", "user", "User.x", "osx.x", "system.posix_acl_access", "xuser.a", "trustedx" };

	for (unsigned i = 0; i < G_N_ELEMENTS(bad); i++) {
		int ret = pm_fs_setxattr(fs, ino, bad[i], "v", 1, 0);
		if (ret != -EOPNOTSUPP)
			g_error("setxattr(\"%s\") = %d, expected -EOPNOTSUPP", bad[i], ret);
	}
	assert_names(fs, ino, NULL, 0);
	g_assert_cmpuint(pm_dinode(fs, ino)->xattr_block, ==, 0);
	unit_pool_free(p);
}

static void test_persist(void)
{
	struct unit_pool *p = unit_pool_new(8 * UNIT_MiB, 0);
	uint64_t ino = unit_create(p->fs, PM_ROOT_INO, "f", S_IFREG | 0644);
	g_autofree uint8_t *big = g_malloc(40000);
	const char *names[] = { "user.one", "trusted.two", "user.big" };

	unit_pattern(big, 0, 40000, 9);
	set(p->fs, ino, "user.one", "1", 1);
	set(p->fs, ino, "trusted.two", "22", 2);
	set(p->fs, ino, "user.big", big, 40000);
	set(p->fs, ino, "user.gone", "x", 1);
	g_assert_cmpint(pm_fs_removexattr(p->fs, ino, "user.gone"), ==, 0);
	unit_assert_blocks(p->fs, ino);
	unit_assert_reopen_stable(p);
	assert_value(p->fs, ino, "user.one", "1", 1);
	assert_value(p->fs, ino, "trusted.two", "22", 2);
	assert_value(p->fs, ino, "user.big", big, 40000);
	assert_absent(p->fs, ino, "user.gone");
	assert_names(p->fs, ino, names, 3);
	unit_assert_blocks(p->fs, ino);
	unit_pool_free(p);
}

static void test_blob_full(void)
{
	struct unit_pool *p = unit_pool_new(8 * UNIT_MiB, 0);
	struct pm_fs *fs = p->fs;
	uint64_t ino = unit_create(fs, PM_ROOT_INO, "f", S_IFREG | 0644);
	g_autofree uint8_t *big = g_malloc(VALUE_MAX);
	char name[32];

	/* 256 KiB per inode: three 64 KiB values fit, a fourth does not */
	for (unsigned i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "user.big%u", i);
		unit_pattern(big, 0, VALUE_MAX, i);
		set(fs, ino, name, big, VALUE_MAX);
	}
	unit_pattern(big, 0, VALUE_MAX, 3);
	g_assert_cmpint(pm_fs_setxattr(fs, ino, "user.big3", big, VALUE_MAX, 0), ==, -ENOSPC);
	assert_absent(fs, ino, "user.big3");
	for (unsigned i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "user.big%u", i);
		unit_pattern(big, 0, VALUE_MAX, i);
		assert_value(fs, ino, name, big, VALUE_MAX);
	}
	/* room again after a removal */
	g_assert_cmpint(pm_fs_removexattr(fs, ino, "user.big1"), ==, 0);
	unit_pattern(big, 0, VALUE_MAX, 3);
	set(fs, ino, "user.big3", big, VALUE_MAX);
	assert_value(fs, ino, "user.big3", big, VALUE_MAX);
	unit_assert_blocks(fs, ino);
	/* a full blob on one inode does not limit another */
	uint64_t other = unit_create(fs, PM_ROOT_INO, "g", S_IFREG | 0644);
	set(fs, other, "user.big0", big, VALUE_MAX);
	unit_assert_reopen_stable(p);
	unit_pool_free(p);
}

static void test_space_accounting(void)
{
	struct unit_pool *p = unit_pool_new(8 * UNIT_MiB, 0);
	struct pm_fs *fs = p->fs;
	uint64_t keep = unit_create(fs, PM_ROOT_INO, "keep", S_IFREG | 0644); /* the root's block */
	uint64_t ino = unit_create(fs, PM_ROOT_INO, "f", S_IFREG | 0644);
	uint64_t b0 = bfree(fs), b1;
	g_autofree uint8_t *v = g_malloc(10000);

	unit_pattern(v, 0, 10000, 1);
	set(fs, ino, "user.v", v, 10000); /* 3 blocks */
	b1 = bfree(fs);
	g_assert_cmpuint(b1, ==, b0 - 3);
	/* replacing values many times leaks nothing (copy-on-write blobs) */
	for (unsigned i = 0; i < 200; i++) {
		v[0] = (uint8_t)i;
		set(fs, ino, "user.v", v, 10000);
		set(fs, ino, "user.w", "w", 1);
		g_assert_cmpint(pm_fs_removexattr(fs, ino, "user.w"), ==, 0);
	}
	g_assert_cmpuint(bfree(fs), ==, b1);
	unit_assert_blocks(fs, ino);
	/* the blob goes with the inode */
	g_assert_cmpint(pm_fs_unlink(fs, PM_ROOT_INO, "f"), ==, 0);
	g_assert_cmpuint(bfree(fs), ==, b0);
	g_assert_cmpuint(unit_lookup(fs, PM_ROOT_INO, "keep"), ==, keep);
	unit_assert_reopen_stable(p);
	unit_pool_free(p);
}

static void test_free_inode(void)
{
	struct unit_pool *p = unit_pool_new(8 * UNIT_MiB, 0);
	struct pm_fs *fs = p->fs;
	uint64_t ino = unit_create(fs, PM_ROOT_INO, "f", S_IFREG | 0644), b0;
	char buf[16];

	g_assert_cmpint(pm_fs_unlink(fs, PM_ROOT_INO, "f"), ==, 0);
	b0 = bfree(fs);
	/* a free inode number has no attributes and cannot get any */
	g_assert_cmpint(pm_fs_setxattr(fs, ino, "user.x", "v", 1, 0), ==, -ENOENT);
	g_assert_cmpint(pm_fs_getxattr(fs, ino, "user.x", buf, sizeof(buf)), ==, -ENOENT);
	g_assert_cmpint(pm_fs_listxattr(fs, ino, buf, sizeof(buf)), ==, -ENOENT);
	g_assert_cmpint(pm_fs_removexattr(fs, ino, "user.x"), ==, -ENOENT);
	g_assert_cmpuint(bfree(fs), ==, b0);
	unit_pool_free(p);
}

/* inode numbers out of range must be refused, not used as an index */
static void test_bad_inode_numbers(void)
{
	struct unit_pool *p = unit_pool_new(8 * UNIT_MiB, 0);
	struct pm_fs *fs = p->fs;
	uint64_t bad[] = { 0, fs->sb.inode_count + 1, 1ull << 40, UINT64_MAX };
	char buf[16];

	for (unsigned i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_test_message("inode %" G_GUINT64_FORMAT, bad[i]);
		g_assert_cmpint(pm_fs_getxattr(fs, bad[i], "user.x", buf, sizeof(buf)), ==, -ENOENT);
		g_assert_cmpint(pm_fs_listxattr(fs, bad[i], buf, sizeof(buf)), ==, -ENOENT);
		g_assert_cmpint(pm_fs_setxattr(fs, bad[i], "user.x", "v", 1, 0), ==, -ENOENT);
		g_assert_cmpint(pm_fs_removexattr(fs, bad[i], "user.x"), ==, -ENOENT);
	}
	unit_pool_free(p);
}

int main(int argc, char **argv)
{
	unit_init(&argc, &argv);
	unit_add("/xattr/set-get-list-remove", test_set_get_list_remove);
	unit_add("/xattr/create-replace", test_create_replace);
	unit_add("/xattr/erange", test_erange);
	unit_add("/xattr/e2big", test_e2big);
	unit_add("/xattr/namespaces", test_namespaces);
	unit_add("/xattr/persist", test_persist);
	unit_add("/xattr/blob-full", test_blob_full);
	unit_add("/xattr/space-accounting", test_space_accounting);
	unit_add("/xattr/free-inode", test_free_inode);
	unit_add("/xattr/bad-inode-numbers", test_bad_inode_numbers);
	return g_test_run();
}
