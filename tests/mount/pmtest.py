"""pmtest.py -- helpers for the pmfuse mount tests: pools, mounts, syscalls, snapshots.

The fixtures in conftest.py are thin wrappers around what is here; test
files import helpers from this module directly (``from pmtest import ...``).

Environment (set by ``meson test``):
  PMFUSE        path of the daemon
  MKFS_PMFUSE   path of mkfs.pmfuse
  PMFUSE_TEST_TIMEOUT  optional, seconds one test may take before its
                       daemons are killed so that a hung mount fails the
                       test instead of hanging the suite (default 300)
"""

import ctypes
import errno
import hashlib
import mmap
import os
import queue
import random
import re
import signal
import stat
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import uuid

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from mountinfo import TRANSPORT_LINES, force_unmount, fusermount_u, is_mounted, mount_entry  # noqa: E402,F401

MOUNTED_PREFIX = "pmfuse: mounted "
# extra -o options for every mount of a test run (tools/test: no_uring in the
# sanitizer pass, so that both ways of taking requests are run)
EXTRA_OPTS = os.environ.get("PMFUSE_TEST_OPTS", "")
ERROR_PREFIX = "pmfuse: "
START_TIMEOUT = 20.0  # s until the daemon says it is mounted (or fails)
STOP_TIMEOUT = 20.0  # s until the daemon exits after an unmount or a signal
SETTLE_TIMEOUT = 20.0  # s for asynchronous effects (FUSE forgets) to land
POOL_DIR = "/dev/shm"
MiB = 1 << 20
GiB = 1 << 30

# Unprivileged identity used by the permission tests.
USER_UID = 1000
USER_GID = 1000
# Interpreter for code run as USER_UID: it must be readable by that user, so
# prefer the system one over a per-user install under /root.
USER_PYTHON = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable


# --- binaries -------------------------------------------------------------------


def _binary(var):
    path = os.environ.get(var)
    if not path:
        pytest.fail(f"${var} is not set: run the mount tests through `meson test`, "
                    f"or set {var} to the built binary", pytrace=False)
    if not os.path.isfile(path) or not os.access(path, os.X_OK):
        pytest.fail(f"${var}={path} is not an executable file", pytrace=False)
    return os.path.abspath(path)


def pmfuse_bin():
    return _binary("PMFUSE")


def mkfs_bin():
    return _binary("MKFS_PMFUSE")


def run(cmd, *, check=True, timeout=120, **kw):
    """run -- run a command, capture its output as text; fail the test on a non-zero exit."""
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    r = subprocess.run(cmd, timeout=timeout, **kw)
    if check and r.returncode != 0:
        pytest.fail(f"{' '.join(map(str, cmd))} exited with {r.returncode}\n"
                    f"stdout:\n{r.stdout}\nstderr:\n{r.stderr}", pytrace=False)
    return r


# --- pools ----------------------------------------------------------------------


def shm_path(suffix=".pool"):
    """shm_path -- a fresh, unique, not yet existing path under /dev/shm."""
    return os.path.join(POOL_DIR, f"pmfuse-test-{os.getpid()}-{uuid.uuid4().hex[:12]}{suffix}")


def size_bytes(size):
    """size_bytes -- '64M' -> 67108864 (K/M/G are powers of 1024, as mkfs.pmfuse reads them)."""
    if isinstance(size, int):
        return size
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    if size[-1].upper() in units:
        return int(size[:-1]) * units[size[-1].upper()]
    return int(size)


def mkfs(pool, size=None, inodes=None, force=False, check=True):
    """mkfs -- run mkfs.pmfuse; returns the CompletedProcess."""
    cmd = [mkfs_bin()]
    if size is not None:
        cmd += ["--size", str(size)]
    if inodes is not None:
        cmd += ["--inodes", str(inodes)]
    if force:
        cmd.append("--force")
    cmd.append(pool)
    return run(cmd, check=check)


# --- mounts ---------------------------------------------------------------------


def _describe_status(rc):
    if rc is None:
        return "still running"
    if rc < 0:
        return f"killed by signal {signal.Signals(-rc).name}"
    return f"exit status {rc}"


