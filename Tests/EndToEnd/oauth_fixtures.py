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

`clients` entries: `client(id, secret, scopes)`, `jwt_client(id, public_key_path, scopes)` or
`code_client(id, secret, scopes, redirect_uri)` (authorization_code + refresh_token; secret None: a
public client). `oauth_server(..., auto_approve="alice")` consents without the form for every
authorization request (`--auto-approve`); without it a test adds `auto_approve=USER` to the URL or
POSTs the form (`srv.authorize(url, user=, approve=)`).

Authorization-code helpers: `authcode_config(connection_lines, routes, state_dir, top=...)` (a
`oauth2_authorization_code` connection `crm`, `state_dir:` and `state_key: ${STATE_KEY}`),
`consent(lk, srv, name)` (connect -> authorize with auto-approve -> callback; returns a `Consent`),
`srv.refresh_tokens()`, `srv.grants()`, `srv.direct_refresh(...)`.

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
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from latchkey_e2e import PEERS, TIMEOUT, read_listening_port, run_openssl, stop_process, via_requests, wait_until

#: Host of the routes that forward to the server's own /api/resource (a bearer-checking upstream).
API_HOST = "api.oauth.test"


def client(client_id: str, secret: str, scopes=("read", "write"), auth_methods=None) -> dict:
    """A client_secret_basic / client_secret_post client (both methods allowed by default)."""
    entry = {"client_id": client_id, "client_secret": secret, "scopes": list(scopes)}
    if auth_methods:
        entry["auth_methods"] = list(auth_methods)
    return entry


def code_client(client_id: str, secret: str | None, redirect_uri: str,
                scopes=("contacts.read", "offline_access")) -> dict:
    """An authorization_code + refresh_token client for `redirect_uri`; `secret` None (or "") is a
    public client (token_endpoint_auth_method `none`: PKCE alone)."""
    entry = {"client_id": client_id, "scopes": list(scopes), "redirect_uris": [redirect_uri],
             "grant_types": ["authorization_code", "refresh_token"]}
    if secret:
        entry["client_secret"] = secret
        entry["auth_methods"] = ["client_secret_basic", "client_secret_post"]
    else:
        entry["auth_methods"] = ["none"]
    return entry


def jwt_client(client_id: str, public_key_path, scopes=("read", "write")) -> dict:
    """A private_key_jwt client verified with the public key at `public_key_path`."""
    return {"client_id": client_id, "public_key_path": str(public_key_path), "scopes": list(scopes),
            "auth_methods": ["private_key_jwt"]}


#: RFC 7523 §2.1 grant type.
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def jwt_bearer_client(client_id: str, public_key_path, scopes=("read", "write"), issuer: str | None = None) -> dict:
    """A client allowed the JWT bearer grant (RFC 7523 §2.1) whose assertions (`iss` = `issuer`, default
    the client id) are verified with the public key at `public_key_path`; no client authentication."""
    entry = {"client_id": client_id, "public_key_path": str(public_key_path), "scopes": list(scopes),
             "auth_methods": ["none"], "grant_types": [JWT_BEARER_GRANT]}
    if issuer:
        entry["jwt_issuer"] = issuer
    return entry


def mtls_client(client_id: str, scopes=("read", "write"), subject_dn: str | None = None, cert_path=None) -> dict:
    """An RFC 8705 client: `tls_client_auth` with `subject_dn` (as nginx writes $ssl_client_s_dn, e.g.
    "CN=mtls-app"), or `self_signed_tls_client_auth` pinned to the certificate at `cert_path`."""
    entry = {"client_id": client_id, "scopes": list(scopes)}
    if subject_dn:
        entry.update(tls_subject_dn=subject_dn, auth_methods=["tls_client_auth"])
    else:
        entry.update(tls_cert_path=str(cert_path), auth_methods=["self_signed_tls_client_auth"])
    return entry


def _indent(lines, prefix: str) -> str:
    out = []
    for item in lines:
        out += [prefix + ln for ln in str(item).splitlines()]
    return "\n".join(out)


def route(name: str, upstream: str, host: str = API_HOST, connection: str = "oauth", extra=()) -> str:
    """One entry of `routes:` (YAML text); `extra` holds more `key: value` lines of the route."""
    lines = [f"host: {host}", f"upstream: {upstream}", f"connection: {connection}", *extra]
    return f"  - name: {name}\n" + _indent(lines, "    ")


def oauth_config(connection_lines, routes, top=(), name: str = "oauth", kind: str = "oauth2_client_credentials") -> str:
    """A config with `unmatched: deny`, `top` lines (e.g. a `secrets:` block), one OAuth
    connection `name` made of `connection_lines` (`type: KIND` is added) and the `routes` entries."""
    conn = _indent([f"type: {kind}", *connection_lines], "    ")
    return "\n".join(["unmatched: deny", *top, "connections:", f"  {name}:", conn, "routes:", *routes]) + "\n"


