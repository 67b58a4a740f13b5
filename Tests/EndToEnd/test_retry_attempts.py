"""Retries by status and network outcome: attempt counts per policy, as the upstream counted them.

Every test uses its own key on the echo upstream's keyed paths (/flaky/<key>, /drop/<key>, ...), so
the shared upstream's counts never mix; `/hits/<key>` tells what reached it.
"""

import re

import pytest

from latchkey_e2e import closed_port, fetch
from retry_helpers import attempts_in_detail, hits, new_key

BEARER = "e2e-retry-bearer-5b6c7d8e9f"


def route_config(echo, retry: str, extra: str = "", name: str = "retry-route") -> str:
    """A route-mode route /api -> echo with the given `retry:` body (YAML lines, 6-space indent)."""
    return f"""
unmatched: deny
routes:
  - name: {name}
    path_prefix: /api
    strip_prefix: true
    upstream: {echo.url}
    retry:
{retry}
{extra}
"""


def access_line(lk, name: str, status: int):
    return lk.wait_for_log(rf"(?m)^.*{name}.*\b{status}\b.*$")


def test_three_retries_absorb_two_failures(latchkey, echo):
    key = new_key("fail2")
    lk = latchkey(route_config(echo, "      max_retries: 3\n      delay_ms: 10"))
    reply = fetch("requests", f"{lk.base_url}/api/flaky/{key}?fail=2&status=503")
    assert reply.status == 200, reply.body
    assert reply.json()["hit"] == 3
    assert hits(echo, key)["count"] == 3
    line = access_line(lk, "retry-route", 200).group(0)
    assert re.search(r"latchkey\.attempts[=:]\s*\"?3\b", line), line
    assert f"127.0.0.1:{echo.port}" in line


def test_retries_exhausted_client_gets_last_upstream_answer(latchkey, echo):
    key = new_key("fail5")
    lk = latchkey(route_config(echo, "      max_retries: 3\n      delay_ms: 10"))
    reply = fetch("curl", f"{lk.base_url}/api/flaky/{key}?fail=5&status=503")
    assert reply.status == 503, reply.body
    assert reply.header("X-Latchkey-Error") is None  # the upstream's own 503, not the proxy's
    assert reply.json()["hit"] == 4
    assert hits(echo, key)["count"] == 4
    line = access_line(lk, "retry-route", 503).group(0)
    assert re.search(r"latchkey\.attempts[=:]\s*\"?4\b", line), line


def test_no_retry_by_default(latchkey, echo):
    key = new_key("default")
    lk = latchkey(route_config(echo, "      delay_ms: 10"))
    reply = fetch("requests", f"{lk.base_url}/api/flaky/{key}?fail=1&status=502")
    assert reply.status == 502
    assert reply.header("X-Latchkey-Error") is None
    assert hits(echo, key)["count"] == 1


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_retried_when_not_all_errors(latchkey, echo, status):
    key = new_key(f"s{status}")
    lk = latchkey(route_config(echo, "      max_retries: 1\n      delay_ms: 10\n      retry_on_all_errors: false"))
    reply = fetch("requests", f"{lk.base_url}/api/flaky/{key}?fail=1&status={status}")
    assert reply.status == 200, reply.body
    assert hits(echo, key)["count"] == 2


@pytest.mark.parametrize("status", [400, 404, 429, 409])
def test_4xx_not_retried_when_not_all_errors(latchkey, echo, status):
    key = new_key(f"s{status}")
    lk = latchkey(route_config(echo, "      max_retries: 3\n      delay_ms: 10\n      retry_on_all_errors: false"))
    reply = fetch("requests", f"{lk.base_url}/api/flaky/{key}?fail=1&status={status}")
    assert reply.status == status
    assert hits(echo, key)["count"] == 1


@pytest.mark.parametrize("status", [400, 404, 429, 503])
def test_4xx_retried_with_all_errors(latchkey, echo, status):
    key = new_key(f"all{status}")
    lk = latchkey(route_config(echo, "      max_retries: 3\n      delay_ms: 10\n      retry_on_all_errors: true"))
    reply = fetch("requests", f"{lk.base_url}/api/flaky/{key}?fail=2&status={status}")
    assert reply.status == 200, reply.body
    assert hits(echo, key)["count"] == 3


