"""Dialect.route_batch: a dialect's fused per-batch router (cs455 writes
data_head, trace_has and relay inline) does exactly what the generic loop
over those per-packet methods does."""

from __future__ import annotations

import random

import pytest

from trio_dht.wire import Dialect, get_dialect
from trio_dht.wire.messages import Data, TaskInitiate

ME = 39
IDS = [3, 14, 27, 39, 51, 64, 77, 88, 101, 115]


def _batch(dialect: Dialect, rng: random.Random) -> list[bytes]:
    """Data for ``ME`` and for others, traces with and without ``ME``,
    destinations outside the ring and the id space, control frames and
    truncated data bodies, shuffled."""
    frames = []
    for _ in range(400):
        destination = rng.choice([*IDS, ME, ME, 5, 127])
        trace = tuple(rng.sample([i for i in IDS if i != destination], rng.randint(0, 4)))
        frames.append(
            dialect.encode(
                Data(destination, rng.choice(IDS), rng.randint(-(2**31), 2**31 - 1), trace)
            )
        )
    frames.append(dialect.encode(TaskInitiate(5)))
    bodies = dialect.framer().feed(b"".join(frames))
    bodies.append(bodies[0][:-1])  # a data body cut short: not data
    rng.shuffle(bodies)
    return bodies


@pytest.mark.parametrize("wire", ["cs455", "minichord"])
@pytest.mark.parametrize("check_loops", [True, False])
def test_route_batch_equals_the_per_packet_methods(wire: str, check_loops: bool) -> None:
    dialect = get_dialect(wire)
    rng = random.Random(7)
    hop = [-1] * 128
    for destination in IDS:
        if destination != ME:
            hop[destination] = rng.randrange(3)
    for _ in range(5):
        bodies = _batch(dialect, rng)
        fused: list[list[bytes]] = [[], [], []]
        generic: list[list[bytes]] = [[], [], []]
        fused_relays, generic_relays = [0] * 256, [0] * 256
        got = dialect.route_batch(bodies, ME, hop, fused, check_loops, fused_relays)
        want = Dialect.route_batch(dialect, bodies, ME, hop, generic, check_loops, generic_relays)
        assert got == want
        assert fused == generic
        assert fused_relays == generic_relays
        assert sum(fused_relays) == got.received
        # The batch really exercised every branch.
        assert got.received and got.relayed and got.stray and got.others
        assert bool(got.looped) == check_loops


@pytest.mark.parametrize("wire", ["cs455", "minichord"])
def test_originate_batch_equals_encode_data(wire: str) -> None:
    dialect = get_dialect(wire)
    rng = random.Random(3)
    hop = [-1] * 128
    others = [i for i in IDS if i != ME]
    for destination in others:
        hop[destination] = rng.randrange(3)
    destinations = rng.choices(others, k=300)
    payloads = tuple(rng.randint(-(2**31), 2**31 - 1) for _ in destinations)
    fused: list[list[bytes]] = [[], [], []]
    dialect.originate_batch(destinations, payloads, ME, hop, fused)
    generic: list[list[bytes]] = [[], [], []]
    Dialect.originate_batch(dialect, destinations, payloads, ME, hop, generic)
    assert fused == generic
    assert sum(map(len, fused)) == 300
    (first,) = dialect.framer().feed(fused[hop[destinations[0]]][0])
    assert dialect.decode(first) == Data(destinations[0], ME, payloads[0], ())
