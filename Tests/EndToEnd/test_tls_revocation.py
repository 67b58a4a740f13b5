"""tls.revocation (soft / hard) against nginx with a CA made in the run by `openssl ca`: CRLs from crl_file and
from a distribution point on loopback, an unreachable distribution point, stapled OCSP responses made by
`openssl ocsp` (nginx ssl_stapling_file), an expired CRL; the 502 detail names the certificate and the reason;
metrics and /connections show the results."""

import re
import shutil
import time

import pytest

from latchkey_e2e import admin_get, fetch, metric_sum, run_latchkey_cli, scrape_metrics, wait_until
from revocation_fixtures import RevocationNginx, RevocationPKI
from tls_policy_helpers import replace_file


@pytest.fixture(scope="module")
def rpki(tmp_path_factory):
    return RevocationPKI.create(tmp_path_factory.mktemp("revocation-pki"))


@pytest.fixture(scope="module")
def rnginx(tmp_path_factory, rpki):
    good_staple = rpki.ocsp_response("plain-good")
    revoked_staple = rpki.ocsp_response("plain-revoked")
    server = RevocationNginx(tmp_path_factory.mktemp("revocation-nginx"), rpki, {
        "plain-good": ("plain-good", None),
        "plain-revoked": ("plain-revoked", None),
        "cdp-good": ("cdp-good", None),
        "cdp-revoked": ("cdp-revoked", None),
        "cdp-dead": ("cdp-dead", None),
        "cdp-stranger": ("cdp-stranger", None),
        "staple-good": ("plain-good", good_staple),
        "staple-revoked": ("plain-revoked", revoked_staple),
        "rotating": ("rotating", None),
    })
    yield server
    server.stop()


def routes(rnginx, rpki, entries) -> str:
    """entries: (route name, server, revocation, crl_file or None)."""
    text = "unmatched: deny\nroutes:\n"
    for name, server, mode, crl_file in entries:
        tls = f"{{ca_file: {rpki.ca_cert}, revocation: {mode}" + (f", crl_file: {crl_file}" if crl_file else "") + "}"
        text += f"""  - name: {name}
    path_prefix: /{name}
    strip_prefix: true
    upstream: https://localhost:{rnginx.ports[server]}
    tls: {tls}
"""
    return text


def get(lk, route):
    return fetch("requests", f"{lk.base_url}/{route}/x")


def assert_refused(reply, route, cert, serial, reason_pattern):
    assert reply.status == 502, reply.body
    body = reply.json()
    detail = body["detail"]
    assert body["route"] == route, body
    assert body["error"] == "upstream_tls_failed", body
    assert f"CN={cert}" in detail, body
    assert f"serial {serial}" in detail, body
    assert re.search(reason_pattern, detail, re.I), body


def test_crl_file_refuses_a_revoked_certificate_and_passes_a_good_one(latchkey, rnginx, rpki):
    crl = rpki.dir / "ca.crl.pem"
    lk = latchkey(routes(rnginx, rpki, [
        ("soft-revoked", "plain-revoked", "soft", crl), ("hard-revoked", "plain-revoked", "hard", crl),
        ("soft-good", "plain-good", "soft", crl), ("hard-good", "plain-good", "hard", crl),
        ("off-revoked", "plain-revoked", "off", crl),
    ]))
    for route in ("soft-revoked", "hard-revoked"):
        assert_refused(get(lk, route), route, "plain-revoked", rpki.serials["plain-revoked"], r"revoked.*CRL")
    for route in ("soft-good", "hard-good", "off-revoked"):
        reply = get(lk, route)
        assert reply.status == 200, (route, reply.body)
    metrics = scrape_metrics(lk)
    assert metric_sum(metrics, "latchkey_tls_revocation_checks_total", route="hard-revoked", result="revoked") >= 1
    assert metric_sum(metrics, "latchkey_tls_revocation_checks_total", route="hard-good", result="good") >= 1
    assert metric_sum(metrics, "latchkey_tls_revocation_checks_total", route="off-revoked") == 0


def test_distribution_point_crl_is_fetched_and_refuses_a_revoked_certificate(latchkey, rnginx, rpki):
    lk = latchkey(routes(rnginx, rpki, [
        ("hard-cdp-good", "cdp-good", "hard", None), ("hard-cdp-revoked", "cdp-revoked", "hard", None),
        ("soft-cdp-revoked", "cdp-revoked", "soft", None),
    ]))
    # hard: the first handshake waits (bounded) for the CRL fetch instead of failing.
    reply = get(lk, "hard-cdp-good")
    assert reply.status == 200, reply.body
    assert rnginx.crl_fetches() >= 1
    lk.wait_for_log(r"fetched CRL from " + re.escape(rpki.cdp_url))
    assert_refused(get(lk, "hard-cdp-revoked"), "hard-cdp-revoked", "cdp-revoked", rpki.serials["cdp-revoked"],
                   r"revoked.*CRL")
    # soft: the CRL is cached by now (one process-wide cache), so the revoked certificate is refused too.
    assert_refused(get(lk, "soft-cdp-revoked"), "soft-cdp-revoked", "cdp-revoked", rpki.serials["cdp-revoked"],
                   r"revoked")


