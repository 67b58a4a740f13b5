"""The django-oauth-toolkit peer works without latchkey (a harness failure shows here first), and it
behaves as issue 10 describes: its endpoints end in '/', and the same URL without the slash is a 301."""

import base64
import json
import urllib.error
import urllib.parse
import urllib.request

from dot_fixtures import DOT_CLIENTS
from latchkey_e2e import TIMEOUT

OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


RAW = urllib.request.build_opener(urllib.request.ProxyHandler({}), NoRedirect())


def call(url, form=None, headers=None, opener=RAW):
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    req = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with opener.open(req, timeout=TIMEOUT) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def basic(client_id):
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{DOT_CLIENTS[client_id]}".encode()).decode()}


def test_token_endpoint_with_basic_and_post_and_the_resource(dot_server):
    status, _, body = call(dot_server.token_url, {"grant_type": "client_credentials"}, basic("dot-basic"))
    assert status == 200, body
    token = json.loads(body)["access_token"]
    status, _, body = call(dot_server.token_url, {"grant_type": "client_credentials", "client_id": "dot-post",
                                                  "client_secret": DOT_CLIENTS["dot-post"]})
    assert status == 200, body
    status, _, body = call(dot_server.url + "/api/resource/", headers={"Authorization": f"Bearer {token}"})
    assert status == 200 and json.loads(body)["client_id"] == "dot-basic", body
    status, headers, _ = call(dot_server.url + "/api/resource/", headers={"Authorization": "Bearer nope"})
    assert status == 401 and "Bearer" in headers.get("WWW-Authenticate", "")
    status, _, body = call(dot_server.token_url, {"grant_type": "client_credentials"},
                           {"Authorization": "Basic " + base64.b64encode(b"dot-basic:wrong").decode()})
    assert status == 401 and json.loads(body)["error"] == "invalid_client", body


def test_path_without_trailing_slash_is_a_redirect(dot_server):
    """What a proxy that drops the trailing '/' ran into: Django's APPEND_SLASH answers 301."""
    status, headers, _ = call(dot_server.url + "/o/token", {"grant_type": "client_credentials"}, basic("dot-basic"))
    assert status == 301 and headers.get("Location") == "/o/token/", (status, headers)


def test_query_on_the_token_endpoint(dot_server):
    """oauthlib refuses any query on a POST to DOT's token endpoint; /b2c/token/ routes on `p`."""
    status, _, body = call(dot_server.token_url + "?api-version=2.0", {"grant_type": "client_credentials"},
                           basic("dot-basic"))
    assert status == 400 and "query parameters are not allowed" in json.loads(body)["error_description"], body
    status, _, body = call(dot_server.url + "/b2c/token/?p=B2C_1_policy", {"grant_type": "client_credentials"},
                           basic("dot-basic"))
    assert status == 200 and "access_token" in json.loads(body), body
    status, _, body = call(dot_server.url + "/b2c/token/?p=other", {"grant_type": "client_credentials"},
                           basic("dot-basic"))
    assert status == 400, body


def test_metadata_documents(dot_server):
    for path in ("/.well-known/oauth-authorization-server/o", "/o/.well-known/openid-configuration/"):
        status, _, body = call(dot_server.url + path)
        assert status == 200, (path, body)
        doc = json.loads(body)
        assert doc["issuer"] == dot_server.issuer
        assert doc["token_endpoint"] == dot_server.token_url
        assert "client_secret_basic" in doc["token_endpoint_auth_methods_supported"]


def test_test_hook_records_requests(dot_server):
    mark = dot_server.mark()
    call(dot_server.token_url + "?x=1", {"grant_type": "client_credentials"}, basic("dot-basic"))
    seen = dot_server.requests_since(mark)
    assert [(r["method"], r["path"], r["query"], r["auth_scheme"]) for r in seen] == [
        ("POST", "/o/token/", "x=1", "Basic")], seen
