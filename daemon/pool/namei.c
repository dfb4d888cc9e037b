/* namei.c -- the namespace: lookup, create, link, unlink, rename, readdir */
#include <dirent.h>
#include <errno.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fs.h"
#include "fsi.h"
#include "journal.h"

#define PM_LINK_MAX 65000u

static void fill_attr(struct pm_fs *fs, struct pm_ino *pi, struct pm_attr *a)
{
	const struct pm_dinode *di = pm_dinode(fs, pi->ino);

	a->ino = pi->ino;
	a->generation = di->generation;
	a->mode = di->mode;
	a->nlink = di->nlink;
	a->uid = di->uid;
	a->gid = di->gid;
	a->rdev = di->rdev;
	a->size = pi->size;
	a->blocks = di->blocks * (PM_BLOCK_SIZE / 512);
	a->atime = (struct timespec){ di->atime.sec, di->atime.nsec };
	a->mtime = (struct timespec){ di->mtime.sec, di->mtime.nsec };
	a->ctime = (struct timespec){ di->ctime.sec, di->ctime.nsec };
}

static int get_dir(struct pm_fs *fs, uint64_t ino, struct pm_ino **out)
{
	int ret = pm_ino_live(fs, ino, out);

	if (ret == 0 && !S_ISDIR(pm_dinode(fs, ino)->mode)) {
		pm_ino_put(fs, *out);
		*out = NULL;
		return -ENOTDIR;
	}
	return ret;
}

static int check_name(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || strchr(name, '/'))
		return -EINVAL;
	if (len > PM_NAME_MAX)
		return -ENAMETOOLONG;
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return -EEXIST;
	return 0;
}

