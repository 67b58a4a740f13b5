"""Issue 10 §2: a token lifecycle that never fails fast when it could have waited.

A request that finds no token waits (up to `token_wait_ms`) while transient token-endpoint failures
are retried, honouring `Retry-After`; a permanent refusal (`invalid_client`) fails at once with the
provider's words and is not retried in a loop; upstream 401s are counted per route; authorization-code
connections show in the token metrics like client credentials."""

import time
import uuid

from latchkey_e2e import closed_port, header_values, via_requests, wait_until
from latchkey_e2e import metric_sum as value
from latchkey_e2e import scrape_metrics as scrape
from oauth_fixtures import api_get, client, connection_entry, oauth_config, route

SECRET = "e2e-oauth-lifecycle-secret-91c4e2"
WRONG = "e2e-oauth-lifecycle-wrong-0b7d55"
BEARER = "e2e-lifecycle-bearer-3a9f10"
ENV = {"OAUTH_SECRET": SECRET}


def conn_lines(token_url, *extra):
    return [f"token_url: {token_url}", "client_id: app1", "client_secret: ${OAUTH_SECRET}", *extra]


def token_request_times(srv) -> list[float]:
    return [r["time"] for r in srv.stats()["last_requests"] if r.get("grant_type") == "client_credentials"]


def test_cold_cache_waits_through_503_with_retry_after(latchkey, oauth_server, echo):
    """The token endpoint answers 503 with Retry-After: 1 for its first 2 s. A request made while the
    cache is cold waits and succeeds; the endpoint sees a handful of calls, at least 1 s apart."""
    srv = oauth_server([client("app1", SECRET)])
    srv.fail(status=503, seconds=2, retry_after="1")
    started = time.monotonic()
    lk = latchkey(oauth_config(conn_lines(srv.token_url), [route("api", echo.url)]), env=ENV)
    path = f"/cold-{uuid.uuid4().hex}"
    reply = api_get(lk, path=path, timeout=30)
    elapsed = time.monotonic() - started
    assert reply.status == 200, reply.body
    [token] = srv.tokens()
    assert header_values(reply.json(), "Authorization") == [f"Bearer {token}"]
    assert elapsed < 10, f"took {elapsed:.1f}s (token_wait_ms 10 s)"

    times = token_request_times(srv)
    statuses = [r["status"] for r in srv.stats()["last_requests"]]
    assert 2 <= len(times) <= 5, statuses
    assert statuses[-1] == 200 and all(s == 503 for s in statuses[:-1]), statuses
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert all(g >= 0.95 for g in gaps), f"Retry-After: 1 not honoured: gaps {gaps}"
    assert echo.stats()["requests"].get(path, 0) == 1


def test_permanent_refusal_fails_fast_and_is_not_retried_in_a_loop(latchkey, oauth_server, echo):
    """invalid_client (401 from the token endpoint) with the default 10 s token_wait_ms: a request made
    right away gets the 502 with the provider's words well under the wait, and so do the next ones,
    without new token requests."""
    srv = oauth_server([client("app1", SECRET)])
    lk = latchkey(oauth_config(conn_lines(srv.token_url), [route("api", echo.url)]),
                  env={"OAUTH_SECRET": WRONG}, secrets=[SECRET])
    path = f"/refused-{uuid.uuid4().hex}"
    for i in range(5):
        started = time.monotonic()
        reply = api_get(lk, path=path, timeout=30)
        elapsed = time.monotonic() - started
        assert reply.status == 502, (i, reply.status, reply.body)
        assert reply.header("X-Latchkey-Error") == "credential_unavailable"
        assert "invalid_client" in reply.json()["detail"], reply.body
        assert elapsed < 3, f"request {i}: {elapsed:.1f}s for a permanent failure"
    stats = srv.stats()
    assert stats["token_requests"] == 1, [(r["status"], r.get("error")) for r in stats["last_requests"]]
    assert echo.stats()["requests"].get(path, 0) == 0
    lk.wait_for_log(r"OAuth token request refused")
    entry = connection_entry(lk, "oauth")
    assert entry["last_error_kind"] == "permanent" and "invalid_client" in entry["last_error"], entry


