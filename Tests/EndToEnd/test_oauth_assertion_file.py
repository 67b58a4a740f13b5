"""client_assertion_file (RFC 7523 §2.2): a JWT read from a file on every token request and sent as
`client_assertion` — a Kubernetes projected service-account token used as a federated credential. The
test plays the token issuer: it signs assertions with a key the Authlib server trusts for the client
(private_key_jwt, signature, `aud`, `exp` and `jti` checked by Authlib) and rotates the file in place.
"""

import time
import uuid

from joserfc import jwt
from joserfc.jwk import import_key

from latchkey_e2e import wait_until, write_file
from oauth_fixtures import api_get, jwt_client, oauth_config, route

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def sign_assertion(private_key_path, audience: str, client_id: str = "workload") -> str:
    """What a projected token issuer would mint: iss = sub = the client, aud = the token endpoint."""
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": audience, "iat": now, "exp": now + 600,
              "jti": uuid.uuid4().hex}
    return jwt.encode({"alg": "RS256", "kid": "k8s-sa"}, claims, import_key(private_key_path.read_text()))


def test_assertion_is_read_from_the_file_on_every_token_request(latchkey, oauth_server, oauth_keys, tmp_path):
    srv = oauth_server([jwt_client("workload", oauth_keys.rsa_public, ["read"])], expires_in=3)
    token_file = tmp_path / "projected" / "token"
    token_file.parent.mkdir()
    first = sign_assertion(oauth_keys.rsa_private, srv.token_url)
    write_file(token_file, first + "\n")  # the kubelet's files may end in a newline
    conn = [f"token_url: {srv.token_url}", "client_id: workload", f"client_assertion_file: {token_file}", "scopes: read"]
    lk = latchkey(oauth_config(conn, [route("api", srv.url)]))
    lk.secrets.append(first)
    lk.wait_for_log(r"connection oauth: Connected")

    reply = api_get(lk)
    assert reply.status == 200, reply.body
    assert reply.json()["client_id"] == "workload"
    req = srv.ok_token_requests()[0]
    assert req["auth_method"] == "private_key_jwt"
    # RFC 7521 §4.2 lets client_id ride along; Entra ID requires it with a federated assertion.
    assert req["form"]["client_assertion_type"] == ASSERTION_TYPE and req["form"]["client_id"] == "workload"
    assert "client_secret" not in req["form"] and not req["has_basic_auth"]
    first_jti = req["assertion_claims"]["jti"]

    # The kubelet rotates the token (atomically, as it does): the next renewal sends the new one. The
    # server refuses a replayed jti, so a second success proves the file was read again.
    second = sign_assertion(oauth_keys.rsa_private, srv.token_url)
    lk.secrets.append(second)
    write_file(token_file, second)
    ok = wait_until(lambda: (r := srv.ok_token_requests()) and len(r) >= 2 and r, what="a renewal with the new assertion")
    assert ok[1]["assertion_claims"]["jti"] != first_jti


def test_unreadable_assertion_file_is_a_clear_502_without_content(latchkey, oauth_server, oauth_keys, tmp_path):
    srv = oauth_server([jwt_client("workload", oauth_keys.rsa_public, ["read"])])
    token_file = tmp_path / "token"
    write_file(token_file, "not a jwt but SECRETISH-CONTENT-42")
    conn = [f"token_url: {srv.token_url}", "client_id: workload", f"client_assertion_file: {token_file}"]
    lk = latchkey(oauth_config(conn, [route("api", srv.url)]), secrets=["SECRETISH-CONTENT-42"])
    lk.wait_for_log(r"connection oauth: .*client_assertion_file")
    reply = api_get(lk)
    assert reply.status == 502, reply.body
    assert "does not hold a compact JWT" in reply.json()["detail"]
    assert srv.stats()["token_requests"] == 0  # nothing was sent
