/* test-dir.c -- directories: many entries, readdir offsets, name lengths,
 * slot reuse, persistence, damaged entries */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "journal.h"
#include "media.h"
#include "unit.h"

struct dent {
	char *name;
	uint64_t ino;
	uint32_t type;
	uint64_t next;
};

struct listing {
	GArray *v; /* struct dent */
	guint limit; /* stop after this many (0: no limit) */
};

static void dent_clear(gpointer p)
{
	g_free(((struct dent *)p)->name);
}

static int collect(void *arg, const char *name, uint64_t ino, uint32_t type, uint64_t next)
{
	struct listing *l = arg;
	struct dent d = { g_strdup(name), ino, type, next };

	if (l->limit && l->v->len >= l->limit) {
		g_free(d.name);
		return 1;
	}
	g_array_append_val(l->v, d);
	return 0;
}

static GArray *new_list(void)
{
	GArray *v = g_array_new(FALSE, FALSE, sizeof(struct dent));

	g_array_set_clear_func(v, dent_clear);
	return v;
}

/* list -- readdir from off, at most limit entries (0: all) */
static GArray *list(struct pm_fs *fs, uint64_t dir, uint64_t off, guint limit)
{
	struct listing l = { new_list(), limit };
	int ret = pm_fs_readdir(fs, dir, off, collect, &l);

	if (ret)
		g_error("pm_fs_readdir(%" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT "): %d %s", dir, off, ret,
			pm_errmsg());
	return l.v;
}

#define D(v, i) g_array_index((v), struct dent, (i))

/* list_in_pieces -- the whole directory, read limit entries at a time and
 * resumed from the last entry's offset, as the kernel does */
static GArray *list_in_pieces(struct pm_fs *fs, uint64_t dir, guint limit)
{
	GArray *all = new_list();
	uint64_t off = 0;

	for (;;) {
		GArray *part = list(fs, dir, off, limit);
		guint n = part->len;

		for (guint i = 0; i < n; i++) {
			struct dent d = D(part, i);
			d.name = g_strdup(d.name);
			g_array_append_val(all, d);
		}
		if (n)
			off = D(part, n - 1).next;
		g_array_unref(part);
		if (n < limit)
			break;
	}
	return all;
}

static void assert_same_listing(GArray *a, GArray *b)
{
	g_assert_cmpuint(a->len, ==, b->len);
	for (guint i = 0; i < a->len; i++) {
		g_assert_cmpstr(D(a, i).name, ==, D(b, i).name);
		g_assert_cmpuint(D(a, i).ino, ==, D(b, i).ino);
		g_assert_cmpuint(D(a, i).type, ==, D(b, i).type);
		g_assert_cmpuint(D(a, i).next, ==, D(b, i).next);
	}
}

/* assert_listing -- "." and "..", then exactly the names of want (name ->
 * inode number), each once */
static void assert_listing(GArray *v, uint64_t dir, uint64_t parent, GHashTable *want)
{
	g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);

	g_assert_cmpuint(v->len, >=, 2);
	g_assert_cmpstr(D(v, 0).name, ==, ".");
	g_assert_cmpuint(D(v, 0).ino, ==, dir);
	g_assert_cmpuint(D(v, 0).type, ==, DT_DIR);
	g_assert_cmpstr(D(v, 1).name, ==, "..");
	g_assert_cmpuint(D(v, 1).ino, ==, parent);
	g_assert_cmpuint(D(v, 1).type, ==, DT_DIR);
	for (guint i = 2; i < v->len; i++) {
		const char *name = D(v, i).name;
		gpointer ino;

		if (!g_hash_table_lookup_extended(want, name, NULL, &ino))
			g_error("readdir returned \"%s\", which does not exist", name);
		if (!g_hash_table_add(seen, (gpointer)name))
			g_error("readdir returned \"%s\" twice", name);
		g_assert_cmpuint(D(v, i).ino, ==, GPOINTER_TO_SIZE(ino));
	}
	g_assert_cmpuint(g_hash_table_size(seen), ==, g_hash_table_size(want));
	/* offsets grow, so that a resumed readdir goes forward */
	for (guint i = 1; i < v->len; i++)
		g_assert_cmpuint(D(v, i).next, >, D(v, i - 1).next);
}

