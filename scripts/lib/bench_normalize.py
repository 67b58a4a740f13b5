#!/usr/bin/env python3
"""Proxy CPU per request measured against the upstream's, from a peer-benchmark `-runs.csv`.

On this shared machine the speed of both CPUs swings between repetitions: the same proxy costs 0.16 or
0.20 CPU-s per 10k requests from one 5-second point to the next, and the upstream nginx (the same
program answering the same requests on the other CPU) swings with it. Dividing each repetition's proxy
CPU per request by the upstream's in that repetition cancels the swing, so that proxies can be compared
on a few repetitions; the raw medians stay in the harness's own tables.

    bench_normalize.py RESULTS-runs.csv        # a Markdown section on standard output
"""

import csv
import statistics
import sys
from collections import defaultdict


def ratios(rows):
    """(mode, connections, target) -> the repetitions' proxy/upstream CPU-per-request ratios."""
    found = defaultdict(list)
    for row in rows:
        proxy, upstream = row.get("cpu_s_per_10k"), row.get("upstream_cpu_s_per_10k")
        if row.get("target") == "direct" or not proxy or not upstream or float(upstream) <= 0:
            continue
        found[(row["mode"], int(row["conns"]), row["target"])].append(float(proxy) / float(upstream))
    return found


def section(rows, reference="nginx"):
    found = ratios(rows)
    lines = [
        "## CPU per request against the upstream's",
        "",
        "Each repetition's proxy CPU per request divided by the upstream nginx's in the same repetition (the",
        "machine's speed swings cancel out); median over repetitions, and relative to " + reference + ".",
        "",
        "| mode | conns | target | proxy ÷ upstream CPU | min–max | × " + reference + " |",
        "|---|---:|---|---:|---:|---:|",
    ]
    for mode, conns in sorted({(m, c) for m, c, _ in found}):
        base = found.get((mode, conns, reference))
        base_median = statistics.median(base) if base else None
        for target in sorted(t for m, c, t in found if (m, c) == (mode, conns)):
            values = found[(mode, conns, target)]
            median = statistics.median(values)
            relative = f"{median / base_median:.3f}" if base_median else "-"
            lines.append(
                f"| {mode} | {conns} | {target} | {median:.3f} | {min(values):.3f}–{max(values):.3f} | {relative} |")
    return "\n".join(lines) + "\n"


def main(argv):
    if len(argv) != 2:
        sys.exit(__doc__)
    with open(argv[1], newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not ratios(rows):
        sys.exit(f"{argv[1]}: no repetition has both the proxy's and the upstream's CPU per request")
    sys.stdout.write(section(rows))


if __name__ == "__main__":
    main(sys.argv)
