"""test_loop.py -- the request loop (daemon/loop.c) and the kernel's per-mount
limits (daemon/bdi.c): every way of serving requests gives the same results,
a stop signal ends the daemon in every mode, and the limits are set or kept
as asked."""

import os
import platform
import threading
import time

import pytest

from pmtest import EXTRA_OPTS, Mount, daemon_refuses, read_file, write_file


def _bdi_dir(mountpoint):
    """_bdi_dir -- /sys/class/bdi/<major:minor> of the mount on mountpoint."""
    dev = None
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if fields[4] == mountpoint:
                dev = fields[2]
    assert dev, f"{mountpoint} not in /proc/self/mountinfo"
    return os.path.join("/sys/class/bdi", dev)


def _knob(mountpoint, name):
    with open(os.path.join(_bdi_dir(mountpoint), name)) as f:
        return int(f.read())


def test_kernel_limits_lifted_by_default(mount):
    assert _knob(mount.dir, "max_ratio") == 100
    # four full requests over io_uring, one over /dev/fuse (daemon/bdi.h)
    assert _knob(mount.dir, "read_ahead_kb") == (1024 if "no_uring" in EXTRA_OPTS else 4096)
    if os.path.exists(os.path.join(_bdi_dir(mount.dir), "strict_limit")):
        assert _knob(mount.dir, "strict_limit") == 0


def test_read_ahead_over_dev_fuse_is_one_request(pool):
    with Mount(pool, "no_uring") as m:
        assert _knob(m.dir, "read_ahead_kb") == 1024
        assert _knob(m.dir, "max_ratio") == 100
        write_file(m.path("f"), b"y" * 3_000_000)
    with Mount(pool, "no_uring") as m:  # read back cold, through the read-ahead
        assert read_file(m.path("f")) == b"y" * 3_000_000


def test_kernel_limits_option_keeps_them(pool):
    with Mount(pool, "kernel_limits") as m:
        # the kernel's own defaults for a FUSE mount
        assert _knob(m.dir, "max_ratio") == 1
        assert _knob(m.dir, "read_ahead_kb") == 128
        write_file(m.path("f"), b"x" * 100_000)
        assert read_file(m.path("f")) == b"x" * 100_000


def _workout(m, nthreads, files=40):
    """_workout -- nthreads clients at once (the parallel mode) or one (the
    turn mode): create, write (small and 1 MiB, costly), read back, rename,
    truncate, unlink; every result checked."""
    errors = []

    def client(k):
        try:
            d = m.path(f"t{k}")
            os.mkdir(d)
            for i in range(files):
                small = f"{k}-{i}".encode() * 50
                big = os.urandom(1 << 20) if i % 10 == 0 else b""
                p = os.path.join(d, f"f{i}")
                write_file(p, small + big)
                assert read_file(p) == small + big
                os.rename(p, p + ".r")
                os.truncate(p + ".r", len(small))
                assert read_file(p + ".r") == small
            assert sorted(os.listdir(d)) == sorted(f"f{i}.r" for i in range(files))
            for i in range(files):
                os.unlink(os.path.join(d, f"f{i}.r"))
            os.rmdir(d)
        except BaseException as e:  # reported by the main thread
            errors.append(e)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(nthreads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert os.listdir(m.dir) == []


@pytest.mark.parametrize("opts", [None, "spin=0", "spin=5000"])
@pytest.mark.parametrize("nthreads", [1, 4])
def test_requests_served_in_every_mode(pool, opts, nthreads):
    with Mount(pool, opts) as m:
        _workout(m, nthreads)


class _SingleThreaded(Mount):
    def command(self):
        cmd = super().command()
        return cmd[:1] + ["-s"] + cmd[1:]


def test_single_threaded_loop(pool):
    with _SingleThreaded(pool) as m:
        _workout(m, 3, files=10)


@pytest.mark.parametrize("how", ["sigterm", "fusermount"])
def test_stop_while_clients_run_in_parallel(pool, how):
    """Threads asleep in a blocking read of /dev/fuse (the parallel mode) are
    woken and the daemon exits cleanly; what was written is kept."""
    m = Mount(pool)
    with m:
        stop = threading.Event()

        def reader(k):
            p = m.path(f"r{k}")
            write_file(p, b"r" * 4096)
            while not stop.is_set():
                os.stat(p)
                with open(p, "rb") as f:
                    f.read()

        threads = [threading.Thread(target=reader, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        try:
            write_file(m.path("kept"), b"kept data")
        finally:
            stop.set()
            for t in threads:
                t.join()
        m.stop(how)  # exit status 0, unmounted, within the stop timeout
        m.start()
        assert read_file(m.path("kept")) == b"kept data"


_READ_SYSCALL = {"x86_64": 0, "aarch64": 63}


def _fuse_fd(pid):
    for fd in os.listdir(f"/proc/{pid}/fd"):
        if os.readlink(f"/proc/{pid}/fd/{fd}") == "/dev/fuse":
            return int(fd)
    raise AssertionError("the daemon holds no /dev/fuse descriptor")


def _threads_reading(pid, fd):
    """_threads_reading -- threads of pid inside read(2) on fd right now."""
    n = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/syscall") as f:
                fields = f.read().split()
        except OSError:
            continue  # the thread just ended
        if len(fields) > 1 and fields[0] == str(_READ_SYSCALL[platform.machine()]) \
                and int(fields[1], 16) == fd:
            n += 1
    return n


def _blocking(pid, fd):
    with open(f"/proc/{pid}/fdinfo/{fd}") as f:
        flags = int(next(l for l in f if l.startswith("flags:")).split()[1], 8)
    return not flags & os.O_NONBLOCK


def test_parallel_mode_reads_with_one_thread_per_cpu(pool):
    """With several clients at once every request is read by one of at most
    as many threads as there are CPUs, two at least (the rest of the ten
    stay parked),
    and the device blocks; with one client again, it is polled."""
    with Mount(pool, "max_threads=10,no_uring") as m:  # the /dev/fuse loop
        pid, fd = m.pid, _fuse_fd(m.pid)
        readers = max(2, len(os.sched_getaffinity(pid)))
        stop = threading.Event()

        def client(k):
            p = m.path(f"c{k}")
            write_file(p, b"c" * 100)
            while not stop.is_set():
                os.listxattr(p)  # a round trip every time (stat is cached)

        threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        counts = []
        try:
            end = time.monotonic() + 1.5
            while time.monotonic() < end:
                if _blocking(pid, fd):  # parallel mode, before and after the count
                    n = _threads_reading(pid, fd)
                    if _blocking(pid, fd):
                        counts.append(n)
                time.sleep(0.002)
        finally:
            stop.set()
            for t in threads:
                t.join()
        assert counts, "four clients never put the loop in parallel mode"
        counts.sort()
        # while the mode flips back and forth (a client slowed by the GIL),
        # the one thread of the turn mode may be polling beside the readers
        assert counts[len(counts) // 2] <= readers and counts[-1] <= readers + 1, \
            (f"threads in read(2) on /dev/fuse: median {counts[len(counts) // 2]}, most {counts[-1]} "
             f"of {len(counts)} samples; {readers} readers allowed")
        # one client: back to polling a non-blocking device within a few ms
        for _ in range(200):
            os.listxattr(m.path("c0"))
            if not _blocking(pid, fd):
                break
            time.sleep(0.005)
        assert not _blocking(pid, fd)


@pytest.mark.parametrize("opt", ["spin=-1", "spin=abc", "spin="])
def test_bad_spin_value_refused(pool, opt):
    text = daemon_refuses(pool, opt)
    assert "spin" in text or "invalid" in text.lower(), text
