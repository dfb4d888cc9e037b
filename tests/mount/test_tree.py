"""test_tree.py -- a real tree (cp -a /usr/include), remount, links, tar --xattrs, rm -rf."""

import os
import subprocess

from pmtest import (Mount, assert_same_snapshot, free_counts, run, snapshot, wait_free_counts,
                    write_file)

SOURCE = "/usr/include"
TREE_FIELDS = ("mode", "uid", "gid", "size", "nlink", "mtime_ns")
COPY_FIELDS = TREE_FIELDS + ("rdev",)


def diff_r(a, b):
    r = run(["diff", "-r", "--no-dereference", a, b], check=False, timeout=300)
    assert r.returncode == 0, f"diff -r {a} {b}:\n{(r.stdout + r.stderr)[:3000]}"


def tar_copy(src, dst):
    """tar_copy -- tar c --xattrs src | tar x --xattrs into dst (POSIX format: ns times)."""
    os.mkdir(dst)
    create = subprocess.Popen(["tar", "-c", "--xattrs", "--xattrs-include=*", "--format=posix",
                               "-f", "-", "-C", src, "."],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    extract = subprocess.run(["tar", "-x", "--xattrs", "--xattrs-include=*", "--numeric-owner",
                              "-p", "-f", "-", "-C", dst],
                             stdin=create.stdout, capture_output=True, timeout=600)
    create.stdout.close()
    create_err = create.stderr.read()
    create.stderr.close()
    create_rc = create.wait(timeout=60)
    assert create_rc == 0, f"tar -c failed: {create_err.decode(errors='replace')}"
    assert extract.returncode == 0, f"tar -x failed: {extract.stderr.decode(errors='replace')}"


def test_copy_usr_include(make_pool):
    with Mount(make_pool("1G", inodes=65536)) as m:
        empty = free_counts(m.dir)
        tree, copy = m.path("tree"), m.path("copy")

        # cp -a, then compare contents and every entry's attributes.
        run(["cp", "-a", SOURCE, tree], timeout=600)
        diff_r(SOURCE, tree)
        src = snapshot(SOURCE, TREE_FIELDS, content=False)
        assert_same_snapshot(src, snapshot(tree, TREE_FIELDS, content=False),
                             f"cp -a {SOURCE} into the mount")

        # The same after a remount (now read from the pool, not the page cache).
        m.remount()
        assert_same_snapshot(src, snapshot(tree, TREE_FIELDS, content=False),
                             f"cp -a {SOURCE} into the mount, after remount")
        diff_r(SOURCE, tree)

        # Hard links, symlinks, special files and xattrs, then a tar round trip.
        stdio = os.path.join(tree, "stdio.h")
        os.link(stdio, os.path.join(tree, "stdio-hardlink.h"))
        os.link(stdio, os.path.join(tree, "linux", "stdio-hardlink2.h"))
        assert os.stat(stdio).st_nlink == 3
        os.symlink("stdio.h", os.path.join(tree, "stdio-symlink.h"))
        os.symlink("linux", os.path.join(tree, "linux-symlink"))
        os.symlink("/usr/include/stdlib.h", os.path.join(tree, "absolute-symlink"))
        os.symlink("does/not/exist", os.path.join(tree, "dangling-symlink"))
        os.mkfifo(os.path.join(tree, "fifo"), 0o640)
        os.mknod(os.path.join(tree, "null"), 0o666 | 0o020000, os.makedev(1, 3))
        write_file(os.path.join(tree, "empty"), b"")
        os.setxattr(stdio, "user.comment", b"shared by three links")
        os.setxattr(os.path.join(tree, "empty"), "user.empty-value", b"")
        os.setxattr(os.path.join(tree, "linux"), "user.dir", b"on a directory")
        os.setxattr(os.path.join(tree, "stdlib.h"), "trusted.t", bytes(range(256)))
        os.setxattr(os.path.join(tree, "stdlib.h"), "security.s", b"\x00\x01\x02")

        tar_copy(tree, copy)
        a = snapshot(tree, COPY_FIELDS)
        b = snapshot(copy, COPY_FIELDS)
        assert_same_snapshot(a, b, "tar c --xattrs | tar x --xattrs inside the mount")
        assert os.stat(os.path.join(copy, "stdio.h")).st_nlink == 3
        assert os.stat(os.path.join(copy, "stdio.h")).st_ino == \
            os.stat(os.path.join(copy, "linux", "stdio-hardlink2.h")).st_ino

        # rm -rf gives every block and inode back.
        run(["rm", "-rf", tree, copy], timeout=600)
        assert os.listdir(m.dir) == []
        wait_free_counts(m.dir, empty, "statvfs after rm -rf, compared with the fresh mount")
        m.remount()
        assert free_counts(m.dir) == empty, "free counts after rm -rf and remount"
