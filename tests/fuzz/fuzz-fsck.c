/* fuzz-fsck.c -- libFuzzer harness: fsck.pmfuse's checker on a damaged pool
 * image. Check only, then repair, then check again: a repair that says it
 * left nothing unrepaired must leave a pool that the next check finds clean
 * and that opens; anything else aborts (a finding). Input: image.h. */
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "err.h"
#include "fs.h"
#include "image.h"
#include "walk.h"

static void report(void *arg, enum pm_check_level level, const char *msg)
{
	if (getenv("FUZZ_VERBOSE"))
		fprintf(stderr, "%s: %s\n", (const char *)arg, msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path = fuzz_scratch_path("fsck");
	struct pm_check_opts o = { .report = report };
	struct pm_check_result r1, r2, r3;
	struct pm_fs *fs;

	if (fuzz_image_write(path, data, size) != 0)
		abort();
	o.mode = PM_CHECK_ONLY;
	o.arg = "check";
	if (pm_check(path, &o, &r1) != 0)
		return 0; /* not a pool, or no valid superblock: refused */
	o.flags = PM_CHECK_NO_COW;
	pm_check(path, &o, &r1);
	o.flags = 0;
	o.mode = PM_CHECK_PREEN;
	o.arg = "preen";
	if (pm_check(path, &o, &r2) != 0)
		abort(); /* the check above could open it */
	o.mode = PM_CHECK_REPAIR;
	o.arg = "repair";
	if (pm_check(path, &o, &r2) != 0)
		abort();
	if (r2.left != 0)
		return 0; /* said so: a person must look at it */
	o.mode = PM_CHECK_ONLY;
	o.arg = "recheck";
	if (pm_check(path, &o, &r3) != 0 || r3.errors != 0) {
		fprintf(stderr, "fuzz-fsck: repair fixed %llu of %llu problems and left none, "
			"yet the next check finds %llu (%s)\n", (unsigned long long)r2.fixed,
			(unsigned long long)r2.errors, (unsigned long long)r3.errors, pm_errmsg());
		abort();
	}
	if (pm_fs_open(path, 0, &fs) != 0) {
		fprintf(stderr, "fuzz-fsck: a repaired pool does not open: %s\n", pm_errmsg());
		abort();
	}
	fuzz_walk(fs);
	fuzz_exercise(fs);
	pm_fs_close(&fs);
	return 0;
}
