"""smodel.py -- the model of the model-checked stress test: layout, records, per-process models, checks.

Several worker processes (worker.py) share one pmfuse mount.  What makes
the end state checkable although they race:

  * every name a process creates starts with its prefix ``pN-`` and only
    process N ever creates, renames, links, unlinks or changes it; the names
    live in the shared directories s0..s3 (and in the process's own
    subdirectories of those), and move between them;
  * the shared file ``region`` is cut into one REGION-byte region per
    process, and a process writes only into its own;
  * the shared files ``log0`` and ``log1`` get O_APPEND records of RS bytes
    from every process; a record is self-describing (magic, writer, file,
    sequence number, CRC) and its bytes are a function of (writer, file,
    seq), so any byte of it can be checked; after an append the writer
    learns the record's offset from its file position.

Each process's operations are logged (JSON lines, before the call and when
it returns) and replayed here into a StressModel (crash/model.py's Model
plus symlinks, the region and the records).  The tree is then compared with
the merged models, exactly after a clean run, or after a crash by the rules
of crash/model.py (the operation in flight in each process may or may not
have happened; file data per byte since the last fsync).
"""

import json
import os
import stat
import struct
import sys
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "crash"))

import crashlib  # noqa: E402
from crashlib import gen  # noqa: E402
from model import Inode, Model  # noqa: E402
from verify import user_xattrs  # noqa: E402,F401 (worker.py uses it through here)

SHARED_DIRS = ("s0", "s1", "s2", "s3")
LOGS = ("log0", "log1")
REGION_FILE = "region"
REGION = 65536  # bytes of the region file per process
RS = 256  # bytes of one append record
MAGIC = b"PMSR"
HEAD = struct.Struct("<4sHHI")  # magic, writer, log file, sequence number


def prefix(pid):
    return f"p{pid}-"


def owner(name):
    """owner -- the process id a name belongs to (its pN- prefix), or None."""
    if len(name) > 2 and name[0] == "p":
        n, dash, _ = name[1:].partition("-")
        if dash and n.isdigit():
            return int(n)
    return None


def record(wid, lf, seq):
    """record -- the RS bytes of record seq of writer wid in log file lf."""
    body = HEAD.pack(MAGIC, wid, lf, seq) + gen((wid << 40) | (lf << 32) | seq, RS - HEAD.size - 4)
    return body + struct.pack("<I", zlib.crc32(body))


def parse_slot(data):
    """parse_slot -- (wid, lf, seq) named by a slot's header, or None."""
    if len(data) < HEAD.size:
        return None
    magic, wid, lf, seq = HEAD.unpack_from(data)
    return (wid, lf, seq) if magic == MAGIC else None


def check_log_live(data, lf, own_wid, own_ends):
    """check_log_live -- problems in a log file read while others append: every
    complete slot is an intact record of this file, the last may be a prefix
    of one, each writer's sequence numbers grow, and this process's records
    that returned before the read are at their offsets."""
    problems = []
    last = {}
    for off in range(0, len(data), RS):
        slot = data[off:off + RS]
        h = parse_slot(slot)
        if h is None or h[1] != lf:
            if len(slot) < HEAD.size and MAGIC.startswith(slot[:4]):
                continue  # the first bytes of a record being appended
            problems.append(f"log{lf}: slot at {off} ({len(slot)} bytes) is no record of this "
                            f"file: {slot[:16].hex()}")
            continue
        if slot != record(*h)[:len(slot)]:
            problems.append(f"log{lf}: record at {off} (writer {h[0]} seq {h[2]}) is torn or "
                            f"corrupt ({len(slot)} bytes visible)")
        if h[2] <= last.get(h[0], -1):
            problems.append(f"log{lf}: writer {h[0]} seq {h[2]} at {off} after its seq {last[h[0]]}")
        last[h[0]] = h[2]
    for seq, end in own_ends.items():
        if data[end - RS:end] != record(own_wid, lf, seq):
            problems.append(f"log{lf}: my record seq {seq} (returned, at {end - RS}) is not there")
    return problems


