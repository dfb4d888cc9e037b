"""crashlib.py -- shared helpers of the crash tests: binaries, pools, daemons, data, syscalls.

Used by workload.py, verify.py, campaign and systematic.  Runs under the
system interpreter (/usr/bin/python3) and needs nothing outside the
standard library.

Environment (set by ``meson test``; when unset, the binaries of the build
directory next to the source tree, ``build/``, are used):
  PMFUSE        the daemon
  MKFS_PMFUSE   mkfs.pmfuse
  FSCK_PMFUSE   fsck.pmfuse
"""

import ctypes
import json
import os
import queue
import random
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid

import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from mountinfo import TRANSPORT_LINES, force_unmount, fusermount_u, is_mounted  # noqa: E402,F401

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_ROOT = os.path.dirname(os.path.dirname(HERE))
POOL_DIR = "/dev/shm"
MOUNTED_PREFIX = "pmfuse: mounted "
EVENTS_RE = re.compile(r"^pmfuse: crash emulation: (\d+) flush/drain events")
UNCLEAN_RE = re.compile(r"^pmfuse: .* was not unmounted cleanly: (\d+) transactions rolled back, "
                        r"(\d+) orphan inodes freed")
START_TIMEOUT = 20.0
STOP_TIMEOUT = 20.0

# fsck(8) exit codes, as fsck.pmfuse uses them
FSCK_OK, FSCK_FIXED, FSCK_REBOOT, FSCK_UNCORRECTED, FSCK_OPERATIONAL = 0, 1, 2, 4, 8


class Failure(Exception):
    """Failure -- the test infrastructure cannot go on (missing binary, a mount that does not come up)."""


# --- binaries -----------------------------------------------------------------------

_DEFAULTS = {
    "PMFUSE": "build/daemon/pmfuse",
    "MKFS_PMFUSE": "build/tools/mkfs.pmfuse",
    "FSCK_PMFUSE": "build/tools/fsck.pmfuse",
}


def binary(var):
    """binary -- absolute path of the executable named by $var; Failure if it is missing.

    A missing binary is a failure, never a reason to skip."""
    path = os.environ.get(var) or os.path.join(SOURCE_ROOT, _DEFAULTS[var])
    if not os.path.isfile(path) or not os.access(path, os.X_OK):
        raise Failure(f"${var}: {path} is not an executable file (build pmfuse first, "
                      f"or set {var})")
    return os.path.abspath(path)


def check_binaries(fsck=True):
    """check_binaries -- all binaries the crash tests need exist (raises Failure)."""
    binary("PMFUSE")
    binary("MKFS_PMFUSE")
    if fsck:
        binary("FSCK_PMFUSE")


# --- pools ----------------------------------------------------------------------------


def shm_path(tag, suffix=".pool"):
    """shm_path -- a fresh unique path under /dev/shm."""
    return os.path.join(POOL_DIR, f"pmfuse-crash-{tag}-{os.getpid()}-{uuid.uuid4().hex[:8]}{suffix}")


