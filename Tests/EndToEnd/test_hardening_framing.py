"""Issue 9, framing and response hygiene: items 1 (Connection cannot remove the framing), 5 (TRACE and
Max-Forwards), 7 (Via and loops), 10 (HTTP/1.1 upstream, Content-Length normalised, no
Proxy-Authenticate) and 12 (no pooled connection with leftover bytes, unsolicited 101 is a 502).

Raw sockets throughout: clients would normalise these requests. Where the upstream must misbehave, a
small scripted upstream in this file answers with exact bytes and records what it received.
"""

import json
import re
import socket
import threading
import urllib.request

import pytest

from latchkey_e2e import TIMEOUT, RawConnection, free_port, header_values, raw_exchange

BEARER = "e2e-framing-bearer-7c1d9e"


def hits(echo, key: str) -> dict:
    with urllib.request.urlopen(f"{echo.url}/hits/{key}", timeout=TIMEOUT) as reply:
        return json.loads(reply.read())


class ScriptedUpstream:
    """A raw HTTP/1.1 upstream: for each request head read (bodies are not expected), `answer(path, n)`
    returns the exact bytes to send (n counts requests across all connections, from 1). Records every
    request line and head, and how many connections it accepted."""

    def __init__(self, answer):
        self.answer = answer
        self.heads: list[bytes] = []
        self.connections = 0
        self.lock = threading.Lock()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        buffer = b""
        with conn:
            while True:
                while b"\r\n\r\n" not in buffer:
                    try:
                        chunk = conn.recv(65536)
                    except OSError:
                        return
                    if not chunk:
                        return
                    buffer += chunk
                head, buffer = buffer.split(b"\r\n\r\n", 1)
                with self.lock:
                    self.heads.append(head)
                    n = len(self.heads)
                path = head.split(b" ", 2)[1].decode()
                try:
                    conn.sendall(self.answer(path, n))
                except OSError:
                    return

    def close(self):
        self.sock.close()


@pytest.fixture
def scripted():
    upstreams = []

    def make(answer):
        upstream = ScriptedUpstream(answer)
        upstreams.append(upstream)
        return upstream

    yield make
    for upstream in upstreams:
        upstream.close()


def ok(body: bytes, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), extra, body)


@pytest.fixture(scope="module")
def proxy(latchkey_module, echo):
    return latchkey_module.start(f"""
unmatched: deny
connections:
  svc:
    type: bearer
    token: ${{E2E_BEARER}}
routes:
  - name: ro
    path_prefix: /ro/
    methods: [GET]
    upstream: {echo.url}/echo/smuggle
    connection: svc
  - name: rw
    path_prefix: /rw/
    upstream: {echo.url}/echo/rw
    connection: svc
  - name: trace-cred
    path_prefix: /tc/
    upstream: {echo.url}/echo/tracecred
    connection: svc
  - name: trace-open
    path_prefix: /to/
    upstream: {echo.url}/echo/traceopen
""", env={"E2E_BEARER": BEARER})


def error_of(result) -> dict:
    return json.loads(result.body)


# -- item 1: Connection cannot remove the framing ----------------------------------------------------

SMUGGLED = b"DELETE /echo/smuggle/admin/everything HTTP/1.1\r\nHost: up\r\n\r\n"


@pytest.mark.parametrize("connection", [b"Content-Length", b"close, content-length", b"Host", b"Via",
                                        b"Authorization"])
def test_connection_naming_content_length_is_refused_and_nothing_is_smuggled(proxy, echo, connection):
    before = hits(echo, "smuggle")["count"]
    payload = (b"GET /ro/harmless HTTP/1.1\r\nHost: lk\r\nConnection: " + connection + b"\r\n"
               b"Content-Length: %d\r\n\r\n" % len(SMUGGLED) + SMUGGLED)
    result = raw_exchange(proxy.port, payload)
    assert result.status == 400, result.data
    body = error_of(result)
    assert body["error"] == "connection_option_refused"
    assert "Connection must not name" in body["detail"]
    assert hits(echo, "smuggle")["count"] == before, "a request reached the upstream"
    assert b"DELETE" not in result.data
    # The proxy keeps serving.
    with RawConnection(proxy.port) as conn:
        status, _, reply = conn.exchange(b"GET /ro/after HTTP/1.1\r\nHost: lk\r\n\r\n")
    assert status == 200
    seen = hits(echo, "smuggle")
    assert [a["method"] for a in seen["attempts"][before:]] == ["GET"]
    assert [a["path"] for a in seen["attempts"][before:]] == ["/echo/smuggle/ro/after"]


