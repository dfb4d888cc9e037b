"""conftest.py -- fixtures for the pmfuse mount tests.

  make_pool   factory: make_pool(size="256M", inodes=None) -> path of a fresh
              pool under /dev/shm, removed after the test; make_pool.path()
              gives a unique scratch path there (also removed)
  pool        make_pool() with the defaults (256 MiB), or with indirect
              parametrization's dict as arguments
  mount       Mount(pool): the daemon in the foreground on a temporary
              directory; unmounted and checked (exit 0, no unexpected
              stderr) after the test

Tests that need other sizes or options build their own:
``with Mount(make_pool("2G"), "allow_other") as m: ...``.  Every Mount
still alive after a test is unmounted and checked here, so nothing leaks
even when a test fails half way.
"""

import os
import threading

import pytest

from pmtest import (Mount, live_mounts, mkfs, mkfs_bin, pmfuse_bin, shm_path)

TEST_TIMEOUT = float(os.environ.get("PMFUSE_TEST_TIMEOUT", "300"))


@pytest.fixture(scope="session", autouse=True)
def _binaries():
    """Both binaries must exist: a missing one is a failure, never a skip."""
    pmfuse_bin()
    mkfs_bin()


class _PoolFactory:
    def __init__(self):
        self.made = []

    def __call__(self, size="256M", inodes=None):
        p = self.path()
        mkfs(p, size=size, inodes=inodes)
        return p

    def path(self, suffix=".pool"):
        p = shm_path(suffix)
        self.made.append(p)
        return p

    def cleanup(self):
        for p in self.made:
            try:
                os.unlink(p)
            except FileNotFoundError:
                pass


@pytest.fixture
def make_pool():
    f = _PoolFactory()
    yield f
    f.cleanup()


@pytest.fixture(autouse=True)
def _mount_guard(make_pool):
    """Kill hung daemons after TEST_TIMEOUT; unmount and check mounts a test left behind.

    Depends on make_pool so that it is torn down before the pools are removed."""

    def fire():
        for m in live_mounts():
            m.kill_for_watchdog()

    timer = threading.Timer(TEST_TIMEOUT, fire)
    timer.daemon = True
    timer.start()
    yield
    timer.cancel()
    problems = []
    for m in reversed(live_mounts()):
        try:
            m.close()
        except (Exception, pytest.fail.Exception) as e:
            problems.append(str(e))
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture
def pool(make_pool, request):
    """A fresh 256 MiB pool; @pytest.mark.parametrize("pool", [dict(size="1G")], indirect=True)
    passes other make_pool() arguments."""
    return make_pool(**getattr(request, "param", {}))


@pytest.fixture
def mount(pool):
    m = Mount(pool)
    yield m
    m.close()


def pytest_sessionfinish(session, exitstatus):
    """A skipped test must not count as a pass: when some test skipped and
    none failed, the file exits 77, which meson reports as SKIP (and
    .ci/run counts as skipped)."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if exitstatus == 0 and reporter is not None and reporter.stats.get("skipped"):
        session.exitstatus = 77
