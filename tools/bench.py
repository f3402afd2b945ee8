#!/usr/bin/env python3
"""Benchmark trio_dht: run the standard workloads, print one table and write
one JSON record per workload.

Workloads (``--workload``):

* ``classic``: 10 nodes, NR 3, 25,000 packets per node, one OS process per
  node (the assignment's run).
* ``steady``: 10 nodes, NR 3, 100,000 packets per node (in one process and
  one process per node).
* ``scale``: N = 10, 32, 64, 128 nodes with the largest NR that N allows and
  with NR 3, 10,000 packets per node, in one process and one process per node.

Each in both wire dialects (``--wire both``), each repeated (``--repeats``,
default 3) and summarised as median and spread (min..max).

How each number is measured
---------------------------

*start -> verdict*: the registry's own clock, from the ``start`` command to
the moment the verdict is known (``RunResult.elapsed``, the "X s from start to
summary" figure the registry prints). In per-process runs the registry is the
real unattended program (``python -m trio_dht registry ... --start N
--summary json``) and the figure is read from its output.

*sending*: from ``start`` to the registry receiving the last node's
task-finished message: the time the nodes spent originating their packets
(plus one control message's trip). The unattended registry program does not
print it (if its ``--summary json`` document ever carries a
``sending_elapsed`` field, that is used), so it is measured when the registry
runs inside a process the benchmark controls: in-process runs, and
per-process runs with ``--registry inline`` (the registry object in a bench
worker, the nodes as ``python -m trio_dht node`` processes). Otherwise null.

*delivered/s*: packets received / start->verdict seconds. *hops*: relayed +
received (links traversed). *relays/packet*: relayed / received next to the
exact mean for that ring (``trio_dht.overlay.mean_relays`` on the run's ids).

*peak RSS*: per-process runs: the largest ``ru_maxrss`` of the node processes
(reaped with ``os.wait4``); in-process runs: the peak of the one process that
holds the registry and every node. *CPU*: user+system seconds of the node
processes (or the one process) during the run (``cpu_run_s``: sampled from
/proc when the overlay is ready and at exit; exact for in-process runs), and
over their whole life including start-up (``cpu_s``).

Every run has a deadline (``--run-timeout``); a stuck run is killed and
reported as failed. Every child process is killed on exit. The exit status is
0 only if every run was correct.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import platform
import re
import resource
import selectors
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import trio

import trio_dht
from trio_dht.overlay import max_nr, mean_relays, validate_nr
from trio_dht.overlay.tables import OverlayError

HOST = "127.0.0.1"
WIRES = ("cs455", "minichord")
WORKLOADS = ("classic", "steady", "scale")
MODES = ("inproc", "procs")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
LISTENING = re.compile(r"^Registry listening on port (\d+)")
READY = "Registry now ready to initiate tasks."

# Full-size workloads.
CLASSIC = (10, 3, 25_000)
STEADY = (10, 3, 100_000)
SCALE_NODES = (10, 32, 64, 128)
SCALE_PACKETS = 10_000
# --quick: tiny counts that only prove the tool still works (CI).
QUICK_PACKETS = 200
QUICK_CLASSIC = (5, 3)
QUICK_STEADY = (5, 3)
QUICK_SCALE_NODES = (4, 8)

# The targets (reported, never asserted).
TARGET_CLASSIC_S = 1.0
TARGET_STEADY_PPS = 450_000
TARGET_RSS_MB = 40.0
TARGET_WIRE_RATIO = 1.5

# py-spy samples per second (--profile).
PROFILE_RATE = 500

# Node processes that outlive their registry by this much are killed.
REAP_GRACE = 10.0


# --------------------------------------------------------------------------
# workloads
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One workload configuration: measured ``repeats`` times, one record."""

    workload: str
    wire: str
    mode: str  # "inproc": registry + nodes in one process; "procs": a process per node
    nodes: int
    nr: int
    packets: int

    @property
    def label(self) -> str:
        return (
            f"{self.workload} {self.wire} {self.mode} N={self.nodes} NR={self.nr} x{self.packets:,}"
        )


