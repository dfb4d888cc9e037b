"""test_basic.py -- everyday operations on a fresh mount: files, directories, links, names, statfs."""

import errno
import mmap
import os
import stat

from pmtest import (MiB, Mount, assert_errno, free_counts, pattern, read_file, wait_free_counts,
                    write_all, write_file)


def test_fresh_pool_is_an_empty_root_directory(mount):
    st = os.lstat(mount.dir)
    assert stat.S_ISDIR(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o755, oct(st.st_mode)
    assert (st.st_uid, st.st_gid) == (0, 0)
    assert st.st_nlink == 2
    assert os.listdir(mount.dir) == []


def test_mount_options_in_proc_mounts(mount):
    from pmtest import mount_entry

    e = mount_entry(mount.dir)
    assert e["fstype"].startswith("fuse"), e
    # default_permissions is on by default: the kernel checks modes for us.
    assert "default_permissions" in e["super_options"].split(","), e


def test_create_write_read(mount):
    p = mount.path("f")
    data = pattern(300_000, 1)
    write_file(p, data)
    assert read_file(p) == data
    st = os.stat(p)
    assert stat.S_ISREG(st.st_mode) and st.st_size == len(data) and st.st_nlink == 1

    # Overwrite in the middle, unaligned.
    fd = os.open(p, os.O_RDWR)
    try:
        write_all(fd, b"Z" * 5000, offset=12345)
        assert os.pread(fd, 5002, 12344) == data[12344:12345] + b"Z" * 5000 + data[17345:17346]
        # Write past EOF leaves a zero gap.
        write_all(fd, b"tail", offset=len(data) + 1000)
        assert os.fstat(fd).st_size == len(data) + 1004
        assert os.pread(fd, 1004, len(data)) == bytes(1000) + b"tail"
    finally:
        os.close(fd)
    expect = bytearray(data)
    expect[12345:17345] = b"Z" * 5000
    expect += bytes(1000) + b"tail"
    mount.remount()
    assert read_file(p) == bytes(expect)


def test_append_and_trunc_and_excl(mount):
    p = mount.path("log")
    write_file(p, b"one\n")
    fd = os.open(p, os.O_WRONLY | os.O_APPEND)
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, b"two\n")  # O_APPEND ignores the seek
    finally:
        os.close(fd)
    assert read_file(p) == b"one\ntwo\n"
    assert_errno(errno.EEXIST, os.open, p, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    os.close(os.open(p, os.O_WRONLY | os.O_TRUNC))
    assert os.stat(p).st_size == 0 and read_file(p) == b""
    assert_errno(errno.ENOENT, os.open, mount.path("missing"), os.O_RDONLY)
    assert_errno(errno.ENOENT, os.stat, mount.path("missing"))


def test_directories(mount):
    root = mount.dir
    n0 = os.stat(root).st_nlink
    d = mount.path("d")
    os.mkdir(d, 0o750)
    st = os.stat(d)
    assert stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o750 and st.st_nlink == 2
    assert os.stat(root).st_nlink == n0 + 1
    os.mkdir(os.path.join(d, "sub"))
    assert os.stat(d).st_nlink == 3
    write_file(os.path.join(d, "file"), b"x")
    assert os.stat(d).st_nlink == 3  # files do not count
    assert sorted(os.listdir(d)) == ["file", "sub"]

    assert_errno(errno.EEXIST, os.mkdir, d)
    assert_errno(errno.ENOTEMPTY, os.rmdir, d)
    assert_errno(errno.ENOTDIR, os.rmdir, os.path.join(d, "file"))
    assert_errno(errno.ENOTDIR, os.mkdir, os.path.join(d, "file", "x"))
    assert_errno(errno.EISDIR, os.unlink, os.path.join(d, "sub"))
    assert_errno(errno.ENOENT, os.rmdir, mount.path("nope"))

    os.rmdir(os.path.join(d, "sub"))
    assert os.stat(d).st_nlink == 2
    os.unlink(os.path.join(d, "file"))
    os.rmdir(d)
    assert os.stat(root).st_nlink == n0
    assert os.listdir(root) == []


def test_hard_links_and_symlinks(mount):
    a, b = mount.path("a"), mount.path("b")
    write_file(a, b"content")
    os.link(a, b)
    sa, sb = os.stat(a), os.stat(b)
    assert sa.st_ino == sb.st_ino and sa.st_nlink == 2
    write_file(b, b"changed")  # same inode: visible through both names
    assert read_file(a) == b"changed"
    os.unlink(a)
    assert os.stat(b).st_nlink == 1 and read_file(b) == b"changed"

    os.mkdir(mount.path("dir"))
    assert_errno(errno.EPERM, os.link, mount.path("dir"), mount.path("dirlink"))
    assert_errno(errno.EEXIST, os.link, b, mount.path("dir"))

    os.symlink("b", mount.path("s"))
    os.symlink("/nonexistent/target", mount.path("dangling"))
    assert os.readlink(mount.path("s")) == "b"
    ls = os.lstat(mount.path("s"))
    assert stat.S_ISLNK(ls.st_mode) and ls.st_size == 1
    assert os.stat(mount.path("s")).st_ino == os.stat(b).st_ino
    assert read_file(mount.path("s")) == b"changed"
    assert_errno(errno.ENOENT, os.stat, mount.path("dangling"))
    assert os.lstat(mount.path("dangling")).st_size == len("/nonexistent/target")
    long_target = "x/" * 2000 + "y"  # 4001 bytes, under PATH_MAX
    os.symlink(long_target, mount.path("long"))
    mount.remount()
    assert os.readlink(mount.path("long")) == long_target
    assert os.readlink(mount.path("dangling")) == "/nonexistent/target"
    assert os.stat(b).st_nlink == 1


def test_unlinked_open_file_stays_readable(mount):
    before = free_counts(mount.dir)
    p = mount.path("tmp")
    data = pattern(4 * MiB, 7)
    fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        write_all(fd, data)
        os.fsync(fd)
        os.unlink(p)
        assert not os.path.exists(p)
        assert os.fstat(fd).st_nlink == 0
        assert os.pread(fd, len(data), 0) == data
        write_all(fd, b"more", offset=len(data))
        assert os.pread(fd, 4, len(data)) == b"more"
    finally:
        os.close(fd)
    wait_free_counts(mount.dir, before, "space of an unlinked file after its last close")


def test_readdir_many_entries_and_inode_numbers(mount):
    d = mount.path("many")
    os.mkdir(d)
    names = {f"entry-{i:04d}-" + "n" * (i % 200) for i in range(1500)}
    for i, n in enumerate(sorted(names)):
        if i % 3 == 0:
            os.mkdir(os.path.join(d, n))
        elif i % 3 == 1:
            write_file(os.path.join(d, n), b"", fsync=False)
        else:
            os.symlink("target", os.path.join(d, n))
    with os.scandir(d) as it:
        entries = list(it)
    assert {e.name for e in entries} == names
    assert len(entries) == len(names), "duplicate names in readdir"
    inos = set()
    for i, e in enumerate(sorted(entries, key=lambda e: e.name)):
        st = os.lstat(e.path)
        assert e.inode() == st.st_ino, f"readdir d_ino of {e.name} differs from st_ino"
        inos.add(st.st_ino)
        kind = (e.is_dir(follow_symlinks=False), e.is_file(follow_symlinks=False), e.is_symlink())
        assert kind == [(True, False, False), (False, True, False), (False, False, True)][i % 3], e.name
    assert len(inos) == len(names), "inode numbers are not unique"


def test_odd_file_names(mount):
    names = [b"with space", b"new\nline", b"tab\there", "ünïcödé-名前-🙂".encode(),
             b"\xff\xfe-not-utf8", b"-dash", b".hidden", b"...", b"a" * 255]
    root = os.fsencode(mount.dir)
    for i, n in enumerate(names):
        write_file(os.path.join(root, n), bytes([i]) * (i + 1), fsync=False)
    assert sorted(os.listdir(root)) == sorted(names)
    mount.remount()
    assert sorted(os.listdir(root)) == sorted(names)
    for i, n in enumerate(names):
        assert read_file(os.path.join(root, n)) == bytes([i]) * (i + 1)


def test_times_change_on_modification(mount):
    """mtime/ctime move on change (compared with an old value we set, not with the clock)."""
    p = mount.path("f")
    d = mount.path("d")
    os.mkdir(d)
    write_file(p, b"x")
    old = 1_000_000_000_123_456_789
    os.utime(p, ns=(old, old))
    os.utime(d, ns=(old, old))
    ctime0 = os.stat(p).st_ctime_ns

    with open(p, "ab") as f:
        f.write(b"y")
    st = os.stat(p)
    assert st.st_mtime_ns != old and st.st_mtime_ns > old
    assert st.st_ctime_ns >= ctime0

    os.utime(p, ns=(old, old))
    ctime1 = os.stat(p).st_ctime_ns
    os.chmod(p, 0o600)
    st = os.stat(p)
    assert st.st_mtime_ns == old, "chmod must not change mtime"
    assert st.st_ctime_ns >= ctime1

    write_file(os.path.join(d, "child"), b"")
    assert os.stat(d).st_mtime_ns > old, "creating an entry must change the directory's mtime"
    os.utime(d, ns=(old, old))
    os.unlink(os.path.join(d, "child"))
    assert os.stat(d).st_mtime_ns > old, "removing an entry must change the directory's mtime"

    os.utime(p, ns=(old, old))
    os.truncate(p, 0)
    assert os.stat(p).st_mtime_ns > old, "truncate must change mtime"


def test_shared_mmap(mount):
    p = mount.path("mapped")
    size = 3 * MiB + 100
    write_file(p, bytes(size))
    data = pattern(size, 3)
    fd = os.open(p, os.O_RDWR)
    try:
        with mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE) as mm:
            mm[:] = data
            mm.flush()  # msync(MS_SYNC)
    finally:
        os.close(fd)
    assert read_file(p) == data
    mount.remount()
    assert read_file(p) == data
    fd = os.open(p, os.O_RDONLY)
    try:
        with mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ) as mm:
            assert mm[:] == data
    finally:
        os.close(fd)


