"""The checker's bookkeeping without sockets: hop verdicts, lanes, batches,
the match of forwarded packets to handed ones, chi-square."""

from __future__ import annotations

import random

from trio_dht.checker.ledger import (
    OUTSIDE_TABLE,
    OVERSHOOT,
    OWN_PACKET,
    WRONG_ENTRY,
    Arrival,
    Injected,
    Ledger,
    chi_square,
    hop_verdict,
    lanes,
    make_batch,
)
from trio_dht.overlay import routing_tables
from trio_dht.wire.messages import Data

# SYSTEM.md's example ring: 97 -> 82 travels 97 -> 19 -> 60 -> 82.
RING = (4, 18, 19, 33, 60, 82, 97, 119)
TABLES = routing_tables(RING, 3)


def test_hop_verdicts_charge_each_mistake_to_one_rule() -> None:
    table = TABLES[19]  # (33, 60, 97)
    assert hop_verdict(19, table, 82, 60) is None
    assert hop_verdict(19, table, 60, 60) is None
    assert hop_verdict(19, table, 19, 33) == OWN_PACKET
    assert hop_verdict(19, table, 82, 4) == OUTSIDE_TABLE
    assert hop_verdict(19, table, 82, 97) == OVERSHOOT
    assert hop_verdict(19, table, 82, 33) == WRONG_ENTRY


def test_lanes_are_the_routes_through_the_node_with_their_traces() -> None:
    found = lanes(60, TABLES)
    lane = next(x for x in found if (x.source, x.destination) == (97, 82))
    assert (lane.via, lane.trace) == (19, (19,))
    assert all(lane.source != 60 for lane in found)
    assert any(lane.destination == 60 for lane in found)


def test_every_probe_ends_its_batch_with_a_relay() -> None:
    batch = make_batch(60, lanes(60, TABLES), 200, random.Random(1))
    assert len(batch) >= 200
    last: dict[int, Injected] = {}
    for item in batch:
        last[item.via] = item
    assert all(item.packet.destination != 60 for item in last.values())


def test_forwards_are_matched_counted_and_judged() -> None:
    ledger = Ledger(19, TABLES[19], RING)
    relay = Injected(Data(82, 97, 5, ()), via=97)
    home = Injected(Data(19, 4, 7, (119,)), via=4)
    ledger.inject(relay)
    ledger.inject(home)
    assert ledger.awaited == 1
    ledger.arrive(Arrival(60, Data(82, 97, 5, (19,)), b"", 0.0))
    ledger.arrive(Arrival(33, Data(60, 19, -3, ()), b"", 0.0))  # its own, to the wrong entry
    ledger.arrive(Arrival(33, Data(60, 4, 99, ()), b"", 0.0))  # never handed over
    assert ledger.awaited == 0
    assert [a.packet.payload for a in ledger.originations] == [-3]
    assert [a.packet.payload for a in ledger.strays] == [99]
    counts = ledger.since("start")
    assert (counts.sent, counts.sum_sent, counts.received, counts.sum_received,
            counts.relayed) == (1, -3, 1, 7, 1)  # fmt: skip
    assert [v for v, _, _ in ledger.bad_hops] == [WRONG_ENTRY]


def test_segments_sum_from_the_last_mark_of_a_name() -> None:
    ledger = Ledger(19, TABLES[19], RING)
    ledger.inject(Injected(Data(19, 4, 1, ()), via=4))
    ledger.mark("summary1")
    ledger.inject(Injected(Data(19, 4, 2, ()), via=4))
    ledger.mark("task2")
    ledger.inject(Injected(Data(19, 4, 4, ()), via=4))
    assert ledger.since("start").sum_received == 7
    assert ledger.since("summary1").sum_received == 6
    assert ledger.since("task2").sum_received == 4


def test_chi_square_tells_uniform_from_skewed() -> None:
    others = list(range(9))
    rng = random.Random(3)
    _, uniform = chi_square([rng.choice(others) for _ in range(3000)], others)
    _, skewed = chi_square([0] * 1000 + [rng.choice(others) for _ in range(2000)], others)
    assert uniform > 0.01
    assert skewed < 1e-6
