"""test_prefault.py -- after a mount the daemon maps the pool's data into its
page tables in the background (daemon/prefault.c), so that first reads do
not fault each page in; -o no_prefault leaves the pages to fault in as they
are used (that holes stay holes is tests/unit/test-media.c's: mkfs.pmfuse
allocates the whole pool file)."""

import os
import time

from pmtest import MiB, Mount, read_file, write_file

DATA = 32 * MiB


def _pool_rss(pid, pool):
    """bytes of the pool file that process PID has mapped (smaps Rss)"""
    ino = os.stat(pool).st_ino
    rss, inside = 0, False
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            fields = line.split()
            if "-" in fields[0] and len(fields) >= 5:  # a mapping's first line
                inside = fields[4] == str(ino)
            elif inside and fields[0] == "Rss:":
                rss += int(fields[1]) * 1024
    return rss


def _with_data(pool):
    with Mount(pool) as m:
        write_file(m.path("f"), os.urandom(DATA))


def test_data_is_mapped_after_the_mount(pool):
    _with_data(pool)
    with Mount(pool) as m:
        deadline = time.monotonic() + 20
        while _pool_rss(m.pid, pool) < DATA and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _pool_rss(m.pid, pool) >= DATA
        assert len(read_file(m.path("f"))) == DATA


def test_no_prefault_maps_pages_as_they_are_used(pool):
    _with_data(pool)
    with Mount(pool, "no_prefault") as m:
        time.sleep(1)  # what the thread would have done by now
        before = _pool_rss(m.pid, pool)
        assert before < DATA // 2, f"{before} bytes of the pool mapped without prefault"
        assert len(read_file(m.path("f"))) == DATA
        assert _pool_rss(m.pid, pool) >= DATA