#define MANY 20000

static void test_many_entries(void)
{
	struct unit_pool *p = unit_pool_new(64 * UNIT_MiB, 32768);
	g_autoptr(GHashTable) want = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	uint64_t dir = unit_create(p->fs, PM_ROOT_INO, "big", S_IFDIR | 0755);
	GArray *all, *tail, *pieces;
	struct pm_attr a;
	char name[32];

	/* hold the directory as the kernel does while it is in use (else the
	 * engine drops its DRAM index with the last reference) */
	g_assert_cmpint(pm_fs_ref(p->fs, dir, &a), ==, 0);
	for (unsigned i = 0; i < MANY; i++) {
		snprintf(name, sizeof(name), "entry-%05u", i);
		uint64_t ino = unit_create(p->fs, dir, name, S_IFREG | 0644);
		g_hash_table_insert(want, g_strdup(name), GSIZE_TO_POINTER(ino));
	}
	GHashTableIter it;
	gpointer k, v;
	g_hash_table_iter_init(&it, want);
	while (g_hash_table_iter_next(&it, &k, &v))
		g_assert_cmpuint(unit_lookup(p->fs, dir, k), ==, GPOINTER_TO_SIZE(v));
	g_assert_cmpuint(unit_lookup(p->fs, dir, "entry-20000"), ==, 0);
	unit_attr(p->fs, dir, &a);
	g_assert_cmpuint(a.nlink, ==, 2);
	g_test_message("%u entries: directory size %" G_GUINT64_FORMAT, MANY, a.size);
	g_assert_cmpuint(a.size, <=, (MANY / 64 + 2) * PM_BLOCK_SIZE); /* one slot each */

	all = list(p->fs, dir, 0, 0);
	g_assert_cmpuint(all->len, ==, MANY + 2);
	assert_listing(all, dir, PM_ROOT_INO, want);
	/* resuming from any entry's offset gives exactly what follows it */
	for (guint i = 0; i < all->len; i += all->len / 7) {
		tail = list(p->fs, dir, D(all, i).next, 0);
		g_assert_cmpuint(tail->len, ==, all->len - i - 1);
		for (guint j = 0; j < tail->len; j++) {
			g_assert_cmpstr(D(tail, j).name, ==, D(all, i + 1 + j).name);
			g_assert_cmpuint(D(tail, j).next, ==, D(all, i + 1 + j).next);
		}
		g_array_unref(tail);
	}
	/* as the kernel reads it: a page at a time */
	pieces = list_in_pieces(p->fs, dir, 97);
	assert_same_listing(pieces, all);
	g_array_unref(pieces);

	/* everything is still there after a reopen, at the same offsets */
	unit_assert_reopen_stable(p);
	g_assert_cmpint(pm_fs_ref(p->fs, dir, &a), ==, 0);
	g_hash_table_iter_init(&it, want);
	while (g_hash_table_iter_next(&it, &k, &v))
		g_assert_cmpuint(unit_lookup(p->fs, dir, k), ==, GPOINTER_TO_SIZE(v));
	GArray *again = list(p->fs, dir, 0, 0);
	assert_same_listing(again, all);
	g_array_unref(again);
	g_array_unref(all);

	/* remove half, the rest is intact */
	for (unsigned i = 0; i < MANY; i += 2) {
		snprintf(name, sizeof(name), "entry-%05u", i);
		g_assert_cmpint(pm_fs_unlink(p->fs, dir, name), ==, 0);
		g_hash_table_remove(want, name);
	}
	all = list_in_pieces(p->fs, dir, 500);
	assert_listing(all, dir, PM_ROOT_INO, want);
	g_array_unref(all);
	pm_fs_forget(p->fs, dir, 1);
	unit_assert_reopen_stable(p);
	all = list(p->fs, dir, 0, 0);
	assert_listing(all, dir, PM_ROOT_INO, want);
	g_array_unref(all);
	unit_pool_free(p);
}

/* a name of length len, different for every length */
static char *name_of_len(unsigned len)
{
	char *s = g_malloc(len + 1);

	for (unsigned i = 0; i < len; i++)
		s[i] = (char)('a' + (i * 7 + len) % 26);
	s[len] = '\0';
	return s;
}

