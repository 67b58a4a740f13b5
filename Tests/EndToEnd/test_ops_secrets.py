"""Issue 5: a whole operational session — requests on every credential type, debug heads, a secret
rotation, a failed and a successful reload, the admin endpoints, SIGTERM — and not one secret or
token value in anything the process wrote or the admin listener answered."""

from __future__ import annotations

import base64
import signal
import uuid

from latchkey_e2e import admin_get, basic_value, header_values, run_latchkey_cli, via_requests, write_file
from oauth_fixtures import api_get, client

OAUTH_SECRET = f"e2e-ops-session-oauth-{uuid.uuid4().hex}"
PASSWORD = f"e2e-ops-session-password-{uuid.uuid4().hex}"
API_KEY = f"e2e-ops-session-apikey-{uuid.uuid4().hex}"
BEARER_1 = f"e2e-ops-session-bearer1-{uuid.uuid4().hex}"
BEARER_2 = f"e2e-ops-session-bearer2-{uuid.uuid4().hex}"
CLIENT_SENT = f"e2e-ops-session-client-cred-{uuid.uuid4().hex}"


def session_config(echo, srv, bearer_file, ca_dir, extra: str = "") -> str:
    return f"""
unmatched: deny
intercept:
  ca_cert: {ca_dir}/ca.crt
  ca_key: {ca_dir}/ca.key
secrets:
  bearer_token: {{file: {bearer_file}}}
connections:
  bear: {{type: bearer, token: "{{{{secret:bearer_token}}}}"}}
  basic: {{type: basic, username: svc, password: "${{OPS_PASSWORD}}"}}
  key: {{type: api_key, key: "${{OPS_API_KEY}}", header: X-API-Key, scheme: none}}
  oauth:
    type: oauth2_client_credentials
    token_url: {srv.token_url}
    client_id: app1
    client_secret: "${{OPS_OAUTH_SECRET}}"
routes:
  - name: bear
    path_prefix: /bear/
    strip_prefix: true
    upstream: {echo.url}
    connection: bear
    debug: true
  - name: basic
    path_prefix: /basic/
    strip_prefix: true
    upstream: {echo.url}
    connection: basic
    debug: true
  - name: key
    path_prefix: /key/
    strip_prefix: true
    upstream: {echo.url}
    connection: key
  - name: api
    host: api.oauth.test
    upstream: {srv.url}
    connection: oauth
    debug: true
{extra}"""


def test_no_secret_in_any_output_of_a_session(latchkey, echo, oauth_server, tmp_path):
    srv = oauth_server([client("app1", OAUTH_SECRET)])
    bearer_file = tmp_path / "bearer"
    bearer_file.write_text(BEARER_1 + "\n")
    ca_dir = tmp_path / "ca"  # the interception CA's key (issue 12) is a secret like the others
    assert run_latchkey_cli(["ca", "init", "--out", str(ca_dir)]).returncode == 0
    ca_key_lines = [line for line in (ca_dir / "ca.key").read_text().splitlines() if not line.startswith("-----")]
    env = {"OPS_PASSWORD": PASSWORD, "OPS_API_KEY": API_KEY, "OPS_OAUTH_SECRET": OAUTH_SECRET}
    lk = latchkey(session_config(echo, srv, bearer_file, ca_dir), env=env,
                  secrets=[BEARER_1, BEARER_2, CLIENT_SENT], args=["--log-level", "trace"])
    lk.wait_for_log(r"connection oauth: Connected")
    admin_bodies: list[bytes] = []

    def admin(path: str):
        reply = admin_get(lk, path)
        admin_bodies.append(reply.body)
        for _, v in reply.headers:
            admin_bodies.append(v.encode())
        return reply

    def traffic():
        client_cred = [("Authorization", f"Bearer {CLIENT_SENT}")]
        r = via_requests(lk.base_url + "/bear/x?q=1", headers=client_cred)
        assert r.status == 200
        bearer = header_values(r.json(), "Authorization")
        assert via_requests(lk.base_url + "/basic/x", headers=client_cred).json()["headers"]
        basic = header_values(via_requests(lk.base_url + "/basic/x").json(), "Authorization")
        assert basic == [basic_value("svc", PASSWORD)]
        assert header_values(via_requests(lk.base_url + "/key/x").json(), "X-API-Key") == [API_KEY]
        assert api_get(lk, headers=client_cred).status == 200
        assert via_requests(lk.base_url + "/nope").status in (403, 404)  # an error response too
        return bearer

    assert traffic() == [f"Bearer {BEARER_1}"]
    for path in ("/healthz", "/readyz", "/connections", "/metrics", "/nope"):
        admin(path)

    # Rotate the bearer secret file, then a failed reload, then a good one.
    mark = lk.log_offset()
    write_file(bearer_file, BEARER_2 + "\n")
    lk.wait_for_log(r"configuration reloaded \(file change\)", after=mark)
    assert traffic() == [f"Bearer {BEARER_2}"]

    mark = lk.log_offset()
    lk.rewrite_config(session_config(echo, srv, bearer_file, ca_dir, "bogus_top_level: 1\n"))
    lk.proc.send_signal(signal.SIGHUP)
    lk.wait_for_log(r"configuration reload \(SIGHUP\) failed", after=mark)
    for path in ("/readyz", "/connections", "/metrics"):
        admin(path)
    mark = lk.log_offset()
    lk.rewrite_config(session_config(echo, srv, bearer_file, ca_dir))
    lk.proc.send_signal(signal.SIGHUP)
    lk.wait_for_log(r"configuration reloaded \(SIGHUP\)", after=mark)
    traffic()
    for path in ("/readyz", "/connections", "/metrics"):
        admin(path)

    lk.proc.send_signal(signal.SIGTERM)
    assert lk.proc.wait(timeout=15) == 0

    output = lk.log_path.read_bytes()
    assert b"stopped" in output
    assert b"debug request attempt 1:" in output  # the debug heads were logged (redacted)
    tokens = srv.tokens()
    assert tokens, "the authorization server issued no token"
    values = [OAUTH_SECRET, PASSWORD, API_KEY, BEARER_1, BEARER_2, CLIENT_SENT, *tokens, *ca_key_lines]
    encoded = [base64.b64encode(f"svc:{PASSWORD}".encode()).decode(),
               base64.b64encode(f"app1:{OAUTH_SECRET}".encode()).decode()]
    haystacks = {"process output": output, **{f"admin response {i}": b for i, b in enumerate(admin_bodies)}}
    leaks = [f"{where}: {v[:24]}…" for where, data in haystacks.items()
             for v in values + encoded if v.encode() in data]
    assert leaks == [], leaks
