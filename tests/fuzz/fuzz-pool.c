/* fuzz-pool.c -- libFuzzer harness: open (and so recover) a pool image,
 * read everything in it, change a little, close it cleanly and open it once
 * more. A damaged pool may be refused with an error; it may never crash the
 * engine, leak, or trip a sanitizer. Input: image.h. */
#include <stdint.h>
#include <stdlib.h>

#include "fs.h"
#include "image.h"
#include "walk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path = fuzz_scratch_path("pool");
	struct pm_fs *fs;

	if (fuzz_image_write(path, data, size) != 0)
		abort(); /* /dev/shm full: not the engine's fault, but stop */
	if (pm_fs_open(path, 0, &fs) != 0)
		return 0;
	fuzz_walk(fs);
	fuzz_exercise(fs);
	pm_fs_close(&fs);
	/* what a clean close left must open again, and read */
	if (pm_fs_open(path, PM_FS_RDONLY, &fs) == 0) {
		fuzz_walk(fs);
		pm_fs_close(&fs);
	}
	return 0;
}
