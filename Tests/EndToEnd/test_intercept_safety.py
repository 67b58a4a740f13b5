"""Issue 12, the safety rules of TLS interception, each against the built binary with the echo upstream's
keyed hit counts proving what did (or did not) reach the upstream:
- the CONNECT authority, the SNI and every inner Host name the same host and port: an SNI for another host
  fails the handshake, an inner Host for another host or port gets 421 and no credential;
- a client that does not trust the CA fails its own handshake and nothing is sent upstream;
- without `intercept` a CONNECT to a routed host stays a 403 whose advice names the key;
- the access log marks intercepted requests, and the metrics count connections, failures and leaves."""

import json
import re
import socket
import ssl
import urllib.request

import pytest

from intercept_helpers import (BEARER, ENV, OTHER_BEARER, InterceptCA, connect, intercept_config, intercepted_tls,
                               read_rest, request, tls_context)
from latchkey_e2e import metric_sum, scrape_metrics


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    return InterceptCA.create(tmp_path_factory.mktemp("intercept-ca"))


def routes(echo) -> str:
    return f"""
    - name: api
      host: api.test
      upstream: http://127.0.0.1:{echo.port}
      connection: svc
    - name: other
      host: other.test
      upstream: http://127.0.0.1:{echo.port}
      connection: other
    """


def hits(echo, key: str) -> list[dict]:
    with urllib.request.urlopen(f"{echo.url}/hits/{key}", timeout=10) as r:
        return json.loads(r.read())["attempts"]


def authorization(attempt: dict) -> list[str]:
    return [v for n, v in attempt["headers"] if n.lower() == "authorization"]


@pytest.fixture
def proxy(latchkey, echo, ca):
    return latchkey(intercept_config(ca, routes(echo)), env=ENV, secrets=ca.key_secrets)


def test_inner_request_gets_the_credential_and_loses_its_own(proxy, echo, ca):
    with intercepted_tls(proxy.port, "api.test:443", ca.cert) as s:
        assert s.selected_alpn_protocol() == "http/1.1"
        status, _, body = request(s, "GET", "/echo/icept-inject?q=1", "api.test",
                                  [("Authorization", "Bearer client-own")])
    assert status == 200, body
    seen = json.loads(body)
    assert seen["path"] == "/echo/icept-inject?q=1"
    [attempt] = hits(echo, "icept-inject")
    assert authorization(attempt) == [f"Bearer {BEARER}"]


def test_the_leaf_names_exactly_the_connect_host(proxy, ca):
    with intercepted_tls(proxy.port, "API.Test.:443", ca.cert, sni="api.test") as s:
        cert = s.getpeercert()
    assert cert["subjectAltName"] == (("DNS", "api.test"),), cert
    issuer = dict(x[0] for x in cert["issuer"])
    assert issuer["commonName"] == "Latchkey E2E Interception CA"


def test_sni_for_another_host_fails_the_handshake_and_nothing_goes_upstream(proxy, echo, ca):
    with pytest.raises(ssl.SSLError):
        # The SNI names other.test (a routed host too) inside CONNECT api.test:443; the client checks nothing,
        # so only the proxy can refuse.
        with intercepted_tls(proxy.port, "api.test:443", ca.cert, sni="other.test", check_hostname=False) as s:
            request(s, "GET", "/echo/icept-sni", "other.test")
    line = proxy.wait_for_log(r"CONNECT api\.test:443 intercepted: TLS handshake failed.*").group(0)
    assert "latchkey.outcome=tls_handshake_failed" in line, line
    assert hits(echo, "icept-sni") == []
    samples = scrape_metrics(proxy)
    assert metric_sum(samples, "latchkey_intercept_connections_total", result="tls_handshake_failed") >= 1


@pytest.mark.parametrize("host", ["other.test", "api.test:8443", "other.test:443", "127.0.0.1"])
def test_inner_host_for_another_origin_is_421_without_credential(proxy, echo, ca, host):
    key = "icept-421-" + re.sub(r"\W", "-", host)
    with intercepted_tls(proxy.port, "api.test:443", ca.cert) as s:
        status, headers, body = request(s, "GET", f"/echo/{key}", host)
        assert status == 421, body
        assert headers["x-latchkey-error"] == "misdirected_request"
        assert "api.test:443" in json.loads(body)["detail"]
        # 421 rejects the request, not the connection: a request for the CONNECT host still works on it.
        status, _, body = request(s, "GET", f"/echo/{key}-ok", "api.test:443")
        assert status == 200, body
    assert hits(echo, key) == []
    [attempt] = hits(echo, f"{key}-ok")
    assert authorization(attempt) == [f"Bearer {BEARER}"]
    assert OTHER_BEARER not in json.dumps(hits(echo, key))


