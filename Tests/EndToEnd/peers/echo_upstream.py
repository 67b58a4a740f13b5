#!/usr/bin/env python3
"""Echo upstream for Latchkey's end-to-end tests and demo (Python standard library only).

An HTTP/1.1 keep-alive, threaded server that answers every request with 200 and a JSON
description of what it received, so tests can assert what reached the upstream:

    {"method", "path" (raw request-target), "headers" ([[name, value], ...] in received order,
     duplicates kept), "body_length", "body_sha256", "body_preview" (first 4 KiB, UTF-8 with
     replacement), "trailers", "connection_id" (one counter per accepted TCP connection),
     "request_index" (requests seen on this connection, 1-based), "client_port", "http_version"}

Special paths (the query string selects the behaviour; everything else echoes):
    /status/NNN            answer status NNN with the JSON body (none for 1xx/204/304)
    /stream?bytes=N        answer N bytes, chunked; X-Stream-Sha256 carries their SHA-256
    /trailers              echo, chunked, then a trailer section: X-Body-Sha256 (of the echo body),
                           each request trailer as X-Echo-<name>, and Set-Cookie + Content-Length
                           (fields a proxy must not forward in trailers)
    /slow?ms=N             sleep N ms, then echo
    /redirect?to=URL&code=302   answer `code` with Location: URL
    /control/fail?path=P&count=N&status=503   the next N requests to path P answer `status`
    /control/stats         {"requests": {path: count}, "connections": n, "failures": {...}}
    /control/reset         forget counters, armed failures and keyed hits (also /reset)
    /control/reset?key=K   forget only key K's hits

Keyed paths (retry and redirect tests): the segment after the prefix is a key; every request to a
keyed path is recorded under its key (so tests sharing this server don't see each other), and its
failure script counts that key's requests (request n is the key's n-th, 1-based):
    /echo/<key>                      echo
    /flaky/<key>?fail=N&status=503   requests 1..N answer `status` (with the echo JSON), then echo
    /retry-after/<key>?fail=N&after=1&status=429
                                     requests 1..N answer `status` with `Retry-After: <after>`;
                                     `after=date:S` sends an IMF-fixdate S seconds ahead instead
    /slow/<key>?ms=N&fail=K          requests 1..K (default: all) sleep N ms before echoing
    /gate/<key>?count=N&ms=T         each request waits until N requests to the key have arrived, then
                                     echoes; after T ms (default 15000) of waiting it answers 504 instead
                                     (proves N requests were in flight at once, however they were spread)
    /drop/<key>?fail=N&mode=close    requests 1..N get no response: the connection is closed
                                     (`mode=partial`: after half a status line and header)
    /redirect/<key>?to=URL&code=302&fail=N
                                     requests 1..N (default: all) answer `code` with Location: URL
    /loop/<key>?code=302             answers `code` with Location: its own request-target
    /hits/<key>                      {"key", "count", "attempts": [{"method", "path", "headers",
                                     "body_length", "body_sha256", "time"}, ...]} (time: monotonic s)
HEAD answers the same headers as GET, without a body.

Usage: echo_upstream.py [--host 127.0.0.1] [--port 0]
With --port 0 the kernel picks a port; `LISTENING <port>` is printed on stdout (flushed) once
the socket accepts connections.
"""

import argparse
import email.utils
import hashlib
import http.server
import itertools
import json
import socketserver
import sys
import threading
import time
import urllib.parse

_connection_ids = itertools.count(1)
_connections_accepted = 0
_state_lock = threading.Lock()
_request_counts: dict[str, int] = {}
_armed_failures: dict[str, list] = {}  # path -> [remaining, status]
_keyed_hits: dict[str, list] = {}  # key -> [attempt record, ...]
_keyed_hit_recorded = threading.Condition(_state_lock)  # notified whenever a keyed request is recorded
KEYED_PREFIXES = ("echo", "flaky", "retry-after", "slow", "gate", "drop", "redirect", "loop")

STREAM_PATTERN = bytes(range(251))  # prime length, so chunk boundaries never line up with it


def stream_bytes(n: int) -> bytes:
    """The deterministic body of /stream?bytes=n (tests recompute it)."""
    reps = n // len(STREAM_PATTERN) + 1
    return (STREAM_PATTERN * reps)[:n]


class BadRequest(Exception):
    pass


class EchoHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "latchkey-echo/1"
    sys_version = ""

    def setup(self):
        super().setup()
        global _connections_accepted
        with _state_lock:
            self.connection_id = next(_connection_ids)
            _connections_accepted += 1
        self.request_index = 0

    def version_string(self):
        return self.server_version

    def log_message(self, fmt, *args):
        sys.stderr.write("echo[%d] %s\n" % (self.connection_id, fmt % args))

    def handle_expect_100(self):
        self.log_message("Expect: 100-continue -> 100")
        return super().handle_expect_100()

    # Every method goes to _handle (BaseHTTPRequestHandler looks up do_<METHOD>).
    def __getattr__(self, name):
        if name.startswith("do_"):
            return self._handle
        raise AttributeError(name)

    # -- body reading -----------------------------------------------------------------------------

    def _read_exact(self, n: int, digest) -> int:
        remaining = n
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, 65536))
            if not chunk:
                raise BadRequest("body ended early")
            digest.update(chunk)
            self._preview(chunk)
            remaining -= len(chunk)
        return n

    def _preview(self, chunk: bytes):
        room = 4096 - len(self._preview_buf)
        if room > 0:
            self._preview_buf += chunk[:room]

    def _read_chunked(self, digest) -> int:
        total = 0
        while True:
            line = self.rfile.readline(65537)
            if not line.endswith(b"\r\n"):
                raise BadRequest("bad chunk-size line")
            size_text = line[:-2].split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise BadRequest("bad chunk size %r" % size_text)
            if size == 0:
                break
            total += self._read_exact(size, digest)
            if self.rfile.read(2) != b"\r\n":
                raise BadRequest("chunk data not followed by CRLF")
        while True:  # trailer section
            line = self.rfile.readline(65537)
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode("latin-1").rstrip("\r\n").partition(":")
            self._trailers.append([name, value.strip()])
        return total

    def _read_body(self):
        digest = hashlib.sha256()
        te = ",".join(self.headers.get_all("Transfer-Encoding") or []).lower()
        if te:
            if te.split(",")[-1].strip() != "chunked":
                raise BadRequest("unsupported transfer-encoding %r" % te)
            length = self._read_chunked(digest)
        else:
            lengths = set(v.strip() for v in (self.headers.get_all("Content-Length") or []))
            if len(lengths) > 1:
                raise BadRequest("conflicting Content-Length")
            length = self._read_exact(int(lengths.pop()), digest) if lengths else 0
        return length, digest.hexdigest()

    # -- responses --------------------------------------------------------------------------------

    def _send(self, status: int, body: bytes, extra_headers=(), content_type="application/json"):
        self.send_response(status)
        no_body = status in (204, 304) or 100 <= status < 200
        if not no_body:
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
        for name, value in extra_headers:
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD" and not no_body:
            self.wfile.write(body)

    def _send_stream(self, n: int):
        body = stream_bytes(n)
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("X-Stream-Sha256", hashlib.sha256(body).hexdigest())
        self.send_header("X-Stream-Bytes", str(n))
        self.end_headers()
        if self.command == "HEAD":
            return
        view = memoryview(body)
        for start in range(0, n, 65536):
            piece = view[start:start + 65536]
            self.wfile.write(b"%x\r\n" % len(piece))
            self.wfile.write(piece)
            self.wfile.write(b"\r\n")
        self.wfile.write(b"0\r\n\r\n")

    def _send_with_trailers(self, body: bytes):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Trailer", "X-Body-Sha256")
        self.end_headers()
        self.wfile.write(b"%x\r\n%s\r\n0\r\n" % (len(body), body))
        trailers = [("X-Body-Sha256", hashlib.sha256(body).hexdigest())]
        trailers += [(f"X-Echo-{name}", value) for name, value in self._trailers]
        trailers += [("Set-Cookie", "sneaky=1"), ("Content-Length", "99")]
        self.wfile.write(b"".join(f"{name}: {value}\r\n".encode() for name, value in trailers) + b"\r\n")

    def _handle(self):
        self.request_index += 1
        self._preview_buf = b""
        self._trailers = []
        try:
            body_length, body_sha = self._read_body()
        except (BadRequest, ValueError) as error:
            self.close_connection = True
            self._send(400, json.dumps({"error": "bad_request", "detail": str(error)}).encode())
            return

        split = urllib.parse.urlsplit(self.path)
        path = split.path
        query = dict(urllib.parse.parse_qsl(split.query))
        if path.startswith("http://") or path.startswith("https://"):
            path = urllib.parse.urlsplit(path).path

        if not path.startswith("/control/"):
            with _state_lock:
                _request_counts[path] = _request_counts.get(path, 0) + 1
                armed = _armed_failures.get(path)
                fail_status = None
                if armed and armed[0] > 0:
                    armed[0] -= 1
                    fail_status = armed[1]

        echo = {
            "method": self.command,
            "path": self.path,
            "http_version": self.request_version,
            "headers": [[name, value] for name, value in self.headers.items()],
            "body_length": body_length,
            "body_sha256": body_sha,
            "body_preview": self._preview_buf.decode("utf-8", "replace"),
            "trailers": self._trailers,
            "connection_id": self.connection_id,
            "request_index": self.request_index,
            "client_port": self.client_address[1],
        }

        def answer(status=200, extra=()):
            self._send(status, (json.dumps(echo) + "\n").encode(), extra)

        keyed = self._keyed(path, query, echo, body_length, body_sha)
        if keyed is not None:
            return keyed()
        if path == "/reset":
            path = "/control/reset"
        if not path.startswith("/control/") and fail_status is not None:
            echo["injected_failure"] = True
            return answer(fail_status)
        if path.startswith("/status/"):
            try:
                status = int(path[len("/status/"):].split("/")[0])
            except ValueError:
                status = 400
            return answer(status)
        if path == "/stream":
            return self._send_stream(int(query.get("bytes", "0")))
        if path == "/trailers":
            return self._send_with_trailers((json.dumps(echo) + "\n").encode())
        if path == "/slow":
            time.sleep(int(query.get("ms", "1000")) / 1000.0)
            return answer()
        if path == "/redirect":
            return answer(int(query.get("code", "302")), [("Location", query.get("to", "/"))])
        if path == "/control/fail":
            target = query.get("path", "/flaky")
            with _state_lock:
                _armed_failures[target] = [int(query.get("count", "1")), int(query.get("status", "503"))]
            return self._send(200, json.dumps({"armed": target}).encode())
        if path == "/control/stats":
            with _state_lock:
                stats = {
                    "requests": dict(_request_counts),
                    "failures": {p: {"remaining": a[0], "status": a[1]} for p, a in _armed_failures.items()},
                    "connections": _connections_accepted,
                }
            return self._send(200, json.dumps(stats).encode())
        if path == "/control/reset":
            with _state_lock:
                if "key" in query:
                    _keyed_hits.pop(query["key"], None)
                else:
                    _request_counts.clear()
                    _armed_failures.clear()
                    _keyed_hits.clear()
            return self._send(200, b"{}")
        return answer()


    # -- keyed paths ------------------------------------------------------------------------------

    def _keyed(self, path, query, echo, body_length, body_sha):
        """The responder for a keyed path (see the module docstring), or None for any other path.
        Records the request under its key first."""
        parts = path.split("/", 3)  # ["", prefix, key, rest?]
        if len(parts) < 3 or not parts[2]:
            return None
        kind, key = parts[1], urllib.parse.unquote(parts[2])
        if kind == "hits":
            with _state_lock:
                attempts = list(_keyed_hits.get(key, []))
            body = {"key": key, "count": len(attempts), "attempts": attempts}
            return lambda: self._send(200, json.dumps(body).encode())
        if kind not in KEYED_PREFIXES:
            return None
        with _state_lock:
            hits = _keyed_hits.setdefault(key, [])
            hits.append({
                "method": self.command, "path": self.path, "headers": echo["headers"],
                "body_length": body_length, "body_sha256": body_sha, "time": time.monotonic(),
            })
            n = len(hits)
            _keyed_hit_recorded.notify_all()
        echo["key"] = key
        echo["hit"] = n

        def failing(default: int = 0) -> bool:
            return n <= int(query.get("fail", str(default)))

        def answer(status=200, extra=()):
            self._send(status, (json.dumps(echo) + "\n").encode(), extra)

        if kind == "flaky" and failing():
            return lambda: answer(int(query.get("status", "503")))
        if kind == "retry-after" and failing():
            after = query.get("after", "1")
            if after.startswith("date:"):
                after = email.utils.formatdate(time.time() + float(after[5:]), usegmt=True)
            return lambda: answer(int(query.get("status", "429")), [("Retry-After", after)])
        if kind == "slow" and failing(default=1 << 30):
            def slow():
                time.sleep(int(query.get("ms", "1000")) / 1000.0)
                answer()
            return slow
        if kind == "gate":
            def gate():
                count = int(query.get("count", "2"))
                with _keyed_hit_recorded:
                    opened = _keyed_hit_recorded.wait_for(
                        lambda: len(_keyed_hits.get(key, [])) >= count, timeout=int(query.get("ms", "15000")) / 1000.0)
                answer(200 if opened else 504)
            return gate
        if kind == "drop" and failing():
            def drop():
                self.close_connection = True
                if query.get("mode") == "partial":
                    self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Le")
                    self.wfile.flush()
            return drop
        if kind == "redirect" and failing(default=1 << 30):
            location = query.get("to", "/")
            return lambda: answer(int(query.get("code", "302")), [("Location", location)])
        if kind == "loop":
            return lambda: answer(int(query.get("code", "302")), [("Location", self.path)])
        return answer


class EchoServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    server = EchoServer((args.host, args.port), EchoHandler)
    print("LISTENING %d" % server.server_address[1], flush=True)
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
