"""Issue 5: configuration reload on SIGHUP and on file change (the config file, secret files and the
Kubernetes ConfigMap symlink swap), credential sources kept across reloads, broken files rejected.

The reloader polls `stat` once a second and reloads when a change has been stable for one poll, so
every wait here is on the `configuration reloaded (...)` / `... failed` log line (bounded)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from latchkey_e2e import admin_get, closed_port, header_values, via_requests, wait_until, write_file, _with_listeners
from oauth_fixtures import api_get, client, oauth_config, route

RELOADED = r"configuration reloaded \({reason}\): (\d+) routes, (\d+) connections, (\d+) kept their credentials"
FAILED = r"configuration reload \({reason}\) failed; still serving the previous configuration:"
OAUTH_SECRET = "e2e-ops-reload-oauth-secret-90ab"


def echo_routes(echo, *names: str) -> str:
    out = ["unmatched: deny", "routes:"]
    for name in names:
        out += [f"  - name: {name}", f"    path_prefix: /{name}/", "    strip_prefix: true", f"    upstream: {echo.url}"]
    return "\n".join(out) + "\n"


def wait_reloaded(lk, reason: str, after: int) -> tuple[int, int, int]:
    m = lk.wait_for_log(RELOADED.format(reason=re.escape(reason)), after=after)
    return int(m.group(1)), int(m.group(2)), int(m.group(3))


def get(lk, path: str, **kw):
    return via_requests(lk.base_url + path, **kw)


def test_sighup_reload_adds_a_route(latchkey, echo):
    lk = latchkey(echo_routes(echo, "one"))
    assert get(lk, "/one/x").status == 200
    assert get(lk, "/two/x").status == 404  # no route for an origin-form request

    mark = lk.log_offset()
    lk.rewrite_config(echo_routes(echo, "one", "two"))
    lk.proc.send_signal(signal.SIGHUP)
    assert wait_reloaded(lk, "SIGHUP", mark) == (2, 0, 0)
    reply = get(lk, "/two/hello")
    assert reply.status == 200, reply.body
    assert reply.json()["path"] == "/hello"
    assert get(lk, "/one/x").status == 200


def test_sighup_without_a_change_reloads_the_same_config(latchkey, echo):
    lk = latchkey(f"""
        connections:
          api: {{type: bearer, token: "${{OPS_RELOAD_TOKEN}}"}}
        routes:
          - name: one
            path_prefix: /one/
            upstream: {echo.url}
            connection: api
        """, env={"OPS_RELOAD_TOKEN": "ops-reload-static-token-11aa"})
    mark = lk.log_offset()
    lk.proc.send_signal(signal.SIGHUP)
    assert wait_reloaded(lk, "SIGHUP", mark) == (1, 1, 1)  # the unchanged connection keeps its source
    assert get(lk, "/one/x").status == 200


def test_file_change_reload_adds_a_route(latchkey, echo):
    lk = latchkey(echo_routes(echo, "one"))
    mark = lk.log_offset()
    lk.rewrite_config(echo_routes(echo, "one", "two"))
    assert wait_reloaded(lk, "file change", mark)[0] == 2
    assert get(lk, "/two/x").status == 200


def test_in_place_rewrite_is_seen_too(latchkey, echo):
    lk = latchkey(echo_routes(echo, "one"))
    mark = lk.log_offset()
    lk.rewrite_config(echo_routes(echo, "one", "three"), atomic=False)
    assert wait_reloaded(lk, "file change", mark)[0] == 2
    assert get(lk, "/three/x").status == 200


def _oauth(srv, scopes: str, extra_routes=()):
    return oauth_config(
        [f"token_url: {srv.token_url}", "client_id: app1", "client_secret: ${OPS_OAUTH_SECRET}", f"scopes: [{scopes}]"],
        [route("api", srv.url), *extra_routes])


def test_reload_keeps_an_unchanged_oauth_token_and_renews_a_changed_one(latchkey, oauth_server, echo):
    srv = oauth_server([client("app1", OAUTH_SECRET)])
    lk = latchkey(_oauth(srv, "read"), env={"OPS_OAUTH_SECRET": OAUTH_SECRET})
    lk.wait_for_log(r"connection oauth: Connected")
    first = api_get(lk)
    assert first.status == 200
    token = first.json()["headers"]["Authorization"]
    assert first.json()["scope"] == "read"
    assert srv.stats()["token_requests"] == 1

    # A reload that only adds a route: the connection keeps its source and its cached token.
    mark = lk.log_offset()
    extra = route("plain", echo.url, host="plain.ops.test", connection="oauth")
    lk.rewrite_config(_oauth(srv, "read", [extra]))
    assert wait_reloaded(lk, "file change", mark) == (2, 1, 1)
    again = api_get(lk)
    assert again.status == 200
    assert again.json()["headers"]["Authorization"] == token
    assert via_requests("http://plain.ops.test/x", proxy=lk.proxy_url).status == 200
    assert srv.stats()["token_requests"] == 1, "an unchanged connection must not fetch a new token"
    conn = admin_get(lk, "/connections").json()["connections"][0]
    assert conn["state"] == "connected" and conn["token_fetched"] == 1, conn

    # A reload that changes the connection's scopes: a new source, a new token.
    mark = lk.log_offset()
    lk.rewrite_config(_oauth(srv, "read write", [extra]))
    assert wait_reloaded(lk, "file change", mark) == (2, 1, 0)
    changed = api_get(lk)
    assert changed.status == 200
    assert changed.json()["headers"]["Authorization"] != token
    assert changed.json()["scope"] == "read write"
    assert srv.stats()["token_requests"] == 2


BROKEN_LINES = ["routes:", "  - name: one", "    path_prefix: /one/", "    upstream: {url}",
                "    bogus_setting: 1"]


def test_broken_file_keeps_the_old_config_until_fixed(latchkey, echo):
    lk = latchkey(echo_routes(echo, "one"))
    assert get(lk, "/one/x").status == 200

    broken = "unmatched: deny\n" + "\n".join(BROKEN_LINES).format(url=echo.url) + "\n"
    line = _with_listeners(broken).splitlines().index("    bogus_setting: 1") + 1
    mark = lk.log_offset()
    lk.rewrite_config(broken)
    lk.wait_for_log(FAILED.format(reason="file change"), after=mark)
    log = lk.log_text()[mark:]
    assert re.search(rf"{re.escape(str(lk.config_path))}:{line}:\d+: \S*bogus_setting", log), log
    assert "configuration reloaded" not in log

    # Still serving the previous configuration; ready (deliberately) but the error is shown.
    assert get(lk, "/one/x").status == 200
    ready = admin_get(lk, "/readyz")
    assert ready.status == 200, ready.body
    body = ready.json()
    assert body["status"] == "ready"
    assert "bogus_setting" in body["config_reload_error"], body
    assert f":{line}:" in body["config_reload_error"], body

    # SIGHUP on the still-broken file fails the same way.
    mark = lk.log_offset()
    lk.proc.send_signal(signal.SIGHUP)
    lk.wait_for_log(FAILED.format(reason="SIGHUP"), after=mark)
    assert get(lk, "/one/x").status == 200

    # A fixed file reloads and clears the error.
    mark = lk.log_offset()
    lk.rewrite_config(echo_routes(echo, "one", "two"))
    wait_reloaded(lk, "file change", mark)
    assert get(lk, "/two/x").status == 200
    assert admin_get(lk, "/readyz").json() == {"status": "ready"}


def test_unresolvable_variable_is_a_failed_reload(latchkey, echo):
    lk = latchkey(echo_routes(echo, "one"))
    mark = lk.log_offset()
    lk.rewrite_config(f"""
        connections:
          api: {{type: bearer, token: "${{OPS_RELOAD_UNSET_VARIABLE}}"}}
        routes:
          - name: one
            path_prefix: /one/
            upstream: {echo.url}
            connection: api
        """)
    lk.wait_for_log(FAILED.format(reason="file change"), after=mark)
    assert "OPS_RELOAD_UNSET_VARIABLE" in lk.log_text()[mark:]
    assert "OPS_RELOAD_UNSET_VARIABLE" in admin_get(lk, "/readyz").json()["config_reload_error"]
    assert get(lk, "/one/x").status == 200


def test_listen_change_needs_a_restart(latchkey, echo):
    lk = latchkey(echo_routes(echo, "one"))
    other = closed_port()
    mark = lk.log_offset()
    lk.rewrite_config(f"listen: 127.0.0.1:{other}\n" + echo_routes(echo, "one", "two"))
    wait_reloaded(lk, "file change", mark)
    assert re.search(r"listen and admin addresses change only with a restart", lk.log_text()[mark:])
    assert get(lk, "/two/x").status == 200  # the rest of the reload applies, on the old listener
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", other), timeout=2).close()


@pytest.mark.parametrize("atomic", [True, False], ids=["rename", "in-place"])
def test_secret_file_rotation_without_restart(latchkey, echo, tmp_path, atomic):
    old, new = f"ops-rotate-old-{uuid.uuid4().hex}", f"ops-rotate-new-{uuid.uuid4().hex}"
    secret = tmp_path / "token"
    secret.write_text(old + "\n")
    lk = latchkey(f"""
        secrets:
          tok: {{file: {secret}}}
        connections:
          api: {{type: bearer, token: "{{{{secret:tok}}}}"}}
        routes:
          - name: one
            path_prefix: /one/
            upstream: {echo.url}
            connection: api
        """, secrets=[old, new])
    assert header_values(get(lk, "/one/x").json(), "Authorization") == [f"Bearer {old}"]

    mark = lk.log_offset()
    write_file(secret, new + "\n", atomic=atomic)
    assert wait_reloaded(lk, "file change", mark) == (1, 1, 0)
    assert header_values(get(lk, "/one/x").json(), "Authorization") == [f"Bearer {new}"]


def test_configmap_symlink_swap(latchkey, echo, tmp_path):
    """The Kubernetes ConfigMap layout: proxy.conf -> ..data/proxy.conf, ..data -> ..2026_a; the
    kubelet writes ..2026_b and swaps ..data atomically (rename of a new symlink over it)."""
    d = tmp_path / "configmap"
    (d / "..2026_a").mkdir(parents=True)
    (d / "..2026_a" / "proxy.conf").write_text(_with_listeners(echo_routes(echo, "one")))
    os.symlink("..2026_a", d / "..data")
    os.symlink("..data/proxy.conf", d / "proxy.conf")
    lk = latchkey("", config_file=d / "proxy.conf")
    assert get(lk, "/one/x").status == 200
    assert get(lk, "/two/x").status == 404

    mark = lk.log_offset()
    (d / "..2026_b").mkdir()
    (d / "..2026_b" / "proxy.conf").write_text(_with_listeners(echo_routes(echo, "one", "two")))
    os.symlink("..2026_b", d / "..data_tmp")
    os.replace(d / "..data_tmp", d / "..data")
    (d / "..2026_a" / "proxy.conf").unlink()  # the kubelet removes the old version
    (d / "..2026_a").rmdir()
    assert wait_reloaded(lk, "file change", mark)[0] == 2
    assert get(lk, "/two/x").status == 200
    assert get(lk, "/one/x").status == 200


def test_request_in_flight_finishes_on_the_config_it_started_with(latchkey, echo):
    """A slow request on route `one` is in flight while a reload removes `one`: it still completes
    with 200; requests after the reload get 404."""
    lk = latchkey(echo_routes(echo, "one", "two"))
    key = uuid.uuid4().hex
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def hits():
        with opener.open(f"{echo.url}/hits/{key}", timeout=10) as r:
            return json.loads(r.read())["count"]
    with ThreadPoolExecutor(max_workers=1) as pool:
        slow = pool.submit(get, lk, f"/one/slow/{key}?ms=3000", timeout=30)
        wait_until(lambda: hits() >= 1 or slow.done(), what="the slow request at the upstream")
        mark = lk.log_offset()
        lk.rewrite_config(echo_routes(echo, "two"))
        lk.proc.send_signal(signal.SIGHUP)  # at once, not after the poller's 1-2 s
        assert wait_reloaded(lk, "SIGHUP", mark)[0] == 1
        assert not slow.done(), "the slow request finished before the reload; make it slower"
        assert get(lk, "/one/x").status == 404
        reply = slow.result(timeout=30)
    assert reply.status == 200, reply.body
    assert reply.json()["key"] == key
