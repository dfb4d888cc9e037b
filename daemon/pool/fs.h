/* fs.h -- the pmfuse engine's interface: a file system in a mapped pool.
 *
 * Used by the FUSE edge (daemon/ops.c) and the tools. No FUSE types here.
 * Every function returns 0 (or a byte count) on success and -errno on
 * failure, with the detail in pm_errmsg(). Inode numbers are the FUSE node
 * ids: the root is 1.
 *
 * References: functions that hand an inode to the caller (lookup, the
 * create family, pm_fs_ref) take one reference on it, which the caller
 * returns with pm_fs_forget() (the kernel's lookup count, at the FUSE
 * edge). An inode with no name is freed when its last reference goes.
 *
 * Durability: namespace changes, setattr, xattrs and truncation are durable
 * when they return; file data written with pm_fs_write() is durable after
 * pm_fs_fsync() of the file (or a clean pm_fs_close()).
 */
#ifndef PM_FS_H
#define PM_FS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>

#include "err.h"

/* The largest file: the kernel's limit for every FUSE mount (s_maxbytes is
 * MAX_LFS_FILESIZE, 8 EiB - 1 on 64-bit machines, and FUSE_INIT has no way
 * to lower it). A smaller limit here would let the kernel's writeback cache
 * accept writes the daemon must refuse later, when the writer is gone. */
#define PM_MAX_FILE_SIZE ((uint64_t)INT64_MAX)

struct pm_fs;

struct pm_attr {
	uint64_t ino;
	uint64_t generation;
	uint32_t mode;
	uint32_t nlink;
	uint32_t uid;
	uint32_t gid;
	uint64_t rdev;
	uint64_t size;
	uint64_t blocks; /* 512-byte units */
	struct timespec atime, mtime, ctime;
};

struct pm_cred {
	uint32_t uid;
	uint32_t gid;
};

enum pm_set {
	PM_SET_MODE = 1 << 0,
	PM_SET_UID = 1 << 1,
	PM_SET_GID = 1 << 2,
	PM_SET_SIZE = 1 << 3,
	PM_SET_ATIME = 1 << 4,
	PM_SET_MTIME = 1 << 5,
	PM_SET_ATIME_NOW = 1 << 6,
	PM_SET_MTIME_NOW = 1 << 7,
	PM_SET_CTIME = 1 << 8,
	PM_SET_KILL_PRIV = 1 << 9, /* clear setuid/setgid and capabilities */
};

struct pm_setattr {
	unsigned valid; /* enum pm_set */
	uint32_t mode, uid, gid;
	uint64_t size;
	struct timespec atime, mtime, ctime;
};

struct pm_statfs {
	uint64_t blocks, bfree, files, ffree;
	uint32_t bsize, namemax;
};

struct pm_info {
	uint64_t pool_size;
	uint64_t data_blocks;
	uint64_t inode_count;
	const char *granularity; /* "PAGE", "CACHE_LINE", "BYTE" */
	bool map_sync;
	bool in_ram;             /* page granularity on tmpfs/ramfs: no msync */
	bool was_clean;          /* the pool had been unmounted cleanly */
	char uuid[37];
	uint32_t orphans;        /* nameless inodes freed at open */
	uint32_t rolled_back;    /* unfinished transactions undone at open */
};

enum pm_open_flags {
	PM_FS_RDONLY = 1 << 0,
	PM_FS_EMULATE = 1 << 1, /* crash emulation (testing aid): see media.h */
};

/* Media errors: a pool access the media cannot serve (SIGBUS: the pool
 * file truncated under the daemon, poison on DAX) completes on a zero page
 * instead (media.h). pm_fs_media_check -- ret, or -EIO when the calling
 * thread took such an error since its last check; the file system is then
 * read-only (EROFS for every change) and left marked in use. Call it after
 * every engine call that serves a request. pm_fs_media_failed -- the same
 * for an error seen elsewhere (the kernel's copy of a reply out of the
 * mapping failed with EFAULT). pm_fs_media_error -- has one happened; how
 * many faults, the pool offset of the last. */
