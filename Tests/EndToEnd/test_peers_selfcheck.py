"""The test peers themselves work (independent of latchkey), so a failing e2e test points at the
proxy, not at the harness."""

import hashlib
import json
import socket

from latchkey_e2e import RawConnection, curl, header_values, raw_exchange


def test_echo_keeps_order_duplicates_and_connection(echo):
    with RawConnection(echo.port) as conn:
        first = json.loads(conn.exchange(b"GET /a?b=1 HTTP/1.1\r\nHost: e\r\nX-Dup: 1\r\nX-Dup: 2\r\n\r\n")[2])
        second = json.loads(conn.exchange(b"GET /c HTTP/1.1\r\nHost: e\r\n\r\n")[2])
    assert first["path"] == "/a?b=1"
    assert header_values(first, "x-dup") == ["1", "2"]
    assert first["connection_id"] == second["connection_id"]
    assert second["request_index"] == 2


def test_echo_decodes_chunked_body(echo):
    body = b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"
    with RawConnection(echo.port) as conn:
        status, _, raw = conn.exchange(
            b"POST /p HTTP/1.1\r\nHost: e\r\nTransfer-Encoding: chunked\r\n\r\n" + body)
    seen = json.loads(raw)
    assert status == 200
    assert seen["body_length"] == 11
    assert seen["body_sha256"] == hashlib.sha256(b"hello world").hexdigest()
    assert seen["trailers"] == [["X-Trailer", "t"]]


def test_echo_special_paths(echo):
    with RawConnection(echo.port) as conn:
        assert conn.exchange(b"GET /status/204 HTTP/1.1\r\nHost: e\r\n\r\n")[:3:2] == (204, b"")
        assert conn.exchange(b"HEAD /x HTTP/1.1\r\nHost: e\r\n\r\n", method="HEAD")[2] == b""
        status, headers, body = conn.exchange(b"GET /stream?bytes=100000 HTTP/1.1\r\nHost: e\r\n\r\n")
        assert status == 200 and len(body) == 100000
        assert dict(headers)["X-Stream-Sha256"] == hashlib.sha256(body).hexdigest()
        conn.exchange(b"GET /control/fail?path=/flaky-self&count=1&status=503 HTTP/1.1\r\nHost: e\r\n\r\n")
        assert conn.exchange(b"GET /flaky-self HTTP/1.1\r\nHost: e\r\n\r\n")[0] == 503
        assert conn.exchange(b"GET /flaky-self HTTP/1.1\r\nHost: e\r\n\r\n")[0] == 200
    assert echo.stats()["requests"]["/flaky-self"] == 2


def test_nginx_tls_with_test_ca(nginx_tls, pki):
    reply = curl(f"https://localhost:{nginx_tls.tls_port}/probe?x=1", extra=["--cacert", str(pki.ca_cert)],
                 headers=[("Authorization", "Bearer t"), ("X-API-Key", "k")])
    assert reply.status == 200
    seen = reply.json()
    assert seen.pop("tls_protocol") in ("TLSv1.2", "TLSv1.3")  # nginx's default protocols differ by version
    assert seen == {"authorization": "Bearer t", "x_api_key": "k", "host": "localhost",
                    "uri": "/probe?x=1", "method": "GET", "scheme": "https", "tls_session_reused": "."}
    reply = curl(f"https://127.0.0.1:{nginx_tls.tls_port}/", extra=["--cacert", str(pki.ca_cert)])
    assert reply.status == 200  # IP SAN


def test_nginx_untrusted_ca_rejected(nginx_tls, pki):
    reply = curl(f"https://localhost:{nginx_tls.tls_port}/", extra=["--cacert", str(pki.untrusted_ca_cert)],
                 check=False)
    assert reply.returncode == 60  # peer certificate cannot be authenticated


def test_nginx_plain_static(nginx_tls):
    reply = curl(f"http://127.0.0.1:{nginx_tls.http_port}/static")
    assert reply.status == 200 and reply.body == b"latchkey static ok\n"


def test_raw_exchange_sees_close(echo):
    result = raw_exchange(echo.port, b"GET / HTTP/1.1\r\nHost: e\r\nConnection: close\r\n\r\n", timeout=5)
    assert result.closed and result.status == 200
    with socket.create_connection(("127.0.0.1", echo.port)):
        pass
