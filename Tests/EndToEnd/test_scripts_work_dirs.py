"""scripts/lib/common.sh's scratch directories: a benchmark or soak that succeeds removes its work files (a
600-second soak wrote 9 GB of access log, and runs left behind filled the disk); one that fails keeps them
to be read, and so does LK_KEEP_WORK=1."""

from __future__ import annotations

import os
import subprocess

import pytest

from latchkey_e2e import REPO_ROOT

COMMON = REPO_ROOT / "scripts" / "lib" / "common.sh"


def run_script(tmp_path, exit_status, keep=None):
    """A script that makes a work dir, writes a log into it and exits with `exit_status`."""
    env = dict(os.environ, LK_WORK_ROOT=str(tmp_path / "work"))
    env.pop("LK_KEEP_WORK", None)
    if keep is not None:
        env["LK_KEEP_WORK"] = keep
    script = f"""
        source {COMMON}
        lk_trap_cleanup
        lk_work_dir soak
        echo "$work"
        echo "access lines" >"$work/latchkey.log"
        exit {exit_status}
    """
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env, timeout=30)
    assert result.returncode == exit_status, result.stderr
    work = result.stdout.strip().splitlines()[0]
    assert work.startswith(str(tmp_path / "work" / "soak."))
    return work, result.stderr


def test_a_run_that_succeeds_removes_its_work_files(tmp_path):
    work, stderr = run_script(tmp_path, 0)
    assert not os.path.exists(work)
    assert "work files kept" not in stderr


@pytest.mark.parametrize("status", [1, 130])
def test_a_run_that_fails_keeps_its_work_files_and_says_where(tmp_path, status):
    work, stderr = run_script(tmp_path, status)
    with open(os.path.join(work, "latchkey.log")) as log:
        assert log.read() == "access lines\n"
    assert f"work files kept: {work}" in stderr


def test_lk_keep_work_keeps_the_files_of_a_run_that_succeeds(tmp_path):
    work, stderr = run_script(tmp_path, 0, keep="1")
    assert os.path.isfile(os.path.join(work, "latchkey.log"))
    assert f"work files kept: {work}" in stderr
