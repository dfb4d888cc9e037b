/* journal.c -- undo journal for metadata updates, in lanes (journal.h) */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "crc.h"
#include "err.h"
#include "fsi.h"
#include "journal.h"

#define LANE_BYTES(sb) ((sb)->journal_blocks * PM_BLOCK_SIZE / PM_JOURNAL_LANES)
#define REC_ALIGN(n) (((n) + 7u) & ~(size_t)7u)
#define MAX_RANGES 256

/* Two lists of ranges, never mixed: what the lane holds undo records of
 * (a change inside one of them needs no new record), and what is to be
 * flushed at the commit (every logged range, and the ranges that were
 * only persisted: pm_persist, pm_tx_fresh). A range that was only
 * persisted has no old bytes in the lane: a later pm_tx_touch inside it
 * must log them. */
struct range_list {
	unsigned n;
	struct pm_range r[MAX_RANGES];
};

struct pm_tx {
	struct pm_fs *fs;
	unsigned lane;
	uint8_t *base;           /* the lane */
	size_t used;             /* bytes of records so far */
	uint64_t seq;
	bool claimed;            /* the lane's header names this transaction */
	struct range_list logged; /* undo records in the lane */
	struct range_list flush;  /* what to persist at commit */
	GArray *frees;           /* struct pm_range of blocks to free after commit */
};

static __thread struct pm_tx *current;

static void remember(struct pm_tx *tx, uint64_t off, size_t len);
static bool add_range(struct range_list *l, uint64_t off, size_t len);

struct pm_journal {
	pthread_mutex_t lock;
	pthread_cond_t free_cond;
	uint32_t busy;           /* bit per lane */
	uint64_t high_water;     /* most bytes of a lane one transaction used */
	uint64_t overflows;      /* undo records that did not fit (atomic) */
	struct pm_tx txs[PM_JOURNAL_LANES];
};

static uint8_t *lane_base(void *pool, const struct pm_super *sb, unsigned lane)
{
	return (uint8_t *)pool + sb->journal_start * PM_BLOCK_SIZE + lane * LANE_BYTES(sb);
}

static uint32_t rec_crc(const struct pm_jrec *r, const void *data)
{
	struct pm_jrec h = *r;

	h.crc = 0;
	return pm_crc32c(pm_crc32c(0, &h, sizeof(h)), data, r->len);
}

/* range_ok -- undo records may only restore the inode table and data area */
static bool range_ok(const struct pm_super *sb, uint64_t off, uint64_t len)
{
	uint64_t lo = sb->itable_start * PM_BLOCK_SIZE, hi = sb->pool_size;

	return off >= lo && len <= hi - lo && off <= hi - len;
}

int pm_journal_recover(struct pm_media *m, void *pool, const struct pm_super *sb, bool dry_run)
{
	size_t lane_bytes = LANE_BYTES(sb);
	int found = 0;

	if (lane_bytes < 2 * sizeof(struct pm_lane_hdr))
		return pm_err(EUCLEAN, "journal region is too small; run fsck.pmfuse");
	for (unsigned l = 0; l < PM_JOURNAL_LANES; l++) {
		uint8_t *lb = lane_base(pool, sb, l);
		struct pm_lane_hdr *h = (struct pm_lane_hdr *)lb;
		const struct pm_jrec *recs[4096];
		unsigned n = 0;
		size_t at = sizeof(*h);

		if (h->state == PM_LANE_IDLE)
			continue;
		if (h->state != PM_LANE_ACTIVE)
			return pm_err(EUCLEAN, "journal lane %u has a bad state word; run fsck.pmfuse", l);
		found++;
		/* the valid prefix of records: this transaction's, intact */
		while (at + sizeof(struct pm_jrec) <= lane_bytes && n < 4096) {
			const struct pm_jrec *r = (const struct pm_jrec *)(lb + at);
			if (r->seq != h->seq || r->len > lane_bytes - at - sizeof(*r) ||
			    r->crc != rec_crc(r, r + 1))
				break;
			if (!range_ok(sb, r->off, r->len))
				return pm_err(EUCLEAN, "journal lane %u: record outside the pool; run fsck.pmfuse", l);
			recs[n++] = r;
			at += REC_ALIGN(sizeof(*r) + r->len);
		}
		if (dry_run)
			continue;
		while (n--) {
			const struct pm_jrec *r = recs[n];
			memcpy((uint8_t *)pool + r->off, r + 1, r->len);
			pm_media_flush(m, (uint8_t *)pool + r->off, r->len);
		}
		pm_media_drain(m); /* the old contents are back and durable */
		h->state = PM_LANE_IDLE;
		pm_media_persist(m, &h->state, sizeof(h->state));
	}
	return found;
}

