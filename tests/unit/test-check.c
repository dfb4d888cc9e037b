/* test-check.c -- the consistency checker: fresh and used pools check
 * clean; each kind of damage is found by a check that changes nothing,
 * repaired by a repair, after which the pool checks clean and mounts;
 * random damage never crashes the checker */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "crc.h"
#include "media.h"
#include "super.h"
#include "unit.h"

#define POOL_SIZE (16 * UNIT_MiB)
#define FUZZ_ROUNDS 150

/* ---- running the checker ------------------------------------------------ */

static GPtrArray *lines; /* problem lines of the last check */

static void collect(void *arg, enum pm_check_level level, const char *msg)
{
	(void)arg;
	if (level == PM_CHECK_PROBLEM) {
		g_ptr_array_add(lines, g_strdup(msg));
		if (g_getenv("PMFUSE_CHECK_SHOW")) /* to see them: the tests run in subprocesses */
			g_printerr("# fsck: %s\n", msg);
	}
}

/* check -- pm_check that must run to its end */
static struct pm_check_result check(const char *path, enum pm_check_mode mode, unsigned flags)
{
	struct pm_check_opts o = { .mode = mode, .flags = flags, .report = collect };
	struct pm_check_result r;
	int ret;

	if (lines)
		g_ptr_array_free(lines, TRUE);
	lines = g_ptr_array_new_with_free_func(g_free);
	ret = pm_check(path, &o, &r);
	if (ret)
		g_error("pm_check(%s, mode %d): %d %s", path, mode, ret, pm_errmsg());
	g_assert_cmpuint(r.fixed + r.left, ==, r.errors);
	return r;
}

static void assert_logged(const char *needle)
{
	for (guint i = 0; i < lines->len; i++)
		if (strstr(g_ptr_array_index(lines, i), needle))
			return;
	for (guint i = 0; i < lines->len; i++)
		g_printerr("  problem: %s\n", (const char *)g_ptr_array_index(lines, i));
	g_error("no problem line contains \"%s\"", needle);
}

static void assert_clean(const char *path)
{
	struct pm_check_result r = check(path, PM_CHECK_ONLY, 0);

	if (r.errors) {
		for (guint i = 0; i < lines->len; i++)
			g_printerr("  problem: %s\n", (const char *)g_ptr_array_index(lines, i));
		g_error("%s: %" G_GUINT64_FORMAT " errors in a pool that should be clean", path, r.errors);
	}
}

/* pool_bytes -- the whole pool file */
static uint8_t *pool_bytes(const char *path, uint64_t size)
{
	uint8_t *b = g_malloc(size);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	uint64_t got = 0;

	g_assert_cmpint(fd, >=, 0);
	while (got < size) {
		ssize_t n = pread(fd, b + got, size - got, (off_t)got);
		g_assert_cmpint(n, >, 0);
		got += (uint64_t)n;
	}
	close(fd);
	return b;
}

static void assert_same_bytes(const uint8_t *a, const uint8_t *b, uint64_t size)
{
	for (uint64_t i = 0; i < size; i++)
		if (a[i] != b[i])
			g_error("a check-only run changed the pool at byte %" G_GUINT64_FORMAT
				" (block %" G_GUINT64_FORMAT ")", i, i / PM_BLOCK_SIZE);
}

/* ---- the raw pool ------------------------------------------------------- */

struct raw {
	struct pm_media *m;
	uint8_t *base;
	struct pm_super sb;
};

static void raw_open(const char *path, struct raw *r)
{
	r->base = unit_map_pool(path, &r->m);
	memcpy(&r->sb, r->base, sizeof(r->sb));
}

static void raw_close(struct raw *r)
{
	unit_unmap_pool(&r->m);
}

static struct pm_dinode *rino(struct raw *r, uint64_t ino)
{
	return (struct pm_dinode *)(r->base + r->sb.itable_start * PM_BLOCK_SIZE) + ino - 1;
}

static void *rblk(struct raw *r, uint64_t b)
{
	return r->base + b * PM_BLOCK_SIZE;
}

/* rmap -- the block of file block lblk (0: hole) */
static uint64_t rmap(struct raw *r, uint64_t ino, uint64_t lblk)
{
	struct pm_dinode *di = rino(r, ino);
	uint64_t b = di->root;

	for (unsigned h = di->height; h > 0 && b; h--)
		b = ((uint64_t *)rblk(r, b))[(lblk >> (9 * (h - 1))) & 511];
	return b;
}

static struct pm_dirent *rdirent(struct raw *r, uint64_t dir, const char *name)
{
	size_t len = strlen(name);

	for (uint64_t b = 0; b < rino(r, dir)->size / PM_BLOCK_SIZE; b++) {
		uint64_t p = rmap(r, dir, b);
		struct pm_dirent *d = p ? rblk(r, p) : NULL;
		for (unsigned s = 0; d && s < 64; s += d[s].nslots ? d[s].nslots : 1)
			if (d[s].ino && d[s].name_len == len &&
			    memcmp((uint8_t *)&d[s] + offsetof(struct pm_dirent, name), name, len) == 0)
				return &d[s];
	}
	g_error("no entry \"%s\" in directory %" G_GUINT64_FORMAT, name, dir);
}

/* raw_add_entry -- a one-slot entry in the first free run of the
 * directory's first block */
static void raw_add_entry(struct raw *r, uint64_t dir, const char *name, uint64_t ino, uint8_t type)
{
	struct pm_dirent *d = rblk(r, rmap(r, dir, 0));

	g_assert_cmpuint(strlen(name), <=, 48);
	for (unsigned s = 0; s < 64; s += d[s].nslots ? d[s].nslots : 1) {
		unsigned n = d[s].nslots ? d[s].nslots : 1;
		if (d[s].ino)
			continue;
		if (n > 1) {
			memset(&d[s + 1], 0, 16);
			d[s + 1].nslots = (uint8_t)(n - 1);
		}
		d[s].nslots = 1;
		d[s].type = type;
		d[s].name_len = (uint16_t)strlen(name);
		memcpy(d[s].name, name, strlen(name));
		d[s].ino = ino;
		return;
	}
	g_error("no free slot in directory %" G_GUINT64_FORMAT, dir);
}

/* raw_jrec -- log the current bytes [off, off + len) in lane (which
 * becomes ACTIVE with seq), at *at of the lane */
static void raw_jrec(struct raw *r, unsigned lane, uint64_t seq, uint64_t *at, uint64_t off, uint32_t len)
{
	uint64_t lane_bytes = r->sb.journal_blocks * PM_BLOCK_SIZE / PM_JOURNAL_LANES;
	uint8_t *lb = r->base + r->sb.journal_start * PM_BLOCK_SIZE + lane * lane_bytes;
	struct pm_lane_hdr *h = (struct pm_lane_hdr *)lb;
	struct pm_jrec *rec = (struct pm_jrec *)(lb + *at), hh;

	h->state = PM_LANE_ACTIVE;
	h->seq = seq;
	rec->seq = seq;
	rec->off = off;
	rec->len = len;
	memcpy(rec + 1, r->base + off, len);
	hh = *rec;
	hh.crc = 0;
	rec->crc = pm_crc32c(pm_crc32c(0, &hh, sizeof(hh)), rec + 1, len);
	*at += (sizeof(*rec) + len + 7) & ~(uint64_t)7;
}

