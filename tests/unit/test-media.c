/* test-media.c -- the persistence domain: mapping, locking, persisting */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "media.h"
#include "stream.h"
#include "unit.h"

#define SIZE (8 * UNIT_MiB)

static void test_open_map(void)
{
	g_autofree char *path = unit_pool_file(SIZE);
	struct pm_media *m = NULL;
	const char *g;
	uint8_t *base;

	g_assert_cmpint(pm_media_open(path, 0, &m), ==, 0);
	g_assert_nonnull(m);
	base = pm_media_base(m);
	g_assert_nonnull(base);
	g_assert_cmpuint(pm_media_size(m), ==, SIZE);
	g = pm_media_granularity(m);
	g_assert_nonnull(g);
	g_assert_true(g_str_equal(g, "PAGE") || g_str_equal(g, "CACHE_LINE") || g_str_equal(g, "BYTE"));
	/* MAP_SYNC (real pmem) is what gives better than page granularity */
	g_assert_cmpint(pm_media_map_sync(m), ==, !g_str_equal(g, "PAGE"));
	g_test_message("granularity of a /dev/shm pool: %s", g);
	/* the whole mapping is readable and writable */
	g_assert_cmpuint(base[0], ==, 0);
	g_assert_cmpuint(base[SIZE - 1], ==, 0);
	base[SIZE - 1] = 0x5a;
	pm_media_persist(m, base + SIZE - 1, 1);
	pm_media_delete(&m);
	g_assert_null(m);
	pm_media_delete(&m); /* a second delete is harmless */
}

static void test_persist_reaches_file(void)
{
	g_autofree char *path = unit_pool_file(SIZE);
	struct pm_media *m = NULL;
	uint8_t buf[8192], back[8192];
	uint8_t *base;
	int fd;

	g_assert_cmpint(pm_media_open(path, 0, &m), ==, 0);
	base = pm_media_base(m);
	unit_pattern(buf, 0, sizeof(buf), 7);
	pm_media_copy(m, base + 100000, buf, sizeof(buf));
	pm_media_persist(m, base + 100000, sizeof(buf));
	memset(base + 300000, 0xab, 5000);
	pm_media_flush(m, base + 300000, 5000);
	pm_media_drain(m);
	memset(base + 400000, 0xcd, 3000);
	pm_media_persist(m, base + 400000, 3000);
	pm_media_zero(m, base + 400000 + 1000, 1000);
	pm_media_persist(m, base + 400000 + 1000, 1000);
	pm_media_persist(m, base, 0); /* empty ranges are fine */
	pm_media_flush(m, base, 0);
	pm_media_delete(&m);

	/* what became durable is in the file, read without the mapping */
	fd = open(path, O_RDONLY);
	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpint(pread(fd, back, sizeof(back), 100000), ==, sizeof(back));
	g_assert_cmpmem(back, sizeof(back), buf, sizeof(buf));
	g_assert_cmpint(pread(fd, back, 5000, 300000), ==, 5000);
	for (unsigned i = 0; i < 5000; i++)
		g_assert_cmpuint(back[i], ==, 0xab);
	g_assert_cmpint(pread(fd, back, 3000, 400000), ==, 3000);
	for (unsigned i = 0; i < 3000; i++)
		g_assert_cmpuint(back[i], ==, (i >= 1000 && i < 2000) ? 0 : 0xcd);
	close(fd);

	/* and a new mapping sees it too */
	g_assert_cmpint(pm_media_open(path, 0, &m), ==, 0);
	g_assert_cmpmem((uint8_t *)pm_media_base(m) + 100000, sizeof(buf), buf, sizeof(buf));
	pm_media_delete(&m);
}

static void test_exclusive_lock(void)
{
	g_autofree char *path = unit_pool_file(SIZE);
	struct pm_media *m = NULL, *m2 = NULL;

	g_assert_cmpint(pm_media_open(path, 0, &m), ==, 0);
	g_assert_cmpint(pm_media_open(path, 0, &m2), ==, -EBUSY);
	g_assert_null(m2);
	unit_errmsg_has("already mounted");
	unit_errmsg_has(path);
	/* a read-only open wants a shared lock: refused as well */
	g_assert_cmpint(pm_media_open(path, PM_MEDIA_RDONLY, &m2), ==, -EBUSY);
	unit_errmsg_has("already mounted");
	/* NOLOCK (tests, tools that know better) does not look at the lock */
	g_assert_cmpint(pm_media_open(path, PM_MEDIA_NOLOCK, &m2), ==, 0);
	pm_media_delete(&m2);
	/* closing the first one drops its lock */
	pm_media_delete(&m);
	g_assert_cmpint(pm_media_open(path, 0, &m2), ==, 0);
	pm_media_delete(&m2);
}

