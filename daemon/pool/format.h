/* format.h -- the on-media layout of a pmfuse pool, in one place
 *
 * All fields are little-endian fixed-width integers (pmfuse builds only for
 * little-endian hosts: asserted below). Sizes are asserted at compile time.
 *
 *   block 0      superblock (bytes 0..255, checksummed) + state word (512)
 *   block 1      backup superblock (same 256 bytes; rewritten only by a resize)
 *   journal      journal_blocks blocks (reserved for the metadata journal)
 *   inode table  inode_count * 256 bytes, inode number = index + 1
 *   data area    data_blocks blocks: file data, tree nodes, directory
 *                blocks, xattr blobs; free space is rebuilt at mount
 *
 * See man/pmfuse.5 for the same table with every field.
 */
#ifndef PM_FORMAT_H
#define PM_FORMAT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "pmfuse's on-media format is little-endian; big-endian hosts are not supported"
#endif

#define PM_MAGIC "PMFUSE\x00\x01"
#define PM_MAJOR 1
#define PM_MINOR 0

#define PM_BLOCK_SIZE 4096u
#define PM_BLOCK_SHIFT 12
#define PM_INODE_SIZE 256u
#define PM_JOURNAL_BLOCKS 256u
#define PM_MIN_POOL_SIZE (8u << 20)
#define PM_ROOT_INO 1u

/* Feature masks: a pool with an unknown incompat bit is refused; an unknown
 * ro_compat bit allows read-only use. None are defined in version 1.0. */
#define PM_FEATURE_COMPAT_SUPP 0ull
#define PM_FEATURE_INCOMPAT_SUPP 0ull
#define PM_FEATURE_RO_COMPAT_SUPP 0ull

struct pm_super {
	char magic[8];           /* PM_MAGIC */
	uint32_t major;          /* PM_MAJOR: newer majors are refused */
	uint32_t minor;
	uint64_t compat;
	uint64_t incompat;
	uint64_t ro_compat;
	uint8_t uuid[16];
	uint64_t pool_size;      /* bytes the pool must hold at least */
	uint32_t block_size;     /* PM_BLOCK_SIZE */
	uint32_t inode_size;     /* PM_INODE_SIZE */
	uint64_t total_blocks;
	uint64_t journal_start;  /* block number */
	uint64_t journal_blocks;
	uint64_t itable_start;   /* block number */
	uint64_t itable_blocks;
	uint64_t inode_count;
	uint64_t data_start;     /* block number */
	uint64_t data_blocks;
	int64_t mkfs_time;       /* seconds since the epoch */
	uint8_t reserved[108];   /* zero */
	uint32_t checksum;       /* crc32c of the bytes before it */
};
_Static_assert(sizeof(struct pm_super) == 256, "pm_super is 256 bytes");

/* The state word lives in its own cache line of block 0, outside the
 * checksummed superblock, so that marking the pool clean or dirty is one
 * 8-byte atomic store. */
#define PM_STATE_OFFSET 512u
#define PM_STATE_CLEAN 0x434c45414e000001ull /* "CLEAN" */
#define PM_STATE_DIRTY 0x4449525459000002ull /* "DIRTY" */

/* The journal region is PM_JOURNAL_LANES lanes of equal size. A lane is a
 * header followed by undo records, each 8-byte aligned: the old bytes of a
 * range about to change. A lane whose state is ACTIVE belongs to a
 * transaction that did not finish: recovery restores its records' bytes,
 * newest first, for the records that carry the lane's seq and a good crc,
 * stopping at the first that does not. An idle lane's seq is the number
 * its next transaction takes. */
#define PM_JOURNAL_LANES 16u
#define PM_LANE_IDLE 0ull
#define PM_LANE_ACTIVE 0x4143544956450001ull /* "ACTIVE" */

struct pm_lane_hdr {
	uint64_t state;          /* PM_LANE_IDLE or PM_LANE_ACTIVE */
	uint64_t seq;            /* transaction number; records carry it */
	uint8_t reserved[48];
};
_Static_assert(sizeof(struct pm_lane_hdr) == 64, "pm_lane_hdr is one cache line");

struct pm_jrec {
	uint64_t seq;            /* the lane's seq when written */
	uint64_t off;            /* pool offset of the range */
	uint32_t len;            /* bytes of old contents that follow */
	uint32_t crc;            /* crc32c of seq, off, len (crc as 0) and data */
};
_Static_assert(sizeof(struct pm_jrec) == 24, "pm_jrec is 24 bytes");

