/* fsck.c -- fsck.pmfuse: check and repair a pmfuse pool (the checks are
 * daemon/pool/check.c; this is options, output and exit status) */
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "err.h"

/* exit status, as fsck(8): bits that add up */
enum {
	EXIT_CLEAN = 0,
	EXIT_CORRECTED = 1,
	EXIT_UNCORRECTED = 4,
	EXIT_OPERATIONAL = 8,
	EXIT_USAGE = 16,
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: fsck.pmfuse [-n | -y | -p] [-v] [-f] POOL\n"
		"Check the pmfuse pool POOL (a file or device-DAX node) and, with -y or -p,\n"
		"repair it. The pool must not be mounted.\n"
		"\n"
		"  -n, --no           check only: open the pool read-only, change nothing\n"
		"                     (the default)\n"
		"  -y, --yes          repair every problem that can be repaired\n"
		"  -p, -a, --preen    repair without asking what is safe to repair alone\n"
		"                     (unfinished transactions, orphans, link and block\n"
		"                     counts, entry types, a superblock copy); if anything\n"
		"                     else is wrong, change nothing and exit with 4\n"
		"  -v, --verbose      say what is checked, and show progress\n"
		"  -f, --force        accepted for fsck(8); every check is always full\n"
		"  -h, --help         show this help\n"
		"  -V, --version      show the version\n"
		"\n"
		"Without -n, -y or -p, fsck.pmfuse only checks, as with -n: it never asks.\n"
		"\n"
		"Exit status (bits, as fsck(8)): 0 no errors, 1 errors corrected, 4 errors\n"
		"left uncorrected, 8 operational error (cannot open, mounted, not a pool),\n"
		"16 usage error.\n");
}

static void report(void *arg, enum pm_check_level level, const char *msg)
{
	(void)level;
	printf("%s: %s\n", (const char *)arg, msg);
	fflush(stdout);
}

static void progress(void *arg, unsigned pass, unsigned passes, const char *what, uint64_t done,
		     uint64_t total)
{
	(void)arg;
	fprintf(stderr, "fsck.pmfuse: pass %u/%u: %s %" PRIu64 "/%" PRIu64 "\n", pass, passes, what, done,
		total);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "no", no_argument, NULL, 'n' },        { "yes", no_argument, NULL, 'y' },
		{ "preen", no_argument, NULL, 'p' },     { "verbose", no_argument, NULL, 'v' },
		{ "force", no_argument, NULL, 'f' },     { "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },   { NULL, 0, NULL, 0 },
	};
	struct pm_check_opts o = { .mode = PM_CHECK_ONLY, .report = report, .progress = progress };
	struct pm_check_result r;
	unsigned modes = 0;
	int c, status = EXIT_CLEAN;

	while ((c = getopt_long(argc, argv, "nypavfhV", opts, NULL)) != -1) {
		switch (c) {
		case 'n': o.mode = PM_CHECK_ONLY; modes |= 1; break;
		case 'y': o.mode = PM_CHECK_REPAIR; modes |= 2; break;
		case 'p': case 'a': o.mode = PM_CHECK_PREEN; modes |= 4; break;
		case 'v': o.verbose = true; break;
		case 'f': break;
		case 'h': usage(stdout); return EXIT_CLEAN;
		case 'V': printf("fsck.pmfuse %s\n", PMFUSE_VERSION); return EXIT_CLEAN;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (modes & (modes - 1)) {
		fprintf(stderr, "fsck.pmfuse: only one of -n, -y and -p (-a) may be given\n");
		return EXIT_USAGE;
	}
	if (optind != argc - 1) {
		usage(stderr);
		return EXIT_USAGE;
	}
	const char *pool = argv[optind];
	o.arg = (void *)pool;
	if (pm_check(pool, &o, &r)) {
		fprintf(stderr, "fsck.pmfuse: %s\n", pm_errmsg());
		return EXIT_OPERATIONAL;
	}
	printf("%s: %" PRIu64 " inodes, %" PRIu64 " directories, %" PRIu64 " blocks used of %" PRIu64
	       "; %" PRIu64 " errors, %" PRIu64 " fixed\n",
	       pool, r.inodes, r.dirs, r.blocks_used, r.data_blocks, r.errors, r.fixed);
	if (r.preen_refused)
		printf("%s: UNEXPECTED INCONSISTENCY: nothing was changed; run fsck.pmfuse -y %s\n", pool,
		       pool);
	else if (r.left && o.mode == PM_CHECK_ONLY)
		printf("%s: %" PRIu64 " errors not repaired (checked only); fsck.pmfuse -y %s repairs them\n",
		       pool, r.left, pool);
	else if (r.left)
		printf("%s: %" PRIu64 " errors could not be repaired\n", pool, r.left);
	if (r.fixed)
		status |= EXIT_CORRECTED;
	if (r.left)
		status |= EXIT_UNCORRECTED;
	return status;
}