static void test_name_lengths(void)
{
	struct unit_pool *p = unit_pool_new(64 * UNIT_MiB, 0);
	g_autoptr(GHashTable) want = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	uint64_t dir = unit_create(p->fs, PM_ROOT_INO, "n", S_IFDIR | 0755);
	uint64_t f = unit_create(p->fs, PM_ROOT_INO, "f", S_IFREG | 0644);
	g_autofree char *too_long = name_of_len(256);
	g_autofree char *longest = NULL;
	struct pm_attr a;
	GArray *v;

	for (unsigned len = 1; len <= 255; len++) {
		char *name = name_of_len(len);
		uint64_t ino = unit_create(p->fs, dir, name, S_IFREG | 0644);
		g_hash_table_insert(want, name, GSIZE_TO_POINTER(ino));
	}
	/* bytes other than '/' and NUL are all allowed */
	const char *odd[] = { "with space", "new\nline", "\xff\xfe", "caf\xc3\xa9", "-", "...", ".x", "x." };
	for (unsigned i = 0; i < G_N_ELEMENTS(odd); i++)
		g_hash_table_insert(want, g_strdup(odd[i]),
				    GSIZE_TO_POINTER(unit_create(p->fs, dir, odd[i], S_IFREG | 0644)));
	for (int round = 0; round < 2; round++) {
		GHashTableIter it;
		gpointer k, val;

		g_hash_table_iter_init(&it, want);
		while (g_hash_table_iter_next(&it, &k, &val))
			g_assert_cmpuint(unit_lookup(p->fs, dir, k), ==, GPOINTER_TO_SIZE(val));
		v = list(p->fs, dir, 0, 0);
		assert_listing(v, dir, PM_ROOT_INO, want);
		g_array_unref(v);
		v = list_in_pieces(p->fs, dir, 10);
		assert_listing(v, dir, PM_ROOT_INO, want);
		g_array_unref(v);
		unit_assert_reopen_stable(p);
	}

	/* 256 bytes is one too many, everywhere a name is given */
	longest = name_of_len(255);
	g_assert_cmpint(pm_fs_mknod(p->fs, dir, too_long, S_IFREG | 0644, 0, &unit_cred, &a), ==,
			-ENAMETOOLONG);
	g_assert_cmpint(pm_fs_mknod(p->fs, dir, too_long, S_IFDIR | 0755, 0, &unit_cred, &a), ==,
			-ENAMETOOLONG);
	g_assert_cmpint(pm_fs_symlink(p->fs, dir, too_long, "t", &unit_cred, &a), ==, -ENAMETOOLONG);
	g_assert_cmpint(pm_fs_link(p->fs, f, dir, too_long, &a), ==, -ENAMETOOLONG);
	g_assert_cmpint(pm_fs_lookup(p->fs, dir, too_long, &a), ==, -ENAMETOOLONG);
	g_assert_cmpint(pm_fs_unlink(p->fs, dir, too_long), ==, -ENAMETOOLONG);
	g_assert_cmpint(pm_fs_rmdir(p->fs, dir, too_long), ==, -ENAMETOOLONG);
	g_assert_cmpint(pm_fs_rename(p->fs, dir, longest, dir, too_long, 0), ==, -ENAMETOOLONG);
	g_assert_cmpuint(unit_lookup(p->fs, dir, longest), !=, 0);
	/* empty names and names with '/' are not names */
	g_assert_cmpint(pm_fs_mknod(p->fs, dir, "", S_IFREG | 0644, 0, &unit_cred, &a), ==, -EINVAL);
	g_assert_cmpint(pm_fs_mknod(p->fs, dir, "a/b", S_IFREG | 0644, 0, &unit_cred, &a), ==, -EINVAL);
	g_assert_cmpint(pm_fs_mknod(p->fs, dir, ".", S_IFREG | 0644, 0, &unit_cred, &a), ==, -EEXIST);
	g_assert_cmpint(pm_fs_mknod(p->fs, dir, "..", S_IFDIR | 0755, 0, &unit_cred, &a), ==, -EEXIST);
	v = list(p->fs, dir, 0, 0);
	assert_listing(v, dir, PM_ROOT_INO, want);
	g_array_unref(v);
	unit_pool_free(p);
}

