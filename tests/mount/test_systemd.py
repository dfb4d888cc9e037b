"""test_systemd.py -- pmfuse as a systemd service: the pmfuse@.service template
passes `systemd-analyze verify`, and the daemon speaks the Type=notify
protocol (READY=1 only once the mount answers, a STATUS line, STOPPING=1 at
shutdown), as it would under systemd: NOTIFY_SOCKET names a datagram socket
that this test listens on."""

import os
import signal
import socket
import subprocess
import tempfile
import time

import pytest

from pmtest import STOP_TIMEOUT, is_mounted, pmfuse_bin, read_file, write_file


def _unit_text():
    path = os.environ.get("PMFUSE_UNIT")
    if not path or not os.path.exists(path):
        pytest.fail("$PMFUSE_UNIT is not set to the built pmfuse@.service: run through meson test",
                    pytrace=False)
    with open(path) as f:
        return f.read()


def _directives(text):
    out = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            k, v = line.split("=", 1)
            out.setdefault(k, []).append(v)
    return out


def test_unit_passes_systemd_analyze_verify(tmp_path):
    # the installed path of the daemon does not exist here: point at the built one
    text = _unit_text()
    d = _directives(text)
    installed = d["ExecStart"][0].split()[0]
    unit = tmp_path / "pmfuse@verify.service"
    unit.write_text(text.replace(installed, pmfuse_bin()))
    r = subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stderr == "" and r.stdout == "", r.stdout + r.stderr


def test_unit_is_a_notify_service_on_a_config_file():
    d = _directives(_unit_text())
    assert d["Type"] == ["notify"]
    assert d["EnvironmentFile"] == ["/etc/pmfuse/%i.conf"]
    argv = d["ExecStart"][0].split()
    assert argv[0].endswith("/pmfuse") and argv[1:] == ["-f", "-o", "${OPTIONS}", "${POOL}",
                                                         "${MOUNTPOINT}"], argv
    # nothing that gives the service a mount namespace of its own: the
    # FUSE mount would be invisible outside it
    for k in ("ProtectSystem", "ProtectHome", "PrivateTmp", "PrivateDevices", "PrivateMounts",
              "ProtectKernelTunables", "ProtectHostname", "ReadOnlyPaths", "TemporaryFileSystem"):
        assert k not in d, k
    assert "NoNewPrivileges" in d and "CapabilityBoundingSet" in d


class _Notify:
    """a NOTIFY_SOCKET: the datagrams a Type=notify daemon sends"""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="pmfuse-notify-")
        self.path = os.path.join(self.dir, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)

    def wait_for(self, key, timeout=20):
        """wait_for -- the first message holding KEY=...; returns its fields"""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                msg = self.sock.recv(4096).decode()
            except socket.timeout:
                break
            fields = dict(l.split("=", 1) for l in msg.splitlines() if "=" in l)
            if key in fields:
                return fields
        pytest.fail(f"no {key}= from the daemon within {timeout} s", pytrace=False)

    def close(self):
        self.sock.close()
        os.unlink(self.path)
        os.rmdir(self.dir)


@pytest.mark.parametrize("options", ["", "sync=close"])
def test_notify_ready_status_and_stopping(pool, options):
    n = _Notify()
    mnt = tempfile.mkdtemp(prefix="pmfuse-mnt-")
    env = dict(os.environ, NOTIFY_SOCKET=n.path)
    # as the unit runs it: -f -o ${OPTIONS} ${POOL} ${MOUNTPOINT}, OPTIONS may be empty
    proc = subprocess.Popen([pmfuse_bin(), "-f", "-o", options, pool, mnt], env=env,
                            stderr=subprocess.PIPE, text=True)
    try:
        ready = n.wait_for("READY")
        assert ready["READY"] == "1"
        # ready means answering, not just listed in the mount table
        assert is_mounted(mnt)
        write_file(os.path.join(mnt, "f"), b"after READY")
        assert read_file(os.path.join(mnt, "f")) == b"after READY"
        status = ready["STATUS"]
        assert status.startswith(f"serving {pool} on {mnt}: granularity "), status
        assert status.endswith("default policy " + (options.split("=", 1)[1] if options else "fsync"))
        proc.send_signal(signal.SIGTERM)  # what `systemctl stop` does
        assert n.wait_for("STOPPING")["STOPPING"] == "1"
        assert proc.wait(timeout=STOP_TIMEOUT) == 0
        assert not is_mounted(mnt)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if is_mounted(mnt):
            subprocess.run(["fusermount3", "-u", "-z", mnt], capture_output=True)
        proc.stderr.close()
        os.rmdir(mnt)
        n.close()


def test_no_notify_socket_no_messages(pool):
    """without NOTIFY_SOCKET (not run by systemd) the daemon just mounts"""
    mnt = tempfile.mkdtemp(prefix="pmfuse-mnt-")
    env = {k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"}
    proc = subprocess.Popen([pmfuse_bin(), "-f", pool, mnt], env=env, stderr=subprocess.PIPE,
                            text=True)
    try:
        for _ in range(200):
            if is_mounted(mnt):
                break
            time.sleep(0.02)
        assert is_mounted(mnt)
    finally:
        subprocess.run(["fusermount3", "-u", mnt], capture_output=True)
        assert proc.wait(timeout=STOP_TIMEOUT) == 0
        proc.stderr.close()
        os.rmdir(mnt)
