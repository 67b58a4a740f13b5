"""Issue 3 (CSRF): the state-changing consent endpoints refuse what a web page in the operator's browser
can send — a cross-site `text/plain` POST, a DNS-rebinding Host, a foreign Origin or Sec-Fetch-Site —
with a 403 JSON error, and the grant survives; the CLI (which sends `X-Latchkey-Admin: 1`) still works."""

from __future__ import annotations

import json
import re

from latchkey_e2e import admin_get, raw_exchange, run_latchkey_cli


def raw_admin(rig, request: bytes):
    result = raw_exchange(rig.lk.admin_port, request)
    return result.status, json.loads(result.body or b"{}")


def post_disconnect(rig, *headers: str, body: bytes = b"") -> bytes:
    lines = ["POST /connections/crm/disconnect HTTP/1.1", *headers, f"Content-Length: {len(body)}",
             "Connection: close"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def assert_refused_and_grant_survives(rig, status, body):
    assert status == 403, body
    assert body["error"] == "cross_site_refused", body
    assert rig.entry()["state"] == "connected"
    assert rig.get().status == 200  # the grant still works


def test_cross_site_text_plain_post_is_refused(authcode):
    rig = authcode()
    rig.start()
    rig.consent()
    host = f"Host: 127.0.0.1:{rig.lk.admin_port}"
    # What an HTML form (enctype=text/plain) on another site sends: no custom header.
    status, body = raw_admin(rig, post_disconnect(
        rig, host, "Content-Type: text/plain", "Origin: https://evil.example", "Sec-Fetch-Site: cross-site",
        body=b"x=y"))
    assert_refused_and_grant_survives(rig, status, body)
    # Even from an old browser that sends no Origin/Sec-Fetch-Site: the missing header alone refuses it.
    status, body = raw_admin(rig, post_disconnect(rig, host, "Content-Type: text/plain", body=b"x=y"))
    assert_refused_and_grant_survives(rig, status, body)
    assert "X-Latchkey-Admin" in body["detail"]


def test_dns_rebinding_host_is_refused(authcode):
    rig = authcode()
    rig.start()
    rig.consent()
    status, body = raw_admin(rig, post_disconnect(rig, f"Host: evil.example:{rig.lk.admin_port}", "X-Latchkey-Admin: 1"))
    assert_refused_and_grant_survives(rig, status, body)
    get = (f"GET /connections/crm/connect HTTP/1.1\r\nHost: evil.example:{rig.lk.admin_port}\r\n"
           "Connection: close\r\n\r\n").encode()
    status, body = raw_admin(rig, get)
    assert status == 403 and body["error"] == "cross_site_refused", body


def test_cross_site_navigation_to_connect_is_refused(authcode):
    rig = authcode()
    rig.start()
    reply = admin_get(rig.lk, "/connections/crm/connect",
                      headers=[("Sec-Fetch-Site", "cross-site"), ("Origin", "https://evil.example")])
    assert reply.status == 403, reply.body
    assert reply.json()["error"] == "cross_site_refused"
    # A person opening the URL directly still gets the provider's consent page.
    direct = admin_get(rig.lk, "/connections/crm/connect", headers=[("Sec-Fetch-Site", "none")])
    assert direct.status == 302, direct.body


def test_same_origin_post_with_the_header_and_the_cli_still_work(authcode):
    rig = authcode()
    rig.start()
    rig.consent()
    reply = admin_get(rig.lk, "/connections/crm/disconnect", method="POST",
                      headers=[("X-Latchkey-Admin", "1"), ("Origin", f"http://127.0.0.1:{rig.lk.admin_port}"),
                               ("Sec-Fetch-Site", "same-origin")])
    assert reply.status == 200, reply.body
    assert rig.entry()["state"] == "needs_consent"

    rig.consent()
    done = run_latchkey_cli(["disconnect", "crm", "--config", str(rig.config_path)], env=rig.env)
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert re.search(r"Disconnected: \{", done.stdout), done.stdout
    assert rig.entry()["state"] == "needs_consent"
