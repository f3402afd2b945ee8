"""Greedy clockwise forwarding: which table entry gets a packet, and the paths that result."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from fractions import Fraction

from trio_dht.overlay.ids import distance
from trio_dht.overlay.tables import OverlayError, routing_tables


def next_hop(me: int, destination: int, table: Sequence[int]) -> int:
    """The table entry node ``me`` forwards a packet for ``destination`` to.

    The destination itself if it is in the table; otherwise the farthest entry
    that does not pass it (clockwise).
    """
    if destination == me:
        raise ValueError(f"node {me} is the destination itself; deliver, do not forward")
    if destination in table:
        return destination
    remaining = distance(me, destination)
    best: int | None = None
    best_d = 0
    for entry in table:
        d = distance(me, entry)
        # d > 0 skips an entry equal to ``me``: forwarding to oneself would loop.
        if best_d < d < remaining:
            best, best_d = entry, d
    if best is None:
        raise OverlayError(
            f"node {me} has no routing-table entry that gets closer to {destination} "
            f"without passing it (table {tuple(table)}); the table is malformed"
        )
    return best


def next_hop_map(me: int, table: Sequence[int], node_ids: Iterable[int]) -> dict[int, int]:
    """For every other node id, the entry ``me`` forwards to; computed once per manifest."""
    return {dest: next_hop(me, dest, table) for dest in node_ids if dest != me}


def route(source: int, destination: int, tables: Mapping[int, Sequence[int]]) -> list[int]:
    """The full path from ``source`` to ``destination``, both included.

    ``route(x, x, ...)`` is ``[x]``: the packet is already home.
    """
    # Greedy forwarding strictly shrinks the remaining distance, so the loop and
    # hop-count guards below only fire if forwarding itself is broken.
    path = [source]
    seen = {source}
    here = source
    while here != destination:
        if here not in tables:
            raise OverlayError(
                f"route {source} -> {destination} reached {here}, which has no table"
            )
        if len(path) > len(tables):
            raise OverlayError(
                f"route {source} -> {destination} exceeds {len(tables)} hops: {path}"
            )
        here = next_hop(here, destination, tables[here])
        if here in seen:
            raise OverlayError(f"route {source} -> {destination} loops back to {here}: {path}")
        seen.add(here)
        path.append(here)
    return path


def mean_relays(ids: Iterable[int], nr: int) -> Fraction:
    """Exact mean relays per packet over all ordered (source, sink) pairs, source != sink.

    Forwarding only compares ring positions, so every source sees the same set of
    position offsets 1..N-1 to its sinks; averaging over one source's offsets is
    the same as averaging over all pairs, and avoids N**2 routes.
    """
    # Building the tables validates NR and the ids (unique, in range) the same
    # way setup-overlay does; the tables themselves are not needed.
    n = len(routing_tables(ids, nr))
    jumps = [2**k for k in range(nr)]  # position offsets of the entries, ascending
    total_relays = 0
    for offset in range(1, n):
        hops = 0
        remaining = offset
        while remaining:
            # Greedy: the largest jump not passing the sink (the 1-jump always fits).
            remaining -= max(j for j in jumps if j <= remaining)
            hops += 1
        total_relays += hops - 1  # every hop but the last lands on a relay
    return Fraction(total_relays, n - 1)