class StressModel(Model):
    """StressModel -- one process's names (Model with symlinks), its region, its records."""

    def __init__(self, pid):
        super().__init__()
        self.pid = pid
        for d in SHARED_DIRS:
            Model.apply(self, {"op": "mkdir", "path": d, "mode": 0o777})
        self.region = Inode(0, "f", 0)
        self.region.write(0, bytes(REGION))
        self.region.fsync()
        self.appends = []  # (lf, seq, end or None, t0, t1)
        self.lfsyncs = []  # (lf, t0)  fsyncs of a log file that returned
        self.seq = {}  # lf -> next sequence number

    def apply(self, op, i=-1):
        k = op["op"]
        if k == "symlink":
            d, name = self.dir_of(op["path"])
            ino = self.next_id
            self.next_id += 1
            node = Inode(ino, "l", 0o777)
            node.names = 1
            node.cur = bytearray(op["target"].encode())
            self.inodes[ino] = node
            self.inodes[d].entries[name] = ino
            return ino
        if k == "rwrite":
            self.region.write(op["off"], gen(op["dseed"], op["len"]))
        elif k == "rfsync":
            self.region.fsync()
        elif k == "lappend":
            self.appends.append((op["lf"], op["seq"], op.get("end"), op.get("t0"), op.get("t1")))
            self.seq[op["lf"]] = op["seq"] + 1
        elif k == "lfsync":
            if "t1" in op:
                self.lfsyncs.append((op["lf"], op["t0"]))
        else:
            return super().apply(op, i)
        return None

    def own(self):
        """own -- {path: ino} of this process's names."""
        p = prefix(self.pid)
        return {path: ino for path, ino in self.walk().items() if path.rpartition("/")[2].startswith(p)}

    def subdirs_of_shared(self):
        """subdirs_of_shared -- {shared dir: number of this process's directories in it}."""
        out = {}
        for d in SHARED_DIRS:
            node = self.inodes[self.lookup(d)]
            out[d] = sum(1 for c in node.entries.values() if self.inodes[c].kind == "d")
        return out


# --- logs ---------------------------------------------------------------------------


class ProcLog:
    """ProcLog -- one worker's log: ops that returned, the one in flight, problems it saw."""

    def __init__(self, path):
        self.path = path
        self.ops = []
        self.inflight = None
        self.bad = []  # problems the worker found during the run
        self.error = None  # {"i", "t", "errno", "msg"}: the call that ended the worker
        self.done = False
        self.header = None
        started = {}
        for rec in crashlib.json_lines(path):
            if "worker" in rec:
                self.header = rec
            elif "op" in rec:
                started[rec["i"]] = rec["op"]
            elif "r" in rec:
                op = started.pop(rec["r"])
                op.update(rec.get("res", {}))
                self.ops.append((rec["r"], op))
            elif "done" in rec:
                self.done = True
            elif "bad" in rec:
                self.bad.append(rec["bad"])
            elif "err" in rec:
                self.error = rec["err"]
        if started:
            i = max(started)
            self.inflight = (i, started[i])

    def models(self, pid):
        """models -- [(description, StressModel)]: before the op in flight and after it."""
        m = StressModel(pid)
        for i, op in self.ops:
            m.apply(op, i)
        if self.inflight is None:
            return [("complete", m)]
        i, op = self.inflight
        after = m.clone()
        try:
            after.apply(dict(op), i)
        except (KeyError, ValueError, AttributeError) as e:
            return [(f"before in-flight op {i} {op['op']} (it cannot apply: {e!r})", m)]
        desc = f"op {i} {json.dumps(op, sort_keys=True)[:200]}"
        return [(f"before in-flight {desc}", m), (f"after in-flight {desc}", after)]


# --- the tree -----------------------------------------------------------------------


def scan(mnt):
    """scan -- {relative path: (lstat, content or target or None, xattrs)} below mnt."""
    out = {}
    stack = [""]
    while stack:
        rel = stack.pop()
        full = os.path.join(mnt, rel) if rel else mnt
        for name in os.listdir(full):
            p = f"{rel}/{name}" if rel else name
            fp = os.path.join(mnt, p)
            st = os.lstat(fp)
            if stat.S_ISDIR(st.st_mode):
                stack.append(p)
                out[p] = (st, None, user_xattrs(fp))
            elif stat.S_ISLNK(st.st_mode):
                out[p] = (st, os.readlink(fp).encode(), {})
            elif stat.S_ISREG(st.st_mode):
                data = crashlib.read_all(fp) if p not in LOGS and p != REGION_FILE else None
                out[p] = (st, data, user_xattrs(fp))
            else:
                out[p] = (st, None, {})
    return out


def kind_of(mode):
    return {stat.S_IFDIR: "d", stat.S_IFREG: "f", stat.S_IFLNK: "l"}.get(stat.S_IFMT(mode), "?")


