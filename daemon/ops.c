/* ops.c -- FUSE low-level operations: translate requests into engine calls
 * and send exactly one reply on every path. No on-media structures here. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fs.h"
#include "ops.h"

static struct pm_mount *MNT(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static struct pm_fs *FS(fuse_req_t req)
{
	return MNT(req)->fs;
}

static void to_stat(const struct pm_attr *a, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = a->ino;
	st->st_mode = a->mode;
	st->st_nlink = a->nlink;
	st->st_uid = a->uid;
	st->st_gid = a->gid;
	st->st_rdev = a->rdev;
	st->st_size = (off_t)a->size;
	st->st_blocks = (blkcnt_t)a->blocks;
	st->st_blksize = 4096;
	st->st_atim = a->atime;
	st->st_mtim = a->mtime;
	st->st_ctim = a->ctime;
}

static void fill_entry(fuse_req_t req, const struct pm_attr *a, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = a->ino;
	e->generation = a->generation;
	to_stat(a, &e->attr);
	e->attr_timeout = MNT(req)->timeout;
	e->entry_timeout = MNT(req)->timeout;
}

/* reply_entry -- answer a request that hands the kernel a reference */
static void reply_entry(fuse_req_t req, int ret, const struct pm_attr *a)
{
	struct pm_fs *fs = FS(req); /* req is gone once answered */
	struct fuse_entry_param e;

	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	fill_entry(req, a, &e);
	if (fuse_reply_entry(req, &e))
		pm_fs_forget(fs, a->ino, 1); /* interrupted: no reference */
}

static void reply_status(fuse_req_t req, int ret)
{
	fuse_reply_err(req, ret < 0 ? -ret : 0);
}

static struct pm_cred cred_of(fuse_req_t req)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);

	return (struct pm_cred){ .uid = ctx->uid, .gid = ctx->gid };
}

/* checked -- ret, or -EIO when the engine call that gave it took a media
 * error (the pool file truncated under us, poison on DAX: fs.h); the file
 * system is read-only from then on. The first such error is logged. */
static void log_media_error(struct pm_fs *fs)
{
	static bool logged;
	uint64_t faults, off;

	if (pm_fs_media_error(fs, &faults, &off) && !__atomic_exchange_n(&logged, true, __ATOMIC_RELAXED))
		fuse_log(FUSE_LOG_ERR, "media error in the pool (near offset %llu): that request fails with "
			 "EIO and the file system is read-only from now on; healthy data can still be read. "
			 "Unmount and run fsck.pmfuse\n", (unsigned long long)off);
}

static int checked(struct pm_fs *fs, int ret)
{
	ret = pm_fs_media_check(fs, ret);
	if (ret == -EIO)
		log_media_error(fs);
	return ret;
}
#define CHECKED(req, call) checked(FS(req), (call))

static void pm_op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct pm_mount *mnt = userdata;

	/* pmfuse clears setuid/setgid/capabilities itself: no GETXATTR
	 * round trip before every write (DESIGN.md, "FUSE") */
	fuse_set_feature_flag(conn, FUSE_CAP_HANDLE_KILLPRIV_V2);
	fuse_set_feature_flag(conn, FUSE_CAP_EXPORT_SUPPORT);
	fuse_set_feature_flag(conn, FUSE_CAP_PARALLEL_DIROPS);
	fuse_set_feature_flag(conn, FUSE_CAP_CACHE_SYMLINKS);
	if (mnt->writeback)
		fuse_set_feature_flag(conn, FUSE_CAP_WRITEBACK_CACHE);
	else
		fuse_unset_feature_flag(conn, FUSE_CAP_WRITEBACK_CACHE);
	/* the kernel keeps the smaller of this and the read-ahead of the
	 * mount's backing device (bdi.c raised it before this request) */
	if (mnt->max_readahead)
		conn->max_readahead = mnt->max_readahead;
	/* libfuse 3.17 fails INIT (EPROTO) unless init() repeats the value of
	 * the max_read mount option, and it gives init() no way to read it */
	conn->max_read = mnt->max_read;
	/* a handle with direct I/O may still be mapped shared (ops.c,
	 * pm_op_create): without it, such a mapping would fail */
	mnt->excl_direct = mnt->writeback && fuse_set_feature_flag(conn, FUSE_CAP_DIRECT_IO_ALLOW_MMAP);
	/* the daemon is the pool's only writer, so a new mtime never means the
	 * kernel's cached pages are stale; with auto_inval_data (libfuse's
	 * default), a mount without the writeback cache dropped a file's whole
	 * page cache at the first read after each write to it */
	fuse_unset_feature_flag(conn, FUSE_CAP_AUTO_INVAL_DATA);
	/* no getlk/setlk/flock handlers: the kernel's local locks serve */
	fuse_unset_feature_flag(conn, FUSE_CAP_POSIX_LOCKS);
	fuse_unset_feature_flag(conn, FUSE_CAP_FLOCK_LOCKS);
}

