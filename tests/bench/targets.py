"""targets.py -- mount and unmount the file systems the benchmark compares.

Every target is prepared by setup() and undone by teardown(); Cleanup keeps
a stack of undo actions so that a failure or Ctrl-C anywhere leaves no mount,
daemon or pool file behind.
"""

import os
import shutil
import subprocess
import tempfile
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
from mountinfo import is_mounted  # noqa: E402

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LIBFUSE_SRC = os.path.join(TOP, 'subprojects', 'libfuse')
LIBFUSE_BUILD = (os.environ.get('LIBFUSE_BUILD')
                 or os.path.join(TOP, 'build', 'subprojects', 'libfuse'))


def pmfuse_bin():
    return os.environ.get('PMFUSE') or os.path.join(TOP, 'build', 'daemon', 'pmfuse')


def mkfs_bin():
    return os.environ.get('MKFS_PMFUSE') or os.path.join(TOP, 'build', 'tools', 'mkfs.pmfuse')


class Cleanup:
    """A stack of undo actions, run last-in first-out, errors ignored."""

    def __init__(self):
        self.actions = []

    def push(self, fn, *args):
        self.actions.append((fn, args))
        return len(self.actions) - 1

    def run_all(self):
        while self.actions:
            fn, args = self.actions.pop()
            try:
                fn(*args)
            except Exception:  # pylint: disable=broad-except
                pass


def umount(path):
    """umount -- unmount PATH if it is mounted (lazily if it is busy)."""
    if not is_mounted(path):
        return
    if subprocess.run(['umount', path], capture_output=True, check=False).returncode:
        subprocess.run(['umount', '-l', path], capture_output=True, check=False)


def stop_daemon(proc, mountpoint):
    """stop_daemon -- unmount MOUNTPOINT, then wait for (or kill) PROC."""
    umount(mountpoint)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wait_mounted(proc, mountpoint, timeout=60.0):
    """wait_mounted -- poll until MOUNTPOINT is mounted; seconds it took."""
    t0 = time.monotonic()
    while not is_mounted(mountpoint):
        if proc.poll() is not None:
            raise RuntimeError(f'daemon for {mountpoint} exited with {proc.returncode}: '
                               + (proc.stderr.read() if proc.stderr else ''))
        if time.monotonic() - t0 > timeout:
            raise RuntimeError(f'{mountpoint} not mounted after {timeout} s')
        time.sleep(0.002)
    return time.monotonic() - t0


def build_example(name, cache):
    """build_example -- compile libfuse's example/NAME.c into CACHE (once)."""
    out = os.path.join(cache, name)
    src = os.path.join(LIBFUSE_SRC, 'example', name + '.c')
    lib = os.path.join(LIBFUSE_BUILD, 'lib', 'libfuse3.a')
    if os.path.exists(out) and os.path.getmtime(out) >= max(os.path.getmtime(src),
                                                            os.path.getmtime(lib)):
        return out
    os.makedirs(cache, exist_ok=True)
    # $BENCH_CFLAGS: a sanitizer build's libfuse needs its runtime linked in
    subprocess.run(['cc', '-O2', '-D_FILE_OFFSET_BITS=64', '-DHAVE_FALLOCATE',
                    '-DHAVE_COPY_FILE_RANGE'] + os.environ.get('BENCH_CFLAGS', '').split() + [
                    '-I', os.path.join(LIBFUSE_SRC, 'include'), '-I', LIBFUSE_BUILD,
                    '-o', out, src, lib, '-lpthread', '-ldl'], check=True)
    return out


