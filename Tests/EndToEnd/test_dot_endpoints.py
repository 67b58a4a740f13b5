"""Issue 10 §1: endpoint URLs exactly as written, against a second, independent authorization server
(django-oauth-toolkit, whose endpoints end in '/').

The upstream is the server's own /api/resource/, which accepts only bearer tokens DOT issued: a 200
there proves a real token was injected. The server's test hook shows what reached it (path and query
byte for byte, form keys, authentication scheme), so a request that went to `/o/token` (and got a 301)
fails the test. Client secrets and every issued token are searched for in latchkey's log at teardown.
"""

import pytest

import urllib.parse

from dot_fixtures import DOT_API_HOST, DOT_CLIENTS, DOT_CODE_CLIENT
from latchkey_e2e import admin_get, run_latchkey_cli, via_requests
from oauth_fixtures import (CRM_HOST, api_get, authcode_config, follow_to_callback, new_state_key, oauth_config, route,
                            start_consent)

ENV = {"DOT_SECRET_BASIC": DOT_CLIENTS["dot-basic"], "DOT_SECRET_POST": DOT_CLIENTS["dot-post"]}


def connection(method: str, endpoint_line: str) -> list[str]:
    client_id, env = ("dot-basic", "DOT_SECRET_BASIC") if method == "client_secret_basic" else ("dot-post", "DOT_SECRET_POST")
    return [endpoint_line, f"client_id: {client_id}", f"client_secret: ${{{env}}}", f"client_auth: {method}",
            "scopes: read"]


def start(latchkey, dot_server, conn: list[str]):
    lk = latchkey(oauth_config(conn, [route("api", dot_server.url, host=DOT_API_HOST)]), env=ENV)
    return lk


def get_resource(lk, dot_server):
    reply = api_get(lk, path="/api/resource/", host=DOT_API_HOST)
    lk.secrets.extend(dot_server.access_tokens())
    return reply


def token_requests(seen):
    return [r for r in seen if r["method"] == "POST"]


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_client_credentials_with_trailing_slash_token_url(latchkey, dot_server, method):
    mark = dot_server.mark()
    lk = start(latchkey, dot_server, connection(method, f"token_url: {dot_server.url}/o/token/"))
    lk.wait_for_log(r"connection oauth: Connected")

    reply = get_resource(lk, dot_server)
    assert reply.status == 200, reply.body
    assert reply.json()["client_id"] == ("dot-basic" if method == "client_secret_basic" else "dot-post")
    assert reply.json()["scope"] == "read"

    posts = token_requests(dot_server.requests_since(mark))
    assert [(r["path"], r["query"], r["status"]) for r in posts] == [("/o/token/", "", 200)], posts
    if method == "client_secret_basic":
        assert posts[0]["auth_scheme"] == "Basic" and posts[0]["form_keys"] == ["grant_type", "scope"], posts
    else:
        assert posts[0]["auth_scheme"] is None, posts
        assert posts[0]["form_keys"] == ["grant_type", "scope", "client_id", "client_secret"], posts


def test_token_url_query_is_sent_as_written_and_grant_parameters_stay_in_the_body(latchkey, dot_server):
    """B2C-style `?p=policy`: the endpoint routes on the query; a dropped or altered query is a 400."""
    mark = dot_server.mark()
    lk = start(latchkey, dot_server,
               connection("client_secret_basic", f"token_url: {dot_server.url}/b2c/token/?p=B2C_1_policy"))
    lk.wait_for_log(r"connection oauth: Connected")
    reply = get_resource(lk, dot_server)
    assert reply.status == 200, reply.body
    assert reply.json()["client_id"] == "dot-basic"

    posts = token_requests(dot_server.requests_since(mark))
    assert [(r["path"], r["query"], r["status"]) for r in posts] == [("/b2c/token/", "p=B2C_1_policy", 200)], posts
    assert posts[0]["form_keys"] == ["grant_type", "scope"], posts


def test_query_reaches_dot_token_endpoint_byte_for_byte(latchkey, dot_server):
    """`?api-version=2.0` on DOT's own endpoint: the query arrives exactly (and nothing else is added to
    it); oauthlib refuses queries on token POSTs, and its words reach the app in the 502."""
    mark = dot_server.mark()
    lk = start(latchkey, dot_server,
               connection("client_secret_post", f"token_url: {dot_server.url}/o/token/?api-version=2.0"))
    lk.wait_for_log(r"connection oauth: .*invalid_request")
    reply = get_resource(lk, dot_server)
    assert reply.status == 502, reply.body
    assert "URL query parameters are not allowed" in reply.json()["detail"], reply.body

    posts = token_requests(dot_server.requests_since(mark))
    assert posts and all(r["path"] == "/o/token/" and r["query"] == "api-version=2.0" for r in posts), posts
    assert all(r["form_keys"] == ["grant_type", "scope", "client_id", "client_secret"] for r in posts), posts