/* slot position of an entry: its readdir offset minus three (see
 * pm_fs_readdir); 64 slots per block */
static uint64_t block_of_entry(struct pm_fs *fs, uint64_t dir, const char *name)
{
	GArray *v = list(fs, dir, 0, 0);
	uint64_t blk = UINT64_MAX;

	for (guint i = 2; i < v->len; i++)
		if (g_str_equal(D(v, i).name, name))
			blk = (D(v, i).next - 3) >> 6;
	g_array_unref(v);
	g_assert_cmpuint(blk, !=, UINT64_MAX);
	return blk;
}

static uint64_t dir_size(struct pm_fs *fs, uint64_t dir)
{
	struct pm_attr a;

	unit_attr(fs, dir, &a);
	return a.size;
}

static void test_slot_reuse(void)
{
	struct unit_pool *p = unit_pool_new(64 * UNIT_MiB, 0);
	g_autoptr(GHashTable) want = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	struct pm_fs *fs = p->fs;
	uint64_t dir = unit_create(fs, PM_ROOT_INO, "r", S_IFDIR | 0755);
	char name[64];
	GArray *v;

	/* 128 names of one slot each fill two blocks */
	for (unsigned i = 0; i < 128; i++) {
		snprintf(name, sizeof(name), "s%03u", i);
		g_hash_table_insert(want, g_strdup(name), GSIZE_TO_POINTER(unit_create(fs, dir, name, S_IFREG | 0600)));
	}
	g_assert_cmpuint(dir_size(fs, dir), ==, 2 * PM_BLOCK_SIZE);
	g_assert_cmpuint(block_of_entry(fs, dir, "s000"), ==, 0);
	g_assert_cmpuint(block_of_entry(fs, dir, "s127"), ==, 1);

	/* freed slots are used again: the directory does not grow */
	for (unsigned i = 10; i < 20; i++) {
		snprintf(name, sizeof(name), "s%03u", i);
		g_assert_cmpint(pm_fs_unlink(fs, dir, name), ==, 0);
		g_hash_table_remove(want, name);
	}
	for (unsigned i = 0; i < 10; i++) {
		snprintf(name, sizeof(name), "t%03u", i);
		g_hash_table_insert(want, g_strdup(name), GSIZE_TO_POINTER(unit_create(fs, dir, name, S_IFREG | 0600)));
		g_assert_cmpuint(block_of_entry(fs, dir, name), ==, 0);
	}
	g_assert_cmpuint(dir_size(fs, dir), ==, 2 * PM_BLOCK_SIZE);

	/* five neighbouring free slots take one 255-byte name (5 slots) */
	for (unsigned i = 70; i < 75; i++) {
		snprintf(name, sizeof(name), "s%03u", i);
		g_assert_cmpint(pm_fs_unlink(fs, dir, name), ==, 0);
		g_hash_table_remove(want, name);
	}
	char *lname = name_of_len(255);
	g_hash_table_insert(want, lname, GSIZE_TO_POINTER(unit_create(fs, dir, lname, S_IFREG | 0600)));
	g_assert_cmpuint(block_of_entry(fs, dir, lname), ==, 1);
	g_assert_cmpuint(dir_size(fs, dir), ==, 2 * PM_BLOCK_SIZE);

	/* scattered single slots cannot take a two-slot name: a new block */
	for (unsigned i = 20; i < 60; i += 2) {
		snprintf(name, sizeof(name), "s%03u", i);
		g_assert_cmpint(pm_fs_unlink(fs, dir, name), ==, 0);
		g_hash_table_remove(want, name);
	}
	char *mname = name_of_len(60);
	g_hash_table_insert(want, mname, GSIZE_TO_POINTER(unit_create(fs, dir, mname, S_IFREG | 0600)));
	g_assert_cmpuint(block_of_entry(fs, dir, mname), ==, 2);
	g_assert_cmpuint(dir_size(fs, dir), ==, 3 * PM_BLOCK_SIZE);
	/* single-slot names still fit without growing the directory */
	for (unsigned i = 0; i < 20; i++) {
		snprintf(name, sizeof(name), "u%03u", i);
		g_hash_table_insert(want, g_strdup(name), GSIZE_TO_POINTER(unit_create(fs, dir, name, S_IFREG | 0600)));
	}
	g_assert_cmpuint(dir_size(fs, dir), ==, 3 * PM_BLOCK_SIZE);

	/* a long name removed, then short ones in its place */
	g_assert_cmpint(pm_fs_unlink(fs, dir, lname), ==, 0);
	g_hash_table_remove(want, lname);
	for (unsigned i = 0; i < 5; i++) {
		snprintf(name, sizeof(name), "v%03u", i);
		g_hash_table_insert(want, g_strdup(name), GSIZE_TO_POINTER(unit_create(fs, dir, name, S_IFREG | 0600)));
	}
	g_assert_cmpuint(dir_size(fs, dir), ==, 3 * PM_BLOCK_SIZE);

	v = list(fs, dir, 0, 0);
	assert_listing(v, dir, PM_ROOT_INO, want);
	g_array_unref(v);
	unit_assert_reopen_stable(p);
	fs = p->fs;
	v = list(fs, dir, 0, 0);
	assert_listing(v, dir, PM_ROOT_INO, want);
	g_array_unref(v);
	GHashTableIter it;
	gpointer k, val;
	g_hash_table_iter_init(&it, want);
	while (g_hash_table_iter_next(&it, &k, &val))
		g_assert_cmpuint(unit_lookup(fs, dir, k), ==, GPOINTER_TO_SIZE(val));
	unit_pool_free(p);
}

