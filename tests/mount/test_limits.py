"""test_limits.py -- limits and bad input: the inode table, the largest file,
deep trees and PATH_MAX, extended-attribute limits, and mounts that must be
refused before anything is mounted."""

import errno
import hashlib
import os
import stat
import subprocess
import sys
import tempfile

import pytest

from pmtest import (FALLOC_FL_KEEP_SIZE, MiB, Mount, USER_GID, USER_UID, assert_errno,
                    daemon_refuses, fallocate, getxattr_sized, is_mounted, listxattr_sized,
                    pattern, pmfuse_bin, read_file, run, size_bytes, wait_until, write_file)

PATH_MAX = 4096  # bytes, with the terminating NUL: the longest path is 4095
NAME_MAX = 255
FILE_MAX = (1 << 63) - 1  # the kernel's s_maxbytes for every FUSE mount (MAX_LFS_FILESIZE)
OLD_FILE_MAX = 1 << 44  # pmfuse's limit before: writes above it were lost at writeback
XATTR_SIZE_MAX = 65536  # the kernel's (and pmfuse's) largest attribute value
XATTR_LIST_MAX = 65536  # the kernel's largest listxattr buffer
XATTR_INODE_MAX = 256 * 1024  # pmfuse: names, values and headers of one inode


def fsck_clean(pool):
    """fsck_clean -- fsck.pmfuse -n on an unmounted pool must find nothing to fix."""
    fsck = os.environ.get("FSCK_PMFUSE")
    if not fsck:
        pytest.fail("$FSCK_PMFUSE is not set: run the mount tests through `meson test`",
                    pytrace=False)
    r = run([fsck, "-n", pool], check=False)
    assert r.returncode == 0, f"fsck.pmfuse -n {pool}: exit {r.returncode}\n{r.stdout}{r.stderr}"


def create(path, mode=0o644):
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode))


def mksock(path):
    os.mknod(path, stat.S_IFSOCK | 0o644)


# --- the inode table --------------------------------------------------------------------

NEW_INODE_KINDS = [
    ("create", create),
    ("mkdir", os.mkdir),
    ("symlink", lambda p: os.symlink("target", p)),
    ("mknod fifo", lambda p: os.mknod(p, stat.S_IFIFO | 0o644)),
    ("mknod chr", lambda p: os.mknod(p, stat.S_IFCHR | 0o644, os.makedev(1, 3))),
    ("mknod sock", mksock),
]


def test_inode_table_exhausted_gives_enospc_and_recovers(make_pool):
    """Out of inodes: every call that needs one fails with ENOSPC and leaves no
    name behind; calls that need none (link, rename, writes) still work;
    unlinking gives the inodes back, and then every kind works again."""
    inodes = 256
    pool = make_pool("64M", inodes=inodes)
    with Mount(pool) as m:
        assert os.statvfs(m.dir).f_files == inodes
        files = []
        for i in range(inodes + 10):
            p = m.path(f"i{i:04d}")
            try:
                create(p)
            except OSError as e:
                assert e.errno == errno.ENOSPC, f"creating {p}: expected ENOSPC, got {e}"
                break
            files.append(p)
        else:
            pytest.fail(f"{inodes + 10} files created with {inodes} inodes", pytrace=False)
        assert inodes - 16 <= len(files) < inodes, f"{len(files)} files from {inodes} inodes"
        assert os.statvfs(m.dir).f_ffree == 0
        names = sorted(os.listdir(m.dir))
        for what, make in NEW_INODE_KINDS:
            assert_errno(errno.ENOSPC, make, m.path("new-" + what.replace(" ", "-")))
        assert sorted(os.listdir(m.dir)) == names, "a refused call left a name behind"
        # No inode needed: a hard link, a rename, data.
        os.link(files[0], m.path("hardlink"))
        os.rename(files[1], m.path("renamed"))
        files[1] = m.path("renamed")
        write_file(files[2], b"data still fits")
        assert os.stat(files[0]).st_nlink == 2

        for p in files[-len(NEW_INODE_KINDS):]:
            os.unlink(p)
        del files[-len(NEW_INODE_KINDS):]
        wait_until(lambda: os.statvfs(m.dir).f_ffree >= len(NEW_INODE_KINDS),
                   "the inodes of the unlinked files to be freed")
        made = []
        for what, make in NEW_INODE_KINDS:
            p = m.path("new-" + what.replace(" ", "-"))
            make(p)
            made.append(p)
        assert os.statvfs(m.dir).f_ffree == 0
        assert_errno(errno.ENOSPC, create, m.path("one-too-many"))

        m.remount()
        assert sorted(os.listdir(m.dir)) == sorted(
            [os.path.basename(p) for p in files + made] + ["hardlink"])
        assert read_file(files[2]) == b"data still fits"
        assert stat.S_ISSOCK(os.lstat(m.path("new-mknod-sock")).st_mode)
        assert os.readlink(m.path("new-symlink")) == "target"
        assert os.statvfs(m.dir).f_ffree == 0
    fsck_clean(pool)


