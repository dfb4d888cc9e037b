"""test_rename.py -- rename(2) and renameat2(2): every case, errno, link counts, persistence."""

import errno
import os

import pytest

from pmtest import (RENAME_EXCHANGE, RENAME_NOREPLACE, assert_errno, read_file, renameat2,
                    write_file)

OLD_NS = 1_000_000_000_000_000_000


def mkfile(path, data):
    write_file(path, data, fsync=False)
    return os.stat(path).st_ino


def test_plain_rename_keeps_inode(mount):
    a, b = mount.path("a"), mount.path("b")
    ino = mkfile(a, b"hello")
    os.utime(mount.dir, ns=(OLD_NS, OLD_NS))
    os.rename(a, b)
    assert not os.path.lexists(a)
    assert read_file(b) == b"hello" and os.stat(b).st_ino == ino
    assert os.stat(mount.dir).st_mtime_ns > OLD_NS, "rename must update the parent's mtime"
    # A rename of a name onto itself, and onto another link of the same inode, is a no-op.
    os.rename(b, b)
    os.link(b, a)
    os.rename(a, b)
    assert os.path.exists(a) and os.path.exists(b) and os.stat(b).st_nlink == 2
    mount.remount()
    assert read_file(b) == b"hello" and os.stat(b).st_ino == ino and os.stat(b).st_nlink == 2


def test_rename_between_directories(mount):
    d1, d2 = mount.path("d1"), mount.path("d2")
    os.mkdir(d1)
    os.mkdir(d2)
    ino = mkfile(os.path.join(d1, "f"), b"moved")
    for d in (d1, d2):
        os.utime(d, ns=(OLD_NS, OLD_NS))
    os.rename(os.path.join(d1, "f"), os.path.join(d2, "g"))
    assert os.listdir(d1) == [] and os.listdir(d2) == ["g"]
    assert os.stat(os.path.join(d2, "g")).st_ino == ino
    assert os.stat(d1).st_mtime_ns > OLD_NS and os.stat(d2).st_mtime_ns > OLD_NS
    mount.remount()
    assert os.listdir(d1) == [] and read_file(os.path.join(d2, "g")) == b"moved"


def test_rename_over_existing_file(mount):
    a, b = mount.path("a"), mount.path("b")
    ino_a = mkfile(a, b"new")
    mkfile(b, b"old contents")
    fd = os.open(b, os.O_RDONLY)  # the replaced inode lives on while open
    try:
        os.rename(a, b)
        assert not os.path.lexists(a)
        assert read_file(b) == b"new" and os.stat(b).st_ino == ino_a
        assert os.fstat(fd).st_nlink == 0
        assert os.pread(fd, 100, 0) == b"old contents"
    finally:
        os.close(fd)
    assert os.listdir(mount.dir) == ["b"]
    mount.remount()
    assert os.listdir(mount.dir) == ["b"] and read_file(b) == b"new"


def test_rename_dir_over_empty_dir(mount):
    src, dst = mount.path("src"), mount.path("dst")
    os.mkdir(src)
    os.mkdir(dst)
    mkfile(os.path.join(src, "inside"), b"x")
    ino = os.stat(src).st_ino
    n_root = os.stat(mount.dir).st_nlink
    os.rename(src, dst)
    assert not os.path.lexists(src)
    assert os.stat(dst).st_ino == ino and os.listdir(dst) == ["inside"]
    assert os.stat(mount.dir).st_nlink == n_root - 1, "one subdirectory fewer in the parent"
    mount.remount()
    assert os.listdir(dst) == ["inside"] and os.stat(mount.dir).st_nlink == n_root - 1


def test_rename_errors(mount):
    P = mount.path
    os.mkdir(P("dir"))
    os.mkdir(P("full"))
    mkfile(P("full", "x"), b"x")
    os.makedirs(P("dir", "sub", "deeper"))
    mkfile(P("file"), b"file")

    assert_errno(errno.ENOTEMPTY, os.rename, P("dir"), P("full"))
    assert_errno(errno.EINVAL, os.rename, P("dir"), P("dir", "sub", "inside"))
    assert_errno(errno.EINVAL, os.rename, P("dir"), P("dir", "sub", "deeper", "x"))
    assert_errno(errno.EISDIR, os.rename, P("file"), P("dir"))
    assert_errno(errno.ENOTDIR, os.rename, P("dir"), P("file"))
    assert_errno(errno.ENOENT, os.rename, P("missing"), P("other"))
    assert_errno(errno.ENOENT, os.rename, P("file"), P("missing-dir", "file"))
    # Nothing moved.
    assert sorted(os.listdir(mount.dir)) == ["dir", "file", "full"]
    assert os.listdir(P("full")) == ["x"] and os.listdir(P("dir")) == ["sub"]
    assert read_file(P("file")) == b"file"


