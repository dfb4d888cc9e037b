"""test_mount.py -- the daemon as a mount: exclusivity, signals, mount(8), names,
big directories, special files, locks."""

import errno
import fcntl
import os
import random
import shlex
import socket
import stat
import subprocess
import sys
import tempfile
import textwrap
import time

import pytest

from pmtest import (STOP_TIMEOUT, Mount, assert_errno, daemon_refuses, is_mounted, pmfuse_bin,
                    read_file, run, write_file)


def test_second_mount_of_a_pool_is_refused(mount):
    write_file(mount.path("f"), b"first mount")
    text = daemon_refuses(mount.pool)
    assert any(k in text.lower() for k in ("already mounted", "locked")), text
    # The first mount is unharmed.
    assert read_file(mount.path("f")) == b"first mount"
    write_file(mount.path("g"), b"still writable")
    mount.remount()
    assert read_file(mount.path("g")) == b"still writable"


def test_mount_on_missing_directory_fails(pool):
    missing = os.path.join(tempfile.gettempdir(), "pmfuse-no-such-dir-%d" % os.getpid())
    daemon_refuses(pool, mountpoint=missing)
    # The failed attempt released the pool.
    with Mount(pool) as m:
        assert os.listdir(m.dir) == []


@pytest.mark.parametrize("how", ["fusermount", "sigterm", "sigint"])
def test_clean_unmount(pool, how):
    m = Mount(pool)
    with m:
        write_file(m.path("f"), b"persist me")
        os.mkdir(m.path("d"))
        m.stop(how)  # checks: exit status 0, unmounted, no unexpected stderr
        assert not is_mounted(m.dir)
        m.start()
        assert read_file(m.path("f")) == b"persist me" and os.path.isdir(m.path("d"))


@pytest.mark.parametrize("how", ["sigterm", "sigint"])
def test_signal_keeps_data_of_a_file_still_open(pool, how):
    """A stop signal lets the kernel write back its writeback cache first:
    data written (not fsynced) to a file that is still open survives."""
    m = Mount(pool)
    data = os.urandom(300_000)
    with m:
        fd = os.open(m.path("open"), os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            assert os.write(fd, data) == len(data)
            m.stop(how)
        finally:
            try:
                os.close(fd)
            except OSError:
                pass  # the mount is gone; the close may fail
        m.start()
        assert read_file(m.path("open")) == data


def _pool_processes(pool):
    """_pool_processes -- pids of processes (other than us) with pool on their command line."""
    pids = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            continue
        if os.fsencode(pool) in args:
            pids.append(int(pid))
    return pids


@pytest.mark.parametrize("via", ["fuse.pmfuse", "daemon#pool"])
def test_mount_helper(pool, via):
    """The fstab way: mount(8) -> mount.fuse3 -> `pmfuse POOL DIR -o OPTS`, which daemonizes.

    mount(8) drops PATH from the environment (util-linux sanitize_env), so
    mount.fuse3's shell finds `pmfuse` only in the default PATH.  For
    `-t fuse.pmfuse` the test runs in a private mount namespace where a
    directory holding `pmfuse` is bind-mounted over /usr/local/sbin; the
    legacy form `-t fuse DAEMON#POOL` names the daemon by its full path."""
    daemon = pmfuse_bin()
    bindir = tempfile.mkdtemp(prefix="pmfuse-bin-")
    mnt = tempfile.mkdtemp(prefix="pmfuse-mnt-")
    q = shlex.quote
    if via == "fuse.pmfuse":
        mount_cmd = (f"mount --bind {q(bindir)} /usr/local/sbin\n"
                     f"mount -t fuse.pmfuse -o defaults,sync=fsync,allow_other {q(pool)} {q(mnt)}")
    else:
        mount_cmd = f"mount -t fuse -o allow_other {q(daemon + '#' + pool)} {q(mnt)}"
    script = f"""
set -e
{mount_cmd}
grep -F " {mnt} " /proc/self/mountinfo
printf %s {q("hello from " + via)} > {q(mnt)}/via-helper
cat {q(mnt)}/via-helper; echo
fusermount3 -u {q(mnt)}
if grep -qF " {mnt} " /proc/self/mountinfo; then echo "still mounted"; exit 1; fi
"""
    try:
        os.symlink(daemon, os.path.join(bindir, "pmfuse"))  # whatever the build calls it
        r = run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script], timeout=60)
        lines = r.stdout.splitlines()
        assert len(lines) == 2, r.stdout
        fields = lines[0].split()
        sep = fields.index("-")
        assert fields[sep + 1].startswith("fuse"), lines[0]
        super_options = fields[sep + 3].split(",")
        assert "allow_other" in super_options and "default_permissions" in super_options, lines[0]
        assert lines[1] == "hello from " + via
        deadline = time.monotonic() + STOP_TIMEOUT
        while _pool_processes(pool) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _pool_processes(pool), "the daemonized pmfuse did not exit after unmount"
    finally:
        for pid in _pool_processes(pool):  # also ends the namespace and its mount
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
        if is_mounted(mnt):
            subprocess.run(["fusermount3", "-u", "-z", mnt], capture_output=True)
        if os.path.lexists(os.path.join(bindir, "pmfuse")):
            os.unlink(os.path.join(bindir, "pmfuse"))
        os.rmdir(bindir)
        os.rmdir(mnt)
    # The daemon let go of the pool, and the data is there.
    with Mount(pool) as m:
        assert read_file(m.path("via-helper")) == ("hello from " + via).encode()


