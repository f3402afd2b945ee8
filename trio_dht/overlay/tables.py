"""Routing-table construction for ``setup-overlay NR``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from trio_dht.overlay.ids import ID_SPACE


class OverlayError(ValueError):
    """An overlay request that cannot be honoured; the message is meant for a human."""


def max_nr(n: int) -> int:
    """Largest NR allowed for ``n`` nodes (0 when no NR is valid, i.e. ``n < 2``)."""
    if n < 2:
        return 0
    # Largest nr with 2**(nr-1) < n, i.e. 2**(nr-1) <= n-1.
    return (n - 1).bit_length()


def validate_nr(nr: int, n: int) -> None:
    """Refuse an NR that would make a table entry the node itself or a repeat."""
    if n < 2:
        raise OverlayError(
            f"an overlay needs at least 2 nodes, but only {n} registered; "
            "no routing-table size is possible"
        )
    limit = max_nr(n)
    if nr < 1 or 2 ** (nr - 1) >= n:
        raise OverlayError(
            f"routing-table size {nr} is not valid for {n} nodes: it must satisfy "
            f"1 <= NR and 2**(NR-1) < N (no entry may be the node itself or repeat), "
            f"so with {n} nodes NR must be between 1 and {limit}"
        )


def routing_tables(ids: Iterable[int], nr: int) -> dict[int, tuple[int, ...]]:
    """Each node's NR entries: the nodes 1, 2, 4, ... positions ahead on the sorted ring."""
    ring = sorted(ids)
    n = len(ring)
    validate_nr(nr, n)
    if len(set(ring)) != n:
        dupes = sorted(i for i, count in Counter(ring).items() if count > 1)
        raise OverlayError(f"identifiers must be unique, but these repeat: {dupes}")
    # Routing measures clockwise distance in the id space, so an id outside it
    # would silently produce wrong routes.
    outside = [i for i in ring if not 0 <= i < ID_SPACE]
    if outside:
        raise OverlayError(f"identifiers must lie in 0..{ID_SPACE - 1}, got {outside}")
    return {node: tuple(ring[(i + 2**k) % n] for k in range(nr)) for i, node in enumerate(ring)}


def positions_table(ids: Iterable[int], nr: int, node: int) -> tuple[int, ...]:
    """``node``'s NR entries by the spec's rule (1, 2, 4, ... positions
    ahead on the sorted ring), without refusing an NR too large for the
    ring: classic registries send such tables, whose entries repeat or wrap
    around to the node itself."""
    ring = sorted(ids)
    position = ring.index(node)
    return tuple(ring[(position + 2**k) % len(ring)] for k in range(nr))


def links_into(n: int, nr: int) -> int:
    """How many table entries of other nodes name any one node, in a ring of
    ``n`` nodes with tables built by the spec's rule: the nodes 1, 2, 4, ...
    positions behind it, one per k, except where 2**k wraps the whole ring
    (that entry's owner is the node itself). Repeats count: a peer may open
    a link per entry."""
    return sum(1 for k in range(nr) if (2**k) % n)