/* ---- a pool with some of everything ------------------------------------- */

struct wl {
	uint64_t one, two, small, a, b, big, sparse, sl, ll, fifo, null, xa, many, kept, c, d, x;
};

static uint64_t mk_symlink(struct pm_fs *fs, uint64_t dir, const char *name, const char *target)
{
	struct pm_attr a;
	int ret = pm_fs_symlink(fs, dir, name, target, &unit_cred, &a);

	if (ret)
		g_error("pm_fs_symlink(%s): %d %s", name, ret, pm_errmsg());
	pm_fs_forget(fs, a.ino, 1);
	return a.ino;
}

static void set_xattr(struct pm_fs *fs, uint64_t ino, const char *name, const void *v, size_t len)
{
	int ret = pm_fs_setxattr(fs, ino, name, v, len, 0);

	if (ret)
		g_error("pm_fs_setxattr(%s): %d %s", name, ret, pm_errmsg());
}

static struct unit_pool *workload(struct wl *w)
{
	struct unit_pool *p = unit_pool_new(POOL_SIZE, 0);
	struct pm_fs *fs = p->fs;
	g_autofree char *target = g_strnfill(3000, 'y');
	g_autofree uint8_t *big = g_malloc(6000);
	struct pm_attr a;

	memset(w, 0, sizeof(*w));
	w->one = unit_create(fs, 1, "one", S_IFREG | 0644);
	unit_write_pattern(fs, w->one, 0, PM_BLOCK_SIZE, 1);
	w->two = unit_create(fs, 1, "two", S_IFREG | 0644);
	unit_write_pattern(fs, w->two, 0, PM_BLOCK_SIZE, 2);
	w->small = unit_create(fs, 1, "small", S_IFREG | 0644);
	unit_write_pattern(fs, w->small, 0, 100, 3);
	w->a = unit_create(fs, 1, "a", S_IFDIR | 0755);
	w->b = unit_create(fs, w->a, "b", S_IFDIR | 0755);
	w->big = unit_create(fs, w->a, "big", S_IFREG | 0644);
	unit_write_pattern(fs, w->big, 0, 2600 * 1024, 4); /* 650 blocks: height 2 */
	w->sparse = unit_create(fs, w->b, "sparse", S_IFREG | 0644);
	unit_write_pattern(fs, w->sparse, 1ull << 30, 5000, 5); /* height 3 */
	g_assert_cmpint(pm_fs_link(fs, w->small, w->a, "small-link", &a), ==, 0);
	pm_fs_forget(fs, a.ino, 1);
	w->sl = mk_symlink(fs, 1, "sl", "small");
	target[100] = '/';
	w->ll = mk_symlink(fs, w->a, "long-link", target);
	w->fifo = unit_create(fs, 1, "fifo", S_IFIFO | 0644);
	g_assert_cmpint(pm_fs_mknod(fs, w->a, "null", S_IFCHR | 0666, makedev(1, 3), &unit_cred, &a), ==, 0);
	w->null = a.ino;
	pm_fs_forget(fs, a.ino, 1);
	w->xa = unit_create(fs, 1, "xa", S_IFREG | 0644);
	unit_pattern(big, 0, 6000, 6);
	set_xattr(fs, w->xa, "user.a", "1", 1);
	set_xattr(fs, w->xa, "user.big", big, 6000); /* a blob of 2 blocks */
	set_xattr(fs, w->xa, "trusted.t", "value", 5);
	set_xattr(fs, w->a, "user.on-a-dir", "d", 1);
	w->many = unit_create(fs, 1, "many", S_IFDIR | 0755);
	for (unsigned i = 0; i < 150; i++) {
		g_autofree char *pad = g_strnfill((i * 37) % 200, 'a' + (char)(i % 26));
		g_autofree char *name = g_strdup_printf("entry-%03u-%s", i, pad);
		uint64_t ino = unit_create(fs, w->many, name, i % 10 == 0 ? S_IFDIR | 0755 : S_IFREG | 0600);
		if (i % 7 == 0 && i % 10 != 0)
			unit_write_pattern(fs, ino, 0, 10, i);
	}
	for (unsigned i = 0; i < 150; i += 3) {
		g_autofree char *pad = g_strnfill((i * 37) % 200, 'a' + (char)(i % 26));
		g_autofree char *name = g_strdup_printf("entry-%03u-%s", i, pad);
		int ret = i % 10 == 0 ? pm_fs_rmdir(fs, w->many, name) : pm_fs_unlink(fs, w->many, name);
		g_assert_cmpint(ret, ==, 0);
	}
	w->kept = unit_create(fs, 1, "kept", S_IFREG | 0644);
	unit_write_pattern(fs, w->kept, 0, 10, 7);
	g_assert_cmpint(pm_fs_fallocate(fs, w->kept, FALLOC_FL_KEEP_SIZE, 0, 5 * PM_BLOCK_SIZE), ==, 0);
	w->c = unit_create(fs, 1, "c", S_IFDIR | 0755);
	w->d = unit_create(fs, w->c, "d", S_IFDIR | 0755);
	w->x = unit_create(fs, w->d, "x", S_IFREG | 0644);
	unit_create(fs, 1, "tmp", S_IFREG | 0644);
	g_assert_cmpint(pm_fs_rename(fs, 1, "tmp", w->a, "renamed", 0), ==, 0);
	unit_pool_close(p);
	return p;
}

/* ---- walking a mounted pool --------------------------------------------- */

struct dent {
	char *name;
	uint64_t ino;
	uint32_t type;
};

static int collect_dent(void *arg, const char *name, uint64_t ino, uint32_t type, uint64_t next)
{
	struct dent d = { g_strdup(name), ino, type };

	(void)next;
	g_array_append_val((GArray *)arg, d);
	return 0;
}

static void dent_clear(gpointer p)
{
	g_free(((struct dent *)p)->name);
}

/* walk -- everything below dir answers without error and agrees: types,
 * "..", link counts, block counts; returns the inodes seen */
