"""client_auth: tls_client_auth and self_signed_tls_client_auth (RFC 8705 §2) against a server that
verifies them: nginx terminates TLS in front of the Authlib server (`ssl_verify_client optional_no_ca`
with the run's CA) and passes the verification result, subject DN and certificate on; the Authlib
server's RFC 8705 client-authentication methods check the subject DN registered for the client
(tls_client_auth, chain verified by the CA) or the pinned certificate (self_signed_tls_client_auth).
The RFC 8705 §5 `mtls_endpoint_aliases` from discovery are used when published.
"""

import os
import signal
import subprocess
import textwrap

import pytest

from latchkey_e2e import free_port, nginx_binary, run_latchkey_cli, run_openssl, stop_process, wait_for_port
from oauth_fixtures import api_get, mtls_client, oauth_config, route


class MTLSFront:
    """nginx on https://localhost:PORT (the pki server certificate) proxying to the Authlib server, with
    the client certificate's verification, subject DN and PEM as headers (and the front's secret)."""

    def __init__(self, workdir, pki, upstream_port: int, front_secret: str):
        self.dir = workdir
        for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        user = "user root;\n" if os.geteuid() == 0 else ""
        conf = f"""{user}worker_processes 1;
pid {self.dir}/nginx.pid;
error_log {self.dir}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {self.dir}/client_body;
    proxy_temp_path {self.dir}/proxy;
    fastcgi_temp_path {self.dir}/fastcgi;
    uwsgi_temp_path {self.dir}/uwsgi;
    scgi_temp_path {self.dir}/scgi;
    server {{
        listen 127.0.0.1:{self.port} ssl;
        server_name localhost;
        ssl_certificate {pki.server_cert};
        ssl_certificate_key {pki.server_key};
        ssl_client_certificate {pki.ca_cert};
        ssl_verify_client optional_no_ca;
        location / {{
            proxy_pass http://127.0.0.1:{upstream_port};
            proxy_set_header Host $http_host;
            proxy_set_header X-MTLS-Front "{front_secret}";
            proxy_set_header X-SSL-Client-Verify $ssl_client_verify;
            proxy_set_header X-SSL-Client-S-DN $ssl_client_s_dn;
            proxy_set_header X-SSL-Client-Cert $ssl_client_escaped_cert;
        }}
    }}
}}
"""
        (self.dir / "nginx.conf").write_text(conf)
        self._log = open(self.dir / "nginx.out", "wb")
        self.proc = subprocess.Popen([nginx_binary(), "-p", str(self.dir), "-e", str(self.dir / "error.log"),
                                      "-c", str(self.dir / "nginx.conf"), "-g", "daemon off;"],
                                     stdout=self._log, stderr=subprocess.STDOUT)
        wait_for_port(self.port, proc=self.proc)
        self.url = f"https://localhost:{self.port}"

    def stop(self):
        stop_process(self.proc, grace=10, sig=signal.SIGQUIT)
        self._log.close()


@pytest.fixture(scope="module")
def client_certs(tmp_path_factory, pki):
    """`mtls-app` and `other-app` signed by the run's CA (clientAuth), and a self-signed `self-app`."""
    d = tmp_path_factory.mktemp("mtls-certs")
    ext = d / "client.ext"
    ext.write_text(textwrap.dedent("""\
        basicConstraints = CA:FALSE
        keyUsage = critical, digitalSignature
        extendedKeyUsage = clientAuth
        """))
    for name in ("mtls-app", "other-app"):
        run_openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=d)
        run_openssl("x509", "-req", "-in", f"{name}.csr", "-CA", str(pki.ca_cert), "-CAkey", str(pki.ca_key),
                    "-CAcreateserial", "-out", f"{name}.crt", "-days", "3", "-extfile", str(ext), cwd=d)
    run_openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", "self-app.key", "-out", "self-app.crt", "-days", "3", "-subj", "/CN=self-app", cwd=d)
    return d


