/* test-clients.c -- the count of processes sending requests (daemon/clients.c),
 * which decides whether a request thread polls and where uring.c's second
 * thread of a queue runs. Times are given (pm_clients_note_at), so that a
 * slow machine cannot change an answer. */
#include <pthread.h>

#include "clients.h"
#include "unit.h"

#define T0 1000000u /* µs: any time well after 0 */

static void test_counts_distinct_processes(void)
{
	struct pm_clients c = PM_CLIENTS_INIT;

	g_assert_cmpuint(pm_clients_note_at(&c, 100, T0), ==, 1);
	g_assert_cmpuint(pm_clients_note_at(&c, 100, T0 + 10), ==, 1);
	g_assert_cmpuint(pm_clients_note_at(&c, 200, T0 + 20), ==, 2);
	g_assert_cmpuint(pm_clients_note_at(&c, 100, T0 + 30), ==, 2);
	g_assert_cmpuint(pm_clients_note_at(&c, 300, T0 + 40), ==, 3);
}

static void test_kernel_writeback_is_not_a_client(void)
{
	struct pm_clients c = PM_CLIENTS_INIT;

	g_assert_cmpuint(pm_clients_note_at(&c, 0, T0), ==, 0);
	g_assert_cmpuint(pm_clients_note_at(&c, 100, T0 + 1), ==, 1);
	g_assert_cmpuint(pm_clients_note_at(&c, 0, T0 + 2), ==, 1);
	g_assert_cmpuint(pm_clients_note_at(&c, 0, T0 + 3), ==, 1);
}

static void test_a_client_counts_for_2ms(void)
{
	struct pm_clients c = PM_CLIENTS_INIT;

	pm_clients_note_at(&c, 100, T0);
	g_assert_cmpuint(pm_clients_note_at(&c, 200, T0 + 1999), ==, 2);
	g_assert_cmpuint(pm_clients_note_at(&c, 200, T0 + 2000), ==, 1);
	/* and a time noted by another thread just after this one's clock
	 * read still counts */
	pm_clients_note_at(&c, 300, T0 + 5000);
	g_assert_cmpuint(pm_clients_note_at(&c, 400, T0 + 4999), ==, 2);
}

/* the time of a busy client is rewritten only every 250 µs, but it never
 * drops out while it keeps sending */
static void test_a_busy_client_stays_counted(void)
{
	struct pm_clients c = PM_CLIENTS_INIT;

	for (uint64_t t = T0; t < T0 + 10000; t += 100)
		pm_clients_note_at(&c, 100, t);
	g_assert_cmpuint(pm_clients_note_at(&c, 200, T0 + 10000), ==, 2);
	g_assert_cmpuint(pm_clients_note_at(&c, 200, T0 + 11800), ==, 2);
	g_assert_cmpuint(pm_clients_note_at(&c, 200, T0 + 12000), ==, 1);
}

/* more processes than slots: the oldest slot goes to the newcomer */
static void test_more_processes_than_slots(void)
{
	struct pm_clients c = PM_CLIENTS_INIT;

	for (uint32_t p = 1; p <= PM_CLIENT_SLOTS; p++)
		g_assert_cmpuint(pm_clients_note_at(&c, p, T0 + p), ==, p);
	g_assert_cmpuint(pm_clients_note_at(&c, 50, T0 + 100), ==, PM_CLIENT_SLOTS + 1);
	/* pid 1 lost its slot: it is new again, and takes pid 2's */
	g_assert_cmpuint(pm_clients_note_at(&c, 1, T0 + 101), ==, PM_CLIENT_SLOTS + 1);
	/* once the others are quiet, only the two that spoke since count */
	g_assert_cmpuint(pm_clients_note_at(&c, 50, T0 + 2050), ==, 2);
}

/* pids equal in their low 22 bits share a slot: one client fewer, never
 * a crash nor an empty slot taken for a client */
static void test_large_pids(void)
{
	struct pm_clients c = PM_CLIENTS_INIT;

	g_assert_cmpuint(pm_clients_note_at(&c, 5, T0), ==, 1);
	g_assert_cmpuint(pm_clients_note_at(&c, 5 + (1u << 22), T0 + 1), ==, 1);
	g_assert_cmpuint(pm_clients_note_at(&c, 1u << 22, T0 + 2), ==, 2);
	g_assert_cmpuint(pm_clients_note_at(&c, UINT32_MAX, T0 + 3), ==, 3);
}

struct noter {
	struct pm_clients *c;
	uint32_t pid;
	unsigned max;
};

static void *note_many(void *arg)
{
	struct noter *n = arg;

	for (unsigned i = 0; i < 200000; i++) {
		unsigned a = pm_clients_note(n->c, n->pid + i % 3);
		if (a > n->max)
			n->max = a;
	}
	return NULL;
}

/* four threads at once, as the request threads call it: no count beyond
 * what can be, and afterwards every process that spoke is counted */
static void test_threads_at_once(void)
{
	struct pm_clients c = PM_CLIENTS_INIT;
	struct noter n[4];
	pthread_t t[4];

	for (unsigned i = 0; i < 4; i++) {
		n[i] = (struct noter){ &c, 1000 + 10 * i, 0 };
		g_assert_cmpint(pthread_create(&t[i], NULL, note_many, &n[i]), ==, 0);
	}
	for (unsigned i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		g_assert_cmpuint(n[i].max, >=, 1);
		g_assert_cmpuint(n[i].max, <=, PM_CLIENT_SLOTS + 1);
	}
	/* the 12 pids fight over 8 slots: every slot is taken, by one of
	 * them (a torn or mixed word would show another pid or none) */
	for (unsigned i = 0; i < PM_CLIENT_SLOTS; i++) {
		uint32_t pid = (uint32_t)(c.slot[i] & ((1u << 22) - 1));
		g_assert_true(pid >= 1000 && pid < 1040 && pid % 10 < 3);
	}
}

int main(int argc, char **argv)
{
	unit_init(&argc, &argv);
	unit_add("/clients/counts-distinct-processes", test_counts_distinct_processes);
	unit_add("/clients/kernel-writeback-is-not-a-client", test_kernel_writeback_is_not_a_client);
	unit_add("/clients/a-client-counts-for-2ms", test_a_client_counts_for_2ms);
	unit_add("/clients/a-busy-client-stays-counted", test_a_busy_client_stays_counted);
	unit_add("/clients/more-processes-than-slots", test_more_processes_than_slots);
	unit_add("/clients/large-pids", test_large_pids);
	unit_add("/clients/threads-at-once", test_threads_at_once);
	return g_test_run();
}
