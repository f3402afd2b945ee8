"""The console renderings: summary table, details and verdict lines, node list,
routing tables, node counters (rendered into a recording rich Console)."""

from __future__ import annotations

import io
import random
import re
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import attrs
import pytest
from rich.console import Console, RenderableType

from trio_dht.interface import cli
from trio_dht.interface.registry_app import RegistryApp
from trio_dht.interface.render import (
    node_counters_table,
    node_list_table,
    own_command,
    routing_tables_table,
    run_details,
    summary_table,
)
from trio_dht.services.report import NodeTotals, RunResult

WIDTH = 150
NUM = r"-?[\d,]+"
ROW = re.compile(
    rf"^\s*(\d+)(?: \(gone[^)]*\))?\s+({NUM})\s+({NUM})\s+({NUM})\s+({NUM})\s+({NUM})\s*$"
)
TOTAL = re.compile(rf"^\s*total\s+({NUM})\s+({NUM})\s+({NUM})\s+({NUM})\s+({NUM})\s*$")


def recording_console() -> Console:
    """Records what is printed (and prints it nowhere)."""
    return Console(record=True, width=WIDTH, file=io.StringIO(), color_system=None)


def render(*renderables: RenderableType) -> list[str]:
    console = recording_console()
    for renderable in renderables:
        console.print(renderable)
    return console.export_text().splitlines()


def number(text: str) -> int:
    return int(text.replace(",", ""))


def balanced_run(ids: list[int], packets: int, seed: int = 7) -> RunResult:
    """A correct run: every packet sent is received somewhere, payload sums
    (large, partly negative) agree."""
    rng = random.Random(seed)
    received = {i: 0 for i in ids}
    sums_received = {i: 0 for i in ids}
    sums_sent = {i: 0 for i in ids}
    relayed = {i: 0 for i in ids}
    for source in ids:
        for _ in range(packets):
            sink = rng.choice([i for i in ids if i != source])
            payload = rng.getrandbits(32) - 0x80000000
            sums_sent[source] += payload
            received[sink] += 1
            sums_received[sink] += payload
            relayed[rng.choice(ids)] += rng.randrange(3)
    rows = tuple(
        NodeTotals(
            i,
            "127.0.0.1",
            40000 + i,
            packets,
            received[i],
            relayed[i],
            sums_sent[i],
            sums_received[i],
        )
        for i in ids
    )
    return RunResult(packets, 3, rows, elapsed=1.25, quiescence="progress")


def parse_summary(lines: list[str]) -> tuple[dict[int, tuple[int, ...]], tuple[int, ...]]:
    rows: dict[int, tuple[int, ...]] = {}
    totals: list[tuple[int, ...]] = []
    for line in lines:
        if m := ROW.match(line):
            rows[int(m[1])] = tuple(number(g) for g in m.groups()[1:])
        elif m := TOTAL.match(line):
            totals.append(tuple(number(g) for g in m.groups()))
    assert len(totals) == 1, lines
    return rows, totals[0]


IDS = [3, 17, 29, 44, 58, 61, 77, 90, 104, 126]


def test_summary_table_has_every_node_and_the_totals() -> None:
    result = balanced_run(IDS, 2500)
    lines = render(summary_table(result))
    assert any("Traffic summary" in line for line in lines)
    header = next(line for line in lines if "received" in line)
    for column in ("node", "sent", "received", "relayed", "sum sent", "sum received"):
        assert column in header
    assert not any("…" in line for line in lines), "\n".join(lines)

    rows, totals = parse_summary(lines)
    assert list(rows) == IDS  # in the result's order, each node once
    for node in result.nodes:
        assert rows[node.node_id] == (
            node.sent, node.received, node.relayed, node.sum_sent, node.sum_received,
        )  # fmt: skip
    assert totals == (25_000, 25_000, result.relayed, result.sum_sent, result.sum_received)
    assert totals[3] == totals[4]
    # Thousands separators, as the console shows them.
    total_line = next(line for line in lines if TOTAL.match(line))
    assert "25,000" in total_line