# --- the largest file -------------------------------------------------------------------


def used_blocks(m):
    return os.statvfs(m.dir).f_blocks - os.statvfs(m.dir).f_bfree


@pytest.mark.parametrize("opts", [None, "no_writeback"])
def test_largest_file(make_pool, opts):
    """The largest file is the kernel's limit for a FUSE file (2^63 - 1 bytes):
    calls past it fail (fallocate with EFBIG, writes whose end overflows the
    offset with EINVAL, as on tmpfs) and change nothing; a sparse file of the
    largest size costs no blocks; bytes written up to the last offset, and at
    the old 16 TiB bound, are kept (before, the writeback cache accepted them
    and the daemon refused them later: success, then data lost)."""
    pool = make_pool("64M")
    with Mount(pool, opts) as m:
        empty = used_blocks(m)
        p = m.path("big")
        write_file(p, b"head")
        used = used_blocks(m)
        fd = os.open(p, os.O_RDWR)
        try:
            # Past the limit: refused, nothing written, allocated or resized.
            assert_errno(errno.EFBIG, fallocate, fd, 0, FILE_MAX - 4096, 8192)
            assert_errno(errno.EFBIG, fallocate, fd, FALLOC_FL_KEEP_SIZE, FILE_MAX, 1)
            assert_errno(errno.EFBIG, fallocate, fd, 0, FILE_MAX - 1, 2)
            assert_errno((errno.EFBIG, errno.EINVAL), os.pwrite, fd, b"x", FILE_MAX)
            assert_errno((errno.EFBIG, errno.EINVAL), os.pwrite, fd, b"xy", FILE_MAX - 1)
            assert os.lseek(fd, FILE_MAX, os.SEEK_SET) == FILE_MAX
            assert_errno((errno.EFBIG, errno.EINVAL), os.write, fd, b"x")
            assert_errno(errno.EINVAL, os.ftruncate, fd, -1)
            os.fsync(fd)
            assert os.fstat(fd).st_size == 4
            assert os.pread(fd, 100, 0) == b"head"
            assert used_blocks(m) == used, "a refused call allocated blocks"

            # Up to the limit: works.
            assert os.pwrite(fd, b"T", FILE_MAX - 1) == 1
            assert os.pwrite(fd, b"m", OLD_FILE_MAX - 1) == 1
            assert os.pwrite(fd, b"M", OLD_FILE_MAX) == 1
            os.fsync(fd)  # the writeback of every page must succeed
            st = os.fstat(fd)
            assert st.st_size == FILE_MAX
            assert os.pread(fd, 1, FILE_MAX - 1) == b"T"
            assert os.pread(fd, 2, OLD_FILE_MAX - 1) == b"mM"
            assert os.pread(fd, 10, FILE_MAX - 11) == bytes(10)
            # Three more data blocks and the nodes of a tree of height 6.
            grown = used_blocks(m) - used
            assert 9 <= grown < 32, f"{grown} blocks used for 3 bytes"
        finally:
            os.close(fd)

        # A sparse file of the largest size costs nothing.
        q = m.path("sparse")
        write_file(q, b"")
        os.truncate(q, FILE_MAX)
        assert os.stat(q).st_size == FILE_MAX and os.stat(q).st_blocks == 0
        with open(q, "rb") as f:
            assert os.pread(f.fileno(), 4096, FILE_MAX - 4096) == bytes(4096)
        m.remount()
        assert os.stat(q).st_size == FILE_MAX and os.stat(q).st_blocks == 0
        fd = os.open(p, os.O_RDWR)
        try:
            st = os.fstat(fd)
            assert st.st_size == FILE_MAX
            assert st.st_blocks == (grown + 1) * 8, "st_blocks does not count every block"
            assert os.pread(fd, 4, 0) == b"head"
            assert os.pread(fd, 1, FILE_MAX - 1) == b"T"
            assert os.pread(fd, 2, OLD_FILE_MAX - 1) == b"mM"
            os.ftruncate(fd, 4)
            assert os.pread(fd, 100, 0) == b"head"
        finally:
            os.close(fd)
        os.unlink(q)
        os.unlink(p)
        wait_until(lambda: used_blocks(m) == empty, "every block of the deleted files to be freed")
    fsck_clean(pool)


