"""Client credentials are stripped; unmatched requests follow the `unmatched:` policy."""

import json

import pytest

from latchkey_e2e import RawConnection, fetch, header_names, header_values

CLIENTS = ["curl", "requests"]
BEARER = "e2e-strip-token-c0ffee11"
CLIENT_SECRETS = ["client-secret-one", "client-secret-two", "client-secret-three", "proxy-cred-four"]


def test_all_client_authorization_headers_are_replaced(latchkey, echo):
    lk = latchkey(f"""
unmatched: deny
connections:
  svc:
    type: bearer
    token: ${{E2E_BEARER}}
routes:
  - name: strip
    host: demo.local
    upstream: {echo.url}
    connection: svc
""", env={"E2E_BEARER": BEARER})
    request = (
        "GET http://demo.local/strip HTTP/1.1\r\n"
        "Host: demo.local\r\n"
        "Authorization: Bearer client-secret-one\r\n"
        "X-Keep: yes\r\n"
        "authorization: Basic client-secret-two\r\n"
        "AUTHORIZATION: client-secret-three\r\n"
        "Proxy-Authorization: Basic proxy-cred-four\r\n"
        "\r\n").encode()
    with RawConnection(lk.port) as conn:
        status, _, body = conn.exchange(request)
    assert status == 200, body
    seen = json.loads(body)
    assert header_values(seen, "Authorization") == [f"Bearer {BEARER}"]
    assert "proxy-authorization" not in header_names(seen)
    assert header_values(seen, "X-Keep") == ["yes"]
    for value in CLIENT_SECRETS:
        assert value not in json.dumps(seen)


@pytest.mark.parametrize("client", CLIENTS)
def test_type_none_strips_and_injects_nothing(latchkey, echo, client):
    lk = latchkey(f"""
unmatched: deny
connections:
  anon:
    type: none
routes:
  - name: anon-route
    host: demo.local
    upstream: {echo.url}
    connection: anon
  - name: no-connection-route
    path_prefix: /open
    upstream: {echo.url}
""")
    headers = [("Authorization", "Bearer client-secret-one"), ("Proxy-Authorization", "Basic proxy-cred-four")]
    seen = fetch(client, "http://demo.local/none", proxy=lk.proxy_url, headers=headers).json()
    assert "authorization" not in header_names(seen)
    assert "proxy-authorization" not in header_names(seen)
    # A route without `connection:` behaves as type none.
    seen = fetch(client, f"{lk.base_url}/open/x", headers=headers[:1]).json()
    assert "authorization" not in header_names(seen)


@pytest.mark.parametrize("client", CLIENTS)
def test_unmatched_passthrough_keeps_authorization_drops_proxy_authorization(latchkey, echo, client):
    lk = latchkey("""
unmatched: passthrough
routes: []
""")
    headers = [("Authorization", "Bearer app-own-token"), ("Proxy-Authorization", "Basic proxy-cred-four")]
    reply = fetch(client, f"{echo.url}/passthrough", proxy=lk.proxy_url, headers=headers)
    assert reply.status == 200, reply.body
    seen = reply.json()
    assert header_values(seen, "Authorization") == ["Bearer app-own-token"]
    assert "proxy-authorization" not in header_names(seen)


@pytest.mark.parametrize("client", CLIENTS)
def test_unmatched_deny(latchkey, echo, client):
    lk = latchkey(f"""
unmatched: deny
connections:
  svc:
    type: bearer
    token: ${{E2E_BEARER}}
routes:
  - name: only
    host: demo.local
    upstream: {echo.url}
    connection: svc
""", env={"E2E_BEARER": BEARER})
    reply = fetch(client, f"{echo.url}/deny-probe-7f3", proxy=lk.proxy_url)
    assert reply.status == 403
    body = reply.json()
    assert {"error", "detail"} <= set(body)
    assert reply.header("X-Latchkey-Error")
    # Nothing reached the upstream.
    assert echo.stats()["requests"].get("/deny-probe-7f3", 0) == 0
