/* pmfusectl.c -- get and set sync policies, show statistics of pmfuse
 * mounts; the commands on unmounted pools are in pmfusectl-pool.c */
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "pmfuse.h"
#include "pmfusectl-pool.h"

#ifndef PMFUSE_VERSION
#define PMFUSE_VERSION "unknown"
#endif

#define EXIT_USAGE 2

static const char usage_text[] =
	"Usage: pmfusectl sync get PATH...\n"
	"       pmfusectl sync set POLICY PATH... [-R]\n"
	"       pmfusectl stats MOUNTPOINT [--json] [--watch SECONDS]\n"
	"       pmfusectl info POOL\n"
	"       pmfusectl grow POOL SIZE | shrink POOL SIZE\n"
	"       pmfusectl --help | --version\n"
	"\n"
	"Read and change the sync policy of files and directories on a pmfuse mount,\n"
	"show the statistics of a mount, and show or resize an unmounted pool.\n"
	"\n"
	"  sync get PATH...        print \"PATH: POLICY\" for each path\n"
	"  sync set POLICY PATH... set the policy of each path; a directory passes it on\n"
	"                          to what is created inside it later\n"
	"    -R, --recursive       also everything below each directory (symbolic links\n"
	"                          are not followed, other file systems not entered)\n"
	"  stats MOUNTPOINT        the statistics of the mount, as a table\n"
	"    --json                the JSON object as the daemon returns it\n"
	"    --watch SECONDS       redraw every SECONDS (e.g. 1 or 0.5) until interrupted\n"
	"  info POOL               superblock, layout, usage and clean/dirty state of an\n"
	"                          unmounted pool (file or device-DAX node)\n"
	"  grow POOL SIZE          make an unmounted pool SIZE bytes (512M, 2G...): the\n"
	"                          file is extended; nothing in the pool moves\n"
	"  shrink POOL SIZE        the same, smaller: refused if a block past SIZE is in use\n"
	"  -h, --help              show this help\n"
	"  -V, --version           show the version\n"
	"\n"
	"POLICY is one of fsync, periodic=<N>ms, periodic=<N>s (1ms to 86400s), close,\n"
	"immediate, never. See pmfusectl(8) and libpmfuse(3).\n"
	"\n"
	"Exit status: 0 success, 1 failure (e.g. not a pmfuse mount), 2 usage error.\n";

static void usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* usage_error -- print the problem and a hint, exit 2 */
static void usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("pmfusectl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'pmfusectl --help'.\n", stderr);
	exit(EXIT_USAGE);
}

/* fail -- report a library failure (ret < 0) */
static void fail(void)
{
	fprintf(stderr, "pmfusectl: %s\n", pmfuse_errmsg());
}

/* bad_option -- a usage error for what getopt_long refused (c: '?' or ':') */
static void bad_option(const char *cmd, int c, char **argv)
{
	const char *arg = argv[optind - 1];

	if (c == ':')
		usage_error("%s: option %s needs an argument", cmd, arg);
	if (optopt && arg[0] == '-' && arg[1] != '-')
		usage_error("%s: unknown option -%c", cmd, optopt);
	usage_error("%s: unknown option %s", cmd, arg);
}

/* --- sync ------------------------------------------------------------------ */

static int sync_get(int argc, char **argv)
{
	int status = 0;

	if (argc < 1)
		usage_error("sync get: missing PATH");
	for (int i = 0; i < argc; i++) {
		char buf[PMFUSE_SYNC_STRMAX];

		if (pmfuse_sync_get_str(argv[i], buf, sizeof(buf)) < 0) {
			fail();
			status = 1;
			continue;
		}
		printf("%s: %s\n", argv[i], buf);
	}
	return status;
}

/* the policy nftw sets, and whether something failed: nftw has no argument */
static struct pmfuse_sync_policy walk_policy;
static int walk_status;

static int walk_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	switch (type) {
	case FTW_NS:
		fprintf(stderr, "pmfusectl: %s: cannot stat: %s\n", path, strerror(errno));
		walk_status = 1;
		return 0;
	case FTW_DNR:
		fprintf(stderr, "pmfusectl: %s: cannot read the directory: %s\n", path,
			strerror(errno));
		walk_status = 1;
		break; /* still set the directory's own policy */
	case FTW_SL:
	case FTW_SLN:
		if (ftw->level > 0)
			return 0; /* links found inside are not followed */
		break;            /* a link given as argument: its target */
	default:
		if (!S_ISREG(st->st_mode) && !S_ISDIR(st->st_mode))
			return 0; /* devices, FIFOs, sockets have no policy */
		break;
	}
	if (pmfuse_sync_set(path, &walk_policy) < 0) {
		fail();
		walk_status = 1;
	}
	return 0;
}

