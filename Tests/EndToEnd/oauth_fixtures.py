"""Fixtures for the OAuth 2.0 client-credentials end-to-end tests (test_oauth_*.py).

Registered from conftest.py (`pytest_plugins`). The authorization server is the real Authlib
server in peers/oauth_server.py, run with the test environment's Python.

- **`oauth_keys`** (session): RSA-2048 and EC P-256 key pairs made with the openssl CLI:
  `.rsa_private`, `.rsa_public`, `.ec_private`, `.ec_public` (paths; private keys PKCS#8 PEM).
- **`oauth_server`** (per test, factory): `srv = oauth_server(clients=[...], expires_in=3600,
  advertise_auth_methods=None, port=0)` starts peers/oauth_server.py (port 0: kernel-chosen) and
  returns an `OAuthServer`. Every server is stopped at teardown; before that, every access token it issued,
  every client secret and the private keys' PEM bodies are added to the secrets that the
  `latchkey` fixture searches the proxy's logs for (so a leaked token fails the test).

`clients` entries: `client(id, secret, scopes)` or `jwt_client(id, public_key_path, scopes)`.

Config helpers: `oauth_config(connection_lines, routes, top=...)` builds a latchkey YAML with one
`oauth2_client_credentials` connection named `oauth`; `route(name, upstream, ...)` one route entry;
`api_get(lk, ...)` sends a request for `http://api.oauth.test/api/resource` through the proxy.
"""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from latchkey_e2e import PEERS, TIMEOUT, run_openssl, stop_process, via_requests, wait_until

#: Host of the routes that forward to the server's own /api/resource (a bearer-checking upstream).
API_HOST = "api.oauth.test"


def client(client_id: str, secret: str, scopes=("read", "write"), auth_methods=None) -> dict:
    """A client_secret_basic / client_secret_post client (both methods allowed by default)."""
    entry = {"client_id": client_id, "client_secret": secret, "scopes": list(scopes)}
    if auth_methods:
        entry["auth_methods"] = list(auth_methods)
    return entry


def jwt_client(client_id: str, public_key_path, scopes=("read", "write")) -> dict:
    """A private_key_jwt client verified with the public key at `public_key_path`."""
    return {"client_id": client_id, "public_key_path": str(public_key_path), "scopes": list(scopes),
            "auth_methods": ["private_key_jwt"]}


def _indent(lines, prefix: str) -> str:
    out = []
    for item in lines:
        out += [prefix + ln for ln in str(item).splitlines()]
    return "\n".join(out)


def route(name: str, upstream: str, host: str = API_HOST, connection: str = "oauth", extra=()) -> str:
    """One entry of `routes:` (YAML text); `extra` holds more `key: value` lines of the route."""
    lines = [f"host: {host}", f"upstream: {upstream}", f"connection: {connection}", *extra]
    return f"  - name: {name}\n" + _indent(lines, "    ")


def oauth_config(connection_lines, routes, top=(), name: str = "oauth") -> str:
    """A config with `unmatched: deny`, `top` lines (e.g. a `secrets:` block), one OAuth
    connection `name` made of `connection_lines` (`type:` is added) and the `routes` entries."""
    conn = _indent(["type: oauth2_client_credentials", *connection_lines], "    ")
    return "\n".join(["unmatched: deny", *top, "connections:", f"  {name}:", conn, "routes:", *routes]) + "\n"


def api_get(lk, path: str = "/api/resource", host: str = API_HOST, method: str = "GET", data=None,
            headers=None, session=None, timeout: float = TIMEOUT):
    """`METHOD http://HOST/PATH` through the proxy (absolute-form); returns a latchkey_e2e.Reply."""
    return via_requests(f"http://{host}{path}", proxy=lk.proxy_url, method=method, data=data,
                        headers=headers, session=session, timeout=timeout)


