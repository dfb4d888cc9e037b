/* walk.c -- what the fuzzers do with a pool that opened (walk.h) */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "walk.h"

#define MAX_DEPTH 6
#define MAX_ENTRIES 512 /* per walk: a corrupt directory may hold many */

struct walk {
	struct pm_fs *fs;
	unsigned entries;
	uint64_t some_dir; /* a directory other than the root, for fuzz_exercise */
};

struct names {
	char (*name)[256];
	unsigned n, cap;
};

static int collect(void *arg, const char *name, uint64_t ino, uint32_t type, uint64_t next)
{
	struct names *nm = arg;

	if (nm->n == nm->cap)
		return 1;
	strncpy(nm->name[nm->n], name, 255);
	nm->name[nm->n++][255] = '\0';
	return 0;
}

static int consume(void *arg, const struct iovec *iov, int cnt)
{
	uint8_t sum = 0;

	/* touch every page the engine handed out, as the kernel's copy would */
	for (int i = 0; i < cnt; i++)
		for (size_t j = 0; j < iov[i].iov_len; j += 512)
			sum ^= ((const volatile uint8_t *)iov[i].iov_base)[j];
	return sum == 0x100; /* never: keeps the reads */
}

static void visit_file(struct pm_fs *fs, uint64_t ino, const struct pm_attr *a)
{
	char buf[4096];
	bool direct;

	if (S_ISREG(a->mode)) {
		pm_fs_read(fs, ino, 0, 65536, consume, NULL);
		if (a->size > 0)
			pm_fs_read(fs, ino, a->size - 1, 4096, consume, NULL);
		pm_fs_read(fs, ino, a->size / 2, 8192, consume, NULL);
		uint64_t where;
		pm_fs_lseek(fs, ino, 0, SEEK_DATA, &where);
		pm_fs_lseek(fs, ino, 0, SEEK_HOLE, &where);
		if (pm_fs_open_file(fs, ino, &direct) == 0)
			pm_fs_release_file(fs, ino);
	} else if (S_ISLNK(a->mode)) {
		pm_fs_readlink(fs, ino, buf, sizeof(buf));
	}
	int n = pm_fs_listxattr(fs, ino, buf, sizeof(buf));
	for (int at = 0; n > 0 && at < n; at += (int)strlen(buf + at) + 1) {
		char value[512];
		pm_fs_getxattr(fs, ino, buf + at, value, sizeof(value));
		pm_fs_getxattr(fs, ino, buf + at, NULL, 0);
	}
	pm_fs_getxattr(fs, ino, "user.pmfuse.sync", buf, sizeof(buf));
}

static void walk_dir(struct walk *w, uint64_t dir, unsigned depth)
{
	struct names nm = { .cap = 64 };

	nm.name = malloc(sizeof(*nm.name) * nm.cap);
	if (!nm.name)
		return;
	pm_fs_readdir(w->fs, dir, 0, collect, &nm);
	for (unsigned i = 0; i < nm.n && w->entries < MAX_ENTRIES; i++) {
		struct pm_attr a;

		if (!strcmp(nm.name[i], ".") || !strcmp(nm.name[i], ".."))
			continue;
		w->entries++;
		if (pm_fs_lookup(w->fs, dir, nm.name[i], &a) != 0)
			continue;
		uint64_t ino = a.ino;
		pm_fs_getattr(w->fs, ino, &a);
		visit_file(w->fs, ino, &a);
		if (S_ISDIR(a.mode)) {
			if (!w->some_dir)
				w->some_dir = ino;
			if (depth < MAX_DEPTH)
				walk_dir(w, ino, depth + 1);
		}
		pm_fs_forget(w->fs, ino, 1);
	}
	free(nm.name);
}

static uint64_t first_dir;

void fuzz_walk(struct pm_fs *fs)
{
	struct walk w = { .fs = fs };
	struct pm_statfs st;
	struct pm_attr a;

	pm_fs_statfs(fs, &st);
	if (pm_fs_getattr(fs, 1, &a) == 0)
		visit_file(fs, 1, &a);
	walk_dir(&w, 1, 0);
	first_dir = w.some_dir;
}

static void change_in(struct pm_fs *fs, uint64_t dir)
{
	static const struct pm_cred cred = { 0, 0 };
	static char data[3 * 4096 + 100];
	struct pm_attr a, d;

	memset(data, 0xa5, sizeof(data));
	if (pm_fs_mknod(fs, dir, "fuzz-file", S_IFREG | 0644, 0, &cred, &a) == 0) {
		pm_fs_write(fs, a.ino, 0, data, sizeof(data), false);
		pm_fs_write(fs, a.ino, 1 << 20, data, 100, false);
		pm_fs_fsync(fs, a.ino);
		pm_fs_setxattr(fs, a.ino, "user.fuzz", data, 300, 0);
		struct pm_setattr sa = { .valid = PM_SET_SIZE, .size = 5000 };
		pm_fs_setattr(fs, a.ino, &sa, &a);
		pm_fs_fallocate(fs, a.ino, 0, 0, 1 << 16);
		pm_fs_read(fs, a.ino, 0, 1 << 16, consume, NULL);
		pm_fs_forget(fs, a.ino, 1);
	}
	if (pm_fs_mknod(fs, dir, "fuzz-dir", S_IFDIR | 0755, 0, &cred, &d) == 0) {
		pm_fs_rename(fs, dir, "fuzz-file", d.ino, "moved", 0);
		pm_fs_symlink(fs, d.ino, "link", "target", &cred, &a) == 0 ? pm_fs_forget(fs, a.ino, 1) : (void)0;
		pm_fs_unlink(fs, d.ino, "moved");
		pm_fs_unlink(fs, d.ino, "link");
		pm_fs_forget(fs, d.ino, 1);
		pm_fs_rmdir(fs, dir, "fuzz-dir");
	}
	pm_fs_unlink(fs, dir, "fuzz-file");
}

void fuzz_exercise(struct pm_fs *fs)
{
	change_in(fs, 1);
	if (first_dir) {
		struct pm_attr a;

		/* the walk has let go of it: hold it while it changes */
		if (pm_fs_ref(fs, first_dir, &a) == 0) {
			change_in(fs, first_dir);
			pm_fs_forget(fs, first_dir, 1);
		}
	}
	first_dir = 0;
}
