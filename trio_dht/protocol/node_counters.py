"""A node's traffic counters.

Plain slotted attributes because the data path updates them once per
received chunk or originated burst, never through a method call per packet.
"""

from __future__ import annotations


class Counters:
    """What a node counts for one run (reset after its summary and by every
    new manifest)."""

    __slots__ = ("dropped", "received", "relayed", "sent", "stale", "sum_received", "sum_sent")

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