static uint64_t dir_blocks(struct pm_fs *fs, uint64_t dir)
{
	struct pm_attr a;

	unit_attr(fs, dir, &a);
	return a.blocks / 8;
}

/* emptied directory blocks go back to the pool: a hole in the middle, a
 * shorter directory at the end; the other entries keep their offsets */
static void test_emptied_blocks_released(void)
{
	struct unit_pool *p = unit_pool_new(64 * UNIT_MiB, 0);
	g_autoptr(GHashTable) want = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	struct pm_fs *fs = p->fs;
	struct pm_statfs st0, st;
	uint64_t dir;
	char name[32];
	GArray *v, *w;

	unit_create(fs, PM_ROOT_INO, "keep", S_IFREG | 0644);
	unit_statfs(fs, &st0);
	dir = unit_create(fs, PM_ROOT_INO, "r", S_IFDIR | 0755);
	for (unsigned i = 0; i < 192; i++) { /* three full blocks */
		snprintf(name, sizeof(name), "e%03u", i);
		g_hash_table_insert(want, g_strdup(name), GSIZE_TO_POINTER(unit_create(fs, dir, name, S_IFREG | 0600)));
	}
	g_assert_cmpuint(dir_size(fs, dir), ==, 3 * PM_BLOCK_SIZE);
	g_assert_cmpuint(dir_blocks(fs, dir), ==, 3 + 1); /* and a tree node */
	v = list(fs, dir, 0, 0);

	/* the middle block emptied: a hole, the size stays */
	for (unsigned i = 64; i < 128; i++) {
		snprintf(name, sizeof(name), "e%03u", i);
		g_assert_cmpint(pm_fs_unlink(fs, dir, name), ==, 0);
		g_hash_table_remove(want, name);
	}
	g_assert_cmpuint(dir_size(fs, dir), ==, 3 * PM_BLOCK_SIZE);
	g_assert_cmpuint(dir_blocks(fs, dir), ==, 2 + 1);
	unit_assert_blocks(fs, dir);
	w = list(fs, dir, 0, 0);
	assert_listing(w, dir, PM_ROOT_INO, want);
	/* the entries after the hole kept their offsets */
	g_assert_cmpuint(w->len, ==, 2 + 128);
	for (guint i = 0; i < 64; i++)
		g_assert_cmpuint(D(w, 2 + 64 + i).next, ==, D(v, 2 + 128 + i).next);
	g_array_unref(w);
	g_array_unref(v);
	/* the hole takes new entries */
	unit_create(fs, dir, "new", S_IFREG | 0600);
	g_assert_cmpuint(block_of_entry(fs, dir, "new"), ==, 1);
	g_assert_cmpuint(dir_blocks(fs, dir), ==, 3 + 1);
	g_assert_cmpint(pm_fs_unlink(fs, dir, "new"), ==, 0);
	unit_assert_reopen_stable(p);
	fs = p->fs;
	v = list(fs, dir, 0, 0);
	assert_listing(v, dir, PM_ROOT_INO, want);
	g_array_unref(v);

	/* the last block emptied: the directory shrinks past the hole too */
	for (unsigned i = 128; i < 192; i++) {
		snprintf(name, sizeof(name), "e%03u", i);
		g_assert_cmpint(pm_fs_unlink(fs, dir, name), ==, 0);
		g_hash_table_remove(want, name);
	}
	g_assert_cmpuint(dir_size(fs, dir), ==, PM_BLOCK_SIZE);
	unit_assert_blocks(fs, dir);
	g_assert_cmpuint(dir_blocks(fs, dir), <=, 2);
	v = list(fs, dir, 0, 0);
	assert_listing(v, dir, PM_ROOT_INO, want);
	g_array_unref(v);
	/* and grows again */
	unit_create(fs, dir, "again", S_IFREG | 0600);
	g_hash_table_insert(want, g_strdup("again"), GSIZE_TO_POINTER(unit_lookup(fs, dir, "again")));
	v = list(fs, dir, 0, 0);
	assert_listing(v, dir, PM_ROOT_INO, want);
	g_array_unref(v);
	unit_assert_reopen_stable(p);
	fs = p->fs;

	/* all gone: nothing left, and the directory can go */
	GHashTableIter it;
	gpointer k;
	g_hash_table_iter_init(&it, want);
	while (g_hash_table_iter_next(&it, &k, NULL))
		g_assert_cmpint(pm_fs_unlink(fs, dir, k), ==, 0);
	g_assert_cmpuint(dir_size(fs, dir), ==, 0);
	g_assert_cmpuint(dir_blocks(fs, dir), ==, 0);
	v = list(fs, dir, 0, 0);
	g_assert_cmpuint(v->len, ==, 2);
	g_array_unref(v);
	g_assert_cmpint(pm_fs_rmdir(fs, PM_ROOT_INO, "r"), ==, 0);
	unit_statfs(fs, &st);
	g_assert_cmpuint(st.bfree, ==, st0.bfree);
	g_assert_cmpuint(st.ffree, ==, st0.ffree);
	unit_assert_reopen_stable(p);
	unit_pool_free(p);
}

