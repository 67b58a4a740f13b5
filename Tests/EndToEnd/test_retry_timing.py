"""Retry timing: Retry-After on 429/503, timeout_ms per attempt and the overall deadline."""

import re
import time

from latchkey_e2e import fetch
from retry_helpers import attempts_in_detail, hits, new_key


def route(echo, body: str) -> str:
    return f"""
unmatched: deny
routes:
  - name: timing-route
    path_prefix: /api
    strip_prefix: true
    upstream: {echo.url}
{body}
"""


def gaps(echo, key):
    times = [a["time"] for a in hits(echo, key)["attempts"]]
    return [b - a for a, b in zip(times, times[1:])]


# -- Retry-After --------------------------------------------------------------------------------

def test_429_retry_after_seconds_is_waited(latchkey, echo):
    key = new_key("ra429")
    lk = latchkey(route(echo, "    retry: {max_retries: 2, delay_ms: 10, retry_on_all_errors: true}"))
    started = time.monotonic()
    reply = fetch("requests", f"{lk.base_url}/api/retry-after/{key}?fail=1&after=1&status=429")
    elapsed = time.monotonic() - started
    assert reply.status == 200, reply.body
    assert elapsed >= 0.9, elapsed
    assert hits(echo, key)["count"] == 2
    assert gaps(echo, key)[0] >= 0.9


def test_503_retry_after_seconds_is_waited_without_all_errors(latchkey, echo):
    key = new_key("ra503")
    lk = latchkey(route(echo, "    retry: {max_retries: 1, delay_ms: 10}"))
    reply = fetch("curl", f"{lk.base_url}/api/retry-after/{key}?fail=1&after=1&status=503")
    assert reply.status == 200, reply.body
    assert hits(echo, key)["count"] == 2
    assert gaps(echo, key)[0] >= 0.9


def test_429_not_retried_without_all_errors_even_with_retry_after(latchkey, echo):
    key = new_key("ra429n")
    lk = latchkey(route(echo, "    retry: {max_retries: 2, delay_ms: 10}"))
    reply = fetch("requests", f"{lk.base_url}/api/retry-after/{key}?fail=1&after=1&status=429")
    assert reply.status == 429
    assert reply.header("Retry-After") == "1"  # passed to the client as the upstream sent it
    assert hits(echo, key)["count"] == 1


def test_retry_after_http_date_is_waited(latchkey, echo):
    key = new_key("radate")
    lk = latchkey(route(echo, "    retry: {max_retries: 1, delay_ms: 10, retry_on_all_errors: true}"))
    # An IMF-fixdate 2 s ahead: whole seconds, so the wait is between 1 and 2 s.
    reply = fetch("requests", f"{lk.base_url}/api/retry-after/{key}?fail=1&after=date:2&status=429")
    assert reply.status == 200, reply.body
    assert hits(echo, key)["count"] == 2
    assert 0.9 <= gaps(echo, key)[0] < 4, gaps(echo, key)


def test_garbage_retry_after_falls_back_to_the_delay(latchkey, echo):
    key = new_key("ragarbage")
    lk = latchkey(route(echo, "    retry: {max_retries: 1, delay_ms: 10, retry_on_all_errors: true}"))
    reply = fetch("requests", f"{lk.base_url}/api/retry-after/{key}?fail=1&after=soon&status=503")
    assert reply.status == 200, reply.body
    assert gaps(echo, key)[0] < 0.8


def test_retry_after_beyond_the_deadline_is_not_waited(latchkey, echo):
    key = new_key("radeadline")
    lk = latchkey(route(echo, "    retry: {max_retries: 2, delay_ms: 10}\n    deadline_ms: 1500"))
    started = time.monotonic()
    reply = fetch("requests", f"{lk.base_url}/api/retry-after/{key}?fail=3&after=30&status=503")
    elapsed = time.monotonic() - started
    assert reply.status in (503, 504), reply.body
    assert elapsed < 5, elapsed
    assert hits(echo, key)["count"] == 1


# -- timeout_ms and deadline_ms -----------------------------------------------------------------

def test_every_attempt_times_out_is_504_listing_the_attempts(latchkey, echo):
    key = new_key("slow")
    lk = latchkey(route(echo, "    timeout_ms: 300\n    retry: {max_retries: 2, delay_ms: 10}"))
    started = time.monotonic()
    reply = fetch("requests", f"{lk.base_url}/api/slow/{key}?ms=3000")
    elapsed = time.monotonic() - started
    assert reply.status == 504, reply.body
    body = reply.json()
    assert {"error", "detail"} <= set(body), body
    # The default deadline (3 × 300 ms + 2 × 10 ms) ends when the third attempt's timeout does: either wins.
    assert body["error"] in ("upstream_timeout", "deadline_exceeded"), body
    assert reply.header("X-Latchkey-Error") == body["error"]
    assert attempts_in_detail(body) == 3, body["detail"]
    assert hits(echo, key)["count"] == 3
    assert 0.85 <= elapsed < 2.5, elapsed
    line = lk.wait_for_log(r"(?m)^.*timing-route.*\b504\b.*$").group(0)
    assert re.search(r"latchkey\.attempts[=:]\s*\"?3\b", line), line


def test_slow_first_attempt_then_success(latchkey, echo):
    key = new_key("slow1")
    lk = latchkey(route(echo, "    timeout_ms: 300\n    retry: {max_retries: 1, delay_ms: 10}"))
    reply = fetch("requests", f"{lk.base_url}/api/slow/{key}?ms=2000&fail=1")
    assert reply.status == 200, reply.body
    assert reply.json()["hit"] == 2
    assert hits(echo, key)["count"] == 2


def test_deadline_ends_the_exchange_before_all_attempts(latchkey, echo):
    key = new_key("deadline")
    lk = latchkey(route(echo, "    timeout_ms: 300\n    deadline_ms: 700\n    retry: {max_retries: 5, delay_ms: 10}"))
    started = time.monotonic()
    reply = fetch("requests", f"{lk.base_url}/api/slow/{key}?ms=3000")
    elapsed = time.monotonic() - started
    assert reply.status == 504, reply.body
    body = reply.json()
    assert reply.header("X-Latchkey-Error")
    made = hits(echo, key)["count"]
    assert 1 <= made < 6, made
    assert attempts_in_detail(body) == made, body["detail"]
    assert 0.6 <= elapsed < 1.6, elapsed


def test_deadline_smaller_than_timeout(latchkey, echo):
    key = new_key("deadline-small")
    lk = latchkey(route(echo, "    timeout_ms: 5000\n    deadline_ms: 400\n    retry: {max_retries: 3}"))
    started = time.monotonic()
    reply = fetch("requests", f"{lk.base_url}/api/slow/{key}?ms=3000")
    elapsed = time.monotonic() - started
    assert reply.status == 504, reply.body
    assert reply.json()["error"] == "deadline_exceeded", reply.body
    assert hits(echo, key)["count"] == 1
    assert elapsed < 1.5, elapsed


def test_deadline_bounds_retry_delays(latchkey, echo):
    key = new_key("deadline-delay")
    lk = latchkey(route(echo, "    deadline_ms: 800\n    retry: {max_retries: 5, delay_ms: 500}"))
    started = time.monotonic()
    reply = fetch("requests", f"{lk.base_url}/api/flaky/{key}?fail=10&status=503")
    elapsed = time.monotonic() - started
    # The second retry (at about 1 s) would pass the deadline: the client gets the upstream's 503 or a 504.
    assert reply.status in (503, 504), reply.body
    assert hits(echo, key)["count"] == 2
    assert elapsed < 1.5, elapsed
