/* xattr.c -- extended attributes: one contiguous blob per inode, replaced
 * copy-on-write so that a change is never half-visible */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#include "err.h"
#include "fs.h"
#include "fsi.h"
#include "journal.h"

#define XATTR_VALUE_MAX 65536u
#define REC_SIZE(nl, vl) ((sizeof(struct pm_xattr_rec) + (nl) + (vl) + 7u) & ~7u)

struct rec {
	uint32_t off, size;
	const char *name;
	uint8_t name_len;
	const uint8_t *value;
	uint32_t value_len;
};

static const uint8_t *blob(struct pm_fs *fs, const struct pm_dinode *di)
{
	return di->xattr_block ? pm_blk_ptr(fs, di->xattr_block) : NULL;
}

/* next_rec -- the record at r->off + r->size; 1 found, 0 end, <0 corrupt */
static int next_rec(const struct pm_dinode *di, const uint8_t *b, struct rec *r, uint64_t ino)
{
	const struct pm_xattr_rec *h;
	uint32_t off = r->off + r->size;

	if (off >= di->xattr_size)
		return 0;
	h = (const struct pm_xattr_rec *)(b + off);
	if (di->xattr_size - off < sizeof(*h) || h->name_len == 0 || h->value_len > XATTR_VALUE_MAX ||
	    REC_SIZE(h->name_len, h->value_len) > di->xattr_size - off)
		return pm_err(EUCLEAN, "inode %lu: damaged extended attribute record at %u; run fsck.pmfuse",
			      (unsigned long)ino, off);
	r->off = off;
	r->size = (uint32_t)REC_SIZE(h->name_len, h->value_len);
	r->name = (const char *)(h + 1);
	r->name_len = h->name_len;
	r->value = (const uint8_t *)r->name + h->name_len;
	r->value_len = h->value_len;
	return 1;
}

int pm_xattr_check(struct pm_fs *fs, const struct pm_dinode *di)
{
	uint64_t ino = (uint64_t)(di - fs->itable) + 1;
	struct rec r = { 0 };
	int ret;

	if (!di->xattr_block)
		return di->xattr_size ? pm_err(EUCLEAN, "inode %lu: xattr size without blob", (unsigned long)ino) : 0;
	if (di->xattr_blocks == 0 || di->xattr_blocks > PM_XATTR_MAX_BLOCKS ||
	    !pm_blk_valid(fs, di->xattr_block) || !pm_blk_valid(fs, di->xattr_block + di->xattr_blocks - 1) ||
	    di->xattr_size > di->xattr_blocks * PM_BLOCK_SIZE)
		return pm_err(EUCLEAN, "inode %lu: extended attribute blob out of bounds; run fsck.pmfuse",
			      (unsigned long)ino);
	while ((ret = next_rec(di, blob(fs, di), &r, ino)) > 0)
		;
	return ret;
}

static int find(struct pm_fs *fs, struct pm_ino *pi, const char *name, struct rec *out)
{
	struct pm_dinode *di = pm_dinode(fs, pi->ino);
	size_t len = strlen(name);
	struct rec r = { 0 };
	int ret;

	if ((ret = pm_xattr_check(fs, di)))
		return ret;
	while ((ret = next_rec(di, blob(fs, di), &r, pi->ino)) > 0) {
		if (r.name_len == len && memcmp(r.name, name, len) == 0) {
			*out = r;
			return 0;
		}
	}
	return ret < 0 ? ret : -ENODATA;
}

static bool known_namespace(const char *name)
{
	return strncmp(name, "user.", 5) == 0 || strncmp(name, "trusted.", 8) == 0 ||
	       strncmp(name, "security.", 9) == 0;
}

int pm_fs_getxattr(struct pm_fs *fs, uint64_t ino, const char *name, void *buf, size_t size)
{
	struct pm_ino *pi;
	struct rec r;
	int ret;

	if (pm_control_name(name))
		return pm_control_get(fs, ino, name, buf, size);
	if ((ret = pm_ino_live(fs, ino, &pi)))
		return ret;
	pthread_rwlock_rdlock(&pi->lock);
	ret = find(fs, pi, name, &r);
	if (ret == 0) {
		if (size == 0)
			ret = (int)r.value_len;
		else if (size < r.value_len)
			ret = -ERANGE;
		else {
			memcpy(buf, r.value, r.value_len);
			ret = (int)r.value_len;
		}
	}
	pthread_rwlock_unlock(&pi->lock);
	pm_ino_put(fs, pi);
	return ret;
}

int pm_fs_listxattr(struct pm_fs *fs, uint64_t ino, char *buf, size_t size)
{
	struct pm_ino *pi;
	struct pm_dinode *di;
	struct rec r = { 0 };
	size_t need = 0;
	int ret = pm_ino_live(fs, ino, &pi);

	if (ret)
		return ret;
	pthread_rwlock_rdlock(&pi->lock);
	di = pm_dinode(fs, ino);
	if ((ret = pm_xattr_check(fs, di)) == 0) {
		while ((ret = next_rec(di, blob(fs, di), &r, ino)) > 0) {
			if (size && need + r.name_len + 1 <= size) {
				memcpy(buf + need, r.name, r.name_len);
				buf[need + r.name_len] = '\0';
			}
			need += r.name_len + 1u;
		}
	}
	pthread_rwlock_unlock(&pi->lock);
	pm_ino_put(fs, pi);
	if (ret < 0)
		return ret;
	if (size && need > size)
		return -ERANGE;
	return (int)need;
}

