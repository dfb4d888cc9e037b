/* engine-ops -- what persistence costs per metadata operation, in the
 * engine alone: no FUSE, no kernel round trip, so no request's noise.
 *
 * Each round formats a pool in /dev/shm and runs every operation on N files
 * of one directory, once with page granularity (a flush on a RAM-backed pool
 * is skipped: the operation's own work) and once with
 * PMEM2_FORCE_GRANULARITY=cache_line (every flush a CLWB, every drain an
 * SFENCE, as on real pmem). Files are held as the kernel holds them (a
 * reference from the create until the unlink). It prints microseconds per
 * operation (the median of the rounds), the ratio cache line / page, and
 * the flushes and drains one operation makes. Timings are printed, never
 * judged: the exit status is non-zero only when an operation fails.
 *
 * Usage: engine-ops [--ops N] [--rounds R] [--dir DIR]
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fs.h"
#include "fsi.h"
#include "media.h"
#include "super.h"

enum op { CREATE, WRITE, FSYNC, OVERWRITE, FSYNC_DIRTY, SETATTR, UNLINK, NOPS };

static const char *const op_name[NOPS] = {
	"create", "write 4 KiB (allocating)", "fsync (after it)", "write 4 KiB (in place)",
	"fsync (4 KiB dirty)", "setattr (mode, mtime)", "unlink (and release)",
};

static const char *const gran[2] = { "page", "cache_line" };

#define POOL_SIZE (64u << 20)

struct sample {
	double us;               /* per operation */
	double flushes, drains;  /* per operation */
};

static double now_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static void die(const char *what, int ret)
{
	fprintf(stderr, "engine-ops: %s: %s (%s)\n", what, strerror(ret < 0 ? -ret : ret), pm_errmsg());
	exit(1);
}

/* new_pool -- a formatted pool file of size bytes, nameless once opened */
static char *new_pool(const char *dir, uint64_t size)
{
	char *path;
	struct pm_media *m = NULL;
	struct pm_super sb;
	int fd, ret;

	if (asprintf(&path, "%s/engine-ops-XXXXXX", dir) < 0)
		die("asprintf", ENOMEM);
	if ((fd = mkstemp(path)) < 0)
		die(path, errno);
	if ((ret = posix_fallocate(fd, 0, (off_t)size)))
		die("posix_fallocate", ret);
	close(fd);
	if ((ret = pm_media_open(path, 0, &m)) || (ret = pm_super_layout(&sb, size, 0)) ||
	    (ret = pm_super_format(m, &sb, getuid(), getgid())))
		die("format", ret);
	pm_media_delete(&m);
	return path;
}

static void counts(struct pm_fs *fs, uint64_t *flushes, uint64_t *drains)
{
	uint64_t bytes;

	pm_media_counts(fs->m, flushes, drains, &bytes);
}

/* prefault -- map every page of the pool before the clock runs: a first
 * touch costs a page fault (some 14 µs on a virtual machine), which would
 * drown what is measured; a long-running daemon has its pool mapped */
static void prefault(struct pm_fs *fs)
{
	volatile const uint8_t *p = fs->base;
	uint8_t sink = 0;

	for (size_t off = 0; off < POOL_SIZE; off += 4096)
		sink ^= p[off];
	(void)sink;
}

