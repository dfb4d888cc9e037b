"""test_uring.py -- FUSE over io_uring (daemon/uring.c): requests reach the
daemon through one ring per CPU when the kernel has it, every kind of
request gives the same results as over /dev/fuse, the kernel's switch is
turned on unless kept off, and stopping, media errors and the switch going
off under a mount lose nothing.

Needs a kernel with CONFIG_FUSE_IO_URING (Linux 6.14+): a kernel without it
fails these tests rather than skipping them."""

import contextlib
import hashlib
import os
import re
import shutil
import threading
import time

import pytest

import pmtest
import test_loop
import test_media
from pmtest import Mount, read_file, wait_until, write_file

SWITCH = "/sys/module/fuse/parameters/enable_uring"
URING_LINE = "pmfuse: requests come over io_uring: "
DEVFUSE_LINE = "pmfuse: requests come over /dev/fuse only: "


@pytest.fixture(autouse=True)
def own_options(monkeypatch):
    """these tests choose the transport themselves: not the run's extra
    options (tools/test's sanitizer pass adds no_uring to every mount)"""
    monkeypatch.setattr(pmtest, "EXTRA_OPTS", "")


@pytest.fixture
def switch():
    """the kernel's enable_uring switch, put back as it was after the test"""
    assert os.path.exists(SWITCH), f"{SWITCH} missing: the kernel has no FUSE over io_uring"
    with open(SWITCH) as f:
        old = f.read().strip()

    def set_to(value):
        with open(SWITCH, "w") as f:
            f.write(value + "\n")

    yield set_to
    set_to(old)


def _ring_threads(pid):
    """queue threads of pid (named pmfuse-ringN) waiting in io_uring_enter(2)
    right now (426 on every architecture)"""
    n = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(OSError):
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                if not f.read().startswith("pmfuse-ring"):
                    continue
            with open(f"/proc/{pid}/task/{tid}/syscall") as f:
                if f.read().split()[0] == "426":
                    n += 1
    return n


def _ring_count():
    """rings, and threads, the daemon makes: two per possible CPU (one
    pinned there, one on the next CPU), one on a single CPU"""
    cpus = _possible_cpus()
    return 2 * cpus if cpus > 1 else 1


def _all_rings_wait(pid):
    """every ring's thread comes back to io_uring_enter (after its last
    request it may poll for a while first)"""
    wait_until(lambda: _ring_threads(pid) == _ring_count(), "every ring's thread in io_uring_enter")


def _possible_cpus():
    with open("/sys/devices/system/cpu/possible") as f:
        first, _, last = f.read().strip().partition("-")
    return int(last or first) + 1


def _workout(m):
    """a bit of everything, with payloads of every size the rings carry"""
    big = os.urandom(5 * 1024 * 1024 + 123)
    write_file(m.path("big"), big)
    with open(m.path("big"), "rb", buffering=0) as f:  # 1 MiB reads, whole payloads
        got = b"".join(iter(lambda: f.read(1 << 20), b""))
    assert got == big
    os.mkdir(m.path("d"))
    for i in range(300):
        write_file(m.path("d", f"f{i:03}"), str(i).encode())
    assert sorted(os.listdir(m.path("d"))) == [f"f{i:03}" for i in range(300)]
    value = os.urandom(60000)
    os.setxattr(m.path("big"), "user.big", value)
    assert os.getxattr(m.path("big"), "user.big") == value
    os.rename(m.path("d", "f000"), m.path("moved"))
    os.symlink("moved", m.path("link"))
    assert os.readlink(m.path("link")) == "moved"
    os.link(m.path("moved"), m.path("hard"))
    assert os.stat(m.path("hard")).st_nlink == 2
    fd = os.open(m.path("synced"), os.O_CREAT | os.O_WRONLY, 0o644)
    os.pwrite(fd, b"x" * 4096, 1 << 20)
    os.fsync(fd)
    os.close(fd)
    os.truncate(m.path("big"), 4096)
    return hashlib.sha256(big[:4096]).hexdigest()