static void pm_op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct pm_attr a;
	int ret = CHECKED(req, pm_fs_lookup(FS(req), parent, name, &a));

	if (ret == -ENOENT) { /* cache the negative answer: we are the only writer */
		struct fuse_entry_param e = { .ino = 0, .entry_timeout = MNT(req)->timeout };
		fuse_reply_entry(req, &e);
		return;
	}
	reply_entry(req, ret, &a);
}

static void pm_op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	pm_fs_forget(FS(req), ino, nlookup);
	checked(FS(req), 0); /* a media error must not surface in the next request */
	fuse_reply_none(req);
}

static void pm_op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	for (size_t i = 0; i < count; i++)
		pm_fs_forget(FS(req), forgets[i].ino, forgets[i].nlookup);
	checked(FS(req), 0);
	fuse_reply_none(req);
}

static void pm_op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct pm_attr a;
	struct stat st;
	int ret = CHECKED(req, pm_fs_getattr(FS(req), ino, &a));

	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	to_stat(&a, &st);
	fuse_reply_attr(req, &st, MNT(req)->timeout);
}

static void pm_op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
			  struct fuse_file_info *fi)
{
	static const struct { int fuse; unsigned pm; } map[] = {
		{ FUSE_SET_ATTR_MODE, PM_SET_MODE },         { FUSE_SET_ATTR_UID, PM_SET_UID },
		{ FUSE_SET_ATTR_GID, PM_SET_GID },           { FUSE_SET_ATTR_SIZE, PM_SET_SIZE },
		{ FUSE_SET_ATTR_ATIME, PM_SET_ATIME },       { FUSE_SET_ATTR_MTIME, PM_SET_MTIME },
		{ FUSE_SET_ATTR_ATIME_NOW, PM_SET_ATIME_NOW }, { FUSE_SET_ATTR_MTIME_NOW, PM_SET_MTIME_NOW },
		{ FUSE_SET_ATTR_CTIME, PM_SET_CTIME },       { FUSE_SET_ATTR_KILL_SUID, PM_SET_KILL_PRIV },
		{ FUSE_SET_ATTR_KILL_SGID, PM_SET_KILL_PRIV },
	};
	struct pm_setattr sa = {
		.mode = attr->st_mode, .uid = attr->st_uid, .gid = attr->st_gid,
		.size = (uint64_t)attr->st_size, .atime = attr->st_atim, .mtime = attr->st_mtim,
		.ctime = attr->st_ctim,
	};
	struct pm_attr a;
	struct stat st;
	int ret;

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (to_set & map[i].fuse)
			sa.valid |= map[i].pm;
	ret = CHECKED(req, pm_fs_setattr(FS(req), ino, &sa, &a));
	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	to_stat(&a, &st);
	fuse_reply_attr(req, &st, MNT(req)->timeout);
}

static void pm_op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	char buf[4096];
	int ret = CHECKED(req, pm_fs_readlink(FS(req), ino, buf, sizeof(buf)));

	if (ret < 0)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_readlink(req, buf);
}

static void pm_op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	struct pm_cred c = cred_of(req);
	struct pm_attr a;

	reply_entry(req, CHECKED(req, pm_fs_mknod(FS(req), parent, name, mode, rdev, &c, &a)), &a);
}

static void pm_op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct pm_cred c = cred_of(req);
	struct pm_attr a;

	reply_entry(req, CHECKED(req, pm_fs_mknod(FS(req), parent, name, S_IFDIR | (mode & 07777), 0, &c, &a)), &a);
}

static void pm_op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	struct pm_cred c = cred_of(req);
	struct pm_attr a;

	reply_entry(req, CHECKED(req, pm_fs_symlink(FS(req), parent, name, link, &c, &a)), &a);
}

