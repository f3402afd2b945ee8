"""Routing tables and next hops as SYSTEM.md states them, written again here
so that a routing bug in trio_dht.overlay cannot hide in the scripted peers."""

from __future__ import annotations

from collections.abc import Sequence

ID_SPACE = 128


def distance(a: int, b: int) -> int:
    """Clockwise distance from ``a`` to ``b`` on the 7-bit ring."""
    return (b - a) % ID_SPACE


def tables(ids: Sequence[int], nr: int) -> dict[int, list[int]]:
    """Each id's entries 1, 2, 4, ... positions ahead (positions in the
    sorted list, not id values)."""
    ring = sorted(ids)
    n = len(ring)
    return {me: [ring[(i + 2**k) % n] for k in range(nr)] for i, me in enumerate(ring)}


def distinct_tables(ids: Sequence[int], nr: int) -> dict[int, list[int]]:
    """What the text-address Java registry lists: only entries whose
    position offset 2**k is below the node count (``setup 3`` on 3 nodes
    lists +1 and +2)."""
    ring = sorted(ids)
    n = len(ring)
    return {me: [ring[(i + 2**k) % n] for k in range(nr) if 2**k < n] for i, me in enumerate(ring)}


def next_hop(me: int, destination: int, table: Sequence[int]) -> int | None:
    """The entry a packet for ``destination`` goes to from ``me``: the
    destination itself when listed, else the farthest entry that does not
    pass it. None when no entry qualifies (a broken table)."""
    if destination in table:
        return destination
    limit = distance(me, destination)
    best: int | None = None
    for entry in table:
        d = distance(me, entry)
        if 0 < d < limit and (best is None or d > distance(me, best)):
            best = entry
    return best
