/* check.c -- consistency checker and repair of a pool on its raw media
 * (check.h; every check and repair is described in man/fsck.pmfuse.8)
 *
 * The passes work on a view of the pool: the pool itself when repairing,
 * or a private copy-on-write mapping of it when only checking, in which
 * the same repairs are made (so later passes see what a repair would
 * leave, and the report is the one a repair would give) without a byte of
 * the pool changing. Every pointer and length read from the view is
 * checked before use; recursion is bounded by the tree height (at most 5).
 *
 *   superblock   primary against backup; restore whichever is damaged
 *   journal      roll back unfinished transactions (pm_journal_recover)
 *   pass 1       inode table: types, tree heights, the root
 *   pass 2       blocks: walk the trees and attribute blobs of inodes with
 *                a link count, claiming each block once (bitmap)
 *   pass 3       directories: entries, names, types; count names per
 *                inode; named inodes with link count 0 are claimed here
 *   pass 4       connectivity: free orphans, move what the root cannot
 *                reach into /lost+found
 *   pass 5       link counts and parents
 */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "crc.h"
#include "err.h"
#include "format.h"
#include "fs.h"
#include "journal.h"
#include "media.h"
#include "super.h"

#define PASSES 5
/* Directory blocks beyond file block 2^20 (4 GiB of directory, 67 million
 * entries) are taken for damage: the daemon indexes a directory's blocks
 * in DRAM at first use and would not survive a size of petabytes. */
#define DIR_MAX_BLOCKS (1ull << 20)
#define XATTR_VALUE_MAX 65536u
#define XREC_SIZE(nl, vl) ((sizeof(struct pm_xattr_rec) + (uint64_t)(nl) + (vl) + 7u) & ~(uint64_t)7u)
#define REC_ALIGN(n) (((n) + 7u) & ~(uint64_t)7u)
#define PROGRESS_USEC 250000

enum fix {
	FIX_SAFE,   /* a preen may repair it */
	FIX_UNSAFE, /* only a full repair (-y) */
	FIX_NONE,   /* cannot be repaired */
};

/* per-inode state */
enum {
	ST_LIVE = 1 << 0,    /* in use, of a valid type */
	ST_CLAIMED = 1 << 1, /* its blocks are claimed in the bitmap */
	ST_QUEUED = 1 << 2,  /* named, link count 0: to claim in pass 3 */
	ST_REACHED = 1 << 3, /* directories: the root reaches it */
	ST_VISIT = 1 << 4,   /* directories: on the parent chain being followed */
	ST_CLEARED = 1 << 5, /* freed by this check */
};

struct ck {
	const struct pm_check_opts *o;
	struct pm_check_result *r;
	const char *path;
	struct pm_media *m;      /* the pool */
	uint8_t *base;           /* the view the passes read and change */
	size_t size;
	bool repair;             /* changes go to the pool, durable at once */
	bool writable;           /* changes land in the view */
	bool hold;               /* preen's dry run: keep problems in held */
	GPtrArray *held;
	uint64_t unsafe;         /* problems a preen may not repair */

	struct pm_super sb;
	struct pm_dinode *itable;
	uint64_t n;              /* inodes */
	uint64_t ds, dn;         /* data area: first block, blocks */
	uint64_t *bmap;          /* data blocks claimed */
	uint64_t used;           /* bits set in bmap */
	uint64_t bcursor;        /* where new_block looks first */

	uint8_t *st;             /* ST_* per inode */
	uint32_t *links;         /* names found, per inode (directories: 0 or 1) */
	uint32_t *subdirs;       /* directories: subdirectories found */
	uint32_t *parent;        /* directories: the directory holding its name */
	GHashTable *dent;        /* directory -> struct pm_dirent * of its name */
	GQueue queue;            /* named inodes with link count 0, to claim */
	GArray *claimed;         /* blocks claimed by the symlink being walked */
	bool record;             /* append claimed blocks to claimed */
	bool rescan;             /* pass 3 freed an inode it had counted */

	uint64_t lf;             /* /lost+found, once found or made */
	const char *lf_why;      /* why there is none */

	unsigned pass;
	bool show_progress;
	int64_t last_progress;
	char fixbuf[256];
};

static inline uint64_t cap(unsigned h)
{
	return 1ull << (PM_TREE_SHIFT * h);
}

static inline unsigned tidx(uint64_t lblk, unsigned h)
{
	return (unsigned)(lblk >> (PM_TREE_SHIFT * (h - 1))) & (PM_TREE_FANOUT - 1);
}

static inline bool in_data(const struct ck *c, uint64_t b)
{
	return b >= c->ds && b - c->ds < c->dn;
}

static inline void *blk(const struct ck *c, uint64_t b)
{
	return c->base + (b << PM_BLOCK_SHIFT);
}

static inline struct pm_dinode *dinode(const struct ck *c, uint64_t ino)
{
	return &c->itable[ino - 1];
}

static inline bool bit_test(const uint64_t *map, uint64_t i)
{
	return (map[i >> 6] >> (i & 63)) & 1;
}

static inline void bit_set(uint64_t *map, uint64_t i)
{
	map[i >> 6] |= 1ull << (i & 63);
}

static inline void bit_clr(uint64_t *map, uint64_t i)
{
	map[i >> 6] &= ~(1ull << (i & 63));
}

static inline unsigned head_slots(const struct pm_dirent *d)
{
	return d->nslots ? d->nslots : 1;
}

static inline unsigned slots_for(size_t len)
{
	return (unsigned)((len + 16 + PM_DIRENT_SIZE - 1) / PM_DIRENT_SIZE);
}

static inline uint8_t dtype(uint32_t mode)
{
	return (uint8_t)((mode & S_IFMT) >> 12);
}

static bool is_special(uint32_t mode)
{
	return S_ISFIFO(mode) || S_ISSOCK(mode) || S_ISCHR(mode) || S_ISBLK(mode);
}

static const char *type_name(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG: return "regular file";
	case S_IFDIR: return "directory";
	case S_IFLNK: return "symbolic link";
	case S_IFIFO: return "FIFO";
	case S_IFSOCK: return "socket";
	case S_IFCHR: return "character device";
	case S_IFBLK: return "block device";
	}
	return "invalid type";
}

/* shown -- a name from the media as printable text: control bytes,
 * quotes, backslashes and (unless the name is UTF-8) bytes above 0x7e as
 * \xNN */
static char *shown(const char *name, size_t len)
{
	GString *s = g_string_sized_new(len + 8);
	bool utf8 = g_utf8_validate(name, (gssize)len, NULL);

	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)name[i];
		if (ch < 0x20 || ch == 0x7f || ch == '\\' || ch == '"' || (ch > 0x7f && !utf8))
			g_string_append_printf(s, "\\x%02x", ch);
		else
			g_string_append_c(s, (char)ch);
	}
	return g_string_free(s, FALSE);
}

/* strip_hint -- drop the engine's "; run fsck.pmfuse" from a message */
static void strip_hint(char *msg)
{
	char *p = strstr(msg, "; run fsck.pmfuse");

	if (p)
		*p = '\0';
}

/* ---- reporting ---------------------------------------------------------- */

static void say(struct ck *c, enum pm_check_level level, const char *msg)
{
	if (c->hold) {
		if (level == PM_CHECK_PROBLEM)
			g_ptr_array_add(c->held, g_strdup(msg));
		return;
	}
	if (c->o->report && (level == PM_CHECK_PROBLEM || c->o->verbose))
		c->o->report(c->o->arg, level, msg);
}

