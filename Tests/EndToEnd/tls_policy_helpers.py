"""Peers for the TLS policy tests (issue 16): an nginx with a TLS 1.2-only server pinned to one cipher and
a TLS 1.2/1.3 server that asks for a client certificate and logs its serial, and client certificates
signed by the run's CA with chosen serials."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import textwrap
from pathlib import Path

from latchkey_e2e import free_port, nginx_binary, run_openssl, stop_process, wait_for_port, wait_until

# The run's server certificate has a P-256 key: ECDSA suites are the ones it can use.
TLS12_ONLY_CIPHER = "ECDHE-ECDSA-AES128-GCM-SHA256"
OTHER_TLS12_CIPHER = "ECDHE-ECDSA-AES256-GCM-SHA384"

ECHO = ('{"protocol":"$ssl_protocol","cipher":"$ssl_cipher","client_serial":"$ssl_client_serial",'
        '"client_verify":"$ssl_client_verify"}')


class PolicyNginx:
    """`tls12_port`: TLSv1.2 only, one cipher. `mtls_port`: TLSv1.2 and 1.3, asks for a client certificate
    (verified against the run's CA, optional) and writes `$ssl_client_serial` to `access.log`."""

    def __init__(self, workdir: Path, pki):
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.dir / sub).mkdir(exist_ok=True)
        self.tls12_port = free_port()
        self.mtls_port = free_port()
        self.access_log = self.dir / "access.log"
        user = "user root;\n" if os.geteuid() == 0 else ""
        location = f"location / {{ default_type application/json; return 200 '{ECHO}\\n'; }}"
        conf = f"""{user}worker_processes 1;
pid {self.dir}/nginx.pid;
error_log {self.dir}/error.log info;
events {{ worker_connections 256; }}
http {{
    log_format serial '$server_port $ssl_protocol $ssl_client_serial $connection';
    client_body_temp_path {self.dir}/client_body;
    proxy_temp_path {self.dir}/proxy;
    fastcgi_temp_path {self.dir}/fastcgi;
    uwsgi_temp_path {self.dir}/uwsgi;
    scgi_temp_path {self.dir}/scgi;
    access_log {self.access_log} serial;
    server {{
        listen 127.0.0.1:{self.tls12_port} ssl;
        server_name localhost;
        ssl_certificate {pki.server_cert};
        ssl_certificate_key {pki.server_key};
        ssl_protocols TLSv1.2;
        ssl_ciphers {TLS12_ONLY_CIPHER};
        {location}
    }}
    server {{
        listen 127.0.0.1:{self.mtls_port} ssl;
        server_name localhost;
        ssl_certificate {pki.server_cert};
        ssl_certificate_key {pki.server_key};
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_client_certificate {pki.ca_cert};
        ssl_verify_client optional;
        {location}
    }}
}}
"""
        (self.dir / "nginx.conf").write_text(conf)
        self._log = open(self.dir / "nginx.out", "wb")
        self.proc = subprocess.Popen(
            [nginx_binary(), "-p", str(self.dir), "-e", str(self.dir / "error.log"),
             "-c", str(self.dir / "nginx.conf"), "-g", "daemon off;"],
            stdout=self._log, stderr=subprocess.STDOUT)
        wait_for_port(self.tls12_port, proc=self.proc)
        wait_for_port(self.mtls_port, proc=self.proc)

    def serials_logged(self) -> list[tuple[str, str]]:
        """(client serial, nginx connection number) per request to the mTLS server, in order."""
        if not self.access_log.exists():
            return []
        out = []
        for line in self.access_log.read_text().splitlines():
            port, _protocol, serial, connection = line.split(" ")
            if int(port) == self.mtls_port:
                out.append((serial, connection))
        return out

    def wait_for_serial_count(self, count: int) -> list[tuple[str, str]]:
        return wait_until(lambda: (s := self.serials_logged()) and len(s) >= count and s, what="nginx access log line")

    def stop(self):
        stop_process(self.proc, grace=10, sig=signal.SIGQUIT)
        self._log.close()


def make_client_certificate(pki, directory: Path, name: str, serial: int) -> tuple[Path, Path]:
    """A clientAuth certificate for CN=`name` with `serial`, signed by the run's CA: (cert, key) paths."""
    directory.mkdir(parents=True, exist_ok=True)
    ext = directory / "client.ext"
    ext.write_text(textwrap.dedent("""\
        basicConstraints = CA:FALSE
        keyUsage = critical, digitalSignature
        extendedKeyUsage = clientAuth
        """))
    run_openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=directory)
    run_openssl("x509", "-req", "-in", f"{name}.csr", "-CA", str(pki.ca_cert), "-CAkey", str(pki.ca_key),
                "-set_serial", hex(serial), "-out", f"{name}.crt", "-days", "2", "-extfile", "client.ext",
                cwd=directory)
    return directory / f"{name}.crt", directory / f"{name}.key"


def replace_file(path: Path, content: bytes) -> None:
    """Atomically replaces `path` (a temporary file renamed over it, as cert-manager and editors do)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(content)
    os.replace(tmp, path)


def detail(reply) -> dict:
    return json.loads(reply.body)
