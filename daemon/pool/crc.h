/* crc.h -- CRC-32C (Castagnoli), used for superblock and journal checksums */
#ifndef PM_CRC_H
#define PM_CRC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* the sum of len bytes, continuing crc (0 to start) */
uint32_t pm_crc32c(uint32_t crc, const void *buf, size_t len);

/* the same sum through a table, on any CPU: what pm_crc32c() gives where
 * the CPU has no crc32 instruction, and the tests' reference */
uint32_t pm_crc32c_portable(uint32_t crc, const void *buf, size_t len);

/* whether pm_crc32c() uses the CPU's crc32 instruction (x86-64, SSE4.2) */
bool pm_crc32c_uses_insn(void);

#endif