static void info(struct ck *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void info(struct ck *c, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (!c->o->verbose || c->hold)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	say(c, PM_CHECK_INFO, msg);
}

/* fx -- format the text of a repair (one at a time) */
static const char *fx(struct ck *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static const char *fx(struct ck *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->fixbuf, sizeof(c->fixbuf), fmt, ap);
	va_end(ap);
	return c->fixbuf;
}

/* problem -- count and report one inconsistency. fix says what a repair
 * does about it (with FIX_NONE: why nothing can be done, or NULL); the
 * caller then makes that change through put(). */
static void problem(struct ck *c, enum fix kind, const char *fix, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void problem(struct ck *c, enum fix kind, const char *fix, const char *fmt, ...)
{
	char what[768];
	g_autofree char *line = NULL;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	c->r->errors++;
	if (kind == FIX_NONE) {
		c->r->left++;
		c->unsafe++;
		line = fix ? g_strdup_printf("%s (cannot be repaired: %s)", what, fix)
			   : g_strdup_printf("%s (cannot be repaired)", what);
	} else if (c->repair) {
		c->r->fixed++;
		line = g_strdup_printf("%s; %s", what, fix);
	} else {
		c->r->left++;
		if (kind == FIX_UNSAFE)
			c->unsafe++;
		line = g_strdup_printf("%s (not repaired)", what);
	}
	say(c, PM_CHECK_PROBLEM, line);
}

static const char *const pass_names[PASSES] = { "inodes", "blocks", "directories", "connectivity",
						"link counts" };

/* progress -- at the start of a pass (done 0), then at most 4 times a second */
static void progress(struct ck *c, uint64_t done, uint64_t total)
{
	int64_t now;

	if (!c->o->progress || !c->show_progress || (done & 4095 && done != 0))
		return;
	now = g_get_monotonic_time();
	if (done != 0 && now - c->last_progress < PROGRESS_USEC)
		return;
	c->last_progress = now;
	c->o->progress(c->o->arg, c->pass, PASSES, pass_names[c->pass - 1], done, total);
}

static void pass_start(struct ck *c, unsigned pass)
{
	c->pass = pass;
	info(c, "pass %u/%u: %s", pass, PASSES, pass_names[pass - 1]);
	progress(c, 0, c->n);
}

/* ---- changing the view -------------------------------------------------- */

/* put -- change len bytes of the view at dst: in repair mode they are
 * durable on return; in check-only mode they stay in the private view;
 * without a writable view they are dropped (the DRAM state still records
 * the repair) */
static void put(struct ck *c, void *dst, const void *src, size_t len)
{
	if (!c->writable)
		return;
	memmove(dst, src, len);
	if (c->repair)
		pm_media_persist(c->m, dst, len);
}

#define PUT(c, lval, val)                                                                    \
	do {                                                                                 \
		__typeof__(lval) v_ = (val);                                                 \
		put((c), &(lval), &v_, sizeof(v_));                                          \
	} while (0)

/* clear_inode -- free ino as the mount frees an orphan */
static void clear_inode(struct ck *c, uint64_t ino)
{
	struct pm_dinode d = *dinode(c, ino);

	pm_dinode_clear(&d);
	put(c, dinode(c, ino), &d, sizeof(d));
	c->st[ino] = ST_CLEARED;
}

static void now(struct pm_time *t)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	t->sec = ts.tv_sec;
	t->nsec = (uint32_t)ts.tv_nsec;
	t->pad = 0;
}

static void claim(struct ck *c, uint64_t b)
{
	bit_set(c->bmap, b - c->ds);
	c->used++;
	if (c->record)
		g_array_append_val(c->claimed, b);
}

/* new_block -- claim a free data block and zero it; 0 if the pool is full */
static uint64_t new_block(struct ck *c)
{
	static const uint8_t zero[PM_BLOCK_SIZE];

	for (uint64_t k = 0; k < c->dn; k++) {
		uint64_t i = (c->bcursor + k) % c->dn;
		if ((i & 63) == 0 && c->bmap[i >> 6] == ~0ull && i + 63 < c->dn) {
			k += 63;
			continue;
		}
		if (bit_test(c->bmap, i))
			continue;
		claim(c, c->ds + i);
		c->bcursor = i + 1;
		put(c, blk(c, c->ds + i), zero, PM_BLOCK_SIZE);
		return c->ds + i;
	}
	return 0;
}

/* map_block -- the data block of file block lblk of di, 0 for a hole (or
 * a pointer outside the data area) */
static uint64_t map_block(const struct ck *c, const struct pm_dinode *di, uint64_t lblk)
{
	uint64_t b = di->root;
	unsigned h = di->height;

	if (!b || h > PM_TREE_MAX_HEIGHT || lblk >= cap(h))
		return 0;
	for (; h > 0; h--) {
		if (!in_data(c, b))
			return 0;
		b = ((const uint64_t *)blk(c, b))[tidx(lblk, h)];
		if (!b)
			return 0;
	}
	return in_data(c, b) ? b : 0;
}

/* tree_set -- map file block lblk of ino to pblk (a claimed, zeroed
 * block), growing the tree and making nodes as data.c does; the inode's
 * block count follows */
static int tree_set(struct ck *c, uint64_t ino, uint64_t lblk, uint64_t pblk)
{
	struct pm_dinode *di = dinode(c, ino);
	uint64_t root = di->root, added = 1, cur, *slot;
	unsigned height = di->height, h;

	if (height > PM_TREE_MAX_HEIGHT)
		return -EUCLEAN;
	if (lblk >= cap(PM_TREE_MAX_HEIGHT) || c->dn - c->used < 2 * PM_TREE_MAX_HEIGHT + 2)
		return -ENOSPC;
	if (root == 0)
		for (height = 0; lblk >= cap(height); height++)
			;
	while (lblk >= cap(height)) {
		uint64_t node = new_block(c);
		PUT(c, *(uint64_t *)blk(c, node), root);
		root = node;
		height++;
		added++;
	}
	if (height != di->height)
		PUT(c, di->height, height);
	if (root != di->root)
		PUT(c, di->root, root);
	slot = &di->root;
	cur = root;
	for (h = height; h > 0; h--) {
		if (cur == 0) {
			cur = new_block(c);
			PUT(c, *slot, cur);
			added++;
		} else if (!in_data(c, cur)) {
			return -EUCLEAN;
		}
		slot = (uint64_t *)blk(c, cur) + tidx(lblk, h);
		cur = *slot;
	}
	PUT(c, *slot, pblk);
	PUT(c, di->blocks, di->blocks + added);
	return 0;
}

/* ---- superblock, state word, journal ------------------------------------ */

static int check_super(struct ck *c)
{
	struct pm_super p, b;
	char pmsg[512] = "";
	int pr, br = -EINVAL;

	pr = pm_super_check(c->base, c->size, &p);
	if (pr) {
		g_strlcpy(pmsg, pm_errmsg(), sizeof(pmsg));
		strip_hint(pmsg);
	}
	if (pr == -EPROTO)
		return pm_err(EPROTO, "%s: %s", c->path, pmsg);
	if (c->size >= 2 * PM_BLOCK_SIZE)
		br = pm_super_check(c->base + PM_BLOCK_SIZE, c->size, &b);
	if (pr == 0) {
		c->sb = p;
		if (br || memcmp(c->base, c->base + PM_BLOCK_SIZE, sizeof(struct pm_super))) {
			problem(c, FIX_SAFE, "rewritten from the primary", "backup superblock (block 1) %s",
				br ? "is damaged" : "differs from the primary");
			put(c, c->base + PM_BLOCK_SIZE, c->base, sizeof(struct pm_super));
		}
	} else if (br == 0) {
		problem(c, FIX_SAFE, "restored from the backup in block 1",
			"primary superblock is damaged (%s)", pmsg);
		put(c, c->base, c->base + PM_BLOCK_SIZE, sizeof(struct pm_super));
		c->sb = b;
	} else if (!pm_super_looks_like_pool(c->base, c->size) &&
		   (c->size < 2 * PM_BLOCK_SIZE ||
		    !pm_super_looks_like_pool(c->base + PM_BLOCK_SIZE, c->size - PM_BLOCK_SIZE))) {
		return pm_err(EINVAL, "%s is not a pmfuse pool (no pmfuse magic in block 0 or 1)", c->path);
	} else {
		return pm_err(EUCLEAN, "%s: %s, and the backup superblock is not usable either;"
			      " cannot check it", c->path, pmsg);
	}
	if (c->sb.ro_compat & ~PM_FEATURE_RO_COMPAT_SUPP)
		return pm_err(EPROTO, "%s uses unknown read-only-compatible features 0x%" PRIx64
			      "; this fsck.pmfuse cannot check it", c->path,
			      (uint64_t)(c->sb.ro_compat & ~PM_FEATURE_RO_COMPAT_SUPP));
	if (c->sb.inode_count > UINT32_MAX)
		return pm_err(EUCLEAN, "%s: the superblock's inode count %" PRIu64
			      " is beyond what pmfuse supports", c->path, c->sb.inode_count);
	return 0;
}

static void check_state(struct ck *c)
{
	uint64_t *w = (uint64_t *)(c->base + PM_STATE_OFFSET), s = *w;

	c->r->was_clean = s == PM_STATE_CLEAN;
	if (s == PM_STATE_DIRTY) {
		info(c, "the pool was not unmounted cleanly");
	} else if (s != PM_STATE_CLEAN) {
		problem(c, FIX_SAFE, "set to DIRTY", "state word is damaged (0x%016" PRIx64 ")", s);
		PUT(c, *w, PM_STATE_DIRTY);
	}
}

static uint32_t jrec_crc(const struct pm_jrec *r)
{
	struct pm_jrec h = *r;

	h.crc = 0;
	return pm_crc32c(pm_crc32c(0, &h, sizeof(h)), r + 1, r->len);
}

/* jrange_ok -- undo records may only restore the inode table and data area */
static bool jrange_ok(const struct ck *c, uint64_t off, uint64_t len)
{
	uint64_t lo = c->sb.itable_start * PM_BLOCK_SIZE, hi = c->sb.pool_size;

	return off >= lo && len <= hi - lo && off <= hi - len;
}

/* lane_scan -- the records recovery would restore from the lane at lb (as
 * journal.c takes them: carrying the lane's seq, crc good, in order), as
 * offsets into the lane; -1 with *bad the index of a record that points
 * outside the inode table and data area */
static int lane_scan(const struct ck *c, const uint8_t *lb, uint64_t lane_bytes, GArray *recs,
		     unsigned *bad)
{
	const struct pm_lane_hdr *h = (const struct pm_lane_hdr *)lb;
	uint64_t at = sizeof(*h);

	g_array_set_size(recs, 0);
	while (at + sizeof(struct pm_jrec) <= lane_bytes && recs->len < 4096) {
		const struct pm_jrec *r = (const struct pm_jrec *)(lb + at);
		if (r->seq != h->seq || r->len > lane_bytes - at - sizeof(*r) || r->crc != jrec_crc(r))
			break;
		if (!jrange_ok(c, r->off, r->len)) {
			*bad = recs->len;
			return -1;
		}
		g_array_append_val(recs, at);
		at += REC_ALIGN(sizeof(*r) + r->len);
	}
	return 0;
}

static void check_journal(struct ck *c)
{
	uint64_t lane_bytes = c->sb.journal_blocks * PM_BLOCK_SIZE / PM_JOURNAL_LANES;
	uint8_t *jbase = c->base + c->sb.journal_start * PM_BLOCK_SIZE;
	g_autoptr(GArray) recs = g_array_new(FALSE, FALSE, sizeof(uint64_t));
	uint32_t active = 0, lanes = 0;
	char msg[256];
	int n;

	if (lane_bytes < 2 * sizeof(struct pm_lane_hdr)) {
		problem(c, FIX_NONE, "the superblock fixes its size",
			"journal region (%" PRIu64 " blocks) is too small for %u lanes", c->sb.journal_blocks,
			PM_JOURNAL_LANES);
		return;
	}
	for (unsigned l = 0; l < PM_JOURNAL_LANES; l++) {
		uint8_t *lb = jbase + l * lane_bytes;
		struct pm_lane_hdr *h = (struct pm_lane_hdr *)lb;
		uint64_t state = h->state;
		unsigned bad = 0;

		if (state == PM_LANE_IDLE)
			continue;
		if (state != PM_LANE_ACTIVE) {
			problem(c, FIX_UNSAFE, "lane set idle (whatever it held is not rolled back)",
				"journal lane %u has a bad state word (0x%016" PRIx64 ")", l, state);
			PUT(c, h->state, PM_LANE_IDLE);
			continue;
		}
		if (lane_scan(c, lb, lane_bytes, recs, &bad) < 0) {
			problem(c, FIX_UNSAFE, "lane set idle without rolling back",
				"journal lane %u: record %u would restore bytes outside the inode table"
				" and data area", l, bad);
			PUT(c, h->state, PM_LANE_IDLE);
			continue;
		}
		active++;
		lanes |= 1u << l;
	}
	c->r->journal_txs = active;
	if (!active) {
		info(c, "journal: no unfinished transactions");
		return;
	}
	c->r->errors += active;
	if (c->repair) {
		n = pm_journal_recover(c->m, c->base, &c->sb, false);
		if (n < 0) {
			c->r->left += active;
			c->unsafe += active;
			g_autofree char *line = NULL;
			g_strlcpy(msg, pm_errmsg(), sizeof(msg));
			strip_hint(msg);
			line = g_strdup_printf("journal: %s (cannot be repaired)", msg);
			say(c, PM_CHECK_PROBLEM, line);
			return;
		}
		c->r->fixed += active;
		snprintf(msg, sizeof(msg), "journal held %u unfinished transaction%s; rolled back", active,
			 active == 1 ? "" : "s");
		say(c, PM_CHECK_PROBLEM, msg);
		return;
	}
	c->r->left += active;
	n = pm_journal_recover(c->m, c->base, &c->sb, true);
	if (n > 0 && (uint32_t)n != active)
		info(c, "journal: recovery would find %d transactions, this check %u", n, active);
	snprintf(msg, sizeof(msg),
		 "journal holds %u unfinished transaction%s (the next mount or fsck.pmfuse -y rolls %s back)",
		 active, active == 1 ? "" : "s", active == 1 ? "it" : "them");
	say(c, PM_CHECK_PROBLEM, msg);
	/* the private view: roll back as recovery will, for the passes */
	for (unsigned l = 0; l < PM_JOURNAL_LANES && c->writable; l++) {
		uint8_t *lb = jbase + l * lane_bytes;
		unsigned bad;

		if (!(lanes & (1u << l)) || lane_scan(c, lb, lane_bytes, recs, &bad) < 0)
			continue;
		for (guint i = recs->len; i-- > 0;) {
			uint64_t at = g_array_index(recs, uint64_t, i);
			const struct pm_jrec *r = (const struct pm_jrec *)(lb + at);
			put(c, c->base + r->off, r + 1, r->len);
		}
		PUT(c, ((struct pm_lane_hdr *)lb)->state, PM_LANE_IDLE);
	}
}

/* ---- pass 1: the inode table -------------------------------------------- */

/* put_empty_dir -- write an empty directory inode (in the root) over di */
static void put_empty_dir(struct ck *c, struct pm_dinode *di, uint32_t perm, uint32_t uid, uint32_t gid)
{
	struct pm_dinode d;

	memset(&d, 0, sizeof(d));
	d.mode = S_IFDIR | perm;
	d.uid = uid;
	d.gid = gid;
	d.nlink = 2;
	d.generation = di->generation + 1;
	d.parent = PM_ROOT_INO;
	now(&d.atime);
	d.mtime = d.ctime = d.btime = d.atime;
	put(c, di, &d, sizeof(d));
}

/* make_root -- an empty root directory in place of a damaged one */
static void make_root(struct ck *c)
{
	struct pm_dinode *di = dinode(c, PM_ROOT_INO);

	put_empty_dir(c, di, 0755, di->uid, di->gid);
	c->st[PM_ROOT_INO] = ST_LIVE;
}

static void pass_inodes(struct ck *c)
{
	struct pm_dinode *rd = dinode(c, PM_ROOT_INO);

	pass_start(c, 1);
	for (uint64_t ino = 1; ino <= c->n; ino++) {
		struct pm_dinode *di = dinode(c, ino);
		uint32_t mode = di->mode;

		progress(c, ino, c->n);
		if (mode == 0)
			continue;
		if (!pm_mode_valid(mode)) {
			problem(c, FIX_UNSAFE, "inode freed", "inode %" PRIu64 ": invalid type (mode 0%o)",
				ino, mode);
			clear_inode(c, ino);
			continue;
		}
		c->st[ino] = ST_LIVE;
		if (di->height > PM_TREE_MAX_HEIGHT) {
			if (di->root)
				problem(c, FIX_UNSAFE, "its blocks are dropped",
					"inode %" PRIu64 ": block tree height %u is invalid (0 to %u)", ino,
					di->height, PM_TREE_MAX_HEIGHT);
			else
				problem(c, FIX_SAFE, "set to 0",
					"inode %" PRIu64 ": tree height %u is invalid (0 to %u)", ino,
					di->height, PM_TREE_MAX_HEIGHT);
			PUT(c, di->root, 0);
			PUT(c, di->height, 0);
		}
		if (is_special(mode) && di->root) {
			problem(c, FIX_UNSAFE, "its blocks are dropped",
				"inode %" PRIu64 " (%s) owns blocks, which a %s may not", ino,
				type_name(mode), type_name(mode));
			PUT(c, di->root, 0);
			PUT(c, di->height, 0);
		}
	}
	if (!(c->st[PM_ROOT_INO] & ST_LIVE) || !S_ISDIR(rd->mode)) {
		const char *fix = "made an empty directory (what the root held goes to /lost+found)";
		if (c->st[PM_ROOT_INO] & ST_LIVE)
			problem(c, FIX_UNSAFE, fix, "the root inode is not a directory (mode 0%o)", rd->mode);
		else
			problem(c, FIX_UNSAFE, fix, "the root inode is free");
		make_root(c);
	}
}

/* ---- pass 2: blocks ----------------------------------------------------- */

struct walk {
	uint64_t ino;
	uint64_t count;          /* blocks claimed */
	uint64_t end;            /* highest data block's file block + 1 */
	bool dir;
};

/* claim_tree -- claim the block *slot points to (a node of height h
 * covering file blocks from lblk), then what it points to; a pointer
 * outside the data area, to a block claimed before, or (directories) past
 * DIR_MAX_BLOCKS is cleared */
static void claim_tree(struct ck *c, struct walk *w, uint64_t *slot, unsigned h, uint64_t lblk)
{
	uint64_t b = *slot;
	const char *what = h ? "tree node" : "data block";

	if (!in_data(c, b)) {
		problem(c, FIX_UNSAFE, "pointer cleared",
			"inode %" PRIu64 ": %s %" PRIu64 " (file block %" PRIu64 ") is outside the data area",
			w->ino, what, b, lblk);
		PUT(c, *slot, 0);
		return;
	}
	if (w->dir && lblk >= DIR_MAX_BLOCKS) {
		problem(c, FIX_UNSAFE, "pointer cleared",
			"directory %" PRIu64 ": %s %" PRIu64 " maps file block %" PRIu64
			", beyond the 4 GiB a directory may span", w->ino, what, b, lblk);
		PUT(c, *slot, 0);
		return;
	}
	if (bit_test(c->bmap, b - c->ds)) {
		problem(c, FIX_UNSAFE, "pointer cleared",
			"inode %" PRIu64 ": %s %" PRIu64 " (file block %" PRIu64
			") is owned twice (claimed before by this or another inode)", w->ino, what, b, lblk);
		PUT(c, *slot, 0);
		return;
	}
	claim(c, b);
	w->count++;
	if (h == 0) {
		if (lblk + 1 > w->end)
			w->end = lblk + 1;
		return;
	}
	uint64_t *node = blk(c, b), span = cap(h - 1);
	for (unsigned i = 0; i < PM_TREE_FANOUT; i++)
		if (node[i])
			claim_tree(c, w, &node[i], h - 1, lblk + i * span);
}

/* xattr_damage -- the offset of the first bad record of a blob (the rules
 * of pm_xattr_check), or -1 */
static int64_t xattr_damage(const uint8_t *b, uint32_t size)
{
	uint64_t off = 0;

	while (off < size) {
		const struct pm_xattr_rec *h = (const struct pm_xattr_rec *)(b + off);
		if (size - off < sizeof(*h) || h->name_len == 0 || h->value_len > XATTR_VALUE_MAX ||
		    XREC_SIZE(h->name_len, h->value_len) > size - off)
			return (int64_t)off;
		off += XREC_SIZE(h->name_len, h->value_len);
	}
	return -1;
}

static void drop_xattrs(struct ck *c, struct pm_dinode *di)
{
	PUT(c, di->xattr_block, 0);
	PUT(c, di->xattr_size, 0);
	PUT(c, di->xattr_blocks, 0);
}

static void claim_xattrs(struct ck *c, struct walk *w)
{
	struct pm_dinode *di = dinode(c, w->ino);
	uint64_t b = di->xattr_block;
	uint32_t n = di->xattr_blocks, size = di->xattr_size;
	int64_t bad;

	if (b == 0) {
		if (size || n) {
			problem(c, FIX_SAFE, "cleared",
				"inode %" PRIu64 ": extended-attribute size %u and blocks %u without a blob",
				w->ino, size, n);
			PUT(c, di->xattr_size, 0);
			PUT(c, di->xattr_blocks, 0);
		}
		return;
	}
	if (n == 0 || n > PM_XATTR_MAX_BLOCKS || !in_data(c, b) || !in_data(c, b + n - 1) ||
	    size > (uint64_t)n * PM_BLOCK_SIZE) {
		problem(c, FIX_UNSAFE, "attributes dropped",
			"inode %" PRIu64 ": extended-attribute blob (block %" PRIu64 ", %u blocks, %u bytes)"
			" is out of bounds", w->ino, b, n, size);
		drop_xattrs(c, di);
		return;
	}
	if ((bad = xattr_damage(blk(c, b), size)) >= 0) {
		problem(c, FIX_UNSAFE, "attributes dropped",
			"inode %" PRIu64 ": extended-attribute blob (block %" PRIu64 ") has a damaged record"
			" at byte %" PRId64, w->ino, b, bad);
		drop_xattrs(c, di);
		return;
	}
	for (uint32_t i = 0; i < n; i++) {
		if (bit_test(c->bmap, b + i - c->ds)) {
			problem(c, FIX_UNSAFE, "attributes dropped",
				"inode %" PRIu64 ": extended-attribute block %" PRIu64
				" is owned twice (claimed before by this or another inode)", w->ino, b + i);
			drop_xattrs(c, di);
			return;
		}
	}
	for (uint32_t i = 0; i < n; i++)
		claim(c, b + i);
	w->count += n;
}

/* symlink_ok -- a symbolic link has its target in file block 0 and a size
 * of 1 to 4095; a wrong size is set to the target's length, a link without
 * a target is freed (its blocks unclaimed). Returns whether it lives. */
static bool symlink_ok(struct ck *c, uint64_t ino)
{
	struct pm_dinode *di = dinode(c, ino);
	uint64_t size = di->size, b0 = map_block(c, di, 0);
	size_t len;

	if (b0 && size >= 1 && size < PM_BLOCK_SIZE)
		return true;
	if (b0 && (len = strnlen(blk(c, b0), PM_BLOCK_SIZE - 1)) > 0) {
		problem(c, FIX_UNSAFE, fx(c, "set to the target's length, %zu", len),
			"symbolic link %" PRIu64 ": size %" PRIu64 " is invalid (1 to 4095)", ino, size);
		PUT(c, di->size, len);
		return true;
	}
	problem(c, FIX_UNSAFE, "inode freed (its names are removed)",
		"symbolic link %" PRIu64 " has no target", ino);
	for (guint i = 0; i < c->claimed->len; i++) {
		bit_clr(c->bmap, g_array_index(c->claimed, uint64_t, i) - c->ds);
		c->used--;
	}
	clear_inode(c, ino);
	return false;
}

/* claim_inode -- claim an inode's blocks (tree and attribute blob), then
 * check what depends on them: symlink target, directory size, block count */
static void claim_inode(struct ck *c, uint64_t ino)
{
	struct pm_dinode *di = dinode(c, ino);
	struct walk w = { .ino = ino, .dir = S_ISDIR(di->mode) };
	bool lnk = S_ISLNK(di->mode);

	c->st[ino] |= ST_CLAIMED;
	if (lnk)
		g_array_set_size(c->claimed, 0);
	c->record = lnk;
	if (di->root && di->height <= PM_TREE_MAX_HEIGHT)
		claim_tree(c, &w, &di->root, di->height, 0);
	claim_xattrs(c, &w);
	c->record = false;
	if (lnk && !symlink_ok(c, ino)) {
		if (c->pass == 3)
			c->rescan = true; /* its names were counted already */
		return;
	}
	if (w.dir && di->size != w.end * PM_BLOCK_SIZE) {
		problem(c, FIX_SAFE, fx(c, "set to %" PRIu64, w.end * PM_BLOCK_SIZE),
			"directory %" PRIu64 ": size is %" PRIu64 ", its blocks end at %" PRIu64, ino,
			di->size, w.end * PM_BLOCK_SIZE);
		PUT(c, di->size, w.end * PM_BLOCK_SIZE);
	}
	if (S_ISREG(di->mode) && di->size > PM_MAX_FILE_SIZE) {
		uint64_t size = MIN(w.end * PM_BLOCK_SIZE, PM_MAX_FILE_SIZE);
		problem(c, FIX_UNSAFE, fx(c, "set to %" PRIu64, size),
			"inode %" PRIu64 ": size %" PRIu64 " is above the largest file pmfuse allows"
			" (2^63 - 1 bytes)", ino, di->size);
		PUT(c, di->size, size);
	}
	if (di->blocks != w.count) {
		problem(c, FIX_SAFE, fx(c, "set to %" PRIu64, w.count),
			"inode %" PRIu64 ": block count is %" PRIu64 ", but it owns %" PRIu64, ino,
			di->blocks, w.count);
		PUT(c, di->blocks, w.count);
	}
}

static void pass_blocks(struct ck *c)
{
	pass_start(c, 2);
	for (uint64_t ino = 1; ino <= c->n; ino++) {
		progress(c, ino, c->n);
		if ((c->st[ino] & ST_LIVE) && (ino == PM_ROOT_INO || dinode(c, ino)->nlink > 0))
			claim_inode(c, ino);
	}
}

/* ---- pass 3: directories ------------------------------------------------ */

typedef int (*leaf_fn)(struct ck *c, void *arg, uint64_t lblk, uint64_t pblk);

/* leaves -- call fn on every data block below b (height h, from file block
 * lblk) in file order; *budget bounds the blocks visited (a tree not yet
 * cleaned of repeated pointers could otherwise take forever) */
static int leaves(struct ck *c, uint64_t b, unsigned h, uint64_t lblk, uint64_t *budget, leaf_fn fn,
		  void *arg)
{
	int ret;

	if (!in_data(c, b) || *budget == 0)
		return 0;
	(*budget)--;
	if (h == 0)
		return fn(c, arg, lblk, b);
	const uint64_t *node = blk(c, b);
	for (unsigned i = 0; i < PM_TREE_FANOUT; i++)
		if (node[i] && (ret = leaves(c, node[i], h - 1, lblk + i * cap(h - 1), budget, fn, arg)))
			return ret;
	return 0;
}

static int dir_walk(struct ck *c, uint64_t dino, leaf_fn fn, void *arg)
{
	const struct pm_dinode *di = dinode(c, dino);
	uint64_t budget = c->dn + 1;

	if (!di->root || di->height > PM_TREE_MAX_HEIGHT)
		return 0;
	return leaves(c, di->root, di->height, 0, &budget, fn, arg);
}

struct lookup {
	const char *name;
	size_t len;
	uint64_t ino;
};

static int lookup_block(struct ck *c, void *arg, uint64_t lblk, uint64_t pblk)
{
	struct lookup *l = arg;
	const struct pm_dirent *d = blk(c, pblk);

	for (unsigned s = 0; s < PM_DIRENT_PER_BLOCK; s += head_slots(&d[s])) {
		unsigned n = head_slots(&d[s]);
		if (n > PM_DIRENT_PER_BLOCK - s)
			break;
		if (d[s].ino && d[s].name_len == l->len && slots_for(l->len) <= n &&
		    memcmp((const uint8_t *)&d[s] + offsetof(struct pm_dirent, name), l->name, l->len) == 0) {
			l->ino = d[s].ino;
			return 1;
		}
	}
	return 0;
}

/* dir_lookup -- the inode number an entry name of dino holds, 0 if none */
static uint64_t dir_lookup(struct ck *c, uint64_t dino, const char *name)
{
	struct lookup l = { name, strlen(name), 0 };

	dir_walk(c, dino, lookup_block, &l);
	return l.ino;
}

/* dir_add -- entry name -> ino in directory dino, in the first run of free
 * slots that fits, else in a hole, else in a new block at the end, written
 * as pm_dir_put writes it: header and name first, the inode number last */
static int dir_add(struct ck *c, uint64_t dino, const char *name, uint64_t ino, uint8_t type)
{
	struct pm_dinode *di = dinode(c, dino);
	size_t len = strlen(name);
	unsigned need = slots_for(len), have = 0, at = 0;
	uint8_t ent[5 * PM_DIRENT_SIZE];
	uint64_t nb = di->size / PM_BLOCK_SIZE, pblk = 0;
	struct pm_dirent *d, *e = (struct pm_dirent *)ent;

	if (!c->writable)
		return 0; /* nothing to write into: the DRAM state has the entry */
	if (len == 0 || len > PM_NAME_MAX)
		return -EINVAL;
	for (uint64_t b = 0; b < nb && !pblk; b++) {
		uint64_t p = map_block(c, di, b);
		if (!p) {
			if (!(p = new_block(c)) || tree_set(c, dino, b, p))
				return -ENOSPC;
			pblk = p;
			have = PM_DIRENT_PER_BLOCK;
			break;
		}
		d = blk(c, p);
		unsigned run = 0, start = 0;
		for (unsigned s = 0; s < PM_DIRENT_PER_BLOCK;) {
			unsigned k = head_slots(&d[s]);
			if (k > PM_DIRENT_PER_BLOCK - s)
				k = PM_DIRENT_PER_BLOCK - s;
			if (d[s].ino) {
				run = 0;
			} else {
				if (run == 0)
					start = s;
				run += k;
				if (run >= need) {
					pblk = p;
					at = start;
					have = run;
					break;
				}
			}
			s += k;
		}
	}
	if (!pblk) {
		if (nb >= DIR_MAX_BLOCKS || !(pblk = new_block(c)) || tree_set(c, dino, nb, pblk))
			return -ENOSPC;
		PUT(c, di->size, (nb + 1) * PM_BLOCK_SIZE);
		have = PM_DIRENT_PER_BLOCK;
	}
	d = (struct pm_dirent *)blk(c, pblk) + at;
	if (have > need) {
		/* the rest of the run stays a free entry of its own */
		struct pm_dirent f;
		memset(&f, 0, sizeof(f));
		f.nslots = (uint8_t)(have - need);
		put(c, &d[need], &f, 16);
	}
	memset(ent, 0, need * PM_DIRENT_SIZE);
	e->nslots = (uint8_t)need;
	e->type = type;
	e->name_len = (uint16_t)len;
	memcpy(ent + offsetof(struct pm_dirent, name), name, len);
	put(c, d, ent, need * PM_DIRENT_SIZE);
	PUT(c, d->ino, ino); /* published */
	return 0;
}

struct scan {
	uint64_t dino;
	GHashTable *names;       /* names kept so far */
};

static void drop_entry(struct ck *c, struct pm_dirent *e)
{
	PUT(c, e->ino, 0);
}

/* accept_dir -- the entry e in dino is the name of directory ino */
static void accept_dir(struct ck *c, uint64_t dino, uint64_t ino, struct pm_dirent *e)
{
	c->parent[ino] = (uint32_t)dino;
	c->links[ino] = 1;
	if (c->subdirs[dino] < UINT32_MAX)
		c->subdirs[dino]++;
	if (e)
		g_hash_table_insert(c->dent, GSIZE_TO_POINTER(ino), e);
	else
		g_hash_table_remove(c->dent, GSIZE_TO_POINTER(ino));
}

/* second_name -- directory ino has a name already: keep the one in the
 * directory its parent field names, drop the other; whether e stays */
static bool second_name(struct ck *c, struct scan *s, uint64_t ino, struct pm_dirent *e, const char *show)
{
	uint64_t old = c->parent[ino];
	struct pm_dirent *oe = g_hash_table_lookup(c->dent, GSIZE_TO_POINTER(ino));

	if (dinode(c, ino)->parent == s->dino && old != s->dino && oe) {
		problem(c, FIX_UNSAFE, fx(c, "the entry in directory %" PRIu64 " removed", old),
			"directory %" PRIu64 " has two names: one in directory %" PRIu64
			" and \"%s\" in directory %" PRIu64 ", its parent", ino, old, show, s->dino);
		drop_entry(c, oe);
		if (c->subdirs[old])
			c->subdirs[old]--;
		accept_dir(c, s->dino, ino, e);
		return true;
	}
	problem(c, FIX_UNSAFE, "entry removed",
		"directory %" PRIu64 ": entry \"%s\" is a second name of directory %" PRIu64
		" (a directory has one name, in directory %" PRIu64 ")", s->dino, show, ino, old);
	drop_entry(c, e);
	return false;
}

/* check_entry -- the used entry e (ino, n slots) at slot of block lblk */
static void check_entry(struct ck *c, struct scan *s, uint64_t lblk, unsigned slot, struct pm_dirent *e,
			uint64_t ino, unsigned n)
{
	unsigned len = e->name_len;
	char name[PM_NAME_MAX + 1];
	g_autofree char *show = NULL, *why = NULL;
	struct pm_dinode *ti;

	if (len == 0 || len > PM_NAME_MAX || slots_for(len) > n) {
		problem(c, FIX_UNSAFE, "entry removed",
			"directory %" PRIu64 ", block %" PRIu64 ", slot %u: bad name length %u for %u slot%s",
			s->dino, lblk, slot, len, n, n == 1 ? "" : "s");
		drop_entry(c, e);
		return;
	}
	memcpy(name, (const uint8_t *)e + offsetof(struct pm_dirent, name), len);
	name[len] = '\0';
	show = shown(name, len);
	if (ino > c->n)
		why = g_strdup_printf("names inode %" PRIu64 ", outside the inode table (1 to %" PRIu64 ")",
				      ino, c->n);
	else if (c->st[ino] & ST_CLEARED)
		why = g_strdup_printf("names inode %" PRIu64 ", which this check freed", ino);
	else if (!(c->st[ino] & ST_LIVE))
		why = g_strdup_printf("names inode %" PRIu64 ", which is free", ino);
	else if (memchr(name, '/', len) || memchr(name, '\0', len))
		why = g_strdup("has a '/' or a NUL byte in its name");
	else if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		why = g_strdup("is named \".\" or \"..\", which are not stored");
	else if (ino == PM_ROOT_INO)
		why = g_strdup("names the root directory");
	else if (ino == s->dino)
		why = g_strdup("names its own directory");
	else if (g_hash_table_contains(s->names, name))
		why = g_strdup("repeats a name of the directory");
	if (why) {
		problem(c, FIX_UNSAFE, "entry removed",
			"directory %" PRIu64 ": entry \"%s\" (block %" PRIu64 ", slot %u) %s", s->dino,
			show, lblk, slot, why);
		drop_entry(c, e);
		return;
	}
	ti = dinode(c, ino);
	if (e->type != dtype(ti->mode)) {
		problem(c, FIX_SAFE, fx(c, "set to %u", dtype(ti->mode)),
			"directory %" PRIu64 ": entry \"%s\" has type %u, but inode %" PRIu64 " is a %s",
			s->dino, show, e->type, ino, type_name(ti->mode));
		PUT(c, e->type, dtype(ti->mode));
	}
	if (S_ISDIR(ti->mode)) {
		if (c->parent[ino] == 0)
			accept_dir(c, s->dino, ino, e);
		else if (!second_name(c, s, ino, e, show))
			return;
	} else if (c->links[ino] < UINT32_MAX) {
		c->links[ino]++;
	}
	g_hash_table_add(s->names, g_strdup(name));
	if (!(c->st[ino] & (ST_CLAIMED | ST_QUEUED))) {
		c->st[ino] |= ST_QUEUED;
		g_queue_push_tail(&c->queue, GSIZE_TO_POINTER(ino));
	}
}

static int scan_block(struct ck *c, void *arg, uint64_t lblk, uint64_t pblk)
{
	struct scan *s = arg;
	struct pm_dirent *d = blk(c, pblk);

	if (lblk >= DIR_MAX_BLOCKS)
		return 0;
	for (unsigned i = 0; i < PM_DIRENT_PER_BLOCK;) {
		struct pm_dirent *e = &d[i];
		unsigned n = head_slots(e), len = e->name_len;
		uint64_t ino = e->ino;

		if (n > PM_DIRENT_PER_BLOCK - i) {
			const char *what = ino ? "an entry" : "a free run";
			bool keep;

			n = PM_DIRENT_PER_BLOCK - i;
			keep = !ino || (len >= 1 && len <= PM_NAME_MAX && slots_for(len) <= n);
			problem(c, keep ? FIX_SAFE : FIX_UNSAFE,
				keep ? fx(c, "shortened to %u slots", n) : "entry removed",
				"directory %" PRIu64 ", block %" PRIu64 ", slot %u: %s of %u slots runs past"
				" the end of the block", s->dino, lblk, i, what, head_slots(e));
			if (!keep) {
				drop_entry(c, e);
				ino = 0;
			}
			PUT(c, e->nslots, (uint8_t)n);
		}
		if (ino)
			check_entry(c, s, lblk, i, e, ino, n);
		i += n;
	}
	return 0;
}

static void scan_dir(struct ck *c, uint64_t dino)
{
	struct scan s = { dino, g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL) };

	dir_walk(c, dino, scan_block, &s);
	g_hash_table_destroy(s.names);
}