/* wiped -- every lane idle with next number 0, as mkfs and a wipe leave
 * them: no transaction ran since (a retire makes the number at least 1) */
static bool wiped(struct pm_fs *fs)
{
	for (unsigned l = 0; l < PM_JOURNAL_LANES; l++) {
		const struct pm_lane_hdr *h = (const struct pm_lane_hdr *)lane_base(fs->base, &fs->sb, l);
		if (h->state != PM_LANE_IDLE || h->seq != 0)
			return false;
	}
	return true;
}

/* wipe -- every lane empty, idle, next number 0 */
static void wipe(struct pm_fs *fs)
{
	size_t bytes = LANE_BYTES(&fs->sb) * PM_JOURNAL_LANES;
	uint8_t *region = lane_base(fs->base, &fs->sb, 0);

	memset(region, 0, bytes);
	pm_media_persist(fs->m, region, bytes);
}

void pm_journal_wipe(struct pm_fs *fs)
{
	if (!wiped(fs)) /* a mount that made no change leaves the pool's bytes alone */
		wipe(fs);
}

int pm_journal_init(struct pm_fs *fs, bool was_clean)
{
	struct pm_journal *j = calloc(1, sizeof(*j));

	if (!j)
		return pm_err(ENOMEM, "out of memory");
	pthread_mutex_init(&j->lock, NULL);
	pthread_cond_init(&j->free_cond, NULL);
	/* a crash can leave records of a transaction that never claimed its
	 * lane (the claim and the first record are drained together), in any
	 * part of it; wiped, none can ever pass for a later transaction's,
	 * whatever numbers those get. A clean close wiped the lanes already
	 * (pools of older versions were not: their numbers are not 0) */
	if (!pm_rdonly(fs) && (!was_clean || !wiped(fs)))
		wipe(fs);
	for (unsigned l = 0; l < PM_JOURNAL_LANES; l++) {
		struct pm_lane_hdr *h = (struct pm_lane_hdr *)lane_base(fs->base, &fs->sb, l);
		j->txs[l].fs = fs;
		j->txs[l].lane = l;
		j->txs[l].base = (uint8_t *)h;
	}
	fs->journal = j;
	return 0;
}

void pm_journal_fini(struct pm_fs *fs)
{
	struct pm_journal *j = fs->journal;

	if (!j)
		return;
	for (unsigned l = 0; l < PM_JOURNAL_LANES; l++)
		if (j->txs[l].frees)
			g_array_free(j->txs[l].frees, TRUE);
	pthread_mutex_destroy(&j->lock);
	pthread_cond_destroy(&j->free_cond);
	free(j);
	fs->journal = NULL;
}

struct pm_tx *pm_tx_begin(struct pm_fs *fs)
{
	struct pm_journal *j = fs->journal;
	struct pm_tx *tx;
	unsigned l;

	pthread_mutex_lock(&j->lock);
	while (j->busy == (1u << PM_JOURNAL_LANES) - 1)
		pthread_cond_wait(&j->free_cond, &j->lock);
	l = (unsigned)__builtin_ctz(~j->busy);
	j->busy |= 1u << l;
	tx = &j->txs[l];
	pthread_mutex_unlock(&j->lock);

