"""Issue 16, versions, ciphers and rotation: `tls.min_version`, `ciphers`, `ciphersuites`, `curves` per route
and as a top-level default, checked against real nginx servers with the run's CA; OpenSSL's verdict on bad
strings at file/line/key; client certificate, key and CA files rotated under a running proxy (nginx logs
`$ssl_client_serial`), and a broken file that keeps the running context.

Every wait is on a log line, a port or nginx's access log, never a sleep."""

from __future__ import annotations

import re
import shutil

import pytest

from latchkey_e2e import (_with_listeners, admin_get, metric_sum, run_latchkey_cli, scrape_metrics, via_requests,
                          wait_until)
from oauth_fixtures import mtls_client, oauth_config
from oauth_fixtures import route as oauth_route
from tls_policy_helpers import (OTHER_TLS12_CIPHER, TLS12_ONLY_CIPHER, PolicyNginx, detail, make_client_certificate,
                                replace_file)

RELOADED = r"configuration reloaded \(file change\)"
FAILED = r"configuration reload \(file change\) failed; still serving the previous configuration:"


@pytest.fixture(scope="module")
def policy_nginx(tmp_path_factory, pki):
    server = PolicyNginx(tmp_path_factory.mktemp("policy-nginx"), pki)
    yield server
    server.stop()


def route(name: str, port: int, tls: str) -> str:
    return f"""
  - name: {name}
    path_prefix: /{name}/
    strip_prefix: true
    upstream: https://localhost:{port}
    tls: {tls}"""


def get(lk, path: str):
    return via_requests(lk.base_url + path)


def test_min_version_13_against_a_tls12_only_server_is_a_clear_502(latchkey, policy_nginx, pki):
    lk = latchkey("unmatched: deny\nroutes:" + route("strict", policy_nginx.tls12_port,
                                                     f"{{ca_file: {pki.ca_cert}, min_version: 1.3}}")
                  + route("default", policy_nginx.tls12_port, f"{{ca_file: {pki.ca_cert}}}"))
    reply = get(lk, "/strict/x")
    assert reply.status == 502, reply.body
    body = detail(reply)
    assert body["error"] == "upstream_tls_failed", body
    assert body["route"] == "strict", body
    assert "TLS handshake failed" in body["detail"], body
    assert re.search(r"protocol version|unsupported protocol", body["detail"]), body
    assert "the server offers only TLSv1.2 or older, and tls.min_version requires TLSv1.3" in body["detail"], body

    reply = get(lk, "/default/x")  # the default floor (1.2) passes
    assert reply.status == 200, reply.body
    assert reply.json()["protocol"] == "TLSv1.2"


def test_a_cipher_list_the_server_does_not_share_fails_and_a_shared_one_passes(latchkey, policy_nginx, pki):
    lk = latchkey("unmatched: deny\nroutes:"
                  + route("unshared", policy_nginx.tls12_port, f"{{ca_file: {pki.ca_cert}, ciphers: {OTHER_TLS12_CIPHER}}}")
                  + route("shared", policy_nginx.tls12_port,
                          f"{{ca_file: {pki.ca_cert}, ciphers: [{OTHER_TLS12_CIPHER}, {TLS12_ONLY_CIPHER}]}}"))
    reply = get(lk, "/unshared/x")
    assert reply.status == 502, reply.body
    body = detail(reply)
    assert body["route"] == "unshared", body
    assert "handshake failure" in body["detail"], body
    assert f"shares no cipher or curve with tls.ciphers '{OTHER_TLS12_CIPHER}'" in body["detail"], body

    reply = get(lk, "/shared/x")
    assert reply.status == 200, reply.body
    assert reply.json()["cipher"] == TLS12_ONLY_CIPHER