static int cmp_ino(const void *a, const void *b)
{
	const struct pm_ino *x = *(struct pm_ino *const *)a, *y = *(struct pm_ino *const *)b;

	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

/* lock_set -- write-lock distinct inodes in ascending order (NULLs skipped) */
static void lock_set(struct pm_ino **v, int n, bool lock)
{
	struct pm_ino *s[4];
	int k = 0;

	for (int i = 0; i < n; i++)
		if (v[i])
			s[k++] = v[i];
	qsort(s, (size_t)k, sizeof(*s), cmp_ino);
	for (int i = 0; i < k; i++) {
		if (i > 0 && s[i] == s[i - 1])
			continue;
		if (lock)
			pthread_rwlock_wrlock(&s[i]->lock);
		else
			pthread_rwlock_unlock(&s[i]->lock);
	}
}

static uint8_t dtype(uint32_t mode)
{
	return (uint8_t)IFTODT(mode);
}

int pm_fs_getattr(struct pm_fs *fs, uint64_t ino, struct pm_attr *attr)
{
	int ret = pm_fs_ref(fs, ino, attr);

	if (ret == 0)
		pm_fs_forget(fs, ino, 1);
	return ret;
}

static int ref_attr(struct pm_fs *fs, struct pm_ino *pi, struct pm_attr *attr)
{
	pthread_rwlock_rdlock(&pi->lock);
	fill_attr(fs, pi, attr);
	pthread_rwlock_unlock(&pi->lock);
	return 0; /* the reference goes to the caller */
}

int pm_fs_ref(struct pm_fs *fs, uint64_t ino, struct pm_attr *attr)
{
	struct pm_ino *pi;
	int ret = pm_ino_live(fs, ino, &pi);

	return ret ? ret : ref_attr(fs, pi, attr);
}

int pm_fs_ref_unheld(struct pm_fs *fs, uint64_t ino, struct pm_attr *attr)
{
	struct pm_ino *pi;
	int ret = pm_ino_live_unheld(fs, ino, &pi);

	return ret ? ret : ref_attr(fs, pi, attr);
}

void pm_fs_forget(struct pm_fs *fs, uint64_t ino, uint64_t n)
{
	if (pm_ino_valid(fs, ino))
		pm_inode_forget(fs, ino, n);
}

int pm_fs_lookup(struct pm_fs *fs, uint64_t dir, const char *name, struct pm_attr *attr)
{
	struct pm_dirent_ref ref;
	struct pm_ino *dp;
	int ret;

	if (strlen(name) > PM_NAME_MAX)
		return -ENAMETOOLONG;
	if ((ret = get_dir(fs, dir, &dp)))
		return ret;
	pthread_rwlock_rdlock(&fs->ns_lock);
	if (strcmp(name, ".") == 0)
		ref.ino = dir;
	else if (strcmp(name, "..") == 0)
		ref.ino = pm_dinode(fs, dir)->parent;
	else
		ret = pm_dir_find(fs, dp, name, &ref);
	if (ret == 0)
		ret = pm_fs_ref(fs, ref.ino, attr);
	pthread_rwlock_unlock(&fs->ns_lock);
	pm_ino_put(fs, dp);
	return ret;
}

/* inode_span -- the whole of inode ino, to be logged */
static struct pm_span inode_span(struct pm_fs *fs, uint64_t ino)
{
	return (struct pm_span){ pm_dinode(fs, ino), sizeof(struct pm_dinode) };
}

/* entry_span -- the entry of name in dp about to change: the room found
 * for it in *room if it is new (room not NULL), else its head */
static int entry_span(struct pm_fs *fs, struct pm_ino *dp, const char *name, struct pm_dir_room *room,
		      struct pm_span *out)
{
	int ret = room ? pm_dir_room(fs, dp, name, room) : pm_dir_slot(fs, dp, name, out);

	if (ret == 0 && room)
		*out = (struct pm_span){ room->d, room->changed };
	return ret;
}

/* log_name -- log at once, with a single drain, what adding a name of ino
 * in dp (at the room it finds, for pm_dir_put) or removing it (room NULL)
 * changes: the entry's slots, the inode it names (its link count, or all
 * of it when new) and the directory's inode (times, link count). The
 * touches that follow (pm_dir_put or pm_dir_remove, new_inode, drop_link,
 * the callers' own) find their ranges logged and cost no drain: a create
 * drains 3 times, not 5. */
static int log_name(struct pm_fs *fs, struct pm_ino *dp, const char *name, uint64_t ino, struct pm_dir_room *room)
{
	struct pm_span s[3] = { [1] = inode_span(fs, ino), [2] = inode_span(fs, dp->ino) };
	int ret = entry_span(fs, dp, name, room, &s[0]);

	if (ret == 0)
		pm_tx_touch_all(fs, s, 3);
	return ret;
}

/* new_inode -- allocate and initialise an inode for name in dp, logged
 * with the rest of the name's changes (log_name, which finds its room) */
static int new_inode(struct pm_fs *fs, struct pm_ino *dp, const char *name, struct pm_dir_room *room,
		     uint32_t mode, uint64_t rdev, const struct pm_cred *cred, struct pm_ino **out)
{
	const struct pm_dinode *dd = pm_dinode(fs, dp->ino);
	struct pm_dinode *di;
	struct pm_time now;
	uint64_t ino, gen;
	int ret;

	if ((ret = pm_alloc_inode(fs, &ino)))
		return ret;
	if ((ret = log_name(fs, dp, name, ino, room))) {
		pm_alloc_inode_free(fs, ino);
		return ret;
	}
	di = pm_dinode(fs, ino);
	gen = di->generation + 1;
	pm_tx_touch(fs, di, sizeof(*di));
	memset(di, 0, sizeof(*di));
	pm_now(&now);
	di->mode = mode;
	di->uid = cred->uid;
	di->gid = cred->gid;
	if (dd->mode & S_ISGID) { /* BSD group semantics for setgid directories */
		di->gid = dd->gid;
		if (S_ISDIR(mode))
			di->mode |= S_ISGID;
	}
	di->nlink = S_ISDIR(mode) ? 2 : 1;
	di->rdev = rdev;
	di->generation = gen;
	di->parent = dp->ino;
	di->sync_policy = dd->sync_policy; /* inherited from the directory */
	di->sync_param = dd->sync_param;
	di->atime = di->mtime = di->ctime = di->btime = now;
	pm_persist(fs, di, sizeof(*di));
	*out = pm_ino_get(fs, ino);
	if (!*out) {
		di->mode = 0;
		pm_persist(fs, di, sizeof(*di));
		pm_alloc_inode_free(fs, ino);
		return -ENOMEM;
	}
	return 0;
}

/* drop_new -- undo new_inode after a failure */
static void drop_new(struct pm_fs *fs, struct pm_ino *pi)
{
	pm_dinode(fs, pi->ino)->nlink = 0;
	pm_ino_put(fs, pi);
}

static int create(struct pm_fs *fs, uint64_t dir, const char *name, uint32_t mode, uint64_t rdev,
		  const char *target, const struct pm_cred *cred, struct pm_attr *attr)
{
	struct pm_dirent_ref ref;
	struct pm_dir_room room;
	struct pm_ino *dp, *pi = NULL;
	int ret;

	if ((ret = check_name(name)))
		return ret;
	if (pm_rdonly(fs))
		return -EROFS;
	if ((ret = get_dir(fs, dir, &dp)))
		return ret;
	pthread_rwlock_wrlock(&fs->ns_lock);
	pthread_rwlock_wrlock(&dp->lock);
	bool own;
	struct pm_tx *tx = pm_tx_join(fs, &own);
	struct pm_dinode *dd = pm_dinode(fs, dir);
	if (dd->nlink == 0)
		ret = -ENOENT; /* removed directory */
	else if ((ret = pm_dir_find(fs, dp, name, &ref)) == 0)
		ret = -EEXIST;
	else if (ret == -ENOENT && S_ISDIR(mode) && dd->nlink >= PM_LINK_MAX)
		ret = -EMLINK;
	else if (ret == -ENOENT)
		ret = new_inode(fs, dp, name, &room, mode, rdev, cred, &pi);
	if (ret)
		goto out;
	if (target) {
		ssize_t n = pm_data_write(fs, pi, 0, target, strlen(target));
		pm_sync_inode(fs, pi);
		if (n < 0 || (size_t)n != strlen(target))
			ret = n < 0 ? (int)n : -ENOSPC;
	}
	if (ret) {
		drop_new(fs, pi);
		goto out;
	}
	pm_dir_put(fs, dp, &room, name, pi->ino, dtype(mode));
	pm_tx_touch(fs, dd, sizeof(*dd));
	if (S_ISDIR(mode))
		dd->nlink++;
	pm_inode_touch(fs, dir, true, true);
	pm_persist(fs, dd, sizeof(*dd));
	fill_attr(fs, pi, attr);
out:
	pm_tx_end(tx, own);
	pthread_rwlock_unlock(&dp->lock);
	pthread_rwlock_unlock(&fs->ns_lock);
	pm_ino_put(fs, dp);
	return ret;
}

int pm_fs_mknod(struct pm_fs *fs, uint64_t dir, const char *name, uint32_t mode, uint64_t rdev,
		const struct pm_cred *cred, struct pm_attr *attr)
{
	if ((mode & S_IFMT) == 0)
		mode |= S_IFREG;
	if ((mode & S_IFMT) == S_IFLNK || !((mode & S_IFMT) == S_IFREG || S_ISDIR(mode) ||
					   S_ISFIFO(mode) || S_ISSOCK(mode) || S_ISCHR(mode) ||
					   S_ISBLK(mode)))
		return -EINVAL;
	if (!S_ISCHR(mode) && !S_ISBLK(mode))
		rdev = 0;
	return create(fs, dir, name, mode, rdev, NULL, cred, attr);
}

int pm_fs_symlink(struct pm_fs *fs, uint64_t dir, const char *name, const char *target,
		  const struct pm_cred *cred, struct pm_attr *attr)
{
	size_t len = strlen(target);

	if (len == 0)
		return -ENOENT;
	if (len >= PM_BLOCK_SIZE)
		return -ENAMETOOLONG;
	return create(fs, dir, name, S_IFLNK | 0777, 0, target, cred, attr);
}

int pm_fs_readlink(struct pm_fs *fs, uint64_t ino, char *buf, size_t size)
{
	struct pm_ino *pi;
	uint8_t *blk;
	int ret = pm_ino_live(fs, ino, &pi);

	if (ret)
		return ret;
	pthread_rwlock_rdlock(&pi->lock);
	if (!S_ISLNK(pm_dinode(fs, ino)->mode))
		ret = -EINVAL;
	else if ((ret = pm_data_block(fs, pi, 0, false, false, &blk)) == 0) {
		size_t n = pi->size < PM_BLOCK_SIZE ? pi->size : PM_BLOCK_SIZE - 1;
		if (!blk || n == 0)
			ret = pm_err(EUCLEAN, "symlink %lu has no target; run fsck.pmfuse", (unsigned long)ino);
		else {
			n = n < size - 1 ? n : size - 1;
			memcpy(buf, blk, n);
			buf[n] = '\0';
			ret = (int)n;
		}
	}
	pthread_rwlock_unlock(&pi->lock);
	pm_ino_put(fs, pi);
	return ret;
}

int pm_fs_link(struct pm_fs *fs, uint64_t ino, uint64_t dir, const char *name, struct pm_attr *attr)
{
	struct pm_dirent_ref ref;
	struct pm_dir_room room;
	struct pm_ino *dp, *pi;
	struct pm_dinode *di;
	int ret;

	if ((ret = check_name(name)))
		return ret;
	if (pm_rdonly(fs))
		return -EROFS;
	if ((ret = get_dir(fs, dir, &dp)))
		return ret;
	if ((ret = pm_ino_live(fs, ino, &pi))) {
		pm_ino_put(fs, dp);
		return ret;
	}
	di = pm_dinode(fs, ino);
	pthread_rwlock_wrlock(&fs->ns_lock);
	lock_set((struct pm_ino *[]){ dp, pi }, 2, true);
	bool own;
	struct pm_tx *tx = pm_tx_join(fs, &own);
	if (S_ISDIR(di->mode))
		ret = -EPERM;
	else if (di->nlink == 0 || pm_dinode(fs, dir)->nlink == 0)
		ret = -ENOENT;
	else if (di->nlink >= PM_LINK_MAX)
		ret = -EMLINK;
	else if ((ret = pm_dir_find(fs, dp, name, &ref)) == 0)
		ret = -EEXIST;
	else if (ret == -ENOENT && (ret = log_name(fs, dp, name, ino, &room)) == 0)
		pm_dir_put(fs, dp, &room, name, ino, dtype(di->mode));
	if (ret == 0) {
		pm_tx_touch(fs, di, sizeof(*di));
		di->nlink++;
		pm_inode_touch(fs, ino, false, true);
		pm_persist(fs, di, sizeof(*di));
		pm_inode_touch(fs, dir, true, true);
		pm_persist(fs, pm_dinode(fs, dir), sizeof(struct pm_dinode));
		fill_attr(fs, pi, attr);
	}
	pm_tx_end(tx, own);
	lock_set((struct pm_ino *[]){ dp, pi }, 2, false);
	pthread_rwlock_unlock(&fs->ns_lock);
	pm_ino_put(fs, dp);
	if (ret)
		pm_ino_put(fs, pi); /* on success the reference goes to the caller */
	return ret;
}

/* drop_link -- one name of pi is gone (victim of unlink, rmdir or rename) */
static void drop_link(struct pm_fs *fs, struct pm_ino *pi, struct pm_dinode *parent)
{
	struct pm_dinode *di = pm_dinode(fs, pi->ino);

	pm_tx_touch_all(fs, (const struct pm_span[]){ { di, sizeof(*di) }, { parent, sizeof(*parent) } }, 2);
	if (S_ISDIR(di->mode)) {
		di->nlink = 0;
		if (parent->nlink > 2)
			parent->nlink--;
	} else if (di->nlink > 0) {
		di->nlink--;
	}
	pm_inode_touch(fs, pi->ino, false, true);
	pm_persist(fs, di, sizeof(*di));
}

static int remove_name(struct pm_fs *fs, uint64_t dir, const char *name, bool want_dir)
{
	struct pm_dirent_ref ref;
	struct pm_ino *dp, *pi = NULL;
	int ret;

	if (strlen(name) > PM_NAME_MAX)
		return -ENAMETOOLONG;
	if (strcmp(name, ".") == 0)
		return -EINVAL;
	if (strcmp(name, "..") == 0)
		return -ENOTEMPTY;
	if (pm_rdonly(fs))
		return -EROFS;
	if ((ret = get_dir(fs, dir, &dp)))
		return ret;
	pthread_rwlock_wrlock(&fs->ns_lock);
	if ((ret = pm_dir_find(fs, dp, name, &ref)) || (ret = pm_ino_live(fs, ref.ino, &pi)))
		goto out;
	lock_set((struct pm_ino *[]){ dp, pi }, 2, true);
	bool own;
	struct pm_tx *tx = pm_tx_join(fs, &own);
	bool is_dir = S_ISDIR(pm_dinode(fs, pi->ino)->mode);
	if (want_dir && !is_dir)
		ret = -ENOTDIR;
	else if (!want_dir && is_dir)
		ret = -EISDIR;
	else if (is_dir && !pm_dir_is_empty(fs, pi))
		ret = -ENOTEMPTY;
	else if ((ret = log_name(fs, dp, name, pi->ino, NULL)) == 0 &&
		 (ret = pm_dir_remove(fs, dp, name)) == 0) {
		struct pm_dinode *dd = pm_dinode(fs, dir);
		drop_link(fs, pi, dd);
		pm_inode_touch(fs, dir, true, true);
		pm_persist(fs, dd, sizeof(*dd));
		pm_dir_trim(fs, dp);
	}
	pm_tx_end(tx, own);
	lock_set((struct pm_ino *[]){ dp, pi }, 2, false);
out:
	pthread_rwlock_unlock(&fs->ns_lock);
	pm_ino_put(fs, pi);
	pm_ino_put(fs, dp);
	return ret;
}

int pm_fs_unlink(struct pm_fs *fs, uint64_t dir, const char *name)
{
	return remove_name(fs, dir, name, false);
}

int pm_fs_rmdir(struct pm_fs *fs, uint64_t dir, const char *name)
{
	return remove_name(fs, dir, name, true);
}

/* is_ancestor -- whether directory a is d or above d (walks ".." links) */
static bool is_ancestor(struct pm_fs *fs, uint64_t a, uint64_t d)
{
	for (unsigned depth = 0; depth < 1u << 20; depth++) {
		if (d == a)
			return true;
		if (d == PM_ROOT_INO || !pm_ino_valid(fs, d))
			return false;
		d = pm_dinode(fs, d)->parent;
	}
	return true; /* a loop: refuse the rename */
}

/* move_dir -- directory pi now lives in newdir instead of olddir */
static void move_dir(struct pm_fs *fs, struct pm_ino *pi, uint64_t olddir, uint64_t newdir)
{
	struct pm_dinode *di = pm_dinode(fs, pi->ino);

	if (!S_ISDIR(di->mode) || olddir == newdir)
		return;
	pm_tx_touch_all(fs, (const struct pm_span[]){ inode_span(fs, pi->ino), inode_span(fs, olddir),
						      inode_span(fs, newdir) }, 3);
	di->parent = newdir;
	pm_persist(fs, di, sizeof(*di));
	pm_dinode(fs, olddir)->nlink--;
	pm_dinode(fs, newdir)->nlink++;
}

/* log_rename -- as log_name, for a rename: both entries (the room for the
 * new name when it does not exist yet: room not NULL), both inodes and
 * both directories' inodes, logged with one drain before any of them
 * changes (the repoints, pm_dir_put, pm_dir_remove, drop_link, move_dir
 * and the times then find them logged: a rename drains 3 times; one to a
 * new name in another directory drained 7) */
static int log_rename(struct pm_fs *fs, struct pm_ino *odp, const char *name, struct pm_ino *ndp,
		      const char *newname, struct pm_ino *src, struct pm_ino *dst, struct pm_dir_room *room)
{
	struct pm_span s[6];
	unsigned n = 2;
	int ret = entry_span(fs, ndp, newname, room, &s[0]);

	if (ret || (ret = pm_dir_slot(fs, odp, name, &s[1])))
		return ret;
	s[n++] = inode_span(fs, src->ino);
	s[n++] = inode_span(fs, odp->ino);
	if (ndp != odp)
		s[n++] = inode_span(fs, ndp->ino);
	if (dst)
		s[n++] = inode_span(fs, dst->ino);
	pm_tx_touch_all(fs, s, n);
	return 0;
}

static int do_rename(struct pm_fs *fs, struct pm_ino *odp, const char *name, struct pm_ino *ndp,
		     const char *newname, unsigned flags, struct pm_ino *src, struct pm_ino *dst)
{
	struct pm_dinode *sd = pm_dinode(fs, src->ino), *dd = dst ? pm_dinode(fs, dst->ino) : NULL;
	int ret;

	if (flags & RENAME_EXCHANGE) {
		if (!dst)
			return -ENOENT;
		if ((S_ISDIR(sd->mode) && is_ancestor(fs, src->ino, ndp->ino)) ||
		    (S_ISDIR(dd->mode) && is_ancestor(fs, dst->ino, odp->ino)))
			return -EINVAL;
		if ((ret = log_rename(fs, odp, name, ndp, newname, src, dst, NULL)) ||
		    (ret = pm_dir_repoint(fs, odp, name, dst->ino, dtype(dd->mode))) ||
		    (ret = pm_dir_repoint(fs, ndp, newname, src->ino, dtype(sd->mode))))
			return ret;
		move_dir(fs, src, odp->ino, ndp->ino);
		move_dir(fs, dst, ndp->ino, odp->ino);
		pm_tx_touch(fs, dd, sizeof(*dd));
		pm_inode_touch(fs, dst->ino, false, true);
		pm_persist(fs, dd, sizeof(*dd));
	} else {
		if (dst && (flags & RENAME_NOREPLACE))
			return -EEXIST;
		if (dst == src)
			return 0; /* two names of one inode: POSIX says do nothing */
		if (dst && S_ISDIR(sd->mode) && !S_ISDIR(dd->mode))
			return -ENOTDIR;
		if (dst && !S_ISDIR(sd->mode) && S_ISDIR(dd->mode))
			return -EISDIR;
		if (dst && S_ISDIR(dd->mode) && !pm_dir_is_empty(fs, dst))
			return -ENOTEMPTY;
		if (S_ISDIR(sd->mode) && is_ancestor(fs, src->ino, ndp->ino))
			return -EINVAL;
		if (!dst && S_ISDIR(sd->mode) && odp != ndp && pm_dinode(fs, ndp->ino)->nlink >= PM_LINK_MAX)
			return -EMLINK;
		struct pm_dir_room room;
		if ((ret = log_rename(fs, odp, name, ndp, newname, src, dst, dst ? NULL : &room)))
			return ret;
		if (dst && (ret = pm_dir_repoint(fs, ndp, newname, src->ino, dtype(sd->mode))))
			return ret;
		if (!dst)
			pm_dir_put(fs, ndp, &room, newname, src->ino, dtype(sd->mode));
		if ((ret = pm_dir_remove(fs, odp, name)))
			return ret;
		if (dst)
			drop_link(fs, dst, pm_dinode(fs, ndp->ino));
		move_dir(fs, src, odp->ino, ndp->ino);
	}
	pm_tx_touch(fs, sd, sizeof(*sd));
	pm_inode_touch(fs, src->ino, false, true);
	pm_persist(fs, sd, sizeof(*sd));
	pm_inode_touch(fs, odp->ino, true, true);
	pm_inode_touch(fs, ndp->ino, true, true);
	pm_persist(fs, pm_dinode(fs, odp->ino), sizeof(struct pm_dinode));
	pm_persist(fs, pm_dinode(fs, ndp->ino), sizeof(struct pm_dinode));
	return 0;
}

int pm_fs_rename(struct pm_fs *fs, uint64_t dir, const char *name, uint64_t newdir,
		 const char *newname, unsigned flags)
{
	struct pm_dirent_ref sref, dref;
	struct pm_ino *odp = NULL, *ndp = NULL, *src = NULL, *dst = NULL;
	int ret;

	if (flags & ~(unsigned)(RENAME_NOREPLACE | RENAME_EXCHANGE) ||
	    (flags & RENAME_NOREPLACE && flags & RENAME_EXCHANGE))
		return -EINVAL;
	if ((ret = check_name(newname)))
		return ret == -EEXIST ? -EBUSY : ret;
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return -EBUSY;
	if (pm_rdonly(fs))
		return -EROFS;
	if ((ret = get_dir(fs, dir, &odp)) || (ret = get_dir(fs, newdir, &ndp)))
		goto out_put;
	pthread_rwlock_wrlock(&fs->ns_lock);
	if ((ret = pm_dir_find(fs, odp, name, &sref)) || (ret = pm_ino_live(fs, sref.ino, &src)))
		goto out_unlock;
	ret = pm_dir_find(fs, ndp, newname, &dref);
	if (ret == 0)
		ret = pm_ino_live(fs, dref.ino, &dst);
	else if (ret == -ENOENT)
		ret = 0;
	if (ret)
		goto out_unlock;
	if (pm_dinode(fs, newdir)->nlink == 0) {
		ret = -ENOENT;
		goto out_unlock;
	}
	lock_set((struct pm_ino *[]){ odp, ndp, src, dst }, 4, true);
	bool own;
	struct pm_tx *tx = pm_tx_join(fs, &own);
	ret = do_rename(fs, odp, name, ndp, newname, flags, src, dst);
	if (ret == 0) {
		pm_dir_trim(fs, odp);
		pm_dir_trim(fs, ndp);
	}
	pm_tx_end(tx, own);
	lock_set((struct pm_ino *[]){ odp, ndp, src, dst }, 4, false);
out_unlock:
	pthread_rwlock_unlock(&fs->ns_lock);
out_put:
	pm_ino_put(fs, dst);
	pm_ino_put(fs, src);
	pm_ino_put(fs, ndp);
	pm_ino_put(fs, odp);
	return ret;
}

int pm_fs_readdir(struct pm_fs *fs, uint64_t dir, uint64_t off, pm_dirent_fn fn, void *arg)
{
	char name[PM_NAME_MAX + 1];
	struct pm_dirent_ref ref;
	struct pm_ino *dp;
	int ret;

	if ((ret = get_dir(fs, dir, &dp)))
		return ret;
	pthread_rwlock_rdlock(&fs->ns_lock);
	pthread_rwlock_rdlock(&dp->lock);
	if (off == 0 && fn(arg, ".", dir, DT_DIR, 1))
		goto out;
	if (off <= 1 && fn(arg, "..", pm_dinode(fs, dir)->parent, DT_DIR, 2))
		goto out;
	for (uint64_t pos = off > 2 ? off - 2 : 0;; pos = ref.pos + 1) {
		if ((ret = pm_dir_next(fs, dp, pos, &ref, name))) {
			if (ret == -ENOENT)
				ret = 0;
			break;
		}
		if (fn(arg, name, ref.ino, ref.type, ref.pos + 3))
			break;
	}
out:
	pthread_rwlock_unlock(&dp->lock);
	pthread_rwlock_unlock(&fs->ns_lock);
	pm_ino_put(fs, dp);
	return ret;
}
