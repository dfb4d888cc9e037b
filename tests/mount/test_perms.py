"""test_perms.py -- permissions as an unprivileged user (setpriv): allow_other, ownership,
modes, sticky and setgid directories, chown/chmod rules, utimensat, setuid clearing."""

import os
import stat

import pytest

from pmtest import USER_GID, USER_UID, Mount, as_user, read_file, user_try, write_file

U, G = USER_UID, USER_GID
OTHER_GID = 2000  # a group the user is not in (unless given with groups=)


@pytest.fixture
def umount(pool):
    """A mount the unprivileged user can enter (-o allow_other), with a 0777 playground."""
    with Mount(pool, "allow_other") as m:
        os.chmod(m.dir, 0o755)
        os.mkdir(m.path("pub"))
        os.chmod(m.path("pub"), 0o777)
        yield m


def test_without_allow_other_other_users_are_refused(mount):
    write_file(mount.path("f"), b"x")
    os.chmod(mount.path("f"), 0o644)
    os.chmod(mount.dir, 0o755)
    for call, path in (("os.stat", mount.dir), ("os.listdir", mount.dir),
                       ("open_r", mount.path("f")), ("os.stat", mount.path("f"))):
        r = user_try(call, path)
        assert r in ("EACCES", "EPERM"), f"{call}({path}) as uid {U} without allow_other: {r}"


def test_allow_other_lets_the_user_in(umount):
    write_file(umount.path("f"), b"readable")
    os.chmod(umount.path("f"), 0o644)
    assert as_user(f"print(open({umount.path('f')!r}).read())") == "readable"
    assert user_try("os.listdir", umount.dir) == "OK"


def test_new_entries_belong_to_the_caller(umount):
    P = umount.path
    out = as_user(f"""
        os.umask(0o022)
        create({P('pub', 'file')!r}, 0o640)
        os.mkdir({P('pub', 'dir')!r}, 0o750)
        os.symlink('file', {P('pub', 'link')!r})
        os.mkfifo({P('pub', 'fifo')!r}, 0o600)
        print("done")
    """)
    assert out == "done"
    for name, mode in (("file", 0o640), ("dir", 0o750), ("fifo", 0o600)):
        st = os.lstat(P("pub", name))
        assert (st.st_uid, st.st_gid) == (U, G), f"{name} owned by {st.st_uid}:{st.st_gid}"
        assert stat.S_IMODE(st.st_mode) == mode, f"{name} mode {oct(st.st_mode)}"
    st = os.lstat(P("pub", "link"))
    assert (st.st_uid, st.st_gid) == (U, G)
    # Ownership survives a remount.
    umount.remount()
    assert (os.stat(P("pub", "file")).st_uid, os.stat(P("pub", "file")).st_gid) == (U, G)


def test_umask_applies(umount):
    as_user(f"os.umask(0o077); create({umount.path('pub', 'f')!r}, 0o666); "
            f"os.mkdir({umount.path('pub', 'd')!r}, 0o777)")
    assert stat.S_IMODE(os.stat(umount.path("pub", "f")).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(umount.path("pub", "d")).st_mode) == 0o700


def test_mode_bits_are_enforced(umount):
    P = umount.path
    write_file(P("pub", "rootfile"), b"root data")
    os.chmod(P("pub", "rootfile"), 0o644)
    assert user_try("open_r", P("pub", "rootfile")) == "OK"
    assert user_try("open_w", P("pub", "rootfile")) == "EACCES"
    assert user_try("os.truncate", P("pub", "rootfile"), 0) == "EACCES"
    assert read_file(P("pub", "rootfile")) == b"root data"

    os.chmod(P("pub", "rootfile"), 0o600)
    assert user_try("open_r", P("pub", "rootfile")) == "EACCES"

    os.mkdir(P("private"), 0o700)
    write_file(P("private", "f"), b"x")
    assert user_try("os.listdir", P("private")) == "EACCES"
    assert user_try("os.stat", P("private", "f")) == "EACCES"
    # Write permission on a directory is needed to create in it.
    os.mkdir(P("ro"), 0o755)
    assert user_try("create", P("ro", "new")) == "EACCES"
    assert user_try("os.mkdir", P("ro", "newdir")) == "EACCES"
    assert not os.path.exists(P("ro", "new"))

    # Group permission applies through the group, not "other".
    os.chown(P("pub", "rootfile"), 0, OTHER_GID)
    os.chmod(P("pub", "rootfile"), 0o640)
    assert user_try("open_r", P("pub", "rootfile")) == "EACCES"
    assert user_try("open_r", P("pub", "rootfile"), groups=[G, OTHER_GID]) == "OK"


