/* main.c -- pmfuse: options, pool open, FUSE session, signals */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/stat.h>
#include <limits.h>
#include <syslog.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs.h"
#include "ops.h"
#include "parse.h"
#include "stop.h"
#include "bdi.h"
#include "flusher.h"
#include "loop.h"
#include "prefault.h"
#include "uring.h"
#include "notify.h"
#include "options.h"
#include "policy.h"

static void usage(const char *prog)
{
	printf("Usage: %s [options] POOL MOUNTPOINT\n"
	       "Mount the pmfuse pool POOL (made by mkfs.pmfuse) on MOUNTPOINT.\n"
	       "\n"
	       "pmfuse options:\n"
	       "    -o sync=POLICY         the mount's default sync policy, stored in the\n"
	       "                           root and inherited by what is created later:\n"
	       "                           fsync (default), periodic=<N>ms|<N>s, close,\n"
	       "                           immediate, never (see pmfuse(8))\n"
	       "    -o timeout=SECONDS     kernel cache timeout for names and attributes\n"
	       "                           (default 86400: the daemon is the only writer)\n"
	       "    -o spin=USEC           after each request, poll for the next one for\n"
	       "                           USEC microseconds before sleeping (default 200;\n"
	       "                           0: sleep at once, for the least CPU use)\n"
	       "    -o loglevel=LEVEL      error, warning, notice, info (default) or debug:\n"
	       "                           what is logged (stderr, syslog once daemonized)\n"
	       "    -o kernel_limits       keep the kernel's limits for a FUSE mount (1 %% of\n"
	       "                           the dirty page cache, 128 KiB read-ahead) and\n"
	       "                           its enable_uring switch; by default, as root,\n"
	       "                           pmfuse lifts them\n"
	       "    -o no_writeback        do not use the kernel's writeback cache\n"
	       "    -o no_uring            take requests only from /dev/fuse; by default\n"
	       "                           they come over io_uring, a queue per CPU, when\n"
	       "                           the kernel has it (Linux 6.14+); as root pmfuse\n"
	       "                           turns on the fuse module's enable_uring switch\n"
	       "                           (not with kernel_limits)\n"
	       "    -o no_prefault         do not map the pool's data into the daemon's\n"
	       "                           page tables in the background after the mount;\n"
	       "                           by default a pool in memory (tmpfs, ramfs, DAX)\n"
	       "                           is, on an idle CPU, so that first reads do not\n"
	       "                           fault each page in\n"
	       "    -o ro                  mount read-only\n"
	       "    -o nonempty            mount even if MOUNTPOINT is not empty (its\n"
	       "                           files are hidden while mounted); by default a\n"
	       "                           mount point that is not empty is refused\n"
	       "    -o crash_emulation     testing aid: work on a volatile copy of the pool;\n"
	       "                           only flushed ranges reach the pool file, so\n"
	       "                           killing the daemon is a power failure\n"
	       "    -o crash_at=N          testing aid (implies crash_emulation): the\n"
	       "                           daemon kills itself at its Nth flush or drain,\n"
	       "                           counted from the opening of the pool\n"
	       "    -o allow_other         let other users in (needs user_allow_other in\n"
	       "                           /etc/fuse.conf for non-root mounts)\n"
	       "    -o max_read=N          largest read request, 4096 to 1048576 bytes\n"
	       "                           (default: the largest request, 1 MiB)\n"
	       "    -o max_threads=N       worker threads, 1 to 100000 (default 10);\n"
	       "                           libfuse's clone_fd and max_idle_threads are\n"
	       "                           accepted and ignored\n"
	       "    default_permissions is always on: the kernel checks permissions.\n"
	       "\n",
	       prog);
	fuse_cmdline_help();
	fuse_lowlevel_help();
}

static bool daemonized;
static int log_max = FUSE_LOG_INFO; /* -o loglevel= (options.c) */

/* log_line -- libfuse's messages as pmfuse's: one "pmfuse: " prefix, to
 * stderr in the foreground and to syslog once daemonized */
static void log_line(enum fuse_log_level level, const char *fmt, va_list ap)
{
	static __thread char msg[1024];
	static __thread size_t have;
	const char *text = msg;
	size_t n;

	if ((int)level > log_max)
		return;
	/* libfuse writes some messages in pieces: collect up to the newline */
	vsnprintf(msg + have, sizeof(msg) - have, fmt, ap);
	have = strlen(msg);
	if (have < sizeof(msg) - 1 && (have == 0 || msg[have - 1] != '\n'))
		return;
	have = 0;
	if (strncmp(text, "fuse: ", 6) == 0)
		text += 6;
	if (daemonized) {
		syslog((int)level, "%s", text);
		return;
	}
	n = strlen(text);
	fprintf(stderr, "pmfuse: %s%s", text, n && text[n - 1] == '\n' ? "" : "\n");
}

