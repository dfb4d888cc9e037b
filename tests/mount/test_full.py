"""test_full.py -- running out of blocks and out of inodes: ENOSPC, nothing lost, space comes back."""

import errno
import os

import pytest

from pmtest import (MiB, Mount, pattern, read_file, sha256, sha256_file, wait_until, write_file)

FILE_SIZE = MiB


def fill_with_files(m, prefix="f", limit=500):
    """fill_with_files -- 1 MiB files until one fails with ENOSPC.

    Returns ({path: sha256} of the complete files, path of the failed one)."""
    done = {}
    for i in range(limit):
        p = m.path(f"{prefix}{i:04d}")
        data = pattern(FILE_SIZE, i)
        try:
            write_file(p, data)  # ENOSPC may come from write, fsync or close
        except OSError as e:
            assert e.errno == errno.ENOSPC, f"writing {p}: expected ENOSPC, got {e}"
            return done, p
        done[p] = sha256(data)
    pytest.fail(f"no ENOSPC after {limit} MiB written to a small pool", pytrace=False)


def check_files(files):
    for p, h in files.items():
        assert sha256_file(p) == h, f"{p} changed"


def test_fill_blocks_to_enospc(make_pool):
    with Mount(make_pool("64M")) as m:
        files, failed = fill_with_files(m)
        assert len(files) * FILE_SIZE >= 16 * MiB, \
            f"ENOSPC after only {len(files)} MiB in a 64 MiB pool"
        s = os.statvfs(m.dir)
        assert s.f_bavail * s.f_frsize < 2 * FILE_SIZE, \
            f"ENOSPC while statvfs reports {s.f_bavail * s.f_frsize} bytes available"
        check_files(files)

        # The failed file is whatever it is (short or empty) but removable, and
        # small operations still fail cleanly or work; nothing crashes.
        os.unlink(failed)
        bfree_full = os.statvfs(m.dir).f_bfree
        victims = sorted(files)[:3]
        for p in victims:
            os.unlink(p)
            del files[p]
        wait_until(lambda: (os.statvfs(m.dir).f_bfree - bfree_full) * s.f_frsize >= 3 * FILE_SIZE,
                   "f_bfree to grow by 3 MiB after unlinking three 1 MiB files")

        # Writing works again.
        again = m.path("again")
        data = pattern(2 * FILE_SIZE, 9999)
        write_file(again, data)
        files[again] = sha256(data)
        check_files(files)

        m.remount()
        check_files(files)
        assert sorted(os.listdir(m.dir)) == sorted(os.path.basename(p) for p in files)


def test_enospc_is_clean_for_a_single_big_write(make_pool):
    """Writing 128 MiB into a 64 MiB pool: ENOSPC (from write, fsync or close), never EIO;
    what reads back is written data or zeros, never garbage; the space comes back."""
    with Mount(make_pool("64M")) as m:
        empty = os.statvfs(m.dir).f_bfree
        p = m.path("huge")
        chunk = pattern(8 * MiB, 1)
        fd = os.open(p, os.O_WRONLY | os.O_CREAT, 0o644)
        err = None
        try:
            for _ in range(16):
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view):]
            os.fsync(fd)
        except OSError as e:
            err = e
        finally:
            try:
                os.close(fd)
            except OSError as e:
                err = err or e
        assert err is not None and err.errno == errno.ENOSPC, f"expected ENOSPC, got {err!r}"
        got = read_file(p)
        whole = chunk * 16
        assert len(got) <= len(whole)
        zero = bytes(4096)
        for off in range(0, len(got), 4096):
            b = got[off:off + 4096]
            assert b == whole[off:off + len(b)] or b == zero[:len(b)], \
                f"garbage at offset {off} of a file that hit ENOSPC"
        os.unlink(p)
        wait_until(lambda: os.statvfs(m.dir).f_bfree == empty, "the space of the unlinked file")
        write_file(m.path("after"), b"works")
        assert read_file(m.path("after")) == b"works"


def test_inode_exhaustion(make_pool):
    inodes = 256
    with Mount(make_pool("64M", inodes=inodes)) as m:
        assert os.statvfs(m.dir).f_files == inodes
        created = []
        err = None
        for i in range(inodes + 50):
            p = m.path(f"i{i:04d}")
            try:
                os.close(os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
            except OSError as e:
                err = e
                break
            created.append(p)
        assert err is not None, f"created {len(created)} files with {inodes} inodes"
        assert err.errno == errno.ENOSPC, f"expected ENOSPC when out of inodes, got {err}"
        assert inodes - 16 <= len(created) < inodes, f"{len(created)} files from {inodes} inodes"
        assert os.statvfs(m.dir).f_ffree == 0
        # Every kind of new inode is refused, without leaving a name behind.
        for fn, args in ((os.mkdir, (m.path("dir"),)), (os.symlink, ("t", m.path("sym"))),
                         (os.mkfifo, (m.path("fifo"),))):
            with pytest.raises(OSError) as e:
                fn(*args)
            assert e.value.errno == errno.ENOSPC, f"{fn.__name__}: {e.value}"
        assert len(os.listdir(m.dir)) == len(created)
        # A hard link needs no inode.
        os.link(created[0], m.path("hardlink"))

        os.unlink(created.pop())
        wait_until(lambda: os.statvfs(m.dir).f_ffree >= 1, "an inode to be freed after unlink")
        os.mkdir(m.path("dir"))
        created.append(m.path("dir"))

        m.remount()
        assert len(os.listdir(m.dir)) == len(created) + 1
        assert os.statvfs(m.dir).f_ffree == 0


def fill_without_fsync(path, size):
    """fill_without_fsync -- write size bytes to a new file (no O_EXCL, no fsync), then close.

    Returns (bytes write() accepted, the write's OSError or None, close's OSError or None)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    chunk, done, werr, cerr = pattern(MiB, 7), 0, None, None
    try:
        while done < size:
            done += os.write(fd, chunk)
    except OSError as e:
        werr = e
    try:
        os.close(fd)
    except OSError as e:
        cerr = e
    return done, werr, cerr


@pytest.mark.parametrize("opts", [None, "no_writeback"])
def test_where_enospc_is_reported(make_pool, opts):
    """The README's Limits: under the writeback cache write() succeeds and close() reports
    ENOSPC; with -o no_writeback write() itself fails and the file holds what it accepted."""
    with Mount(make_pool("16M"), opts) as m:
        p = m.path("over")
        done, werr, cerr = fill_without_fsync(p, 32 * MiB)
        if opts is None:
            assert werr is None and done == 32 * MiB, f"write() failed under the writeback cache: {werr!r}"
            assert cerr is not None and cerr.errno == errno.ENOSPC, f"close() gave {cerr!r}, not ENOSPC"
        else:
            assert werr is not None and werr.errno == errno.ENOSPC, f"write() gave {werr!r}, not ENOSPC"
            assert cerr is None, f"close() after the failed write: {cerr!r}"
            assert done < 16 * MiB
            m.remount()
            got = read_file(p)
            assert len(got) == done and got == (pattern(MiB, 7) * 16)[:done], \
                "the file does not hold exactly the bytes write() accepted"
