/* counters.h -- statistics counters kept per CPU.
 *
 * Why: the media's flush and drain counts, and the file system's written
 * and dirty bytes, change on every request, from the threads of every
 * CPU. In one shared cache line each change took that line from the CPU
 * that changed it last (and with it whatever else the line held: the
 * media's function pointers, read at every flush). Here each CPU adds to
 * a line of its own; a reader sums the lines. A sum read while others add
 * is a moment's value, as a single counter's would be. */
#ifndef PM_COUNTERS_H
#define PM_COUNTERS_H

#include <stdint.h>

struct pm_counters {
	unsigned lines;  /* one per CPU slot */
	unsigned stride; /* uint64_t per line: n rounded up to a cache line */
	uint64_t *v;
};

/* n counters, all 0; -ENOMEM or 0 */
int pm_counters_init(struct pm_counters *c, unsigned n);
void pm_counters_fini(struct pm_counters *c);
/* the sum of counter i over every CPU */
uint64_t pm_counters_get(const struct pm_counters *c, unsigned i);
/* add delta (two's complement: a subtraction too) to counter i */
void pm_counters_add(struct pm_counters *c, unsigned i, uint64_t delta);
/* this CPU's line, for several adds in a row with pm_counters_bump() */
uint64_t *pm_counters_here(struct pm_counters *c);

static inline void pm_counters_bump(uint64_t *line, unsigned i, uint64_t delta)
{
	/* atomic still: a thread may move after pm_counters_here(), and
	 * threads of one CPU share its line; the line is this CPU's, so it
	 * stays in this CPU's cache */
	__atomic_add_fetch(&line[i], delta, __ATOMIC_RELAXED);
}

#endif
