"""Issue 13, WebSocket: an HTTP/1.1 `Upgrade: websocket` handshake through Latchkey on a routed host.

The upstream is a real WebSocket server from PyPI (`websockets`, sync API, in a thread of this process) that
records every handshake it receives; the client is the `websockets` client, in route mode
(ws://127.0.0.1:PORT/route/...) and as an absolute-form forward-proxy request (`GET http://demo.local/...`,
written by the same client with its request-target made absolute). The route's credential is injected into
the handshake and the client's own `Authorization` never reaches the upstream; after the `101` the bytes
flow both ways until either side closes or the tunnel is idle for `tunnel_idle_timeout_ms`.
"""

import re
import socket
import ssl
import threading
import time

import pytest
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK, InvalidStatus
from websockets.sync.client import ClientConnection, connect
from websockets.sync.server import serve

from latchkey_e2e import RawConnection, metric_sum, scrape_metrics, skip_under_sanitizer, wait_until

BEARER = "e2e-ws-bearer-5b81c0d2e7"
MIB = 1024 * 1024
FLOOD_CHUNK = b"f" * MIB
FLOOD_MESSAGES = 64
CLIENT_TOKEN = "Bearer client-own-token-a1"
ENV = {"E2E_BEARER": BEARER}


class WebSocketEcho:
    """A `websockets` echo server on loopback. `/deny...` answers the handshake 401 and `/plain...` answers 200
    to any request (so an HTTP request can follow on the same connection); the message `close-me` makes the
    server close (1000). Every request's headers are kept in `handshakes`, in arrival order."""

    def __init__(self, ssl_context=None):
        self.handshakes = []
        self.lock = threading.Lock()
        self.server = serve(self.handle, "127.0.0.1", 0, process_request=self.process_request, max_size=None,
                            ssl=ssl_context,
                            select_subprotocol=lambda _, offered: "chat.v1" if "chat.v1" in offered else None)
        self.port = self.server.socket.getsockname()[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def process_request(self, connection, request):
        with self.lock:
            self.handshakes.append((request.path, list(request.headers.raw_items())))
        if request.path.startswith("/deny"):
            return connection.respond(401, "token refused\n")
        if request.path.startswith("/plain"):
            return connection.respond(200, "plain http\n")
        return None

    def handle(self, ws):
        if ws.request.path.startswith("/flood"):
            # As fast as the connection takes it: the proxy must stop reading here while its client does not read.
            for _ in range(FLOOD_MESSAGES):
                ws.send(FLOOD_CHUNK)
            ws.close()
            return
        for message in ws:
            if message == "close-me":
                ws.close(1000, "bye")
                return
            ws.send(message)

    def last(self, path_prefix: str):
        with self.lock:
            for path, headers in reversed(self.handshakes):
                if path.startswith(path_prefix):
                    return headers
        raise AssertionError(f"no request for {path_prefix} reached the upstream: {self.handshakes}")

    def stop(self):
        self.server.shutdown()
        self.thread.join(timeout=10)


def values(headers, name: str) -> list[str]:
    return [v for n, v in headers if n.lower() == name.lower()]


@pytest.fixture(scope="module")
def ws_upstream():
    server = WebSocketEcho()
    yield server
    server.stop()


def config(ws_upstream, extra: str = "") -> str:
    return f"""
unmatched: deny
connections:
  svc:
    type: bearer
    token: ${{E2E_BEARER}}
routes:
  - name: ws-route
    path_prefix: /route
    strip_prefix: true
    upstream: http://127.0.0.1:{ws_upstream.port}
    connection: svc
  - name: ws-forward
    host: demo.local
    upstream: http://127.0.0.1:{ws_upstream.port}
    connection: svc
{extra}"""


@pytest.fixture(scope="module")
def lk(latchkey_module, ws_upstream):
    return latchkey_module.start(config(ws_upstream), env=ENV)


class AbsoluteFormConnection(ClientConnection):
    """The `websockets` client speaking to a forward proxy: its handshake names the absolute URI
    (`GET http://demo.local/path`, RFC 9112 §3.2.2) instead of the path."""

    def __init__(self, sock, protocol, **kwargs):
        make_request = protocol.connect

        def absolute_request():
            request = make_request()
            request.path = f"http://{protocol.uri.host}{request.path}"
            return request

        protocol.connect = absolute_request
        super().__init__(sock, protocol, **kwargs)


def open_route(lk, path: str, **kwargs):
    return connect(f"ws://127.0.0.1:{lk.port}/route{path}", proxy=None, max_size=None, open_timeout=20,
                   additional_headers={"Authorization": CLIENT_TOKEN}, **kwargs)


def open_forward(lk, path: str):
    sock = socket.create_connection(("127.0.0.1", lk.port), timeout=20)
    return connect(f"ws://demo.local{path}", sock=sock, proxy=None, max_size=None, open_timeout=20,
                   additional_headers={"Authorization": CLIENT_TOKEN}, create_connection=AbsoluteFormConnection)


def assert_injected(headers):
    assert values(headers, "Authorization") == [f"Bearer {BEARER}"], headers
    assert CLIENT_TOKEN not in str(headers)
    assert [v.lower() for v in values(headers, "Upgrade")] == ["websocket"], headers
    assert "upgrade" in ",".join(values(headers, "Connection")).lower(), headers
    assert values(headers, "Sec-WebSocket-Key") and values(headers, "Sec-WebSocket-Version") == ["13"], headers


@pytest.mark.parametrize("mode", ["route", "forward"])
def test_text_and_binary_echo_with_the_credential_injected(lk, ws_upstream, mode):
    path = f"/ws/echo-{mode}"
    with (open_route(lk, path, subprotocols=["chat.v1"]) if mode == "route" else open_forward(lk, path)) as ws:
        assert ws.response.status_code == 101
        if mode == "route":
            assert ws.subprotocol == "chat.v1"  # Sec-WebSocket-Protocol both ways
        if mode == "forward":
            assert ws.request.path == f"http://demo.local{path}"  # absolute-form went to the proxy
        ws.send("hello")
        assert ws.recv(timeout=20) == "hello"
        ws.send(b"\x00\x01\xfe\xff")
        assert ws.recv(timeout=20) == b"\x00\x01\xfe\xff"
    assert_injected(ws_upstream.last(path))


def test_a_1_mib_message_echoes(lk):
    message = bytes(range(256)) * 4096  # 1 MiB
    with open_route(lk, "/ws/big") as ws:
        ws.send(message)
        assert ws.recv(timeout=30) == message


def test_server_initiated_close_reaches_the_client_and_is_logged(lk):
    offset = lk.log_offset()
    with open_route(lk, "/ws/server-close") as ws:
        ws.send("ping")
        assert ws.recv(timeout=20) == "ping"
        ws.send("close-me")
        with pytest.raises(ConnectionClosedOK):
            ws.recv(timeout=20)
        assert ws.close_code == 1000 and ws.close_reason == "bye"
    line = lk.wait_for_log(r"GET \S*/route/ws/server-close 101 .*", after=offset).group(0)
    assert re.search(r"latchkey\.outcome=(tunnel_closed|upstream_closed|client_closed)", line), line
    assert not re.search(r"latchkey\.bytes_in=0\b", line) and not re.search(r"latchkey\.bytes_out=0\b", line), line
    assert "latchkey.status=101" in line and "latchkey.route=ws-route" in line, line


def test_client_initiated_close_is_clean_logged_and_counted(lk):
    offset = lk.log_offset()
    ws = open_route(lk, "/ws/client-close")
    ws.send("x")
    assert ws.recv(timeout=20) == "x"
    # Earlier tests' tunnels may still be closing: wait for this one alone.
    wait_until(lambda: metric_sum(scrape_metrics(lk), "latchkey_websocket_tunnels_open") == 1,
               what="one open tunnel")
    ws.close(1000, "done")
    assert ws.close_code == 1000  # the server's close frame came back through the tunnel
    line = lk.wait_for_log(r"GET \S*/route/ws/client-close 101 .*", after=offset).group(0)
    assert re.search(r"latchkey\.outcome=(tunnel_closed|upstream_closed|client_closed)", line), line
    wait_until(lambda: metric_sum(scrape_metrics(lk), "latchkey_websocket_tunnels_open") == 0,
               what="the tunnel gauge back at 0")


def test_idle_tunnel_is_closed(latchkey, ws_upstream):
    proxy = latchkey(config(ws_upstream, "limits:\n  tunnel_idle_timeout_ms: 400\n"), env=ENV)
    with open_route(proxy, "/ws/idle", ping_interval=None) as ws:
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=20)  # nothing is sent: the proxy closes the tunnel
    proxy.wait_for_log(r"GET \S*/route/ws/idle 101 .*latchkey\.outcome=idle_timeout")