def api_get(lk, path: str = "/api/resource", host: str = API_HOST, method: str = "GET", data=None,
            headers=None, session=None, timeout: float = TIMEOUT):
    """`METHOD http://HOST/PATH` through the proxy (absolute-form); returns a latchkey_e2e.Reply."""
    return via_requests(f"http://{host}{path}", proxy=lk.proxy_url, method=method, data=data,
                        headers=headers, session=session, timeout=timeout)


# -- authorization code (issue 6) -----------------------------------------------------------------

#: Host of the routes on an authorization-code connection (upstream: the server's /api/resource).
CRM_HOST = "crm.test"


def authcode_config(connection_lines, routes, state_dir, admin_port: int | None = None, top=(),
                    name: str = "crm") -> str:
    """A config with `admin: 127.0.0.1:ADMIN_PORT` (fixed: the default redirect URI and the CLI need
    it), `unmatched: deny`, `state_dir:`, `state_key: ${STATE_KEY}` (pass env STATE_KEY), `top`
    lines, one `oauth2_authorization_code` connection `name` of `connection_lines`, and `routes`."""
    conn = _indent(["type: oauth2_authorization_code", *connection_lines], "    ")
    head = [f"admin: 127.0.0.1:{admin_port}"] if admin_port else []
    return "\n".join([*head, "unmatched: deny", f"state_dir: {state_dir}", "state_key: ${STATE_KEY}", *top,
                      "connections:", f"  {name}:", conn, "routes:", *routes]) + "\n"


def new_state_key() -> str:
    """base64 of 32 random bytes (an AES-256 key, what `openssl rand -base64 32` prints)."""
    import base64
    return base64.b64encode(os.urandom(32)).decode()


def read_state_file(path, key_b64: str, connection: str = "crm") -> dict:
    """Decrypts a Latchkey state file independently of the proxy (the documented format, version 1:
    "LKS1" | 0x01 | 12-byte nonce | AES-256-GCM ciphertext+tag, AAD = "LKS1" | 0x01 | connection
    name): the stored grant's JSON ({refresh_token, scope, obtained_at, token_url, client_id}).
    Raises cryptography's InvalidTag for a tampered file or a wrong key."""
    import base64
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    data = Path(path).read_bytes()
    assert data[:5] == b"LKS1\x01", data[:5]
    plain = AESGCM(base64.b64decode(key_b64)).decrypt(data[5:17], data[17:], b"LKS1\x01" + connection.encode())
    return json.loads(plain)


@dataclass
class Consent:
    """One consent driven without a browser: the proxy's redirect, the server's redirect back, and
    the callback page."""
    authorize_location: str  # the proxy's 302 Location (the authorization request)
    callback_url: str  # the server's 302 Location (the proxy's callback with code and state)
    code: str
    state: str
    page: object  # latchkey_e2e.Reply of the callback


def start_consent(lk, name: str = "crm") -> str:
    """GET /connections/NAME/connect on the admin listener (no redirects): the 302 Location."""
    from latchkey_e2e import admin_get
    start = admin_get(lk, f"/connections/{name}/connect")
    assert start.status == 302, (start.status, start.body)
    location = start.header("Location")
    assert location, start.headers
    return location


def follow_to_callback(lk, answer) -> tuple[str, dict]:
    """The authorization server's 302 back to the proxy: (callback URL, its query)."""
    assert answer.status == 302, (answer.status, answer.body[:500])
    callback = answer.header("Location")
    query = {k: v[0] for k, v in urllib.parse.parse_qs(urllib.parse.urlsplit(callback).query).items()}
    if query.get("code"):
        lk.secrets.append(query["code"])  # an authorization code must not reach the log either
    return callback, query


def consent(lk, srv, name: str = "crm", user: str = "alice", expect_connected: bool = True) -> Consent:
    """connect -> the server's authorize endpoint with `auto_approve=USER` -> the callback, all
    without redirects being followed automatically; asserts the page says Connected."""
    location = start_consent(lk, name)
    assert location.startswith(srv.authorize_url + "?"), location
    callback, query = follow_to_callback(lk, srv.authorize(location, user=user, auto=True))
    page = via_requests(callback)
    if expect_connected:
        assert page.status == 200, (page.status, page.body.decode(errors="replace"))
        assert "<h1>Connected</h1>" in page.body.decode(), page.body
    return Consent(location, callback, query.get("code", ""), query.get("state", ""), page)