static void pm_op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	struct pm_attr a;

	reply_entry(req, CHECKED(req, pm_fs_link(FS(req), ino, newparent, newname, &a)), &a);
}

static void pm_op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	reply_status(req, CHECKED(req, pm_fs_unlink(FS(req), parent, name)));
}

static void pm_op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	reply_status(req, CHECKED(req, pm_fs_rmdir(FS(req), parent, name)));
}

static void pm_op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
			 const char *newname, unsigned int flags)
{
	reply_status(req, CHECKED(req, pm_fs_rename(FS(req), parent, name, newparent, newname, flags)));
}

/* open_flags -- count the handle; the daemon is the pool's only writer, so
 * the page cache stays valid, except for files whose every write must be
 * durable when it returns (immediate): those bypass the kernel's cache */
static int open_flags(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	bool direct = false;
	int ret = CHECKED(req, pm_fs_open_file(FS(req), ino, &direct));

	fi->keep_cache = !direct;
	fi->direct_io = direct;
	fi->noflush = 1;
	return ret;
}

static void pm_op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	int ret = open_flags(req, ino, fi);

	if (ret)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_open(req, fi);
}

static void pm_op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
			 struct fuse_file_info *fi)
{
	struct pm_cred c = cred_of(req);
	struct pm_fs *fs = FS(req);
	struct fuse_entry_param e;
	struct pm_attr a;
	int ret = checked(fs, pm_fs_mknod(fs, parent, name, S_IFREG | (mode & 07777), 0, &c, &a));

	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	open_flags(req, a.ino, fi);
	/* A file made with O_EXCL (tar, cp, mkstemp) is nearly always written
	 * once through this handle and closed. Through the writeback cache
	 * that costs the write, a GETXATTR of security.capability (a new
	 * inode's first write) and a SETATTR of the kernel's mtime, each a
	 * round trip at close or fsync; with direct I/O it is the write
	 * alone. Other opens of the file keep the page cache. */
	if ((fi->flags & O_EXCL) && MNT(req)->excl_direct && !fi->direct_io) {
		fi->direct_io = 1;
		fi->keep_cache = 1;
	}
	fill_entry(req, &a, &e);
	if (fuse_reply_create(req, &e, fi))
		pm_fs_forget(fs, a.ino, 1); /* interrupted: no reference */
}

struct read_ctx {
	fuse_req_t req;
	struct pm_fs *fs;
	bool replied;
};

static int send_iov(void *arg, const struct iovec *iov, int cnt)
{
	struct read_ctx *c = arg;

	/* the engine found the blocks through pool metadata: a media error
	 * there means the iovecs may point at the wrong bytes */
	if (checked(c->fs, 0))
		return -EIO; /* not replied: pm_op_read answers EIO */
	c->replied = true;
	/* the kernel copies the data out of the mapping itself: a media
	 * error there fails the copy (EFAULT), not us, and the client gets
	 * EIO from the kernel */
	if (fuse_reply_iov(c->req, iov, cnt) == -EFAULT) {
		pm_fs_media_failed(c->fs);
		log_media_error(c->fs);
	}
	return 0;
}

static void pm_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct read_ctx c = { req, FS(req), false };
	int ret = checked(c.fs, pm_fs_read(c.fs, ino, (uint64_t)off, size, send_iov, &c));

	if (!c.replied)
		fuse_reply_err(req, ret < 0 ? -ret : EIO);
}

static void pm_op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
			struct fuse_file_info *fi)
{
	/* without the writeback cache, the kernel leaves clearing setuid and
	 * setgid on write to us (FUSE_CAP_HANDLE_KILLPRIV_V2) */
	bool kill = !fi->writepage && fuse_req_ctx(req)->uid != 0;
	struct pm_mount *mnt = MNT(req); /* req is gone once answered */
	ssize_t n;

	__atomic_add_fetch(&mnt->writes_begun, 1, __ATOMIC_SEQ_CST);
	n = pm_fs_write(mnt->fs, ino, (uint64_t)off, buf, size, kill);
	n = n < 0 ? checked(mnt->fs, (int)n) : checked(mnt->fs, 0) ? -EIO : n;

	/* the kernel's writeback does not retry the rest of a short write:
	 * report the error instead, so that fsync returns it */
	if (n >= 0 && (size_t)n < size && fi->writepage)
		n = -ENOSPC;
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_write(req, (size_t)n);
	__atomic_add_fetch(&mnt->writes_done, 1, __ATOMIC_SEQ_CST);
}

