/* dax-check.c -- what the DAX virtual machine runs against a pmfuse mount
 * (tests/dax/run): the VM has no Python, so a representative subset of the
 * mount tests is here, in C, with TAP-like output.
 *
 *   dax-check test DIR     file, directory, link, xattr and mmap checks
 *   dax-check write DIR    write a data set and fsync every file of it
 *   dax-check verify DIR   check that the data set is there, byte for byte
 *
 * test prints "ok - NAME" or "not ok - NAME: WHY" per check and a last line
 * "tests=N passed=M"; every mode exits 0 only when all passed. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

static const char *top;
static unsigned tests, passed;
static char why[512];

static bool fail(const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (errno && n >= 0 && (size_t)n < sizeof(why))
		snprintf(why + n, sizeof(why) - (size_t)n, " (%s)", strerror(errno));
	return false;
}

static char *at(const char *name)
{
	static char buf[4][4096];
	static unsigned next;
	char *p = buf[next++ % 4];

	snprintf(p, sizeof(buf[0]), "%s/%s", top, name);
	return p;
}

/* pattern -- the byte at offset off of data set file k */
static uint8_t pattern(unsigned k, size_t off)
{
	return (uint8_t)((off * 31u + k * 17u + (off >> 12)) ^ 0x5a);
}

static void fill(uint8_t *buf, size_t len, unsigned k)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = pattern(k, i);
}

static bool put(const char *path, const void *buf, size_t len, int flags, bool sync)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | flags, 0644);

	if (fd < 0)
		return fail("open %s", path);
	for (size_t done = 0; done < len;) {
		ssize_t n = write(fd, (const char *)buf + done, len - done);
		if (n <= 0) {
			close(fd);
			return fail("write %s", path);
		}
		done += (size_t)n;
	}
	if (sync && fsync(fd) < 0) {
		close(fd);
		return fail("fsync %s", path);
	}
	if (close(fd) < 0)
		return fail("close %s", path);
	return true;
}

/* same -- does the file at path hold exactly buf? */
static bool same(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	uint8_t *got;
	ssize_t n;
	struct stat st;

	if (fd < 0)
		return fail("open %s", path);
	if (fstat(fd, &st) < 0 || (size_t)st.st_size != len) {
		close(fd);
		errno = 0;
		return fail("%s: size %lld, expected %zu", path, (long long)st.st_size, len);
	}
	got = malloc(len + 1);
	n = pread(fd, got, len + 1, 0);
	close(fd);
	if (n != (ssize_t)len || memcmp(got, buf, len) != 0) {
		free(got);
		errno = 0;
		return fail("%s: contents differ (read %zd of %zu bytes)", path, n, len);
	}
	free(got);
	return true;
}

static bool check_small_and_large_files(void)
{
	static uint8_t big[3 << 20];
	uint8_t small[4096];

	fill(small, sizeof(small), 1);
	fill(big, sizeof(big), 2);
	return put(at("small"), small, sizeof(small), 0, true) && same(at("small"), small, sizeof(small)) &&
	       put(at("large"), big, sizeof(big), 0, true) && same(at("large"), big, sizeof(big)) &&
	       put(at("excl"), big, 100000, O_EXCL, true) && same(at("excl"), big, 100000);
}

static bool check_overwrite_and_sparse(void)
{
	uint8_t buf[8192], z[4096] = { 0 };
	int fd = open(at("sparse"), O_RDWR | O_CREAT | O_TRUNC, 0644);

	if (fd < 0)
		return fail("open sparse");
	fill(buf, sizeof(buf), 3);
	if (pwrite(fd, buf, 4096, 1 << 20) != 4096 || pwrite(fd, buf + 100, 50, (1 << 20) + 10) != 50 ||
	    fdatasync(fd) < 0) {
		close(fd);
		return fail("pwrite/fdatasync sparse");
	}
	if (pread(fd, buf + 4096, 4096, 4096) != 4096 || memcmp(buf + 4096, z, 4096) != 0) {
		close(fd);
		errno = 0;
		return fail("a hole does not read as zeros");
	}
	if (pread(fd, z, 60, (1 << 20) + 5) != 60 || memcmp(z, buf + 5, 5) != 0 || memcmp(z + 5, buf + 100, 50) != 0 ||
	    memcmp(z + 55, buf + 60, 5) != 0) {
		close(fd);
		errno = 0;
		return fail("an overwrite in place reads back wrong");
	}
	close(fd);
	return true;
}

