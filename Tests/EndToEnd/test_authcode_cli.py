"""Authorization code (issue 6): disconnect (admin POST and `latchkey disconnect`) revokes at the
server (RFC 7009) and forgets the grant; `latchkey connect NAME` prints the consent URL and waits for
the callback."""

import json
import os
import re
import select
import subprocess
import time

import pytest

from latchkey_e2e import TIMEOUT, admin_get, clean_env, latchkey_binary, run_latchkey_cli, via_requests
from oauth_fixtures import CRM_SECRET, follow_to_callback


@pytest.mark.parametrize("how", ["admin_post", "cli"])
def test_disconnect_revokes_and_forgets(authcode, how):
    rig = authcode()
    rig.start()
    rig.consent()
    assert rig.get().status == 200
    refresh_token = rig.stored()["refresh_token"]

    if how == "admin_post":
        reply = admin_get(rig.lk, "/connections/crm/disconnect", method="POST")
        assert reply.status == 200, reply.body
        outcome = reply.json()
    else:
        done = run_latchkey_cli(["disconnect", "crm", "--config", str(rig.config_path)], env=rig.env)
        assert done.returncode == 0, (done.stdout, done.stderr)
        m = re.search(r"Disconnected: (\{.*\})", done.stdout)
        assert m, done.stdout
        outcome = json.loads(m.group(1))
        for value in (refresh_token, CRM_SECRET, rig.env["STATE_KEY"]):
            assert value not in done.stdout + done.stderr
    assert outcome["connection"] == "crm" and outcome["state"] == "needs_consent", outcome
    assert outcome["revoked"] is True, outcome

    # The server's revocation endpoint got the refresh token (RFC 7009, with the hint) ...
    revocations = rig.srv.grants()["revocations"]
    assert len(revocations) == 1, revocations
    assert revocations[0]["client_id"] == "crm" and revocations[0]["token_type_hint"] == "refresh_token", revocations
    issued = rig.srv.refresh_tokens("crm")
    assert [r["valid"] for r in issued] == [False], issued
    # ... so the old refresh token is refused there.
    status, body = rig.srv.direct_refresh(refresh_token, "crm", CRM_SECRET)
    assert status == 400 and body.get("error") == "invalid_grant", (status, body)

    assert not rig.state_file.exists()
    assert rig.entry()["state"] == "needs_consent"
    before = rig.srv.stats()
    reply = rig.get()
    assert reply.status == 502 and reply.json()["error"] == "needs_consent", reply.body
    after = rig.srv.stats()  # the proxy called neither the upstream nor the token endpoint
    assert (after["resource_requests"], after["token_requests"]) == (before["resource_requests"], before["token_requests"])

    # A restart stays disconnected; disconnecting again has nothing to revoke.
    rig.lk.stop()
    rig.start()
    assert rig.entry()["state"] == "needs_consent"
    again = admin_get(rig.lk, "/connections/crm/disconnect", method="POST")
    assert again.status == 200 and again.json()["revoked"] is False, again.body
    assert len(rig.srv.grants()["revocations"]) == 1


def test_disconnect_without_revocation_endpoint(authcode):
    """No revocation_url (and no discovery): the grant is forgotten locally, `revoked` is false with
    the reason; the refresh token stays valid at the server (nothing was sent)."""
    rig = authcode(revocation=False)
    rig.start()
    rig.consent()
    reply = admin_get(rig.lk, "/connections/crm/disconnect", method="POST")
    assert reply.status == 200, reply.body
    assert reply.json()["revoked"] is False and "revocation" in reply.json().get("revocation_problem", ""), reply.body
    assert rig.srv.grants()["revocations"] == []
    assert not rig.state_file.exists()
    assert rig.get().json()["error"] == "needs_consent"


