"""Issue 14 §5, §8: scripts/run says where the binary is, and a SIGTERM to it stops everything it
started (the proxy, and in the demo the echo upstream) instead of leaving them running."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from latchkey_e2e import REPO_ROOT, TIMEOUT, latchkey_binary, wait_until


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except FileNotFoundError:
        return []
    return [int(p) for p in text.split()]


def alive(pid: int) -> bool:
    """True while `pid` runs (a zombie counts as gone: it has exited, its parent just has not reaped it)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def command_of(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except FileNotFoundError:
        return ""


class RunScript:
    """scripts/run started in its own session (so a failed test can still kill what it left), output in a file."""

    def __init__(self, tmp_path: Path, *args: str):
        self.out = tmp_path / "run.out"
        env = dict(os.environ, LATCHKEY_BIN=latchkey_binary(), SWIFT_BACKTRACE="enable=no")
        self.process = subprocess.Popen(
            ["bash", str(REPO_ROOT / "scripts" / "run"), *args], stdout=self.out.open("wb"),
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True)

    def text(self) -> str:
        return self.out.read_text(errors="replace")

    def wait_for(self, pattern: str) -> re.Match:
        def seen():
            assert self.process.poll() is None, f"scripts/run exited early:\n{self.text()}"
            return re.search(pattern, self.text())
        return wait_until(seen, what=f"/{pattern}/ in scripts/run's output")

    def descendants(self) -> list[int]:
        found, queue = [], [self.process.pid]
        while queue:
            for child in children(queue.pop()):
                found.append(child)
                queue.append(child)
        return found

    def kill_all(self):
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=TIMEOUT)


@pytest.fixture
def run_script(tmp_path):
    started = []

    def start(*args: str) -> RunScript:
        script = RunScript(tmp_path, *args)
        started.append(script)
        return script
    yield start
    for script in started:
        script.kill_all()


def stop_and_expect_everything_gone(script: RunScript, pids: list[int]):
    script.process.send_signal(signal.SIGTERM)
    assert script.process.wait(timeout=TIMEOUT) == 143, script.text()  # 128 + SIGTERM, from the script's trap
    wait_until(lambda: not any(alive(p) for p in pids), what="every process scripts/run started to exit")


def test_sigterm_to_scripts_run_stops_the_proxy(run_script, tmp_path):
    config = tmp_path / "proxy.conf"
    config.write_text("listen: 127.0.0.1:0\nadmin: 127.0.0.1:0\nunmatched: deny\n")
    script = run_script("--config", str(config))
    printed = script.wait_for(r"binary: (\S+)").group(1)
    assert printed == latchkey_binary()
    port = int(script.wait_for(r"proxy listening on 127\.0\.0\.1:(\d+)").group(1))
    proxies = [p for p in script.descendants() if "latchkey" in command_of(p) and " run " in command_of(p)]
    assert len(proxies) == 1, [command_of(p) for p in script.descendants()]

    stop_and_expect_everything_gone(script, proxies)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def test_sigterm_to_the_demo_stops_the_proxy_and_the_echo_upstream(run_script):
    # The demo's ports are fixed by proxy.conf.example (3128, and 8089 for the echo upstream).
    if not (port_is_free(3128) and port_is_free(8089)):
        pytest.skip("127.0.0.1:3128 or :8089 is in use: the demo cannot start here now")
    script = run_script()
    script.wait_for(r"proxy listening on 127\.0\.0\.1:3128")
    started = script.descendants()
    commands = [command_of(p) for p in started]
    proxies = [p for p, c in zip(started, commands) if "latchkey" in c and " run " in c]
    echoes = [p for p, c in zip(started, commands) if "echo_upstream.py" in c]
    assert len(proxies) == 1 and len(echoes) == 1, commands

    stop_and_expect_everything_gone(script, proxies + echoes)
    deadline = time.monotonic() + TIMEOUT
    while not (port_is_free(3128) and port_is_free(8089)):  # polls the ports, not a fixed sleep
        assert time.monotonic() < deadline, "the demo's ports are still bound after scripts/run exited"
        time.sleep(0.05)