static void pass_dirs(struct ck *c)
{
	gpointer p;

	for (unsigned round = 0;; round++) {
		c->rescan = false;
		if (round) {
			/* a named inode was freed: count the names again */
			info(c, "pass 3: counting the names again");
			memset(c->links, 0, (c->n + 1) * sizeof(*c->links));
			memset(c->subdirs, 0, (c->n + 1) * sizeof(*c->subdirs));
			memset(c->parent, 0, (c->n + 1) * sizeof(*c->parent));
			g_hash_table_remove_all(c->dent);
		}
		pass_start(c, 3);
		for (uint64_t ino = 1; ino <= c->n; ino++) {
			progress(c, ino, c->n);
			if ((c->st[ino] & (ST_LIVE | ST_CLAIMED)) == (ST_LIVE | ST_CLAIMED) &&
			    S_ISDIR(dinode(c, ino)->mode))
				scan_dir(c, ino);
		}
		/* named, but with link count 0: claimed after everything else,
		 * so that they lose any block they share */
		while ((p = g_queue_pop_head(&c->queue))) {
			uint64_t ino = GPOINTER_TO_SIZE(p);
			c->st[ino] &= (uint8_t)~ST_QUEUED;
			if (!(c->st[ino] & ST_LIVE) || (c->st[ino] & ST_CLAIMED))
				continue;
			claim_inode(c, ino);
			if ((c->st[ino] & ST_LIVE) && S_ISDIR(dinode(c, ino)->mode))
				scan_dir(c, ino);
		}
		if (!c->rescan)
			break;
	}
}