def mkfs(pool, size="32M", inodes=None):
    cmd = [binary("MKFS_PMFUSE"), "--force", "--size", str(size)]
    if inodes:
        cmd += ["--inodes", str(inodes)]
    r = subprocess.run(cmd + [pool], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise Failure(f"mkfs.pmfuse {pool} failed ({r.returncode}): {r.stderr.strip()}")


def fsck(pool, timeout=120):
    """fsck -- fsck.pmfuse -n POOL: (exit status, output).  A negative status is a signal."""
    r = subprocess.run([binary("FSCK_PMFUSE"), "-n", pool], capture_output=True, text=True,
                       timeout=timeout, errors="backslashreplace")
    return r.returncode, (r.stdout + r.stderr).strip()


def copy_pool(src, dst):
    shutil.copyfile(src, dst)


def remove(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


# --- mounts ---------------------------------------------------------------------------


def describe_status(rc):
    if rc is None:
        return "still running"
    if rc < 0:
        try:
            return f"killed by {signal.Signals(-rc).name}"
        except ValueError:
            return f"killed by signal {-rc}"
    return f"exit status {rc}"


class Daemon:
    """Daemon -- ``pmfuse -f [-o OPTS] POOL DIR`` with its stderr read by a thread.

    Daemon(pool, mnt, opts).start() returns True once the mounted line came
    and the directory is a mount point, False if the daemon exited first
    (a crash_at point inside the mount itself); anything else raises
    Failure.  kill() is SIGKILL; unmount() is a clean fusermount3 -u."""

    def __init__(self, pool, mnt, opts=None):
        self.pool, self.mnt, self.opts = pool, mnt, opts
        self.lines = []
        self.events = queue.Queue()
        self.proc = None
        self.thread = None

    def command(self):
        cmd = [binary("PMFUSE"), "-f"]
        if self.opts:
            cmd += ["-o", self.opts]
        return cmd + [self.pool, self.mnt]

    def _read(self):
        for line in self.proc.stderr:
            line = line.rstrip("\n")
            self.lines.append(line)
            self.events.put(line)
        self.events.put(None)

    def start(self, timeout=START_TIMEOUT):
        if is_mounted(self.mnt):
            raise Failure(f"{self.mnt} is already a mount point")
        self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                     errors="backslashreplace", start_new_session=True)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.kill()
                raise Failure(f"no mounted line within {timeout:.0f} s: {' '.join(self.command())}"
                              f"\n{self.output()}")
            try:
                line = self.events.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                self.wait(STOP_TIMEOUT)
                force_unmount(self.mnt)
                return False
            if line.startswith(MOUNTED_PREFIX):
                if is_mounted(self.mnt):
                    return True
                # the daemon may be dying right now (crash point at the mount's end)
                if self.wait(2) is not None:
                    force_unmount(self.mnt)
                    return False
                self.kill()
                raise Failure(f"daemon printed '{line}' but {self.mnt} is not mounted")

    @property
    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    @property
    def returncode(self):
        return self.proc.poll() if self.proc else None

    def wait(self, timeout):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self, unmount=True):
        """kill -- SIGKILL (a power failure under crash emulation), then drop the dead mount
        (unless unmount is False: a process still working in the mount must see it dead,
        not the directory underneath)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
        if self.proc is not None:
            self.proc.wait()
        if unmount:
            force_unmount(self.mnt)
            self.finish()

    def finish(self):
        if self.thread is not None:
            self.thread.join(timeout=5)

    def unmount(self):
        """unmount -- fusermount3 -u and wait: (exit status or None, problems list)."""
        problems = []
        if self.proc.poll() is not None:
            problems.append(f"daemon died while mounted ({describe_status(self.proc.returncode)})")
        else:
            r = fusermount_u(self.mnt, STOP_TIMEOUT)
            if r.returncode != 0:
                problems.append(f"fusermount3 -u failed: {r.stderr.strip()}")
        rc = self.wait(STOP_TIMEOUT)
        if rc is None:
            problems.append("daemon still running after unmount")
            self.proc.kill()
            rc = self.proc.wait()
        force_unmount(self.mnt)
        self.finish()
        return rc, problems

    def event_count(self):
        """event_count -- N of the 'crash emulation: N flush/drain events' line, or None."""
        for l in self.lines:
            m = EVENTS_RE.match(l)
            if m:
                return int(m.group(1))
        return None

    def unexpected_lines(self, allowed=()):
        """unexpected_lines -- stderr lines other than the mounted line, the unclean-mount
        line, the event count and patterns in allowed."""
        pats = [re.compile(p) for p in (*allowed, *TRANSPORT_LINES)]
        return [l for l in self.lines
                if not l.startswith(MOUNTED_PREFIX) and not UNCLEAN_RE.match(l)
                and not EVENTS_RE.match(l) and not any(p.search(l) for p in pats)]

    def output(self):
        return "daemon stderr:\n  " + "\n  ".join(self.lines) if self.lines else "daemon stderr: (empty)"


def make_mountpoint(tag):
    return tempfile.mkdtemp(prefix=f"pmfuse-crash-{tag}-")


# --- data -----------------------------------------------------------------------------


def gen(seed, n):
    """gen -- n deterministic pseudo-random bytes for seed (the workload logs only the seed)."""
    return random.Random(seed).randbytes(n)


def read_all(path):
    with open(path, "rb", buffering=0) as f:
        chunks = []
        while True:
            b = f.read(1 << 20)
            if not b:
                return b"".join(chunks)
            chunks.append(b)


def write_all(fd, data, offset=None):
    view = memoryview(data)
    done = 0
    while done < len(view):
        n = os.write(fd, view[done:]) if offset is None else os.pwrite(fd, view[done:], offset + done)
        if n <= 0:
            raise OSError(5, "write returned 0")
        done += n


# --- syscalls Python lacks ------------------------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD = -100
RENAME_NOREPLACE = 1 << 0
RENAME_EXCHANGE = 1 << 1


def renameat2(old, new, flags=0):
    f = _libc.renameat2
    f.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    f.restype = ctypes.c_int
    if f(AT_FDCWD, os.fsencode(old), AT_FDCWD, os.fsencode(new), flags) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), old, None, new)


def json_lines(path):
    """json_lines -- the records of a JSON-lines log; a last line cut short (the writer was
    killed in the middle of it) is left out, a bad line anywhere else raises ValueError."""
    with open(path, "rb") as f:
        raw = f.read().split(b"\n")
    for n, line in enumerate(raw):
        if not line:
            continue
        try:
            rec = json.loads(line)
        except ValueError:
            if all(not x for x in raw[n + 1:]):
                return
            raise
        yield rec


def journal_problems(mnt):
    """journal_problems -- [] or why the mount's journal use is wrong: an undo record that did
    not fit a lane (a change a crash could have left half done; pmfusectl stats --json)."""
    try:
        stats = json.loads(os.getxattr(mnt, "user.pmfuse.stats"))
    except (OSError, ValueError) as e:
        return [f"user.pmfuse.stats of {mnt}: {e!r}"]
    if stats.get("journal_overflows") != 0:
        return [f"{stats.get('journal_overflows')} undo records did not fit a journal lane "
                f"(most used {stats.get('journal_high_water')} of {stats.get('journal_lane_bytes')} bytes)"]
    return []