def test_rename_noreplace(mount):
    a, b, c = mount.path("a"), mount.path("b"), mount.path("c")
    mkfile(a, b"A")
    mkfile(b, b"B")
    assert_errno(errno.EEXIST, renameat2, a, b, RENAME_NOREPLACE)
    assert read_file(a) == b"A" and read_file(b) == b"B"
    renameat2(a, c, RENAME_NOREPLACE)
    assert not os.path.lexists(a) and read_file(c) == b"A"
    os.mkdir(mount.path("d"))
    assert_errno(errno.EEXIST, renameat2, c, mount.path("d"), RENAME_NOREPLACE)


def test_rename_exchange_file_and_dir(mount):
    P = mount.path
    os.mkdir(P("p1"))
    os.mkdir(P("p2"))
    f, d = P("p1", "f"), P("p2", "d")
    ino_f = mkfile(f, b"file contents")
    os.mkdir(d)
    mkfile(os.path.join(d, "inner"), b"inner contents")
    ino_d = os.stat(d).st_ino
    assert os.stat(P("p1")).st_nlink == 2 and os.stat(P("p2")).st_nlink == 3

    renameat2(f, d, RENAME_EXCHANGE)

    # p1/f is now the directory, p2/d the file.
    assert os.path.isdir(f) and os.stat(f).st_ino == ino_d
    assert os.listdir(f) == ["inner"] and read_file(os.path.join(f, "inner")) == b"inner contents"
    assert os.path.isfile(d) and os.stat(d).st_ino == ino_f and read_file(d) == b"file contents"
    assert os.stat(P("p1")).st_nlink == 3 and os.stat(P("p2")).st_nlink == 2
    assert os.stat(os.path.join(f, "..")).st_ino == os.stat(P("p1")).st_ino

    assert_errno(errno.ENOENT, renameat2, P("p1", "f"), P("p1", "missing"), RENAME_EXCHANGE)
    assert_errno(errno.EINVAL, renameat2, f, d, RENAME_EXCHANGE | RENAME_NOREPLACE)

    mount.remount()
    assert os.listdir(f) == ["inner"] and read_file(d) == b"file contents"
    assert os.stat(P("p1")).st_nlink == 3 and os.stat(P("p2")).st_nlink == 2
    assert os.stat(f).st_ino == ino_d and os.stat(d).st_ino == ino_f


def test_rename_exchange_two_files(mount):
    a, b = mount.path("a"), mount.path("b")
    ia, ib = mkfile(a, b"AAA"), mkfile(b, b"BB")
    renameat2(a, b, RENAME_EXCHANGE)
    assert read_file(a) == b"BB" and read_file(b) == b"AAA"
    assert os.stat(a).st_ino == ib and os.stat(b).st_ino == ia


@pytest.mark.parametrize("over_empty_dir", [False, True], ids=["new-name", "over-empty-dir"])
def test_directory_moves_between_parents_fix_link_counts(mount, over_empty_dir):
    P = mount.path
    for d in ("p1", "p2", "p1/s", "p1/s/child"):
        os.mkdir(P(d))
    if over_empty_dir:
        os.mkdir(P("p2", "t"))
    n_p1, n_p2 = os.stat(P("p1")).st_nlink, os.stat(P("p2")).st_nlink
    assert n_p1 == 3 and n_p2 == (3 if over_empty_dir else 2)

    os.rename(P("p1", "s"), P("p2", "t"))

    assert os.stat(P("p1")).st_nlink == 2
    assert os.stat(P("p2")).st_nlink == 3
    assert os.stat(P("p2", "t")).st_nlink == 3  # itself, its '.', child's '..'
    assert os.stat(P("p2", "t", "..")).st_ino == os.stat(P("p2")).st_ino
    assert os.listdir(P("p2", "t")) == ["child"]
    mount.remount()
    assert os.stat(P("p1")).st_nlink == 2 and os.stat(P("p2")).st_nlink == 3
    assert os.stat(P("p2", "t")).st_nlink == 3
    assert os.listdir(P("p1")) == [] and os.listdir(P("p2")) == ["t"]
    # Moving back restores the original counts.
    os.rename(P("p2", "t"), P("p1", "s"))
    assert os.stat(P("p1")).st_nlink == 3 and os.stat(P("p2")).st_nlink == 2


def test_rename_replaced_file_frees_it(mount):
    """The replaced inode is gone: its link count was 1, so after the rename its space returns."""
    from pmtest import MiB, free_counts, pattern, wait_free_counts

    a, b = mount.path("a"), mount.path("b")
    mkfile(a, b"small")
    before = free_counts(mount.dir)
    write_file(b, pattern(8 * MiB, 5))
    os.rename(a, b)
    wait_free_counts(mount.dir, before, "statvfs after renaming over an 8 MiB file")
