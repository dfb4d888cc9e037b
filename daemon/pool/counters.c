/* counters.c -- statistics counters kept per CPU (counters.h) */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "counters.h"

#define LINE 64u
#define MAX_LINES 256u /* more CPUs share lines: still correct */

int pm_counters_init(struct pm_counters *c, unsigned n)
{
	long cpus = sysconf(_SC_NPROCESSORS_CONF);
	size_t per = LINE / sizeof(uint64_t);

	c->lines = cpus < 1 ? 1 : cpus > (long)MAX_LINES ? MAX_LINES : (unsigned)cpus;
	c->stride = (unsigned)((n + per - 1) / per * per);
	c->v = aligned_alloc(LINE, (size_t)c->lines * c->stride * sizeof(uint64_t));
	if (!c->v)
		return -ENOMEM;
	memset(c->v, 0, (size_t)c->lines * c->stride * sizeof(uint64_t));
	return 0;
}

void pm_counters_fini(struct pm_counters *c)
{
	free(c->v);
	c->v = NULL;
}

uint64_t *pm_counters_here(struct pm_counters *c)
{
	int cpu = sched_getcpu(); /* glibc reads it from the thread's rseq area: 3 ns here */
	unsigned line = cpu < 0 ? 0 : (unsigned)cpu;

	if (line >= c->lines) /* no division on the common path */
		line %= c->lines;
	return &c->v[(size_t)line * c->stride];
}

void pm_counters_add(struct pm_counters *c, unsigned i, uint64_t delta)
{
	pm_counters_bump(pm_counters_here(c), i, delta);
}

uint64_t pm_counters_get(const struct pm_counters *c, unsigned i)
{
	uint64_t sum = 0;

	for (unsigned l = 0; l < c->lines; l++)
		sum += __atomic_load_n(&c->v[(size_t)l * c->stride + i], __ATOMIC_RELAXED);
	return sum;
}
