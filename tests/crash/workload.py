#!/usr/bin/python3
"""workload.py -- a seeded random mix of file system operations on a mount, logged for verify.py.

    workload.py MOUNTDIR LOG [--seed S] [--count N] [--duration SECONDS] [--log-fsync]

Runs in MOUNTDIR (which must be an empty mount point, lost+found aside; the
workload works in it as its current directory, so that it never touches the
directory underneath once the mount is gone) a random mix of
create, mkdir, write (overwrite, extend, write past the end leaving a hole),
append, truncate (shrink, grow, to zero, through a path or a descriptor),
fsync, fdatasync, directory fsync, rename (to a new name, over a file, over
an empty directory, RENAME_NOREPLACE, RENAME_EXCHANGE), link, unlink (also
of files still open: orphans), rmdir, setxattr, removexattr, chmod, and
keeps some files open across operations.  Only operations that must succeed
are chosen (the model in model.py knows the tree), so every error is either
the daemon's death or a bug.

LOG gets one JSON line when an operation starts (the operation, with the
seed of the bytes it writes, never the bytes) and one when it returned:
{"i": N, "r": "ok"} or {"i": N, "r": "err", "errno": E, "t": MONOTONIC}.
An fsync logged "ok" returned.  Each line is one write(2) on an O_APPEND
descriptor, so the log survives the death of the daemon and of this
process; --log-fsync also fsyncs each line (only a host crash would need
it, and a host crash also loses a pool in /dev/shm).

Runs COUNT operations (0: no limit) or until DURATION seconds passed.
Exit status: 0 done, 2 the mount went away (ENOTCONN, ECONNABORTED, ENODEV:
the daemon died), 3 an operation failed otherwise (a bug unless the daemon
was being killed: the campaign compares the time).
"""

import argparse
import errno
import json
import os
import random
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from crashlib import RENAME_EXCHANGE, RENAME_NOREPLACE, gen, renameat2, write_all  # noqa: E402
from model import ROOT, Model  # noqa: E402

DISCONNECTED = (errno.ENOTCONN, errno.ECONNABORTED, errno.ENODEV)
MAX_FILE = 256 << 10  # largest file size
MAX_BYTES = 6 << 20  # total bytes of all files, orphans included (pools are 32 MiB)
MAX_FILES = 40  # names of regular files
MAX_DIRS = 10
MAX_OPEN = 6
MAX_EVENTS = 64  # writes/truncates on one file before it is forced to fsync
XATTR_NAMES = [f"user.x{k}" for k in range(5)]

WEIGHTS = {
    "create": 8, "mkdir": 3, "write": 22, "append": 8, "truncate": 5, "fsync": 8, "fdatasync": 4,
    "fsyncdir": 2, "rename": 10, "link": 3, "unlink": 5, "rmdir": 2, "setxattr": 4,
    "removexattr": 1, "chmod": 2, "open": 3, "close": 3,
}


class Skip(Exception):
    """Skip -- the chosen kind of operation is not possible in the current tree."""


