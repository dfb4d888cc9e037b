"""model.py -- what a pmfuse tree may look like after a crash, given the operations that completed.

The workload (workload.py) applies each operation to a Model right after
the system call returned, and logs it; the verifier (verify.py) replays the
log into a Model of its own and compares it with the recovered mount.

The rules, from pmfuse's durability contract (fsync policy):

Namespace and attributes.  Metadata operations (create, mkdir, link,
unlink, rmdir, rename in all variants, truncate, chmod, setxattr,
removexattr) are atomic and durable when the call returns.  So after a crash
the names, types, hard-link groups, link counts, permission bits and user
extended attributes are exactly those after the last completed operation,
or, for the one operation in flight when the daemon died, those before or
after it (verify.py checks both states and keeps the better).

File data, per byte.  For each file the model keeps
  base     its content when an fsync/fdatasync on it last returned
           (empty at creation),
  events   every write and truncate since, in order,
  lmin, lmax  the sizes it may have: the size at the last fsync or truncate
           (which are durable), up to the largest size a write reached since,
  durable  the prefix [0, durable) that an fsync made durable and no truncate
           cut since.
After a crash a file of size L must have lmin <= L <= lmax, and each byte p
< L must hold a value the byte had at some moment since the last fsync:
start from base[p] (0 past the end of base: a hole, or a page the kernel
wrote back out of order), add the byte of every later write covering p, and
a durable truncate to t <= p resets the choice to {0} (the old bytes past t
were cut and must never come back).  This is sound for a FUSE mount with the
kernel's writeback cache, which sends the daemon pages at its own time and
order, and a daemon that persists them at any time, and it is strict enough
to catch lost fsynced data (a wrong or missing byte below `durable`: counted
as lost_fsynced_bytes), bytes that were never written (stale blocks of
another file, garbage past the persisted size: garbage_bytes), and sizes no
state ever had.

Times (mtime/ctime) and directory sizes are not checked.
"""

import copy
import stat

from crashlib import RENAME_EXCHANGE, gen

ROOT = 1


class Inode:
    __slots__ = ("id", "kind", "mode", "xattrs", "names", "opens", "entries", "cur", "base",
                 "events", "lmin", "lmax", "durable", "fsyncs")

    def __init__(self, ino, kind, mode):
        self.id = ino
        self.kind = kind  # 'f' or 'd'
        self.mode = mode  # permission bits
        self.xattrs = {}
        self.names = 0  # directory entries naming it
        self.opens = 0  # descriptors the workload holds
        self.entries = {} if kind == "d" else None
        self.cur = bytearray()
        self.base = b""
        self.events = []
        self.lmin = self.lmax = self.durable = 0
        self.fsyncs = 0

    # --- data -------------------------------------------------------------------

    def write(self, off, data):
        end = off + len(data)
        if end > len(self.cur):
            self.cur.extend(bytes(end - len(self.cur)))
        self.cur[off:end] = data
        self.events.append(("w", off, bytes(data)))
        self.lmax = max(self.lmax, end)

    def truncate(self, size):
        if size < len(self.cur):
            del self.cur[size:]
        else:
            self.cur.extend(bytes(size - len(self.cur)))
        self.events.append(("t", size))
        self.lmin = self.lmax = size
        self.durable = min(self.durable, size)

    def fsync(self):
        self.base = bytes(self.cur)
        self.events = []
        self.lmin = self.lmax = self.durable = len(self.cur)
        self.fsyncs += 1

    def check_data(self, actual):
        """check_data -- (lost_fsynced_bytes, garbage_bytes, problems) of actual against the rule above."""
        problems = []
        lost = garbage = 0
        n = len(actual)
        if n < self.lmin:
            problems.append(f"size {n} below the durable size {self.lmin}")
        if n > self.lmax:
            problems.append(f"size {n} above the largest size ever written since the last "
                            f"fsync/truncate ({self.lmax})")
        if n < self.durable:
            lost += self.durable - n
        cur = self.cur
        m = min(n, len(cur))
        bad = []
        B = 512
        for a in range(0, m, B):
            b = min(a + B, m)
            if actual[a:b] == cur[a:b]:
                continue
            evs = [e for e in self.events
                   if (e[0] == "w" and e[1] < b and e[1] + len(e[2]) > a) or (e[0] == "t" and e[1] < b)]
            base = self.base
            for p in range(a, b):
                v = actual[p]
                if v == cur[p]:
                    continue
                ok = (base[p] if p < len(base) else 0) == v
                for e in evs:
                    if e[0] == "w":
                        o = e[1]
                        if o <= p < o + len(e[2]) and e[2][p - o] == v:
                            ok = True
                    elif e[1] <= p:
                        ok = v == 0
                if not ok:
                    if p < self.durable:
                        lost += 1
                    else:
                        garbage += 1
                    if len(bad) < 4:
                        bad.append(p)
        if n > len(cur):
            garbage += n - len(cur)
        if bad:
            problems.append(f"bytes the file never held since its last fsync (lost fsynced data "
                            f"below offset {self.durable}, garbage above), first at offsets {bad}; "
                            f"size {n}, model size {len(cur)}")
        return lost, garbage, problems


