"""What the proxy sends to the token endpoint: scopes, audience, token_params, token_headers, and
per-route overrides (each override is its own cache entry, so its own token)."""

import pytest

from oauth_fixtures import API_HOST, api_get, client, oauth_config, route

SECRET = "e2e-oauth-params-secret-90c2e4"
ENV = {"OAUTH_SECRET": SECRET}


@pytest.mark.parametrize("scopes_style", ["list", "string"])
def test_scopes_audience_params_headers(latchkey, oauth_server, scopes_style):
    srv = oauth_server([client("app1", SECRET, ["read", "write", "admin"])])
    scopes = "scopes:\n  - read\n  - write" if scopes_style == "list" else 'scopes: "read write"'
    conn = [f"token_url: {srv.token_url}", "client_id: app1", "client_secret: ${OAUTH_SECRET}", scopes,
            "audience: https://api.example.test",
            "token_params:\n  resource: https://resource.example.test\n  tenant_hint: t-7",
            "token_headers:\n  X-Tenant: tenant-42"]
    lk = latchkey(oauth_config(conn, [route("api", srv.url)]), env=ENV)
    lk.wait_for_log(r"connection oauth: Connected")

    reply = api_get(lk)
    assert reply.status == 200, reply.body
    assert reply.json()["scope"] == "read write"

    stats = srv.stats()
    assert stats["token_requests"] == 1, stats
    req = stats["last_requests"][0]
    assert req["status"] == 200
    assert req["scope"] == "read write"  # RFC 6749 §3.3: space-delimited
    assert req["audience"] == "https://api.example.test"
    assert req["form"]["resource"] == "https://resource.example.test"
    assert req["form"]["tenant_hint"] == "t-7"
    assert req["form"]["grant_type"] == "client_credentials"
    assert req["x_tenant"] == "tenant-42"


def test_route_overrides_get_their_own_tokens(latchkey, oauth_server):
    srv = oauth_server([client("app1", SECRET, ["read", "write", "admin"])])
    conn = [f"token_url: {srv.token_url}", "client_id: app1", "client_secret: ${OAUTH_SECRET}",
            'scopes: "read write"', "audience: aud-default"]
    routes = [
        route("api", srv.url),
        route("api-admin", srv.url, host="admin.oauth.test", extra=["scopes: [admin]"]),
        route("api-other-aud", srv.url, host="aud.oauth.test", extra=["audience: aud-other"]),
    ]
    lk = latchkey(oauth_config(conn, routes), env=ENV)
    lk.wait_for_log(r"connection oauth: Connected")

    for _ in range(3):  # repeated requests reuse each route's cached token
        default = api_get(lk, host=API_HOST)
        admin = api_get(lk, host="admin.oauth.test")
        other = api_get(lk, host="aud.oauth.test")
        assert (default.status, admin.status, other.status) == (200, 200, 200), (default.body, admin.body, other.body)
        assert default.json()["scope"] == "read write"
        assert admin.json()["scope"] == "admin"
        assert other.json()["scope"] == "read write"
    tokens = {default.json()["headers"]["Authorization"], admin.json()["headers"]["Authorization"],
              other.json()["headers"]["Authorization"]}
    assert len(tokens) == 3  # three cache keys, three tokens

    stats = srv.stats()
    assert stats["token_requests"] == 3, stats
    seen = sorted((r["scope"], r["audience"]) for r in stats["last_requests"])
    assert seen == sorted([("read write", "aud-default"), ("admin", "aud-default"), ("read write", "aud-other")])
