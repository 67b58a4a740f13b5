"""Helpers for Latchkey's end-to-end tests: processes, peers, PKI and HTTP clients.

Everything here waits on a port, a line or a process, never on a fixed sleep; every wait is
bounded. The fixtures in conftest.py are thin wrappers around these classes.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
PEERS = HERE / "peers"
REPO_ROOT = HERE.parent.parent

# Set by scripts/test's AddressSanitizer stage. That build keeps freed memory in quarantine (RSS grows
# by design) and handles fatal signals itself, so tests that measure RSS or the Swift crash report
# skip there; every other test runs against it as usual.
UNDER_SANITIZER = os.environ.get("LATCHKEY_SANITIZER", "")
skip_under_sanitizer = pytest.mark.skipif(
    bool(UNDER_SANITIZER), reason="measures RSS or the Swift crash report, which a sanitizer build changes")

#: Default bound for every wait: process start, port, log line, HTTP exchange.
TIMEOUT = float(os.environ.get("LATCHKEY_E2E_TIMEOUT", "20"))
#: Poll interval while waiting on a file or a port (a poll, not a fixed sleep).
POLL = 0.05

PROXY_LISTENING = re.compile(r"proxy listening on (\S+):(\d+)")
ADMIN_LISTENING = re.compile(r"admin listening on (\S+):(\d+)")


# -- small utilities ----------------------------------------------------------------------------

def free_port() -> int:
    """A loopback port that was free a moment ago (for peers that cannot bind port 0)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def closed_port() -> int:
    """A loopback port with nothing listening (connect gets ECONNREFUSED)."""
    return free_port()


def wait_for_port(port: int, host: str = "127.0.0.1", timeout: float = TIMEOUT, proc=None) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            pass
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before port {port} accepted")
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing accepted on {host}:{port} within {timeout}s")
        time.sleep(POLL)


def wait_until(predicate, timeout: float = TIMEOUT, what: str = "condition"):
    """Polls `predicate` until it returns a truthy value, which is returned."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(POLL)


def stop_process(proc: subprocess.Popen, grace: float = 10.0, sig=signal.SIGTERM) -> int | None:
    """SIGTERM (or `sig`), wait up to `grace` seconds, then SIGKILL. Returns the exit code."""
    if proc.poll() is None:
        try:
            proc.send_signal(sig)
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=grace)
        except ProcessLookupError:
            pass
    return proc.returncode


def basic_value(user: str, password: str) -> str:
    """RFC 7617: `Basic base64(user:pass)`."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def header_values(echo: dict, name: str) -> list[str]:
    """All values of header `name` (any case) the echo upstream received, in order."""
    return [v for n, v in echo["headers"] if n.lower() == name.lower()]


def header_names(echo: dict) -> list[str]:
    return [n.lower() for n, _ in echo["headers"]]


def clean_env(extra: dict | None = None) -> dict:
    """The environment without proxy variables (so clients only use the proxy a test names)."""
    env = {k: v for k, v in os.environ.items() if k.lower() not in
           ("http_proxy", "https_proxy", "all_proxy", "no_proxy")}
    env.update(extra or {})
    return env


# -- raw sockets --------------------------------------------------------------------------------

@dataclass
class RawResult:
    data: bytes
    closed: bool  # the server closed (EOF or reset) before the timeout

    @property
    def status(self) -> int | None:
        m = re.match(rb"HTTP/1\.[01] (\d{3})", self.data)
        return int(m.group(1)) if m else None

    @property
    def head(self) -> bytes:
        return self.data.split(b"\r\n\r\n", 1)[0]

    @property
    def body(self) -> bytes:
        parts = self.data.split(b"\r\n\r\n", 1)
        return parts[1] if len(parts) > 1 else b""


