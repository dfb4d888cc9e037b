"""test_data.py -- file data: a 1 GiB file, sparse files, truncate, fallocate, SEEK_DATA/SEEK_HOLE."""

import errno
import hashlib
import json
import mmap
import os
import struct
import subprocess

from pmtest import (FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, GiB, MiB, Mount, assert_errno,
                    cached_pages, fallocate, is_zero, pattern, pread_all, read_file, sha256_file,
                    write_all, write_file)

HOLE_AT = 100 * MiB


def test_one_gib_file(make_pool):
    with Mount(make_pool("2G")) as m:
        p = m.path("big")
        base = os.urandom(MiB)
        h = hashlib.sha256()
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            for i in range(GiB // MiB):
                block = struct.pack("<Q", i) + base[8:]  # every block differs
                write_all(fd, block)
                h.update(block)
            os.fsync(fd)
        finally:
            os.close(fd)
        assert os.stat(p).st_size == GiB
        assert os.stat(p).st_blocks * 512 >= GiB
        assert sha256_file(p) == h.hexdigest()
        m.remount()
        assert os.stat(p).st_size == GiB
        assert sha256_file(p) == h.hexdigest(), "1 GiB file differs after remount"


def make_sparse(path):
    """make_sparse -- 4 KiB of 'A' at 0 and of 'B' at 100 MiB, nothing between."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        write_all(fd, b"A" * 4096, offset=0)
        write_all(fd, b"B" * 4096, offset=HOLE_AT)
        os.fsync(fd)
    finally:
        os.close(fd)


def check_sparse(path):
    st = os.stat(path)
    assert st.st_size == HOLE_AT + 4096
    assert st.st_blocks * 512 <= MiB, f"sparse file uses {st.st_blocks * 512} bytes"
    data = read_file(path)
    assert data[:4096] == b"A" * 4096
    assert is_zero(data[4096:HOLE_AT]), "a hole does not read as zeros"
    assert data[HOLE_AT:] == b"B" * 4096


def test_sparse_file(mount):
    p = mount.path("sparse")
    make_sparse(p)
    check_sparse(p)
    mount.remount()
    check_sparse(p)


def test_seek_data_and_hole(pool):
    # Without the writeback cache every written byte is in the pool: the
    # daemon reports holes exactly.
    with Mount(pool, "no_writeback") as mount:
        check_seek_data_and_hole(mount)


def test_seek_in_writeback_cache(mount):
    """Through the writeback cache, data the kernel has not yet written back
    is data for SEEK_DATA/SEEK_HOLE (the daemon cannot see it: the kernel
    answers from its own size, the whole file data); it was ENXIO."""
    fd = os.open(mount.path("fresh"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        write_all(fd, b"x" * 65536, offset=0)
        assert os.lseek(fd, 0, os.SEEK_DATA) == 0
        assert os.lseek(fd, 4096, os.SEEK_DATA) == 4096
        assert os.lseek(fd, 0, os.SEEK_HOLE) == 65536
        assert_errno(errno.ENXIO, os.lseek, fd, 65536, os.SEEK_DATA)
        write_all(fd, b"y" * 10, offset=HOLE_AT)
        assert os.lseek(fd, 70000, os.SEEK_DATA) == 70000
        assert os.lseek(fd, 70000, os.SEEK_HOLE) == HOLE_AT + 10
    finally:
        os.close(fd)
    p = mount.path("sparse")
    make_sparse(p)
    fd = os.open(p, os.O_RDONLY)
    try:
        assert os.lseek(fd, 0, os.SEEK_DATA) == 0
        assert os.lseek(fd, 0, os.SEEK_HOLE) == HOLE_AT + 4096
        assert_errno(errno.ENXIO, os.lseek, fd, HOLE_AT + 4096, os.SEEK_DATA)
    finally:
        os.close(fd)


def check_seek_data_and_hole(mount):
    p = mount.path("sparse")
    make_sparse(p)
    size = HOLE_AT + 4096
    fd = os.open(p, os.O_RDONLY)
    try:
        assert os.lseek(fd, 0, os.SEEK_DATA) == 0
        hole = os.lseek(fd, 0, os.SEEK_HOLE)
        assert 4096 <= hole < HOLE_AT and hole % 4096 == 0, f"first hole at {hole}"
        assert os.lseek(fd, 100, os.SEEK_HOLE) == hole
        assert os.lseek(fd, hole, os.SEEK_DATA) == HOLE_AT
        assert os.lseek(fd, HOLE_AT // 2, os.SEEK_DATA) == HOLE_AT
        assert os.lseek(fd, HOLE_AT // 2, os.SEEK_HOLE) == HOLE_AT // 2
        assert os.lseek(fd, HOLE_AT, os.SEEK_HOLE) == size  # the implicit hole at EOF
        assert os.lseek(fd, HOLE_AT + 10, os.SEEK_DATA) == HOLE_AT + 10
        assert_errno(errno.ENXIO, os.lseek, fd, size, os.SEEK_DATA)
        assert_errno(errno.ENXIO, os.lseek, fd, size + 1, os.SEEK_HOLE)
    finally:
        os.close(fd)

    # A file with no data at all is one hole.
    e = mount.path("all-hole")
    write_file(e, b"")
    os.truncate(e, 10 * MiB)
    fd = os.open(e, os.O_RDONLY)
    try:
        assert_errno(errno.ENXIO, os.lseek, fd, 0, os.SEEK_DATA)
        assert os.lseek(fd, 0, os.SEEK_HOLE) == 0
    finally:
        os.close(fd)


def test_truncate_grow_and_shrink(mount):
    p = mount.path("t")
    data = pattern(10_000, 21)
    write_file(p, data)

    os.truncate(p, MiB + 123)
    got = read_file(p)
    assert len(got) == MiB + 123 and got[:10_000] == data and is_zero(got[10_000:])

    os.truncate(p, 5000)  # inside a block
    assert read_file(p) == data[:5000]

    # Growing again must not resurrect the bytes cut off above.
    fd = os.open(p, os.O_RDWR)
    try:
        os.ftruncate(fd, 20_000)
        got = pread_all(fd, 30_000, 0)
    finally:
        os.close(fd)
    assert len(got) == 20_000 and got[:5000] == data[:5000]
    assert is_zero(got[5000:]), "old data reappeared after shrink + grow"

    os.truncate(p, 0)
    assert os.stat(p).st_size == 0 and read_file(p) == b""
    mount.remount()
    assert os.stat(p).st_size == 0
    os.truncate(p, 4097)
    assert read_file(p) == bytes(4097)


def test_truncate_persists(mount):
    p = mount.path("t")
    data = pattern(3 * MiB, 22)
    write_file(p, data)
    os.truncate(p, MiB + 1)
    mount.remount()
    assert read_file(p) == data[:MiB + 1]
    os.truncate(p, 2 * MiB)
    mount.remount()
    got = read_file(p)
    assert got[:MiB + 1] == data[:MiB + 1] and is_zero(got[MiB + 1:])


def test_fallocate_default_mode(mount):
    p = mount.path("f")
    fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fallocate(fd, 0, 0, 4 * MiB)
        st = os.fstat(fd)
        assert st.st_size == 4 * MiB
        assert st.st_blocks * 512 >= 4 * MiB
        assert is_zero(pread_all(fd, 4 * MiB, 0))
        # Allocating inside the file changes nothing visible.
        write_all(fd, b"keep", offset=MiB)
        fallocate(fd, 0, 0, 2 * MiB)
        assert os.fstat(fd).st_size == 4 * MiB
        assert os.pread(fd, 4, MiB) == b"keep"
    finally:
        os.close(fd)
    mount.remount()
    assert os.stat(p).st_size == 4 * MiB and os.stat(p).st_blocks * 512 >= 4 * MiB


def test_fallocate_keep_size(mount):
    p = mount.path("f")
    write_file(p, b"x" * 4096)
    blocks0 = os.stat(p).st_blocks
    fd = os.open(p, os.O_RDWR)
    try:
        fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 8 * MiB)
        st = os.fstat(fd)
    finally:
        os.close(fd)
    assert st.st_size == 4096, "KEEP_SIZE changed the size"
    assert st.st_blocks > blocks0 and st.st_blocks * 512 >= 8 * MiB
    assert read_file(p) == b"x" * 4096
    mount.remount()
    assert os.stat(p).st_size == 4096 and read_file(p) == b"x" * 4096


def test_fallocate_punch_hole(mount):
    p = mount.path("f")
    data = pattern(4 * MiB, 23)
    write_file(p, data)
    blocks0 = os.stat(p).st_blocks
    fd = os.open(p, os.O_RDWR)
    try:
        fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, MiB, MiB)
        st = os.fstat(fd)
        got = pread_all(fd, 4 * MiB, 0)
        # Through the writeback cache the kernel answers SEEK_HOLE from its
        # own size (test_seek_in_writeback_cache); the pool's holes show in
        # test_punched_range_is_a_hole.
        assert os.lseek(fd, 0, os.SEEK_HOLE) == 4 * MiB
        # Unaligned punch: partial blocks are zeroed, the rest stays.
        fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 3 * MiB + 100, 5000)
    finally:
        os.close(fd)
    assert st.st_size == 4 * MiB
    assert st.st_blocks < blocks0 and (blocks0 - st.st_blocks) * 512 >= MiB
    assert got[:MiB] == data[:MiB] and is_zero(got[MiB:2 * MiB]) and got[2 * MiB:] == data[2 * MiB:]
    expect = bytearray(data)
    expect[MiB:2 * MiB] = bytes(MiB)
    expect[3 * MiB + 100:3 * MiB + 5100] = bytes(5000)
    assert read_file(p) == bytes(expect)
    mount.remount()
    assert read_file(p) == bytes(expect)


def test_punched_range_is_a_hole(pool):
    with Mount(pool, "no_writeback") as mount:
        p = mount.path("f")
        write_file(p, pattern(4 * MiB, 23))
        fd = os.open(p, os.O_RDWR)
        try:
            fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, MiB, MiB)
            assert os.lseek(fd, 0, os.SEEK_HOLE) == MiB
            assert os.lseek(fd, MiB, os.SEEK_DATA) == 2 * MiB
        finally:
            os.close(fd)


def test_own_writes_keep_the_page_cache(pool):
    """Without the writeback cache each write goes to the daemon, and the
    kernel learns the new mtime from its next GETATTR. pmfuse is the pool's
    only writer, so a new mtime never means the cached pages are stale; with
    the kernel's auto_inval_data (libfuse's default) the first read after
    each write dropped the whole file's page cache."""
    with Mount(pool, "no_writeback") as mount:
        p = mount.path("f")
        data = pattern(MiB, 7)
        write_file(p, data, fsync=False)
        assert read_file(p) == data
        assert cached_pages(p) == MiB // 4096
        fd = os.open(p, os.O_RDWR)
        try:
            write_all(fd, b"x" * 4096, offset=0)
            assert pread_all(fd, 4096, MiB // 2) == data[MiB // 2:MiB // 2 + 4096]
        finally:
            os.close(fd)
        assert cached_pages(p) == MiB // 4096, "a write dropped the file's page cache"
        assert read_file(p) == b"x" * 4096 + data[4096:]
        mount.remount()
        assert read_file(p) == b"x" * 4096 + data[4096:]


def _bytes_written(m):
    return json.loads(os.getxattr(m.dir, "user.pmfuse.stats"))["bytes_written"]


def test_exclusive_create_is_written_through(mount):
    """A file made with O_EXCL (tar, cp, mkstemp) gets direct I/O on that
    handle: each write reaches the daemon before it returns (no writeback
    round trips at close), and reads, a shared mapping, fsync and a second
    handle all see the same bytes."""
    p = mount.path("excl")
    fd = os.open(p, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o644)
    try:
        before = _bytes_written(mount)
        assert os.write(fd, b"a" * 5000) == 5000
        assert _bytes_written(mount) - before == 5000  # already in the pool
        os.pwrite(fd, b"b" * 3000, 8192)
        assert os.pread(fd, 20000, 0) == b"a" * 5000 + b"\0" * 3192 + b"b" * 3000
        with mmap.mmap(fd, 11192) as mm:  # shared, on the direct handle
            assert mm[4998:5002] == b"aa\0\0"
            mm[0:4] = b"MMAP"
            mm.flush()
        with open(p, "rb") as other:
            assert other.read(6) == b"MMAPaa"
        os.fsync(fd)
        st = os.fstat(fd)
        assert st.st_size == 11192
    finally:
        os.close(fd)
    mount.remount()
    assert read_file(p) == b"MMAP" + b"a" * 4996 + b"\0" * 3192 + b"b" * 3000


def _copy_range(src, dst, count, off_in, off_out):
    """copy_file_range(2) until count bytes are copied or the source ends"""
    fi, fo = os.open(src, os.O_RDONLY), os.open(dst, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        done = 0
        while done < count:
            n = os.copy_file_range(fi, fo, count - done, off_in + done, off_out + done)
            if n == 0:
                break
            done += n
        return done
    finally:
        os.close(fi)
        os.close(fo)


def test_copy_file_range_inside_the_pool(mount):
    """copy_file_range(2) (what cp uses) is done by the daemon from pool to
    pool: the source is never read through the kernel's page cache (with
    no such operation the kernel copies page by page through the mount);
    the copy is right at any offsets, stops at the source's end, and
    outlives a remount"""
    src, dst = mount.path("src"), mount.path("dst")
    data = pattern(8 * MiB + 777, 11)
    write_file(src, data)
    fd = os.open(src, os.O_RDONLY)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.close(fd)
    assert cached_pages(src) == 0
    assert _copy_range(src, dst, len(data), 0, 0) == len(data)
    assert cached_pages(src) == 0, "the source was read through the page cache"
    assert read_file(dst) == data
    # unaligned offsets, into the middle of an existing file, past the
    # source's end (short), and from the end (nothing)
    assert _copy_range(src, dst, 3 * MiB, 12345, 4 * MiB + 3) == 3 * MiB
    want = bytearray(data)
    want[4 * MiB + 3:7 * MiB + 3] = data[12345:12345 + 3 * MiB]
    assert read_file(dst) == bytes(want)
    assert _copy_range(src, dst, 10 * MiB, 8 * MiB, 0) == 777
    want[:777] = data[8 * MiB:]
    assert _copy_range(src, dst, 4096, len(data), 0) == 0
    assert read_file(dst) == bytes(want)
    # cp itself, and one file onto another part of itself
    subprocess.run(["cp", src, mount.path("cp")], check=True)
    assert read_file(mount.path("cp")) == data
    assert _copy_range(src, src, MiB, 0, 9 * MiB) == MiB
    assert os.path.getsize(src) == 10 * MiB
    assert_errno(errno.EINVAL, _copy_range, src, src, MiB, 0, 4096)
    mount.remount()
    assert read_file(dst) == bytes(want)
    assert read_file(mount.path("cp")) == data
    assert read_file(src)[:len(data)] == data
    assert read_file(src)[9 * MiB:] == data[:MiB]