/* ---- pass 4: connectivity ----------------------------------------------- */

/* lost_found -- /lost+found: found in the root, or made there (mode 0700,
 * owned like the root); 0 with c->lf_why if neither can be */
static uint64_t lost_found(struct ck *c)
{
	const struct pm_dinode *rd = dinode(c, PM_ROOT_INO);
	struct pm_dinode *di;
	uint64_t ino;

	if (c->lf || c->lf_why)
		return c->lf;
	ino = dir_lookup(c, PM_ROOT_INO, "lost+found");
	if (ino) {
		if (ino <= c->n && (c->st[ino] & ST_LIVE) && S_ISDIR(dinode(c, ino)->mode) &&
		    c->parent[ino] == PM_ROOT_INO)
			return c->lf = ino;
		c->lf_why = "/lost+found is not a directory";
		return 0;
	}
	for (ino = 2; ino <= c->n && (c->st[ino] & ST_LIVE); ino++)
		;
	if (ino > c->n) {
		c->lf_why = "no free inode for /lost+found";
		return 0;
	}
	di = dinode(c, ino);
	put_empty_dir(c, di, 0700, rd->uid, rd->gid);
	if (dir_add(c, PM_ROOT_INO, "lost+found", ino, DT_DIR)) {
		clear_inode(c, ino);
		c->lf_why = "no room for /lost+found (the pool is full)";
		return 0;
	}
	c->st[ino] = ST_LIVE | ST_CLAIMED | ST_REACHED;
	accept_dir(c, PM_ROOT_INO, ino, NULL);
	info(c, "made /lost+found (inode %" PRIu64 ")", ino);
	return c->lf = ino;
}

