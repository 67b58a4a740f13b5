"""scripts/lib/bench_normalize.py: the peer benchmark's proxy CPU per request divided by the upstream's in
the same repetition, so that a machine-wide slow repetition does not make one proxy look dearer."""

from __future__ import annotations

import csv
import subprocess
import sys

from latchkey_e2e import REPO_ROOT

SCRIPT = REPO_ROOT / "scripts" / "lib" / "bench_normalize.py"
FIELDS = ["target", "mode", "conns", "rep", "cpu_s_per_10k", "upstream_cpu_s_per_10k"]


def write_runs(path, rows):
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=FIELDS)
        writer.writeheader()
        for row in rows:
            writer.writerow(dict(zip(FIELDS, row)))


def run(path):
    return subprocess.run([sys.executable, str(SCRIPT), str(path)], capture_output=True, text=True, timeout=30)


def test_a_slow_repetition_cancels_out_and_proxies_compare_by_their_own_cost(tmp_path):
    runs = tmp_path / "runs.csv"
    write_runs(
        runs,
        [
            # The machine ran a quarter slower in rep 2: raw CPU rises for everyone, upstream included.
            ("direct", "forward", 16, 1, "", ""),
            ("nginx", "forward", 16, 1, "0.160", "0.080"),
            ("latchkey", "forward", 16, 1, "0.168", "0.080"),
            ("nginx", "forward", 16, 2, "0.200", "0.100"),
            ("latchkey", "forward", 16, 2, "0.210", "0.100"),
            ("nginx", "forward", 16, 3, "0.162", "0.081"),
            ("latchkey", "forward", 16, 3, "0.1701", "0.081"),
        ],
    )
    result = run(runs)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "| forward | 16 | nginx | 2.000 | 2.000–2.000 | 1.000 |" in lines
    # 2.1 in every repetition: 5 % dearer than nginx, whichever repetition was slow.
    assert "| forward | 16 | latchkey | 2.100 | 2.100–2.100 | 1.050 |" in lines
    assert not any("direct" in line for line in lines)


def test_runs_without_upstream_cpu_are_an_error_not_an_empty_table(tmp_path):
    runs = tmp_path / "runs.csv"
    write_runs(runs, [("nginx", "route", 256, 1, "0.170", "")])
    result = run(runs)
    assert result.returncode != 0
    assert "no repetition has both" in result.stderr
