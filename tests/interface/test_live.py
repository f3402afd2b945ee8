"""The live traffic table: what it reads from the registry, and what a
recording rich Console shows of a real run."""

from __future__ import annotations

import io
import itertools
import re

import trio
from rich.console import Console

from trio_dht.interface.cli import build_parser
from trio_dht.interface.demo_app import DemoApp
from trio_dht.interface.live import LiveDisplay, TrafficView
from trio_dht.interface.registry_app import RegistryApp
from trio_dht.services.node import MessagingNode
from trio_dht.services.registry import NodeRecord, Registry, Run
from trio_dht.services.report import NodeTotals, RunResult
from trio_dht.wire import get_dialect
from trio_dht.wire.messages import ProgressReport, TrafficSummary

RUN_TIMEOUT = 20.0
ESCAPE = "\x1b"

# A node's row: id, address, sent, received, relayed, sums, pkt/s, state.
ROW = re.compile(
    r"^\s*(\d+)\s+(127\.0\.0\.1:\d+)\s+([\d,]+)\s+([\d,]+)\s+([\d,]+)\s+(-?[\d,]+)\s+"
    r"(-?[\d,]+)\s+([\d,]+)\s+([a-z]+)\s*$"
)
TOTAL = re.compile(
    r"^\s*total\s+\d+ live\s+([\d,]+)\s+([\d,]+)\s+([\d,]+)\s+(-?[\d,]+)\s+(-?[\d,]+)\s+[\d,]+"
)


def number(text: str) -> int:
    return int(text.replace(",", ""))


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def record(node_id: int, port: int) -> NodeRecord:
    # The view never touches the session.
    return NodeRecord(node_id, "127.0.0.1", port, session=None)  # type: ignore[arg-type]


def progress(node_id: int, sent: int, received: int, relayed: int) -> ProgressReport:
    return ProgressReport(node_id, sent, received, relayed, 10 * sent, 10 * received)


def recorded(renderable: object, width: int = 160) -> str:
    console = Console(file=io.StringIO(), width=width, record=True)
    console.print(renderable)
    return console.export_text()


def rows_of(text: str) -> dict[int, tuple[str, ...]]:
    return {int(m[1]): m.groups()[1:] for line in text.splitlines() if (m := ROW.match(line))}


def test_view_follows_states_progress_rates_and_departures() -> None:
    clock = FakeClock()
    registry = Registry(get_dialect("cs455"))
    view = TrafficView(registry, wire="cs455", clock=clock)
    a, b = record(5, 40005), record(9, 40009)
    registry.nodes = {5: a, 9: b}

    snap = view.update()
    assert snap.phase == "waiting for nodes"
    assert [(r.node_id, r.state, r.sent, r.rate) for r in snap.rows] == [
        (5, "registered", 0, 0.0),
        (9, "registered", 0, 0.0),
    ]
    registry.overlay_nr, registry.ready = 1, True
    a.state = b.state = "connected"
    assert view.update().phase == "ready"

    # A run of 100 packets per node starts at t = 10.
    clock.now = 10.0
    registry.run = Run(100, 1, (5, 9), started=10.0)
    a.state = b.state = "sending"
    a.progress = progress(5, 20, 10, 5)
    b.progress = progress(9, 30, 0, 0)
    snap = view.update()
    assert snap.phase == "running"
    assert (snap.expected, snap.received, snap.elapsed) == (200, 10, 0.0)
    clock.now = 10.5
    a.progress = progress(5, 60, 30, 15)
    snap = view.update()
    row = {r.node_id: r for r in snap.rows}
    # (60 + 30 + 15) - (20 + 10 + 5) packets in 0.5 s.
    assert row[5].rate == 140.0
    assert row[9].rate == 0.0
    assert (snap.received, snap.elapsed, snap.rate) == (30, 0.5, 60.0)
    line = view.progress_line()
    assert line.startswith("progress: 30/200 packets received (15.0%)")
    assert ESCAPE not in line

    text = recorded(view.render())
    rows = rows_of(text)
    assert rows[5] == ("127.0.0.1:40005", "60", "30", "15", "600", "300", "140", "sending")
    assert rows[9][-1] == "sending"
    assert "30 / 200 packets received (15%)" in text

    # Node 9 vanishes: its row stays, marked gone, with its last numbers.
    del registry.nodes[9]
    b.state = "gone"
    clock.now = 11.0
    row = {r.node_id: r for r in view.update().rows}
    assert row[9].state == "gone"
    assert row[9].sent == 30

    # The run ends: summaries replace progress, the verdict shows.
    a.summary = TrafficSummary(
        5, sent=100, relayed=500, sum_sent=1000, received=100, sum_received=1000
    )
    registry.run = None
    a.state = "connected"
    result = RunResult(
        packets_per_node=100,
        nr=1,
        nodes=(
            NodeTotals(5, "127.0.0.1", 40005, 100, 100, 100, 1000, 1000),
            NodeTotals(9, "127.0.0.1", 40009, 30, 0, 0, 300, 0, source="last-progress"),
        ),
        elapsed=2.0,
        quiescence="stalled",
        gone=(9,),
    )
    registry.observer.run_finished(result)
    view.notes = ["a note"]
    snap = view.update()
    assert snap.phase == "finished"
    assert snap.result is result
    row = {r.node_id: r for r in snap.rows}
    assert (row[5].sent, row[5].received, row[5].relayed) == (100, 100, 500)
    assert row[5].rate == 350.0  # 700 packets handled over the run's 2 s
    text = recorded(view.render())
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines[-1] == result.verdict()
    assert lines[-1].startswith("INCORRECT")
    assert lines[-2] == "a note"

    # The next run forgets the node that left before it.
    registry.run = Run(10, 1, (5,), started=12.0)
    assert [r.node_id for r in view.update().rows] == [5]
    assert view.notes == []


