"""Authorization code (issue 6): no client secret, state_key, authorization code, PKCE verifier,
access token or refresh token in the proxy's output (debug level) or in its admin answers, through
consent, renewals with rotation, a restart, a revoked grant and a disconnect. (Every test_authcode_*
test is also scanned at teardown by the fixtures, refresh tokens and verifiers included; this one
makes the scan explicit and walks every path.)"""

import pytest

from latchkey_e2e import admin_get, wait_until
from oauth_fixtures import CRM_SECRET


@pytest.mark.slow
def test_no_secret_in_output_or_admin_answers(authcode):
    rig = authcode(expires_in=4, top=["log_level: debug"])
    rig.start()
    consents = [rig.consent()]
    assert rig.get().status == 200
    wait_until(lambda: sum(1 for r in rig.srv.stats()["last_requests"] if r["grant_type"] == "refresh_token"
                           and r["status"] == 200) >= 2, 15, "two renewals (4 s tokens)")
    admin_bodies = [admin_get(rig.lk, p).body.decode() for p in ("/connections", "/readyz", "/metrics")]
    logs = [rig.lk.log_text()]

    rig.lk.stop()
    rig.start()  # loads the file, refreshes on first use
    assert rig.get().status == 200
    rig.srv.revoke_all()
    assert rig.get().status == 502  # invalid_grant: needs_reconnect
    admin_bodies += [admin_get(rig.lk, p).body.decode() for p in ("/connections", "/readyz")]
    consents.append(rig.consent())
    assert rig.get().status == 200
    admin_bodies.append(admin_get(rig.lk, "/connections/crm/disconnect", method="POST").body.decode())
    admin_bodies += [page.page.body.decode() for page in consents]
    logs.append(rig.lk.log_text())

    srv = rig.srv
    refresh_tokens = [r["refresh_token"] for r in srv.refresh_tokens()]
    verifiers = srv.code_verifiers()
    assert len(refresh_tokens) >= 4 and len(verifiers) == 2, (len(refresh_tokens), len(verifiers))
    values = {"client secret": [CRM_SECRET], "state_key": [rig.env["STATE_KEY"]],
              "authorization code": [c.code for c in consents], "code verifier": verifiers,
              "access token": srv.tokens(), "refresh token": refresh_tokens}
    text = "\n".join(logs)
    for kind, items in values.items():
        leaked = [v for v in items if v and v in text]
        assert not leaked, f"{kind} in latchkey's log: {leaked[0][:4]}…"
        shown = [v for v in items if v and any(v in body for body in admin_bodies)]
        assert not shown, f"{kind} in an admin answer: {shown[0][:4]}…"
    # and these really are the values the teardown scan looks for
    assert set(refresh_tokens + verifiers) <= set(srv.secrets())
