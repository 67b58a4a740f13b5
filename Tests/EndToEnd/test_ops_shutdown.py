"""Issue 5: graceful shutdown on SIGTERM/SIGINT — stop accepting at once, close idle keep-alive
connections, let requests in flight finish (up to shutdown_grace_ms), exit 0."""

from __future__ import annotations

import json
import re
import signal
import socket
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from latchkey_e2e import RawConnection, via_requests, wait_until


def config(echo, grace_ms: int | None = None) -> str:
    grace = f"shutdown_grace_ms: {grace_ms}\n" if grace_ms is not None else ""
    return grace + f"""routes:
  - name: e
    path_prefix: /e/
    strip_prefix: true
    upstream: {echo.url}
    timeout_ms: 30000
"""


def echo_hits(echo, key: str) -> int:
    """Requests the echo upstream has received for `key` (recorded on arrival, before /slow sleeps)."""
    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(f"{echo.url}/hits/{key}", timeout=10) as r:
        return json.loads(r.read())["count"]


def start_slow(lk, echo, pool, ms: int):
    """A request for /slow/<key>?ms=MS through the proxy, in a thread; returns once the upstream has it."""
    key = uuid.uuid4().hex
    future = pool.submit(via_requests, f"{lk.base_url}/e/slow/{key}?ms={ms}", timeout=30)
    wait_until(lambda: echo_hits(echo, key) >= 1 or (future.done() and future.result()),
               what="the slow request at the upstream")
    assert not future.done(), future.result()
    return future


def wait_refused(port: int) -> None:
    """Connects until the kernel refuses (the listener is closed); bounded."""
    def refused():
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return False
        except ConnectionRefusedError:
            return True
    wait_until(refused, timeout=3, what=f"ECONNREFUSED on port {port}")


def test_sigterm_finishes_the_request_in_flight_and_exits_0(latchkey, echo):
    lk = latchkey(config(echo))
    with ThreadPoolExecutor(max_workers=1) as pool:
        slow = start_slow(lk, echo, pool, 2000)
        sent = time.monotonic()
        lk.proc.send_signal(signal.SIGTERM)
        wait_refused(lk.port)
        wait_refused(lk.admin_port)
        assert lk.proc.poll() is None, "exited before the request in flight finished"
        reply = slow.result(timeout=30)
    assert reply.status == 200, reply.body
    assert reply.json()["path"].startswith("/slow/")
    assert lk.proc.wait(timeout=10) == 0
    assert time.monotonic() - sent < 8
    lk.wait_for_log(r"stopped")
    assert "grace period over" not in lk.log_text()


def test_response_finished_during_the_drain_says_connection_close(latchkey, echo):
    """RFC 9112 §9.6: a server that closes after this response says `Connection: close` in it."""
    lk = latchkey(config(echo))
    with ThreadPoolExecutor(max_workers=1) as pool:
        slow = start_slow(lk, echo, pool, 1000)
        lk.proc.send_signal(signal.SIGTERM)
        reply = slow.result(timeout=30)
    assert reply.status == 200
    assert lk.proc.wait(timeout=10) == 0
    assert (reply.header("Connection") or "").lower() == "close", reply.headers


def test_idle_keep_alive_connections_are_closed_at_once(latchkey, echo):
    """An idle keep-alive client connection is closed while a slow request still holds the process."""
    lk = latchkey(config(echo))
    with RawConnection(lk.port) as idle, ThreadPoolExecutor(max_workers=1) as pool:
        status, _, _ = idle.exchange(b"GET /e/idle HTTP/1.1\r\nHost: x\r\n\r\n")
        assert status == 200
        slow = start_slow(lk, echo, pool, 3000)
        lk.proc.send_signal(signal.SIGTERM)
        assert idle.is_closed_by_peer(timeout=2), "the idle connection stayed open during the drain"
        assert lk.proc.poll() is None  # still draining the slow request
        assert slow.result(timeout=30).status == 200
    assert lk.proc.wait(timeout=10) == 0


def test_sigint_idle_proxy_exits_0_promptly(latchkey, echo):
    lk = latchkey(config(echo))
    assert via_requests(lk.base_url + "/e/x").status == 200
    started = time.monotonic()
    lk.proc.send_signal(signal.SIGINT)
    assert lk.proc.wait(timeout=10) == 0
    assert time.monotonic() - started < 3
    log = lk.log_text()
    assert "stopped" in log
    # The request's access-log line was still batched when the signal came: the stop writes it first.
    access = re.search(r" GET \S*/e/x 200 ", log)
    assert access and access.start() < log.index("stopped"), log


def test_grace_period_bounds_the_drain(latchkey, echo):
    """shutdown_grace_ms: 300 and a 5 s request: the process exits 0 within about 2 s anyway, and the
    cut client sees its connection closed rather than a response."""
    lk = latchkey(config(echo, grace_ms=300))
    with ThreadPoolExecutor(max_workers=1) as pool:
        slow = start_slow(lk, echo, pool, 5000)
        sent = time.monotonic()
        lk.proc.send_signal(signal.SIGTERM)
        assert lk.proc.wait(timeout=10) == 0
        elapsed = time.monotonic() - sent
        assert elapsed < 2.0, elapsed
        with pytest.raises(requests.exceptions.ConnectionError):
            slow.result(timeout=10)  # closed without a response
    assert re.search(r"grace period over: closing 1 connection", lk.log_text()), lk.log_text()
    assert "stopped" in lk.log_text()

