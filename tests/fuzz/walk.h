/* walk.h -- what the fuzzers do with a pool that opened: read everything a
 * mount could read, then change a little, as a user would. */
#ifndef FUZZ_WALK_H
#define FUZZ_WALK_H

#include "fs.h"

/* fuzz_walk -- readdir, lookup, getattr, read, readlink and the xattrs of
 * every inode reachable from the root (bounded in depth and count) */
void fuzz_walk(struct pm_fs *fs);
/* fuzz_exercise -- create, write, fsync, rename, xattrs, truncate, unlink
 * and rmdir in the root and in the first directory the walk found; every
 * error is allowed, a crash or a sanitizer report is not */
void fuzz_exercise(struct pm_fs *fs);

#endif
