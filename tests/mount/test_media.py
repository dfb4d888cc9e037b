"""test_media.py -- media errors: a pool access the media cannot serve (here,
the pool file truncated under the running daemon: SIGBUS on the mapping)
fails that request with EIO, is logged, turns the mount read-only, and the
daemon keeps serving reads of healthy data."""

import errno
import os

import pytest

from pmtest import Mount, read_file, write_file

MiB = 1 << 20


def _drop_caches():
    """the kernel's page cache would answer reads without the daemon"""
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def _errno_of(fn, *args):
    try:
        fn(*args)
    except OSError as e:
        return e.errno
    return 0


SMALL = pytest.mark.parametrize("pool", [dict(size="64M")], indirect=True)


def _alive(m):
    return m.daemon.proc.poll() is None


@SMALL
def test_truncated_pool_fails_requests_and_turns_read_only(pool):
    early = os.urandom(64 * 1024)
    late = os.urandom(24 * MiB)
    m = Mount(pool)
    m.expect(r"media error in the pool")
    m.expect(r"writing device: Bad address")  # libfuse, when the kernel's copy of a reply fails
    with m:
        write_file(m.path("early"), early)  # first-fit: the front of the data area
        write_file(m.path("late"), late)  # reaches far into the pool
        os.mkdir(m.path("dir"))
        for p in ("early", "late", "dir"):
            fd = os.open(m.path(p), os.O_RDONLY)
            os.fsync(fd)
            os.close(fd)
        # cut the pool file under the daemon: most of "late" is gone
        os.truncate(pool, 16 * MiB)
        _drop_caches()

        assert _errno_of(read_file, m.path("late")) == errno.EIO
        assert _alive(m), "the daemon died of the media error"
        # healthy data still reads, and the namespace still answers
        assert read_file(m.path("early")) == early
        assert sorted(os.listdir(m.dir)) == ["dir", "early", "late"]
        assert os.stat(m.path("dir")).st_nlink == 2
        # every change is refused from now on, and nothing is lost by it
        assert _errno_of(write_file, m.path("new"), b"x") == errno.EROFS
        assert _errno_of(os.mkdir, m.path("dir2")) == errno.EROFS
        assert _errno_of(os.unlink, m.path("early")) == errno.EROFS
        assert _errno_of(os.setxattr, m.path("early"), "user.a", b"1") == errno.EROFS
        assert _errno_of(os.truncate, m.path("early"), 0) == errno.EROFS
        assert read_file(m.path("early")) == early
        assert _alive(m)
        assert any("media error in the pool" in line for line in m.daemon.stderr)


@SMALL
def test_media_error_leaves_the_pool_marked_in_use(pool):
    """the unmount after a media error does not mark the pool clean: the
    next mount recovers and says so"""
    m = Mount(pool)
    m.expect(r"media error in the pool")
    m.expect(r"writing device: Bad address")
    with m:
        write_file(m.path("late"), os.urandom(24 * MiB))
        fd = os.open(m.path("late"), os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)
        os.truncate(pool, 16 * MiB)
        _drop_caches()
        assert _errno_of(read_file, m.path("late")) == errno.EIO
    os.truncate(pool, 64 * MiB)  # the lost part reads as zeros now
    m2 = Mount(pool)
    m2.expect(r"not unmounted cleanly")
    with m2:
        assert "late" in os.listdir(m2.dir)
        assert any("not unmounted cleanly" in line for line in m2.daemon.stderr)


@SMALL
def test_known_bad_blocks_are_kept_out_of_allocation(pool, monkeypatch):
    """libpmem2's bad-block list (faked here: emulated pmem has none) is read
    at mount: a free bad range is reported and never allocated, even when
    the pool is filled up"""
    bad_off, bad_len = 40 * MiB, 8192
    with open(pool, "r+b") as f:
        f.seek(bad_off)
        f.write(b"\xee" * bad_len)
    monkeypatch.setenv("PMFUSE_FAKE_BADBLOCKS", f"{bad_off}:{bad_len},{1 << 40}:4096")
    m = Mount(pool)
    m.expect(r"known bad block")
    with m:
        lines = [l for l in m.daemon.stderr if "known bad block" in l]
        assert len(lines) == 1, lines  # the range past the pool's end is not the pool's
        assert f"at offset {bad_off} ({bad_len} bytes): free, kept out of allocation" in lines[0]
        chunk = os.urandom(MiB)
        with pytest.raises(OSError) as e:
            with open(m.path("fill"), "wb") as f:
                for _ in range(64):
                    f.write(chunk)
                    f.flush()
                    os.fsync(f.fileno())
        assert e.value.errno == errno.ENOSPC
        assert os.stat(m.path("fill")).st_size >= 32 * MiB  # it did reach past the bad range
    with open(pool, "rb") as f:
        f.seek(bad_off)
        assert f.read(bad_len) == b"\xee" * bad_len, "a known bad block was allocated"