static uint64_t walk(struct pm_fs *fs, uint64_t dir, uint64_t parent, unsigned depth)
{
	g_autoptr(GArray) v = g_array_new(FALSE, FALSE, sizeof(struct dent));
	struct pm_attr da;
	uint64_t seen = 1;
	uint32_t subdirs = 0;
	int ret;

	g_assert_cmpuint(depth, <, 64);
	g_array_set_clear_func(v, dent_clear);
	if ((ret = pm_fs_readdir(fs, dir, 0, collect_dent, v)))
		g_error("readdir(%" G_GUINT64_FORMAT "): %d %s", dir, ret, pm_errmsg());
	unit_attr(fs, dir, &da);
	for (guint i = 0; i < v->len; i++) {
		struct dent *d = &g_array_index(v, struct dent, i);
		struct pm_attr a;
		char buf[PM_BLOCK_SIZE];

		if (strcmp(d->name, ".") == 0)
			continue;
		if (strcmp(d->name, "..") == 0) {
			g_assert_cmpuint(d->ino, ==, parent);
			continue;
		}
		if ((ret = pm_fs_lookup(fs, dir, d->name, &a)))
			g_error("lookup(%" G_GUINT64_FORMAT ", %s): %d %s", dir, d->name, ret, pm_errmsg());
		pm_fs_forget(fs, a.ino, 1);
		g_assert_cmpuint(a.ino, ==, d->ino);
		g_assert_cmpuint(d->type, ==, (a.mode & S_IFMT) >> 12);
		unit_assert_blocks(fs, a.ino);
		if (pm_fs_listxattr(fs, a.ino, NULL, 0) < 0)
			g_error("listxattr(%" G_GUINT64_FORMAT "): %s", a.ino, pm_errmsg());
		if (S_ISDIR(a.mode)) {
			subdirs++;
			seen += walk(fs, a.ino, dir, depth + 1);
			continue;
		}
		seen++;
		if (S_ISLNK(a.mode)) {
			g_assert_cmpint(pm_fs_readlink(fs, a.ino, buf, sizeof(buf)), >, 0);
		} else if (S_ISREG(a.mode)) {
			g_autofree uint8_t *data = g_malloc(64 * 1024);
			uint64_t n = a.size < 64 * 1024 ? a.size : 64 * 1024;
			g_assert_cmpuint(unit_read(fs, a.ino, 0, n, data), ==, n);
			g_assert_cmpuint(unit_read(fs, a.ino, a.size - n, n, data), ==, n);
		}
	}
	g_assert_cmpuint(da.nlink, ==, 2 + subdirs);
	return seen;
}

/* assert_mounts -- the engine opens the pool and reads all of it */
static void assert_mounts(struct unit_pool *p)
{
	struct pm_statfs st;

	unit_pool_open(p);
	walk(p->fs, PM_ROOT_INO, PM_ROOT_INO, 0);
	unit_statfs(p->fs, &st);
	unit_assert_reopen_stable(p);
}

/* ---- clean pools -------------------------------------------------------- */

static void test_fresh(void)
{
	struct unit_pool *p = unit_pool_new(8 * UNIT_MiB, 0);
	struct pm_check_result r;

	unit_pool_close(p);
	r = check(p->path, PM_CHECK_ONLY, 0);
	g_assert_cmpuint(r.errors, ==, 0);
	g_assert_cmpuint(r.inodes, ==, 1);
	g_assert_cmpuint(r.dirs, ==, 1);
	g_assert_cmpuint(r.blocks_used, ==, 0);
	g_assert_cmpuint(r.inode_count, ==, 1024);
	g_assert_true(r.was_clean);
	r = check(p->path, PM_CHECK_REPAIR, 0);
	g_assert_cmpuint(r.errors, ==, 0);
	r = check(p->path, PM_CHECK_PREEN, 0);
	g_assert_cmpuint(r.errors, ==, 0);
	g_assert_false(r.preen_refused);
	assert_mounts(p);
	unit_pool_free(p);
}

static void test_workload_clean(void)
{
	struct wl w;
	struct unit_pool *p = workload(&w);
	g_autofree uint8_t *before = pool_bytes(p->path, p->size), *after = NULL;
	struct pm_check_result r = check(p->path, PM_CHECK_ONLY, 0);

	g_assert_cmpuint(r.errors, ==, 0);
	g_assert_cmpuint(r.files, ==, 99);
	g_assert_cmpuint(r.symlinks, ==, 2);
	g_assert_cmpuint(r.specials, ==, 2);
	g_assert_cmpuint(r.dirs, ==, 16);
	/* a repair of a clean pool changes nothing */
	r = check(p->path, PM_CHECK_REPAIR, 0);
	g_assert_cmpuint(r.errors, ==, 0);
	after = pool_bytes(p->path, p->size);
	assert_same_bytes(before, after, p->size);
	r = check(p->path, PM_CHECK_ONLY, PM_CHECK_NO_COW);
	g_assert_cmpuint(r.errors, ==, 0);
	/* the block count agrees with the engine's */
	unit_pool_open(p);
	struct pm_statfs st;
	unit_statfs(p->fs, &st);
	g_assert_cmpuint(r.blocks_used, ==, st.blocks - st.bfree);
	g_assert_cmpuint(r.inodes, ==, st.files - st.ffree);
	unit_pool_close(p);
	assert_clean(p->path);
	unit_pool_free(p);
}

/* a crash (no close) leaves a DIRTY pool that is nonetheless consistent */
static void crash_after_work(void *arg)
{
	struct unit_pool *p = arg;

	unit_pool_open(p);
	unit_write_pattern(p->fs, unit_create(p->fs, 1, "late", S_IFREG | 0644), 0, 9000, 9);
	unit_create(p->fs, 1, "late-dir", S_IFDIR | 0700);
}

static void test_unclean_but_consistent(void)
{
	struct wl w;
	struct unit_pool *p = workload(&w);
	struct pm_check_result r;

	unit_in_child(crash_after_work, p);
	r = check(p->path, PM_CHECK_ONLY, 0);
	g_assert_false(r.was_clean);
	/* the size of a file written without fsync may lag behind its blocks,
	 * which is allowed; nothing else may be wrong */
	g_assert_cmpuint(r.errors, ==, 0);
	r = check(p->path, PM_CHECK_REPAIR, 0);
	g_assert_cmpuint(r.errors, ==, 0);
	r = check(p->path, PM_CHECK_ONLY, 0);
	g_assert_true(r.was_clean); /* the repair marked it clean */
	assert_mounts(p);
	unit_pool_free(p);
}

/* ---- operational errors ------------------------------------------------- */

static void test_mounted(void)
{
	struct unit_pool *p = unit_pool_new(8 * UNIT_MiB, 0);
	struct pm_check_opts o = { .mode = PM_CHECK_REPAIR };
	struct pm_check_result r;

	g_assert_cmpint(pm_check(p->path, &o, &r), ==, -EBUSY);
	unit_errmsg_has("is mounted (locked");
	o.mode = PM_CHECK_ONLY;
	g_assert_cmpint(pm_check(p->path, &o, &r), ==, -EBUSY);
	o.mode = PM_CHECK_PREEN;
	g_assert_cmpint(pm_check(p->path, &o, &r), ==, -EBUSY);
	unit_pool_free(p);
}

