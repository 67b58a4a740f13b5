"""Upstream failures become JSON errors: 502 when the upstream can't be reached, 504 on timeout."""

import time

import pytest

from latchkey_e2e import closed_port, fetch

CLIENTS = ["curl", "requests"]
BEARER = "e2e-errors-token-d4e5f6a7"


@pytest.mark.parametrize("client", CLIENTS)
def test_upstream_connection_refused_is_502(latchkey, client):
    port = closed_port()
    lk = latchkey(f"""
unmatched: deny
connections:
  svc:
    type: bearer
    token: ${{E2E_BEARER}}
routes:
  - name: dead-upstream
    host: dead.local
    upstream: http://127.0.0.1:{port}
    connection: svc
""", env={"E2E_BEARER": BEARER})
    reply = fetch(client, "http://dead.local/x", proxy=lk.proxy_url)
    assert reply.status == 502, reply.body
    body = reply.json()
    assert {"error", "detail", "route"} <= set(body), body
    assert body["route"] == "dead-upstream"
    assert reply.header("X-Latchkey-Error")
    assert BEARER not in reply.body.decode()


def test_slow_upstream_is_504(latchkey, echo):
    lk = latchkey(f"""
unmatched: deny
routes:
  - name: slow-route
    path_prefix: /slow-api
    strip_prefix: true
    upstream: {echo.url}
    timeout_ms: 500
""")
    started = time.monotonic()
    reply = fetch("requests", f"{lk.base_url}/slow-api/slow?ms=3000")
    elapsed = time.monotonic() - started
    assert reply.status == 504, reply.body
    body = reply.json()
    assert {"error", "detail"} <= set(body)
    assert reply.header("X-Latchkey-Error")
    assert elapsed < 2.9, f"the 500 ms timeout took {elapsed:.1f}s"
