/* pmfusectl-pool.c -- pmfusectl info, grow and shrink: commands on an
 * unmounted pool, through the engine (no daemon involved) */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "format.h"
#include "fs.h"
#include "parse.h"
#include "super.h"
#include "pmfusectl-pool.h"

static int failed(const char *pool)
{
	fprintf(stderr, "pmfusectl: %s: %s\n", pool, pm_errmsg());
	return 1;
}

static int usage(const char *what)
{
	fprintf(stderr, "pmfusectl: usage: pmfusectl %s\nTry 'pmfusectl --help'.\n", what);
	return 2;
}

/* read_super -- the primary superblock, checked, without mapping the pool */
static int read_super(const char *pool, struct pm_super *sb)
{
	char buf[2 * PM_BLOCK_SIZE];
	int fd = open(pool, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return pm_err(errno, "cannot open: %s", strerror(errno));
	struct stat st;
	int ret;

	n = pread(fd, buf, sizeof(buf), 0);
	if (fstat(fd, &st) < 0)
		st.st_mode = 0;
	close(fd);
	if (n != (ssize_t)sizeof(buf))
		return pm_err(EINVAL, "too short to be a pmfuse pool (create one with mkfs.pmfuse)");
	/* the superblock alone: how long the file is, is checked below (a
	 * device-DAX node has no length to stat) */
	if ((ret = pm_super_check(buf, SIZE_MAX, sb)))
		return ret;
	if (S_ISREG(st.st_mode) && (uint64_t)st.st_size < sb->pool_size)
		return pm_err(EUCLEAN, "pool file is too short: %lld bytes, the superblock says %" PRIu64
			      " (truncated pool?)", (long long)st.st_size, sb->pool_size);
	return 0;
}

static void print_super(const char *pool, const struct pm_super *sb)
{
	char uuid[37], size[32], when[64];
	time_t t = (time_t)sb->mkfs_time;

	pm_super_uuid_str(sb, uuid);
	pm_format_size(sb->pool_size, size, sizeof(size));
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S %Z", localtime(&t));
	printf("pool:         %s\n", pool);
	printf("uuid:         %s\n", uuid);
	printf("format:       %u.%u\n", sb->major, sb->minor);
	printf("created:      %s\n", when);
	printf("size:         %s (%" PRIu64 " blocks of %u bytes)\n", size, sb->total_blocks, sb->block_size);
	printf("layout:       superblock 0, backup 1, journal %" PRIu64 "-%" PRIu64 ", inode table %" PRIu64
	       "-%" PRIu64 ", data %" PRIu64 "-%" PRIu64 "\n",
	       sb->journal_start, sb->journal_start + sb->journal_blocks - 1, sb->itable_start,
	       sb->itable_start + sb->itable_blocks - 1, sb->data_start, sb->data_start + sb->data_blocks - 1);
}

int pool_info(int argc, char **argv)
{
	struct pm_super sb;
	struct pm_fs *fs = NULL;
	struct pm_statfs s;
	struct pm_info info;
	char used[32], avail[32];
	int ret;

	if (argc != 2 || argv[1][0] == '-')
		return usage("info POOL");
	if (read_super(argv[1], &sb))
		return failed(argv[1]);
	ret = pm_fs_open(argv[1], PM_FS_RDONLY, &fs);
	if (ret == -EBUSY) {
		fprintf(stderr, "pmfusectl: %s is mounted (a pmfuse daemon holds it): "
			"use pmfusectl stats MOUNTPOINT\n", argv[1]);
		return 1;
	}
	print_super(argv[1], &sb);
	if (ret) {
		/* read-only, the journal cannot be replayed: say so, do not fail */
		printf("state:        not unmounted cleanly: %s\n", pm_errmsg());
		return 0;
	}
	pm_fs_info(fs, &info);
	pm_fs_statfs(fs, &s);
	pm_format_size((s.blocks - s.bfree) * s.bsize, used, sizeof(used));
	pm_format_size(s.bfree * s.bsize, avail, sizeof(avail));
	printf("inodes:       %" PRIu64 " used, %" PRIu64 " free, %" PRIu64 " in all\n", s.files - s.ffree,
	       s.ffree, s.files);
	printf("data:         %s used, %s free (%" PRIu64 " %% used)\n", used, avail,
	       s.blocks ? (s.blocks - s.bfree) * 100 / s.blocks : 0);
	printf("state:        %s\n", info.was_clean ? "clean" : "not unmounted cleanly (the next mount recovers it)");
	printf("granularity:  %s%s (as mapped by this process)\n", info.granularity,
	       info.map_sync ? ", MAP_SYNC" : "");
	pm_fs_close(&fs);
	return 0;
}

int pool_resize(int argc, char **argv, int direction)
{
	const char *cmd = direction > 0 ? "grow POOL SIZE" : "shrink POOL SIZE";
	uint64_t size, old_size, new_size;
	struct pm_super sb;
	char a[32], b[32];

	if (argc != 3 || argv[1][0] == '-')
		return usage(cmd);
	if (pm_parse_size(argv[2], &size) || size == 0) {
		fprintf(stderr, "pmfusectl: invalid size '%s' (examples: 512M, 1G)\n", argv[2]);
		return 2;
	}
	if (read_super(argv[1], &sb))
		return failed(argv[1]);
	size -= size % PM_BLOCK_SIZE;
	if (direction > 0 ? size < sb.pool_size : size > sb.pool_size) {
		pm_format_size(sb.pool_size, a, sizeof(a));
		fprintf(stderr, "pmfusectl: %s is %s: %s to %s? (use %s)\n", argv[1], a,
			direction > 0 ? "grow" : "shrink", argv[2], direction > 0 ? "shrink" : "grow");
		return 2;
	}
	if (pm_fs_resize(argv[1], size, &old_size, &new_size))
		return failed(argv[1]);
	pm_format_size(old_size, a, sizeof(a));
	pm_format_size(new_size, b, sizeof(b));
	if (old_size == new_size)
		printf("%s: %s already\n", argv[1], b);
	else
		printf("%s: %s -> %s\n", argv[1], a, b);
	return 0;
}
