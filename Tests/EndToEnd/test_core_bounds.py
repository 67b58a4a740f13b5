"""Issue 9, bounded resources: one connection cannot grow the proxy's memory (pipelined requests behind a
slow one, bytes after a refused CONNECT, a client that does not read its answers, the admin listener), the
listeners stop accepting at `max_connections` and when out of descriptors without spinning, and recover."""

import os
import resource
import socket
import threading
import time

import pytest

from latchkey_e2e import skip_under_sanitizer, RawConnection, admin_get, raw_exchange, scrape_metrics, metric_sum, wait_until, via_requests

MIB = 1024 * 1024
# What one connection may add to the proxy's peak RSS (it was 600+ MB before the bounds).
RSS_ALLOWANCE = 32 * MIB
FLOOD_BYTES = 96 * MIB
FLOOD_SECONDS = 4.0


def status_kib(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def peak_rss(lk) -> int:
    """VmHWM: the process's peak resident set, in bytes."""
    return status_kib(lk.proc.pid, "VmHWM") * 1024


def current_rss(lk) -> int:
    return status_kib(lk.proc.pid, "VmRSS") * 1024


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # utime and stime are fields 14 and 15 of stat(5); after "pid (comm)" they are at 11 and 12.
    return (int(fields[11]) + int(fields[12])) / 100.0  # USER_HZ is 100 on Linux


def settled_peak_rss(lk) -> int:
    """VmHWM once the proxy has stopped working through what it read (its CPU time stands still for half
    a second; at most 20 s): measured earlier, an unbounded proxy may not have grown yet."""
    last = [cpu_seconds(lk.proc.pid), time.monotonic()]

    def quiet():
        now = cpu_seconds(lk.proc.pid)
        if now != last[0]:
            last[0], last[1] = now, time.monotonic()
        return time.monotonic() - last[1] >= 0.5
    wait_until(quiet, what="the proxy idle")
    return peak_rss(lk)


def flood(sock: socket.socket, chunk: bytes, total: int = FLOOD_BYTES, seconds: float = FLOOD_SECONDS) -> int:
    """Sends `chunk` repeatedly until `total` bytes, `seconds` pass, or the peer stops reading or closes.
    Returns the bytes the kernel accepted."""
    sent = 0
    deadline = time.monotonic() + seconds
    sock.settimeout(0.25)
    while sent < total and time.monotonic() < deadline:
        try:
            sent += sock.send(chunk)
        except socket.timeout:
            continue  # the proxy stopped reading: keep pushing until the deadline
        except (BrokenPipeError, ConnectionResetError, OSError):
            break
    return sent


def serves_another_client(lk, echo, key: str) -> None:
    reply = via_requests(f"{lk.base_url}/b/echo/{key}", timeout=20)
    assert reply.status == 200, reply.body


@pytest.fixture
def bounded(latchkey, echo):
    lk = latchkey(f"""
unmatched: deny
routes:
  - name: bounded
    path_prefix: /b
    strip_prefix: true
    upstream: {echo.url}
""")
    serves_another_client(lk, echo, "warm")
    return lk


@skip_under_sanitizer
def test_pipelined_heads_behind_a_slow_request_do_not_grow_memory(bounded, echo):
    lk = bounded
    before = current_rss(lk)
    small = b"GET /b/echo/pipelined HTTP/1.1\r\nHost: b.local\r\nX-Pad: " + b"p" * 40 + b"\r\n\r\n"
    with socket.create_connection(("127.0.0.1", lk.port)) as s:
        s.sendall(b"GET /b/slow?ms=3000 HTTP/1.1\r\nHost: b.local\r\n\r\n")
        sent = flood(s, small * 1000)
    assert sent > 0
    grown = peak_rss(lk) - before
    assert grown < RSS_ALLOWANCE, f"peak RSS grew by {grown / MIB:.1f} MiB after {sent / MIB:.1f} MiB of pipelined heads"
    serves_another_client(lk, echo, "after-heads")


@skip_under_sanitizer
def test_pipelined_body_behind_a_slow_request_does_not_grow_memory(bounded, echo):
    lk = bounded
    before = current_rss(lk)
    with socket.create_connection(("127.0.0.1", lk.port)) as s:
        s.sendall(
            b"GET /b/slow?ms=3000 HTTP/1.1\r\nHost: b.local\r\n\r\n"
            + f"POST /b/echo/big HTTP/1.1\r\nHost: b.local\r\nContent-Length: {FLOOD_BYTES * 2}\r\n\r\n".encode())
        sent = flood(s, b"x" * 65536)
    grown = peak_rss(lk) - before
    assert grown < RSS_ALLOWANCE, f"peak RSS grew by {grown / MIB:.1f} MiB after {sent / MIB:.1f} MiB of body"
    serves_another_client(lk, echo, "after-body")


@skip_under_sanitizer
def test_bytes_after_a_refused_connect_are_not_kept_and_the_connection_closes(bounded, echo):
    lk = bounded
    before = current_rss(lk)
    with socket.create_connection(("127.0.0.1", lk.port)) as s:
        s.sendall(b"CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n")
        started = time.monotonic()
        # As fast as we can for up to 8 s: the proxy must close within its linger (2 s), not read for ever.
        sent = flood(s, b"\x16\x03\x01" + b"t" * 65533, total=1 << 40, seconds=8.0)
        took = time.monotonic() - started
        assert took < 6.0, f"still accepting bytes {took:.1f} s after a refused CONNECT ({sent / MIB:.0f} MiB)"
        s.settimeout(10)
        answer = b""
        try:
            while chunk := s.recv(65536):
                answer += chunk
        except (ConnectionResetError, socket.timeout):
            pass
    grown = peak_rss(lk) - before
    assert grown < RSS_ALLOWANCE, f"peak RSS grew by {grown / MIB:.1f} MiB after {sent / MIB:.1f} MiB behind a refused CONNECT"
    assert answer.startswith(b"HTTP/1.1 403"), answer[:200]
    assert b"Connection: close" in answer.split(b"\r\n\r\n")[0]
    serves_another_client(lk, echo, "after-connect")


@skip_under_sanitizer
def test_a_client_that_does_not_read_its_answers_stalls_itself_not_the_proxy(bounded, echo):
    lk = bounded
    before = current_rss(lk)
    request = b"GET /b/stream?bytes=20000 HTTP/1.1\r\nHost: b.local\r\n\r\n"
    with socket.create_connection(("127.0.0.1", lk.port)) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sent = flood(s, request * 1000, total=16 * MIB, seconds=FLOOD_SECONDS)
        # Each 50-byte request is answered with 20 KB: unbounded, every answer is held for this client.
        grown = settled_peak_rss(lk) - before
        assert grown < RSS_ALLOWANCE, f"peak RSS grew by {grown / MIB:.1f} MiB ({sent / MIB:.1f} MiB of requests)"
        serves_another_client(lk, echo, "while-unread")


@skip_under_sanitizer
def test_admin_pipelined_metrics_without_reading_stay_bounded(latchkey, echo):
    # 20 routes make /metrics ~60 KiB (the review's 3,000 unread answers held 170 MB).
    routes = "".join(f"  - {{name: r{i}, path_prefix: /r{i}, upstream: '{echo.url}'}}\n" for i in range(20))
    lk = latchkey("unmatched: deny\nroutes:\n" + routes)
    admin_get(lk, "/metrics")
    before = current_rss(lk)
    with socket.create_connection(("127.0.0.1", lk.admin_port)) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sent = flood(s, b"GET /metrics HTTP/1.1\r\nHost: admin\r\n\r\n" * 3000, total=3000 * 38, seconds=3.0)
        grown = settled_peak_rss(lk) - before
        assert grown < RSS_ALLOWANCE, f"peak RSS grew by {grown / MIB:.1f} MiB after {sent} bytes of /metrics requests"
        assert admin_get(lk, "/healthz").status == 200


def test_admin_idle_connection_is_closed(latchkey):
    lk = latchkey("unmatched: deny\nlimits:\n  idle_timeout_ms: 300\n")
    with RawConnection(lk.admin_port) as conn:
        assert conn.is_closed_by_peer(timeout=10)


def test_admin_connection_cap(latchkey):
    lk = latchkey("unmatched: deny\nlimits:\n  admin_max_connections: 2\n")
    held = [RawConnection(lk.admin_port) for _ in range(2)]
    try:
        for conn in held:
            status, _, _ = conn.exchange(b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n")
            assert status == 200
        lk.wait_for_log(r"admin listener at its connection cap \(2 open\)")
        with socket.create_connection(("127.0.0.1", lk.admin_port), timeout=10) as waiting:
            waiting.sendall(b"GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            waiting.settimeout(0.5)
            with pytest.raises(socket.timeout):
                waiting.recv(1)  # held in the backlog, not answered
            held.pop().close()
            waiting.settimeout(10)
            assert waiting.recv(65536).startswith(b"HTTP/1.1 200")
    finally:
        for conn in held:
            conn.close()


def test_max_connections_holds_new_connections_in_the_backlog_until_one_closes(latchkey, echo):
    lk = latchkey(f"""
unmatched: deny
limits:
  max_connections: 3
routes:
  - name: capped
    path_prefix: /b
    strip_prefix: true
    upstream: {echo.url}
""")
    held = [RawConnection(lk.port) for _ in range(3)]
    try:
        for conn in held:
            status, _, _ = conn.exchange(b"GET /b/echo/cap HTTP/1.1\r\nHost: b.local\r\n\r\n")
            assert status == 200
        lk.wait_for_log(r"proxy listener at its connection cap \(3 open\)")
        with socket.create_connection(("127.0.0.1", lk.port), timeout=10) as waiting:
            waiting.sendall(b"GET /b/echo/cap-waiting HTTP/1.1\r\nHost: b.local\r\nConnection: close\r\n\r\n")
            waiting.settimeout(0.5)
            with pytest.raises(socket.timeout):
                waiting.recv(1)  # held in the backlog, not answered
            held.pop().close()
            waiting.settimeout(10)
            assert waiting.recv(65536).startswith(b"HTTP/1.1 200")
        samples = scrape_metrics(lk)
        assert metric_sum(samples, "latchkey_listener_accept_pauses_total", listener="proxy",
                          reason="max_connections") >= 1
    finally:
        for conn in held:
            conn.close()


def test_out_of_descriptors_pauses_accepting_without_spinning_and_recovers(latchkey, echo):
    def low_descriptor_limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))

    lk = latchkey(f"""
unmatched: deny
routes:
  - name: fds
    path_prefix: /b
    strip_prefix: true
    upstream: {echo.url}
""", preexec_fn=low_descriptor_limit)
    clients = []
    try:
        for _ in range(80):
            clients.append(socket.create_connection(("127.0.0.1", lk.port), timeout=10))
        wait_until(lambda: len(os.listdir(f"/proc/{lk.proc.pid}/fd")) >= 60, what="the proxy at its descriptor limit")
        start = cpu_seconds(lk.proc.pid)
        window = time.monotonic() + 1.5
        while time.monotonic() < window:
            time.sleep(0.1)  # a measurement window, not a synchronisation: how much CPU does waiting cost?
        used = cpu_seconds(lk.proc.pid) - start
        assert used < 0.5, f"the proxy used {used:.2f} s of CPU in 1.5 s while out of descriptors (spinning)"
        lk.wait_for_log(r"proxy listener out of file descriptors")
    finally:
        for c in clients:
            c.close()

    def served():
        try:
            return via_requests(f"{lk.base_url}/b/echo/fds", timeout=5).status == 200
        except Exception:
            return False
    wait_until(served, what="a request served after the descriptors came back")
    assert "file-descriptor limit (64)" in lk.log_text()  # the start-up warning names the shortfall


def test_header_timeout_cuts_a_trickling_head_with_408(latchkey):
    lk = latchkey("unmatched: deny\nlimits:\n  header_timeout_ms: 800\n  idle_timeout_ms: 60000\n")
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", lk.port), timeout=20) as s:
        s.sendall(b"GET /slowloris HTTP/1.1\r\n")
        stop = threading.Event()

        def trickle():
            while not stop.is_set():
                try:
                    s.send(b"X")
                except OSError:
                    return
                stop.wait(0.1)
        t = threading.Thread(target=trickle, daemon=True)
        t.start()
        answer = b""
        try:
            while chunk := s.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass
        stop.set()
        t.join()
    took = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"request_header_timeout" in answer
    assert took < 10, f"closed after {took:.1f} s (header timeout 0.8 s)"
    lk.wait_for_log(r"408 .*request_header_timeout")


def test_header_timeout_starts_at_the_next_heads_first_byte(latchkey, echo):
    lk = latchkey(f"""
unmatched: deny
limits:
  header_timeout_ms: 800
routes:
  - name: heads
    path_prefix: /b
    strip_prefix: true
    upstream: {echo.url}
""")
    with RawConnection(lk.port) as conn:
        status, _, _ = conn.exchange(b"GET /b/echo/first HTTP/1.1\r\nHost: b.local\r\n\r\n")
        assert status == 200
        conn.send(b"GET /b/echo/second HTTP/1.1\r\nHo")
        result = conn.receive()
        assert result.startswith(b"HTTP/1.1 408"), result[:200]


def test_a_connection_that_sends_nothing_is_closed_after_the_header_timeout(latchkey):
    lk = latchkey("unmatched: deny\nlimits:\n  header_timeout_ms: 500\n")
    with RawConnection(lk.port) as conn:
        assert conn.is_closed_by_peer(timeout=10)


def test_bounds_config_is_validated(latchkey_launcher):
    from latchkey_e2e import run_latchkey_cli
    path = latchkey_launcher.write_config("limits:\n  max_connections: 0\n  header_timeout_ms: 99999999999\n")
    result = run_latchkey_cli(["check", "--config", str(path)])
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "limits.max_connections" in output and "limits.header_timeout_ms" in output, output


def test_client_idle_timeout_counts_from_the_last_response(latchkey, echo):
    """The client's idle timer is armed once and re-armed on expiry for what remains (issue 11): a connection
    kept busy past several timeouts stays open, and one left idle closes after about one timeout."""
    lk = latchkey(f"""
unmatched: deny
limits:
  idle_timeout_ms: 400
connections:
  svc: {{type: bearer, token: "idle-token-123"}}
routes:
  - {{path_prefix: /b, strip_prefix: true, upstream: "{echo.url}", connection: svc}}
""")
    request = b"GET /b/echo/idle HTTP/1.1\r\nHost: b.local\r\n\r\n"
    with RawConnection(lk.port) as conn:
        started = time.monotonic()
        # Requests every 150 ms for 1.2 s: three idle timeouts pass, but never 400 ms without a request.
        while True:
            status, _, _ = conn.exchange(request)
            assert status == 200
            idle_from = time.monotonic()
            if idle_from - started >= 1.2:
                break
            time.sleep(0.15)  # pacing the client, not waiting for a result
        assert conn.is_closed_by_peer(timeout=10)
        waited = time.monotonic() - idle_from
        assert waited >= 0.3, f"closed {waited:.2f}s after the last response, before the 400 ms idle timeout"
