/* image.h -- the fuzzers' pool images: a compact encoding of a pool file.
 *
 * A pool is mostly zeros (8 MiB for an empty one), so a fuzzer that mutated
 * raw images would spend its time on bytes nothing reads. An input here is
 *   byte 0      flags: FUZZ_FIX_CRC recomputes both superblock checksums
 *               after decoding, so that mutations of the superblock get
 *               past its checksum
 *   bytes 1-2   pool size in 4 KiB blocks, little-endian (0: 2048 = 8 MiB;
 *               at most FUZZ_MAX_BLOCKS)
 *   then runs   u32 offset, u16 length (little-endian), length bytes
 * and everything not covered by a run is zero. Any input decodes: runs are
 * cut at the end of the input and of the pool. The seeds (seeds.c) are real
 * pools encoded this way. */
#ifndef FUZZ_IMAGE_H
#define FUZZ_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#define FUZZ_FIX_CRC 0x01u
#define FUZZ_BLOCK 4096u
#define FUZZ_DEFAULT_BLOCKS 2048u
#define FUZZ_MAX_BLOCKS 4096u /* 16 MiB */

/* fuzz_image_write -- decode data into the file at path (replacing what it
 * held); returns 0, or -errno when the file cannot be written */
int fuzz_image_write(const char *path, const uint8_t *data, size_t size);

/* fuzz_image_encode -- the encoding of img (len bytes, a multiple of 4 KiB):
 * runs of non-zero bytes, merged across short gaps of zeros. Returns a
 * malloc'ed buffer and its length in *out_len, or NULL. */
uint8_t *fuzz_image_encode(const uint8_t *img, size_t len, uint8_t flags, size_t *out_len);

/* fuzz_scratch_path -- a per-process file name in /dev/shm, removed at exit */
const char *fuzz_scratch_path(const char *what);

#endif
