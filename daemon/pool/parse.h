/* parse.h -- parsing of user-given values (sizes) shared by the tools */
#ifndef PM_PARSE_H
#define PM_PARSE_H

#include <stdint.h>

/* pm_parse_size -- "4096", "64K", "512M", "1G", "2T" (also KiB/MiB/GiB/TiB;
 * powers of 1024) into bytes; -EINVAL on anything else or overflow */
int pm_parse_size(const char *s, uint64_t *out);

/* pm_format_size -- "1.0 GiB" style text */
void pm_format_size(uint64_t bytes, char *buf, unsigned len);

#endif