struct pm_time {
	int64_t sec;
	uint32_t nsec;
	uint32_t pad;
};
_Static_assert(sizeof(struct pm_time) == 16, "pm_time is 16 bytes");

/* File data (and directory blocks, and symlink targets) hang off a radix
 * tree of 4 KiB nodes holding 512 block numbers each. height 0: root is the
 * data block of file block 0; height h covers 512^h file blocks. A zero
 * pointer is a hole. */
#define PM_TREE_FANOUT 512u
#define PM_TREE_SHIFT 9
#define PM_TREE_MAX_HEIGHT 6 /* 2^54 blocks: room for the largest file, 2^63 - 1 bytes */

struct pm_dinode {
	uint32_t mode;           /* 0: free */
	uint32_t uid;
	uint32_t gid;
	uint32_t nlink;
	uint64_t size;
	uint64_t blocks;         /* 4 KiB blocks owned: data, tree, xattrs */
	uint64_t rdev;
	uint64_t generation;     /* bumped each time the number is reused */
	uint64_t parent;         /* directories: the parent's inode number */
	struct pm_time atime;
	struct pm_time mtime;
	struct pm_time ctime;
	struct pm_time btime;
	uint64_t root;           /* tree root block, 0 = empty */
	uint32_t height;
	uint32_t flags;
	uint64_t xattr_block;    /* first block of the xattr blob, 0 = none */
	uint32_t xattr_size;     /* bytes used in the blob */
	uint32_t xattr_blocks;   /* contiguous blocks of the blob */
	uint32_t sync_policy;    /* reserved for the sync-policy issue */
	uint32_t sync_param;
	uint8_t reserved[96];
};
_Static_assert(sizeof(struct pm_dinode) == PM_INODE_SIZE, "pm_dinode is 256 bytes");

/* pm_dinode_clear -- a free inode: type, counts and the pointers to its
 * blocks and attributes go; generation, parent and times stay. Any subset
 * of these stores is safe to leave behind: mode 0 makes the inode free
 * (its blocks are claimed by no one at the next open), and an inode with
 * a type and no link is an orphan, which the next open clears. */
static inline void pm_dinode_clear(struct pm_dinode *d)
{
	memset(d, 0, offsetof(struct pm_dinode, generation));
	d->root = 0;
	d->height = 0;
	d->xattr_block = 0;
	d->xattr_size = 0;
	d->xattr_blocks = 0;
}

/* Directory blocks are arrays of 64 slots of 64 bytes. An entry takes
 * nslots consecutive slots inside one block (its name continues into the
 * following slots); ino == 0 marks a free run of nslots slots (0 reads as
 * 1). The entry is published by its ino store, last. */
#define PM_DIRENT_SIZE 64u
#define PM_DIRENT_PER_BLOCK (PM_BLOCK_SIZE / PM_DIRENT_SIZE)
#define PM_DIRENT_HEAD_NAME 48u
#define PM_NAME_MAX 255u
#define PM_DIR_MAX_BLOCKS (1u << 20) /* 4 GiB of directory: 64M slots */

struct pm_dirent {
	uint64_t ino;
	uint8_t nslots;
	uint8_t type;            /* DT_* */
	uint16_t name_len;
	uint32_t hash;           /* reserved (0) */
	char name[PM_DIRENT_HEAD_NAME];
};
_Static_assert(sizeof(struct pm_dirent) == PM_DIRENT_SIZE, "pm_dirent is 64 bytes");

/* Extended attributes: one contiguous blob of xattr_blocks blocks holding
 * records { u8 name_len; u8 pad; u16 pad; u32 value_len; name; value },
 * each padded to 8 bytes. Names are the full "namespace.name". */
struct pm_xattr_rec {
	uint8_t name_len;
	uint8_t pad[3];
	uint32_t value_len;
};
_Static_assert(sizeof(struct pm_xattr_rec) == 8, "pm_xattr_rec is 8 bytes");
#define PM_XATTR_MAX_BLOCKS 64u /* 256 KiB of names and values per inode */

/* pm_mode_valid -- whether an inode's mode has one of the file types a
 * pool may hold */
static inline int pm_mode_valid(uint32_t mode)
{
	switch (mode & 0170000) {
	case 0100000: case 0040000: case 0120000: case 0010000: /* reg dir lnk fifo */
	case 0140000: case 0020000: case 0060000:               /* sock chr blk */
		return 1;
	}
	return 0;
}

#endif
