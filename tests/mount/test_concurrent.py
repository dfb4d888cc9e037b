"""test_concurrent.py -- several processes at once: separate files, one file, one directory."""

import os
import subprocess
import sys
import textwrap

import pytest

from pmtest import MiB, pattern, read_file, sha256, sha256_file

# Each worker waits for "go" on stdin so that all of them start together.
WORKER_PRELUDE = r"""
import os, random, sys
def pattern(size, seed):
    return random.Random(seed).randbytes(size)
def pwrite_all(fd, data, off):
    view = memoryview(data)
    while view:
        n = os.pwrite(fd, view, off)
        view, off = view[n:], off + n
sys.stdin.readline()
"""


def run_together(scripts):
    """run_together -- start one Python process per script, release them at once, require success."""
    procs = [subprocess.Popen([sys.executable, "-c", WORKER_PRELUDE + textwrap.dedent(s)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for s in scripts]
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    failures = []
    for i, p in enumerate(procs):
        out, err = p.communicate(input=None, timeout=240)
        if p.returncode != 0:
            failures.append(f"worker {i} exited {p.returncode}:\n{err}")
    assert not failures, "\n".join(failures)


def test_processes_writing_different_files(mount):
    size = 32 * MiB
    paths = [mount.path(f"w{i}") for i in range(2)]
    scripts = [f"""
        fd = os.open({p!r}, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        data = pattern({size}, {i})
        for off in range(0, {size}, 65536):
            pwrite_all(fd, data[off:off + 65536], off)
        os.fsync(fd)
        os.close(fd)
    """ for i, p in enumerate(paths)]
    run_together(scripts)
    expect = [sha256(pattern(size, i)) for i in range(2)]
    assert [sha256_file(p) for p in paths] == expect
    mount.remount()
    assert [sha256_file(p) for p in paths] == expect


@pytest.mark.parametrize("stripe", [65536, 3000], ids=["aligned-64k", "unaligned-3000"])
def test_processes_writing_interleaved_ranges_of_one_file(mount, stripe):
    """Two processes write alternating stripes of one file (unaligned stripes share blocks)."""
    size = 16 * MiB
    p = mount.path("shared")
    fd = os.open(p, os.O_WRONLY | os.O_CREAT, 0o644)
    os.ftruncate(fd, size)
    os.close(fd)
    scripts = [f"""
        fd = os.open({p!r}, os.O_WRONLY)
        data = pattern({size}, 77)
        for n, off in enumerate(range(0, {size}, {stripe})):
            if n % 2 == {k}:
                pwrite_all(fd, data[off:off + {stripe}], off)
        os.fsync(fd)
        os.close(fd)
    """ for k in range(2)]
    run_together(scripts)
    expect = pattern(size, 77)
    got = read_file(p)
    assert len(got) == size
    if got != expect:
        bad = next(i for i in range(size) if got[i] != expect[i])
        pytest.fail(f"first wrong byte at offset {bad} (stripe {bad // stripe})", pytrace=False)
    mount.remount()
    assert read_file(p) == expect


def test_processes_sharing_a_directory(mount):
    d = mount.path("d")
    os.mkdir(d)
    n = 600
    scripts = [f"""
        d = {d!r}
        for i in range({n}):
            name = os.path.join(d, "p{k}-%04d" % i)
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            os.write(fd, name.encode())
            os.close(fd)
            if i % 3 == 0:
                os.rename(name, name + ".renamed")
            elif i % 3 == 1:
                os.unlink(name)
            if i % 50 == 0:
                os.mkdir(os.path.join(d, "dir-p{k}-%04d" % i))
        os.listdir(d)
    """ for k in range(3)]
    run_together(scripts)
    expect = set()
    for k in range(3):
        for i in range(n):
            name = f"p{k}-{i:04d}"
            if i % 3 == 0:
                expect.add(name + ".renamed")
            elif i % 3 == 2:
                expect.add(name)
            if i % 50 == 0:
                expect.add(f"dir-p{k}-{i:04d}")
    assert set(os.listdir(d)) == expect
    assert os.stat(d).st_nlink == 2 + 3 * len(range(0, n, 50))
    for name in expect:
        if not name.startswith("dir-"):
            original = os.path.join(d, name.replace(".renamed", ""))
            assert read_file(os.path.join(d, name)) == original.encode()
    mount.remount()
    assert set(os.listdir(d)) == expect


def test_link_counts_while_others_list(mount):
    """The kernel counts an unlink off its cached nlink itself; a listing
    carrying the already-lowered count must not reach it first (it did: a
    stat then showed 0 links for an existing file, and link(2) of it gave
    ENOENT)."""
    dirs = [mount.path(f"s{i}") for i in range(3)]
    for d in dirs:
        os.mkdir(d)
    seconds = 6
    linker = f"""
        import time
        dirs, bad, k = {dirs!r}, [], 0
        end = time.monotonic() + {seconds}
        while time.monotonic() < end:
            k += 1
            a = os.path.join(dirs[k % 3], "p%d-f%d" % (os.getpid(), k))
            h = os.path.join(dirs[(k + 1) % 3], "p%d-h%d" % (os.getpid(), k))
            os.close(os.open(a, os.O_CREAT | os.O_WRONLY, 0o644))
            os.link(a, h)
            bad += [f"{{p}}: {{os.lstat(p).st_nlink}} links after link"
                    for p in (a, h) if os.lstat(p).st_nlink != 2]
            os.unlink(h)
            if os.lstat(a).st_nlink != 1:
                bad.append(f"{{a}}: {{os.lstat(a).st_nlink}} links after unlinking {{h}}")
            os.link(a, h)  # ENOENT when the kernel thinks it has no link left
            os.unlink(a)
            os.unlink(h)
        assert k > 100, k
        assert not bad, f"{{len(bad)}} of {{k}} rounds: {{bad[:5]}}"
    """
    lister = f"""
        import time
        end = time.monotonic() + {seconds}
        while time.monotonic() < end:
            for d in {dirs!r}:
                os.listdir(d)
    """
    run_together([linker, linker, lister, lister])
    assert all(os.listdir(d) == [] for d in dirs)
