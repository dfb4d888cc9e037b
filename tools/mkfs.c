/* mkfs.c -- mkfs.pmfuse: create or format a pmfuse pool */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "format.h"
#include "media.h"
#include "parse.h"
#include "super.h"

#define DEFAULT_SIZE (1ull << 30)

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: mkfs.pmfuse [--size SIZE] [--inodes N] [--force] POOL\n"
		"Create a pmfuse pool in POOL (a file, created pre-allocated if missing,\n"
		"or a device-DAX node) and format it with an empty file system.\n"
		"\n"
		"  -s, --size SIZE    pool size, e.g. 512M, 1G (default: the size of an\n"
		"                     existing file or device, else 1G); minimum 8M\n"
		"  -i, --inodes N     number of inodes (default: one per 8 KiB)\n"
		"  -f, --force        overwrite an existing pmfuse pool\n"
		"  -q, --quiet        print nothing on success\n"
		"  -h, --help         show this help\n"
		"  -V, --version      show the version\n");
}

static int die(const char *fmt, const char *a, const char *b)
{
	fprintf(stderr, "mkfs.pmfuse: ");
	fprintf(stderr, fmt, a, b);
	fputc('\n', stderr);
	return 1;
}

/* prepare -- make path a pre-allocated file (or device) of the wanted size:
 * returns the size to format, or 0 after printing an error */
static uint64_t prepare(const char *path, uint64_t want, bool force)
{
	struct stat st;
	bool existed = access(path, F_OK) == 0;
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	char buf[sizeof(struct pm_super)];
	uint64_t size;
	int err;

	if (fd < 0) {
		die("cannot open %s: %s", path, strerror(errno));
		return 0;
	}
	if (fstat(fd, &st) < 0 || !(S_ISREG(st.st_mode) || S_ISCHR(st.st_mode))) {
		die("%s is neither a regular file nor a device-DAX node%s", path, "");
		goto fail;
	}
	/* a mounted pool is locked: refuse before changing anything */
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		die("%s is in use (mounted?): %s", path,
		    errno == EWOULDBLOCK ? "locked by another process" : strerror(errno));
		goto fail;
	}
	if (pread(fd, buf, sizeof(buf), 0) == (ssize_t)sizeof(buf) &&
	    pm_super_looks_like_pool(buf, sizeof(buf)) && !force) {
		die("%s already holds a pmfuse pool; use --force to overwrite it%s", path, "");
		goto fail;
	}
	if (S_ISCHR(st.st_mode)) {
		close(fd); /* drops the lock: pm_media_open takes its own */
		return want ? want : 1; /* the mapping tells the size */
	}
	size = want ? want : (st.st_size ? (uint64_t)st.st_size : DEFAULT_SIZE);
	size &= ~(uint64_t)(PM_BLOCK_SIZE - 1);
	if (size < PM_MIN_POOL_SIZE) {
		die("pool size must be at least 8M%s%s", "", "");
		goto fail;
	}
	if ((uint64_t)st.st_size > size && ftruncate(fd, (off_t)size) < 0) {
		die("cannot resize %s: %s", path, strerror(errno));
		goto fail;
	}
	/* no holes: a page fault on a hole would need a block allocation by
	 * the file system under the mapping (SIGBUS on DAX) */
	if ((err = posix_fallocate(fd, 0, (off_t)size))) {
		die("cannot allocate %s: %s", path, strerror(err));
		goto fail;
	}
	close(fd);
	return size;
fail:
	close(fd);
	if (!existed)
		unlink(path); /* leave nothing behind */
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "size", required_argument, NULL, 's' },  { "inodes", required_argument, NULL, 'i' },
		{ "force", no_argument, NULL, 'f' },       { "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },        { "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t size = 0, inodes = 0;
	bool force = false, quiet = false;
	struct pm_media *m;
	struct pm_super sb;
	char uuid[37], hs[32];
	int c;

	while ((c = getopt_long(argc, argv, "s:i:fqhV", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (pm_parse_size(optarg, &size) || size == 0)
				return die("invalid size '%s' (examples: 512M, 1G)%s", optarg, "");
			break;
		case 'i':
			if (pm_parse_size(optarg, &inodes) || inodes == 0)
				return die("invalid inode count '%s'%s", optarg, "");
			break;
		case 'f': force = true; break;
		case 'q': quiet = true; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("mkfs.pmfuse %s\n", PMFUSE_VERSION); return 0;
		default: usage(stderr); return 1;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return 1;
	}
	const char *path = argv[optind];
	bool existed = access(path, F_OK) == 0;
	uint64_t prepared = prepare(path, size, force);
	if (!prepared)
		return 1;
	if (pm_media_open(path, 0, &m))
		return die("%s%s", pm_errmsg(), "");
	if (size == 0 || pm_media_size(m) < size)
		size = pm_media_size(m); /* a device-DAX node, or an existing file */
	if (pm_super_layout(&sb, size, inodes) || pm_super_format(m, &sb, getuid(), getgid())) {
		pm_media_delete(&m);
		if (!existed)
			unlink(path);
		return die("%s%s", pm_errmsg(), "");
	}
	if (!quiet) {
		pm_super_uuid_str(&sb, uuid);
		pm_format_size(sb.pool_size, hs, sizeof(hs));
		printf("mkfs.pmfuse: formatted %s\n"
		       "  size:    %s (%" PRIu64 " blocks of %u bytes)\n"
		       "  data:    %" PRIu64 " blocks\n"
		       "  inodes:  %" PRIu64 "\n"
		       "  UUID:    %s\n"
		       "  granularity: %s\n",
		       path, hs, sb.total_blocks, PM_BLOCK_SIZE, sb.data_blocks, sb.inode_count, uuid,
		       pm_media_granularity(m));
	}
	pm_media_delete(&m);
	return 0;
}