def scale_nrs(n: int) -> list[int]:
    """The largest NR that ``n`` nodes allow, and NR 3 if valid (no repeats)."""
    nrs = [max_nr(n)]
    try:
        validate_nr(3, n)
        nrs.append(3)
    except OverlayError:
        pass
    return sorted(set(nrs), reverse=True)


def build_cases(
    workloads: Sequence[str],
    wires: Sequence[str],
    modes: Sequence[str],
    *,
    quick: bool,
    scale_nodes: Sequence[int] | None = None,
) -> list[Case]:
    cases: list[Case] = []

    def add(workload: str, mode: str, nodes: int, nr: int, packets: int) -> None:
        if mode not in modes:
            return
        for wire in wires:  # dialects side by side, for the comparison
            cases.append(Case(workload, wire, mode, nodes, nr, packets))

    if "classic" in workloads:
        nodes, nr, packets = (*QUICK_CLASSIC, QUICK_PACKETS) if quick else CLASSIC
        # The classic run is one OS process per node, whatever --mode says
        # (unless --mode excludes processes altogether).
        add("classic", "procs", nodes, nr, packets)
    if "steady" in workloads:
        nodes, nr, packets = (*QUICK_STEADY, QUICK_PACKETS) if quick else STEADY
        for mode in MODES:
            add("steady", mode, nodes, nr, packets)
    if "scale" in workloads:
        sizes = scale_nodes or (QUICK_SCALE_NODES if quick else SCALE_NODES)
        packets = QUICK_PACKETS if quick else SCALE_PACKETS
        for n in sizes:
            for nr in scale_nrs(n):
                for mode in MODES:
                    add("scale", mode, n, nr, packets)
    return cases


def default_timeout(case: Case) -> float:
    """Generous: a slow machine passes, a hang still ends."""
    total = case.nodes * case.packets
    startup = case.nodes * (1.0 if case.mode == "procs" else 0.05)
    return 60.0 + startup + total / 20_000


# --------------------------------------------------------------------------
# child processes: spawn, reap with rusage, kill on exit
# --------------------------------------------------------------------------

_children: dict[int, subprocess.Popen[bytes]] = {}


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    for name in ("FORCE_COLOR", "TTY_INTERACTIVE", "TTY_COMPATIBLE", "COLUMNS", "LINES"):
        env.pop(name, None)
    return env


def spawn(
    argv: list[str], *, stdout: Any = subprocess.DEVNULL, stderr: Any = None
) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr if stderr is not None else subprocess.DEVNULL,
        env=child_env(),
    )
    _children[process.pid] = process
    return process


