"""discovery_url (RFC 8414): the token endpoint comes from the server's metadata; a client_auth the
server does not advertise is a clear error."""

import re

import pytest

from latchkey_e2e import run_latchkey_cli
from oauth_fixtures import api_get, client, oauth_config, route

SECRET = "e2e-oauth-discovery-secret-61af"
ENV = {"OAUTH_SECRET": SECRET}


@pytest.mark.parametrize("form", ["issuer", "well-known"])
def test_discovery_finds_token_endpoint(latchkey, oauth_server, form):
    srv = oauth_server([client("app1", SECRET, ["read"])])
    url = srv.issuer if form == "issuer" else srv.metadata_url
    conn = [f"discovery_url: {url}", "client_id: app1", "client_secret: ${OAUTH_SECRET}", "scopes: read"]
    lk = latchkey(oauth_config(conn, [route("api", srv.url)]), env=ENV)
    lk.wait_for_log(r"connection oauth: Connected")

    reply = api_get(lk)
    assert reply.status == 200, reply.body
    assert reply.json()["client_id"] == "app1"
    stats = srv.stats()
    assert stats["token_requests_ok"] == 1, stats
    # The metadata was fetched (Werkzeug's request log), and the token went to its token_endpoint.
    assert re.search(r'"GET /\.well-known/(oauth-authorization-server|openid-configuration) HTTP', srv.log_text())
    assert '"POST /oauth/token HTTP' in srv.log_text()


def test_discovery_unsupported_client_auth_is_a_clear_error(oauth_server, tmp_path):
    srv = oauth_server([client("app1", SECRET, ["read"])], advertise_auth_methods=["client_secret_basic"])
    conn = [f"discovery_url: {srv.issuer}", "client_id: app1", "client_secret: ${OAUTH_SECRET}",
            "client_auth: client_secret_post"]
    path = tmp_path / "unsupported.yaml"
    path.write_text("listen: 127.0.0.1:0\nadmin: 127.0.0.1:0\n" + oauth_config(conn, [route("api", srv.url)]))
    done = run_latchkey_cli(["check", "--config", str(path)], env=ENV)
    out = done.stdout + done.stderr
    assert done.returncode != 0, out
    line = next((ln for ln in out.splitlines() if "oauth" in ln and "client_secret_post" in ln), None)
    assert line is not None, f"no line naming the connection and client_secret_post:\n{out}"
    assert "Connected" not in line
    assert SECRET not in out
    # Refused from the metadata: no token request was sent with an unadvertised method.
    assert srv.stats()["token_requests"] == 0, srv.stats()
