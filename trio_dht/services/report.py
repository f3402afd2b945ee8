"""The outcome of a run: per-node totals, the totals row and the verdict."""

from __future__ import annotations

import attrs


@attrs.frozen
class NodeTotals:
    """One row of the registry's summary table.

    ``source`` says where the numbers come from: ``summary`` (the node's own
    traffic summary), or ``last-progress`` (the node vanished; these are its
    last progress report), or ``none`` (vanished before reporting anything).
    """

    node_id: int
    host: str
    port: int
    sent: int
    received: int
    relayed: int
    sum_sent: int
    sum_received: int
    dropped: int = 0
    source: str = "summary"


@attrs.frozen
class RunResult:
    """What the registry learned from one ``start N``."""

    packets_per_node: int
    nr: int
    nodes: tuple[NodeTotals, ...]
    elapsed: float
    # How the registry decided the overlay was quiet before asking for
    # summaries: "progress" (exact: every packet accounted for), "stalled"
    # (progress stopped short of the total) or "grace period" (classic peers).
    quiescence: str
    gone: tuple[int, ...] = ()

    @property
    def sent(self) -> int:
        return sum(n.sent for n in self.nodes)

    @property
    def received(self) -> int:
        return sum(n.received for n in self.nodes)

    @property
    def relayed(self) -> int:
        return sum(n.relayed for n in self.nodes)

    @property
    def sum_sent(self) -> int:
        return sum(n.sum_sent for n in self.nodes)

    @property
    def sum_received(self) -> int:
        return sum(n.sum_received for n in self.nodes)

    @property
    def dropped(self) -> int:
        return sum(n.dropped for n in self.nodes)

    @property
    def correct(self) -> bool:
        return (
            not self.gone
            and self.sent == self.received
            and self.sum_sent == self.sum_received
            and self.sent == self.packets_per_node * len(self.nodes)
        )

    @property
    def relays_per_packet(self) -> float:
        return self.relayed / self.received if self.received else 0.0

    def verdict(self) -> str:
        """One line a script can rely on: it starts with CORRECT or
        INCORRECT."""
        if self.correct:
            return f"CORRECT: {self.sent} sent, {self.received} received, sums match"
        problems: list[str] = []
        if self.sent != self.received:
            problems.append(
                f"{self.sent} sent, {self.received} received "
                f"({self.sent - self.received} missing)"
            )
        else:
            problems.append(f"{self.sent} sent, {self.received} received")
        if self.sum_sent != self.sum_received:
            problems.append(
                f"sums differ (sent {self.sum_sent}, received {self.sum_received})"
            )
        expected = self.packets_per_node * len(self.nodes)
        if self.sent != expected:
            problems.append(f"expected {expected} sent")
        if self.dropped:
            problems.append(f"{self.dropped} dropped by nodes whose next hop was gone")
        if self.gone:
            gone = ", ".join(str(g) for g in self.gone)
            problems.append(f"node(s) {gone} vanished during the run")
        return "INCORRECT: " + "; ".join(problems)