/* copy_file_range(2) between two files of the mount: the data go from
 * pool to pool in the daemon, never through the kernel (which, with no
 * such operation, would read the source and write the copy page by page
 * through this mount). The kernel has written back both ranges' cached
 * pages first and drops the copy's afterwards. */
static void pm_op_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
				  struct fuse_file_info *fi_in, fuse_ino_t ino_out, off_t off_out,
				  struct fuse_file_info *fi_out, size_t len, int flags)
{
	(void)fi_in;
	(void)fi_out;
	if (flags) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	/* as a write: the kernel leaves clearing setuid and setgid to us */
	bool kill = fuse_req_ctx(req)->uid != 0;
	struct pm_fs *fs = FS(req);
	ssize_t n = pm_fs_copy_range(fs, ino_in, (uint64_t)off_in, ino_out, (uint64_t)off_out, len, kill);

	n = n < 0 ? checked(fs, (int)n) : checked(fs, 0) ? -EIO : n;
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_write(req, (size_t)n);
}

static void pm_op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	reply_status(req, CHECKED(req, pm_fs_release_file(FS(req), ino)));
}

static void pm_op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	reply_status(req, CHECKED(req, pm_fs_fsync(FS(req), ino)));
}

static void pm_op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fi->cache_readdir = 1;
	fi->keep_cache = 1;
	fuse_reply_open(req, fi);
}

struct dir_ctx {
	fuse_req_t req;
	char *buf;
	size_t size, used;
	bool plus;
};

static int add_dirent(void *arg, const char *name, uint64_t ino, uint32_t type, uint64_t next)
{
	struct dir_ctx *c = arg;
	size_t left = c->size - c->used, n;

	if (!c->plus) {
		struct stat st = { .st_ino = ino, .st_mode = type << 12 };
		n = fuse_add_direntry(c->req, c->buf + c->used, left, name, &st, (off_t)next);
		if (n > left)
			return 1;
	} else {
		struct fuse_entry_param e = { 0 };
		struct pm_attr a;
		bool dot = strcmp(name, ".") == 0 || strcmp(name, "..") == 0;

		if (fuse_add_direntry_plus(c->req, NULL, 0, name, NULL, 0) > left)
			return 1;
		/* Attributes go only with inodes the kernel does not have yet.
		 * For one it has, the kernel keeps its nlink by itself (unlink
		 * drops it by one when the reply comes), so a listing answered
		 * after an unlink of another name, but taken in before that
		 * reply, would have the link counted off twice: a stat showing
		 * 0 links for a day (the attribute timeout) and link(2) failing
		 * with ENOENT. A node id of 0 makes the kernel take the name
		 * alone (the dot entries too: no reference is taken for them). */
		e.attr.st_ino = ino;
		e.attr.st_mode = type << 12;
		if (!dot) {
			int ret = pm_fs_ref_unheld(FS(c->req), ino, &a);

			if (ret < 0)
				return 0; /* vanished: skip it */
			if (ret == 0)
				fill_entry(c->req, &a, &e);
		}
		n = fuse_add_direntry_plus(c->req, c->buf + c->used, left, name, &e, (off_t)next);
	}
	c->used += n;
	return 0;
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus)
{
	struct dir_ctx c = { .req = req, .size = size, .plus = plus };
	int ret;

	c.buf = malloc(size);
	if (!c.buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	ret = CHECKED(req, pm_fs_readdir(FS(req), ino, (uint64_t)off, add_dirent, &c));
	if (ret && (c.used == 0 || ret == -EIO))
		fuse_reply_err(req, -ret);
	else
		fuse_reply_buf(req, c.buf, c.used);
	free(c.buf);
}

static void pm_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, false);
}

static void pm_op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			      struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, true);
}

static void pm_op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fuse_reply_err(req, 0);
}

static void pm_op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	fuse_reply_err(req, 0); /* namespace changes are durable when they return */
}

static void pm_op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct pm_statfs s;
	struct statvfs st = { 0 };

	pm_fs_statfs(FS(req), &s);
	if (checked(FS(req), 0)) {
		fuse_reply_err(req, EIO);
		return;
	}
	st.f_bsize = st.f_frsize = s.bsize;
	st.f_blocks = s.blocks;
	st.f_bfree = st.f_bavail = s.bfree;
	st.f_files = s.files;
	st.f_ffree = st.f_favail = s.ffree;
	st.f_namemax = s.namemax;
	fuse_reply_statfs(req, &st);
}