static void test_not_a_pool(void)
{
	g_autofree char *path = unit_pool_file(8 * UNIT_MiB);
	struct pm_check_opts o = { .mode = PM_CHECK_REPAIR };
	struct pm_check_result r;
	struct raw raw;

	g_assert_cmpint(pm_check(path, &o, &r), <, 0);
	unit_errmsg_has("not a pmfuse pool");
	g_assert_cmpint(pm_check("/nonexistent/pool", &o, &r), ==, -ENOENT);
	unit_errmsg_has("cannot open");

	/* both superblocks damaged: nothing to go by */
	unit_pool_format(path, 8 * UNIT_MiB, 0);
	raw_open(path, &raw);
	raw.base[100] ^= 1;
	raw.base[PM_BLOCK_SIZE + 100] ^= 1;
	raw_close(&raw);
	g_assert_cmpint(pm_check(path, &o, &r), ==, -EUCLEAN);
	unit_errmsg_has("backup superblock is not usable either");
}

static void test_truncated(void)
{
	struct unit_pool *p = unit_pool_new(8 * UNIT_MiB, 0);
	struct pm_check_opts o = { .mode = PM_CHECK_ONLY };
	struct pm_check_result r;
	int fd;

	unit_pool_close(p);
	fd = open(p->path, O_RDWR | O_CLOEXEC);
	g_assert_cmpint(ftruncate(fd, 4 * UNIT_MiB), ==, 0);
	close(fd);
	g_assert_cmpint(pm_check(p->path, &o, &r), <, 0);
	unit_errmsg_has("too short");
	unit_pool_free(p);
}

/* ---- damage, one kind at a time ----------------------------------------- */

struct damage {
	void (*fn)(struct unit_pool *p, struct wl *w, struct raw *r);
	const char *expect;      /* in a problem line, of the check and of the repair */
	bool unsafe;             /* preen refuses it */
	void (*after)(struct unit_pool *p, struct wl *w); /* pool open, repaired */
};

static void run_damage(const struct damage *d)
{
	struct wl w;
	struct unit_pool *p = workload(&w);
	g_autofree uint8_t *before = NULL, *after = NULL;
	struct pm_check_result r;
	struct raw raw;

	raw_open(p->path, &raw);
	d->fn(p, &w, &raw);
	raw_close(&raw);
	before = pool_bytes(p->path, p->size);

	/* check only: found, changes nothing */
	r = check(p->path, PM_CHECK_ONLY, 0);
	g_assert_cmpuint(r.errors, >=, 1);
	g_assert_cmpuint(r.fixed, ==, 0);
	assert_logged(d->expect);
	r = check(p->path, PM_CHECK_ONLY, PM_CHECK_NO_COW);
	g_assert_cmpuint(r.errors, >=, 1);
	after = pool_bytes(p->path, p->size);
	assert_same_bytes(before, after, p->size);
	g_clear_pointer(&after, g_free);

	/* preen: repairs what is safe, or changes nothing */
	if (d->unsafe) {
		r = check(p->path, PM_CHECK_PREEN, 0);
		g_assert_true(r.preen_refused);
		g_assert_cmpuint(r.fixed, ==, 0);
		g_assert_cmpuint(r.left, >=, 1);
		after = pool_bytes(p->path, p->size);
		assert_same_bytes(before, after, p->size);
		r = check(p->path, PM_CHECK_REPAIR, 0);
	} else {
		r = check(p->path, PM_CHECK_PREEN, 0);
		g_assert_false(r.preen_refused);
	}
	g_assert_cmpuint(r.errors, >=, 1);
	g_assert_cmpuint(r.fixed, ==, r.errors);
	g_assert_cmpuint(r.left, ==, 0);
	assert_logged(d->expect);

	assert_clean(p->path);
	assert_mounts(p);
	if (d->after)
		d->after(p, &w);
	unit_pool_free(p);
}

static uint64_t lookup_path(struct pm_fs *fs, const char *path)
{
	g_auto(GStrv) parts = g_strsplit(path, "/", -1);
	uint64_t ino = PM_ROOT_INO;

	for (guint i = 0; parts[i] && ino; i++)
		if (*parts[i])
			ino = unit_lookup(fs, ino, parts[i]);
	return ino;
}

/* lost -- the inode /lost+found/#ino, which must exist */
static void assert_lost(struct pm_fs *fs, uint64_t ino)
{
	g_autofree char *path = g_strdup_printf("lost+found/#%" G_GUINT64_FORMAT, ino);

	g_assert_cmpuint(lookup_path(fs, path), ==, ino);
}

/* wrong link counts, on a file and on a directory */
static void dmg_nlink(struct unit_pool *p, struct wl *w, struct raw *r)
{
	rino(r, w->one)->nlink = 7;
	rino(r, w->a)->nlink = 9;
	rino(r, w->small)->nlink = 1; /* it has two names */
}

static void after_nlink(struct unit_pool *p, struct wl *w)
{
	struct pm_attr a;

	unit_attr(p->fs, w->one, &a);
	g_assert_cmpuint(a.nlink, ==, 1);
	unit_attr(p->fs, w->a, &a);
	g_assert_cmpuint(a.nlink, ==, 3);
	unit_attr(p->fs, w->small, &a);
	g_assert_cmpuint(a.nlink, ==, 2);
	unit_assert_pattern(p->fs, w->one, 0, PM_BLOCK_SIZE, 1);
}

/* an entry naming a free inode (and the file it named loses its name) */
static void dmg_free_inode(struct unit_pool *p, struct wl *w, struct raw *r)
{
	rdirent(r, PM_ROOT_INO, "two")->ino = r->sb.inode_count - 3;
}

static void after_free_inode(struct unit_pool *p, struct wl *w)
{
	g_assert_cmpuint(unit_lookup(p->fs, PM_ROOT_INO, "two"), ==, 0);
	assert_lost(p->fs, w->two);
	unit_assert_pattern(p->fs, w->two, 0, PM_BLOCK_SIZE, 2);
}

static void dmg_type(struct unit_pool *p, struct wl *w, struct raw *r)
{
	rdirent(r, PM_ROOT_INO, "one")->type = DT_FIFO;
	rdirent(r, w->a, "b")->type = DT_REG;
}

static void after_type(struct unit_pool *p, struct wl *w)
{
	unit_assert_pattern(p->fs, w->one, 0, PM_BLOCK_SIZE, 1);
	g_assert_cmpuint(lookup_path(p->fs, "a/b/sparse"), ==, w->sparse);
}

/* two owns one's data block too: two (claimed later) loses it */
static void dmg_owned_twice(struct unit_pool *p, struct wl *w, struct raw *r)
{
	rino(r, w->two)->root = rino(r, w->one)->root;
}

static void after_owned_twice(struct unit_pool *p, struct wl *w)
{
	struct pm_attr a;

	unit_assert_pattern(p->fs, w->one, 0, PM_BLOCK_SIZE, 1);
	unit_assert_zero(p->fs, w->two, 0, PM_BLOCK_SIZE);
	unit_attr(p->fs, w->two, &a);
	g_assert_cmpuint(a.blocks, ==, 0);
}

