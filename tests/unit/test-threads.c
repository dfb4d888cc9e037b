/* test-threads.c -- the engine called from many threads at once, as the
 * FUSE loop and the flusher call it: one file written, read, synced,
 * truncated and flushed by the periodic policy together; renames across
 * shared directories with listers; attributes and xattrs of one inode;
 * inode numbers reused while others are looked at. Each test checks the
 * end state; run under ThreadSanitizer (tests/unit/README in tools/test
 * --tsan) they also show that the engine's locking has no data race. */
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>

#include "unit.h"

#define WRITERS 4
#define CHUNK 4096u
#define CHUNKS 64u /* per writer */

struct shared {
	struct pm_fs *fs;
	uint64_t ino, dir[2];
	int id;
	volatile gint *stop;
};

static void start(GThread **t, struct shared *s, int n, GThreadFunc fn, struct shared proto,
		  volatile gint *stop)
{
	for (int i = 0; i < n; i++) {
		s[i] = proto;
		s[i].id = i;
		s[i].stop = stop;
		t[i] = g_thread_new("t", fn, &s[i]);
	}
}

static void join(GThread **t, int n)
{
	for (int i = 0; i < n; i++)
		g_thread_join(t[i]);
}

/* ---- one file: disjoint writers, a reader, fsync, the periodic flusher ---- */

static gpointer file_writer(gpointer arg)
{
	struct shared *s = arg;
	uint8_t buf[CHUNK];

	for (unsigned c = 0; c < CHUNKS; c++) {
		/* writer i owns chunks i, i + WRITERS, ... */
		uint64_t off = ((uint64_t)c * WRITERS + (unsigned)s->id) * CHUNK;
		unit_pattern(buf, off, CHUNK, 7);
		g_assert_cmpint(pm_fs_write(s->fs, s->ino, off, buf, CHUNK, false), ==, CHUNK);
		if (c % 8 == 0)
			g_assert_cmpint(pm_fs_fsync(s->fs, s->ino), ==, 0);
	}
	return NULL;
}

static int check_chunks(void *arg, const struct iovec *iov, int cnt)
{
	uint64_t off = *(uint64_t *)arg;

	/* a chunk reads as all zeros (not written yet) or all pattern */
	for (int i = 0; i < cnt; i++) {
		const uint8_t *p = iov[i].iov_base;
		for (size_t j = 0; j < iov[i].iov_len; j += CHUNK) {
			size_t n = iov[i].iov_len - j < CHUNK ? iov[i].iov_len - j : CHUNK;
			bool zero = p[j] == 0 && p[j + n - 1] == 0;
			if (!zero) {
				uint8_t want[CHUNK];
				unit_pattern(want, off + j, n, 7);
				g_assert_cmpmem(p + j, n, want, n);
			}
		}
		off += iov[i].iov_len;
	}
	return 0;
}

static gpointer file_reader(gpointer arg)
{
	struct shared *s = arg;

	while (!g_atomic_int_get(s->stop)) {
		for (uint64_t off = 0; off < (uint64_t)CHUNKS * WRITERS * CHUNK; off += 16 * CHUNK) {
			uint64_t at = off;
			g_assert_cmpint(pm_fs_read(s->fs, s->ino, off, 16 * CHUNK, check_chunks, &at), >=, 0);
		}
		struct pm_attr a;
		g_assert_cmpint(pm_fs_getattr(s->fs, s->ino, &a), ==, 0);
		struct pm_statfs st;
		g_assert_cmpint(pm_fs_statfs(s->fs, &st), ==, 0);
	}
	return NULL;
}

static gpointer flusher(gpointer arg)
{
	struct shared *s = arg;

	while (!g_atomic_int_get(s->stop)) {
		pm_fs_flush_periodic(s->fs);
		g_usleep(200);
	}
	return NULL;
}

static void test_one_file(void)
{
	struct unit_pool *p = unit_pool_new(64 * UNIT_MiB, 0);
	struct shared s[WRITERS + 2];
	GThread *t[WRITERS + 2];
	volatile gint stop = 0;
	bool direct;

	uint64_t ino = unit_create(p->fs, PM_ROOT_INO, "f", S_IFREG | 0644);
	struct pm_attr a;
	g_assert_cmpint(pm_fs_ref(p->fs, ino, &a), ==, 0);
	g_assert_cmpint(pm_fs_setxattr(p->fs, ino, "user.pmfuse.sync", "periodic=1ms", 12, 0), ==, 0);
	g_assert_cmpint(pm_fs_open_file(p->fs, ino, &direct), ==, 0);
	struct shared proto = { .fs = p->fs, .ino = ino };
	start(t + WRITERS, s + WRITERS, 1, file_reader, proto, &stop);
	start(t + WRITERS + 1, s + WRITERS + 1, 1, flusher, proto, &stop);
	start(t, s, WRITERS, file_writer, proto, &stop);
	join(t, WRITERS);
	g_atomic_int_set(&stop, 1);
	join(t + WRITERS, 2);
	g_assert_cmpint(pm_fs_release_file(p->fs, ino), ==, 0);
	pm_fs_forget(p->fs, ino, 1);
	unit_pool_reopen(p);
	unit_assert_pattern(p->fs, ino, 0, (size_t)CHUNKS * WRITERS * CHUNK, 7);
	unit_assert_blocks(p->fs, ino);
	unit_pool_free(p);
}

