"""Trailers (RFC 9110 §6.5) pass through the proxy: a chunked request's trailer fields reach the
upstream (without credentials, framing or hop-by-hop fields), and a chunked response's trailer
fields reach an HTTP/1.1 client (without fields a trailer section must not carry)."""

import json
import socket

import pytest

from latchkey_e2e import TIMEOUT

BEARER = "e2e-trailer-token-7d1e"


@pytest.fixture(scope="module")
def proxy(latchkey_module, echo):
    return latchkey_module.start(f"""
unmatched: deny
connections:
  svc:
    type: bearer
    token: ${{E2E_BEARER}}
routes:
  - name: trailers
    host: trailers.local
    upstream: {echo.url}
    connection: svc
""", env={"E2E_BEARER": BEARER})


def exchange_until_close(port: int, payload: bytes) -> bytes:
    """Sends `payload` and reads until the proxy closes (the request says `Connection: close`)."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        sock.sendall(payload)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


def parse_chunked_response(raw: bytes) -> tuple[int, dict, bytes, list[tuple[str, str]]]:
    """Status, head fields (lowercase names), de-chunked body and the trailer fields, read strictly."""
    head, _, rest = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    fields = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        fields[name.strip().lower()] = value.strip()
    assert fields.get("transfer-encoding") == "chunked", fields
    body = b""
    while True:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        body += rest[:size]
        assert rest[size:size + 2] == b"\r\n"
        rest = rest[size + 2:]
    trailer_block, _, after = rest.partition(b"\r\n\r\n")
    assert after == b"", after
    trailers = []
    if trailer_block:
        for line in trailer_block.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            trailers.append((name.strip(), value.strip()))
    return status, fields, body, trailers


def test_request_and_response_trailers_pass_through(proxy):
    request = (
        b"POST http://trailers.local/trailers HTTP/1.1\r\n"
        b"Host: trailers.local\r\n"
        b"Transfer-Encoding: chunked\r\n"
        b"Trailer: X-Checksum\r\n"
        b"Connection: close\r\n\r\n"
        b"5\r\nhello\r\n6\r\n world\r\n0\r\n"
        b"X-Checksum: c0ffee\r\n"
        b"Authorization: Bearer smuggled\r\n"
        b"Content-Length: 3\r\n"
        b"Host: evil.example\r\n"
        b"\r\n")
    status, fields, body, trailers = parse_chunked_response(exchange_until_close(proxy.port, request))
    assert status == 200
    seen = json.loads(body)
    # What reached the upstream: the body, the credential in the head only, and the allowed trailer.
    assert seen["body_length"] == 11
    assert [["Authorization", f"Bearer {BEARER}"]] == [h for h in seen["headers"] if h[0].lower() == "authorization"]
    assert seen["trailers"] == [["X-Checksum", "c0ffee"]]
    # What reached the client: the upstream's trailers minus Set-Cookie and Content-Length.
    names = [name.lower() for name, _ in trailers]
    assert ("X-Echo-X-Checksum", "c0ffee") in trailers
    assert "x-body-sha256" in names
    assert "set-cookie" not in names and "content-length" not in names
    assert "trailer" not in fields  # hop-by-hop in the head


def test_trailers_survive_keep_alive_and_a_second_request(proxy):
    """The trailer section ends the message: the next request on the connection is read cleanly."""
    one = (b"POST http://trailers.local/echo/t1 HTTP/1.1\r\nHost: trailers.local\r\n"
           b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-One: 1\r\n\r\n")
    two = (b"GET http://trailers.local/echo/t2 HTTP/1.1\r\nHost: trailers.local\r\n"
           b"Connection: close\r\n\r\n")
    raw = exchange_until_close(proxy.port, one + two)
    assert raw.count(b"HTTP/1.1 200") == 2, raw[:400]
    first_json = raw[raw.index(b"{"):raw.index(b"\n", raw.index(b"{"))]
    assert json.loads(first_json)["trailers"] == [["X-One", "1"]]
