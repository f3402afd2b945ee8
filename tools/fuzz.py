"""Throw malformed frames at a live registry and a live node, then prove
they still work.

Starts, in this process, a registry and a few messaging nodes on 127.0.0.1,
sets up their overlay, and sends each malformed frame on a fresh
connection: random bytes, truncated frames, unknown types, absurd lengths
(0, negative, 2**31-1, 2**63), trailing bytes, and valid frames in the
wrong state. Afterwards it checks that:

- every offending connection was closed with exactly one log line naming
  the peer and the reason;
- no task leaked (the trio task tree is the size it was);
- memory did not grow with the claimed lengths;
- the registry and nodes still complete an exact run.

Prints a JSON record (with --json) and exits 0 only if every check holds.

    python tools/fuzz.py --frames 100000 --wire both
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import resource
import struct
import sys
import time
from collections.abc import Callable

import trio

from trio_dht.services.node import MessagingNode
from trio_dht.services.observer import Observer
from trio_dht.services.registry import Registry
from trio_dht.wire import Dialect, get_dialect
from trio_dht.wire.messages import (
    Data,
    Message,
    NodeManifest,
    OverlaySetupStatus,
    PeerEntry,
    ProgressReport,
    Registration,
    RegistrationStatus,
    TaskFinished,
    TaskInitiate,
    TrafficSummary,
    TrafficSummaryRequest,
)

HOST = "127.0.0.1"


class ClosingLines(logging.Handler):
    """Counts the one-line reports of closed offending connections."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.count = 0
        self.examples: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if text.startswith("closing connection from"):
            self.count += 1
            if len(self.examples) < 12 and not any(
                text.split(": ", 1)[-1][:30] in e for e in self.examples
            ):
                self.examples.append(text)


def random_message(rng: random.Random) -> Message:
    """Any well-formed message (to be truncated or padded)."""
    ident = rng.randrange(128)
    pick = rng.randrange(6)
    if pick == 0:
        return Registration(HOST, rng.randrange(1, 65536))
    if pick == 1:
        return RegistrationStatus(ident, "x" * rng.randrange(40))
    if pick == 2:
        entries = tuple(PeerEntry(rng.randrange(128), HOST, 1000 + i) for i in range(3))
        return NodeManifest(entries, tuple(sorted(rng.sample(range(128), 5))))
    if pick == 3:
        return Data(ident, rng.randrange(128), rng.randrange(-(2**31), 2**31), (1, 2))
    if pick == 4:
        return TrafficSummary(ident, 5, 6, -7, 8, 9)
    return TaskInitiate(rng.randrange(1000))


def wrong_state_for_registry(rng: random.Random, known: list[int]) -> Message:
    """Valid frames the registry must refuse from a stranger."""
    # Strangers only: a message naming a registered node, from that node's
    # host, is how one-message-per-connection nodes talk (and on loopback
    # every sender shares the host), so it is not an offence.
    stranger = rng.choice([i for i in range(128) if i not in known])
    pick = rng.randrange(6)
    if pick == 0:
        return TaskFinished(HOST, 1, stranger)
    if pick == 1:
        return TrafficSummary(stranger, 1, 2, 3, 4, 5)
    if pick == 2:
        return ProgressReport(stranger, 1, 2, 3, 4, 5)
    if pick == 3:
        return OverlaySetupStatus(stranger, "ok")
    if pick == 4:
        return TaskInitiate(10)
    return TrafficSummaryRequest()


def wrong_state_for_node(rng: random.Random, known: list[int]) -> Message:
    """Valid frames a set-up, idle node must refuse."""
    pick = rng.randrange(5)
    if pick == 0:
        return TrafficSummaryRequest()  # no task has run since the last summary
    if pick == 1:
        return Registration(HOST, 4242)
    if pick == 2:
        return TaskFinished(HOST, 1, rng.choice(known))
    if pick == 3:
        return TrafficSummary(rng.choice(known), 1, 2, 3, 4, 5)
    outside = rng.choice([i for i in range(128) if i not in known])
    return Data(outside, rng.choice(known), 7)