def raw_exchange(port: int, payload: bytes, timeout: float = 10.0, host: str = "127.0.0.1") -> RawResult:
    """Sends `payload` as is and reads until the server closes or `timeout` passes."""
    chunks = []
    closed = False
    with socket.create_connection((host, port), timeout=timeout) as s:
        try:
            s.sendall(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may reject early; still read what it said
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            s.settimeout(left)
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            chunks.append(chunk)
    return RawResult(b"".join(chunks), closed)


def raw_request(port: int, payload: bytes, timeout: float = 10.0) -> bytes:
    """Sends raw bytes, returns everything read until close or timeout."""
    return raw_exchange(port, payload, timeout).data


class _SocketReader:
    """The read side of one client connection, buffered once for its whole life. http.client reads a response
    through `sock.makefile()`, whose buffer may take the start of the next response with it: when two answers
    arrive in one segment, a fresh file object per response would lose the second. Each `HTTPResponse` gets
    this reader instead (as its `makefile()`), and closing a response leaves it open."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buffer = bytearray()

    def makefile(self, mode: str = "rb"):
        return self

    def _fill(self) -> bool:
        chunk = self.sock.recv(65536)
        self.buffer += chunk
        return bool(chunk)

    def _take(self, count: int) -> bytes:
        taken = bytes(self.buffer[:count])
        del self.buffer[:count]
        return taken

    def readline(self, limit: int = -1) -> bytes:
        while True:
            newline = self.buffer.find(b"\n")
            if newline >= 0 and (limit < 0 or newline < limit):
                return self._take(newline + 1)
            if 0 <= limit <= len(self.buffer) or not self._fill():
                return self._take(len(self.buffer) if limit < 0 else limit)

    def read(self, count: int | None = -1) -> bytes:
        if count is None or count < 0:
            while self._fill():
                pass
            return self._take(len(self.buffer))
        while len(self.buffer) < count and self._fill():
            pass
        return self._take(count)

    def readinto(self, target) -> int:
        if not self.buffer:
            self._fill()
        count = min(len(target), len(self.buffer))
        target[:count] = self._take(count)
        return count

    def receive(self) -> bytes:
        """What is buffered, or else one `recv`: the raw bytes the peer sent next."""
        if not self.buffer:
            self._fill()
        return self._take(len(self.buffer))

    def flush(self):
        pass

    def close(self):
        pass


class RawConnection:
    """One client TCP connection sending hand-written requests and reading framed responses
    with http.client's parser (so several exchanges can share the connection, pipelined or not)."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = TIMEOUT):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.reader = _SocketReader(self.sock)

    @classmethod
    def over(cls, sock: socket.socket) -> "RawConnection":
        """Reads responses from a socket opened elsewhere (a tunnel through the proxy)."""
        conn = cls.__new__(cls)
        conn.sock = sock
        conn.reader = _SocketReader(sock)
        return conn

    def send(self, payload: bytes) -> None:
        self.sock.sendall(payload)

    def receive(self) -> bytes:
        return self.reader.receive()

    def read_response(self, method: str = "GET") -> tuple[int, list[tuple[str, str]], bytes]:
        response = http.client.HTTPResponse(self.reader, method=method)
        response.begin()
        body = response.read()
        status, headers = response.status, response.getheaders()
        response.close()
        return status, headers, body

    def exchange(self, payload: bytes, method: str = "GET"):
        self.send(payload)
        return self.read_response(method)

    def is_closed_by_peer(self, timeout: float = 5.0) -> bool:
        if self.reader.buffer:
            return False
        self.sock.settimeout(timeout)
        try:
            return not self.reader._fill()
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# -- HTTP clients -------------------------------------------------------------------------------

@dataclass
class Reply:
    """A response as seen by a client."""
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    client: str

    def header(self, name: str) -> str | None:
        for n, v in reversed(self.headers):
            if n.lower() == name.lower():
                return v
        return None

    def json(self):
        return json.loads(self.body)


def _parse_curl_headers(text: str) -> tuple[int, list[tuple[str, str]]]:
    """The last header block curl dumped (after 100 Continue and CONNECT answers)."""
    blocks = [b for b in re.split(r"\r?\n\r?\n", text) if b.strip()]
    if not blocks:
        return 0, []
    lines = blocks[-1].splitlines()
    status = int(lines[0].split()[1])
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.append((name.strip(), value.strip()))
    return status, headers


def curl(url: str, proxy: str | None = None, method: str | None = None,
         headers: list[tuple[str, str]] | None = None, data_file: str | None = None,
         extra: list[str] | None = None, timeout: float = TIMEOUT, check: bool = True) -> Reply:
    """Runs curl (a real client: Proxy-Connection, Expect: 100-continue, ...)."""
    with tempfile.TemporaryDirectory() as tmp:
        head_file, body_file = os.path.join(tmp, "h"), os.path.join(tmp, "b")
        cmd = ["curl", "-sS", "--max-time", str(timeout), "-D", head_file, "-o", body_file]
        cmd += ["-x", proxy] if proxy else ["--noproxy", "*"]
        if method == "HEAD":
            cmd.append("-I")
        elif method:
            cmd += ["-X", method]
        for name, value in headers or []:
            cmd += ["-H", f"{name}: {value}"]
        if data_file:
            cmd += ["--data-binary", "@" + data_file]
        cmd += extra or []
        cmd.append(url)
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 10, env=clean_env())
        if check and done.returncode != 0:
            raise AssertionError(f"curl failed ({done.returncode}): {' '.join(cmd)}\n{done.stderr}")
        head_text = Path(head_file).read_text("latin-1") if os.path.exists(head_file) else ""
        body = Path(body_file).read_bytes() if os.path.exists(body_file) else b""
        status, hdrs = _parse_curl_headers(head_text)
        reply = Reply(status, hdrs, body, "curl")
        reply.returncode = done.returncode
        reply.stderr = done.stderr
        return reply


