"""The run figure: drawn from real in-process runs at 10 and 128 nodes, its
plotted data checked against the run's counters and the exact routing
figures; and the same seed giving the same run twice."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import trio
from rich.console import Console

from trio_dht.interface import figures
from trio_dht.interface.cli import build_parser
from trio_dht.interface.demo_app import DemoApp
from trio_dht.interface.figure_options import run_figure_lines
from trio_dht.overlay import mean_relays, routing_tables
from trio_dht.overlay.analysis import relay_distribution
from trio_dht.services.report import NodeTotals, RunResult

RUN_TIMEOUT = 120.0
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


async def demo_run(*argv: str, correct: bool = True) -> RunResult:
    """A whole demo run in this process; its result. ``correct=False`` accepts
    any verdict: the figure must show the counters of whatever run it is given
    (and a 128-node run on a loaded machine is the services' test, not this)."""
    args = build_parser().parse_args(["demo", "-q", *argv])
    app = DemoApp(args, Console(file=io.StringIO(), width=160))
    with trio.fail_after(RUN_TIMEOUT):
        status = await app.main()
    assert app.result is not None, "the demo ended without a result"
    if correct:
        assert status == 0, app.result.verdict()
    return app.result


@pytest.mark.parametrize(
    ("nodes", "nr", "wire", "suffix"),
    # cs455's setup message cannot hold 128 nodes; minichord can.
    [(10, 3, "cs455", ".png"), (128, 7, "minichord", ".svg")],
)
async def test_figure_of_a_real_run(
    tmp_path: Path, nodes: int, nr: int, wire: str, suffix: str
) -> None:
    packets = 300 if nodes <= 10 else 8
    result = await demo_run(
        "--nodes", str(nodes), "--nr", str(nr), "--packets", str(packets), "--wire", wire,
        correct=nodes <= 10,
    )  # fmt: skip
    ids = [row.node_id for row in result.nodes]
    assert len(ids) == nodes
    path = tmp_path / f"run{suffix}"
    data = figures.write_figure(str(path), result, ids, nr)

    # The file is there and is what its suffix says.
    raw = path.read_bytes()
    if suffix == ".png":
        assert raw.startswith(PNG_MAGIC)
    else:
        root = ET.fromstring(raw)
        assert root.tag == "{http://www.w3.org/2000/svg}svg"

    # The ring: every node, one chord per routing-table entry.
    assert data.ids == tuple(sorted(ids))
    tables = routing_tables(ids, nr)
    assert sorted((c.source, c.target) for c in data.chords) == sorted(
        (node, entry) for node, table in tables.items() for entry in table
    )
    # Drawn without the nodes' measures (test_link_loads_e2e draws with them):
    # every chord unknown, never zero.
    assert not data.link_loads_measured and data.unmeasured == data.ids
    # Relays per packet: the exact distribution of this ring, the measured mean
    # from the totals.
    assert data.exact == relay_distribution(ids, nr)
    assert data.exact_mean == mean_relays(ids, nr)
    assert data.measured is None
    if result.received:
        assert data.measured_mean == result.relayed / result.received
    else:
        assert data.measured_mean is None
    assert (data.relayed, data.received) == (result.relayed, result.received)
    # Load per node: the run's rows, sorted by id.
    assert [r.node_id for r in data.loads] == sorted(ids)
    by_id = {row.node_id: row for row in result.nodes}
    for load in data.loads:
        row = by_id[load.node_id]
        assert (load.originated, load.received, load.relayed) == (
            row.sent,
            row.received,
            row.relayed,
        )
    assert sum(load.originated for load in data.loads) == result.sent
    assert sum(load.received for load in data.loads) == result.received
    verdict = (
        f"{result.verdict().split(':')[0]}: {result.sent:,} sent, {result.received:,} received"
    )
    assert f"{nodes} nodes, NR {nr}" in data.title and data.title.endswith(verdict)


async def test_measured_link_loads_and_histogram_are_plotted(tmp_path: Path) -> None:
    result = await demo_run("--nodes", "6", "--nr", "2", "--packets", "50")
    ids = [row.node_id for row in result.nodes]
    tables = routing_tables(ids, 2)
    first = min(ids)
    loads = {(first, tables[first][0]): 40, (first, tables[first][1]): 7}
    histogram = {0: 30, 1: 45, 2: 25}
    data = figures.write_figure(str(tmp_path / "m.png"), result, ids, 2, loads, histogram, seed=5)
    assert data.link_loads_measured
    chord_loads = {(c.source, c.target): c.load for c in data.chords}
    assert chord_loads[(first, tables[first][0])] == 40
    assert chord_loads[(first, tables[first][1])] == 7
    # The measured node's chords add up; the other nodes reported nothing:
    # their chords are unknown, not zero.
    assert sum(load or 0 for load in chord_loads.values()) == 47
    assert {load for (source, _), load in chord_loads.items() if source != first} == {None}
    assert data.unmeasured == tuple(i for i in sorted(ids) if i != first)
    assert data.measured == histogram
    assert "seed 5" in data.title
    assert (tmp_path / "m.png").read_bytes().startswith(PNG_MAGIC)


def test_figure_path_problems(monkeypatch: pytest.MonkeyPatch) -> None:
    assert figures.check_figure_path("run.svg") is None
    assert figures.check_figure_path("RUN.PNG") is None
    problem = figures.check_figure_path("run.pdf")
    assert problem is not None and "a figure's file name must end in .svg or .png" in problem
    monkeypatch.setattr(figures, "plot_available", lambda: False)
    problem = figures.check_figure_path("run.svg")
    assert problem is not None and "pip install 'trio_dht[plot]'" in problem


def test_unwritable_figure_is_a_clear_error(tmp_path: Path) -> None:
    result = RunResult(packets_per_node=0, nr=1, nodes=(), elapsed=0.0, quiescence="progress")
    with pytest.raises(figures.FigureError, match="cannot write the figure"):
        figures.write_figure(str(tmp_path / "missing-dir" / "x.png"), result, [3, 90], 1)


def test_the_base_install_does_not_import_matplotlib() -> None:
    code = (
        "import sys, trio_dht.interface.figures, trio_dht.overlay.analysis; "
        "sys.exit('matplotlib' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], check=False, timeout=60)
    assert done.returncode == 0


def test_run_figure_lines_report_the_means_or_one_error(tmp_path: Path) -> None:
    rows = tuple(
        NodeTotals(node_id=i, host="127.0.0.1", port=1000 + i, sent=9, received=9,
                   relayed=r, sum_sent=0, sum_received=0)
        for i, r in zip((3, 40, 77, 90), (2, 1, 0, 5), strict=True)
    )  # fmt: skip
    result = RunResult(packets_per_node=9, nr=2, nodes=rows, elapsed=1.0, quiescence="progress")
    path = tmp_path / "r.png"
    (line,) = run_figure_lines(str(path), result, seed=3)
    # 8 relays / 36 received; on 4 nodes with NR 2 only sinks 3 ahead take one relay.
    assert line == (
        f"Figure written to {path}: relays per packet measured 0.2222 (relayed / received), "
        "exact 1/3 = 0.3333."
    )
    assert path.read_bytes().startswith(PNG_MAGIC)
    (line,) = run_figure_lines(str(tmp_path / "nope" / "r.png"), result)
    assert line.startswith("error: no figure: cannot write the figure")


def totals_by_node(result: RunResult) -> list[tuple[int, int, int, int, int, int]]:
    return sorted(
        (n.node_id, n.sent, n.received, n.relayed, n.sum_sent, n.sum_received) for n in result.nodes
    )


async def test_the_same_seed_gives_the_same_run_twice() -> None:
    argv = ("--nodes", "6", "--nr", "2", "--packets", "200")
    first = await demo_run(*argv, "--seed", "11")
    second = await demo_run(*argv, "--seed", "11")
    assert totals_by_node(first) == totals_by_node(second)
    other = await demo_run(*argv, "--seed", "12")
    assert totals_by_node(other) != totals_by_node(first)


async def test_demo_figure_option_and_the_console_commands(tmp_path: Path) -> None:
    path = tmp_path / "demo.svg"
    argv = ["demo", "--nodes", "5", "--nr", "2", "--packets", "100"]  # not -q: info lines too
    args = build_parser().parse_args([*argv, "--seed", "3", "--figure", str(path)])
    out = io.StringIO()
    app = DemoApp(args, Console(file=out, width=200))
    with trio.fail_after(RUN_TIMEOUT):
        assert await app.main() == 0
        assert app.result is not None
        ET.fromstring(path.read_bytes())  # an SVG document
        assert "Figure written to" in out.getvalue()
        # The registry console's figure command redraws the last run. (path
        # needs a live overlay: test_path_cmd tests what it prints.)
        again = tmp_path / "again.png"
        await app.app.handle(f"figure {again}")
        assert again.read_bytes().startswith(PNG_MAGIC)
        await app.app.handle("figure again.pdf")
        assert "error: no figure: again.pdf: a figure's file name must end in" in out.getvalue()
        await app.app.handle("path 1 2")  # the nodes have left with the registry
        assert "error: no overlay is set up now" in out.getvalue()


async def test_the_seed_is_in_the_json_summary_and_it_repeats() -> None:
    documents = []
    for _ in range(2):
        args = build_parser().parse_args(
            ["demo", "-q", "--nodes", "5", "--nr", "2", "--packets", "150", "--seed", "21",
             "--summary", "json"]
        )  # fmt: skip
        out = io.StringIO()
        with trio.fail_after(RUN_TIMEOUT):
            assert await DemoApp(args, Console(file=out, width=200)).main() == 0
        (line,) = [x for x in out.getvalue().splitlines() if x.startswith("{")]
        document = json.loads(line)
        assert document["seed"] == 21
        # Everything but the timings and the OS-chosen ports must repeat.
        for key in ("elapsed", "sending_elapsed"):
            document.pop(key)
        for node in document["nodes"]:
            node.pop("port")
        documents.append(document)
    assert documents[0] == documents[1]


def test_a_run_where_nothing_arrived_still_draws(tmp_path: Path) -> None:
    rows = tuple(
        NodeTotals(node_id=i, host="h", port=1, sent=0, received=0, relayed=0, sum_sent=0,
                   sum_received=0, source="none")
        for i in (5, 50, 100)
    )  # fmt: skip
    result = RunResult(packets_per_node=4, nr=1, nodes=rows, elapsed=1.0, quiescence="stalled")
    path = tmp_path / "empty.svg"
    (line,) = run_figure_lines(str(path), result)
    assert (
        line
        == f"Figure written to {path}: no packet arrived, so no measured mean; exact 1/2 = 0.5000."
    )
    ET.fromstring(path.read_bytes())
