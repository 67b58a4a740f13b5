"""Hop-by-hop fields (RFC 9110 §7.6.1) stop at the proxy; end-to-end fields keep their order and
duplicates; client and upstream connections are kept alive and reused."""

import http.client
import json

import pytest

from latchkey_e2e import RawConnection, header_names, header_values, requests_session

BEARER = "e2e-conn-token-5e6f7a8b"

HOP_BY_HOP = ["x-drop-me", "keep-alive", "te", "upgrade", "proxy-connection", "proxy-authorization"]


@pytest.fixture(scope="module")
def proxy(latchkey_module, echo):
    return latchkey_module.start(f"""
unmatched: passthrough
connections:
  svc:
    type: bearer
    token: ${{E2E_BEARER}}
routes:
  - name: conn-forward
    host: conn.local
    upstream: {echo.url}
    connection: svc
  - name: conn-route
    path_prefix: /conn
    strip_prefix: true
    upstream: {echo.url}
    connection: svc
""", env={"E2E_BEARER": BEARER})


def assert_no_hop_by_hop(seen):
    names = header_names(seen)
    for name in HOP_BY_HOP:
        assert name not in names, f"hop-by-hop {name} reached the upstream: {seen['headers']}"
    for value in header_values(seen, "Connection"):
        tokens = {t.strip().lower() for t in value.split(",")}
        assert not tokens & {"x-drop-me", "upgrade", "te"}, value


@pytest.mark.parametrize("target", ["http://conn.local/hop", "/conn/hop"])
def test_hop_by_hop_removed_end_to_end_kept_in_order(proxy, target):
    request = (
        f"GET {target} HTTP/1.1\r\n"
        "Host: conn.local\r\n"
        "X-First: a\r\n"
        "Connection: keep-alive, X-Drop-Me\r\n"
        "X-Dup: 1\r\n"
        "X-Drop-Me: 1\r\n"
        "Keep-Alive: 5\r\n"
        "TE: gzip\r\n"  # TE: trailers goes on in the proxy's name (test_hardening_framing); other codings do not
        "Upgrade: foo\r\n"
        "Proxy-Connection: keep-alive\r\n"
        "X-Dup: 2\r\n"
        "X-Last: z\r\n"
        "\r\n").encode()
    with RawConnection(proxy.port) as conn:
        status, _, body = conn.exchange(request)
    assert status == 200, body
    seen = json.loads(body)
    assert_no_hop_by_hop(seen)
    assert header_values(seen, "X-Dup") == ["1", "2"]
    names = [n for n in header_names(seen) if n in ("x-first", "x-dup", "x-last")]
    assert names == ["x-first", "x-dup", "x-dup", "x-last"]


def test_requests_session_reuses_upstream_connection(proxy):
    session = requests_session(proxy.proxy_url)
    ids = []
    try:
        for i in range(6):
            r = session.get(f"http://conn.local/ka/{i}", timeout=20)
            assert r.status_code == 200
            ids.append(r.json()["connection_id"])
    finally:
        session.close()
    assert len(set(ids)) <= 2, f"upstream connections not reused: {ids}"


def test_one_client_connection_many_requests(proxy):
    """Several requests on one client TCP connection (no reconnect allowed), in both modes."""
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=20)
    conn.auto_open = 0  # fail instead of silently reconnecting
    conn.connect()
    ids = []
    try:
        for i in range(4):
            for target in (f"http://conn.local/one/{i}", f"/conn/one/{i}"):
                conn.request("GET", target, headers={"Host": "conn.local"})
                response = conn.getresponse()
                body = response.read()
                assert response.status == 200, body
                seen = json.loads(body)
                assert header_values(seen, "Authorization") == [f"Bearer {BEARER}"]
                ids.append(seen["connection_id"])
    finally:
        conn.close()
    assert len(set(ids)) <= 2, f"upstream connections not reused: {ids}"


def test_idle_upstream_connections_close_after_the_idle_timeout_and_reconnect(latchkey, echo):
    """Issue 11: pooled connections expire by one sweep per pool (no timer per request); each idles out,
    the open-connections gauge falls to zero, and the next request connects afresh."""
    from latchkey_e2e import metric_sum, scrape_metrics, wait_until
    lk = latchkey(f"""
limits:
  idle_timeout_ms: 400
connections:
  svc: {{type: bearer, token: "{BEARER}"}}
routes:
  - {{name: idle, path_prefix: /idle, strip_prefix: true, upstream: "{echo.url}", connection: svc}}
""")
    ids = []
    for burst in range(2):
        sessions = [requests_session(None) for _ in range(3)]
        try:
            for session in sessions:  # each request's upstream connection goes back to the pool
                r = session.get(f"http://127.0.0.1:{lk.port}/idle/{burst}", timeout=20)
                assert r.status_code == 200
                ids.append(r.json()["connection_id"])
        finally:
            for session in sessions:
                session.close()
        wait_until(lambda: metric_sum(scrape_metrics(lk), "latchkey_upstream_connections_open") == 0,
                   what="the pooled upstream connections to idle out")
    assert len(set(ids[3:]) & set(ids[:3])) == 0, f"an expired upstream connection was used again: {ids}"
