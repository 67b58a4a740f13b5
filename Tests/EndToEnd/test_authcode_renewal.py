"""Authorization code (issue 6): background renewal with the refresh_token grant, refresh-token
rotation (the server retires each refresh token when it issues the next), and a SIGKILL while a
refresh is in flight. The state file is decrypted by the test (oauth_fixtures.read_state_file) to
see which refresh token the proxy keeps."""

import os
import signal
import stat
import time

import pytest

from latchkey_e2e import requests_session, wait_until
from oauth_fixtures import CRM_SECRET


def refreshes(srv) -> list[dict]:
    return [r for r in srv.stats()["last_requests"] if r["grant_type"] == "refresh_token"]


@pytest.mark.slow
def test_short_lifetime_renews_and_rotates(authcode):
    """4 s access tokens, requests every 100 ms for 12 s: every request is 200 (renewal in the
    background, about half-way through each token's life); each renewal rotates the refresh token;
    every retired refresh token is dead at the server and the state file holds the newest one."""
    rig = authcode(expires_in=4)
    rig.start()
    rig.consent()
    first = rig.srv.refresh_tokens("crm")
    assert len(first) == 1 and first[0]["valid"], first
    assert rig.stored()["refresh_token"] == first[0]["refresh_token"]

    statuses: dict[int, int] = {}
    failures = []
    session = requests_session(rig.lk.proxy_url)
    started = time.monotonic()
    while time.monotonic() - started < 12:  # a bounded loop of requests, not a sleep
        reply = rig.get(session=session, timeout=5)
        statuses[reply.status] = statuses.get(reply.status, 0) + 1
        if reply.status != 200 and len(failures) < 5:
            failures.append((round(time.monotonic() - started, 2), reply.status, reply.body[:300]))
        time.sleep(0.1)
    session.close()
    assert set(statuses) == {200}, (statuses, failures)

    # Let a renewal that is under way finish before looking at the server and the file.
    wait_until(lambda: rig.srv.stats()["token_requests_in_flight"] == 0, 10, "no token request in flight")
    stats = rig.srv.stats()
    done = refreshes(rig.srv)
    # This server revokes the old access token together with the old refresh token on rotation, so a
    # request that took the old token just before the new one was published can meet a 401 at the
    # resource; the proxy then drops it and replays with the new one (the client saw only 200s above).
    # At most one such 401 per renewal.
    assert stats["resource_requests_unauthorized"] <= len(done), stats["last_resource_requests"]
    # 12 s of 4 s tokens renewed at about half their life: 3 to 6 renewals.
    assert 3 <= len(done) <= 8, [(r["time"], r["status"]) for r in done]
    assert all(r["status"] == 200 for r in done), done
    assert all(r["has_basic_auth"] for r in done), done  # client_secret_basic on refresh too
    assert stats["received_by_grant"].get("authorization_code") == 1, stats["received_by_grant"]

    issued = rig.srv.refresh_tokens("crm")
    assert len(issued) == 1 + len(done), (len(issued), len(done))
    assert [r["valid"] for r in issued] == [False] * (len(issued) - 1) + [True], issued
    assert rig.srv.grants()["refresh_tokens_valid"] == 1

    # Rotation reached the disk: the file holds the one live refresh token.
    newest = issued[-1]["refresh_token"]
    wait_until(lambda: rig.stored()["refresh_token"] == newest, 5, "the newest refresh token in the state file")
    assert rig.entry()["state"] == "connected"

    # Every retired refresh token is refused by the server (a replay of a rotated token).
    for old in issued[:-1]:
        status, body = rig.srv.direct_refresh(old["refresh_token"], "crm", CRM_SECRET)
        assert status == 400 and body.get("error") == "invalid_grant", (status, body)
    # ... and the proxy still works (the replays did not touch the live token).
    assert rig.get().status == 200


