/* check.h -- the consistency checker: verifies (and repairs) a pool on its
 * raw media, without pm_fs_open, so that it also handles pools the engine
 * refuses to mount. Used by fsck.pmfuse and by the tests.
 *
 * What is checked and what a repair does is described, check by check, in
 * man/fsck.pmfuse.8.
 */
#ifndef PM_CHECK_H
#define PM_CHECK_H

#include <stdbool.h>
#include <stdint.h>

enum pm_check_mode {
	/* change nothing: the pool is opened read-only (shared lock). The
	 * passes run on a private copy-on-write view of the pool, in which
	 * every repair is made, so the report is the one a repair would give
	 * and later passes see the repaired state. */
	PM_CHECK_ONLY,
	/* repair everything that can be repaired (exclusive lock); each
	 * change is durable when it is made */
	PM_CHECK_REPAIR,
	/* repair only if every problem found is safe to repair without a
	 * person (unfinished transactions, orphans, counts, entry types, a
	 * superblock copy); otherwise change nothing and set preen_refused */
	PM_CHECK_PREEN,
};

enum pm_check_flags {
	/* check-only without the private copy-on-write view (what happens
	 * where the pool cannot be mapped privately, e.g. device-DAX):
	 * repairs are only simulated in DRAM. For tests. */
	PM_CHECK_NO_COW = 1 << 0,
};

enum pm_check_level {
	PM_CHECK_PROBLEM, /* one inconsistency, and what became of it */
	PM_CHECK_INFO,    /* verbose only */
};

/* report -- one line of text, without a newline */
typedef void (*pm_check_report_fn)(void *arg, enum pm_check_level level, const char *msg);
/* progress -- pass (1-based) of passes, named what, is at done of total;
 * called at the start of each pass and then at most four times a second,
 * when verbose or when the pool has more than 100000 inodes */
typedef void (*pm_check_progress_fn)(void *arg, unsigned pass, unsigned passes, const char *what,
				     uint64_t done, uint64_t total);

struct pm_check_opts {
	enum pm_check_mode mode;
	unsigned flags;         /* enum pm_check_flags */
	bool verbose;           /* PM_CHECK_INFO lines, and progress always */
	pm_check_report_fn report; /* may be NULL */
	pm_check_progress_fn progress; /* may be NULL */
	void *arg;              /* for report and progress */
};

struct pm_check_result {
	uint64_t errors;        /* problems found */
	uint64_t fixed;         /* of them, repaired */
	uint64_t left;          /* of them, not repaired: errors - fixed */
	bool preen_refused;     /* PREEN found a problem it may not repair alone;
				   nothing was changed */
	bool was_clean;         /* the state word said "unmounted cleanly" */
	uint32_t journal_txs;   /* unfinished transactions found in the journal */
	uint64_t inode_count;   /* inodes in the pool */
	uint64_t inodes;        /* in use (after repair, or as a repair would leave them) */
	uint64_t dirs, files, symlinks, specials;
	uint64_t data_blocks;   /* blocks of the data area */
	uint64_t blocks_used;   /* owned by live inodes */
	uint64_t orphans;       /* nameless inodes freed */
	uint64_t relinked;      /* inodes moved to /lost+found */
};

/* pm_check -- check (and per o->mode repair) the pool at path. Returns 0
 * when the check ran to its end (r says what it found), or -errno when it
 * could not: the pool cannot be opened, is mounted (-EBUSY), is not a
 * pmfuse pool or has no valid superblock, or memory ran out; pm_errmsg()
 * names the problem. Problems are passed to o->report one line each. */
int pm_check(const char *path, const struct pm_check_opts *o, struct pm_check_result *r);

#endif