/* replace -- install a new blob made of the old one minus skip (a record,
 * or none) plus name=value (or nothing); the new blob is durable before
 * the inode points to it, and the old blocks are freed after. */
static int replace(struct pm_fs *fs, struct pm_ino *pi, const struct rec *skip, const char *name,
		   const void *value, size_t vlen)
{
	struct pm_dinode *di = pm_dinode(fs, pi->ino);
	const uint8_t *old = blob(fs, di);
	size_t nlen = name ? strlen(name) : 0;
	size_t size = di->xattr_size - (skip ? skip->size : 0) + (name ? REC_SIZE(nlen, vlen) : 0);
	uint64_t nb = (size + PM_BLOCK_SIZE - 1) / PM_BLOCK_SIZE, start = 0;
	uint64_t old_block = di->xattr_block, old_blocks = di->xattr_blocks;
	uint8_t *dst;

	if (nb > PM_XATTR_MAX_BLOCKS)
		return pm_err(ENOSPC, "extended attributes of inode %lu would exceed %u KiB",
			      (unsigned long)pi->ino, PM_XATTR_MAX_BLOCKS * 4);
	if (nb && pm_alloc_contig(fs, nb, &start))
		return pm_err(ENOSPC, "pool is full");
	bool own;
	struct pm_tx *tx = pm_tx_join(fs, &own);
	if (nb) {
		size_t at = 0;
		dst = pm_blk_ptr(fs, start);
		if (skip) {
			memcpy(dst, old, skip->off);
			memcpy(dst + skip->off, old + skip->off + skip->size,
			       di->xattr_size - skip->off - skip->size);
			at = di->xattr_size - skip->size;
		} else if (old) {
			memcpy(dst, old, di->xattr_size);
			at = di->xattr_size;
		}
		if (name) {
			struct pm_xattr_rec h = { .name_len = (uint8_t)nlen, .value_len = (uint32_t)vlen };
			memset(dst + at, 0, REC_SIZE(nlen, vlen));
			memcpy(dst + at, &h, sizeof(h));
			memcpy(dst + at + sizeof(h), name, nlen);
			if (vlen)
				memcpy(dst + at + sizeof(h) + nlen, value, vlen);
		}
		pm_tx_fresh(fs, dst, size); /* durable before the inode names it */
	}
	pm_tx_touch(fs, di, sizeof(*di));
	di->xattr_block = nb ? start : 0;
	di->xattr_size = (uint32_t)size;
	di->xattr_blocks = (uint32_t)nb;
	di->blocks = di->blocks + nb - old_blocks;
	pm_inode_touch(fs, pi->ino, false, true);
	pm_persist(fs, di, sizeof(*di));
	pm_tx_end(tx, own);
	if (old_block)
		pm_tx_release(fs, old_block, old_blocks);
	return 0;
}

int pm_fs_setxattr(struct pm_fs *fs, uint64_t ino, const char *name, const void *value, size_t size,
		   int flags)
{
	struct pm_ino *pi;
	struct rec r;
	int ret;

	if (strlen(name) > 255 || name[0] == '\0')
		return -ERANGE;
	if (size > XATTR_VALUE_MAX)
		return -E2BIG;
	if (!known_namespace(name))
		return -EOPNOTSUPP;
	if (pm_control_name(name))
		return pm_control_set(fs, ino, name, value, size, flags);
	if (pm_rdonly(fs))
		return -EROFS;
	if ((ret = pm_ino_live(fs, ino, &pi)))
		return ret;
	pthread_rwlock_wrlock(&pi->lock);
	pi->no_caps = false;
	ret = find(fs, pi, name, &r);
	if (ret == 0 && (flags & XATTR_CREATE))
		ret = -EEXIST;
	else if (ret == -ENODATA && (flags & XATTR_REPLACE))
		ret = -ENODATA;
	else if (ret == 0 || ret == -ENODATA)
		ret = replace(fs, pi, ret == 0 ? &r : NULL, name, value, size);
	pthread_rwlock_unlock(&pi->lock);
	pm_ino_put(fs, pi);
	return ret;
}

int pm_fs_removexattr(struct pm_fs *fs, uint64_t ino, const char *name)
{
	struct pm_ino *pi;
	struct rec r;
	int ret;

	if (pm_control_name(name))
		return -EPERM; /* control attributes always exist */
	if (pm_rdonly(fs))
		return -EROFS;
	if ((ret = pm_ino_live(fs, ino, &pi)))
		return ret;
	pthread_rwlock_wrlock(&pi->lock);
	ret = find(fs, pi, name, &r);
	if (ret == 0)
		ret = replace(fs, pi, &r, NULL, NULL, 0);
	pthread_rwlock_unlock(&pi->lock);
	pm_ino_put(fs, pi);
	return ret;
}

void pm_xattr_kill_priv(struct pm_fs *fs, struct pm_ino *pi)
{
	struct rec r;

	if (pi->no_caps || !pm_dinode(fs, pi->ino)->xattr_block)
		return;
	if (find(fs, pi, "security.capability", &r) == 0)
		replace(fs, pi, &r, NULL, NULL, 0);
	pi->no_caps = true; /* until the next setxattr: keeps writes cheap */
}