class _Daemon:
    """_Daemon -- one daemon process with its stderr/stdout read by background threads."""

    def __init__(self, cmd, env=None):
        self.cmd = cmd
        self.stderr = []  # every stderr line, without the newline
        self.stdout = []
        self.events = queue.Queue()  # stderr lines, then None at EOF
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env, text=True,
                                     errors="backslashreplace", start_new_session=True)
        self.threads = [
            threading.Thread(target=self._read, args=(self.proc.stderr, self.stderr, self.events),
                             daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stdout, self.stdout, None),
                             daemon=True),
        ]
        for t in self.threads:
            t.start()

    @staticmethod
    def _read(stream, lines, events):
        for line in stream:
            line = line.rstrip("\n")
            lines.append(line)
            if events is not None:
                events.put(line)
        if events is not None:
            events.put(None)

    def wait_line(self, predicate, timeout):
        """wait_line -- the first new stderr line matching predicate; None at EOF; raises on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            try:
                line = self.events.get(timeout=left)
            except queue.Empty:
                continue
            if line is None or predicate(line):
                return line

    def wait(self, timeout):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    def finish_reading(self):
        for t in self.threads:
            t.join(timeout=5)

    def output(self):
        text = "stderr:\n  " + "\n  ".join(self.stderr) if self.stderr else "stderr: (empty)"
        if self.stdout:
            text += "\nstdout:\n  " + "\n  ".join(self.stdout)
        return text


_live_mounts = []  # Mounts with a mount point directory; conftest cleans up leftovers
_live_lock = threading.Lock()


class Mount(os.PathLike):
    """Mount -- a pmfuse daemon running in the foreground on a temporary mount point.

    Mount(pool, opts) starts ``$PMFUSE -f [-o opts] POOL DIR`` and returns once
    the daemon has printed its ``pmfuse: mounted `` line (at most 20 s).
    stop() unmounts (fusermount3 -u, or a signal), waits for the daemon to
    exit, and asserts: exit status 0, nothing left mounted, and no stderr line
    other than the mounted line and lines matching a pattern given to
    expect()/expect= (not checked with debug=True, which adds -d).  close() stops and removes the mount point; use the
    object as a context manager or through the ``mount`` fixture.  Whatever
    happens, nothing stays mounted and no daemon stays alive.

    The object is os.PathLike (the mount point): ``os.path.join(m, "f")``.
    """

    def __init__(self, pool, opts=None, *, expect=(), debug=False, start=True):
        self.pool = pool
        self.opts = opts
        self.debug = debug
        self.expected = [re.compile(p) for p in (*expect, *TRANSPORT_LINES)]
        self.dir = tempfile.mkdtemp(prefix="pmfuse-mnt-")
        self.daemon = None
        self.starts = 0
        self.watchdog_fired = False
        with _live_lock:
            _live_mounts.append(self)
        if start:
            try:
                self.start()
            except BaseException:
                self.close(check=False)
                raise

    def __fspath__(self):
        return self.dir

    def __repr__(self):
        return f"Mount({self.pool!r} on {self.dir!r})"

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close()  # checked even when the body failed: the daemon's stderr may say why
        return False

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def expect(self, pattern):
        """expect -- declare a stderr line (regex, searched) that this test makes the daemon print."""
        self.expected.append(re.compile(pattern))

    @property
    def running(self):
        return self.daemon is not None

    @property
    def pid(self):
        return self.daemon.proc.pid

    def command(self):
        cmd = [pmfuse_bin(), "-f"]
        if self.debug:
            cmd.append("-d")
        opts = ",".join(o for o in (self.opts, EXTRA_OPTS) if o)
        if opts:
            cmd += ["-o", opts]
        return cmd + [self.pool, self.dir]

    def start(self):
        """start -- run the daemon and wait for its mounted line."""
        assert self.daemon is None, "already started"
        assert not is_mounted(self.dir), f"{self.dir} is already a mount point"
        self.daemon = d = _Daemon(self.command())
        self.starts += 1
        try:
            line = d.wait_line(lambda l: l.startswith(MOUNTED_PREFIX), START_TIMEOUT)
        except TimeoutError:
            line = False
        if line and is_mounted(self.dir):
            return
        # Not mounted: collect what happened, clean up, fail.
        if line is None:
            rc = d.wait(STOP_TIMEOUT)
            why = f"daemon exited ({_describe_status(rc)}) without mounting"
        elif line is False:
            why = f"no '{MOUNTED_PREFIX}' line within {START_TIMEOUT:.0f} s"
        else:
            why = f"daemon printed '{line}' but {self.dir} is not a mount point"
        self._teardown_process()
        pytest.fail(f"mounting {self.pool} failed: {why}\ncommand: {' '.join(d.cmd)}\n"
                    f"{d.output()}", pytrace=False)

    def _teardown_process(self):
        """_teardown_process -- whatever state we are in: nothing mounted, no daemon."""
        d, self.daemon = self.daemon, None
        if d is None:
            return
        if is_mounted(self.dir):
            force_unmount(self.dir)
        if d.wait(5 if d.proc.poll() is None else 0) is None:
            d.kill()
        force_unmount(self.dir)
        d.finish_reading()
        return d

    def stop(self, how="fusermount", check=True):
        """stop -- unmount and wait for the daemon; how is 'fusermount', 'sigterm' or 'sigint'.

        Returns the daemon's stderr lines.  With check, fails the test on a
        non-zero exit, a daemon that stays up, a mount that stays, or
        unexpected stderr lines."""
        d = self.daemon
        if d is None:
            return []
        problems = []
        rc = None
        died = d.proc.poll() is not None
        try:
            if self.watchdog_fired:
                problems.append("the test watchdog killed the daemon (test took too long / hung)")
            elif d.proc.poll() is not None:
                problems.append(f"daemon died while mounted ({_describe_status(d.proc.returncode)})")
            elif how == "fusermount":
                r = fusermount_u(self.dir, STOP_TIMEOUT)
                if r.returncode != 0:
                    problems.append(f"fusermount3 -u {self.dir} failed: {r.stderr.strip()} "
                                    "(a file left open or a cwd inside the mount?)")
                    force_unmount(self.dir)
            elif how in ("sigterm", "sigint"):
                d.proc.send_signal(signal.SIGTERM if how == "sigterm" else signal.SIGINT)
            else:
                raise ValueError(how)
            patience = 5 if problems else STOP_TIMEOUT  # after a lazy unmount it may never exit
            rc = d.wait(patience)
            if rc is None:
                problems.append(f"daemon still running {patience:.0f} s after unmount ({how})")
            elif rc != 0 and not self.watchdog_fired and not died:
                problems.append(f"daemon {_describe_status(rc)} after unmount ({how}), expected 0")
            if is_mounted(self.dir):
                problems.append(f"{self.dir} still mounted after the daemon exited")
        finally:
            self._teardown_process()
        mounted = [l for l in d.stderr if l.startswith(MOUNTED_PREFIX)]
        if len(mounted) != 1:
            problems.append(f"expected exactly one '{MOUNTED_PREFIX}' line, got {len(mounted)}")
        unexpected = [l for l in d.stderr if not l.startswith(MOUNTED_PREFIX)
                      and not any(p.search(l) for p in self.expected)]
        if unexpected and not self.debug:  # -d output is libfuse's trace, not errors
            problems.append("unexpected daemon stderr:\n  " + "\n  ".join(unexpected))
        if problems and check:
            pytest.fail(f"{self}: " + "\n".join(problems) + f"\n{d.output()}", pytrace=False)
        return d.stderr

    def remount(self, how="fusermount"):
        """remount -- clean unmount (checked), then mount the same pool on the same directory."""
        self.stop(how)
        self.start()

    def close(self, check=True):
        """close -- stop (checked unless check=False) and remove the mount point."""
        try:
            self.stop(check=check)
        finally:
            self._teardown_process()
            try:
                os.rmdir(self.dir)
            except OSError:
                pass
            with _live_lock:
                if self in _live_mounts:
                    _live_mounts.remove(self)

    def kill_for_watchdog(self):
        d = self.daemon
        if d is not None and d.proc.poll() is None:
            self.watchdog_fired = True
            d.proc.kill()


def live_mounts():
    with _live_lock:
        return list(_live_mounts)


def daemon_refuses(pool, opts=None, mountpoint=None):
    """daemon_refuses -- run the daemon on a pool it must refuse; returns its stderr text.

    Asserts: it exits by itself with a status > 0 (not a signal: no crash),
    without printing the mounted line, leaves the mount point unmounted,
    prints at least one line, and every stderr line starts with 'pmfuse: '."""
    own_dir = mountpoint is None
    mnt = tempfile.mkdtemp(prefix="pmfuse-mnt-") if own_dir else mountpoint
    cmd = [pmfuse_bin(), "-f"] + (["-o", opts] if opts else []) + [pool, mnt]
    d = _Daemon(cmd)
    try:
        try:
            line = d.wait_line(lambda l: l.startswith(MOUNTED_PREFIX), START_TIMEOUT)
        except TimeoutError:
            pytest.fail(f"daemon neither failed nor mounted within {START_TIMEOUT:.0f} s\n"
                        f"{d.output()}", pytrace=False)
        if line is not None:
            pytest.fail(f"daemon mounted {pool} but should have refused it\n{d.output()}",
                        pytrace=False)
        rc = d.wait(STOP_TIMEOUT)
        d.finish_reading()
        assert rc is not None, f"daemon closed stderr but did not exit\n{d.output()}"
        assert rc > 0, f"daemon must fail cleanly, got {_describe_status(rc)}\n{d.output()}"
        assert not is_mounted(mnt), f"refusing daemon left {mnt} mounted"
        lines = [l for l in d.stderr if l.strip()]
        assert lines, "daemon failed without saying why on stderr"
        bad = [l for l in lines if not l.startswith(ERROR_PREFIX)]
        assert not bad, f"error lines must start with '{ERROR_PREFIX}': {bad}"
        return "\n".join(lines)
    finally:
        if d.proc.poll() is None:
            force_unmount(mnt)
            d.kill()
        force_unmount(mnt)
        if own_dir:
            try:
                os.rmdir(mnt)
            except OSError:
                pass


# --- waiting for asynchronous effects ---------------------------------------------


def wait_until(predicate, what, timeout=SETTLE_TIMEOUT):
    """wait_until -- poll predicate() until true; fail naming `what` after timeout.

    For effects FUSE makes asynchronous (an unlinked inode is freed when the
    kernel's FORGET arrives), never as a timing assertion."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}", pytrace=False)
        time.sleep(0.05)


def free_counts(path):
    s = os.statvfs(path)
    return (s.f_bfree, s.f_ffree)


def wait_free_counts(path, expected, what="statvfs free counts to return"):
    """wait_free_counts -- wait until (f_bfree, f_ffree) == expected; assert equality."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while True:
        now = free_counts(path)
        if now == expected or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert now == expected, f"{what}: (f_bfree, f_ffree) is {now}, expected {expected}"


# --- data -----------------------------------------------------------------------


def pattern(size, seed):
    """pattern -- size deterministic pseudo-random bytes for seed."""
    return random.Random(seed).randbytes(size)


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def sha256_file(path, bufsize=MiB):
    h = hashlib.sha256()
    with open(path, "rb", buffering=0) as f:
        while True:
            b = f.read(bufsize)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def write_all(fd, data, offset=None):
    """write_all -- write every byte (loops over short writes); at offset with pwrite if given."""
    view = memoryview(data)
    done = 0
    while done < len(view):
        if offset is None:
            n = os.write(fd, view[done:])
        else:
            n = os.pwrite(fd, view[done:], offset + done)
        assert n > 0, "write returned 0"
        done += n


def write_file(path, data, mode=0o644, fsync=True):
    """write_file -- create/truncate path with data, fsync, close; OSErrors propagate (ENOSPC...)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        write_all(fd, data)
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)


