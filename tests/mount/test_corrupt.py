"""test_corrupt.py -- pools the daemon must refuse cleanly, and mkfs.pmfuse's own checks.

On-media facts these tests rely on (DESIGN / format.h): the superblock starts
at byte 0 with an 8-byte magic, then a little-endian u32 major version at
offset 8; byte 64 lies inside the checksummed part of the superblock; the
daemon checks the magic, then the version, then the checksum."""

import hashlib
import os
import re
import struct

import pytest

from pmtest import (MiB, Mount, daemon_refuses, mkfs, mkfs_bin, read_file, run, size_bytes,
                    write_file)

SIZE = "64M"


def file_hash(path):
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def refused(pool, *keywords):
    """refused -- the daemon refuses pool; one stderr line names the problem (any of keywords)."""
    text = daemon_refuses(pool)
    pat = re.compile("|".join(keywords), re.I)
    assert any(pat.search(line) for line in text.splitlines()), \
        f"error should mention {' or '.join(keywords)}:\n{text}"
    return text


def pool_with_file(make_pool):
    """pool_with_file -- a pool holding one file, cleanly unmounted."""
    p = make_pool(SIZE)
    with Mount(p) as m:
        write_file(m.path("precious"), b"keep me")
    return p


def patch(path, offset, data):
    fd = os.open(path, os.O_WRONLY)
    try:
        assert os.pwrite(fd, data, offset) == len(data)
    finally:
        os.close(fd)


@pytest.mark.parametrize("kind", ["zeros", "random"])
def test_not_a_pool(make_pool, kind):
    p = make_pool.path(".img")
    with open(p, "wb") as f:
        if kind == "zeros":
            f.truncate(size_bytes(SIZE))
        else:
            for _ in range(size_bytes(SIZE) // MiB):
                f.write(os.urandom(MiB))
    before = file_hash(p)
    refused(p, "magic", "not a pmfuse pool", "not a pool")
    assert file_hash(p) == before, "the daemon wrote to a file it refused"


@pytest.mark.parametrize("size", [0, 100, 4096])
def test_tiny_file(make_pool, size):
    p = make_pool.path(".img")
    with open(p, "wb") as f:
        f.write(b"\0" * size)
    refused(p, "magic", "not a pmfuse pool", "not a pool", "short", "size", "small", "truncated")


def test_missing_pool_file(make_pool):
    p = make_pool.path()
    text = daemon_refuses(p)
    assert p in text or "No such file" in text, text


def test_superblock_checksum(make_pool):
    p = pool_with_file(make_pool)
    with open(p, "rb") as f:
        f.seek(64)
        b = f.read(1)[0]
    patch(p, 64, bytes([b ^ 0x5A]))
    before = file_hash(p)
    text = refused(p, "checksum")
    assert "fsck.pmfuse" in text, f"a corrupt pool should point to fsck.pmfuse:\n{text}"
    assert file_hash(p) == before, "the daemon wrote to a pool it refused"
    # Put the byte back: the pool is fine again, nothing was lost.
    patch(p, 64, bytes([b]))
    with Mount(p) as m:
        assert read_file(m.path("precious")) == b"keep me"


def test_newer_format_version(make_pool):
    p = pool_with_file(make_pool)
    with open(p, "rb") as f:
        f.seek(8)
        (major,) = struct.unpack("<I", f.read(4))
    assert 0 < major < 99, f"unexpected format version {major} at offset 8"
    patch(p, 8, struct.pack("<I", 99))
    text = refused(p, "version")
    assert "99" in text, f"the error should say which version it found:\n{text}"
    patch(p, 8, struct.pack("<I", major))
    with Mount(p) as m:
        assert read_file(m.path("precious")) == b"keep me"


def test_truncated_pool(make_pool):
    p = pool_with_file(make_pool)
    os.truncate(p, size_bytes(SIZE) // 2)
    refused(p, "short", "size", "truncated")


def test_mkfs_refuses_to_overwrite_a_pool(make_pool):
    p = pool_with_file(make_pool)
    before = file_hash(p)
    r = mkfs(p, size=SIZE, check=False)
    assert r.returncode > 0, f"mkfs overwrote an existing pool without --force\n{r.stdout}"
    assert r.stderr.strip(), "mkfs refused without saying why"
    assert file_hash(p) == before, "a refused mkfs changed the pool"
    with Mount(p) as m:
        assert read_file(m.path("precious")) == b"keep me"

    r = mkfs(p, size=SIZE, force=True)
    with Mount(p) as m:
        assert os.listdir(m.dir) == [], "mkfs --force left the old contents"


def test_mkfs_output_and_preallocation(make_pool):
    p = make_pool.path()
    r = mkfs(p, size="64M", inodes=1000)
    assert os.stat(p).st_size == 64 * MiB
    assert os.stat(p).st_blocks * 512 >= 64 * MiB, "pool is not pre-allocated (has holes)"
    uuid_re = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
    m1 = uuid_re.search(r.stdout)
    assert m1, f"mkfs should print the UUID:\n{r.stdout}"
    inodes = re.search(r"inodes\D{0,20}?(\d+)", r.stdout, re.I)
    assert inodes, f"mkfs should print the inode count:\n{r.stdout}"
    inodes = int(inodes.group(1))
    assert inodes >= 1000, f"asked for 1000 inodes, mkfs made {inodes}"
    with Mount(p) as m:
        assert os.statvfs(m.dir).f_files == inodes, "statfs disagrees with mkfs on the inode count"
    r2 = mkfs(p, size="64M", force=True)
    m2 = uuid_re.search(r2.stdout)
    assert m2 and m2.group(0) != m1.group(0), "a new pool needs a new UUID"
    with Mount(p) as m:
        assert os.statvfs(m.dir).f_blocks > 0


@pytest.mark.parametrize("args", [["--size", "12Q"], ["--size", "1K"], ["--size", "-5M"],
                                  ["--inodes", "0"], ["--inodes", "lots"]],
                         ids=["bad-suffix", "too-small", "negative", "zero-inodes", "nan-inodes"])
def test_mkfs_rejects_bad_arguments(make_pool, args):
    p = make_pool.path()
    r = run([mkfs_bin()] + args + [p], check=False)
    assert r.returncode > 0, f"mkfs {' '.join(args)} succeeded:\n{r.stdout}"
    assert r.stderr.strip(), "mkfs failed without saying why"
