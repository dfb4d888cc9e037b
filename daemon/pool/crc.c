/* crc.c -- CRC-32C (Castagnoli): the crc32 instruction of SSE4.2 where the
 * CPU has it, a table elsewhere.
 *
 * Why not the table alone: every undo record of the journal is summed
 * when it is written (journal.c), so the sum is on the path of every
 * metadata change. Byte by byte through the table it took 6 % of the
 * daemon's time in W7 (create, write 4 KiB, fsync, two processes); the
 * instruction sums 8 bytes in the time the table takes for one. */
#include <pthread.h>
#include <string.h>

#include "crc.h"

#if defined(__x86_64__)
#include <nmmintrin.h>
#define HAVE_CRC_INSN 1
#else
#define HAVE_CRC_INSN 0
#endif

static uint32_t table[256];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void table_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
		table[i] = c;
	}
}

uint32_t pm_crc32c_portable(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	pthread_once(&table_once, table_init);
	crc = ~crc;
	while (len--)
		crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

#if HAVE_CRC_INSN
__attribute__((target("sse4.2")))
static uint32_t crc_insn(uint32_t crc, const uint8_t *p, size_t len)
{
	uint64_t c = ~crc;

	for (; len && ((uintptr_t)p & 7); len--)
		c = _mm_crc32_u8((uint32_t)c, *p++);
	for (; len >= 8; len -= 8, p += 8) {
		uint64_t v;
		memcpy(&v, p, sizeof(v));
		c = _mm_crc32_u64(c, v);
	}
	for (; len; len--)
		c = _mm_crc32_u8((uint32_t)c, *p++);
	return ~(uint32_t)c;
}
#endif

bool pm_crc32c_uses_insn(void)
{
#if HAVE_CRC_INSN
	static int has = -1; /* asked once: the answer never changes */
	int h = __atomic_load_n(&has, __ATOMIC_RELAXED);

	if (h < 0) {
		h = __builtin_cpu_supports("sse4.2") ? 1 : 0;
		__atomic_store_n(&has, h, __ATOMIC_RELAXED);
	}
	return h;
#else
	return false;
#endif
}

uint32_t pm_crc32c(uint32_t crc, const void *buf, size_t len)
{
#if HAVE_CRC_INSN
	if (pm_crc32c_uses_insn())
		return crc_insn(crc, buf, len);
#endif
	return pm_crc32c_portable(crc, buf, len);
}