def test_absolute_form_for_another_host_is_421(proxy, echo, ca):
    with intercepted_tls(proxy.port, "api.test:443", ca.cert) as s:
        for target in ("https://other.test/echo/icept-abs", "http://api.test/echo/icept-abs",
                       "https://api.test:444/echo/icept-abs"):
            status, _, body = request(s, "GET", target, "api.test")
            assert status == 421, (target, body)
        status, _, body = request(s, "GET", "https://api.test/echo/icept-abs-ok", "api.test")
        assert status == 200, body
    assert hits(echo, "icept-abs") == []
    assert authorization(hits(echo, "icept-abs-ok")[0]) == [f"Bearer {BEARER}"]


def test_client_not_trusting_the_ca_fails_and_nothing_goes_upstream(proxy, echo, pki):
    with pytest.raises(ssl.SSLCertVerificationError):
        with intercepted_tls(proxy.port, "api.test:443", pki.untrusted_ca_cert) as s:
            request(s, "GET", "/echo/icept-untrusted", "api.test")
    line = proxy.wait_for_log(r"CONNECT api\.test:443 intercepted: TLS handshake failed.*").group(0)
    assert re.search(r"unknown ca|certificate unknown|bad certificate|closed", line, re.I), line
    assert hits(echo, "icept-untrusted") == []


def test_access_log_marks_intercepted_requests_and_metrics_count_them(proxy, echo, ca):
    for _ in range(2):
        with intercepted_tls(proxy.port, "api.test:443", ca.cert) as s:
            status, _, _ = request(s, "GET", "/echo/icept-log", "api.test")
            assert status == 200
    opened = proxy.wait_for_log(r"CONNECT api\.test:443 200 intercepted.*").group(0)
    assert "latchkey.outcome=intercepted" in opened, opened
    line = proxy.wait_for_log(r"GET api\.test/echo/icept-log 200.*").group(0)
    assert "latchkey.intercepted=true" in line and "latchkey.route=api" in line, line
    samples = scrape_metrics(proxy)
    assert metric_sum(samples, "latchkey_intercept_connections_total", result="established") == 2
    assert metric_sum(samples, "latchkey_intercept_leaf_certificates_total", result="minted") == 1
    assert metric_sum(samples, "latchkey_intercept_leaf_certificates_total", result="cache_hit") == 1


def test_without_intercept_a_routed_connect_is_403_naming_the_key(latchkey, echo):
    lk = latchkey(intercept_config(None, routes(echo)), env=ENV)
    s, head = connect(lk.port, "api.test:443")
    with s:
        assert head.startswith(b"HTTP/1.1 403"), head
        body = json.loads(read_rest(s, head))
    assert body["error"] == "connect_not_supported_for_route"
    assert "intercept" in body["detail"] and "docs/interception.md" in body["detail"], body


def test_unrouted_connect_follows_unmatched(latchkey, echo, ca):
    lk = latchkey(intercept_config(ca, routes(echo), unmatched="deny"), env=ENV)
    s, head = connect(lk.port, "elsewhere.test:443")
    with s:
        assert head.startswith(b"HTTP/1.1 403"), head
        assert json.loads(read_rest(s, head))["error"] == "denied"


