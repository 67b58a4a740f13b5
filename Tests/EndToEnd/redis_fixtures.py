"""A real Debian `redis-server` per test, for the shared token store (issue 15).

- **`redis_server`** (per test, factory): `rs = redis_server(password=None, tls=None)` starts
  `redis-server` on a free loopback port (no persistence, its own directory) and returns a `RedisServer`
  with `.port`, `.url` (`redis://127.0.0.1:PORT/0`, or `rediss://` with `tls=PKI`), `.stop()`,
  `.start()` (again, same port and password), `acl=(user, password, key pattern)` (only that ACL user), `.command(*args)` (a RESP round trip, for inspecting
  what Latchkey stored) and `.values(prefix)` (every key under `prefix` with its raw value).
"""

from __future__ import annotations

import socket
import ssl
import subprocess
from pathlib import Path

import pytest

from latchkey_e2e import TIMEOUT, free_port, stop_process, wait_for_port


class RedisServer:
    def __init__(self, workdir: Path, password: str | None = None, tls=None, acl: tuple[str, str, str] | None = None,
                 client_certs: bool = False):
        workdir.mkdir(parents=True, exist_ok=True)
        self.client_certs = client_certs  # TLS clients must present a certificate the CA signed
        self.client_certs_pair = None  # (cert, key) the test's own inspection uses; set by the test
        self.acl = acl  # (user, password, key pattern): that user only, the default user off
        self.workdir = workdir
        self.password = password
        self.tls = tls
        self.port = free_port()
        scheme = "rediss" if tls else "redis"
        self.url = f"{scheme}://127.0.0.1:{self.port}/0"
        self.proc = None
        self.start()

    def start(self):
        args = ["redis-server", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--dir", str(self.workdir), "--daemonize", "no", "--protected-mode", "no",
                "--enable-debug-command", "local"]  # DEBUG SLEEP: a store that is slow, not down
        if self.tls:
            args += ["--port", "0", "--tls-port", str(self.port), "--tls-cert-file", str(self.tls.server_cert),
                     "--tls-key-file", str(self.tls.server_key), "--tls-ca-cert-file", str(self.tls.ca_cert),
                     "--tls-auth-clients", "yes" if self.client_certs else "no"]
        else:
            args += ["--port", str(self.port)]
        if self.password:
            args += ["--requirepass", self.password]
        if self.acl:
            user, secret, pattern = self.acl
            # Each rule is its own argument (redis-server joins an option's words; spaces inside one are refused).
            args += ["--user", user, "on", f">{secret}", f"~{pattern}", "+get", "+set", "+del", "+eval", "+pexpire",
                     "+ping", "+select", "+keys", "--user", "default", "off"]
        log = open(self.workdir / "redis.log", "ab")
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        wait_for_port(self.port, proc=self.proc)

    def stop(self):
        if self.proc is not None:
            stop_process(self.proc, sig=__import__("signal").SIGKILL)
            self.proc = None

    def command(self, *args):
        """One command, answered as Python values (bytes for bulk strings, None for nil)."""
        raw = socket.create_connection(("127.0.0.1", self.port), timeout=TIMEOUT)
        sock = raw
        if self.tls:
            context = ssl.create_default_context(cafile=str(self.tls.ca_cert))
            if self.client_certs:
                context.load_cert_chain(str(self.client_certs_pair[0]), str(self.client_certs_pair[1]))
            sock = context.wrap_socket(raw, server_hostname="127.0.0.1")
        with sock:
            stream = sock.makefile("rb")
            if self.password:
                sock.sendall(_encode("AUTH", self.password))
                _decode(stream)
            if self.acl:
                sock.sendall(_encode("AUTH", self.acl[0], self.acl[1]))
                _decode(stream)
            sock.sendall(_encode(*args))
            return _decode(stream)

    def stall(self, seconds: float):
        """`DEBUG SLEEP seconds`: Redis stays connected but answers nothing meanwhile. Returns once the
        command is sent and Redis is seen stalled (a PING goes unanswered); `.join()` the returned thread."""
        import threading
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=TIMEOUT)
        if self.password:
            sock.sendall(_encode("AUTH", self.password))
            _decode(sock.makefile("rb"))
        sock.sendall(_encode("DEBUG", "SLEEP", str(seconds)))

        def finish():
            with sock:
                sock.makefile("rb").readline()

        thread = threading.Thread(target=finish)
        thread.start()
        probe = socket.create_connection(("127.0.0.1", self.port), timeout=0.3)
        with probe:
            probe.sendall(_encode("PING"))
            try:
                probe.recv(16)
                raise RuntimeError("Redis answered PING: the stall did not begin")
            except socket.timeout:
                pass
        return thread

    def values(self, prefix: str) -> dict[bytes, bytes]:
        keys = self.command("KEYS", prefix + "*")
        return {key: self.command("GET", key) for key in keys}


def _encode(*args) -> bytes:
    out = b"*%d\r\n" % len(args)
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        out += b"$%d\r\n%s\r\n" % (len(data), data)
    return out


def _decode(stream):
    line = stream.readline().rstrip(b"\r\n")
    kind, rest = line[:1], line[1:]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise RuntimeError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        if int(rest) < 0:
            return None
        data = stream.read(int(rest) + 2)
        return data[:-2]
    if kind == b"*":
        return [_decode(stream) for _ in range(int(rest))]
    raise RuntimeError(f"unexpected RESP line {line!r}")


@pytest.fixture
def redis_server(tmp_path):
    servers: list[RedisServer] = []

    def start(password: str | None = None, tls=None, acl=None, client_certs: bool = False) -> RedisServer:
        server = RedisServer(tmp_path / f"redis-{len(servers) + 1}", password, tls, acl, client_certs)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
