/* options.c -- the daemon's command line (options.h) */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"

#define OPT(t, p) { t, offsetof(struct pm_options, p), 1 }
enum { KEY_RO = 1 };
#define MAX_READ_UNSET UINT_MAX
static const struct fuse_opt option_spec[] = {
	OPT("sync=%s", sync),
	OPT("timeout=%lf", timeout),
	OPT("spin=%s", spin),
	OPT("loglevel=%s", loglevel),
	OPT("kernel_limits", kernel_limits),
	OPT("no_writeback", no_writeback),
	OPT("no_uring", no_uring),
	OPT("no_prefault", no_prefault),
	OPT("crash_emulation", crash_emulation),
	OPT("crash_at=%lu", crash_at),
	OPT("nonempty", nonempty),
	/* libfuse's mount option, which pmfuse must also repeat at INIT */
	OPT("max_read=%u", max_read),
	FUSE_OPT_KEY("max_read=", FUSE_OPT_KEY_KEEP),
	OPT("-h", show_help),
	OPT("--help", show_help),
	OPT("-V", show_version),
	OPT("--version", show_version),
	FUSE_OPT_KEY("ro", KEY_RO),
	FUSE_OPT_END
};

static int opt_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct pm_options *o = data;

	if (key == FUSE_OPT_KEY_NONOPT && !o->pool) {
		o->pool = arg; /* the first positional argument; the second is the mount point */
		return 0;
	}
	if (key == KEY_RO)
		o->ro = 1; /* and kept, for the kernel */
	return 1;
}

/* parse_loglevel -- "error", "warning", "notice", "info", "debug" */
static int parse_loglevel(const char *s)
{
	static const struct { const char *name; int level; } levels[] = {
		{ "error", FUSE_LOG_ERR }, { "err", FUSE_LOG_ERR }, { "warning", FUSE_LOG_WARNING },
		{ "notice", FUSE_LOG_NOTICE }, { "info", FUSE_LOG_INFO }, { "debug", FUSE_LOG_DEBUG },
	};

	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
		if (strcmp(s, levels[i].name) == 0)
			return levels[i].level;
	return -1;
}

/* parse_spin -- microseconds, 0 to 1000000, digits only */
static int parse_spin(const char *s, unsigned *out)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return -1;
	v = strtoul(s, &end, 10);
	if (*end || v > 1000000)
		return -1;
	*out = (unsigned)v;
	return 0;
}

int pm_options_parse(struct fuse_args *args, struct pm_options *o, char *err, size_t errlen)
{
	struct fuse_cmdline_opts cl = { 0 };

	memset(o, 0, sizeof(*o));
	o->timeout = 86400.0;
	o->spin_us = 200;
	o->log_max = FUSE_LOG_INFO;
	o->policy.kind = PM_SYNC_FSYNC;
	o->max_read = MAX_READ_UNSET;
	err[0] = '\0';
	/* libfuse's parsers log their own one-line reasons: err stays empty */
	if (fuse_opt_parse(args, o, option_spec, opt_proc) != 0)
		return -1;
	if (o->show_help || o->show_version)
		return 1;
	if (fuse_parse_cmdline(args, &cl) != 0) {
		free(cl.mountpoint); /* libfuse keeps it when a later argument fails */
		return -1;
	}
	o->mountpoint = cl.mountpoint;
	o->foreground = cl.foreground;
	o->debug = cl.debug;
	o->singlethread = cl.singlethread;
	o->max_threads = cl.max_threads;
	if (!o->pool || !o->mountpoint) {
		snprintf(err, errlen, "usage: pmfuse [options] POOL MOUNTPOINT (see --help)");
		return -1;
	}
	if (o->sync && pm_sync_parse(o->sync, strlen(o->sync), &o->policy) != 0) {
		snprintf(err, errlen, "invalid sync policy '%s' (fsync, periodic=<N>ms|<N>s, close, "
			 "immediate, never)", o->sync);
		return -1;
	}
	if (o->spin && parse_spin(o->spin, &o->spin_us) != 0) {
		snprintf(err, errlen, "invalid spin=%s (microseconds, 0 to 1000000)", o->spin);
		return -1;
	}
	if (o->loglevel && (o->log_max = parse_loglevel(o->loglevel)) < 0) {
		snprintf(err, errlen, "invalid loglevel=%s (error, warning, notice, info, debug)",
			 o->loglevel);
		return -1;
	}
	if (o->max_threads < 1 || o->max_threads > 100000) {
		snprintf(err, errlen, "invalid max_threads (1 to 100000 worker threads)");
		return -1;
	}
	if (o->max_read != MAX_READ_UNSET && (o->max_read < 4096 || o->max_read > 1048576)) {
		/* the kernel reads at least a page, and at most max_pages (1 MiB) */
		snprintf(err, errlen, "invalid max_read (4096 to 1048576 bytes)");
		return -1;
	}
	if (o->max_read == MAX_READ_UNSET)
		o->max_read = 0;
	if (o->debug)
		o->log_max = FUSE_LOG_DEBUG; /* -d: every request is logged */
	if (!(o->timeout >= 0)) {
		snprintf(err, errlen, "invalid timeout");
		return -1;
	}
	if (o->crash_at)
		o->crash_emulation = 1;
	if (fuse_opt_add_arg(args, "-odefault_permissions") || fuse_opt_add_arg(args, "-ofsname=pmfuse") ||
	    fuse_opt_add_arg(args, "-osubtype=pmfuse")) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

void pm_options_free(struct pm_options *o)
{
	free(o->mountpoint);
	free(o->sync);
	free(o->spin);
	free(o->loglevel);
	o->mountpoint = o->sync = o->spin = o->loglevel = NULL;
}