def read_file(path):
    with open(path, "rb") as f:
        return f.read()


def pread_all(fd, size, offset):
    chunks = []
    while size > 0:
        b = os.pread(fd, size, offset)
        if not b:
            break
        chunks.append(b)
        size -= len(b)
        offset += len(b)
    return b"".join(chunks)


def is_zero(b):
    return b.count(0) == len(b)


# --- syscalls Python lacks ----------------------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD = -100
RENAME_NOREPLACE = 1 << 0
RENAME_EXCHANGE = 1 << 1
FALLOC_FL_KEEP_SIZE = 0x01
FALLOC_FL_PUNCH_HOLE = 0x02
SYS_renameat2_x86_64 = 316


def _raise_errno(what):
    e = ctypes.get_errno()
    raise OSError(e, f"{what}: {os.strerror(e)}")


def fallocate(fd, mode, offset, length):
    f = _libc.fallocate
    f.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
    f.restype = ctypes.c_int
    if f(fd, mode, offset, length) != 0:
        _raise_errno("fallocate")


def renameat2(old, new, flags=0):
    old_b, new_b = os.fsencode(old), os.fsencode(new)
    f = getattr(_libc, "renameat2", None)
    if f is not None:
        f.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
        f.restype = ctypes.c_int
        r = f(AT_FDCWD, old_b, AT_FDCWD, new_b, flags)
    else:
        assert os.uname().machine == "x86_64", "no renameat2 in libc and no syscall number for this arch"
        s = _libc.syscall
        s.restype = ctypes.c_long
        r = s(ctypes.c_long(SYS_renameat2_x86_64), ctypes.c_int(AT_FDCWD), ctypes.c_char_p(old_b),
              ctypes.c_int(AT_FDCWD), ctypes.c_char_p(new_b), ctypes.c_uint(flags))
    if r != 0:
        _raise_errno("renameat2")


