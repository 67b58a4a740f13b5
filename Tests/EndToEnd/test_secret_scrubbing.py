"""Issue 11: external text carries secrets. Every known secret value is scrubbed from everything the
proxy shows: logs, /connections, /readyz, the app's 502 body, `check` output. A token endpoint here echoes
the whole request it got (path, Authorization, form body with the client secret) in `error_description`,
and the `token_url` path itself comes from a secret. `debug: true` hides query values and credential-like
headers; a rejected absolute-form request is logged without `user:password@`."""

from __future__ import annotations

import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from latchkey_e2e import admin_get, raw_exchange, run_latchkey_cli, via_requests, write_file

CLIENT_SECRET = "e2e-scrub-client-secret/+&=42"  # characters that change when form-encoded
TENANT = "e2e-scrub-tenant-path-77"
API_HOST = "scrub-api.test"


class EchoingTokenEndpoint(BaseHTTPRequestHandler):
    """Answers every POST with 401 invalid_client and an error_description quoting the whole request."""

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode("latin-1")
        described = (f"client rejected at {self.path} with Authorization={self.headers.get('Authorization')} "
                     f"and body {body} (decoded: {urllib.parse.unquote_plus(body)})")
        payload = json.dumps({"error": "invalid_client", "error_description": described}).encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def echoing_token_endpoint():
    server = ThreadingHTTPServer(("127.0.0.1", 0), EchoingTokenEndpoint)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def scrub_config(port: int, echo_url: str, client_auth: str) -> str:
    return f"""
unmatched: deny
secrets:
  tenant: {{value: "{TENANT}"}}
connections:
  oauth:
    type: oauth2_client_credentials
    token_url: "http://127.0.0.1:{port}/{{{{secret:tenant}}}}/token"
    client_id: scrub-client
    client_secret: "${{SCRUB_CLIENT_SECRET}}"
    client_auth: {client_auth}
routes:
  - name: api
    host: {API_HOST}
    upstream: {echo_url}
    connection: oauth
"""


def assert_nowhere(texts: dict[str, str]):
    for secret in (CLIENT_SECRET, urllib.parse.quote_plus(CLIENT_SECRET), urllib.parse.quote(CLIENT_SECRET, safe=""),
                   TENANT):
        for where, text in texts.items():
            assert secret not in text, f"{secret!r} in {where}: {text[:3000]}"


@pytest.mark.parametrize("client_auth", ["client_secret_post", "client_secret_basic"])
def test_provider_echo_and_secret_token_url_never_shown(latchkey, echo, echoing_token_endpoint, client_auth):
    lk = latchkey(scrub_config(echoing_token_endpoint, echo.url, client_auth),
                  env={"SCRUB_CLIENT_SECRET": CLIENT_SECRET}, secrets=[CLIENT_SECRET, TENANT])
    reply = via_requests(f"http://{API_HOST}/x", proxy=lk.proxy_url)
    assert reply.status == 502, reply.body
    body = reply.body.decode()
    assert "invalid_client" in body and "[redacted]" in body, body  # the provider's text, scrubbed

    connections = admin_get(lk, "/connections").body.decode()
    # The provider's reason appears in /connections/health (issue 14: /readyz no longer lists connections).
    health = admin_get(lk, "/connections/health").body.decode()
    readyz = admin_get(lk, "/readyz").body.decode()
    assert "[redacted]" in connections and "[redacted]" in health, (connections, health)
    lk.wait_for_log(r"invalid_client")
    assert_nowhere({"502 body": body, "/connections": connections, "/connections/health": health, "/readyz": readyz,
                    "log": lk.log_text()})


def test_check_output_is_scrubbed(tmp_path, echo, echoing_token_endpoint):
    path = tmp_path / "proxy.conf"
    write_file(path, scrub_config(echoing_token_endpoint, echo.url, "client_secret_post"))
    done = run_latchkey_cli(["check", "--config", str(path)], env={"SCRUB_CLIENT_SECRET": CLIENT_SECRET})
    out = done.stdout + done.stderr
    assert done.returncode != 0 and "invalid_client" in out, out
    assert_nowhere({"check output": out})


def test_debug_log_hides_query_values_and_credential_like_headers(latchkey, echo):
    lk = latchkey(f"""
        routes:
          - name: dbg
            path_prefix: /dbg/
            upstream: {echo.url}
            debug: true
        """)
    reply = via_requests(lk.base_url + "/dbg/echo/scrub?api_key=e2e-query-key-5150&page=2",
                         headers=[("Cookie", "sid=e2e-cookie-value-8080"), ("X-Custom-Token", "e2e-custom-token-3030"),
                                  ("X-Session-Id", "e2e-session-id-4040"), ("X-Trace", "visible-trace-value")])
    assert reply.status == 200
    seen = reply.json()
    assert "api_key=e2e-query-key-5150" in seen["path"]  # the upstream still gets everything
    lk.wait_for_log(r"debug request attempt 1")
    log = lk.log_text()
    for secret in ("e2e-query-key-5150", "e2e-cookie-value-8080", "e2e-custom-token-3030", "e2e-session-id-4040"):
        assert secret not in log, log[-3000:]
    assert "api_key=<redacted>" in log and "visible-trace-value" in log, log[-3000:]


def test_rejected_absolute_form_request_is_logged_without_user_info(latchkey):
    lk = latchkey("unmatched: deny\n")
    for target in ("http://e2e-user:e2e-userinfo-pass-6060@denied.test/x?token=e2e-q-7070",
                   "http://e2e-user:e2e-userinfo-pass-6060@denied.test"):
        result = raw_exchange(lk.port, f"GET {target} HTTP/1.1\r\nHost: denied.test\r\nConnection: close\r\n\r\n".encode())
        assert result.status in (400, 403), result.data
    lk.wait_for_log(r"denied\.test")
    log = lk.log_text()
    assert "e2e-userinfo-pass-6060" not in log and "e2e-q-7070" not in log, log[-3000:]