static bool check_truncate(void)
{
	uint8_t buf[10000], z[5000] = { 0 };
	struct stat st;
	int fd;

	fill(buf, sizeof(buf), 4);
	if (!put(at("trunc"), buf, sizeof(buf), 0, false))
		return false;
	if (truncate(at("trunc"), 3000) < 0 || truncate(at("trunc"), 8000) < 0)
		return fail("truncate");
	fd = open(at("trunc"), O_RDONLY);
	if (fd < 0 || fstat(fd, &st) < 0 || st.st_size != 8000 || pread(fd, buf + 3000, 5000, 3000) != 5000) {
		if (fd >= 0)
			close(fd);
		return fail("read after truncate");
	}
	close(fd);
	errno = 0;
	return memcmp(buf + 3000, z, 5000) == 0 || fail("bytes past a shrink came back after growing");
}

static bool check_directories(void)
{
	char name[64];
	unsigned n = 0;
	DIR *d;
	struct dirent *e;

	if (mkdir(at("d"), 0755) < 0 || mkdir(at("d/sub"), 0700) < 0)
		return fail("mkdir");
	for (unsigned i = 0; i < 300; i++) {
		snprintf(name, sizeof(name), "d/f%03u", i);
		if (!put(at(name), name, strlen(name), 0, false))
			return false;
	}
	d = opendir(at("d"));
	if (!d)
		return fail("opendir");
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	errno = 0;
	if (n != 301)
		return fail("readdir saw %u entries, expected 301", n);
	if (rmdir(at("d")) == 0 || errno != ENOTEMPTY)
		return fail("rmdir of a full directory did not fail with ENOTEMPTY");
	for (unsigned i = 0; i < 300; i++) {
		snprintf(name, sizeof(name), "d/f%03u", i);
		if (unlink(at(name)) < 0)
			return fail("unlink %s", name);
	}
	if (rmdir(at("d/sub")) < 0 || rmdir(at("d")) < 0)
		return fail("rmdir");
	errno = 0;
	return access(at("d"), F_OK) < 0 || fail("d still there");
}

static bool check_names(void)
{
	char target[64];
	ssize_t n;
	struct stat st;

	if (!put(at("a"), "alpha", 5, 0, false))
		return false;
	if (rename(at("a"), at("b")) < 0 || link(at("b"), at("c")) < 0 || symlink("b", at("s")) < 0)
		return fail("rename/link/symlink");
	n = readlink(at("s"), target, sizeof(target));
	if (n != 1 || target[0] != 'b')
		return fail("readlink");
	if (stat(at("c"), &st) < 0 || st.st_nlink != 2)
		return fail("nlink of a hard link");
	if (unlink(at("b")) < 0 || !same(at("c"), "alpha", 5))
		return fail("unlink one of two links");
	errno = 0;
	if (stat(at("s"), &st) == 0 || errno != ENOENT)
		return fail("a dangling symlink resolved");
	return unlink(at("c")) == 0 && unlink(at("s")) == 0 ? true : fail("unlink");
}

static bool check_xattrs(void)
{
	char v[64], list[256];
	ssize_t n;

	if (!put(at("x"), "x", 1, 0, false))
		return false;
	if (setxattr(at("x"), "user.colour", "blue", 4, XATTR_CREATE) < 0)
		return fail("setxattr");
	errno = 0;
	if (setxattr(at("x"), "user.colour", "red", 3, XATTR_CREATE) == 0 || errno != EEXIST)
		return fail("XATTR_CREATE of an existing name did not fail with EEXIST");
	n = getxattr(at("x"), "user.colour", v, sizeof(v));
	if (n != 4 || memcmp(v, "blue", 4) != 0)
		return fail("getxattr");
	n = listxattr(at("x"), list, sizeof(list));
	if (n <= 0 || !memmem(list, (size_t)n, "user.colour", 12))
		return fail("listxattr");
	if (removexattr(at("x"), "user.colour") < 0)
		return fail("removexattr");
	errno = 0;
	if (getxattr(at("x"), "user.colour", v, sizeof(v)) >= 0 || errno != ENODATA)
		return fail("a removed xattr is still there");
	return true;
}

