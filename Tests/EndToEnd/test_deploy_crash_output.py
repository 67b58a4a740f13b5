"""Issue 9: crash output never contains secrets. Every deploy file runs Latchkey with the Swift
backtracer's register and image dumps off (a register can hold a secret the process was handling), and
that setting really keeps registers out of a crash report of the built binary."""

from __future__ import annotations

import signal
import subprocess

from deploy_files import DEPLOY, SWIFT_BACKTRACE, dockerfile_stages, unit_file
from latchkey_e2e import (
    REPO_ROOT, TIMEOUT, clean_env, latchkey_binary, skip_under_sanitizer, wait_until, write_file)


def test_systemd_unit_sets_it():
    assert f"SWIFT_BACKTRACE={SWIFT_BACKTRACE}" in unit_file()["Service"].get("Environment", [])


def test_docker_runtime_stage_sets_it():
    _, stages = dockerfile_stages()
    runtime = stages[-1]
    assert any(f"SWIFT_BACKTRACE={SWIFT_BACKTRACE}" in i.arguments.split() for i in runtime.all("ENV")), runtime


def test_kubernetes_sidecar_sets_it():
    import yaml
    docs = [d for d in yaml.safe_load_all((DEPLOY / "kubernetes" / "deployment.yaml").read_text()) if d]
    pod = next(d for d in docs if d.get("kind") == "Deployment")["spec"]["template"]["spec"]
    sidecar = next(c for c in pod["initContainers"] if c["name"] == "latchkey")
    env = {e["name"]: e.get("value") for e in sidecar.get("env", [])}
    assert env.get("SWIFT_BACKTRACE") == SWIFT_BACKTRACE


def test_scripts_run_never_dumps_registers():
    text = (REPO_ROOT / "scripts" / "run").read_text()
    assert 'SWIFT_BACKTRACE="${SWIFT_BACKTRACE:-enable=no,registers=none}"' in text


def crash_report(tmp_path, backtrace: str, binary: str | None = None) -> str:
    """Runs the binary (`LATCHKEY_BIN` unless given) with SWIFT_BACKTRACE=`backtrace`, crashes it with
    SIGSEGV once it listens, and returns everything it printed."""
    config = tmp_path / "proxy.conf"
    write_file(config, "listen: 127.0.0.1:0\nadmin: off\n")
    out = tmp_path / f"out-{len(backtrace)}.txt"
    with out.open("wb") as sink:
        proc = subprocess.Popen([binary or latchkey_binary(), "run", "--config", str(config)], stdout=sink,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=clean_env({"SWIFT_BACKTRACE": backtrace}))
        try:
            wait_until(lambda: b"proxy listening on" in out.read_bytes(), what="proxy listening")
            proc.send_signal(signal.SIGSEGV)
            # A SIGSEGV sent by kill does not fault again when the handler returns after the report,
            # so the process would go on: wait for the report's end, then stop it.
            wait_until(lambda: b"Backtrace took" in out.read_bytes() or proc.poll() is not None,
                       timeout=TIMEOUT * 3, what="crash report")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return out.read_text(errors="replace")


@skip_under_sanitizer
def test_the_setting_keeps_registers_out_of_a_real_crash(tmp_path):
    report = crash_report(tmp_path, SWIFT_BACKTRACE)
    assert "crashed" in report, report[-3000:]  # a backtrace still helps whoever debugs the crash
    assert "Registers" not in report and "rax" not in report, report[-3000:]


@skip_under_sanitizer
def test_without_it_the_backtracer_would_dump_registers(tmp_path):
    """The control: the runtime's default does print registers (so the test above can fail)."""
    report = crash_report(tmp_path, "enable=yes,interactive=no")
    assert "Registers" in report or "rax" in report, report[-3000:]
