"""Bounded concurrency and abrupt client disconnects: the proxy keeps running and serving.
(Small, loopback-only loads with a fixed request count; not a benchmark.)"""

import http.client
import socket
import struct
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest

from latchkey_e2e import RawConnection, requests_session

BEARER = "e2e-robust-token-2468ace0"


@pytest.fixture(scope="module")
def proxy(latchkey_module, echo):
    return latchkey_module.start(f"""
unmatched: passthrough
connections:
  svc:
    type: bearer
    token: ${{E2E_BEARER}}
routes:
  - name: robust-route
    path_prefix: /r
    strip_prefix: true
    upstream: {echo.url}
    connection: svc
""", env={"E2E_BEARER": BEARER})


def assert_alive(proxy):
    if proxy.proc.poll() is not None:
        pytest.fail(f"latchkey exited ({proxy.proc.returncode}); end of its output:\n{proxy.log_text()[-4000:]}")


def assert_alive_and_serving(proxy):
    assert_alive(proxy)
    try:
        with RawConnection(proxy.port) as conn:
            status, _, _ = conn.exchange(b"GET /r/alive HTTP/1.1\r\nHost: robust\r\n\r\n")
    except (OSError, http.client.HTTPException):
        try:
            proxy.proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            pass
        assert_alive(proxy)
        raise
    assert status == 200


def test_concurrent_keep_alive_clients(proxy):
    def worker(n):
        session = requests_session()
        try:
            return [session.get(f"{proxy.base_url}/r/c/{n}/{i}", timeout=20).status_code for i in range(20)]
        finally:
            session.close()

    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = [s for batch in pool.map(worker, range(16)) for s in batch]
    assert statuses == [200] * 320
    assert_alive_and_serving(proxy)


@pytest.mark.parametrize("target", ["/r/stream?bytes=3000000", "/r/slow?ms=200", "/r/plain"])
def test_clients_that_vanish(proxy, target):
    """Clients send a request and close (or reset) without reading the answer."""
    assert_alive(proxy)
    for i in range(20):
        s = socket.create_connection(("127.0.0.1", proxy.port), timeout=10)
        s.sendall(f"GET {target} HTTP/1.1\r\nHost: robust\r\n\r\n".encode())
        if i % 2:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST on close
        s.close()
    assert_alive_and_serving(proxy)


def test_client_closes_mid_request_body(proxy):
    assert_alive(proxy)
    for _ in range(10):
        s = socket.create_connection(("127.0.0.1", proxy.port), timeout=10)
        s.sendall(b"POST /r/upload HTTP/1.1\r\nHost: robust\r\nContent-Length: 1000000\r\n\r\n" + b"x" * 50000)
        s.close()
    assert_alive_and_serving(proxy)
