"""Discovery checks the document's `issuer` against the URL it was fetched from (RFC 8414 §3.3, OIDC
Discovery §4.3): a document naming another issuer is refused with a clear error and no token request
is sent to the endpoints it lists."""

from latchkey_e2e import run_latchkey_cli
from oauth_fixtures import api_get, client, oauth_config, route

SECRET = "e2e-oauth-issuer-secret-93d2"
ENV = {"OAUTH_SECRET": SECRET}


def test_foreign_issuer_is_refused(latchkey, oauth_server):
    srv = oauth_server([client("app1", SECRET, ["read"])])
    srv.set_metadata(issuer="https://impostor.example.com")
    conn = [f"discovery_url: {srv.issuer}", "client_id: app1", "client_secret: ${OAUTH_SECRET}"]
    lk = latchkey(oauth_config(conn, [route("api", srv.url)]), env=ENV)
    lk.wait_for_log(r"connection oauth: .*issuer https://impostor\.example\.com does not match")
    reply = api_get(lk)
    assert reply.status == 502, reply.body
    detail = reply.json()["detail"]
    assert "RFC 8414" in detail and srv.issuer in detail, detail
    assert srv.stats()["token_requests"] == 0, srv.stats()


def test_check_reports_the_issuer_mismatch(oauth_server, tmp_path):
    srv = oauth_server([client("app1", SECRET, ["read"])])
    srv.set_metadata(issuer=srv.issuer + "/tenant-b")
    conn = [f"discovery_url: {srv.metadata_url}", "client_id: app1", "client_secret: ${OAUTH_SECRET}"]
    path = tmp_path / "issuer.yaml"
    path.write_text("listen: 127.0.0.1:0\nadmin: 127.0.0.1:0\n" + oauth_config(conn, [route("api", srv.url)]))
    done = run_latchkey_cli(["check", "--config", str(path)], env=ENV)
    out = done.stdout + done.stderr
    assert done.returncode != 0, out
    assert f"connection oauth: error: discovery document's issuer {srv.issuer}/tenant-b does not match {srv.issuer}" in out
    assert SECRET not in out
    # Put right, the same config connects (the check is on the issuer alone).
    srv.set_metadata(issuer="")
    done = run_latchkey_cli(["check", "--config", str(path)], env=ENV)
    assert done.returncode == 0, done.stdout + done.stderr