def cached_pages(path):
    """cached_pages -- how many of PATH's pages are in the kernel's page cache
    (mincore(2) on a shared read-only mapping of the whole file)."""
    mmap_, munmap, mincore = _libc.mmap, _libc.munmap, _libc.mincore
    mmap_.restype = ctypes.c_void_p
    mmap_.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                      ctypes.c_int, ctypes.c_long]
    munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        addr = mmap_(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
        if addr in (None, ctypes.c_void_p(-1).value):
            _raise_errno("mmap")
        try:
            vec = ctypes.create_string_buffer((size + 4095) // 4096)
            if mincore(addr, size, vec) != 0:
                _raise_errno("mincore")
            return sum(b & 1 for b in vec.raw)
        finally:
            munmap(addr, size)
    finally:
        os.close(fd)


def getxattr_sized(path, name, size):
    """getxattr_sized -- getxattr(2) with a caller-chosen buffer size (0: returns the value's size)."""
    f = _libc.getxattr
    f.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_size_t]
    f.restype = ctypes.c_ssize_t
    buf = ctypes.create_string_buffer(max(size, 1))
    n = f(os.fsencode(path), os.fsencode(name), buf if size else None, size)
    if n < 0:
        _raise_errno("getxattr")
    return n if size == 0 else buf.raw[:n]


def listxattr_sized(path, size):
    """listxattr_sized -- listxattr(2) with a caller-chosen buffer size (0: returns the size needed)."""
    f = _libc.listxattr
    f.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.c_size_t]
    f.restype = ctypes.c_ssize_t
    buf = ctypes.create_string_buffer(max(size, 1))
    n = f(os.fsencode(path), buf if size else None, size)
    if n < 0:
        _raise_errno("listxattr")
    return n if size == 0 else buf.raw[:n]


