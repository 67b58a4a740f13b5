"""Issue 14 §5: scripts/install on a clean prefix. The installed binary runs with only the system's
libraries (no Swift toolchain path in `ldd`, every library from a Debian package the systemd README
names), the unit points at the installed paths, and a second install keeps the operator's config.

It builds a release binary with --static-swift-stdlib in .build-static (minutes when cold);
LATCHKEY_INSTALL_NO_BUILD=1 installs the binary an earlier scripts/install built."""

from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path

import pytest

from deploy_files import SWIFT_BACKTRACE
from latchkey_e2e import REPO_ROOT
from test_deploy_crash_output import crash_report

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

#: What deploy/systemd/README.md promises a host needs, by Debian package.
SYSTEMD_README = REPO_ROOT / "deploy" / "systemd" / "README.md"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def install(prefix: Path, etc: Path) -> subprocess.CompletedProcess:
    args = ["bash", str(REPO_ROOT / "scripts" / "install"), "--prefix", str(prefix), "--sysconfdir", str(etc)]
    if os.environ.get("LATCHKEY_INSTALL_NO_BUILD"):
        args.append("--no-build")
    done = subprocess.run(args, capture_output=True, text=True, timeout=1700, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    root = tmp_path_factory.mktemp("install")
    prefix, etc = root / "prefix", root / "etc"
    done = install(prefix, etc)
    return prefix, etc, done


def test_the_installed_binary_runs_with_only_system_libraries(installed):
    prefix, _, _ = installed
    binary = prefix / "bin" / "latchkey"
    assert mode(binary) == 0o755
    # No PATH to the toolchain, no LD_LIBRARY_PATH: what a fresh host has.
    done = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=30,
                          env={"PATH": "/usr/bin:/bin"}, cwd="/")
    assert done.returncode == 0, done.stderr
    assert re.fullmatch(r"\S*\d+\.\d+\.\d+\S*\s*", done.stdout), done.stdout

    ldd = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, timeout=30).stdout
    assert "not found" not in ldd, ldd
    assert "swift" not in ldd.lower() and "/opt/" not in ldd, f"a toolchain library at run time:\n{ldd}"
    libraries = re.findall(r"=>\s+(/\S+)", ldd)
    assert any("libssl" in lib for lib in libraries) and any("libnghttp2" in lib for lib in libraries), ldd
    packages = set()
    for library in libraries:
        owner = subprocess.run(["dpkg", "-S", os.path.realpath(library)], capture_output=True, text=True)
        if owner.returncode != 0:
            owner = subprocess.run(["dpkg", "-S", library], capture_output=True, text=True)
        assert owner.returncode == 0, f"{library} belongs to no Debian package"
        packages.add(owner.stdout.split(":")[0])
    readme = SYSTEMD_README.read_text()
    for package in packages:
        assert f"`{package}`" in readme, f"{package} is needed at run time but deploy/systemd/README.md does not name it"


def test_the_installed_binary_is_laid_out_for_a_small_resident_set(installed):
    """Package.swift's release link (docs/operations.md, "Memory"): packed relative relocations, no
    exported symbol table, and the functions of Sources/latchkey/link-order.txt at the front of the code,
    those the request path runs before the cold-code marker."""
    prefix, _, _ = installed
    binary = str(prefix / "bin" / "latchkey")
    sections = subprocess.run(["readelf", "-SW", binary], capture_output=True, text=True, check=True).stdout
    assert ".relr.dyn" in sections, "no DT_RELR: the 1.9 MiB relocation table is back"
    dynamic = subprocess.run(["readelf", "--dyn-syms", "-W", binary], capture_output=True, text=True, check=True)
    assert len(dynamic.stdout.splitlines()) < 2000, "the binary exports its own symbols again (-export-dynamic)"

    order = (REPO_ROOT / "Sources" / "latchkey" / "link-order.txt").read_text().split()
    listed = set(order)
    symbols = subprocess.run(["nm", "--defined-only", binary], capture_output=True, text=True, check=True).stdout
    addresses = {}
    for line in symbols.splitlines():
        fields = line.split(maxsplit=2)
        if len(fields) == 3 and fields[1] in "tTwW":
            addresses[fields[2]] = int(fields[0], 16)
    found = sorted(addresses[name] for name in listed if name in addresses)
    # Most names still exist: a file far out of date would no longer group anything (scripts/link-order).
    assert len(found) >= 0.9 * len(listed), f"only {len(found)} of {len(listed)} link-order names are in the binary"
    others = sorted(address for name, address in addresses.items() if name not in listed)
    # All of them before most of the rest (inside the front, other functions share their objects' sections).
    assert found[-1] < others[len(others) // 2], "the listed functions are not at the front"
    # What the request path runs comes before the marker from which a reload releases the code (ColdPages).
    marker = order.index("latchkey_cold_text_marker")
    request_path = [addresses[name] for name in order[:marker] if name in addresses]
    assert max(request_path) < addresses["latchkey_cold_text_marker"], "request-path code after the cold-code marker"


def test_the_unit_and_config_point_at_the_installed_paths(installed):
    prefix, etc, done = installed
    unit = prefix / "lib" / "systemd" / "system" / "latchkey.service"
    assert mode(unit) == 0o644
    text = unit.read_text()
    assert f"ExecStart={prefix}/bin/latchkey run --config {etc}/latchkey/proxy.conf" in text
    assert f"ExecStartPre={prefix}/bin/latchkey check --offline --config {etc}/latchkey/proxy.conf" in text
    assert "/usr/local/bin" not in text
    config, env_file = etc / "latchkey" / "proxy.conf", etc / "latchkey" / "latchkey.env"
    assert config.read_text() == (REPO_ROOT / "proxy.conf.example").read_text()
    assert mode(env_file) == 0o600, "the environment file holds secrets"
    for name in ("proxy.conf.example", "latchkey.env.example"):
        assert (prefix / "share" / "latchkey" / name).is_file(), name
    assert str(prefix / "bin" / "latchkey") in done.stdout  # says where it went
    # The installed binary validates the installed config (its secrets are not on this host).
    check = subprocess.run([str(prefix / "bin" / "latchkey"), "check", "--skip-secrets", "--config", str(config)],
                           capture_output=True, text=True, timeout=30, env={"PATH": "/usr/bin:/bin"})
    assert check.returncode == 0, check.stdout + check.stderr


def test_installing_again_keeps_the_operators_config(installed):
    prefix, etc, _ = installed
    config, env_file = etc / "latchkey" / "proxy.conf", etc / "latchkey" / "latchkey.env"
    config.write_text("listen: 127.0.0.1:3128\n# edited by the operator\n")
    env_file.write_text("PARTNER_PASSWORD=kept\n")
    done = install(prefix, etc)
    assert "# edited by the operator" in config.read_text()
    assert env_file.read_text() == "PARTNER_PASSWORD=kept\n"
    assert "kept" in done.stdout


def test_a_crash_of_the_installed_binary_prints_a_report_without_registers(installed, tmp_path):
    """The binary has the Swift runtime linked in: it runs the crash reporter from its own directory,
    where the install put it (without it: "unable to locate swift-backtrace" and no report)."""
    prefix, _, _ = installed
    assert mode(prefix / "bin" / "swift-backtrace") == 0o755
    report = crash_report(tmp_path, SWIFT_BACKTRACE, binary=str(prefix / "bin" / "latchkey"))
    assert "unable to locate swift-backtrace" not in report, report[-3000:]
    assert "crashed" in report, report[-3000:]
    assert "Registers" not in report and "rax" not in report, report[-3000:]
