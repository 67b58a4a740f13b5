"""sd_notify: `latchkey run` tells a Type=notify systemd unit when it is ready, over $NOTIFY_SOCKET.

The test plays systemd: it binds an AF_UNIX datagram socket (a path, or the abstract namespace as
`@name`), starts the binary with NOTIFY_SOCKET pointing at it and reads what arrives.

`latchkey run` sends READY=1 once the listeners are up (signals are blocked from the start, so one sent
at once is never lost),
RELOADING=1 / READY=1 around a reload, and STOPPING=1 on SIGTERM.
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from latchkey_e2e import (ADMIN_LISTENING, PROXY_LISTENING, TIMEOUT, clean_env, latchkey_binary,
                          stop_process, wait_until)

CONFIG = """\
listen: 127.0.0.1:0
admin: 127.0.0.1:0
unmatched: deny
routes:
  - name: notify-demo
    path_prefix: /demo/
    upstream: http://127.0.0.1:9
"""


class NotifySocket:
    """The service manager's end: an AF_UNIX datagram socket at a path or an abstract address."""

    def __init__(self, abstract: bool):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.dir = None
        if abstract:
            name = f"latchkey-e2e-{uuid.uuid4().hex}"
            self.sock.bind("\0" + name)  # Python: a leading NUL means the abstract namespace
            self.address = "@" + name
        else:
            # Short directory: sun_path holds at most 107 bytes, and pytest's tmp_path can be long.
            self.dir = tempfile.mkdtemp(prefix="lk-notify-", dir="/tmp")
            self.address = os.path.join(self.dir, "notify.sock")
            self.sock.bind(self.address)
        self.messages: list[str] = []

    def receive(self, timeout: float) -> str | None:
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(4096)
        except socket.timeout:
            return None
        message = data.decode()
        self.messages.append(message)
        return message

    def wait_for(self, assignment: str, timeout: float = TIMEOUT) -> str:
        """Reads datagrams until one holds the line `assignment` (e.g. READY=1); returns it."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            message = self.receive(left)
            if message is not None and assignment in message.split("\n"):
                return message
        raise AssertionError(f"no {assignment} on NOTIFY_SOCKET within {timeout}s; got {self.messages!r}")

    def close(self):
        self.sock.close()
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)


class Started:
    """`latchkey run` with its output in a file (so the order of log lines and datagrams can be seen)."""

    def __init__(self, workdir: Path, notify_socket: str | None):
        workdir.mkdir(parents=True, exist_ok=True)
        self.config = workdir / "proxy.conf"
        self.config.write_text(textwrap.dedent(CONFIG))
        self.log_path = workdir / "latchkey.log"
        env = {"SWIFT_BACKTRACE": "enable=no"}
        if notify_socket is not None:
            env["NOTIFY_SOCKET"] = notify_socket
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen([latchkey_binary(), "run", "--config", str(self.config)],
                                         stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         env=clean_env(env))

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_listening(self) -> tuple[int, int]:
        def ready():
            text = self.log()
            p, a = PROXY_LISTENING.search(text), ADMIN_LISTENING.search(text)
            if p and a:
                return int(p.group(2)), int(a.group(2))
            if self.proc.poll() is not None:
                raise AssertionError(f"latchkey exited with {self.proc.returncode}:\n{text}")
            return None
        return wait_until(ready, TIMEOUT, "latchkey listening lines")

    def stop(self) -> int | None:
        return stop_process(self.proc)


@pytest.fixture
def run_latchkey(tmp_path):
    started: list[Started] = []

    def start(notify_socket: str | None) -> Started:
        s = Started(tmp_path / f"run-{len(started)}", notify_socket)
        started.append(s)
        return s
    yield start
    for s in started:
        s.stop()


@pytest.fixture(params=["path", "abstract"])
def notify_socket(request):
    ns = NotifySocket(abstract=request.param == "abstract")
    yield ns
    ns.close()


def get(port: int, path: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    finally:
        connection.close()


def test_ready_arrives_after_listeners_are_up(run_latchkey, notify_socket):
    lk = run_latchkey(notify_socket.address)
    notify_socket.wait_for("READY=1")
    # Written (synchronously, to a file) before the datagram was sent: READY=1 means listening.
    text = lk.log()
    assert PROXY_LISTENING.search(text) and ADMIN_LISTENING.search(text), (
        f"READY=1 arrived before the listening lines were printed:\n{text}")
    # ... and what systemd would now start (units ordered After=latchkey) can connect at once.
    _, admin_port = lk.wait_listening()
    assert get(admin_port, "/readyz") == 200
    assert lk.proc.poll() is None


def test_stopping_is_sent_on_sigterm(run_latchkey, notify_socket):
    lk = run_latchkey(notify_socket.address)
    notify_socket.wait_for("READY=1")
    lk.proc.send_signal(signal.SIGTERM)
    notify_socket.wait_for("STOPPING=1")
    assert lk.proc.wait(timeout=TIMEOUT) == 0


# A signal sent the instant READY=1 arrives used to race libdispatch's signal sources (registered
# asynchronously, then forwarded to whichever worker registered them): about one in ten was lost on
# a loaded machine. One round could pass by luck, so each test repeats the race.
RACE_ROUNDS = 10


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGINT"])
def test_a_stop_signal_sent_the_instant_ready_arrives_is_never_lost(run_latchkey, signame):
    for attempt in range(RACE_ROUNDS):
        ns = NotifySocket(abstract=False)
        try:
            lk = run_latchkey(ns.address)
            ns.wait_for("READY=1")
            lk.proc.send_signal(getattr(signal, signame))
            ns.wait_for("STOPPING=1")
            assert lk.proc.wait(timeout=TIMEOUT) == 0, f"round {attempt}:\n{lk.log()}"
        finally:
            ns.close()


def test_a_sighup_sent_the_instant_ready_arrives_reloads(run_latchkey):
    for attempt in range(RACE_ROUNDS // 2):
        ns = NotifySocket(abstract=False)
        try:
            lk = run_latchkey(ns.address)
            ns.wait_for("READY=1")
            lk.proc.send_signal(signal.SIGHUP)
            ns.wait_for("RELOADING=1")
            ns.wait_for("READY=1")
            assert "reload" in lk.log().lower(), f"round {attempt}:\n{lk.log()}"
            lk.proc.send_signal(signal.SIGTERM)
            assert lk.proc.wait(timeout=TIMEOUT) == 0, f"round {attempt}:\n{lk.log()}"
        finally:
            ns.close()


@pytest.mark.parametrize("address", [
    "",                                      # set but empty
    "relative/notify.sock",                  # not absolute: not an address sd_notify accepts
    "vsock:2:1234",                          # another transport: ignored
    "/nonexistent-dir/notify.sock",          # nobody listening: sendto fails, must be harmless
    "@latchkey-e2e-nobody-" + uuid.uuid4().hex,
    "/" + "x" * 200,                         # longer than sun_path
])
def test_unusable_notify_socket_is_harmless(run_latchkey, address):
    lk = run_latchkey(address)
    _, admin_port = lk.wait_listening()
    assert get(admin_port, "/healthz") == 200
    assert lk.proc.poll() is None, lk.log()
    assert lk.stop() == 0, lk.log()


def test_no_notify_socket_is_a_no_op(run_latchkey):
    lk = run_latchkey(None)
    _, admin_port = lk.wait_listening()
    assert get(admin_port, "/readyz") == 200
    assert lk.stop() == 0, lk.log()