/* a pointer out of bounds inside big's tree, and a root out of bounds */
static void dmg_out_of_bounds(struct unit_pool *p, struct wl *w, struct raw *r)
{
	uint64_t *top = rblk(r, rino(r, w->big)->root);
	uint64_t *leaf = rblk(r, top[0]);

	g_assert_cmpuint(rino(r, w->big)->height, ==, 2);
	leaf[3] = r->sb.total_blocks + 5;
	rino(r, w->small)->root = 1ull << 40;
}

static void after_out_of_bounds(struct unit_pool *p, struct wl *w)
{
	unit_assert_pattern(p->fs, w->big, 0, 3 * PM_BLOCK_SIZE, 4);
	unit_assert_zero(p->fs, w->big, 3 * PM_BLOCK_SIZE, PM_BLOCK_SIZE);
	unit_assert_pattern(p->fs, w->big, 4 * PM_BLOCK_SIZE, 2600 * 1024 - 4 * PM_BLOCK_SIZE, 4);
	unit_assert_zero(p->fs, w->small, 0, 100);
}

static void dmg_height(struct unit_pool *p, struct wl *w, struct raw *r)
{
	rino(r, w->one)->height = 9;
}

static void after_height(struct unit_pool *p, struct wl *w)
{
	unit_assert_zero(p->fs, w->one, 0, PM_BLOCK_SIZE);
}

/* an orphan: a file unlinked while open when the daemon died */
static void make_orphan(void *arg)
{
	struct unit_pool *p = arg;
	struct pm_attr a;

	unit_pool_open(p);
	g_assert_cmpint(pm_fs_mknod(p->fs, PM_ROOT_INO, "doomed", S_IFREG | 0600, 0, &unit_cred, &a), ==, 0);
	unit_write_pattern(p->fs, a.ino, 0, 3 * PM_BLOCK_SIZE, 8);
	set_xattr(p->fs, a.ino, "user.x", "y", 1);
	g_assert_cmpint(pm_fs_unlink(p->fs, PM_ROOT_INO, "doomed"), ==, 0);
	/* still referenced: the inode stays, with link count 0 */
}

static uint64_t orphan_ino;

static void dmg_orphan(struct unit_pool *p, struct wl *w, struct raw *r)
{
	unit_in_child(make_orphan, p);
	orphan_ino = 0;
	for (uint64_t i = 2; i <= r->sb.inode_count; i++)
		if (rino(r, i)->mode && rino(r, i)->nlink == 0)
			orphan_ino = i;
	g_assert_cmpuint(orphan_ino, !=, 0);
	g_assert_cmpuint(rino(r, orphan_ino)->blocks, ==, 5); /* 3 data, a node, attributes */
	/* and one left by unlink before its inode was released */
	rino(r, w->x)->nlink = 0;
	rdirent(r, w->d, "x")->ino = 0;
}

static void after_orphan(struct unit_pool *p, struct wl *w)
{
	struct pm_attr a;

	g_assert_cmpint(pm_fs_getattr(p->fs, orphan_ino, &a), ==, -ENOENT);
	g_assert_cmpint(pm_fs_getattr(p->fs, w->x, &a), ==, -ENOENT);
}

/* files and a directory without a name */
static void dmg_unreachable(struct unit_pool *p, struct wl *w, struct raw *r)
{
	rdirent(r, PM_ROOT_INO, "one")->ino = 0;
	rdirent(r, w->a, "b")->ino = 0;
}

static void after_unreachable(struct unit_pool *p, struct wl *w)
{
	struct pm_attr a;

	assert_lost(p->fs, w->one);
	assert_lost(p->fs, w->b);
	unit_assert_pattern(p->fs, w->one, 0, PM_BLOCK_SIZE, 1);
	unit_assert_pattern(p->fs, w->sparse, 1ull << 30, 5000, 5);
	unit_attr(p->fs, w->a, &a);
	g_assert_cmpuint(a.nlink, ==, 2);
	unit_attr(p->fs, lookup_path(p->fs, "lost+found"), &a);
	g_assert_cmpuint(a.mode, ==, S_IFDIR | 0700);
	g_assert_cmpuint(a.nlink, ==, 3);
}

/* a loop of directories that the root does not reach: c in d, d in c */
static void dmg_loop(struct unit_pool *p, struct wl *w, struct raw *r)
{
	raw_add_entry(r, w->d, "c-again", w->c, DT_DIR);
	rdirent(r, PM_ROOT_INO, "c")->ino = 0;
}

static void after_loop(struct unit_pool *p, struct wl *w)
{
	uint64_t lf = lookup_path(p->fs, "lost+found");
	g_autofree char *cname = g_strdup_printf("#%" G_GUINT64_FORMAT, w->c);
	g_autofree char *dname = g_strdup_printf("#%" G_GUINT64_FORMAT, w->d);

	g_assert_cmpuint(lf, !=, 0);
	g_assert_true(unit_lookup(p->fs, lf, cname) == w->c || unit_lookup(p->fs, lf, dname) == w->d);
}

/* a directory with a second name; a name repeated in a directory */
static void dmg_names(struct unit_pool *p, struct wl *w, struct raw *r)
{
	struct pm_dirent *two = rdirent(r, PM_ROOT_INO, "two");

	raw_add_entry(r, w->c, "a-again", w->a, DT_DIR);
	memcpy(two->name, "one", 3); /* the later "one" goes, two loses its name */
	two->type = DT_REG;
}

static void after_names(struct unit_pool *p, struct wl *w)
{
	g_assert_cmpuint(lookup_path(p->fs, "a"), ==, w->a);
	g_assert_cmpuint(lookup_path(p->fs, "c/a-again"), ==, 0);
	g_assert_cmpuint(lookup_path(p->fs, "one"), ==, w->one);
	assert_lost(p->fs, w->two);
}

/* a bad name length, a '/' in a name, an entry running past its block */
static void dmg_entries(struct unit_pool *p, struct wl *w, struct raw *r)
{
	struct pm_dirent *d = rblk(r, rmap(r, w->c, 0));

	rdirent(r, PM_ROOT_INO, "kept")->name_len = 0;
	rdirent(r, w->a, "renamed")->name[2] = '/';
	g_assert_cmpuint(d[0].ino, ==, w->d);
	g_assert_cmpuint(d[1].ino, ==, 0);
	d[1].nslots = 200; /* the free run after "d" */
}

static void after_entries(struct unit_pool *p, struct wl *w)
{
	g_assert_cmpuint(lookup_path(p->fs, "kept"), ==, 0);
	assert_lost(p->fs, w->kept);
	g_assert_cmpuint(lookup_path(p->fs, "c/d/x"), ==, w->x);
}

