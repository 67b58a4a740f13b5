"""HTTP/2 towards upstreams (issue 13): nginx speaking h2 over TLS (ALPN, the test CA) and h2c with prior
knowledge, in front of the echo upstream. nginx's access log names the protocol ($server_protocol), the
connection serial ($connection) and the Authorization it received, so the tests see what went over the wire.
What nginx cannot be made to do (request trailers, RST_STREAM codes, a GOAWAY that leaves a stream
unprocessed) comes from peers/h2_upstream.py (the `h2` library).

Routes: `h2.local` (https, http2: auto), `h2c.local` (http://, http2: always), `h1.local` (https, http2:
never), `peer.local` (the h2 peer, http2: always). One event loop (`workers: 1`), so "one connection per
origin per loop" is one connection."""

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "peers"))
from h2_upstream import H2Upstream  # noqa: E402

from latchkey_e2e import (TIMEOUT, free_port, header_values, metric_sum, nginx_binary, requests_session,
                          scrape_metrics, stop_process, via_requests, wait_for_port, wait_until)

BEARER = "e2e-h2-upstream-token-5c9a"


class H2Nginx:
    """nginx with an h2 TLS server and an h2c server, both proxying to `backend_port` over HTTP/1.1."""

    def __init__(self, workdir: Path, pki, backend_port: int):
        self.dir = workdir
        for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        self.tls_port = free_port()
        self.h2c_port = free_port()
        self.limited_port = free_port()
        self.access_log = self.dir / "access.log"
        user = "user root;\n" if os.geteuid() == 0 else ""
        location = f"""
        location = /goaway {{ return 200 'bye\\n'; }}
        location / {{
            proxy_pass http://127.0.0.1:{backend_port};
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_request_buffering off;
        }}"""
        conf = f"""{user}worker_processes 1;
pid {self.dir}/nginx.pid;
error_log {self.dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    log_format h2 '$server_port $server_protocol conn=$connection $request_method $request_uri '
                  'auth="$http_authorization" te="$http_te"';
    access_log {self.access_log} h2;
    keepalive_requests 100000;
    client_max_body_size 0;
    client_body_temp_path {self.dir}/client_body;
    proxy_temp_path {self.dir}/proxy;
    fastcgi_temp_path {self.dir}/fastcgi;
    uwsgi_temp_path {self.dir}/uwsgi;
    scgi_temp_path {self.dir}/scgi;
    server {{
        listen 127.0.0.1:{self.tls_port} ssl http2;
        server_name localhost;
        ssl_certificate {pki.server_cert};
        ssl_certificate_key {pki.server_key};{location}
    }}
    server {{
        listen 127.0.0.1:{self.h2c_port} http2;
        server_name _;
        keepalive_requests 5;{location}
    }}
    server {{
        listen 127.0.0.1:{self.limited_port} http2;
        server_name _;
        http2_max_concurrent_streams 2;{location}
    }}
}}
"""
        self.conf_path = self.dir / "nginx.conf"
        self.conf_path.write_text(conf)
        self._out = open(self.dir / "nginx.out", "wb")
        self.proc = __import__("subprocess").Popen(
            [nginx_binary(), "-p", str(self.dir), "-e", str(self.dir / "error.log"),
             "-c", str(self.conf_path), "-g", "daemon off;"], stdout=self._out, stderr=self._out)
        wait_for_port(self.tls_port, proc=self.proc)
        wait_for_port(self.h2c_port, proc=self.proc)
        wait_for_port(self.limited_port, proc=self.proc)

    def log_lines(self) -> list[str]:
        return self.access_log.read_text().splitlines() if self.access_log.exists() else []

    def lines_for(self, marker: str) -> list[str]:
        return [line for line in self.log_lines() if marker in line]

    def stop(self):
        stop_process(self.proc, grace=10, sig=signal.SIGQUIT)
        self._out.close()


