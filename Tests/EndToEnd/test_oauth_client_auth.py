"""OAuth 2.0 client credentials (RFC 6749 §4.4): the three client authentication methods.

The upstream is the authorization server's own /api/resource, which accepts only bearer tokens the
server issued and answers with the token's client_id and scope, so a 200 there proves the proxy
injected a real token. The server's /_stats shows how the proxy authenticated. Every issued token,
the client secret and the private keys' PEM are searched for in latchkey's log at teardown.
"""

import pytest

from oauth_fixtures import api_get, client, jwt_client, oauth_config, route

SECRET = "e2e-oauth-client-secret-4b7d19"
ENV = {"OAUTH_SECRET": SECRET}


def bearer_of(reply) -> str:
    auth = reply.json()["headers"].get("Authorization", "")
    assert auth.startswith("Bearer "), reply.json()["headers"]
    return auth[len("Bearer "):]


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_client_secret_methods(latchkey, oauth_server, method):
    srv = oauth_server([client("app1", SECRET, ["read", "write"])])
    conn = [f"token_url: {srv.token_url}", "client_id: app1", "client_secret: ${OAUTH_SECRET}", "scopes: read"]
    if method != "client_secret_basic":
        conn.append(f"client_auth: {method}")  # client_secret_basic is the default
    lk = latchkey(oauth_config(conn, [route("api", srv.url)]), env=ENV)
    lk.wait_for_log(r"connection oauth: Connected")

    # The client's own Authorization is replaced by the proxy's token.
    reply = api_get(lk, headers=[("Authorization", "Bearer client-supplied-token")])
    assert reply.status == 200, reply.body
    seen = reply.json()
    assert seen["client_id"] == "app1" and seen["scope"] == "read"
    assert bearer_of(reply) in srv.tokens()

    ok = srv.ok_token_requests()
    assert len(ok) == 1, srv.stats()
    req = ok[0]
    assert req["auth_method"] == method
    assert req["grant_type"] == "client_credentials"
    assert req["content_type"] == "application/x-www-form-urlencoded"
    if method == "client_secret_basic":
        assert req["has_basic_auth"] and "client_secret" not in req["form"]
    else:
        assert not req["has_basic_auth"]
        assert req["form"]["client_id"] == "app1" and req["form"]["client_secret"] == "<redacted>"


@pytest.mark.parametrize("alg", ["RS256", "PS256", "ES256"])
def test_private_key_jwt(latchkey, oauth_server, oauth_keys, alg):
    private, public = ((oauth_keys.ec_private, oauth_keys.ec_public) if alg == "ES256"
                       else (oauth_keys.rsa_private, oauth_keys.rsa_public))
    srv = oauth_server([jwt_client("svc1", public, ["read", "write"])])
    conn = [f"token_url: {srv.token_url}", "client_id: svc1", "client_auth: private_key_jwt",
            'private_key: "{{secret:signing_key}}"', f"key_id: kid-{alg.lower()}", f"signing_alg: {alg}"]
    top = ["secrets:", f"  signing_key: {{file: {private}}}"]
    lk = latchkey(oauth_config(conn, [route("api", srv.url)], top=top))
    lk.wait_for_log(r"connection oauth: Connected")

    reply = api_get(lk)
    assert reply.status == 200, reply.body
    assert reply.json()["client_id"] == "svc1"
    assert bearer_of(reply) in srv.tokens()

    ok = srv.ok_token_requests()
    assert len(ok) == 1, srv.stats()
    req = ok[0]
    assert req["auth_method"] == "private_key_jwt"
    assert req["form"]["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    assert not req["has_basic_auth"] and "client_secret" not in req["form"]
    assert req["assertion_header"]["alg"] == alg
    assert req["assertion_header"]["kid"] == f"kid-{alg.lower()}"
    claims = req["assertion_claims"]
    assert claims["iss"] == claims["sub"] == "svc1"
    assert claims["aud"] == srv.token_url
    assert claims["jti"] and claims["exp"] > claims["iat"]


def test_private_key_jwt_wrong_key_is_invalid_client(latchkey, oauth_server, oauth_keys):
    """The server knows the EC public key; the proxy signs with the RSA key: no token, a clear 502."""
    srv = oauth_server([jwt_client("svc1", oauth_keys.ec_public)])
    conn = [f"token_url: {srv.token_url}", "client_id: svc1", "client_auth: private_key_jwt",
            'private_key: "{{secret:signing_key}}"', "signing_alg: RS256"]
    top = ["secrets:", f"  signing_key: {{file: {oauth_keys.rsa_private}}}"]
    lk = latchkey(oauth_config(conn, [route("api", srv.url)], top=top))
    lk.wait_for_log(r"connection oauth: .*invalid_client")
    reply = api_get(lk)
    assert reply.status == 502, reply.body
    assert reply.json()["error"] == "credential_unavailable"
    assert "invalid_client" in reply.json()["detail"]
    assert srv.stats()["resource_requests"] == 0  # nothing went upstream without a credential
