#!/usr/bin/env python3
"""Interop benchmark: a trio_dht registry (the real unattended program,
``python -m trio_dht registry --wire minichord --start N``) drives scripted
one-message-per-connection Go nodes (tests/peers/go_per_message.py), by
default 10 x 25,000 packets with NR 3: issue 10's "exact totals at 10 x
25,000". Every data packet is a TCP connection (about 470,000 of them).

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=10)
    parser.add_argument("--packets", type=int, default=25_000)
    parser.add_argument("--nr", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--grace", type=float, default=3.0)
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument(
        "--worker", nargs=3, type=int, metavar=("PORT", "COUNT", "SEED"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker)
        return 0

    python = sys.executable
    port = free_port()
    low_high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
    print(f"local port range: {low_high[0]}-{low_high[1]}", file=sys.stderr)
    started = time.monotonic()
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
        share = [
            args.nodes // args.workers + (i < args.nodes % args.workers)
            for i in range(args.workers)
        ]
        for index, count in enumerate(share):
            if count:
                workers.append(
                    subprocess.Popen(
                        [python, __file__, "--worker", str(port), str(count), str(index * 1000)],
                        cwd=ROOT,
                    )
                )
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
    print(
        f"nodes {args.nodes} x {args.packets} packets, NR {args.nr}, "
        f"{args.workers} worker processes"
    )
    print(f"verdict: {verdict}")
    print(f"registry exit status {registry.returncode}, {elapsed:.1f} s from launch to exit")
    print(f"sockets in TIME_WAIT at the end: {time_wait_count()}")
    print(f"local port range: {low_high[0]}-{low_high[1]}")
    return 0 if registry.returncode == 0 else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
