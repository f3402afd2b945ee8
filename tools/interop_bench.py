#!/usr/bin/env python3
"""Interop benchmark: a trio_dht registry drives scripted
one-message-per-connection Go nodes (tests/peers/go_per_message.py), by
default 10 x 25,000 packets with NR 3: issue 10's "exact totals at 10 x
25,000". Every data packet is a TCP connection (about 470,000 of them).

``--registry inline`` (default) runs trio_dht's Registry object in this
process with ``--run-timeout`` raised; ``--registry cli`` runs the real
unattended program (``python -m trio_dht registry --wire minichord --start
N``), which keeps its default run timeout: these nodes report no progress,
so a run longer than that timeout is given up.

The Go nodes run in ``--workers`` processes (2 by default: one per core),
with the port's quirks at their defaults except ``hold_accepted``: the real
process lets Go's garbage collector close connections it accepted, and
holding ~47,000 per node would exhaust file descriptors.

Prints (stdout) the registry's verdict line, the wall time from launching
the registry to its exit, and the sockets in TIME_WAIT at the end; the
local port range is shown because the dialling side of every connection
keeps it in TIME_WAIT for a minute.

    .venv/bin/python tools/interop_bench.py [--nodes 10] [--packets 25000]
"""

from __future__ import annotations

import argparse
import functools
import os
import random
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_listening(port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"the registry did not listen on {port} in time")


def time_wait_count() -> int | None:
    try:
        out = subprocess.run(
            ["ss", "-tanH", "state", "time-wait"], capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return len(out.splitlines())


def worker(registry_port: int, count: int, seed: int) -> None:
    """Run ``count`` scripted Go nodes until killed."""
    sys.path.insert(0, str(ROOT / "tests"))
    import trio
    from peers.connlog import ConnLog
    from peers.go_per_message import GoNode, GoQuirks

    async def main() -> None:
        log = ConnLog(record=False)
        quirks = GoQuirks(hold_accepted=False)
        async with trio.open_nursery() as nursery:
            for k in range(count):
                node = GoNode("127.0.0.1", registry_port, log, quirks, random.Random(seed + k))
                await nursery.start(node.run)

    trio.run(main)


def inline(args: argparse.Namespace) -> tuple[str, bool, str]:
    """The registry object in this process; returns (verdict, correct,
    timings)."""
    import trio

    from trio_dht.services.config import RegistryConfig
    from trio_dht.services.observer import Observer
    from trio_dht.services.registry import Registry
    from trio_dht.wire import get_dialect

    class Stderr(Observer):
        def say(self, text: str) -> None:
            print(text, file=sys.stderr, flush=True)

    config = RegistryConfig(grace=args.grace, run_timeout=args.run_timeout)
    registry = Registry(get_dialect("minichord"), Stderr(), config, random.Random(1))

    async def main() -> tuple[str, bool, str]:
        async with trio.open_nursery() as nursery:
            port = await nursery.start(registry.serve, "127.0.0.1", 0)
            for index, count in enumerate(shares(args)):
                command = [
                    sys.executable,
                    __file__,
                    "--worker",
                    str(port),
                    str(count),
                    str(index * 1000),
                ]
                await nursery.start(functools.partial(trio.run_process, command, check=False))
            with trio.fail_after(120):
                await registry.wait_for_nodes(args.nodes)
                registry.setup_overlay(args.nr)
                await registry.wait_ready()
            run = registry.start(args.packets)
            with trio.fail_after(args.timeout):
                await run.done.wait()
            nursery.cancel_scope.cancel()
        result = run.result
        assert result is not None
        timing = f"start -> verdict {result.elapsed:.1f} s"
        if result.sending_elapsed is not None:
            timing += f", sending {result.sending_elapsed:.1f} s"
        return result.verdict(), result.correct, timing

    return trio.run(main)


def shares(args: argparse.Namespace) -> list[int]:
    """How many Go nodes each worker process runs."""
    split = [
        args.nodes // args.workers + (i < args.nodes % args.workers) for i in range(args.workers)
    ]
    return [count for count in split if count]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=10)
    parser.add_argument("--packets", type=int, default=25_000)
    parser.add_argument("--nr", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--grace", type=float, default=3.0)
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument(
        "--run-timeout",
        type=float,
        default=1800.0,
        help="inline registry: give up a run without progress after this long",
    )
    parser.add_argument("--registry", choices=["inline", "cli"], default="inline")
    parser.add_argument(
        "--worker", nargs=3, type=int, metavar=("PORT", "COUNT", "SEED"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker)
        return 0

    low_high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
    print(f"local port range: {low_high[0]}-{low_high[1]}", file=sys.stderr)
    started = time.monotonic()
    if args.registry == "inline":
        verdict, correct, timing = inline(args)
        report(args, verdict, f"{timing}; {time.monotonic() - started:.1f} s in all", low_high)
        return 0 if correct else 1
    python = sys.executable
    port = free_port()
    registry = subprocess.Popen(
        [
            python,
            "-m",
            "trio_dht",
            "registry",
            "--wire",
            "minichord",
            "--host",
            "127.0.0.1",
            "--start",
            str(args.packets),
            "--nodes",
            str(args.nodes),
            "--nr",
            str(args.nr),
            "--grace",
            str(args.grace),
            "--timeout",
            str(args.timeout),
            "-q",
            str(port),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    workers: list[subprocess.Popen[bytes]] = []
    try:
        wait_listening(port, time.monotonic() + 30)
        for index, count in enumerate(shares(args)):
            command = [python, __file__, "--worker", str(port), str(count), str(index * 1000)]
            workers.append(subprocess.Popen(command, cwd=ROOT))
        out, _ = registry.communicate(timeout=args.timeout + 60)
    finally:
        for process in workers:
            process.terminate()
        for process in workers:
            process.wait(timeout=30)
        if registry.poll() is None:
            registry.terminate()
            registry.wait(timeout=30)
    elapsed = time.monotonic() - started
    lines = [line for line in out.splitlines() if line.strip()]
    verdict = lines[-1] if lines else "(no output)"
    timing = f"registry exit status {registry.returncode}, {elapsed:.1f} s from launch to exit"
    report(args, verdict, timing, low_high)
    return 0 if registry.returncode == 0 else 1


def report(args: argparse.Namespace, verdict: str, timing: str, low_high: list[str]) -> None:
    print(
        f"{args.registry} registry, {args.nodes} Go nodes x {args.packets} packets, "
        f"NR {args.nr}, {args.workers} worker processes"
    )
    print(f"verdict: {verdict}")
    print(timing)
    print(f"sockets in TIME_WAIT at the end (whole machine): {time_wait_count()}")
    print(f"local port range: {low_high[0]}-{low_high[1]}")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