static void test_shared_lock(void)
{
	g_autofree char *path = unit_pool_file(SIZE);
	struct pm_media *r1 = NULL, *r2 = NULL, *w = NULL;

	g_assert_cmpint(pm_media_open(path, PM_MEDIA_RDONLY, &r1), ==, 0);
	g_assert_cmpint(pm_media_open(path, PM_MEDIA_RDONLY, &r2), ==, 0);
	g_assert_cmpuint(((uint8_t *)pm_media_base(r2))[0], ==, 0);
	g_assert_cmpint(pm_media_open(path, 0, &w), ==, -EBUSY);
	unit_errmsg_has("already mounted");
	pm_media_delete(&r1);
	pm_media_delete(&r2);
	g_assert_cmpint(pm_media_open(path, 0, &w), ==, 0);
	pm_media_delete(&w);
}

static void test_second_fs_open_refused(void)
{
	struct unit_pool *p = unit_pool_new(SIZE, 0);
	struct pm_fs *fs2 = NULL;

	/* a second mount of the same pool, the case DESIGN.md names */
	g_assert_cmpint(pm_fs_open(p->path, 0, &fs2), ==, -EBUSY);
	g_assert_null(fs2);
	unit_errmsg_has("already mounted");
	unit_pool_free(p);
}

static void test_open_errors(void)
{
	g_autofree char *dir = g_dir_make_tmp("pmfuse-unit-XXXXXX", NULL);
	g_autofree char *missing = g_build_filename(dir, "missing", NULL);
	g_autofree char *empty = g_build_filename(dir, "empty", NULL);
	struct pm_media *m = NULL;
	int fd;

	g_assert_nonnull(dir);
	g_assert_cmpint(pm_media_open(missing, 0, &m), ==, -ENOENT);
	unit_errmsg_has(missing);
	g_assert_null(m);

	g_assert_cmpint(pm_media_open(dir, 0, &m), <, 0);
	g_assert_null(m);
	g_assert_cmpint(pm_media_open(dir, PM_MEDIA_RDONLY, &m), ==, -EINVAL);
	unit_errmsg_has("neither a regular file nor a device-DAX node");

	fd = open(empty, O_CREAT | O_RDWR, 0600);
	g_assert_cmpint(fd, >=, 0);
	close(fd);
	g_assert_cmpint(pm_media_open(empty, 0, &m), ==, -EINVAL);
	unit_errmsg_has("empty");
	unit_errmsg_has("mkfs.pmfuse");
	g_assert_null(m);
	unlink(empty);
	rmdir(dir);
}

static void test_rdonly_mapping(void)
{
	g_autofree char *path = unit_pool_file(SIZE);
	struct pm_media *m = NULL;
	int fd = open(path, O_WRONLY);

	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpint(pwrite(fd, "pmfuse", 6, 4096), ==, 6);
	close(fd);
	chmod(path, 0400);
	g_assert_cmpint(pm_media_open(path, PM_MEDIA_RDONLY, &m), ==, 0);
	g_assert_cmpmem((uint8_t *)pm_media_base(m) + 4096, 6, "pmfuse", 6);
	g_assert_cmpuint(pm_media_size(m), ==, SIZE);
	pm_media_delete(&m);
}

/* with page granularity, flushes wait for the drain and ranges close
 * together share one msync; far ranges get their own */
