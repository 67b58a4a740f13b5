"""Issue 11, one route matcher and one rewrite step: a host-matched route (its credential, its `methods`,
and `unmatched: deny` behind it) applies to `LOCALHOST.` exactly as to `localhost`, whether the request is
a CONNECT, an absolute-form request or an origin-form request naming it in `Host`; route mode (a Host
naming the proxy) is routed on the path; and every attempt's head comes from one rewrite step (client
credentials and hop-by-hop fields out, the credential in, Host and one Via set), a retried attempt included.

Requests are written by hand (raw sockets): curl and requests would normalise the host names under test.
The echo upstream's keyed hits (/hits/<key>) prove what reached it.
"""

import json

import pytest

from latchkey_e2e import RawConnection, header_values, raw_exchange
from retry_helpers import hits, new_key

BEARER = "e2e-one-matcher-bearer-7c1d2e3f"
ENV = {"E2E_BEARER": BEARER}


def config(echo) -> str:
    # `localhost:PORT` without upstream: the client's host and port are the destination, so the spelling
    # the client writes is exactly what the router must see through.
    return f"""
unmatched: deny
connect_ports: [{echo.port}]
connections:
  bear:
    type: bearer
    token: ${{E2E_BEARER}}
routes:
  - name: local-get
    host: localhost:{echo.port}
    methods: [GET]
    connection: bear
  - name: vhost
    host: api.example.com
    methods: [GET]
    upstream: http://127.0.0.1:{echo.port}/echo
    connection: bear
  - name: bear
    path_prefix: /bear/
    strip_prefix: true
    upstream: http://127.0.0.1:{echo.port}/echo
    connection: bear
  - name: retry
    path_prefix: /retry/
    strip_prefix: true
    upstream: http://127.0.0.1:{echo.port}
    connection: bear
    retry:
      max_retries: 1
      delay_ms: 10
"""


def absolute(lk, url: str, host: str, method: str = "GET", fields: str = ""):
    payload = f"{method} {url} HTTP/1.1\r\nHost: {host}\r\n{fields}Connection: close\r\n\r\n".encode()
    return raw_exchange(lk.port, payload)


def error_of(result) -> dict:
    return json.loads(result.body.decode())


@pytest.fixture
def lk(latchkey, echo):
    return latchkey(config(echo), env=ENV)


@pytest.mark.parametrize("spelling", ["localhost", "LOCALHOST.", "LocalHost."])
def test_absolute_form_takes_the_host_route_whatever_the_spelling(lk, echo, spelling):
    key = new_key("abs")
    result = absolute(lk, f"http://{spelling}:{echo.port}/echo/{key}", f"{spelling}:{echo.port}",
                      fields="Authorization: Bearer client-own\r\n")
    assert result.status == 200, result.data
    seen = hits(echo, key)
    assert seen["count"] == 1
    attempt = seen["attempts"][0]
    assert header_values(attempt, "Authorization") == [f"Bearer {BEARER}"]  # the route's, not the client's
    assert header_values(attempt, "Host") == [f"localhost:{echo.port}"]  # one spelling upstream too
    assert lk.wait_for_log(rf"GET localhost/echo/{key} 200 .*latchkey\.host=localhost .*latchkey\.route=local-get")


@pytest.mark.parametrize("spelling", ["localhost", "LOCALHOST."])
def test_the_routes_methods_apply_and_unmatched_deny_stands_behind_them(lk, echo, spelling):
    key = new_key("post")
    result = absolute(lk, f"http://{spelling}:{echo.port}/echo/{key}", f"{spelling}:{echo.port}", method="POST",
                      fields="Content-Length: 0\r\n")
    assert result.status == 403, result.data
    assert error_of(result)["error"] == "denied", result.data
    assert hits(echo, key)["count"] == 0


@pytest.mark.parametrize("authority", ["localhost:{port}", "LOCALHOST.:{port}", "localhost.:{port}"])
def test_connect_takes_the_same_route_whatever_the_spelling(lk, echo, authority):
    target = authority.format(port=echo.port)
    with RawConnection(lk.port) as conn:
        status, _, body = conn.exchange(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode(),
                                        method="CONNECT")
    assert status == 403, body
    error = json.loads(body)
    assert error["error"] == "connect_not_supported_for_route", error
    assert error["route"] == "local-get", error


