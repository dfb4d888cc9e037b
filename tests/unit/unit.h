/* unit.h -- shared helpers of the engine's unit tests: pools in /dev/shm,
 * formatted the way mkfs.pmfuse does, and assertions on engine results */
#ifndef PM_UNIT_H
#define PM_UNIT_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "format.h"
#include "fs.h"
#include "fsi.h"

#define UNIT_KiB 1024ull
#define UNIT_MiB (1024ull * 1024)
#define UNIT_GiB (1024ull * 1024 * 1024)

/* the credentials of the test process, used for every create */
extern struct pm_cred unit_cred;

struct unit_pool {
	char *path;
	uint64_t size;
	struct pm_fs *fs; /* NULL while closed */
};

/* unit_init -- g_test_init(), and the credentials in unit_cred */
void unit_init(int *argc, char ***argv);

/* unit_add -- register a test that runs in a child process of its own
 * (g_test_trap_subprocess): a failed assertion or a crash in one test is
 * reported and the others still run */
void unit_add(const char *path, void (*fn)(void));

/* unit_pool_file -- a pre-allocated file of size bytes in /dev/shm; it
 * has no name (the path is /proc/self/fd/N) and goes with the process */
char *unit_pool_file(uint64_t size);
/* unit_pool_format -- what mkfs.pmfuse does: media open, layout, format */
void unit_pool_format(const char *path, uint64_t size, uint64_t inodes);
/* unit_pool_new -- a formatted, opened pool (inodes 0: the default) */
struct unit_pool *unit_pool_new(uint64_t size, uint64_t inodes);
void unit_pool_open(struct unit_pool *p);
void unit_pool_close(struct unit_pool *p);
/* unit_pool_reopen -- close (forgets every reference) and open again */
void unit_pool_reopen(struct unit_pool *p);
/* unit_pool_free -- close if open */
void unit_pool_free(struct unit_pool *p);

/* unit_create -- mknod that must succeed; keeps no reference */
uint64_t unit_create(struct pm_fs *fs, uint64_t dir, const char *name, uint32_t mode);
/* unit_lookup -- inode number of dir/name, 0 for ENOENT (no reference kept) */
uint64_t unit_lookup(struct pm_fs *fs, uint64_t dir, const char *name);
void unit_attr(struct pm_fs *fs, uint64_t ino, struct pm_attr *attr);
/* unit_size -- the inode's size, as getattr reports it */
uint64_t unit_size(struct pm_fs *fs, uint64_t ino);
void unit_statfs(struct pm_fs *fs, struct pm_statfs *st);

/* unit_write -- pm_fs_write that must write everything */
void unit_write(struct pm_fs *fs, uint64_t ino, uint64_t off, const void *buf, size_t len);
/* unit_read -- read up to len bytes at off (looping over short answers,
 * stopping at end of file); returns the byte count */
size_t unit_read(struct pm_fs *fs, uint64_t ino, uint64_t off, size_t len, void *buf);

/* unit_pattern -- the byte a test writes at file offset off with seed */
static inline uint8_t unit_pattern_byte(uint64_t off, uint32_t seed)
{
	uint64_t x = (off + 1) * 0x9E3779B97F4A7C15ull ^ ((uint64_t)seed << 32 | seed);

	x ^= x >> 29;
	return (uint8_t)(x ^ (x >> 17) ^ (x >> 41));
}
void unit_pattern(void *buf, uint64_t off, size_t len, uint32_t seed);
/* unit_write_pattern -- write len pattern bytes at off */
void unit_write_pattern(struct pm_fs *fs, uint64_t ino, uint64_t off, size_t len, uint32_t seed);
/* unit_assert_pattern -- the file holds pattern bytes (seed) at [off, off + len) */
void unit_assert_pattern(struct pm_fs *fs, uint64_t ino, uint64_t off, size_t len, uint32_t seed);
/* unit_assert_zero -- the file reads as zeros at [off, off + len) */
void unit_assert_zero(struct pm_fs *fs, uint64_t ino, uint64_t off, size_t len);

/* unit_tree_blocks -- blocks reachable from the inode's tree (nodes and
 * data), counted with pm_data_walk */
uint64_t unit_tree_blocks(struct pm_fs *fs, uint64_t ino);
/* unit_assert_blocks -- the inode's block count matches what it owns */
void unit_assert_blocks(struct pm_fs *fs, uint64_t ino);
/* unit_assert_reopen_stable -- free blocks and inodes are the same after
 * a reopen (the volatile allocator agrees with the media) */
void unit_assert_reopen_stable(struct unit_pool *p);

/* unit_stride -- 1, or $PMFUSE_UNIT_STRIDE: the loops over every crash
 * point take every Nth (the ThreadSanitizer run, where each fork costs a
 * second, sets it; the other builds try every point) */
unsigned unit_stride(void);

/* unit_in_child -- run fn in a forked process that then ends with
 * _exit(0) without closing anything: what a crash (kill -9, power loss
 * of an emulated pool in /dev/shm) leaves behind. Asserts that fn
 * returned (a failed assertion in the child fails the test). */
void unit_in_child(void (*fn)(void *arg), void *arg);

/* unit_map_pool -- map a pool for editing, bypassing the lock (the file
 * system must be closed); unit_unmap_pool persists everything */
uint8_t *unit_map_pool(const char *path, struct pm_media **m);
void unit_unmap_pool(struct pm_media **m);

/* unit_errmsg_has -- assert that pm_errmsg() contains needle */
#define unit_errmsg_has(needle)                                                              \
	do {                                                                                 \
		if (!strstr(pm_errmsg(), (needle)))                                          \
			g_error("pm_errmsg() is \"%s\"; expected it to contain \"%s\"",      \
				pm_errmsg(), (needle));                                      \
	} while (0)

#endif
