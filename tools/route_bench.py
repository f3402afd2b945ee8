"""Microbenchmark of a node's per-packet data path, no sockets, no trio.

Routes a batch of 2,000 data frames (mostly to relay, some delivered, traces
of 0-3 ids) through ``DataPlane.route`` as a node of a 10-node ring with NR 3,
with each dialect's fused ``route_batch`` and with the generic one written in
terms of the per-packet methods; then originates a burst with
``originate_batch`` both ways. Prints the best of 7 timings in ns per packet.
Numbers only, never asserted (see docs/BENCHMARKS.md).

    python tools/route_bench.py            # best of 7 x 50 rounds
    python tools/route_bench.py --quick    # one round: proves it runs (CI)
"""

from __future__ import annotations

import argparse
import random
import struct
import time
from collections.abc import Callable

from trio_dht.protocol.manifest import check_manifest
from trio_dht.protocol.node_counters import Counters
from trio_dht.services.node_data import DataPlane, Peer
from trio_dht.wire import Dialect, get_dialect
from trio_dht.wire.messages import Data, NodeManifest, PeerEntry

IDS = (3, 14, 27, 39, 51, 64, 77, 88, 101, 115)
ME = 39

# (repeats, rounds per repeat): full, and --quick
FULL = (7, 50)
QUICK = (1, 1)


def best(run: Callable[[], object], packets: int, counts: tuple[int, int] = FULL) -> float:
    """The best of ``repeats`` timings of ``rounds`` calls, in ns per packet."""
    repeats, rounds = counts
    times = []
    for _ in range(repeats):
        start = time.process_time()
        for _ in range(rounds):
            run()
        times.append((time.process_time() - start) / (rounds * packets))
    return min(times) * 1e9


def plane(dialect: Dialect) -> DataPlane:
    position = IDS.index(ME)
    entries = tuple(
        PeerEntry(IDS[(position + 2**k) % len(IDS)], "127.0.0.1", 4000 + k) for k in range(3)
    )
    data = DataPlane(dialect, Counters())
    peers = [Peer(e.node_id, e.host, e.port, writer=None) for e in entries]  # type: ignore[arg-type]
    data.install(1, check_manifest(ME, NodeManifest(entries, IDS)), peers)
    return data


def bodies(dialect: Dialect, rng: random.Random) -> list[bytes]:
    others = [i for i in IDS if i != ME]
    frames = b"".join(
        dialect.encode(
            Data(
                rng.choice([*others, ME]),
                rng.choice(others),
                rng.randint(-(2**31), 2**31 - 1),
                tuple(rng.sample(others, rng.randint(0, 3))),
            )
        )
        for _ in range(2000)
    )
    return dialect.framer().feed(frames)


def measure(wire: str, counts: tuple[int, int] = FULL) -> tuple[float, float, float, float]:
    """ns per packet: route fused, route generic, originate fused, generic."""
    dialect = get_dialect(wire)
    rng = random.Random(1)
    batch = bodies(dialect, rng)
    fused = plane(dialect)
    generic = plane(dialect)
    # The generic loop, as a dialect without a fused one would run it.
    route_generic = Dialect.route_batch.__get__(dialect)
    generic.dialect = type("Generic", (), {"route_batch": route_generic})()
    route = (
        best(lambda: fused.route(batch), len(batch), counts),
        best(lambda: generic.route(batch), len(batch), counts),
    )
    destinations = rng.choices([i for i in IDS if i != ME], k=2048)
    payloads = struct.unpack(">2048i", rng.randbytes(4 * 2048))
    hop = fused.hop
    fused_originate = dialect.originate_batch
    generic_originate = Dialect.originate_batch.__get__(dialect)
    originate = (
        best(lambda: fused_originate(destinations, payloads, ME, hop, [[], [], []]), 2048, counts),
        best(
            lambda: generic_originate(destinations, payloads, ME, hop, [[], [], []]), 2048, counts
        ),
    )
    return (*route, *originate)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one round each (CI)")
    counts = QUICK if parser.parse_args().quick else FULL
    for wire in ("cs455", "minichord"):
        route_fused, route_generic, originate_fused, originate_generic = measure(wire, counts)
        print(
            f"{wire:9}  route: fused {route_fused:6.0f} ns/packet, generic {route_generic:6.0f}"
            f"   originate: fused {originate_fused:5.0f}, generic {originate_generic:5.0f}"
        )


if __name__ == "__main__":
    main()
