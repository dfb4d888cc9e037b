#!/usr/bin/python3
"""worker.py -- one process of the model-checked stress test (see smodel.py).

    worker.py MOUNT LOG --id N --seed S --seconds T [--procs P]

Does seeded random operations on its own names (prefix pN-) in the shared
directories, on its region of the shared file ``region`` and as O_APPEND
records on ``log0``/``log1``, until T seconds have passed.  Each state
change is logged (JSON lines) before the call ({"i", "op"}) and when it
returned ({"r", "res"}); its StressModel follows.  Reads during the run are
checked on the spot ({"bad": ...} lines):
  - its own files, symlinks, xattrs, modes and link counts are exactly the model's;
  - a listing of a shared directory holds exactly its own names there, and
    only well-formed names of others;
  - its region of ``region`` is exactly the model's while others write theirs;
  - a log file is a sequence of intact records (the last may be a record
    being appended, seen in part), each writer's in order, and its own
    records that returned are at their offsets.
Exit status: 0 finished, 1 problems seen or an operation failed (its
{"err"} line says when: the crash test accepts errors after its kill), 3 the
mount died under it (ENOTCONN and the like: the crash tests kill the daemon).
"""

import argparse
import errno
import json
import os
import random
import stat
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import smodel  # noqa: E402
from smodel import LOGS, REGION, REGION_FILE, RS, SHARED_DIRS, StressModel, record  # noqa: E402
from crashlib import RENAME_EXCHANGE, gen, renameat2, write_all  # noqa: E402

DEAD = (errno.ENOTCONN, errno.ECONNABORTED, errno.ENODEV)
MAX_NAMES = 60
MAX_FILE = 256 * 1024
MODES = (0o600, 0o644, 0o640, 0o755, 0o700, 0o664)
DMODES = (0o755, 0o700, 0o750, 0o777)


class Dead(Exception):
    pass


