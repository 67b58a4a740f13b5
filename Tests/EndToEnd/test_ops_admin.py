"""Issue 5: the admin listener — /healthz, /readyz, /connections and unknown paths."""

from __future__ import annotations

import json

from latchkey_e2e import admin_get, free_port, via_requests, wait_until
from oauth_fixtures import api_get, client, oauth_config, route

OAUTH_SECRET = "e2e-ops-admin-oauth-secret-51c9"
BEARER = "e2e-ops-admin-bearer-token-7d02"
PASSWORD = "e2e-ops-admin-basic-password-3e8a"


def test_healthz_and_unknown_path(latchkey, echo):
    lk = latchkey(f"""
        routes:
          - name: e
            path_prefix: /e/
            upstream: {echo.url}
        """)
    health = admin_get(lk, "/healthz")
    assert health.status == 200
    assert health.json() == {"status": "ok"}
    assert "json" in (health.header("Content-Type") or "")

    assert admin_get(lk, "/healthz", method="HEAD").status == 200
    wrong = admin_get(lk, "/healthz", method="POST")
    assert wrong.status == 405 and wrong.json()["error"] == "method_not_allowed"

    missing = admin_get(lk, "/no-such-endpoint")
    assert missing.status == 404
    body = missing.json()
    assert body["error"] == "not_found" and "/healthz" in body["detail"], body

    # The admin endpoints live only on the admin listener: on the proxy port /healthz is routed
    # (or denied) like any other path, never answered with the health document.
    on_proxy = via_requests(lk.base_url + "/healthz")
    assert on_proxy.body != health.body


def test_readyz_ready_without_oauth(latchkey, echo):
    lk = latchkey(f"""
        connections:
          api: {{type: bearer, token: "${{OPS_BEARER}}"}}
        routes:
          - name: e
            path_prefix: /e/
            upstream: {echo.url}
            connection: api
        """, env={"OPS_BEARER": BEARER})
    ready = admin_get(lk, "/readyz")
    assert ready.status == 200, ready.body
    assert ready.json() == {"status": "ready"}


def test_connections_lists_every_connection_without_secrets(latchkey, echo, oauth_server):
    srv = oauth_server([client("app1", OAUTH_SECRET)])
    config = oauth_config(
        [f"token_url: {srv.token_url}", "client_id: app1", "client_secret: ${OPS_OAUTH_SECRET}"],
        [route("api", srv.url)],
        top=[],
    )
    # Two static connections next to the OAuth one.
    config = config.replace("connections:\n", "connections:\n"
                            "  bear: {type: bearer, token: \"${OPS_BEARER}\"}\n"
                            "  basic: {type: basic, username: svc, password: \"${OPS_PASSWORD}\"}\n", 1)
    lk = latchkey(config, env={"OPS_OAUTH_SECRET": OAUTH_SECRET, "OPS_BEARER": BEARER, "OPS_PASSWORD": PASSWORD})
    lk.wait_for_log(r"connection oauth: Connected")
    assert api_get(lk).status == 200

    reply = admin_get(lk, "/connections")
    assert reply.status == 200
    items = {c["name"]: c for c in reply.json()["connections"]}
    assert set(items) == {"bear", "basic", "oauth"}, items
    assert items["bear"]["type"] == "bearer" and items["bear"]["state"] == "static"
    assert items["basic"]["type"] == "basic" and items["basic"]["state"] == "static"
    oauth = items["oauth"]
    assert oauth["type"] == "oauth2_client_credentials"
    assert oauth["state"] == "connected", oauth
    assert 3000 < oauth["token_expires_in_seconds"] <= 3600, oauth
    assert oauth["token_requests"] == 1 and oauth["token_fetched"] == 1, oauth
    assert oauth["token_fetch_failed"] == 0, oauth
    assert not oauth.get("last_error"), oauth

    text = reply.body.decode()
    for secret in [OAUTH_SECRET, BEARER, PASSWORD, *srv.tokens()]:
        assert secret not in text


def test_readyz_not_ready_while_required_token_endpoint_is_down_then_ready(latchkey, oauth_server):
    """A connection marked `required_for_readiness: true` whose token endpoint does not listen:
    /readyz is 503 naming the connection and the failure, /connections says `error` with `last_error`;
    once the authorization server is up and a request has fetched a token, both recover. (Without the
    key readiness ignores connection health: test_ops_readiness.py.)"""
    port = free_port()
    token_url = f"http://127.0.0.1:{port}/oauth/token"
    config = oauth_config([f"token_url: {token_url}", "client_id: app1", "client_secret: ${OPS_OAUTH_SECRET}",
                           "required_for_readiness: true"],
                          [route("api", f"http://127.0.0.1:{port}")])
    lk = latchkey(config, env={"OPS_OAUTH_SECRET": OAUTH_SECRET})

    # Until the start-up fetch has failed the connection is `starting` and /readyz passes.
    def not_ready():
        r = admin_get(lk, "/readyz")
        return r if r.status == 503 else None
    reply = wait_until(not_ready, what="/readyz 503 naming the failed start-up fetch")
    body = reply.json()
    assert body["status"] == "not_ready", body
    assert [n["connection"] for n in body["not_ready"]] == ["oauth"], body
    assert body["not_ready"][0]["required_for_readiness"] is True, body
    reason = body["not_ready"][0]["reason"]
    assert reason, body
    assert f"127.0.0.1:{port}" in reason and "refused" in reason.lower(), reason
    assert "config_reload_error" not in body

    conn = admin_get(lk, "/connections").json()["connections"][0]
    assert conn["state"] == "error", conn
    assert conn["last_error"], conn
    assert conn["token_fetch_failed"] >= 1, conn
    assert "token_expires_in_seconds" not in conn

    srv = oauth_server([client("app1", OAUTH_SECRET)], port=port)
    # With no token, requests inside the cold-cache backoff window (250 ms doubling, capped at 5 s) fail
    # fast with the last error rather than stampede a recovering provider; the first request after the
    # window fetches a token.
    wait_until(lambda: api_get(lk).status == 200, what="a request succeeding once the server is up")
    ready = admin_get(lk, "/readyz")
    assert ready.status == 200, ready.body
    assert ready.json() == {"status": "ready"}
    conn = admin_get(lk, "/connections").json()["connections"][0]
    assert conn["state"] == "connected", conn
    assert conn["token_fetched"] >= 1, conn
    for token in srv.tokens():
        assert token not in json.dumps(conn)