def requests_session(proxy: str | None = None):
    import requests
    session = requests.Session()
    session.trust_env = False  # ignore HTTP_PROXY & co from the environment
    if proxy:
        session.proxies = {"http": proxy, "https": proxy}
    return session


def via_requests(url: str, proxy: str | None = None, method: str = "GET",
                 headers: list[tuple[str, str]] | None = None, data=None,
                 timeout: float = TIMEOUT, session=None) -> Reply:
    own = session is None
    session = session or requests_session(proxy)
    try:
        r = session.request(method, url, headers=dict(headers or []), data=data, timeout=timeout,
                            allow_redirects=False)
        return Reply(r.status_code, list(r.headers.items()), r.content, "requests")
    finally:
        if own:
            session.close()


def fetch(client: str, url: str, proxy: str | None = None, method: str = "GET",
          headers: list[tuple[str, str]] | None = None) -> Reply:
    """One request through `client` ("curl" or "requests")."""
    if client == "curl":
        return curl(url, proxy=proxy, method=None if method == "GET" else method, headers=headers)
    return via_requests(url, proxy=proxy, method=method, headers=headers)


# -- peers --------------------------------------------------------------------------------------

def read_listening_port(proc: subprocess.Popen, stop, describe) -> int:
    """Reads the `LISTENING <port>` line a peer prints on stdout (our peers bind port 0). On a timeout or an
    early exit it calls `stop()` and raises with `describe()` (the peer's log)."""
    deadline = time.monotonic() + TIMEOUT
    line = b""
    while not line.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or proc.poll() is not None:
            stop()
            raise RuntimeError(f"did not print LISTENING: {describe()}")
        ready, _, _ = select.select([proc.stdout], [], [], left)
        if ready:
            data = os.read(proc.stdout.fileno(), 256)  # unbuffered: select() stays truthful
            if data:
                line += data
    m = re.match(rb"LISTENING (\d+)", line)
    assert m, line
    return int(m.group(1))


class EchoUpstream:
    """peers/echo_upstream.py on a kernel-chosen port."""

    def __init__(self, workdir: Path):
        self.log_path = workdir / "echo.log"
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, str(PEERS / "echo_upstream.py"), "--port", "0"],
            stdout=subprocess.PIPE, stderr=self._log)
        self.port = self._read_port()
        self.url = f"http://127.0.0.1:{self.port}"

    def _read_port(self) -> int:
        return read_listening_port(self.proc, self.stop, lambda: f"echo upstream: {self.log_path.read_text()}")

    def stats(self) -> dict:
        with socket.create_connection(("127.0.0.1", self.port), timeout=TIMEOUT) as s:
            s.sendall(b"GET /control/stats HTTP/1.1\r\nHost: echo\r\nConnection: close\r\n\r\n")
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        return json.loads(data.split(b"\r\n\r\n", 1)[1])

    def stop(self):
        stop_process(self.proc, grace=5)
        self._log.close()


def run_openssl(*args: str, cwd: Path) -> None:
    done = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed:\n{done.stderr}")


