"""Helpers for the TLS interception tests (issue 12): an interception CA made in the run, a CONNECT + TLS
client written with the standard library (so SNI, Host and trust can each be set wrong on purpose), and the
config that routes `api.test` (a name nobody resolves: with interception the proxy never dials it) to a
real upstream."""

import socket
import ssl
import textwrap
from dataclasses import dataclass
from pathlib import Path

from latchkey_e2e import TIMEOUT, run_openssl

BEARER = "e2e-intercept-token-5e4d3c2b"
OTHER_BEARER = "e2e-intercept-other-7a6b5c4d"
ENV = {"E2E_BEARER": BEARER, "E2E_OTHER_BEARER": OTHER_BEARER}


@dataclass
class InterceptCA:
    cert: Path
    key: Path

    @property
    def key_secrets(self) -> list[str]:
        """The key's base64 lines: pass as `secrets=` so the teardown scan fails the test if any is logged."""
        return [line for line in self.key.read_text().splitlines() if line and not line.startswith("-----")]

    @classmethod
    def create(cls, d: Path, name: str = "Latchkey E2E Interception CA") -> "InterceptCA":
        d.mkdir(parents=True, exist_ok=True)
        run_openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", "icept.key", "-out", "icept.crt", "-days", "3", "-subj", f"/CN={name}",
                    "-addext", "basicConstraints=critical,CA:TRUE,pathlen:0",
                    "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
        (d / "icept.key").chmod(0o600)
        return cls(d / "icept.crt", d / "icept.key")


def intercept_config(ca: InterceptCA | None, routes: str, unmatched: str = "deny", extra: str = "") -> str:
    """The connections `svc` (bearer E2E_BEARER) and `other` (bearer E2E_OTHER_BEARER), `routes` (YAML list
    items, dedented) and, when `ca` is given, the `intercept` block."""
    block = f"intercept:\n  ca_cert: {ca.cert}\n  ca_key: {ca.key}\n" if ca else ""
    return (f"unmatched: {unmatched}\n{block}{extra}"
            "connections:\n"
            "  svc:\n    type: bearer\n    token: ${E2E_BEARER}\n"
            "  other:\n    type: bearer\n    token: ${E2E_OTHER_BEARER}\n"
            "routes:\n" + textwrap.indent(textwrap.dedent(routes).strip("\n"), "  ") + "\n")


def connect(proxy_port: int, authority: str) -> tuple[socket.socket, bytes]:
    """Opens a CONNECT to `authority`; returns the socket and the proxy's answer head."""
    s = socket.create_connection(("127.0.0.1", proxy_port), timeout=TIMEOUT)
    s.sendall(f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(1)
        if not chunk:
            break
        head += chunk
    return s, head


def read_rest(s: socket.socket, head: bytes) -> bytes:
    """What follows `head` until the peer closes (an error body)."""
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    return data


def tls_context(cafile: Path | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(cafile) if cafile else None)
    context.set_alpn_protocols(["http/1.1"])
    return context


def intercepted_tls(proxy_port: int, authority: str, cafile: Path | None, sni: str | None = None,
                    check_hostname: bool = True) -> ssl.SSLSocket:
    """CONNECT `authority`, expect 200, then TLS with `sni` (default: the CONNECT host) trusting `cafile`.
    Raises `ssl.SSLError` when the handshake fails."""
    s, head = connect(proxy_port, authority)
    assert head.startswith(b"HTTP/1.1 200"), head
    context = tls_context(cafile)
    context.check_hostname = check_hostname
    host = sni or authority.rsplit(":", 1)[0]
    return context.wrap_socket(s, server_hostname=host)


def read_response(s) -> tuple[int, dict, bytes]:
    """One HTTP/1.1 response with Content-Length (what nginx, the echo upstream and the proxy send)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        assert chunk, data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = s.recv(65536)
        assert chunk, body
        body += chunk
    return status, headers, body[:length]


def request(s, method: str, target: str, host: str, headers: list[tuple[str, str]] = ()) -> tuple[int, dict, bytes]:
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}", *(f"{n}: {v}" for n, v in headers), "", ""]
    s.sendall("\r\n".join(lines).encode())
    return read_response(s)