def test_another_upgrade_is_stripped_and_pipelined_requests_still_work(lk, ws_upstream):
    # `Upgrade: h2c` is hop-by-hop and never forwarded; the request right behind it (same write) is
    # answered too once the first answer shows no switch happened.
    with RawConnection(lk.port) as conn:
        conn.send(
            b"GET /route/plain/h2c HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\n"
            b"HTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n"
            b"GET /route/plain/after HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        status, _, body = conn.read_response()
        assert status == 200 and body == b"plain http\n"
        status, _, _ = conn.read_response()
        assert status == 200
    seen = ws_upstream.last("/plain/h2c")
    assert values(seen, "Upgrade") == [] and values(seen, "HTTP2-Settings") == [], seen
    assert "upgrade" not in ",".join(values(seen, "Connection")).lower(), seen
    assert values(seen, "Authorization") == [f"Bearer {BEARER}"]


def test_a_401_to_the_handshake_reaches_the_client_and_the_connection_goes_on(lk, ws_upstream):
    with pytest.raises(InvalidStatus) as refused:
        open_route(lk, "/deny/ws")
    assert refused.value.response.status_code == 401
    # The same by hand, then an ordinary request on the same connection.
    with RawConnection(lk.port) as conn:
        status, _, body = conn.exchange(
            b"GET /route/deny/raw HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        assert status == 401 and body == b"token refused\n"
        status, _, body = conn.exchange(b"GET /route/plain/next HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert status == 200 and body == b"plain http\n"
    assert_injected(ws_upstream.last("/deny/raw"))


@pytest.mark.parametrize(
    "request_line, extra",
    [
        (b"POST /route/ws/x HTTP/1.1", b"Content-Length: 2\r\n"),
        (b"GET /route/ws/x HTTP/1.1", b"Content-Length: 2\r\n"),
        (b"GET /route/ws/x HTTP/1.0", b""),
    ],
    ids=["post", "body", "http10"],
)
def test_a_malformed_handshake_is_refused_with_400(lk, request_line, extra):
    with RawConnection(lk.port) as conn:
        conn.send(request_line + b"\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" + extra + b"\r\n"
                  + (b"hi" if extra else b""))
        status, headers, _ = conn.read_response()
    assert status == 400
    assert dict(headers).get("X-Latchkey-Error") == "bad_request"


def test_websocket_inside_an_intercepted_connect(latchkey, ws_upstream, tmp_path):
    # wss:// through the proxy: CONNECT api.test:443, TLS with a leaf from the interception CA, then the
    # handshake inside (the same client connection code as plain HTTP, over TLS).
    from intercept_helpers import InterceptCA, intercept_config, intercepted_tls
    from intercept_helpers import BEARER as ICEPT_BEARER, ENV as ICEPT_ENV

    ca = InterceptCA.create(tmp_path / "ca")
    proxy = latchkey(intercept_config(ca, f"""
    - name: api
      host: api.test
      upstream: http://127.0.0.1:{ws_upstream.port}
      connection: svc
    """), env=ICEPT_ENV, secrets=ca.key_secrets)
    tls = intercepted_tls(proxy.port, "api.test:443", ca.cert)
    # The socket already speaks TLS to the proxy's leaf: the client writes ws:// over it.
    with connect("ws://api.test/ws/intercepted", sock=tls, proxy=None, open_timeout=20,
                 additional_headers={"Authorization": CLIENT_TOKEN}) as ws:
        ws.send("through tls")
        assert ws.recv(timeout=20) == "through tls"
    seen = ws_upstream.last("/ws/intercepted")
    assert values(seen, "Authorization") == [f"Bearer {ICEPT_BEARER}"], seen
    assert CLIENT_TOKEN not in str(seen)
    proxy.wait_for_log(r"GET \S*/ws/intercepted 101 .*latchkey\.intercepted=true")


def test_wss_upstream_carries_the_tunnel_over_tls(latchkey, pki):
    # The route's upstream speaks TLS (wss): the tunnel takes over the verified TLS connection the handshake
    # went on, including whatever the 101's records carried.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.server_cert, pki.server_key)
    upstream = WebSocketEcho(context)
    try:
        proxy = latchkey(f"""
unmatched: deny
connections:
  svc:
    type: bearer
    token: ${{E2E_BEARER}}
routes:
  - name: wss-route
    path_prefix: /route
    strip_prefix: true
    upstream: https://localhost:{upstream.port}
    connection: svc
    tls: {{ca_file: {pki.ca_cert}}}
""", env=ENV)
        message = bytes(range(256)) * 4096
        with open_route(proxy, "/ws/tls") as ws:
            ws.send("over tls")
            assert ws.recv(timeout=20) == "over tls"
            ws.send(message)
            assert ws.recv(timeout=30) == message
        assert_injected(upstream.last("/ws/tls"))
    finally:
        upstream.stop()


def masked_text_frame(text: str) -> bytes:
    """One client text frame (RFC 6455 §5.2: FIN, opcode 1, masked), payload under 126 bytes."""
    payload = text.encode()
    mask = b"\x11\x22\x33\x44"
    return bytes([0x81, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def test_frames_sent_right_behind_the_handshake_wait_for_the_101(lk):
    # A client that does not wait for the 101: its first frame arrives in the same segment as the handshake.
    # The proxy holds it (it is not HTTP) and sends it upstream once the tunnel is up.
    with socket.create_connection(("127.0.0.1", lk.port), timeout=20) as s:
        s.sendall(b"GET /route/ws/eager HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
                  + masked_text_frame("eager"))
        data = b""
        while not (b"\r\n\r\n" in data and data.endswith(b"eager")):
            chunk = s.recv(65536)
            assert chunk, data
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head
        assert b"sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo=" in head.lower(), head
        assert rest == b"\x81\x05eager"  # the server's unmasked echo


def rss_bytes(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def quiet(pid: int):
    """A predicate: true once the process's CPU time has stood still for half a second."""
    def cpu_seconds() -> float:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / 100.0
    last = [cpu_seconds(), time.monotonic()]

    def probe():
        now = cpu_seconds()
        if now != last[0]:
            last[0], last[1] = now, time.monotonic()
        return time.monotonic() - last[1] >= 0.5
    return probe


@skip_under_sanitizer
def test_a_client_that_does_not_read_stops_the_upstream_back_pressure(latchkey, ws_upstream):
    # The upstream sends 64 MiB as fast as it can; the client reads nothing for a while. The proxy stops
    # reading the upstream while the client's buffer is above its mark, so its memory stays bounded; then
    # the client reads everything, intact.
    proxy = latchkey(config(ws_upstream), env=ENV)
    before = rss_bytes(proxy.proc.pid, "VmRSS")
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=30) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        s.sendall(b"GET /route/flood HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        # Not reading on purpose; measured once the proxy has stopped working through what it read (its CPU
        # time stands still for half a second): an unbounded proxy would have read all 64 MiB by then.
        wait_until(quiet(proxy.proc.pid), what="the proxy idle")
        grown = rss_bytes(proxy.proc.pid, "VmHWM") - before
        assert grown < 32 * MIB, f"peak RSS grew by {grown / MIB:.1f} MiB while the client did not read"
        expected = FLOOD_MESSAGES * (MIB + 10)  # each frame: 0x82, 127, 8-byte length, then 1 MiB
        received = b""
        while b"\r\n\r\n" not in received:
            received += s.recv(65536)
        head, _, rest = received.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head
        total = len(rest)
        while total < expected:
            chunk = s.recv(1 << 20)
            assert chunk, f"closed after {total} of {expected} bytes"
            total += len(chunk)
        assert total >= expected
