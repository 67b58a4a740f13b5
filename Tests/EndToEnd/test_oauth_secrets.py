"""No client secret, access token or private key in latchkey's output, at debug level, through
start-up, token fetches, a renewal, a 401 replay and a failing connection. (Every test_oauth_*
test is also scanned by the fixtures; this one makes the scan explicit and exercises more paths.)"""

from latchkey_e2e import wait_until
from oauth_fixtures import api_get, client, jwt_client, oauth_config, route

SECRET = "e2e-oauth-leak-secret-7fe3a2"
WRONG = "e2e-oauth-leak-wrong-0c94d1"


def test_no_secret_or_token_in_the_log(latchkey, oauth_server, oauth_keys):
    srv = oauth_server([client("app1", SECRET), jwt_client("svc1", oauth_keys.rsa_public)], expires_in=4)
    token_url = srv.token_url
    config = (
        "log_level: debug\n"
        "unmatched: deny\n"
        "secrets:\n"
        f"  signing_key: {{file: {oauth_keys.rsa_private}}}\n"
        "connections:\n"
        f"  sec:\n    type: oauth2_client_credentials\n    token_url: {token_url}\n"
        "    client_id: app1\n    client_secret: ${OAUTH_SECRET}\n    client_auth: client_secret_post\n"
        f"  jwt:\n    type: oauth2_client_credentials\n    token_url: {token_url}\n"
        "    client_id: svc1\n    client_auth: private_key_jwt\n"
        '    private_key: "{{secret:signing_key}}"\n    key_id: leak-kid\n'
        f"  bad:\n    type: oauth2_client_credentials\n    token_url: {token_url}\n"
        "    client_id: app1\n    client_secret: ${OAUTH_WRONG}\n"
        "routes:\n"
        + route("r-sec", srv.url, host="sec.oauth.test", connection="sec") + "\n"
        + route("r-jwt", srv.url, host="jwt.oauth.test", connection="jwt") + "\n"
        + route("r-bad", srv.url, host="bad.oauth.test", connection="bad") + "\n"
    )
    lk = latchkey(config, env={"OAUTH_SECRET": SECRET, "OAUTH_WRONG": WRONG})
    lk.wait_for_log(r"connection sec: Connected")
    lk.wait_for_log(r"connection jwt: Connected")
    lk.wait_for_log(r"connection bad: ")

    assert api_get(lk, host="sec.oauth.test").status == 200
    assert api_get(lk, host="jwt.oauth.test").status == 200
    assert api_get(lk, host="bad.oauth.test").status == 502
    srv.revoke_all()  # a 401, a refresh and a replay
    assert api_get(lk, host="sec.oauth.test").status == 200
    ok = srv.stats()["token_requests_ok"]
    wait_until(lambda: srv.stats()["token_requests_ok"] >= ok + 2, 15, "background renewals (4 s tokens)")

    log = lk.log_text()
    leaks = [s for s in [SECRET, WRONG, *srv.tokens(), *oauth_keys.pem_bodies()] if s in log]
    assert not leaks, f"{len(leaks)} secret value(s) in latchkey's log, e.g. {leaks[0][:4]}…"
    assert "BEGIN PRIVATE KEY" not in log
