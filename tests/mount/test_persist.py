"""test_persist.py -- everything observable survives a clean unmount and mount."""

import os
import socket
import stat

from pmtest import (MiB, assert_same_snapshot, pattern, snapshot, write_all, write_file)

ALL_FIELDS = ("mode", "uid", "gid", "size", "nlink", "ino", "rdev", "mtime_ns", "atime_ns",
              "ctime_ns")


def build_tree(root):
    """build_tree -- one of everything; returns {relative path: (atime_ns, mtime_ns)} set on it."""
    P = lambda *p: os.path.join(root, *p)
    os.makedirs(P("d", "sub"))
    os.mkdir(P("sticky"), 0o755)
    os.chmod(P("sticky"), 0o1777)
    os.mkdir(P("sgid"))
    os.chown(P("sgid"), 0, 2000)
    os.chmod(P("sgid"), 0o2775)
    os.chmod(P("d", "sub"), 0o700)
    os.chown(P("d", "sub"), 1234, 5678)

    write_file(P("empty"), b"", mode=0o600)
    write_file(P("small"), b"hello\n")
    write_file(P("d", "random"), pattern(3 * MiB + 17, 42))
    fd = os.open(P("sparse"), os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        write_all(fd, b"start", offset=0)
        write_all(fd, b"end", offset=8 * MiB)
    finally:
        os.close(fd)
    write_file(P("setuid"), b"#!/bin/true\n")
    os.chmod(P("setuid"), 0o4755)
    write_file(P("d", "users"), b"owned by someone")
    os.chown(P("d", "users"), 1000, 1000)
    os.chmod(P("d", "users"), 0o640)

    os.link(P("small"), P("d", "small-link"))
    os.link(P("small"), P("sgid", "small-link2"))

    os.symlink("small", P("rel-link"))
    os.symlink("/etc/hostname", P("abs-link"))
    os.symlink("nowhere/at/all", P("dangling"))
    os.symlink("d/sub", P("dir-link"))
    os.lchown(P("rel-link"), 1000, 1000)

    os.mkfifo(P("fifo"), 0o620)
    os.mknod(P("chr"), stat.S_IFCHR | 0o600, os.makedev(1, 3))
    os.mknod(P("blk"), stat.S_IFBLK | 0o660, os.makedev(7, 200))
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.bind(P("sock"))

    os.setxattr(P("small"), "user.one", b"1")
    os.setxattr(P("small"), "user.empty", b"")
    os.setxattr(P("d"), "trusted.dir", bytes(range(64)))
    os.setxattr(P("d", "random"), "security.label", b"\x00secret\xff")
    os.setxattr(P("rel-link"), "trusted.link", b"L", follow_symlinks=False)

    # Distinct nanosecond times on everything, children before parents.
    times = {}
    entries = []
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            entries.append(os.path.relpath(os.path.join(dirpath, n), root))
    entries.sort(key=lambda r: (-r.count("/"), r))
    by_inode = {}
    for i, rel in enumerate(entries + ["."]):
        ino = os.lstat(P(rel)).st_ino
        if ino in by_inode:  # another name of an inode already done
            times[rel] = by_inode[ino]
            continue
        t = (1_500_000_000_000_000_000 + i * 1_000_000_007 + 123,
             1_600_000_000_000_000_000 + i * 999_999_937 + 456)
        os.utime(P(rel), ns=t, follow_symlinks=False)
        times[rel] = by_inode[ino] = t
    return times


def test_everything_survives_remount(mount):
    times = build_tree(mount.dir)
    # Times read back exactly (ns), before any remount.
    for rel, (at, mt) in times.items():
        st = os.lstat(os.path.join(mount.dir, rel))
        assert (st.st_atime_ns, st.st_mtime_ns) == (at, mt), rel

    # Contents first: reading may legitimately move atime, so attributes are
    # snapshotted after the last read and compared before the next one.
    contents = snapshot(mount.dir, ("mode",), content=True, xattrs=False)
    stats = snapshot(mount.dir, ALL_FIELDS, content=False, xattrs=True, dir_size=True)
    sv = os.statvfs(mount.dir)

    for _ in range(2):  # twice: the state written at unmount must itself mount cleanly
        mount.remount()
        assert_same_snapshot(stats, snapshot(mount.dir, ALL_FIELDS, content=False, xattrs=True,
                                             dir_size=True), "attributes after remount")
        sv2 = os.statvfs(mount.dir)
        assert (sv2.f_blocks, sv2.f_bfree, sv2.f_files, sv2.f_ffree) == \
            (sv.f_blocks, sv.f_bfree, sv.f_files, sv.f_ffree), "statvfs after remount"
        assert_same_snapshot(contents, snapshot(mount.dir, ("mode",), content=True, xattrs=False),
                             "contents after remount")
        stats_after_reads = snapshot(mount.dir, ALL_FIELDS, content=False, xattrs=True,
                                     dir_size=True)
        assert_same_snapshot(stats, stats_after_reads, "attributes after reading",
                             ignore=("atime_ns",))
        stats = stats_after_reads

    # Spot checks that the snapshot holds what we meant it to.
    assert stats["small"]["nlink"] == 3
    assert stats["small"]["ino"] == stats["sgid/small-link2"]["ino"]
    assert stat.S_IMODE(stats["setuid"]["mode"]) == 0o4755
    assert stat.S_IMODE(stats["sticky"]["mode"]) == 0o1777
    assert stats["sgid"]["gid"] == 2000
    assert (stats["d/sub"]["uid"], stats["d/sub"]["gid"]) == (1234, 5678)
    assert stats["rel-link"]["uid"] == 1000 and stats["rel-link"]["target"] == "small"
    assert stats["chr"]["rdev"] == os.makedev(1, 3) and stats["blk"]["rdev"] == os.makedev(7, 200)
    assert stat.S_ISSOCK(stats["sock"]["mode"]) and stat.S_ISFIFO(stats["fifo"]["mode"])
    assert stats["small"]["xattrs"] == {"user.empty": b"", "user.one": b"1"}
    assert stats["rel-link"]["xattrs"] == {"trusted.link": b"L"}


def test_changes_after_remount_persist(mount):
    """Work done on a remounted pool (allocations, frees, renames) persists as well."""
    P = mount.path
    for i in range(20):
        write_file(P(f"f{i}"), pattern(100_000 + i, i))
    mount.remount()
    for i in range(0, 20, 2):
        os.unlink(P(f"f{i}"))
    for i in range(1, 20, 2):
        os.rename(P(f"f{i}"), P(f"g{i}"))
    for i in range(20, 30):
        write_file(P(f"f{i}"), pattern(200_000 + i, i))  # reuses freed space
    data = snapshot(mount.dir, ("size",), content=True, xattrs=False)
    before = snapshot(mount.dir, ALL_FIELDS, content=False)
    mount.remount()
    assert_same_snapshot(before, snapshot(mount.dir, ALL_FIELDS, content=False), "after remount")
    assert_same_snapshot(data, snapshot(mount.dir, ("size",), content=True, xattrs=False),
                         "contents after remount")
    for i in range(1, 20, 2):
        with open(P(f"g{i}"), "rb") as f:
            assert f.read() == pattern(100_000 + i, i)