/* entries that exist from the start to the end of a listing are seen
 * exactly once, whatever changes in between */
static void test_readdir_while_changing(void)
{
	struct unit_pool *p = unit_pool_new(64 * UNIT_MiB, 0);
	struct pm_fs *fs = p->fs;
	uint64_t dir = unit_create(fs, PM_ROOT_INO, "c", S_IFDIR | 0755), off;
	g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	char name[32];
	GArray *part;

	for (unsigned i = 0; i < 300; i++) {
		snprintf(name, sizeof(name), "k%03u", i);
		unit_create(fs, dir, name, S_IFREG | 0600);
	}
	part = list(fs, dir, 0, 102);
	for (guint i = 2; i < part->len; i++)
		g_assert_true(g_hash_table_add(seen, g_strdup(D(part, i).name)));
	off = D(part, part->len - 1).next;
	g_array_unref(part);
	/* remove some already listed, some not yet; add new ones */
	for (unsigned i = 0; i < 300; i += 3) {
		snprintf(name, sizeof(name), "k%03u", i);
		g_assert_cmpint(pm_fs_unlink(fs, dir, name), ==, 0);
	}
	for (unsigned i = 0; i < 50; i++) {
		snprintf(name, sizeof(name), "n%03u", i);
		unit_create(fs, dir, name, S_IFREG | 0600);
	}
	part = list(fs, dir, off, 0);
	for (guint i = 0; i < part->len; i++) {
		const char *n = D(part, i).name;
		if (n[0] == 'k' && atoi(n + 1) % 3 == 0)
			g_error("\"%s\" was removed but is listed", n);
		if (!g_hash_table_add(seen, g_strdup(n)))
			g_error("\"%s\" listed twice", n);
	}
	g_array_unref(part);
	for (unsigned i = 0; i < 300; i++) {
		snprintf(name, sizeof(name), "k%03u", i);
		if (i % 3)
			g_assert_true(g_hash_table_contains(seen, name));
	}
	unit_pool_free(p);
}

