/* journal.h -- atomic multi-word metadata updates: an undo journal in lanes
 *
 * A transaction logs the old contents of every range it is about to change
 * (pm_tx_snap, durable before the change), changes the ranges in place, and
 * commits: the changed ranges are made durable, then the lane is retired
 * with one 8-byte store. Its first record claims the lane (the header,
 * flushed with the record, takes one drain with it); a transaction that
 * logs nothing never touches its lane. Recovery at open rolls back every
 * lane that was not retired, newest record first; rolling back twice gives
 * the same result, so a crash during recovery is recovered by the next
 * open. Each lane numbers its transactions; its header keeps the next
 * number (written at the retire), so a claim is one 8-byte store. A clean
 * close wipes the lanes (all zero, as mkfs leaves them), and so does an
 * open after a crash: records never outlive the mount they were made in.
 *
 * The journal region holds PM_JOURNAL_LANES lanes; concurrent transactions
 * take different lanes, so they share no lock beyond the moment of picking
 * one.
 */
#ifndef PM_JOURNAL_H
#define PM_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "format.h"
#include "media.h"

struct pm_fs;
struct pm_tx;

/* pm_tx_begin -- start a transaction in a free lane (waits for one) */
struct pm_tx *pm_tx_begin(struct pm_fs *fs);
/* pm_tx_snap -- log the current bytes of [p, p + len) before changing them;
 * durable when it returns. -ENOSPC if the lane is full (the caller may
 * commit and begin a new transaction). */
int pm_tx_snap(struct pm_tx *tx, const void *p, size_t len);
/* pm_tx_commit -- make every snapped range durable, then retire the lane */
void pm_tx_commit(struct pm_tx *tx);

/* The engine's modules change metadata inside the calling thread's
 * transaction, whoever began it:
 * pm_tx_join -- the thread's transaction, begun if there is none; *own says
 *   whether the caller began it (and must commit it with pm_tx_end)
 * pm_tx_end -- commit a transaction the caller owns
 * pm_tx_touch -- about to change [p, p + len): log it if a transaction runs
 *   (unless a record of this transaction holds those bytes already; a range
 *   that was only persisted or fresh in it does not count: it is logged)
 * pm_tx_fresh -- [p, p + len) was written in newly allocated space: no undo
 *   is needed, but it must be durable before the transaction commits */
struct pm_tx *pm_tx_join(struct pm_fs *fs, bool *own);
void pm_tx_end(struct pm_tx *tx, bool own);
void pm_tx_touch(struct pm_fs *fs, const void *p, size_t len);
/* pm_tx_touch_all -- pm_tx_touch of n ranges, about to be changed after
 * all of them are logged: one drain for all the records, not one each */
struct pm_span {
	const void *p;
	size_t len;
};
void pm_tx_touch_all(struct pm_fs *fs, const struct pm_span *s, unsigned n);
void pm_tx_fresh(struct pm_fs *fs, const void *p, size_t len);
/* pm_tx_release -- blocks no longer named by anything: back to the
 * allocator after the thread's transaction commits (a rollback would name
 * them again), or now if none runs */
void pm_tx_release(struct pm_fs *fs, uint64_t blk, uint64_t n);
/* pm_tx_active -- whether the calling thread runs a transaction */
bool pm_tx_active(void);

/* pm_journal_init -- after recovery; the lanes are wiped unless the pool
 * was closed cleanly with them wiped */
int pm_journal_init(struct pm_fs *fs, bool was_clean);
void pm_journal_fini(struct pm_fs *fs);
/* pm_journal_wipe -- at a clean close, no transaction running: every lane
 * empty, idle, next number 0 (nothing is written if they are already) */
void pm_journal_wipe(struct pm_fs *fs);
/* pm_journal_usage -- a lane's size, the most of one a transaction has
 * used since the open, and how many undo records did not fit (each one a
 * change a crash could leave half done: none is expected) */
void pm_journal_usage(struct pm_fs *fs, uint64_t *lane_bytes, uint64_t *high_water, uint64_t *overflows);

/* pm_journal_recover -- roll back the unfinished transactions found in the
 * journal region of a pool (base, as described by sb). With dry_run, only
 * count them. Returns the number of transactions rolled back (or found),
 * or -EUCLEAN for a damaged journal (a record pointing outside the pool's
 * metadata and data areas is never applied). */
int pm_journal_recover(struct pm_media *m, void *base, const struct pm_super *sb, bool dry_run);

#endif