@pytest.fixture
def mtls_rig(oauth_server, pki, client_certs, tmp_path):
    """The Authlib server with `mtls-app` (tls_client_auth, DN CN=mtls-app) and `self-app`
    (self_signed_tls_client_auth, pinned), behind an MTLSFront."""
    srv = oauth_server([mtls_client("mtls-app", ["read"], subject_dn="CN=mtls-app"),
                        mtls_client("self-app", ["read"], cert_path=client_certs / "self-app.crt")])
    secret = srv.set_metadata()["mtls_front_secret"]
    front = MTLSFront(tmp_path / "front", pki, srv.port, secret)
    yield srv, front
    front.stop()


def mtls_connection(token_line: str, client_id: str, method: str, certs, cert: str, pki) -> list[str]:
    return [token_line, f"client_id: {client_id}", f"client_auth: {method}", "scopes: read",
            f"tls: {{ca_file: {pki.ca_cert}, cert_file: {certs / (cert + '.crt')}, key_file: {certs / (cert + '.key')}}}"]


@pytest.mark.parametrize("client_id,method", [("mtls-app", "tls_client_auth"), ("self-app", "self_signed_tls_client_auth")])
def test_mutual_tls_client_authentication(latchkey, mtls_rig, client_certs, pki, client_id, method):
    srv, front = mtls_rig
    conn = mtls_connection(f"token_url: {front.url}/oauth/token", client_id, method, client_certs, client_id, pki)
    lk = latchkey(oauth_config(conn, [route("api", srv.url)]))
    lk.wait_for_log(r"connection oauth: Connected")

    reply = api_get(lk)
    assert reply.status == 200, reply.body
    assert reply.json()["client_id"] == client_id
    req = srv.ok_token_requests()[0]
    assert req["auth_method"] == method
    assert req["form"] == {"grant_type": "client_credentials", "scope": "read", "client_id": client_id}
    assert not req["has_basic_auth"] and req["tls_client_cert"]
    if method == "tls_client_auth":
        assert req["tls_client_verify"] == "SUCCESS" and req["tls_client_dn"] == "CN=mtls-app"
    else:
        assert req["tls_client_verify"].startswith("FAILED")  # self-signed: not from the CA, pinned instead


def test_wrong_certificate_is_invalid_client(latchkey, mtls_rig, client_certs, pki):
    """A certificate from the trusted CA but with another subject does not authenticate mtls-app."""
    srv, front = mtls_rig
    conn = mtls_connection(f"token_url: {front.url}/oauth/token", "mtls-app", "tls_client_auth", client_certs,
                           "other-app", pki)
    lk = latchkey(oauth_config(conn, [route("api", srv.url)]))
    lk.wait_for_log(r"connection oauth: .*invalid_client")
    reply = api_get(lk)
    assert reply.status == 502 and "invalid_client" in reply.json()["detail"], reply.body
    assert srv.stats()["resource_requests"] == 0


def test_discovery_mtls_endpoint_alias_is_used(mtls_rig, client_certs, pki, tmp_path):
    """RFC 8705 §5: the plain metadata's token_endpoint (no TLS, no certificate) is not used; the alias is.
    `check` prints both."""
    srv, front = mtls_rig
    srv.set_metadata(mtls_base=front.url)
    conn = mtls_connection(f"discovery_url: {srv.issuer}", "mtls-app", "tls_client_auth", client_certs, "mtls-app", pki)
    path = tmp_path / "alias.yaml"
    path.write_text("listen: 127.0.0.1:0\nadmin: 127.0.0.1:0\n" + oauth_config(conn, [route("api", srv.url)]))
    done = run_latchkey_cli(["check", "--config", str(path)])
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert f"connection oauth: Connected to {front.url}/oauth/token" in out
    assert f"token_endpoint: {srv.token_url}" in out
    assert f"mtls token_endpoint (used): {front.url}/oauth/token" in out
    assert "tls_client_auth" in out and "scopes_supported: read" in out
    req = srv.ok_token_requests()[0]
    assert req["auth_method"] == "tls_client_auth" and req["tls_client_verify"] == "SUCCESS"
