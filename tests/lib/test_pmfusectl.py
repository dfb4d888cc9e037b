"""test_pmfusectl.py -- pmfusectl and libpmfuse against a real pmfuse mount.

Run by `meson test mount-pmfusectl`, which sets PMFUSE, MKFS_PMFUSE,
PMFUSECTL (the tool) and LIBPMFUSE (the shared library, used through
ctypes). The mount fixtures are the ones of tests/mount.
"""

import ctypes
import errno
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "mount"))

from conftest import _binaries, _mount_guard, make_pool, mount, pool  # noqa: E402,F401  fixtures
from pmtest import Mount, read_file, run, write_file  # noqa: E402

SYNC = "user.pmfuse.sync"
STATS = "user.pmfuse.stats"
POLICIES = ["fsync", "periodic=500ms", "periodic=5s", "close", "immediate", "never"]
U64_FIELDS = ["pool_size", "free_bytes", "inodes_total", "inodes_free", "bytes_written",
              "bytes_persisted", "flush_calls", "drains", "fsyncs", "dirty_bytes",
              "periodic_flushes"]
KINDS = ["fsync", "periodic", "close", "immediate", "never"]


def ctl_bin():
    path = os.environ.get("PMFUSECTL")
    if not path or not os.access(path, os.X_OK):
        pytest.fail("$PMFUSECTL is not set to the built pmfusectl: run through `meson test`",
                    pytrace=False)
    return path


def ctl(*args, expect=0):
    """ctl -- run pmfusectl; assert its exit status; returns the CompletedProcess."""
    r = run([ctl_bin(), *map(str, args)], check=False)
    assert r.returncode == expect, (f"pmfusectl {' '.join(map(str, args))}: exit {r.returncode}, "
                                    f"expected {expect}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}")
    return r


def policy(path):
    return os.getxattr(path, SYNC).rstrip(b"\0").decode()


def tree(m):
    """tree -- d/{f, sub/{g, deep/h}}, d/link -> ../other (a file outside d), other."""
    d = m.path("d")
    os.makedirs(m.path("d", "sub", "deep"))
    for f in ["d/f", "d/sub/g", "d/sub/deep/h", "other"]:
        write_file(m.path(*f.split("/")), b"x")
    os.symlink("../other", m.path("d", "link"))
    return d


# --- the command line -------------------------------------------------------------


def test_help_and_version():
    r = ctl("--help")
    assert "pmfusectl sync get PATH..." in r.stdout and "stats MOUNTPOINT" in r.stdout
    assert ctl("-h").stdout == r.stdout
    assert ctl("--version").stdout.startswith("pmfusectl ")


@pytest.mark.parametrize("args", [[], ["bogus"], ["sync"], ["sync", "frob", "x"],
                                  ["sync", "get"], ["sync", "set"], ["sync", "set", "fsync"],
                                  ["stats"], ["stats", "a", "b"], ["stats", "--frob", "/"],
                                  ["stats", "/", "--watch"], ["stats", "/", "--watch", "0"],
                                  ["stats", "/", "--watch", "abc"], ["sync", "set", "-X", "fsync", "/"]])
def test_usage_errors(args):
    r = ctl(*args, expect=2)
    assert r.stderr.startswith("pmfusectl: ") and "--help" in r.stderr
    assert r.stdout == ""


def test_not_pmfuse(tmp_path):
    f = tmp_path / "f"
    f.write_bytes(b"x")
    for args in [["sync", "get", f], ["sync", "set", "close", f], ["stats", tmp_path],
                 ["stats", "--json", tmp_path]]:
        r = ctl(*args, expect=1)
        assert r.stderr.strip().endswith("is not on a pmfuse mount"), r.stderr
    assert SYNC not in os.listxattr(f)  # set did not create a real attribute


# --- sync get / set ---------------------------------------------------------------


def test_get_default(mount):
    write_file(mount.path("f"), b"x")
    r = ctl("sync", "get", mount.dir, mount.path("f"))
    assert r.stdout == f"{mount.dir}: fsync\n{mount.path('f')}: fsync\n"


@pytest.mark.parametrize("value", POLICIES)
def test_set_get(mount, value):
    f = mount.path("f")
    write_file(f, b"x")
    ctl("sync", "set", value, f)
    assert policy(f) == value
    assert ctl("sync", "get", f).stdout == f"{f}: {value}\n"