def test_inner_path_without_a_host_route_follows_unmatched(latchkey, echo, ca):
    # A host-less (route mode) route never serves a request inside a tunnel: its credential is for its own
    # upstream, not for the CONNECT host. The inner path matches no api.test route, so `unmatched: deny` answers.
    lk = latchkey(intercept_config(ca, f"""
    - name: api
      host: api.test
      path_prefix: /echo/icept-api
      upstream: http://127.0.0.1:{echo.port}
      connection: svc
    - name: routemode
      path_prefix: /echo/icept-hostless
      upstream: http://127.0.0.1:{echo.port}
      connection: other
    """, unmatched="deny"), env=ENV)
    with intercepted_tls(lk.port, "api.test:443", ca.cert) as s:
        status, headers, _ = request(s, "GET", "/echo/icept-hostless", "api.test")
        assert status == 403 and headers["x-latchkey-error"] == "denied"
        status, _, _ = request(s, "GET", "/echo/icept-api", "api.test")
        assert status == 200
    assert hits(echo, "icept-hostless") == []
    assert authorization(hits(echo, "icept-api")[0]) == [f"Bearer {BEARER}"]


def test_client_hello_sent_right_behind_the_connect_is_kept(proxy, echo, ca):
    # Some clients send their ClientHello without waiting for the 200: those bytes belong to the TLS layer.
    context = tls_context(ca.cert)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname="api.test")
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    hello = outgoing.read()
    s = socket.create_connection(("127.0.0.1", proxy.port), timeout=20)
    with s:
        s.sendall(b"CONNECT api.test:443 HTTP/1.1\r\nHost: api.test:443\r\n\r\n" + hello)
        data = b""
        while b"\r\n\r\n" not in data:
            data += s.recv(65536)
        head, _, rest = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head
        incoming.write(rest)

        def pump(action):
            while True:
                try:
                    result = action()
                    s.sendall(outgoing.read())
                    return result
                except ssl.SSLWantReadError:
                    s.sendall(outgoing.read())
                    incoming.write(s.recv(65536))

        pump(tls.do_handshake)
        pump(lambda: tls.write(b"GET /echo/icept-early HTTP/1.1\r\nHost: api.test\r\nConnection: close\r\n\r\n"))
        response = pump(lambda: tls.read(65536))
    assert response.startswith(b"HTTP/1.1 200"), response
    assert authorization(hits(echo, "icept-early")[0]) == [f"Bearer {BEARER}"]


def test_ip_literal_connect_without_sni(latchkey, echo, ca):
    lk = latchkey(intercept_config(ca, f"""
    - name: byip
      host: 127.0.0.1:8443
      upstream: http://127.0.0.1:{echo.port}
      connection: svc
    """), env=ENV)
    # No SNI for an IP literal (RFC 6066 §3); the leaf carries the address as an IP SAN, and Host is checked.
    with intercepted_tls(lk.port, "127.0.0.1:8443", ca.cert) as s:
        assert s.getpeercert()["subjectAltName"] == (("IP Address", "127.0.0.1"),)
        status, _, _ = request(s, "GET", "/echo/icept-ip", "127.0.0.1:8443")
        assert status == 200
        status, _, _ = request(s, "GET", "/echo/icept-ip-bad", "127.0.0.1")  # port 443: another origin
        assert status == 421
    assert authorization(hits(echo, "icept-ip")[0]) == [f"Bearer {BEARER}"]
    assert hits(echo, "icept-ip-bad") == []


def test_plain_http_where_tls_was_expected_closes_and_nothing_goes_upstream(proxy, echo):
    s, head = connect(proxy.port, "api.test:443")
    with s:
        assert head.startswith(b"HTTP/1.1 200"), head
        s.sendall(b"GET /echo/icept-plain HTTP/1.1\r\nHost: api.test\r\n\r\n")
        answer = read_rest(s, head)
    assert not answer.startswith(b"HTTP/"), answer  # at most a TLS alert, never an HTTP answer
    proxy.wait_for_log(r"CONNECT api\.test:443 intercepted: TLS handshake failed")
    assert hits(echo, "icept-plain") == []


def test_a_silent_client_is_closed_after_the_header_timeout(latchkey, echo, ca):
    # The handshake and the first head share limits.header_timeout_ms: a client that sends nothing after the
    # 200 cannot hold the connection (or a TLS session) open.
    lk = latchkey(intercept_config(ca, routes(echo), extra="limits:\n  header_timeout_ms: 300\n"), env=ENV)
    s, head = connect(lk.port, "api.test:443")
    with s:
        assert head.startswith(b"HTTP/1.1 200"), head
        assert s.recv(1) == b""  # closed by the proxy, not by us
    lk.wait_for_log(r"CONNECT api\.test:443 intercepted: TLS handshake failed")
