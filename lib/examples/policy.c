/* policy.c -- the libpmfuse(3) example: make what is created in DIR
 * durable on each write, and print the mount's counters. Built against the
 * installed pmfuse.pc by tests/lib/test_installed.py. */
#include <inttypes.h>
#include <stdio.h>
#include <pmfuse.h>

int main(int argc, char *argv[])
{
	struct pmfuse_stats st = { .size = sizeof(st) };
	char buf[PMFUSE_SYNC_STRMAX];

	if (argc != 3) {
		fprintf(stderr, "usage: %s MOUNTPOINT DIR\n", argv[0]);
		return 2;
	}
	if (pmfuse_sync_set_str(argv[2], "immediate") < 0 ||
	    pmfuse_sync_get_str(argv[2], buf, sizeof(buf)) < 0 || pmfuse_stats_get(argv[1], &st) < 0) {
		fprintf(stderr, "%s\n", pmfuse_errmsg());
		return 1;
	}
	printf("%s: %s\n", argv[2], buf);
	printf("%" PRIu64 " of %" PRIu64 " bytes persisted, %" PRIu64 " dirty, granularity %s\n",
	       st.bytes_persisted, st.bytes_written, st.dirty_bytes, st.granularity);
	return 0;
}
