#!/usr/bin/python3
"""verify.py -- check a pmfuse tree recovered after a crash against the workload's log.

    verify.py LOG MOUNTDIR            check a mounted, recovered tree
    verify.py LOG --pool POOL         mount POOL normally (the mount recovers
                                      it), check, unmount, fsck.pmfuse -n

The log of workload.py is replayed into a Model (model.py, which states the
rules).  The operation in flight when the daemon died (started but not
logged as returned, or failed because the daemon died) may or may not have
happened: the tree is checked against the model before it and after it,
and passes if either matches.  Checked: the set of names, their types, the
hard-link groups (names of one file share an inode number, different files
do not), link counts, permission bits, user.* extended attributes, and every
file's size and bytes (model.Inode.check_data).  Errors are counted as
  lost_fsynced_bytes  bytes below a file's fsynced size that are wrong or missing
  garbage_bytes       bytes past that which no write ever put there
  torn_renames        renames (by operation) found half done or undone
  namespace_errors    other missing or extra names, wrong types, broken link groups
  attr_errors         sizes no state had, link counts, modes, xattrs
Prints those counters on one line (and the first problems), exit status 0
when all are 0, 1 otherwise, 2 on a usage or mount failure.
"""

import argparse
import os
import stat
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import crashlib  # noqa: E402
from model import ROOT, Model  # noqa: E402

COUNTERS = ("lost_fsynced_bytes", "garbage_bytes", "torn_renames", "namespace_errors", "attr_errors")


class Report:
    def __init__(self):
        self.lost_fsynced_bytes = 0
        self.garbage_bytes = 0
        self.torn = set()  # operation indexes of torn renames
        self.namespace_errors = 0
        self.attr_errors = 0
        self.messages = []
        self.branch = None

    @property
    def torn_renames(self):
        return len(self.torn)

    def counts(self):
        return {k: getattr(self, k) for k in COUNTERS}

    def errors(self):
        return sum(self.counts().values())

    def ok(self):
        return self.errors() == 0

    def say(self, msg):
        if len(self.messages) < 40:
            self.messages.append(msg)

    def line(self):
        return " ".join(f"{k}={v}" for k, v in self.counts().items())


# --- the log ------------------------------------------------------------------------------


class Log:
    """Log -- a parsed workload log: operations that returned, and the one in flight."""

    def __init__(self, path):
        self.header = None
        self.ops = []  # (index, op) that returned ok, in order
        self.inflight = None  # (index, op, result or None)
        self.done = False
        self.error = None  # the "err" record, if the workload stopped on one
        started = {}
        for rec in crashlib.json_lines(path):
            if "workload" in rec:
                self.header = rec
            elif "start" in rec:
                self.error = rec  # the mount was unusable before the first operation
            elif "done" in rec:
                self.done = True
            elif "op" in rec:
                started[rec["i"]] = rec
            elif rec.get("r") == "ok":
                self.ops.append((rec["i"], started.pop(rec["i"])))
            elif rec.get("r") == "err":
                self.error = rec
                self.inflight = (rec["i"], started.pop(rec["i"]), rec)
        if started:
            i = max(started)
            assert self.inflight is None, "an operation after the failed one"
            self.inflight = (i, started[i], None)

    def models(self):
        """models -- [(name, Model)]: before the operation in flight, and after it if there is one."""
        m = Model()
        for i, op in self.ops:
            m.apply(op, i)
        if self.inflight is None:
            return [("complete", m)]
        i, op, _ = self.inflight
        after = m.clone()
        after.apply(op, i)
        desc = f"op {i} {op['op']} " + " ".join(str(op[k]) for k in ("path", "src", "dst", "ino")
                                                  if k in op)
        return [(f"before in-flight {desc}", m), (f"after in-flight {desc}", after)]


# --- the tree -------------------------------------------------------------------------------


def user_xattrs(path, strict=False):
    """user_xattrs -- {name: value} of the user. xattrs of path; a failed listxattr is shown
    as a value that matches no model, or raised with strict (a live check: an error from a
    mount that just died is not a problem of the data)."""
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError as e:
        if strict:
            raise
        return {"<listxattr failed>": str(e).encode()}
    return {n: os.getxattr(path, n, follow_symlinks=False) for n in names if n.startswith("user.")}


def scan(mnt):
    """scan -- {relative path: lstat result} of everything below mnt (top-level lost+found aside)."""
    out = {}
    stack = [""]
    while stack:
        rel = stack.pop()
        full = os.path.join(mnt, rel) if rel else mnt
        for name in os.listdir(full):
            if not rel and name == "lost+found":
                continue
            p = f"{rel}/{name}" if rel else name
            st = os.lstat(os.path.join(mnt, p))
            out[p] = st
            if stat.S_ISDIR(st.st_mode):
                stack.append(p)
    return out


def classify(model, rep, path, what):
    """classify -- count a namespace problem at path: a torn rename if the last operation
    that made or removed this name or a parent's was a rename."""
    best = None
    q = path
    while q:
        t = model.touched.get(q)
        if t is not None and (best is None or t[0] > best[0]):
            best = t
        q = q.rpartition("/")[0]
    if best is not None and best[1] == "rename":
        rep.torn.add(best[0])
        rep.say(f"{path}: {what} (rename, op {best[0]})")
    else:
        rep.namespace_errors += 1
        rep.say(f"{path}: {what}")