static void test_page_flushes_gathered(void)
{
	g_autofree char *path = unit_pool_file(SIZE);
	struct pm_media *m = NULL;
	uint8_t *base;
	uint64_t n0;

	g_setenv("PMEM2_FORCE_GRANULARITY", "page", TRUE);
	g_assert_cmpint(pm_media_open(path, 0, &m), ==, 0);
	g_assert_cmpstr(pm_media_granularity(m), ==, "PAGE");
	base = pm_media_base(m);
	n0 = pm_media_os_flushes(m);
	for (unsigned i = 0; i < 4; i++)
		pm_media_flush(m, base + i * 8192, 64);
	g_assert_cmpuint(pm_media_os_flushes(m), ==, n0); /* not before the drain */
	pm_media_drain(m);
	g_assert_cmpuint(pm_media_os_flushes(m), ==, n0 + 1);
	pm_media_flush(m, base, 64);
	pm_media_flush(m, base + 4 * UNIT_MiB, 64); /* beyond one span */
	pm_media_drain(m);
	g_assert_cmpuint(pm_media_os_flushes(m), ==, n0 + 3);
	pm_media_persist(m, base + 100, 8);
	g_assert_cmpuint(pm_media_os_flushes(m), ==, n0 + 4);
	pm_media_drain(m); /* nothing pending: no call */
	g_assert_cmpuint(pm_media_os_flushes(m), ==, n0 + 4);
	pm_media_delete(&m);
}

/* a pool file in DIR, nameless; returns its /proc/self/fd path */
static char *pool_file_in(const char *dir, uint64_t size)
{
	g_autofree char *tmpl = g_build_filename(dir, "pmfuse-unit-XXXXXX", NULL);
	int fd = g_mkstemp(tmpl);

	g_assert_cmpint(fd, >=, 0);
	unlink(tmpl);
	g_assert_cmpint(posix_fallocate(fd, 0, (off_t)size), ==, 0);
	return g_strdup_printf("/proc/self/fd/%d", fd);
}

static bool dir_in_ram(const char *dir)
{
	struct statfs sfs;

	g_assert_cmpint(statfs(dir, &sfs), ==, 0);
	return (unsigned long)sfs.f_type == 0x01021994 || (unsigned long)sfs.f_type == 0x858458f6;
}

/* page granularity on tmpfs: msync is a no-op in the kernel, so none is
 * made (the flushes are still gathered and counted); on a disk file it is
 * made; cache-line flushes are never elided */
static void test_msync_skipped_in_ram(void)
{
	g_autofree char *cwd = g_get_current_dir();
	g_autofree char *shm = pool_file_in("/dev/shm", SIZE);
	g_autofree char *here = pool_file_in(cwd, SIZE);
	struct pm_media *m = NULL;
	uint8_t *base;

	g_setenv("PMEM2_FORCE_GRANULARITY", "page", TRUE);
	g_assert_cmpint(pm_media_open(shm, 0, &m), ==, 0);
	g_assert_true(pm_media_in_ram(m));
	base = pm_media_base(m);
	base[100] = 0x5a;
	pm_media_persist(m, base + 100, 1);
	g_assert_cmpuint(pm_media_os_flushes(m), ==, 1);
	pm_media_delete(&m);

	g_assert_cmpint(pm_media_open(here, 0, &m), ==, 0);
	g_test_message("%s is %s", cwd, dir_in_ram(cwd) ? "in RAM" : "not in RAM");
	g_assert_cmpint(pm_media_in_ram(m), ==, dir_in_ram(cwd));
	pm_media_delete(&m);

	g_setenv("PMEM2_FORCE_GRANULARITY", "cache_line", TRUE);
	g_assert_cmpint(pm_media_open(shm, 0, &m), ==, 0);
	g_assert_cmpstr(pm_media_granularity(m), ==, "CACHE_LINE");
	g_assert_false(pm_media_in_ram(m));
	pm_media_delete(&m);
	g_unsetenv("PMEM2_FORCE_GRANULARITY");
}

/* mapped -- is the page at addr in this process's page tables
 * (/proc/self/pagemap: bit 63 of the page's entry)? */
static bool mapped(const void *addr)
{
	long page = sysconf(_SC_PAGESIZE);
	uint64_t entry = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);

	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpint(pread(fd, &entry, sizeof(entry), (off_t)((uintptr_t)addr / (uintptr_t)page * 8)),
			==, sizeof(entry));
	close(fd);
	return entry >> 63;
}

/* prefault maps the pages that hold data, in a pool in RAM at either
 * granularity; holes stay holes (unmapped, and no block allocated); a
 * stop asked before it starts maps nothing; data past the mapping is
 * not walked; on a disk file nothing */
