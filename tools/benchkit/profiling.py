"""Profiling a node process with py-spy (``--profile``): the command line
that wraps a node, and a summary of py-spy's raw stacks per function."""

from __future__ import annotations

import re
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchkit import ROOT
from benchkit.workloads import Case

# py-spy samples per second (--profile).
PROFILE_RATE = 500


def py_spy_binary() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    if beside.exists():
        return str(beside)
    return shutil.which("py-spy")


def py_spy_argv(output: Path) -> list[str]:
    binary = py_spy_binary()
    if binary is None:
        raise OSError("py-spy is not installed (pip install py-spy)")
    return [
        binary,
        "record",
        "--format",
        "raw",
        "--rate",
        str(PROFILE_RATE),
        "--nonblocking",
        "--output",
        str(output),
    ]


def _function(frame: str) -> str:
    """``name (file:line)`` -> ``name (file)``: one entry per function."""
    m = re.match(r"^(.*) \((.*?)(?::\d+)?\)$", frame)
    if not m:
        return frame
    name, path = m.groups()
    for marker in ("site-packages/", "/work/main/", str(ROOT) + "/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{name} ({path})"


def summarise_profile(raws: Sequence[Path], top: int = 15) -> dict[str, Any]:
    """Self and inclusive sample counts per function from py-spy's raw
    (collapsed-stack) output; start-up (imports) is counted apart."""
    self_counts: dict[str, int] = {}
    incl_counts: dict[str, int] = {}
    total = startup = 0
    lines = [line for raw in raws for line in raw.read_text().splitlines()]
    for line in lines:
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [f for f in stack.split(";") if f and not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        total += count
        if any("importlib._bootstrap" in f for f in frames):
            startup += count
            continue
        names = [_function(f) for f in frames]
        self_counts[names[-1]] = self_counts.get(names[-1], 0) + count
        for name in set(names):
            incl_counts[name] = incl_counts.get(name, 0) + count
    running = total - startup

    def ranked(counts: dict[str, int]) -> list[tuple[str, int, float]]:
        items = sorted(counts.items(), key=lambda kv: -kv[1])[:top]
        return [(name, c, 100.0 * c / running if running else 0.0) for name, c in items]

    return {
        "processes": len(raws),
        "samples": total,
        "startup_samples": startup,
        "self": ranked(self_counts),
        "inclusive": ranked(
            {k: v for k, v in incl_counts.items() if "trio_dht/" in k or "trio/" in k}
        ),
    }


def profile_text(case: Case, summary: dict[str, Any]) -> str:
    lines = [
        (
            f"py-spy profile of {summary['processes']} node process(es), {case.label} "
            f"({summary['samples']} samples at {PROFILE_RATE} Hz, "
            f"{summary['startup_samples']} of them start-up imports, excluded below; "
            "idle time is not sampled)"
        ),
        "",
        "top functions by own time (% of non-start-up samples):",
    ]
    lines += [f"  {pct:5.1f}%  {name}" for name, _, pct in summary["self"]]
    lines += ["", "trio and trio_dht functions by inclusive time:"]
    lines += [f"  {pct:5.1f}%  {name}" for name, _, pct in summary["inclusive"]]
    return "\n".join(lines)