static void pm_op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
			   size_t size, int flags)
{
	reply_status(req, CHECKED(req, pm_fs_setxattr(FS(req), ino, name, value, size, flags)));
}

/* reply_sized -- the getxattr/listxattr protocol: size 0 asks for the size */
static void reply_sized(fuse_req_t req, size_t size, int (*get)(struct pm_fs *, uint64_t, const char *,
								 char *, size_t),
			fuse_ino_t ino, const char *name)
{
	char *buf = size ? malloc(size) : NULL;
	int ret;

	if (size && !buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	ret = get(FS(req), ino, name, buf, size);
	if (ret < 0)
		fuse_reply_err(req, -ret);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)ret);
	else
		fuse_reply_buf(req, buf, (size_t)ret);
	free(buf);
}

static int get_xattr(struct pm_fs *fs, uint64_t ino, const char *name, char *buf, size_t size)
{
	return checked(fs, pm_fs_getxattr(fs, ino, name, buf, size));
}

static int list_xattr(struct pm_fs *fs, uint64_t ino, const char *name, char *buf, size_t size)
{
	return checked(fs, pm_fs_listxattr(fs, ino, buf, size));
}

static void pm_op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	reply_sized(req, size, get_xattr, ino, name);
}

static void pm_op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	reply_sized(req, size, list_xattr, ino, NULL);
}

static void pm_op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	reply_status(req, CHECKED(req, pm_fs_removexattr(FS(req), ino, name)));
}

static void pm_op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
			    struct fuse_file_info *fi)
{
	if (off < 0 || len <= 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	reply_status(req, CHECKED(req, pm_fs_fallocate(FS(req), ino, mode, (uint64_t)off, (uint64_t)len)));
}

static void pm_op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence, struct fuse_file_info *fi)
{
	uint64_t res;

	/* Through the writeback cache the kernel holds written pages the pool
	 * has not seen yet, and does not write them back before FUSE_LSEEK: an
	 * answer from the pool would call them a hole, or the end of the file
	 * (SEEK_DATA on a file just written failed with ENXIO). ENOSYS makes
	 * the kernel answer from its own size, the file all data, for the rest
	 * of the mount. Without the writeback cache the pool's answer is exact. */
	if (MNT(req)->writeback) {
		fuse_reply_err(req, ENOSYS);
		return;
	}
	int ret = off < 0 ? -ENXIO : CHECKED(req, pm_fs_lseek(FS(req), ino, (uint64_t)off, whence, &res));

	if (ret)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_lseek(req, (off_t)res);
}

const struct fuse_lowlevel_ops pm_ops = {
	.init = pm_op_init,
	.lookup = pm_op_lookup,
	.forget = pm_op_forget,
	.forget_multi = pm_op_forget_multi,
	.getattr = pm_op_getattr,
	.setattr = pm_op_setattr,
	.readlink = pm_op_readlink,
	.mknod = pm_op_mknod,
	.mkdir = pm_op_mkdir,
	.symlink = pm_op_symlink,
	.link = pm_op_link,
	.unlink = pm_op_unlink,
	.rmdir = pm_op_rmdir,
	.rename = pm_op_rename,
	.open = pm_op_open,
	.create = pm_op_create,
	.read = pm_op_read,
	.write = pm_op_write,
	/* no flush: its ENOSYS tells the kernel to stop sending FLUSH on
	 * every close (there is nothing to do: no POSIX locks here, and the
	 * writeback cache reports write errors at close by itself) */
	.release = pm_op_release,
	.fsync = pm_op_fsync,
	.opendir = pm_op_opendir,
	.readdir = pm_op_readdir,
	.readdirplus = pm_op_readdirplus,
	.releasedir = pm_op_releasedir,
	.fsyncdir = pm_op_fsyncdir,
	.statfs = pm_op_statfs,
	.setxattr = pm_op_setxattr,
	.getxattr = pm_op_getxattr,
	.listxattr = pm_op_listxattr,
	.removexattr = pm_op_removexattr,
	.fallocate = pm_op_fallocate,
	.lseek = pm_op_lseek,
	.copy_file_range = pm_op_copy_file_range,
};
