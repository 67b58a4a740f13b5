"""Issue 9, CONNECT tunnels: each one is in the access log when it opens and when it closes (host:port,
duration, bytes each way, why it closed), and an idle tunnel is closed after `tunnel_idle_timeout_ms`.
CONNECT passthrough reaches only `connect_ports` (default [443]), so each test lists its peer's port."""

import re
import socket

from latchkey_e2e import RawConnection


def open_tunnel(lk, port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", lk.port), timeout=20)
    s.sendall(f"CONNECT 127.0.0.1:{port} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(1)
        assert chunk, head
        head += chunk
    assert head.startswith(b"HTTP/1.1 200"), head
    return s


def test_tunnel_open_and_close_are_logged_with_bytes_each_way(latchkey, echo):
    lk = latchkey(f"unmatched: passthrough\nconnect_ports: [{echo.port}]\n")
    request = b"GET /echo/tunnel-log HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    with open_tunnel(lk, echo.port) as s:
        lk.wait_for_log(rf"CONNECT 127\.0\.0\.1:{echo.port} open")
        s.sendall(request)
        response = b""
        while chunk := s.recv(65536):
            response += chunk
    assert response.startswith(b"HTTP/1.1 200"), response[:200]
    line = lk.wait_for_log(rf"CONNECT 127\.0\.0\.1:{echo.port} 200 closed: \S+.*").group(0)
    assert f"latchkey.bytes_in={len(request)}" in line, line
    assert f"latchkey.bytes_out={len(response)}" in line, line
    assert re.search(r"latchkey\.duration_ms=\d+", line), line
    assert re.search(r"latchkey\.outcome=(tunnel_closed|upstream_closed|client_closed)", line), line


def test_idle_tunnel_is_closed(latchkey, echo):
    lk = latchkey(f"unmatched: passthrough\nconnect_ports: [{echo.port}]\nlimits:\n  tunnel_idle_timeout_ms: 300\n")
    with open_tunnel(lk, echo.port) as s:
        s.settimeout(20)
        assert s.recv(1) == b""  # closed by the proxy, not by us
    line = lk.wait_for_log(rf"CONNECT 127\.0\.0\.1:{echo.port} 200 closed: idle_timeout.*").group(0)
    assert "latchkey.bytes_in=0" in line and "latchkey.bytes_out=0" in line, line


def test_active_tunnel_outlives_the_idle_timeout(latchkey, echo):
    lk = latchkey(f"unmatched: passthrough\nconnect_ports: [{echo.port}]\nlimits:\n  tunnel_idle_timeout_ms: 1500\n")
    with open_tunnel(lk, echo.port) as s:
        # Three requests 0.6 s apart (1.8 s in all): the tunnel is never idle for 1.5 s.
        for i in range(3):
            s.sendall(f"GET /echo/alive-{i} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            status, _, _ = RawConnection.over(s).read_response()
            assert status == 200
            s.settimeout(0.6)
            try:
                assert s.recv(1) == b"", "unexpected bytes"
                raise AssertionError("tunnel closed while in use")
            except socket.timeout:
                pass
            s.settimeout(20)


def test_failed_tunnel_is_logged(latchkey):
    from latchkey_e2e import closed_port
    port = closed_port()
    lk = latchkey(f"unmatched: passthrough\nconnect_ports: [{port}]\n")
    with socket.create_connection(("127.0.0.1", lk.port), timeout=20) as s:
        s.sendall(f"CONNECT 127.0.0.1:{port} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        assert s.recv(65536).startswith(b"HTTP/1.1 502")
    lk.wait_for_log(r"CONNECT .* 502 .*upstream_connect_failed")