def test_the_wait_never_outlasts_the_routes_deadline(latchkey, echo):
    """token_wait_ms is 10 s by default; a route with deadline_ms 1500 answers within its deadline."""
    port = closed_port()
    routes = [route("api", echo.url, extra=["deadline_ms: 1500"])]
    lk = latchkey(oauth_config(conn_lines(f"http://127.0.0.1:{port}/oauth/token"), routes), env=ENV)
    started = time.monotonic()
    reply = api_get(lk, path=f"/deadline-{uuid.uuid4().hex}", timeout=30)
    elapsed = time.monotonic() - started
    assert reply.status in (502, 504), reply.body
    assert elapsed < 4, f"{elapsed:.1f}s with deadline_ms 1500"
    entry = connection_entry(lk, "oauth")
    assert entry["last_error_kind"] == "transient", entry


def test_upstream_401s_are_counted_per_route(latchkey, echo):
    """latchkey_upstream_unauthorized_total{route} counts what the upstream rejects with 401."""
    body = f"""connections:
  bear: {{type: bearer, token: "${{LC_BEARER}}"}}
routes:
  - name: rejected
    path_prefix: /r/
    strip_prefix: true
    upstream: {echo.url}
    connection: bear
  - name: fine
    path_prefix: /f/
    strip_prefix: true
    upstream: {echo.url}
    connection: bear
"""
    lk = latchkey(body, env={"LC_BEARER": BEARER})
    for _ in range(3):
        assert via_requests(lk.base_url + "/r/status/401").status == 401
    assert via_requests(lk.base_url + "/f/echo/x").status == 200
    m = scrape(lk)
    assert value(m, "latchkey_upstream_unauthorized_total", route="rejected") == 3
    assert value(m, "latchkey_upstream_unauthorized_total", route="fine") == 0
    assert "# TYPE latchkey_upstream_unauthorized_total counter" in m["__text__"][0][0]["text"]


def test_authorization_code_connection_has_token_metrics(authcode):
    """Token fetches (by result) and expiry for an authorization-code connection, as for client
    credentials; a failed refresh counts as a failure and shows as last_error in /connections."""
    rig = authcode(expires_in=3600, extra=["token_wait_ms: 1000"])
    lk = rig.start()
    rig.consent()
    assert rig.get().status == 200
    m = scrape(lk)
    assert value(m, "latchkey_token_fetches_total", connection="crm", result="success") >= 1
    expiry = [v for lbls, v in m.get("latchkey_token_expiry_seconds", []) if lbls.get("connection") == "crm"]
    assert len(expiry) == 1 and 3000 < expiry[0] <= 3600, expiry

    # The next refresh meets a 503: counted as a failure, the valid access token is still served.
    rig.srv.revoke_all()  # the access token is now rejected upstream: a 401, a refresh, which fails
    rig.srv.fail(status=503, seconds=30)
    reply = rig.get()
    assert reply.status == 502 and "temporarily_unavailable" in reply.json()["detail"], reply.body
    wait_until(lambda: value(scrape(lk), "latchkey_token_fetches_total", connection="crm", result="failure") >= 1,
               10, "a failed refresh counted")
    entry = rig.entry()
    assert entry["token_fetch_failed"] >= 1 and "temporarily_unavailable" in entry.get("last_error", ""), entry
    assert entry["last_error_kind"] == "transient", entry
    assert value(scrape(lk), "latchkey_upstream_unauthorized_total", route="crm") >= 1


def test_a_herd_of_cold_scopes_opens_at_most_four_token_requests(latchkey, oauth_server, echo):
    """Ten routes with their own scopes on one connection, all cold at start (warm-up fetches every
    key at once) against a slow token endpoint: never more than 4 token requests at once, and every
    route gets its token."""
    scopes = [f"s{i}" for i in range(10)]
    srv = oauth_server([client("app1", SECRET, scopes=tuple(scopes))])
    srv.delay(400)
    routes = [route(f"r{i}", echo.url, host=f"h{i}.test", extra=[f"scopes: [{s}]"]) for i, s in enumerate(scopes)]
    lk = latchkey(oauth_config(conn_lines(srv.token_url), routes), env=ENV)
    wait_until(lambda: srv.stats()["token_requests_ok"] >= 11, 20, "a token for each of the 11 keys")
    stats = srv.stats()
    assert 2 <= stats["token_requests_max_in_flight"] <= 4, stats["token_requests_max_in_flight"]
    for i in range(10):
        reply = api_get(lk, path=f"/herd/{i}", host=f"h{i}.test")
        assert reply.status == 200, reply.body
    assert srv.stats()["token_requests"] == 11  # the warm-up's tokens, nothing more