def errno_of(fn, *args, **kw):
    """errno_of -- call fn; None if it succeeds, else the errno of the OSError it raised."""
    try:
        fn(*args, **kw)
    except OSError as e:
        return e.errno
    return None


def assert_errno(expected, fn, *args, **kw):
    """assert_errno -- fn(*args) must fail with errno expected (an int or a tuple of ints)."""
    exp = expected if isinstance(expected, tuple) else (expected,)
    try:
        fn(*args, **kw)
    except OSError as e:
        assert e.errno in exp, (f"{getattr(fn, '__name__', fn)}{args}: expected "
                                f"{'/'.join(errno.errorcode[x] for x in exp)}, "
                                f"got {errno.errorcode.get(e.errno, e.errno)} ({e})")
        return e.errno
    pytest.fail(f"{getattr(fn, '__name__', fn)}{args} succeeded, expected "
                f"{'/'.join(errno.errorcode[x] for x in exp)}", pytrace=False)


# --- running code as an unprivileged user -------------------------------------------

_USER_PRELUDE = r"""
import errno, os, sys
def attempt(fn, *args, **kw):
    try:
        fn(*args, **kw)
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))
    return "OK"
def create(path, mode=0o644):
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode))
def open_w(path):
    os.close(os.open(path, os.O_WRONLY))
def open_r(path):
    os.close(os.open(path, os.O_RDONLY))
def append(path, data=b"x"):
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
"""