def test_a_certificate_outside_the_verified_chain_makes_nothing_fetched(latchkey, rnginx, rpki):
    """The server sends its chain plus a self-signed stranger naming another URL on the loopback CRL server: hard
    waits for the chain's distribution point only, and the stranger's URL is never requested."""
    before = rnginx.crl_fetches("/stranger.crl")
    lk = latchkey(routes(rnginx, rpki, [("hard-cdp-stranger", "cdp-stranger", "hard", None)]))
    reply = get(lk, "hard-cdp-stranger")
    assert reply.status == 200, reply.body
    lk.wait_for_log(r"fetched CRL from " + re.escape(rpki.cdp_url))
    assert rnginx.crl_fetches("/stranger.crl") == before == 0
    assert "stranger.crl" not in lk.log_text()


def test_unreachable_distribution_point_passes_in_soft_and_fails_in_hard(latchkey, rnginx, rpki):
    lk = latchkey(routes(rnginx, rpki, [
        ("soft-dead", "cdp-dead", "soft", None), ("hard-dead", "cdp-dead", "hard", None),
    ]))
    reply = get(lk, "soft-dead")
    assert reply.status == 200, reply.body
    lk.wait_for_log(r"TLS revocation unavailable for CN=cdp-dead.*allowed \(revocation: soft\)")
    lk.wait_for_log(r"cannot fetch CRL from " + re.escape(rpki.dead_cdp_url))
    assert_refused(get(lk, "hard-dead"), "hard-dead", "cdp-dead", rpki.serials["cdp-dead"],
                   re.escape(rpki.dead_cdp_url) + r".*(failed|not yet available)")
    metrics = scrape_metrics(lk)
    assert metric_sum(metrics, "latchkey_tls_revocation_checks_total", route="soft-dead", result="unavailable") >= 1
    assert metric_sum(metrics, "latchkey_tls_revocation_checks_total", route="hard-dead", result="unavailable") >= 1


def test_stapled_ocsp_response_is_verified(latchkey, rnginx, rpki):
    lk = latchkey(routes(rnginx, rpki, [
        ("hard-staple-good", "staple-good", "hard", None), ("soft-staple-revoked", "staple-revoked", "soft", None),
        ("hard-no-staple", "plain-good", "hard", None),
    ]))
    reply = get(lk, "hard-staple-good")
    assert reply.status == 200, reply.body
    assert_refused(get(lk, "soft-staple-revoked"), "soft-staple-revoked", "plain-revoked",
                   rpki.serials["plain-revoked"], r"revoked according to the stapled OCSP response")
    # No staple, no CRL of any kind: hard has no revocation data for the leaf.
    assert_refused(get(lk, "hard-no-staple"), "hard-no-staple", "plain-good", rpki.serials["plain-good"],
                   r"no usable CRL")
    metrics = scrape_metrics(lk)
    assert metric_sum(metrics, "latchkey_tls_revocation_checks_total", route="hard-staple-good", result="good") >= 1


def test_expired_crl_fails_in_hard_with_a_clear_detail(latchkey, rnginx, rpki):
    expired = rpki.crl("expired.crl", "-crlsec", "1")
    wait_until(lambda: time.time() > expired.stat().st_mtime + 2, what="the one-second CRL to expire")
    lk = latchkey(routes(rnginx, rpki, [
        ("hard-expired", "plain-good", "hard", expired), ("soft-expired", "plain-good", "soft", expired),
    ]))
    assert_refused(get(lk, "hard-expired"), "hard-expired", "plain-good", rpki.serials["plain-good"],
                   r"out of date.*expired")
    assert get(lk, "soft-expired").status == 200
    metrics = scrape_metrics(lk)
    assert metric_sum(metrics, "latchkey_tls_revocation_checks_total", route="hard-expired", result="stale") >= 1