@pytest.fixture(scope="module")
def h2nginx(tmp_path_factory, pki, echo):
    server = H2Nginx(tmp_path_factory.mktemp("h2nginx"), pki, echo.port)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def h2peer():
    server = H2Upstream().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def proxy(latchkey_module, h2nginx, h2peer, pki):
    return latchkey_module.start(f"""
workers: 1
unmatched: deny
connections:
  svc:
    type: bearer
    token: ${{E2E_BEARER}}
routes:
  - name: h2-tls
    host: h2.local
    upstream: https://localhost:{h2nginx.tls_port}
    connection: svc
    tls:
      ca_file: {pki.ca_cert}
  - name: h2c
    host: h2c.local
    upstream: http://127.0.0.1:{h2nginx.h2c_port}
    connection: svc
    http2: always
  - name: h1-tls
    host: h1.local
    upstream: https://localhost:{h2nginx.tls_port}
    connection: svc
    http2: never
    tls:
      ca_file: {pki.ca_cert}
  - name: h2c-limited
    host: limited.local
    upstream: http://127.0.0.1:{h2nginx.limited_port}
    connection: svc
    http2: always
  - name: h2-peer
    host: peer.local
    upstream: http://127.0.0.1:{h2peer.port}
    connection: svc
    http2: always
    retry:
      max_retries: 0
""", env={"E2E_BEARER": BEARER})


def wait_log(h2nginx, marker: str, count: int = 1) -> list[str]:
    return wait_until(lambda: (lines := h2nginx.lines_for(marker)) and len(lines) >= count and lines,
                      what=f"{count} nginx log line(s) with {marker}")


def test_https_upstream_speaks_h2_by_alpn_with_the_credential(proxy, h2nginx):
    reply = via_requests("http://h2.local/echo/h2-get?x=1", proxy=proxy.proxy_url)
    assert reply.status == 200, reply.body[:300]
    seen = reply.json()
    # The echo behind nginx got the credential nginx got over h2, and nothing of the client's.
    assert header_values(seen, "Authorization") == [f"Bearer {BEARER}"]
    line = wait_log(h2nginx, "/echo/h2-get")[0]
    assert " HTTP/2.0 " in line, line
    assert f'auth="Bearer {BEARER}"' in line, line


def test_h2c_with_prior_knowledge_when_always(proxy, h2nginx):
    reply = via_requests("http://h2c.local/echo/h2c-get", proxy=proxy.proxy_url)
    assert reply.status == 200, reply.body[:300]
    line = wait_log(h2nginx, "/echo/h2c-get")[0]
    assert line.startswith(f"{h2nginx.h2c_port} HTTP/2.0 "), line
    assert f'auth="Bearer {BEARER}"' in line, line


def test_an_http11_client_gets_a_reason_phrase_from_an_h2_upstream(proxy, h2nginx):
    # HTTP/2 carries no reason phrase; an HTTP/1.1 client gets RFC 9110's ("HTTP/1.1 200 OK"), not
    # "HTTP/1.1 200 " which h2load (and other strict parsers) count as a failed response.
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=TIMEOUT) as conn:
        conn.sendall(b"GET http://h2c.local/echo/reason HTTP/1.1\r\nHost: h2c.local\r\n\r\n")
        head = b""
        while b"\r\n" not in head:
            chunk = conn.recv(4096)
            assert chunk, head
            head += chunk
    assert head.startswith(b"HTTP/1.1 200 OK\r\n"), head[:80]
    done = subprocess.run(["h2load", "--h1", "-n", "50", "-c", "2", f"--connect-to=127.0.0.1:{proxy.port}",
                           "http://h2c.local/echo/h2load"], capture_output=True, text=True, timeout=TIMEOUT * 2)
    assert "50 succeeded, 0 failed" in done.stdout, done.stdout[-1500:]


