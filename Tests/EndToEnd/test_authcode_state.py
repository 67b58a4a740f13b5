"""Authorization code (issue 6): the encrypted state file across restarts. A restart loads the
refresh token (no new consent); a damaged file (a flipped byte, or the wrong state_key) makes the
connection needs_reconnect with the reason and is left byte-for-byte alone until a new consent
replaces it."""

import stat

import pytest

from latchkey_e2e import admin_get
from oauth_fixtures import new_state_key, read_state_file


def test_restart_keeps_the_grant(authcode):
    rig = authcode()
    rig.start()
    rig.consent()
    assert rig.get().status == 200
    granted_at = rig.entry()["granted_at"]

    # The file: mode 0600, the documented header, the token not in clear; decrypts to the grant.
    data = rig.state_file.read_bytes()
    assert stat.S_IMODE(rig.state_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(rig.state_dir.stat().st_mode) & 0o077 == 0, oct(rig.state_dir.stat().st_mode)
    assert data.startswith(b"LKS1\x01"), data[:8]
    stored = rig.stored()
    token = rig.srv.refresh_tokens("crm")[0]["refresh_token"]
    assert stored["refresh_token"] == token and token.encode() not in data
    assert stored["client_id"] == "crm" and stored["scope"] == "contacts.read offline_access", {
        k: v for k, v in stored.items() if k != "refresh_token"}

    assert rig.lk.stop() == 0
    rig.start()
    entry = rig.entry()
    assert entry["state"] == "connected", entry
    # (granted_at is when the current refresh token was received: a rotation after the restart moves it)
    assert entry["granted_at"] >= granted_at, entry
    ready = admin_get(rig.lk, "/readyz")
    assert ready.status == 200 and "needs_attention" not in ready.json(), ready.body

    reply = rig.get()
    assert reply.status == 200, reply.body
    assert reply.json()["client_id"] == "crm"
    stats = rig.srv.stats()
    assert stats["received_by_grant"] == {"authorization_code": 1, "refresh_token": 1}, stats["received_by_grant"]
    assert rig.srv.grants()["codes_exchanged"] == 1  # no new consent
    # The refresh after the restart rotated; the file follows.
    newest = rig.srv.refresh_tokens("crm")[-1]["refresh_token"]
    assert newest != token and rig.stored()["refresh_token"] == newest


@pytest.mark.parametrize("damage", ["flipped_byte", "wrong_key"])
def test_damaged_state_file_needs_reconnect_and_is_left_alone(authcode, damage):
    rig = authcode()
    rig.start()
    rig.consent()
    assert rig.get().status == 200
    rig.lk.stop()

    if damage == "flipped_byte":
        data = bytearray(rig.state_file.read_bytes())
        data[len(data) // 2] ^= 0x01  # inside the ciphertext; same length
        rig.state_file.write_bytes(bytes(data))
    else:
        rig.env["STATE_KEY"] = new_state_key()  # the file was encrypted with another key
    damaged = rig.state_file.read_bytes()
    before = rig.srv.stats()["token_requests"]

    rig.start()
    entry = rig.entry()
    assert entry["state"] == "needs_reconnect", entry
    assert "state file" in entry["reason"], entry
    reply = rig.get()
    assert reply.status == 502 and reply.json()["error"] == "needs_consent", reply.body
    assert "reconnect" in reply.json()["detail"], reply.body
    ready = admin_get(rig.lk, "/readyz")
    assert ready.status == 200, ready.body
    assert ready.json()["needs_attention"][0]["state"] == "needs_reconnect", ready.body
    assert rig.srv.stats()["token_requests"] == before  # nothing sent with a token it cannot read
    assert rig.state_file.read_bytes() == damaged  # not overwritten, not deleted

    # A restart does not touch it either.
    rig.lk.stop()
    rig.start()
    assert rig.entry()["state"] == "needs_reconnect"
    assert rig.state_file.read_bytes() == damaged

    # An explicit consent replaces it with a file the current key opens.
    rig.consent()
    assert rig.get().status == 200
    assert rig.state_file.read_bytes() != damaged
    assert rig.stored()["refresh_token"] == rig.srv.refresh_tokens("crm")[-1]["refresh_token"]
    assert rig.entry()["state"] == "connected"
    rig.lk.stop()
    rig.start()
    assert rig.entry()["state"] == "connected"
    assert rig.get().status == 200


def test_state_file_is_bound_to_its_connection(authcode):
    """The AAD carries the connection's name: a file copied to another connection's name does not
    decrypt (checked with the test's own decryption, as a second reader of the format)."""
    rig = authcode()
    rig.start()
    rig.consent()
    from cryptography.exceptions import InvalidTag
    with pytest.raises(InvalidTag):
        read_state_file(rig.state_file, rig.env["STATE_KEY"], connection="other")