static void test_prefault(void)
{
	static const char *grans[] = { "page", "cache_line" };
	g_autofree char *cwd = g_get_current_dir();
	atomic_bool stop = false, stopped = true;

	for (size_t g = 0; g < G_N_ELEMENTS(grans); g++) {
		g_autofree char *tmpl = g_build_filename("/dev/shm", "pmfuse-unit-XXXXXX", NULL);
		int fd = g_mkstemp(tmpl);
		g_autofree char *path = g_strdup_printf("/proc/self/fd/%d", fd);
		g_autofree uint8_t *buf = g_malloc(UNIT_MiB);
		struct pm_media *m = NULL;
		struct stat st0, st1;
		uint8_t *base;

		unlink(tmpl);
		/* sparse: data at [0, 1 MiB) and [5 MiB, 6 MiB), holes elsewhere */
		g_assert_cmpint(ftruncate(fd, SIZE), ==, 0);
		memset(buf, 0xa5, UNIT_MiB);
		g_assert_cmpint(pwrite(fd, buf, UNIT_MiB, 0), ==, UNIT_MiB);
		g_assert_cmpint(pwrite(fd, buf, UNIT_MiB, 5 * UNIT_MiB), ==, UNIT_MiB);
		g_assert_cmpint(fstat(fd, &st0), ==, 0);
		g_setenv("PMEM2_FORCE_GRANULARITY", grans[g], TRUE);
		g_assert_cmpint(pm_media_open(path, PM_MEDIA_NOLOCK, &m), ==, 0);
		base = pm_media_base(m);
		g_assert_false(mapped(base + 5 * UNIT_MiB));

		g_assert_cmpint(pm_media_prefault(m, &stopped), ==, 0);
		g_assert_false(mapped(base + 5 * UNIT_MiB));
		g_assert_cmpint(pm_media_prefault(m, &stop), ==, 2 * UNIT_MiB);
		for (size_t off = 0; off < SIZE; off += 64 * 1024) {
			bool data = off < UNIT_MiB || (off >= 5 * UNIT_MiB && off < 6 * UNIT_MiB);

			g_assert_cmpint(mapped(base + off), ==, data);
		}
		g_assert_cmpint(fstat(fd, &st1), ==, 0);
		g_assert_cmpint(st1.st_blocks, ==, st0.st_blocks);
		/* data past the mapping's end (the file grew after the map):
		 * the walk ends at the mapping's end, and returns */
		g_assert_cmpint(pwrite(fd, buf, 4096, SIZE), ==, 4096);
		g_assert_cmpint(pm_media_prefault(m, &stop), ==, 2 * UNIT_MiB);
		pm_media_delete(&m);
	}
	g_unsetenv("PMEM2_FORCE_GRANULARITY");

	if (!dir_in_ram(cwd)) { /* a disk file: prefaulting would read it all */
		g_autofree char *here = pool_file_in(cwd, SIZE);
		struct pm_media *m = NULL;

		g_assert_cmpint(pm_media_open(here, 0, &m), ==, 0);
		g_assert_cmpint(pm_media_prefault(m, &stop), ==, 0);
		pm_media_delete(&m);
	}
}

/* big_stores -- PM_MEDIA_NT_MIN bytes and more are stored non-temporally
 * (at page granularity where stream.c can), small ones not; the bytes land
 * exactly where asked, whatever the alignment, and a neighbour is
 * untouched. Only where no page-sized flush is needed is the range then
 * durable without one. */
