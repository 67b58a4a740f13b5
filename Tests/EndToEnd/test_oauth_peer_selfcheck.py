"""The OAuth authorization server peer works without latchkey (a harness failure shows here first).

Talks to peers/oauth_server.py directly with requests: the three client authentication methods,
discovery metadata, the bearer-checking resource and the test controls the other test_oauth_*
files rely on.
"""

import json
import time
import uuid

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import import_key

from oauth_fixtures import client, jwt_client

SECRET = "peer-selfcheck-secret-5e1f0a"


def session():
    s = requests.Session()
    s.trust_env = False
    return s


def token(srv, auth=None, **form):
    form.setdefault("grant_type", "client_credentials")
    return session().post(srv.token_url, data=form, auth=auth, timeout=10)


def assertion(srv, client_id, key_path, alg, kid):
    key = import_key(key_path.read_text(), "EC" if alg.startswith("ES") else "RSA")
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": srv.token_url, "jti": uuid.uuid4().hex,
              "iat": now, "exp": now + 120}
    return jwt.encode({"alg": alg, "kid": kid}, claims, key, algorithms=[alg])


def test_secret_methods_and_resource(oauth_server):
    srv = oauth_server([client("app1", SECRET, ["read", "write"])])
    basic = token(srv, auth=("app1", SECRET), scope="read")
    assert basic.status_code == 200, basic.text
    post = token(srv, client_id="app1", client_secret=SECRET, audience="aud-1")
    assert post.status_code == 200, post.text
    bad = token(srv, auth=("app1", "wrong"))
    assert bad.status_code in (400, 401) and bad.json()["error"] == "invalid_client"

    at = basic.json()["access_token"]
    r = session().post(srv.url + "/api/resource", data=b'{"x":1}', headers={"Authorization": f"Bearer {at}"})
    assert r.status_code == 200 and r.json()["client_id"] == "app1" and r.json()["scope"] == "read"
    assert r.json()["method"] == "POST" and r.json()["body_length"] == 7

    stats = srv.stats()
    assert stats["token_requests"] == 3 and stats["token_requests_ok"] == 2
    assert [r["auth_method"] for r in stats["last_requests"][:2]] == ["client_secret_basic", "client_secret_post"]
    assert stats["last_requests"][1]["audience"] == "aud-1"
    assert stats["last_requests"][2]["error"] == "invalid_client"
    assert stats["resource_requests_ok"] == 1
    assert set(srv.tokens()) == {at, post.json()["access_token"]}

    srv.revoke_all()
    r = session().get(srv.url + "/api/resource", headers={"Authorization": f"Bearer {at}"})
    assert r.status_code == 401 and srv.stats()["resource_requests_unauthorized"] == 1


@pytest.mark.parametrize("alg", ["RS256", "PS256", "ES256"])
def test_private_key_jwt(oauth_server, oauth_keys, alg):
    pub, priv = (oauth_keys.ec_public, oauth_keys.ec_private) if alg == "ES256" else \
        (oauth_keys.rsa_public, oauth_keys.rsa_private)
    srv = oauth_server([jwt_client("svc1", pub, ["read"])])
    r = token(srv, client_id="svc1", client_assertion_type="urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
              client_assertion=assertion(srv, "svc1", priv, alg, "kid-1"))
    assert r.status_code == 200, r.text
    last = srv.stats()["last_requests"][-1]
    assert last["auth_method"] == "private_key_jwt"
    assert last["assertion_header"]["alg"] == alg and last["assertion_header"]["kid"] == "kid-1"


def test_discovery_and_controls(oauth_server):
    srv = oauth_server([client("app1", SECRET)], advertise_auth_methods=["client_secret_basic"])
    meta = session().get(srv.metadata_url, timeout=10).json()
    assert meta["token_endpoint"] == srv.token_url
    assert meta["token_endpoint_auth_methods_supported"] == ["client_secret_basic"]

    srv.fail(503, 1)
    assert token(srv, auth=("app1", SECRET)).status_code == 503
    srv.delay(300)
    started = time.monotonic()
    assert token(srv, auth=("app1", SECRET)).status_code == 200
    assert time.monotonic() - started >= 0.3
    srv.delay(0)
    srv.revoke_on_issue(True)
    at = token(srv, auth=("app1", SECRET)).json()["access_token"]
    assert session().get(srv.url + "/api/resource", headers={"Authorization": f"Bearer {at}"}).status_code == 401
    srv.revoke_on_issue(False)
    srv.set_secret("app1", "rotated-" + SECRET)
    assert token(srv, auth=("app1", SECRET)).status_code in (400, 401)
    assert token(srv, auth=("app1", "rotated-" + SECRET)).status_code == 200
    srv.reset()
    assert srv.stats()["token_requests"] == 0
    assert json.dumps(srv.stats())  # serialisable


def test_kill_remembers_tokens(oauth_server):
    srv = oauth_server([client("app1", SECRET)])
    at = token(srv, auth=("app1", SECRET)).json()["access_token"]
    srv.kill()
    assert not srv.alive() and at in srv.secrets() and SECRET in srv.secrets()