def test_canonical_form(mount):
    f = mount.path("f")
    write_file(f, b"x")
    ctl("sync", "set", "periodic=3000ms", f)
    assert ctl("sync", "get", f).stdout == f"{f}: periodic=3s\n"
    ctl("sync", "set", "periodic=1500ms", f)
    assert ctl("sync", "get", f).stdout == f"{f}: periodic=1500ms\n"


@pytest.mark.parametrize("bad", ["bogus", "periodic=0ms", "periodic=86401s", "periodic=5m",
                                 "FSYNC", "periodic=5"])
def test_set_bad_policy(mount, bad):
    f = mount.path("f")
    write_file(f, b"x")
    ctl("sync", "set", "close", f)
    r = ctl("sync", "set", bad, f, expect=2)
    assert f'invalid policy "{bad}"' in r.stderr
    assert policy(f) == "close"


def test_missing_path_keeps_going(mount):
    a, b = mount.path("a"), mount.path("b")
    write_file(a, b"x")
    write_file(b, b"x")
    r = ctl("sync", "set", "never", a, mount.path("missing"), b, expect=1)
    assert "missing" in r.stderr
    assert policy(a) == policy(b) == "never"
    r = ctl("sync", "get", a, mount.path("missing"), b, expect=1)
    assert r.stdout == f"{a}: never\n{b}: never\n"


def test_set_directory_is_inherited(mount):
    d = mount.path("d")
    os.mkdir(d)
    write_file(mount.path("d", "before"), b"x")
    ctl("sync", "set", "immediate", d)
    write_file(mount.path("d", "after"), b"x")
    os.mkdir(mount.path("d", "subdir"))
    assert policy(mount.path("d", "before")) == "fsync"
    assert policy(mount.path("d", "after")) == "immediate"
    assert policy(mount.path("d", "subdir")) == "immediate"


def test_set_not_recursive(mount):
    d = tree(mount)
    ctl("sync", "set", "close", d)
    assert policy(d) == "close"
    assert policy(mount.path("d", "f")) == "fsync"


@pytest.mark.parametrize("flag", ["-R", "--recursive"])
def test_set_recursive(mount, flag):
    d = tree(mount)
    fifo = mount.path("d", "sub", "fifo")
    os.mkfifo(fifo)
    ctl("sync", "set", "periodic=250ms", d, flag)  # the option after the paths
    for p in ["d", "d/f", "d/sub", "d/sub/g", "d/sub/deep", "d/sub/deep/h"]:
        assert policy(mount.path(*p.split("/"))) == "periodic=250ms", p
    assert policy(mount.path("other")) == "fsync"  # the link inside d was not followed
    assert policy(mount.dir) == "fsync"