def test_name_length_limit(mount):
    P = mount.path
    n255, n256 = "n" * 255, "n" * 256
    os.mkdir(P(n255))
    write_file(P(n255, n255), b"deep")
    os.symlink("target", P("l" * 255))
    assert set(os.listdir(mount.dir)) == {n255, "l" * 255}
    assert_errno(errno.ENAMETOOLONG, os.mkdir, P(n256))
    assert_errno(errno.ENAMETOOLONG, os.open, P(n256), os.O_WRONLY | os.O_CREAT, 0o644)
    assert_errno(errno.ENAMETOOLONG, os.symlink, "t", P(n256))
    assert_errno(errno.ENAMETOOLONG, os.mknod, P(n256), stat.S_IFIFO | 0o644)
    assert_errno(errno.ENAMETOOLONG, os.link, P(n255, n255), P(n256))
    assert_errno(errno.ENAMETOOLONG, os.rename, P(n255, n255), P(n256))
    assert_errno(errno.ENAMETOOLONG, os.stat, P(n256))
    assert set(os.listdir(mount.dir)) == {n255, "l" * 255}
    mount.remount()
    assert read_file(P(n255, n255)) == b"deep"


def test_hundred_thousand_entries(make_pool):
    n = 100_000
    with Mount(make_pool("512M", inodes=131072)) as m:
        d = m.path("big")
        os.mkdir(d)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
        for i in range(n):
            os.close(os.open(os.path.join(d, f"file-{i:06d}"), flags, 0o644))
        names = os.listdir(d)
        assert len(names) == n and set(names) == {f"file-{i:06d}" for i in range(n)}
        rng = random.Random(1)
        sample = rng.sample(range(n), 1000)
        inos = {}
        for i in sample:
            st = os.stat(os.path.join(d, f"file-{i:06d}"))
            assert stat.S_ISREG(st.st_mode)
            inos[i] = st.st_ino
        assert len(set(inos.values())) == len(inos)
        assert_errno(errno.ENOENT, os.stat, os.path.join(d, "file-100000"))
        for i in sample[:500]:
            os.unlink(os.path.join(d, f"file-{i:06d}"))
        m.remount()
        assert len(os.listdir(d)) == n - 500
        for i in sample[500:]:
            assert os.stat(os.path.join(d, f"file-{i:06d}")).st_ino == inos[i]
        for i in sample[:500]:
            assert not os.path.exists(os.path.join(d, f"file-{i:06d}"))