FSIZE_CHILD = r"""
import errno, os, resource, signal, sys
sys.path.insert(0, sys.argv[2])
from pmtest import fallocate
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
limit = 1 << 20
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
fd = os.open(sys.argv[1], os.O_RDWR)
def attempt(fn, *args):
    try:
        return fn(*args)
    except OSError as e:
        return errno.errorcode[e.errno]
print(attempt(os.pwrite, fd, b"x" * 4096, limit - 100))
print(attempt(os.pwrite, fd, b"y", limit))
print(attempt(os.ftruncate, fd, limit + 1))
print(attempt(fallocate, fd, 0, limit - 10, 4096))
print(attempt(os.ftruncate, fd, limit))
"""


def test_process_file_size_limit_gives_efbig(mount):
    """A process's own file size limit (ulimit -f): a write across it is cut,
    a write, truncate or fallocate past it fails with EFBIG, and nothing past
    it is written or allocated."""
    p = mount.path("limited")
    write_file(p, pattern(4096, 1))
    r = run([sys.executable, "-c", FSIZE_CHILD, p, os.path.dirname(os.path.abspath(__file__))],
            timeout=60)
    assert r.stdout.split() == ["100", "EFBIG", "EFBIG", "EFBIG", "None"], r.stdout
    data = read_file(p)
    assert len(data) == MiB
    assert data[:4096] == pattern(4096, 1)
    assert data[MiB - 100:] == b"x" * 100
    assert os.stat(p).st_blocks * 512 <= MiB + 4096
    mount.remount()
    assert read_file(p) == data


# --- deep trees and PATH_MAX --------------------------------------------------------------


def long_chain(root, total):
    """long_chain -- directories under root whose path, with a file name
    added, is exactly total bytes long: (directory list, file path)."""
    dirs = []
    path = root
    i = 0
    while len(path) + 1 + 200 + 1 + 60 <= total:
        path = os.path.join(path, f"{i:03d}-" + "d" * 196)
        dirs.append(path)
        i += 1
    name_len = total - len(path) - 1
    assert 60 <= name_len < NAME_MAX
    return dirs, os.path.join(path, "f" * name_len)


def test_path_max_paths(make_pool):
    """A path of PATH_MAX - 1 bytes works for every call by absolute path; a
    PATH_MAX one is ENAMETOOLONG; a symlink target of PATH_MAX - 1 bytes is
    kept whole."""
    pool = make_pool("64M")
    with Mount(pool) as m:
        dirs, f = long_chain(m.dir, PATH_MAX - 1)
        for d in dirs:
            os.mkdir(d)
        assert len(f) == PATH_MAX - 1
        data = pattern(10000, 7)
        write_file(f, data)
        assert os.stat(f).st_size == len(data)
        assert read_file(f) == data
        os.chmod(f, 0o600)
        os.setxattr(f, "user.deep", b"v")
        os.rename(f, f[:-1] + "g")
        os.rename(f[:-1] + "g", f)
        too_long = f + "x"
        assert len(too_long) == PATH_MAX
        assert_errno(errno.ENAMETOOLONG, os.stat, too_long)
        assert_errno(errno.ENAMETOOLONG, os.open, too_long, os.O_WRONLY | os.O_CREAT, 0o644)
        assert_errno(errno.ENAMETOOLONG, os.mkdir, too_long)
        assert_errno(errno.ENAMETOOLONG, os.rename, f, too_long)
        assert_errno(errno.ENAMETOOLONG, os.link, f, too_long)
        assert os.listdir(dirs[-1]) == [os.path.basename(f)]
        target = "/".join(["t" * 127] * 32)[:PATH_MAX - 1]
        assert len(target) == PATH_MAX - 1
        os.symlink(target, m.path("longlink"))
        assert_errno(errno.ENAMETOOLONG, os.symlink, target + "t", m.path("toolong"))
        assert not os.path.lexists(m.path("toolong"))
        m.remount()
        assert read_file(f) == data
        assert stat.S_IMODE(os.stat(f).st_mode) == 0o600
        assert os.getxattr(f, "user.deep") == b"v"
        assert os.readlink(m.path("longlink")) == target
    fsck_clean(pool)


