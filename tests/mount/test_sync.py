"""test_sync.py -- sync policies: the user.pmfuse.sync attribute, inheritance,
persistence, user.pmfuse.stats, and what each policy makes durable, checked
with crash emulation (a kill -9 of the daemon is then a power failure)."""

import errno
import json
import os
import subprocess
import tempfile
import time

import pytest

from pmtest import (Mount, force_unmount, pattern, pmfuse_bin, read_file, wait_until,
                    write_all, write_file)

SYNC = "user.pmfuse.sync"
STATS = "user.pmfuse.stats"


def policy(path):
    return os.getxattr(path, SYNC).decode()


def test_default_and_mount_option(make_pool):
    pool = make_pool()
    with Mount(pool) as m:
        assert policy(m.dir) == "fsync"
        write_file(m.path("f"), b"x")
        assert policy(m.path("f")) == "fsync"
    with Mount(pool, "sync=periodic=2s") as m:
        assert policy(m.dir) == "periodic=2s"
        os.mkdir(m.path("d"))
        assert policy(m.path("d")) == "periodic=2s"
        assert policy(m.path("f")) == "fsync", "an existing file keeps its own policy"
    with Mount(pool) as m:  # the root's policy is stored: the mount default survives
        assert policy(m.dir) == "periodic=2s"


@pytest.mark.parametrize("value,canonical", [
    ("fsync", "fsync"), ("close", "close"), ("immediate", "immediate"), ("never", "never"),
    ("periodic=500ms", "periodic=500ms"), ("periodic=5s", "periodic=5s"),
    ("periodic=3000ms", "periodic=3s"), ("periodic=1ms", "periodic=1ms"),
])
def test_set_get_canonical(mount, value, canonical):
    p = mount.path("f")
    write_file(p, b"")
    os.setxattr(p, SYNC, value.encode())
    assert policy(p) == canonical


@pytest.mark.parametrize("bad", ["", "Fsync", "fsync ", "periodic", "periodic=", "periodic=5",
                                 "periodic=0ms", "periodic=-1s", "periodic=5m", "periodic=86401s",
                                 "periodic=1.5s", "sometimes", "never\x00"])
def test_invalid_value_changes_nothing(mount, bad):
    p = mount.path("f")
    write_file(p, b"")
    os.setxattr(p, SYNC, b"close")
    with pytest.raises(OSError) as e:
        os.setxattr(p, SYNC, bad.encode())
    assert e.value.errno == errno.EINVAL
    assert policy(p) == "close"


def test_set_from_the_shell(mount):
    p = mount.path("f")
    write_file(p, b"")
    subprocess.run(["setfattr", "-n", SYNC, "-v", "periodic=250ms", p], check=True)
    out = subprocess.run(["getfattr", "--only-values", "-n", SYNC, p], check=True,
                         capture_output=True, text=True).stdout
    assert out == "periodic=250ms"
    r = subprocess.run(["setfattr", "-n", SYNC, "-v", "sometimes", p], capture_output=True, text=True)
    assert r.returncode != 0 and "Invalid argument" in r.stderr
    assert policy(p) == "periodic=250ms"


def test_directory_policy_is_inherited_and_survives_remount(mount):
    d = mount.path("d")
    os.mkdir(d)
    os.setxattr(d, SYNC, b"never")
    write_file(os.path.join(d, "a"), b"1")
    os.mkdir(os.path.join(d, "sub"))
    write_file(os.path.join(d, "sub", "b"), b"2")
    os.setxattr(os.path.join(d, "a"), SYNC, b"immediate")
    mount.remount()
    assert policy(d) == "never"
    assert policy(os.path.join(d, "a")) == "immediate"
    assert policy(os.path.join(d, "sub")) == "never"
    assert policy(os.path.join(d, "sub", "b")) == "never"


def test_control_attributes_are_virtual(mount):
    """Never listed, so cp -a, rsync -X and tar --xattrs do not copy them."""
    p = mount.path("f")
    write_file(p, b"")
    os.setxattr(p, "user.real", b"1")
    os.setxattr(p, SYNC, b"close")
    for path in (p, mount.dir):
        listed = [n for n in os.listxattr(path) if n.startswith("user.pmfuse.")]
        assert listed == [], f"virtual attributes listed on {path}: {listed}"
    assert os.listxattr(p) == ["user.real"]
    with pytest.raises(OSError) as e:
        os.removexattr(p, SYNC)
    assert e.value.errno == errno.EPERM
    with pytest.raises(OSError) as e:
        os.setxattr(mount.dir, STATS, b"{}")
    assert e.value.errno == errno.EPERM
    with pytest.raises(OSError) as e:
        os.getxattr(p, STATS)  # statistics live on the mount root only
    assert e.value.errno == errno.ENODATA