def test_connection_transfer_encoding_with_chunked_body_is_refused(proxy, echo):
    before = hits(echo, "rw")["count"]
    chunk = b"%x\r\n%s\r\n0\r\n\r\n" % (len(SMUGGLED), SMUGGLED)
    result = raw_exchange(proxy.port, b"POST /rw/x HTTP/1.1\r\nHost: lk\r\nConnection: Transfer-Encoding\r\n"
                                      b"Transfer-Encoding: chunked\r\n\r\n" + chunk)
    assert result.status == 400
    assert error_of(result)["error"] == "connection_option_refused"
    assert hits(echo, "rw")["count"] == before


def test_connection_te_is_allowed_and_only_te_trailers_is_forwarded(proxy, echo):
    # RFC 9110 §10.1.4: a client sending TE (gRPC: TE: trailers) must list it in Connection. The proxy
    # passes trailers through, so it asks for them in its own name; other codings are hop-by-hop and go.
    with RawConnection(proxy.port) as conn:
        status, _, reply = conn.exchange(
            b"GET /ro/te HTTP/1.1\r\nHost: lk\r\nConnection: TE\r\nTE: trailers\r\n\r\n")
        assert status == 200
        seen = json.loads(reply)
        assert header_values(seen, "TE") == ["trailers"]
        assert header_values(seen, "Connection") == ["TE"]
        status, _, reply = conn.exchange(
            b"GET /ro/te HTTP/1.1\r\nHost: lk\r\nConnection: TE\r\nTE: gzip\r\n\r\n")
    assert status == 200
    seen = json.loads(reply)
    assert header_values(seen, "TE") == []
    assert header_values(seen, "Connection") in ([], ["keep-alive"])


def test_content_length_is_normalised_and_the_body_framed_from_the_parse(proxy, echo):
    with RawConnection(proxy.port) as conn:
        status, _, reply = conn.exchange(b"POST /rw/cl HTTP/1.1\r\nHost: lk\r\nContent-Length: 0005\r\n\r\nhello")
        assert status == 200
        seen = json.loads(reply)
        assert header_values(seen, "Content-Length") == ["5"]
        assert seen["body_length"] == 5
        # The connection is still in step: a second request works.
        status, _, reply = conn.exchange(b"GET /rw/next HTTP/1.1\r\nHost: lk\r\n\r\n")
        assert status == 200 and json.loads(reply)["path"] == "/echo/rw/rw/next"


def test_response_connection_content_length_cannot_unframe_the_response(latchkey, scripted):
    upstream = scripted(lambda path, n: ok(path.encode(), b"Connection: Content-Length, X-Hop\r\nX-Hop: 1\r\n"))
    lk = latchkey(f"""
routes:
  - name: bad-up
    path_prefix: /bu/
    upstream: {upstream.url}
""")
    with RawConnection(lk.port, timeout=10) as conn:
        for path in ("/bu/one", "/bu/two"):
            status, headers, body = conn.exchange(f"GET {path} HTTP/1.1\r\nHost: lk\r\n\r\n".encode())
            assert status == 200
            assert body == path.encode()
            names = {n.lower(): v for n, v in headers}
            assert names.get("content-length") == str(len(path))
            assert "x-hop" not in names
    assert len(upstream.heads) == 2


# -- item 10: HTTP/1.1 upstream, Proxy-Authenticate -----------------------------------------------------

def test_http10_request_is_forwarded_as_http11(latchkey, scripted):
    upstream = scripted(lambda path, n: ok(b"fine"))
    lk = latchkey(f"""
routes:
  - name: v10
    path_prefix: /v10/
    upstream: {upstream.url}
""")
    result = raw_exchange(lk.port, b"GET /v10/x HTTP/1.0\r\nHost: lk\r\nConnection: keep-alive\r\n\r\n")
    assert result.status == 200 and result.body == b"fine"
    assert result.closed  # HTTP/1.0 client semantics unchanged: the connection closes after the answer
    head = upstream.heads[0]
    assert head.startswith(b"GET /v10/x HTTP/1.1\r\n"), head
    assert re.search(rb"\r\nVia: 1\.0 latchkey-[0-9a-f]{12}(\r\n|$)", head), head
    assert b"keep-alive" not in head.lower()