def test_top_level_default_applies_and_a_route_overrides_it(latchkey, policy_nginx, pki):
    config = f"""
unmatched: deny
tls:
  min_version: 1.3
  ca_file: {pki.ca_cert}
routes:""" + route("inherits", policy_nginx.tls12_port, "{}") + route("overrides", policy_nginx.tls12_port,
                                                                      "{min_version: 1.2}")
    lk = latchkey(config)
    reply = get(lk, "/inherits/x")
    assert reply.status == 502, reply.body
    assert "tls.min_version requires TLSv1.3" in detail(reply)["detail"], reply.body
    reply = get(lk, "/overrides/x")
    assert reply.status == 200, reply.body  # its own min_version wins; ca_file still comes from the default

    routes = {r["name"]: r for r in admin_get(lk, "/routes").json()["routes"]}
    assert routes["inherits"]["tls"]["min_version"] == "1.3", routes
    assert routes["overrides"]["tls"]["min_version"] == "1.2", routes
    assert routes["overrides"]["tls"]["ca_file"] == str(pki.ca_cert), routes

    shown = run_latchkey_cli(["check", "--offline", "--config", str(lk.config_path)])
    assert shown.returncode == 0, shown.stderr + shown.stdout
    assert "  tls:       min_version=1.3 ca_file=" in shown.stdout, shown.stdout
    assert re.search(r"inherits \(line \d+\):.* tls\.min_version=1\.3", shown.stdout), shown.stdout
    assert re.search(r"overrides \(line \d+\):.* tls\.min_version=1\.2", shown.stdout), shown.stdout


BAD = """
unmatched: deny
tls:
  ciphers: ECDHE+AESGCM:NOT-A-CIPHER
routes:
  - name: a
    path_prefix: /a/
    upstream: https://localhost:1
    tls:
      ciphersuites: TLS_AES_256_GCM_SHA384:TLS_NOPE
      curves: [X25519, P-999]
"""