def kill(process: subprocess.Popen[bytes]) -> None:
    if process.returncode is None:
        try:
            os.kill(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@dataclass
class Reaped:
    status: int | None  # exit status (negative: killed by that signal)
    maxrss_mb: float
    cpu_s: float
    killed: bool = False


def reap(process: subprocess.Popen[bytes], deadline: float) -> Reaped:
    """Wait for ``process`` (until ``deadline``, then kill it) and collect
    its resource usage with wait4 (Popen.wait would throw it away)."""
    killed = False
    while True:
        try:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        except ChildProcessError:  # reaped elsewhere: no usage to report
            _children.pop(process.pid, None)
            return Reaped(process.returncode, 0.0, 0.0)
        if pid:
            break
        if time.monotonic() >= deadline and not killed:
            kill(process)
            killed = True
            deadline = time.monotonic() + 5.0
        time.sleep(0.005)
    process.returncode = os.waitstatus_to_exitcode(status)
    _children.pop(process.pid, None)
    # Linux: ru_maxrss in KiB.
    return Reaped(
        process.returncode, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime, killed
    )


def kill_all_children() -> None:
    for process in list(_children.values()):
        kill(process)
    for process in list(_children.values()):
        reap(process, time.monotonic() + 2.0)


def proc_cpu(pid: int) -> float | None:
    """user+system CPU seconds of a running process so far (Linux /proc)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


class LineReader:
    """Lines from a child's stdout pipe, each with its arrival time, read
    with a deadline (a stuck child never hangs the benchmark)."""

    def __init__(self, pipe: Any) -> None:
        self.fd = pipe.fileno()
        os.set_blocking(self.fd, False)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.fd, selectors.EVENT_READ)
        self.lines: list[tuple[float, str]] = []
        self.eof = False
        self._buffer = b""

    def _pump(self, deadline: float) -> bool:
        """Read what is there (waiting until ``deadline``); False on timeout."""
        timeout = deadline - time.monotonic()
        if timeout <= 0 or not self.selector.select(timeout):
            return False
        while True:
            try:
                chunk = os.read(self.fd, 65536)
            except BlockingIOError:
                return True
            if not chunk:
                self.eof = True
                if self._buffer:
                    self.lines.append((time.monotonic(), self._buffer.decode(errors="replace")))
                    self._buffer = b""
                return True
            now = time.monotonic()
            *complete, self._buffer = (self._buffer + chunk).split(b"\n")
            self.lines.extend((now, line.decode(errors="replace")) for line in complete)

    def wait_for(
        self, match: Callable[[str], Any], deadline: float, since: int = 0
    ) -> tuple[int, float, Any] | None:
        """The first line from ``since`` on for which ``match`` is truthy:
        (index, arrival time, match result); None at EOF or deadline."""
        index = since
        while True:
            while index < len(self.lines):
                at, line = self.lines[index]
                result = match(line)
                if result:
                    return index, at, result
                index += 1
            if self.eof or not self._pump(deadline):
                return None

    def read_to_end(self, deadline: float) -> bool:
        while not self.eof:
            if not self._pump(deadline):
                return False
        return True

    def close(self) -> None:
        self.selector.close()

    def tail(self, n: int = 12) -> str:
        return "\n".join(line for _, line in self.lines[-n:])


def _file_tail(handle: Any, limit: int = 1500) -> str:
    handle.flush()
    handle.seek(0)
    data = handle.read().decode(errors="replace").strip()
    return data[-limit:]


# --------------------------------------------------------------------------
# one measured run
# --------------------------------------------------------------------------


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


def run_cli(case: Case, timeout: float, profile: Sequence[Path] = ()) -> Sample:
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
        registry = spawn(registry_argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
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
                nodes.append(spawn(argv, stderr=errors))
            ready = reader.wait_for(lambda line: line.startswith(READY), deadline, found[0])
            cpu_at_ready: list[float | None] = []
            if ready is not None:
                cpu_at_ready = [proc_cpu(p.pid) for p in nodes]
                sample.setup_s = ready[1] - launched
            if not reader.read_to_end(deadline):
                sample.error = f"no verdict within {timeout:g} s\n" + reader.tail()
            done = reap(registry, deadline + 5.0)
            sample.registry_rss_mb, sample.registry_cpu_s = done.maxrss_mb, done.cpu_s
            grace = time.monotonic() + REAP_GRACE
            reaped = [reap(p, grace) for p in nodes]
        finally:
            reader.close()
            registry.stdout.close()
            for p in (registry, *nodes):
                kill(p)
                reap(p, time.monotonic() + 2.0)
        if sample.error is None:
            text = [line for _, line in reader.lines]
            summary = next((line for line in text if line.startswith("{")), None)
            if summary is None:
                sample.error = (
                    f"the registry printed no result (exit status {done.status})\n"
                    + reader.tail()
                    + "\n"
                    + _file_tail(errors)
                )
                return sample
            sample.take_summary(json.loads(summary))
            if not sample.correct:
                sample.error = sample.verdict + "\n" + _file_tail(errors)
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


def run_worker(case: Case, timeout: float) -> Sample:
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
        worker = spawn(
            [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(spec)],
            stdout=subprocess.PIPE,
            stderr=errors,
        )
        assert worker.stdout is not None
        reader = LineReader(worker.stdout)
        try:
            finished = reader.read_to_end(deadline)
            usage = reap(worker, deadline if finished else time.monotonic())
        finally:
            reader.close()
            worker.stdout.close()
            kill(worker)
            reap(worker, time.monotonic() + 2.0)
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
                + _file_tail(errors)
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


def measure(case: Case, registry_mode: str, timeout: float, profile: Sequence[Path] = ()) -> Sample:
    try:
        if case.mode == "procs" and (registry_mode == "cli" or profile):
            return run_cli(case, timeout, profile)
        return run_worker(case, timeout)
    except (OSError, ValueError, KeyError) as exc:
        return Sample(error=f"{type(exc).__name__}: {exc}")


# --------------------------------------------------------------------------
# the worker (``bench.py --worker SPEC``): one run inside this process
# --------------------------------------------------------------------------


def worker_main(spec_text: str) -> int:
    from trio_dht.interface.summary_formats import summary_dict

    spec = json.loads(spec_text)
    procs: list[subprocess.Popen[bytes]] = []
    out: dict[str, Any] = {"registry": "inline" if spec["procs"] else "inproc"}
    status = 0
    try:
        result = trio.run(_worker_run, spec, procs, out)
        out["summary"] = summary_dict(result)
    except trio.TooSlowError:
        out["error"] = f"no verdict within {spec['timeout']:g} s"
        status = 3
    except Exception as exc:  # noqa: BLE001 -- reported to the parent as a failed run
        out["error"] = f"{type(exc).__name__}: {exc}"
        status = 1
    finally:
        # The registry is closed: the nodes leave by themselves.
        grace = time.monotonic() + REAP_GRACE
        usage = [reap(p, grace) for p in procs]
        out["node_usage"] = [(u.maxrss_mb, u.cpu_s) for u in usage]
        # This process alone (wait4 on it would add the reaped nodes).
        own = resource.getrusage(resource.RUSAGE_SELF)
        out["self_usage"] = (own.ru_maxrss / 1024, own.ru_utime + own.ru_stime)
    print(json.dumps(out), flush=True)
    return status


async def _worker_run(
    spec: dict[str, Any], procs: list[subprocess.Popen[bytes]], out: dict[str, Any]
) -> Any:
    from trio_dht.services.node import MessagingNode
    from trio_dht.services.observer import Observer
    from trio_dht.services.registry import Registry
    from trio_dht.wire import get_dialect

    class SendingWatch(Observer):
        """Notes when the registry has every node's task-finished."""

        registry: Registry | None = None
        sending: float | None = None

        def say(self, text: str) -> None:
            pass

        def changed(self) -> None:
            run = self.registry.run if self.registry is not None else None
            if run is not None and self.sending is None and len(run.finished) >= len(run.node_ids):
                self.sending = time.monotonic() - run.started

    n, nr, packets = spec["nodes"], spec["nr"], spec["packets"]
    dialect = get_dialect(spec["wire"])
    watch = SendingWatch()
    registry = Registry(dialect, watch)
    watch.registry = registry
    with trio.fail_after(spec["timeout"]):
        async with trio.open_nursery() as nursery:
            launched = time.monotonic()
            port = await nursery.start(registry.serve, HOST, 0)
            if spec["procs"]:
                for _ in range(n):
                    procs.append(spawn(node_command(port, spec["wire"])))
            else:
                for _ in range(n):
                    node = MessagingNode(HOST, port, dialect, Observer())
                    nursery.start_soon(node.run)
            await registry.wait_for_nodes(n)
            registry.setup_overlay(nr)
            await registry.wait_ready()
            out["setup"] = time.monotonic() - launched
            out["node_cpu_at_ready"] = [proc_cpu(p.pid) for p in procs]
            before = resource.getrusage(resource.RUSAGE_SELF)
            run = registry.start(packets)
            await run.done.wait()
            after = resource.getrusage(resource.RUSAGE_SELF)
            out["cpu_run"] = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
            out["sending"] = watch.sending
            nursery.cancel_scope.cancel()
    return run.result


# --------------------------------------------------------------------------
# profiling a node process with py-spy
# --------------------------------------------------------------------------


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


# --------------------------------------------------------------------------
# records and the table
# --------------------------------------------------------------------------


def machine_facts() -> dict[str, Any]:
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next(
                (line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), ""
            )
    except OSError:
        pass
    protobuf_version = protobuf_backend = None
    try:
        from google.protobuf import __version__ as protobuf_version
        from google.protobuf.internal import api_implementation

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


def _fmt(stat: dict[str, Any] | None, fmt: Callable[[float], str], spread_too: bool = True) -> str:
    if stat is None:
        return "-"
    text = fmt(stat["median"])
    if spread_too and len(stat["values"]) > 1:
        text += f" ({fmt(stat['min'])}..{fmt(stat['max'])})"
    return text


def _kpps(x: float) -> str:
    return f"{x / 1000:,.0f}k"


COLUMNS = (
    "workload", "wire", "mode", "N", "NR", "pkts/node", "start->verdict s", "sending s",
    "delivered/s", "hops", "relays/pkt (exact)", "peak RSS MB", "CPU s (run)", "ok",
)  # fmt: skip


def table_rows(records: Sequence[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for r in records:
        relays = _fmt(r["relays_per_packet"], lambda x: f"{x:.4f}", False)
        if r["relays_theory"] is not None and not r["skipped"]:
            relays += f" ({r['relays_theory']:.4f})"
        mode = (
            "1 proc"
            if r["mode"] == "inproc"
            else f"procs/{r['registry']}"
            if r["registry"]
            else "procs"
        )
        if r["skipped"]:
            ok = "n/a: dialect"
        else:
            ok = "yes" if r["correct"] else f"NO ({r['completed']}/{r['repeats']})"
        rows.append(
            [
                r["workload"],
                r["wire"],
                mode,
                str(r["nodes"]),
                str(r["nr"]),
                f"{r['packets_per_node']:,}",
                _fmt(r["start_to_verdict_s"], lambda x: f"{x:.2f}"),
                _fmt(r["sending_s"], lambda x: f"{x:.2f}"),
                _fmt(r["delivered_pps"], _kpps),
                _fmt(r["total_hops"], lambda x: f"{x:,.0f}", False),
                relays,
                _fmt(r["peak_rss_mb"], lambda x: f"{x:.1f}", False),
                _fmt(r["cpu_run_s"], lambda x: f"{x:.2f}", False),
                ok,
            ]
        )
    return rows


def print_table(
    records: Sequence[dict[str, Any]], machine: dict[str, Any], style: str = "rich"
) -> None:
    """``style``: rich, plain (aligned text) or markdown."""
    title = (
        f"trio_dht {machine['trio_dht']} benchmark: {machine['cores']} cores "
        f"{machine['cpu_model']}, Python {machine['python']}, trio {machine['trio']}"
    )
    rows = table_rows(records)
    if style == "markdown":
        print(f"{title}\n")
        print("| " + " | ".join(COLUMNS) + " |")
        print("|" + "|".join("---" if k < 3 else "--:" for k in range(len(COLUMNS))) + "|")
        for row in rows:
            print("| " + " | ".join(row) + " |")
        return
    plain = style == "plain"
    if not plain:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title, title_justify="left")
        for k, name in enumerate(COLUMNS):
            table.add_column(name, justify="left" if k < 3 or k == len(COLUMNS) - 1 else "right")
        for row in rows:
            table.add_row(*row)
        console = Console(highlight=False)
        if not console.is_terminal:
            console = Console(highlight=False, width=250, no_color=True)
        console.print(table)
        return
    print(title)
    widths = [
        max(len(c), *(len(r[k]) for r in rows)) if rows else len(c) for k, c in enumerate(COLUMNS)
    ]
    print("  ".join(c.ljust(w) for c, w in zip(COLUMNS, widths, strict=True)))
    for row in rows:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))


