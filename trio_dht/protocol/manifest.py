"""Checking a received manifest for meaning before anything changes.

A manifest that decodes is not yet a routing table a node can use: its ids
may repeat or lie outside the id space, its entries may name nodes absent
from its id list or the node itself, and its table may leave some id
unreachable without overshooting (then forwarding has no answer for it).
Any of those would crash or misroute the data path later, so the node core
refuses such a manifest whole, answers setup status -1 with the reason, and
keeps its previous state.
"""

from __future__ import annotations

import attrs

from trio_dht.overlay import ID_SPACE, OverlayError, links_into, next_hop_map, positions_table
from trio_dht.wire.messages import NodeManifest, PeerEntry


@attrs.frozen
class Overlay:
    """A checked manifest: what the node's data path needs."""

    me: int
    entries: tuple[PeerEntry, ...]
    node_ids: tuple[int, ...]
    # destination id -> the entry's id to forward to, for every other id
    next_hop: dict[int, int]
    # At most this many peers' links to this node may rightly stay silent
    # until a run (see expected_links).
    expected_links: int


class ManifestRefused(Exception):
    """The manifest makes no sense; the text says why (sent back to the
    registry in the setup status)."""


def check_manifest(me: int, manifest: NodeManifest) -> Overlay:
    """The overlay ``manifest`` describes for node ``me``, or ManifestRefused."""
    ids = list(manifest.node_ids)
    outside = sorted({i for i in ids if not 0 <= i < ID_SPACE})
    if outside:
        raise ManifestRefused(f"ids outside 0..{ID_SPACE - 1}: {_few(outside)}")
    if len(set(ids)) != len(ids):
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        raise ManifestRefused(f"the id list repeats {_few(repeated)}")
    if me not in ids:
        # One classic variant leaves the receiver's own id out of the list
        # (captured from a real peer): the node knows its id, so add it.
        ids.append(me)
    ids.sort()
    if len(ids) < 2:
        raise ManifestRefused("an overlay of this node alone: there is nobody to send to")
    entries: list[PeerEntry] = []
    seen: set[int] = set()
    for entry in manifest.entries:
        if entry.node_id == me:
            raise ManifestRefused(f"entry {entry.node_id} is this node itself")
        if entry.node_id not in ids:
            raise ManifestRefused(f"entry {entry.node_id} is not in the manifest's id list")
        if not 0 < entry.port < 65536:
            raise ManifestRefused(f"entry {entry.node_id} has port {entry.port}")
        if entry.node_id in seen:
            # A classic variant repeats entries when the ring is small
            # (captured); the route is the same, so keep the first.
            continue
        seen.add(entry.node_id)
        entries.append(entry)
    if not entries:
        raise ManifestRefused("no routing-table entries for an overlay of several nodes")
    try:
        hops = next_hop_map(me, [e.node_id for e in entries], ids)
    except OverlayError:
        stuck = _unreachable(me, [e.node_id for e in entries], ids)
        raise ManifestRefused(
            f"from this node's table no entry gets closer to {_few(stuck)} without passing it"
        ) from None
    return Overlay(me, tuple(entries), tuple(ids), hops, expected_links(me, manifest, ids))


def expected_links(me: int, manifest: NodeManifest, ids: list[int]) -> int:
    """How many links other nodes open to this one for this overlay, at
    most. When this node's own table follows the spec's rule, the registry
    is taken to build every table by it and the count is exact; otherwise
    assume the worst a registry could do: every entry of every other node
    names this one."""
    nr = len(manifest.entries)  # as sent, repeats included
    table = tuple(entry.node_id for entry in manifest.entries)
    if table == positions_table(ids, nr, me):
        return links_into(len(ids), nr)
    return (len(ids) - 1) * nr


def _unreachable(me: int, table: list[int], ids: list[int]) -> list[int]:
    stuck: list[int] = []
    for destination in ids:
        if destination == me:
            continue
        try:
            next_hop_map(me, table, [destination])
        except OverlayError:
            stuck.append(destination)
    return stuck


def _few(values: list[int]) -> str:
    shown = ", ".join(str(v) for v in values[:8])
    return shown + (f" and {len(values) - 8} more" if len(values) > 8 else "")
