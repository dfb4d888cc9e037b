/* test-counters.c -- statistics counters kept per CPU (counters.c) */
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include "counters.h"
#include "unit.h"

#define THREADS 4
#define ADDS 100000

struct worker {
	struct pm_counters *c;
	int cpu; /* -1: wherever the scheduler puts it */
};

static void *add_many(void *arg)
{
	struct worker *w = arg;

	if (w->cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(w->cpu, &set);
		g_assert_cmpint(pthread_setaffinity_np(pthread_self(), sizeof(set), &set), ==, 0);
	}
	for (unsigned i = 0; i < ADDS; i++) {
		pm_counters_add(w->c, 0, 1);
		pm_counters_bump(pm_counters_here(w->c), 2, 3);
		pm_counters_add(w->c, 1, 5);
		pm_counters_add(w->c, 1, (uint64_t)-5); /* a gauge: up and down */
	}
	return NULL;
}

/* sums are exact under threads on every CPU, and counters keep apart */
static void test_sums_under_threads(void)
{
	struct pm_counters c;
	struct worker w[THREADS];
	pthread_t t[THREADS];
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	g_assert_cmpint(pm_counters_init(&c, 3), ==, 0);
	for (unsigned i = 0; i < THREADS; i++) {
		w[i] = (struct worker){ &c, cpus > 1 ? (int)(i % (unsigned)cpus) : -1 };
		g_assert_cmpint(pthread_create(&t[i], NULL, add_many, &w[i]), ==, 0);
	}
	for (unsigned i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	g_assert_cmpuint(pm_counters_get(&c, 0), ==, (uint64_t)THREADS * ADDS);
	g_assert_cmpuint(pm_counters_get(&c, 1), ==, 0);
	g_assert_cmpuint(pm_counters_get(&c, 2), ==, (uint64_t)THREADS * ADDS * 3);
	pm_counters_fini(&c);
}

/* add_on -- add_many() in a thread held on cpu */
static void add_on(struct pm_counters *c, int cpu)
{
	struct worker w = { c, cpu };
	pthread_t t;

	g_assert_cmpint(pthread_create(&t, NULL, add_many, &w), ==, 0);
	pthread_join(t, NULL);
}

/* what the counters are for: two CPUs add to two cache lines. Every
 * counter's line holds no other CPU's counter */
static void test_each_cpu_its_own_line(void)
{
	struct pm_counters c;
	unsigned busy = 0;

	g_assert_cmpint(pm_counters_init(&c, 3), ==, 0);
	g_assert_cmpuint(c.stride * sizeof(uint64_t) % 64, ==, 0);
	g_assert_cmpuint((uintptr_t)c.v % 64, ==, 0);
	g_assert_cmpuint(c.lines, ==, MIN((unsigned)sysconf(_SC_NPROCESSORS_CONF), 256u));
	/* a machine with one CPU online could not show the split: it fails
	 * here rather than pass unchecked (this one and the CI's have two) */
	g_assert_cmpint(sysconf(_SC_NPROCESSORS_ONLN), >=, 2);
	add_on(&c, 0);
	add_on(&c, 1);
	for (unsigned l = 0; l < c.lines; l++)
		busy += c.v[(size_t)l * c.stride] != 0;
	g_assert_cmpuint(busy, ==, 2);
	g_assert_cmpuint(pm_counters_get(&c, 0), ==, 2 * ADDS);
	pm_counters_fini(&c);
}

int main(int argc, char **argv)
{
	unit_init(&argc, &argv);
	unit_add("/counters/sums-under-threads", test_sums_under_threads);
	unit_add("/counters/each-cpu-its-own-line", test_each_cpu_its_own_line);
	return g_test_run();
}
