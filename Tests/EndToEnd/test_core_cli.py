"""`latchkey check` and `latchkey --version`."""

import re

from latchkey_e2e import run_latchkey_cli

TOKEN = "e2e-cli-token-0badc0de99"
PASSWORD = "e2e-cli-password-77aa"

VALID = f"""\
listen: 127.0.0.1:0
admin: 127.0.0.1:0
unmatched: deny
connections:
  api-bearer:
    type: bearer
    token: ${{E2E_TOKEN}}
  api-basic:
    type: basic
    username: bob
    password: {PASSWORD}
routes:
  - name: route-alpha
    host: alpha.local
    upstream: http://127.0.0.1:9
    connection: api-bearer
  - name: route-beta
    path_prefix: /beta
    strip_prefix: true
    upstream: http://127.0.0.1:9
    connection: api-basic
"""


def output(done) -> str:
    return done.stdout + done.stderr


def test_version():
    done = run_latchkey_cli(["--version"])
    assert done.returncode == 0, output(done)
    assert done.stdout.strip() or done.stderr.strip()


def test_check_valid_config_lists_routes_and_connections(tmp_path):
    path = tmp_path / "valid.yaml"
    path.write_text(VALID)
    done = run_latchkey_cli(["check", "--config", str(path)], env={"E2E_TOKEN": TOKEN})
    assert done.returncode == 0, output(done)
    for name in ("route-alpha", "route-beta", "api-bearer", "api-basic"):
        assert name in done.stdout, f"{name} missing from check output:\n{done.stdout}"
    assert TOKEN not in output(done)
    assert PASSWORD not in output(done)


def test_check_unknown_key_names_file_line_and_suggests(tmp_path):
    path = tmp_path / "typo.yaml"
    text = VALID.replace("    path_prefix: /beta", "    pth_prefix: /beta")
    path.write_text(text)
    line = text.splitlines().index("    pth_prefix: /beta") + 1
    done = run_latchkey_cli(["check", "--config", str(path)], env={"E2E_TOKEN": TOKEN})
    out = output(done)
    assert done.returncode != 0, out
    assert re.search(re.escape(str(path)) + rf":{line}\b", out), f"want {path}:{line} in:\n{out}"
    assert "pth_prefix" in out
    assert "path_prefix" in out  # the suggestion
    assert TOKEN not in out and PASSWORD not in out


def test_check_unresolvable_secret_names_it(tmp_path):
    path = tmp_path / "missing-secret.yaml"
    path.write_text(VALID.replace("${E2E_TOKEN}", "${LATCHKEY_E2E_SURELY_UNSET_VAR}"))
    done = run_latchkey_cli(["check", "--config", str(path)])
    out = output(done)
    assert done.returncode != 0, out
    assert "LATCHKEY_E2E_SURELY_UNSET_VAR" in out
    assert PASSWORD not in out


def test_check_broken_config_never_prints_secrets(tmp_path):
    """An error right next to a secret must not quote the secret's line."""
    path = tmp_path / "broken.yaml"
    path.write_text(VALID.replace("    username: bob\n", "    username: bob\n    bogus_key: 1\n"))
    done = run_latchkey_cli(["check", "--config", str(path)], env={"E2E_TOKEN": TOKEN})
    out = output(done)
    assert done.returncode != 0, out
    assert "bogus_key" in out
    assert TOKEN not in out and PASSWORD not in out


def test_run_with_broken_config_exits_nonzero(tmp_path):
    path = tmp_path / "typo.yaml"
    path.write_text(VALID.replace("    path_prefix: /beta", "    pth_prefix: /beta"))
    done = run_latchkey_cli(["run", "--config", str(path)], env={"E2E_TOKEN": TOKEN})
    assert done.returncode != 0
    assert "pth_prefix" in output(done)
