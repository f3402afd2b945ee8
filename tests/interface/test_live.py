"""The live traffic view: what it reads from the registry, how it fits
terminals of every size, and what a recording rich Console shows of a real
run."""

from __future__ import annotations

import io
import itertools
import re
from types import SimpleNamespace
from typing import Any

import attrs
import pytest
import trio
from rich.console import Console

from trio_dht.interface.cli import build_parser
from trio_dht.interface.demo_app import DemoApp
from trio_dht.interface.live import LiveDisplay, TrafficView, progress_line
from trio_dht.interface.registry_app import RegistryApp
from trio_dht.interface.screen import Screen
from trio_dht.services.node import MessagingNode
from trio_dht.services.observer import Observer
from trio_dht.services.report import NodeTotals, RunResult
from trio_dht.wire import get_dialect

RUN_TIMEOUT = 20.0
ESCAPE = "\x1b"


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@attrs.define
class FakeRecord:
    """What the view reads of a registry's node record."""

    node_id: int
    host: str
    port: int
    state: str = "registered"
    progress: Any = None
    summary: Any = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


class FakeRegistry:
    """The attributes of a Registry the view reads."""

    def __init__(self) -> None:
        self.nodes: dict[int, FakeRecord] = {}
        self.run: Any = None
        self.overlay_nr: int | None = None
        self.ready = False
        self.observer = Observer()


def counters(sent: int, received: int, relayed: int) -> SimpleNamespace:
    return SimpleNamespace(
        sent=sent, received=received, relayed=relayed, sum_sent=10 * sent,
        sum_received=10 * received,
    )  # fmt: skip


def fake_run(packets: int, node_ids: tuple[int, ...], started: float, nr: int = 1) -> Any:
    return SimpleNamespace(
        packets=packets, nr=nr, node_ids=node_ids, started=started, done=trio.Event(), result=None
    )


def test_view_follows_states_progress_rates_and_departures() -> None:
    clock = FakeClock()
    registry = FakeRegistry()
    view = TrafficView(registry, wire="cs455", clock=clock)  # type: ignore[arg-type]
    a, b = FakeRecord(5, "127.0.0.1", 40005), FakeRecord(9, "127.0.0.1", 40009)
    registry.nodes = {5: a, 9: b}

    snap = view.update()
    assert snap.phase == "waiting for nodes"
    assert [(r.node_id, r.state, r.sent, r.rate) for r in snap.rows] == [
        (5, "registered", 0, 0.0),
        (9, "registered", 0, 0.0),
    ]
    # Before the registry's rewrite an overlay member was "connected": it
    # is shown as idle either way.
    registry.overlay_nr, registry.ready = 1, True
    a.state, b.state = "connected", "idle"
    snap = view.update()
    assert snap.phase == "ready"
    assert [r.state for r in snap.rows] == ["idle", "idle"]

    # A run of 100 packets per node starts at t = 10.
    clock.now = 10.0
    registry.run = fake_run(100, (5, 9), started=10.0)
    a.state = b.state = "sending"
    a.progress = counters(20, 10, 5)
    b.progress = counters(30, 0, 0)
    snap = view.update()
    assert snap.phase == "running"
    assert (snap.expected, snap.received, snap.elapsed) == (200, 10, 0.0)
    clock.now = 10.5
    a.progress = counters(60, 30, 15)
    a.state = "finished"  # the old name of relaying
    snap = view.update()
    row = {r.node_id: r for r in snap.rows}
    # The rate counts deliveries to the node: 30 - 10 packets in 0.5 s.
    assert row[5].rate == 40.0
    assert row[5].state == "relaying"
    assert row[9].rate == 0.0
    assert (snap.received, snap.elapsed, snap.rate) == (30, 0.5, 60.0)
    line = progress_line(snap)
    assert line.startswith("progress: 30/200 delivered (15.0%), 0.5 s, 60/s; ")
    assert "1 relaying, 1 sending" in line
    assert ESCAPE not in line

    # Node 9 vanishes: its row stays, marked gone, with its last numbers.
    del registry.nodes[9]
    clock.now = 11.0
    row = {r.node_id: r for r in view.update().rows}
    assert row[9].state == "gone"
    assert row[9].sent == 30

    # The run ends: summaries replace progress; rates are over the run.
    a.summary = SimpleNamespace(
        sent=100, received=100, relayed=500, sum_sent=1000, sum_received=1000
    )
    registry.run = None
    # After a run that did not end CORRECT (node 9 vanished) the registry
    # calls its nodes registered (setup is due again); its summary is in: done.
    a.state = "registered"
    result = RunResult(
        packets_per_node=100,
        nr=1,
        nodes=(
            NodeTotals(5, "127.0.0.1", 40005, 100, 100, 500, 1000, 1000),
            NodeTotals(9, "127.0.0.1", 40009, 30, 0, 0, 300, 0, source="last-progress"),
        ),
        elapsed=2.0,
        quiescence="stalled",
        gone=(9,),
    )
    registry.observer.run_finished(result)
    snap = view.update()
    assert snap.phase == "finished"
    assert snap.result is result
    row = {r.node_id: r for r in snap.rows}
    assert (row[5].sent, row[5].received, row[5].relayed) == (100, 100, 500)
    assert row[5].rate == 50.0  # 100 packets delivered over the run's 2 s
    assert (row[5].state, row[9].state) == ("done", "gone")
    a.state = "idle"  # after a CORRECT run: done as well
    assert {r.node_id: r.state for r in view.update().rows}[5] == "done"

    # The next run forgets the node that left before it.
    registry.run = fake_run(10, (5,), started=12.0)
    assert [r.node_id for r in view.update().rows] == [5]