def start_daemon(cmd, mountpoint, env=None):
    """start_daemon -- run a FUSE daemon in the foreground, wait for its mount."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        secs = wait_mounted(proc, mountpoint)
    except BaseException:
        stop_daemon(proc, mountpoint)
        raise
    return proc, secs


class Target:
    """One file system under test.

    name: short key; kind: tmpfs, null, passthrough or pmfuse; path: where
    workloads run (a directory, or for null the single file); workloads the
    target cannot serve are listed in `serves` (None: all).
    """

    def __init__(self, name, kind, opts=None, env=None, serves=None, binary=None):
        self.name, self.kind, self.opts, self.env = name, kind, opts, env
        self.serves = serves
        self.binary = binary  # pmfuse: another daemon binary than the build's (--ab)
        self.path = None
        self.proc = None
        self.pool = None

    def can(self, workload):
        return self.serves is None or workload in self.serves

    def setup(self, work, cache, cleanup, pool_size):
        base = tempfile.mkdtemp(prefix=self.name + '.', dir=work)
        cleanup.push(shutil.rmtree, base, True)
        mnt = self.path = os.path.join(base, 'mnt')
        if self.kind == 'tmpfs':
            os.mkdir(mnt)
            subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=8G', 'bench', mnt], check=True)
            cleanup.push(umount, mnt)
        elif self.kind == 'null':
            exe = build_example('null', cache)
            with open(mnt, 'w', encoding='utf-8'):
                pass
            self.proc, _ = start_daemon([exe, '-f', mnt], mnt)
            cleanup.push(stop_daemon, self.proc, mnt)
        elif self.kind == 'passthrough':
            exe = build_example('passthrough_ll', cache)
            src = os.path.join(base, 'src')
            os.mkdir(src)
            os.mkdir(mnt)
            subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=8G', 'benchsrc', src], check=True)
            cleanup.push(umount, src)
            self.proc, _ = start_daemon([exe, '-f', '-o', f'source={src},' + self.opts, mnt], mnt)
            cleanup.push(stop_daemon, self.proc, mnt)
        elif self.kind == 'pmfuse':
            os.mkdir(mnt)
            self.pool = f'/dev/shm/pmfuse-bench.{os.getpid()}.{self.name}.pool'
            cleanup.push(os.unlink, self.pool)
            subprocess.run([mkfs_bin(), '-q', '--force', '--size', pool_size, self.pool], check=True)
            self._start_pmfuse(cleanup)

    def _start_pmfuse(self, cleanup):
        env = dict(os.environ, **(self.env or {}))
        opts = ['-o', self.opts] if self.opts else []
        exe = self.binary or pmfuse_bin()
        self.proc, _ = start_daemon([exe, '-f', *opts, self.pool, self.path], self.path, env)
        cleanup.push(stop_daemon, self.proc, self.path)


def swap_pmfuse_pools(a, b, cleanup):
    """swap_pmfuse_pools -- targets A and B (pmfuse) stopped, then started again on each
    other's pools, so that neither keeps one pool's placement in memory, or one daemon's,
    for the whole run (both stop first: a pool is locked while mounted)."""
    stop_daemon(a.proc, a.path)
    stop_daemon(b.proc, b.path)
    a.pool, b.pool = b.pool, a.pool
    a._start_pmfuse(cleanup)  # pylint: disable=protected-access
    b._start_pmfuse(cleanup)  # pylint: disable=protected-access


def all_targets(pmfuse_opts='', aa=False, ab=None):
    """all_targets -- the targets of issue 5, in the order of the report;
    pmfuse_opts: extra -o options for the pmfuse targets; aa: pmfuse-cl at
    page granularity too (an A/A run: its cl/page is the harness's noise);
    ab: a daemon binary that pmfuse-cl runs at page granularity (an A/B run
    of two builds: its cl/page is B against A)."""
    cl_env = {} if aa or ab else {'PMEM2_FORCE_GRANULARITY': 'cache_line'}
    return [
        Target('tmpfs', 'tmpfs'),
        Target('null', 'null', serves={'W2', 'W3', 'W4', 'W9'}),
        Target('pt-doc', 'passthrough', opts='allow_other,default_permissions,xattr'),
        Target('pt-tuned', 'passthrough',
               opts='allow_other,default_permissions,xattr,writeback,cache=always,timeout=86400'),
        Target('pmfuse', 'pmfuse', opts=pmfuse_opts),
        Target('pmfuse-cl', 'pmfuse', opts=pmfuse_opts, env=cl_env, binary=ab),
    ]


def daemon_rss_excluding(pid, exclude_path):
    """daemon_rss_excluding -- KiB of RSS of PID outside mappings of EXCLUDE_PATH."""
    total = 0
    skip = False
    with open(f'/proc/{pid}/smaps', encoding='utf-8') as f:
        for line in f:
            head = line.split(None, 1)[0]
            if not head.endswith(':') or '-' in head:
                # a mapping header: "start-end perms offset dev inode [path]"
                fields = line.split(None, 5)
                path = fields[5].strip() if len(fields) > 5 else ''
                skip = path == exclude_path or path.startswith(exclude_path + ' ')
            elif head == 'Rss:' and not skip:
                total += int(line.split()[1])
    return total