def test_chmod_and_chown_rules(umount):
    P = umount.path
    write_file(P("pub", "rootfile"), b"x")
    os.chmod(P("pub", "rootfile"), 0o666)
    assert user_try("os.chmod", P("pub", "rootfile"), 0o777) == "EPERM"
    assert stat.S_IMODE(os.stat(P("pub", "rootfile")).st_mode) == 0o666

    as_user(f"create({P('pub', 'mine')!r}, 0o644)")
    assert user_try("os.chmod", P("pub", "mine"), 0o600) == "OK"
    assert stat.S_IMODE(os.stat(P("pub", "mine")).st_mode) == 0o600
    # chown: giving a file away, or to a group one is not in, is refused.
    assert user_try("os.chown", P("pub", "mine"), 0, -1) == "EPERM"
    assert user_try("os.chown", P("pub", "mine"), -1, OTHER_GID) == "EPERM"
    assert user_try("os.chown", P("pub", "rootfile"), U, G) == "EPERM"
    assert user_try("os.chown", P("pub", "mine"), U, G) == "OK"  # no change is allowed
    # ...but to a supplementary group it is allowed.
    assert user_try("os.chown", P("pub", "mine"), -1, OTHER_GID, groups=[G, OTHER_GID]) == "OK"
    st = os.stat(P("pub", "mine"))
    assert (st.st_uid, st.st_gid) == (U, OTHER_GID)
    # root may give anything to anyone.
    os.chown(P("pub", "rootfile"), 4321, 8765)
    st = os.stat(P("pub", "rootfile"))
    assert (st.st_uid, st.st_gid) == (4321, 8765)
    umount.remount()
    st = os.stat(P("pub", "rootfile"))
    assert (st.st_uid, st.st_gid) == (4321, 8765)


def test_sticky_directory(umount):
    P = umount.path
    os.mkdir(P("tmp"))
    os.chmod(P("tmp"), 0o1777)
    assert stat.S_IMODE(os.stat(P("tmp")).st_mode) == 0o1777
    write_file(P("tmp", "rootfile"), b"root")
    os.chmod(P("tmp", "rootfile"), 0o666)

    out = as_user(f"""
        create({P('tmp', 'userfile')!r})
        print(attempt(os.unlink, {P('tmp', 'userfile')!r}))
        print(attempt(os.unlink, {P('tmp', 'rootfile')!r}))
        print(attempt(os.rename, {P('tmp', 'rootfile')!r}, {P('tmp', 'stolen')!r}))
        create({P('tmp', 'mine2')!r})
        print(attempt(os.rename, {P('tmp', 'mine2')!r}, {P('tmp', 'rootfile')!r}))
    """).split()
    assert out[0] == "OK", "user could not delete own file in a sticky directory"
    assert out[1] in ("EPERM", "EACCES"), f"user deleted root's file in a sticky dir: {out[1]}"
    assert out[2] in ("EPERM", "EACCES"), f"user renamed root's file in a sticky dir: {out[2]}"
    assert out[3] in ("EPERM", "EACCES"), f"user replaced root's file in a sticky dir: {out[3]}"
    assert read_file(P("tmp", "rootfile")) == b"root"
    assert not os.path.exists(P("tmp", "userfile")) and not os.path.exists(P("tmp", "stolen"))
    # Without the sticky bit the same unlink is allowed.
    os.chmod(P("tmp"), 0o777)
    assert user_try("os.unlink", P("tmp", "rootfile")) == "OK"


