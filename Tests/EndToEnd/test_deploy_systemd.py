"""deploy/systemd/latchkey.service: systemd accepts it, it is hardened, and it runs real CLI flags.

`systemd-analyze verify` loads the unit the way systemd would (unknown keys, bad values, a missing
executable); `systemd-analyze security --offline=yes` scores its sandboxing. systemd is installed
with apt-get when missing (as root); only when that is impossible are these two tests skipped.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from deploy_files import DEPLOY, dockerfile_stages, exec_form, help_text, option_names, unit_file
from latchkey_e2e import latchkey_binary

UNIT = DEPLOY / "systemd" / "latchkey.service"
INSTALLED_BINARY = "/usr/local/bin/latchkey"
CONFIG_PATH = "/etc/latchkey/proxy.conf"
#: systemd-analyze security's 0 (best) .. 10 scale; 1.5 when this was written.
MAX_EXPOSURE = 2.0


def _install_systemd() -> str | None:
    """Why systemd-analyze cannot be had, or None once it is on PATH."""
    if shutil.which("systemd-analyze"):
        return None
    if os.geteuid() != 0:
        return "systemd-analyze is missing and installing systemd needs root"
    if shutil.which("apt-get") is None:
        return "systemd-analyze is missing and there is no apt-get"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "systemd"]
    done = subprocess.run(install, capture_output=True, text=True, timeout=600, env=env)
    if done.returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], capture_output=True, text=True, timeout=600, env=env)
        done = subprocess.run(install, capture_output=True, text=True, timeout=600, env=env)
    if shutil.which("systemd-analyze") is None:
        return f"apt-get install systemd failed: {(done.stderr or done.stdout).strip()[-400:]}"
    return None


@pytest.fixture(scope="module")
def systemd_analyze():
    reason = _install_systemd()
    if reason:
        pytest.skip(reason)
    return shutil.which("systemd-analyze")


@pytest.fixture
def testable_unit(tmp_path):
    """The unit with ExecStart*/ExecReload pointing at the built binary (verify checks it exists)."""
    path = tmp_path / "latchkey.service"
    path.write_text(UNIT.read_text().replace(INSTALLED_BINARY, os.path.realpath(latchkey_binary())))
    return path


@pytest.fixture(scope="module")
def unit():
    return unit_file(UNIT)


def test_systemd_analyze_verify_accepts_the_unit(systemd_analyze, testable_unit):
    done = subprocess.run([systemd_analyze, "verify", "--man=no", str(testable_unit)],
                          capture_output=True, text=True, timeout=120, cwd=testable_unit.parent)
    output = done.stdout + done.stderr
    # verify also reports on units this one pulls in (whatever this machine has); only ours counts.
    ours = [line for line in output.splitlines() if "latchkey.service" in line]
    assert done.returncode == 0 and not ours, output


def test_sandboxing_exposure_is_low(systemd_analyze, testable_unit):
    done = subprocess.run([systemd_analyze, "security", "--offline=yes", "--no-pager", str(testable_unit)],
                          capture_output=True, text=True, timeout=120, cwd=testable_unit.parent)
    m = re.search(r"Overall exposure level for latchkey\.service:\s*([\d.]+)", done.stdout + done.stderr)
    assert m, done.stdout + done.stderr
    assert float(m.group(1)) <= MAX_EXPOSURE, done.stdout


def test_type_notify_with_reload_and_stop_signals(unit):
    service = unit["Service"]
    assert service["Type"] == ["notify"]
    assert service["NotifyAccess"] == ["main"]
    assert service["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert service["KillSignal"] == ["SIGTERM"]
    assert unit["Install"]["WantedBy"] == ["multi-user.target"]


def test_secrets_come_from_an_optional_environment_file(unit):
    assert unit["Service"]["EnvironmentFile"] == ["-/etc/latchkey/latchkey.env"]
    example = (DEPLOY / "systemd" / "latchkey.env.example").read_text()
    entries = [line.lstrip("#") for line in example.splitlines() if re.match(r"#?[A-Za-z_]\w*=", line)]
    assert entries, "the example names no variable"
    for entry in entries:  # systemd's EnvironmentFile syntax, without shell features
        assert re.fullmatch(r"[A-Z_][A-Z0-9_]*=\S*", entry), f"not NAME=value: {entry!r}"


@pytest.mark.parametrize("key, value", [
    ("DynamicUser", "yes"),
    ("NoNewPrivileges", "yes"),
    ("ProtectSystem", "strict"),
    ("ProtectHome", "yes"),
    ("PrivateTmp", "yes"),
    ("PrivateDevices", "yes"),
    ("StateDirectory", "latchkey"),
    ("CapabilityBoundingSet", ""),
    ("AmbientCapabilities", ""),
    ("RestrictNamespaces", "yes"),
    ("MemoryDenyWriteExecute", "yes"),
    ("SystemCallArchitectures", "native"),
])
def test_hardening_setting(unit, key, value):
    assert unit["Service"].get(key) == [value], f"{key}= {unit['Service'].get(key)}"


def test_network_and_system_calls_are_restricted(unit):
    service = unit["Service"]
    families = " ".join(service["RestrictAddressFamilies"]).split()
    assert sorted(families) == ["AF_INET", "AF_INET6", "AF_UNIX"]
    assert "@system-service" in service["SystemCallFilter"]


def test_exec_lines_use_flags_the_cli_has(unit):
    service = unit["Service"]
    assert service["ExecStart"] == [f"{INSTALLED_BINARY} run --config {CONFIG_PATH}"]
    assert "--config" in option_names(help_text("run"))
    assert service["ExecStartPre"] == [f"{INSTALLED_BINARY} check --offline --config {CONFIG_PATH}"]
    assert {"--offline", "--config"} <= option_names(help_text("check"))


def test_unit_and_container_start_the_same_command():
    _, stages = dockerfile_stages()
    runtime = stages[-1]
    container = exec_form(runtime.last("ENTRYPOINT").arguments) + exec_form(runtime.last("CMD").arguments)
    assert unit_file(UNIT)["Service"]["ExecStart"] == [" ".join(container)]
