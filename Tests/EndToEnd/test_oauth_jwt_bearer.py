"""type: oauth2_jwt_bearer (RFC 7523 §2.1) and service_account_file, against the Authlib server's
JWT bearer grant, which verifies each assertion's signature with the client's registered public key,
its `aud` (the token endpoint) and its `jti` (no replay). The upstream is the server's own
/api/resource: a 200 there proves the proxy injected a token the server issued for that grant.
"""

import json

from latchkey_e2e import run_latchkey_cli, wait_until
from oauth_fixtures import JWT_BEARER_GRANT, api_get, connection_entry, jwt_bearer_client, oauth_config, route

SA_EMAIL = "latchkey-e2e@project-e2e.iam.gserviceaccount.com"


def bearer_of(reply) -> str:
    auth = reply.json()["headers"].get("Authorization", "")
    assert auth.startswith("Bearer "), reply.json()["headers"]
    return auth[len("Bearer "):]


def grant_requests(srv) -> list[dict]:
    return [r for r in srv.stats()["last_requests"] if r["grant_type"] == JWT_BEARER_GRANT]


def test_jwt_bearer_grant_with_private_key(latchkey, oauth_server, oauth_keys):
    srv = oauth_server([jwt_bearer_client("svc-bearer", oauth_keys.rsa_public, ["read", "write"], issuer="svc-issuer")],
                       expires_in=4)
    conn = [f"token_url: {srv.token_url}", "issuer: svc-issuer", "subject: alice@example.com",
            'private_key: "{{secret:signing_key}}"', "key_id: kid-bearer", "scopes: read", "claims: {tenant: t1}"]
    top = ["secrets:", f"  signing_key: {{file: {oauth_keys.rsa_private}}}"]
    lk = latchkey(oauth_config(conn, [route("api", srv.url)], top=top, kind="oauth2_jwt_bearer"))
    lk.wait_for_log(r"connection oauth: Connected")

    reply = api_get(lk)
    assert reply.status == 200, reply.body
    assert reply.json()["client_id"] == "svc-bearer" and reply.json()["scope"] == "read"
    assert bearer_of(reply) in srv.tokens()

    first = grant_requests(srv)[0]
    assert first["status"] == 200, first
    assert set(first["form"]) == {"grant_type", "assertion", "scope"}, first["form"]  # no client authentication
    assert first["form"]["scope"] == "read" and not first["has_basic_auth"]
    assert first["grant_assertion_header"] == {"alg": "RS256", "kid": "kid-bearer", "typ": "JWT"}
    claims = first["grant_assertion_claims"]
    assert claims["iss"] == "svc-issuer" and claims["sub"] == "alice@example.com"
    assert claims["aud"] == srv.token_url and claims["tenant"] == "t1"
    assert claims["exp"] > claims["iat"] and claims["jti"]

    entry = connection_entry(lk, "oauth")
    assert entry["type"] == "oauth2_jwt_bearer", entry

    # Renewed like client credentials (4 s tokens): a new assertion, a new jti, the server accepts it.
    wait_until(lambda: sum(1 for r in grant_requests(srv) if r["status"] == 200) >= 2, what="a renewal by jwt-bearer")
    ok = [r for r in grant_requests(srv) if r["status"] == 200]
    assert ok[0]["grant_assertion_claims"]["jti"] != ok[1]["grant_assertion_claims"]["jti"]


def test_jwt_bearer_wrong_key_is_invalid_grant_and_a_clear_502(latchkey, oauth_server, oauth_keys):
    srv = oauth_server([jwt_bearer_client("svc-bearer", oauth_keys.ec_public, issuer="svc-issuer")])
    conn = [f"token_url: {srv.token_url}", "issuer: svc-issuer", 'private_key: "{{secret:signing_key}}"']
    top = ["secrets:", f"  signing_key: {{file: {oauth_keys.rsa_private}}}"]
    lk = latchkey(oauth_config(conn, [route("api", srv.url)], top=top, kind="oauth2_jwt_bearer"))
    lk.wait_for_log(r"connection oauth: .*invalid_grant")
    reply = api_get(lk)
    assert reply.status == 502, reply.body
    assert reply.json()["error"] == "credential_unavailable" and "invalid_grant" in reply.json()["detail"]
    assert srv.stats()["resource_requests"] == 0


def write_service_account(path, srv, oauth_keys) -> None:
    """A Google-shaped service-account key file, made in the run for the server's token endpoint."""
    path.write_text(json.dumps({
        "type": "service_account", "project_id": "project-e2e", "private_key_id": "0123abcd-sa-key",
        "private_key": oauth_keys.rsa_private.read_text(), "client_email": SA_EMAIL, "client_id": "1234567890",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth", "token_uri": srv.token_url,
    }, indent=2))


def test_service_account_file(latchkey, oauth_server, oauth_keys, tmp_path):
    srv = oauth_server([jwt_bearer_client("sa-client", oauth_keys.rsa_public, ["cloud-platform", "other"],
                                          issuer=SA_EMAIL)])
    key_file = tmp_path / "sa.json"
    write_service_account(key_file, srv, oauth_keys)
    conn = [f"service_account_file: {key_file}", "scopes: [cloud-platform]"]
    lk = latchkey(oauth_config(conn, [route("api", srv.url)], kind="oauth2_jwt_bearer"))
    lk.wait_for_log(r"connection oauth: Connected")

    reply = api_get(lk)
    assert reply.status == 200, reply.body
    # The token's scope came from the assertion's `scope` claim: the form carried none (Google's shape).
    assert reply.json()["client_id"] == "sa-client" and reply.json()["scope"] == "cloud-platform"
    req = grant_requests(srv)[0]
    assert set(req["form"]) == {"grant_type", "assertion"}, req["form"]
    assert req["grant_assertion_header"]["kid"] == "0123abcd-sa-key"
    claims = req["grant_assertion_claims"]
    assert claims["iss"] == claims["sub"] == SA_EMAIL
    assert claims["aud"] == srv.token_url and claims["scope"] == "cloud-platform"


def test_check_prints_discovery_for_a_jwt_bearer_connection(oauth_server, oauth_keys, tmp_path):
    """`check` with discovery: endpoints, auth methods and scopes_supported are printed."""
    srv = oauth_server([jwt_bearer_client("svc-bearer", oauth_keys.rsa_public, ["read", "write"], issuer="svc-issuer")])
    conn = [f"discovery_url: {srv.issuer}", "issuer: svc-issuer", 'private_key: "{{secret:signing_key}}"']
    top = ["secrets:", f"  signing_key: {{file: {oauth_keys.rsa_private}}}"]
    path = tmp_path / "check.yaml"
    path.write_text("listen: 127.0.0.1:0\nadmin: 127.0.0.1:0\n"
                    + oauth_config(conn, [route("api", srv.url)], top=top, kind="oauth2_jwt_bearer"))
    done = run_latchkey_cli(["check", "--config", str(path)])
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert f"connection oauth: Connected to {srv.token_url}" in out
    assert f"issuer: {srv.issuer}" in out
    assert f"token_endpoint: {srv.token_url}" in out
    assert f"revocation_endpoint: {srv.revocation_url}" in out
    assert "token_endpoint_auth_methods_supported: client_secret_basic client_secret_post private_key_jwt" in out
    assert "scopes_supported: read write" in out
    assert oauth_keys.pem_bodies()[0] not in out
