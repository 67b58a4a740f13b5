"""Issue 14 §6, §7: `latchkey check` catches what `run` refuses (a host name in `listen`, `admin` on
the listen port), `--skip-secrets` validates a config whose secrets are absent (CI), and the mistakes
people make get a message that names the fix, with file, line and column."""

from __future__ import annotations

import pytest

from latchkey_e2e import run_latchkey_cli, wait_until

MESSAGES = [
    # (config, line:column, what the message must say)
    ("listen: http://127.0.0.1:3128\n", "1:9", ["listen:", "without 'http://'", "127.0.0.1:3128"]),
    ("routes:\n  - host: https://api.example\n    upstream: https://api.example\n", "2:11",
     ["routes[0].host:", "not a URL", "drop 'https://'", "upstream"]),
    ("routes:\n\t- host: api.example\n", "2:1", ["tab character", "spaces"]),
    ("routes:\n  - host: *.example.com\n    upstream: https://api.example\n", "2:12",
     ["YAML alias", "quote it", '"*.example.com"']),
    ("connections:\n  x: {type: bearer, token: {{secret:x}}}\n", "2:28",
     ["connections.x.token:", "quote the whole value", 'token: "{{secret:NAME}}"']),
    ("connections:\n  x:\n    type: bearer\n    token: {{secret:x}}\n", "4:12", ["quote the whole value"]),
    ("listen: proxy.example.com:3128\n", "1:9", ["not a host name", "127.0.0.1", "localhost"]),
    ("listen: 127.0.0.1:3128\nadmin: 127.0.0.1:3128\n", "2:8", ["admin:", "its own port", "127.0.0.1:9901"]),
    ("listen: localhost:3128\nadmin: 0.0.0.0:3128\n", "2:8", ["its own port"]),
]


@pytest.mark.parametrize("config, place, words", MESSAGES, ids=[
    "listen-url", "host-url", "tab", "unquoted-star", "unquoted-template-flow", "unquoted-template-block",
    "listen-host-name", "admin-equals-listen", "admin-wildcard-overlaps-listen"])
def test_check_names_the_fix(tmp_path, config, place, words):
    path = tmp_path / "proxy.conf"
    path.write_text(config)
    done = run_latchkey_cli(["check", "--offline", "--config", str(path)])
    assert done.returncode == 1, done.stdout + done.stderr
    first = done.stderr.strip().splitlines()[0]
    assert first.startswith(f"{path}:{place}: "), first
    for word in words:
        assert word in first, first
    assert "cannot start any token" not in first.split(" (YAML:")[0]  # jargon only after the fix, if at all


def test_run_refuses_what_check_refuses(tmp_path):
    """A config check passes must start; one it refuses must not: both give the same message."""
    path = tmp_path / "proxy.conf"
    path.write_text("listen: 127.0.0.1:0\nadmin: 127.0.0.1:0\n")  # two kernel-chosen ports never collide
    assert run_latchkey_cli(["check", "--offline", "--config", str(path)]).returncode == 0
    path.write_text("listen: proxy.example.com:0\n")
    done = run_latchkey_cli(["run", "--config", str(path)])
    assert done.returncode != 0
    assert "not a host name" in done.stderr and f"{path}:1:9" in done.stderr, done.stderr


def test_skip_secrets_validates_structure_without_reading_secrets(tmp_path):
    bad_secret = tmp_path / "partner-password"
    bad_secret.write_text("line one\nline two\n")  # a header-unsafe value: reading it would fail the check
    config = tmp_path / "proxy.conf"
    config.write_text(f"""\
secrets:
  partner: {{file: {bad_secret}}}
  missing: {{file: {tmp_path}/not-there}}
  from_env: {{env: LATCHKEY_TEST_UNSET_VARIABLE}}
state_dir: {tmp_path}/state
state_key: ${{LATCHKEY_TEST_UNSET_STATE_KEY}}
connections:
  partner: {{type: basic, username: svc, password: "{{{{secret:partner}}}}"}}
  orders: {{type: bearer, token: "{{{{secret:missing}}}}-{{{{secret:from_env}}}}"}}
  api:
    type: oauth2_client_credentials
    token_url: https://auth.example/token
    client_id: app
    client_secret: "${{LATCHKEY_TEST_UNSET_SECRET}}"
    tls: {{ca_file: {tmp_path}/no-ca.pem}}
routes:
  - {{host: api.partner.example, upstream: https://api.partner.example, connection: partner}}
  - {{host: orders.example, upstream: https://orders.example, connection: orders}}
  - {{host: api.example, upstream: https://api.example, connection: api}}
""")
    offline = run_latchkey_cli(["check", "--offline", "--config", str(config)])
    assert offline.returncode == 1, offline.stdout + offline.stderr  # it reads the secrets, which fail

    done = run_latchkey_cli(["check", "--skip-secrets", "--config", str(config)])
    assert done.returncode == 0, done.stdout + done.stderr
    assert "secrets not read" in done.stdout, done.stdout
    for name in ("partner", "orders", "api"):
        assert name in done.stdout
    assert "line one" not in done.stdout + done.stderr

    # References and structure are still checked.
    config.write_text(config.read_text().replace("connection: api}", "connection: apii}")
                      .replace("{{secret:missing}}", "{{secret:mising}}"))
    broken = run_latchkey_cli(["check", "--skip-secrets", "--config", str(config)])
    assert broken.returncode == 1, broken.stdout
    assert "unknown connection 'apii'" in broken.stderr and "mising" in broken.stderr, broken.stderr