/* relink -- give ino the name "#ino" (or "#ino.N") in /lost+found; the
 * name used in out, or NULL with c->lf_why */
static const char *relink(struct ck *c, uint64_t ino, char out[48])
{
	struct pm_dinode *di = dinode(c, ino);
	uint64_t lf = lost_found(c);

	if (!lf)
		return NULL;
	snprintf(out, 48, "#%" PRIu64, ino);
	for (unsigned k = 1; dir_lookup(c, lf, out); k++) {
		if (k > 1000) {
			c->lf_why = "no free name in /lost+found";
			return NULL;
		}
		snprintf(out, 48, "#%" PRIu64 ".%u", ino, k);
	}
	if (dir_add(c, lf, out, ino, dtype(di->mode))) {
		c->lf_why = "no room in /lost+found (the pool is full)";
		return NULL;
	}
	if (S_ISDIR(di->mode)) {
		accept_dir(c, lf, ino, NULL);
		PUT(c, di->parent, lf);
	} else if (c->links[ino] < UINT32_MAX) {
		c->links[ino]++;
	}
	c->r->relinked++;
	return out;
}

/* unlinked -- report ino as unreachable (why) and move it to /lost+found */
static void unlinked(struct ck *c, uint64_t ino, const char *why)
{
	char name[48];
	const char *got = relink(c, ino, name);

	if (got)
		problem(c, FIX_UNSAFE, fx(c, "moved to /lost+found/%s", got), "inode %" PRIu64 " (%s) %s",
			ino, type_name(dinode(c, ino)->mode), why);
	else
		problem(c, FIX_NONE, c->lf_why, "inode %" PRIu64 " (%s) %s", ino,
			type_name(dinode(c, ino)->mode), why);
}