static int sync_set(int argc, char **argv)
{
	static const struct option opts[] = {
		{"recursive", no_argument, NULL, 'R'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	struct pmfuse_sync_policy p;
	bool recursive = false;
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":Rh", opts, NULL)) != -1) {
		switch (c) {
		case 'R':
			recursive = true;
			break;
		case 'h':
			fputs(usage_text, stdout);
			exit(0);
		default:
			bad_option("sync set", c, argv);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		usage_error("sync set: missing POLICY");
	if (argc < 2)
		usage_error("sync set: missing PATH");
	if (pmfuse_sync_parse(argv[0], &p) < 0)
		usage_error("%s", pmfuse_errmsg());
	walk_policy = p;
	walk_status = 0;
	for (int i = 1; i < argc; i++) {
		if (!recursive) {
			if (pmfuse_sync_set(argv[i], &p) < 0) {
				fail();
				walk_status = 1;
			}
			continue;
		}
		if (nftw(argv[i], walk_one, 32, FTW_PHYS | FTW_MOUNT) < 0) {
			fprintf(stderr, "pmfusectl: %s: %s\n", argv[i], strerror(errno));
			walk_status = 1;
		}
	}
	return walk_status;
}

/* --- stats ------------------------------------------------------------------ */

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	interrupted = 1;
}

/* human -- bytes as "512 B", "1.5 KiB", ... "2.0 TiB" */
static const char *human(uint64_t v, char *buf, size_t size)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
	double d = (double)v;
	unsigned u = 0;

	if (v < 1024) {
		snprintf(buf, size, "%" PRIu64 " B", v);
		return buf;
	}
	while (d >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		d /= 1024;
		u++;
	}
	snprintf(buf, size, "%.1f %s", d, units[u]);
	return buf;
}

static void print_table(const char *mnt, const struct pmfuse_stats *s)
{
	char a[32], b[32];
	double used = s->pool_size ? 100.0 * (double)(s->pool_size - s->free_bytes) /
					     (double)s->pool_size
				   : 0;

	printf("pmfuse statistics of %s\n", mnt);
	printf("  %-18s %s\n", "pool size", human(s->pool_size, a, sizeof(a)));
	printf("  %-18s %s (%.1f%% used)\n", "free", human(s->free_bytes, a, sizeof(a)), used);
	printf("  %-18s %" PRIu64 " total, %" PRIu64 " free\n", "inodes", s->inodes_total,
	       s->inodes_free);
	printf("  %-18s %s\n", "granularity", s->granularity);
	printf("  %-18s %s (%" PRIu64 ")\n", "bytes written", human(s->bytes_written, a, sizeof(a)),
	       s->bytes_written);
	printf("  %-18s %s (%" PRIu64 ")\n", "bytes persisted",
	       human(s->bytes_persisted, b, sizeof(b)), s->bytes_persisted);
	printf("  %-18s %s (%" PRIu64 ")\n", "dirty now", human(s->dirty_bytes, a, sizeof(a)),
	       s->dirty_bytes);
	printf("  %-18s %" PRIu64 "\n", "flush calls", s->flush_calls);
	printf("  %-18s %" PRIu64 "\n", "drains", s->drains);
	printf("  %-18s %" PRIu64 "\n", "fsyncs", s->fsyncs);
	printf("  %-18s %" PRIu64 "\n", "periodic flushes", s->periodic_flushes);
	printf("  %-18s fsync %" PRIu64 ", periodic %" PRIu64 ", close %" PRIu64
	       ", immediate %" PRIu64 ", never %" PRIu64 "\n",
	       "inodes by policy", s->policy_inodes[PMFUSE_SYNC_FSYNC],
	       s->policy_inodes[PMFUSE_SYNC_PERIODIC], s->policy_inodes[PMFUSE_SYNC_CLOSE],
	       s->policy_inodes[PMFUSE_SYNC_IMMEDIATE], s->policy_inodes[PMFUSE_SYNC_NEVER]);
}

