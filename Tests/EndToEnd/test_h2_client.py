"""Issue 13, client side: HTTP/2 clients through Latchkey to an HTTP/1.1 upstream.

Real clients: curl (`--http2-prior-knowledge`, and `--http2` through HTTPS_PROXY into an intercepted
CONNECT), nghttp and h2load (nghttp2-client). Raw-socket clients (the `h2` package from PyPI) send what real
clients never do: a broken first frame and a burst of opened-and-reset streams (CVE-2023-44487). Every test
asserts what reached the echo upstream (the injected credential, never the client's own) and that one bad
client never disturbs another connection."""

import hashlib
import json
import re
import shutil
import socket
import struct
import subprocess
import time

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.settings
import pytest

from intercept_helpers import InterceptCA, intercept_config
from latchkey_e2e import TIMEOUT, clean_env, closed_port, header_values, run_latchkey_cli, skip_under_sanitizer, wait_until

BEARER = "e2e-h2-bearer-6b1f0c9a2e"
ENV = {"E2E_BEARER": BEARER}
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

pytestmark = pytest.mark.skipif(
    not (shutil.which("nghttp") and shutil.which("h2load")), reason="nghttp2-client (nghttp, h2load) not installed")


def config(echo, extra_routes: str = "") -> str:
    return f"""
unmatched: deny
connections:
  svc:
    type: bearer
    token: ${{E2E_BEARER}}
routes:
  - name: demo
    path_prefix: /demo
    strip_prefix: true
    upstream: {echo.url}
    connection: svc
  - name: vhost
    host: demo.local
    upstream: {echo.url}
    connection: svc
  - name: forward
    host: 127.0.0.1:{echo.port}
    connection: svc
{extra_routes}"""


def run(cmd: list[str], timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 10, env=clean_env())
    assert done.returncode == 0, f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done


def curl_h2(url: str, *args: str) -> tuple[str, dict]:
    """curl with prior knowledge: returns the HTTP version it used and the JSON body."""
    done = run(["curl", "-sS", "--max-time", str(TIMEOUT), "--noproxy", "*", "--http2-prior-knowledge",
                "-H", "Authorization: Bearer the-clients-own", "-w", "\n%{http_version} %{http_code}", *args, url])
    body, _, trailer = done.stdout.rpartition("\n")
    version, status = trailer.split()
    assert status == "200", done.stdout
    return version, json.loads(body)


def assert_injected(seen: dict) -> None:
    assert header_values(seen, "Authorization") == [f"Bearer {BEARER}"]  # the client's own is gone


@pytest.fixture
def proxy(latchkey, echo):
    return latchkey(config(echo), env=ENV)


# -- real clients, prior knowledge ---------------------------------------------------------------------

def test_curl_prior_knowledge_route_mode(proxy):
    version, seen = curl_h2(f"http://127.0.0.1:{proxy.port}/demo/hello?x=1")
    assert version == "2"
    assert seen["path"] == "/hello?x=1" and seen["http_version"] == "HTTP/1.1"
    assert_injected(seen)
    proxy.wait_for_log(r"GET \S+/demo/hello 200 .*latchkey\.protocol=h2.*latchkey\.route=demo")


def test_curl_prior_knowledge_forward_mode(proxy, echo):
    # As a forward proxy: the origin is named in :authority (HTTP/2 has no absolute-form). A virtual-host route
    # (host with upstream) and a forward route (host without upstream, destination from :authority).
    version, seen = curl_h2("http://demo.local/vhost", "--connect-to", f"demo.local:80:127.0.0.1:{proxy.port}")
    assert version == "2" and seen["path"] == "/vhost"
    assert_injected(seen)
    origin = f"127.0.0.1:{echo.port}"
    version, seen = curl_h2(f"http://{origin}/forward", "--connect-to", f"{origin}:127.0.0.1:{proxy.port}")
    assert version == "2" and seen["path"] == "/forward"
    assert_injected(seen)
    assert header_values(seen, "Host") == [origin]
    proxy.wait_for_log(r"GET 127\.0\.0\.1\S*/forward 200 .*latchkey\.route=forward")