def test_proxy_authenticate_from_upstream_is_not_passed_on(latchkey, scripted):
    upstream = scripted(lambda path, n: b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                                        b"Proxy-Authenticate: Basic realm=\"upstream-proxy\"\r\n"
                                        b"Proxy-Authentication-Info: nextnonce=1\r\n"
                                        b"Content-Length: 0\r\n\r\n")
    lk = latchkey(f"""
routes:
  - name: pa
    path_prefix: /pa/
    upstream: {upstream.url}
""")
    with RawConnection(lk.port) as conn:
        status, headers, _ = conn.exchange(b"GET /pa/x HTTP/1.1\r\nHost: lk\r\n\r\n")
    names = [n.lower() for n, _ in headers]
    assert status == 407
    assert "proxy-authenticate" not in names and "proxy-authentication-info" not in names


# -- item 7: Via and loops ---------------------------------------------------------------------------

def test_via_is_added_to_requests_and_responses(proxy, echo):
    with RawConnection(proxy.port) as conn:
        status, headers, reply = conn.exchange(b"GET /ro/via HTTP/1.1\r\nHost: lk\r\nVia: 1.1 corp-proxy\r\n\r\n")
    assert status == 200
    via = header_values(json.loads(reply), "Via")
    assert len(via) == 2 and via[0] == "1.1 corp-proxy"
    assert re.fullmatch(r"1\.1 latchkey-[0-9a-f]{12}", via[1]), via
    response_via = [v for n, v in headers if n.lower() == "via"]
    assert response_via and response_via[-1].endswith(via[1].split(" ")[1])


@pytest.mark.parametrize("retry", ["", "    retry:\n      max_retries: 3\n      delay_ms: 10\n      retry_on_all_errors: true\n"])
def test_route_to_the_proxy_itself_is_a_loop_after_one_hop(latchkey, retry):
    # A route straight to the proxy's own listener is refused by the config check and, at run time, by the
    # own-listener destination check (test_core_boundaries.py). A loop through a second proxy is invisible to
    # both, so Via is what stops it: A -> B -> A, where A finds its own pseudonym and answers 508.
    port_a, port_b = free_port(), free_port()
    lk = latchkey(f"""
listen: 127.0.0.1:{port_a}
routes:
  - name: self
    path_prefix: /self/
    upstream: http://127.0.0.1:{port_b}
{retry}""")
    other = latchkey(f"""
listen: 127.0.0.1:{port_b}
routes:
  - name: back
    path_prefix: /self/
    upstream: http://127.0.0.1:{port_a}
""")
    offset, other_offset = lk.log_offset(), other.log_offset()
    result = raw_exchange(lk.port, b"GET /self/x HTTP/1.1\r\nHost: lk\r\nConnection: close\r\n\r\n")
    assert result.status == 508, result.data
    body = json.loads(result.body)
    assert body["error"] == "forwarding_loop"
    # In A's access log: the client's request (logged last, once the answer is back) and the looped one,
    # refused; B relayed once. A 508 is never retried, so retries add no hops.
    outer = lk.wait_for_log(r"GET lk/self/x 508 .*latchkey.route=self", after=offset)
    other.wait_for_log(r"GET \S*/self/x 508 .*latchkey.route=back", after=other_offset)
    log = lk.log_text()[offset:]
    assert "latchkey.attempts=1 " in outer.group(0)
    assert len(re.findall(r"latchkey.outcome=forwarding_loop", log)) == 1, log
    assert len(re.findall(r" GET \S*/self/x ", log)) == 2, log
    assert len(re.findall(r" GET \S*/self/x ", other.log_text()[other_offset:])) == 1


# -- item 5: TRACE and Max-Forwards ---------------------------------------------------------------------

def test_trace_on_a_credential_route_is_refused_and_never_forwarded(proxy, echo):
    before = hits(echo, "tracecred")["count"]
    for method in (b"TRACE", b"TRACK"):
        result = raw_exchange(proxy.port, method + b" /tc/x HTTP/1.1\r\nHost: lk\r\nConnection: close\r\n\r\n")
        assert result.status == 403, result.data
        assert error_of(result)["error"] == "trace_refused"
        assert BEARER.encode() not in result.data
    assert hits(echo, "tracecred")["count"] == before