@dataclass
class OAuthKeys:
    rsa_private: Path
    rsa_public: Path
    ec_private: Path
    ec_public: Path

    def pem_bodies(self) -> list[str]:
        """A line from the middle of each private key's PEM (what a leak would contain)."""
        out = []
        for path in (self.rsa_private, self.ec_private):
            lines = [ln for ln in path.read_text().splitlines() if ln and not ln.startswith("-----")]
            out.append(lines[len(lines) // 2])
        return out


class OAuthServer:
    """peers/oauth_server.py: `.port`, `.url`, `.token_url`, `.issuer`, `.stats()`, controls."""

    def __init__(self, workdir: Path, clients: list[dict], expires_in: int = 3600,
                 advertise_auth_methods: list[str] | None = None, port: int = 0):
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.clients = clients
        self.known_tokens: set[str] = set()
        clients_path = workdir / "clients.json"
        clients_path.write_text(json.dumps(clients))
        args = [sys.executable, str(PEERS / "oauth_server.py"), "--port", str(port),
                "--expires-in", str(expires_in), "--clients", str(clients_path)]
        if advertise_auth_methods:
            args += ["--advertise-auth-methods", ",".join(advertise_auth_methods)]
        self.log_path = workdir / "oauth_server.log"
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self._log, stdin=subprocess.DEVNULL)
        self.port = self._read_port()
        self.url = f"http://127.0.0.1:{self.port}"

    def _read_port(self) -> int:
        deadline = time.monotonic() + TIMEOUT
        line = b""
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                self.stop()
                raise RuntimeError(f"oauth_server.py did not print LISTENING:\n{self.log_text()}")
            ready, _, _ = select.select([self.proc.stdout], [], [], left)
            if ready:
                data = os.read(self.proc.stdout.fileno(), 256)
                if data:
                    line += data
        m = re.match(rb"LISTENING (\d+)", line)
        assert m, line
        return int(m.group(1))

    # -- addresses ------------------------------------------------------------------------------

    @property
    def token_url(self) -> str:
        return self.url + "/oauth/token"

    @property
    def issuer(self) -> str:
        return self.url

    @property
    def metadata_url(self) -> str:
        return self.url + "/.well-known/oauth-authorization-server"

    # -- HTTP to the server (direct, no proxy) ---------------------------------------------------

    def _call(self, method: str, path: str, body: dict | None = None):
        data = json.dumps(body).encode() if body is not None else (b"" if method == "POST" else None)
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(req, timeout=TIMEOUT) as r:
            return json.loads(r.read())

    def stats(self) -> dict:
        """Token requests (`token_requests`, `token_requests_ok`, `per_client`, `last_requests`
        with form/scope/audience/headers/auth_method/assertion_header) and resource hits
        (`resource_requests`, `resource_requests_ok`, `resource_requests_unauthorized`)."""
        self.tokens()
        return self._call("GET", "/_stats")

    def tokens(self) -> list[str]:
        """Every access token issued so far (also remembered for the log scan)."""
        issued = self._call("GET", "/_tokens")["access_tokens"]
        self.known_tokens.update(issued)
        return issued

    def ok_token_requests(self) -> list[dict]:
        return [r for r in self.stats()["last_requests"] if r["status"] == 200]

    def wait_token_requests(self, n: int, timeout: float = TIMEOUT) -> dict:
        """Waits until the server has seen at least `n` token requests; returns the stats."""
        return wait_until(lambda: (s := self.stats())["token_requests"] >= n and s, timeout,
                          f"{n} token requests at the authorization server")

    def reset(self):
        self._call("POST", "/_reset", {})

    def revoke_all(self) -> int:
        return self._call("POST", "/_revoke_all", {})["revoked"]

    def fail(self, status: int = 503, count: int = 1):
        self._call("POST", "/_fail", {"status": status, "count": count})

    def delay(self, ms: int):
        self._call("POST", "/_delay", {"ms": ms})

    def revoke_on_issue(self, enabled: bool = True):
        self._call("POST", "/_revoke_on_issue", {"enabled": enabled})

    def set_secret(self, client_id: str, secret: str):
        self._call("POST", "/_set_secret", {"client_id": client_id, "client_secret": secret})

    # -- lifecycle -------------------------------------------------------------------------------

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def _remember_tokens(self):
        if self.alive():
            try:
                self.tokens()
            except (OSError, urllib.error.URLError, ValueError):
                pass

    def kill(self):
        """SIGKILL (an authorization server that vanishes); issued tokens are remembered first."""
        self._remember_tokens()
        stop_process(self.proc, grace=5, sig=signal.SIGKILL)

    def stop(self):
        self._remember_tokens()
        stop_process(self.proc, grace=5)
        if not self._log.closed:
            self._log.close()

    def secrets(self) -> list[str]:
        """Values that must never show in a proxy log: client secrets and issued tokens."""
        return [c["client_secret"] for c in self.clients if c.get("client_secret")] + sorted(self.known_tokens)


@pytest.fixture(scope="session")
def oauth_keys(tmp_path_factory) -> OAuthKeys:
    d = tmp_path_factory.mktemp("oauth-keys")
    run_openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "rsa.key", cwd=d)
    run_openssl("pkey", "-in", "rsa.key", "-pubout", "-out", "rsa.pub", cwd=d)
    run_openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "ec.key", cwd=d)
    run_openssl("pkey", "-in", "ec.key", "-pubout", "-out", "ec.pub", cwd=d)
    return OAuthKeys(d / "rsa.key", d / "rsa.pub", d / "ec.key", d / "ec.pub")


@pytest.fixture
def oauth_server(tmp_path, latchkey_launcher, oauth_keys):
    """Factory: `oauth_server(clients=[...], expires_in=3600, advertise_auth_methods=None, port=0)`.

    Depends on `latchkey_launcher` so that it is torn down first: the tokens it issued are then
    handed to every latchkey process of the test for the log scan."""
    servers: list[OAuthServer] = []

    def start(clients: list[dict], expires_in: int = 3600, advertise_auth_methods=None, port: int = 0) -> OAuthServer:
        srv = OAuthServer(tmp_path / f"oauth-{len(servers) + 1}", clients, expires_in, advertise_auth_methods, port)
        servers.append(srv)
        return srv

    yield start
    extra: list[str] = []
    for srv in servers:
        srv.stop()
        extra += srv.secrets()
    extra += oauth_keys.pem_bodies()
    for lk in latchkey_launcher.started:
        lk.secrets.extend(s for s in extra if s and s not in lk.secrets)