/* round -- every operation on n files; s[op] gets this round's figures */
static void round_of(const char *dir, const char *granularity, unsigned n, struct sample *s)
{
	char *path = new_pool(dir, POOL_SIZE), name[32];
	struct pm_cred cred = { getuid(), getgid() };
	uint64_t *ino = calloc(n, sizeof(*ino)), f0, d0, f1, d1;
	static char buf[4096];
	struct pm_fs *fs;
	struct pm_attr a;
	int ret;

	setenv("PMEM2_FORCE_GRANULARITY", granularity, 1);
	if (!ino)
		die("calloc", ENOMEM);
	if ((ret = pm_fs_open(path, 0, &fs)))
		die(path, ret);
	unlink(path);
	prefault(fs);
	memset(buf, 'x', sizeof(buf));
	for (enum op op = 0; op < NOPS; op++) {
		counts(fs, &f0, &d0);
		double t0 = now_us();
		for (unsigned i = 0; i < n; i++) {
			struct pm_setattr sa = { .valid = PM_SET_MODE | PM_SET_MTIME, .mode = 0600 };
			ssize_t w;

			snprintf(name, sizeof(name), "f%u", i);
			switch (op) {
			case CREATE:
				ret = pm_fs_mknod(fs, PM_ROOT_INO, name, S_IFREG | 0644, 0, &cred, &a);
				ino[i] = a.ino;
				break;
			case WRITE:
			case OVERWRITE:
				w = pm_fs_write(fs, ino[i], 0, buf, sizeof(buf), false);
				ret = w == (ssize_t)sizeof(buf) ? 0 : w < 0 ? (int)w : -EIO;
				break;
			case FSYNC:
			case FSYNC_DIRTY:
				ret = pm_fs_fsync(fs, ino[i]);
				break;
			case SETATTR:
				sa.mtime.tv_sec = 1000 + i;
				ret = pm_fs_setattr(fs, ino[i], &sa, &a);
				break;
			default:
				ret = pm_fs_unlink(fs, PM_ROOT_INO, name);
				pm_fs_forget(fs, ino[i], 1);
				break;
			}
			if (ret)
				die(op_name[op], ret);
		}
		double t1 = now_us();
		counts(fs, &f1, &d1);
		s[op].us = (t1 - t0) / n;
		s[op].flushes = (double)(f1 - f0) / n;
		s[op].drains = (double)(d1 - d0) / n;
	}
	pm_fs_close(&fs);
	free(ino);
	free(path);
}

static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, unsigned n)
{
	qsort(v, n, sizeof(*v), by_value);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: engine-ops [--ops N] [--rounds R] [--dir DIR]\n"
		   "  --ops N      files per round (default 2000)\n"
		   "  --rounds R   rounds per granularity, alternating (default 5)\n"
		   "  --dir DIR    where the pools are made (default /dev/shm)\n");
}

int main(int argc, char **argv)
{
	unsigned n = 2000, rounds = 5;
	const char *dir = "/dev/shm";

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		}
		if (i + 1 >= argc) {
			usage(stderr);
			return 2;
		}
		if (strcmp(argv[i], "--ops") == 0)
			n = (unsigned)strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--rounds") == 0)
			rounds = (unsigned)strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--dir") == 0)
			dir = argv[++i];
		else {
			usage(stderr);
			return 2;
		}
	}
	if (n == 0 || n > 1000000 || rounds == 0 || rounds > 100) {
		fprintf(stderr, "engine-ops: --ops must be 1 to 1000000, --rounds 1 to 100\n");
		return 2;
	}

	struct sample (*s)[2][NOPS] = calloc(rounds, sizeof(*s));
	double *v = calloc(rounds, sizeof(*v));
	if (!s || !v)
		die("calloc", ENOMEM);
	/* the granularities alternate, so that the machine's drift hits both */
	for (unsigned r = 0; r < rounds; r++)
		for (unsigned g = 0; g < 2; g++)
			round_of(dir, gran[(g + r) % 2], n, s[r][(g + r) % 2]);

	printf("engine-ops: %u files, %u rounds per granularity, pools in %s\n\n", n, rounds, dir);
	printf("| operation | page µs | cache line µs | cache line / page | flushes, drains (page) | flushes, drains (cache line) |\n");
	printf("| --- | ---: | ---: | ---: | ---: | ---: |\n");
	for (enum op op = 0; op < NOPS; op++) {
		double us[2], fl[2], dr[2];
		for (unsigned g = 0; g < 2; g++) {
			for (unsigned r = 0; r < rounds; r++)
				v[r] = s[r][g][op].us;
			us[g] = median(v, rounds);
			fl[g] = s[0][g][op].flushes;
			dr[g] = s[0][g][op].drains;
		}
		printf("| %s | %.2f | %.2f | %.2f | %.1f, %.1f | %.1f, %.1f |\n", op_name[op], us[0], us[1],
		       us[1] / us[0], fl[0], dr[0], fl[1], dr[1]);
	}
	free(s);
	free(v);
	return 0;
}
