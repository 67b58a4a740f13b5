"""Issue 10 §1: endpoint URLs exactly as written, against a second, independent authorization server
(django-oauth-toolkit, whose endpoints end in '/').

The upstream is the server's own /api/resource/, which accepts only bearer tokens DOT issued: a 200
there proves a real token was injected. The server's test hook shows what reached it (path and query
byte for byte, form keys, authentication scheme), so a request that went to `/o/token` (and got a 301)
fails the test. Client secrets and every issued token are searched for in latchkey's log at teardown.
"""

import pytest

from dot_fixtures import DOT_API_HOST, DOT_CLIENTS
from latchkey_e2e import run_latchkey_cli
from oauth_fixtures import api_get, oauth_config, route

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