def targets(records: Sequence[dict[str, Any]]) -> list[tuple[str, str, bool | None]]:
    """The issue's targets: (target, what was measured, met?); None when the
    run did not include what the target needs."""
    out: list[tuple[str, str, bool | None]] = []

    def med(r: dict[str, Any], key: str) -> float | None:
        return r[key]["median"] if r[key] else None

    for r in records:
        if r["workload"] == "classic" and med(r, "start_to_verdict_s") is not None:
            v = med(r, "start_to_verdict_s")
            assert v is not None
            out.append(
                (
                    f"classic ({r['wire']}) start->verdict <= {TARGET_CLASSIC_S:g} s",
                    f"{v:.2f} s",
                    v <= TARGET_CLASSIC_S and r["correct"],
                )
            )
    for r in records:
        if r["workload"] == "steady" and med(r, "delivered_pps") is not None:
            v = med(r, "delivered_pps")
            assert v is not None
            mode = "one process" if r["mode"] == "inproc" else "process per node"
            out.append(
                (
                    f"steady ({r['wire']}, {mode}) >= {TARGET_STEADY_PPS:,} delivered/s",
                    f"{v:,.0f}/s",
                    v >= TARGET_STEADY_PPS and r["correct"],
                )
            )
    big = [r for r in records if r["mode"] == "procs" and r["nodes"] == 128]
    if big:
        ran = [r for r in big if not r["skipped"]]
        out.append(
            (
                "128 nodes as processes, exact",
                "; ".join(
                    f"{r['wire']} NR {r['nr']}: "
                    + (
                        "cannot be described in this dialect"
                        if r["skipped"]
                        else ("correct" if r["correct"] else "FAILED")
                    )
                    for r in big
                ),
                all(r["correct"] for r in ran) if ran else None,
            )
        )
    rss = [r["peak_rss_mb"]["max"] for r in records if r["mode"] == "procs" and r["peak_rss_mb"]]
    if rss:
        out.append(
            (
                f"peak RSS of a node process <= {TARGET_RSS_MB:g} MB",
                f"{max(rss):.1f} MB",
                max(rss) <= TARGET_RSS_MB,
            )
        )
    pairs: dict[tuple[Any, ...], dict[str, float]] = {}
    for r in records:
        v = med(r, "start_to_verdict_s")
        if v is not None:
            key = (r["workload"], r["mode"], r["nodes"], r["nr"], r["packets_per_node"])
            pairs.setdefault(key, {})[r["wire"]] = v
    ratios = [
        (w["minichord"] / w["cs455"], key)
        for key, w in pairs.items()
        if {"cs455", "minichord"} <= w.keys() and w["cs455"] > 0
    ]
    if ratios:
        worst, key = max(ratios)
        out.append(
            (
                f"minichord within {TARGET_WIRE_RATIO:g}x of cs455 (start->verdict)",
                (
                    f"worst {worst:.2f}x ({key[0]}, {key[1]}, N={key[2]}, NR={key[3]}); "
                    f"median {statistics.median(r for r, _ in ratios):.2f}x"
                ),
                worst <= TARGET_WIRE_RATIO,
            )
        )
    return out


