/* counters-bench -- statistics counters per CPU (daemon/pool/counters.c)
 * against one shared counter, the way pmfuse counted before, in one run.
 *
 * Each thread, held on a CPU of its own, makes N rounds of what a flush
 * and a drain count (flushes, bytes flushed, drains): three adds. It
 * prints nanoseconds per round with 1 thread and with one thread per CPU
 * (at most 2), for both kinds, and the ratio shared / per CPU. Timings are
 * printed, never judged: the exit status is non-zero only when a sum is
 * wrong.
 *
 * Usage: counters-bench [--rounds N]
 */
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "counters.h"

enum { FLUSHES, DRAINS, FLUSHED, N };

static struct pm_counters per_cpu;
/* the old layout: the three counters side by side in one line */
static struct { uint64_t v[N]; } __attribute__((aligned(64))) shared;
static unsigned long rounds = 2000000;

struct job {
	int cpu;
	bool use_shared;
};

static void *run(void *arg)
{
	struct job *j = arg;
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(j->cpu, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	for (unsigned long i = 0; i < rounds; i++) {
		if (j->use_shared) {
			__atomic_add_fetch(&shared.v[FLUSHES], 1, __ATOMIC_RELAXED);
			__atomic_add_fetch(&shared.v[FLUSHED], 64, __ATOMIC_RELAXED);
			__atomic_add_fetch(&shared.v[DRAINS], 1, __ATOMIC_RELAXED);
		} else {
			uint64_t *line = pm_counters_here(&per_cpu); /* as media.c does */
			pm_counters_bump(line, FLUSHES, 1);
			pm_counters_bump(line, FLUSHED, 64);
			pm_counters_bump(line, DRAINS, 1);
		}
	}
	return NULL;
}

/* measure -- ns per round with threads on CPUs 0..threads-1 */
static double measure(unsigned threads, bool use_shared)
{
	pthread_t t[2];
	struct job j[2];
	struct timespec a, b;

	clock_gettime(CLOCK_MONOTONIC, &a);
	for (unsigned i = 0; i < threads; i++) {
		j[i] = (struct job){ (int)i, use_shared };
		if (pthread_create(&t[i], NULL, run, &j[i])) {
			perror("counters-bench: pthread_create");
			exit(1);
		}
	}
	for (unsigned i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	clock_gettime(CLOCK_MONOTONIC, &b);
	return ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / (double)rounds;
}

int main(int argc, char **argv)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned most = cpus >= 2 ? 2 : 1;
	uint64_t expect = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
			rounds = strtoul(argv[++i], NULL, 10);
		} else {
			fprintf(stderr, "usage: counters-bench [--rounds N]\n");
			return 2;
		}
	}
	if (pm_counters_init(&per_cpu, N)) {
		fprintf(stderr, "counters-bench: out of memory\n");
		return 1;
	}
	printf("counters-bench: %lu rounds of 3 adds per thread, %ld CPUs online\n\n", rounds, cpus);
	printf("| threads | one shared line, ns/round | per CPU, ns/round | shared / per CPU |\n");
	printf("| ---: | ---: | ---: | ---: |\n");
	for (unsigned n = 1; n <= most; n++) {
		double s = measure(n, true), p = measure(n, false);
		printf("| %u | %.1f | %.1f | %.2f |\n", n, s, p, s / p);
		expect += n * rounds;
	}
	if (pm_counters_get(&per_cpu, FLUSHES) != expect || shared.v[FLUSHES] != expect ||
	    pm_counters_get(&per_cpu, FLUSHED) != 64 * expect) {
		fprintf(stderr, "counters-bench: a sum is wrong\n");
		return 1;
	}
	pm_counters_fini(&per_cpu);
	return 0;
}
