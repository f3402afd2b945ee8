"""The JSON record of one workload (its repeats summarised as median and
spread) and the facts about the machine that every record carries."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Iterable
from dataclasses import asdict
from fractions import Fraction
from typing import Any

import trio

import trio_dht
from benchkit.runs import Sample
from benchkit.workloads import Case
from trio_dht.overlay import mean_relays
from trio_dht.overlay.tables import OverlayError


def machine_facts() -> dict[str, Any]:
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next(
                (line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), ""
            )
    except OSError:
        pass
    protobuf_version: str | None = None
    protobuf_backend: str | None = None
    try:
        from google.protobuf import __version__ as installed_protobuf
        from google.protobuf.internal import api_implementation

        protobuf_version = installed_protobuf
        protobuf_backend = api_implementation.Type()
    except ImportError:  # pragma: no cover
        pass
    return {
        "cores": os.cpu_count(),
        "cpu_model": model,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "trio": trio.__version__,
        "trio_dht": trio_dht.__version__,
        "protobuf": protobuf_version,
        "protobuf_backend": protobuf_backend,
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
        "cpu_busy_at_start": cpu_busy(),
    }


def cpu_busy(interval: float = 0.5) -> float | None:
    """Share of all cores in use (by anything) over ``interval`` seconds
    (Linux /proc/stat): other work skews every timing."""

    def times() -> tuple[int, int]:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        return sum(fields), idle

    try:
        total0, idle0 = times()
        time.sleep(interval)
        total1, idle1 = times()
    except (OSError, ValueError, IndexError):
        return None
    if total1 <= total0:
        return None
    return round(1.0 - (idle1 - idle0) / (total1 - total0), 3)


def spread(values: Iterable[float | None]) -> dict[str, Any] | None:
    vals = [v for v in values if v is not None]
    if not vals:
        return None
    return {
        "median": statistics.median(vals),
        "min": min(vals),
        "max": max(vals),
        "values": vals,
    }


RECORD_KEYS = (
    "record", "workload", "wire", "mode", "registry", "nodes", "nr", "packets_per_node",
    "repeats", "completed", "correct", "sent", "received", "relayed", "total_hops",
    "start_to_verdict_s", "sending_s", "sending_measure", "delivered_pps", "hops_per_s",
    "relays_per_packet", "relays_theory", "relays_theory_exact", "peak_rss_mb",
    "mean_rss_mb", "cpu_run_s", "cpu_s", "setup_s", "quiescence", "skipped", "errors", "runs",
    "machine",
)  # fmt: skip


def make_record(case: Case, samples: list[Sample], machine: dict[str, Any]) -> dict[str, Any]:
    good = [s for s in samples if s.elapsed is not None]
    first = next((s for s in samples if not s.correct), samples[0])
    theory: Fraction | None = None
    if good:
        try:
            theory = mean_relays(good[0].ids, case.nr)
        except OverlayError:
            theory = None
    sending_measure = None
    if any(s.sending is not None for s in samples):
        sending_measure = "start -> last task-finished received by the registry"
    record = {
        "record": "bench",
        "workload": case.workload,
        "wire": case.wire,
        "mode": case.mode,
        "registry": samples[0].registry if samples else "",
        "nodes": case.nodes,
        "nr": case.nr,
        "packets_per_node": case.packets,
        "repeats": len(samples),
        "completed": len(good),
        "correct": bool(samples) and all(s.correct for s in samples),
        "sent": first.sent,
        "received": first.received,
        "relayed": first.relayed,
        "total_hops": spread(s.relayed + s.received for s in good),
        "start_to_verdict_s": spread(s.elapsed for s in good),
        "sending_s": spread(s.sending for s in good),
        "sending_measure": sending_measure,
        "delivered_pps": spread(s.received / s.elapsed for s in good if s.elapsed),
        # Links traversed per second: the work rate, whatever the route length.
        "hops_per_s": spread((s.relayed + s.received) / s.elapsed for s in good if s.elapsed),
        "relays_per_packet": spread(s.relayed / s.received for s in good if s.received),
        "relays_theory": float(theory) if theory is not None else None,
        "relays_theory_exact": str(theory) if theory is not None else None,
        "peak_rss_mb": spread(s.peak_rss_mb for s in samples),
        "mean_rss_mb": spread(s.mean_rss_mb for s in samples),
        "cpu_run_s": spread(s.cpu_run_s for s in samples),
        "cpu_s": spread(s.cpu_s for s in samples),
        "setup_s": spread(s.setup_s for s in samples),
        # How the registry judged each run quiet: "progress" is the normal,
        # exact way; "stalled" means it waited --stall-timeout for nothing.
        "quiescence": {
            q: sum(s.quiescence == q for s in good) for q in sorted({s.quiescence for s in good})
        },
        "skipped": None,
        "errors": [s.error for s in samples if s.error],
        "runs": [
            {k: v for k, v in asdict(s).items() if k != "ids"} | {"ids": s.ids} for s in samples
        ],
        "machine": machine,
    }
    assert tuple(record) == RECORD_KEYS
    return record


def skipped_record(case: Case, why: str, machine: dict[str, Any]) -> dict[str, Any]:
    """The record of a case that cannot run at all (its dialect cannot
    describe the overlay): every measurement null, ``skipped`` says why."""
    record: dict[str, Any] = dict.fromkeys(RECORD_KEYS)
    record |= {
        "record": "bench",
        "workload": case.workload,
        "wire": case.wire,
        "mode": case.mode,
        "nodes": case.nodes,
        "nr": case.nr,
        "packets_per_node": case.packets,
        "repeats": 0,
        "completed": 0,
        "correct": None,
        "sent": 0,
        "received": 0,
        "relayed": 0,
        "skipped": why,
        "errors": [],
        "runs": [],
        "machine": machine,
    }
    return record
