"""TLS session resumption to upstreams, against nginx.

nginx closes every connection after one response here (`keepalive_requests 1`), so each request
makes Latchkey open a new TLS connection. nginx reports `$ssl_session_reused` ("r" or ".") for the
connection a request came on, and Latchkey counts handshakes in
`latchkey_upstream_tls_handshakes_total{route, resumed}`.
"""

from __future__ import annotations

import signal

import pytest

from latchkey_e2e import Nginx, fetch, metric_sum, scrape_metrics

BEARER = "e2e-tls-resume-token-51d0"
ROUNDS = 5

SERVERS = {
    # TLS 1.3: single-use tickets, sent after the handshake.
    "tls13-tickets": "ssl_protocols TLSv1.3;",
    # TLS 1.2 with session tickets (RFC 5077), nginx's default.
    "tls12-tickets": "ssl_protocols TLSv1.2;",
    # TLS 1.2 with session IDs held in the server's cache.
    "tls12-session-ids": "ssl_protocols TLSv1.2; ssl_session_tickets off; ssl_session_cache shared:lk:1m;",
}


@pytest.fixture(scope="module", params=sorted(SERVERS))
def nginx_one_request_per_connection(request, tmp_path_factory, pki):
    directives = SERVERS[request.param] + " keepalive_requests 1;"
    server = Nginx(tmp_path_factory.mktemp(f"nginx-{request.param}"), pki, tls_directives=directives)
    server.protocol = "TLSv1.3" if "TLSv1.3" in directives else "TLSv1.2"
    yield server
    server.stop()


def config(nginx, pki) -> str:
    return f"""
unmatched: deny
connections:
  svc: {{type: bearer, token: "{BEARER}"}}
routes:
  - name: resumed
    path_prefix: /r
    strip_prefix: true
    upstream: https://localhost:{nginx.tls_port}
    connection: svc
    tls: {{ca_file: {pki.ca_cert}}}
"""


def test_each_new_upstream_connection_resumes_the_last_session(latchkey, nginx_one_request_per_connection, pki):
    nginx = nginx_one_request_per_connection
    lk = latchkey(config(nginx, pki))
    seen = []
    for _ in range(ROUNDS):
        reply = fetch("requests", f"{lk.base_url}/r/hello")
        assert reply.status == 200, reply.body
        body = reply.json()
        assert body["authorization"] == f"Bearer {BEARER}"
        assert body["tls_protocol"] == nginx.protocol, body
        seen.append(body["tls_session_reused"])
    assert seen == ["."] + ["r"] * (ROUNDS - 1), seen

    samples = scrape_metrics(lk)
    name = "latchkey_upstream_tls_handshakes_total"
    assert metric_sum(samples, name, route="resumed", resumed="false") == 1, samples.get(name)
    assert metric_sum(samples, name, route="resumed", resumed="true") == ROUNDS - 1, samples.get(name)


def test_a_reload_starts_from_full_handshakes(latchkey, nginx_one_request_per_connection, pki):
    # Sessions live with the TLS settings they were verified under; a reload rebuilds those settings
    # (a new ca_file may distrust the server), so the first handshake after it is a full one.
    nginx = nginx_one_request_per_connection
    lk = latchkey(config(nginx, pki))
    assert fetch("requests", f"{lk.base_url}/r/a").json()["tls_session_reused"] == "."
    assert fetch("requests", f"{lk.base_url}/r/b").json()["tls_session_reused"] == "r"
    mark = lk.log_offset()
    lk.proc.send_signal(signal.SIGHUP)
    lk.wait_for_log(r"configuration reloaded \(SIGHUP\)", after=mark)
    assert fetch("requests", f"{lk.base_url}/r/c").json()["tls_session_reused"] == "."
    assert fetch("requests", f"{lk.base_url}/r/d").json()["tls_session_reused"] == "r"