static void test_readdir_errors(void)
{
	struct unit_pool *p = unit_pool_new(8 * UNIT_MiB, 0);
	uint64_t f = unit_create(p->fs, PM_ROOT_INO, "f", S_IFREG | 0644);
	struct listing l = { new_list(), 0 };

	g_assert_cmpint(pm_fs_readdir(p->fs, f, 0, collect, &l), ==, -ENOTDIR);
	g_assert_cmpint(pm_fs_readdir(p->fs, 999, 0, collect, &l), ==, -ENOENT);
	g_assert_cmpuint(l.v->len, ==, 0);
	/* an offset past the end lists nothing */
	g_assert_cmpint(pm_fs_readdir(p->fs, PM_ROOT_INO, 1u << 30, collect, &l), ==, 0);
	g_assert_cmpuint(l.v->len, ==, 0);
	/* an empty directory has only "." and ".." */
	GArray *v = list(p->fs, PM_ROOT_INO, 0, 0);
	g_assert_cmpuint(v->len, ==, 3);
	g_array_unref(v);
	uint64_t d = unit_create(p->fs, PM_ROOT_INO, "d", S_IFDIR | 0755);
	v = list(p->fs, d, 0, 0);
	g_assert_cmpuint(v->len, ==, 2);
	g_assert_cmpuint(D(v, 1).ino, ==, PM_ROOT_INO);
	g_array_unref(v);
	/* starting after "." */
	v = list(p->fs, PM_ROOT_INO, 1, 0);
	g_assert_cmpstr(D(v, 0).name, ==, "..");
	g_array_unref(v);
	g_array_unref(l.v);
	unit_pool_free(p);
}

/* damage the first entry of directory "d" (holding "victim") with edit;
 * lookup and readdir must refuse with EUCLEAN, not crash */
static void damaged_entry(void (*edit)(struct pm_dirent *d, const struct pm_super *sb))
{
	struct unit_pool *p = unit_pool_new(8 * UNIT_MiB, 0);
	uint64_t dir = unit_create(p->fs, PM_ROOT_INO, "d", S_IFDIR | 0755);
	struct listing l = { new_list(), 0 };
	struct pm_media *m;
	struct pm_attr a;
	uint8_t *base;

	unit_create(p->fs, dir, "victim", S_IFREG | 0644);
	unit_create(p->fs, dir, "other", S_IFREG | 0644);
	unit_pool_close(p);
	base = unit_map_pool(p->path, &m);
	const struct pm_super *sb = (const void *)base;
	const struct pm_dinode *di = (const void *)(base + sb->itable_start * PM_BLOCK_SIZE +
						     (dir - 1) * PM_INODE_SIZE);
	g_assert_cmpuint(di->height, ==, 0);
	struct pm_dirent *d = (void *)(base + di->root * PM_BLOCK_SIZE);
	g_assert_cmpmem(d->name, 6, "victim", 6);
	edit(d, sb);
	unit_unmap_pool(&m);
	unit_pool_open(p);
	int ret = pm_fs_lookup(p->fs, dir, "other", &a);
	if (ret != -EUCLEAN)
		g_error("lookup in a damaged directory: %d, expected -EUCLEAN", ret);
	unit_errmsg_has("fsck.pmfuse");
	g_assert_cmpint(pm_fs_readdir(p->fs, dir, 0, collect, &l), ==, -EUCLEAN);
	g_assert_cmpint(pm_fs_mknod(p->fs, dir, "new", S_IFREG | 0644, 0, &unit_cred, &a), ==, -EUCLEAN);
	g_assert_cmpint(pm_fs_rmdir(p->fs, PM_ROOT_INO, "d"), !=, 0);
	g_array_unref(l.v);
	unit_pool_free(p);
}