/* print_json -- the object as the daemon returns it (checked by the library
 * first, so that errors are the same as for the table) */
static int print_json(const char *mnt)
{
	struct pmfuse_stats s = {.size = sizeof(s)};
	char buf[65536];
	ssize_t n;

	if (pmfuse_stats_get(mnt, &s) < 0) {
		fail();
		return 1;
	}
	n = getxattr(mnt, PMFUSE_XATTR_STATS, buf, sizeof(buf) - 1);
	if (n < 0) {
		fprintf(stderr, "pmfusectl: %s: getxattr %s: %s\n", mnt, PMFUSE_XATTR_STATS,
			strerror(errno));
		return 1;
	}
	while (n > 0 && (buf[n - 1] == '\0' || buf[n - 1] == '\n'))
		n--;
	buf[n] = '\0';
	printf("%s\n", buf);
	return 0;
}

/* parse_seconds -- a positive interval up to a day, e.g. "2" or "0.5" */
static bool parse_seconds(const char *s, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v) || v < 0.01 || v > 86400)
		return false;
	*out = v;
	return true;
}

static int stats(int argc, char **argv)
{
	static const struct option opts[] = {
		{"json", no_argument, NULL, 'j'},
		{"watch", required_argument, NULL, 'w'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	double watch = 0;
	bool json = false;
	const char *mnt;
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":jw:h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'w':
			if (!parse_seconds(optarg, &watch))
				usage_error("--watch: \"%s\" is not a number of seconds from 0.01 "
					    "to 86400",
					    optarg);
			break;
		case 'h':
			fputs(usage_text, stdout);
			exit(0);
		default:
			bad_option("stats", c, argv);
		}
	}
	if (argc - optind != 1)
		usage_error(argc == optind ? "stats: missing MOUNTPOINT"
					   : "stats: one MOUNTPOINT expected");
	mnt = argv[optind];

	if (watch > 0) {
		struct sigaction sa = {.sa_handler = on_signal};

		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
	}
	for (;;) {
		struct pmfuse_stats s = {.size = sizeof(s)};
		struct timespec ts;

		if (json) {
			if (print_json(mnt))
				return 1;
		} else {
			if (pmfuse_stats_get(mnt, &s) < 0) {
				fail();
				return 1;
			}
			if (watch > 0) {
				char when[32];
				time_t now = time(NULL);

				strftime(when, sizeof(when), "%H:%M:%S", localtime(&now));
				/* home, clear the screen: redraw in place */
				printf("\033[H\033[2J%s, every %gs (Ctrl-C to stop)\n", when,
				       watch);
			}
			print_table(mnt, &s);
		}
		fflush(stdout);
		if (watch <= 0)
			return 0;
		ts.tv_sec = (time_t)watch;
		ts.tv_nsec = (long)((watch - (double)ts.tv_sec) * 1e9);
		while (!interrupted && nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
		if (interrupted)
			return 0;
	}
}

/* --- main ------------------------------------------------------------------- */

int main(int argc, char **argv)
{
	if (argc < 2)
		usage_error("missing command");
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		fputs(usage_text, stdout);
		return 0;
	}
	if (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version")) {
		printf("pmfusectl %s\n", PMFUSE_VERSION);
		return 0;
	}
	if (!strcmp(argv[1], "sync")) {
		if (argc < 3)
			usage_error("sync: missing get or set");
		if (!strcmp(argv[2], "get")) {
			if (argc > 3 && (!strcmp(argv[3], "-h") || !strcmp(argv[3], "--help"))) {
				fputs(usage_text, stdout);
				return 0;
			}
			if (argc > 3 && !strcmp(argv[3], "--"))
				return sync_get(argc - 4, argv + 4);
			return sync_get(argc - 3, argv + 3);
		}
		if (!strcmp(argv[2], "set"))
			return sync_set(argc - 2, argv + 2);
		usage_error("sync: unknown command \"%s\" (get or set)", argv[2]);
	}
	if (!strcmp(argv[1], "stats"))
		return stats(argc - 1, argv + 1);
	if (!strcmp(argv[1], "info"))
		return pool_info(argc - 1, argv + 1);
	if (!strcmp(argv[1], "grow"))
		return pool_resize(argc - 1, argv + 1, +1);
	if (!strcmp(argv[1], "shrink"))
		return pool_resize(argc - 1, argv + 1, -1);
	usage_error("unknown command \"%s\"", argv[1]);
}
