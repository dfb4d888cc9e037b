/* options.h -- the daemon's command line: pmfuse's own -o options checked
 * and converted, libfuse's command-line options (-f, -d, -s, max_threads)
 * taken out; what is left in args is for fuse_session_new. No file system
 * is touched here, so that a fuzzer can drive it (tests/fuzz). */
#ifndef PM_OPTIONS_H
#define PM_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>

#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION 317
#endif
#include <fuse_lowlevel.h>

#include "policy.h"

struct pm_options {
	const char *pool;        /* the first positional argument */
	char *mountpoint;        /* the second (libfuse's parser) */
	char *sync;              /* -o sync=, as given (NULL: none) */
	struct pm_sync policy;   /* sync, parsed */
	double timeout;          /* -o timeout= (seconds) */
	unsigned spin_us;        /* -o spin= */
	int log_max;             /* FUSE_LOG_* from -o loglevel= (or -d) */
	int kernel_limits;
	int no_writeback;
	int no_uring;
	int no_prefault;
	int crash_emulation;     /* set by crash_at too */
	unsigned long crash_at;
	int ro;
	int nonempty;            /* -o nonempty: mount over a directory that is not empty */
	int show_help;
	int show_version;
	int foreground;          /* -f */
	int debug;               /* -d */
	int singlethread;        /* -s */
	unsigned max_threads;    /* -o max_threads= */
	unsigned max_read;       /* -o max_read= (bytes), kept for libfuse; 0: not given */
	char *spin, *loglevel;   /* as given */
};

/* pm_options_parse -- fill o from args (argv of the daemon). Returns 0 when
 * the daemon should go on, 1 when it should print help or its version and
 * stop, -1 on bad input with a one-line message in err (empty when libfuse
 * has logged it). args keeps what
 * fuse_session_new must see, default_permissions, fsname and subtype added.
 * pm_options_free must be called in every case. */
int pm_options_parse(struct fuse_args *args, struct pm_options *o, char *err, size_t errlen);
void pm_options_free(struct pm_options *o);

#endif