static void dmg_xattr(struct unit_pool *p, struct wl *w, struct raw *r)
{
	struct pm_xattr_rec *rec = rblk(r, rino(r, w->xa)->xattr_block);

	rec->name_len = 0;
	rino(r, w->a)->xattr_blocks = 100;
}

static void after_xattr(struct unit_pool *p, struct wl *w)
{
	g_assert_cmpint(pm_fs_listxattr(p->fs, w->xa, NULL, 0), ==, 0);
	g_assert_cmpint(pm_fs_listxattr(p->fs, w->a, NULL, 0), ==, 0);
}

/* counts and sizes: blocks, directory size, symlink size */
static void dmg_counts(struct unit_pool *p, struct wl *w, struct raw *r)
{
	rino(r, w->big)->blocks += 3;
	rino(r, w->many)->size += 2 * PM_BLOCK_SIZE;
	rino(r, w->sl)->size = 0;
}

static void after_counts(struct unit_pool *p, struct wl *w)
{
	char buf[64];

	g_assert_cmpint(pm_fs_readlink(p->fs, w->sl, buf, sizeof(buf)), ==, 5);
	g_assert_cmpstr(buf, ==, "small");
}

/* directories whose size is below their blocks (a directory block left
 * attached while the size went down): the size is set to where the blocks
 * end, and the entries in them are found again */
static void dmg_dir_short(struct unit_pool *p, struct wl *w, struct raw *r)
{
	g_assert_cmpuint(rino(r, w->c)->size, ==, PM_BLOCK_SIZE);
	rino(r, w->c)->size = 0;
	g_assert_cmpuint(rino(r, w->many)->size, >, 2 * PM_BLOCK_SIZE);
	rino(r, w->many)->size = PM_BLOCK_SIZE;
}

static void after_dir_short(struct unit_pool *p, struct wl *w)
{
	struct pm_attr a;

	g_assert_cmpuint(lookup_path(p->fs, "c/d/x"), ==, w->x);
	unit_attr(p->fs, w->c, &a);
	g_assert_cmpuint(a.size, ==, PM_BLOCK_SIZE);
	for (unsigned i = 0; i < 150; i++) {
		g_autofree char *pad = g_strnfill((i * 37) % 200, 'a' + (char)(i % 26));
		g_autofree char *name = g_strdup_printf("entry-%03u-%s", i, pad);
		g_assert_cmpuint(unit_lookup(p->fs, w->many, name) != 0, ==, i % 3 != 0);
	}
}

/* a symlink without target, an inode of no valid type, a FIFO with blocks */
static void dmg_inodes(struct unit_pool *p, struct wl *w, struct raw *r)
{
	rino(r, w->ll)->root = 0;
	rino(r, w->null)->mode = 0170000 | 0644;
	rino(r, w->fifo)->root = rino(r, w->one)->root;
}

static void after_inodes(struct unit_pool *p, struct wl *w)
{
	g_assert_cmpuint(lookup_path(p->fs, "a/long-link"), ==, 0);
	g_assert_cmpuint(lookup_path(p->fs, "a/null"), ==, 0);
	unit_assert_pattern(p->fs, w->one, 0, PM_BLOCK_SIZE, 1);
}

static void dmg_root(struct unit_pool *p, struct wl *w, struct raw *r)
{
	rino(r, PM_ROOT_INO)->mode = S_IFREG | 0644;
}

static void after_root(struct unit_pool *p, struct wl *w)
{
	assert_lost(p->fs, w->one);
	assert_lost(p->fs, w->a);
	unit_assert_pattern(p->fs, w->big, 0, 2600 * 1024, 4);
}

static void dmg_super(struct unit_pool *p, struct wl *w, struct raw *r)
{
	r->base[200] ^= 0x40; /* a reserved byte: the checksum no longer matches */
}

static void after_super(struct unit_pool *p, struct wl *w)
{
	g_autofree uint8_t *b = pool_bytes(p->path, 2 * PM_BLOCK_SIZE);

	g_assert_cmpmem(b, sizeof(struct pm_super), b + PM_BLOCK_SIZE, sizeof(struct pm_super));
}

static void dmg_backup(struct unit_pool *p, struct wl *w, struct raw *r)
{
	r->base[PM_BLOCK_SIZE + 80] ^= 1;
	*(uint64_t *)(r->base + PM_STATE_OFFSET) = 0x1234;
}

/* an unfinished transaction: its undo records hold one's inode and some of
 * its data; the "new" values are in place. Recovery restores the old. */
static void dmg_journal(struct unit_pool *p, struct wl *w, struct raw *r)
{
	uint64_t at = sizeof(struct pm_lane_hdr);
	uint64_t ioff = (uint64_t)((uint8_t *)rino(r, w->one) - r->base);
	uint64_t doff = rmap(r, w->one, 0) * PM_BLOCK_SIZE + 100;

	raw_jrec(r, 5, 77, &at, ioff, sizeof(struct pm_dinode));
	raw_jrec(r, 5, 77, &at, doff, 200);
	rino(r, w->one)->nlink = 5;
	rino(r, w->one)->size = 123;
	memset(r->base + doff, 0xee, 200);
}

static void after_journal(struct unit_pool *p, struct wl *w)
{
	struct pm_attr a;

	unit_attr(p->fs, w->one, &a);
	g_assert_cmpuint(a.nlink, ==, 1);
	g_assert_cmpuint(a.size, ==, PM_BLOCK_SIZE);
	unit_assert_pattern(p->fs, w->one, 0, PM_BLOCK_SIZE, 1);
}

/* check-only sees the pool as it will be after the roll back: one problem */
static void test_journal_view(void)
{
	struct wl w;
	struct unit_pool *p = workload(&w);
	struct pm_check_result r;
	struct raw raw;

	raw_open(p->path, &raw);
	dmg_journal(p, &w, &raw);
	raw_close(&raw);
	r = check(p->path, PM_CHECK_ONLY, 0);
	g_assert_cmpuint(r.errors, ==, 1);
	g_assert_cmpuint(r.journal_txs, ==, 1);
	assert_logged("journal holds 1 unfinished transaction "
		      "(the next mount or fsck.pmfuse -y rolls it back)");
	r = check(p->path, PM_CHECK_REPAIR, 0);
	g_assert_cmpuint(r.errors, ==, 1);
	g_assert_cmpuint(r.fixed, ==, 1);
	assert_logged("rolled back");
	assert_clean(p->path);
	unit_pool_free(p);
}

static void dmg_lanes(struct unit_pool *p, struct wl *w, struct raw *r)
{
	uint64_t lane_bytes = r->sb.journal_blocks * PM_BLOCK_SIZE / PM_JOURNAL_LANES, at = 64;
	uint8_t *j = r->base + r->sb.journal_start * PM_BLOCK_SIZE;
	struct pm_jrec *rec;

	((struct pm_lane_hdr *)(j + 9 * lane_bytes))->state = 0xdeadbeef;
	/* lane 2: a record that points into the superblock */
	raw_jrec(r, 2, 5, &at, r->sb.itable_start * PM_BLOCK_SIZE, 64);
	rec = (struct pm_jrec *)(j + 2 * lane_bytes + 64);
	rec->off = 0;
	rec->crc = 0;
	struct pm_jrec hh = *rec;
	rec->crc = pm_crc32c(pm_crc32c(0, &hh, sizeof(hh)), rec + 1, rec->len);
}

