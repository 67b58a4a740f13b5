"""Credential injection (bearer, basic, api_key) in forward-proxy mode and route mode.

Each test asserts what the echo upstream received. Secrets reach the config as ${ENV}
references; the fixture fails the test if any secret value shows up in latchkey's log.
"""

import pytest

from latchkey_e2e import basic_value, fetch, header_names, header_values

CLIENTS = ["curl", "requests"]

BEARER = "e2e-bearer-3f9a7c21d4"
USER, PASSWORD = "alice", "pa:ss w0rd-8c1e"  # a colon in the password is legal (RFC 7617 §2)
API_KEY = "e2e-apikey-77d0be9412"


def forward_config(echo, connection_yaml: str) -> str:
    return f"""
unmatched: deny
connections:
  svc:
{connection_yaml}
routes:
  - name: demo-forward
    host: demo.local
    upstream: {echo.url}
    connection: svc
"""


BEARER_CONN = "    type: bearer\n    token: ${E2E_BEARER}"
BASIC_CONN = f"    type: basic\n    username: {USER}\n    password: ${{E2E_PASSWORD}}"
ENV = {"E2E_BEARER": BEARER, "E2E_PASSWORD": PASSWORD, "E2E_API_KEY": API_KEY}


@pytest.mark.parametrize("client", CLIENTS)
def test_bearer_forward_proxy(latchkey, echo, client):
    lk = latchkey(forward_config(echo, BEARER_CONN), env=ENV)
    reply = fetch(client, "http://demo.local/hello?x=1&y=2", proxy=lk.proxy_url)
    assert reply.status == 200, reply.body
    seen = reply.json()
    assert seen["path"] == "/hello?x=1&y=2"  # origin-form towards the upstream
    assert header_values(seen, "Authorization") == [f"Bearer {BEARER}"]
    assert "proxy-authorization" not in header_names(seen)


@pytest.mark.parametrize("client", CLIENTS)
def test_basic_forward_proxy(latchkey, echo, client):
    lk = latchkey(forward_config(echo, BASIC_CONN), env=ENV, secrets=[basic_value(USER, PASSWORD)[6:]])
    reply = fetch(client, "http://demo.local/basic", proxy=lk.proxy_url)
    assert reply.status == 200, reply.body
    assert header_values(reply.json(), "Authorization") == [basic_value(USER, PASSWORD)]


@pytest.mark.parametrize(
    "header, scheme, expected_header, expected_value",
    [
        ("X-API-Key", "none", "X-API-Key", API_KEY),
        (None, "bearer", "Authorization", f"Bearer {API_KEY}"),
        ("X-API-Key", "basic", "X-API-Key", f"Basic {API_KEY}"),
    ],
    ids=["x-api-key-bare", "authorization-bearer", "x-api-key-basic"],
)
@pytest.mark.parametrize("client", CLIENTS)
def test_api_key_forward_proxy(latchkey, echo, client, header, scheme, expected_header, expected_value):
    conn = "    type: api_key\n    key: ${E2E_API_KEY}\n" + f"    scheme: {scheme}"
    if header:
        conn += f"\n    header: {header}"
    lk = latchkey(forward_config(echo, conn), env=ENV)
    reply = fetch(client, "http://demo.local/key", proxy=lk.proxy_url,
                  headers=[("X-API-Key", "client-supplied-key"), ("Authorization", "Bearer client-token")])
    assert reply.status == 200, reply.body
    seen = reply.json()
    assert header_values(seen, expected_header) == [expected_value]
    if expected_header.lower() != "authorization":
        assert header_values(seen, "Authorization") == []  # client credentials are stripped
    # The injected header replaces the client's value of it; other client headers pass as they are.
    assert "client-token" not in str(seen["headers"])


def route_config(echo, strip: bool) -> str:
    return f"""
unmatched: deny
connections:
  svc:
    type: bearer
    token: ${{E2E_BEARER}}
routes:
  - name: demo-route
    path_prefix: /demo
    strip_prefix: {"true" if strip else "false"}
    upstream: {echo.url}
    connection: svc
"""


@pytest.mark.parametrize("client", CLIENTS)
def test_bearer_route_mode_strip_prefix(latchkey, echo, client):
    lk = latchkey(route_config(echo, strip=True), env=ENV)
    reply = fetch(client, f"{lk.base_url}/demo/hello?a=1", proxy=None)
    assert reply.status == 200, reply.body
    seen = reply.json()
    assert seen["path"] == "/hello?a=1"
    assert header_values(seen, "Authorization") == [f"Bearer {BEARER}"]


@pytest.mark.parametrize("client", CLIENTS)
def test_bearer_route_mode_keep_prefix(latchkey, echo, client):
    lk = latchkey(route_config(echo, strip=False), env=ENV)
    reply = fetch(client, f"{lk.base_url}/demo/hello?a=1", proxy=None)
    assert reply.status == 200, reply.body
    seen = reply.json()
    assert seen["path"] == "/demo/hello?a=1"
    assert header_values(seen, "Authorization") == [f"Bearer {BEARER}"]


def test_basic_and_api_key_route_mode(latchkey, echo):
    lk = latchkey(f"""
unmatched: deny
connections:
  basic-svc:
    type: basic
    username: {USER}
    password: ${{E2E_PASSWORD}}
  key-svc:
    type: api_key
    key: ${{E2E_API_KEY}}
    header: X-API-Key
    scheme: none
routes:
  - name: basic-route
    path_prefix: /basic
    strip_prefix: true
    upstream: {echo.url}
    connection: basic-svc
  - name: key-route
    path_prefix: /key
    strip_prefix: true
    upstream: {echo.url}
    connection: key-svc
""", env=ENV, secrets=[basic_value(USER, PASSWORD)[6:]])
    seen = fetch("requests", f"{lk.base_url}/basic/x").json()
    assert seen["path"] == "/x"
    assert header_values(seen, "Authorization") == [basic_value(USER, PASSWORD)]
    seen = fetch("curl", f"{lk.base_url}/key/y").json()
    assert seen["path"] == "/y"
    assert header_values(seen, "X-API-Key") == [API_KEY]
    assert header_values(seen, "Authorization") == []


def test_literal_secret_in_config(latchkey, echo):
    """A token written literally in the config works too (and still never reaches the log)."""
    token = "literal-token-5b2e9f"
    lk = latchkey(forward_config(echo, f"    type: bearer\n    token: {token}"), secrets=[token])
    seen = fetch("requests", "http://demo.local/lit", proxy=lk.proxy_url).json()
    assert header_values(seen, "Authorization") == [f"Bearer {token}"]
