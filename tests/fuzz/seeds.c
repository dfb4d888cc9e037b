/* seeds.c -- fuzz-seeds MKFS OUTDIR: the seed corpus of the pool fuzzers,
 * made rather than committed: pools created by mkfs.pmfuse, then changed by
 * small workloads through the engine, then encoded (image.h). Some are
 * closed cleanly, one is left open (dirty, with an orphan), and some are cut
 * by an emulated power failure at a flush or drain in the middle of a
 * workload, so that their journal holds unfinished transactions. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fs.h"
#include "image.h"

static const char *mkfs, *outdir;
static char pool[128];
static const struct pm_cred cred = { 0, 0 };

static void die(const char *what)
{
	fprintf(stderr, "fuzz-seeds: %s: %s\n", what, pm_errmsg());
	exit(1);
}

static void make_pool(const char *size, const char *inodes)
{
	char cmd[512];

	unlink(pool);
	snprintf(cmd, sizeof(cmd), "'%s' --size %s%s%s '%s' >/dev/null", mkfs, size,
		 inodes ? " --inodes " : "", inodes ? inodes : "", pool);
	if (system(cmd) != 0) {
		fprintf(stderr, "fuzz-seeds: %s failed\n", cmd);
		exit(1);
	}
}

/* save -- the pool file, encoded, as OUTDIR/name (and, with its checksums
 * to be recomputed, OUTDIR/name-fixcrc) */
static void save(const char *name)
{
	int fd = open(pool, O_RDONLY);
	struct stat st;

	if (fd < 0 || fstat(fd, &st) != 0)
		die(pool);
	uint8_t *img = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (img == MAP_FAILED)
		die("mmap");
	for (int fix = 0; fix < 2; fix++) {
		size_t n;
		uint8_t *enc = fuzz_image_encode(img, st.st_size, fix ? FUZZ_FIX_CRC : 0, &n);
		char path[512];

		if (!enc)
			die("encode");
		snprintf(path, sizeof(path), "%s/%s%s", outdir, name, fix ? "-fixcrc" : "");
		FILE *f = fopen(path, "w");
		if (!f || fwrite(enc, 1, n, f) != n || fclose(f) != 0)
			die(path);
		free(enc);
	}
	munmap(img, st.st_size);
	close(fd);
}

static uint64_t mk(struct pm_fs *fs, uint64_t dir, const char *name, uint32_t mode)
{
	struct pm_attr a;

	if (pm_fs_mknod(fs, dir, name, mode, 0, &cred, &a) != 0)
		die(name);
	return a.ino; /* the reference is kept: forgotten at close */
}

static void fill(struct pm_fs *fs, uint64_t ino, uint64_t off, size_t len, uint8_t seed)
{
	static uint8_t buf[65536];

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 31 + seed);
	while (len > 0) {
		size_t n = len < sizeof(buf) ? len : sizeof(buf);
		if (pm_fs_write(fs, ino, off, buf, n, false) != (ssize_t)n)
			die("write");
		off += n;
		len -= n;
	}
}

/* workload -- one of everything: files small and large (a tree two levels
 * deep), holes, a directory of many blocks, links, a FIFO, xattrs, policies,
 * a rename, an unlink */
static void workload(struct pm_fs *fs)
{
	struct pm_attr a;
	char name[64];

	uint64_t d = mk(fs, 1, "dir", S_IFDIR | 0755);
	uint64_t f = mk(fs, d, "small", S_IFREG | 0644);
	fill(fs, f, 0, 100, 1);
	pm_fs_fsync(fs, f);
	uint64_t big = mk(fs, 1, "big", S_IFREG | 0600);
	fill(fs, big, 0, 64 << 10, 2);
	fill(fs, big, 3 << 20, 8192, 3); /* past a hole, in a second tree level */
	pm_fs_fsync(fs, big);
	uint64_t many = mk(fs, 1, "many", S_IFDIR | 0700);
	for (int i = 0; i < 150; i++) {
		snprintf(name, sizeof(name), "entry-with-a-longer-name-%03d", i);
		mk(fs, many, name, S_IFREG | 0644);
	}
	if (pm_fs_symlink(fs, d, "link", "../big", &cred, &a) != 0)
		die("symlink");
	if (pm_fs_link(fs, f, 1, "hard", &a) != 0)
		die("link");
	mk(fs, d, "fifo", S_IFIFO | 0644);
	if (pm_fs_setxattr(fs, f, "user.note", "hello", 5, 0) != 0 ||
	    pm_fs_setxattr(fs, d, "user.pmfuse.sync", "periodic=5s", 11, 0) != 0 ||
	    pm_fs_setxattr(fs, 1, "trusted.big", (char[2000]){ 7 }, 2000, 0) != 0)
		die("setxattr");
	if (pm_fs_rename(fs, many, "entry-with-a-longer-name-007", d, "renamed", 0) != 0)
		die("rename");
	for (int i = 0; i < 150; i += 3) {
		snprintf(name, sizeof(name), "entry-with-a-longer-name-%03d", i);
		pm_fs_unlink(fs, many, name);
	}
	uint64_t orphan = mk(fs, 1, "orphan", S_IFREG | 0644);
	fill(fs, orphan, 0, 5000, 4);
	pm_fs_unlink(fs, 1, "orphan"); /* still referenced: an orphan until close */
	struct pm_setattr sa = { .valid = PM_SET_SIZE, .size = 50000 };
	pm_fs_setattr(fs, big, &sa, &a);
}

/* crashed -- the workload cut by a power failure at the nth flush/drain */
static void crashed(unsigned n)
{
	char name[64];
	pid_t pid;
	int status;

	make_pool("8M", NULL);
	pid = fork();
	if (pid == 0) {
		struct pm_fs *fs;
		pm_fs_arm_crash(n);
		if (pm_fs_open(pool, PM_FS_EMULATE, &fs) != 0)
			_exit(1);
		workload(fs);
		_exit(0); /* the workload ended first: the pool stays as it was left */
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || (WIFEXITED(status) && WEXITSTATUS(status)))
		die("crash child");
	snprintf(name, sizeof(name), "crash-%u", n);
	save(name);
}

int main(int argc, char **argv)
{
	struct pm_fs *fs;

	if (argc != 3) {
		fprintf(stderr, "usage: fuzz-seeds MKFS OUTDIR\n");
		return 2;
	}
	mkfs = argv[1];
	outdir = argv[2];
	if (mkdir(outdir, 0755) != 0 && errno != EEXIST)
		die(outdir);
	snprintf(pool, sizeof(pool), "/dev/shm/pmfuse-fuzz-seeds-%d.pool", (int)getpid());

	make_pool("8M", NULL);
	save("empty");
	make_pool("9M", "64");
	save("empty-9M-64-inodes");

	make_pool("8M", NULL);
	if (pm_fs_open(pool, 0, &fs) != 0)
		die("open");
	workload(fs);
	save("open"); /* dirty, with an orphan */
	pm_fs_close(&fs);
	save("clean");

	static const unsigned points[] = { 3, 10, 40, 120, 300, 700 };
	for (size_t i = 0; i < sizeof(points) / sizeof(points[0]); i++)
		crashed(points[i]);
	unlink(pool);
	return 0;
}