static void pass_connect(struct ck *c)
{
	g_autoptr(GArray) path = g_array_new(FALSE, FALSE, sizeof(uint64_t));

	pass_start(c, 4);
	for (uint64_t ino = 2; ino <= c->n; ino++) {
		if ((c->st[ino] & (ST_LIVE | ST_CLAIMED)) != ST_LIVE)
			continue;
		problem(c, FIX_SAFE, "inode freed",
			"inode %" PRIu64 " (%s) is an orphan: link count 0 and no name", ino,
			type_name(dinode(c, ino)->mode));
		clear_inode(c, ino);
		c->r->orphans++;
	}
	/* directories: follow each one's name up to the root */
	c->st[PM_ROOT_INO] |= ST_REACHED;
	for (uint64_t ino = 2; ino <= c->n; ino++) {
		uint64_t x = ino;

		progress(c, ino, c->n);
		if (!(c->st[ino] & ST_LIVE) || (c->st[ino] & ST_REACHED) || !S_ISDIR(dinode(c, ino)->mode))
			continue;
		g_array_set_size(path, 0);
		for (;;) {
			if (c->st[x] & ST_REACHED)
				break;
			if (c->st[x] & ST_VISIT) {
				/* a loop of directories, each named in the next */
				struct pm_dirent *e = g_hash_table_lookup(c->dent, GSIZE_TO_POINTER(x));
				if (e)
					drop_entry(c, e);
				if (c->subdirs[c->parent[x]])
					c->subdirs[c->parent[x]]--;
				c->parent[x] = 0;
				c->links[x] = 0;
				unlinked(c, x, "is in a loop of directories that the root does not reach");
				break;
			}
			c->st[x] |= ST_VISIT;
			g_array_append_val(path, x);
			if (c->parent[x] == 0) {
				unlinked(c, x, "has no name: the root does not reach it");
				break;
			}
			x = c->parent[x];
		}
		for (guint i = 0; i < path->len; i++) {
			uint64_t p = g_array_index(path, uint64_t, i);
			c->st[p] = (uint8_t)((c->st[p] & ~ST_VISIT) | ST_REACHED);
		}
	}
	/* everything else: reached if named (all directories are reached now) */
	for (uint64_t ino = 2; ino <= c->n; ino++) {
		char why[96];
		if (!(c->st[ino] & ST_LIVE) || S_ISDIR(dinode(c, ino)->mode) || c->links[ino])
			continue;
		snprintf(why, sizeof(why), "has no name (link count %u): the root does not reach it",
			 dinode(c, ino)->nlink);
		unlinked(c, ino, why);
	}
}