def test_requests_come_over_io_uring(pool, switch):
    """a queue thread per CPU waits in io_uring_enter; everything works and
    stays after a remount; the mount says how requests come"""
    switch("Y")
    m = Mount(pool)
    with m:
        digest = _workout(m)
        _all_rings_wait(m.pid)
        stderr = m.stop()
        assert any(l.startswith(URING_LINE) for l in stderr), stderr
        m.start()
        assert hashlib.sha256(read_file(m.path("big"))).hexdigest() == digest
        assert read_file(m.path("moved")) == b"0"
        assert os.path.getsize(m.path("synced")) == (1 << 20) + 4096


def test_switch_turned_on_unless_kept_off(pool, switch):
    """as root pmfuse turns the switch on; with kernel_limits it leaves it
    off and takes requests from /dev/fuse only"""
    switch("N")
    with Mount(pool, "kernel_limits") as m:
        _workout(m)
        assert _ring_threads(m.pid) == 0
        stderr = m.stop()
    assert any(l.startswith(DEVFUSE_LINE) for l in stderr), stderr
    with open(SWITCH) as f:
        assert f.read().strip() == "N"
    with Mount(pool) as m:
        assert read_file(m.path("moved")) == b"0"
        _all_rings_wait(m.pid)
        stderr = m.stop()
    assert any("switched on the fuse module's enable_uring" in l for l in stderr), stderr
    assert any(l.startswith(URING_LINE) for l in stderr), stderr
    with open(SWITCH) as f:
        assert f.read().strip() == "Y"


def test_no_uring_option(pool, switch):
    """-o no_uring: no rings, /dev/fuse serves everything"""
    switch("Y")
    with Mount(pool, "no_uring") as m:
        _workout(m)
        assert _ring_threads(m.pid) == 0
        stderr = m.stop()
    assert not any("io_uring" in l for l in stderr), stderr


def test_switch_off_under_a_mount_loses_nothing(pool, switch):
    """the connection asked for io_uring at INIT: the kernel keeps it on the
    rings when the switch goes off (else a reply would be refused and its
    request hang)"""
    switch("Y")
    with Mount(pool) as m:
        write_file(m.path("before"), b"before")
        switch("N")
        data = os.urandom(3 << 20)
        write_file(m.path("after"), data)
        fd = os.open(m.path("after"), os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)
        assert read_file(m.path("after")) == data
        _all_rings_wait(m.pid)
        m.remount()
        assert read_file(m.path("after")) == data
        assert read_file(m.path("before")) == b"before"


def test_stop_while_clients_run_in_parallel(pool, switch):
    """SIGTERM with four clients: the queue threads and the /dev/fuse loop
    all end, the daemon exits 0 and what was written is kept"""
    switch("Y")
    test_loop.test_stop_while_clients_run_in_parallel(pool, "sigterm")


@test_media.SMALL
def test_media_error_over_io_uring(pool, switch):
    """a read whose data the media lost fails with EIO over the rings too
    (the copy into the ring's buffer takes the SIGBUS), the daemon lives and
    turns read-only"""
    switch("Y")
    test_media.test_truncated_pool_fails_requests_and_turns_read_only(pool)


