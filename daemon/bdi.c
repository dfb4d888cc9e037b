/* bdi.c -- lift the kernel's per-mount limits that hold a FUSE mount back.
 *
 * The kernel gives every FUSE mount's backing device (/sys/class/bdi/0:N)
 * a strict share of 1 % of the dirty page cache, because an untrusted
 * daemon could otherwise pin memory: writers are throttled as soon as a few
 * dozen MiB are dirty, long before a local filesystem would be. pmfuse
 * answers writes from memory and runs as the pool's owner, so as root it
 * lifts that share (max_ratio 100, strict_limit 0) and raises read-ahead to
 * four full requests over io_uring, one over /dev/fuse (4 or 1 MiB, bdi.h).
 * Where the files are not writable (a mount by an ordinary user) the
 * kernel's defaults stay, with a note. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bdi.h"

/* unescape -- mountinfo writes space, tab, newline, backslash as \ooo */
static void unescape(char *s)
{
	char *o = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*o++ = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 | (s[3] - '0'));
			s += 3;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
}

/* mount_dev -- "major:minor" of the newest mount on path */
static int mount_dev(const char *path, char *dev, size_t len)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[4096];
	int found = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char mm[64], mp[PATH_MAX];

		if (sscanf(line, "%*u %*u %63s %*s %4095s", mm, mp) != 2)
			continue;
		unescape(mp);
		if (strcmp(mp, path) == 0 && strlen(mm) < len) {
			strcpy(dev, mm);
			found = 0; /* keep reading: the last one is on top */
		}
	}
	fclose(f);
	return found;
}

static int write_knob(const char *dev, const char *knob, const char *value)
{
	char path[128];
	int fd, ret = 0;
	size_t len = strlen(value);

	snprintf(path, sizeof(path), "/sys/class/bdi/%s/%s", dev, knob);
	/* no O_CREAT (as fopen "w" has): sysfs answers a missing knob with
	 * EACCES then, not ENOENT (seen on Linux 6.1, which lacks strict_limit) */
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, value, len) != (ssize_t)len)
		ret = errno ? -errno : -EIO;
	close(fd);
	return ret;
}

int pm_bdi_tune(const char *mountpoint, unsigned read_ahead_kb)
{
	static const struct { const char *knob, *value; } knobs[] = {
		{ "max_ratio", "100" },
		{ "strict_limit", "0" },
	};
	char dev[64];
	int ret = mount_dev(mountpoint, dev, sizeof(dev));

	for (size_t i = 0; ret == 0 && i < sizeof(knobs) / sizeof(knobs[0]); i++) {
		ret = write_knob(dev, knobs[i].knob, knobs[i].value);
		if (ret == -ENOENT && strcmp(knobs[i].knob, "strict_limit") == 0)
			ret = 0; /* kernels before 6.2 have no such knob */
	}
	return ret ? ret : pm_bdi_read_ahead(mountpoint, read_ahead_kb);
}

int pm_bdi_read_ahead(const char *mountpoint, unsigned read_ahead_kb)
{
	char dev[64], kb[16];
	int ret = mount_dev(mountpoint, dev, sizeof(dev));

	snprintf(kb, sizeof(kb), "%u", read_ahead_kb);
	return ret ? ret : write_knob(dev, "read_ahead_kb", kb);
}