/* ---- pass 5: link counts ------------------------------------------------ */

static void pass_counts(struct ck *c)
{
	struct pm_check_result *r = c->r;

	pass_start(c, 5);
	for (uint64_t ino = 1; ino <= c->n; ino++) {
		struct pm_dinode *di = dinode(c, ino);

		progress(c, ino, c->n);
		if (!(c->st[ino] & ST_LIVE))
			continue;
		r->inodes++;
		if (S_ISDIR(di->mode)) {
			uint64_t want = 2ull + c->subdirs[ino];
			uint64_t p = ino == PM_ROOT_INO ? PM_ROOT_INO : c->parent[ino];
			if (want > UINT32_MAX)
				want = UINT32_MAX;
			r->dirs++;
			if (di->nlink != want) {
				problem(c, FIX_SAFE, fx(c, "set to %" PRIu64, want),
					"directory %" PRIu64 ": link count is %u, should be %" PRIu64
					" (2 + %u subdirectories)", ino, di->nlink, want, c->subdirs[ino]);
				PUT(c, di->nlink, (uint32_t)want);
			}
			if (p && di->parent != p) {
				problem(c, FIX_SAFE, fx(c, "set to %" PRIu64, p),
					"directory %" PRIu64 ": parent is %" PRIu64
					", but its name is in directory %" PRIu64, ino, di->parent, p);
				PUT(c, di->parent, p);
			}
			continue;
		}
		if (S_ISREG(di->mode))
			r->files++;
		else if (S_ISLNK(di->mode))
			r->symlinks++;
		else
			r->specials++;
		if (c->links[ino] && di->nlink != c->links[ino]) {
			problem(c, FIX_SAFE, fx(c, "set to %u", c->links[ino]),
				"inode %" PRIu64 " (%s): link count is %u, but %u entr%s it", ino,
				type_name(di->mode), di->nlink, c->links[ino],
				c->links[ino] == 1 ? "y names" : "ies name");
			PUT(c, di->nlink, c->links[ino]);
		}
	}
}