def test_revoked_grant_is_needs_reconnect(authcode):
    """The server no longer knows the refresh token (revoked out of band): the next renewal gets
    invalid_grant, the connection becomes needs_reconnect with the reason, requests get the
    needs_consent 502 naming the connect URL, and there are no retries. A new consent recovers."""
    rig = authcode(expires_in=3600)
    rig.start()
    rig.consent()
    assert rig.get().status == 200
    rig.srv.revoke_all()  # the access token and the refresh token

    reply = rig.get()  # 401 upstream -> renew with the refresh token -> invalid_grant
    assert reply.status == 502, reply.body
    body = reply.json()
    assert body["error"] == "needs_consent", body
    assert "reconnect" in body["detail"] and "/connections/crm/connect" in body["detail"], body
    entry = rig.entry()
    assert entry["state"] == "needs_reconnect", entry
    assert "invalid_grant" in entry["reason"], entry
    attempts = len(refreshes(rig.srv))
    assert attempts == 1, refreshes(rig.srv)
    for _ in range(3):
        assert rig.get().status == 502
    assert len(refreshes(rig.srv)) == attempts  # no retry with a dead refresh token

    rig.consent()
    assert rig.get().status == 200
    assert rig.entry()["state"] == "connected"


@pytest.mark.slow
def test_sigkill_during_refresh(authcode):
    """SIGKILL while the server is handling the proxy's refresh request (the server is made slow for
    refresh_token grants; it still completes the rotation after the proxy died). The state file is
    intact (the old, now retired refresh token; it decrypts), and after a restart the connection is
    cleanly needs_reconnect with the server's invalid_grant — never "state file unusable". A new
    consent recovers."""
    rig = authcode(expires_in=4)
    rig.start()
    rig.consent()
    assert rig.get().status == 200
    old = rig.stored()["refresh_token"]
    before_bytes = rig.state_file.read_bytes()

    rig.srv.delay_grant("refresh_token", 3000)
    wait_until(lambda: rig.srv.stats()["in_flight_by_grant"].get("refresh_token", 0) >= 1, 10,
               "the background refresh to reach the server")
    rig.lk.proc.send_signal(signal.SIGKILL)
    rig.lk.proc.wait(timeout=10)
    rig.srv.delay_grant("refresh_token", 0)  # for later requests; the one in flight still sleeps
    wait_until(lambda: rig.srv.stats()["token_requests_in_flight"] == 0, 10, "the killed refresh to be answered")
    assert [r["status"] for r in refreshes(rig.srv)] == [200]  # the server rotated regardless
    issued = rig.srv.refresh_tokens("crm")
    assert [r["valid"] for r in issued] == [False, True], issued

    # The file is the one written at consent: intact, decryptable, no temp file left behind.
    assert rig.state_file.read_bytes() == before_bytes
    assert rig.stored()["refresh_token"] == old
    assert sorted(os.listdir(rig.state_dir)) == ["crm.state"], os.listdir(rig.state_dir)

    rig.start()
    entry = rig.entry()
    assert "state file unusable" not in (entry.get("reason") or ""), entry
    # Loaded: "connected" until the refresh token is tried (at start-up or on first use), then
    # the server's invalid_grant.
    assert entry["state"] in ("connected", "needs_reconnect"), entry
    reply = rig.get()
    entry = rig.entry()
    if reply.status == 200:  # a server that let the old token through (not this one: it rotates)
        assert entry["state"] == "connected", entry
    else:
        assert reply.status == 502 and reply.json()["error"] == "needs_consent", reply.body
        assert entry["state"] == "needs_reconnect", entry
        assert "invalid_grant" in entry["reason"], entry
    assert rig.state_file.read_bytes() == before_bytes  # not overwritten by the failure

    rig.consent()
    assert rig.get().status == 200
    assert rig.stored()["refresh_token"] == rig.srv.refresh_tokens("crm")[-1]["refresh_token"]
    assert stat.S_IMODE(rig.state_file.stat().st_mode) == 0o600
