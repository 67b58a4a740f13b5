"""Issue 13, WebSocket over HTTP/2 (RFC 8441 extended CONNECT) through Latchkey on a routed path.

The client is an RFC 8441 client scripted with the `h2` library over h2c with prior knowledge: it waits for the
proxy's SETTINGS_ENABLE_CONNECT_PROTOCOL, opens `CONNECT` + `:protocol websocket`, and then speaks real
WebSocket frames (RFC 6455 §5, masked) in DATA frames, acknowledging what it reads so flow control works.
Two real servers behind the proxy:
- the `websockets` server of test_websocket.py over HTTP/1.1: the proxy translates the extended CONNECT into an
  `Upgrade: websocket` handshake with its own Sec-WebSocket-Key, checks the 101's Sec-WebSocket-Accept and
  answers the h2 client 200;
- Hypercorn (peers/asgi_ws_echo.py), which speaks RFC 8441 itself: the route says `http2: always`, so the
  proxy sends it an extended CONNECT over h2c. The same server also takes an HTTP/1.1 client's Upgrade as an
  extended CONNECT.
Each test asserts what reached the server (the route's credential, never the client's own).
"""

import json
import os
import re
import socket
import ssl
import struct
import sys
from pathlib import Path

import h2.config
import h2.connection
import h2.events
import h2.settings
import pytest
from websockets.sync.client import connect

from latchkey_e2e import TIMEOUT, metric_sum, scrape_metrics, skip_under_sanitizer, wait_until
from test_websocket import FLOOD_MESSAGES, WebSocketEcho, quiet, rss_bytes

sys.path.insert(0, str(Path(__file__).parent / "peers"))
from asgi_ws_echo import AsgiWebSocketEcho  # noqa: E402

BEARER = "e2e-h2ws-bearer-93c1d7a0"
CLIENT_TOKEN = "Bearer h2-client-own-token-b2"
ENV = {"E2E_BEARER": BEARER}
MIB = 1024 * 1024


# MARK: a minimal RFC 6455 frame codec (client side: frames out are masked, frames in are not)

def ws_frame(opcode: int, payload: bytes) -> bytes:
    mask = os.urandom(4)
    length = len(payload)
    if length < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
    elif length < 1 << 16:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload)) if length < 4096 else _mask_fast(payload, mask)
    return head + mask + masked