@pytest.mark.parametrize("spelling", ["localhost..", ".localhost", "local..host"])
def test_an_empty_label_is_malformed_not_another_spelling(lk, echo, spelling):
    key = new_key("dots")
    result = absolute(lk, f"http://{spelling}:{echo.port}/echo/{key}", f"localhost:{echo.port}")
    assert result.status == 400, result.data
    with RawConnection(lk.port) as conn:
        status, _, body = conn.exchange(
            f"CONNECT {spelling}:{echo.port} HTTP/1.1\r\nHost: localhost:{echo.port}\r\n\r\n".encode(),
            method="CONNECT")
    assert status == 400, body
    assert hits(echo, key)["count"] == 0


@pytest.mark.parametrize("host_field", ["api.example.com", "API.Example.COM.", "api.example.com.:80"])
def test_origin_form_takes_the_host_route_whatever_the_host_spelling(lk, echo, host_field):
    """Virtual hosts: an origin-form request whose Host a route names gets that route, its credential and its
    methods, whatever the spelling; a POST (not in its methods) falls through to the routes without host."""
    key = new_key("vhost")
    result = raw_exchange(lk.port, f"GET /{key} HTTP/1.1\r\nHost: {host_field}\r\nConnection: close\r\n\r\n".encode())
    assert result.status == 200, result.data
    attempt = hits(echo, key)["attempts"][0]
    assert attempt["path"] == f"/echo/{key}"
    assert header_values(attempt, "Authorization") == [f"Bearer {BEARER}"]
    assert header_values(attempt, "Host") == [f"127.0.0.1:{echo.port}"]
    assert lk.wait_for_log(rf"GET api\.example\.com/{key} 200 .*latchkey\.route=vhost")
    post = raw_exchange(lk.port, (f"POST /{key} HTTP/1.1\r\nHost: {host_field}\r\nContent-Length: 0\r\n"
                                  "Connection: close\r\n\r\n").encode())
    assert post.status == 404, post.data  # no route without host serves /<key>
    assert hits(echo, key)["count"] == 1


@pytest.mark.parametrize("host_field", ["127.0.0.1:{port}", "LOCALHOST.:{port}", "localhost:{echo_port}"])
def test_origin_form_naming_the_proxy_is_routed_on_its_path(lk, echo, host_field):
    """Route mode: the Host names the proxy; the host route without upstream (`localhost:PORT`) never takes
    an origin-form request, so the path route does."""
    key = new_key("origin")
    payload = (f"GET /bear/{key} HTTP/1.1\r\nHost: {host_field.format(port=lk.port, echo_port=echo.port)}\r\n"
               f"Connection: close\r\n\r\n").encode()
    result = raw_exchange(lk.port, payload)
    assert result.status == 200, result.data
    attempt = hits(echo, key)["attempts"][0]
    assert header_values(attempt, "Authorization") == [f"Bearer {BEARER}"]
    assert header_values(attempt, "Host") == [f"127.0.0.1:{echo.port}"]


def test_every_attempt_gets_one_rewritten_head(lk, echo):
    """The retried attempt's head is made afresh from the plan by the one rewrite step: still exactly one
    credential, one Via from this proxy, the upstream's Host, and none of the client's credentials or
    hop-by-hop fields."""
    key = new_key("attempts")
    payload = (f"GET /retry/x/../flaky/{key}?fail=1&status=503 HTTP/1.1\r\nHost: 127.0.0.1:{lk.port}\r\n"
               "Authorization: Bearer client-own\r\nauthorization: Basic Y2xpZW50\r\n"
               "Proxy-Authorization: Basic cHJveHk=\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\n"
               "Keep-Alive: timeout=5\r\nX-Keep: kept\r\nConnection: close\r\n\r\n").encode()
    result = raw_exchange(lk.port, payload)
    assert result.status == 200, result.data
    seen = hits(echo, key)
    assert seen["count"] == 2
    for attempt in seen["attempts"]:
        assert attempt["path"] == f"/flaky/{key}?fail=1&status=503"
        assert header_values(attempt, "Authorization") == [f"Bearer {BEARER}"]
        assert header_values(attempt, "Proxy-Authorization") == []
        assert header_values(attempt, "X-Hop") == [] and header_values(attempt, "Keep-Alive") == []
        assert header_values(attempt, "Host") == [f"127.0.0.1:{echo.port}"]
        assert len(header_values(attempt, "Via")) == 1
        assert header_values(attempt, "X-Keep") == ["kept"]
