/* crc.h -- CRC-32C (Castagnoli), used for superblock and journal checksums */
#ifndef PM_CRC_H
#define PM_CRC_H

#include <stddef.h>
#include <stdint.h>

uint32_t pm_crc32c(uint32_t crc, const void *buf, size_t len);

#endif