static void big_stores(const char *gran, bool durable, bool streams)
{
	g_autofree char *path = unit_pool_file(SIZE);
	/* (offset, length): aligned, odd at both ends, shorter than a line
	 * past the threshold, and one byte short of it (not streamed) */
	static const size_t cases[][2] = {
		{ 65536, UNIT_MiB }, { 4096 + 3, PM_MEDIA_NT_MIN + 61 },
		{ 2 * UNIT_MiB + 17, PM_MEDIA_NT_MIN + 5 }, { 3 * UNIT_MiB + 9, PM_MEDIA_NT_MIN - 1 },
	};
	g_autofree uint8_t *buf = g_malloc(UNIT_MiB);
	struct pm_media *m = NULL;
	uint8_t *base;

	g_setenv("PMEM2_FORCE_GRANULARITY", gran, TRUE);
	g_assert_cmpint(pm_media_open(path, 0, &m), ==, 0);
	g_unsetenv("PMEM2_FORCE_GRANULARITY");
	base = pm_media_base(m);
	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		size_t off = cases[i][0], len = cases[i][1];
		bool big = len >= PM_MEDIA_NT_MIN;
		uint64_t s0 = pm_media_streamed(m);

		memset(base + off - 64, 0xee, len + 128);
		unit_pattern(buf, off, len, (uint32_t)i + 1);
		g_assert_cmpint(pm_media_copy_nt(m, base + off, buf, len), ==, big && durable);
		g_assert_cmpuint(pm_media_streamed(m) - s0, ==, big && streams ? len : 0);
		g_assert_cmpmem(base + off, len, buf, len);
		for (size_t k = 1; k <= 64; k++) {
			g_assert_cmpuint(base[off - k], ==, 0xee);
			g_assert_cmpuint(base[off + len - 1 + k], ==, 0xee);
		}
		g_assert_cmpint(pm_media_zero_nt(m, base + off + 1, len - 2), ==,
				len - 2 >= PM_MEDIA_NT_MIN && durable);
		g_assert_cmpuint(base[off], ==, buf[0]);
		g_assert_cmpuint(base[off + len - 1], ==, buf[len - 1]);
		for (size_t k = 1; k < len - 1; k++)
			if (base[off + k])
				g_error("byte %zu of a zeroed range of %zu is %u", k, len - 2, base[off + k]);
	}
	pm_media_delete(&m);
}

static void test_big_stores_page(void)
{
	big_stores("page", false, PM_STREAM_NT);
}

static void test_big_stores_cache_line(void)
{
	big_stores("cache_line", true, true);
}

/* a page-granularity pool in a file: the range's flush after streamed
 * stores is an msync like any other (made, or elided in RAM, and counted),
 * and a read through the file, the same pages, returns the bytes, fenced
 * before the call */
static void test_streamed_bytes_read_through_file(void)
{
	g_autofree char *cwd = g_get_current_dir();
	g_autofree char *path = pool_file_in(cwd, SIZE);
	g_autofree uint8_t *buf = g_malloc(UNIT_MiB), *back = g_malloc(UNIT_MiB);
	struct pm_media *m = NULL;
	uint8_t *base;
	uint64_t os0;
	int fd;

	g_setenv("PMEM2_FORCE_GRANULARITY", "page", TRUE);
	g_assert_cmpint(pm_media_open(path, 0, &m), ==, 0);
	g_unsetenv("PMEM2_FORCE_GRANULARITY");
	base = pm_media_base(m);
	unit_pattern(buf, 0, UNIT_MiB, 9);
	os0 = pm_media_os_flushes(m);
	g_assert_false(pm_media_copy_nt(m, base + UNIT_MiB + 5, buf, UNIT_MiB - 5));
	g_assert_cmpuint(pm_media_streamed(m), ==, PM_STREAM_NT ? UNIT_MiB - 5 : 0);
	g_assert_cmpuint(pm_media_os_flushes(m), ==, os0); /* none made by the copy */
	pm_media_persist(m, base + UNIT_MiB + 5, UNIT_MiB - 5);
	g_assert_cmpuint(pm_media_os_flushes(m), >, os0);
	fd = open(path, O_RDONLY);
	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpint(pread(fd, back, UNIT_MiB - 5, UNIT_MiB + 5), ==, UNIT_MiB - 5);
	g_assert_cmpmem(back, UNIT_MiB - 5, buf, UNIT_MiB - 5);
	close(fd);
	pm_media_delete(&m);
}

/* a page the media cannot serve (the file truncated under the mapping)
 * reads as zeros and is reported to the thread, once */
