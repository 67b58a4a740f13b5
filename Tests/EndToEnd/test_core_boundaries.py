"""Issue 9, routing boundaries: paths are normalised before matching (no dot-segment or encoded-delimiter
escape from a path_prefix), CONNECT goes through the same router (a trailing dot changes nothing), the
proxy never reaches its own listeners, passthrough and redirects never reach loopback/link-local/metadata
addresses, CONNECT passthrough is limited to `connect_ports`, and a non-loopback listener defaults to
`unmatched: deny`.

Requests are written by hand (raw sockets): clients would normalise the paths under test. The echo
upstream's keyed hits (/hits/<key>) prove what reached it.
"""

import json
import socket
import urllib.parse

import pytest

from latchkey_e2e import RawConnection, free_port, header_values, raw_exchange, run_latchkey_cli, write_file
from retry_helpers import hits, new_key

BEARER = "e2e-boundary-bearer-5e6f7a8b9c"
ENV = {"E2E_BEARER": BEARER}


def forward(lk, url: str, method: str = "GET"):
    """`METHOD absolute-URL` through the proxy, written as is; reads until close."""
    authority = urllib.parse.urlsplit(url).netloc
    payload = f"{method} {url} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n".encode()
    return raw_exchange(lk.port, payload)


def origin(lk, target: str, method: str = "GET"):
    """`METHOD target` straight to the proxy (route mode), written as is."""
    payload = f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{lk.port}\r\nConnection: close\r\n\r\n".encode()
    return raw_exchange(lk.port, payload)