# --- the display, without a capable terminal ---------------------------------


@pytest.mark.parametrize("term", ["pipe", "dumb"])
async def test_plain_progress_lines_without_a_capable_terminal(
    term: str, autojump_clock: trio.abc.Clock
) -> None:
    registry = FakeRegistry()
    registry.nodes = {3: FakeRecord(3, "127.0.0.1", 40003, "sending", counters(50, 20, 0))}
    run = fake_run(50, (3,), started=trio.current_time())
    registry.run = run
    out = io.StringIO()
    if term == "dumb":
        console = Console(file=out, width=100, force_terminal=True, _environ={"TERM": "dumb"})
    else:
        console = Console(file=out, width=100)
    display = LiveDisplay(TrafficView(registry, clock=trio.current_time), Screen(console))  # type: ignore[arg-type]
    assert not display.interactive
    with trio.fail_after(RUN_TIMEOUT):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(display.follow, run)
            # Virtual time (autojump): three progress intervals, no real wait.
            await trio.sleep(3.5)
            run.done.set()
    lines = out.getvalue().splitlines()
    assert len(lines) == 3, lines
    assert lines[0].startswith("progress: 20/50 delivered (40.0%), 1.0 s,")
    assert ESCAPE not in out.getvalue()


# --- real runs on a recording terminal ---------------------------------------

NUM = r"-?[\d,]+"


def final_table(text: str, title: str) -> list[str]:
    """The final table left on screen: the last frame drawn with ``title``."""
    return text[text.rindex(title) :].splitlines()


def check_final_table(frame: list[str], result: RunResult) -> None:
    rows = {}
    for line in frame:
        if m := re.match(rf"^\s*(\d+)\s+127\.0\.0\.1:\d+\s+({NUM})\s+({NUM})\s+({NUM})\s", line):
            rows[int(m[1])] = tuple(int(g.replace(",", "")) for g in m.groups()[1:])
    assert rows == {n.node_id: (n.sent, n.received, n.relayed) for n in result.nodes}, frame
    totals = [line for line in frame if line.lstrip().startswith("total")]
    assert len(totals) == 1
    assert f"{result.sent:,}" in totals[0] and f"{result.relayed:,}" in totals[0]
    assert f"{result.received:,} / {result.sent:,} delivered (100%)" in "\n".join(frame)


async def test_registry_live_table_on_a_recording_terminal() -> None:
    """An unattended registry with in-process nodes on a (recorded)
    terminal: counters drawn during the run never go backwards, the final
    table stays, then the details and the verdict."""
    nodes, packets = 4, 5000
    args = build_parser().parse_args(
        ["registry", "0", "--host", "127.0.0.1", "--nodes", str(nodes), "--nr", "2",
         "--start", str(packets)]
    )  # fmt: skip
    from trio_dht.interface.options import check_registry

    assert check_registry(args) is None
    console = Console(file=io.StringIO(), width=120, height=30, record=True, force_terminal=True)
    app = RegistryApp(args, console)
    assert app.display.interactive
    app.display.period = 0.02
    seen: list[dict[int, tuple[int, int, int]]] = []

    async def watch() -> None:
        while True:
            snap = app.display.view.update()
            seen.append({r.node_id: (r.sent, r.received, r.relayed) for r in snap.rows})
            # A sampler of what the table shows, not a wait: any rate works.
            await trio.sleep(0.005)

    with trio.fail_after(RUN_TIMEOUT):
        async with trio.open_nursery() as nursery:
            status: list[int] = []

            async def registry() -> None:
                status.append(await app.main())
                nursery.cancel_scope.cancel()

            nursery.start_soon(registry)
            await app.registry.listening.wait()
            dialect = get_dialect("cs455")
            for _ in range(nodes):
                nursery.start_soon(MessagingNode("127.0.0.1", app.registry.port, dialect).run)
            nursery.start_soon(watch)
            await trio.sleep_forever()

    assert status == [0]
    result = app.results[-1]
    assert result.correct and result.sent == nodes * packets
    final = {n.node_id: (n.sent, n.received, n.relayed) for n in result.nodes}
    for earlier, later in itertools.pairwise(seen):
        for node_id, counts in earlier.items():
            if node_id in later:
                assert all(x <= y for x, y in zip(counts, later[node_id], strict=True))
    for snapshot in seen:
        for node_id, counts in snapshot.items():
            assert all(x <= y for x, y in zip(counts, final[node_id], strict=True))

    text = console.export_text()
    assert "Registry listening on port" in text
    frame = final_table(text, "trio_dht registry ·")
    assert "finished" in frame[0]
    check_final_table(frame, result)
    lines = [line for line in frame if line.strip()]
    assert any("mean relays per packet" in line for line in lines)
    assert lines[-1] == result.verdict()


async def test_demo_live_table_on_a_recording_terminal() -> None:
    args = build_parser().parse_args(["demo", "--nodes", "5", "--nr", "2", "--packets", "2000"])
    console = Console(file=io.StringIO(), width=80, height=24, record=True, force_terminal=True)
    app = DemoApp(args, console)
    with trio.fail_after(RUN_TIMEOUT):
        status = await app.main()
    assert status == 0
    assert app.result is not None and app.result.correct
    text = console.export_text()
    frame = final_table(text, "trio_dht demo ·")
    assert all(len(line) <= 80 for line in frame)
    lines = [line for line in frame if line.strip()]
    assert lines[-1] == app.result.verdict()
    assert ESCAPE in console.file.getvalue()  # type: ignore[attr-defined]
    assert any(line.startswith("Wall time ") for line in text.splitlines())