static void edit_ino(struct pm_dirent *d, const struct pm_super *sb)
{
	d->ino = sb->inode_count + 5;
}

static void edit_nslots(struct pm_dirent *d, const struct pm_super *sb)
{
	(void)sb;
	d->nslots = 70;
}

static void edit_namelen0(struct pm_dirent *d, const struct pm_super *sb)
{
	(void)sb;
	d->name_len = 0;
}

static void edit_namelen_long(struct pm_dirent *d, const struct pm_super *sb)
{
	(void)sb;
	d->name_len = 300;
}

static void edit_namelen_slots(struct pm_dirent *d, const struct pm_super *sb)
{
	(void)sb;
	d->name_len = 200; /* needs four slots, the entry has one */
}

static void test_damaged_entries(void)
{
	damaged_entry(edit_ino);
	damaged_entry(edit_nslots);
	damaged_entry(edit_namelen0);
	damaged_entry(edit_namelen_long);
	damaged_entry(edit_namelen_slots);
}

/* the kernel never looks the root up and holds no counted reference to
 * it: the engine pins it, so its name index is built once, not for every
 * request in it */
static void test_root_index_kept(void)
{
	struct unit_pool *p = unit_pool_new(64 * UNIT_MiB, 0);

	unit_create(p->fs, PM_ROOT_INO, "a", S_IFREG | 0644);
	g_assert_nonnull(p->fs->icache[PM_ROOT_INO]);
	struct pm_dir *index = p->fs->icache[PM_ROOT_INO]->dir;
	g_assert_nonnull(index);
	unit_create(p->fs, PM_ROOT_INO, "b", S_IFREG | 0644);
	g_assert_cmpuint(unit_lookup(p->fs, PM_ROOT_INO, "a"), !=, 0);
	g_assert_true(p->fs->icache[PM_ROOT_INO]->dir == index);
	unit_pool_reopen(p);
	g_assert_nonnull(p->fs->icache[PM_ROOT_INO]);
	g_assert_cmpuint(unit_lookup(p->fs, PM_ROOT_INO, "b"), !=, 0);
	unit_pool_free(p);
}

/* A new entry logs the slots it takes, not the free run it takes them
 * from: a create in a block with 63 free slots once logged all 4 KiB of
 * them (copied, checksummed and flushed for nothing). */
static void test_create_logs_the_entry(void)
{
	struct unit_pool *p = unit_pool_new(16 * UNIT_MiB, 0);
	uint64_t d = unit_create(p->fs, PM_ROOT_INO, "d", S_IFDIR | 0755), lane, high, over;

	unit_create(p->fs, d, "a", S_IFREG | 0644); /* the directory's first block */
	unit_pool_reopen(p); /* the high-water mark counts from the open */
	unit_create(p->fs, d, "b", S_IFREG | 0644);
	pm_journal_usage(p->fs, &lane, &high, &over);
	/* records: the new inode, the directory's inode, the entry's slot and
	 * the head of the free run after it */
	g_assert_cmpuint(high, <, 1024);
	g_assert_cmpuint(high, >, 2 * PM_INODE_SIZE);
	unit_pool_reopen(p);
	g_assert_cmpuint(unit_lookup(p->fs, d, "b"), !=, 0);
	g_assert_cmpuint(unit_lookup(p->fs, d, "a"), !=, 0);
	unit_pool_free(p);
}

int main(int argc, char **argv)
{
	unit_init(&argc, &argv);
	unit_add("/dir/many-entries", test_many_entries);
	unit_add("/dir/name-lengths", test_name_lengths);
	unit_add("/dir/slot-reuse", test_slot_reuse);
	unit_add("/dir/emptied-blocks-released", test_emptied_blocks_released);
	unit_add("/dir/readdir-while-changing", test_readdir_while_changing);
	unit_add("/dir/readdir-errors", test_readdir_errors);
	unit_add("/dir/damaged-entries", test_damaged_entries);
	unit_add("/dir/root-index-kept", test_root_index_kept);
	unit_add("/dir/create-logs-the-entry", test_create_logs_the_entry);
	return g_test_run();
}
