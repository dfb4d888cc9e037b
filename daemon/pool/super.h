/* super.h -- superblock: layout computation, formatting and validation */
#ifndef PM_SUPER_H
#define PM_SUPER_H

#include <stddef.h>
#include <stdint.h>

#include "format.h"
#include "media.h"

/* pm_super_layout -- fill sb with the layout of a pool of size bytes and
 * inodes inodes (0: one per 8 KiB) */
int pm_super_layout(struct pm_super *sb, uint64_t size, uint64_t inodes);

/* pm_super_format -- write an empty file system (root directory owned by
 * uid:gid) described by sb; everything is durable on return */
int pm_super_format(struct pm_media *m, const struct pm_super *sb, uint32_t uid, uint32_t gid);

/* pm_super_check -- validate the superblock at base (map of size bytes):
 * magic, version, checksum, features, layout. Copies it to out. */
int pm_super_check(const void *base, size_t size, struct pm_super *out);

/* pm_super_looks_like_pool -- whether the bytes start with the pmfuse magic */
int pm_super_looks_like_pool(const void *base, size_t size);

uint32_t pm_super_checksum(const struct pm_super *sb);
void pm_super_uuid_str(const struct pm_super *sb, char out[37]);

#endif