/* fail -- one "pmfuse: " line on stderr; returns the exit status, 1 */
static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "pmfuse: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return 1;
}

/* check_mountpoint -- an existing directory and, unless nonempty, an empty
 * one (libfuse 3 no longer checks: a mount would hide the files in it);
 * one line on stderr and 1 if not */
static int check_mountpoint(const char *path, bool nonempty)
{
	struct stat st;
	struct dirent *e;
	DIR *d;

	if (stat(path, &st) != 0)
		return errno == ENOENT ? fail("mount point %s does not exist", path)
				       : fail("mount point %s: %s", path, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return fail("mount point %s is not a directory", path);
	if (nonempty)
		return 0;
	if (!(d = opendir(path)))
		return fail("cannot read mount point %s: %s (-o nonempty mounts without looking)", path,
			    strerror(errno));
	errno = 0;
	while ((e = readdir(d)) && (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0))
		errno = 0;
	int err = errno;
	closedir(d);
	if (e)
		return fail("mount point %s is not empty: its files would be hidden (-o nonempty "
			    "mounts over them)", path);
	if (err)
		return fail("cannot read mount point %s: %s", path, strerror(err));
	return 0;
}

/* fail_pool -- the engine's reason for refusing the pool, naming the pool
 * (a superblock's message does not) and, where the pool is read-only to
 * the daemon, what would work */
static int fail_pool(const char *pool, int err, bool ro)
{
	const char *msg = pm_errmsg();
	const char *hint = !ro && (err == -EACCES || err == -EPERM || err == -EROFS)
				   ? " (the pool is read-only to the daemon: -o ro mounts it read-only)"
				   : "";

	if (strstr(msg, pool))
		return fail("%s%s", msg, hint);
	return fail("%s: %s%s", pool, msg, hint);
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct pm_options o;
	struct pm_mount mnt = { 0 };
	struct fuse_session *se;
	struct pm_info info;
	char hs[32], err[512];
	int ret = 1;
	bool ran = false; /* the session loop ran (and ret is its result) */

	fuse_set_log_func(log_line);
	int pret = pm_options_parse(&args, &o, err, sizeof(err));
	if (pret < 0) {
		if (err[0])
			fail("%s", err);
		goto out_args;
	}
	if (pret > 0) {
		if (o.show_help)
			usage(argv[0]);
		else
			printf("pmfuse %s, libfuse %s\n", PMFUSE_VERSION, fuse_pkgversion());
		ret = 0;
		goto out_args;
	}
	log_max = o.log_max;
	if ((ret = check_mountpoint(o.mountpoint, o.nonempty)))
		goto out_args;

	pm_fs_arm_crash(o.crash_at); /* counted from the open: recovery included */
	int oret = pm_fs_open(o.pool, (o.ro ? PM_FS_RDONLY : 0) | (o.crash_emulation ? PM_FS_EMULATE : 0),
			      &mnt.fs);
	if (oret) {
		ret = fail_pool(o.pool, oret, o.ro);
		goto out_args;
	}
	mnt.timeout = o.timeout;
	mnt.max_read = o.max_read;
	mnt.writeback = !o.no_writeback && !o.ro;
	pm_fs_info(mnt.fs, &info);
	if (o.sync && !o.ro && pm_fs_set_default_sync(mnt.fs, o.sync) != 0) {
		ret = fail("%s", pm_errmsg());
		goto out_fs;
	}

	se = fuse_session_new(&args, &pm_ops, sizeof(pm_ops), &mnt);
	if (!se)
		goto out_fs;
	if (pm_stop_install() != 0)
		goto out_session;
	char *abs_mnt = realpath(o.mountpoint, NULL);
	if (fuse_session_mount(se, o.mountpoint) != 0) {
		free(abs_mnt);
		goto out_session;
	}
	/* the transport is known only once the rings start (below); no_uring
	 * is the one choice known now, and a failed start corrects this */
	unsigned ra_kb = o.no_uring ? PM_BDI_READ_AHEAD_DEV_KB : PM_BDI_READ_AHEAD_URING_KB;
	int bret = o.kernel_limits || !abs_mnt ? 0 : pm_bdi_tune(abs_mnt, ra_kb);
	if (!o.kernel_limits && !bret)
		mnt.max_readahead = ra_kb * 1024;
	if (bret)
		fuse_log(FUSE_LOG_WARNING, "note: the kernel's dirty-page and read-ahead limits for "
			 "this mount stay (%s): large writes may be throttled\n", strerror(-bret));
	pm_format_size(info.pool_size, hs, sizeof(hs));
	char policy_s[32] = "fsync";
	int plen = pm_fs_getxattr(mnt.fs, FUSE_ROOT_ID, "user.pmfuse.sync", policy_s, sizeof(policy_s) - 1);
	policy_s[plen > 0 ? plen : 5] = '\0';
	char mounted[PATH_MAX * 2 + 256];
	snprintf(mounted, sizeof(mounted), "mounted %s on %s: %s, %lu inodes, granularity %s%s%s, "
		 "default policy %s%s", o.pool, o.mountpoint, hs, (unsigned long)info.inode_count,
		 info.granularity, info.map_sync ? ", MAP_SYNC" : "",
		 info.in_ram ? " (pool in RAM: msync, a no-op there, is skipped)" : "", policy_s,
		 o.crash_emulation ? ", CRASH EMULATION" : "");
	const struct pm_badblock *bad;
	size_t nbad = pm_fs_badblocks(mnt.fs, &bad);
	for (size_t i = 0; i < nbad; i++)
		fuse_log(FUSE_LOG_WARNING, "known bad block in %s at offset %llu (%llu bytes): %s\n", o.pool,
			(unsigned long long)bad[i].off, (unsigned long long)bad[i].len,
			bad[i].where == PM_BAD_RESERVED ? "free, kept out of allocation"
			: bad[i].where == PM_BAD_IN_USE ? "holds file data: reading it fails with EIO"
							: "in the pool's own structures: run fsck.pmfuse");
	if (!info.was_clean)
		fuse_log(FUSE_LOG_WARNING, "%s was not unmounted cleanly: %u transactions rolled back, "
			 "%u orphan inodes freed\n", o.pool, info.rolled_back, info.orphans);
	/* last: who waits for this line (tests, scripts) has all the others */
	fuse_log(FUSE_LOG_NOTICE, "%s\n", mounted);
	fflush(stderr);
	if (!o.foreground)
		openlog("pmfuse", LOG_PID, LOG_DAEMON);
	fuse_daemonize(o.foreground);
	daemonized = !o.foreground;
	if (daemonized && log_max >= FUSE_LOG_NOTICE)
		syslog(LOG_NOTICE, "%s", mounted); /* the terminal saw it; so does the journal */
	if (pm_stop_start(se, o.mountpoint, &mnt) != 0 || pm_flusher_start(mnt.fs, se) != 0)
		fuse_session_exit(se);
	if (!o.no_prefault && pm_prefault_start(mnt.fs) != 0)
		fuse_log(FUSE_LOG_DEBUG, "pool not prefaulted: no thread for it\n");

	ran = true;
	char status[PATH_MAX * 2 + 128];
	snprintf(status, sizeof(status), "serving %s on %s: granularity %s%s, default policy %s", o.pool,
		 o.mountpoint, info.granularity, info.map_sync ? ", MAP_SYNC" : "", policy_s);
	/* absolute: a daemon in the background has left its directory */
	pm_notify_ready(abs_mnt ? abs_mnt : o.mountpoint, status);
	struct pm_uring *uring = NULL;
	int uret;
	if (!o.no_uring) {
		bool on = pm_uring_enabled();
		/* like the per-mount limits (bdi.c): lifted unless kept */
		if (!on && !o.kernel_limits && pm_uring_switch_on() == 0) {
			on = true;
			fuse_log(FUSE_LOG_INFO, "switched on the fuse module's enable_uring (it stays on; "
				 "-o kernel_limits leaves it off)\n");
		}
		if (!on)
			fuse_log(FUSE_LOG_INFO, "requests come over /dev/fuse only: the kernel does not "
				 "take them over io_uring (fuse module's enable_uring off)\n");
		else if ((uret = pm_uring_start(se, o.spin_us, &uring)) != 0)
			fuse_log(FUSE_LOG_WARNING, "requests come over /dev/fuse only: no io_uring "
				 "queues (%s)\n", strerror(-uret));
	}
	if (!uring && ra_kb != PM_BDI_READ_AHEAD_DEV_KB && abs_mnt && !o.kernel_limits && !bret)
		pm_bdi_read_ahead(abs_mnt, PM_BDI_READ_AHEAD_DEV_KB);
	free(abs_mnt);
	ret = pm_loop_run(se, o.singlethread ? 1 : o.max_threads, o.spin_us, uring);
	pm_notify_stopping();
	if (ret < 0)
		fuse_log(FUSE_LOG_ERR, "reading /dev/fuse: %s\n", strerror(-ret));
	pm_stop_finish();
	pm_prefault_stop();
	pm_flusher_stop();
	fuse_session_unmount(se);
	pm_uring_stop(uring);
out_session:
	fuse_session_destroy(se);
out_fs:
	if (o.crash_emulation)
		fuse_log(FUSE_LOG_NOTICE, "crash emulation: %lu flush/drain events\n",
			 (unsigned long)pm_fs_media_events(mnt.fs));
	pm_fs_close(&mnt.fs);
	/* the loop returns the number of the signal that ended it: a clean stop */
	ret = ran && ret >= 0 ? 0 : 1;
out_args:
	pm_options_free(&o);
	fuse_opt_free_args(&args);
	return ret;
}