DEPTH = 1000
LEVEL = "level-{:04d}"  # 10 bytes: 1000 levels make paths of 11 000 bytes


def open_dir(name, dir_fd):
    return os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=dir_fd)


def walk_chain(top_fd, levels):
    """walk_chain -- openat down the given levels from top_fd; returns the fd
    of the deepest directory (the caller closes it)."""
    fd = os.dup(top_fd)
    for i in levels:
        nfd = open_dir(LEVEL.format(i), fd)
        os.close(fd)
        fd = nfd
    return fd


def test_thousand_levels_deep(make_pool):
    """1000 nested directories (a path of 11 000 bytes) made, used, renamed
    and removed through openat and relative paths; survives a remount; fsck
    clean afterwards."""
    pool = make_pool("64M")
    leaf_data = pattern(5000, 3)
    with Mount(pool) as m:
        ffree = os.statvfs(m.dir).f_ffree
        root = os.open(m.dir, os.O_RDONLY | os.O_DIRECTORY)
        cwd = os.open(".", os.O_RDONLY | os.O_DIRECTORY)
        try:
            fd = os.dup(root)
            for i in range(DEPTH):
                os.mkdir(LEVEL.format(i), dir_fd=fd)
                nfd = open_dir(LEVEL.format(i), fd)
                os.close(fd)
                fd = nfd
            # At the bottom, relative paths from a cwd there.
            os.fchdir(fd)
            os.close(fd)
            write_file("leaf", leaf_data)
            os.mkdir("sub")
            os.symlink("../leaf", "sub/up")
            assert read_file("sub/up") == leaf_data
            # Longer than PATH_MAX: the kernel's getcwd refuses, and the C
            # library finds the path itself through "..", level by level.
            assert os.getcwd() == os.path.join(m.dir, *(LEVEL.format(i) for i in range(DEPTH)))
            os.fchdir(cwd)

            os.mkdir(m.path("elsewhere"))
            os.rename(m.path(LEVEL.format(0)), m.path("elsewhere", "moved"))
            # A directory cannot move into its own subtree.
            elsewhere = open_dir("elsewhere", root)
            deep = None
            try:
                moved = open_dir("moved", elsewhere)
                deep = walk_chain(moved, range(1, DEPTH))
                os.close(moved)
                assert_errno(errno.EINVAL, os.rename, "moved", "loop",
                             src_dir_fd=elsewhere, dst_dir_fd=deep)
                assert read_file(f"/proc/self/fd/{deep}/leaf") == leaf_data
            finally:
                os.close(elsewhere)
                if deep is not None:
                    os.close(deep)
        finally:
            os.fchdir(cwd)
            os.close(cwd)
            os.close(root)
        m.remount()
        root = os.open(m.path("elsewhere"), os.O_RDONLY | os.O_DIRECTORY)
        try:
            fd = open_dir("moved", root)
            for i in range(1, DEPTH):
                assert os.listdir(fd) == [LEVEL.format(i)]
                nfd = open_dir(LEVEL.format(i), fd)
                os.close(fd)
                fd = nfd
            assert sorted(os.listdir(fd)) == ["leaf", "sub"]
            leaf = os.open("leaf", os.O_RDONLY, dir_fd=fd)
            try:
                assert os.read(leaf, 10000) == leaf_data
            finally:
                os.close(leaf)
            os.close(fd)
        finally:
            os.close(root)
        r = run(["rm", "-rf", m.path("elsewhere")], timeout=120)
        assert not os.path.lexists(m.path("elsewhere")), r.stderr
        assert os.listdir(m.dir) == []
        wait_until(lambda: os.statvfs(m.dir).f_ffree == ffree,
                   "every inode of the removed tree to be freed")
    fsck_clean(pool)


