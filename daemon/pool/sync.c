/* sync.c -- dirty-range tracking and persisting an inode's dirty ranges */
#include "fsi.h"
#include "journal.h"

/* Ranges are kept in pool offsets; a write that continues the last range
 * extends it, so sequential writes cost one entry. */
void pm_sync_dirty(struct pm_fs *fs, struct pm_ino *pi, const void *p, size_t len)
{
	struct pm_range r = { pm_off(fs, p), len };

	if (!pi->dirty)
		pi->dirty = g_array_sized_new(FALSE, FALSE, sizeof(struct pm_range), 16);
	if (pi->dirty->len) {
		struct pm_range *last = &g_array_index(pi->dirty, struct pm_range, pi->dirty->len - 1);
		if (r.off >= last->off && r.off <= last->off + last->len) {
			if (r.off + r.len > last->off + last->len)
				last->len = r.off + r.len - last->off;
			return;
		}
	}
	g_array_append_val(pi->dirty, r);
}

static gint range_cmp(gconstpointer a, gconstpointer b)
{
	const struct pm_range *x = a, *y = b;

	return x->off < y->off ? -1 : x->off > y->off;
}

/* flush_ranges -- flush every dirty range once (sorted, merged) */
static void flush_ranges(struct pm_fs *fs, GArray *ranges)
{
	struct pm_range cur = { 0, 0 };

	g_array_sort(ranges, range_cmp);
	for (guint i = 0; i < ranges->len; i++) {
		struct pm_range *r = &g_array_index(ranges, struct pm_range, i);
		if (cur.len && r->off <= cur.off + cur.len) {
			if (r->off + r->len > cur.off + cur.len)
				cur.len = r->off + r->len - cur.off;
			continue;
		}
		pm_media_flush(fs->m, fs->base + cur.off, cur.len);
		cur = *r;
	}
	pm_media_flush(fs->m, fs->base + cur.off, cur.len);
	g_array_set_size(ranges, 0);
}

void pm_sync_inode(struct pm_fs *fs, struct pm_ino *pi)
{
	struct pm_dinode *di = pm_dinode(fs, pi->ino);

	if (pi->dirty && pi->dirty->len) {
		flush_ranges(fs, pi->dirty);
		pm_media_drain(fs->m); /* the data and tree nodes are durable */
	}
	if (pi->size_dirty) {
		pm_tx_touch(fs, &di->size, sizeof(di->size));
		/* published only now, so a crash never shows bytes that were
		 * not persisted */
		di->size = pi->size;
		pi->size_dirty = false;
		pm_persist(fs, di, sizeof(*di));
	}
}
