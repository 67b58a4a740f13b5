"""Authorization code with PKCE (issue 6): consent driven without a browser against the real Authlib
server, then requests through the proxy carry the consented grant's access token.

Consent: GET /connections/crm/connect (302) -> the server's /oauth/authorize with auto_approve=alice
(302) -> the proxy's /oauth/callback?code&state -> "Connected". Every test asserts what the server
saw (authorization requests, code exchanges, resource hits)."""

import urllib.parse

from latchkey_e2e import admin_get, via_requests
from oauth_fixtures import CRM_SECRET, follow_to_callback, start_consent


def query_of(url: str) -> dict:
    return {k: v[0] for k, v in urllib.parse.parse_qs(urllib.parse.urlsplit(url).query).items()}


def test_consent_then_requests_carry_the_grant(authcode):
    rig = authcode()
    lk = rig.start()

    done = rig.consent()
    # The authorization request the proxy built (RFC 6749 §4.1.1, RFC 7636 §4.3).
    sent = query_of(done.authorize_location)
    assert sent["response_type"] == "code"
    assert sent["client_id"] == "crm"
    assert sent["redirect_uri"] == f"http://127.0.0.1:{rig.admin_port}/oauth/callback"  # the admin listener
    assert sent["scope"] == "contacts.read offline_access"
    assert sent["code_challenge_method"] == "S256"
    assert len(sent["code_challenge"]) == 43  # base64url(SHA-256), no padding
    assert len(sent["state"]) >= 16
    assert "code_verifier" not in sent  # the verifier stays in the proxy

    grants = rig.srv.grants()
    assert grants["authorizations"][-1]["code_challenge_method"] == "S256", grants["authorizations"]
    # The code was exchanged: Authlib deletes a code only after checking its PKCE verifier.
    assert grants["codes_issued"] == 1 and grants["codes_exchanged"] == 1, grants
    exchanges = [r for r in rig.srv.stats()["last_requests"] if r["grant_type"] == "authorization_code"]
    assert len(exchanges) == 1 and exchanges[0]["status"] == 200, exchanges
    form = exchanges[0]["form"]
    assert form["code_verifier"].endswith("...") and form["redirect_uri"] == sent["redirect_uri"], form
    assert exchanges[0]["auth_method"] == "client_secret_basic", exchanges[0]
    assert grants["refresh_tokens_valid"] == 1, grants

    entry = rig.entry()
    assert entry["type"] == "oauth2_authorization_code"
    assert entry["state"] == "connected", entry
    assert entry["scope"] == "contacts.read offline_access", entry
    assert isinstance(entry["granted_at"], int), entry
    assert "reason" not in entry or not entry["reason"], entry
    ready = admin_get(lk, "/readyz")
    assert ready.status == 200 and "needs_attention" not in ready.json(), ready.body

    before = rig.srv.stats()
    for _ in range(3):
        reply = rig.get()
        assert reply.status == 200, reply.body
        assert reply.json()["client_id"] == "crm"
        assert reply.json()["scope"] == "contacts.read offline_access"
    after = rig.srv.stats()
    assert after["resource_requests_ok"] == before["resource_requests_ok"] + 3, after
    # The access token from the code exchange is used as is: no further token request.
    assert after["token_requests"] == before["token_requests"], after["last_requests"]

    # The state parameter is single-use: replaying the callback is refused, nothing is exchanged.
    replay = via_requests(done.callback_url)
    assert replay.status == 400, (replay.status, replay.body)
    assert "Unknown or expired authorization request" in replay.body.decode(), replay.body
    assert rig.srv.grants()["codes_exchanged"] == 1
    assert rig.srv.stats()["token_requests"] == after["token_requests"]
    assert rig.entry()["state"] == "connected"


def test_before_consent_requests_get_needs_consent(authcode):
    rig = authcode()
    lk = rig.start()

    reply = rig.get()
    assert reply.status == 502, reply.body
    body = reply.json()
    assert body["error"] == "needs_consent", body
    assert body["connection"] == "crm" and body["route"] == "crm", body
    assert f"http://127.0.0.1:{rig.admin_port}/connections/crm/connect" in body["detail"], body
    assert "latchkey connect crm" in body["detail"], body
    assert reply.header("X-Latchkey-Error"), reply.headers

    entry = rig.entry()
    assert entry["state"] == "needs_consent", entry
    assert entry["connect_url"] == f"http://127.0.0.1:{rig.admin_port}/connections/crm/connect", entry
    assert "granted_at" not in entry and "token_expires_in_seconds" not in entry, entry
    ready = admin_get(lk, "/readyz")
    assert ready.status == 200, ready.body  # a person must act: not a reason to restart the proxy
    assert [a["connection"] for a in ready.json()["needs_attention"]] == ["crm"], ready.body

    stats = rig.srv.stats()
    assert stats["token_requests"] == 0 and stats["resource_requests"] == 0, stats


