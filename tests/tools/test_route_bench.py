"""The data-path microbenchmark still runs: one round, a line per dialect
with its four figures. Timings are printed, never asserted."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

TOOL = Path(__file__).resolve().parents[2] / "tools" / "route_bench.py"
LINE = re.compile(
    r"^(cs455|minichord)\s+route: fused\s+\d+ ns/packet, generic\s+\d+"
    r"\s+originate: fused\s+\d+, generic\s+\d+$"
)


def test_route_bench_quick_prints_a_line_per_dialect() -> None:
    done = subprocess.run(
        [sys.executable, str(TOOL), "--quick"],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    matches = [LINE.match(line) for line in lines]
    assert [m[1] if m else line for m, line in zip(matches, lines, strict=True)] == [
        "cs455",
        "minichord",
    ], done.stdout
