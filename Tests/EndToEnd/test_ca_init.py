"""Issue 12: `latchkey ca init` makes the interception CA, and `check` validates an `intercept:` block.

The CA is inspected with the openssl CLI, not with Latchkey's own code: key type and curve, CA:TRUE with
pathlen 0 and key usage (both critical), a self-signature that verifies, ten years of validity, file
modes, and the refusal to overwrite without --force."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
from pathlib import Path

from latchkey_e2e import run_latchkey_cli


def openssl(*args: str) -> str:
    done = subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout


def ca_init(directory: Path, *extra: str):
    return run_latchkey_cli(["ca", "init", "--out", str(directory), *extra])


def key_lines(key: Path) -> list[str]:
    return [line for line in key.read_text().splitlines() if line and not line.startswith("-----")]


def test_ca_init_makes_a_p256_ca_that_signs_only_leaves(tmp_path):
    out = tmp_path / "new" / "ca"  # missing parents are created
    done = ca_init(out)
    assert done.returncode == 0, done.stderr
    crt, key = out / "ca.crt", out / "ca.key"
    assert stat.S_IMODE(crt.stat().st_mode) == 0o644
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert not [p.name for p in out.iterdir() if ".tmp-" in p.name]

    text = openssl("x509", "-in", str(crt), "-noout", "-text")
    assert "ASN1 OID: prime256v1" in text
    assert "X509v3 Basic Constraints: critical\n                CA:TRUE, pathlen:0" in text
    assert "X509v3 Key Usage: critical\n                Certificate Sign, CRL Sign" in text
    assert "X509v3 Subject Key Identifier" in text
    expected_name = f"Latchkey interception CA {socket.gethostname()}"[:64]
    assert openssl("x509", "-in", str(crt), "-noout", "-subject").strip() == f"subject=CN = {expected_name}"
    assert openssl("x509", "-in", str(crt), "-noout", "-issuer").strip() == f"issuer=CN = {expected_name}"
    assert openssl("verify", "-CAfile", str(crt), str(crt)).strip().endswith(": OK")
    # The key belongs to the certificate.
    assert openssl("pkey", "-in", str(key), "-pubout") == openssl("x509", "-in", str(crt), "-noout", "-pubkey")
    # Ten years: still valid in 9.9 years, expired in 10.1.
    day = 86400
    subprocess.run(["openssl", "x509", "-in", str(crt), "-noout", "-checkend", str(int(9.9 * 365 * day))], check=True)
    assert subprocess.run(["openssl", "x509", "-in", str(crt), "-noout", "-checkend", str(int(10.1 * 365 * day))],
                          capture_output=True).returncode == 1

    printed = done.stdout
    fingerprint = openssl("x509", "-in", str(crt), "-noout", "-fingerprint", "-sha256").strip().split("=", 1)[1]
    assert fingerprint in printed
    for hint in ("--cacert", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS", "keytool -importcert",
                 "JAVA_TOOL_OPTIONS", "update-ca-certificates", "intercept: false", "3650 days"):
        assert hint in printed, hint
    assert f"intercept:\n    ca_cert: {crt}\n    ca_key: {key}" in printed
    assert not any(line in printed + done.stderr for line in key_lines(key))


def test_ca_init_refuses_to_overwrite_without_force(tmp_path):
    assert ca_init(tmp_path).returncode == 0
    crt, key = tmp_path / "ca.crt", tmp_path / "ca.key"
    before = (crt.read_bytes(), key.read_bytes())

    again = ca_init(tmp_path)
    assert again.returncode == 1
    assert "exists; pass --force" in again.stderr
    assert (crt.read_bytes(), key.read_bytes()) == before

    key.chmod(0o644)  # someone loosened it: --force writes the new key 0600 again
    forced = ca_init(tmp_path, "--force", "--name", "Team CA", "--days", "30")
    assert forced.returncode == 0, forced.stderr
    assert crt.read_bytes() != before[0] and key.read_bytes() != before[1]
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert openssl("x509", "-in", str(crt), "-noout", "-subject").strip() == "subject=CN = Team CA"
    assert subprocess.run(["openssl", "x509", "-in", str(crt), "-noout", "-checkend", str(31 * 86400)],
                          capture_output=True).returncode == 1


def test_ca_init_refuses_a_file_as_directory_and_bad_options(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    done = ca_init(blocker)
    assert done.returncode == 1 and "is not a directory" in done.stderr
    assert ca_init(tmp_path / "d", "--name", "x" * 65).returncode == 1
    assert ca_init(tmp_path / "e", "--days", "0").returncode == 1


def intercept_config(crt: Path, key: Path) -> str:
    return f"""\
listen: 127.0.0.1:0
admin: 127.0.0.1:0
intercept:
  ca_cert: {crt}
  ca_key: {key}
  leaf_validity: 12h
routes:
  - host: api.example
    upstream: https://api.example
  - host: pinned.example
    upstream: https://pinned.example
    intercept: false
"""


def test_check_accepts_the_new_ca_and_never_prints_its_key(tmp_path):
    assert ca_init(tmp_path).returncode == 0
    crt, key = tmp_path / "ca.crt", tmp_path / "ca.key"
    config = tmp_path / "proxy.conf"
    config.write_text(intercept_config(crt, key))
    done = run_latchkey_cli(["check", "--offline", "--config", str(config)])
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"intercept: ca_cert={crt} ca_key={key} leaf_validity=12h" in done.stdout
    assert "intercept=false" in done.stdout
    assert not any(line in done.stdout + done.stderr for line in key_lines(key))


def test_check_reports_a_key_of_another_ca_at_ca_key(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    assert ca_init(one).returncode == 0 and ca_init(two).returncode == 0
    config = tmp_path / "proxy.conf"
    text = intercept_config(one / "ca.crt", two / "ca.key")
    config.write_text(text)
    done = run_latchkey_cli(["check", "--offline", "--config", str(config)])
    out = done.stdout + done.stderr
    assert done.returncode != 0, out
    line = text.splitlines().index(f"  ca_key: {two / 'ca.key'}") + 1
    assert f"{config}:{line}:11: intercept.ca_key: the CA key does not belong to the CA certificate" in out
    assert not any(k in out for k in key_lines(two / "ca.key") + key_lines(one / "ca.key"))


def test_check_reports_a_certificate_that_is_not_a_ca_at_ca_cert(tmp_path):
    crt, key = tmp_path / "leaf.crt", tmp_path / "leaf.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-days", "2", "-subj", "/CN=leaf", "-addext", "basicConstraints=critical,CA:FALSE",
                    "-keyout", str(key), "-out", str(crt)], check=True, capture_output=True)
    config = tmp_path / "proxy.conf"
    text = intercept_config(crt, key)
    config.write_text(text)
    done = run_latchkey_cli(["check", "--offline", "--config", str(config)])
    out = done.stdout + done.stderr
    assert done.returncode != 0, out
    line = text.splitlines().index(f"  ca_cert: {crt}") + 1
    assert f"{config}:{line}:12: intercept.ca_cert: the certificate '/CN=leaf' is not a CA" in out


def test_check_reports_an_unreadable_ca_file(tmp_path):
    config = tmp_path / "proxy.conf"
    config.write_text(intercept_config(tmp_path / "missing.crt", tmp_path / "missing.key"))
    done = run_latchkey_cli(["check", "--offline", "--config", str(config)])
    out = done.stdout + done.stderr
    assert done.returncode != 0
    assert f"intercept.ca_cert: cannot read '{tmp_path / 'missing.crt'}': no such file" in out
    assert f"intercept.ca_key: cannot read '{tmp_path / 'missing.key'}': no such file" in out