def connect(lk, authority: str):
    """A raw CONNECT; returns (status, headers, body) of the proxy's answer."""
    with RawConnection(lk.port) as conn:
        return conn.exchange(f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n".encode(), method="CONNECT")


def error_of(result) -> dict:
    return json.loads(result.body.decode())


def header(result, name: str) -> str | None:
    for line in result.head.decode(errors="replace").split("\r\n")[1:]:
        key, _, value = line.partition(":")
        if key.strip().lower() == name.lower():
            return value.strip()
    return None


def boundary_config(echo, extra: str = "", unmatched: str = "deny") -> str:
    return f"""
unmatched: {unmatched}
{extra}
connections:
  bear:
    type: bearer
    token: ${{E2E_BEARER}}
routes:
  - name: ro
    path_prefix: /ro/
    methods: [GET]
    strip_prefix: true
    upstream: http://127.0.0.1:{echo.port}/echo
    connection: bear
  - name: bear
    path_prefix: /bear/
    strip_prefix: true
    upstream: http://127.0.0.1:{echo.port}/echo
    connection: bear
  - name: forward-ro
    host: ro.local
    path_prefix: /ro/
    upstream: http://127.0.0.1:{echo.port}
    connection: bear
"""


# -- item 4: path_prefix is a boundary -----------------------------------------------------------------


def test_dot_segments_cannot_escape_the_path_prefix(latchkey, echo):
    lk = latchkey(boundary_config(echo), env=ENV)
    key = new_key("dots")
    # /ro/../admin/... is /admin/...: no route, so nothing is forwarded, least of all with the credential.
    for target in [f"/ro/../echo/{key}", f"/ro/./../echo/{key}", f"/ro/x/../../echo/{key}"]:
        result = origin(lk, target)
        assert result.status == 404, result.data
        assert error_of(result)["error"] == "no_route"
    result = forward(lk, f"http://ro.local/ro/../echo/{key}")
    assert result.status == 403, result.data  # normalised to /echo/<key>: unmatched, denied
    assert hits(echo, key)["count"] == 0

    # Inside the prefix, dot-segments are removed before forwarding: the upstream sees the clean path.
    result = origin(lk, f"/ro/a/../{key}?q=/../x")
    assert result.status == 200, result.data
    seen = hits(echo, key)
    assert seen["count"] == 1
    assert seen["attempts"][0]["path"] == f"/echo/{key}?q=/../x"  # the query is untouched
    assert header_values(seen["attempts"][0], "Authorization") == [f"Bearer {BEARER}"]


def test_encoded_slash_inside_a_segment_is_forwarded_as_is(latchkey, echo):
    """GitLab's `projects/group%2Fproject` and npm's `@scope%2fname` need an encoded '/' inside a segment: it
    goes upstream untouched, with the credential, as long as decoding it reveals no dot-segment."""
    lk = latchkey(boundary_config(echo), env=ENV)
    key = new_key("slash")
    result = origin(lk, f"/bear/{key}/group%2Fmy.project")
    assert result.status == 200, result.data
    seen = json.loads(result.body)
    assert seen["path"] == f"/echo/{key}/group%2Fmy.project", seen
    assert header_values(seen, "Authorization") == [f"Bearer {BEARER}"]


@pytest.mark.parametrize("target", [
    "/bear/%2e%2e/flaky/{key}", "/bear/%2E%2E/flaky/{key}", "/bear/.%2e/flaky/{key}", "/bear/x%2f..%2f{key}",
    "/bear/x%5c..%5c{key}", "/bear/x\\..\\{key}", "/bear/../../{key}", "/bear/..;/flaky/{key}",
])
def test_encoded_delimiters_and_climbs_are_refused(latchkey, echo, target):
    lk = latchkey(boundary_config(echo), env=ENV)
    key = new_key("enc")
    result = origin(lk, target.format(key=key))
    assert result.status == 400, result.data
    body = error_of(result)
    assert body["error"] == "invalid_path", body
    assert header(result, "X-Latchkey-Error") == "invalid_path"
    # Same in absolute form.
    result = forward(lk, "http://ro.local" + target.replace("/bear/", "/ro/").format(key=key))
    assert result.status == 400, result.data
    assert hits(echo, key)["count"] == 0
    # The proxy keeps serving.
    assert origin(lk, f"/bear/{key}").status == 200
    assert hits(echo, key)["count"] == 1


# -- item 10: CONNECT goes through the router -------------------------------------------------------


@pytest.mark.parametrize("authority", ["ro.local:443", "ro.local.:443", "RO.Local.:443"])
def test_connect_to_routed_host_with_trailing_dot_is_refused(latchkey, echo, authority):
    lk = latchkey(boundary_config(echo, "connect_ports: [443]", unmatched="passthrough"), env=ENV)
    status, _, body = connect(lk, authority)
    assert status == 403, body
    error = json.loads(body)
    assert error["error"] == "connect_not_supported_for_route", error
    assert error["route"] == "forward-ro"
    assert "http://" in error["detail"]


# -- item 3: the proxy's own listeners, loopback, link-local and metadata ------------------------------


def test_forward_requests_to_own_listeners_are_refused(latchkey, echo):
    lk = latchkey(boundary_config(echo, unmatched="passthrough"), env=ENV)
    targets = [
        f"http://127.0.0.1:{lk.admin_port}/metrics", f"http://localhost:{lk.admin_port}/metrics",
        f"http://127.0.0.2:{lk.admin_port}/metrics", f"http://0.0.0.0:{lk.admin_port}/metrics",
        f"http://[::1]:{lk.admin_port}/metrics", f"http://[::ffff:127.0.0.1]:{lk.admin_port}/metrics",
        f"http://2130706433:{lk.admin_port}/metrics",  # 127.0.0.1 in decimal: caught after resolution
        f"http://127.0.0.1:{lk.port}/x",
    ]
    for url in targets:
        result = forward(lk, url)
        assert result.status == 403, (url, result.data)
        assert error_of(result)["error"] == "destination_refused", (url, result.data)
        # Refused on the resolved address, before any connect: the admin's /metrics never answered.
        assert "own listeners" in error_of(result)["detail"], result.data
        assert b"latchkey_" not in result.body
    # POST to a consent endpoint, the attack.
    result = forward(lk, f"http://127.0.0.1:{lk.admin_port}/connections/bear/disconnect", method="POST")
    assert result.status == 403 and error_of(result)["error"] == "destination_refused", result.data
    # Loopback passthrough elsewhere still works (the listener is loopback-bound).
    key = new_key("loop-ok")
    assert forward(lk, f"http://127.0.0.1:{echo.port}/echo/{key}").status == 200
    assert hits(echo, key)["count"] == 1


def test_connect_to_own_listener_is_refused(latchkey, echo):
    admin_port = free_port()
    lk = latchkey(
        boundary_config(echo, f"admin: 127.0.0.1:{admin_port}\nconnect_ports: [{admin_port}]",
                        unmatched="passthrough"), env=ENV)
    for authority in [f"127.0.0.1:{admin_port}", f"localhost:{admin_port}", f"[::1]:{admin_port}"]:
        status, _, body = connect(lk, authority)
        assert status == 403, (authority, body)
        assert json.loads(body)["error"] == "destination_refused", body


def test_passthrough_to_link_local_and_metadata_is_refused(latchkey, echo):
    lk = latchkey(boundary_config(echo, "connect_ports: [443, 80]", unmatched="passthrough"), env=ENV)
    for url in ["http://169.254.169.254/latest/meta-data/", "http://metadata.google.internal/computeMetadata/v1/",
                "http://[fd00:ec2::254]/latest/", "http://[fe80::1]/", "http://100.100.100.200/latest/"]:
        result = forward(lk, url)
        assert result.status == 403, (url, result.data)
        assert error_of(result)["error"] == "destination_refused"
    for authority in ["169.254.169.254:443", "metadata.google.internal:80", "[fe80::1]:443"]:
        status, _, body = connect(lk, authority)
        assert status == 403, (authority, body)
        assert json.loads(body)["error"] == "destination_refused"


def test_redirect_to_admin_or_internal_address_is_not_followed(latchkey, echo):
    lk = latchkey(f"""
unmatched: passthrough
connections:
  bear:
    type: bearer
    token: ${{E2E_BEARER}}
routes:
  - name: api
    host: api.local
    upstream: http://127.0.0.1:{echo.port}
    connection: bear
    max_redirects: 3
""", env=ENV)
    key = new_key("redir")
    other = new_key("redir-target")
    for location in [
        f"http://127.0.0.1:{lk.admin_port}/connections/bear/disconnect",
        f"http://localhost:{lk.admin_port}/metrics",
        f"http://localhost:{echo.port}/echo/{other}",  # loopback no route names (not the upstream origin)
        "http://169.254.169.254/latest/meta-data/iam/",
    ]:
        before = hits(echo, key)["count"]
        to = urllib.parse.quote(location, safe="")
        result = forward(lk, f"http://api.local/redirect/{key}?to={to}&code=307", method="POST")
        assert result.status == 307, (location, result.data)  # handed back, not followed
        assert header(result, "Location") == location
        assert hits(echo, key)["count"] == before + 1
    assert hits(echo, other)["count"] == 0


# -- item 8: connect_ports and the default for a non-loopback listener ---------------------------------


def test_connect_passthrough_only_to_connect_ports(latchkey, echo):
    lk = latchkey(boundary_config(echo, unmatched="passthrough"), env=ENV)
    status, _, body = connect(lk, f"127.0.0.1:{echo.port}")
    assert status == 403, body
    error = json.loads(body)
    assert error["error"] == "connect_port_refused", error
    assert "connect_ports" in error["detail"]
    lk.stop()

    lk = latchkey(boundary_config(echo, f"connect_ports: [443, {echo.port}]", unmatched="passthrough"), env=ENV)
    key = new_key("tunnel")
    with socket.create_connection(("127.0.0.1", lk.port), timeout=20) as s:
        s.sendall(f"CONNECT 127.0.0.1:{echo.port} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        established = _read_until(s, b"\r\n\r\n")
        assert established.startswith(b"HTTP/1.1 200"), established
        s.sendall(f"GET /echo/{key} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        answer = _read_until(s, None)
        assert answer.startswith(b"HTTP/1.1 200"), answer
    assert hits(echo, key)["count"] == 1


def test_non_loopback_listener_defaults_to_deny(latchkey, echo):
    lk = latchkey(f"""
listen: 0.0.0.0:0
routes: []
""")
    lk.wait_for_log(r"unmatched: not set; listen 0\.0\.0\.0:0 is not loopback, so the default 'deny' applies")
    key = new_key("open")
    result = forward(lk, f"http://127.0.0.1:{echo.port}/echo/{key}")
    assert result.status == 403, result.data
    assert error_of(result)["error"] == "denied"
    assert hits(echo, key)["count"] == 0


def test_non_loopback_passthrough_warns_and_still_refuses_loopback(latchkey, echo):
    lk = latchkey(f"""
listen: 0.0.0.0:0
admin: 0.0.0.0:0
unmatched: passthrough
routes: []
""")
    lk.wait_for_log(r"(?i)warn.*OPEN PROXY.*unmatched: passthrough")
    key = new_key("open-loop")
    # A client that can reach a public listener must not reach this host's loopback services through it,
    # by literal, by localhost, or by a name that only resolves to loopback.
    for url in [f"http://127.0.0.1:{echo.port}/echo/{key}", f"http://localhost:{echo.port}/echo/{key}",
                f"http://2130706433:{echo.port}/echo/{key}"]:
        result = forward(lk, url)
        assert result.status == 403, (url, result.data)
        assert error_of(result)["error"] == "destination_refused"
    assert hits(echo, key)["count"] == 0
    # And not the proxy itself through one of this host's other addresses (wildcard listener).
    own = _non_loopback_address()
    if own:
        for port in [lk.port, lk.admin_port]:
            result = forward(lk, f"http://{own}:{port}/metrics")
            assert result.status == 403, result.data
            assert error_of(result)["error"] == "destination_refused"
            assert "own listeners" in error_of(result)["detail"]


def _read_until(sock, marker: bytes | None) -> bytes:
    """Reads until `marker` has arrived (or, with None, until the peer closes)."""
    data = b""
    while marker is None or marker not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def _non_loopback_address() -> str | None:
    """One of this host's non-loopback IPv4 addresses, or None (no packet is sent)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))
            address = s.getsockname()[0]
    except OSError:
        return None
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def test_check_prints_the_open_proxy_warning(tmp_path):
    config = tmp_path / "proxy.conf"
    write_file(config, "listen: 0.0.0.0:3128\nadmin: off\nunmatched: passthrough\n")
    result = run_latchkey_cli(["check", "--offline", "--config", str(config)])
    assert result.returncode == 0, result.stderr
    assert "OPEN PROXY" in result.stdout
    write_file(config, "listen: 0.0.0.0:3128\nadmin: off\n")
    result = run_latchkey_cli(["check", "--offline", "--config", str(config)])
    assert result.returncode == 0, result.stderr
    assert "unmatched: deny" in result.stdout
    assert "default 'deny' applies" in result.stdout


# -- item 7: a route to the proxy itself is a config error --------------------------------------------


@pytest.mark.parametrize("upstream,listener", [
    ("http://127.0.0.1:{listen}", "listen"), ("http://localhost:{listen}/api", "listen"),
    ("http://[::1]:{admin}", "admin"),
])
def test_check_refuses_upstream_equal_to_a_listener(tmp_path, upstream, listener):
    listen, admin = free_port(), free_port()
    config = tmp_path / "proxy.conf"
    write_file(config, f"""listen: 0.0.0.0:{listen}
admin: 127.0.0.1:{admin}
unmatched: deny
routes:
  - name: self
    path_prefix: /
    upstream: {upstream.format(listen=listen, admin=admin)}
""")
    result = run_latchkey_cli(["check", "--offline", "--config", str(config)])
    assert result.returncode != 0
    assert f"{config}:7:" in result.stderr, result.stderr
    assert "routes[0].upstream" in result.stderr
    assert f"own {listener} listener" in result.stderr


def test_reload_to_a_self_route_keeps_the_old_config(latchkey, echo):
    listen = free_port()
    good = boundary_config(echo).replace("unmatched: deny", f"listen: 127.0.0.1:{listen}\nunmatched: deny", 1)
    lk = latchkey(good, env=ENV)
    offset = lk.log_offset()
    bad = good.replace(f"upstream: http://127.0.0.1:{echo.port}/echo\n", f"upstream: http://localhost:{listen}\n", 1)
    lk.rewrite_config(bad)
    lk.wait_for_log(r"routes\[0\]\.upstream.*own listen listener", after=offset)
    key = new_key("reload-kept")
    assert origin(lk, f"/ro/{key}").status == 200  # the old route still serves
    assert hits(echo, key)["count"] == 1


# -- item 14: a route without upstream serves the scheme's default port only ---------------------------


def test_route_without_upstream_does_not_follow_the_clients_port(latchkey, echo):
    lk = latchkey(f"""
unmatched: deny
connections:
  bear:
    type: bearer
    token: ${{E2E_BEARER}}
routes:
  - name: portless
    host: 127.0.0.1
    connection: bear
  - name: ported
    host: localhost:{echo.port}
    connection: bear
""", env=ENV)
    key = new_key("portless")
    result = forward(lk, f"http://127.0.0.1:{echo.port}/echo/{key}")
    assert result.status == 403, result.data
    body = error_of(result)
    assert body["route"] == "portless" and "names no port" in body["detail"], body
    assert hits(echo, key)["count"] == 0
    result = forward(lk, f"http://localhost:{echo.port}/echo/{key}")
    assert result.status == 200, result.data
    assert header_values(hits(echo, key)["attempts"][0], "Authorization") == [f"Bearer {BEARER}"]


def test_token_endpoint_on_an_own_listener_is_never_connected(latchkey, echo):
    """The token client checks destinations too: a token_url (or one a discovery document publishes) that
    names the proxy's own admin listener is refused before any connect, so the client credentials never
    reach it and the consent endpoint behind it is never called."""
    admin_port = free_port()
    secret = "e2e-own-listener-client-secret-71"
    lk = latchkey(f"""
admin: 127.0.0.1:{admin_port}
connections:
  selfish:
    type: oauth2_client_credentials
    token_url: http://127.0.0.1:{admin_port}/connections/selfish/disconnect
    client_id: app
    client_secret: ${{E2E_SELF_SECRET}}
    token_wait_ms: 500
routes:
  - name: api
    path_prefix: /api/
    strip_prefix: true
    upstream: http://127.0.0.1:{echo.port}
    connection: selfish
""", env={"E2E_SELF_SECRET": secret})
    result = origin(lk, "/api/echo/x")
    assert result.status in (502, 504), result.data
    body = error_of(result)
    assert body["connection"] == "selfish", body
    assert "own listeners" in body["detail"], body
    assert secret not in result.data.decode(errors="replace")