def test_parallel_clients_over_io_uring(pool, switch):
    """clients on every CPU at once: each gets its own data back"""
    switch("Y")
    with Mount(pool) as m:
        errors = []

        def client(k):
            try:
                for i in range(50):
                    data = os.urandom(4096 * (1 + (k + i) % 64))
                    write_file(m.path(f"c{k}"), data)
                    assert read_file(m.path(f"c{k}")) == data
            except Exception as e:  # noqa: BLE001 -- reported below
                errors.append(e)

        threads = [threading.Thread(target=client, args=(k,)) for k in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors


def _forgets(lines):
    """(requests, inodes) of the FORGET and BATCH_FORGET requests in a -d
    trace: a FORGET's in-size is the 40-byte header and 8 bytes; a
    BATCH_FORGET's the header, 8 bytes and 16 per inode"""
    requests = inodes = 0
    for line in lines:
        m = re.search(r"opcode: (BATCH_)?FORGET \(\d+\), .*insize: (\d+)", line)
        if m:
            requests += 1
            inodes += (int(m.group(2)) - 48) // 16 if m.group(1) else 1
    return requests, inodes


def test_forgets_come_in_batches(pool, switch):
    """with the rings up, /dev/fuse carries only what no client waits for
    (FORGET, INTERRUPT): its thread rests 1 ms before it sleeps on the
    device, so the kernel wakes no one for each FORGET of an rm -rf and
    hands them over in batches. Before, it polled after each one as if a
    client waited: one request (and CPU time) per removed inode."""
    switch("Y")
    n = 300
    m = Mount(pool, debug=True)
    with m:
        _all_rings_wait(m.pid)
        os.mkdir(m.path("d"))
        for i in range(n):
            open(m.path("d", str(i)), "w").close()
        shutil.rmtree(m.path("d"))
        wait_until(lambda: _forgets(m.daemon.stderr)[1] >= n + 1,
                   "the kernel to forget the removed inodes")
        requests, inodes = _forgets(m.daemon.stderr)
    assert requests <= n // 4, f"{requests} requests carried {inodes} forgotten inodes"


def _helper_cpus(pid):
    """{queue: CPUs allowed} of each queue's second thread (pmfuse-ringNb)"""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(OSError):
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                m = re.fullmatch(r"pmfuse-ring(\d+)b", f.read().strip())
            if not m:
                continue
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if line.startswith("Cpus_allowed_list:"):
                        out[int(m.group(1))] = line.split()[1]
    return out


def _busy_until(stop, target, cpu):
    """a client on cpu: write, fsync and read back a small file until stop"""
    os.sched_setaffinity(0, {cpu})  # this thread only
    i = 0
    while not stop.is_set():
        write_file(target, str(i).encode() * 64)
        assert read_file(target) == str(i).encode() * 64
        i += 1


def _cpus_for_second_threads():
    """the possible CPUs; skips unless there are two or more, all online
    (there is no second thread on one CPU)"""
    cpus = _possible_cpus()
    if cpus < 2 or len(os.sched_getaffinity(0)) < cpus:
        pytest.skip("needs every possible CPU online (there is no second thread on one CPU)")
    return cpus


def _read_cold(path):
    """the whole file, read in 1 MiB calls after dropping it from the page
    cache: read-ahead sends several requests at once"""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        return b"".join(iter(lambda: os.read(fd, 1 << 20), b""))
    finally:
        os.close(fd)


def test_second_thread_follows_the_clients(pool, switch):
    """each queue's second ring thread runs on the next CPU while one
    client alone sends bursts of requests (read-ahead: served on two CPUs)
    and moves to its queue's CPU while several do: there a synchronous
    client that once landed on it does not wait for a wake-up on the CPU
    busy with another client"""
    cpus = _cpus_for_second_threads()
    switch("Y")
    with Mount(pool) as m:
        _all_rings_wait(m.pid)
        away = {q: str((q + 1) % cpus) for q in range(cpus)}
        home = {q: str(q) for q in range(cpus)}
        assert _helper_cpus(m.pid) == away

        # three clients on each CPU at once: requests overlap on every
        # queue, so each second thread serves some
        stop = threading.Event()
        errors = []

        def client(k):
            try:
                _busy_until(stop, m.path(f"busy{k}"), k % cpus)
            except Exception as e:  # noqa: BLE001 -- reported below
                errors.append(e)

        threads = [threading.Thread(target=client, args=(k,)) for k in range(3 * cpus)]
        for t in threads:
            t.start()
        try:
            wait_until(lambda: _helper_cpus(m.pid) == home or errors,
                       "every second thread on its queue's CPU")
        finally:
            stop.set()
            for t in threads:
                t.join()
        assert not errors, errors
        assert _helper_cpus(m.pid) == home

        # one client alone, reading a file cold on CPU 0: the read-ahead's
        # requests come several at once, and queue 0's second thread goes
        # back to the next CPU
        big = os.urandom(32 << 20)
        write_file(m.path("big"), big)
        done = threading.Event()

        def reader():
            os.sched_setaffinity(0, {0})
            while not done.is_set():
                if _read_cold(m.path("big")) != big:
                    errors.append("the cold read returned other data")
                    return

        t = threading.Thread(target=reader)
        t.start()
        try:
            wait_until(lambda: _helper_cpus(m.pid)[0] == away[0] or errors,
                       "queue 0's second thread back on the next CPU")
        finally:
            done.set()
            t.join()
        # (not asserted again after the reader stops: read-ahead that
        # comes one request at a time may bring it back to its queue's
        # CPU, as test_a_lone_synchronous_client_is_served_on_its_own_cpu
        # wants for a client that waits for each answer)
        assert not errors, errors


def _ring_runtime(pid):
    """{tid: (name, CPUs allowed, ns run so far)} of every ring thread;
    each of them must be found (an unreadable schedstat fails the test,
    rather than making it see no thread run)"""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                name = f.read().strip()
            if not name.startswith("pmfuse-ring"):
                continue
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                allowed = next(line.split()[1] for line in f
                               if line.startswith("Cpus_allowed_list:"))
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                out[tid] = (name, allowed, int(f.read().split()[0]))
    assert len(out) == _ring_count(), f"ring threads found: {sorted(v[0] for v in out.values())}"
    return out


def test_a_lone_synchronous_client_is_served_on_its_own_cpu(pool, switch):
    """a client alone that waits for each answer is served by a thread on
    its own CPU. The kernel gives a request to the entry freed last, so a
    client that once landed on its queue's second thread keeps landing
    there; while that thread sat on the next CPU, each answer had to wake
    the client's idle CPU (W5: about 37 k IOPS that way, 50 k on one CPU).
    After 32 requests with no burst among them, the second thread comes
    to the queue's CPU; a burst (requests that overlap) sends it back to
    the next CPU. Rounds of read-ahead bursts shuffle which entry the
    client lands on; the test goes on (8 to 12 rounds a mount, up to six
    mounts) until it has landed on the second thread (the binary before
    failed there), and fails if it never does: it must check."""
    _cpus_for_second_threads()
    switch("Y")
    big = os.urandom(16 << 20)
    landed, firsts = 0, []
    saved = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {0})
    try:
        # a mount may keep its client on the first thread for dozens of
        # rounds (which entry is freed last depends on timing): up to six
        # mounts, until the client has landed on the second thread
        for _ in range(6):
            landed += _lone_client_rounds(pool, big, firsts, 1)
            if landed:
                break
    finally:
        os.sched_setaffinity(0, saved)
    # never a pass (nor a skip) without having checked it
    assert landed, (f"the client never landed on queue 0's second thread in {len(firsts)} "
                    f"rounds, so nothing was checked; ms run in each first window: {firsts}")


