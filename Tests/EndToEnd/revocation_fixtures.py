"""A CA made with `openssl ca` for revocation tests: leaf certificates for localhost (some naming a CRL
distribution point on loopback, one naming a dead one), one revoked, a chain file that also holds a self-signed
stranger naming another URL on that loopback server, CRLs (current and expired), OCSP responses
made with `openssl ocsp` for nginx's `ssl_stapling_file`, and one nginx serving each certificate on its own port
plus the CRL over plain HTTP."""

import os
import signal
import subprocess
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

from latchkey_e2e import free_port, closed_port, nginx_binary, run_openssl, stop_process, wait_for_port

CA_CONF = """\
[ ca ]
default_ca = test_ca
[ test_ca ]
dir = {dir}
database = $dir/index.txt
new_certs_dir = $dir/newcerts
certificate = $dir/ca.crt
private_key = $dir/ca.key
serial = $dir/serial
crlnumber = $dir/crlnumber
default_md = sha256
default_days = 3
default_crl_days = 1
policy = any
unique_subject = no
copy_extensions = none
[ any ]
commonName = supplied
[ leaf ]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
[ leaf_cdp ]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
crlDistributionPoints = URI:{cdp_url}
[ leaf_dead_cdp ]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
crlDistributionPoints = URI:{dead_cdp_url}
"""


@dataclass
class RevocationPKI:
    dir: Path
    ca_cert: Path
    cdp_port: int
    cdp_url: str
    dead_cdp_url: str
    certs: dict = field(default_factory=dict)  # name -> (cert, key)
    serials: dict = field(default_factory=dict)  # name -> hex serial as openssl prints it

    def ca(self, *args: str) -> None:
        run_openssl("ca", "-batch", "-config", "ca.conf", *args, cwd=self.dir)

    def issue(self, name: str, extensions: str) -> None:
        run_openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=self.dir)
        self.ca("-in", f"{name}.csr", "-out", f"{name}.crt", "-extensions", extensions, "-notext")
        serial = subprocess.run(["openssl", "x509", "-in", f"{name}.crt", "-noout", "-serial"], cwd=self.dir,
                                capture_output=True, text=True, check=True).stdout.strip().split("=", 1)[1]
        self.certs[name] = (self.dir / f"{name}.crt", self.dir / f"{name}.key")
        self.serials[name] = serial

    def crl(self, name: str, *validity: str) -> Path:
        """A CRL (PEM) as of now; `validity` e.g. ("-crlsec", "1") for one that expires at once."""
        self.ca("-gencrl", "-out", f"{name}.pem", *validity)
        return self.dir / f"{name}.pem"

    def ocsp_response(self, name: str) -> Path:
        """An OCSP response (DER) for certificate `name`, signed by the CA, valid for a day."""
        run_openssl("ocsp", "-issuer", "ca.crt", "-cert", f"{name}.crt", "-no_nonce", "-reqout", f"{name}.ocspreq",
                    cwd=self.dir)
        run_openssl("ocsp", "-index", "index.txt", "-rsigner", "ca.crt", "-rkey", "ca.key", "-CA", "ca.crt",
                    "-reqin", f"{name}.ocspreq", "-respout", f"{name}.ocsp", "-ndays", "1", cwd=self.dir)
        return self.dir / f"{name}.ocsp"

    @classmethod
    def create(cls, d: Path) -> "RevocationPKI":
        d.mkdir(parents=True, exist_ok=True)
        (d / "newcerts").mkdir()
        (d / "index.txt").write_text("")
        (d / "serial").write_text("1000\n")
        (d / "crlnumber").write_text("01\n")
        cdp_port = free_port()
        cdp_url = f"http://127.0.0.1:{cdp_port}/ca.crl"
        dead_cdp_url = f"http://127.0.0.1:{closed_port()}/ca.crl"
        (d / "ca.conf").write_text(CA_CONF.format(dir=d, cdp_url=cdp_url, dead_cdp_url=dead_cdp_url))
        run_openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", "ca.key", "-out", "ca.crt", "-days", "3", "-subj", "/CN=Latchkey Revocation Test CA",
                    "-addext", "basicConstraints=critical,CA:TRUE",
                    "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
        pki = cls(d, d / "ca.crt", cdp_port, cdp_url, dead_cdp_url)
        for name, ext in (("plain-good", "leaf"), ("plain-revoked", "leaf"), ("cdp-good", "leaf_cdp"),
                          ("cdp-revoked", "leaf_cdp"), ("cdp-dead", "leaf_dead_cdp"), ("rotating", "leaf")):
            pki.issue(name, ext)
        for name in ("plain-revoked", "cdp-revoked"):
            pki.ca("-revoke", f"{name}.crt", "-crl_reason", "keyCompromise")
        # A server may send certificates that are no part of its chain: cdp-good's, then a self-made one.
        run_openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", "stranger.key", "-out", "stranger.crt", "-days", "3", "-subj", "/CN=stranger",
                    "-addext", f"crlDistributionPoints=URI:http://127.0.0.1:{cdp_port}/stranger.crl", cwd=d)
        (d / "cdp-stranger.crt").write_bytes((d / "cdp-good.crt").read_bytes() + (d / "stranger.crt").read_bytes())
        pki.certs["cdp-stranger"] = (d / "cdp-stranger.crt", d / "cdp-good.key")
        pki.serials["cdp-stranger"] = pki.serials["cdp-good"]
        crl = pki.crl("ca.crl")
        (d / "www").mkdir()
        run_openssl("crl", "-in", str(crl), "-outform", "DER", "-out", str(d / "www" / "ca.crl"), cwd=d)
        return pki


