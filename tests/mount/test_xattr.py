"""test_xattr.py -- extended attributes: namespaces, flags, errors, sizes, persistence."""

import errno
import os

import pytest

from pmtest import (assert_errno, getxattr_sized, listxattr_sized, read_file, write_file)

NAMESPACES = ["user.test", "trusted.test", "security.test"]


@pytest.fixture
def target(mount):
    p = mount.path("f")
    write_file(p, b"data")
    return p


@pytest.mark.parametrize("name", NAMESPACES)
def test_set_get_list_remove(target, name):
    os.setxattr(target, name, b"value-1")
    assert os.getxattr(target, name) == b"value-1"
    assert name in os.listxattr(target)
    os.setxattr(target, name, b"a longer second value")  # replace, growing
    assert os.getxattr(target, name) == b"a longer second value"
    os.setxattr(target, name, b"s")  # and shrinking
    assert os.getxattr(target, name) == b"s"
    os.removexattr(target, name)
    assert name not in os.listxattr(target)
    assert_errno(errno.ENODATA, os.getxattr, target, name)
    assert read_file(target) == b"data"


def test_flags_and_errors(target):
    n = "user.flagged"
    assert_errno(errno.ENODATA, os.getxattr, target, n)
    assert_errno(errno.ENODATA, os.removexattr, target, n)
    assert_errno(errno.ENODATA, os.setxattr, target, n, b"v", os.XATTR_REPLACE)
    assert n not in os.listxattr(target)
    os.setxattr(target, n, b"first", os.XATTR_CREATE)
    assert_errno(errno.EEXIST, os.setxattr, target, n, b"second", os.XATTR_CREATE)
    assert os.getxattr(target, n) == b"first"
    os.setxattr(target, n, b"third", os.XATTR_REPLACE)
    assert os.getxattr(target, n) == b"third"


def test_buffer_sizes(target):
    value = bytes(range(200))
    os.setxattr(target, "user.sized", value)
    os.setxattr(target, "user.other", b"x")
    assert getxattr_sized(target, "user.sized", 0) == len(value)  # size query
    assert getxattr_sized(target, "user.sized", len(value)) == value
    assert_errno(errno.ERANGE, getxattr_sized, target, "user.sized", len(value) - 1)
    assert_errno(errno.ERANGE, getxattr_sized, target, "user.sized", 1)

    need = listxattr_sized(target, 0)
    names = listxattr_sized(target, need)
    assert len(names) == need
    assert sorted(names.rstrip(b"\0").split(b"\0")) == [b"user.other", b"user.sized"]
    assert_errno(errno.ERANGE, listxattr_sized, target, need - 1)


def test_value_and_name_limits(target):
    big = os.urandom(4096)
    os.setxattr(target, "user.big", big)
    assert os.getxattr(target, "user.big") == big
    assert_errno(errno.E2BIG, os.setxattr, target, "user.toobig", bytes(65537))
    long_name = "user." + "n" * 250  # 255 bytes: the limit
    os.setxattr(target, long_name, b"long")
    assert os.getxattr(target, long_name) == b"long"
    assert_errno(errno.ERANGE, os.setxattr, target, "user." + "n" * 251, b"x")
    assert "user.toobig" not in os.listxattr(target)


def test_empty_and_binary_values_and_many_attributes_survive_remount(mount):
    p = mount.path("f")
    write_file(p, b"data")
    d = mount.path("d")
    os.mkdir(d)
    expect = {"user.empty": b"", "user.binary": bytes(range(256)) * 3,
              "user.nul": b"\0", "trusted.bin": b"\xff\x00\xfe", "security.sec": b"label\0"}
    for i in range(100):
        expect[f"user.attr-{i:03d}"] = f"value {i} ".encode() * (i % 7 + 1)
    for k, v in expect.items():
        os.setxattr(p, k, v)
    os.setxattr(d, "user.on-dir", b"dir value")
    os.setxattr(p, "user.removed", b"gone")
    os.removexattr(p, "user.removed")

    def check():
        assert sorted(os.listxattr(p)) == sorted(expect)
        for k, v in expect.items():
            assert os.getxattr(p, k) == v, k
        assert os.listxattr(d) == ["user.on-dir"] and os.getxattr(d, "user.on-dir") == b"dir value"

    check()
    mount.remount()
    check()
    # Changes after a remount persist too.
    os.setxattr(p, "user.attr-000", b"changed")
    expect["user.attr-000"] = b"changed"
    os.removexattr(p, "user.attr-099")
    del expect["user.attr-099"]
    mount.remount()
    check()


def test_xattrs_on_symlink_and_special_files(mount):
    write_file(mount.path("target"), b"")
    os.symlink("target", mount.path("link"))
    os.setxattr(mount.path("link"), "trusted.on-link", b"L", follow_symlinks=False)
    assert os.getxattr(mount.path("link"), "trusted.on-link", follow_symlinks=False) == b"L"
    assert "trusted.on-link" not in os.listxattr(mount.path("target"))
    # user.* is only for regular files and directories.
    assert_errno(errno.EPERM, os.setxattr, mount.path("link"), "user.x", b"v", follow_symlinks=False)
    os.mkfifo(mount.path("fifo"))
    os.setxattr(mount.path("fifo"), "trusted.on-fifo", b"F")
    mount.remount()
    assert os.listxattr(mount.path("link"), follow_symlinks=False) == ["trusted.on-link"]
    assert os.getxattr(mount.path("fifo"), "trusted.on-fifo") == b"F"


def test_xattrs_follow_hard_links_and_rename(mount):
    a = mount.path("a")
    write_file(a, b"")
    os.setxattr(a, "user.k", b"v")
    os.link(a, mount.path("b"))
    assert os.getxattr(mount.path("b"), "user.k") == b"v"
    os.rename(a, mount.path("c"))
    assert os.getxattr(mount.path("c"), "user.k") == b"v"
    os.unlink(mount.path("c"))
    assert os.getxattr(mount.path("b"), "user.k") == b"v"