def as_user(code, *, uid=USER_UID, gid=USER_GID, groups=None):
    """as_user -- run Python code as uid/gid (setpriv, no capabilities); returns its stdout, stripped.

    The code sees the helpers attempt(fn, *args) -> "OK" | errno name,
    create(path, mode), open_w(path), open_r(path), append(path, data)."""
    cmd = ["setpriv", f"--reuid={uid}", f"--regid={gid}"]
    if groups:
        cmd.append("--groups=" + ",".join(str(g) for g in groups))
    else:
        cmd.append("--clear-groups")
    cmd += ["--", USER_PYTHON, "-c", _USER_PRELUDE + textwrap.dedent(code)]
    r = run(cmd, check=False, cwd="/", timeout=120)
    if r.returncode != 0:
        pytest.fail(f"code run as uid {uid} failed ({r.returncode}):\n{textwrap.dedent(code)}\n"
                    f"stderr:\n{r.stderr}", pytrace=False)
    return r.stdout.strip()


def user_try(call, *args, **kw):
    """user_try -- as_user('print(attempt(call, *args))'): "OK" or the errno name.

    call is an expression naming a function, e.g. "os.unlink" or "open_w"."""
    argstr = ", ".join([repr(a) for a in args] + [f"{k}={v!r}" for k, v in kw.items() if k not in
                                                   ("uid", "gid", "groups")])
    ident = {k: kw[k] for k in ("uid", "gid", "groups") if k in kw}
    return as_user(f"print(attempt({call}, {argstr}))", **ident)


# --- tree snapshots -------------------------------------------------------------------

STAT_FIELDS = ("mode", "uid", "gid", "size", "nlink", "mtime_ns")


def _xattrs(path):
    names = os.listxattr(path, follow_symlinks=False)
    return {n: os.getxattr(path, n, follow_symlinks=False) for n in sorted(names)}


def entry(path, fields=STAT_FIELDS, content=True, xattrs=True, dir_size=False):
    """entry -- the attributes of one path (lstat fields, symlink target, content hash, xattrs)."""
    st = os.lstat(path)
    e = {}
    for f in fields:
        if f == "size" and stat.S_ISDIR(st.st_mode) and not dir_size:
            continue
        if f == "rdev" and not (stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)):
            continue
        e[f] = getattr(st, "st_" + f)
    if stat.S_ISLNK(st.st_mode):
        e["target"] = os.readlink(path)
    elif stat.S_ISREG(st.st_mode) and content:
        e["sha256"] = sha256_file(path)
    if xattrs:
        e["xattrs"] = _xattrs(path)
    return e


def snapshot(root, fields=STAT_FIELDS, content=True, xattrs=True, dir_size=False):
    """snapshot -- {relative path: entry()} for root ('.') and everything below, symlinks not followed."""
    snap = {".": entry(root, fields, content, xattrs, dir_size)}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            snap[os.path.relpath(p, root)] = entry(p, fields, content, xattrs, dir_size)
    return snap


def _fmt(v):
    r = repr(v)
    return r if len(r) < 200 else r[:200] + "..."


def diff_snapshots(a, b, limit=30, ignore=()):
    """diff_snapshots -- human-readable differences between two snapshots (empty list if equal)."""
    out = []
    for k in sorted(a.keys() - b.keys()):
        out.append(f"{k}: only in first")
    for k in sorted(b.keys() - a.keys()):
        out.append(f"{k}: only in second")
    for k in sorted(a.keys() & b.keys()):
        ea, eb = a[k], b[k]
        for f in sorted((ea.keys() | eb.keys()) - set(ignore)):
            if ea.get(f) != eb.get(f):
                va, vb = ea.get(f), eb.get(f)
                if f == "mode" and va is not None and vb is not None:
                    va, vb = oct(va), oct(vb)
                out.append(f"{k}: {f} {_fmt(va)} != {_fmt(vb)}")
    if len(out) > limit:
        out = out[:limit] + [f"... and {len(out) - limit} more"]
    return out


def assert_same_snapshot(a, b, what, ignore=()):
    d = diff_snapshots(a, b, ignore=ignore)
    assert not d, f"{what}:\n  " + "\n  ".join(d)