def check_tree(model, mnt, actual=None, contents=None):
    """check_tree -- a Report of the mounted tree mnt against model."""
    rep = Report()
    if actual is None:
        actual = scan(mnt)
    contents = {} if contents is None else contents  # st_ino -> bytes, shared between branches
    expected = model.walk()
    for p in sorted(expected.keys() - actual.keys()):
        classify(model, rep, p, "missing")
    for p in sorted(actual.keys() - expected.keys()):
        classify(model, rep, p, "unexpected name")
    ino_of = {}  # model inode -> st_ino
    model_of = {}  # st_ino -> model inode
    checked = set()
    root_st = os.lstat(mnt)
    if root_st.st_nlink != model.nlink(ROOT):
        rep.attr_errors += 1
        rep.say(f"/: nlink {root_st.st_nlink}, expected {model.nlink(ROOT)}")
    for p in sorted(expected.keys() & actual.keys()):
        ino, st = expected[p], actual[p]
        node = model.inodes[ino]
        if model.type_of(st.st_mode) != node.kind:
            classify(model, rep, p, f"type {stat.filemode(st.st_mode)}, expected "
                                    f"{'directory' if node.kind == 'd' else 'regular file'}")
            continue
        if ino_of.setdefault(ino, st.st_ino) != st.st_ino:
            classify(model, rep, p, "not the same inode as the other names of its file")
            continue
        if model_of.setdefault(st.st_ino, ino) != ino:
            classify(model, rep, p, "the same inode as another file's name")
            continue
        if ino in checked:
            continue
        checked.add(ino)
        full = os.path.join(mnt, p)
        if stat.S_IMODE(st.st_mode) != node.mode:
            rep.attr_errors += 1
            rep.say(f"{p}: mode {oct(stat.S_IMODE(st.st_mode))}, expected {oct(node.mode)}")
        if st.st_nlink != model.nlink(ino):
            rep.attr_errors += 1
            rep.say(f"{p}: nlink {st.st_nlink}, expected {model.nlink(ino)}")
        xa = user_xattrs(full)
        if xa != node.xattrs:
            rep.attr_errors += 1
            diff = sorted(k for k in xa.keys() | node.xattrs.keys() if xa.get(k) != node.xattrs.get(k))
            rep.say(f"{p}: xattrs differ: {diff}")
        if node.kind == "f":
            data = contents.get(st.st_ino)
            if data is None:
                data = contents[st.st_ino] = crashlib.read_all(full)
            lost, garbage, problems = node.check_data(data)
            rep.lost_fsynced_bytes += lost
            rep.garbage_bytes += garbage
            if problems and not lost and not garbage:
                rep.attr_errors += 1
            for msg in problems:
                rep.say(f"{p}: {msg}")
    return rep


def verify(log, mnt):
    """verify -- the best Report of the recovered tree mnt for the log (a path or a Log)."""
    if not isinstance(log, Log):
        log = Log(log)
    actual = scan(mnt)
    contents = {}
    best = None
    for name, model in log.models():
        rep = check_tree(model, mnt, actual, contents)
        rep.branch = name
        if best is None or rep.errors() < best.errors():
            best = rep
        if rep.ok():
            break
    return best


def verify_pool(log, pool, run_fsck=True):
    """verify_pool -- mount pool normally (recovery), verify, unmount, fsck -n.

    Returns (Report, problems of the mount or fsck as a list of strings)."""
    mnt = crashlib.make_mountpoint("verify")
    d = crashlib.Daemon(pool, mnt)
    problems = []
    try:
        if not d.start():
            raise crashlib.Failure(f"the recovery mount of {pool} failed\n{d.output()}")
        try:
            rep = verify(log, mnt)
        finally:
            rc, probs = d.unmount()
        problems += probs
        if rc != 0:
            problems.append(f"recovery daemon: {crashlib.describe_status(rc)}")
        bad = d.unexpected_lines()
        if bad:
            problems.append("unexpected daemon stderr: " + " | ".join(bad))
    finally:
        d.kill()
        os.rmdir(mnt)
    if run_fsck:
        rc, out = crashlib.fsck(pool)
        if rc != 0:
            problems.append(f"fsck.pmfuse -n: {crashlib.describe_status(rc)}: {out[-2000:]}")
    return rep, problems


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("log")
    ap.add_argument("mountdir", nargs="?")
    ap.add_argument("--pool", help="mount this pool (recovery), verify, unmount, fsck -n")
    ap.add_argument("--no-fsck", action="store_true", help="with --pool: skip fsck.pmfuse -n")
    a = ap.parse_args(argv)
    if bool(a.mountdir) == bool(a.pool):
        ap.error("give either MOUNTDIR or --pool POOL")
    problems = []
    try:
        if a.pool:
            rep, problems = verify_pool(a.log, a.pool, not a.no_fsck)
        else:
            rep = verify(a.log, a.mountdir)
    except (crashlib.Failure, OSError) as e:
        print(f"verify.py: {e}", file=sys.stderr)
        return 2
    for m in rep.messages:
        print(f"  {m}")
    for p in problems:
        print(f"  {p}")
    print(f"{rep.line()} problems={len(problems)} ({rep.branch})")
    return 0 if rep.ok() and not problems else 1


if __name__ == "__main__":
    sys.exit(main())