def test_never_stays_http11(proxy, h2nginx):
    reply = via_requests("http://h1.local/echo/h1-get", proxy=proxy.proxy_url)
    assert reply.status == 200, reply.body[:300]
    line = wait_log(h2nginx, "/echo/h1-get")[0]
    assert " HTTP/1.1 " in line, line
    assert f'auth="Bearer {BEARER}"' in line, line


@pytest.mark.parametrize("host", ["h2.local", "h2c.local"])
def test_post_bodies_both_ways(proxy, h2nginx, host):
    data = os.urandom(3 * 1024 * 1024 + 17)
    reply = via_requests(f"http://{host}/echo/post-{host}", proxy=proxy.proxy_url, method="POST", data=data)
    assert reply.status == 200, reply.body[:300]
    seen = reply.json()
    assert seen["body_length"] == len(data)
    assert seen["body_sha256"] == hashlib.sha256(data).hexdigest()
    # And a large response body back (chunked by the echo, DATA frames from nginx, re-chunked to the client).
    reply = via_requests(f"http://{host}/stream?bytes=2000000", proxy=proxy.proxy_url)
    assert reply.status == 200
    assert len(reply.body) == 2_000_000
    assert hashlib.sha256(reply.body).hexdigest() == reply.header("X-Stream-Sha256")


@pytest.mark.parametrize("host", ["h2.local", "h2c.local"])
def test_a_slow_client_pauses_the_stream_and_resumes_it(proxy, h2nginx, host):
    """Flow control as back-pressure: while the client does not read, the proxy stops consuming the stream's
    DATA (the server's window closes); once it reads again the window reopens and every byte arrives."""
    size = 24 * 1024 * 1024
    session = requests_session(proxy.proxy_url)
    try:
        response = session.get(f"http://{host}/stream?bytes={size}", stream=True, timeout=TIMEOUT)
        assert response.status_code == 200
        digest = hashlib.sha256()
        first = response.raw.read(64 * 1024)
        digest.update(first)
        __import__("time").sleep(1.5)  # the client is slow: buffers fill, the proxy pauses the stream
        total = len(first)
        while chunk := response.raw.read(1 << 20):
            digest.update(chunk)
            total += len(chunk)
        assert total == size
        assert digest.hexdigest() == response.headers["X-Stream-Sha256"]
    finally:
        session.close()
    # The connection is still good for the next request.
    assert via_requests(f"http://{host}/echo/after-slow", proxy=proxy.proxy_url).status == 200