class Worker:
    def __init__(self, a):
        self.a = a
        self.mnt = a.mount
        self.pid = a.id
        self.rng = random.Random(a.seed)
        self.m = StressModel(self.pid)
        self.log = os.open(a.log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
        self.i = 0
        self.n = 0  # name counter
        self.fds = {}  # held descriptor -> model inode
        self.lfds = {}
        self.region_fd = None
        self.own_ends = {lf: {} for lf in range(len(LOGS))}
        self.bad = 0
        self.ops = 0

    # --- logging ----------------------------------------------------------------

    def emit(self, rec):
        os.write(self.log, (json.dumps(rec, separators=(",", ":")) + "\n").encode())

    def problem(self, msg):
        self.bad += 1
        self.emit({"bad": msg})

    def P(self, rel):
        return os.path.join(self.mnt, rel)

    def do(self, op, fn):
        """do -- log op, run fn, apply op (with fn's result fields) to the model."""
        i = self.i
        self.i += 1
        op["t0"] = time.monotonic()
        self.emit({"i": i, "op": op})
        try:
            res = fn() or {}
        except OSError as e:
            self.emit({"err": {"i": i, "t": time.monotonic(), "errno": e.errno, "msg": str(e)}})
            e.logged = True
            if e.errno in DEAD:
                raise Dead() from e
            raise
        res["t1"] = time.monotonic()
        self.emit({"r": i, "res": res})
        op.update(res)
        self.ops += 1
        return self.m.apply(op, i)

    # --- choosing ---------------------------------------------------------------

    def name(self, kind):
        self.n += 1
        return f"{smodel.prefix(self.pid)}{kind}{self.n}"

    def own(self, kind=None):
        out = []
        for p, ino in self.m.own().items():
            if kind is None or self.m.inodes[ino].kind == kind:
                out.append((p, ino))
        return sorted(out)

    def dirs(self):
        """dirs -- where this process may put names: the shared dirs and its own dirs."""
        return list(SHARED_DIRS) + [p for p, _ in self.own("d") if p.count("/") < 4]

    def new_path(self, kind):
        return f"{self.rng.choice(self.dirs())}/{self.name(kind)}"

    # --- operations -------------------------------------------------------------

    def op_create(self):
        if len(self.m.own()) >= MAX_NAMES:
            return
        path, mode = self.new_path("f"), self.rng.choice(MODES)

        def fn():
            fd = os.open(self.P(path), os.O_CREAT | os.O_EXCL | os.O_WRONLY, mode)
            os.close(fd)
        ino = self.do({"op": "create", "path": path, "mode": mode}, fn)
        if self.rng.random() < 0.7:
            self.write(ino, path, 0, self.rng.randint(1, 16384))

    def write(self, ino, path, off, n, fd=None):
        seed = self.rng.getrandbits(48)
        data = gen(seed, n)

        def fn():
            f = fd if fd is not None else os.open(self.P(path), os.O_WRONLY)
            try:
                write_all(f, data, off)
            finally:
                if fd is None:
                    os.close(f)
        self.do({"op": "write", "ino": ino, "off": off, "len": n, "dseed": seed}, fn)

    def pick_file(self):
        """pick_file -- (ino, path or None, fd or None) of one of its files."""
        if self.fds and self.rng.random() < 0.3:
            fd = self.rng.choice(sorted(self.fds))
            return self.fds[fd], None, fd
        files = self.own("f")
        if not files:
            return None
        p, ino = self.rng.choice(files)
        return ino, p, None

    def op_write(self):
        f = self.pick_file()
        if f:
            ino, p, fd = f
            size = len(self.m.inodes[ino].cur)
            off = self.rng.randint(0, min(MAX_FILE - 1, size + 8192))
            self.write(ino, p, off, self.rng.randint(1, min(32768, MAX_FILE - off)), fd)

    def op_append(self):
        files = self.own("f")
        if not files:
            return
        p, ino = self.rng.choice(files)
        if len(self.m.inodes[ino].cur) > MAX_FILE:
            return
        n = self.rng.randint(1, 8192)
        seed = self.rng.getrandbits(48)
        data = gen(seed, n)

        def fn():
            fd = os.open(self.P(p), os.O_WRONLY | os.O_APPEND)
            try:
                write_all(fd, data)
            finally:
                os.close(fd)
        self.do({"op": "append", "ino": ino, "len": n, "dseed": seed}, fn)

    def op_truncate(self):
        f = self.pick_file()
        if f:
            ino, p, fd = f
            size = self.rng.choice([0, self.rng.randint(0, MAX_FILE),
                                    max(0, len(self.m.inodes[ino].cur) - self.rng.randint(0, 5000))])

            def fn():
                if fd is not None:
                    os.ftruncate(fd, size)
                else:
                    os.truncate(self.P(p), size)
            self.do({"op": "truncate", "ino": ino, "size": size}, fn)

    def op_fsync(self):
        f = self.pick_file()
        if f:
            ino, p, fd = f
            kind = self.rng.choice(["fsync", "fdatasync"])

            def fn():
                g = fd if fd is not None else os.open(self.P(p), os.O_RDONLY)
                try:
                    (os.fsync if kind == "fsync" else os.fdatasync)(g)
                finally:
                    if fd is None:
                        os.close(g)
            self.do({"op": kind, "ino": ino}, fn)

    def op_mkdir(self):
        if len(self.m.own()) >= MAX_NAMES:
            return
        path, mode = self.new_path("d"), self.rng.choice(DMODES)
        self.do({"op": "mkdir", "path": path, "mode": mode}, lambda: os.mkdir(self.P(path), mode))

    def op_symlink(self):
        if len(self.m.own()) >= MAX_NAMES:
            return
        path = self.new_path("l")
        target = self.rng.choice(["../s1/x", "/nowhere", "p" * self.rng.randint(1, 300),
                                  f"t{self.rng.getrandbits(30)}"])
        self.do({"op": "symlink", "path": path, "target": target},
                lambda: os.symlink(target, self.P(path)))

    def op_link(self):
        files = self.own("f")
        if not files or len(self.m.own()) >= MAX_NAMES:
            return
        src, _ = self.rng.choice(files)
        dst = self.new_path("h")
        self.do({"op": "link", "src": src, "dst": dst}, lambda: os.link(self.P(src), self.P(dst)))

    def op_unlink(self):
        cands = self.own("f") + self.own("l")
        if cands:
            p, _ = self.rng.choice(cands)
            self.do({"op": "unlink", "path": p}, lambda: os.unlink(self.P(p)))

    def op_rmdir(self):
        empty = [p for p, ino in self.own("d") if not self.m.inodes[ino].entries]
        if empty:
            p = self.rng.choice(empty)
            self.do({"op": "rmdir", "path": p}, lambda: os.rmdir(self.P(p)))

    def op_rename(self):
        names = self.own()
        if not names:
            return
        src, sino = self.rng.choice(names)
        node = self.m.inodes[sino]
        r = self.rng.random()
        dst = None
        if r < 0.4:  # over one of its names of a compatible type
            if node.kind == "d":
                over = [p for p, i in self.own("d") if not self.m.inodes[i].entries and i != sino]
            else:
                over = [p for p, i in names if self.m.inodes[i].kind != "d" and p != src]
            if over:
                dst = self.rng.choice(over)
        if dst is None:
            d = self.rng.choice(self.dirs())
            dst = f"{d}/{self.name(node.kind if node.kind != 'h' else 'f')}"
        # a directory cannot move below itself
        dd = self.m.lookup(dst.rpartition("/")[0])
        if node.kind == "d" and (dd is None or self.m.is_ancestor(sino, dd)):
            return
        self.do({"op": "rename", "src": src, "dst": dst}, lambda: os.rename(self.P(src), self.P(dst)))

    def op_exchange(self):
        names = self.own()
        if len(names) < 2:
            return
        (a, ai), (b, bi) = self.rng.sample(names, 2)
        for x, y in ((ai, b), (bi, a)):
            if self.m.inodes[x].kind == "d":
                yd = self.m.lookup(y.rpartition("/")[0])
                if yd is None or self.m.is_ancestor(x, yd):
                    return
        self.do({"op": "rename", "src": a, "dst": b, "flags": RENAME_EXCHANGE},
                lambda: renameat2(self.P(a), self.P(b), RENAME_EXCHANGE))

    def op_chmod(self):
        cands = self.own("f") + self.own("d")
        if cands:
            p, ino = self.rng.choice(cands)
            mode = self.rng.choice(DMODES if self.m.inodes[ino].kind == "d" else MODES)
            self.do({"op": "chmod", "path": p, "mode": mode}, lambda: os.chmod(self.P(p), mode))

    def op_setxattr(self):
        cands = self.own("f") + self.own("d")
        if cands:
            p, _ = self.rng.choice(cands)
            name = f"user.k{self.rng.randint(0, 3)}"
            vlen, vseed = self.rng.randint(0, 300), self.rng.getrandbits(40)
            self.do({"op": "setxattr", "path": p, "name": name, "vlen": vlen, "vseed": vseed},
                    lambda: os.setxattr(self.P(p), name, gen(vseed, vlen)))

    def op_removexattr(self):
        cands = [(p, i) for p, i in self.own("f") + self.own("d") if self.m.inodes[i].xattrs]
        if cands:
            p, ino = self.rng.choice(cands)
            name = self.rng.choice(sorted(self.m.inodes[ino].xattrs))
            self.do({"op": "removexattr", "path": p, "name": name},
                    lambda: os.removexattr(self.P(p), name))

    def op_open(self):
        files = self.own("f")
        if files and len(self.fds) < 3:
            p, ino = self.rng.choice(files)
            fds = []

            def fn():
                fds.append(os.open(self.P(p), os.O_RDWR))
            self.do({"op": "open", "ino": ino}, fn)
            self.fds[fds[0]] = ino

    def op_close(self):
        if self.fds:
            fd = self.rng.choice(sorted(self.fds))
            ino = self.fds.pop(fd)
            self.do({"op": "close", "ino": ino}, lambda: os.close(fd))

    # shared files

    def op_rwrite(self):
        off = self.rng.randint(0, REGION - 1)
        n = self.rng.randint(1, min(8192, REGION - off))
        seed = self.rng.getrandbits(48)
        data = gen(seed, n)
        self.do({"op": "rwrite", "off": off, "len": n, "dseed": seed},
                lambda: write_all(self.region_fd, data, self.pid * REGION + off))

    def op_rfsync(self):
        self.do({"op": "rfsync"}, lambda: os.fsync(self.region_fd))

    def op_lappend(self):
        lf = self.rng.randrange(len(LOGS))
        seq = self.m.seq.get(lf, 0)
        fd = self.lfds[lf]
        rec = record(self.pid, lf, seq)

        def fn():
            n = os.write(fd, rec)  # one call: the record is appended whole or not at all
            if n != RS:
                raise OSError(errno.EIO, f"short append: {n} of {RS} bytes")
            return {"end": os.lseek(fd, 0, os.SEEK_CUR)}
        self.do({"op": "lappend", "lf": lf, "seq": seq}, fn)
        self.own_ends[lf][seq] = self.m.appends[-1][2]

    def op_lfsync(self):
        lf = self.rng.randrange(len(LOGS))
        self.do({"op": "lfsync", "lf": lf}, lambda: os.fsync(self.lfds[lf]))

    # --- checks -----------------------------------------------------------------

    def chk_read(self):
        files = self.own("f")
        if not files:
            return
        p, ino = self.rng.choice(files)
        with open(self.P(p), "rb", buffering=0) as f:
            data = f.read()
        if data != bytes(self.m.inodes[ino].cur):
            self.problem(f"read {p}: {len(data)} bytes differ from the model's "
                         f"{len(self.m.inodes[ino].cur)}")

    def chk_stat(self):
        names = self.own()
        if not names:
            return
        p, ino = self.rng.choice(names)
        node = self.m.inodes[ino]
        st = os.lstat(self.P(p))
        k = smodel.kind_of(st.st_mode)
        if k != node.kind:
            self.problem(f"stat {p}: type {k}, model {node.kind}")
            return
        if k != "l" and stat.S_IMODE(st.st_mode) != node.mode:
            self.problem(f"stat {p}: mode {oct(st.st_mode)}, model {oct(node.mode)}")
        if st.st_nlink != self.m.nlink(ino):
            self.problem(f"stat {p}: {st.st_nlink} links, model {self.m.nlink(ino)}")
        if k == "f" and st.st_size != len(node.cur):
            self.problem(f"stat {p}: size {st.st_size}, model {len(node.cur)}")
        if k == "l" and os.readlink(self.P(p)).encode() != bytes(node.cur):
            self.problem(f"readlink {p}: differs from the model")
        if k != "l":
            xa = smodel.user_xattrs(self.P(p), strict=True)  # a dead mount raises
            if xa != node.xattrs:
                self.problem(f"xattrs of {p}: {sorted(xa)}, model {sorted(node.xattrs)}")

    def chk_readdir(self):
        d = self.rng.choice(self.dirs())
        names = os.listdir(self.P(d))
        dino = self.m.lookup(d)
        want = {n for n in self.m.inodes[dino].entries}
        mine = [n for n in names if smodel.owner(n) == self.pid]
        if sorted(mine) != sorted(want):
            self.problem(f"readdir {d}: my names {sorted(set(mine) ^ want)} differ "
                         f"(listed {len(mine)}, model {len(want)})")
        for n in names:
            if smodel.owner(n) is None or smodel.owner(n) >= self.a.procs:
                self.problem(f"readdir {d}: name {n!r} nobody makes")

    def chk_region(self):
        got = os.pread(self.region_fd, REGION, self.pid * REGION)
        if got != bytes(self.m.region.cur):
            first = next((i for i, (a, b) in enumerate(zip(got, self.m.region.cur)) if a != b), len(got))
            self.problem(f"my region reads differently from offset {first} ({len(got)} bytes)")
        other = self.rng.randrange(self.a.procs)
        if len(os.pread(self.region_fd, REGION, other * REGION)) != REGION:
            self.problem(f"region of process {other}: short read")

    def chk_log(self):
        lf = self.rng.randrange(len(LOGS))
        with open(self.P(LOGS[lf]), "rb", buffering=0) as f:
            data = f.read()
        for p in smodel.check_log_live(data, lf, self.pid, self.own_ends[lf]):
            self.problem(p)

    # --- the run ----------------------------------------------------------------

    WEIGHTS = {
        "create": 8, "write": 8, "append": 4, "truncate": 3, "fsync": 4, "mkdir": 4,
        "symlink": 3, "link": 3, "unlink": 5, "rmdir": 3, "rename": 9, "exchange": 1,
        "chmod": 3, "setxattr": 3, "removexattr": 2, "open": 1, "close": 1,
        "rwrite": 5, "rfsync": 2, "lappend": 7, "lfsync": 2,
        "read": 4, "stat": 4, "readdir": 4, "region": 2, "log": 1,
    }

    def run(self):
        self.emit({"worker": self.pid, "seed": self.a.seed, "procs": self.a.procs,
                   "t": time.monotonic()})
        os.umask(0)
        table = [(k, getattr(self, ("op_" if hasattr(self, "op_" + k) else "chk_") + k))
                 for k in self.WEIGHTS]
        weights = [self.WEIGHTS[k] for k, _ in table]
        try:
            self.region_fd = os.open(self.P(REGION_FILE), os.O_RDWR)
            for lf, name in enumerate(LOGS):
                self.lfds[lf] = os.open(self.P(name), os.O_WRONLY | os.O_APPEND)
            deadline = time.monotonic() + self.a.seconds
            while time.monotonic() < deadline:
                _, fn = self.rng.choices(table, weights)[0]
                fn()
            for fd in sorted(self.fds):
                ino = self.fds.pop(fd)
                self.do({"op": "close", "ino": ino}, lambda: os.close(fd))
        except Dead:
            return 3
        except OSError as e:
            # a read or check failed, or an operation with an errno other
            # than a dead mount's: the driver judges it by its time (after
            # a kill, EIO from a close is what the writeback cache reports)
            if not getattr(e, "logged", False):
                self.emit({"err": {"i": None, "t": time.monotonic(), "errno": e.errno,
                                   "msg": f"{e!r}"}})
            return 3 if e.errno in DEAD else 1
        self.emit({"done": True, "ops": self.ops, "bad": self.bad})
        return 1 if self.bad else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("mount")
    ap.add_argument("log")
    ap.add_argument("--id", type=int, required=True)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--seconds", type=float, required=True)
    ap.add_argument("--procs", type=int, default=4)
    a = ap.parse_args()
    sys.exit(Worker(a).run())


if __name__ == "__main__":
    main()
