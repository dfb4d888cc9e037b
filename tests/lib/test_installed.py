"""test_installed.py -- libpmfuse as a user gets it: `meson install` into a
staging directory, the example program (lib/examples/policy.c) compiled
with `pkg-config --cflags --libs pmfuse` from the installed pmfuse.pc, and
run against a real mount."""

import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "mount"))
from pmtest import Mount, mkfs, shm_path  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(HERE, "..", "..")


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    assert r.returncode == 0, f"{cmd}: {r.stdout}{r.stderr}"
    return r.stdout


def test_example_built_against_installed_pkgconfig():
    build = os.environ["MESON_BUILD_ROOT_DIR"]
    stage = tempfile.mkdtemp(prefix="pmfuse-install-")
    run(["meson", "install", "-C", build, "--no-rebuild", "--skip-subprojects", "--destdir", stage,
         "--quiet"])
    pcs = [os.path.join(d, f) for d, _, fs in os.walk(stage) for f in fs if f == "pmfuse.pc"]
    assert len(pcs) == 1, f"pmfuse.pc installed {len(pcs)} times"
    env = dict(os.environ, PKG_CONFIG_PATH=os.path.dirname(pcs[0]), PKG_CONFIG_SYSROOT_DIR=stage)
    flags = run(["pkg-config", "--cflags", "--libs", "pmfuse"], env=env).split()
    assert any(f.startswith("-lpmfuse") for f in flags), flags
    exe = os.path.join(stage, "policy")
    lib = [os.path.join(d, f) for d, _, fs in os.walk(stage) for f in fs
           if f.startswith("libpmfuse.so.")][0]
    # a sanitizer build's library needs its runtime first in the program
    san = ["-fsanitize=address,undefined"] if "libasan" in run(["ldd", lib]) else []
    run(["cc", "-Wall", "-Wextra", "-Werror"] + san
        + [os.path.join(SRC, "lib", "examples", "policy.c")] + flags + ["-o", exe], env=env)
    libdir = [f[2:] for f in flags if f.startswith("-L")]
    pool = shm_path()
    mkfs(pool, size="64M")
    try:
        check_example(exe, libdir, pool)
    finally:
        os.unlink(pool)


EXPECTED = [  # relative to the prefix, as meson installs them by default
    "sbin/pmfuse", "sbin/mkfs.pmfuse", "sbin/fsck.pmfuse", "bin/pmfusectl",
    "include/pmfuse.h", "lib/systemd/system/pmfuse@.service",
    "share/man/man8/pmfuse.8", "share/man/man8/mkfs.pmfuse.8", "share/man/man8/fsck.pmfuse.8",
    "share/man/man8/pmfusectl.8", "share/man/man5/pmfuse.5", "share/man/man3/libpmfuse.3",
]


def test_install_puts_everything_in_place():
    build = os.environ["MESON_BUILD_ROOT_DIR"]
    stage = tempfile.mkdtemp(prefix="pmfuse-install-")
    run(["meson", "install", "-C", build, "--no-rebuild", "--skip-subprojects", "--destdir", stage,
         "--quiet"])
    prefix = os.path.join(stage, "usr", "local")
    files = {os.path.relpath(os.path.join(d, f), prefix) for d, _, fs in os.walk(stage) for f in fs}
    missing = [f for f in EXPECTED if f not in files]
    assert not missing, f"not installed: {missing}; installed: {sorted(files)}"
    # one page per public function of libpmfuse
    with open(os.path.join(SRC, "lib", "pmfuse.h")) as h:
        import re
        funcs = set(re.findall(r"^[a-z][^(\n]*[ *](pmfuse_[a-z_]+)\(", h.read(), re.M))
    assert funcs
    for fn in funcs:
        assert f"share/man/man3/{fn}.3" in files, fn
    assert any(f.startswith("lib/") and "libpmfuse.so" in f for f in files), sorted(files)
    assert any(f.endswith("pkgconfig/pmfuse.pc") for f in files), sorted(files)
    for exe in ("sbin/pmfuse", "sbin/mkfs.pmfuse", "sbin/fsck.pmfuse", "bin/pmfusectl"):
        assert os.access(os.path.join(prefix, exe), os.X_OK), exe
    with open(os.path.join(prefix, "lib/systemd/system/pmfuse@.service")) as u:
        assert "ExecStart=/usr/local/sbin/pmfuse -f " in u.read()


def check_example(exe, libdir, pool):
    with Mount(pool) as m:
        os.mkdir(m.path("d"))
        out = run([exe, m.dir, m.path("d")], env=dict(os.environ, LD_LIBRARY_PATH=":".join(libdir)))
        assert out.startswith(f"{m.path('d')}: immediate\n"), out
        assert "granularity PAGE" in out or "granularity CACHE_LINE" in out or "granularity BYTE" in out
        assert os.getxattr(m.path("d"), "user.pmfuse.sync") == b"immediate"
        # and the policy is inherited by what is created there
        with open(m.path("d/f"), "w") as f:
            f.write("x")
        assert os.getxattr(m.path("d/f"), "user.pmfuse.sync") == b"immediate"
