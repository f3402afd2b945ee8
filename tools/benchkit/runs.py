"""One measured run of a case: with the real unattended registry program
(``run_cli``) or with a bench worker process (``run_worker``), and what it
measured (``Sample``)."""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchkit import BENCH_SCRIPT, HOST
from benchkit.processes import (
    REAP_GRACE,
    Children,
    LineReader,
    Reaped,
    file_tail,
    kill,
    proc_cpu,
)
from benchkit.profiling import py_spy_argv
from benchkit.workloads import Case

LISTENING = re.compile(r"^Registry listening on port (\d+)")
READY = "Registry now ready to initiate tasks."


@dataclass
class Sample:
    """What one run measured. ``error`` set: no usable result."""

    error: str | None = None
    correct: bool = False
    verdict: str = ""
    quiescence: str = ""
    elapsed: float | None = None  # start -> verdict, registry clock
    sending: float | None = None  # start -> last task-finished at the registry
    sent: int = 0
    received: int = 0
    relayed: int = 0
    ids: list[int] = field(default_factory=list)
    nr: int = 0
    peak_rss_mb: float | None = None
    mean_rss_mb: float | None = None
    cpu_s: float | None = None  # node processes (or the one process), whole life
    cpu_run_s: float | None = None  # the same, during the run only
    registry_rss_mb: float | None = None
    registry_cpu_s: float | None = None
    setup_s: float | None = None  # launch -> overlay ready
    registry: str = ""  # how the registry ran: cli, inline, inproc

    def take_summary(self, summary: dict[str, Any]) -> None:
        """The registry's result (the ``--summary json`` document)."""
        totals = summary["totals"]
        self.correct = bool(summary["correct"])
        self.verdict = summary["verdict"]
        self.quiescence = summary["quiescence"]
        self.elapsed = float(summary["elapsed"])
        self.sent = int(totals["sent"])
        self.received = int(totals["received"])
        self.relayed = int(totals["relayed"])
        self.ids = sorted(int(n["node_id"]) for n in summary["nodes"])
        self.nr = int(summary["nr"])
        # Not printed by trio_dht today; read if a later registry adds it
        # (start -> last task-finished, see docs/BENCHMARKS.md).
        sending = summary.get("sending_elapsed")
        if sending is not None:
            self.sending = float(sending)


def node_command(port: int, wire: str) -> list[str]:
    return [sys.executable, "-m", "trio_dht", "node", f"{HOST}:{port}", "--wire", wire, "-q"]