def test_http1_still_served_on_the_same_listener(proxy):
    # No preface: today's HTTP/1.1, pipelining included (two requests in one write).
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=TIMEOUT) as s:
        s.sendall(b"GET /demo/a HTTP/1.1\r\nHost: x\r\n\r\nGET /demo/b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    assert data.count(b"HTTP/1.1 200") == 2, data[:400]


def test_partial_preface_waits_for_the_rest(proxy):
    # The preface split across writes is still HTTP/2 (the sniff waits for the 24th byte).
    client = RawH2(proxy.port, split=(3, 17, 24))
    got = client.response(client.start("/demo/split"))
    client.close()
    assert got["status"] == "200" and json.loads(got["body"])["path"] == "/split"


def test_nghttp_post_bodies(proxy, tmp_path):
    payload = bytes(range(256)) * 4096  # 1 MiB: several windows' worth, flow control both ways
    body = tmp_path / "body.bin"
    body.write_bytes(payload)
    done = run(["nghttp", "-d", str(body), "-H", "authorization: Bearer the-clients-own",
                f"http://127.0.0.1:{proxy.port}/demo/upload"])
    seen = json.loads(done.stdout)
    assert seen["method"] == "POST" and seen["path"] == "/upload"
    assert seen["body_length"] == len(payload)
    assert seen["body_sha256"] == hashlib.sha256(payload).hexdigest()
    assert_injected(seen)


def test_large_response_streams_back(proxy):
    done = subprocess.run(["curl", "-sS", "--max-time", str(TIMEOUT), "--http2-prior-knowledge", "-D", "-",
                           "-o", "/dev/null", "-w", "%{size_download}",
                           f"http://127.0.0.1:{proxy.port}/demo/stream?bytes=3000000"],
                          capture_output=True, text=True, timeout=TIMEOUT + 10, env=clean_env())
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("HTTP/2 200") and done.stdout.rstrip().endswith("3000000"), done.stdout


def test_h2load_many_concurrent_streams(proxy):
    done = run(["h2load", "-n", "2000", "-c", "4", "-m", "16", "-H", "authorization: Bearer the-clients-own",
                f"http://127.0.0.1:{proxy.port}/demo/load"], timeout=120)
    m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored",
                  done.stdout)
    assert m, done.stdout
    assert m.groups() == ("2000", "2000", "2000", "2000", "0", "0"), done.stdout
    assert re.search(r"status codes: 2000 2xx", done.stdout), done.stdout


def test_errors_are_answered_on_the_stream(proxy):
    done = subprocess.run(["curl", "-sS", "--max-time", str(TIMEOUT), "--http2-prior-knowledge", "-D", "-",
                           f"http://127.0.0.1:{proxy.port}/nowhere"],
                          capture_output=True, text=True, timeout=TIMEOUT + 10, env=clean_env())
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("HTTP/2 404"), done.stdout
    assert "x-latchkey-error: no_route" in done.stdout.lower()
    proxy.wait_for_log(r"GET /nowhere 404 .*latchkey.protocol=h2")
    assert json.loads(done.stdout.split("\n\n", 1)[1])["error"] == "no_route"


# -- misbehaving clients ---------------------------------------------------------------------------------

def read_frames(s: socket.socket):
    """Frames (type, flags, stream, payload) from `s` until EOF."""
    buffer = b""
    while True:
        while len(buffer) >= 9:
            length = int.from_bytes(buffer[:3], "big")
            if len(buffer) < 9 + length:
                break
            kind, flags, stream = buffer[3], buffer[4], int.from_bytes(buffer[5:9], "big") & 0x7FFFFFFF
            yield kind, flags, stream, buffer[9:9 + length]
            buffer = buffer[9 + length:]
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            return
        if not chunk:
            return
        buffer += chunk


def goaway_code(s: socket.socket) -> int | None:
    for kind, _, _, payload in read_frames(s):
        if kind == 7:  # GOAWAY: last-stream-id, error code
            return struct.unpack(">II", payload[:8])[1]
    return None