int pm_fs_media_check(struct pm_fs *fs, int ret);
void pm_fs_media_failed(struct pm_fs *fs);
bool pm_fs_media_error(struct pm_fs *fs, uint64_t *faults, uint64_t *last_off);

/* Known bad blocks of the media (libpmem2's bad-block list, read at open):
 * free ones are kept out of allocation; ones inside files or the pool's
 * own structures are only reported (reading them fails with EIO, see
 * above). pm_fs_badblocks -- the ranges found at open, in bytes. */
enum pm_bad_where {
	PM_BAD_RESERVED, /* free: never allocated while mounted */
	PM_BAD_IN_USE,   /* holds file data or a directory/xattr block */
	PM_BAD_METADATA, /* in the superblock, journal or inode table */
};
struct pm_badblock {
	uint64_t off, len;
	enum pm_bad_where where;
};
size_t pm_fs_badblocks(struct pm_fs *fs, const struct pm_badblock **list);

/* pm_fs_resize -- grow or shrink the unmounted pool at path to size
 * (rounded down to whole blocks): a shrink is refused (EBUSY) if a block
 * past the new end is in use; a pool on a device grows to the device's
 * size at most. Recovers the pool first and leaves it clean. */
int pm_fs_resize(const char *path, uint64_t size, uint64_t *old_size, uint64_t *new_size);

/* pm_fs_open -- map, validate and load a pool; marks it in use (dirty) */
int pm_fs_open(const char *path, unsigned flags, struct pm_fs **out);
/* pm_fs_close -- persist everything, mark the pool clean, unmap */
void pm_fs_close(struct pm_fs **fs);
void pm_fs_info(struct pm_fs *fs, struct pm_info *info);
/* pm_fs_prefault -- map the pool's data into this process's page tables
 * ahead of use, until *stop (pm_media_prefault); bytes, or a negative errno */
int64_t pm_fs_prefault(struct pm_fs *fs, const atomic_bool *stop);
/* crash emulation: die at the nth flush/drain; events counted so far.
 * pm_fs_arm_crash sets it for the next pm_fs_open(PM_FS_EMULATE), counted
 * from the open, so that recovery itself can be crashed. */
void pm_fs_arm_crash(uint64_t n);
void pm_fs_crash_at(struct pm_fs *fs, uint64_t n);
uint64_t pm_fs_media_events(struct pm_fs *fs);

int pm_fs_getattr(struct pm_fs *fs, uint64_t ino, struct pm_attr *attr);
int pm_fs_ref(struct pm_fs *fs, uint64_t ino, struct pm_attr *attr);
/* pm_fs_ref_unheld -- pm_fs_ref for an inode nobody holds; 1, with no
 * reference taken, when it is held (by a lookup the kernel still has, an
 * open file, a request in progress) */
int pm_fs_ref_unheld(struct pm_fs *fs, uint64_t ino, struct pm_attr *attr);
void pm_fs_forget(struct pm_fs *fs, uint64_t ino, uint64_t n);
int pm_fs_lookup(struct pm_fs *fs, uint64_t dir, const char *name, struct pm_attr *attr);
int pm_fs_setattr(struct pm_fs *fs, uint64_t ino, const struct pm_setattr *sa, struct pm_attr *attr);

/* pm_fs_mknod -- files, directories, FIFOs, sockets, device nodes */
int pm_fs_mknod(struct pm_fs *fs, uint64_t dir, const char *name, uint32_t mode, uint64_t rdev,
		const struct pm_cred *cred, struct pm_attr *attr);
int pm_fs_symlink(struct pm_fs *fs, uint64_t dir, const char *name, const char *target,
		  const struct pm_cred *cred, struct pm_attr *attr);
int pm_fs_readlink(struct pm_fs *fs, uint64_t ino, char *buf, size_t size);
int pm_fs_link(struct pm_fs *fs, uint64_t ino, uint64_t dir, const char *name, struct pm_attr *attr);
int pm_fs_unlink(struct pm_fs *fs, uint64_t dir, const char *name);
int pm_fs_rmdir(struct pm_fs *fs, uint64_t dir, const char *name);
/* flags: RENAME_NOREPLACE, RENAME_EXCHANGE */
int pm_fs_rename(struct pm_fs *fs, uint64_t dir, const char *name, uint64_t newdir,
		 const char *newname, unsigned flags);