class Workload:
    def __init__(self, mnt, seed, log, log_fsync=False):
        self.mnt = os.path.abspath(mnt)
        self.seed = seed
        self.rng = random.Random(seed)
        self.m = Model()
        self.fds = {}  # inode id -> descriptor (O_RDWR) the workload keeps open
        self.log_fsync = log_fsync
        self.logfd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
        self.record({"workload": 1, "seed": seed, "mnt": self.mnt})

    def record(self, rec):
        os.write(self.logfd, (json.dumps(rec, separators=(",", ":")) + "\n").encode())
        if self.log_fsync:
            os.fsync(self.logfd)

    def path(self, rel):
        # relative to the working directory, the mount's root: once the daemon is dead
        # and the mount lazily detached, these still reach the dead mount (ENOTCONN),
        # never the directory underneath
        return rel or "."

    # --- choosing an operation ----------------------------------------------------------

    def listing(self):
        names = self.m.walk()
        files = [(p, i) for p, i in names.items() if self.m.inodes[i].kind == "f"]
        dirs = [(p, i) for p, i in names.items() if self.m.inodes[i].kind == "d"]
        return names, files, dirs

    def total_bytes(self):
        return sum(len(n.cur) for n in self.m.inodes.values() if n.kind == "f")

    def data_size(self):
        r = self.rng.random()
        if r < 0.6:
            return self.rng.randint(1, 4096)
        if r < 0.9:
            return self.rng.randint(4097, 32768)
        return self.rng.randint(32769, 128 << 10)

    def paths_of(self, names, ino):
        return [p for p, i in names.items() if i == ino]

    def choose(self, i):
        names, files, dirs = self.listing()
        for node in self.m.inodes.values():
            if node.kind == "f" and len(node.events) > MAX_EVENTS:
                return self.via(names, {"op": "fsync", "ino": node.id})
        kinds = list(WEIGHTS)
        for _ in range(50):
            kind = self.rng.choices(kinds, [WEIGHTS[k] for k in kinds])[0]
            try:
                return getattr(self, "choose_" + kind)(i, names, files, dirs)
            except Skip:
                continue
        return {"op": "fsyncdir", "path": ""}

    def via(self, names, op):
        """via -- complete a data operation on op['ino']: through the open descriptor, or a path."""
        if op["ino"] not in self.fds:
            paths = self.paths_of(names, op["ino"])
            if not paths:
                raise Skip
            op["path"] = self.rng.choice(paths)
        return op

    def data_inode(self, files):
        cands = sorted({i for _, i in files} | set(self.fds))
        if not cands:
            raise Skip
        return self.rng.choice(cands)

    def new_parent(self, dirs, exclude=None):
        """new_parent -- a directory (path, id) for a new name, not inside directory `exclude`."""
        cands = [("", ROOT)] + dirs
        if exclude is not None:
            cands = [(p, d) for p, d in cands if not self.m.is_ancestor(exclude, d)]
        return self.rng.choice(cands)

    @staticmethod
    def join(d, name):
        return f"{d}/{name}" if d else name

    def choose_create(self, i, names, files, dirs):
        if len(files) >= MAX_FILES:
            raise Skip
        d, _ = self.new_parent(dirs)
        keep = len(self.fds) < MAX_OPEN and self.rng.random() < 0.4
        return {"op": "create", "path": self.join(d, f"f{i}"),
                "mode": self.rng.choice([0o644, 0o600, 0o640]), "keep": keep}

    def choose_mkdir(self, i, names, files, dirs):
        if len(dirs) >= MAX_DIRS:
            raise Skip
        d, _ = self.new_parent(dirs)
        if d.count("/") >= 3:
            raise Skip
        return {"op": "mkdir", "path": self.join(d, f"d{i}"), "mode": self.rng.choice([0o755, 0o750])}

    def choose_write(self, i, names, files, dirs):
        ino = self.data_inode(files)
        size = len(self.m.inodes[ino].cur)
        n = self.data_size()
        r = self.rng.random()
        if r < 0.5 and size > 0:
            off = self.rng.randrange(size)
        elif r < 0.8:
            off = size
        else:
            off = size + self.rng.randint(1, 20000)
        off = min(off, MAX_FILE - 1)
        n = min(n, MAX_FILE - off)
        if self.total_bytes() + max(0, off + n - size) > MAX_BYTES:
            raise Skip
        return self.via(names, {"op": "write", "ino": ino, "off": off, "len": n,
                                "dseed": self.seed * 1000003 + i})

    def choose_append(self, i, names, files, dirs):
        ino = self.data_inode(files)
        size = len(self.m.inodes[ino].cur)
        n = min(self.data_size(), MAX_FILE - size)
        if n <= 0 or self.total_bytes() + n > MAX_BYTES:
            raise Skip
        return self.via(names, {"op": "append", "ino": ino, "len": n,
                                "dseed": self.seed * 1000003 + i})

    def choose_truncate(self, i, names, files, dirs):
        ino = self.data_inode(files)
        size = len(self.m.inodes[ino].cur)
        r = self.rng.random()
        if r < 0.2:
            new = 0
        elif r < 0.6:
            new = self.rng.randint(0, size)
        else:
            new = min(MAX_FILE, size + self.rng.randint(1, 64 << 10))
        if self.total_bytes() + max(0, new - size) > MAX_BYTES:
            raise Skip
        return self.via(names, {"op": "truncate", "ino": ino, "size": new})

    def choose_fsync(self, i, names, files, dirs, kind="fsync"):
        return self.via(names, {"op": kind, "ino": self.data_inode(files)})

    def choose_fdatasync(self, i, names, files, dirs):
        return self.choose_fsync(i, names, files, dirs, "fdatasync")

    def choose_fsyncdir(self, i, names, files, dirs):
        return {"op": "fsyncdir", "path": self.rng.choice([""] + [p for p, _ in dirs])}

    def choose_open(self, i, names, files, dirs):
        cands = [(p, ino) for p, ino in files if ino not in self.fds]
        if not cands or len(self.fds) >= MAX_OPEN:
            raise Skip
        p, ino = self.rng.choice(cands)
        return {"op": "open", "ino": ino, "path": p}

    def choose_close(self, i, names, files, dirs):
        if not self.fds:
            raise Skip
        return {"op": "close", "ino": self.rng.choice(sorted(self.fds))}

    def choose_link(self, i, names, files, dirs):
        if not files or len(files) >= MAX_FILES:
            raise Skip
        src, _ = self.rng.choice(files)
        d, _ = self.new_parent(dirs)
        return {"op": "link", "src": src, "dst": self.join(d, f"f{i}")}

    def choose_unlink(self, i, names, files, dirs):
        if not files:
            raise Skip
        return {"op": "unlink", "path": self.rng.choice(files)[0]}

    def choose_rmdir(self, i, names, files, dirs):
        empty = [p for p, d in dirs if not self.m.inodes[d].entries]
        if not empty:
            raise Skip
        return {"op": "rmdir", "path": self.rng.choice(empty)}

    def choose_rename(self, i, names, files, dirs):
        variant = self.rng.choice(["new", "new", "noreplace", "over_file", "over_dir", "exchange"])
        entries = sorted(names.items())
        if not entries:
            raise Skip
        if variant in ("new", "noreplace"):
            src, sino = self.rng.choice(entries)
            is_dir = self.m.inodes[sino].kind == "d"
            d, _ = self.new_parent(dirs, exclude=sino if is_dir else None)
            dst = self.join(d, f"{'d' if is_dir else 'f'}{i}")
            if is_dir and dst.count("/") > 4:
                raise Skip
            flags = RENAME_NOREPLACE if variant == "noreplace" else 0
        elif variant == "over_file":
            if len(files) < 2:
                raise Skip
            (src, sino), (dst, dino) = self.rng.sample(files, 2)
            if sino == dino:
                raise Skip
            flags = 0
        elif variant == "over_dir":
            empty = [(p, d) for p, d in dirs if not self.m.inodes[d].entries]
            if not empty:
                raise Skip
            dst, dino = self.rng.choice(empty)
            cands = [(p, d) for p, d in dirs if d != dino and not self.m.is_ancestor(d, dino)]
            if not cands:
                raise Skip
            src, sino = self.rng.choice(cands)
            flags = 0
        else:
            if len(entries) < 2:
                raise Skip
            (src, sino), (dst, dino) = self.rng.sample(entries, 2)
            spar, dpar = self.m.dir_of(src)[0], self.m.dir_of(dst)[0]
            if sino == dino:
                raise Skip
            if self.m.inodes[sino].kind == "d" and self.m.is_ancestor(sino, dpar):
                raise Skip
            if self.m.inodes[dino].kind == "d" and self.m.is_ancestor(dino, spar):
                raise Skip
            flags = RENAME_EXCHANGE
        return {"op": "rename", "variant": variant, "src": src, "dst": dst, "flags": flags}

    def choose_setxattr(self, i, names, files, dirs):
        if not names:
            raise Skip
        p = self.rng.choice(sorted(names))
        n = self.rng.choice([0, self.rng.randint(1, 64), self.rng.randint(65, 1500),
                             self.rng.randint(1501, 8000)])
        return {"op": "setxattr", "path": p, "name": self.rng.choice(XATTR_NAMES),
                "vseed": self.seed * 1000003 + i, "vlen": n}

    def choose_removexattr(self, i, names, files, dirs):
        cands = sorted(p for p, ino in names.items() if self.m.inodes[ino].xattrs)
        if not cands:
            raise Skip
        p = self.rng.choice(cands)
        name = self.rng.choice(sorted(self.m.inodes[names[p]].xattrs))
        return {"op": "removexattr", "path": p, "name": name}

    def choose_chmod(self, i, names, files, dirs):
        if not names:
            raise Skip
        p = self.rng.choice(sorted(names))
        modes = [0o755, 0o700, 0o750] if self.m.inodes[names[p]].kind == "d" else \
            [0o600, 0o644, 0o640, 0o755]
        return {"op": "chmod", "path": p, "mode": self.rng.choice(modes)}

    # --- running an operation ---------------------------------------------------------

    def with_fd(self, op, flags, fn):
        """with_fd -- fn(fd) on the kept descriptor of op['ino'], or on op['path'] opened for it."""
        fd = self.fds.get(op["ino"])
        if fd is not None:
            return fn(fd)
        fd = os.open(self.path(op["path"]), flags)
        try:
            return fn(fd)
        finally:
            os.close(fd)

    def execute(self, op):
        kind = op["op"]
        P = self.path
        if kind == "create":
            fd = os.open(P(op["path"]), os.O_RDWR | os.O_CREAT | os.O_EXCL, op["mode"])
            if op.get("keep"):
                self.fds[self.m.next_id] = fd  # the id the model gives it
            else:
                os.close(fd)
        elif kind == "mkdir":
            os.mkdir(P(op["path"]), op["mode"])
        elif kind == "open":
            self.fds[op["ino"]] = os.open(P(op["path"]), os.O_RDWR)
        elif kind == "close":
            os.close(self.fds.pop(op["ino"]))
        elif kind == "write":
            data = gen(op["dseed"], op["len"])
            self.with_fd(op, os.O_WRONLY, lambda fd: write_all(fd, data, op["off"]))
        elif kind == "append":
            data = gen(op["dseed"], op["len"])
            if op["ino"] in self.fds:
                write_all(self.fds[op["ino"]], data, len(self.m.inodes[op["ino"]].cur))
            else:
                fd = os.open(P(op["path"]), os.O_WRONLY | os.O_APPEND)
                try:
                    write_all(fd, data)
                finally:
                    os.close(fd)
        elif kind == "truncate":
            if op["ino"] in self.fds:
                os.ftruncate(self.fds[op["ino"]], op["size"])
            else:
                os.truncate(P(op["path"]), op["size"])
        elif kind == "fsync":
            self.with_fd(op, os.O_RDONLY, os.fsync)
        elif kind == "fdatasync":
            self.with_fd(op, os.O_RDONLY, os.fdatasync)
        elif kind == "fsyncdir":
            fd = os.open(P(op["path"]), os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        elif kind == "link":
            os.link(P(op["src"]), P(op["dst"]))
        elif kind == "unlink":
            os.unlink(P(op["path"]))
        elif kind == "rmdir":
            os.rmdir(P(op["path"]))
        elif kind == "rename":
            if op["flags"]:
                renameat2(P(op["src"]), P(op["dst"]), op["flags"])
            else:
                os.rename(P(op["src"]), P(op["dst"]))
        elif kind == "setxattr":
            os.setxattr(P(op["path"]), op["name"], gen(op["vseed"], op["vlen"]),
                        follow_symlinks=False)
        elif kind == "removexattr":
            os.removexattr(P(op["path"]), op["name"], follow_symlinks=False)
        elif kind == "chmod":
            os.chmod(P(op["path"]), op["mode"])
        else:
            raise ValueError(kind)

    def run(self, count=0, duration=None):
        """run -- the operations; returns the exit status (see the module's help)."""
        stop = time.monotonic() + duration if duration else None
        i = 0
        while (count == 0 or i < count) and (stop is None or time.monotonic() < stop):
            op = self.choose(i)
            self.record(dict(i=i, **op))
            try:
                self.execute(op)
            except OSError as e:
                self.record({"i": i, "r": "err", "errno": e.errno, "msg": str(e),
                             "t": time.monotonic()})
                return 2 if e.errno in DISCONNECTED else 3
            self.m.apply(op, i)
            self.record({"i": i, "r": "ok"})
            i += 1
        self.record({"done": i})
        return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("mountdir")
    ap.add_argument("log")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--count", type=int, default=0, help="operations to run (0: no limit)")
    ap.add_argument("--duration", type=float, default=None, help="seconds to run at most")
    ap.add_argument("--log-fsync", action="store_true")
    a = ap.parse_args(argv)
    seed = a.seed if a.seed is not None else random.randrange(1 << 30)
    os.umask(0)  # the modes logged are the modes asked for
    w = Workload(a.mountdir, seed, a.log, a.log_fsync)
    try:
        os.chdir(w.mnt)
        if os.stat(".").st_dev == os.stat("..").st_dev:
            print(f"workload.py: {w.mnt} is not a mount point (any more?)", file=sys.stderr)
            return 2
        left = [e for e in os.listdir(".") if e != "lost+found"]
    except OSError as e:
        # the daemon may already be dead (an early crash point): the campaign decides
        w.record({"start": "err", "errno": e.errno, "msg": str(e), "t": time.monotonic()})
        print(f"workload.py: {w.mnt}: {e}", file=sys.stderr)
        return 2 if e.errno in DISCONNECTED else 3
    if left:
        print(f"workload.py: {w.mnt} is not empty: {left[:5]}", file=sys.stderr)
        return 1
    return w.run(a.count, a.duration)


if __name__ == "__main__":
    sys.exit(main())