def _lone_client_rounds(pool, big, firsts, need):
    """rounds of a cold read of `big`, then three 0.2-s windows of getxattr
    from CPU 0 on a fresh mount of pool (test_a_lone_synchronous_client_is
    _served_on_its_own_cpu), until the second thread of queue 0 has served
    the first window of `need` rounds (and 8 rounds in all have run), or
    12 rounds; returns how many it served, after appending each first
    window's ms to firsts"""
    landed = 0
    with Mount(pool) as m:
        _all_rings_wait(m.pid)
        write_file(m.path("big"), big)
        write_file(m.path("x"), b"x")

        def window():
            """ms each ring thread ran while the client sent requests for
            0.2 s (getxattr: the kernel caches none): {tid: (name, CPUs
            allowed at the end, ms)}"""
            before = _ring_runtime(m.pid)
            end = time.monotonic() + 0.2
            while time.monotonic() < end:
                with contextlib.suppress(OSError):
                    os.getxattr(m.path("x"), "user.none")
            after = _ring_runtime(m.pid)
            return {t: (name, allowed, (ran - before[t][2]) // 1_000_000)
                    for t, (name, allowed, ran) in after.items() if t in before}

        for i in range(12):
            assert _read_cold(m.path("big")) == big
            # the first 0.2 s may still be served on the next CPU (the
            # second thread moves at most every 10 ms); not the next two:
            # no thread allowed off CPU 0 may run more than 50 ms of them
            # (a second thread stuck on the next CPU serves the whole 200)
            ran = {name: ms for name, _, ms in window().values()}
            firsts.append(ran)
            landed += ran["pmfuse-ring0b"] > max(ran["pmfuse-ring0"], 20)
            for n in (2, 3):
                off = {name: ms for name, allowed, ms in window().values()
                       if allowed != "0" and ms > 50}
                assert not off, f"round {i}, window {n}: served off the client's CPU: {off}"
            if landed >= need and len(firsts) >= 8:
                break
    return landed
