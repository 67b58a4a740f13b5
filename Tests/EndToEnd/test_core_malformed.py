"""Malformed requests (RFC 9112) are answered with a 4xx/5xx, the connection is closed, nothing
reaches the upstream, and the proxy keeps serving new connections.

Note for the proxy: when it rejects a request before reading all of it, it must close gracefully
(RFC 9112 §9.6: shut down the write side, drain the input briefly) or the client's kernel may
discard the error response on the RST.
"""

import json

import pytest

from latchkey_e2e import RawConnection, header_values, raw_exchange

BEARER = "e2e-malformed-token-1a2b3c"
H = "Host: mal.local\r\n"

CASES = {
    # name: (request bytes, accepted statuses)
    "cl-and-te": (
        b"POST /mal/x HTTP/1.1\r\n" + H.encode() + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"0\r\n\r\n", {400}),
    "two-content-lengths": (
        b"POST /mal/x HTTP/1.1\r\n" + H.encode() + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", {400}),
    "te-gzip-only": (
        b"POST /mal/x HTTP/1.1\r\n" + H.encode() + b"Transfer-Encoding: gzip\r\n\r\nxxxx", {400, 501}),
    "te-chunked-not-final": (
        b"POST /mal/x HTTP/1.1\r\n" + H.encode() + b"Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n",
        {400, 501}),
    "obs-fold": (
        b"GET /mal/x HTTP/1.1\r\n" + H.encode() + b"X-Folded: one\r\n two\r\n\r\n", {400}),
    "bare-lf": (
        b"GET /mal/x HTTP/1.1\nHost: mal.local\nX-A: b\n\n", {400}),
    "nul-in-header": (
        b"GET /mal/x HTTP/1.1\r\n" + H.encode() + b"X-Nul: a\x00b\r\n\r\n", {400}),
    "space-before-colon": (
        b"GET /mal/x HTTP/1.1\r\n" + H.encode() + b"X-Space : v\r\n\r\n", {400}),
    "invalid-chunk-size": (
        b"POST /mal/x HTTP/1.1\r\n" + H.encode() + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
        {400}),
    "header-section-over-64k": (
        b"GET /mal/x HTTP/1.1\r\n" + H.encode()
        + b"".join(b"X-Filler-%04d: %s\r\n" % (i, b"v" * 1000) for i in range(70)) + b"\r\n", {431}),
    "request-line-over-8k": (
        b"GET /mal/" + b"a" * 9000 + b" HTTP/1.1\r\n" + H.encode() + b"\r\n", {414, 400}),
    "missing-host-http11": (
        b"GET /mal/x HTTP/1.1\r\nX-A: b\r\n\r\n", {400}),
    "garbage": (
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n", {400}),
    "garbage-text": (
        b"THIS IS NOT HTTP AT ALL\r\n\r\n", {400, 501}),
}


@pytest.fixture(scope="module")
def proxy(latchkey_module, echo):
    return latchkey_module.start(f"""
unmatched: deny
connections:
  svc:
    type: bearer
    token: ${{E2E_BEARER}}
routes:
  - name: mal-route
    path_prefix: /mal
    strip_prefix: true
    upstream: {echo.url}
    connection: svc
""", env={"E2E_BEARER": BEARER})


def assert_still_serving(proxy):
    with RawConnection(proxy.port) as conn:
        status, _, body = conn.exchange(b"GET /mal/ok HTTP/1.1\r\nHost: mal.local\r\n\r\n")
    assert status == 200, body
    assert header_values(json.loads(body), "Authorization") == [f"Bearer {BEARER}"]


@pytest.mark.parametrize("name", list(CASES))
def test_malformed_request_rejected(proxy, echo, name):
    payload, statuses = CASES[name]
    before = echo.stats()["requests"].get("/x", 0)
    result = raw_exchange(proxy.port, payload, timeout=10)
    assert result.closed, f"connection left open after {name}: {result.data[:300]!r}"
    assert result.status is not None, f"no HTTP response to {name}: {result.data[:300]!r}"
    assert not 200 <= result.status < 300
    assert result.status in statuses, f"{name}: got {result.status}, want one of {sorted(statuses)}"
    assert echo.stats()["requests"].get("/x", 0) == before, "a malformed request reached the upstream"
    assert_still_serving(proxy)
