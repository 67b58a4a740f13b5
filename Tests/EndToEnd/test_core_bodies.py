"""Request and response bodies stream through intact: Content-Length, chunked, 100-continue,
HEAD and bodiless statuses."""

import hashlib
import os
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "peers"))
from echo_upstream import stream_bytes  # noqa: E402

from latchkey_e2e import RawConnection, curl, requests_session, via_requests  # noqa: E402

BEARER = "e2e-body-token-41a2b3c4"
FIVE_MB = 5 * 1024 * 1024


@pytest.fixture(scope="module")
def proxy(latchkey_module, echo):
    """One proxy for the module: forward mode (host body.local) and route mode (/body)."""
    return latchkey_module.start(f"""
unmatched: deny
connections:
  svc:
    type: bearer
    token: ${{E2E_BEARER}}
routes:
  - name: body-forward
    host: body.local
    upstream: {echo.url}
    connection: svc
  - name: body-route
    path_prefix: /body
    strip_prefix: true
    upstream: {echo.url}
    connection: svc
""", env={"E2E_BEARER": BEARER})


@pytest.fixture(scope="module")
def payload(tmp_path_factory):
    data = os.urandom(FIVE_MB)
    path = tmp_path_factory.mktemp("payload") / "five.bin"
    path.write_bytes(data)
    return path, data, hashlib.sha256(data).hexdigest()


def test_post_5mb_content_length_requests(proxy, payload):
    _, data, sha = payload
    reply = via_requests("http://body.local/upload", proxy=proxy.proxy_url, method="POST", data=data)
    assert reply.status == 200, reply.body[:500]
    seen = reply.json()
    assert seen["body_length"] == FIVE_MB
    assert seen["body_sha256"] == sha


def test_post_5mb_content_length_curl(proxy, payload):
    """curl sends `Expect: 100-continue` on its own for a body this large."""
    path, _, sha = payload
    reply = curl(f"{proxy.base_url}/body/upload", data_file=str(path), extra=["--expect100-timeout", "10"])
    assert reply.status == 200, reply.body[:500]
    seen = reply.json()
    assert seen["path"] == "/upload"
    assert seen["body_length"] == FIVE_MB
    assert seen["body_sha256"] == sha


@pytest.mark.parametrize("mode", ["forward", "route"])
def test_post_5mb_chunked(proxy, payload, mode):
    _, data, sha = payload

    def pieces():
        view = memoryview(data)
        for start in range(0, len(data), 100_000):
            yield bytes(view[start:start + 100_000])

    url = "http://body.local/chunked" if mode == "forward" else f"{proxy.base_url}/body/chunked"
    reply = via_requests(url, proxy=proxy.proxy_url if mode == "forward" else None, method="POST",
                         data=pieces())
    assert reply.status == 200, reply.body[:500]
    seen = reply.json()
    assert seen["body_length"] == FIVE_MB
    assert seen["body_sha256"] == sha


def test_explicit_expect_100_continue_small_body(proxy, tmp_path):
    """With `Expect: 100-continue` the proxy must relay (or produce) the interim 100 response:
    curl would otherwise wait its full --expect100-timeout before sending the body."""
    body = tmp_path / "small.txt"
    body.write_bytes(b"hello expect")
    started = time.monotonic()
    reply = curl("http://body.local/expect", proxy=proxy.proxy_url, data_file=str(body),
                 headers=[("Expect", "100-continue")], extra=["--expect100-timeout", "10"])
    elapsed = time.monotonic() - started
    assert reply.status == 200
    seen = reply.json()
    assert seen["body_sha256"] == hashlib.sha256(b"hello expect").hexdigest()
    assert elapsed < 8, f"no 100 Continue reached the client (took {elapsed:.1f}s)"


@pytest.mark.parametrize("mode", ["forward", "route"])
def test_large_chunked_response(proxy, mode):
    n = 3_000_000
    url = f"http://body.local/stream?bytes={n}" if mode == "forward" else f"{proxy.base_url}/body/stream?bytes={n}"
    if mode == "forward":
        reply = curl(url, proxy=proxy.proxy_url)
    else:
        reply = via_requests(url)
    assert reply.status == 200
    assert len(reply.body) == n
    assert reply.body == stream_bytes(n)
    assert reply.header("X-Stream-Sha256") == hashlib.sha256(reply.body).hexdigest()


def test_head_has_no_body_and_connection_stays_usable(proxy):
    with RawConnection(proxy.port) as conn:
        status, headers, body = conn.exchange(
            b"HEAD /body/head-check HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", method="HEAD")
        assert status == 200
        assert body == b""
        # Had the proxy sent a body after the HEAD response, this next response would be garbage.
        status, _, body = conn.exchange(b"GET /body/after-head HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert status == 200
        assert b'"/after-head"' in body
    reply = via_requests("http://body.local/head2", proxy=proxy.proxy_url, method="HEAD")
    assert reply.status == 200 and reply.body == b""


@pytest.mark.parametrize("code", [204, 304])
def test_bodiless_statuses(proxy, code):
    with RawConnection(proxy.port) as conn:
        status, headers, body = conn.exchange(
            f"GET /body/status/{code} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        assert status == code
        assert body == b""
        status, _, body = conn.exchange(b"GET /body/after HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert status == 200
    session = requests_session(proxy.proxy_url)
    reply = via_requests(f"http://body.local/status/{code}", session=session)
    session.close()
    assert reply.status == code and reply.body == b""