def test_fsync_files_and_directories(mount):
    d = mount.path("d")
    os.mkdir(d)
    p = os.path.join(d, "f")
    fd = os.open(p, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        os.write(fd, b"data")
        os.fsync(fd)
        os.fdatasync(fd)
    finally:
        os.close(fd)
    dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
    os.sync()
    assert read_file(p) == b"data"


def test_statfs(make_pool):
    """f_blocks > 0, f_files = --inodes, f_bfree/f_ffree move with a 10 MiB file and come back."""
    inodes = 4096
    with Mount(make_pool("256M", inodes=inodes)) as m:
        s = os.statvfs(m.dir)
        assert s.f_blocks > 0 and s.f_bsize > 0 and s.f_frsize > 0
        assert s.f_blocks * s.f_frsize <= 256 * MiB
        assert s.f_files == inodes
        assert 0 < s.f_ffree < inodes  # the root directory uses one
        assert s.f_bfree <= s.f_blocks and s.f_bavail <= s.f_bfree
        assert s.f_namemax == 255
        before = free_counts(m.dir)

        p = m.path("ten")
        write_file(p, pattern(10 * MiB, 11))
        s2 = os.statvfs(m.dir)
        assert (s.f_bfree - s2.f_bfree) * s.f_frsize >= 10 * MiB, \
            f"f_bfree went from {s.f_bfree} to {s2.f_bfree} after writing 10 MiB"
        assert s2.f_ffree == s.f_ffree - 1
        assert s2.f_files == inodes and s2.f_blocks == s.f_blocks

        os.unlink(p)
        wait_free_counts(m.dir, before, "statvfs after unlinking the 10 MiB file")
        m.remount()
        assert free_counts(m.dir) == before