def test_trace_with_max_forwards_zero_is_answered_by_the_proxy_without_credentials(proxy, echo):
    before = hits(echo, "tracecred")["count"]
    with RawConnection(proxy.port) as conn:
        status, headers, body = conn.exchange(
            b"TRACE /tc/x HTTP/1.1\r\nHost: lk\r\nMax-Forwards: 0\r\nAuthorization: Bearer client-own\r\n"
            b"Cookie: s=1\r\nX-Trace-Me: yes\r\n\r\n")
        assert status == 200
        assert dict((n.lower(), v) for n, v in headers)["content-type"] == "message/http"
        assert body.startswith(b"TRACE /tc/x HTTP/1.1\r\n")
        assert b"X-Trace-Me: yes" in body
        for secret in (b"Authorization", b"client-own", b"Cookie", BEARER.encode()):
            assert secret not in body
        # OPTIONS with Max-Forwards: 0 too, on the same connection.
        status, headers, body = conn.exchange(b"OPTIONS /tc/x HTTP/1.1\r\nHost: lk\r\nMax-Forwards: 0\r\n\r\n")
        assert status == 200 and body == b""
    assert hits(echo, "tracecred")["count"] == before


def test_options_asterisk_with_max_forwards_zero_asks_the_proxy_itself(proxy):
    with RawConnection(proxy.port) as conn:
        status, _, body = conn.exchange(b"OPTIONS * HTTP/1.1\r\nHost: lk\r\nMax-Forwards: 0\r\n\r\n")
        assert (status, body) == (200, b"")
        status, _, _ = conn.exchange(b"GET /ro/still HTTP/1.1\r\nHost: lk\r\n\r\n")
        assert status == 200


def test_max_forwards_is_decremented_when_forwarding(proxy, echo):
    with RawConnection(proxy.port) as conn:
        status, _, reply = conn.exchange(b"OPTIONS /tc/x HTTP/1.1\r\nHost: lk\r\nMax-Forwards: 5\r\n\r\n")
        assert status == 200
        assert header_values(json.loads(reply), "Max-Forwards") == ["4"]
        status, _, reply = conn.exchange(b"TRACE /to/x HTTP/1.1\r\nHost: lk\r\nMax-Forwards: 1\r\n\r\n")
        assert status == 200
        seen = json.loads(reply)
        assert seen["method"] == "TRACE"
        assert header_values(seen, "Max-Forwards") == ["0"]
        assert header_values(seen, "Authorization") == []


# -- item 12: a bad upstream cannot poison the pool ----------------------------------------------------

def test_bytes_after_a_complete_response_never_reach_the_next_request(latchkey, scripted):
    # The first answer carries the head of a second response whose body would swallow the next real answer.
    def answer(path, n):
        if n == 1:
            return ok(b"first") + b"HTTP/1.1 404 Evil\r\nContent-Length: 10\r\n\r\nev"
        return ok(path.encode())

    upstream = scripted(answer)
    lk = latchkey(f"""
routes:
  - name: leftover
    path_prefix: /lo/
    upstream: {upstream.url}
""")
    with RawConnection(lk.port, timeout=10) as conn:
        status, _, body = conn.exchange(b"GET /lo/one HTTP/1.1\r\nHost: lk\r\n\r\n")
        assert (status, body) == (200, b"first")
        for path in ("/lo/two", "/lo/three"):
            status, _, body = conn.exchange(f"GET {path} HTTP/1.1\r\nHost: lk\r\n\r\n".encode())
            assert (status, body) == (200, path.encode())
    assert len(upstream.heads) == 3
    assert upstream.connections == 2, "the poisoned connection was reused"


def test_unsolicited_101_is_a_502(latchkey, scripted):
    def answer(path, n):
        if path.endswith("/upgrade"):
            return b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x05hello"
        return ok(path.encode())

    upstream = scripted(answer)
    lk = latchkey(f"""
routes:
  - name: sw
    path_prefix: /sw/
    upstream: {upstream.url}
""")
    with RawConnection(lk.port, timeout=10) as conn:
        status, headers, body = conn.exchange(b"GET /sw/upgrade HTTP/1.1\r\nHost: lk\r\n\r\n")
        assert status == 502
        error = json.loads(body)
        assert error["error"] == "upstream_protocol_error"
        assert "101" in error["detail"] and "upgrade" in error["detail"]
        assert b"hello" not in body
        status, _, body = conn.exchange(b"GET /sw/after HTTP/1.1\r\nHost: lk\r\n\r\n")
        assert (status, body) == (200, b"/sw/after")
    assert upstream.connections == 2
