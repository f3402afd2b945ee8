"""Flood a live registry or node while a legitimate run goes on, and report
whether the run survived.

For each flood: start a registry process (``python -m trio_dht registry
--nodes K --start N``), point the flood at the victim (the registry, or the
first node process), start the K node processes, and wait for the
registry's verdict. Meanwhile sample the victim's peak RSS (VmHWM) and open
descriptors from /proc. Floods (all from 127.0.0.x source addresses other
than the legitimate 127.0.0.1):

- ``none``       no flood: the baseline run
- ``idle``       C connections to the registry that never send a byte
- ``slowloris``  C connections to the registry trickling one frame a byte
                 a second
- ``churn``      C connections re-sending a refused registration (a claimed
                 address that is not theirs), reconnecting when closed
- ``fakes``      C registrations from 127.0.0.x with ports nobody listens on
- ``node-idle``  C idle connections to a node
- ``bigframes``  C connections to a node sending frames just under 1 MiB

With ``--start-after S`` the registry is driven through its console
instead (``setup-overlay``, then ``start`` S seconds after it is ready), so
the overlay's links must outlive S seconds of flood before any data moves.

Prints a line (or with --json an object) per flood on stdout: verdict, run
time, victim peak RSS and descriptors, warnings and tracebacks in its log.
Linux only (/proc); loopback only; bounded by --connections and --timeout.

    python tools/flood.py                       # every flood, 256 connections
    python tools/flood.py --floods idle,fakes --connections 64 --json
    python tools/flood.py --floods node-idle --connections 1100 --start-after 20
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO

import trio
from flood_clients import LOOPBACK, Flood

FLOODS = ("none", "idle", "slowloris", "churn", "fakes", "node-idle", "bigframes")
NODE_VICTIMS = {"node-idle", "bigframes"}


@dataclass
class Report:
    flood: str
    victim: str
    connections: int
    verdict: str = "?"
    exit_status: int | None = None
    run_seconds: float = 0.0
    peak_rss_mb: float = 0.0
    peak_fds: int = 0
    warnings: int = 0
    tracebacks: int = 0
    flood_opened: int = 0
    flood_closed_by_victim: int = 0
    notes: list[str] = field(default_factory=list)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def listening_ports(pid: int) -> list[int]:
    """TCP ports the process ``pid`` listens on (from /proc)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            for line in list(lines)[1:]:
                cols = line.split()
                if cols[3] == "0A" and cols[9] in inodes:
                    ports.append(int(cols[1].rsplit(":", 1)[1], 16))
    return ports


def sample(pid: int) -> tuple[float, int]:
    """(peak RSS in MB so far, open descriptors) of ``pid``."""
    peak = 0.0
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                peak = int(line.split()[1]) / 1024
    return peak, len(os.listdir(f"/proc/{pid}/fd"))


async def wait_listening(proc: subprocess.Popen[bytes], name: str) -> list[int]:
    """The ports ``proc`` listens on, once it does (10 s at most)."""
    with trio.fail_after(10):
        while proc.poll() is None:
            ports = listening_ports(proc.pid)
            if ports:
                return ports
            await trio.sleep(0.05)
    raise RuntimeError(f"{name} process exited with status {proc.returncode} before listening")


def nofile(limit: int | None) -> Callable[[], None] | None:
    if limit is None:
        return None

    def apply() -> None:
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))

    return apply