def test_summary_table_marks_gone_nodes() -> None:
    rows = (
        NodeTotals(5, "127.0.0.1", 1, 10, 12, 3, -100, 40),
        NodeTotals(9, "127.0.0.1", 2, 10, 7, 1, 200, 50, source="last-progress"),
        NodeTotals(12, "127.0.0.1", 3, 0, 0, 0, 0, 0, source="none"),
    )
    result = RunResult(10, 2, rows, 0.5, "stalled", gone=(9, 12))
    lines = render(summary_table(result))
    text = "\n".join(lines)
    assert re.search(r"^\s*9 \(gone: last progress\)\s+10\s+7\s", text, re.MULTILINE), text
    assert re.search(r"^\s*12 \(gone\)\s+0\s", text, re.MULTILINE), text
    assert re.search(r"^\s*5\s+10\s+12\s+3\s+-100\s+40\s*$", text, re.MULTILINE), text
    _, totals = parse_summary(lines)
    assert totals == (20, 19, 4, 100, 90)


def app_printing_into(console: Console) -> RegistryApp:
    args = cli.build_parser().parse_args(["registry"])
    return RegistryApp(args, console=console)


def test_registry_prints_table_details_and_verdict() -> None:
    console = recording_console()
    app = app_printing_into(console)
    result = balanced_run(IDS, 2500)
    app.report(result)
    lines = console.export_text().splitlines()
    rows, totals = parse_summary(lines)
    assert set(rows) == set(IDS) and totals[:2] == (25_000, 25_000)

    total_at = next(i for i, line in enumerate(lines) if TOTAL.match(line))
    rest = [line for line in lines[total_at + 1 :] if line.strip()]
    assert rest[:2] == run_details(result)
    assert "10 nodes, NR 3, 2,500 packets per node" in rest[0]
    relays = re.search(r"mean relays per packet (\d+\.\d{4})\.", rest[1])
    assert relays is not None and float(relays[1]) == round(result.relayed / 25_000, 4)
    assert "End of run: every packet counted in the nodes' progress reports" in rest[1]
    assert rest[2] == "CORRECT: 25000 sent, 25000 received, sums match"
    assert app.results == [result]


