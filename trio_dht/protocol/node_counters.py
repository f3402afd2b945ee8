"""A node's traffic counters.

Plain slotted attributes because the data path updates them once per
received chunk or originated burst, never through a method call per packet.
"""

from __future__ import annotations

from trio_dht.wire.messages import MAX_RELAY_BINS, LinkLoad, LoadReport

# Slots of ``links``: one per routing-table entry, indexed like the data
# plane's peers (the manifest's entries in order). Entries are distinct ids
# other than the node's own, so never more than 127.
LINK_SLOTS = 128
# Slots of ``relays``, indexed by the trace length of a delivered packet.
# Every data frame a framer lets through carries fewer than 256 ids (at
# least 4 bytes each, bodies of at most ~600 bytes in both dialects), and a
# cs455 trace count is read from one byte: no index can fall outside.
RELAY_SLOTS = 256


class Counters:
    """What a node counts for one run (reset after its summary and by every
    new manifest)."""

    __slots__ = (
        "dropped", "links", "received", "relayed", "relays", "sent", "stale", "sum_received",
        "sum_sent",
    )  # fmt: skip

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.sent = 0
        self.received = 0
        self.relayed = 0
        self.sum_sent = 0
        self.sum_received = 0
        # Packets this node could not forward (next hop gone) or refused
        # (its own id already in the trace: a loop); counted, never silent.
        self.dropped = 0
        # Packets that arrived on a link of an earlier overlay: left over
        # from a run that ended, so counted apart and never as received.
        self.stale = 0
        # Packets forwarded (originated or relayed) on each entry, and
        # packets delivered here by trace length. New lists, not zeroed in
        # place: a flush suspended across this reset counts into the old.
        self.links = [0] * LINK_SLOTS
        self.relays = [0] * RELAY_SLOTS

    def snapshot(self) -> tuple[int, int, int, int, int, int]:
        """(sent, received, relayed, sum_sent, sum_received, dropped)."""
        return (
            self.sent,
            self.received,
            self.relayed,
            self.sum_sent,
            self.sum_received,
            self.dropped,
        )

    def load_report(self, node_id: int, entries: tuple[int, ...]) -> LoadReport:
        """The load report of these counters; ``entries``: the table's ids
        in the data plane's order. Traces of MAX_RELAY_BINS - 1 relays or
        more (none in an overlay of 128 ids) share the last bin."""
        links = tuple(LinkLoad(e, count) for e, count in zip(entries, self.links, strict=False))
        last = MAX_RELAY_BINS - 1
        relays = [*self.relays[:last], sum(self.relays[last:])]
        while relays and not relays[-1]:
            relays.pop()
        return LoadReport(node_id, links, tuple(relays))
