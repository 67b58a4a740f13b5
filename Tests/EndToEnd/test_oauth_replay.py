"""An upstream 401 on an OAuth route: the proxy drops the token, fetches one new token and replays
the request once (bodies up to 1 MiB); a second 401 goes to the client, never a loop."""

import json

import pytest

from oauth_fixtures import api_get, client, oauth_config, route

SECRET = "e2e-oauth-replay-secret-a41c07"
ENV = {"OAUTH_SECRET": SECRET}


def start(latchkey, oauth_server):
    srv = oauth_server([client("app1", SECRET)])
    conn = [f"token_url: {srv.token_url}", "client_id: app1", "client_secret: ${OAUTH_SECRET}"]
    lk = latchkey(oauth_config(conn, [route("api", srv.url)]), env=ENV)
    lk.wait_for_log(r"connection oauth: Connected")
    first = api_get(lk)
    assert first.status == 200, first.body
    return srv, lk


def test_revoked_token_is_refreshed_and_the_request_replayed_once(latchkey, oauth_server):
    srv, lk = start(latchkey, oauth_server)
    before = srv.stats()
    assert before["token_requests"] == 1 and before["resource_requests"] == 1
    old_token = srv.tokens()[0]

    assert srv.revoke_all() == 1
    body = json.dumps({"items": list(range(2000)), "note": "replayed"}).encode()  # ~10 KB
    reply = api_get(lk, method="POST", data=body, headers=[("Content-Type", "application/json")])
    assert reply.status == 200, reply.body
    seen = reply.json()
    assert seen["method"] == "POST" and seen["body_length"] == len(body)  # the body was replayed whole
    assert seen["headers"]["Authorization"] != f"Bearer {old_token}"

    after = srv.stats()
    assert after["token_requests"] == before["token_requests"] + 1, after
    assert after["resource_requests"] == before["resource_requests"] + 2, after  # 401, then the replay
    assert after["resource_requests_unauthorized"] == 1
    assert [r["method"] for r in after["last_resource_requests"][-2:]] == ["POST", "POST"]
    assert [r["body_length"] for r in after["last_resource_requests"][-2:]] == [len(body), len(body)]

    # The new token is cached: the next request needs no token request.
    assert api_get(lk).status == 200
    assert srv.stats()["token_requests"] == after["token_requests"]


def test_second_401_goes_to_the_client_without_a_loop(latchkey, oauth_server):
    srv, lk = start(latchkey, oauth_server)
    srv.revoke_on_issue(True)  # every new token is dead on arrival
    srv.revoke_all()
    before = srv.stats()

    reply = api_get(lk, method="POST", data=b'{"n":1}', headers=[("Content-Type", "application/json")])
    assert reply.status == 401, reply.body
    assert reply.json() == {"error": "invalid_token"}  # the upstream's own 401, passed through
    after = srv.stats()
    assert after["token_requests"] == before["token_requests"] + 1, after  # one refresh, no loop
    assert after["resource_requests"] == before["resource_requests"] + 2, after  # original + one replay
    assert after["resource_requests_unauthorized"] == before["resource_requests_unauthorized"] + 2

    # Healthy again: the next 401 leads to one refresh and a good replay.
    srv.revoke_on_issue(False)
    again = api_get(lk)
    assert again.status == 200, again.body
    assert srv.stats()["token_requests"] <= after["token_requests"] + 1


def test_body_over_1mib_is_not_replayed(latchkey, oauth_server):
    srv, lk = start(latchkey, oauth_server)
    srv.revoke_all()
    before = srv.stats()
    big = b"x" * (2 * 1024 * 1024)
    reply = api_get(lk, method="POST", data=big, headers=[("Content-Type", "application/octet-stream")])
    assert reply.status == 401, reply.body[:200]
    after = srv.stats()
    assert after["resource_requests"] == before["resource_requests"] + 1, after  # sent once, not replayed
    # Whether or not that token was dropped, the next request ends in a fresh token and a 200.
    assert api_get(lk).status == 200


def test_401_on_unreplayable_body_drops_the_token(latchkey, oauth_server):
    srv, lk = start(latchkey, oauth_server)
    srv.revoke_all()
    reply = api_get(lk, method="POST", data=b"x" * (2 * 1024 * 1024))
    assert reply.status == 401
    before = srv.stats()
    assert api_get(lk).status == 200
    after = srv.stats()
    # The next request uses a new token at once: one upstream hit, no second 401.
    assert after["resource_requests"] == before["resource_requests"] + 1, after