def _mask_fast(payload: bytes, mask: bytes) -> bytes:
    repeated = (mask * (len(payload) // 4 + 1))[: len(payload)]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(len(payload), "big")


def ws_parse(buffer: bytearray) -> tuple[int, bytes] | None:
    """One unmasked frame off the front of `buffer` (fin frames only: the servers here do not fragment)."""
    if len(buffer) < 2:
        return None
    opcode, length, at = buffer[0] & 0x0F, buffer[1] & 0x7F, 2
    assert buffer[1] & 0x80 == 0, "a server frame must not be masked"
    if length == 126:
        if len(buffer) < 4:
            return None
        length, at = struct.unpack("!H", buffer[2:4])[0], 4
    elif length == 127:
        if len(buffer) < 10:
            return None
        length, at = struct.unpack("!Q", buffer[2:10])[0], 10
    if len(buffer) < at + length:
        return None
    payload = bytes(buffer[at : at + length])
    del buffer[: at + length]
    return opcode, payload


TEXT, BINARY, CLOSE = 0x1, 0x2, 0x8


class H2WebSocketClient:
    """An RFC 8441 client on one h2c connection to the proxy."""

    def __init__(self, port: int, sock=None, authority: str | None = None, scheme: str = "http"):
        self.port = port
        self.authority = authority or f"127.0.0.1:{port}"
        self.scheme = scheme
        self.sock = sock or socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        self.conn.initiate_connection()
        self.flush()
        self.connect_protocol = None
        self.events: list = []
        # §3: no extended CONNECT before the server's SETTINGS said so.
        self.pump(lambda: self.connect_protocol is not None, "the proxy's SETTINGS")
        self.stream_id = None
        self.buffer = bytearray()
        self.ended = False
        self.reset = None

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def pump(self, done, what: str):
        while not done():
            data = self.sock.recv(65536)
            if not data:
                raise AssertionError(f"the proxy closed the connection while waiting for {what}")
            for event in self.conn.receive_data(data):
                self.events.append(event)
                if isinstance(event, h2.events.RemoteSettingsChanged):
                    changed = event.changed_settings.get(h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL)
                    if changed is not None:
                        self.connect_protocol = changed.new_value
                    elif self.connect_protocol is None:
                        self.connect_protocol = 0
                elif isinstance(event, h2.events.DataReceived) and event.stream_id == self.stream_id:
                    self.buffer += event.data
                    # Read, so the proxy may send more: the window opens as the test consumes.
                    self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                elif isinstance(event, h2.events.StreamEnded) and event.stream_id == self.stream_id:
                    self.ended = True
                elif isinstance(event, h2.events.StreamReset) and event.stream_id == self.stream_id:
                    self.reset = event.error_code
            self.flush()

    def open(self, path: str, protocol: str = "websocket", method: str = "CONNECT", extra=()) -> dict:
        """Opens a stream; returns the response head as a dict (":status" and the fields, lower-case)."""
        self.stream_id = self.conn.get_next_available_stream_id()
        headers = [(":method", method)]
        if method == "CONNECT" and protocol is None:
            headers.append((":authority", self.authority))
        else:
            if protocol is not None:
                headers.append((":protocol", protocol))
            headers += [(":scheme", self.scheme), (":path", path), (":authority", self.authority)]
        headers += [("sec-websocket-version", "13"), ("authorization", CLIENT_TOKEN), *extra]
        self.conn.send_headers(self.stream_id, headers)
        self.flush()
        head = {}

        def answered():
            for event in self.events:
                if isinstance(event, h2.events.ResponseReceived) and event.stream_id == self.stream_id:
                    head.update({n: v for n, v in event.headers})
                    return True
            return self.reset is not None

        self.pump(answered, "the response head")
        return head

    def send(self, opcode: int, payload: bytes):
        """One frame, in DATA frames the client's window and max frame size allow."""
        data = ws_frame(opcode, payload)
        while data:
            window = self.conn.local_flow_control_window(self.stream_id)
            if window == 0:
                self.pump(lambda: self.conn.local_flow_control_window(self.stream_id) > 0, "a WINDOW_UPDATE")
                continue
            chunk = data[: min(window, self.conn.max_outbound_frame_size)]
            self.conn.send_data(self.stream_id, chunk)
            self.flush()
            data = data[len(chunk):]

    def recv(self) -> tuple[int, bytes]:
        frame = None

        def got():
            nonlocal frame
            frame = ws_parse(self.buffer)
            return frame is not None

        self.pump(got, "a WebSocket frame")
        return frame

    def end_stream(self):
        self.conn.end_stream(self.stream_id)
        self.flush()

    def reset_stream(self):
        self.conn.reset_stream(self.stream_id)
        self.flush()

    def close(self):
        self.sock.close()


@pytest.fixture(scope="module")
def ws_upstream():
    server = WebSocketEcho()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def hypercorn():
    server = AsgiWebSocketEcho().start()
    yield server
    server.stop()


def config(ws_upstream, hypercorn, extra: str = "") -> str:
    return f"""
unmatched: deny
connections:
  svc:
    type: bearer
    token: ${{E2E_BEARER}}
routes:
  - name: ws-h1
    path_prefix: /h1
    strip_prefix: true
    upstream: http://127.0.0.1:{ws_upstream.port}
    connection: svc
  - name: ws-h2
    path_prefix: /h2
    strip_prefix: true
    upstream: http://127.0.0.1:{hypercorn.port}
    http2: always
    connection: svc
{extra}"""


@pytest.fixture(scope="module")
def lk(latchkey_module, ws_upstream, hypercorn):
    return latchkey_module.start(config(ws_upstream, hypercorn), env=ENV)


def assert_injected_h1(headers):
    names = {n.lower(): v for n, v in headers}
    assert [v for n, v in headers if n.lower() == "authorization"] == [f"Bearer {BEARER}"], headers
    assert CLIENT_TOKEN not in str(headers)
    assert names.get("upgrade", "").lower() == "websocket" and names.get("sec-websocket-key"), headers


def whoami(client: H2WebSocketClient) -> dict:
    client.send(TEXT, b"whoami")
    opcode, payload = client.recv()
    assert opcode == TEXT
    return json.loads(payload)


def test_the_h2_listener_announces_extended_connect(lk):
    client = H2WebSocketClient(lk.port)
    try:
        assert client.connect_protocol == 1  # SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441 §3)
    finally:
        client.close()


def test_h2_client_to_an_http11_websocket_server(lk, ws_upstream):
    client = H2WebSocketClient(lk.port)
    try:
        head = client.open("/h1/ws/h2-echo", extra=[("sec-websocket-protocol", "chat.v1")])
        assert head[":status"] == "200", head
        assert head.get("sec-websocket-protocol") == "chat.v1"  # negotiated through the 101
        assert "sec-websocket-accept" not in head and "upgrade" not in head, head  # RFC 8441 §5
        client.send(TEXT, "héllo".encode())
        assert client.recv() == (TEXT, "héllo".encode())
        client.send(BINARY, b"\x00\x01\xfe\xff")
        assert client.recv() == (BINARY, b"\x00\x01\xfe\xff")
        assert_injected_h1(ws_upstream.last("/ws/h2-echo"))
        # Larger than every window on the way (the client's 64 KiB, the proxy's 256 KiB): flow control carries it.
        big = bytes(range(256)) * 4096 * 2
        client.send(BINARY, big)
        assert client.recv() == (BINARY, big)
        # The client closes: its close frame comes back, the server closes TCP, the stream ends both ways.
        client.send(CLOSE, struct.pack("!H", 1000) + b"done")
        opcode, payload = client.recv()
        assert opcode == CLOSE and payload[:2] == struct.pack("!H", 1000)
        client.pump(lambda: client.ended, "END_STREAM after the close")
        client.end_stream()
        assert client.reset is None
    finally:
        client.close()


def test_h2_client_to_an_rfc8441_server_over_h2(lk, hypercorn):
    offset = lk.log_offset()
    client = H2WebSocketClient(lk.port)
    try:
        head = client.open("/h2/ws/h2-h2", extra=[("sec-websocket-protocol", "chat.v1")])
        assert head[":status"] == "200", head
        assert head.get("sec-websocket-protocol") == "chat.v1"
        seen = whoami(client)
        assert seen["http_version"] == "2", seen  # an extended CONNECT reached Hypercorn
        assert seen["authorization"] == [f"Bearer {BEARER}"], seen
        assert seen["path"] == "/ws/h2-h2", seen
        big = os.urandom(3 * MIB)
        client.send(BINARY, big)
        assert client.recv() == (BINARY, big)
        # The server closes: its close frame, then END_STREAM, reach the client.
        client.send(TEXT, b"close-me")
        opcode, payload = client.recv()
        assert opcode == CLOSE and payload[:2] == struct.pack("!H", 1000)
        # Hypercorn ends its stream with its close frame; the proxy passes END_STREAM on, and once the
        # tunnel is over resets what is left of the stream with NO_ERROR (RFC 9113 §8.1), never an error.
        client.pump(lambda: client.ended or client.reset is not None, "the end of the stream")
        assert client.ended, "END_STREAM came before any reset"
        assert client.reset in (None, 0), client.reset
    finally:
        client.close()
    line = lk.wait_for_log(r"\S*/h2/ws/h2-h2 101 .*", after=offset).group(0)
    assert "latchkey.route=ws-h2" in line, line
    assert CLIENT_TOKEN not in lk.log_text() and BEARER not in lk.log_text()


def test_an_http11_client_upgrade_goes_to_an_rfc8441_server_as_extended_connect(lk, hypercorn):
    with connect(f"ws://127.0.0.1:{lk.port}/h2/ws/h1-to-h2", proxy=None, max_size=None, open_timeout=20,
                 additional_headers={"Authorization": CLIENT_TOKEN}) as ws:
        assert ws.response.status_code == 101  # the websockets client checked the proxy's Sec-WebSocket-Accept
        ws.send("whoami")
        seen = json.loads(ws.recv(timeout=20))
        assert seen["http_version"] == "2" and seen["authorization"] == [f"Bearer {BEARER}"], seen
        ws.send(b"\x01\x02")
        assert ws.recv(timeout=20) == b"\x01\x02"


def test_a_client_reset_closes_the_tunnel(lk, hypercorn):
    offset = lk.log_offset()
    client = H2WebSocketClient(lk.port)
    try:
        assert client.open("/h2/ws/reset-me")[":status"] == "200"
        assert whoami(client)["http_version"] == "2"
        client.reset_stream()
        line = lk.wait_for_log(r"\S*/h2/ws/reset-me 101 .*", after=offset).group(0)
        assert "latchkey.outcome=client_closed" in line, line
        wait_until(lambda: metric_sum(scrape_metrics(lk), "latchkey_websocket_tunnels_open") == 0,
                   what="no open tunnel")
        # The connection serves another WebSocket after the reset.
        assert client.open("/h1/ws/after-reset")[":status"] == "200"
        client.send(TEXT, b"still here")
        assert client.recv() == (TEXT, b"still here")
    finally:
        client.close()


@pytest.mark.parametrize("path, protocol, method, status", [
    ("/nowhere/ws", "websocket", "CONNECT", "404"),         # no route: refused like an HTTP/1.1 handshake
    ("/h1/ws/udp", "connect-udp", "CONNECT", "501"),         # only websocket is carried
    (None, None, "CONNECT", "403"),                          # plain CONNECT: `unmatched: deny` (400 when allowed)
])
def test_refusals(lk, ws_upstream, path, protocol, method, status):
    before = len(ws_upstream.handshakes)
    client = H2WebSocketClient(lk.port)
    try:
        head = client.open(path, protocol=protocol, method=method)
        assert head.get(":status") == status, head
        assert head.get("x-latchkey-error"), head
    finally:
        client.close()
    assert len(ws_upstream.handshakes) == before


def test_an_idle_tunnel_is_reset(latchkey, ws_upstream, hypercorn):
    proxy = latchkey(config(ws_upstream, hypercorn, "limits:\n  tunnel_idle_timeout_ms: 400\n"), env=ENV)
    client = H2WebSocketClient(proxy.port)
    try:
        assert client.open("/h1/ws/idle")[":status"] == "200"
        # Nothing is sent either way: the proxy ends the tunnel and resets the stream (CANCEL).
        client.pump(lambda: client.reset is not None, "the idle tunnel's end")
        assert client.reset == 8, client.reset
        proxy.wait_for_log(r"\S*/h1/ws/idle 101 .*latchkey\.outcome=idle_timeout")
    finally:
        client.close()


@skip_under_sanitizer
def test_a_client_that_does_not_read_stops_the_upstream_back_pressure(latchkey, ws_upstream, hypercorn):
    # The upstream sends 64 MiB as fast as it can; the h2 client reads nothing for a while, so its stream
    # window stays closed. The proxy stops reading the upstream while the stream's DATA waits above its mark,
    # so its memory stays bounded; then the client reads (and acknowledges) everything, intact.
    proxy = latchkey(config(ws_upstream, hypercorn), env=ENV)
    before = rss_bytes(proxy.proc.pid, "VmRSS")
    client = H2WebSocketClient(proxy.port)
    try:
        client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        client.stream_id = client.conn.get_next_available_stream_id()
        client.conn.send_headers(client.stream_id, [
            (":method", "CONNECT"), (":protocol", "websocket"), (":scheme", "http"), (":path", "/h1/flood"),
            (":authority", f"127.0.0.1:{proxy.port}"), ("sec-websocket-version", "13")])
        client.flush()
        wait_until(quiet(proxy.proc.pid), what="the proxy idle")
        grown = rss_bytes(proxy.proc.pid, "VmHWM") - before
        assert grown < 32 * MIB, f"peak RSS grew by {grown / MIB:.1f} MiB while the client did not read"
        expected = FLOOD_MESSAGES * (MIB + 10)  # each frame: 0x82, 127, 8-byte length, then 1 MiB
        client.pump(lambda: len(client.buffer) >= expected, "the whole flood")
        frames = 0
        while (frame := ws_parse(client.buffer)) is not None and frame[0] == BINARY:
            assert len(frame[1]) == MIB
            frames += 1
        assert frames == FLOOD_MESSAGES
    finally:
        client.close()


def test_h2_by_alpn_inside_an_intercepted_connect(latchkey, ws_upstream, tmp_path):
    # wss:// through the proxy over HTTP/2: CONNECT api.test:443, TLS with the interception CA's leaf and ALPN
    # h2, then the extended CONNECT inside (the same h2 client connection code as h2c).
    from intercept_helpers import BEARER as ICEPT_BEARER, ENV as ICEPT_ENV
    from intercept_helpers import InterceptCA, connect as proxy_connect, intercept_config

    ca = InterceptCA.create(tmp_path / "ca")
    proxy = latchkey(intercept_config(ca, f"""
    - name: api
      host: api.test
      upstream: http://127.0.0.1:{ws_upstream.port}
      connection: svc
    """), env=ICEPT_ENV, secrets=ca.key_secrets)
    raw, head = proxy_connect(proxy.port, "api.test:443")
    assert head.startswith(b"HTTP/1.1 200"), head
    context = ssl.create_default_context(cafile=str(ca.cert))
    context.set_alpn_protocols(["h2"])
    tls = context.wrap_socket(raw, server_hostname="api.test")
    assert tls.selected_alpn_protocol() == "h2"
    client = H2WebSocketClient(proxy.port, sock=tls, authority="api.test", scheme="https")
    try:
        assert client.connect_protocol == 1
        assert client.open("/ws/intercepted-h2")[":status"] == "200"
        client.send(TEXT, b"through tls and h2")
        assert client.recv() == (TEXT, b"through tls and h2")
    finally:
        client.close()
    seen = ws_upstream.last("/ws/intercepted-h2")
    assert [v for n, v in seen if n.lower() == "authorization"] == [f"Bearer {ICEPT_BEARER}"], seen
    assert CLIENT_TOKEN not in str(seen)
    proxy.wait_for_log(r"GET \S*/ws/intercepted-h2 101 .*latchkey\.intercepted=true")


def test_an_h2_upstream_chosen_by_alpn_gets_extended_connect(latchkey, pki):
    # https:// upstream, `http2: auto`: the first handshake opens a TLS connection offering h2 and http/1.1;
    # Hypercorn picks h2, so the extended CONNECT waits for its SETTINGS on the connection taken over from the
    # handshake. The next one (from an HTTP/1.1 client) goes on a stream of the same, known-h2 connection.
    upstream = AsgiWebSocketEcho(pki.server_cert, pki.server_key).start()
    try:
        proxy = latchkey(f"""
unmatched: deny
connections:
  svc:
    type: bearer
    token: ${{E2E_BEARER}}
routes:
  - name: wss-h2
    path_prefix: /tls
    strip_prefix: true
    upstream: https://localhost:{upstream.port}
    connection: svc
    tls: {{ca_file: {pki.ca_cert}}}
""", env=ENV)
        client = H2WebSocketClient(proxy.port)
        try:
            assert client.open("/tls/ws/first")[":status"] == "200"
            seen = whoami(client)
            assert seen["http_version"] == "2" and seen["authorization"] == [f"Bearer {BEARER}"], seen
        finally:
            client.close()
        with connect(f"ws://127.0.0.1:{proxy.port}/tls/ws/second", proxy=None, open_timeout=20,
                     additional_headers={"Authorization": CLIENT_TOKEN}) as ws:
            ws.send("whoami")
            seen = json.loads(ws.recv(timeout=20))
            assert seen["http_version"] == "2" and seen["authorization"] == [f"Bearer {BEARER}"], seen
    finally:
        upstream.stop()


def test_the_clients_end_stream_first_is_passed_on_and_the_stream_ends_cleanly(lk, ws_upstream):
    # END_STREAM from the client is the tunnel's FIN towards the upstream (TCP FIN to the websockets server,
    # which then closes); the upstream's close is the stream's END_STREAM: a clean end both ways, no reset.
    offset = lk.log_offset()
    client = H2WebSocketClient(lk.port)
    try:
        assert client.open("/h1/ws/client-fin")[":status"] == "200"
        client.send(TEXT, b"x")
        assert client.recv() == (TEXT, b"x")
        client.end_stream()
        client.pump(lambda: client.ended or client.reset is not None, "the end of the stream")
        assert client.ended and client.reset is None, client.reset
    finally:
        client.close()
    line = lk.wait_for_log(r"\S*/h1/ws/client-fin 101 .*", after=offset).group(0)
    assert "latchkey.outcome=tunnel_closed" in line, line
