"""Measured link loads and relays per packet from real runs on loopback: what
the nodes report adds up exactly to the counters they report, and the
figure is drawn from exactly that (its data taken from the plotting
function's inputs)."""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path

import pytest
import trio
from rich.console import Console

from trio_dht.interface import figures
from trio_dht.interface.cli import build_parser
from trio_dht.interface.demo_app import DemoApp
from trio_dht.overlay import routing_tables
from trio_dht.services.report import RunResult

RUN_TIMEOUT = 120.0
NODES, NR, PACKETS = 10, 3, 1500


async def figure_run(
    monkeypatch: pytest.MonkeyPatch, path: Path, *argv: str
) -> tuple[RunResult, figures.FigureData, str]:
    """A 10-node demo with ``--figure``; its result, the data the drawing
    function was given, and what the demo printed."""
    drawn: list[figures.FigureData] = []
    draw = figures.draw_figure

    def recording(data: figures.FigureData, target: str) -> None:
        drawn.append(data)
        draw(data, target)

    monkeypatch.setattr(figures, "draw_figure", recording)
    args = build_parser().parse_args(
        ["demo", "--nodes", str(NODES), "--nr", str(NR), "--packets", str(PACKETS),
         "--figure", str(path), *argv]
    )  # fmt: skip
    out = io.StringIO()
    app = DemoApp(args, Console(file=out, width=200))
    with trio.fail_after(RUN_TIMEOUT):
        status = await app.main()
    result = app.result
    assert result is not None, out.getvalue()
    assert status == 0, result.verdict()
    (data,) = drawn
    return result, data, out.getvalue()


@pytest.mark.parametrize(
    "argv",
    [(), ("--wire", "minichord"), ("--processes",)],
    ids=["cs455", "minichord", "processes"],
)
async def test_measured_loads_add_up_to_the_counters(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, argv: tuple[str, ...]
) -> None:
    result, data, printed = await figure_run(monkeypatch, tmp_path / "run.png", *argv)
    assert result.unmeasured == ()
    ids = [row.node_id for row in result.nodes]
    tables = routing_tables(ids, NR)

    # Per node: one count per routing-table entry, in table order, and they
    # add up to what the node originated and relayed (nothing was dropped).
    by_node = {m.node_id: m for m in result.measures}
    assert set(by_node) == set(ids)
    for row in result.nodes:
        measures = by_node[row.node_id]
        assert [entry for entry, _ in measures.links] == list(tables[row.node_id])
        assert sum(packets for _, packets in measures.links) == row.sent + row.relayed
        # Its histogram counts the packets delivered to it.
        assert sum(measures.relays) == row.received

    # Over the run: the histogram holds every delivered packet, and its mean
    # is relayed / received exactly (every relay is one hop of a delivered
    # packet's trace).
    histogram = result.relay_histogram
    assert histogram is not None
    assert sum(histogram.values()) == result.received == NODES * PACKETS
    assert Fraction(sum(k * n for k, n in histogram.items()), sum(histogram.values())) == Fraction(
        result.relayed, result.received
    )
    # No route on this ring takes more relays than the exact distribution has.
    assert max(histogram) <= max(data.exact)

    # The figure was drawn from exactly these numbers.
    chords = {(c.source, c.target): c.load for c in data.chords}
    assert chords == result.link_loads
    assert data.link_loads_measured and data.unmeasured == ()
    assert data.measured == histogram
    assert data.histogram_mean == data.measured_mean == result.relayed / result.received
    assert f"the nodes' histogram: {data.histogram_mean:.4f}" in printed
    assert (tmp_path / "run.png").read_bytes().startswith(b"\x89PNG")


def test_a_partly_measured_run_marks_the_rest_unknown(tmp_path: Path) -> None:
    # Chords of a node that reported nothing are unknown (None), never 0,
    # and the histogram of a part of the nodes is not drawn as the run's.
    from trio_dht.protocol.report import NodeMeasures
    from trio_dht.services.report import NodeTotals

    ids = (3, 40, 77, 90)
    tables = routing_tables(ids, 2)
    rows = tuple(
        NodeTotals(i, "127.0.0.1", 1000 + i, 9, 9, 2, 0, 0) for i in ids
    )  # fmt: skip
    measures = tuple(
        NodeMeasures(i, tuple((e, 5) for e in tables[i]), (7, 2)) for i in ids if i != 40
    )
    result = RunResult(9, 2, rows, 1.0, "progress", measures=measures)
    assert result.unmeasured == (40,) and result.relay_histogram is None
    data = figures.write_figure(
        str(tmp_path / "part.svg"), result, ids, 2, result.link_loads, result.relay_histogram
    )
    assert data.unmeasured == (40,)
    assert {c.load for c in data.chords if c.source == 40} == {None}
    assert {c.load for c in data.chords if c.source != 40} == {5}
    assert data.measured is None and data.histogram_mean is None
    # matplotlib's SVG keeps each text as a comment beside its glyphs.
    svg = (tmp_path / "part.svg").read_text()
    assert "link loads unknown: node 40 did not report them (classic peers)" in svg