def test_special_files(mount):
    P = mount.path
    umask = os.umask(0o022)
    os.umask(umask)
    os.mkfifo(P("fifo"), 0o644)
    os.mknod(P("null"), stat.S_IFCHR | 0o666, os.makedev(1, 3))
    os.mknod(P("loop"), stat.S_IFBLK | 0o660, os.makedev(7, 0))
    os.mknod(P("fifo2"), stat.S_IFIFO | 0o600)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(P("sock"))
        sock.listen(1)
        # The socket works through the mount: the kernel connects by inode.
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
            c.connect(P("sock"))
            conn, _ = sock.accept()
            with conn:
                c.sendall(b"ping")
                assert conn.recv(4) == b"ping"
    finally:
        sock.close()
    # A FIFO in the mount is a working FIFO.
    fd = os.open(P("fifo"), os.O_RDWR | os.O_NONBLOCK)
    try:
        os.write(fd, b"through the fifo")
        assert os.read(fd, 100) == b"through the fifo"
    finally:
        os.close(fd)

    def check():
        assert stat.S_ISFIFO(os.lstat(P("fifo")).st_mode)
        assert stat.S_ISFIFO(os.lstat(P("fifo2")).st_mode)
        assert stat.S_ISSOCK(os.lstat(P("sock")).st_mode)
        st = os.lstat(P("null"))
        assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 3)
        assert stat.S_IMODE(st.st_mode) == 0o666 & ~umask
        st = os.lstat(P("loop"))
        assert stat.S_ISBLK(st.st_mode) and st.st_rdev == os.makedev(7, 0)
        for name in ("fifo", "sock", "null"):
            assert os.lstat(P(name)).st_size == 0

    check()
    mount.remount()
    check()


LOCKER = r"""
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
for kind in sys.argv[2:]:
    try:
        if kind == "flock":
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:  # lockf:START:LEN
            _, start, length = kind.split(":")
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, int(length), int(start))
        print("acquired")
    except BlockingIOError:
        print("blocked")
"""


def other_process_locks(path, *kinds):
    r = run([sys.executable, "-c", LOCKER, path] + list(kinds), timeout=60)
    return r.stdout.split()


def test_flock_between_processes(mount):
    p = mount.path("lockfile")
    write_file(p, b"x" * 1000)
    fd = os.open(p, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        assert other_process_locks(p, "flock") == ["blocked"]
        fcntl.flock(fd, fcntl.LOCK_UN)
        assert other_process_locks(p, "flock") == ["acquired"]
        fcntl.flock(fd, fcntl.LOCK_SH)
        r = run([sys.executable, "-c", textwrap.dedent(f"""
            import fcntl, os
            fd = os.open({p!r}, os.O_RDONLY)
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            print("shared ok")
        """)], timeout=60)
        assert r.stdout.strip() == "shared ok"
    finally:
        os.close(fd)


def test_posix_locks_between_processes(mount):
    p = mount.path("lockfile")
    write_file(p, b"x" * 1000)
    fd = os.open(p, os.O_RDWR)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX, 100, 0)  # bytes 0..99
        assert other_process_locks(p, "lockf:0:100", "lockf:50:10", "lockf:200:100") == \
            ["blocked", "blocked", "acquired"]
        fcntl.lockf(fd, fcntl.LOCK_UN, 100, 0)
        assert other_process_locks(p, "lockf:0:100") == ["acquired"]
    finally:
        os.close(fd)


@pytest.mark.parametrize("opts,words", [
    ("bogus_flag", "unknown option"),
    ("timeout=abc", "invalid parameter"),
    ("sync=sometimes", "invalid sync policy"),
    ("sync=periodic=0ms", "invalid sync policy"),
    ("loglevel=loud", "invalid loglevel"),
    ("loglevel=", "invalid loglevel"),
    ("max_read=100", "invalid max_read"),
    ("max_read=0", "invalid max_read"),
    ("max_read=2000000", "invalid max_read"),
    ("max_read=abc", "invalid parameter"),
])
def test_bad_options_are_refused_before_mounting(pool, opts, words):
    """Bad -o values: one clear line, a non-zero exit, nothing mounted."""
    from pmtest import daemon_refuses
    err = daemon_refuses(pool, opts)
    assert words in err, err
    assert len(err.splitlines()) == 1, f"one line expected: {err!r}"