def test_discovery_from_the_issuer(latchkey, dot_server):
    """RFC 8414 §3.1: issuer http://HOST/o -> /.well-known/oauth-authorization-server/o, whose
    token_endpoint (`/o/token/`) is then used exactly as published."""
    mark = dot_server.mark()
    lk = start(latchkey, dot_server, connection("client_secret_basic", f"discovery_url: {dot_server.issuer}"))
    lk.wait_for_log(r"connection oauth: Connected")
    reply = get_resource(lk, dot_server)
    assert reply.status == 200, reply.body

    seen = [(r["method"], r["path"], r["status"]) for r in dot_server.requests_since(mark)
            if r["path"] != "/api/resource/"]
    assert seen == [("GET", "/.well-known/oauth-authorization-server/o", 200), ("POST", "/o/token/", 200)], seen


def test_discovery_url_with_trailing_slash_is_used_as_written(latchkey, dot_server):
    """DOT's OpenID Connect document lives at `/o/.well-known/openid-configuration/` (trailing '/'): asked
    for exactly that, with no redirect on the way."""
    mark = dot_server.mark()
    lk = start(latchkey, dot_server, connection(
        "client_secret_post", f"discovery_url: {dot_server.url}/o/.well-known/openid-configuration/"))
    lk.wait_for_log(r"connection oauth: Connected")
    reply = get_resource(lk, dot_server)
    assert reply.status == 200, reply.body

    seen = [(r["method"], r["path"], r["status"]) for r in dot_server.requests_since(mark)
            if r["path"] != "/api/resource/"]
    assert seen == [("GET", "/o/.well-known/openid-configuration/", 200), ("POST", "/o/token/", 200)], seen


def test_check_reports_the_token_url_as_written(tmp_path, dot_server):
    """`latchkey check` fetches a token and names the endpoint with its trailing '/'."""
    config = tmp_path / "proxy.conf"
    config.write_text(oauth_config(connection("client_secret_basic", f"token_url: {dot_server.url}/o/token/"),
                                   [route("api", dot_server.url, host=DOT_API_HOST)]))
    result = run_latchkey_cli(["check", "--config", str(config)], env=ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Connected to {dot_server.url}/o/token/" in result.stdout, result.stdout
    assert DOT_CLIENTS["dot-basic"] not in result.stdout + result.stderr


def test_authorization_code_with_trailing_slash_endpoints(latchkey, dot_server, tmp_path):
    """Consent, code exchange, requests and revocation against DOT's `/o/authorize/`, `/o/token/` and
    `/o/revoke_token/`: each reached exactly as written (a 301 anywhere fails the flow)."""
    client_id, secret = DOT_CODE_CLIENT
    url = dot_server.url
    conn = [f"authorize_url: {url}/o/authorize/", f"token_url: {url}/o/token/",
            f"revocation_url: {url}/o/revoke_token/", f"client_id: {client_id}", "client_secret: ${DOT_SECRET_CODE}",
            "scopes: read"]
    config = authcode_config(conn, [route("crm", url, host=CRM_HOST, connection="crm")], tmp_path / "state",
                             admin_port=dot_server.code_admin_port)
    mark = dot_server.mark()
    lk = latchkey(config, env={"STATE_KEY": new_state_key(), "DOT_SECRET_CODE": secret})

    location = start_consent(lk)
    assert location.startswith(f"{url}/o/authorize/?response_type=code&"), location
    sent = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))
    assert sent["redirect_uri"] == dot_server.code_redirect_uri and sent["code_challenge_method"] == "S256", sent
    callback, query = follow_to_callback(lk, via_requests(location, headers=[("X-Test-User", "alice")]))
    assert query.get("state") == sent["state"] and query.get("code"), callback
    page = via_requests(callback)
    assert page.status == 200 and "<h1>Connected</h1>" in page.body.decode(), page.body

    reply = api_get(lk, path="/api/resource/", host=CRM_HOST)
    lk.secrets.extend(dot_server.access_tokens())
    lk.secrets.extend(t["token"] for t in dot_server.refresh_tokens())
    assert reply.status == 200, reply.body
    assert reply.json()["client_id"] == client_id and reply.json()["scope"] == "read", reply.body

    done = admin_get(lk, "/connections/crm/disconnect", method="POST")
    assert done.status == 200, done.body

    seen = [(r["method"], r["path"], r["query"] != "", r["status"]) for r in dot_server.requests_since(mark)]
    assert seen == [
        ("GET", "/o/authorize/", True, 302),  # the consent (signed in by the test header)
        ("POST", "/o/token/", False, 200),  # the code exchange
        ("GET", "/api/resource/", False, 200),
        ("POST", "/o/revoke_token/", False, 200),  # disconnect revokes the refresh token (RFC 7009)
    ], seen
    exchange = dot_server.requests_since(mark)[1]
    assert exchange["auth_scheme"] == "Basic", exchange
    assert set(exchange["form_keys"]) >= {"grant_type", "code", "redirect_uri", "code_verifier"}, exchange
    assert all(t["revoked"] for t in dot_server.refresh_tokens()), dot_server.refresh_tokens()