def malformed(
    dialect: Dialect, rng: random.Random, wrong_state: Callable[[random.Random], Message]
) -> tuple[str, bytes]:
    """One offending byte string and its category."""
    header = struct.Struct(">i") if dialect.name == "cs455" else struct.Struct(">Q")
    kind = rng.randrange(7)
    if kind == 0:
        # Random bytes, made certainly malformed by an absurd first byte or
        # by being shorter than a header.
        if rng.random() < 0.5:
            return "random", bytes([0xFF]) + rng.randbytes(rng.randrange(0, 40))
        return "random", rng.randbytes(rng.randrange(1, header.size))
    if kind == 1:
        frame = dialect.encode(random_message(rng))
        return "truncated", frame[: rng.randrange(1, len(frame))]
    if kind == 2:
        body = bytes([rng.choice([0, 1, 13, 50, 99, 127, 200, 255])]) + rng.randbytes(8)
        if dialect.name == "minichord":
            body = bytes([0xFA, 0x3E]) + rng.randbytes(8)  # an unknown oneof member
        return "unknown type", header.pack(len(body)) + body
    if kind == 3:
        sizes = [0, 2**31 - 1] + ([-1, -(2**31)] if dialect.name == "cs455" else [2**63])
        return "absurd length", header.pack(rng.choice(sizes)) + rng.randbytes(16)
    if kind == 4:
        frame = dialect.encode(random_message(rng))
        body = frame[header.size :] + rng.randbytes(rng.randrange(1, 9))
        if dialect.name == "minichord":
            body = frame[header.size :] + b"\x00"  # a field number of 0 is invalid
        return "trailing bytes", header.pack(len(body)) + body
    if kind == 5:
        return "huge claimed length", header.pack(2**20 + 1) + rng.randbytes(64)
    return "wrong state", dialect.encode(wrong_state(rng))


def count_tasks() -> int:
    def walk(task: trio.lowlevel.Task) -> int:
        return 1 + sum(walk(t) for n in task.child_nurseries for t in n.child_tasks)

    root = trio.lowlevel.current_root_task()
    assert root is not None  # (inside trio.run)
    return walk(root)


async def throw(
    dialect: Dialect,
    port: int,
    frames: int,
    rng: random.Random,
    wrong_state: Callable[[random.Random], Message],
    concurrency: int,
    categories: dict[str, int],
    answered: list[int],
) -> int:
    """Send ``frames`` offending byte strings, one per connection; returns
    how many connections carried at least one byte. A frame that happens to
    be a well-formed request anyone may make (a deregistration, say) is
    answered, not an offence: those are counted in ``answered[0]``."""
    sent = 0
    work = [malformed(dialect, rng, wrong_state) for _ in range(frames)]
    for kind, _ in work:
        categories[kind] = categories.get(kind, 0) + 1

    async def worker(k: int) -> None:
        nonlocal sent
        for _, payload in work[k::concurrency]:
            stream = await trio.open_tcp_stream(HOST, port)
            try:
                await stream.send_all(payload)
                await stream.send_eof()
                # Wait for the other side to close (it must, having read
                # something it rejects, or having answered it).
                reply = b""
                while chunk := await stream.receive_some(4096):
                    reply += chunk
                if reply:
                    answered[0] += 1
            except trio.BrokenResourceError:
                pass
            finally:
                await stream.aclose()
            sent += 1

    async with trio.open_nursery() as nursery:
        for k in range(concurrency):
            nursery.start_soon(worker, k)
    return sent