/* ---- renames across two shared directories, with listers ---- */

#define MOVERS 4
#define FILES 40 /* per mover */
#define MOVES 400

static gpointer mover(gpointer arg)
{
	struct shared *s = arg;
	GRand *r = g_rand_new_with_seed((guint32)s->id);
	int where[FILES] = { 0 };
	char a[32], b[32];

	for (int f = 0; f < FILES; f++) {
		snprintf(a, sizeof(a), "m%d-%d", s->id, f);
		unit_create(s->fs, s->dir[0], a, S_IFREG | 0644);
	}
	for (int k = 0; k < MOVES; k++) {
		int f = g_rand_int_range(r, 0, FILES), g = g_rand_int_range(r, 0, FILES);
		snprintf(a, sizeof(a), "m%d-%d", s->id, f);
		snprintf(b, sizeof(b), "m%d-%d", s->id, g);
		if (k % 5 == 4 && f != g) {
			/* exchange the inodes of two of its names, wherever they
			 * are: the names stay where they were */
			g_assert_cmpint(pm_fs_rename(s->fs, s->dir[where[f]], a, s->dir[where[g]], b,
						     RENAME_EXCHANGE), ==, 0);
		} else {
			g_assert_cmpint(pm_fs_rename(s->fs, s->dir[where[f]], a, s->dir[!where[f]], a, 0), ==, 0);
			where[f] = !where[f];
		}
	}
	for (int f = 0; f < FILES; f++) {
		snprintf(a, sizeof(a), "m%d-%d", s->id, f);
		g_assert_cmpuint(unit_lookup(s->fs, s->dir[where[f]], a), !=, 0);
		g_assert_cmpuint(unit_lookup(s->fs, s->dir[!where[f]], a), ==, 0);
	}
	g_rand_free(r);
	return NULL;
}

static int count(void *arg, const char *name, uint64_t ino, uint32_t type, uint64_t next)
{
	(*(unsigned *)arg)++;
	return 0;
}

static gpointer lister(gpointer arg)
{
	struct shared *s = arg;

	while (!g_atomic_int_get(s->stop)) {
		unsigned n = 0;
		g_assert_cmpint(pm_fs_readdir(s->fs, s->dir[s->id & 1], 0, count, &n), ==, 0);
		g_assert_cmpuint(n, <=, 2 + MOVERS * FILES);
		unit_lookup(s->fs, s->dir[0], "m0-0");
	}
	return NULL;
}

static void test_renames(void)
{
	struct unit_pool *p = unit_pool_new(64 * UNIT_MiB, 0);
	struct shared s[MOVERS + 2];
	GThread *t[MOVERS + 2];
	volatile gint stop = 0;
	struct pm_attr a;
	struct shared proto = { .fs = p->fs };

	for (int i = 0; i < 2; i++) {
		char name[8];
		snprintf(name, sizeof(name), "d%d", i);
		proto.dir[i] = unit_create(p->fs, PM_ROOT_INO, name, S_IFDIR | 0755);
		g_assert_cmpint(pm_fs_ref(p->fs, proto.dir[i], &a), ==, 0);
	}
	start(t + MOVERS, s + MOVERS, 2, lister, proto, &stop);
	start(t, s, MOVERS, mover, proto, &stop);
	join(t, MOVERS);
	g_atomic_int_set(&stop, 1);
	join(t + MOVERS, 2);
	unsigned n[2] = { 0, 0 };
	for (int i = 0; i < 2; i++) {
		g_assert_cmpint(pm_fs_readdir(p->fs, proto.dir[i], 0, count, &n[i]), ==, 0);
		pm_fs_forget(p->fs, proto.dir[i], 1);
	}
	g_assert_cmpuint(n[0] + n[1], ==, 4 + MOVERS * FILES);
	unit_assert_reopen_stable(p);
	unit_pool_free(p);
}

/* ---- one inode's attributes and xattrs ---- */