def test_stats(mount):
    s = json.loads(os.getxattr(mount.dir, STATS))
    for key in ("pool_size", "free_bytes", "inodes_total", "inodes_free", "bytes_written",
                "bytes_persisted", "flush_calls", "drains", "fsyncs", "dirty_bytes",
                "periodic_flushes"):
        assert isinstance(s[key], int) and s[key] >= 0, key
    assert s["granularity"] in ("PAGE", "CACHE_LINE", "BYTE")
    assert set(s["policy_inodes"]) == {"fsync", "periodic", "close", "immediate", "never"}
    fd = os.open(mount.path("f"), os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        write_all(fd, pattern(100_000, 1))
        os.fsync(fd)
    finally:
        os.close(fd)
    t = json.loads(os.getxattr(mount.dir, STATS))
    assert t["bytes_written"] >= s["bytes_written"] + 100_000
    assert t["fsyncs"] == s["fsyncs"] + 1
    assert t["free_bytes"] < s["free_bytes"]
    assert t["inodes_free"] == s["inodes_free"] - 1
    assert t["policy_inodes"]["fsync"] == s["policy_inodes"]["fsync"] + 1
    assert t["flush_calls"] > s["flush_calls"] and t["drains"] > s["drains"]


# ---- what each policy makes durable: power failures under crash emulation


class EmulatedMount:
    """A daemon with -o crash_emulation that the test kills (a power failure)."""

    def __init__(self, pool, opts=""):
        self.dir = tempfile.mkdtemp(prefix="pmfuse-sync-")
        o = "crash_emulation" + ("," + opts if opts else "")
        self.proc = subprocess.Popen([pmfuse_bin(), "-f", "-o", o, pool, self.dir],
                                     stderr=subprocess.PIPE, text=True)
        line = self.proc.stderr.readline()
        assert line.startswith("pmfuse: mounted "), line

    def path(self, name):
        return os.path.join(self.dir, name)

    def power_failure(self):
        self.proc.kill()
        self.proc.wait()
        force_unmount(self.dir)
        os.rmdir(self.dir)


def after_power_failure(make_pool, policy_value, work, fsck=False):
    """Run work(mnt) on a mount whose root policy is policy_value, cut the
    power, mount again (recovery) and return the contents of "f" (None if
    it is gone). With fsck, the recovered pool must also check clean."""
    pool = make_pool("64M")
    with Mount(pool, f"sync={policy_value}"):
        pass
    em = EmulatedMount(pool)
    try:
        work(em)
    finally:
        em.power_failure()
    with Mount(pool, expect=[r"not unmounted cleanly"]) as m:
        try:
            got = read_file(m.path("f"))
        except FileNotFoundError:
            got = None
    if fsck:
        r = subprocess.run([os.environ["FSCK_PMFUSE"], "-n", pool], capture_output=True, text=True)
        assert r.returncode == 0, f"fsck.pmfuse -n after the power failure: {r.stdout}{r.stderr}"
    return got


DATA = pattern(50_000, 7)


def write_no_fsync(em):
    fd = os.open(em.path("f"), os.O_WRONLY | os.O_CREAT, 0o644)
    write_all(fd, DATA)
    return fd


def test_fsync_policy_unsynced_data_is_not_promised_synced_data_is_kept(make_pool):
    def work(em):
        fd = write_no_fsync(em)
        os.fsync(fd)
        write_all(fd, b"tail that was never fsynced", offset=len(DATA))
        os.close(fd)
    got = after_power_failure(make_pool, "fsync", work)
    # what fsync returned for is there; the later write may or may not be
    assert got in (DATA, DATA + b"tail that was never fsynced")


def test_immediate_policy_every_write_is_durable(make_pool):
    def work(em):
        fd = write_no_fsync(em)  # no fsync, file still open
        write_all(fd, b"+more", offset=len(DATA))
    assert after_power_failure(make_pool, "immediate", work) == DATA + b"+more"


def test_close_policy_data_is_durable_after_the_last_close(make_pool):
    def work(em):
        fd = write_no_fsync(em)
        os.close(fd)
        # the release reaches the daemon after close() returns
        wait_until(lambda: json.loads(os.getxattr(em.dir, STATS))["dirty_bytes"] == 0,
                   "the close policy to persist the file at its release")
    assert after_power_failure(make_pool, "close", work) == DATA


def test_periodic_policy_flusher_persists_without_fsync(make_pool):
    def work(em):
        fd = write_no_fsync(em)  # stays open, never fsynced
        wait_until(lambda: json.loads(os.getxattr(em.dir, STATS))["periodic_flushes"] > 0
                   and json.loads(os.getxattr(em.dir, STATS))["dirty_bytes"] == 0,
                   "the periodic flusher to run")
    assert after_power_failure(make_pool, "periodic=100ms", work) == DATA


def test_never_policy_fsync_persists_nothing_but_unmount_does(make_pool):
    def work(em):
        fd = os.open(em.path("f"), os.O_WRONLY | os.O_CREAT, 0o644)
        write_all(fd, DATA[:4096])  # an overwrite target that is durable below
        os.close(fd)
        os.setxattr(em.path("f"), SYNC, b"fsync")
        fd = os.open(em.path("f"), os.O_WRONLY)
        os.fsync(fd)
        os.close(fd)
        os.setxattr(em.path("f"), SYNC, b"never")
        fd = os.open(em.path("f"), os.O_WRONLY)
        write_all(fd, b"N" * 4096)  # overwrite in place, then fsync: nothing persisted
        os.fdatasync(fd)  # the kernel hands the page over; the daemon may not flush it yet
        before = json.loads(os.getxattr(em.dir, STATS))
        os.fsync(fd)
        after = json.loads(os.getxattr(em.dir, STATS))
        assert after["fsyncs"] == before["fsyncs"] + 1
        assert (after["flush_calls"], after["drains"]) == (before["flush_calls"], before["drains"]), \
            "fsync under 'never' flushed or drained"
        os.close(fd)
    # the overwrite was never promised; it may still reach the pool (for
    # instance when the kernel forgets the inode), but the pool is consistent
    got = after_power_failure(make_pool, "never", work, fsck=True)
    assert got in (DATA[:4096], b"N" * 4096)
    pool = make_pool("64M")
    with Mount(pool, "sync=never") as m:
        write_file(m.path("g"), DATA)
    with Mount(pool) as m:  # a clean unmount persisted everything
        assert read_file(m.path("g")) == DATA