@dataclass
class PKI:
    """A test CA, a server certificate for localhost/127.0.0.1 it signed, and an unrelated CA."""
    dir: Path
    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path
    untrusted_ca_cert: Path

    @classmethod
    def create(cls, workdir: Path) -> "PKI":
        d = workdir
        d.mkdir(parents=True, exist_ok=True)
        for name, cn in (("ca", "Latchkey E2E Test CA"), ("untrusted-ca", "Latchkey E2E Untrusted CA")):
            run_openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.crt", "-days", "3",
                        "-subj", f"/CN={cn}",
                        "-addext", "basicConstraints=critical,CA:TRUE",
                        "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
        server_ext = d / "server.ext"
        server_ext.write_text(textwrap.dedent("""\
            basicConstraints = CA:FALSE
            keyUsage = critical, digitalSignature, keyEncipherment
            extendedKeyUsage = serverAuth
            subjectAltName = DNS:localhost, IP:127.0.0.1
            """))
        run_openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost", cwd=d)
        run_openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                    "-CAcreateserial", "-out", "server.crt", "-days", "3", "-extfile", "server.ext", cwd=d)
        return cls(d, d / "ca.crt", d / "ca.key", d / "server.crt", d / "server.key", d / "untrusted-ca.crt")


def nginx_binary() -> str:
    for candidate in ("nginx", "/usr/sbin/nginx", "/usr/local/sbin/nginx"):
        path = candidate if os.path.isabs(candidate) else None
        if path is None:
            from shutil import which
            path = which(candidate)
        if path and os.access(path, os.X_OK):
            return path
    raise RuntimeError("nginx not found (scripts/test installs it when run as root)")


NGINX_ECHO_JSON = ('{"authorization":"$http_authorization","x_api_key":"$http_x_api_key",'
                   '"host":"$host","uri":"$request_uri","method":"$request_method","scheme":"$scheme",'
                   '"tls_protocol":"$ssl_protocol","tls_session_reused":"$ssl_session_reused"}')


class Nginx:
    """nginx serving TLS (the test CA's localhost certificate) and plain HTTP on loopback.

    `location /` answers JSON built from request variables; `/static` is a tiny file.
    `tls_directives` go into the TLS server block (e.g. `ssl_protocols TLSv1.2;`).
    """

    def __init__(self, workdir: Path, pki: PKI | None, tls: bool = True, tls_directives: str = ""):
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi", "www"):
            (self.dir / sub).mkdir(exist_ok=True)
        (self.dir / "www" / "static").write_bytes(b"latchkey static ok\n")
        self.http_port = free_port()
        self.tls_port = free_port() if tls else None
        user = "user root;\n" if os.geteuid() == 0 else ""
        tls_server = ""
        if tls:
            tls_server = f"""
    server {{
        listen 127.0.0.1:{self.tls_port} ssl;
        server_name localhost;
        ssl_certificate {pki.server_cert};
        ssl_certificate_key {pki.server_key};
        {tls_directives}
        location = /static {{ default_type text/plain; alias {self.dir}/www/static; }}
        location / {{ default_type application/json; return 200 '{NGINX_ECHO_JSON}\\n'; }}
    }}"""
        conf = f"""{user}worker_processes 1;
pid {self.dir}/nginx.pid;
error_log {self.dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    keepalive_requests 100000;
    client_body_temp_path {self.dir}/client_body;
    proxy_temp_path {self.dir}/proxy;
    fastcgi_temp_path {self.dir}/fastcgi;
    uwsgi_temp_path {self.dir}/uwsgi;
    scgi_temp_path {self.dir}/scgi;
    server {{
        listen 127.0.0.1:{self.http_port};
        server_name _;
        location = /static {{ default_type text/plain; alias {self.dir}/www/static; }}
        location / {{ default_type application/json; return 200 '{NGINX_ECHO_JSON}\\n'; }}
    }}{tls_server}
}}
"""
        self.conf_path = self.dir / "nginx.conf"
        self.conf_path.write_text(conf)
        self._log = open(self.dir / "nginx.out", "wb")
        self.proc = subprocess.Popen(
            [nginx_binary(), "-p", str(self.dir), "-e", str(self.dir / "error.log"),
             "-c", str(self.conf_path), "-g", "daemon off;"],
            stdout=self._log, stderr=subprocess.STDOUT)
        try:
            wait_for_port(self.http_port, proc=self.proc)
            if tls:
                wait_for_port(self.tls_port, proc=self.proc)
        except Exception as error:
            self.stop()
            raise RuntimeError(f"nginx did not start: {error}\n{self.error_log()}") from error

    def error_log(self) -> str:
        out = ""
        for name in ("nginx.out", "error.log"):
            p = self.dir / name
            if p.exists():
                out += p.read_text(errors="replace")
        return out

    def stop(self):
        stop_process(self.proc, grace=10, sig=signal.SIGQUIT)
        self._log.close()