static gpointer attr_worker(gpointer arg)
{
	struct shared *s = arg;
	char name[32], value[64];

	for (int k = 0; k < 300; k++) {
		struct pm_setattr sa = { 0 };
		struct pm_attr a;
		switch ((k + s->id) % 4) {
		case 0:
			sa.valid = PM_SET_MODE;
			sa.mode = 0600 | (uint32_t)(k & 0077);
			break;
		case 1:
			sa.valid = PM_SET_SIZE;
			sa.size = (uint64_t)(k % 7) * 3000;
			break;
		case 2:
			sa.valid = PM_SET_ATIME_NOW | PM_SET_MTIME_NOW;
			break;
		default:
			sa.valid = PM_SET_UID | PM_SET_GID;
			sa.uid = sa.gid = (uint32_t)s->id;
		}
		g_assert_cmpint(pm_fs_setattr(s->fs, s->ino, &sa, &a), ==, 0);
		snprintf(name, sizeof(name), "user.t%d", s->id);
		snprintf(value, sizeof(value), "value %d of %d", k, s->id);
		g_assert_cmpint(pm_fs_setxattr(s->fs, s->ino, name, value, strlen(value), 0), ==, 0);
		char got[64];
		int n = pm_fs_getxattr(s->fs, s->ino, name, got, sizeof(got));
		g_assert_cmpint(n, ==, (int)strlen(value));
		char list[1024];
		g_assert_cmpint(pm_fs_listxattr(s->fs, s->ino, list, sizeof(list)), >, 0);
		if (k % 10 == 9)
			g_assert_cmpint(pm_fs_removexattr(s->fs, s->ino, name), ==, 0);
		uint8_t buf[100];
		memset(buf, s->id, sizeof(buf));
		g_assert_cmpint(pm_fs_write(s->fs, s->ino, (uint64_t)k * 10, buf, sizeof(buf), false), ==,
				sizeof(buf));
	}
	return NULL;
}

static void test_one_inode(void)
{
	struct unit_pool *p = unit_pool_new(32 * UNIT_MiB, 0);
	GThread *t[WRITERS];
	struct shared s[WRITERS];
	volatile gint stop = 0;
	struct pm_attr a;

	uint64_t ino = unit_create(p->fs, PM_ROOT_INO, "f", S_IFREG | 0644);
	g_assert_cmpint(pm_fs_ref(p->fs, ino, &a), ==, 0);
	start(t, s, WRITERS, attr_worker, (struct shared){ .fs = p->fs, .ino = ino }, &stop);
	join(t, WRITERS);
	pm_fs_forget(p->fs, ino, 1);
	unit_assert_blocks(p->fs, ino);
	unit_assert_reopen_stable(p);
	unit_pool_free(p);
}

/* ---- inode numbers freed and reused while others hold and look ---- */

static gpointer churn(gpointer arg)
{
	struct shared *s = arg;
	char name[32];
	struct pm_attr a;

	for (int k = 0; k < 400; k++) {
		snprintf(name, sizeof(name), "c%d-%d", s->id, k % 5);
		int r = pm_fs_mknod(s->fs, PM_ROOT_INO, name, S_IFREG | 0644, 0, &unit_cred, &a);
		g_assert_true(r == 0 || r == -EEXIST);
		if (r == 0) {
			uint8_t b[5000];
			memset(b, k, sizeof(b));
			g_assert_cmpint(pm_fs_write(s->fs, a.ino, 0, b, sizeof(b), false), ==, sizeof(b));
			pm_fs_forget(s->fs, a.ino, 1);
		}
		if (k % 3 == 0) {
			snprintf(name, sizeof(name), "c%d-%d", s->id, (k + 2) % 5);
			r = pm_fs_unlink(s->fs, PM_ROOT_INO, name);
			g_assert_true(r == 0 || r == -ENOENT);
		}
	}
	return NULL;
}

static gpointer looker(gpointer arg)
{
	struct shared *s = arg;
	struct pm_attr a;
	char name[32];

	while (!g_atomic_int_get(s->stop)) {
		/* as the kernel does: by name, then by the number it holds, a
		 * while after the name may have gone and the number been reused */
		for (int id = 0; id < WRITERS; id++) {
			for (int k = 0; k < 5; k++) {
				snprintf(name, sizeof(name), "c%d-%d", id, k);
				if (pm_fs_lookup(s->fs, PM_ROOT_INO, name, &a) != 0)
					continue;
				uint64_t ino = a.ino, size = a.size;
				uint8_t b[64];
				g_assert_cmpint(pm_fs_getattr(s->fs, ino, &a), ==, 0);
				g_assert_cmpuint(a.ino, ==, ino);
				if (size >= sizeof(b))
					unit_read(s->fs, ino, 0, sizeof(b), b);
				pm_fs_forget(s->fs, ino, 1);
			}
		}
		unsigned n = 0;
		pm_fs_readdir(s->fs, PM_ROOT_INO, 0, count, &n);
	}
	return NULL;
}

static void test_inode_reuse(void)
{
	struct unit_pool *p = unit_pool_new(32 * UNIT_MiB, 256);
	GThread *t[WRITERS + 1];
	struct shared s[WRITERS + 1];
	volatile gint stop = 0;
	struct shared proto = { .fs = p->fs };

	start(t + WRITERS, s + WRITERS, 1, looker, proto, &stop);
	start(t, s, WRITERS, churn, proto, &stop);
	join(t, WRITERS);
	g_atomic_int_set(&stop, 1);
	join(t + WRITERS, 1);
	unit_assert_reopen_stable(p);
	unit_pool_free(p);
}

int main(int argc, char **argv)
{
	unit_init(&argc, &argv);
	unit_add("/threads/one-file-writers-reader-fsync-flusher", test_one_file);
	unit_add("/threads/renames-across-shared-directories", test_renames);
	unit_add("/threads/one-inode-attributes-and-xattrs", test_one_inode);
	unit_add("/threads/inode-numbers-reused-while-looked-at", test_inode_reuse);
	return g_test_run();
}