async def fuzz_dialect(name: str, frames: int, seed: int, concurrency: int) -> dict[str, object]:
    dialect = get_dialect(name)
    rng = random.Random(seed)
    handler = ClosingLines()
    package_log = logging.getLogger("trio_dht")
    package_log.addHandler(handler)
    package_log.setLevel(logging.WARNING)
    # Counted, not printed: 100,000 lines would drown the result.
    package_log.propagate = False
    registry = Registry(dialect, Observer())
    checks: dict[str, bool] = {}
    result: dict[str, object] = {"wire": name, "frames": 0}
    try:
        async with trio.open_nursery() as nursery:
            port = await nursery.start(registry.serve, HOST, 0)
            nodes = [await nursery.start(MessagingNode(HOST, port, dialect).run) for _ in range(3)]
            registry.setup_overlay(1)
            await registry.wait_ready()
            known = sorted(registry.nodes)
            await trio.sleep(0.1)
            tasks_before = count_tasks()
            rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            categories: dict[str, int] = {}
            answered = [0]
            started = time.perf_counter()
            half = frames // 2
            at_registry = await throw(
                dialect, port, half, rng, lambda r: wrong_state_for_registry(r, known),
                concurrency, categories, answered,
            )  # fmt: skip
            at_node = await throw(
                dialect, nodes[0].port, frames - half, rng,
                lambda r: wrong_state_for_node(r, known), concurrency, categories, answered,
            )  # fmt: skip
            elapsed = time.perf_counter() - started
            # Let the last handlers finish.
            with trio.move_on_after(5):
                while registry.core.admission.pending or nodes[0].incoming:
                    await trio.sleep(0.01)
            await trio.sleep(0.05)
            rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            tasks_after = count_tasks()
            # Random bytes may happen to form a request anyone may make (it
            # is answered) or a packet a peer may send (it is routed): those
            # are no offence. Every certainly malformed frame is one line,
            # and no connection is more than one.
            malformed_for_sure = sum(
                categories.get(kind, 0)
                for kind in ("truncated", "huge claimed length", "absurd length", "unknown type")
            )
            checks["one log line per offending connection"] = (
                malformed_for_sure <= handler.count <= at_registry + at_node - answered[0]
            )
            checks["no task leaked"] = tasks_after == tasks_before
            checks["memory did not grow with claimed lengths"] = rss_after - rss_before < 64 * 1024
            checks["registry still has every node"] = sorted(registry.nodes) == known
            run = registry.start(2000)
            with trio.move_on_after(30):
                await run.done.wait()
            checks["an exact run afterwards"] = run.result is not None and run.result.correct
            result.update(
                frames=at_registry + at_node,
                at_registry=at_registry,
                at_node=at_node,
                categories=categories,
                closing_log_lines=handler.count,
                tasks_before=tasks_before,
                tasks_after=tasks_after,
                max_rss_growth_kib=rss_after - rss_before,
                seconds=round(elapsed, 2),
                verdict=run.result.verdict() if run.result else "no result",
                examples=handler.examples,
            )
            nursery.cancel_scope.cancel()
    finally:
        logging.getLogger("trio_dht").removeHandler(handler)
    result["checks"] = checks
    result["ok"] = all(checks.values()) and len(checks) == 5
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=100_000,
                        help="malformed frames per dialect, half at the registry, half at a node")  # fmt: skip
    parser.add_argument("--wire", choices=["cs455", "minichord", "both"], default="both")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--json", action="store_true", help="print one JSON record per dialect")
    args = parser.parse_args(argv)
    wires = ["cs455", "minichord"] if args.wire == "both" else [args.wire]
    ok = True
    for wire in wires:
        record = trio.run(fuzz_dialect, wire, args.frames, args.seed, args.concurrency)
        ok = ok and bool(record["ok"])
        if args.json:
            print(json.dumps(record), flush=True)
        else:
            print(f"{wire}: {record['frames']} malformed frames in {record['seconds']} s "
                  f"({record['at_registry']} at the registry, {record['at_node']} at a node)")  # fmt: skip
            checks = record["checks"]
            assert isinstance(checks, dict)
            for check, passed in checks.items():
                print(f"  {'ok  ' if passed else 'FAIL'} {check}")
            print(f"  closing log lines: {record['closing_log_lines']}; tasks before/after: "
                  f"{record['tasks_before']}/{record['tasks_after']}; max RSS growth: "
                  f"{record['max_rss_growth_kib']} KiB")  # fmt: skip
            print(f"  categories: {record['categories']}")
            print(f"  afterwards: {record['verdict']}")
            examples = record["examples"]
            assert isinstance(examples, list)
            for example in examples:
                print(f"  e.g. {example}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
