"""Redirects: handed back untouched by default; followed up to max_redirects with RFC 9110 method rules;
credentials go only where a route with the same connection serves the new location.

Two echo upstreams: `echo` (session) behind a.local and friends, and `echo_b` (this module) as the
other host. Each test asserts what each host received, per key (/hits/<key>).
"""

import hashlib
import os
import re
import urllib.parse

import pytest

from latchkey_e2e import EchoUpstream, fetch, header_values, via_requests
from retry_helpers import hits, new_key

BEARER = "e2e-redirect-bearer-1a2b3c4d5e"
OTHER = "e2e-redirect-other-9f8e7d6c5b"
CLIENT_SECRET = "client-own-secret-7a7a7a"


def q(url: str) -> str:
    return urllib.parse.quote(url, safe="")


def authorizations(upstream, key: str) -> list[list[str]]:
    """The Authorization values each request of `key` carried."""
    return [header_values({"headers": a["headers"]}, "Authorization") for a in hits(upstream, key)["attempts"]]


@pytest.fixture(scope="module")
def echo_b(tmp_path_factory):
    server = EchoUpstream(tmp_path_factory.mktemp("echo-b"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def lk(latchkey_module, echo, echo_b):
    return latchkey_module.start(f"""
unmatched: passthrough
connections:
  svc:
    type: bearer
    token: ${{E2E_BEARER}}
  other:
    type: bearer
    token: ${{E2E_OTHER}}
routes:
  - name: follow-a
    host: a.local
    upstream: {echo.url}
    connection: svc
    max_redirects: 3
  - name: same-conn-b
    host: b.local
    upstream: {echo_b.url}
    connection: svc
  - name: other-conn-c
    host: c.local
    upstream: {echo_b.url}
    connection: other
  # Names echo_b's loopback address without a connection: issue 9 forbids following a redirect to a
  # loopback host no route names, and every peer here is on loopback.
  - name: plain-b
    host: 127.0.0.1:{echo_b.port}
  - name: no-follow
    host: zero.local
    upstream: {echo.url}
    connection: svc
  - name: one-hop
    host: one.local
    upstream: {echo.url}
    connection: svc
    max_redirects: 1
  - name: small-buffer
    host: small.local
    upstream: {echo.url}
    connection: svc
    max_redirects: 3
    retry: {{body_buffer_bytes: 1024}}
""", env={"E2E_BEARER": BEARER, "E2E_OTHER": OTHER})


def access_line(lk, status: int, *keys: str) -> str:
    """The access-log line of the exchange that touched one of `keys` (the client's path or, where the
    log names the final hop, the target's) with `status`."""
    return lk.wait_for_log(rf"(?m)^.*(?:{'|'.join(keys)}).*\b{status}\b.*$", timeout=5).group(0)


def get(lk, url, method="GET", data=None, headers=None):
    return via_requests(url, proxy=lk.proxy_url, method=method, data=data, headers=headers)


# -- not followed -------------------------------------------------------------------------------

@pytest.mark.parametrize("client", ["curl", "requests"])
def test_max_redirects_zero_hands_3xx_back_untouched(lk, echo, client):
    key, target = new_key("zero"), new_key("zero-target")
    reply = fetch(client, f"http://zero.local/redirect/{key}?to={q('/echo/' + target)}&code=302", proxy=lk.proxy_url)
    assert reply.status == 302
    assert reply.header("Location") == f"/echo/{target}"
    assert reply.json()["key"] == key  # the upstream's own body
    assert hits(echo, key)["count"] == 1
    assert hits(echo, target)["count"] == 0


@pytest.mark.parametrize("code", [300, 304, 305, 306])
def test_statuses_that_are_never_followed(lk, echo, code):
    key, target = new_key(f"nf{code}"), new_key("nf-target")
    reply = get(lk, f"http://a.local/redirect/{key}?to={q('http://a.local/echo/' + target)}&code={code}")
    assert reply.status == code
    assert hits(echo, target)["count"] == 0


def test_non_http_location_is_handed_back(lk, echo):
    key = new_key("ftp")
    reply = get(lk, f"http://a.local/redirect/{key}?to={q('ftp://a.local/file')}&code=302")
    assert reply.status == 302
    assert reply.header("Location") == "ftp://a.local/file"


# -- same connection: credentials on every hop --------------------------------------------------

def test_relative_redirect_on_the_same_host_keeps_credentials(lk, echo):
    key, target = new_key("rel"), new_key("rel-target")
    reply = get(lk, f"http://a.local/redirect/{key}?to={q('/echo/' + target)}&code=302",
                headers=[("Authorization", f"Bearer {CLIENT_SECRET}")])
    assert reply.status == 200, reply.body
    assert reply.json()["key"] == target
    assert authorizations(echo, key) == [[f"Bearer {BEARER}"]]
    assert authorizations(echo, target) == [[f"Bearer {BEARER}"]]


def test_chain_within_the_route_keeps_credentials(lk, echo):
    k1, k2, k3 = new_key("c1"), new_key("c2"), new_key("c3")
    third = f"http://a.local/echo/{k3}"
    second = f"http://a.local/redirect/{k2}?to={q(third)}&code=301"
    reply = get(lk, f"http://a.local/redirect/{k1}?to={q(second)}&code=302")
    assert reply.status == 200, reply.body
    assert reply.json()["key"] == k3
    for key in (k1, k2, k3):
        assert authorizations(echo, key) == [[f"Bearer {BEARER}"]], key
    line = access_line(lk, 200, k1, k3)
    assert re.search(r"latchkey\.upstream[=:]\s*\"?http://127\.0\.0\.1:" + str(echo.port), line), line


def test_other_route_with_the_same_connection_gets_credentials(lk, echo, echo_b):
    key, target = new_key("same"), new_key("same-target")
    reply = get(lk, f"http://a.local/redirect/{key}?to={q('http://b.local/echo/' + target)}&code=307")
    assert reply.status == 200, reply.body
    assert authorizations(echo_b, target) == [[f"Bearer {BEARER}"]]
    line = access_line(lk, 200, key, target)
    assert f"127.0.0.1:{echo_b.port}" in line, line  # the final upstream


# -- another origin: no credentials at all ------------------------------------------------------

@pytest.mark.parametrize("form", ["absolute", "scheme-relative"])
def test_unrouted_host_gets_no_credentials(lk, echo, echo_b, form):
    """Another origin, served by a route without a connection (`plain-b`): followed, with no credential at all."""
    key, target = new_key(f"x-{form}"), new_key("x-target")
    where = f"//127.0.0.1:{echo_b.port}/echo/{target}"
    if form == "absolute":
        where = "http:" + where
    reply = get(lk, f"http://a.local/redirect/{key}?to={q(where)}&code=302",
                headers=[("Authorization", f"Bearer {CLIENT_SECRET}"), ("X-Trace", "kept")])
    assert reply.status == 200, reply.body
    assert authorizations(echo, key) == [[f"Bearer {BEARER}"]]  # the first hop had it
    seen = hits(echo_b, target)
    assert seen["count"] == 1
    headers = seen["attempts"][0]["headers"]
    assert header_values({"headers": headers}, "Authorization") == []
    assert header_values({"headers": headers}, "X-Trace") == ["kept"]
    text = str(headers)
    assert BEARER not in text and CLIENT_SECRET not in text and OTHER not in text
    line = access_line(lk, 200, key, target)
    assert f"127.0.0.1:{echo_b.port}" in line, line


def test_unnamed_loopback_host_is_not_followed(lk, echo):
    """Issue 9: a Location on a loopback address no route names is handed back, not followed."""
    key = new_key("lo")
    where = f"http://localhost:{echo.port}/echo/{key}-target"
    reply = get(lk, f"http://a.local/redirect/{key}?to={q(where)}&code=302")
    assert reply.status == 302, reply.body
    assert reply.header("Location") == where
    assert hits(echo, f"{key}-target")["count"] == 0


def test_route_with_another_connection_gets_no_credentials(lk, echo, echo_b):
    key, target = new_key("oc"), new_key("oc-target")
    reply = get(lk, f"http://a.local/redirect/{key}?to={q('http://c.local/echo/' + target)}&code=302",
                headers=[("Authorization", f"Bearer {CLIENT_SECRET}")])
    assert reply.status == 200, reply.body
    seen = hits(echo_b, target)
    assert seen["count"] == 1
    text = str(seen["attempts"][0]["headers"])
    assert "authorization" not in text.lower()
    assert BEARER not in text and OTHER not in text and CLIENT_SECRET not in text


# -- methods and bodies -------------------------------------------------------------------------

@pytest.mark.parametrize("code", [302, 303])
def test_post_becomes_get_without_body(lk, echo, code):
    key, target = new_key(f"pg{code}"), new_key("pg-target")
    body = os.urandom(4096)
    reply = get(lk, f"http://a.local/redirect/{key}?to={q('http://a.local/echo/' + target)}&code={code}",
                method="POST", data=body, headers=[("Content-Type", "application/octet-stream")])
    assert reply.status == 200, reply.body
    first = hits(echo, key)["attempts"][0]
    assert (first["method"], first["body_length"]) == ("POST", len(body))
    seen = hits(echo, target)["attempts"]
    assert len(seen) == 1
    assert seen[0]["method"] == "GET"
    assert seen[0]["body_length"] == 0
    names = {n.lower() for n, _ in seen[0]["headers"]}
    assert "transfer-encoding" not in names and "content-type" not in names
    assert header_values({"headers": seen[0]["headers"]}, "Content-Length") in ([], ["0"])


def test_303_after_put_is_get_and_head_stays_head(lk, echo):
    key, target = new_key("put303"), new_key("put303-target")
    reply = get(lk, f"http://a.local/redirect/{key}?to={q('http://a.local/echo/' + target)}&code=303",
                method="PUT", data=b"x" * 100)
    assert reply.status == 200
    assert hits(echo, target)["attempts"][0]["method"] == "GET"
    key, target = new_key("head303"), new_key("head303-target")
    reply = get(lk, f"http://a.local/redirect/{key}?to={q('http://a.local/echo/' + target)}&code=303", method="HEAD")
    assert reply.status == 200
    assert hits(echo, target)["attempts"][0]["method"] == "HEAD"


@pytest.mark.parametrize("code, method", [(307, "POST"), (308, "POST"), (308, "PUT"), (301, "PUT")])
def test_method_and_body_kept(lk, echo, code, method):
    key, target = new_key(f"keep{code}"), new_key("keep-target")
    body = os.urandom(50 * 1024)
    digest = hashlib.sha256(body).hexdigest()
    reply = get(lk, f"http://a.local/redirect/{key}?to={q('/echo/' + target)}&code={code}", method=method, data=body)
    assert reply.status == 200, reply.body
    for k in (key, target):
        attempts = hits(echo, k)["attempts"]
        assert len(attempts) == 1, k
        assert (attempts[0]["method"], attempts[0]["body_length"], attempts[0]["body_sha256"]) == (
            method, len(body), digest)


def test_307_with_a_body_too_big_to_replay_is_handed_back(lk, echo):
    key, target = new_key("big307"), new_key("big307-target")
    reply = get(lk, f"http://small.local/redirect/{key}?to={q('http://small.local/echo/' + target)}&code=307",
                method="POST", data=os.urandom(10 * 1024))
    assert reply.status == 307
    assert hits(echo, target)["count"] == 0


def test_303_with_a_big_body_is_still_followed(lk, echo):
    key, target = new_key("big303"), new_key("big303-target")
    reply = get(lk, f"http://small.local/redirect/{key}?to={q('http://small.local/echo/' + target)}&code=303",
                method="POST", data=os.urandom(10 * 1024))
    assert reply.status == 200, reply.body
    assert hits(echo, target)["attempts"][0]["method"] == "GET"


# -- limits -------------------------------------------------------------------------------------

def test_redirect_loop_stops_at_max_redirects_with_502(lk, echo):
    key = new_key("loop")
    reply = get(lk, f"http://a.local/loop/{key}?code=302")
    assert reply.status == 502, reply.body
    body = reply.json()
    assert body["error"] == "too_many_redirects", body
    assert reply.header("X-Latchkey-Error") == "too_many_redirects"
    assert hits(echo, key)["count"] == 4  # the request and 3 redirects followed
    assert BEARER not in reply.body.decode()


def test_chain_longer_than_max_redirects_is_502(lk, echo):
    k1, k2, k3 = new_key("l1"), new_key("l2"), new_key("l3")
    second = f"http://one.local/redirect/{k2}?to={q('http://one.local/echo/' + k3)}&code=302"
    reply = get(lk, f"http://one.local/redirect/{k1}?to={q(second)}&code=302")
    assert reply.status == 502, reply.body
    assert hits(echo, k2)["count"] == 1
    assert hits(echo, k3)["count"] == 0
