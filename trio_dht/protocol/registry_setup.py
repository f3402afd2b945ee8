"""``setup-overlay NR``: the tables, the manifests, which nodes did not
answer theirs on their registration connection (so they are dialled), and
which answered none at all (so they are removed)."""

from __future__ import annotations

from collections.abc import Iterable

from trio_dht.overlay import OverlayError, routing_tables, validate_nr
from trio_dht.protocol.errors import LocalProtocolError
from trio_dht.protocol.members import Member, NodeKind
from trio_dht.protocol.report import nodes_named
from trio_dht.protocol.rules import MemberPhase
from trio_dht.wire.messages import NodeManifest, PeerEntry


def build_manifests(
    members: dict[int, Member], nr: int, max_ids: int
) -> tuple[dict[int, tuple[int, ...]], dict[int, NodeManifest]]:
    """Each node's table and manifest; LocalProtocolError if NR does not fit
    the overlay or the overlay does not fit the dialect."""
    ids = sorted(members)
    try:
        validate_nr(nr, len(ids))
        tables = routing_tables(ids, nr)
    except OverlayError as exc:
        raise LocalProtocolError(str(exc)) from None
    if len(ids) > max_ids:
        raise LocalProtocolError(
            f"this wire dialect can describe at most {max_ids} nodes in a manifest, and "
            f"{len(ids)} are registered"
        )
    manifests = {
        node_id: NodeManifest(
            tuple(PeerEntry(e, members[e].host, members[e].port) for e in entries), tuple(ids)
        )
        for node_id, entries in tables.items()
    }
    return tables, manifests


def overdue(members: Iterable[Member], now: float, timeout: float) -> list[Member]:
    """Nodes of unknown kind that have not answered their manifest within
    ``timeout``: they do not read their registration connection."""
    return [
        m
        for m in members
        if m.phase is MemberPhase.SETTING_UP
        and m.kind is NodeKind.UNKNOWN
        and m.manifest_sent_at is not None
        and now - m.manifest_sent_at >= timeout
    ]


def manifest_deadlines(
    members: Iterable[Member], now: float, timeout: float, unanswered_after: float
) -> tuple[list[Member], list[Member]]:
    """(late, silent): nodes to dial their manifest to (``overdue``), and
    nodes to remove (``unanswered``)."""
    members = list(members)
    return overdue(members, now, timeout), unanswered(members, now, unanswered_after)


def unanswered(members: Iterable[Member], now: float, timeout: float) -> list[Member]:
    """Nodes that have not answered a manifest delivered by dialling within
    ``timeout`` (``manifest_sent_at`` is when it was dialled)."""
    return [
        m
        for m in members
        if m.phase is MemberPhase.SETTING_UP
        and m.kind is NodeKind.PER_MESSAGE
        and m.manifest_sent_at is not None
        and now - m.manifest_sent_at >= timeout
    ]


def overdue_notice(late: list[Member], timeout: float) -> str:
    """What the console says about the nodes ``overdue`` found."""
    return (
        f"{nodes_named(m.node_id for m in late).capitalize()} did not answer the manifest on "
        f"their registration connection within {timeout:g} s: "
        "delivering it by dialling their listening address, and dialling them from now on."
    )
