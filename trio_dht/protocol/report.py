"""The outcome of a run: per-node totals, the totals row and the verdict."""

from __future__ import annotations

from collections.abc import Iterable

import attrs


def nodes_named(ids: Iterable[int]) -> str:
    """'node 5' or 'nodes 5, 7' (never 'node(s)')."""
    listed = [str(i) for i in ids]
    return ("node " if len(listed) == 1 else "nodes ") + ", ".join(listed)


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
class NodeMeasures:
    """What one trio_dht node measured in a run (its last accepted load
    report): packets it forwarded on each routing-table entry, and
    ``relays[k]`` = packets delivered to it after k relays."""

    node_id: int
    links: tuple[tuple[int, int], ...]
    """(entry id, packets forwarded on it), in table order."""
    relays: tuple[int, ...]


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
    # Of ``gone``: those that deregistered during the run (they left, said
    # so, and their rows are their last progress like the vanished ones).
    left: tuple[int, ...] = ()
    # Seconds from start to the last task-finished report of a live node:
    # how long the nodes spent originating (None if none finished).
    sending_elapsed: float | None = None
    # Nodes still registered but silent when the run ended (no heartbeat,
    # or no summary when asked): not a loss, but nothing can be proven.
    unresponsive: tuple[int, ...] = ()
    # Nodes that were asked for a summary and did not send one in time
    # (their rows show their last progress).
    no_summary: tuple[int, ...] = ()
    # Reports refused because they contradicted what the node said before.
    problems: tuple[str, ...] = ()
    # Ended by the ``abort`` command before it was over.
    aborted: bool = False
    # The nodes that reported link loads and relays per packet, by id; a
    # node of the run absent here (a classic peer) is unknown, not zero.
    measures: tuple[NodeMeasures, ...] = ()

    @property
    def unmeasured(self) -> tuple[int, ...]:
        """The nodes whose link loads and relay counts are unknown."""
        measured = {m.node_id for m in self.measures}
        return tuple(n.node_id for n in self.nodes if n.node_id not in measured)

    @property
    def link_loads(self) -> dict[tuple[int, int], int]:
        """(node, entry) -> packets, for the measured nodes only."""
        return {(m.node_id, entry): packets for m in self.measures for entry, packets in m.links}

    @property
    def relay_histogram(self) -> dict[int, int] | None:
        """Relays -> packets delivered after that many, over every node; None
        unless every node of the run measured it (a part would mislead)."""
        if self.unmeasured or not self.measures:
            return None
        histogram: dict[int, int] = {}
        for m in self.measures:
            for relays, packets in enumerate(m.relays):
                if packets:
                    histogram[relays] = histogram.get(relays, 0) + packets
        return dict(sorted(histogram.items()))

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
            and not self.unresponsive
            and not self.no_summary
            and not self.problems
            and not self.aborted
            and self.sent == self.received
            and self.sum_sent == self.sum_received
            and self.sent == self.packets_per_node * len(self.nodes)
        )

    @property
    def relays_per_packet(self) -> float:
        return self.relayed / self.received if self.received else 0.0

    def accounting(self) -> list[str]:
        """How a shortfall is explained, line by line ([] when nothing is
        missing and no node vanished). Every figure is derived from counters
        the nodes reported; the derivation is spelled out."""
        shortfall = self.sent - self.received
        if not self.gone and not self.unresponsive and shortfall == 0:
            return []
        lines: list[str] = []
        for row in self.nodes:
            went = "left (deregistered)" if row.node_id in self.left else "vanished"
            if row.source == "last-progress":
                lines.append(
                    f"Node {row.node_id} {went} during the run; its row shows its last "
                    f"progress report (sent {row.sent:,}, received {row.received:,}, relayed "
                    f"{row.relayed:,}), so its true sent count is at least {row.sent:,}."
                )
            elif row.source == "none":
                lines.append(
                    f"Node {row.node_id} {went} during the run before reporting any counters; "
                    "its row is zeros."
                )
        lines.append(
            f"Shortfall: {shortfall:,} = {self.sent:,} sent (every row) - "
            f"{self.received:,} received."
        )
        if self.dropped:
            lines.append(
                f"Of it, {self.dropped:,} were dropped and counted by surviving nodes whose next "
                "hop was gone (their dropped counters)."
            )
        rest = shortfall - self.dropped
        if rest > 0 and self.unresponsive:
            lines.append(
                f"The other {rest:,} (shortfall - dropped) are held by or queued for "
                f"{nodes_named(self.unresponsive)}, which stopped answering: not known to be lost."
            )
        elif rest > 0 and self.gone:
            lines.append(
                f"The other {rest:,} (shortfall - dropped) were in flight to, queued in, or held "
                f"by {nodes_named(self.gone)} when they vanished."
            )
        elif rest > 0:
            lines.append(
                f"The other {rest:,} are unaccounted for: no node vanished to explain them."
            )
        return lines

    def verdict(self) -> str:
        """One line a script can rely on: it starts with CORRECT or
        INCORRECT."""
        if self.correct:
            return f"CORRECT: {self.sent} sent, {self.received} received, sums match"
        problems: list[str] = []
        if self.sent != self.received:
            problems.append(
                f"{self.sent} sent, {self.received} received ({self.sent - self.received} missing)"
            )
        else:
            problems.append(f"{self.sent} sent, {self.received} received")
        if self.sum_sent != self.sum_received:
            problems.append(f"sums differ (sent {self.sum_sent}, received {self.sum_received})")
        expected = self.packets_per_node * len(self.nodes)
        if self.sent != expected:
            problems.append(f"expected {expected} sent")
        if self.dropped:
            problems.append(f"{self.dropped} dropped by nodes whose next hop was gone")
        if self.gone:
            vanished = [g for g in self.gone if g not in self.left]
            if vanished:
                problems.append(f"{nodes_named(vanished)} vanished during the run")
            if self.left:
                problems.append(f"{nodes_named(self.left)} left during the run")
        if self.unresponsive:
            problems.append(f"{nodes_named(self.unresponsive)} stopped answering")
        if self.no_summary:
            problems.append(f"no traffic summary from {nodes_named(self.no_summary)}")
        problems.extend(self.problems)
        if self.aborted:
            problems.append("the run was aborted")
        return "INCORRECT: " + "; ".join(problems)