static void after_lanes(struct unit_pool *p, struct wl *w)
{
	g_autofree uint8_t *b = pool_bytes(p->path, 2 * PM_BLOCK_SIZE);

	g_assert_cmpmem(b, sizeof(struct pm_super), b + PM_BLOCK_SIZE, sizeof(struct pm_super));
}

#define DAMAGE(name, exp, uns)                                                               \
	static void test_##name(void)                                                        \
	{                                                                                    \
		static const struct damage d = { dmg_##name, exp, uns, after_##name };       \
		run_damage(&d);                                                              \
	}

DAMAGE(nlink, "link count", false)
DAMAGE(free_inode, "which is free", true)
DAMAGE(type, "has type", false)
DAMAGE(owned_twice, "owned twice", true)
DAMAGE(out_of_bounds, "outside the data area", true)
DAMAGE(height, "height 9 is invalid", true)
DAMAGE(orphan, "is an orphan", false)
DAMAGE(unreachable, "has no name", true)
DAMAGE(loop, "loop of directories", true)
DAMAGE(names, "second name", true)
DAMAGE(entries, "runs past the end of the block", true)
DAMAGE(xattr, "extended-attribute blob", true)
DAMAGE(counts, "block count", true)
DAMAGE(dir_short, "its blocks end at", false)
DAMAGE(inodes, "has no target", true)
DAMAGE(root, "root inode is not a directory", true)
DAMAGE(super, "primary superblock is damaged", false)
DAMAGE(journal, "unfinished transaction", false)
DAMAGE(lanes, "bad state word", true)

static void after_backup(struct unit_pool *p, struct wl *w)
{
	after_super(p, w);
}
DAMAGE(backup, "backup superblock", false)

/* a primary superblock the engine refuses, repaired from the backup */
static void test_super_refused_then_repaired(void)
{
	struct wl w;
	struct unit_pool *p = workload(&w);
	struct pm_fs *fs;
	struct raw raw;

	raw_open(p->path, &raw);
	dmg_super(p, &w, &raw);
	raw_close(&raw);
	g_assert_cmpint(pm_fs_open(p->path, 0, &fs), ==, -EUCLEAN);
	check(p->path, PM_CHECK_REPAIR, 0);
	assert_mounts(p);
	unit_pool_free(p);
}

/* a second repair finds the existing /lost+found */
static void test_lost_found_reused(void)
{
	struct wl w;
	struct unit_pool *p = workload(&w);
	struct pm_check_result r;
	struct raw raw;

	raw_open(p->path, &raw);
	rdirent(&raw, PM_ROOT_INO, "one")->ino = 0;
	raw_close(&raw);
	r = check(p->path, PM_CHECK_REPAIR, 0);
	g_assert_cmpuint(r.relinked, ==, 1);
	raw_open(p->path, &raw);
	rdirent(&raw, PM_ROOT_INO, "two")->ino = 0;
	raw_close(&raw);
	r = check(p->path, PM_CHECK_REPAIR, 0);
	g_assert_cmpuint(r.relinked, ==, 1);
	assert_clean(p->path);
	assert_mounts(p);
	assert_lost(p->fs, w.one);
	assert_lost(p->fs, w.two);
	unit_pool_free(p);
}

/* the named-orphan path: link count 0, but named */
static void test_named_with_nlink0(void)
{
	struct wl w;
	struct unit_pool *p = workload(&w);
	struct pm_check_result r;
	struct raw raw;

	raw_open(p->path, &raw);
	rino(&raw, w.one)->nlink = 0;
	rino(&raw, w.a)->nlink = 0;
	rino(&raw, w.sl)->nlink = 0;
	rino(&raw, w.sl)->root = 0; /* and without target: freed, its name removed */
	raw_close(&raw);
	r = check(p->path, PM_CHECK_REPAIR, 0);
	g_assert_cmpuint(r.orphans, ==, 0);
	assert_logged("link count is 0");
	assert_logged("has no target");
	assert_clean(p->path);
	assert_mounts(p);
	unit_assert_pattern(p->fs, w.one, 0, PM_BLOCK_SIZE, 1);
	unit_assert_pattern(p->fs, w.big, 0, 2600 * 1024, 4);
	g_assert_cmpuint(lookup_path(p->fs, "sl"), ==, 0);
	unit_pool_free(p);
}

/* ---- random damage ------------------------------------------------------ */

struct fuzz {
	const char *path;
	uint64_t size;
	const uint8_t *pristine;
	GArray *targets;         /* byte ranges worth damaging: struct pm_range */
	unsigned seed;
};

/* fuzz_one -- damage the pristine pool (seeded), then check, repair and
 * mount it; runs in a child, so a crash is the child's */
static void fuzz_one(void *arg)
{
	struct fuzz *f = arg;
	GRand *rnd = g_rand_new_with_seed(f->seed);
	struct pm_check_result r;
	struct unit_pool p = { (char *)f->path, f->size, NULL };
	unsigned hits = g_rand_int_range(rnd, 0, 8) ? 1 + (unsigned)g_rand_int_range(rnd, 0, 8) : 64;
	g_autofree uint8_t *damaged = NULL, *after = NULL;
	int fd = open(f->path, O_RDWR | O_CLOEXEC);

	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpint(pwrite(fd, f->pristine, f->size, 0), ==, (ssize_t)f->size);
	for (unsigned i = 0; i < hits; i++) {
		const struct pm_range *t = &g_array_index(f->targets, struct pm_range,
							  g_rand_int_range(rnd, 0, (gint32)f->targets->len));
		uint8_t buf[256];
		uint64_t len, off;

		switch (g_rand_int_range(rnd, 0, 4)) {
		case 0: len = 1; break;                                   /* one byte */
		case 1: len = 8; break;                                   /* a word */
		case 2: len = 1 + (uint64_t)g_rand_int_range(rnd, 0, 64); break; /* a slot */
		default: len = 256; break;                                /* an inode */
		}
		if (len > t->len)
			len = t->len;
		off = t->off + (uint64_t)g_rand_int_range(rnd, 0, (gint32)(t->len - len + 1));
		for (uint64_t k = 0; k < len; k++) {
			uint32_t v = g_rand_int(rnd);
			/* small numbers are likelier to look valid: more paths */
			buf[k] = (uint8_t)(v & 0x100 ? v : v & 0x7);
		}
		if (g_rand_int_range(rnd, 0, 4) == 0) { /* a bit flip */
			g_assert_cmpint(pread(fd, buf, 1, (off_t)off), ==, 1);
			buf[0] ^= (uint8_t)(1u << g_rand_int_range(rnd, 0, 8));
			len = 1;
		}
		g_assert_cmpint(pwrite(fd, buf, len, (off_t)off), ==, (ssize_t)len);
	}
	close(fd);
	g_rand_free(rnd);

	damaged = pool_bytes(f->path, f->size);
	check(f->path, PM_CHECK_ONLY, 0);
	check(f->path, PM_CHECK_ONLY, PM_CHECK_NO_COW);
	after = pool_bytes(f->path, f->size);
	assert_same_bytes(damaged, after, f->size);
	g_clear_pointer(&after, g_free);
	r = check(f->path, PM_CHECK_PREEN, 0);
	if (r.preen_refused) {
		after = pool_bytes(f->path, f->size);
		assert_same_bytes(damaged, after, f->size);
	} else {
		/* preen repaired (or found nothing): start again from the damage */
		fd = open(f->path, O_RDWR | O_CLOEXEC);
		g_assert_cmpint(pwrite(fd, damaged, f->size, 0), ==, (ssize_t)f->size);
		close(fd);
	}
	r = check(f->path, PM_CHECK_REPAIR, 0);
	g_assert_cmpuint(r.left, ==, 0);
	assert_clean(f->path);
	assert_mounts(&p);
	unit_pool_close(&p);
}

/* add_range -- a target for damage */
static void add_range(GArray *t, uint64_t off, uint64_t len)
{
	struct pm_range r = { off, len };

	g_array_append_val(t, r);
}

/* add_nodes -- every tree node below block b (height h) */
static void add_nodes(GArray *t, struct raw *r, uint64_t b, unsigned h)
{
	const uint64_t *node = rblk(r, b);

	if (h == 0)
		return;
	add_range(t, b * PM_BLOCK_SIZE, PM_BLOCK_SIZE);
	for (unsigned i = 0; i < 512; i++)
		if (node[i])
			add_nodes(t, r, node[i], h - 1);
}

static void test_fuzz(void)
{
	struct wl w;
	struct unit_pool *p = workload(&w);
	struct fuzz f = { p->path, p->size, NULL, g_array_new(FALSE, FALSE, sizeof(struct pm_range)), 0 };
	GString *failed = g_string_new(NULL);
	unsigned rounds = FUZZ_ROUNDS;
	struct raw raw;

	/* the inodes in use, the directory blocks, tree nodes and blobs */
	raw_open(p->path, &raw);
	for (uint64_t ino = 1; ino <= raw.sb.inode_count; ino++) {
		struct pm_dinode *di = rino(&raw, ino);
		if (!di->mode)
			continue;
		add_range(f.targets, (uint64_t)((uint8_t *)di - raw.base), sizeof(*di));
		for (uint64_t b = 0; S_ISDIR(di->mode) && b < di->size / PM_BLOCK_SIZE; b++)
			if (rmap(&raw, ino, b))
				add_range(f.targets, rmap(&raw, ino, b) * PM_BLOCK_SIZE, PM_BLOCK_SIZE);
		if (di->root)
			add_nodes(f.targets, &raw, di->root, di->height);
		if (di->xattr_block)
			add_range(f.targets, di->xattr_block * PM_BLOCK_SIZE, di->xattr_size);
	}
	add_range(f.targets, raw.sb.itable_start * PM_BLOCK_SIZE, raw.sb.itable_blocks * PM_BLOCK_SIZE);
	for (unsigned l = 0; l < PM_JOURNAL_LANES; l++) /* lane headers */
		add_range(f.targets, raw.sb.journal_start * PM_BLOCK_SIZE +
			  l * (raw.sb.journal_blocks * PM_BLOCK_SIZE / PM_JOURNAL_LANES), 16);
	raw_close(&raw);
	f.pristine = pool_bytes(p->path, p->size);
	unsigned first = 1;
	if (g_getenv("PMFUSE_FUZZ_ROUNDS")) /* for longer runs by hand */
		rounds = (unsigned)atoi(g_getenv("PMFUSE_FUZZ_ROUNDS"));
	else
		rounds = (rounds + unit_stride() - 1) / unit_stride(); /* the sanitizer runs */
	if (g_getenv("PMFUSE_FUZZ_SEED"))
		first = (unsigned)atoi(g_getenv("PMFUSE_FUZZ_SEED"));

	for (unsigned i = 0; i < rounds; i++) {
		int status;
		pid_t pid;

		f.seed = first + i;
		fflush(NULL);
		pid = fork();
		g_assert_cmpint(pid, >=, 0);
		if (pid == 0) {
			fuzz_one(&f);
			_exit(0);
		}
		g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			g_string_append_printf(failed, " %u(%s %d)", f.seed,
					       WIFSIGNALED(status) ? "signal" : "exit",
					       WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
	}
	if (failed->len)
		g_error("random damage: seeds that failed:%s", failed->str);
	g_string_free(failed, TRUE);
	g_array_free(f.targets, TRUE);
	g_free((void *)f.pristine);
	unit_pool_free(p);
}

int main(int argc, char **argv)
{
	unit_init(&argc, &argv);
	unit_add("/check/fresh", test_fresh);
	unit_add("/check/workload-clean", test_workload_clean);
	unit_add("/check/unclean-but-consistent", test_unclean_but_consistent);
	unit_add("/check/mounted", test_mounted);
	unit_add("/check/not-a-pool", test_not_a_pool);
	unit_add("/check/truncated", test_truncated);
	unit_add("/check/damage/nlink", test_nlink);
	unit_add("/check/damage/free-inode", test_free_inode);
	unit_add("/check/damage/type", test_type);
	unit_add("/check/damage/owned-twice", test_owned_twice);
	unit_add("/check/damage/out-of-bounds", test_out_of_bounds);
	unit_add("/check/damage/height", test_height);
	unit_add("/check/damage/orphan", test_orphan);
	unit_add("/check/damage/unreachable", test_unreachable);
	unit_add("/check/damage/loop", test_loop);
	unit_add("/check/damage/names", test_names);
	unit_add("/check/damage/entries", test_entries);
	unit_add("/check/damage/xattr", test_xattr);
	unit_add("/check/damage/counts", test_counts);
	unit_add("/check/damage/dir-short", test_dir_short);
	unit_add("/check/damage/inodes", test_inodes);
	unit_add("/check/damage/root", test_root);
	unit_add("/check/damage/super", test_super);
	unit_add("/check/damage/backup", test_backup);
	unit_add("/check/damage/journal", test_journal);
	unit_add("/check/damage/lanes", test_lanes);
	unit_add("/check/journal-view", test_journal_view);
	unit_add("/check/super-refused-then-repaired", test_super_refused_then_repaired);
	unit_add("/check/lost-found-reused", test_lost_found_reused);
	unit_add("/check/named-with-nlink0", test_named_with_nlink0);
	unit_add("/check/fuzz", test_fuzz);
	return g_test_run();
}