@pytest.mark.parametrize("nodes", [10, 127])
def test_summary_table_fits_80_columns_without_cutting_numbers(nodes: int) -> None:
    result = balanced_run(list(range(nodes)), 25_000 // nodes * 10 if nodes < 100 else 2_000)
    console = Console(record=True, width=80, file=io.StringIO(), color_system=None)
    console.print(summary_table(result))
    lines = console.export_text().splitlines()
    assert all(len(line) <= 80 for line in lines)
    rows, totals = parse_summary(lines)
    assert len(rows) == nodes
    assert totals[3] == result.sum_sent and totals[4] == result.sum_received


def test_incorrect_verdict_says_what_is_wrong() -> None:
    rows = (
        NodeTotals(1, "127.0.0.1", 1, 100, 98, 5, 1000, 900),
        NodeTotals(2, "127.0.0.1", 2, 100, 100, 5, -50, 40, dropped=2),
    )
    result = RunResult(100, 1, rows, 0.1, "stalled")
    console = recording_console()
    app = app_printing_into(console)
    app.report(result)
    lines = [line for line in console.export_text().splitlines() if line.strip()]
    verdict = lines[-1]
    assert verdict.startswith("INCORRECT: ")
    assert "200 sent, 198 received (2 missing)" in verdict
    assert "sums differ (sent 950, received 940)" in verdict
    assert "2 dropped" in verdict
    assert not any(line.startswith("CORRECT") for line in lines)


def test_details_line_without_packets() -> None:
    result = RunResult(0, 3, (NodeTotals(1, "h", 1, 0, 0, 0, 0, 0),), 0.0, "progress")
    assert "mean relays per packet -." in run_details(result)[1]
    assert result.verdict() == "CORRECT: 0 sent, 0 received, sums match"


@attrs.define
class Record:
    """What the tables read of a registry's node record."""

    node_id: int
    host: str
    port: int
    state: str = "registered"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


def records(ids: list[int]) -> dict[int, Any]:
    return {i: Record(i, "127.0.0.1", 41000 + i) for i in ids}


def test_node_list_table() -> None:
    known = records([8, 33, 120])
    known[33].state = "connected"
    lines = render(node_list_table(known.values()))
    assert any("Messaging nodes" in line for line in lines)
    found = {}
    for line in lines:
        if m := re.match(r"^\s*127\.0\.0\.1\s+(\d+)\s+(\d+)\s+(\S+)\s*$", line):
            found[int(m[2])] = (int(m[1]), m[3])
    assert found == {
        8: (41008, "registered"),
        33: (41033, "idle"),  # the registry's old name for it
        120: (41120, "registered"),
    }


def test_routing_tables_table() -> None:
    # SYSTEM.md's example ring, NR 3.
    ids = [4, 18, 19, 33, 60, 82, 97, 119]
    known = records(ids)
    ring = sorted(ids)
    tables = {n: [ring[(k + 2**j) % len(ring)] for j in range(3)] for k, n in enumerate(ring)}
    assert tables[119] == [4, 18, 33] and tables[97] == [119, 4, 19]
    lines = render(routing_tables_table((known[n], [known[e] for e in tables[n]]) for n in ring))
    assert any("Routing tables" in line for line in lines)
    shown = {}
    for line in lines:
        if m := re.match(r"^\s*(\d+)\s+((?:\d+ 127\.0\.0\.1:\d+\s*)+)$", line):
            shown[int(m[1])] = [
                (int(i), int(p)) for i, p in re.findall(r"(\d+) 127\.0\.0\.1:(\d+)", m[2])
            ]
    assert shown == {n: [(e, 41000 + e) for e in tables[n]] for n in ring}


@pytest.mark.parametrize("with_peers", [False, True])
def test_node_counters_table(with_peers: bool) -> None:
    # What the table reads of a MessagingNode.
    c = SimpleNamespace(
        sent=25_000, received=24_990, relayed=22_222, sum_sent=-123_456_789_012,
        sum_received=98_765_432_100, dropped=3,
    )  # fmt: skip
    peers = [SimpleNamespace(node_id=i, host="127.0.0.1", port=1000 + i) for i in (50, 61)]
    node = SimpleNamespace(
        node_id=42, address="127.0.0.1:45678", state="connected", counters=c,
        peers=peers if with_peers else [],
    )  # fmt: skip
    text = "\n".join(render(node_counters_table(node)))  # type: ignore[arg-type]
    assert "Node 42 at 127.0.0.1:45678 (idle)" in text
    assert re.search(r"25,000\s+24,990\s+22,222\s+-123,456,789,012\s+98,765,432,100\s+3\b", text), (
        text
    )
    if with_peers:
        assert "50 (127.0.0.1:1050), 61 (127.0.0.1:1061)" in text
    else:
        assert "routing table: none yet" in text


def test_own_command_is_the_same_python_relative_when_inside(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The registry's join hint: pasted into another terminal it must run
    # the Python that has our dependencies, not whatever 'python' is there.
    venv_python = tmp_path / ".venv" / "bin" / "python"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "executable", str(venv_python))
    assert own_command() == ".venv/bin/python -m trio_dht"
    monkeypatch.chdir(venv_python.parent.parent.parent.parent)
    assert own_command() == f"{venv_python.relative_to(tmp_path.parent)} -m trio_dht"
    monkeypatch.setattr(sys, "executable", "/opt/py 3/bin/python")
    assert own_command() == "'/opt/py 3/bin/python' -m trio_dht"


def test_summary_too_wide_for_80_columns_splits_and_keeps_every_node_and_number() -> None:
    # A 10-node demo's payload sums: 18 characters each with separators.
    rows = tuple(
        NodeTotals(i, "127.0.0.1", 40000 + i, 100_000, 100_000, 88_888, -(10**15) - i, 10**15 + i)
        for i in IDS
    )
    result = RunResult(100_000, 3, rows, 2.8, "progress")
    wide = render(summary_table(result))  # the whole table fits wider consoles
    assert not any("Payload sums" in line for line in wide)
    console = Console(record=True, width=80, file=io.StringIO(), color_system=None)
    console.print(summary_table(result))
    lines = console.export_text().splitlines()
    assert all(len(line) <= 80 for line in lines), "\n".join(lines)
    text = "\n".join(lines)
    assert "Payload sums" in text
    for i in IDS:
        # Every node in both tables, next to its whole numbers.
        assert re.search(rf"^\s*{i}\s+100,000\s+100,000\s+88,888\s*$", text, re.MULTILINE), text
        assert re.search(rf"^\s*{i}\s+-1,000,000,000,000,{i:03d}\s", text, re.MULTILINE), text
    assert f"{result.sum_sent:,}" in text and f"{result.sum_received:,}" in text
