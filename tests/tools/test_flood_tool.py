"""tools/flood.py, CI-sized: one small flood against a live registry while
a legitimate registry and 3 nodes do a run; the report parses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

TOOL = Path(__file__).resolve().parents[2] / "tools" / "flood.py"
FIELDS = {
    "flood",
    "victim",
    "connections",
    "verdict",
    "exit_status",
    "run_seconds",
    "peak_rss_mb",
    "peak_fds",
    "warnings",
    "tracebacks",
    "flood_opened",
    "flood_closed_by_victim",
    "notes",
}


def test_a_small_idle_flood_reports_one_parsable_line() -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(TOOL),
            "--floods",
            "idle",
            "--connections",
            "8",
            "--nodes",
            "3",
            "--packets",
            "100",
            "--timeout",
            "30",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = done.stdout.splitlines()
    assert len(lines) == 1, done.stdout + done.stderr
    report = json.loads(lines[0])
    assert set(report) == FIELDS
    assert report["flood"] == "idle"
    assert report["victim"] == "registry"
    assert report["flood_opened"] >= 8
    assert report["peak_rss_mb"] > 0
    assert report["peak_fds"] >= 8
    # 8 idle strangers do not stop 3 nodes (today's code passes this too).
    assert report["verdict"] == "CORRECT", report
    assert done.returncode == 0
    assert report["tracebacks"] == 0
