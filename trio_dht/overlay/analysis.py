"""What routing does on a given ring: the exact relay distribution and routes explained.

Pure functions over the same tables and forwarding rule the nodes use
(``routing_tables``, ``next_hop``, ``route``); nothing here re-implements
them, so an explanation can never disagree with what a node does.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable
from fractions import Fraction

import attrs

from trio_dht.overlay.ids import distance
from trio_dht.overlay.routing import next_hop, route
from trio_dht.overlay.tables import OverlayError, routing_tables


def relay_distribution(ids: Iterable[int], nr: int) -> dict[int, Fraction]:
    """Relays per packet -> probability, over all ordered (source, sink) pairs with
    source != sink, i.e. for sinks drawn uniformly as the task does.

    Computed by routing every pair through the real tables (N * (N-1) routes:
    16,256 at N = 128, a fraction of a second), so it is the distribution a run
    of this ring and NR converges to.
    """
    tables = routing_tables(ids, nr)
    counts: Counter[int] = Counter()
    for source in tables:
        for sink in tables:
            if sink != source:
                # A route lists source and sink; everything between is a relay.
                counts[len(route(source, sink, tables)) - 2] += 1
    pairs = sum(counts.values())
    return {relays: Fraction(k, pairs) for relays, k in sorted(counts.items())}


def distribution_mean(distribution: dict[int, Fraction]) -> Fraction:
    """The mean of a ``relays -> probability`` distribution."""
    return sum((relays * p for relays, p in distribution.items()), Fraction(0))


@attrs.frozen
class Hop:
    """One forwarding decision on a route: ``node`` holds the packet and sends it
    to ``chosen``."""

    node: int
    destination: int
    remaining: int
    """Clockwise distance from ``node`` to the destination."""
    table: tuple[int, ...]
    distances: tuple[int, ...]
    """Clockwise distance from ``node`` to each table entry, in table order."""
    chosen: int
    direct: bool
    """True when the destination is a table entry (sent straight there)."""

    @property
    def short_of_sink(self) -> tuple[int, ...]:
        """Entries that get closer without passing the destination (the candidates)."""
        return tuple(e for e, d in zip(self.table, self.distances) if 0 < d < self.remaining)

    @property
    def past_sink(self) -> tuple[int, ...]:
        """Entries that would overshoot the destination (never chosen)."""
        return tuple(
            e
            for e, d in zip(self.table, self.distances)
            if d > self.remaining and e != self.destination
        )

    def reason(self) -> str:
        """Why ``chosen`` was picked, in words."""
        if self.direct:
            return f"{self.destination} is in the table: straight to it"
        candidates = ", ".join(
            f"{e} (+{d})" for e, d in zip(self.table, self.distances) if e in self.short_of_sink
        )
        text = (
            f"{self.destination} is not in the table; entries that do not pass it: "
            f"{candidates}; the farthest is {self.chosen}"
        )
        passing = ", ".join(
            f"{e} (+{d})" for e, d in zip(self.table, self.distances) if e in self.past_sink
        )
        if passing:
            text += f"; {passing} would pass it"
        return text


def explain_route(ids: Iterable[int], nr: int, source: int, destination: int) -> list[Hop]:
    """The hops of the route from ``source`` to ``destination`` with the reason for each.

    Raises OverlayError (a message for a person) for an invalid ring or NR, or an
    id that is not on the ring. An empty list when ``source == destination``.
    """
    tables = routing_tables(ids, nr)
    for name, node in (("source", source), ("destination", destination)):
        if node not in tables:
            ring = ", ".join(str(i) for i in sorted(tables))
            raise OverlayError(f"{name} {node} is not on the ring ({ring})")
    hops: list[Hop] = []
    path = route(source, destination, tables)
    for here, there in itertools.pairwise(path):
        table = tables[here]
        chosen = next_hop(here, destination, table)
        # route() and next_hop() are the same rule; a mismatch is a bug in one.
        assert chosen == there, (here, chosen, there)
        hops.append(
            Hop(
                node=here,
                destination=destination,
                remaining=distance(here, destination),
                table=table,
                distances=tuple(distance(here, e) for e in table),
                chosen=chosen,
                direct=destination in table,
            )
        )
    return hops


def describe_route(ids: Iterable[int], nr: int, source: int, destination: int) -> list[str]:
    """Human lines for ``path SRC DST``: the route, then one line per hop."""
    ring = sorted(ids)
    hops = explain_route(ring, nr, source, destination)
    if not hops:
        return [f"{source} -> {destination}: the source is the destination; nothing to route."]
    path = [h.node for h in hops] + [destination]
    relays = len(path) - 2
    lines = [
        f"Route {source} -> {destination} on {len(ring)} nodes, NR {nr}: "
        + " -> ".join(str(p) for p in path)
        + f" ({len(hops)} hop{'s' if len(hops) != 1 else ''}, "
        f"{relays} relay{'s' if relays != 1 else ''})"
    ]
    width = len(f"{max(path)} -> {max(path)}")
    for hop in hops:
        step = f"{hop.node} -> {hop.chosen}".ljust(width)
        entries = ", ".join(f"{e} (+{d})" for e, d in zip(hop.table, hop.distances))
        lines.append(f"  {step}  {hop.remaining} left to {destination}; table {entries}")
        lines.append(f"  {' ' * width}  {hop.reason()}")
    return lines