class RawH2:
    """An HTTP/2 client on a plain socket (the `h2` package): sends exactly what a test says."""

    def __init__(self, port: int, split: tuple = ()):
        """`split`: offsets at which the opening (preface + SETTINGS) is cut into separate writes."""
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        self.conn.initiate_connection()
        opening = self.conn.data_to_send()
        for start, end in zip((0, *split), (*split, len(opening))):
            self.sock.sendall(opening[start:end])
        self.remote_settings: dict = {}
        self.goaway: h2.events.ConnectionTerminated | None = None

    def flush(self):
        self.sock.sendall(self.conn.data_to_send())

    def start(self, path: str, method: str = "GET", extra: list | None = None, end: bool = True) -> int:
        stream = self.conn.get_next_available_stream_id()
        self.conn.send_headers(stream, [(":method", method), (":scheme", "http"), (":authority", "x"),
                                        (":path", path), *(extra or [])], end_stream=end)
        self.flush()
        return stream

    def events(self):
        """Events until the connection closes (acknowledging data so windows stay open)."""
        while True:
            try:
                data = self.sock.recv(65536)
            except ConnectionResetError:
                return
            if not data:
                return
            for event in self.conn.receive_data(data):
                if isinstance(event, h2.events.DataReceived):
                    self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                elif isinstance(event, h2.events.RemoteSettingsChanged):
                    self.remote_settings.update({k: v.new_value for k, v in event.changed_settings.items()})
                elif isinstance(event, h2.events.ConnectionTerminated):
                    self.goaway = event
                yield event
            self.sock.sendall(self.conn.data_to_send())

    def response(self, stream: int) -> dict:
        """The response on `stream`: status, headers, body, trailers; or `reset` with the RST_STREAM code."""
        got = {"headers": {}, "body": bytearray(), "trailers": {}}
        for event in self.events():
            if getattr(event, "stream_id", None) != stream:
                continue
            if isinstance(event, h2.events.ResponseReceived):
                got["headers"] = dict(event.headers)
                got["status"] = got["headers"][":status"]
            elif isinstance(event, h2.events.DataReceived):
                got["body"] += event.data
            elif isinstance(event, h2.events.TrailersReceived):
                got["trailers"] = dict(event.headers)
            elif isinstance(event, h2.events.StreamReset):
                got["reset"] = event.error_code
                return got
            elif isinstance(event, h2.events.StreamEnded):
                return got
        raise AssertionError(f"connection closed before stream {stream} ended: {got}")

    def close(self):
        self.sock.close()