def run_cli(children: Children, case: Case, timeout: float, profile: Sequence[Path] = ()) -> Sample:
    """A per-process run with the real unattended registry program."""
    sample = Sample(registry="cli")
    launched = time.monotonic()
    deadline = launched + timeout + 5.0
    registry_argv = [
        sys.executable, "-m", "trio_dht", "registry", "0", "--host", HOST,
        "--nodes", str(case.nodes), "--nr", str(case.nr), "--start", str(case.packets),
        "--timeout", f"{timeout:g}", "--wire", case.wire, "--summary", "json",
    ]  # fmt: skip
    nodes: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryFile() as errors:
        # Its banner and progress go to stderr, the JSON document to stdout:
        # read both, in order, from one pipe.
        registry = children.spawn(registry_argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        assert registry.stdout is not None
        reader = LineReader(registry.stdout)
        try:
            found = reader.wait_for(LISTENING.match, deadline)
            if found is None:
                sample.error = "the registry did not start listening\n" + reader.tail()
                return sample
            port = int(found[2][1])
            for k in range(case.nodes):
                argv = node_command(port, case.wire)
                if k < len(profile):
                    argv = [*py_spy_argv(profile[k]), "--", *argv]
                nodes.append(children.spawn(argv, stderr=errors))
            ready = reader.wait_for(lambda line: line.startswith(READY), deadline, found[0])
            cpu_at_ready: list[float | None] = []
            if ready is not None:
                cpu_at_ready = [proc_cpu(p.pid) for p in nodes]
                sample.setup_s = ready[1] - launched
            if not reader.read_to_end(deadline):
                sample.error = f"no verdict within {timeout:g} s\n" + reader.tail()
            done = children.reap(registry, deadline + 5.0)
            sample.registry_rss_mb, sample.registry_cpu_s = done.maxrss_mb, done.cpu_s
            grace = time.monotonic() + REAP_GRACE
            reaped = [children.reap(p, grace) for p in nodes]
        finally:
            reader.close()
            registry.stdout.close()
            for p in (registry, *nodes):
                kill(p)
                children.reap(p, time.monotonic() + 2.0)
        if sample.error is None:
            text = [line for _, line in reader.lines]
            summary = next((line for line in text if line.startswith("{")), None)
            if summary is None:
                sample.error = (
                    f"the registry printed no result (exit status {done.status})\n"
                    + reader.tail()
                    + "\n"
                    + file_tail(errors)
                )
                return sample
            sample.take_summary(json.loads(summary))
            if not sample.correct:
                sample.error = sample.verdict + "\n" + file_tail(errors)
        _node_usage(sample, reaped, cpu_at_ready)
    return sample


def _node_usage(sample: Sample, reaped: list[Reaped], cpu_at_ready: Sequence[float | None]) -> None:
    if not reaped:
        return
    rss = [r.maxrss_mb for r in reaped]
    sample.peak_rss_mb = max(rss)
    sample.mean_rss_mb = statistics.fmean(rss)
    sample.cpu_s = sum(r.cpu_s for r in reaped)
    if cpu_at_ready and all(c is not None for c in cpu_at_ready):
        sample.cpu_run_s = sample.cpu_s - sum(c for c in cpu_at_ready if c is not None)


def run_worker(children: Children, case: Case, timeout: float) -> Sample:
    """An in-process run (or a per-process run with the registry inline):
    a fresh bench worker process drives Registry + MessagingNode objects, so
    its peak RSS is this run's alone."""
    spec = {
        "wire": case.wire,
        "nodes": case.nodes,
        "nr": case.nr,
        "packets": case.packets,
        "timeout": timeout,
        "procs": case.mode == "procs",
    }
    deadline = time.monotonic() + timeout + 10.0
    with tempfile.TemporaryFile() as errors:
        worker = children.spawn(
            [sys.executable, str(BENCH_SCRIPT), "--worker", json.dumps(spec)],
            stdout=subprocess.PIPE,
            stderr=errors,
        )
        assert worker.stdout is not None
        reader = LineReader(worker.stdout)
        try:
            finished = reader.read_to_end(deadline)
            usage = children.reap(worker, deadline if finished else time.monotonic())
        finally:
            reader.close()
            worker.stdout.close()
            kill(worker)
            children.reap(worker, time.monotonic() + 2.0)
        record: dict[str, Any] | None = None
        for _, line in reversed(reader.lines):
            if line.startswith("{"):
                record = json.loads(line)
                break
        if record is None or "summary" not in record:
            why = record.get("error") if record else None
            if not finished:
                why = f"no verdict within {timeout:g} s"
            sample = Sample(registry="inline" if spec["procs"] else "inproc")
            sample.error = (
                f"{why or 'the worker produced no result'} (exit status {usage.status})\n"
                + file_tail(errors)
            )
            return sample
    sample = Sample(registry=record["registry"])
    sample.take_summary(record["summary"])
    sample.sending = record["sending"]
    sample.setup_s = record["setup"]
    if spec["procs"]:
        reaped = [Reaped(None, r, c) for r, c in record["node_usage"]]
        _node_usage(sample, reaped, record["node_cpu_at_ready"])
        sample.registry_rss_mb, sample.registry_cpu_s = record["self_usage"]
    else:
        sample.peak_rss_mb = sample.mean_rss_mb = usage.maxrss_mb
        sample.cpu_s = usage.cpu_s
        sample.cpu_run_s = record["cpu_run"]
    if not sample.correct:
        sample.error = sample.verdict
    return sample


def measure(
    children: Children,
    case: Case,
    registry_mode: str,
    timeout: float,
    profile: Sequence[Path] = (),
) -> Sample:
    try:
        if case.mode == "procs" and (registry_mode == "cli" or profile):
            return run_cli(children, case, timeout, profile)
        return run_worker(children, case, timeout)
    except (OSError, ValueError, KeyError) as exc:
        return Sample(error=f"{type(exc).__name__}: {exc}")