def test_unfollowed_3xx_retried_only_with_all_errors(latchkey, echo):
    key_all, key_5xx = new_key("r3xx"), new_key("n3xx")
    lk = latchkey(f"""
unmatched: deny
routes:
  - name: all-errors
    path_prefix: /all
    strip_prefix: true
    upstream: {echo.url}
    retry: {{max_retries: 2, delay_ms: 10, retry_on_all_errors: true}}
  - name: server-errors
    path_prefix: /plain
    strip_prefix: true
    upstream: {echo.url}
    retry: {{max_retries: 2, delay_ms: 10}}
""")
    reply = fetch("requests", f"{lk.base_url}/all/flaky/{key_all}?fail=1&status=302")
    assert reply.status == 200, reply.body
    assert hits(echo, key_all)["count"] == 2
    reply = fetch("requests", f"{lk.base_url}/plain/flaky/{key_5xx}?fail=1&status=302")
    assert reply.status == 302
    assert hits(echo, key_5xx)["count"] == 1


@pytest.mark.parametrize("mode", ["close", "partial"])
def test_network_error_after_sending_is_retried(latchkey, echo, mode):
    key = new_key(f"drop-{mode}")
    lk = latchkey(route_config(echo, "      max_retries: 2\n      delay_ms: 10"))
    reply = fetch("requests", f"{lk.base_url}/api/drop/{key}?fail=1&mode={mode}")
    assert reply.status == 200, reply.body
    assert hits(echo, key)["count"] == 2


def test_network_error_without_retries_is_502(latchkey, echo):
    key = new_key("drop0")
    lk = latchkey(route_config(echo, "      max_retries: 0"))
    reply = fetch("requests", f"{lk.base_url}/api/drop/{key}?fail=1")
    assert reply.status == 502, reply.body
    assert reply.header("X-Latchkey-Error")
    assert hits(echo, key)["count"] == 1


def test_connect_refused_is_retried_and_every_attempt_reported(latchkey):
    port = closed_port()
    lk = latchkey(f"""
unmatched: deny
connections:
  svc:
    type: bearer
    token: ${{E2E_BEARER}}
routes:
  - name: refused-route
    path_prefix: /api
    upstream: http://127.0.0.1:{port}
    connection: svc
    retry:
      max_retries: 2
      delay_ms: 20
""", env={"E2E_BEARER": BEARER})
    reply = fetch("requests", f"{lk.base_url}/api/x")
    assert reply.status == 502, reply.body
    body = reply.json()
    assert body["error"] == "upstream_connect_failed", body
    assert reply.header("X-Latchkey-Error") == "upstream_connect_failed"
    assert body["route"] == "refused-route"
    assert attempts_in_detail(body) == 3, body["detail"]
    line = access_line(lk, "refused-route", 502).group(0)
    assert re.search(r"latchkey\.attempts[=:]\s*\"?3\b", line), line
    assert BEARER not in reply.body.decode()


def test_fixed_delay_is_waited(latchkey, echo):
    key = new_key("delay")
    lk = latchkey(route_config(echo, "      max_retries: 2\n      delay_ms: 300"))
    reply = fetch("requests", f"{lk.base_url}/api/flaky/{key}?fail=2")
    assert reply.status == 200
    times = [a["time"] for a in hits(echo, key)["attempts"]]
    assert len(times) == 3
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert all(0.28 <= g < 2.0 for g in gaps), gaps


def test_exponential_backoff_stays_within_its_bounds(latchkey, echo):
    key = new_key("backoff")
    # delay_ms would be 5 s: ignored with exponential_backoff.
    lk = latchkey(route_config(echo, "      max_retries: 3\n      delay_ms: 5000\n      exponential_backoff: true"))
    reply = fetch("requests", f"{lk.base_url}/api/flaky/{key}?fail=3")
    assert reply.status == 200
    times = [a["time"] for a in hits(echo, key)["attempts"]]
    assert len(times) == 4
    gaps = [b - a for a, b in zip(times, times[1:])]
    # full jitter in [0, 100 ms], [0, 200 ms], [0, 400 ms], plus scheduling slack
    for gap, bound in zip(gaps, [0.1, 0.2, 0.4]):
        assert gap < bound + 0.5, gaps
