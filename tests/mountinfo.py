"""mountinfo.py -- what is mounted where (standard library only), shared by
the mount, crash and bench tests: unlike os.path.ismount it also sees a FUSE
mount whose daemon died (stat on it fails with ENOTCONN)."""

import os
import re
import subprocess
import time


# the daemon's lines on how requests reach it (daemon/uring.c, main.c): said
# once per mount, whichever way, and accepted by every test that judges its
# stderr
TRANSPORT_LINES = (r"^pmfuse: requests come over io_uring: \d+ queues, one per CPU$",
                   r"^pmfuse: requests come over /dev/fuse only: ",
                   r"^pmfuse: switched on the fuse module's enable_uring ",
                   # test_uring switched the kernel's switch off as this mount started
                   r"^pmfuse: io_uring queue \d+: Operation not supported; requests stay on /dev/fuse$")


def _unescape(s):
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), s)


def mount_entry(path):
    """mount_entry -- the /proc/self/mountinfo fields of the mount on path, or None."""
    path = os.path.realpath(path)
    found = None
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        for line in f:
            fields = line.split()
            if _unescape(fields[4]) == path:
                sep = fields.index("-")
                found = {"options": fields[5], "fstype": fields[sep + 1],
                         "source": _unescape(fields[sep + 2]),
                         "super_options": fields[sep + 3]}
    return found


def is_mounted(path):
    return mount_entry(path) is not None


def force_unmount(path):
    """force_unmount -- best effort: lazy-unmount whatever is mounted on path (a dead mount too)."""
    for _ in range(8):
        if not is_mounted(path):
            return
        subprocess.run(["fusermount3", "-u", "-z", path], capture_output=True, timeout=30)
        if is_mounted(path):
            subprocess.run(["umount", "-l", path], capture_output=True, timeout=30)


def fusermount_u(path, timeout):
    """fusermount_u -- fusermount3 -u path; returns the CompletedProcess. A file just
    closed may still be pinned for a moment (its release in flight to a slow daemon:
    seen in the ASan build and on a loaded machine): EBUSY is retried for up to 10 s."""
    for _ in range(20):
        r = subprocess.run(["fusermount3", "-u", path], capture_output=True, text=True,
                           timeout=timeout)
        if r.returncode == 0 or "busy" not in r.stderr:
            break
        time.sleep(0.5)
    return r