async def one_flood(kind: str, args: argparse.Namespace, logs: Path) -> Report:
    report = Report(kind, "node" if kind in NODE_VICTIMS else "registry", args.connections)
    port = free_port()
    procs: list[subprocess.Popen[bytes]] = []
    files: list[IO[bytes]] = []

    def spawn(
        name: str, cmd: list[str], victim: bool, stdin: int = subprocess.DEVNULL
    ) -> subprocess.Popen[bytes]:
        err = open(logs / f"{kind}-{name}.err", "wb")  # noqa: SIM115 -- closed below
        out = open(logs / f"{kind}-{name}.out", "wb")  # noqa: SIM115 -- closed below
        files.extend((err, out))
        proc = subprocess.Popen(
            cmd,
            stdin=stdin,
            stdout=out,
            stderr=err,
            preexec_fn=nofile(args.nofile) if victim else None,  # noqa: PLW1509
        )
        procs.append(proc)
        return proc

    nr = max(1, min(3, (args.nodes - 1).bit_length()))
    unattended = (
        *("--nodes", str(args.nodes), "--nr", str(nr)),
        *("--start", str(args.packets), "--timeout", str(args.timeout)),
    )
    registry = spawn(
        "registry",
        [
            *(sys.executable, "-m", "trio_dht", "registry", str(port), "--host", LOOPBACK),
            *(() if args.start_after is not None else unattended),
            *("--summary", "json"),
        ],
        victim=report.victim == "registry",
        stdin=subprocess.DEVNULL if args.start_after is None else subprocess.PIPE,
    )
    node_cmd = [sys.executable, "-m", "trio_dht", "node", f"{LOOPBACK}:{port}"]
    victim = registry
    try:
        await wait_listening(registry, "registry")
        nodes_left = args.nodes
        if report.victim == "node":
            victim = spawn("node0", node_cmd, victim=True)
            nodes_left -= 1
            target = (await wait_listening(victim, "node"))[0]
        else:
            target = port
        flood = Flood(kind, target, args.connections, port)
        async with trio.open_nursery() as nursery:
            started = trio.Event()
            nursery.start_soon(flood.run, started)
            await started.wait()
            began = time.monotonic()
            for k in range(nodes_left):
                spawn(f"node{k + 1}", node_cmd, victim=False)
            if args.start_after is not None:
                nursery.start_soon(drive_console, registry, logs / f"{kind}-registry.err", args, nr)
            verdict_seen: float | None = None
            with trio.move_on_after(args.timeout + 15):
                while registry.poll() is None:
                    if verdict_seen is None and find_verdict(logs, kind):
                        verdict_seen = time.monotonic()
                        report.run_seconds = round(verdict_seen - began, 2)
                    elif verdict_seen is not None and time.monotonic() - verdict_seen > 5:
                        report.notes.append("the registry did not exit within 5 s of its verdict")
                        break
                    if victim.poll() is None:
                        try:
                            rss, fds = sample(victim.pid)
                            report.peak_rss_mb = max(report.peak_rss_mb, rss)
                            report.peak_fds = max(report.peak_fds, fds)
                        except OSError:
                            pass
                    await trio.sleep(0.1)
            if verdict_seen is None:
                report.run_seconds = round(time.monotonic() - began, 2)
            # Before the registry's exit closes what is left.
            report.flood_opened = flood.opened
            report.flood_closed_by_victim = flood.closed_by_victim
            nursery.cancel_scope.cancel()
    except (RuntimeError, trio.TooSlowError) as exc:
        report.notes.append(f"could not start: {exc or 'timeout'}")
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for err in files:
            err.close()
    report.exit_status = registry.returncode
    verdicts = find_verdict(logs, kind)
    report.verdict = (
        verdicts[-1].split(":")[0] if verdicts else f"no verdict (exit {registry.returncode})"
    )
    if verdicts and report.verdict != "CORRECT":
        report.notes.append(verdicts[-1][:200])
    victim_log = (
        logs / f"{kind}-{'registry' if report.victim == 'registry' else 'node0'}.err"
    ).read_text(errors="replace")
    report.warnings = sum("WARNING" in line for line in victim_log.splitlines())
    report.tracebacks = victim_log.count("Traceback")
    if report.verdict != "CORRECT":
        tail = [
            ln for ln in (logs / f"{kind}-node1.err").read_text(errors="replace").splitlines() if ln
        ]
        if tail:
            report.notes.append(f"node1: {tail[-1][:160]}")
    return report


