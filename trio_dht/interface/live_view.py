"""What the live traffic table shows, sampled from the registry.

Numbers come from the overlay's progress mechanism (the nodes' progress
reports, then their traffic summaries), never from estimates. The view
reads the registry a few times a second; the registry's observer only
raises a flag when something changes, so a busy run pays nothing for
being watched.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Any

import attrs

from trio_dht.interface.render import state_name
from trio_dht.overlay import OverlayError, mean_relays
from trio_dht.services.registry import Registry
from trio_dht.services.report import RunResult

# Per-node rates are measured over this much recent time.
RATE_WINDOW = 1.0


@attrs.frozen
class LiveRow:
    """One node's line of the live table."""

    node_id: int
    address: str
    sent: int
    received: int
    relayed: int
    sum_sent: int
    sum_received: int
    # Packets delivered to this node per second (recently during a run,
    # over the whole run once it is over).
    rate: float
    state: str


@attrs.frozen
class LiveSnapshot:
    """What the view shows at one moment."""

    phase: str
    nodes: int
    nr: int | None
    rows: tuple[LiveRow, ...]
    # The run on screen (in progress, or the last one finished).
    packets_per_node: int | None = None
    expected: int | None = None
    received: int = 0
    elapsed: float | None = None
    result: RunResult | None = None
    # Counts one run; column widths are kept stable within it.
    run_number: int = 0
    # Roughly the relayed total the run will reach (for column widths).
    relay_estimate: int = 0

    @property
    def rate(self) -> float:
        """Packets delivered per second, averaged over the run so far."""
        if not self.elapsed:
            return 0.0
        return self.received / self.elapsed

    def total(self, field: str) -> int:
        return sum(getattr(r, field) for r in self.rows)

    def states(self) -> dict[str, int]:
        """How many nodes are in each state, in the order first seen."""
        counts: dict[str, int] = {}
        for row in self.rows:
            counts[row.state] = counts.get(row.state, 0) + 1
        return counts


def _counters(record: Any) -> tuple[int, int, int, int, int]:
    """sent, received, relayed, sum sent, sum received: the node's summary
    once it came, else its last progress report, else zeros."""
    s = record.summary
    if s is not None:
        return s.sent, s.received, s.relayed, s.sum_sent, s.sum_received
    p = record.progress
    if p is not None:
        return p.sent, p.received, p.relayed, p.sum_sent, p.sum_received
    return 0, 0, 0, 0, 0


def _relay_estimate(node_ids: tuple[int, ...], nr: int, expected: int) -> int:
    try:
        return int(expected * float(mean_relays(node_ids, nr)) * 1.1)
    except (OverlayError, ValueError, ZeroDivisionError):
        return expected


class TrafficView:
    """Reads a Registry into snapshots. ``update()`` samples it (a few times
    a second); ``snapshot`` is the latest sample."""

    def __init__(
        self,
        registry: Registry,
        *,
        wire: str | None = None,
        title: str = "trio_dht",
        clock: Callable[[], float] = time.monotonic,
        rate_window: float = RATE_WINDOW,
    ) -> None:
        self.registry = registry
        self.wire = wire
        self.title = title
        self._clock = clock
        self._window = rate_window
        self._seen: dict[int, Any] = {}
        self._samples: dict[int, deque[tuple[float, int]]] = {}
        self._run: object | None = None
        self._run_number = 0
        self._relay_estimate = 0
        self.snapshot = LiveSnapshot("waiting for nodes", 0, None, ())

    def _last_result(self) -> RunResult | None:
        results = self.registry.observer.results
        return results[-1] if results else None

    def _new_run(self, run: Any) -> None:
        """A new run: forget nodes that left before it, and old rates."""
        registry = self.registry
        self._run = run
        self._run_number += 1
        self._seen = {i: r for i, r in self._seen.items() if registry.nodes.get(i) is r}
        self._samples.clear()
        nr = getattr(run, "nr", None) or registry.overlay_nr or 1
        expected = run.packets * len(run.node_ids)
        self._relay_estimate = _relay_estimate(tuple(run.node_ids), nr, expected)

    def update(self) -> LiveSnapshot:
        registry = self.registry
        now = self._clock()
        run = registry.run
        if run is not None and run is not self._run:
            self._new_run(run)
        for node_id, record in registry.nodes.items():
            self._seen[node_id] = record
        result = self._last_result() if run is None else None

        # After a run: the nodes whose summary is in the result are done
        # (the registry may already call them idle again).
        reported = {n.node_id for n in result.nodes if n.source == "summary"} if result else set()
        rows: list[LiveRow] = []
        for node_id in sorted(self._seen):
            record = self._seen[node_id]
            gone = registry.nodes.get(node_id) is not record
            sent, received, relayed, sum_sent, sum_received = _counters(record)
            if result is not None and result.elapsed > 0:
                rate = received / result.elapsed
            else:
                rate = self._rate(node_id, now, received)
            rows.append(
                LiveRow(
                    node_id=node_id,
                    address=record.address,
                    sent=sent,
                    received=received,
                    relayed=relayed,
                    sum_sent=sum_sent,
                    sum_received=sum_received,
                    rate=rate,
                    state="gone" if gone else self._state(record, reported),
                )
            )

        if run is not None:
            in_run = set(run.node_ids)
            snapshot = LiveSnapshot(
                phase="running",
                nodes=len(registry.nodes),
                nr=getattr(run, "nr", registry.overlay_nr),
                rows=tuple(rows),
                packets_per_node=run.packets,
                expected=run.packets * len(run.node_ids),
                received=sum(r.received for r in rows if r.node_id in in_run),
                elapsed=max(0.0, now - run.started),
                run_number=self._run_number,
                relay_estimate=self._relay_estimate,
            )
        elif result is not None:
            snapshot = LiveSnapshot(
                phase="finished",
                nodes=len(registry.nodes),
                nr=result.nr,
                rows=tuple(rows),
                packets_per_node=result.packets_per_node,
                expected=result.packets_per_node * len(result.nodes),
                received=result.received,
                elapsed=result.elapsed,
                result=result,
                run_number=self._run_number,
                relay_estimate=self._relay_estimate,
            )
        else:
            if registry.ready:
                phase = "ready"
            elif registry.overlay_nr is not None:
                phase = "setting up the overlay"
            else:
                phase = "waiting for nodes"
            snapshot = LiveSnapshot(
                phase,
                len(registry.nodes),
                registry.overlay_nr,
                tuple(rows),
                run_number=self._run_number,
            )
        self.snapshot = snapshot
        return snapshot

    @staticmethod
    def _state(record: Any, reported: set[int]) -> str:
        state = state_name(record.state)
        # After a run that did not end CORRECT the registry calls its nodes
        # registered (a new setup is due); in the run's table they are done.
        if state in ("idle", "registered") and record.node_id in reported:
            return "done"
        return state

    def _rate(self, node_id: int, now: float, received: int) -> float:
        """Packets delivered to one node per second over the last
        RATE_WINDOW, from the successive values its progress reports gave."""
        samples = self._samples.setdefault(node_id, deque())
        if samples and received < samples[-1][1]:
            samples.clear()  # counters were reset
        samples.append((now, received))
        while len(samples) > 2 and samples[1][0] <= now - self._window:
            samples.popleft()
        t0, r0 = samples[0]
        return (received - r0) / (now - t0) if now > t0 else 0.0
