"""Request bodies and retries: replayed byte for byte when kept, never retried when streamed."""

import hashlib
import os

import pytest

from latchkey_e2e import curl, via_requests
from retry_helpers import hits, new_key


def route(echo, buffer_bytes: int = 1048576, retries: int = 3) -> str:
    return f"""
unmatched: deny
routes:
  - name: body-route
    path_prefix: /api
    strip_prefix: true
    upstream: {echo.url}
    retry:
      max_retries: {retries}
      delay_ms: 10
      body_buffer_bytes: {buffer_bytes}
"""


def chunks(data: bytes, size: int = 7919):
    for i in range(0, len(data), size):
        yield data[i:i + size]


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_post_body_replayed_byte_for_byte(latchkey, echo, framing):
    key = new_key(f"replay-{framing}")
    body = os.urandom(200 * 1024)
    digest = hashlib.sha256(body).hexdigest()
    lk = latchkey(route(echo))
    data = body if framing == "content-length" else chunks(body)
    reply = via_requests(f"{lk.base_url}/api/flaky/{key}?fail=2&status=503", method="POST", data=data,
                         headers=[("Content-Type", "application/octet-stream")])
    assert reply.status == 200, reply.body
    seen = hits(echo, key)
    assert seen["count"] == 3
    for attempt in seen["attempts"]:
        assert attempt["method"] == "POST"
        assert attempt["body_length"] == len(body)
        assert attempt["body_sha256"] == digest


def test_put_replayed_after_network_error(latchkey, echo):
    key = new_key("replay-drop")
    body = os.urandom(64 * 1024)
    lk = latchkey(route(echo))
    reply = via_requests(f"{lk.base_url}/api/drop/{key}?fail=1", method="PUT", data=body)
    assert reply.status == 200, reply.body
    seen = hits(echo, key)
    assert seen["count"] == 2
    assert {a["body_sha256"] for a in seen["attempts"]} == {hashlib.sha256(body).hexdigest()}


def test_body_over_the_buffer_is_not_retried(latchkey, echo):
    key = new_key("big")
    body = os.urandom(100 * 1024)
    lk = latchkey(route(echo, buffer_bytes=1024))
    reply = via_requests(f"{lk.base_url}/api/flaky/{key}?fail=1&status=503", method="POST", data=body)
    assert reply.status == 503, reply.body
    assert reply.header("X-Latchkey-Error") is None  # the upstream's answer, passed on
    seen = hits(echo, key)
    assert seen["count"] == 1
    assert seen["attempts"][0]["body_sha256"] == hashlib.sha256(body).hexdigest()  # streamed whole


def test_chunked_body_over_the_buffer_is_not_retried(latchkey, echo):
    key = new_key("big-chunked")
    body = os.urandom(100 * 1024)
    lk = latchkey(route(echo, buffer_bytes=1024))
    reply = via_requests(f"{lk.base_url}/api/flaky/{key}?fail=1&status=503", method="POST", data=chunks(body, 500))
    assert reply.status == 503, reply.body
    assert hits(echo, key)["count"] == 1


@pytest.mark.parametrize("size, expected_hits", [(1024, 2), (1025, 1)], ids=["at-buffer", "one-over"])
def test_buffer_size_is_inclusive(latchkey, echo, size, expected_hits):
    key = new_key(f"edge{size}")
    lk = latchkey(route(echo, buffer_bytes=1024))
    reply = via_requests(f"{lk.base_url}/api/flaky/{key}?fail=1&status=503", method="POST", data=os.urandom(size))
    assert reply.status == (200 if expected_hits == 2 else 503), reply.body
    assert hits(echo, key)["count"] == expected_hits


def test_zero_buffer_still_retries_bodiless_requests(latchkey, echo):
    key = new_key("nobody")
    lk = latchkey(route(echo, buffer_bytes=0))
    reply = via_requests(f"{lk.base_url}/api/flaky/{key}?fail=1&status=503")
    assert reply.status == 200, reply.body
    assert hits(echo, key)["count"] == 2


def test_curl_expect_100_continue_body_replayed(latchkey, echo, tmp_path):
    key = new_key("expect")
    body = os.urandom(300 * 1024)
    path = tmp_path / "body.bin"
    path.write_bytes(body)
    lk = latchkey(route(echo))
    reply = curl(f"{lk.base_url}/api/flaky/{key}?fail=1&status=502", method="POST", data_file=str(path),
                 headers=[("Expect", "100-continue"), ("Content-Type", "application/octet-stream")])
    assert reply.status == 200, reply.body
    seen = hits(echo, key)
    assert seen["count"] == 2
    assert {a["body_sha256"] for a in seen["attempts"]} == {hashlib.sha256(body).hexdigest()}