def test_set_recursive_stays_on_file_system(mount):
    """-R does not enter another file system mounted below the directory."""
    d = tree(mount)
    inner = mount.path("d", "mnt")
    os.mkdir(inner)
    r = subprocess.run(["mount", "-t", "tmpfs", "tmpfs", inner], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.fail(f"cannot mount a tmpfs inside the mount: {r.stderr.strip()}")
    try:
        write_file(os.path.join(inner, "t"), b"x")
        ctl("sync", "set", "-R", "close", d)
        assert SYNC not in os.listxattr(os.path.join(inner, "t"))
        assert policy(mount.path("d", "sub", "g")) == "close"
    finally:
        subprocess.run(["umount", "-l", inner], check=False)
    assert policy(inner) == "fsync"  # the covered directory was not reached either


# --- stats ------------------------------------------------------------------------


def stats_json(m):
    r = ctl("stats", "--json", m.dir)
    assert r.stdout.count("\n") == 1
    return json.loads(r.stdout)


def test_stats_json(mount):
    s = stats_json(mount)
    for k in U64_FIELDS:
        assert isinstance(s[k], int) and s[k] >= 0, k
    assert s["granularity"] in ("PAGE", "CACHE_LINE", "BYTE")
    assert sorted(s["policy_inodes"]) == sorted(KINDS)
    assert s["pool_size"] == 256 << 20
    assert s["inodes_free"] < s["inodes_total"]
    assert all(isinstance(v, int) and v >= 0 for v in s["policy_inodes"].values())


def test_stats_counters_move(mount):
    before = stats_json(mount)
    f = mount.path("f")
    write_file(f, b"y" * 100000, fsync=True)
    ctl("sync", "set", "never", f)
    after = stats_json(mount)
    assert after["bytes_written"] >= before["bytes_written"] + 100000
    assert after["fsyncs"] > before["fsyncs"]
    assert after["bytes_persisted"] > before["bytes_persisted"]
    assert after["free_bytes"] < before["free_bytes"]
    assert after["inodes_free"] == before["inodes_free"] - 1
    assert after["policy_inodes"]["never"] == before["policy_inodes"]["never"] + 1


def test_stats_table(mount):
    s = stats_json(mount)
    r = ctl("stats", mount.dir)
    out = r.stdout
    assert f"pmfuse statistics of {mount.dir}" in out
    assert "pool size" in out and "256.0 MiB" in out
    assert f"{s['inodes_total']} total" in out
    assert s["granularity"] in out
    for label in ["bytes written", "bytes persisted", "dirty now", "flush calls", "drains",
                  "fsyncs", "periodic flushes", "inodes by policy"]:
        assert label in out, label
    assert "\033" not in out  # no escape codes without --watch


def test_stats_not_root(mount):
    os.mkdir(mount.path("d"))
    r = ctl("stats", mount.path("d"), expect=1)
    assert "not its root" in r.stderr


def test_stats_watch(mount):
    p = subprocess.Popen([ctl_bin(), "stats", mount.dir, "--watch", "0.1"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out = b""
        deadline = time.monotonic() + 20
        while out.count(b"\033[H\033[2J") < 3 and time.monotonic() < deadline:
            ready, _, _ = select.select([p.stdout], [], [], 1)
            if ready:
                chunk = os.read(p.stdout.fileno(), 65536)
                if not chunk:
                    break
                out += chunk
        assert out.count(b"\033[H\033[2J") >= 3, out
        assert out.count(b"pmfuse statistics of") >= 3
        p.send_signal(signal.SIGINT)
        assert p.wait(timeout=10) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


# --- the library through ctypes ----------------------------------------------------


class SyncPolicy(ctypes.Structure):
    _fields_ = [("kind", ctypes.c_int), ("period_ms", ctypes.c_uint32)]


class Stats(ctypes.Structure):
    _fields_ = ([("size", ctypes.c_size_t)] + [(k, ctypes.c_uint64) for k in U64_FIELDS]
                + [("granularity", ctypes.c_char * 16), ("policy_inodes", ctypes.c_uint64 * 5)])


@pytest.fixture(scope="module")
def lib():
    path = os.environ.get("LIBPMFUSE")
    if not path:
        pytest.fail("$LIBPMFUSE is not set to the built libpmfuse.so: run through `meson test`",
                    pytrace=False)
    lib = ctypes.CDLL(path)
    lib.pmfuse_errmsg.restype = ctypes.c_char_p
    return lib


def test_library(mount, lib):
    f = mount.path("f")
    write_file(f, b"x")
    assert lib.pmfuse_sync_set_str(f.encode(), b"periodic=7s") == 0
    p = SyncPolicy()
    assert lib.pmfuse_sync_get(f.encode(), ctypes.byref(p)) == 0
    assert (p.kind, p.period_ms) == (1, 7000)
    fd = os.open(f, os.O_RDWR)
    try:
        p = SyncPolicy(3, 0)  # immediate
        assert lib.pmfuse_sync_fset(fd, ctypes.byref(p)) == 0
        q = SyncPolicy()
        assert lib.pmfuse_sync_fget(fd, ctypes.byref(q)) == 0
        assert q.kind == 3
        assert lib.pmfuse_persist_fd(fd) == 0
    finally:
        os.close(fd)
    buf = ctypes.create_string_buffer(32)
    assert lib.pmfuse_sync_get_str(f.encode(), buf, 32) == len("immediate")
    assert buf.value == b"immediate"
    assert lib.pmfuse_sync_set_str(f.encode(), b"periodic=0s") == -errno.EINVAL
    assert b"invalid policy" in lib.pmfuse_errmsg()
    assert policy(f) == "immediate"

    st = Stats(size=ctypes.sizeof(Stats))
    assert lib.pmfuse_stats_get(mount.dir.encode(), ctypes.byref(st)) == 0
    assert st.pool_size == 256 << 20
    assert st.granularity.decode() in ("PAGE", "CACHE_LINE", "BYTE")
    assert st.policy_inodes[3] >= 1  # f is immediate
    assert lib.pmfuse_stats_get(mount.path("f").encode(), ctypes.byref(st)) == -errno.EINVAL


def test_daemon_rejects_directly(mount):
    """The attribute the library writes: the daemon refuses what the library would refuse."""
    f = mount.path("f")
    write_file(f, b"x")
    with pytest.raises(OSError) as e:
        os.setxattr(f, SYNC, b"periodic=0ms")
    assert e.value.errno == errno.EINVAL
    assert SYNC not in os.listxattr(f) and STATS not in os.listxattr(mount.dir)


# --- info, grow, shrink: commands on an unmounted pool ------------------------

MiB = 1 << 20


def info(pool):
    out = ctl("info", pool).stdout
    return dict(line.split(":", 1) for line in out.splitlines() if ":" in line)


def test_info_of_unmounted_pool(pool):
    with Mount(pool) as m:
        write_file(m.path("f"), b"x" * (3 * MiB))
    i = info(pool)
    assert i["pool"].strip() == str(pool)
    assert i["size"].strip().startswith("256.0 MiB (65536 blocks of 4096 bytes)")
    assert i["state"].strip() == "clean"
    assert i["inodes"].strip().startswith("2 used")
    assert i["data"].strip().startswith("3.0 MiB used")
    assert "journal" in i["layout"] and "inode table" in i["layout"]
    assert i["granularity"].strip().split()[0] in ("PAGE", "CACHE_LINE", "BYTE")


def test_info_after_a_crash_says_so(pool):
    m = Mount(pool)
    with m:
        write_file(m.path("f"), b"x")
        m.daemon.proc.kill()
        m.daemon.proc.wait()
        m.stop(check=False)  # the dead mount is cleaned up
    assert info(pool)["state"].strip().startswith("not unmounted cleanly")


def test_info_refuses_a_mounted_pool(mount):
    r = ctl("info", mount.pool, expect=1)
    assert "is mounted" in r.stderr and "pmfusectl stats" in r.stderr


def test_grow_keeps_data_and_adds_room(pool):
    data = os.urandom(200 * MiB)
    with Mount(pool) as m:
        write_file(m.path("old"), data)
    r = ctl("grow", pool, "512M")
    assert "256.0 MiB -> 512.0 MiB" in r.stdout
    assert os.path.getsize(pool) == 512 * MiB
    assert info(pool)["state"].strip() == "clean"
    with Mount(pool) as m:
        assert read_file(m.path("old")) == data
        write_file(m.path("new"), data)  # 400 MiB in all: did not fit before
        assert read_file(m.path("new")) == data
    run([os.environ["FSCK_PMFUSE"], "-n", pool])


def test_shrink_refused_while_blocks_past_the_end_are_used(pool):
    data = os.urandom(150 * MiB)
    with Mount(pool) as m:
        write_file(m.path("big"), data)
    r = ctl("shrink", pool, "64M", expect=1)
    assert "cannot shrink below" in r.stderr
    assert os.path.getsize(pool) == 256 * MiB
    with Mount(pool) as m:
        assert read_file(m.path("big")) == data
        os.unlink(m.path("big"))
        write_file(m.path("small"), b"kept")
    r = ctl("shrink", pool, "64M")
    assert "256.0 MiB -> 64.0 MiB" in r.stdout
    assert os.path.getsize(pool) == 64 * MiB
    with Mount(pool) as m:
        assert read_file(m.path("small")) == b"kept"
        assert os.statvfs(m.dir).f_blocks * os.statvfs(m.dir).f_frsize < 64 * MiB
    run([os.environ["FSCK_PMFUSE"], "-n", pool])


@pytest.mark.parametrize("args,status,text", [
    (["grow", "{pool}", "64M"], 2, "use shrink"),
    (["shrink", "{pool}", "1G"], 2, "use grow"),
    (["grow", "{pool}", "lots"], 2, "invalid size"),
    (["grow", "{pool}"], 2, "usage"),
    (["shrink", "{pool}", "1M"], 1, "need at least"),
    (["info"], 2, "usage"),
    (["info", "/nonexistent/pool"], 1, "cannot open"),
    (["grow", "/etc/hostname", "1G"], 1, "pmfuse pool"),
    (["info", "/usr/bin/pmfusectl-not-there"], 1, "cannot open"),
])
def test_pool_command_errors(pool, args, status, text):
    r = ctl(*[a.format(pool=pool) for a in args], expect=status)
    assert text in r.stderr, r.stderr
    assert os.path.getsize(pool) == 256 * MiB  # nothing changed