def test_bad_strings_are_errors_at_file_line_and_key(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(BAD.lstrip("\n"))
    for args in (["check", "--offline"], ["check", "--skip-secrets"]):
        done = run_latchkey_cli([*args, "--config", str(path)])
        assert done.returncode == 1, done.stdout
        err = done.stderr
        assert re.search(rf"{re.escape(str(path))}:3:\d+: tls\.ciphers: no cipher or alias named 'NOT-A-CIPHER'", err), err
        assert re.search(rf"{re.escape(str(path))}:9:\d+: routes\[0\]\.tls\.ciphersuites: .*'TLS_NOPE'", err), err
        assert re.search(rf"{re.escape(str(path))}:10:\d+: routes\[0\]\.tls\.curves: .*'P-999'", err), err

    path.write_text("tls:\n  min_version: 1.0\n  insecure_skip_verify: true\n")
    done = run_latchkey_cli(["check", "--offline", "--config", str(path)])
    assert done.returncode == 1
    assert re.search(rf"{re.escape(str(path))}:2:\d+: tls\.min_version: invalid TLS version '1\.0'", done.stderr), done.stderr
    assert re.search(rf"{re.escape(str(path))}:3:\d+: tls\.insecure_skip_verify: key does not apply", done.stderr), done.stderr


def test_a_running_proxy_keeps_its_config_when_a_reload_brings_a_bad_string(latchkey, policy_nginx, pki):
    good = "unmatched: deny\nroutes:" + route("a", policy_nginx.tls12_port, f"{{ca_file: {pki.ca_cert}}}")
    lk = latchkey(good)
    assert get(lk, "/a/x").status == 200
    bad = "unmatched: deny\nroutes:" + route("a", policy_nginx.tls12_port, f"{{ca_file: {pki.ca_cert}, curves: P-999}}")
    line = _with_listeners(bad).splitlines().index(next(l for l in bad.splitlines() if "P-999" in l)) + 1
    mark = lk.log_offset()
    lk.rewrite_config(bad)
    lk.wait_for_log(FAILED, after=mark)
    assert re.search(rf":{line}:\d+: routes\[0\]\.tls\.curves: no curve or group named 'P-999'", lk.log_text()[mark:])
    assert get(lk, "/a/x").status == 200
    ready = admin_get(lk, "/readyz").json()
    assert "P-999" in ready["config_reload_error"], ready


def mtls_config(policy_nginx, ca_file, cert, key) -> str:
    return "unmatched: deny\nroutes:" + route(
        "mtls", policy_nginx.mtls_port, f"{{ca_file: {ca_file}, cert_file: {cert}, key_file: {key}}}")


def test_rotated_client_certificate_and_key_reach_the_upstream_without_a_restart(latchkey, policy_nginx, pki, tmp_path):
    first_cert, first_key = make_client_certificate(pki, tmp_path / "one", "app-one", 0x1A01)
    second_cert, second_key = make_client_certificate(pki, tmp_path / "two", "app-two", 0x2B02)
    live = tmp_path / "live"
    live.mkdir()
    cert, key = live / "tls.crt", live / "tls.key"
    shutil.copy(first_cert, cert)
    shutil.copy(first_key, key)
    before = len(policy_nginx.serials_logged())

    lk = latchkey(mtls_config(policy_nginx, pki.ca_cert, cert, key))
    reply = get(lk, "/mtls/x")
    assert reply.status == 200, reply.body
    assert reply.json()["client_verify"] == "SUCCESS" and reply.json()["client_serial"] == "1A01", reply.body
    first_connection = policy_nginx.wait_for_serial_count(before + 1)[-1][1]

    # cert-manager style: the key, then the certificate, each renamed into place.
    mark = lk.log_offset()
    replace_file(key, second_key.read_bytes())
    replace_file(cert, second_cert.read_bytes())
    lk.wait_for_log(RELOADED, after=mark)
    lk.wait_for_log(r"changed: .*tls\.(crt|key)", after=mark)
    reply = get(lk, "/mtls/x")
    assert reply.status == 200, reply.body
    assert reply.json()["client_serial"] == "2B02", reply.body
    serial, connection = policy_nginx.wait_for_serial_count(before + 2)[-1]
    assert serial == "2B02" and connection != first_connection  # a new connection, with the new certificate


def test_rotating_ca_file_to_another_ca_makes_new_connections_fail(latchkey, policy_nginx, pki, tmp_path):
    cert, key = make_client_certificate(pki, tmp_path / "c", "app", 0x3C03)
    ca = tmp_path / "ca.pem"
    shutil.copy(pki.ca_cert, ca)
    lk = latchkey(mtls_config(policy_nginx, ca, cert, key))
    assert get(lk, "/mtls/x").status == 200

    mark = lk.log_offset()
    replace_file(ca, pki.untrusted_ca_cert.read_bytes())
    lk.wait_for_log(RELOADED, after=mark)
    reply = get(lk, "/mtls/x")
    assert reply.status == 502, reply.body
    assert "certificate verify failed" in detail(reply)["detail"], reply.body


def test_a_broken_certificate_file_keeps_the_running_context_and_says_so(latchkey, policy_nginx, pki, tmp_path):
    good_cert, good_key = make_client_certificate(pki, tmp_path / "c", "app", 0x4D04)
    other_cert, _ = make_client_certificate(pki, tmp_path / "o", "other", 0x5E05)
    cert = tmp_path / "tls.crt"
    shutil.copy(good_cert, cert)
    lk = latchkey(mtls_config(policy_nginx, pki.ca_cert, cert, good_key))
    assert get(lk, "/mtls/x").json()["client_serial"] == "4D04"
    failures = metric_sum(scrape_metrics(lk), "latchkey_config_reloads_total", result="failure")

    for broken, reason in ((b"-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n",
                            rf"cannot load certificate chain '{re.escape(str(cert))}'"),
                           (other_cert.read_bytes(), rf"private key '{re.escape(str(good_key))}' does not match")):
        mark = lk.log_offset()
        replace_file(cert, broken)
        lk.wait_for_log(FAILED, after=mark)
        assert re.search(r"route mtls: tls: " + reason, lk.log_text()[mark:]), lk.log_text()[mark:]
        ready = admin_get(lk, "/readyz")
        assert ready.status == 200 and re.search(reason, ready.json()["config_reload_error"]), ready.body
        reply = get(lk, "/mtls/x")  # the running context, with the certificate it loaded
        assert reply.status == 200 and reply.json()["client_serial"] == "4D04", reply.body
        failures += 1
        samples = scrape_metrics(lk)
        assert metric_sum(samples, "latchkey_config_reloads_total", result="failure") == failures
        assert metric_sum(samples, "latchkey_config_last_reload_success") == 0

    mark = lk.log_offset()
    replace_file(cert, good_cert.read_bytes())
    lk.wait_for_log(RELOADED, after=mark)
    assert "config_reload_error" not in admin_get(lk, "/readyz").json()


@pytest.fixture
def token_front(oauth_server, pki, tmp_path):
    """The Authlib server (4 s tokens, so renewals come quickly) with `mtls-app` (tls_client_auth, DN
    CN=mtls-app) behind nginx TLS (TLSv1.2 only: nginx 1.22's default) that passes the client certificate's DN."""
    from test_oauth_mtls import MTLSFront
    srv = oauth_server([mtls_client("mtls-app", ["read"], subject_dn="CN=mtls-app")], expires_in=4)
    front = MTLSFront(tmp_path / "front", pki, srv.port, srv.set_metadata()["mtls_front_secret"])
    yield srv, front
    front.stop()


def token_connection(front, tls: str) -> list[str]:
    return [f"token_url: {front.url}/oauth/token", "client_id: mtls-app", "client_auth: tls_client_auth",
            "scopes: read", f"tls: {tls}"]


def test_token_endpoint_policy_min_version_is_applied(latchkey, token_front, pki, tmp_path):
    srv, front = token_front
    cert, key = make_client_certificate(pki, tmp_path / "c", "mtls-app", 0x6F06)
    lk = latchkey(oauth_config(
        token_connection(front, f"{{ca_file: {pki.ca_cert}, cert_file: {cert}, key_file: {key}, min_version: 1.3}}"),
        [oauth_route("api", srv.url)]))
    lk.wait_for_log(r"connection oauth: .*tls\.min_version requires TLSv1\.3")
    assert srv.stats()["token_requests"] == 0
    connection = next(c for c in admin_get(lk, "/connections").json()["connections"] if c["name"] == "oauth")
    assert connection["tls"]["min_version"] == "1.3" and connection["tls"]["cert_file"] == str(cert), connection


def test_token_endpoint_client_certificate_rotation_without_a_restart(latchkey, token_front, pki, tmp_path):
    """The token client takes its contexts from the running runtime: after the certificate files change, the
    next renewal presents the new certificate (here another subject, which the server refuses — and records)."""
    srv, front = token_front
    first_cert, first_key = make_client_certificate(pki, tmp_path / "a", "mtls-app", 0x6F07)
    other_cert, other_key = make_client_certificate(pki, tmp_path / "b", "other-app", 0x7A08)
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    shutil.copy(first_cert, cert)
    shutil.copy(first_key, key)
    lk = latchkey(oauth_config(
        token_connection(front, f"{{ca_file: {pki.ca_cert}, cert_file: {cert}, key_file: {key}}}"),
        [oauth_route("api", srv.url)]))
    lk.wait_for_log(r"connection oauth: Connected")
    assert {r["tls_client_dn"] for r in srv.stats()["last_requests"]} == {"CN=mtls-app"}

    mark = lk.log_offset()
    replace_file(key, other_key.read_bytes())
    replace_file(cert, other_cert.read_bytes())
    lk.wait_for_log(RELOADED + r": 1 routes, 1 connections, 1 kept their credentials", after=mark)
    wait_until(lambda: any(r.get("tls_client_dn") == "CN=other-app" for r in srv.stats()["last_requests"]),
               what="a token request with the rotated certificate")
