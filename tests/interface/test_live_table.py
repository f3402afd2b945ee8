"""The live table fits terminals of every size: at 80, 100, 120 and 160
columns and 24 rows, with 10 and 127 nodes, no number is cut and the
header and totals stay on screen; columns go in the stated order; widths
do not move as numbers grow."""

from __future__ import annotations

import io
import random
import re

import attrs
import pytest
from rich.console import Console

from trio_dht.interface.live_table import LiveTable, compact
from trio_dht.interface.live_view import LiveRow, LiveSnapshot


def busy_snapshot(nodes: int, seed: int = 1, scale: int = 1) -> LiveSnapshot:
    """A run of 25,000 packets per node in full swing, with big payload sums."""
    rng = random.Random(seed)
    states = ["sending", "relaying", "done", "gone", "unresponsive"]
    rows = tuple(
        LiveRow(
            node_id=i,
            address=f"127.0.0.1:{40000 + i}",
            sent=25_000 * scale,
            received=rng.randrange(20_000, 30_000) * scale,
            relayed=rng.randrange(50_000, 99_999) * scale,
            sum_sent=rng.randrange(-(2**41), 2**41),
            sum_received=rng.randrange(-(2**41), 2**41),
            rate=rng.random() * 40_000,
            state=states[i % len(states)] if i % 7 == 0 else "sending",
        )
        for i in range(nodes)
    )
    received = sum(r.received for r in rows)
    return LiveSnapshot(
        "running", nodes, 3, rows, 25_000 * scale, 25_000 * nodes * scale, received, 3.25,
        run_number=1, relay_estimate=25_000 * nodes * 4 * scale,
    )  # fmt: skip


def draw(table: LiveTable, snap: LiveSnapshot, width: int, height: int = 24) -> list[str]:
    console = Console(file=io.StringIO(), width=width, height=height, record=True)
    console.print(table.frame(snap))
    return console.export_text().rstrip("\n").splitlines()


def shown_as(text: str, value: float) -> bool:
    """``text`` is ``value`` in full (with separators) or compacted."""
    return text in (f"{value:,}", compact(value))


@pytest.mark.parametrize("nodes", [10, 127])
@pytest.mark.parametrize("width", [80, 100, 120, 160])
def test_the_table_fits_and_no_number_is_cut(width: int, nodes: int) -> None:
    snap = busy_snapshot(nodes)
    lines = draw(LiveTable("trio_dht demo", "cs455"), snap, width)
    assert len(lines) <= 23, "\n".join(lines)  # one line left for the cursor
    assert all(len(line) <= width for line in lines), "\n".join(lines)
    assert not any("…" in line for line in lines), "\n".join(lines)
    assert lines[0].startswith("trio_dht demo · ")

    header = next(line for line in lines if re.match(r"^\s*node\s", line))
    columns = header.split()
    totals = [line for line in lines if line.lstrip().startswith("total")]
    assert len(totals) == 1, "\n".join(lines)
    cells = totals[0].split()
    if "live" in cells:  # the address column's "10 live"
        at = cells.index("live")
        del cells[at - 1 : at + 1]
    expected = {
        "sent": snap.total("sent"),
        "received": snap.total("received"),
        "relayed": snap.total("relayed"),
    }
    # The totals row has a cell for each shown counter column, in order.
    counter_cells = [c for c in cells if re.fullmatch(r"[\d,.]+[kMG]?", c)]
    shown = [c for c in ("sent", "received", "relayed") if c in columns]
    assert shown[:2] == ["sent", "received"]
    for name, cell in zip(shown, counter_cells, strict=False):
        assert shown_as(cell, expected[name]), (name, cell, "\n".join(lines))

    # Every visible node row: id first, counters whole.
    rows = {int(line.split()[0]): line.split() for line in lines if re.match(r"^\s*\d+\s", line)}
    assert rows
    for node_id, words in rows.items():
        row = snap.rows[node_id]
        numbers = [w for w in words[1:] if re.fullmatch(r"[\d,.]+[kMG]?", w)]
        assert shown_as(numbers[0], row.sent) and shown_as(numbers[1], row.received), words
    if nodes > len(rows):
        more = [line for line in lines if line.startswith("... ")]
        assert len(more) == 1
        assert more[0].startswith(f"... {nodes - len(rows)} more nodes: ")
    else:
        assert len(rows) == nodes
    if width >= 160:
        assert "sum received" in header and "address" in header


def test_columns_drop_in_the_stated_order() -> None:
    snap = busy_snapshot(10)
    table = LiveTable()
    wide = draw(table, snap, 160)[2]
    assert wide.split() == [
        "node", "address", "sent", "received", "relayed", "sum", "sent", "sum", "received",
        "recv/s", "state",
    ]  # fmt: skip
    assert "sum" not in draw(LiveTable(), snap, 100)[2]
    narrow = draw(LiveTable(), snap, 60)[2].split()
    assert "address" not in narrow and "sent" in narrow
    tiny = draw(LiveTable(), snap, 40)
    assert all(len(line) <= 40 for line in tiny), "\n".join(tiny)


def test_column_widths_stay_put_as_numbers_grow() -> None:
    table = LiveTable()
    early = busy_snapshot(10)
    early = attrs.evolve(
        early,
        rows=tuple(
            attrs.evolve(r, received=7, relayed=3, sum_sent=1, sum_received=1) for r in early.rows
        ),
        received=70,
    )
    late = busy_snapshot(10)
    first = draw(table, early, 160)
    second = draw(table, late, 160)
    # The column header (and so every column's position) did not move.
    assert first[2] == second[2], "\n".join(first + second)


def test_compact_numbers() -> None:
    assert [compact(v) for v in (0, 987, 1000, 25_000, 131_072, 3_175_000, -2_500_000_000)] == [
        "0", "987", "1.00k", "25.0k", "131k", "3.17M", "-2.50G",
    ]  # fmt: skip


def test_the_final_table_says_its_rates_are_averages() -> None:
    live = busy_snapshot(10)
    final = attrs.evolve(live, phase="finished")
    assert "recv/s" in draw(LiveTable(), live, 160)[2]
    header = draw(LiveTable(), final, 160)[2]
    assert "avg/s" in header and "recv/s" not in header