def test_max_read_option(pool):
    """-o max_read=N, libfuse's mount option, which libfuse 3.17 also wants
    repeated by init() (else INIT fails with EPROTO after the mount): the
    kernel takes it, and a file read cold in requests of that size comes
    back whole."""
    from pmtest import MiB, mount_entry, pattern
    data = pattern(3 * MiB + 5, 7)
    with Mount(pool, "max_read=131072") as m:
        opts = mount_entry(m.dir)["super_options"].split(",")
        assert "max_read=131072" in opts, opts
        write_file(m.path("f"), data)
        m.remount()  # an empty page cache: the reads reach the daemon
        assert "max_read=131072" in mount_entry(m.dir)["super_options"].split(",")
        assert read_file(m.path("f")) == data


def test_mount_line_names_pool_size_granularity_and_policy(pool):
    with Mount(pool, "sync=periodic=5s") as m:
        line = next(l for l in m.daemon.stderr if l.startswith("pmfuse: mounted "))
        assert f"mounted {pool} on {m.dir}: 256.0 MiB" in line, line
        assert "granularity " in line and line.endswith("default policy periodic=5s"), line


def test_loglevel_warning_keeps_the_mount_quiet(pool):
    """-o loglevel=warning: no mount line (a notice), and nothing else either
    on a clean mount and unmount; errors and warnings still get through"""
    mnt = tempfile.mkdtemp(prefix="pmfuse-mnt-")
    proc = subprocess.Popen([pmfuse_bin(), "-f", "-o", "loglevel=warning", pool, mnt],
                            stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(100):
            if is_mounted(mnt):
                break
            time.sleep(0.05)
        assert is_mounted(mnt), "the daemon did not mount"
        write_file(os.path.join(mnt, "f"), b"quiet")
    finally:
        subprocess.run(["fusermount3", "-u", mnt], check=False)
        _, err = proc.communicate(timeout=STOP_TIMEOUT)
        os.rmdir(mnt)
    assert proc.returncode == 0
    assert err == "", err


def test_daemonized_messages_go_to_syslog(pool):
    """Once detached, the daemon logs through syslog(3): the mount line (and
    the unclean-shutdown warning) arrive at /dev/log. The daemon runs in a
    private mount namespace whose /dev is a tmpfs holding /dev/fuse,
    /dev/null, /dev/shm (where the pools are) and a /dev/log that is this
    test's datagram socket."""
    sockdir = tempfile.mkdtemp(prefix="pmfuse-log-")
    sock_path = os.path.join(sockdir, "log")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(sock_path)
    os.mkdir(os.path.join(sockdir, "shm"))  # the pools live in /dev/shm: kept in view
    mnt = tempfile.mkdtemp(prefix="pmfuse-mnt-")
    q = shlex.quote
    script = f"""
set -e
mount --bind /dev/shm {q(sockdir)}/shm
mount -t tmpfs pmfuse-dev /dev
mkdir /dev/shm
mount --move {q(sockdir)}/shm /dev/shm
mknod -m 666 /dev/fuse c 10 229
mknod -m 666 /dev/null c 1 3
ln -s {q(sock_path)} /dev/log
{q(pmfuse_bin())} {q(pool)} {q(mnt)}
printf logged > {q(mnt)}/f
fusermount3 -u {q(mnt)}
"""
    try:
        run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script], timeout=60)
        deadline = time.monotonic() + STOP_TIMEOUT
        while _pool_processes(pool) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _pool_processes(pool), "the daemonized pmfuse did not exit after unmount"
        sock.settimeout(5)
        msgs = []
        try:
            while True:
                msgs.append(sock.recv(4096).decode(errors="replace"))
                sock.settimeout(0.2)
        except socket.timeout:
            pass
        mounted = [m for m in msgs if "pmfuse[" in m and f"mounted {pool} on " in m]
        assert mounted, msgs
        assert mounted[0].startswith("<29>"), mounted[0]  # facility daemon, level notice
        assert "default policy fsync" in mounted[0]
    finally:
        for pid in _pool_processes(pool):
            os.kill(pid, 9)
        sock.close()
        os.unlink(sock_path)
        os.rmdir(os.path.join(sockdir, "shm"))
        os.rmdir(sockdir)
        os.rmdir(mnt)
    with Mount(pool) as m:  # clean: no warning; the data is there
        assert read_file(m.path("f")) == b"logged"