def last_frame(text: str, title: str) -> list[str]:
    """The last frame a Live drew (frames follow each other in the record)."""
    return text[text.rindex(title) :].splitlines()


def check_final_frame(frame: list[str], result: RunResult) -> None:
    rows = rows_of("\n".join(frame))
    assert set(rows) == {n.node_id for n in result.nodes}
    for node in result.nodes:
        shown = rows[node.node_id]
        assert shown[0] == f"{node.host}:{node.port}"
        assert tuple(number(x) for x in shown[1:6]) == (
            node.sent, node.received, node.relayed, node.sum_sent, node.sum_received,
        )  # fmt: skip
    totals = [m for line in frame if (m := TOTAL.match(line))]
    assert len(totals) == 1
    assert tuple(number(x) for x in totals[0].groups()) == (
        result.sent, result.received, result.relayed, result.sum_sent, result.sum_received,
    )  # fmt: skip
    assert f"{result.received:,} / {result.sent:,} packets received (100%)" in "\n".join(frame)
    lines = [line for line in frame if line.strip()]
    assert lines[-1] == result.verdict()


async def test_registry_live_table_on_a_recording_terminal() -> None:
    """``registry --live`` with in-process nodes: every row is drawn while
    the counters grow, and the last frame holds the final totals and the
    verdict."""
    nodes, packets = 4, 5000
    args = build_parser().parse_args(
        ["registry", "0", "--host", "127.0.0.1", "--live", "--nodes", str(nodes), "--nr", "2",
         "--start", str(packets)]
    )  # fmt: skip
    console = Console(file=io.StringIO(), width=160, record=True, force_terminal=True)
    app = RegistryApp(args, console)
    assert app.display is not None and app.display.interactive
    app.display.period = 0.02
    seen: list[dict[int, tuple[int, int, int]]] = []

    async def watch() -> None:
        while True:
            snap = app.display.view.update()
            seen.append({r.node_id: (r.sent, r.received, r.relayed) for r in snap.rows})
            await trio.sleep(0.005)

    with trio.fail_after(RUN_TIMEOUT):
        async with trio.open_nursery() as nursery:
            status: list[int] = []

            async def registry() -> None:
                status.append(await app.main())
                nursery.cancel_scope.cancel()

            nursery.start_soon(registry)
            while app.registry.port == 0:
                await trio.sleep(0.01)
            dialect = get_dialect("cs455")
            for _ in range(nodes):
                nursery.start_soon(MessagingNode("127.0.0.1", app.registry.port, dialect).run)
            nursery.start_soon(watch)
            await trio.sleep_forever()

    assert status == [0]
    result = app.observer.results[-1]
    assert result.correct and result.sent == nodes * packets
    # Counters drawn during the run never go backwards nor past the end.
    final = {n.node_id: (n.sent, n.received, n.relayed) for n in result.nodes}
    for earlier, later in itertools.pairwise(seen):
        for node_id, counts in earlier.items():
            if node_id in later:
                assert all(x <= y for x, y in zip(counts, later[node_id], strict=True))
    for snapshot in seen:
        for node_id, counts in snapshot.items():
            assert all(x <= y for x, y in zip(counts, final[node_id], strict=True))
    assert {r.node_id: (r.sent, r.received, r.relayed) for r in app.display.view.update().rows} == (
        final
    )

    text = console.export_text()
    assert "Registry listening on port" in text
    frame = last_frame(text, "trio_dht registry ·")
    check_final_frame(frame, result)
    assert any("mean relays per packet" in line for line in frame)


async def test_demo_live_table_on_a_recording_terminal() -> None:
    args = build_parser().parse_args(["demo", "--nodes", "5", "--nr", "2", "--packets", "2000"])
    console = Console(file=io.StringIO(), width=160, record=True, force_terminal=True)
    app = DemoApp(args, console)
    with trio.fail_after(RUN_TIMEOUT):
        status = await app.main()
    assert status == 0
    assert app.result is not None and app.result.correct
    text = console.export_text()
    frame = last_frame(text, "trio_dht demo ·")
    assert "finished" in frame[0]
    check_final_frame(frame, app.result)
    assert any(line.startswith("Wall time ") for line in frame)
    # The raw output did use the terminal's escape codes.
    assert ESCAPE in console.file.getvalue()  # type: ignore[attr-defined]


async def test_plain_display_prints_progress_lines_without_escape_codes() -> None:
    clock = FakeClock()
    registry = Registry(get_dialect("cs455"))
    registry.nodes = {3: record(3, 40003)}
    registry.run = Run(50, 1, (3,), started=0.0)
    registry.nodes[3].progress = progress(3, 50, 20, 0)
    clock.now = 2.0
    out = io.StringIO()
    console = Console(file=out, width=100)
    assert not console.is_terminal
    display = LiveDisplay(TrafficView(registry, clock=clock), console, plain_interval=0.01)
    with trio.fail_after(RUN_TIMEOUT):
        async with trio.open_nursery() as nursery:
            await nursery.start(display.run)
            while "\n" not in out.getvalue():
                await trio.sleep(0.01)
            nursery.cancel_scope.cancel()
    first = out.getvalue().splitlines()[0]
    assert first == "progress: 20/50 packets received (40.0%), 2.0 s, 10 pkt/s delivered"
    assert ESCAPE not in out.getvalue()
