"""Background renewal before expiry, and single flight at a cold cache."""

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from latchkey_e2e import requests_session
from oauth_fixtures import api_get, client, oauth_config, route

SECRET = "e2e-oauth-renewal-secret-d83b5a"
ENV = {"OAUTH_SECRET": SECRET}


def conn_lines(srv):
    return [f"token_url: {srv.token_url}", "client_id: app1", "client_secret: ${OAUTH_SECRET}"]


@pytest.mark.slow
def test_short_lifetime_is_renewed_without_a_failed_request(latchkey, oauth_server):
    """4 s tokens, requests every 50 ms for 14 s: renewal (at about half the lifetime) happens in the
    background, so every request is 200 and the server sees several token requests."""
    srv = oauth_server([client("app1", SECRET)], expires_in=4)
    lk = latchkey(oauth_config(conn_lines(srv), [route("api", srv.url)]), env=ENV)
    lk.wait_for_log(r"connection oauth: Connected")

    statuses: dict[int, int] = {}
    failures = []
    session = requests_session(lk.proxy_url)
    started = time.monotonic()
    while time.monotonic() - started < 14:  # a bounded loop, not a sleep
        reply = api_get(lk, session=session, timeout=5)
        statuses[reply.status] = statuses.get(reply.status, 0) + 1
        if reply.status != 200 and len(failures) < 5:
            failures.append((round(time.monotonic() - started, 2), reply.status, reply.body[:200]))
        time.sleep(0.05)
    session.close()

    assert set(statuses) == {200}, (statuses, failures)
    stats = srv.stats()
    assert stats["resource_requests_unauthorized"] == 0, stats
    # 14 s of 4 s tokens: a renewal roughly every 2-3.2 s after the first token.
    assert stats["token_requests_ok"] >= 3, stats
    # "never earlier than half the lifetime": at most one token per 2 s, plus slack for jitter.
    assert stats["token_requests"] <= 10, stats
    assert stats["token_requests"] == stats["token_requests_ok"]


def test_cold_cache_single_flight(latchkey, oauth_server):
    """The token endpoint answers 1.5 s late; 100 concurrent requests arrive while the start-up fetch
    is in flight: all succeed, and the server saw exactly one token request."""
    srv = oauth_server([client("app1", SECRET)])
    srv.delay(1500)
    lk = latchkey(oauth_config(conn_lines(srv), [route("api", srv.url)]), env=ENV)

    def one(_):
        return api_get(lk, timeout=15)  # its own connection each

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=100) as pool:
        replies = list(pool.map(one, range(100)))
    elapsed = time.monotonic() - started
    statuses = [r.status for r in replies]
    assert statuses == [200] * 100, {s: statuses.count(s) for s in set(statuses)}
    stats = srv.stats()
    assert stats["token_requests"] == 1, stats
    assert stats["resource_requests_ok"] == 100
    assert len({r.json()["headers"]["Authorization"] for r in replies}) == 1
    assert elapsed < 10, elapsed