# --------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tools/bench.py",
        description="Run trio_dht's standard benchmark workloads; print a table and "
        "(with --json) write one JSON record per workload. Exit status 0 only if every "
        "run was correct. Numbers are never asserted: see docs/BENCHMARKS.md.",
        epilog="examples:\n"
        "  python tools/bench.py                          # everything, 3 repeats (long)\n"
        "  python tools/bench.py --workload classic --wire cs455\n"
        "  python tools/bench.py --workload classic --registry inline   # + sending time\n"
        "  python tools/bench.py --workload scale --scale-nodes 10,32 --repeats 1\n"
        "  python tools/bench.py --quick --json /tmp/bench.jsonl    # tiny counts (CI)\n"
        "  python tools/bench.py --workload classic --wire cs455 --profile /tmp/prof\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--workload", choices=(*WORKLOADS, "all"), default="all",
                        help="which workload (default all)")  # fmt: skip
    parser.add_argument("--wire", choices=(*WIRES, "both"), default="both",
                        help="wire dialect (default both)")  # fmt: skip
    parser.add_argument("--mode", choices=(*MODES, "both"), default="both",
                        help="inproc: registry and nodes in one process; procs: a process "
                        "per node (default both; classic is always procs)")  # fmt: skip
    parser.add_argument("--registry", choices=("cli", "inline"), default="cli",
                        help="per-process runs: cli = the unattended registry program "
                        "(default); inline = the registry object inside a bench worker, which "
                        "also measures the sending time")  # fmt: skip
    parser.add_argument("--repeats", type=int, default=None,
                        help="runs per workload (default 3; 1 with --quick)")  # fmt: skip
    parser.add_argument("--quick", action="store_true",
                        help=f"tiny counts ({QUICK_PACKETS} packets, scale N in "
                        f"{{{', '.join(map(str, QUICK_SCALE_NODES))}}}, 1 repeat): "
                        "proves the tool works (CI)")  # fmt: skip
    parser.add_argument("--scale-nodes", default=None, metavar="N,N,...",
                        help="node counts of the scale workload (default "
                        f"{','.join(map(str, SCALE_NODES))})")  # fmt: skip
    parser.add_argument("--json", type=Path, default=None, metavar="FILE",
                        help="write one JSON record per workload (JSON lines)")  # fmt: skip
    parser.add_argument("--run-timeout", type=float, default=None, metavar="SECONDS",
                        help="give up on a run after this long (default: from its size)",
                        )  # fmt: skip
    parser.add_argument("--plain", action="store_true", help="a plain-text table instead of rich")
    parser.add_argument("--markdown", action="store_true", help="the table in Markdown")
    parser.add_argument("--profile", type=Path, default=None, metavar="DIR",
                        help="also run each per-process workload once more (not counted) with "
                        "one node under py-spy; raw stacks and a summary go to DIR")  # fmt: skip
    parser.add_argument("--profile-nodes", type=int, default=1, metavar="K",
                        help="with --profile: how many node processes to sample (each "
                        "costs CPU of its own; default 1); the summary adds them up")  # fmt: skip
    parser.add_argument("--from-json", type=Path, nargs="+", default=None, metavar="FILE",
                        help="run nothing: print the table and targets of records written "
                        "earlier with --json (several files are joined)")  # fmt: skip
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.worker is not None:
        signal.signal(signal.SIGTERM, _on_sigterm)
        return worker_main(args.worker)
    style = "markdown" if args.markdown else "plain" if args.plain else "rich"
    if args.from_json is not None:
        return show_saved(args.from_json, style)
    repeats = args.repeats if args.repeats is not None else (1 if args.quick else 3)
    if repeats < 1:
        parser.error("--repeats must be at least 1")
    scale_nodes: list[int] | None = None
    if args.scale_nodes:
        try:
            scale_nodes = [int(x) for x in args.scale_nodes.split(",") if x.strip()]
        except ValueError:
            parser.error("--scale-nodes takes whole numbers separated by commas")
        if not all(2 <= n <= 128 for n in scale_nodes):
            parser.error("--scale-nodes: each N must be between 2 and 128")
    if args.profile_nodes < 1:
        parser.error("--profile-nodes must be at least 1")
    if args.profile is not None and py_spy_binary() is None:
        parser.error("--profile needs py-spy (pip install py-spy)")
    cases = build_cases(
        WORKLOADS if args.workload == "all" else (args.workload,),
        WIRES if args.wire == "both" else (args.wire,),
        MODES if args.mode == "both" else (args.mode,),
        quick=args.quick,
        scale_nodes=scale_nodes,
    )
    if not cases:
        parser.error("that selection has no workloads (classic runs only as processes)")

    signal.signal(signal.SIGTERM, _on_sigterm)
    # Interruptible even when started in the background (which ignores SIGINT).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    atexit.register(kill_all_children)
    machine = machine_facts()
    records: list[dict[str, Any]] = []
    profiles: list[str] = []
    out = args.json.open("w") if args.json is not None else None
    log = sys.stderr
    busy = machine["cpu_busy_at_start"]
    print(
        f"{len(cases)} workloads x {repeats} repeats on {machine['cores']} cores "
        f"({'?' if busy is None else f'{busy:.0%}'} busy before the start)",
        file=log,
    )
    if busy is not None and busy > 0.25:
        print(
            "warning: the machine is busy: every timing will be worse than on an idle machine",
            file=log,
        )
    try:
        for number, case in enumerate(cases, 1):
            timeout = args.run_timeout or default_timeout(case)
            why_not = unsupported(case)
            if why_not is not None:
                print(f"[{number}/{len(cases)}] {case.label}: skipped: {why_not}", file=log)
                record = skipped_record(case, why_not, machine)
                records.append(record)
                if out is not None:
                    out.write(json.dumps(record) + "\n")
                    out.flush()
                continue
            samples: list[Sample] = []
            for k in range(repeats):
                sample = measure(case, args.registry, timeout)
                samples.append(sample)
                status = (
                    f"{sample.elapsed:.2f} s, {sample.verdict.split(':')[0]}, "
                    f"quiet by {sample.quiescence}"
                    if sample.elapsed is not None
                    else "FAILED"
                )
                print(
                    f"[{number}/{len(cases)}] {case.label} #{k + 1}: {status}", file=log, flush=True
                )
                if sample.error:
                    print("    " + sample.error.strip().replace("\n", "\n    "), file=log)
            # Other work on the machine skews every number: keep the load.
            loadavg = [round(x, 2) for x in os.getloadavg()]
            record = make_record(case, samples, machine | {"loadavg_at_record": loadavg})
            if args.profile is not None and case.mode == "procs":
                record_profile = profile_case(case, timeout, args.profile, args.profile_nodes)
                if record_profile is not None:
                    profiles.append(record_profile)
            records.append(record)
            if out is not None:
                out.write(json.dumps(record) + "\n")
                out.flush()
    except KeyboardInterrupt:
        print("interrupted", file=log)
        return 130
    finally:
        if out is not None:
            out.close()
        kill_all_children()
    print_table(records, machine, style)
    print_targets(records)
    for text in profiles:
        print("\n" + text)
    return 0 if all(r["correct"] or r["skipped"] for r in records) else 1