	tx->used = sizeof(struct pm_lane_hdr);
	tx->logged.n = 0;
	tx->flush.n = 0;
	if (!tx->frees)
		tx->frees = g_array_new(FALSE, FALSE, sizeof(struct pm_range));
	g_array_set_size(tx->frees, 0);
	/* the lane's header holds the number its next transaction takes
	 * (written at the last retire, or by the open's wipe) */
	tx->seq = ((struct pm_lane_hdr *)tx->base)->seq;
	tx->claimed = false;
	current = tx;
	return tx;
}

/* claim -- mark the lane active, one 8-byte store, flushed; the drain of
 * the first undo record makes both durable. Until then nothing was changed
 * in place, so whichever of the two a crash keeps, recovery does the right
 * thing: an active lane without records undoes nothing, a record in an
 * idle lane is ignored (and wiped at the open). The number the records
 * carry is already in the header, so no crash can leave the lane active
 * under an older transaction's number. A transaction that logs nothing
 * never claims its lane: it has nothing to undo. */
static void claim(struct pm_tx *tx)
{
	struct pm_lane_hdr *h = (struct pm_lane_hdr *)tx->base;

	h->state = PM_LANE_ACTIVE;
	pm_media_flush(tx->fs->m, &h->state, sizeof(h->state));
	tx->claimed = true;
}

/* log_old -- write the undo record of [p, p + len) and flush it, undrained:
 * 1 if a record was written, 0 if one holds those bytes already */
static int log_old(struct pm_tx *tx, const void *p, size_t len)
{
	struct pm_fs *fs = tx->fs;
	uint64_t off = pm_off(fs, p);
	size_t lane_bytes = LANE_BYTES(&fs->sb), need = REC_ALIGN(sizeof(struct pm_jrec) + len);
	struct pm_jrec *r;

	/* logged already: the old bytes are safe (only records count here,
	 * not ranges that were merely persisted in this transaction) */
	for (unsigned i = 0; i < tx->logged.n; i++)
		if (off >= tx->logged.r[i].off && off + len <= tx->logged.r[i].off + tx->logged.r[i].len)
			return 0;
	if (tx->used + need > lane_bytes)
		return pm_err(ENOSPC, "transaction too large for a journal lane");
	if (!tx->claimed)
		claim(tx);
	r = (struct pm_jrec *)(tx->base + tx->used);
	r->seq = tx->seq;
	r->off = off;
	r->len = (uint32_t)len;
	memcpy(r + 1, p, len);
	r->crc = rec_crc(r, r + 1);
	pm_media_flush(fs->m, r, sizeof(*r) + len);
	tx->used += need;
	add_range(&tx->logged, off, len); /* if full, later snaps just log again */
	remember(tx, off, len);
	return 1;
}

int pm_tx_snap(struct pm_tx *tx, const void *p, size_t len)
{
	int ret = log_old(tx, p, len);

	/* the old bytes (and the claim) are durable before anyone changes them */
	if (ret > 0)
		pm_media_drain(tx->fs->m);
	return ret < 0 ? ret : 0;
}

void pm_tx_commit(struct pm_tx *tx)
{
	struct pm_fs *fs = tx->fs;
	struct pm_journal *j = fs->journal;
	struct pm_lane_hdr *h = (struct pm_lane_hdr *)tx->base;

	for (unsigned i = 0; i < tx->flush.n; i++)
		pm_media_flush(fs->m, fs->base + tx->flush.r[i].off, tx->flush.r[i].len);
	pm_media_drain(fs->m); /* every change of the transaction is durable */
	current = NULL;
	if (tx->claimed) {
		/* retired: either store alone, durable, keeps recovery from
		 * undoing the transaction (an idle lane is skipped; the next
		 * number matches none of the lane's records) */
		h->seq = tx->seq + 1;
		h->state = PM_LANE_IDLE;
		pm_media_persist(fs->m, h, 2 * sizeof(uint64_t));
	}
	for (guint i = 0; i < tx->frees->len; i++) {
		struct pm_range *r = &g_array_index(tx->frees, struct pm_range, i);
		pm_alloc_free(fs, r->off, r->len);
	}

	pthread_mutex_lock(&j->lock);
	if (tx->used > j->high_water) /* read without the lock by pm_journal_usage */
		__atomic_store_n(&j->high_water, tx->used, __ATOMIC_RELAXED);
	j->busy &= ~(1u << tx->lane);
	pthread_cond_signal(&j->free_cond);
	pthread_mutex_unlock(&j->lock);
}