def test_callback_with_unknown_state_is_refused(authcode):
    rig = authcode()
    lk = rig.start()
    page = via_requests(f"{lk.admin_url}/oauth/callback?code=made-up&state=not-issued-by-the-proxy")
    assert page.status == 400, page.body
    assert "Unknown or expired authorization request" in page.body.decode()
    assert rig.srv.stats()["token_requests"] == 0
    assert rig.entry()["state"] == "needs_consent"


def test_provider_denies_consent(authcode):
    """The person clicks Deny: the server redirects back with error=access_denied; the page shows it
    and the connection still needs consent."""
    rig = authcode()
    rig.start()
    location = start_consent(rig.lk)
    callback, query = follow_to_callback(rig.lk, rig.srv.authorize(location, user="alice", approve=False))
    assert query.get("error") == "access_denied" and "code" not in query, query

    page = via_requests(callback)
    text = page.body.decode()
    assert page.status == 400, (page.status, text)
    assert "was not authorized" in text, text
    assert "access_denied" in text, text
    if query.get("error_description"):
        assert query["error_description"].split()[0] in text, (query, text)

    entry = rig.entry()
    assert entry["state"] == "needs_consent", entry
    assert rig.srv.grants()["codes_issued"] == 0
    assert rig.srv.stats()["token_requests"] == 0
    assert rig.get().json()["error"] == "needs_consent"
    # The state was consumed: the same callback again is an unknown state, not a second denial.
    again = via_requests(callback)
    assert again.status == 400 and "Unknown or expired" in again.body.decode(), again.body


def test_provider_error_description_is_shown(authcode):
    """A callback carrying error + error_description (e.g. a server-side policy refusal): the page
    shows both, escaped."""
    rig = authcode()
    rig.start()
    location = start_consent(rig.lk)
    state = query_of(location)["state"]
    desc = "Policy <forbids> crm for alice"
    page = via_requests(f"{rig.lk.admin_url}/oauth/callback?"
                        + urllib.parse.urlencode({"error": "access_denied", "error_description": desc, "state": state}))
    text = page.body.decode()
    assert page.status == 400, text
    assert "access_denied" in text and "Policy &lt;forbids&gt; crm for alice" in text, text
    assert "<forbids>" not in text
    assert rig.entry()["state"] == "needs_consent"


def test_code_exchange_failure_is_shown(authcode):
    """The server refuses the code exchange (the client's secret was rotated at the server): the
    callback page says what failed (the provider's error), and the connection stays needs_consent."""
    rig = authcode()
    rig.start()
    location = start_consent(rig.lk)
    callback, _ = follow_to_callback(rig.lk, rig.srv.authorize(location, auto=True))
    rig.srv.set_secret("crm", "e2e-authcode-rotated-elsewhere-77a1")
    page = via_requests(callback)
    text = page.body.decode()
    assert page.status == 502, (page.status, text)
    assert "Connecting crm failed" in text and "code exchange failed" in text, text
    assert "invalid_client" in text, text
    exchange = [r for r in rig.srv.stats()["last_requests"] if r["grant_type"] == "authorization_code"]
    assert [r["status"] for r in exchange] == [401], exchange
    entry = rig.entry()
    assert entry["state"] == "needs_consent", entry
    assert "consent failed" in entry.get("reason", ""), entry
    assert rig.get().json()["error"] == "needs_consent"


def test_public_client_pkce_only(authcode):
    """No client_secret: a public client (token_endpoint_auth_method none); PKCE alone protects the
    code. Also an explicit redirect_uri (the same admin callback, written out)."""
    rig = authcode(secret=None)
    rig.config = rig.config.replace("client_id: crm\n", f"client_id: crm\n    redirect_uri: {rig.redirect_uri}\n")
    assert "redirect_uri: http" in rig.config, rig.config
    rig.start()
    done = rig.consent()
    assert query_of(done.authorize_location)["redirect_uri"] == rig.redirect_uri
    exchange = [r for r in rig.srv.stats()["last_requests"] if r["grant_type"] == "authorization_code"][-1]
    assert exchange["status"] == 200 and exchange["auth_method"] == "none", exchange
    assert not exchange["has_basic_auth"] and exchange["form"].get("client_id") == "crm", exchange
    assert "client_secret" not in exchange["form"]
    assert rig.srv.grants()["codes_exchanged"] == 1

    reply = rig.get()
    assert reply.status == 200, reply.body
    assert reply.json()["client_id"] == "crm"
    assert CRM_SECRET not in rig.lk.config_path.read_text()


def test_discovery_finds_every_endpoint(authcode):
    """Only discovery_url (RFC 8414): the authorization, token and revocation endpoints come from the
    metadata; consent, requests and a revoking disconnect all work."""
    rig = authcode(discovery=True)
    assert "authorize_url" not in rig.config and "token_url" not in rig.config, rig.config
    rig.start()
    done = rig.consent()
    assert done.authorize_location.startswith(rig.srv.authorize_url + "?")
    assert rig.get().status == 200
    reply = admin_get(rig.lk, "/connections/crm/disconnect", method="POST")
    assert reply.status == 200 and reply.json()["revoked"] is True, reply.body
    assert len(rig.srv.grants()["revocations"]) == 1
    assert rig.get().json()["error"] == "needs_consent"