# -- latchkey -----------------------------------------------------------------------------------

def latchkey_binary() -> str:
    path = os.environ.get("LATCHKEY_BIN")
    if not path:
        raise RuntimeError("LATCHKEY_BIN is not set (scripts/test sets it to the built binary)")
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"LATCHKEY_BIN={path} is not an executable file")
    return path


def _with_listeners(config: str) -> str:
    """Adds `listen: 127.0.0.1:0` and `admin: 127.0.0.1:0` unless the config sets them."""
    config = textwrap.dedent(config).strip("\n") + "\n"
    head = ""
    if not re.search(r"(?m)^listen:", config):
        head += "listen: 127.0.0.1:0\n"
    if not re.search(r"(?m)^admin:", config):
        head += "admin: 127.0.0.1:0\n"
    return head + config


@dataclass
class LatchkeyProcess:
    """A running `latchkey run --config FILE`."""
    proc: subprocess.Popen
    config_path: Path
    log_path: Path
    secrets: list[str] = field(default_factory=list)
    host: str = "127.0.0.1"
    port: int = 0
    admin_port: int | None = None

    @property
    def proxy_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """For route mode: requests go straight to the proxy (origin-form)."""
        return self.proxy_url

    @property
    def admin_url(self) -> str:
        return f"http://{self.host}:{self.admin_port}"

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_for_log(self, pattern: str, timeout: float = TIMEOUT, after: int = 0) -> re.Match:
        """Waits until `pattern` (regex) matches the log (from offset `after`); returns the match."""
        regex = re.compile(pattern)

        def probe():
            m = regex.search(self.log_text(), after)
            if m is None and self.proc.poll() is not None:
                m = regex.search(self.log_text(), after)
                if m is None:
                    raise AssertionError(
                        f"latchkey exited ({self.proc.returncode}) without logging /{pattern}/:\n"
                        + self.log_text())
            return m
        try:
            return wait_until(probe, timeout, f"log line /{pattern}/")
        except TimeoutError:
            raise AssertionError(f"no log line /{pattern}/ within {timeout}s; log:\n{self.log_text()}")

    def stop(self, grace: float = 10.0) -> int | None:
        return stop_process(self.proc, grace)

    def log_offset(self) -> int:
        """The log's current length: pass as `after=` to wait only for lines written from now on."""
        return len(self.log_text())

    def rewrite_config(self, config: str, atomic: bool = True) -> None:
        """Replaces the config file (listen/admin defaults added as at start): written to a temporary
        file and renamed over it (`atomic`), or rewritten in place."""
        write_file(self.config_path, _with_listeners(config), atomic=atomic)

    def leaked_secrets(self) -> list[str]:
        text = self.log_text()
        return [s for s in self.secrets if s and s in text]


