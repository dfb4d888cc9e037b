/* policy.c -- parsing and formatting sync policies */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "policy.h"

static const char *const names[PM_SYNC_KINDS] = { "fsync", "periodic", "close", "immediate", "never" };

const char *pm_sync_kind_name(uint32_t kind)
{
	return kind < PM_SYNC_KINDS ? names[kind] : "unknown";
}

static int parse_duration(const char *s, size_t len, uint32_t *ms)
{
	uint64_t v = 0, mult;
	size_t i = 0;

	while (i < len && s[i] >= '0' && s[i] <= '9') {
		v = v * 10 + (uint64_t)(s[i] - '0');
		if (v > PM_SYNC_PERIOD_MAX_MS)
			return -EINVAL;
		i++;
	}
	if (i == 0)
		return -EINVAL;
	if (len - i == 2 && memcmp(s + i, "ms", 2) == 0)
		mult = 1;
	else if (len - i == 1 && s[i] == 's')
		mult = 1000;
	else
		return -EINVAL;
	v *= mult;
	if (v < PM_SYNC_PERIOD_MIN_MS || v > PM_SYNC_PERIOD_MAX_MS)
		return -EINVAL;
	*ms = (uint32_t)v;
	return 0;
}

int pm_sync_parse(const char *s, size_t len, struct pm_sync *out)
{
	static const char periodic[] = "periodic=";
	struct pm_sync p = { 0, 0 };

	if (len > sizeof(periodic) - 1 && memcmp(s, periodic, sizeof(periodic) - 1) == 0) {
		if (parse_duration(s + sizeof(periodic) - 1, len - (sizeof(periodic) - 1), &p.period_ms))
			return -EINVAL;
		p.kind = PM_SYNC_PERIODIC;
		*out = p;
		return 0;
	}
	for (uint32_t k = 0; k < PM_SYNC_KINDS; k++) {
		if (k != PM_SYNC_PERIODIC && strlen(names[k]) == len && memcmp(s, names[k], len) == 0) {
			p.kind = k;
			*out = p;
			return 0;
		}
	}
	return -EINVAL;
}

int pm_sync_format(const struct pm_sync *p, char *buf, size_t size)
{
	int n;

	if (p->kind == PM_SYNC_PERIODIC) {
		if (p->period_ms % 1000 == 0)
			n = snprintf(buf, size, "periodic=%us", p->period_ms / 1000);
		else
			n = snprintf(buf, size, "periodic=%ums", p->period_ms);
	} else {
		n = snprintf(buf, size, "%s", pm_sync_kind_name(p->kind));
	}
	return n < 0 || (size_t)n >= size ? -ERANGE : n;
}