class Model:
    """Model -- the tree the workload has built, from the operations that completed."""

    def __init__(self):
        root = Inode(ROOT, "d", 0o755)
        root.names = 1
        self.inodes = {ROOT: root}
        self.parent = {ROOT: ROOT}  # directory -> parent directory
        self.next_id = ROOT + 1
        # last operation that made or removed each name: (op index, op name)
        self.touched = {}

    def clone(self):
        return copy.deepcopy(self)

    # --- lookups ------------------------------------------------------------------

    def lookup(self, path):
        ino = ROOT
        if path in ("", "."):
            return ino
        for part in path.split("/"):
            node = self.inodes[ino]
            if node.kind != "d" or part not in node.entries:
                return None
            ino = node.entries[part]
        return ino

    @staticmethod
    def split(path):
        d, _, name = path.rpartition("/")
        return d, name

    def dir_of(self, path):
        d, name = self.split(path)
        return self.lookup(d), name

    def walk(self):
        """walk -- {path: inode id} of every name below the root."""
        out = {}
        stack = [("", ROOT)]
        while stack:
            prefix, ino = stack.pop()
            for name, child in self.inodes[ino].entries.items():
                p = f"{prefix}/{name}" if prefix else name
                out[p] = child
                if self.inodes[child].kind == "d":
                    stack.append((p, child))
        return out

    def is_ancestor(self, a, b):
        """is_ancestor -- directory a is b or one of b's ancestors."""
        while True:
            if a == b:
                return True
            if b == ROOT:
                return False
            b = self.parent[b]

    def inode(self, ino):
        return self.inodes.get(ino)

    # --- operations ---------------------------------------------------------------

    def _touch(self, i, op, *paths):
        for p in paths:
            self.touched[p] = (i, op)

    def _drop_name(self, ino):
        node = self.inodes[ino]
        node.names -= 1
        if node.kind == "d":
            del self.inodes[ino]
            del self.parent[ino]
        elif node.names == 0 and node.opens == 0:
            del self.inodes[ino]

    def apply(self, op, i=-1):
        """apply -- the effect of one operation that completed (a dict as logged)."""
        kind = op["op"]
        if kind in ("create", "mkdir"):
            d, name = self.dir_of(op["path"])
            ino = self.next_id
            self.next_id += 1
            node = Inode(ino, "f" if kind == "create" else "d", op["mode"])
            node.names = 1
            if kind == "create" and op.get("keep"):
                node.opens = 1
            self.inodes[ino] = node
            self.inodes[d].entries[name] = ino
            if kind == "mkdir":
                self.parent[ino] = d
            self._touch(i, kind, op["path"])
            return ino
        if kind == "open":
            self.inodes[op["ino"]].opens += 1
        elif kind == "close":
            node = self.inodes[op["ino"]]
            node.opens -= 1
            if node.names == 0 and node.opens == 0:
                del self.inodes[node.id]
        elif kind == "write":
            self.inodes[op["ino"]].write(op["off"], gen(op["dseed"], op["len"]))
        elif kind == "append":
            node = self.inodes[op["ino"]]
            node.write(len(node.cur), gen(op["dseed"], op["len"]))
        elif kind == "truncate":
            self.inodes[op["ino"]].truncate(op["size"])
        elif kind in ("fsync", "fdatasync"):
            self.inodes[op["ino"]].fsync()
        elif kind == "fsyncdir":
            pass
        elif kind == "link":
            ino = self.lookup(op["src"])
            d, name = self.dir_of(op["dst"])
            self.inodes[d].entries[name] = ino
            self.inodes[ino].names += 1
            self._touch(i, kind, op["dst"])
        elif kind in ("unlink", "rmdir"):
            d, name = self.dir_of(op["path"])
            ino = self.inodes[d].entries.pop(name)
            self._drop_name(ino)
            self._touch(i, kind, op["path"])
        elif kind == "rename":
            sd, sname = self.dir_of(op["src"])
            dd, dname = self.dir_of(op["dst"])
            sino = self.inodes[sd].entries[sname]
            if op.get("flags", 0) & RENAME_EXCHANGE:
                dino = self.inodes[dd].entries[dname]
                self.inodes[sd].entries[sname] = dino
                self.inodes[dd].entries[dname] = sino
                if self.inodes[sino].kind == "d":
                    self.parent[sino] = dd
                if self.inodes[dino].kind == "d":
                    self.parent[dino] = sd
            elif self.inodes[dd].entries.get(dname) == sino:
                pass  # two names of one file: rename(2) does nothing
            else:
                old = self.inodes[dd].entries.get(dname)
                del self.inodes[sd].entries[sname]
                self.inodes[dd].entries[dname] = sino
                if old is not None:
                    self._drop_name(old)
                if self.inodes[sino].kind == "d":
                    self.parent[sino] = dd
            self._touch(i, "rename", op["src"], op["dst"])
        elif kind == "setxattr":
            self.inodes[self.lookup(op["path"])].xattrs[op["name"]] = gen(op["vseed"], op["vlen"])
        elif kind == "removexattr":
            self.inodes[self.lookup(op["path"])].xattrs.pop(op["name"], None)
        elif kind == "chmod":
            self.inodes[self.lookup(op["path"])].mode = op["mode"]
        else:
            raise ValueError(f"unknown operation {kind!r}")
        return None

    # --- expected attributes ------------------------------------------------------

    def nlink(self, ino):
        node = self.inodes[ino]
        if node.kind == "d":
            return 2 + sum(1 for c in node.entries.values() if self.inodes[c].kind == "d")
        return node.names

    @staticmethod
    def type_of(st_mode):
        if stat.S_ISDIR(st_mode):
            return "d"
        if stat.S_ISREG(st_mode):
            return "f"
        return "?"