static bool check_shared_mmap(void)
{
	uint8_t buf[16384];
	int fd = open(at("m"), O_RDWR | O_CREAT | O_TRUNC, 0644);
	uint8_t *p;

	if (fd < 0 || ftruncate(fd, sizeof(buf)) < 0)
		return fail("create m");
	p = mmap(NULL, sizeof(buf), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		close(fd);
		return fail("mmap");
	}
	fill(buf, sizeof(buf), 5);
	memcpy(p, buf, sizeof(buf));
	if (msync(p, sizeof(buf), MS_SYNC) < 0) {
		munmap(p, sizeof(buf));
		close(fd);
		return fail("msync");
	}
	munmap(p, sizeof(buf));
	close(fd);
	return same(at("m"), buf, sizeof(buf));
}

static bool check_statfs(void)
{
	struct statvfs sv;

	if (statvfs(top, &sv) < 0)
		return fail("statvfs");
	errno = 0;
	return (sv.f_blocks > 0 && sv.f_bfree <= sv.f_blocks && sv.f_files > 0) ||
	       fail("statvfs: %lu blocks, %lu free", (unsigned long)sv.f_blocks, (unsigned long)sv.f_bfree);
}

/* the data set: files of several sizes, every one fsynced */
static const size_t set_sizes[] = { 1, 4096, 5000, 65536, 1 << 20, (1 << 20) + 12345 };
#define SET_FILES (sizeof(set_sizes) / sizeof(set_sizes[0]))

static int data_set(bool write)
{
	static uint8_t buf[(1 << 20) + 12345];
	char name[64];
	unsigned bad = 0;

	if (write && mkdir(at("set"), 0755) < 0 && errno != EEXIST) {
		perror("mkdir set");
		return 1;
	}
	for (unsigned k = 0; k < SET_FILES; k++) {
		snprintf(name, sizeof(name), "set/f%u", k);
		fill(buf, set_sizes[k], 100 + k);
		errno = 0;
		if (!(write ? put(at(name), buf, set_sizes[k], 0, true) : same(at(name), buf, set_sizes[k]))) {
			printf("not ok - %s %s: %s\n", write ? "write" : "verify", name, why);
			bad++;
		}
	}
	if (write) { /* the directory entries too */
		int fd = open(at("set"), O_RDONLY | O_DIRECTORY);
		if (fd < 0 || fsync(fd) < 0) {
			perror("fsync set");
			bad++;
		}
		if (fd >= 0)
			close(fd);
	}
	printf("%s files=%u bad=%u\n", write ? "written" : "verified", (unsigned)SET_FILES, bad);
	return bad ? 1 : 0;
}

static void run(const char *name, bool (*fn)(void))
{
	tests++;
	errno = 0;
	why[0] = '\0';
	if (fn()) {
		passed++;
		printf("ok - %s\n", name);
	} else {
		printf("not ok - %s: %s\n", name, why);
	}
	fflush(stdout);
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: dax-check test|write|verify DIR\n");
		return 2;
	}
	top = argv[2];
	if (!strcmp(argv[1], "write") || !strcmp(argv[1], "verify"))
		return data_set(argv[1][0] == 'w');
	if (strcmp(argv[1], "test") != 0) {
		fprintf(stderr, "dax-check: unknown mode %s\n", argv[1]);
		return 2;
	}
	run("small and large files, O_EXCL", check_small_and_large_files);
	run("overwrite and sparse", check_overwrite_and_sparse);
	run("truncate", check_truncate);
	run("directories", check_directories);
	run("rename, link, symlink", check_names);
	run("xattrs", check_xattrs);
	run("shared mmap", check_shared_mmap);
	run("statfs", check_statfs);
	printf("tests=%u passed=%u\n", tests, passed);
	return passed == tests ? 0 : 1;
}