struct pm_tx *pm_tx_join(struct pm_fs *fs, bool *own)
{
	*own = current == NULL;
	return current ? current : pm_tx_begin(fs);
}

void pm_tx_end(struct pm_tx *tx, bool own)
{
	if (own)
		pm_tx_commit(tx);
}

/* add_range -- add [off, off + len) to a list, merged with one of its
 * last MERGE_BACK ranges if it starts inside one or right after it (a
 * transaction that logs its ranges together, pm_tx_touch_all, then
 * persists each as it changes it, in another order); false if the list
 * is full (nothing added) */
#define MERGE_BACK 4
static bool add_range(struct range_list *l, uint64_t off, size_t len)
{
	for (unsigned i = l->n; i > 0 && l->n - i < MERGE_BACK; i--)
		if (pm_range_merge(&l->r[i - 1], off, len) != UINT64_MAX)
			return true;
	if (l->n == MAX_RANGES)
		return false;
	l->r[l->n++] = (struct pm_range){ off, len };
	return true;
}

/* remember -- a range to flush at commit */
static void remember(struct pm_tx *tx, uint64_t off, size_t len)
{
	/* full: flush now; durable early is still durable before the commit */
	if (!add_range(&tx->flush, off, len))
		pm_media_flush(tx->fs->m, tx->fs->base + off, len);
}

/* overflow -- a change the lane has no room to log cannot be undone, so
 * the operation is not atomic across a crash. Transactions are bounded by
 * design (a punch goes leaf by leaf, a truncate frees blocks after its
 * commit); this counts what the design missed, for the tests and
 * pmfusectl stats, and makes the change durable at least */
static void overflow(struct pm_fs *fs, const void *p, size_t len)
{
	__atomic_add_fetch(&fs->journal->overflows, 1, __ATOMIC_RELAXED);
	remember(current, pm_off(fs, p), len);
}

void pm_tx_touch(struct pm_fs *fs, const void *p, size_t len)
{
	if (current && pm_tx_snap(current, p, len))
		overflow(fs, p, len);
}

void pm_tx_touch_all(struct pm_fs *fs, const struct pm_span *s, unsigned n)
{
	bool logged = false;

	if (!current)
		return;
	for (unsigned i = 0; i < n; i++) {
		int ret = log_old(current, s[i].p, s[i].len);
		if (ret < 0)
			overflow(fs, s[i].p, s[i].len);
		logged |= ret > 0;
	}
	/* one drain for every record: nothing was changed in place yet */
	if (logged)
		pm_media_drain(fs->m);
}

void pm_journal_usage(struct pm_fs *fs, uint64_t *lane_bytes, uint64_t *high_water, uint64_t *overflows)
{
	*lane_bytes = LANE_BYTES(&fs->sb);
	*high_water = __atomic_load_n(&fs->journal->high_water, __ATOMIC_RELAXED);
	*overflows = __atomic_load_n(&fs->journal->overflows, __ATOMIC_RELAXED);
}

void pm_tx_fresh(struct pm_fs *fs, const void *p, size_t len)
{
	if (current)
		remember(current, pm_off(fs, p), len);
	else
		pm_media_flush(fs->m, p, len);
}

void pm_persist(struct pm_fs *fs, const void *p, size_t len)
{
	if (current)
		remember(current, pm_off(fs, p), len);
	else
		pm_media_persist(fs->m, p, len);
}

void pm_tx_release(struct pm_fs *fs, uint64_t blk, uint64_t n)
{
	if (current) {
		struct pm_range r = { blk, n };
		g_array_append_val(current->frees, r);
	} else {
		pm_alloc_free(fs, blk, n);
	}
}

bool pm_tx_active(void)
{
	return current != NULL;
}
