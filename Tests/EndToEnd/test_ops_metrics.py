"""Issue 5: GET /metrics on the admin listener — Prometheus text, parsed with prometheus_client."""

from __future__ import annotations

import re
import uuid

import pytest

from latchkey_e2e import admin_get, via_requests
from latchkey_e2e import metric_sum as value
from latchkey_e2e import scrape_metrics as scrape
from oauth_fixtures import api_get, client, oauth_config, route

OAUTH_SECRET = "e2e-ops-metrics-oauth-secret-c4d1"
BEARER = "e2e-ops-metrics-bearer-4f0e"


def only(samples, name: str, **labels) -> float:
    matches = [v for lbls, v in samples.get(name, []) if all(lbls.get(k) == w for k, w in labels.items())]
    assert len(matches) == 1, (name, labels, samples.get(name))
    return matches[0]


def test_metrics_after_traffic_and_reloads(latchkey, echo, oauth_server):
    srv = oauth_server([client("app1", OAUTH_SECRET)])
    body = oauth_config(
        [f"token_url: {srv.token_url}", "client_id: app1", "client_secret: ${OPS_OAUTH_SECRET}"],
        [route("api", srv.url)])
    static = f"""  - name: e
    path_prefix: /e/
    strip_prefix: true
    upstream: {echo.url}
    connection: bear
  - name: flaky
    path_prefix: /f/
    strip_prefix: true
    upstream: {echo.url}
    retry: {{max_retries: 2, delay_ms: 10}}
"""
    good = body.replace("connections:\n", "connections:\n  bear: {type: bearer, token: \"${OPS_BEARER}\"}\n", 1) + static
    lk = latchkey(good, env={"OPS_OAUTH_SECRET": OAUTH_SECRET, "OPS_BEARER": BEARER})
    lk.wait_for_log(r"connection oauth: Connected")

    n = 5
    for _ in range(n):
        assert via_requests(lk.base_url + "/e/x").status == 200
    assert via_requests(lk.base_url + "/e/status/404").status == 404
    key = uuid.uuid4().hex
    assert via_requests(f"{lk.base_url}/f/flaky/{key}?fail=1&status=503").status == 200
    assert api_get(lk).status == 200

    m = scrape(lk)
    assert value(m, "latchkey_requests_total", route="e", connection="bear", status_class="2xx") >= n
    assert value(m, "latchkey_requests_total", route="e", status_class="4xx") >= 1
    assert value(m, "latchkey_requests_total", route="api", connection="oauth", status_class="2xx") >= 1
    # Request duration: a histogram per route, cumulative buckets ending at +Inf == count.
    count = only(m, "latchkey_request_duration_seconds_count", route="e")
    assert count >= n + 1
    buckets = sorted(((float(lbls["le"]), v) for lbls, v in m["latchkey_request_duration_seconds_bucket"]
                      if lbls.get("route") == "e"), key=lambda b: b[0])
    assert buckets[-1][0] == float("inf") and buckets[-1][1] == count, buckets
    assert all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:])), buckets
    assert only(m, "latchkey_request_duration_seconds_sum", route="e") > 0
    assert any(lbls.get("route") == "e" for name in m if name.startswith("latchkey_upstream_duration_seconds")
               for lbls, _ in m[name]), "no latchkey_upstream_duration_seconds{route=e}"
    assert value(m, "latchkey_upstream_attempts_total", route="flaky") >= 2
    assert value(m, "latchkey_upstream_retries_total", route="flaky") >= 1
    assert value(m, "latchkey_upstream_retries_total", route="e") == 0
    assert value(m, "latchkey_token_fetches_total", connection="oauth") >= 1
    assert 3000 < only(m, "latchkey_token_expiry_seconds", connection="oauth") <= 3600
    assert only(m, "latchkey_client_connections_open") >= 0
    assert only(m, "latchkey_upstream_connections_open") >= 0
    (build,) = m["latchkey_build_info"]
    assert build[1] == 1 and build[0].get("version"), build

    # A failed reload: failure counted, last reload unsuccessful.
    mark = lk.log_offset()
    lk.rewrite_config(good + "bogus_top_level: 1\n")
    lk.wait_for_log(r"configuration reload \(file change\) failed", after=mark)
    m = scrape(lk)
    assert value(m, "latchkey_config_reloads_total", result="failure") == 1
    assert value(m, "latchkey_config_reloads_total", result="success") == 0
    assert only(m, "latchkey_config_last_reload_success") == 0

    # Fixed: success counted, flag back to 1; counters survive the reload.
    mark = lk.log_offset()
    lk.rewrite_config(good)
    lk.wait_for_log(r"configuration reloaded \(file change\)", after=mark)
    m = scrape(lk)
    assert value(m, "latchkey_config_reloads_total", result="success") == 1
    assert value(m, "latchkey_config_reloads_total", result="failure") == 1
    assert only(m, "latchkey_config_last_reload_success") == 1
    assert value(m, "latchkey_requests_total", route="e", connection="bear", status_class="2xx") >= n

    text = m["__text__"][0][0]["text"]
    for secret in [OAUTH_SECRET, BEARER, *srv.tokens()]:
        assert secret not in text
    assert not re.search(r"(?i)bearer\s", text)
