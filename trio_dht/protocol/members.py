"""What the registry knows of one registered node."""

from __future__ import annotations

import enum

import attrs

from trio_dht.protocol.events import ConnId
from trio_dht.protocol.report import NodeMeasures, NodeTotals
from trio_dht.protocol.rules import MemberPhase
from trio_dht.wire.messages import LoadReport, ProgressReport, TrafficSummary


class NodeKind(enum.Enum):
    """How a node takes control messages. Learnt from the traffic: a node
    that answers its manifest on its registration connection is persistent;
    one that does not within a short time is dialled from then on."""

    UNKNOWN = "unknown"
    PERSISTENT = "persistent"
    PER_MESSAGE = "per-message"


@attrs.define(eq=False)
class Member:
    node_id: int
    host: str
    port: int
    # The connection it registered on (kept open by both kinds of node).
    session: ConnId | None
    kind: NodeKind = NodeKind.UNKNOWN
    # The wire form it used (answered in the same form).
    variant: str | None = None
    phase: MemberPhase = MemberPhase.REGISTERED
    # It put PROGRESS_MARKER in its setup status and was asked for progress.
    progress_capable: bool = False
    progress: ProgressReport | None = None
    # Its last accepted load report of the run (None: none, or refused).
    loads: LoadReport | None = None
    summary: TrafficSummary | None = None
    last_heard: float = 0.0
    manifest_sent_at: float | None = None
    unresponsive: bool = False
    gone: bool = False

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def dial_key(self) -> str:
        return f"node {self.node_id}"

    @property
    def state(self) -> str:
        """The state a live view shows."""
        if self.gone:
            return "gone"
        if self.unresponsive:
            return "unresponsive"
        if self.phase is MemberPhase.ASKED:
            return "relaying"
        return str(self.phase.value)

    @property
    def setup_ok(self) -> bool:
        return self.phase not in (MemberPhase.REGISTERED, MemberPhase.SETTING_UP)

    def totals(self) -> NodeTotals:
        s = self.summary
        p = self.progress
        dropped = p.dropped if p is not None else 0
        if s is not None:
            return NodeTotals(
                self.node_id, self.host, self.port, s.sent, s.received, s.relayed,
                s.sum_sent, s.sum_received, dropped, "summary",
            )  # fmt: skip
        if p is not None:
            return NodeTotals(
                self.node_id, self.host, self.port, p.sent, p.received, p.relayed,
                p.sum_sent, p.sum_received, p.dropped, "last-progress",
            )  # fmt: skip
        return NodeTotals(self.node_id, self.host, self.port, 0, 0, 0, 0, 0, 0, "none")

    def measures(self) -> NodeMeasures | None:
        """Its link loads and relay counts, or None (unknown)."""
        if self.loads is None:
            return None
        links = tuple((link.node_id, link.packets) for link in self.loads.links)
        return NodeMeasures(self.node_id, links, self.loads.relays)


def nodes_phrase(count: int) -> str:
    """'1 node', '3 nodes'."""
    return f"{count} node" if count == 1 else f"{count} nodes"