class LatchkeyLauncher:
    """Starts latchkey processes for one test (or one module) and cleans them up."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.started: list[LatchkeyProcess] = []
        self._count = 0

    def write_config(self, config: str, name: str | None = None) -> Path:
        self._count += 1
        path = self.workdir / (name or f"latchkey-{self._count}.yaml")
        path.write_text(textwrap.dedent(config).strip("\n") + "\n")
        return path

    def start(self, config: str, env: dict | None = None, secrets: list[str] | None = None,
              wait_admin: bool | None = None, timeout: float = TIMEOUT,
              args: list[str] | None = None, config_file: Path | None = None,
              preexec_fn=None) -> LatchkeyProcess:
        """Writes `config` (YAML; listen/admin default to 127.0.0.1:0), starts latchkey, waits
        for `proxy listening on HOST:PORT` (and `admin listening on HOST:PORT` unless the config
        says `admin: off`). Fails at once, with the output, if the process exits first.

        `env` adds environment variables (secrets referenced as ${NAME}); `secrets` lists
        values that must never appear in the log (env values are added automatically).
        `config_file`: run with this existing file (e.g. a symlink) as is; `config` is then ignored.
        `preexec_fn`: run in the child before exec (e.g. `resource.setrlimit` for a descriptor limit)."""
        binary = latchkey_binary()
        self._count += 1
        if config_file is not None:
            config_path = Path(config_file)
            config = config_path.read_text()
        else:
            config = _with_listeners(config)
            config_path = self.workdir / f"latchkey-{self._count}.yaml"
            config_path.write_text(config)
        log_path = self.workdir / f"latchkey-{self._count}.log"
        all_secrets = list(secrets or []) + [v for v in (env or {}).values() if len(v) >= 6]
        log = open(log_path, "wb")
        proc = subprocess.Popen(
            [binary, "run", "--config", str(config_path), *(args or [])],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=clean_env({"SWIFT_BACKTRACE": "enable=no", **(env or {})}), preexec_fn=preexec_fn)
        log.close()
        lk = LatchkeyProcess(proc, config_path, log_path, all_secrets)
        self.started.append(lk)
        if wait_admin is None:
            wait_admin = not re.search(r"(?m)^admin:\s*(off|false|no)\s*$", config)

        def ready():
            text = lk.log_text()
            p = PROXY_LISTENING.search(text)
            a = ADMIN_LISTENING.search(text) if wait_admin else True
            if p and a:
                return p, a
            if proc.poll() is not None:
                raise AssertionError(
                    f"latchkey exited with {proc.returncode} before it was listening "
                    f"(expected 'proxy listening on HOST:PORT'"
                    f"{' and admin listening on HOST:PORT' if wait_admin else ''} in its output).\n"
                    f"config {config_path}:\n{config}\n--- output ---\n{lk.log_text()}")
            return None
        try:
            p, a = wait_until(ready, timeout, "latchkey listening lines")
        except TimeoutError:
            lk.stop()
            raise AssertionError(
                f"latchkey did not print 'proxy listening on HOST:PORT' within {timeout}s.\n"
                f"--- output ---\n{lk.log_text()}")
        lk.host = p.group(1).strip("[]")
        if lk.host in ("0.0.0.0", "::", "*"):
            lk.host = "127.0.0.1"
        lk.port = int(p.group(2))
        if wait_admin:
            lk.admin_port = int(a.group(2))
        return lk

    def cleanup(self) -> list[str]:
        """Stops every process; returns a description of each secret found in a log."""
        leaks = []
        for lk in self.started:
            lk.stop()
            for secret in lk.leaked_secrets():
                leaks.append(f"{lk.log_path}: contains secret {secret[:3]}…")
        return leaks


def write_file(path, text: str, atomic: bool = True) -> None:
    """Writes `text` to `path`: to a temporary file in the same folder renamed over it (`atomic`, what
    editors and secret managers do), or truncated and rewritten in place."""
    path = Path(path)
    if atomic:
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        tmp.write_text(text)
        os.replace(tmp, path)
    else:
        with open(path, "r+" if path.exists() else "w") as f:
            f.seek(0)
            f.truncate()
            f.write(text)


def admin_get(lk: "LatchkeyProcess", path: str, method: str = "GET", timeout: float = TIMEOUT,
              headers: list[tuple[str, str]] | None = None) -> Reply:
    """`METHOD http://ADMIN/PATH` straight to the admin listener (no proxy). A POST carries
    `X-Latchkey-Admin: 1` unless `headers` are given: the consent endpoints refuse a POST without it
    (issue 3, CSRF), as the latchkey CLI sends it."""
    if headers is None and method == "POST":
        headers = [("X-Latchkey-Admin", "1")]
    return via_requests(lk.admin_url + path, method=method, timeout=timeout, headers=headers)


def scrape_metrics(lk: "LatchkeyProcess") -> dict[str, list[tuple[dict, float]]]:
    """Sample name -> [(labels, value)] from GET /metrics (fails on a body the parser rejects)."""
    from prometheus_client.parser import text_string_to_metric_families
    reply = admin_get(lk, "/metrics")
    assert reply.status == 200, reply.body
    assert (reply.header("Content-Type") or "").startswith("text/plain"), reply.headers
    text = reply.body.decode()
    samples: dict[str, list[tuple[dict, float]]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples.setdefault(s.name, []).append((s.labels, s.value))
    samples["__text__"] = [({"text": text}, 0.0)]
    return samples


def metric_sum(samples, name: str, **labels) -> float:
    """The sum of `name`'s samples whose labels include `labels` (0 when none)."""
    return sum(v for lbls, v in samples.get(name, []) if all(lbls.get(k) == w for k, w in labels.items()))


def run_latchkey_cli(args: list[str], env: dict | None = None, timeout: float = TIMEOUT):
    """`latchkey ARGS` to completion; returns CompletedProcess with text stdout/stderr."""
    return subprocess.run([latchkey_binary(), *args], capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL,
                          env=clean_env({"SWIFT_BACKTRACE": "enable=no", **(env or {})}))