async def drive_console(
    registry: subprocess.Popen[bytes], log: Path, args: argparse.Namespace, nr: int
) -> None:
    """Type at the registry's console what an unattended run does, with a
    pause of --start-after seconds between ready and start."""

    async def logged(text: str, count: int = 1) -> None:
        with trio.fail_after(args.timeout):
            while log.read_text(errors="replace").count(text) < count:
                await trio.sleep(0.1)

    def type_in(line: str) -> None:
        assert registry.stdin is not None
        registry.stdin.write(f"{line}\n".encode())
        registry.stdin.flush()

    await logged("Registered node", args.nodes)
    type_in(f"setup-overlay {nr}")
    await logged("Registry now ready")
    await trio.sleep(args.start_after)
    type_in(f"start {args.packets}")
    await logged("CORRECT")  # (INCORRECT too)
    type_in("exit")


def find_verdict(logs: Path, kind: str) -> list[str]:
    """The verdict lines the registry has printed so far (stdout or stderr)."""
    out = (logs / f"{kind}-registry.out").read_text(errors="replace")
    out += (logs / f"{kind}-registry.err").read_text(errors="replace")
    return [ln for ln in out.splitlines() if ln.startswith(("CORRECT", "INCORRECT"))]


def format_report(r: Report) -> str:
    return (
        f"{r.flood:10s} victim={r.victim:8s} C={r.connections:<5d} verdict={r.verdict:10s} "
        f"time={r.run_seconds:6.1f}s peak_rss={r.peak_rss_mb:6.1f}MB peak_fds={r.peak_fds:<5d} "
        f"warnings={r.warnings:<6d} tracebacks={r.tracebacks:<4d} "
        f"opened={r.flood_opened} closed_by_victim={r.flood_closed_by_victim}"
        + ("".join(f"  [{n}]" for n in r.notes))
    )


async def main_async(args: argparse.Namespace) -> list[Report]:
    reports = []
    with tempfile.TemporaryDirectory(prefix="flood-") as tmp:
        logs = Path(args.logs) if args.logs else Path(tmp)
        logs.mkdir(parents=True, exist_ok=True)
        for kind in args.floods:
            print(f"flood {kind}: {args.connections} connections ...", file=sys.stderr, flush=True)
            report = await one_flood(kind, args, logs)
            reports.append(report)
            print(json.dumps(asdict(report)) if args.json else format_report(report), flush=True)
    return reports


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--floods", default=",".join(FLOODS), help=f"comma-separated, from {', '.join(FLOODS)}"
    )
    parser.add_argument(
        "--connections", type=int, default=256, help="hostile connections (default 256)"
    )
    parser.add_argument("--nodes", type=int, default=10, help="legitimate nodes (default 10)")
    parser.add_argument("--packets", type=int, default=2000, help="packets per node (default 2000)")
    parser.add_argument(
        "--timeout", type=int, default=60, help="the registry's --timeout (default 60)"
    )
    parser.add_argument(
        "--nofile", type=int, default=None, help="RLIMIT_NOFILE of the victim (e.g. 1024)"
    )
    parser.add_argument(
        "--start-after", type=float, default=None, metavar="SECONDS",
        help="drive the registry's console: start the run this long after the overlay is ready",
    )  # fmt: skip
    parser.add_argument("--logs", default=None, help="keep the processes' stderr in this directory")
    parser.add_argument("--json", action="store_true", help="one JSON object per flood")
    args = parser.parse_args(argv)
    args.floods = [f for f in args.floods.split(",") if f]
    unknown = sorted(set(args.floods) - set(FLOODS))
    if unknown:
        parser.error(f"unknown flood(s): {', '.join(unknown)}")
    if not 1 <= args.connections <= 5000:
        parser.error("--connections must be 1..5000")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    reports = trio.run(main_async, args)
    return 0 if all(r.verdict == "CORRECT" for r in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