def print_targets(records: Sequence[dict[str, Any]]) -> None:
    checks = targets(records)
    if checks:
        print("\nTargets (for the record; never asserted):")
        for what, measured, met in checks:
            mark = "met" if met else ("NOT met" if met is not None else "n/a")
            print(f"  [{mark}] {what}: {measured}")


def show_saved(files: Sequence[Path], style: str) -> int:
    records = [
        dict.fromkeys(RECORD_KEYS) | json.loads(line)
        for path in files
        for line in path.read_text().splitlines()
        if line.strip()
    ]
    if not records:
        print("no records in " + ", ".join(map(str, files)), file=sys.stderr)
        return 2
    print_table(records, records[0]["machine"], style)
    print_targets(records)
    return 0 if all(r["correct"] or r["skipped"] for r in records) else 1


def unsupported(case: Case) -> str | None:
    """Why the case's dialect cannot carry its overlay at all (the manifest
    does not encode), or None. Asks the dialect's own encoder."""
    from trio_dht.overlay import routing_tables
    from trio_dht.wire import WireError, get_dialect
    from trio_dht.wire.messages import NodeManifest, PeerEntry

    ids = tuple(range(case.nodes))
    try:
        entries = routing_tables(ids, case.nr)[0]
        manifest = NodeManifest(tuple(PeerEntry(e, HOST, 40000 + e) for e in entries), ids)
        get_dialect(case.wire).encode(manifest)
    except (WireError, OverlayError) as exc:
        return str(exc)
    return None


def profile_case(case: Case, timeout: float, directory: Path, count: int) -> str | None:
    directory.mkdir(parents=True, exist_ok=True)
    name = f"node-{case.workload}-{case.wire}-N{case.nodes}-NR{case.nr}"
    raws = [directory / f"{name}-node{k}.txt" for k in range(min(count, case.nodes))]
    for raw in raws:
        raw.unlink(missing_ok=True)
    sample = measure(case, "cli", timeout, profile=raws)
    raws = [raw for raw in raws if raw.exists()]
    if sample.error or not raws:
        print(f"profile of {case.label} failed: {sample.error}", file=sys.stderr)
        return None
    text = profile_text(case, summarise_profile(raws))
    (directory / f"{name}.summary.txt").write_text(text + "\n")
    return text


if __name__ == "__main__":
    sys.exit(main())