/* pm_fs_readdir -- entries from offset off ("." is 0, ".." 1); fn returns
 * non-zero to stop before the entry it was given */
typedef int (*pm_dirent_fn)(void *arg, const char *name, uint64_t ino, uint32_t type, uint64_t next);
int pm_fs_readdir(struct pm_fs *fs, uint64_t dir, uint64_t off, pm_dirent_fn fn, void *arg);

/* pm_fs_read -- calls fn once with iovecs pointing into the pool (holes
 * point to zeros), while the file cannot change */
typedef int (*pm_read_fn)(void *arg, const struct iovec *iov, int cnt);
int pm_fs_read(struct pm_fs *fs, uint64_t ino, uint64_t off, size_t size, pm_read_fn fn, void *arg);
/* pm_fs_write -- copy into the pool; kill_priv clears setuid/setgid */
ssize_t pm_fs_write(struct pm_fs *fs, uint64_t ino, uint64_t off, const void *buf, size_t size,
		    bool kill_priv);
/* pm_fs_copy_range -- copy_file_range(2) inside the pool: len bytes (fewer
 * past the source's end) of ino_in at off_in written to ino_out at
 * off_out from the pool itself, while neither file can change otherwise.
 * For ino_out it is a write in every respect (times, kill_priv as
 * pm_fs_write's, its sync policy). Bytes copied (short when the pool fills), or
 * -errno: EINVAL for overlapping ranges of one file or a file that is not
 * regular, EISDIR for a directory. */
ssize_t pm_fs_copy_range(struct pm_fs *fs, uint64_t ino_in, uint64_t off_in, uint64_t ino_out,
			 uint64_t off_out, size_t len, bool kill_priv);
int pm_fs_fsync(struct pm_fs *fs, uint64_t ino);
int pm_fs_fallocate(struct pm_fs *fs, uint64_t ino, int mode, uint64_t off, uint64_t len);
int pm_fs_lseek(struct pm_fs *fs, uint64_t ino, uint64_t off, int whence, uint64_t *result);
int pm_fs_statfs(struct pm_fs *fs, struct pm_statfs *st);

/* Sync policies (policy.h). The virtual attribute user.pmfuse.sync of any
 * inode, and user.pmfuse.stats of the root, are served by pm_fs_getxattr
 * and pm_fs_setxattr and never listed. */
/* pm_fs_open_file -- an open handle; *direct: the kernel must not cache the
 * file's writes (its policy is immediate) */
int pm_fs_open_file(struct pm_fs *fs, uint64_t ino, bool *direct);
/* pm_fs_release_file -- a handle closed; the close policy persists here */
int pm_fs_release_file(struct pm_fs *fs, uint64_t ino);
/* pm_fs_set_default_sync -- the root's policy (the mount default) */
int pm_fs_set_default_sync(struct pm_fs *fs, const char *policy);
/* pm_fs_flush_periodic -- persist what inodes with the periodic policy
 * have written since; returns how many inodes were persisted */
unsigned pm_fs_flush_periodic(struct pm_fs *fs);
/* pm_fs_periodic_open -- call fn for every open file with the periodic
 * policy (the flusher first has the kernel write back their cached pages) */
void pm_fs_periodic_open(struct pm_fs *fs, void (*fn)(void *arg, uint64_t ino), void *arg);
/* pm_fs_periodic_ms -- the flusher's interval: the shortest period of the
 * periodic inodes seen so far, 0 if none */
uint32_t pm_fs_periodic_ms(struct pm_fs *fs);
/* pm_fs_stats_json -- the statistics as one JSON object */
int pm_fs_stats_json(struct pm_fs *fs, char *buf, size_t size);

int pm_fs_getxattr(struct pm_fs *fs, uint64_t ino, const char *name, void *buf, size_t size);
int pm_fs_setxattr(struct pm_fs *fs, uint64_t ino, const char *name, const void *value, size_t size,
		   int flags);
int pm_fs_listxattr(struct pm_fs *fs, uint64_t ino, char *buf, size_t size);
int pm_fs_removexattr(struct pm_fs *fs, uint64_t ino, const char *name);

#endif
