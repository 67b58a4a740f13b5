"""The echo upstream's keyed failure scripts, without latchkey (a harness failure shows here first)."""

import hashlib
import time

from latchkey_e2e import RawConnection, raw_exchange, via_requests
from retry_helpers import new_key


def test_flaky_fails_then_echoes_and_records_bodies(echo):
    key = new_key("peer-flaky")
    statuses = [via_requests(f"{echo.url}/flaky/{key}?fail=2&status=502", method="POST", data=b"abc").status
                for _ in range(3)]
    assert statuses == [502, 502, 200]
    seen = via_requests(f"{echo.url}/hits/{key}").json()
    assert seen["count"] == 3
    assert {a["body_sha256"] for a in seen["attempts"]} == {hashlib.sha256(b"abc").hexdigest()}
    assert via_requests(f"{echo.url}/hits/{new_key('other')}").json()["count"] == 0


def test_retry_after_forms(echo):
    key = new_key("peer-ra")
    reply = via_requests(f"{echo.url}/retry-after/{key}?fail=1&after=3")
    assert (reply.status, reply.header("Retry-After")) == (429, "3")
    assert via_requests(f"{echo.url}/retry-after/{key}?fail=1&after=3").status == 200
    reply = via_requests(f"{echo.url}/retry-after/{new_key('peer-ra')}?fail=1&after=date:5&status=503")
    assert reply.status == 503 and reply.header("Retry-After").endswith(" GMT")


def test_slow_drop_loop_and_redirect(echo):
    key = new_key("peer-slow")
    started = time.monotonic()
    assert via_requests(f"{echo.url}/slow/{key}?ms=300&fail=1").status == 200
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    via_requests(f"{echo.url}/slow/{key}?ms=300&fail=1")
    assert time.monotonic() - started < 0.3
    key = new_key("peer-drop")
    result = raw_exchange(echo.port, f"GET /drop/{key}?fail=1 HTTP/1.1\r\nHost: x\r\n\r\n".encode(), timeout=5)
    assert result.closed and result.data == b""
    with RawConnection(echo.port) as conn:
        status, headers, _ = conn.exchange(f"GET /loop/{key}?code=308 HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert status == 308 and dict(headers)["Location"] == f"/loop/{key}?code=308"
    reply = via_requests(f"{echo.url}/redirect/{key}?to=/echo/x&code=303")
    assert (reply.status, reply.header("Location")) == (303, "/echo/x")
    assert via_requests(f"{echo.url}/hits/{key}").json()["count"] == 3
    via_requests(f"{echo.url}/control/reset?key={key}")
    assert via_requests(f"{echo.url}/hits/{key}").json()["count"] == 0
