/* image.c -- the fuzzers' pool images (image.h) */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "format.h"
#include "super.h"
#include "image.h"

#define GAP 32u /* zeros kept inside a run rather than starting a new one */

static uint32_t le32(const uint8_t *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

/* fix_crc -- the superblock and its backup carry a good checksum */
static void fix_crc(uint8_t *img, size_t len)
{
	for (size_t at = 0; at < 2 * FUZZ_BLOCK && at + sizeof(struct pm_super) <= len; at += FUZZ_BLOCK) {
		struct pm_super sb;

		memcpy(&sb, img + at, sizeof(sb));
		sb.checksum = pm_super_checksum(&sb);
		memcpy(img + at, &sb, sizeof(sb));
	}
}

int fuzz_image_write(const char *path, const uint8_t *data, size_t size)
{
	uint8_t flags = size > 0 ? data[0] : 0;
	size_t blocks = size > 2 ? (size_t)(data[1] | data[2] << 8) : 0;
	/* one buffer and one file for every run: this machine is slow to hand
	 * out fresh pages, and a new 8 MiB file per run cost 80 ms */
	static uint8_t img[FUZZ_MAX_BLOCKS * FUZZ_BLOCK];
	static size_t last_len;
	size_t len, at = 3;
	int fd, ret = 0;

	if (blocks == 0)
		blocks = FUZZ_DEFAULT_BLOCKS;
	if (blocks > FUZZ_MAX_BLOCKS)
		blocks = FUZZ_MAX_BLOCKS;
	len = blocks * FUZZ_BLOCK;
	memset(img, 0, len);
	while (at + 6 <= size) {
		size_t off = le32(data + at), n = data[at + 4] | data[at + 5] << 8;

		at += 6;
		if (n > size - at)
			n = size - at;
		if (off < len)
			memcpy(img + off, data + at, n < len - off ? n : len - off);
		at += n;
	}
	if (flags & FUZZ_FIX_CRC)
		fix_crc(img, len);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (pwrite(fd, img, len, 0) != (ssize_t)len || (len != last_len && ftruncate(fd, len) != 0))
		ret = -EIO;
	last_len = len;
	close(fd);
	return ret;
}

static int put_run(uint8_t **buf, size_t *len, size_t *cap, const uint8_t *img, size_t off, size_t n)
{
	while (n > 0) {
		size_t chunk = n > 0xffff ? 0xffff : n;

		if (*len + 6 + chunk > *cap) {
			size_t ncap = (*cap + 6 + chunk) * 2;
			uint8_t *nb = realloc(*buf, ncap);

			if (!nb)
				return -1;
			*buf = nb;
			*cap = ncap;
		}
		uint8_t *p = *buf + *len;
		p[0] = off & 0xff, p[1] = off >> 8 & 0xff, p[2] = off >> 16 & 0xff, p[3] = off >> 24 & 0xff;
		p[4] = chunk & 0xff, p[5] = chunk >> 8;
		memcpy(p + 6, img + off, chunk);
		*len += 6 + chunk;
		off += chunk;
		n -= chunk;
	}
	return 0;
}

uint8_t *fuzz_image_encode(const uint8_t *img, size_t len, uint8_t flags, size_t *out_len)
{
	size_t blocks = len / FUZZ_BLOCK, cap = 4096, n = 3, i = 0;
	uint8_t *buf = malloc(cap);

	if (!buf || blocks == 0 || blocks > FUZZ_MAX_BLOCKS) {
		free(buf);
		return NULL;
	}
	buf[0] = flags;
	buf[1] = blocks & 0xff;
	buf[2] = blocks >> 8;
	while (i < len) {
		if (!img[i]) {
			i++;
			continue;
		}
		size_t start = i, zeros = 0;
		while (i < len && zeros < GAP) {
			zeros = img[i] ? 0 : zeros + 1;
			i++;
		}
		if (put_run(&buf, &n, &cap, img, start, i - start - zeros) != 0) {
			free(buf);
			return NULL;
		}
	}
	*out_len = n;
	return buf;
}

static char scratch[128];

static void remove_scratch(void)
{
	unlink(scratch);
}

const char *fuzz_scratch_path(const char *what)
{
	if (!scratch[0]) {
		snprintf(scratch, sizeof(scratch), "/dev/shm/pmfuse-fuzz-%s-%d.pool", what, (int)getpid());
		atexit(remove_scratch);
	}
	return scratch;
}
