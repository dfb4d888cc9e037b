"""workloads.py -- the workloads W1..W10 of issue 5, fio verify, the file-count test.

Each workload is a function (target, scale) -> dict of numbers; the first
key of WORKLOADS[name].metrics is the headline number.
"""

import json
import os
import shutil
import subprocess
import sys
import threading
import time

MiB = 1 << 20

# sizes and per-workload time caps: full run, --quick run
SCALES = {
    'full': {'seq': 1024 * MiB, 'rand': 256 * MiB, 'log': 128 * MiB, 'cap': 5,
             'w7_files': 2000, 'w8_src': '/usr/include', 'verify': 256 * MiB},
    'quick': {'seq': 64 * MiB, 'rand': 32 * MiB, 'log': 8 * MiB, 'cap': 1,
              'w7_files': 100, 'w8_src': '/usr/include/linux', 'verify': 16 * MiB},
}


def touch_memory(mib):
    """touch_memory -- make a child allocate and write MIB MiB once: this VM
    returns freed memory to its host, and the first big allocation is slow."""
    subprocess.run([sys.executable, '-c',
                    f'b = bytearray({mib} << 20)\n'
                    f'for i in range(0, len(b), 4096): b[i] = 1\n'], check=True)


def drop_caches(warm=0):
    """drop_caches -- write back and drop the page cache (between write and
    read); then, for a workload that fills WARM bytes of page cache, touch
    that much memory and a margin. The VM hands memory freed for a few
    seconds (the dropped cache, a previous file) back to its host, and the
    page cache that the workload then fills comes from it at several times
    the cost: null's W2 read 1.1 GB/s after such a pause and 2.6 after a
    touch, where pmfuse's moved far less (README step 21). Touched just
    before each target's run, every target starts from memory in the guest."""
    os.sync()
    try:
        with open('/proc/sys/vm/drop_caches', 'w', encoding='ascii') as f:
            f.write('3\n')
    except OSError:
        pass
    if warm:
        touch_memory(warm // MiB + 256)


def fio(name, filename=None, directory=None, **opts):
    """fio -- run one fio job (ioengine=psync), return its parsed JSON job list."""
    cmd = ['fio', '--output-format=json', f'--name={name}', '--ioengine=psync']
    if filename:
        cmd.append(f'--filename={filename}')
    if directory:
        cmd.append(f'--directory={directory}')
    for k, v in opts.items():
        cmd.append(f'--{k}={v}')
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode:
        raise RuntimeError(f'fio {name} failed ({res.returncode}): {res.stderr.strip()[-2000:]}')
    out = res.stdout
    out = out[out.index('{'):]  # fio may print notes before the JSON
    jobs = json.loads(out)['jobs']
    for j in jobs:
        if j.get('error'):
            raise RuntimeError(f'fio {name}: job error {j["error"]}')
    return jobs


def _sum(jobs, rw, key):
    return sum(j[rw][key] for j in jobs)


def _pct(jobs, rw, section, pct):
    """microseconds of percentile PCT of SECTION (clat_ns or lat_ns) of the first job."""
    p = jobs[0][rw].get(section, {}).get('percentile', {})
    for k, v in p.items():
        if abs(float(k) - pct) < 1e-6:
            return v / 1000.0
    return None


def _file(t, name):
    """the file a single-file workload uses: the mount point itself on null."""
    return t.path if t.kind == 'null' else os.path.join(t.path, name)


def _rm(t, name):
    if t.kind != 'null':
        path = os.path.join(t.path, name)
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.exists(path):
            os.unlink(path)


def _lay_out(t, name, size):
    """_lay_out -- write NAME of SIZE bytes, then drop the caches (read workloads)."""
    if t.kind != 'null':
        if not os.path.exists(_file(t, name)) or os.path.getsize(_file(t, name)) != size:
            fio('layout', _file(t, name), rw='write', bs='1M', size=size, end_fsync=1)
    drop_caches(warm=size)


def w1(t, s):
    _rm(t, 'w1')
    drop_caches(warm=s['seq'])
    j = fio('w1', _file(t, 'w1'), rw='write', bs='1M', size=s['seq'], end_fsync=1)
    _rm(t, 'w1')
    return {'MiB/s': _sum(j, 'write', 'bw') / 1024}


def w2(t, s):
    _lay_out(t, 'seq', s['seq'])
    j = fio('w2', _file(t, 'seq'), rw='read', bs='1M', size=s['seq'], invalidate=1,
            runtime=s['cap'])
    return {'MiB/s': _sum(j, 'read', 'bw') / 1024}


def w3(t, s):
    _lay_out(t, 'rand', s['rand'])
    j = fio('w3', _file(t, 'rand'), rw='randread', bs='4k', size=s['rand'], invalidate=1,
            runtime=s['cap'])
    return {'IOPS': _sum(j, 'read', 'iops')}


def w3w(t, s):
    _lay_out(t, 'rand', s['rand'])
    with open(_file(t, 'rand'), 'rb') as f:  # read once: now it is in the cache
        while f.read(MiB):
            pass
    j = fio('w3w', _file(t, 'rand'), rw='randread', bs='4k', size=s['rand'], invalidate=0,
            runtime=s['cap'], time_based=1)
    return {'IOPS': _sum(j, 'read', 'iops')}


def w4(t, s):
    _rm(t, 'w4')
    j = fio('w4', _file(t, 'w4'), rw='randwrite', bs='4k', size=s['rand'], runtime=s['cap'])
    _rm(t, 'w4')
    return {'IOPS': _sum(j, 'write', 'iops')}


def w5(t, s):
    _rm(t, 'w5')
    j = fio('w5', _file(t, 'w5'), rw='randwrite', bs='4k', size=s['rand'], fsync=1,
            runtime=s['cap'], time_based=1)
    _rm(t, 'w5')
    return {'IOPS': _sum(j, 'write', 'iops'),
            'write p50 us': _pct(j, 'write', 'clat_ns', 50.0),
            'write p99 us': _pct(j, 'write', 'clat_ns', 99.0),
            'fsync p50 us': _pct(j, 'sync', 'lat_ns', 50.0) if 'sync' in j[0] else None,
            'fsync p99 us': _pct(j, 'sync', 'lat_ns', 99.0) if 'sync' in j[0] else None}


def w6(t, s):
    _rm(t, 'w6')
    j = fio('w6', _file(t, 'w6'), rw='write', bs='4k', size=s['log'], fdatasync=1,
            file_append=1, runtime=s['cap'])
    _rm(t, 'w6')
    return {'IOPS': _sum(j, 'write', 'iops')}


def _small_files(d, n, buf):
    """the work of one W7 process: N files of BUF in directory D"""
    os.mkdir(d)
    for i in range(n):
        fd = os.open(os.path.join(d, f'f{i:07d}'), os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o644)
        try:
            os.write(fd, buf)
            os.fsync(fd)
        finally:
            os.close(fd)


def w7(t, s):
    """w7 -- fs_mark -s 4096 -n N -t 2 -S 1 equivalent: 2 processes each create
    N files of 4 KiB in their own directory, write, fsync, close. Processes,
    not threads: two Python threads take turns on the interpreter lock
    between their system calls, and that hand-over varied more than the
    file systems measured (one run: 5.9k to 14.7k files/s on one target)."""
    top = os.path.join(t.path, 'w7')
    _rm(t, 'w7')
    os.mkdir(top)
    n = s['w7_files']
    go_r, go_w = os.pipe()
    done_r, done_w = os.pipe()
    kids = []
    for k in range(2):
        pid = os.fork()
        if pid == 0:  # the child: wait for the start, work, report its end
            status = 1
            try:
                os.close(go_w)
                os.close(done_r)
                os.read(go_r, 1)
                _small_files(os.path.join(top, f't{k}'), n, b'\xa5' * 4096)
                os.write(done_w, f'{time.monotonic()!r}\n'.encode())
                status = 0
            except OSError as e:
                os.write(done_w, f'error {e}\n'.encode())
            finally:
                os._exit(status)
        kids.append(pid)
    os.close(go_r)
    os.close(done_w)
    t0 = time.monotonic()
    os.write(go_w, b'gg')  # one byte for each
    os.close(go_w)
    with os.fdopen(done_r) as f:
        reports = f.read().splitlines()
    failed = [os.waitpid(pid, 0)[1] for pid in kids]
    if any(failed) or len(reports) != 2:
        raise RuntimeError(f'w7: a process failed: {"; ".join(reports)}')
    secs = max(float(r) for r in reports) - t0
    _rm(t, 'w7')
    return {'files/s': 2 * n / secs}


def w8(t, s, tarball):
    """w8 -- seconds to `tar xf` TARBALL and then `rm -rf` the tree."""
    d = os.path.join(t.path, 'w8')
    _rm(t, 'w8')
    os.mkdir(d)
    t0 = time.monotonic()
    subprocess.run(['tar', 'xf', tarball, '-C', d], check=True)
    t1 = time.monotonic()
    subprocess.run(['rm', '-rf', d], check=True)
    t2 = time.monotonic()
    return {'s': t2 - t0, 'tar s': t1 - t0, 'rm s': t2 - t1}


def w9(t, s):
    _lay_out(t, 'rand', s['rand'])
    # each job reads its own half, so that neither finds pages the other cached
    j = fio('w9', _file(t, 'rand'), rw='randread', bs='4k', size=s['rand'] // 2,
            offset_increment=s['rand'] // 2, invalidate=1, numjobs=2, runtime=s['cap'])
    return {'IOPS': _sum(j, 'read', 'iops')}


def w10(t, s):
    d = os.path.join(t.path, 'w10')
    _rm(t, 'w10')
    os.mkdir(d)
    j = fio('w10', directory=d, rw='randwrite', bs='4k', size=s['rand'] // 2, fsync=1,
            numjobs=2, runtime=s['cap'], time_based=1)
    _rm(t, 'w10')
    return {'IOPS': _sum(j, 'write', 'iops')}


def w11(t, s):
    """w11 -- seconds to `cp` the sequential file (copy_file_range(2)
    where the file system has it, else read and write) and fsync the copy."""
    _lay_out(t, 'seq', s['seq'])
    dst = _file(t, 'w11')
    _rm(t, 'w11')
    t0 = time.monotonic()
    subprocess.run(['cp', _file(t, 'seq'), dst], check=True)
    fd = os.open(dst, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    secs = time.monotonic() - t0
    if os.path.getsize(dst) != s['seq']:
        raise RuntimeError(f'w11: the copy has {os.path.getsize(dst)} bytes, not {s["seq"]}')
    _rm(t, 'w11')
    return {'s': secs}


def verify(t, s):
    """verify -- fio write + crc32c verify; True when fio finds no mismatch."""
    _rm(t, 'verify')
    try:
        fio('verify', os.path.join(t.path, 'verify'), rw='randwrite', bs='4k',
            size=s['verify'], verify='crc32c', do_verify=1, verify_fatal=1,
            verify_state_save=0)
        ok = True
    except RuntimeError:
        ok = False
    _rm(t, 'verify')
    return ok


class W:
    def __init__(self, fn, unit, desc, higher_better=True):
        self.fn, self.unit, self.desc, self.higher_better = fn, unit, desc, higher_better


WORKLOADS = {
    'W1': W(w1, 'MiB/s', 'seq write 1 MiB, end_fsync'),
    'W2': W(w2, 'MiB/s', 'seq read 1 MiB, cold'),
    'W3': W(w3, 'IOPS', 'rand read 4 KiB, cold'),
    'W3w': W(w3w, 'IOPS', 'rand read 4 KiB, warm'),
    'W4': W(w4, 'IOPS', 'rand write 4 KiB'),
    'W5': W(w5, 'IOPS', 'rand write 4 KiB + fsync'),
    'W6': W(w6, 'IOPS', 'append 4 KiB + fdatasync'),
    'W7': W(w7, 'files/s', 'create 4 KiB + fsync, 2 processes'),
    'W8': W(w8, 's', 'tar xf + rm -rf', higher_better=False),
    'W9': W(w9, 'IOPS', 'rand read 4 KiB, cold, 2 jobs'),
    'W10': W(w10, 'IOPS', 'rand write 4 KiB + fsync, 2 jobs'),
    'W11': W(w11, 's', 'cp of the W2 file + fsync', higher_better=False),
}


def make_files(top, n, nthreads=2):
    """make_files -- create N empty files under TOP (1000 per directory)."""
    per_dir = 1000

    def worker(k):
        for d in range(k, (n + per_dir - 1) // per_dir, nthreads):
            dd = os.path.join(top, f'd{d:05d}')
            os.mkdir(dd)
            for i in range(d * per_dir, min(n, (d + 1) * per_dir)):
                os.close(os.open(os.path.join(dd, f'f{i:07d}'), os.O_CREAT | os.O_WRONLY, 0o644))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(nthreads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