def read_until(proc, pattern: str, timeout: float = TIMEOUT) -> tuple[re.Match, str]:
    """Reads the process's stdout (unbuffered) until `pattern` matches; returns the match and text."""
    text = ""
    deadline = time.monotonic() + timeout
    while True:
        m = re.search(pattern, text)
        if m:
            return m, text
        left = deadline - time.monotonic()
        if left <= 0 or (proc.poll() is not None and not select.select([proc.stdout], [], [], 0)[0]):
            raise AssertionError(f"no /{pattern}/ in the CLI's output (exit {proc.poll()}):\n{text}")
        ready, _, _ = select.select([proc.stdout], [], [], left)
        if ready:
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk and proc.poll() is not None:
                continue
            text += chunk.decode(errors="replace")


def test_connect_cli_waits_for_the_callback(authcode):
    rig = authcode()
    rig.start()
    proc = subprocess.Popen(
        [latchkey_binary(), "connect", "crm", "--config", str(rig.config_path), "--timeout", "30"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
        env=clean_env({"SWIFT_BACKTRACE": "enable=no", **rig.env}))
    try:
        m, text = read_until(proc, r"(http://\S+/oauth/authorize\?\S+)")
        assert "Open this URL" in text, text
        url = m.group(1)
        assert url.startswith(rig.srv.authorize_url + "?")
        assert proc.poll() is None  # still waiting for the callback

        callback, _ = follow_to_callback(rig.lk, rig.srv.authorize(url, auto=True))
        page = via_requests(callback)
        assert page.status == 200 and "<h1>Connected</h1>" in page.body.decode(), page.body
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out = text + out.decode()
    assert proc.returncode == 0, (out, err)
    assert "Connected: crm" in out, out
    assert rig.get().status == 200
    assert rig.srv.grants()["codes_exchanged"] == 1
    for value in (CRM_SECRET, rig.env["STATE_KEY"], *[r["refresh_token"] for r in rig.srv.refresh_tokens()]):
        assert value not in out + err.decode()


def test_connect_cli_times_out_without_consent(authcode):
    rig = authcode()
    rig.start()
    started = time.monotonic()
    done = run_latchkey_cli(["connect", "crm", "--config", str(rig.config_path), "--timeout", "2"], env=rig.env)
    assert done.returncode != 0, (done.stdout, done.stderr)
    assert time.monotonic() - started < 10
    assert "/oauth/authorize?" in done.stdout, done.stdout  # the URL was printed first
    assert "no consent for crm within 2 s" in done.stderr, done.stderr
    assert rig.entry()["state"] == "needs_consent"


def test_connect_cli_needs_a_running_proxy(authcode):
    """Without a proxy on the config's admin port: a clear error, non-zero."""
    rig = authcode()
    rig.start()
    rig.lk.stop()
    done = run_latchkey_cli(["connect", "crm", "--config", str(rig.config_path), "--timeout", "2"], env=rig.env)
    assert done.returncode != 0
    assert "admin listener" in done.stderr, done.stderr


def test_disconnect_cli_without_the_services_environment(authcode):
    """An operator runs `latchkey disconnect` from a shell that does not have the service's secrets
    (STATE_KEY, CRM_SECRET live in the unit's environment file): it only needs admin: HOST:PORT."""
    rig = authcode()
    rig.start()
    rig.consent()
    done = run_latchkey_cli(["disconnect", "crm", "--config", str(rig.config_path)])
    assert done.returncode == 0, done.stderr
    assert not rig.state_file.exists()


@pytest.mark.slow
def test_connect_cli_is_not_satisfied_by_a_background_rotation(authcode):
    """Re-consent of a connected connection (e.g. for another scope) whose access tokens are short:
    nobody opens the URL, so the CLI must time out, even though refreshes rotate the refresh token
    meanwhile."""
    rig = authcode(expires_in=4)
    rig.start()
    rig.consent()
    done = run_latchkey_cli(["connect", "crm", "--config", str(rig.config_path), "--timeout", "6"], env=rig.env)
    rotations = sum(1 for r in rig.srv.stats()["last_requests"] if r["grant_type"] == "refresh_token")
    assert rotations >= 1, "no rotation happened during the wait: the test proves nothing"
    assert rig.srv.grants()["codes_exchanged"] == 1  # nobody consented again
    assert done.returncode != 0, (done.stdout, done.stderr)
    assert "Connected: crm" not in done.stdout