def test_invalid_first_frame_gets_goaway_and_others_keep_working(proxy):
    healthy = RawH2(proxy.port)  # opened before, used after
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=TIMEOUT) as bad:
        # After the magic, a PING where SETTINGS must come first (RFC 9113 §3.4): PROTOCOL_ERROR.
        bad.sendall(PREFACE + b"\x00\x00\x08\x06\x00\x00\x00\x00\x00" + b"\x00" * 8)
        assert goaway_code(bad) == 1
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=TIMEOUT) as bad:
        # A DATA frame on stream 0 (RFC 9113 §6.1): PROTOCOL_ERROR too.
        bad.sendall(PREFACE + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00" + b"\x00\x00\x01\x00\x00\x00\x00\x00\x00x")
        assert goaway_code(bad) == 1
    got = healthy.response(healthy.start("/demo/still"))
    healthy.close()
    assert got["status"] == "200" and json.loads(got["body"])["path"] == "/still"
    version, _ = curl_h2(f"http://127.0.0.1:{proxy.port}/demo/after")
    assert version == "2"
    proxy.wait_for_log(r"HTTP/2 connection error protocol_error")


def test_rapid_reset_gets_enhance_your_calm(latchkey, echo):
    # The upstream is a closed port: the streams' exchanges are still connecting when the resets arrive, so
    # every reset cancels work in flight, as in the attack; nothing reaches a real upstream.
    lk = latchkey(config(echo, f"""
  - name: dead
    path_prefix: /dead
    upstream: http://127.0.0.1:{closed_port()}
    connection: svc
"""), env=ENV)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
    conn.initiate_connection()
    with socket.create_connection(("127.0.0.1", lk.port), timeout=TIMEOUT) as s:
        s.sendall(conn.data_to_send())
        try:
            for _ in range(3000):
                stream = conn.get_next_available_stream_id()
                conn.send_headers(stream, [(":method", "GET"), (":scheme", "http"), (":authority", "x"),
                                           (":path", "/dead/x")], end_stream=True)
                conn.reset_stream(stream, h2.errors.ErrorCodes.CANCEL)
                if stream % 101 == 0:
                    s.sendall(conn.data_to_send())
            s.sendall(conn.data_to_send())
        except (BrokenPipeError, ConnectionResetError):
            pass  # closed under us: the GOAWAY was sent first
        assert goaway_code(s) == 11  # ENHANCE_YOUR_CALM
    version, seen = curl_h2(f"http://127.0.0.1:{lk.port}/demo/after-reset")
    assert version == "2"
    assert_injected(seen)


def test_made_you_reset_gets_enhance_your_calm(latchkey, echo):
    # CVE-2025-8671: the client never resets a stream itself; it sends more DATA than each stream's
    # content-length, so the server must reset them (RST_STREAM PROTOCOL_ERROR). Those resets count against
    # the same allowance as the client's own, and past it the connection ends with ENHANCE_YOUR_CALM.
    lk = latchkey(config(echo, f"""
  - name: dead
    path_prefix: /dead
    upstream: http://127.0.0.1:{closed_port()}
    connection: svc
"""), env=ENV)

    def frame(kind: int, flags: int, stream: int, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload

    def literal(name: bytes, value: bytes) -> bytes:
        return b"\x00" + bytes([len(name)]) + name + bytes([len(value)]) + value

    block = b"\x83\x86" + literal(b":path", b"/dead/x") + literal(b":authority", b"x") + literal(b"content-length", b"1")
    with socket.create_connection(("127.0.0.1", lk.port), timeout=TIMEOUT) as s:
        s.sendall(PREFACE + frame(4, 0, 0, b""))
        try:
            for batch in range(30):
                s.sendall(b"".join(frame(1, 4, stream, block) + frame(0, 0, stream, b"two")
                                   for stream in range(batch * 200 + 1, batch * 200 + 400, 2)))
        except (BrokenPipeError, ConnectionResetError):
            pass  # closed under us: the GOAWAY was sent first
        assert goaway_code(s) == 11  # ENHANCE_YOUR_CALM
    version, seen = curl_h2(f"http://127.0.0.1:{lk.port}/demo/after-made-you-reset")
    assert version == "2"
    assert_injected(seen)


def test_a_complete_answer_stops_a_request_still_being_sent(proxy):
    # RFC 9113 §8.1: the proxy answers (404, no route) before the request body ends; after the whole answer
    # it resets the stream with NO_ERROR, so the stream closes rather than stay half-open waiting for a body
    # nobody reads. The connection goes on serving.
    client = RawH2(proxy.port)
    stream = client.start("/nowhere/upload", method="POST", end=False)
    client.conn.send_data(stream, b"part of a body")
    client.flush()
    seen = []  # this stream's events, in order, until it is reset
    for event in client.events():
        if getattr(event, "stream_id", None) == stream:
            seen.append(event)
            if isinstance(event, h2.events.StreamReset):
                break
    kinds = [type(event).__name__ for event in seen]
    assert kinds[0] == "ResponseReceived" and dict(seen[0].headers)[":status"] == "404", kinds
    assert b"no_route" in b"".join(event.data for event in seen if isinstance(event, h2.events.DataReceived))
    assert kinds[-2:] == ["StreamEnded", "StreamReset"], kinds  # the whole answer first
    assert seen[-1].error_code == h2.errors.ErrorCodes.NO_ERROR
    after = client.response(client.start("/demo/echo/after-early-answer"))
    client.close()
    assert after["status"] == "200"


# -- interception: h2 by ALPN ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    out = tmp_path_factory.mktemp("h2-intercept-ca") / "ca"
    done = run_latchkey_cli(["ca", "init", "--out", str(out), "--name", "Latchkey E2E H2 Interception CA"])
    assert done.returncode == 0, done.stdout + done.stderr
    return InterceptCA(out / "ca.crt", out / "ca.key")


def test_h2_inside_intercepted_connect(latchkey, echo, ca):
    lk = latchkey(intercept_config(ca, f"""
    - name: api
      host: api.test
      upstream: {echo.url}
      connection: svc
    """), env={"E2E_BEARER": BEARER, "E2E_OTHER_BEARER": "unused-other-bearer"}, secrets=ca.key_secrets)
    done = subprocess.run(
        ["curl", "-sS", "--max-time", str(TIMEOUT), "--http2", "-H", "Authorization: Bearer the-clients-own",
         "-w", "\n%{http_version}", "https://api.test/v1/items?q=1"],
        capture_output=True, text=True, timeout=TIMEOUT + 10,
        env=clean_env({"HTTPS_PROXY": lk.proxy_url, "CURL_CA_BUNDLE": str(ca.cert)}))
    assert done.returncode == 0, done.stderr
    body, _, version = done.stdout.rpartition("\n")
    assert version == "2"
    seen = json.loads(body)
    assert seen["path"] == "/v1/items?q=1"
    assert_injected(seen)
    lk.wait_for_log(r"CONNECT api\.test:443 .*h2")
    lk.wait_for_log(r"GET api\.test/v1/items 200.*latchkey\.intercepted=true.*latchkey\.protocol=h2")


# -- trailers, limits, idle and shutdown ---------------------------------------------------------------

def test_trailers_both_ways(proxy):
    client = RawH2(proxy.port)
    stream = client.start("/demo/trailers", method="POST", extra=[("authorization", "Bearer the-clients-own")],
                          end=False)
    client.conn.send_data(stream, b"hello trailers")
    client.conn.send_headers(stream, [("x-checksum", "abc123"), ("authorization", "Bearer smuggled")],
                             end_stream=True)
    client.flush()
    got = client.response(stream)
    client.close()
    assert got["status"] == "200"
    seen = json.loads(got["body"])
    assert seen["body_length"] == len(b"hello trailers")
    assert ["X-Checksum", "abc123"] in [[n.title(), v] for n, v in seen["trailers"]]
    assert all(n.lower() != "authorization" for n, _ in seen["trailers"])  # stripped from request trailers
    assert_injected(seen)
    # The upstream's chunked trailer section comes back as HTTP/2 trailers, without what a trailer must not carry.
    assert got["trailers"]["x-body-sha256"] == hashlib.sha256(got["body"]).hexdigest()
    assert got["trailers"]["x-echo-x-checksum"] == "abc123"
    assert "set-cookie" not in got["trailers"] and "content-length" not in got["trailers"]


def test_limits_are_announced_and_enforced(latchkey, echo):
    lk = latchkey(config(echo) + """
limits:
  http2_max_concurrent_streams: 3
  http2_max_header_list_bytes: 4096
  http2_header_table_bytes: 1024
""", env=ENV)
    client = RawH2(lk.port)
    stream = client.start("/demo/limits")
    got = client.response(stream)
    assert got["status"] == "200"
    assert client.remote_settings[h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS] == 3
    assert client.remote_settings[h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE] == 4096
    assert client.remote_settings[h2.settings.SettingCodes.HEADER_TABLE_SIZE] == 1024
    # A header list over the limit resets that stream only; the connection goes on.
    big = client.start("/demo/big", extra=[("x-big", "v" * 8000)])
    assert "reset" in client.response(big)
    again = client.response(client.start("/demo/after-big"))
    client.close()
    assert again["status"] == "200" and json.loads(again["body"])["path"] == "/after-big"


def test_idle_connection_gets_goaway(latchkey, echo):
    lk = latchkey(config(echo) + "limits:\n  idle_timeout_ms: 300\n", env=ENV)
    client = RawH2(lk.port)
    assert client.response(client.start("/demo/then-idle"))["status"] == "200"
    for _ in client.events():
        pass  # until the proxy closes
    client.close()
    assert client.goaway is not None and client.goaway.error_code == h2.errors.ErrorCodes.NO_ERROR


def test_shutdown_finishes_streams_in_flight(latchkey, echo):
    # SIGTERM while a stream waits on a slow upstream: GOAWAY (no new streams), the stream is answered,
    # then the connection closes and the process exits. (curl: the h2 package refuses frames after a GOAWAY.)
    lk = latchkey(config(echo), env=ENV)
    before = echo.stats()["requests"].get("/slow/h2-shutdown", 0)
    client = subprocess.Popen(
        ["curl", "-sS", "--max-time", str(TIMEOUT), "--http2-prior-knowledge", "-w", "\n%{http_version} %{http_code}",
         f"http://127.0.0.1:{lk.port}/demo/slow/h2-shutdown?ms=1500"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env())
    wait_until(lambda: echo.stats()["requests"].get("/slow/h2-shutdown", 0) > before, what="the slow request upstream")
    lk.proc.send_signal(15)
    out, err = client.communicate(timeout=TIMEOUT + 10)
    assert client.returncode == 0, err
    assert out.rstrip().endswith("2 200"), out
    assert lk.proc.wait(timeout=TIMEOUT) == 0


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


@skip_under_sanitizer  # ASan's quarantine keeps freed memory resident: RSS says nothing there
def test_a_client_that_does_not_read_holds_the_upstream_back(proxy):
    # The client opens every window as wide as HTTP/2 allows and then does not read: the proxy's memory must
    # stay bounded by its own high-water marks, not by the client's windows, and nothing is lost after.
    size = 32 * 1024 * 1024
    client = RawH2(proxy.port)
    client.conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 2**31 - 1})
    client.conn.increment_flow_control_window(2**31 - 1 - 65535)
    client.flush()
    before = rss_kib(proxy.proc.pid)
    stream = client.start(f"/demo/stream?bytes={size}")
    deadline = time.monotonic() + 2
    peak = before
    while time.monotonic() < deadline:  # sampling the proxy while the client stays silent, not waiting on it
        peak = max(peak, rss_kib(proxy.proc.pid))
        time.sleep(0.05)
    got = client.response(stream)
    client.close()
    assert got["status"] == "200" and len(got["body"]) == size
    assert peak - before < 24 * 1024, f"RSS grew by {peak - before} KiB while the client did not read"


def test_no_request_within_the_header_timeout_gets_goaway(latchkey, echo):
    # As an HTTP/1.1 connection's first head: the preface and SETTINGS alone do not hold a connection open.
    lk = latchkey(config(echo) + "limits:\n  header_timeout_ms: 300\n", env=ENV)
    client = RawH2(lk.port)
    started = time.monotonic()
    for _ in client.events():
        pass  # until the proxy closes
    client.close()
    assert client.goaway is not None and client.goaway.error_code == h2.errors.ErrorCodes.NO_ERROR
    assert time.monotonic() - started < TIMEOUT / 2


def test_continuation_flood_gets_goaway(proxy):
    # CVE-2024-27316 style: a HEADERS without END_HEADERS followed by endless CONTINUATION frames. The header
    # block never completes, so nothing bounds it but the codec: it gives up with PROTOCOL_ERROR.
    def frame(kind: int, flags: int, stream: int, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload

    def literal(name: bytes, value: bytes) -> bytes:
        return b"\x00" + bytes([len(name)]) + name + bytes([len(value)]) + value

    with socket.create_connection(("127.0.0.1", proxy.port), timeout=TIMEOUT) as s:
        s.sendall(PREFACE + frame(4, 0, 0, b"")
                  + frame(1, 1, 1, b"\x82\x86" + literal(b":path", b"/demo/x") + literal(b":authority", b"x")))
        try:
            for _ in range(10000):
                s.sendall(frame(9, 0, 1, literal(b"x-a", b"b" * 100)))
        except (BrokenPipeError, ConnectionResetError):
            pass
        assert goaway_code(s) == 1
    version, _ = curl_h2(f"http://127.0.0.1:{proxy.port}/demo/after-flood")
    assert version == "2"


@pytest.mark.parametrize("path, method, status", [("/demo/head", "HEAD", "200"), ("/demo/status/204", "GET", "204"),
                                                  ("/demo/status/304", "GET", "304")])
def test_responses_without_body_end_with_their_headers(proxy, path, method, status):
    client = RawH2(proxy.port)
    got = client.response(client.start(path, method=method))
    client.close()
    assert got["status"] == status and got["body"] == b""
    if method == "HEAD":
        assert int(got["headers"]["content-length"]) > 0  # the representation's length (RFC 9110 §9.3.2)