def test_setgid_directory(umount):
    P = umount.path
    sg = P("sg")
    os.mkdir(sg)
    os.chown(sg, 0, OTHER_GID)
    os.chmod(sg, 0o2777)
    assert stat.S_IMODE(os.stat(sg).st_mode) == 0o2777
    as_user(f"""
        create({P('sg', 'file')!r}, 0o644)
        os.mkdir({P('sg', 'sub')!r}, 0o755)
        os.mkfifo({P('sg', 'fifo')!r})
    """)
    f, sub = os.stat(P("sg", "file")), os.stat(P("sg", "sub"))
    assert (f.st_uid, f.st_gid) == (U, OTHER_GID), "new file must take the setgid dir's group"
    assert (sub.st_uid, sub.st_gid) == (U, OTHER_GID)
    assert sub.st_mode & stat.S_ISGID, "new subdirectory must inherit the setgid bit"
    assert not f.st_mode & stat.S_ISGID, "a plain file does not get the setgid bit"
    assert os.stat(P("sg", "fifo")).st_gid == OTHER_GID
    # Deeper levels keep inheriting.
    as_user(f"create({P('sg', 'sub', 'deep')!r})")
    assert os.stat(P("sg", "sub", "deep")).st_gid == OTHER_GID
    umount.remount()
    assert os.stat(P("sg", "sub")).st_mode & stat.S_ISGID
    assert os.stat(P("sg", "file")).st_gid == OTHER_GID


def test_utimensat_nanoseconds(umount):
    P = umount.path
    times = [(1_234_567_890_123_456_789, 987_654_321_987_654_321),
             (1, 999_999_999),
             (4_102_444_800_999_999_999, 4_102_444_800_000_000_001)]  # beyond 2038
    write_file(P("f"), b"x")
    os.mkdir(P("d"))
    os.symlink("f", P("l"))
    for at, mt in times:
        for path, follow in ((P("f"), True), (P("d"), True), (P("l"), False)):
            os.utime(path, ns=(at, mt), follow_symlinks=follow)
            st = os.lstat(path)
            assert (st.st_atime_ns, st.st_mtime_ns) == (at, mt), f"{path}: {st}"
    assert os.stat(P("f")).st_mtime_ns == times[-1][1], "lutimes changed the symlink's target"

    # As a user: own file any time; someone else's only "now", and only with write access.
    as_user(f"create({P('pub', 'mine')!r})")
    write_file(P("pub", "theirs-rw"), b"")
    os.chmod(P("pub", "theirs-rw"), 0o666)
    write_file(P("pub", "theirs-ro"), b"")
    os.chmod(P("pub", "theirs-ro"), 0o644)
    assert user_try("os.utime", P("pub", "mine"), ns=(5, 6)) == "OK"
    st = os.stat(P("pub", "mine"))
    assert (st.st_atime_ns, st.st_mtime_ns) == (5, 6)
    assert user_try("os.utime", P("pub", "theirs-rw"), ns=(5, 6)) == "EPERM"
    assert user_try("os.utime", P("pub", "theirs-rw"), None) == "OK"
    assert user_try("os.utime", P("pub", "theirs-ro"), None) == "EACCES"

    umount.remount()
    st = os.stat(P("f"))
    assert (st.st_atime_ns, st.st_mtime_ns) == times[-1]
    st = os.stat(P("pub", "mine"))
    assert (st.st_atime_ns, st.st_mtime_ns) == (5, 6)


def test_write_and_truncate_by_user_clear_setuid_setgid(umount):
    P = umount.path
    for name in ("w", "t"):
        write_file(P("pub", name), b"#!/bin/sh\n")
        os.chmod(P("pub", name), 0o6777)
        assert stat.S_IMODE(os.stat(P("pub", name)).st_mode) == 0o6777
    assert user_try("append", P("pub", "w"), b"echo\n") == "OK"
    assert user_try("os.truncate", P("pub", "t"), 3) == "OK"
    for name in ("w", "t"):
        mode = stat.S_IMODE(os.stat(P("pub", name)).st_mode)
        assert mode == 0o777, f"after a write/truncate by uid {U}: {oct(mode)}"
    assert read_file(P("pub", "w")) == b"#!/bin/sh\necho\n"
    umount.remount()
    assert stat.S_IMODE(os.stat(P("pub", "w")).st_mode) == 0o777


def test_chown_clears_setuid_setgid(umount):
    p = umount.path("pub", "prog")
    write_file(p, b"\x7fELF")
    os.chown(p, U, G)
    os.chmod(p, 0o6755)
    os.chown(p, 0, 0)
    mode = stat.S_IMODE(os.stat(p).st_mode)
    assert mode == 0o755, f"chown kept the setuid/setgid bits: {oct(mode)}"
    # On a directory, chown keeps setgid.
    d = umount.path("pub", "dir")
    os.mkdir(d)
    os.chmod(d, 0o2775)
    os.chown(d, U, G)
    assert os.stat(d).st_mode & stat.S_ISGID
