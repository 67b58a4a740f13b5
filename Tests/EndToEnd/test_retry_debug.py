"""Issue 4: `debug: true` logs each attempt's request and response heads, credentials redacted."""

from __future__ import annotations

import uuid

import requests

TOKEN = "debug-token-7c1e5f0a93"


def test_debug_logs_every_attempt_with_credentials_redacted(latchkey, echo):
    key = uuid.uuid4().hex
    proxy = latchkey(
        f"""
connections:
  api: {{type: bearer, token: "${{DEBUG_TOKEN}}"}}
routes:
  - name: debugged
    path_prefix: /dbg/
    strip_prefix: true
    upstream: {echo.url}
    connection: api
    debug: true
    retry: {{max_retries: 1, delay_ms: 10}}
""",
        env={"DEBUG_TOKEN": TOKEN},
        secrets=[TOKEN, "client-secret-never-logged"],
    )
    response = requests.get(
        f"{proxy.base_url}/dbg/flaky/{key}?fail=1&status=503",
        headers={"Authorization": "Bearer client-secret-never-logged", "X-Trace": "t-1"},
        timeout=20,
    )
    assert response.status_code == 200
    proxy.wait_for_log(r"debug response attempt 2: 200")
    log = proxy.log_text()
    assert "debug request attempt 1: GET " in log
    assert "debug response attempt 1: 503" in log
    assert "debug request attempt 2: GET " in log
    assert "Authorization: <redacted>" in log
    assert "X-Trace: t-1" in log  # other fields are shown as they went out
    assert TOKEN not in log and "client-secret-never-logged" not in log


def test_routes_without_debug_log_no_heads(latchkey, echo):
    proxy = latchkey(
        f"""
routes:
  - name: quiet
    path_prefix: /q/
    strip_prefix: true
    upstream: {echo.url}
"""
    )
    assert requests.get(f"{proxy.base_url}/q/x", timeout=20).status_code == 200
    proxy.wait_for_log(r"GET .*/q/x 200")
    assert "debug request" not in proxy.log_text()
