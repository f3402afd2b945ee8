"""The benchmark tool still runs (tiny counts) and writes sound records.

Only the tool's plumbing is checked: every run correct, records complete.
Timing numbers are never asserted (see docs/BENCHMARKS.md).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "tools" / "bench.py"

# The quick run starts a few dozen Python processes; a slow or busy machine
# needs a minute or two, a hang must still end.
QUICK_TIMEOUT = 420

EXPECTED_KEYS = {
    "record", "workload", "wire", "mode", "registry", "nodes", "nr", "packets_per_node",
    "repeats", "completed", "correct", "sent", "received", "relayed", "total_hops",
    "start_to_verdict_s", "sending_s", "sending_measure", "delivered_pps", "hops_per_s",
    "relays_per_packet", "relays_theory", "relays_theory_exact", "peak_rss_mb",
    "mean_rss_mb", "cpu_run_s", "cpu_s", "setup_s", "quiescence", "errors", "runs", "machine",
}  # fmt: skip
MACHINE_KEYS = {"cores", "python", "trio", "trio_dht", "platform"}
SPREAD_KEYS = {"median", "min", "max", "values"}


def _env() -> dict[str, str]:
    env = dict(os.environ)
    for name in ("FORCE_COLOR", "TTY_INTERACTIVE", "TTY_COMPATIBLE", "COLUMNS", "LINES"):
        env.pop(name, None)
    return env


def test_help() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--help"],
        check=False, capture_output=True, text=True, timeout=60, env=_env(),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    for option in ("--quick", "--workload", "--wire", "--repeats", "--json"):
        assert option in done.stdout


def test_quick_run_writes_correct_records(tmp_path: Path) -> None:
    out = tmp_path / "bench.jsonl"
    done = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--plain", "--json", str(out)],
        check=False, capture_output=True, text=True, timeout=QUICK_TIMEOUT, env=_env(),
        cwd=tmp_path,
    )  # fmt: skip
    detail = f"stdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-3000:]}"
    assert done.returncode == 0, detail

    records = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    assert records, detail
    seen = {(r["workload"], r["wire"], r["mode"]) for r in records}
    for workload in ("classic", "steady", "scale"):
        for wire in ("cs455", "minichord"):
            assert any(s[:2] == (workload, wire) for s in seen), (workload, wire, seen)
    assert {mode for _, _, mode in seen} == {"inproc", "procs"}

    for record in records:
        assert EXPECTED_KEYS <= record.keys(), EXPECTED_KEYS - record.keys()
        assert MACHINE_KEYS <= record["machine"].keys()
        assert record["correct"] is True, record["errors"]
        assert record["errors"] == []
        assert record["completed"] == record["repeats"] == 1
        assert record["sent"] == record["received"] == record["nodes"] * record["packets_per_node"]
        for key in ("start_to_verdict_s", "delivered_pps", "relays_per_packet", "peak_rss_mb"):
            assert SPREAD_KEYS <= record[key].keys(), key
        assert record["total_hops"]["median"] == record["relayed"] + record["received"]
        assert record["relays_theory"] is not None
        if record["mode"] == "inproc":
            assert record["sending_s"] is not None
        assert len(record["runs"]) == 1 and record["runs"][0]["correct"] is True

    # The table lists every workload.
    assert done.stdout.count("yes") >= len(records), detail
