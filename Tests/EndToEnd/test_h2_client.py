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

import h2.config
import h2.connection
import h2.errors
import h2.events
import pytest

from intercept_helpers import InterceptCA, intercept_config
from latchkey_e2e import TIMEOUT, clean_env, closed_port, header_values, run_latchkey_cli

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
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=TIMEOUT) as s:
        for piece in (PREFACE[:3], PREFACE[3:17], PREFACE[17:]):
            s.sendall(piece)
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        conn.initiate_connection()
        s.sendall(conn.data_to_send()[len(PREFACE):])  # SETTINGS, after the hand-written preface
        stream = conn.get_next_available_stream_id()
        conn.send_headers(stream, [(":method", "GET"), (":scheme", "http"), (":authority", "x"),
                                   (":path", "/demo/split")], end_stream=True)
        s.sendall(conn.data_to_send())
        status, body = read_response(s, conn, stream)
    assert status == "200" and json.loads(body)["path"] == "/split"


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


def read_response(s: socket.socket, conn, stream: int) -> tuple[str, bytes]:
    status, body = None, b""
    while True:
        data = s.recv(65536)
        assert data, "connection closed before the response ended"
        for event in conn.receive_data(data):
            if isinstance(event, h2.events.ResponseReceived) and event.stream_id == stream:
                status = dict(event.headers)[":status"]
            elif isinstance(event, h2.events.DataReceived) and event.stream_id == stream:
                body += event.data
                conn.acknowledge_received_data(event.flow_controlled_length, stream)
            elif isinstance(event, h2.events.StreamEnded) and event.stream_id == stream:
                return status, body
        s.sendall(conn.data_to_send())


def test_invalid_first_frame_gets_goaway_and_others_keep_working(proxy):
    healthy = socket.create_connection(("127.0.0.1", proxy.port), timeout=TIMEOUT)  # opened before, kept after
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
    conn.initiate_connection()
    healthy.sendall(conn.data_to_send())
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=TIMEOUT) as bad:
        # After the magic, a PING where SETTINGS must come first (RFC 9113 §3.4): PROTOCOL_ERROR.
        bad.sendall(PREFACE + b"\x00\x00\x08\x06\x00\x00\x00\x00\x00" + b"\x00" * 8)
        assert goaway_code(bad) == 1
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=TIMEOUT) as bad:
        # A DATA frame on stream 0 (RFC 9113 §6.1): PROTOCOL_ERROR too.
        bad.sendall(PREFACE + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00" + b"\x00\x00\x01\x00\x00\x00\x00\x00\x00x")
        assert goaway_code(bad) == 1
    stream = conn.get_next_available_stream_id()
    conn.send_headers(stream, [(":method", "GET"), (":scheme", "http"), (":authority", "x"),
                               (":path", "/demo/still")], end_stream=True)
    healthy.sendall(conn.data_to_send())
    status, body = read_response(healthy, conn, stream)
    healthy.close()
    assert status == "200" and json.loads(body)["path"] == "/still"
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
