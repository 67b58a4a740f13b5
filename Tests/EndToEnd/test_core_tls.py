"""TLS upstreams (verified against a CA made in the run) and CONNECT tunnels, with nginx as peer."""

import json
import re

import pytest

from latchkey_e2e import RawConnection, curl, fetch

CLIENTS = ["curl", "requests"]
BEARER = "e2e-tls-token-9d8c7b6a"
ENV = {"E2E_BEARER": BEARER}


def tls_config(nginx_tls, tls_yaml: str) -> str:
    return f"""
unmatched: deny
connections:
  svc:
    type: bearer
    token: ${{E2E_BEARER}}
routes:
  - name: tls-forward
    host: secure.local
    upstream: https://localhost:{nginx_tls.tls_port}
    connection: svc
    tls: {tls_yaml}
  - name: tls-route
    path_prefix: /secure
    strip_prefix: true
    upstream: https://localhost:{nginx_tls.tls_port}
    connection: svc
    tls: {tls_yaml}
"""


@pytest.mark.parametrize("client", CLIENTS)
def test_tls_upstream_verified_with_ca_file(latchkey, nginx_tls, pki, client):
    lk = latchkey(tls_config(nginx_tls, f"{{ca_file: {pki.ca_cert}}}"), env=ENV)
    reply = fetch(client, "http://secure.local/forward?q=1", proxy=lk.proxy_url)
    assert reply.status == 200, reply.body
    seen = reply.json()
    assert seen["scheme"] == "https"
    assert seen["authorization"] == f"Bearer {BEARER}"
    assert seen["uri"] == "/forward?q=1"

    reply = fetch(client, f"{lk.base_url}/secure/route")
    assert reply.status == 200, reply.body
    seen = reply.json()
    assert seen["authorization"] == f"Bearer {BEARER}"
    assert seen["uri"] == "/route"


def test_tls_upstream_untrusted_ca_is_502(latchkey, nginx_tls, pki):
    lk = latchkey(tls_config(nginx_tls, f"{{ca_file: {pki.untrusted_ca_cert}}}"), env=ENV)
    reply = fetch("requests", "http://secure.local/x", proxy=lk.proxy_url)
    assert reply.status == 502, reply.body
    body = reply.json()
    assert {"error", "detail"} <= set(body)
    assert re.search(r"certificate", body["detail"], re.I), body
    assert re.search(r"verif", body["detail"], re.I), body
    assert reply.header("X-Latchkey-Error")


def test_tls_insecure_skip_verify_works_and_warns(latchkey, nginx_tls):
    lk = latchkey(tls_config(nginx_tls, "{insecure_skip_verify: true}"), env=ENV)
    # The warning is logged at start, before any request.
    lk.wait_for_log(r"(?i)(warn|warning).*insecure_skip_verify|insecure_skip_verify.*(warn|warning)")
    reply = fetch("curl", "http://secure.local/insecure", proxy=lk.proxy_url)
    assert reply.status == 200, reply.body
    assert reply.json()["authorization"] == f"Bearer {BEARER}"


def test_connect_tunnel_passthrough_for_unrouted_host(latchkey, nginx_tls, pki):
    # connect_ports defaults to [443]; nginx listens on a port chosen at run time.
    lk = latchkey(f"""
unmatched: passthrough
connect_ports: [{nginx_tls.tls_port}]
routes: []
""")
    reply = curl(f"https://localhost:{nginx_tls.tls_port}/through-tunnel", proxy=lk.proxy_url,
                 headers=[("Authorization", "Bearer app-own")], extra=["--cacert", str(pki.ca_cert)])
    assert reply.status == 200, reply.stderr
    seen = reply.json()
    assert seen["scheme"] == "https"
    assert seen["uri"] == "/through-tunnel"
    assert seen["authorization"] == "Bearer app-own"  # end-to-end encrypted: untouched


def test_connect_to_routed_host_is_refused_with_advice(latchkey, nginx_tls):
    lk = latchkey(f"""
unmatched: passthrough
connections:
  svc:
    type: bearer
    token: ${{E2E_BEARER}}
routes:
  - name: localhost-route
    host: localhost
    upstream: https://localhost:{nginx_tls.tls_port}
    connection: svc
    tls: {{insecure_skip_verify: true}}
""", env=ENV)
    target = f"localhost:{nginx_tls.tls_port}"
    with RawConnection(lk.port) as conn:
        status, headers, body = conn.exchange(
            f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode(), method="CONNECT")
    assert status == 403, body
    text = body.decode(errors="replace")
    detail = json.loads(text).get("detail", text) if text.lstrip().startswith("{") else text
    assert "http://" in detail, text
    assert re.search(r"upstream:\s*https://", detail), text
    # curl sees the tunnel refused.
    reply = curl(f"https://{target}/", proxy=lk.proxy_url, extra=["-k"], check=False)
    assert reply.returncode != 0