def test_routes_endpoint_and_check_show_policy_and_last_result(latchkey, rnginx, rpki, tmp_path):
    crl = rpki.dir / "ca.crl.pem"
    config = routes(rnginx, rpki, [("hard-revoked", "plain-revoked", "hard", crl),
                                   ("soft-good", "plain-good", "soft", crl)])
    lk = latchkey(config)
    assert get(lk, "hard-revoked").status == 502
    assert get(lk, "soft-good").status == 200
    reply = admin_get(lk, "/routes")
    assert reply.status == 200, reply.body
    shown = {route["name"]: route["tls"] for route in reply.json()["routes"]}
    hard = shown["hard-revoked"]
    assert hard["revocation"] == "hard" and hard["crl_file"] == str(crl), hard
    [result] = hard["revocation_results"]
    assert result["result"] == "revoked" and result["refused"] is True, result
    assert result["server_name"] == "localhost" and "CN=plain-revoked" in result["certificate"], result
    [result] = shown["soft-good"]["revocation_results"]
    assert result["result"] == "good" and result["refused"] is False, result

    config_file = tmp_path / "check.yaml"
    config_file.write_text(config)
    done = run_latchkey_cli(["check", "--config", str(config_file)])
    assert done.returncode == 1, done.stdout + done.stderr
    assert re.search(r"tls\.revocation=hard", done.stdout), done.stdout
    assert re.search(r"route hard-revoked: tls\.revocation=hard localhost:\d+: refused: .*CN=plain-revoked.*revoked",
                     done.stdout), done.stdout
    assert re.search(r"route soft-good: tls\.revocation=soft localhost:\d+: good for CN=plain-good", done.stdout), \
        done.stdout


def test_a_rotated_crl_file_reaches_new_connections_without_a_restart(latchkey, rnginx, rpki, tmp_path):
    crl = tmp_path / "crl.pem"
    shutil.copy(rpki.dir / "ca.crl.pem", crl)
    lk = latchkey(routes(rnginx, rpki, [("hard-rotating", "rotating", "hard", crl)]))
    assert get(lk, "hard-rotating").status == 200
    # The CA revokes the certificate and publishes a new CRL; the operator's file is replaced in place.
    rpki.ca("-revoke", "rotating.crt", "-crl_reason", "superseded")
    mark = lk.log_offset()
    replace_file(crl, rpki.crl("rotated.crl").read_bytes())
    lk.wait_for_log(r"configuration reloaded \(file change\)", after=mark)
    assert_refused(get(lk, "hard-rotating"), "hard-rotating", "rotating", rpki.serials["rotating"], r"revoked.*CRL")


def test_token_endpoints_are_checked_too(latchkey, rnginx, rpki):
    """An OAuth connection's tls.revocation (here from the top-level default) covers its token endpoint: a
    revoked endpoint certificate fails the token fetch, naming the certificate; a good one issues the token."""
    crl = rpki.dir / "ca.crl.pem"
    connection = """  {name}:
    type: oauth2_client_credentials
    token_url: https://localhost:{port}/token
    client_id: app
    client_secret: ${{E2E_REVOCATION_SECRET}}
"""
    config = f"""unmatched: deny
tls:
  revocation: hard
  crl_file: {crl}
connections:
{connection.format(name="good-idp", port=rnginx.ports["plain-good"])}{connection.format(name="revoked-idp", port=rnginx.ports["plain-revoked"])}routes:
  - name: via-good
    path_prefix: /via-good
    strip_prefix: true
    upstream: https://localhost:{rnginx.ports["plain-good"]}
    connection: good-idp
    tls: {{ca_file: {rpki.ca_cert}}}
  - name: via-revoked
    path_prefix: /via-revoked
    strip_prefix: true
    upstream: https://localhost:{rnginx.ports["plain-good"]}
    connection: revoked-idp
    tls: {{ca_file: {rpki.ca_cert}}}
"""
    config = config.replace("    client_id: app\n", f"    client_id: app\n    tls: {{ca_file: {rpki.ca_cert}}}\n")
    lk = latchkey(config, env={"E2E_REVOCATION_SECRET": "revocation-client-secret-1"})
    reply = get(lk, "via-good")
    assert reply.status == 200, reply.body
    assert reply.json()["authorization"].startswith("Bearer revocation-e2e-token"), reply.body
    reply = get(lk, "via-revoked")
    assert reply.status >= 500, reply.body
    assert re.search(r"CN=plain-revoked, serial " + rpki.serials["plain-revoked"] + r".*revoked", reply.body.decode()), \
        reply.body
    metrics = scrape_metrics(lk)
    # Equal tls settings: the two connections share one context, so their results count under both names.
    assert metric_sum(metrics, "latchkey_tls_revocation_checks_total", route="connection:good-idp,revoked-idp",
                      result="revoked") >= 1
    assert metric_sum(metrics, "latchkey_tls_revocation_checks_total", route="connection:good-idp,revoked-idp",
                      result="good") >= 1
    shown = {c["name"]: c for c in admin_get(lk, "/connections").json()["connections"]}
    [result] = shown["revoked-idp"]["tls"]["revocation_results"]  # the last one: the revoked endpoint
    assert result["result"] == "revoked" and result["refused"] is True, shown