# --- extended attributes ----------------------------------------------------------------


def test_xattr_limits(mount):
    """Names: 255 bytes fine, 256 and empty ERANGE; values: 64 KiB fine,
    one byte more E2BIG; an unknown namespace EOPNOTSUPP; 256 KiB per inode,
    then ENOSPC with nothing changed; list sizes exact, ERANGE below them."""
    p = mount.path("f")
    write_file(p, b"data")
    n255 = "user." + "n" * (NAME_MAX - 5)
    os.setxattr(p, n255, b"long name")
    assert os.getxattr(p, n255) == b"long name"
    assert_errno(errno.ERANGE, os.setxattr, p, n255 + "n", b"x")
    assert_errno(errno.ERANGE, os.getxattr, p, n255 + "n")
    assert_errno(errno.ERANGE, os.setxattr, p, "", b"x")
    for name in ("foo.bar", "user", "osx.x", "system.pmfuse-unknown"):
        assert_errno(errno.EOPNOTSUPP, os.setxattr, p, name, b"x")
    assert_errno((errno.EOPNOTSUPP, errno.ENODATA), os.getxattr, p, "foo.bar")

    big = pattern(XATTR_SIZE_MAX, 1)
    os.setxattr(p, "user.max", big)
    assert os.getxattr(p, "user.max") == big
    assert getxattr_sized(p, "user.max", 0) == XATTR_SIZE_MAX
    assert_errno(errno.ERANGE, getxattr_sized, p, "user.max", XATTR_SIZE_MAX - 1)
    assert_errno(errno.E2BIG, os.setxattr, p, "user.over", big + b"x")
    assert_errno(errno.E2BIG, os.setxattr, p, "user.max", big + b"x")
    assert os.getxattr(p, "user.max") == big

    # The inode's 256 KiB: three more 64 KiB values cannot all fit.
    stored = {n255: b"long name", "user.max": big}
    err = None
    for i in range(4):
        v = pattern(XATTR_SIZE_MAX, 10 + i)
        try:
            os.setxattr(p, f"user.fill{i}", v)
        except OSError as e:
            err = e
            break
        stored[f"user.fill{i}"] = v
    assert err is not None and err.errno == errno.ENOSPC, \
        f"{len(stored)} values of 64 KiB in one inode, then {err!r}"
    total = sum(len(k) + len(v) for k, v in stored.items())
    assert total <= XATTR_INODE_MAX
    # Growing a value past the room left fails too, and keeps the old value.
    assert_errno(errno.ENOSPC, os.setxattr, p, n255, big)
    assert sorted(os.listxattr(p)) == sorted(stored)
    for k, v in stored.items():
        assert os.getxattr(p, k) == v, k
    # Room comes back when an attribute goes.
    os.removexattr(p, "user.max")
    del stored["user.max"]
    os.setxattr(p, "user.again", big)
    stored["user.again"] = big

    need = listxattr_sized(p, 0)
    assert need == sum(len(k) + 1 for k in stored)
    assert listxattr_sized(p, need) == b"".join(
        k.encode() + b"\0" for k in os.listxattr(p))
    assert_errno(errno.ERANGE, listxattr_sized, p, need - 1)

    mount.remount()
    assert sorted(os.listxattr(p)) == sorted(stored)
    for k, v in stored.items():
        assert os.getxattr(p, k) == v, k
    assert read_file(p) == b"data"