static void test_sigbus_is_a_media_error(void)
{
	g_autofree char *path = unit_pool_file(SIZE); /* nameless: nothing is left behind */
	int fd = open(path, O_RDWR);
	struct pm_media *m = NULL;
	volatile uint8_t *base;
	uint64_t off = 0;

	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpint(pm_media_open(path, 0, &m), ==, 0);
	base = pm_media_base(m);
	base[0] = 7;
	g_assert_false(pm_media_fault_taken());
	g_assert_cmpint(ftruncate(fd, SIZE / 2), ==, 0);
	g_assert_cmpuint(base[SIZE - 100], ==, 0); /* SIGBUS, answered with a zero page */
	base[SIZE - 100] = 1;                        /* stores go nowhere harmful */
	g_assert_true(pm_media_fault_taken());
	g_assert_false(pm_media_fault_taken()); /* consumed */
	g_assert_cmpuint(pm_media_faults(m, &off), ==, 1);
	g_assert_cmpuint(off, ==, SIZE - 100);
	g_assert_cmpuint(base[0], ==, 7); /* the healthy part is untouched */
	g_assert_false(pm_media_fault_taken());
	pm_media_delete(&m);
	close(fd);
}

/* a guarded copy out of a page the media cannot serve fails, every time,
 * without zeros mapped over the page or a fault counted; copies of the
 * healthy part and plain accesses afterwards behave as before */
static void test_copy_out_fails_on_media_error(void)
{
	g_autofree char *path = unit_pool_file(SIZE);
	int fd = open(path, O_RDWR);
	struct pm_media *m = NULL;
	uint8_t *base;
	uint8_t buf[8192];

	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpint(pm_media_open(path, 0, &m), ==, 0);
	base = pm_media_base(m);
	memset(base, 7, 4096);
	memset(base + SIZE - 8192, 9, 8192);
	g_assert_cmpint(pm_media_copy_out(buf, base + SIZE - 8192, sizeof(buf)), ==, 0);
	g_assert_cmpuint(buf[0], ==, 9);
	g_assert_cmpuint(buf[sizeof(buf) - 1], ==, 9);
	g_assert_cmpint(ftruncate(fd, SIZE / 2), ==, 0);
	for (int i = 0; i < 3; i++) {
		memset(buf, 1, sizeof(buf));
		g_assert_cmpint(pm_media_copy_out(buf, base + SIZE - 8192, sizeof(buf)), ==, -EFAULT);
	}
	/* a copy that starts healthy and runs into the lost part fails too */
	g_assert_cmpint(pm_media_copy_out(buf, base + SIZE / 2 - 4096, sizeof(buf)), ==, -EFAULT);
	g_assert_cmpuint(pm_media_faults(m, NULL), ==, 0);
	g_assert_false(pm_media_fault_taken());
	g_assert_cmpint(pm_media_copy_out(buf, base, 4096), ==, 0);
	g_assert_cmpuint(buf[4095], ==, 7);
	/* outside a guarded copy the handler answers with a zero page again */
	g_assert_cmpuint(((volatile uint8_t *)base)[SIZE - 100], ==, 0);
	g_assert_true(pm_media_fault_taken());
	g_assert_cmpuint(pm_media_faults(m, NULL), ==, 1);
	pm_media_delete(&m);
	close(fd);
}

int main(int argc, char **argv)
{
	unit_init(&argc, &argv);
	unit_add("/media/open-map", test_open_map);
	unit_add("/media/page-flushes-gathered", test_page_flushes_gathered);
	unit_add("/media/msync-skipped-in-ram", test_msync_skipped_in_ram);
	unit_add("/media/prefault", test_prefault);
	unit_add("/media/big-stores-page", test_big_stores_page);
	unit_add("/media/big-stores-cache-line", test_big_stores_cache_line);
	unit_add("/media/streamed-bytes-read-through-file", test_streamed_bytes_read_through_file);
	unit_add("/media/sigbus-is-a-media-error", test_sigbus_is_a_media_error);
	unit_add("/media/copy-out-fails-on-media-error", test_copy_out_fails_on_media_error);
	unit_add("/media/persist-reaches-file", test_persist_reaches_file);
	unit_add("/media/exclusive-lock", test_exclusive_lock);
	unit_add("/media/shared-lock", test_shared_lock);
	unit_add("/media/second-fs-open-refused", test_second_fs_open_refused);
	unit_add("/media/open-errors", test_open_errors);
	unit_add("/media/rdonly-mapping", test_rdonly_mapping);
	return g_test_run();
}