def connection_entry(lk, name: str = "crm") -> dict:
    """The entry of GET /connections for `name`."""
    from latchkey_e2e import admin_get
    reply = admin_get(lk, "/connections")
    assert reply.status == 200, reply.body
    for entry in reply.json()["connections"]:
        if entry["name"] == name:
            return entry
    raise AssertionError(f"no connection {name} in {reply.body!r}")


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
                 advertise_auth_methods: list[str] | None = None, port: int = 0,
                 auto_approve: str | None = None):
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
        if auto_approve:
            args += ["--auto-approve", auto_approve]
        self.log_path = workdir / "oauth_server.log"
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self._log, stdin=subprocess.DEVNULL)
        self.port = self._read_port()
        self.url = f"http://127.0.0.1:{self.port}"

    def _read_port(self) -> int:
        return read_listening_port(self.proc, self.stop, lambda: f"oauth_server.py:\n{self.log_text()}")

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

    @property
    def authorize_url(self) -> str:
        return self.url + "/oauth/authorize"

    @property
    def revocation_url(self) -> str:
        return self.url + "/oauth/revoke"

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
        """Every access token issued so far (also remembered for the log scan, with the refresh tokens)."""
        answer = self._call("GET", "/_tokens")
        issued = answer["access_tokens"]
        self.known_tokens.update(issued)
        self.known_tokens.update(r["refresh_token"] for r in answer.get("refresh_tokens", []))
        self.known_tokens.update(answer.get("code_verifiers", []))
        return issued

    def refresh_tokens(self, client_id: str | None = None) -> list[dict]:
        """Every refresh token issued (in issue order): [{refresh_token, client_id, valid, issued_at}]."""
        found = self._call("GET", "/_tokens").get("refresh_tokens", [])
        self.known_tokens.update(r["refresh_token"] for r in found)
        return [r for r in found if client_id is None or r["client_id"] == client_id]

    def code_verifiers(self) -> list[str]:
        """Every PKCE code_verifier the token endpoint received (for log scans)."""
        found = self._call("GET", "/_tokens").get("code_verifiers", [])
        self.known_tokens.update(found)
        return found

    def grants(self) -> dict:
        """/_grants: codes_pending, codes_issued, codes_exchanged, refresh_tokens (by prefix, valid),
        refresh_tokens_valid, revocations, authorizations (the authorization requests seen)."""
        return self._call("GET", "/_grants")

    def delay_grant(self, grant_type: str, ms: int):
        """Answer token requests of `grant_type` `ms` ms late (others at once)."""
        self._call("POST", "/_delay", {"ms": ms, "grant_type": grant_type})

    def direct_token_request(self, form: dict, client_id: str | None = None, secret: str | None = None):
        """POST /oauth/token straight to the server (Basic auth with `secret`, else client_id in the
        form); returns (status, JSON body)."""
        import base64
        data = dict(form)
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if client_id and secret:
            headers["Authorization"] = "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()
        elif client_id:
            data["client_id"] = client_id
        req = urllib.request.Request(self.token_url, data=urllib.parse.urlencode(data).encode(), method="POST",
                                     headers=headers)
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(req, timeout=TIMEOUT) as r:
                status, body = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, body = e.code, e.read()
        answer = json.loads(body) if body else {}
        for key in ("access_token", "refresh_token"):
            if answer.get(key):
                self.known_tokens.add(answer[key])
        return status, answer

    def direct_refresh(self, refresh_token: str, client_id: str, secret: str | None = None):
        """grant_type=refresh_token with `refresh_token`, straight to the server: (status, body)."""
        return self.direct_token_request({"grant_type": "refresh_token", "refresh_token": refresh_token},
                                         client_id, secret)

    def authorize(self, url: str, user: str | None = "alice", approve: bool = True, auto: bool = False):
        """Follows a proxy's consent redirect at this server without a browser: GET `url` with
        `auto_approve=USER` (`auto`), or POST the consent form (user, approve=yes|no). Returns the
        server's answer (status, Location) without following redirects."""
        if auto:
            return via_requests(url + "&auto_approve=" + urllib.parse.quote(user or ""))
        form = {"approve": "yes" if approve else "no"}
        if user:
            form["user"] = user
        return via_requests(url, method="POST", data=form)

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

    def fail(self, status: int = 503, count: int = 1, seconds: float = 0, retry_after=None, error=None):
        """Fails the next `count` token requests, or (with `seconds`) every one for that long, with
        `status` and `{"error": error or "temporarily_unavailable"}`; `retry_after` adds that header."""
        body = {"status": status, "count": 0 if seconds else count, "seconds": seconds}
        if retry_after is not None:
            body["retry_after"] = retry_after
        if error is not None:
            body["error"] = error
        self._call("POST", "/_fail", body)

    def delay(self, ms: int):
        self._call("POST", "/_delay", {"ms": ms})

    def set_metadata(self, **fields) -> dict:
        """/_metadata: `mtls_base=URL` publishes RFC 8705 mtls_endpoint_aliases, `issuer=S` a (wrong)
        issuer. Answers {"mtls_front_secret"}: the header value the TLS front must send."""
        return self._call("POST", "/_metadata", fields)

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
        """Values that must never show in a proxy log: client secrets, issued tokens (access and
        refresh) and PKCE verifiers received."""
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
    """Factory: `oauth_server(clients=[...], expires_in=3600, advertise_auth_methods=None, port=0,
    auto_approve=None)`.

    Depends on `latchkey_launcher` so that it is torn down first: the tokens it issued are then
    handed to every latchkey process of the test for the log scan."""
    servers: list[OAuthServer] = []

    def start(clients: list[dict], expires_in: int = 3600, advertise_auth_methods=None, port: int = 0,
              auto_approve: str | None = None) -> OAuthServer:
        srv = OAuthServer(tmp_path / f"oauth-{len(servers) + 1}", clients, expires_in, advertise_auth_methods, port,
                          auto_approve)
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