def compare_proc(m, tree, exact):
    """compare_proc -- problems of the tree's names of process m.pid against m."""
    problems = []
    pid = m.pid
    want = m.own()
    have = {p: v for p, v in tree.items() if owner(p.rpartition("/")[2]) == pid}
    for p in sorted(set(want) - set(have)):
        problems.append(f"missing: {p} ({m.inodes[want[p]].kind})")
    for p in sorted(set(have) - set(want)):
        problems.append(f"unexpected: {p} ({kind_of(have[p][0].st_mode)})")
    ino_of = {}  # model inode -> st_ino
    for p in sorted(set(want) & set(have)):
        node = m.inodes[want[p]]
        st, content, xattrs = have[p]
        k = kind_of(st.st_mode)
        if k != node.kind:
            problems.append(f"{p}: type {k}, model {node.kind}")
            continue
        if node.id in ino_of and ino_of[node.id] != st.st_ino:
            problems.append(f"{p}: inode {st.st_ino}, but its other names have {ino_of[node.id]}")
        ino_of.setdefault(node.id, st.st_ino)
        if node.kind != "l" and stat.S_IMODE(st.st_mode) != node.mode:
            problems.append(f"{p}: mode {oct(stat.S_IMODE(st.st_mode))}, model {oct(node.mode)}")
        if st.st_nlink != m.nlink(node.id):
            problems.append(f"{p}: {st.st_nlink} links, model {m.nlink(node.id)}")
        if node.kind != "l" and xattrs != node.xattrs:
            problems.append(f"{p}: user xattrs {sorted(xattrs)}, model {sorted(node.xattrs)}"
                            f"{' (values differ)' if set(xattrs) == set(node.xattrs) else ''}")
        if node.kind == "l":
            if content != bytes(node.cur):
                problems.append(f"{p}: symlink to {content!r}, model {bytes(node.cur)!r}")
        elif node.kind == "f":
            if exact:
                if content != bytes(node.cur):
                    first = next((i for i, (a, b) in enumerate(zip(content, node.cur)) if a != b),
                                 min(len(content), len(node.cur)))
                    problems.append(f"{p}: content differs: size {len(content)}, model "
                                    f"{len(node.cur)}, first difference at {first}")
            else:
                lost, garbage, probs = node.check_data(content)
                problems += [f"{p}: {x} (lost fsynced bytes {lost}, garbage {garbage})"
                             for x in probs]
    seen = {}
    for nid, sino in ino_of.items():
        if sino in seen:
            problems.append(f"model files {seen[sino]} and {nid} share inode {sino}")
        seen[sino] = nid
    return problems


def check_region(data, m, exact):
    lo = m.pid * REGION
    part = data[lo:lo + REGION]
    if exact:
        if part != bytes(m.region.cur):
            first = next((i for i, (a, b) in enumerate(zip(part, m.region.cur)) if a != b), len(part))
            return [f"region of process {m.pid}: differs from offset {lo + first}"]
        return []
    lost, garbage, probs = m.region.check_data(part)
    return [f"region of process {m.pid}: {x} (lost fsynced {lost}, garbage {garbage})" for x in probs]


def check_logs(mnt, chosen, inflight, exact):
    """check_logs -- the log files against every process's appends.

    exact: every record that returned is at its offset and nothing else is
    there.  Otherwise (after a crash): a record whose append returned before
    an fsync of that file started (by any process) and returned is at its
    offset intact; the size is at least the end of those; any other slot is
    zeros or bytes of the record that was appended there (or of an append in
    flight), byte by byte."""
    problems = []
    for lf, name in enumerate(LOGS):
        data = crashlib.read_all(os.path.join(mnt, name))
        known = {}  # end -> (wid, seq)
        acked_t = [t0 for m in chosen for (f, t0) in m.lfsyncs if f == lf]
        fsync_t = max(acked_t) if acked_t else None
        acked_end = 0
        for m in chosen:
            for f, seq, end, t0, t1 in m.appends:
                if f != lf:
                    continue
                if end is None:
                    problems.append(f"{name}: process {m.pid} seq {seq} returned without an offset")
                    continue
                if end in known:
                    problems.append(f"{name}: two records end at {end}: {known[end]} and {(m.pid, seq)}")
                known[end] = (m.pid, seq)
                if not exact and fsync_t is not None and t1 is not None and t1 < fsync_t:
                    acked_end = max(acked_end, end)
                    if data[end - RS:end] != record(m.pid, lf, seq):
                        problems.append(f"{name}: record of process {m.pid} seq {seq} at {end - RS}, "
                                        f"acknowledged by an fsync, is missing or damaged")
        cands = [record(w, lf, s) for (w, f, s) in inflight if f == lf]
        if exact:
            total = RS * len(known)
            if len(data) != total:
                problems.append(f"{name}: size {len(data)}, {len(known)} records make {total}")
        elif len(data) < acked_end:
            problems.append(f"{name}: size {len(data)} below the acknowledged end {acked_end}")
        elif len(data) > RS * (len(known) + len(cands)):
            problems.append(f"{name}: size {len(data)} past every record appended")
        bad = 0
        for off in range(0, len(data), RS):
            slot = data[off:off + RS]
            if off + RS in known:
                want = [record(known[off + RS][0], lf, known[off + RS][1])]
            else:
                want = cands
                if exact:
                    want = []
            ok = any(slot == w[:len(slot)] for w in want)
            if not ok and not exact:
                ok = any(all(b == 0 or b == w[i] for i, b in enumerate(slot)) for w in want) \
                    or not any(slot)
            if not ok:
                bad += 1
                if bad <= 5:
                    h = parse_slot(slot)
                    problems.append(f"{name}: slot at {off} holds "
                                    f"{'record ' + str(h) if h else slot[:16].hex()}, expected "
                                    f"{'record ' + str(known.get(off + RS)) if off + RS in known else 'nothing'}")
        if bad > 5:
            problems.append(f"{name}: {bad} bad slots in all")
    return problems


