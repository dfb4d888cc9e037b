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
	uint64_t grew = pi->dirty->len ? pm_range_merge(&g_array_index(pi->dirty, struct pm_range,
								    pi->dirty->len - 1), r.off, r.len)
				       : UINT64_MAX;
	if (grew == UINT64_MAX) {
		g_array_append_val(pi->dirty, r);
		grew = len;
	}
	pi->dirty_len += grew;
	pm_counters_add(&fs->ctr, PM_DIRTY_BYTES, grew);
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
		if (cur.len && pm_range_merge(&cur, r->off, r->len) != UINT64_MAX)
			continue; /* sorted: r->off >= cur.off */
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
		pm_counters_add(&fs->ctr, PM_DIRTY_BYTES, -(uint64_t)pi->dirty_len);
		pi->dirty_len = 0;
	} else if (pi->needs_drain) {
		pm_media_drain(fs->m);
	}
	pi->needs_drain = false;
	if (pi->size_dirty) {
		pm_tx_touch(fs, &di->size, sizeof(di->size));
		/* published only now, so a crash never shows bytes that were
		 * not persisted */
		di->size = pi->size;
		pi->size_dirty = false;
		pm_persist(fs, di, sizeof(*di));
	}
}

void pm_sync_discard(struct pm_fs *fs, struct pm_ino *pi)
{
	if (pi->dirty)
		g_array_set_size(pi->dirty, 0);
	pm_counters_add(&fs->ctr, PM_DIRTY_BYTES, -(uint64_t)pi->dirty_len);
	pi->dirty_len = 0;
	pi->size_dirty = false;
	pi->needs_drain = false;
}

void pm_sync_queue_periodic(struct pm_fs *fs, uint64_t ino, uint32_t period_ms)
{
	pthread_mutex_lock(&fs->periodic_lock);
	g_hash_table_add(fs->periodic_dirty, GUINT_TO_POINTER((guint)ino));
	if (period_ms && (fs->periodic_ms == 0 || period_ms < fs->periodic_ms))
		fs->periodic_ms = period_ms;
	pthread_mutex_unlock(&fs->periodic_lock);
}

uint32_t pm_fs_periodic_ms(struct pm_fs *fs)
{
	pthread_mutex_lock(&fs->periodic_lock);
	uint32_t ms = fs->periodic_ms;
	pthread_mutex_unlock(&fs->periodic_lock);
	return ms;
}

unsigned pm_fs_flush_periodic(struct pm_fs *fs)
{
	GHashTable *todo;
	GHashTableIter it;
	gpointer key;
	unsigned n = 0;

	pthread_mutex_lock(&fs->periodic_lock);
	todo = fs->periodic_dirty;
	fs->periodic_dirty = g_hash_table_new(g_direct_hash, g_direct_equal);
	pthread_mutex_unlock(&fs->periodic_lock);
	g_hash_table_iter_init(&it, todo);
	while (g_hash_table_iter_next(&it, &key, NULL)) {
		struct pm_ino *pi;
		if (pm_ino_live(fs, GPOINTER_TO_UINT(key), &pi))
			continue;
		pthread_rwlock_wrlock(&pi->lock);
		pm_sync_inode(fs, pi);
		pthread_rwlock_unlock(&pi->lock);
		pm_ino_put(fs, pi);
		n++;
	}
	g_hash_table_destroy(todo);
	if (n)
		pm_counters_add(&fs->ctr, PM_PERIODIC_FLUSHES, 1);
	return n;
}

void pm_fs_periodic_open(struct pm_fs *fs, void (*fn)(void *arg, uint64_t ino), void *arg)
{
	GHashTableIter it;
	gpointer key;
	GArray *inos = g_array_new(FALSE, FALSE, sizeof(uint64_t));

	pthread_mutex_lock(&fs->periodic_lock);
	g_hash_table_iter_init(&it, fs->periodic_open);
	while (g_hash_table_iter_next(&it, &key, NULL)) {
		uint64_t ino = GPOINTER_TO_UINT(key);
		g_array_append_val(inos, ino);
	}
	pthread_mutex_unlock(&fs->periodic_lock);
	for (guint i = 0; i < inos->len; i++) /* without the lock: fn waits for writes */
		fn(arg, g_array_index(inos, uint64_t, i));
	g_array_free(inos, TRUE);
}