#: The confidential code client's secret in the authcode rigs (found in no log, by the scan).
CRM_SECRET = "e2e-authcode-crm-secret-5c1e9a7d"


class AuthCodeRig:
    """One authorization-code setup: the Authlib server with a code client `crm` registered for the
    proxy's callback (`http://127.0.0.1:ADMIN_PORT/oauth/callback`, the default redirect URI on a
    fixed free admin port), a `state_dir` and a fresh `state_key`, and a config with one route
    `crm` (`host: crm.test` -> the server's /api/resource). `.start()` (re)starts the proxy with the
    same config; `.get()` sends a request through it; `.entry()` is its /connections entry."""

    def __init__(self, latchkey, oauth_server, tmp_path: Path, secret: str | None = CRM_SECRET,
                 expires_in: int = 3600, extra=(), redirect_uri: str | None = None, revocation: bool = True,
                 auto_approve: str | None = None, scopes=("contacts.read", "offline_access"), top=(),
                 discovery: bool = False):
        from latchkey_e2e import free_port
        self._latchkey = latchkey
        self.secret = secret
        self.admin_port = free_port()
        self.redirect_uri = redirect_uri or f"http://127.0.0.1:{self.admin_port}/oauth/callback"
        self.srv = oauth_server([code_client("crm", secret, self.redirect_uri, scopes)], expires_in=expires_in,
                                auto_approve=auto_approve)
        self.state_dir = tmp_path / "state"
        self.state_file = self.state_dir / "crm.state"
        self.env = {"STATE_KEY": new_state_key()}
        lines = [f"authorize_url: {self.srv.authorize_url}", f"token_url: {self.srv.token_url}", "client_id: crm",
                 "scopes: [" + ", ".join(scopes) + "]"]
        if discovery:  # every endpoint from the RFC 8414 metadata
            lines = [f"discovery_url: {self.srv.metadata_url}", *lines[2:]]
        elif revocation:
            lines.append(f"revocation_url: {self.srv.revocation_url}")
        if secret:
            lines.append("client_secret: ${CRM_SECRET}")
            self.env["CRM_SECRET"] = secret
        if redirect_uri:
            lines.append(f"redirect_uri: {redirect_uri}")
        lines += list(extra)
        self.config = authcode_config(lines, [route("crm", self.srv.url, host=CRM_HOST, connection="crm")],
                                      self.state_dir, self.admin_port, top=top)
        self.lk = None

    def start(self):
        """Starts the proxy (a new process with the same config; stop the old one first)."""
        self.lk = self._latchkey(self.config, env=self.env)
        return self.lk

    @property
    def config_path(self) -> Path:
        return self.lk.config_path

    def get(self, path: str = "/api/resource", session=None, timeout: float = TIMEOUT):
        return api_get(self.lk, path, host=CRM_HOST, session=session, timeout=timeout)

    def entry(self) -> dict:
        return connection_entry(self.lk, "crm")

    def consent(self, **kwargs) -> Consent:
        return consent(self.lk, self.srv, "crm", **kwargs)

    def stored(self) -> dict:
        """The state file decrypted by the test (see read_state_file)."""
        return read_state_file(self.state_file, self.env["STATE_KEY"])

    def exchanges(self) -> int:
        """Authorization codes the server exchanged (each checked against its PKCE verifier)."""
        return self.srv.grants()["codes_exchanged"]


@pytest.fixture
def authcode(tmp_path, latchkey, oauth_server):
    """Factory: `rig = authcode(secret=CRM_SECRET, expires_in=3600, extra=(), redirect_uri=None,
    revocation=True, auto_approve=None, scopes=(...), top=(), discovery=False)` -> AuthCodeRig (the proxy not started: `rig.start()`)."""
    def make(**kwargs) -> AuthCodeRig:
        return AuthCodeRig(latchkey, oauth_server, tmp_path, **kwargs)
    return make