def check_tree(mnt, logs, exact, others=()):
    """check_tree -- compare the mount with the processes' logs: a list of problems (empty: ok).

    logs: {pid: ProcLog}.  exact: a clean run (every op returned or the
    worker finished); else after a crash (in flight: either state).
    others: top-level directories that belong to something else (stress-ng)."""
    problems = []
    tree = {p: v for p, v in scan(mnt).items() if p.partition("/")[0] not in others}
    chosen = []
    inflight = []
    for pid, log in sorted(logs.items()):
        cands = log.models(pid)
        if exact and log.inflight:
            problems.append(f"process {pid}: operation {log.inflight[0]} never returned")
        best = None
        for desc, m in cands:
            probs = compare_proc(m, tree, exact)
            if best is None or len(probs) < len(best[2]):
                best = (desc, m, probs)
        desc, m, probs = best
        chosen.append(m)
        if log.inflight and log.inflight[1]["op"] == "lappend":
            op = log.inflight[1]
            inflight.append((pid, op["lf"], op["seq"]))
        problems += [f"process {pid} ({desc}): {x}" for x in probs]
    # names nobody owns
    for p, (st, _, _) in sorted(tree.items()):
        name = p.rpartition("/")[2]
        if "/" not in p and (p in SHARED_DIRS or p in LOGS or p == REGION_FILE):
            want = "d" if p in SHARED_DIRS else "f"
            if kind_of(st.st_mode) != want:
                problems.append(f"{p}: type {kind_of(st.st_mode)}, expected {want}")
            continue
        o = owner(name)
        if o is None or o not in logs:
            problems.append(f"unexpected name {p!r} (no process owns it)")
    for p in SHARED_DIRS + LOGS + (REGION_FILE,):
        if p not in tree:
            problems.append(f"shared {p} is missing")
    # shared directories: their link counts
    for d in SHARED_DIRS:
        if d in tree:
            want = 2 + sum(m.subdirs_of_shared()[d] for m in chosen)
            if tree[d][0].st_nlink != want:
                problems.append(f"{d}: {tree[d][0].st_nlink} links, expected {want}")
    if REGION_FILE in tree:
        data = crashlib.read_all(os.path.join(mnt, REGION_FILE))
        if len(data) != REGION * len(logs):
            problems.append(f"region: size {len(data)}, expected {REGION * len(logs)}")
        for m in chosen:
            problems += check_region(data, m, exact)
    if all(lf in tree for lf in LOGS):
        problems += check_logs(mnt, chosen, inflight, exact)
    return problems


def setup(mnt, nprocs):
    """setup -- the shared directories and files, durable (the workers start on them)."""
    for d in SHARED_DIRS:
        os.mkdir(os.path.join(mnt, d), 0o777)
    for name in LOGS + (REGION_FILE,):
        fd = os.open(os.path.join(mnt, name), os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o666)
        if name == REGION_FILE:
            os.ftruncate(fd, REGION * nprocs)
        os.fsync(fd)
        os.close(fd)
    fd = os.open(mnt, os.O_RDONLY | os.O_DIRECTORY)
    os.fsync(fd)
    os.close(fd)
