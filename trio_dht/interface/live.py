"""The live traffic table: a row per node and a totals row, drawn from the
registry's state while a run goes on.

Numbers come from the overlay's progress mechanism (the nodes' progress
reports, then their traffic summaries), never from estimates. The view reads
the registry a few times a second; the registry's observer only raises a flag
when something changes (``ConsoleObserver.changed``), so a busy run pays
nothing for being watched.

On a terminal a rich ``Live`` keeps the table on screen and everything else
the console prints scrolls above it. Elsewhere (pipes, CI) the display prints
a plain progress line every second during a run and nothing else: no escape
codes.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

import attrs
import trio
from rich import box
from rich.console import Console, Group, RenderableType
from rich.control import Control
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from trio_dht.interface.console import ConsoleObserver, logs_through
from trio_dht.services.registry import NodeRecord, Registry
from trio_dht.services.report import RunResult

REFRESH_PER_SECOND = 4.0
# Per-node rates are measured over this much recent time.
RATE_WINDOW = 1.0
# Without a terminal: one progress line per this many seconds during a run.
PLAIN_INTERVAL = 1.0

LIVE_COLUMNS = (
    "node", "address", "sent", "received", "relayed", "sum sent", "sum received", "pkt/s", "state",
)  # fmt: skip

STATE_STYLES = {
    "registered": "yellow",
    "connected": "cyan",
    "sending": "bold blue",
    "finished": "green",
    "gone": "red",
}


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
    rate: float
    state: str

    @property
    def handled(self) -> int:
        """Packets that passed through the node: originated, relayed or
        delivered to it."""
        return self.sent + self.received + self.relayed


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

    @property
    def rate(self) -> float:
        """Packets delivered per second over the run so far."""
        if not self.elapsed:
            return 0.0
        return self.received / self.elapsed

    def total(self, field: str) -> int:
        return sum(getattr(r, field) for r in self.rows)


def _counters(record: NodeRecord) -> tuple[int, int, int, int, int]:
    """sent, received, relayed, sum sent, sum received: the node's summary
    once it came, else its last progress report, else zeros."""
    s = record.summary
    if s is not None:
        return s.sent, s.received, s.relayed, s.sum_sent, s.sum_received
    p = record.progress
    if p is not None:
        return p.sent, p.received, p.relayed, p.sum_sent, p.sum_received
    return 0, 0, 0, 0, 0


class TrafficView:
    """Reads a Registry into snapshots and draws them.

    ``update()`` samples the registry (call it a few times a second);
    ``render()`` draws the latest sample. ``notes`` are extra lines shown
    under the table once a run is finished, above the verdict.
    """

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
        self.notes: list[str] = []
        self._clock = clock
        self._window = rate_window
        self._seen: dict[int, NodeRecord] = {}
        self._samples: dict[int, deque[tuple[float, int]]] = {}
        self._run: object | None = None
        self.snapshot = LiveSnapshot("waiting for nodes", 0, None, ())

    # --- sampling -----------------------------------------------------------

    def _last_result(self) -> RunResult | None:
        results = self.registry.observer.results
        return results[-1] if results else None

    def update(self) -> LiveSnapshot:
        registry = self.registry
        now = self._clock()
        run = registry.run
        if run is not None and run is not self._run:
            # A new run: forget nodes that left before it, and old rates.
            self._run = run
            self._seen = {i: r for i, r in self._seen.items() if registry.nodes.get(i) is r}
            self._samples.clear()
            self.notes = []
        for node_id, record in registry.nodes.items():
            self._seen[node_id] = record
        result = self._last_result() if run is None else None

        rows: list[LiveRow] = []
        for node_id in sorted(self._seen):
            record = self._seen[node_id]
            gone = registry.nodes.get(node_id) is not record
            sent, received, relayed, sum_sent, sum_received = _counters(record)
            handled = sent + received + relayed
            if result is not None and result.elapsed > 0:
                rate = handled / result.elapsed
            else:
                rate = self._rate(node_id, now, handled)
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
                    state="gone" if gone else record.state,
                )
            )

        if run is not None:
            phase = "running"
            in_run = set(run.node_ids)
            snapshot = LiveSnapshot(
                phase=phase,
                nodes=len(registry.nodes),
                nr=run.nr,
                rows=tuple(rows),
                packets_per_node=run.packets,
                expected=run.packets * len(run.node_ids),
                received=sum(r.received for r in rows if r.node_id in in_run),
                elapsed=max(0.0, now - run.started),
            )
        elif result is not None:
            snapshot = LiveSnapshot(
                phase="finished",
                nodes=len(registry.nodes),
                nr=registry.overlay_nr if registry.overlay_nr is not None else result.nr,
                rows=tuple(rows),
                packets_per_node=result.packets_per_node,
                expected=result.packets_per_node * len(result.nodes),
                received=result.received,
                elapsed=result.elapsed,
                result=result,
            )
        else:
            if registry.ready:
                phase = "ready"
            elif registry.overlay_nr is not None:
                phase = "setting up the overlay"
            else:
                phase = "waiting for nodes"
            snapshot = LiveSnapshot(phase, len(registry.nodes), registry.overlay_nr, tuple(rows))
        self.snapshot = snapshot
        return snapshot

    def _rate(self, node_id: int, now: float, handled: int) -> float:
        """Packets per second through one node over the last RATE_WINDOW,
        from the successive values its progress reports gave."""
        samples = self._samples.setdefault(node_id, deque())
        if samples and handled < samples[-1][1]:
            samples.clear()  # counters were reset
        samples.append((now, handled))
        while len(samples) > 2 and samples[1][0] <= now - self._window:
            samples.popleft()
        t0, h0 = samples[0]
        return (handled - h0) / (now - t0) if now > t0 else 0.0

    # --- drawing ----------------------------------------------------------------

    def header(self, snap: LiveSnapshot) -> Text:
        parts = [f"{snap.nodes} node{'s' if snap.nodes != 1 else ''}"]
        if snap.nr is not None:
            parts.append(f"NR {snap.nr}")
        if self.wire:
            parts.append(f"wire {self.wire}")
        parts.append(snap.phase)
        if snap.elapsed is not None:
            parts.append(f"{snap.elapsed:.2f} s")
            parts.append(f"{snap.rate:,.0f} pkt/s delivered")
        text = Text(self.title, style="bold")
        text.append(" · " + " · ".join(parts))
        return text

    def progress(self, snap: LiveSnapshot) -> RenderableType | None:
        if snap.expected is None:
            return None
        grid = Table.grid(padding=(0, 1))
        grid.add_column()
        grid.add_column()
        done = min(snap.received, snap.expected)
        share = done / snap.expected if snap.expected else 1.0
        grid.add_row(
            ProgressBar(
                total=max(snap.expected, 1), completed=done if snap.expected else 1, width=40
            ),
            f"{snap.received:,} / {snap.expected:,} packets received ({share:.0%}), "
            f"{snap.packets_per_node:,} per node",
        )
        return grid

    def table(self, snap: LiveSnapshot) -> Table:
        table = Table(box=box.SIMPLE_HEAD, show_footer=True, show_edge=False)
        footers = {
            "node": "total",
            "address": f"{sum(r.state != 'gone' for r in snap.rows)} live",
            "sent": f"{snap.total('sent'):,}",
            "received": f"{snap.total('received'):,}",
            "relayed": f"{snap.total('relayed'):,}",
            "sum sent": f"{snap.total('sum_sent'):,}",
            "sum received": f"{snap.total('sum_received'):,}",
            "pkt/s": f"{sum(r.rate for r in snap.rows):,.0f}",
            "state": "",
        }
        for name in LIVE_COLUMNS:
            justify = "left" if name in ("address", "state") else "right"
            table.add_column(name, footer=footers[name], justify=justify)
        for r in snap.rows:
            table.add_row(
                str(r.node_id),
                r.address,
                f"{r.sent:,}",
                f"{r.received:,}",
                f"{r.relayed:,}",
                f"{r.sum_sent:,}",
                f"{r.sum_received:,}",
                f"{r.rate:,.0f}",
                Text(r.state, style=STATE_STYLES.get(r.state, "")),
                style="dim" if r.state == "gone" else None,
            )
        return table

    def render(self, snap: LiveSnapshot | None = None) -> RenderableType:
        snap = snap if snap is not None else self.snapshot
        parts: list[RenderableType] = [self.header(snap)]
        bar = self.progress(snap)
        if bar is not None:
            parts.append(bar)
        parts.append(self.table(snap))
        if snap.result is not None:
            parts.extend(Text(note) for note in self.notes)
            verdict = snap.result.verdict()
            parts.append(Text(verdict, style="bold green" if snap.result.correct else "bold red"))
        return Group(*parts)

    def __rich__(self) -> RenderableType:
        return self.render()

    def progress_line(self, snap: LiveSnapshot | None = None) -> str:
        """The plain-text progress line (no escape codes, no separators)."""
        snap = snap if snap is not None else self.snapshot
        if snap.expected is None:
            return f"{snap.phase}: {snap.nodes} nodes"
        share = 100 * snap.received / snap.expected if snap.expected else 100.0
        elapsed = snap.elapsed or 0.0
        return (
            f"progress: {snap.received}/{snap.expected} packets received ({share:.1f}%), "
            f"{elapsed:.1f} s, {snap.rate:.0f} pkt/s delivered"
        )


class LiveDisplay:
    """Keeps a TrafficView on a console while ``run`` runs.

    On a terminal: a rich ``Live`` redrawn ``refresh_per_second`` times a
    second when something changed (and continuously during a run, for the
    clock); its last frame stays on screen when it stops. Otherwise: a plain
    progress line every PLAIN_INTERVAL during a run.
    """

    def __init__(
        self,
        view: TrafficView,
        console: Console,
        observer: ConsoleObserver | None = None,
        *,
        refresh_per_second: float = REFRESH_PER_SECOND,
        plain_interval: float = PLAIN_INTERVAL,
    ) -> None:
        self.view = view
        self.console = console
        self.observer = observer
        self.period = 1.0 / refresh_per_second
        self.plain_interval = plain_interval
        self._live: Live | None = None

    @property
    def interactive(self) -> bool:
        """True when drawing a live table (the console is a terminal)."""
        return self.console.is_terminal

    def _take_dirty(self) -> bool:
        if self.observer is None:
            return True
        dirty = self.observer.dirty
        self.observer.dirty = False
        return dirty

    def input_echoed(self) -> None:
        """A line typed at the terminal was echoed under the table: the
        cursor is one line lower than the live display thinks. Step back up
        so the next redraw replaces the table instead of leaving its top
        line behind."""
        if self._live is not None:
            self.console.control(Control.move(0, -1))

    def refresh(self) -> None:
        """Sample and redraw now (at the verdict, say)."""
        self.view.update()
        if self._live is not None:
            self._live.update(self.view.render(), refresh=True)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        if self.interactive:
            await self._run_live(task_status)
        else:
            await self._run_plain(task_status)

    async def _run_live(self, task_status: trio.TaskStatus[None]) -> None:
        self.view.update()
        live = Live(
            self.view.render(),
            console=self.console,
            auto_refresh=False,  # we refresh from this task: no thread reads the registry
            transient=False,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        with logs_through(self.console), live:
            self._live = live
            try:
                task_status.started()
                while True:
                    await trio.sleep(self.period)
                    if self._take_dirty() or self.view.registry.run is not None:
                        self.refresh()
            finally:
                self.refresh()
                self._live = None

    async def _run_plain(self, task_status: trio.TaskStatus[None]) -> None:
        task_status.started()
        while True:
            await trio.sleep(self.plain_interval)
            if self.view.registry.run is not None:
                line = self.view.progress_line(self.view.update())
                self.console.print(line, markup=False, highlight=False, soft_wrap=True)