/* ---- the whole check ---------------------------------------------------- */

static void ck_free(struct ck *c)
{
	g_free(c->bmap);
	g_free(c->st);
	g_free(c->links);
	g_free(c->subdirs);
	g_free(c->parent);
	if (c->dent)
		g_hash_table_destroy(c->dent);
	g_queue_clear(&c->queue);
	if (c->claimed)
		g_array_free(c->claimed, TRUE);
}

static int run(struct ck *c)
{
	uint64_t *state;
	char uuid[37];
	int ret;

	if ((ret = check_super(c)))
		return ret;
	c->n = c->sb.inode_count;
	c->ds = c->sb.data_start;
	c->dn = c->sb.data_blocks;
	c->itable = (struct pm_dinode *)blk(c, c->sb.itable_start);
	c->r->inode_count = c->n;
	c->r->data_blocks = c->dn;
	c->show_progress = c->o->verbose || c->n > 100000;
	pm_super_uuid_str(&c->sb, uuid);
	info(c, "superblock: format %u.%u, UUID %s, %" PRIu64 " blocks, %" PRIu64 " inodes, data blocks %"
	     PRIu64 "-%" PRIu64, c->sb.major, c->sb.minor, uuid, c->sb.total_blocks, c->n, c->ds,
	     c->ds + c->dn - 1);

	c->bmap = g_try_malloc0((c->dn + 63) / 64 * sizeof(uint64_t));
	c->st = g_try_malloc0(c->n + 1);
	c->links = g_try_malloc0((c->n + 1) * sizeof(uint32_t));
	c->subdirs = g_try_malloc0((c->n + 1) * sizeof(uint32_t));
	c->parent = g_try_malloc0((c->n + 1) * sizeof(uint32_t));
	c->dent = g_hash_table_new(g_direct_hash, g_direct_equal);
	c->claimed = g_array_new(FALSE, FALSE, sizeof(uint64_t));
	g_queue_init(&c->queue);
	if (!c->bmap || !c->st || !c->links || !c->subdirs || !c->parent) {
		ck_free(c);
		return pm_err(ENOMEM, "out of memory for checking %" PRIu64 " inodes and %" PRIu64 " blocks",
			      c->n, c->dn);
	}

	check_state(c);
	check_journal(c);
	pass_inodes(c);
	pass_blocks(c);
	pass_dirs(c);
	pass_connect(c);
	pass_counts(c);
	c->r->blocks_used = c->used;
	info(c, "in use: %" PRIu64 " of %" PRIu64 " inodes, %" PRIu64 " of %" PRIu64 " data blocks"
	     " (free space is not recorded on the media: pmfuse rebuilds it at every mount, so there is"
	     " nothing to compare it with)", c->r->inodes, c->n, c->used, c->dn);

	state = (uint64_t *)(c->base + PM_STATE_OFFSET);
	if (c->repair && c->r->left == 0 && *state != PM_STATE_CLEAN) {
		PUT(c, *state, PM_STATE_CLEAN);
		info(c, "marked the pool clean");
	}
	ck_free(c);
	return 0;
}

/* map_private -- a private copy-on-write view of the pool, or NULL */
static uint8_t *map_private(const char *path, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	void *p;

	if (fd < 0)
		return NULL;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_NORESERVE, fd, 0);
	close(fd);
	return p == MAP_FAILED ? NULL : p;
}

int pm_check(const char *path, const struct pm_check_opts *o, struct pm_check_result *r)
{
	static const struct pm_check_opts defaults = { .mode = PM_CHECK_ONLY };
	struct pm_media *m = NULL;
	uint8_t *cow = NULL;
	size_t size;
	int ret;

	if (!o)
		o = &defaults;
	memset(r, 0, sizeof(*r));
	ret = pm_media_open(path, o->mode == PM_CHECK_ONLY ? PM_MEDIA_RDONLY : 0, &m);
	if (ret == -EBUSY)
		return pm_err(EBUSY, "%s is mounted (locked by another process); unmount it first", path);
	if (ret)
		return ret;
	size = pm_media_size(m);
	if (o->mode != PM_CHECK_REPAIR && !(o->flags & PM_CHECK_NO_COW))
		cow = map_private(path, size);

	struct ck c = {
		.o = o, .r = r, .path = path, .m = m, .size = size,
		.base = cow ? cow : pm_media_base(m),
		.repair = o->mode == PM_CHECK_REPAIR,
		.writable = o->mode == PM_CHECK_REPAIR || cow,
	};
	if (o->mode == PM_CHECK_PREEN) {
		/* a dry run first: repair only if every problem is safe */
		c.hold = true;
		c.held = g_ptr_array_new_with_free_func(g_free);
		ret = run(&c);
		if (ret == 0 && r->errors && c.unsafe) {
			c.hold = false;
			for (guint i = 0; i < c.held->len; i++)
				say(&c, PM_CHECK_PROBLEM, g_ptr_array_index(c.held, i));
			r->preen_refused = true;
		} else if (ret == 0 && r->errors) {
			struct ck again = {
				.o = o, .r = r, .path = path, .m = m, .size = size,
				.base = pm_media_base(m), .repair = true, .writable = true,
			};
			memset(r, 0, sizeof(*r));
			ret = run(&again);
		}
		g_ptr_array_free(c.held, TRUE);
	} else {
		ret = run(&c);
	}
	if (cow)
		munmap(cow, size);
	pm_media_delete(&m);
	return ret;
}
