"""What a node under test was handed and what it sent, and what it should have (sans-IO).

The checker's own peers are every other node of the overlay, so every data
packet the node under test sends lands on one of them. The ledger matches each
such packet to a packet the checker injected (a relay) or calls it an
origination, judges the hop against the rule of SYSTEM.md, and keeps the
counters the node must report, split in segments so a wrong reset can be told
from a wrong count.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Sequence

import attrs

from trio_dht.overlay import distance, next_hop, route
from trio_dht.wire.messages import Data


@attrs.frozen
class Injected:
    """A packet the checker hands the node: it arrives from probe ``via``."""

    packet: Data
    via: int


@attrs.frozen
class Arrival:
    """A data packet the node under test sent to the checker's node ``probe``."""

    probe: int
    packet: Data
    frame: bytes
    time: float


@attrs.define
class Counts:
    sent: int = 0
    sum_sent: int = 0
    received: int = 0
    sum_received: int = 0
    relayed: int = 0

    def add(self, other: Counts) -> Counts:
        return Counts(*(a + b for a, b in zip(attrs.astuple(self), attrs.astuple(other),
                                                strict=True)))  # fmt: skip

    def as_dict(self) -> dict[str, int]:
        return attrs.asdict(self)


# The ways a forwarded packet can break the routing rule; each is one case.
OUTSIDE_TABLE = "outside-table"
OVERSHOOT = "overshoot"
WRONG_ENTRY = "wrong-entry"
OWN_PACKET = "own-packet"  # a packet for the node itself, forwarded


def hop_verdict(me: int, table: Sequence[int], destination: int, hop: int) -> str | None:
    """None when sending a packet for ``destination`` to ``hop`` obeys the rule."""
    if destination == me:
        return OWN_PACKET
    if hop not in table:
        return OUTSIDE_TABLE
    if hop != destination and distance(me, hop) > distance(me, destination):
        return OVERSHOOT
    if hop != next_hop(me, destination, table):
        return WRONG_ENTRY
    return None


def key(packet: Data) -> tuple[int, int, int]:
    return (packet.destination, packet.source, packet.payload)


@attrs.define
class Ledger:
    me: int
    table: tuple[int, ...]
    ids: tuple[int, ...]
    segments: list[tuple[str, Counts]] = attrs.field(factory=list)
    pending: dict[tuple[int, int, int], list[Injected]] = attrs.field(factory=dict)
    relays: list[tuple[Injected, Arrival]] = attrs.field(factory=list)
    originations: list[Arrival] = attrs.field(factory=list)
    strays: list[Arrival] = attrs.field(factory=list)
    # Forwards that break the rule: (verdict, packet as received, arrival).
    bad_hops: list[tuple[str, Data | None, Arrival]] = attrs.field(factory=list)
    hops_checked: int = 0

    def __attrs_post_init__(self) -> None:
        self.mark("start")

    @property
    def now(self) -> Counts:
        return self.segments[-1][1]

    def mark(self, name: str) -> None:
        """Start a new segment of counting (a summary, a task start)."""
        self.segments.append((name, Counts()))

    def since(self, name: str) -> Counts:
        """Counts summed over the segments from the last one called ``name``."""
        names = [n for n, _ in self.segments]
        start = len(names) - 1 - names[::-1].index(name)
        total = Counts()
        for _, counts in self.segments[start:]:
            total = total.add(counts)
        return total

    def inject(self, item: Injected) -> None:
        packet = item.packet
        if packet.destination == self.me:
            self.now.received += 1
            self.now.sum_received += packet.payload
        self.pending.setdefault(key(packet), []).append(item)

    @property
    def awaited(self) -> int:
        """Injected packets for other nodes not yet seen forwarded."""
        return sum(
            1 for items in self.pending.values() for i in items if i.packet.destination != self.me
        )

    def arrive(self, arrival: Arrival) -> None:
        packet = arrival.packet
        waiting = self.pending.get(key(packet))
        if waiting:
            item = waiting.pop(0)
            if not waiting:
                del self.pending[key(packet)]
            if packet.destination != self.me:
                self.now.relayed += 1
            self.relays.append((item, arrival))
            self._judge(item.packet, arrival)
        elif packet.source == self.me:
            self.now.sent += 1
            self.now.sum_sent += packet.payload
            self.originations.append(arrival)
            self._judge(None, arrival)
        else:
            self.strays.append(arrival)

    def _judge(self, received: Data | None, arrival: Arrival) -> None:
        self.hops_checked += 1
        destination = arrival.packet.destination
        if destination not in self.ids:
            return  # robustness probes: any choice is acceptable
        verdict = hop_verdict(self.me, self.table, destination, arrival.probe)
        if verdict is not None:
            self.bad_hops.append((verdict, received, arrival))


# --------------------------------------------------------------------------
# packets to hand the node
# --------------------------------------------------------------------------


@attrs.frozen
class Lane:
    """A (source, destination) pair whose route passes the node under test:
    the packet reaches it from ``via`` carrying ``trace``."""

    source: int
    destination: int
    via: int
    trace: tuple[int, ...]


def lanes(me: int, tables: dict[int, tuple[int, ...]]) -> list[Lane]:
    """Every route of the overlay on which ``me`` relays or receives."""
    found = []
    for source in tables:
        for destination in tables:
            if source in (destination, me):
                continue
            path = route(source, destination, tables)
            if me in path:
                at = path.index(me)
                found.append(Lane(source, destination, path[at - 1], tuple(path[1:at])))
    return found


def make_batch(me: int, all_lanes: list[Lane], count: int, rng: random.Random) -> list[Injected]:
    """``count`` packets over random lanes, ordered per sending probe so that
    each probe's last packet is a relay: seeing it come out proves the node
    has read everything before it on that connection."""
    relay_lanes = [lane for lane in all_lanes if lane.destination != me]
    picked = [rng.choice(all_lanes) for _ in range(count)]
    by_via: dict[int, list[Injected]] = {}
    for lane in picked:
        by_via.setdefault(lane.via, []).append(_packet(lane, lane.via, rng))
    batch: list[Injected] = []
    for via, items in by_via.items():
        relays = [i for i in items if i.packet.destination != me]
        if relays:
            items.remove(relays[-1])
            items.append(relays[-1])
        else:
            items.append(_packet(rng.choice(relay_lanes), via, rng))
        batch.extend(items)
    return batch


def _packet(lane: Lane, via: int, rng: random.Random) -> Injected:
    payload = rng.randint(-(2**31), 2**31 - 1)
    return Injected(Data(lane.destination, lane.source, payload, lane.trace), via)


# --------------------------------------------------------------------------
# origination statistics
# --------------------------------------------------------------------------


def chi_square(sinks: Sequence[int], others: Sequence[int]) -> tuple[float, float]:
    """Chi-square statistic of ``sinks`` against a uniform choice among
    ``others`` and its p-value (Wilson-Hilferty approximation, fine for the
    degrees of freedom used here)."""
    counts = Counter(sinks)
    expected = len(sinks) / len(others)
    stat = sum((counts.get(o, 0) - expected) ** 2 / expected for o in others)
    df = len(others) - 1
    if df < 1 or expected == 0:
        return stat, 1.0
    z = ((stat / df) ** (1 / 3) - (1 - 2 / (9 * df))) / math.sqrt(2 / (9 * df))
    return stat, 0.5 * math.erfc(z / math.sqrt(2))