def test_xattr_name_list_longer_than_the_kernel_takes(mount):
    """More names than a 64 KiB listxattr buffer holds: listing fails with
    E2BIG (the kernel's limit), the daemon stays up, and every attribute
    stays readable and removable until the list fits again."""
    p = mount.path("many")
    write_file(p, b"")
    names = [f"user.{i:04d}-" + "x" * (NAME_MAX - 10) for i in range(XATTR_LIST_MAX // NAME_MAX + 2)]
    for n in names:
        os.setxattr(p, n, b"")
    # The kernel caps the size it reports at what it can list.
    assert listxattr_sized(p, 0) == XATTR_LIST_MAX < len(names) * (NAME_MAX + 1)
    assert_errno(errno.E2BIG, os.listxattr, p)
    assert os.getxattr(p, names[-1]) == b""
    for n in names[:3]:
        os.removexattr(p, n)
    assert listxattr_sized(p, 0) == (len(names) - 3) * (NAME_MAX + 1) <= XATTR_LIST_MAX
    assert sorted(os.listxattr(p)) == sorted(names[3:])


# --- mounts that must be refused ------------------------------------------------------

SMALL = "16M"  # pools hashed before and after: small ones


def digest(path):
    """digest -- sha256 of a file's bytes, or a description of what else it is."""
    st = os.lstat(path) if os.path.lexists(path) else None
    if st is None:
        return "absent"
    if not stat.S_ISREG(st.st_mode):
        return f"mode {st.st_mode:o}"
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def refused(pool, opts=None, mountpoint=None, words=()):
    """refused -- the daemon refuses: one 'pmfuse: ' line naming what is wrong,
    a non-zero exit, nothing mounted (daemon_refuses checks those), and the
    pool's bytes unchanged. Returns the line."""
    before = digest(pool)
    err = daemon_refuses(pool, opts, mountpoint)
    assert len(err.splitlines()) == 1, f"one line expected: {err!r}"
    for w in words:
        assert w in err, f"{w!r} not in {err!r}"
    assert digest(pool) == before, f"the refused mount changed {pool}"
    return err


@pytest.fixture
def scratch():
    d = tempfile.mkdtemp(prefix="pmfuse-limits-")
    yield d
    subprocess.run(["rm", "-rf", d], check=False)


def test_mount_point_missing_or_not_a_directory(make_pool, scratch):
    pool = make_pool(SMALL)
    missing = os.path.join(scratch, "no-such-dir")
    refused(pool, mountpoint=missing, words=["no-such-dir"])
    afile = os.path.join(scratch, "afile")
    write_file(afile, b"not a directory")
    refused(pool, mountpoint=afile, words=[afile, "not a directory"])
    assert read_file(afile) == b"not a directory"
    os.symlink(afile, os.path.join(scratch, "link"))
    refused(pool, mountpoint=os.path.join(scratch, "link"), words=["not a directory"])


def test_mount_point_not_empty_needs_nonempty(make_pool, scratch):
    """A mount would hide the files in the mount point: refused unless
    -o nonempty; with it the files are hidden while mounted and back after."""
    pool = make_pool(SMALL)
    mnt = os.path.join(scratch, "mnt")
    os.mkdir(mnt)
    write_file(os.path.join(mnt, "underneath"), b"hidden")
    refused(pool, mountpoint=mnt, words=[mnt, "not empty", "nonempty"])
    os.unlink(os.path.join(mnt, "underneath"))
    os.mkdir(os.path.join(mnt, ".hidden-dir"))  # a dot name counts too
    refused(pool, mountpoint=mnt, words=["not empty"])
    os.rmdir(os.path.join(mnt, ".hidden-dir"))
    write_file(os.path.join(mnt, "underneath"), b"hidden")

    m = Mount(pool, "nonempty", start=False)
    os.rmdir(m.dir)
    m.dir = mnt  # close() leaves it: rmdir fails on what is underneath
    with m:
        m.start()
        assert os.listdir(mnt) == []
        write_file(os.path.join(mnt, "in-pool"), b"on top")
    assert os.listdir(mnt) == ["underneath"]
    assert read_file(os.path.join(mnt, "underneath")) == b"hidden"


def test_pool_that_is_not_a_pool(make_pool, scratch):
    missing = os.path.join(scratch, "no-such.pool")
    refused(missing, words=[missing, "No such file"])
    rnd = os.path.join(scratch, "random.pool")
    with open(rnd, "wb") as f:
        f.write(os.urandom(size_bytes(SMALL)))
    refused(rnd, words=[rnd, "not a pmfuse pool", "mkfs.pmfuse"])
    empty = os.path.join(scratch, "empty.pool")
    write_file(empty, b"")
    refused(empty, words=[empty, "empty"])
    short = os.path.join(scratch, "short.pool")
    write_file(short, b"\0" * 4096)
    refused(short, words=[short])
    adir = os.path.join(scratch, "dir.pool")
    os.mkdir(adir)
    refused(adir, words=[adir, "directory"])
    fifo = os.path.join(scratch, "fifo.pool")
    os.mkfifo(fifo)
    refused(fifo, words=[fifo])
    # And a real pool mounts after all that (none of it locked anything).
    with Mount(make_pool(SMALL)) as m:
        assert os.listdir(m.dir) == []


def test_pool_read_only_to_a_non_root_daemon(make_pool, scratch):
    """chmod 0444 and a daemon that is not root: a read-write mount is refused
    with one line naming the pool and -o ro, before anything is mounted."""
    pool = make_pool(SMALL)
    os.chmod(pool, 0o444)
    mnt = os.path.join(scratch, "mnt")
    os.mkdir(mnt)
    os.chown(mnt, USER_UID, USER_GID)
    os.chmod(scratch, 0o755)
    before = digest(pool)
    r = run(["setpriv", f"--reuid={USER_UID}", f"--regid={USER_GID}", "--clear-groups", "--",
             pmfuse_bin(), "-f", pool, mnt], check=False, timeout=60)
    lines = r.stderr.splitlines()
    assert r.returncode == 1, f"exit {r.returncode}: {r.stderr}"
    assert len(lines) == 1 and lines[0].startswith("pmfuse: "), r.stderr
    assert pool in lines[0] and "Permission denied" in lines[0] and "-o ro" in lines[0], lines[0]
    assert not is_mounted(mnt)
    assert digest(pool) == before


def test_pool_on_a_read_only_file_system(make_pool, scratch):
    """A pool on a read-only mount: a read-write mount is refused (EROFS, one
    line naming the pool and -o ro); -o ro mounts it and reads its files."""
    src = make_pool(SMALL)
    with Mount(src) as m:
        write_file(m.path("f"), b"from before")
    ro = os.path.join(scratch, "ro")
    os.mkdir(ro)
    run(["mount", "-t", "tmpfs", "-o", "size=32M", "pmfuse-test-ro", ro])
    try:
        pool = os.path.join(ro, "pool")
        run(["cp", src, pool])
        run(["mount", "-o", "remount,ro", ro])
        refused(pool, words=[pool, "Read-only file system", "-o ro"])
        before = digest(pool)
        with Mount(pool, "ro") as m:
            assert read_file(m.path("f")) == b"from before"
            assert_errno(errno.EROFS, write_file, m.path("g"), b"")
        assert digest(pool) == before
    finally:
        subprocess.run(["umount", ro], check=False)


@pytest.mark.parametrize("opts,words", [
    ("bogus", "unknown option"),
    ("ro=1", "unknown option"),
    ("rw,bogus=1", "unknown option"),
    ("sync=", "invalid sync policy"),
    ("sync=periodic=", "invalid sync policy"),
    ("timeout=-1", "invalid timeout"),
    ("timeout=", "invalid parameter"),
    ("spin=abc", "invalid spin"),
    ("spin=1000001", "invalid spin"),
    ("crash_at=x", "invalid parameter"),
    ("max_threads=abc", "invalid parameter"),
    ("max_threads=0", "invalid max_threads"),
    ("max_threads=-1", "invalid max_threads"),
])
def test_bad_mount_options(make_pool, opts, words):
    refused(make_pool(SMALL), opts, words=[words])


@pytest.mark.parametrize("args,words", [
    ([], "usage"),
    (["POOL"], "usage"),
    (["POOL", "MNT", "extra"], "extra"),
])
def test_bad_command_line(make_pool, scratch, args, words):
    pool = make_pool(SMALL)
    before = digest(pool)
    cmd = [pmfuse_bin(), "-f"] + [pool if a == "POOL" else scratch if a == "MNT" else a
                                  for a in args]
    r = run(cmd, check=False, timeout=60)
    lines = r.stderr.splitlines()
    assert r.returncode == 1, f"exit {r.returncode}: {r.stderr}"
    assert len(lines) == 1 and lines[0].startswith("pmfuse: ") and words in lines[0], r.stderr
    assert not is_mounted(scratch)
    assert digest(pool) == before
