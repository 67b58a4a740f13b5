"""Fixtures for the second, independent authorization server: django-oauth-toolkit (test_dot_*.py).

Registered from conftest.py (`pytest_plugins`). The server is peers/dot_server.py (a self-contained
Django project around django-oauth-toolkit), run with the test environment's Python. Its endpoints end
in '/' like every Django server's: `/o/token/`, `/o/revoke_token/`, `/o/authorize/`.

- **`dot_server`** (session): one server on a kernel-chosen port with the clients `DOT_CLIENTS`
  (confidential, client credentials; DOT accepts client_secret_basic and client_secret_post).
  Also the authorization-code client `DOT_CODE_CLIENT` for the redirect URI `.code_redirect_uri`
  (the admin callback on `.code_admin_port`); `X-Test-User: NAME` on a request signs it in.
  `.port`, `.url`, `.token_url` (`/o/token/`), `.issuer` (`/o`), `.mark()` then
  `.requests_since(mark)` (what the server received: method, path, query, form keys, auth scheme,
  status), `.access_tokens()`, `.refresh_tokens()`, `.log_text()`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from latchkey_e2e import PEERS, TIMEOUT, free_port, read_listening_port, stop_process

#: client_id -> secret of the clients the session's server knows (secrets >= 6 chars: the log scan finds them).
DOT_CLIENTS = {"dot-basic": "dot-secret-basic-1", "dot-post": "dot-secret-post-2"}

#: The authorization-code client: id, secret; its redirect URI is the admin callback on `code_admin_port`.
DOT_CODE_CLIENT = ("dot-code", "dot-secret-code-3")

#: Host of the routes that forward to the server's own /api/resource/ (a bearer-checking upstream).
DOT_API_HOST = "api.dot.test"


class DOTServer:
    """peers/dot_server.py on a kernel-chosen port."""

    def __init__(self, workdir: Path, clients: dict[str, str]):
        workdir.mkdir(parents=True, exist_ok=True)
        self.code_admin_port = free_port()
        args = [sys.executable, str(PEERS / "dot_server.py"), "--port", "0", "--workdir", str(workdir),
                "--code-client", f"{DOT_CODE_CLIENT[0]}:{DOT_CODE_CLIENT[1]}:{self.code_redirect_uri}"]
        for client_id, secret in clients.items():
            args += ["--client", f"{client_id}:{secret}:read,write"]
        self.log_path = workdir / "dot_server.log"
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self._log, stdin=subprocess.DEVNULL)
        self.port = read_listening_port(self.proc, self.stop, lambda: f"dot_server.py:\n{self.log_text()}")
        self.url = f"http://127.0.0.1:{self.port}"

    @property
    def code_redirect_uri(self) -> str:
        """The one redirect URI of the authorization-code client: the admin listener's callback on
        `code_admin_port` (a latchkey for that client runs with `admin: 127.0.0.1:code_admin_port`)."""
        return f"http://127.0.0.1:{self.code_admin_port}/oauth/callback"

    @property
    def token_url(self) -> str:
        return self.url + "/o/token/"

    @property
    def issuer(self) -> str:
        return self.url + "/o"

    def state(self) -> dict:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(self.url + "/_test/state", timeout=TIMEOUT) as r:
            return json.loads(r.read())

    def mark(self) -> int:
        """The number of requests seen so far (the session's server is shared by the tests)."""
        return len(self.state()["requests"])

    def requests_since(self, mark: int) -> list[dict]:
        return self.state()["requests"][mark:]

    def access_tokens(self) -> list[str]:
        return self.state()["access_tokens"]

    def refresh_tokens(self) -> list[dict]:
        """[{token, revoked}] for every refresh token issued."""
        return self.state()["refresh_tokens"]

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self):
        stop_process(self.proc)
        self._log.close()


@pytest.fixture(scope="session")
def dot_server(tmp_path_factory):
    server = DOTServer(tmp_path_factory.mktemp("dot"), DOT_CLIENTS)
    yield server
    server.stop()