def raw_exchange_until_close(port: int, payload: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        sock.sendall(payload)
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    return raw


def test_trailers_both_ways_over_h2(proxy, h2peer):
    """An HTTP/1.1 client's chunked body and trailer go out as DATA and a trailing HEADERS frame (the
    credential-named and framing trailers stripped); the upstream's response trailers come back in the
    last chunk."""
    raw = raw_exchange_until_close(proxy.port, (
        b"POST http://peer.local/echo/trailers HTTP/1.1\r\nHost: peer.local\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        b"4\r\nwxyz\r\n0\r\nX-Checksum: 77\r\nAuthorization: Bearer smuggled\r\nContent-Length: 9\r\n\r\n"))
    assert raw.startswith(b"HTTP/1.1 200"), raw[:300]
    head, _, rest = raw.partition(b"\r\n\r\n")
    assert b"transfer-encoding: chunked" in head.lower()
    size_line, _, rest = rest.partition(b"\r\n")
    body = rest[:int(size_line, 16)]
    seen = json.loads(body)
    assert seen["body_length"] == 4
    assert seen["trailers"] == [["x-checksum", "77"]]
    assert ["authorization", f"Bearer {BEARER}"] in seen["headers"]
    assert rest[int(size_line, 16):].endswith(b"0\r\nx-body-sha256: " + hashlib.sha256(body).hexdigest().encode()
                                               + b"\r\ngrpc-status: 0\r\n\r\n")


def test_refused_stream_goes_again_even_for_post(proxy, h2peer):
    reply = via_requests("http://peer.local/refuse-once/r1", proxy=proxy.proxy_url, method="POST", data=b"once")
    assert reply.status == 200, reply.body[:300]
    assert reply.json()["body_length"] == 4
    assert h2peer.hits["r1"] == 2


def test_goaway_above_the_stream_goes_again_even_for_post(proxy, h2peer):
    reply = via_requests("http://peer.local/goaway-once/g1", proxy=proxy.proxy_url, method="POST", data=b"twice")
    assert reply.status == 200, reply.body[:300]
    assert reply.json()["body_length"] == 5
    assert h2peer.hits["g1"] == 2


def test_other_stream_errors_are_502_with_the_code(proxy, h2peer):
    reply = via_requests("http://peer.local/reset/2/e1", proxy=proxy.proxy_url)
    assert reply.status == 502, reply.body[:300]
    error = json.loads(reply.body)
    assert error["error"] == "upstream_protocol_error"
    assert "INTERNAL_ERROR" in error["detail"] or "internal" in error["detail"].lower(), error
    assert h2peer.hits["e1"] == 1  # not retried: the server may have processed it


def connection_serials(lines: list[str]) -> set[str]:
    return {line.split("conn=")[1].split(" ")[0] for line in lines}


def test_concurrent_requests_share_one_connection(proxy, h2nginx):
    """Twenty requests at once from twenty client connections: one TLS connection, multiplexed."""
    # The pool learns by the first handshake that the upstream speaks h2 (before that, each concurrent
    # request would open a connection of its own to find out).
    assert via_requests("http://h2.local/echo/mux-warm", proxy=proxy.proxy_url).status == 200

    def one(i):
        return via_requests(f"http://h2.local/slow/mux-{i}?ms=300", proxy=proxy.proxy_url).status

    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(one, range(20)))
    assert statuses == [200] * 20
    lines = wait_log(h2nginx, "/slow/mux-", 20)
    assert all(" HTTP/2.0 " in line for line in lines)
    assert len(connection_serials(lines + h2nginx.lines_for("/echo/mux-warm"))) == 1, lines


def test_a_second_connection_opens_at_max_concurrent_streams(proxy, h2nginx):
    """The server allows 2 streams per connection (SETTINGS_MAX_CONCURRENT_STREAMS): 6 requests at once
    need 3 connections rather than waiting in line on one. The upstream holds each request until all 6
    have arrived (a 504 after 15 s otherwise), so a proxy that queued any of them fails however the
    client's threads happen to be spread in time."""
    assert via_requests("http://limited.local/echo/limited-warm", proxy=proxy.proxy_url).status == 200

    def one(i):
        return via_requests("http://limited.local/gate/limited-six?count=6", proxy=proxy.proxy_url).status

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = list(pool.map(one, range(6)))
    assert statuses == [200] * 6
    lines = wait_log(h2nginx, "/gate/limited-six", 6)
    assert len(connection_serials(lines)) >= 3, lines


def test_concurrent_requests_survive_goaway_and_refused_streams(proxy, h2nginx):
    """The h2c server says GOAWAY after 5 requests per connection (keepalive_requests 5) and ignores the
    streams beyond: they are refused unprocessed, and the proxy sends them again on a new connection."""
    def one(i):
        return via_requests(f"http://h2c.local/slow/refused-{i}?ms=100", proxy=proxy.proxy_url).status

    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = list(pool.map(one, range(12)))
    assert statuses == [200] * 12
    lines = wait_log(h2nginx, "/slow/refused-", 12)
    assert len(lines) == 12, lines  # each processed exactly once
    assert len(connection_serials(lines)) >= 3


def test_goaway_after_max_requests_loses_nothing(proxy, h2nginx):
    """nginx says GOAWAY after 5 requests on a connection (http2_max_requests): sequential requests
    beyond that go on a new connection without an error reaching the client."""
    for i in range(12):
        reply = via_requests(f"http://h2c.local/echo/seq-{i}", proxy=proxy.proxy_url)
        assert reply.status == 200, (i, reply.body[:300])
    lines = wait_log(h2nginx, "/echo/seq-", 12)
    assert len(connection_serials(lines)) >= 3, lines


def test_te_trailers_reaches_an_h2_upstream(proxy, h2nginx):
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=TIMEOUT) as sock:
        sock.sendall(b"GET http://h2.local/echo/te HTTP/1.1\r\nHost: h2.local\r\nConnection: TE, close\r\n"
                     b"TE: trailers\r\n\r\n")
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    assert raw.startswith(b"HTTP/1.1 200"), raw[:300]
    line = wait_log(h2nginx, "/echo/te")[0]
    assert 'te="trailers"' in line, line


def test_an_idle_connection_is_pinged_then_closed_with_goaway(latchkey, h2peer):
    """With no stream open the proxy pings the upstream (twice per idle timeout at least) and, once the idle
    timeout passed, says GOAWAY and closes. Two requests make two idle spells: the keep-alive timer armed in
    the first one serves the second."""
    lk = latchkey(f"""
workers: 1
limits:
  idle_timeout_ms: 1200
routes:
  - name: h2-peer-idle
    host: idle.local
    upstream: http://127.0.0.1:{h2peer.port}
    http2: always
""")
    before = h2peer.connections
    assert via_requests("http://idle.local/echo/idle", proxy=lk.proxy_url).status == 200
    assert via_requests("http://idle.local/echo/idle-again", proxy=lk.proxy_url).status == 200
    number = h2peer.connections
    assert number == before + 1, "both requests on one connection"
    wait_until(lambda: (number, "goaway") in h2peer.frames, timeout=10, what="GOAWAY from the idle proxy connection")
    seen = [kind for n, kind in h2peer.frames if n == number]
    assert seen.index("ping") < seen.index("goaway"), seen


def test_an_upgrade_request_goes_over_http11_even_to_an_h2_upstream(proxy, h2nginx):
    """HTTP/2 has no Upgrade (RFC 9113 §8.6), and nginx does not offer extended CONNECT (RFC 8441: no
    SETTINGS_ENABLE_CONNECT_PROTOCOL): a WebSocket handshake goes to the same upstream over HTTP/1.1 (a TLS
    context offering only http/1.1) and never as an HTTP/2 request. Hypercorn, which does offer it, gets an
    extended CONNECT instead (test_h2_websocket.py)."""
    assert via_requests("http://h2.local/echo/before-upgrade", proxy=proxy.proxy_url).status == 200
    reply = via_requests("http://h2.local/echo/upgrade-h1", proxy=proxy.proxy_url,
                         headers=[("Connection", "Upgrade"), ("Upgrade", "websocket")])
    assert reply.status in (200, 400, 426), reply.body[:300]
    line = wait_log(h2nginx, "/echo/upgrade-h1")[0]
    assert " HTTP/1.1 " in line, line
    assert " HTTP/2.0 " in wait_log(h2nginx, "/echo/before-upgrade")[0]


def test_every_tls_connection_to_the_upstream_is_one_counted_handshake(proxy, h2nginx):
    """latchkey_upstream_tls_handshakes_total counts each TLS connection once, whether it was opened as
    HTTP/1.1 and taken over for h2, opened as HTTP/2 from the start, or kept HTTP/1.1 (http2: never, an
    Upgrade; those two routes share their connections: same upstream, same TLS settings)."""
    assert via_requests("http://h2.local/echo/count-handshakes", proxy=proxy.proxy_url).status == 200
    tls_lines = [line for line in h2nginx.log_lines() if line.startswith(f"{h2nginx.tls_port} ")]
    samples = scrape_metrics(proxy)
    handshakes = sum(metric_sum(samples, "latchkey_upstream_tls_handshakes_total", route=route)
                     for route in ("h2-tls", "h1-tls"))
    assert handshakes == len(connection_serials(tls_lines)), (handshakes, tls_lines)