TOKEN = "revocation-e2e-token-5f4e3d2c"
# An OAuth 2.0 token response (RFC 6749 §5.1) nginx returns for any method: a token endpoint behind a revocable
# certificate without an authorization server.
TOKEN_RESPONSE = '{"access_token":"' + TOKEN + '","token_type":"Bearer","expires_in":3600}'


class RevocationNginx:
    """One nginx: each named server on its own TLS port (`ports[name]`), optional stapled OCSP response file,
    and the CRL distribution point (`pki.cdp_port`, serving `www/`)."""

    def __init__(self, workdir: Path, pki: RevocationPKI, servers: dict):
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.dir / sub).mkdir(exist_ok=True)
        self.ports = {}
        blocks = []
        for server, (cert_name, staple) in servers.items():
            port = free_port()
            self.ports[server] = port
            cert, key = pki.certs[cert_name]
            stapling = ""
            if staple is not None:
                stapling = f"ssl_stapling on; ssl_stapling_file {staple}; ssl_trusted_certificate {pki.ca_cert};"
            blocks.append(f"""
    server {{
        listen 127.0.0.1:{port} ssl;
        server_name localhost;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        {stapling}
        location = /token {{ default_type application/json; return 200 '{TOKEN_RESPONSE}'; }}
        location / {{ default_type application/json; return 200 '{{"server":"{server}","uri":"$request_uri","authorization":"$http_authorization"}}\\n'; }}
    }}""")
        user = "user root;\n" if os.geteuid() == 0 else ""
        conf = f"""{user}worker_processes 1;
pid {self.dir}/nginx.pid;
error_log {self.dir}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log {self.dir}/access.log;
    client_body_temp_path {self.dir}/client_body;
    proxy_temp_path {self.dir}/proxy;
    fastcgi_temp_path {self.dir}/fastcgi;
    uwsgi_temp_path {self.dir}/uwsgi;
    scgi_temp_path {self.dir}/scgi;
    server {{
        listen 127.0.0.1:{pki.cdp_port};
        root {pki.dir}/www;
    }}{''.join(blocks)}
}}
"""
        self.conf_path = self.dir / "nginx.conf"
        self.conf_path.write_text(conf)
        self._log = open(self.dir / "nginx.out", "wb")
        self.proc = subprocess.Popen(
            [nginx_binary(), "-p", str(self.dir), "-e", str(self.dir / "error.log"), "-c", str(self.conf_path),
             "-g", "daemon off;"], stdout=self._log, stderr=subprocess.STDOUT)
        try:
            wait_for_port(pki.cdp_port, proc=self.proc)
            for port in self.ports.values():
                wait_for_port(port, proc=self.proc)
        except Exception as error:
            self.stop()
            raise RuntimeError(f"nginx did not start: {error}\n{(self.dir / 'error.log').read_text()}") from error

    def crl_fetches(self, path: str = "/ca.crl") -> int:
        log = self.dir / "access.log"
        return log.read_text().count(f"GET {path} ") if log.exists() else 0

    def stop(self):
        stop_process(self.proc, grace=10, sig=signal.SIGQUIT)
        self._log.close()
