"""Drawing a live snapshot so that it fits the terminal.

Width: the full table needs about 110 columns (more with big payload sums).
When the terminal is narrower, the table gives things up in this order,
stopping as soon as it fits:

1. the per-node payload sums (the verdict says whether the sums match);
2. the address column;
3. full numbers: counters are compacted (25,000 -> 25.0k, 3,175,000 -> 3.18M);
4. the relayed column;
5. the rate column.

Numbers are never cut. Column widths only grow during a run (they start as
wide as the run's expected totals), so columns do not jump sideways as
counters gain digits.

Height: the title, the progress bar, the column header and the totals row
always stay on screen; node rows beyond the terminal's height are summed
up in one row ("... 87 more nodes: 80 sending, 7 relaying").

Rates: the header's is packets delivered per second averaged over the run;
the ``recv/s`` column is packets delivered to that node per second over the
last second (its total is the overlay's current delivery rate). Once the
run is over the column is headed ``avg/s`` and holds each node's average
over the run.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import attrs
from rich import box
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from trio_dht.interface.live_view import LiveRow, LiveSnapshot

STATE_STYLES = {
    "registered": "yellow",
    "setting up": "yellow",
    "idle": "cyan",
    "sending": "bold blue",
    "relaying": "blue",
    "done": "green",
    "gone": "red",
    "unresponsive": "bold red",
}


@attrs.frozen
class Column:
    key: str
    header: str
    left: bool = False
    counter: bool = True


COLUMNS = (
    Column("node", "node", counter=False),
    Column("address", "address", left=True, counter=False),
    Column("sent", "sent"),
    Column("received", "received"),
    Column("relayed", "relayed"),
    Column("sum_sent", "sum sent"),
    Column("sum_received", "sum received"),
    Column("rate", "recv/s", counter=False),
    Column("state", "state", left=True, counter=False),
)

# (columns left out, counters compacted), tried in this order.
LAYOUTS: tuple[tuple[frozenset[str], bool], ...] = (
    (frozenset(), False),
    (frozenset({"sum_sent", "sum_received"}), False),
    (frozenset({"sum_sent", "sum_received", "address"}), False),
    (frozenset({"sum_sent", "sum_received", "address"}), True),
    (frozenset({"sum_sent", "sum_received", "address", "relayed"}), True),
    (frozenset({"sum_sent", "sum_received", "address", "relayed", "rate"}), True),
)

# Lines around the node rows: title, progress, column header and its rule,
# the totals' rule and the totals; and one for the cursor under a Live. The
# line summing up rows left out takes the place of one row.
FIXED_LINES = 7


def compact(value: float) -> str:
    """At most 5 characters plus sign: 987, 25.0k, 131k, 3.18M, 1.2G."""
    sign = "-" if value < 0 else ""
    value = abs(value)
    if value < 1000:
        return f"{sign}{value:.0f}"
    for unit, scale in (("k", 1e3), ("M", 1e6), ("G", 1e9), ("T", 1e12), ("P", 1e15)):
        scaled = value / scale
        if scaled < 999.5 or unit == "P":
            if scaled < 9.995:
                return f"{sign}{scaled:.2f}{unit}"
            if scaled < 99.95:
                return f"{sign}{scaled:.1f}{unit}"
            return f"{sign}{scaled:.0f}{unit}"
    raise AssertionError("unreachable")


def _number(value: int, short: bool) -> str:
    return compact(value) if short else f"{value:,}"


class LiveTable:
    """Renders snapshots; remembers column widths for the current run."""

    def __init__(self, title: str = "trio_dht", wire: str | None = None) -> None:
        self.title = title
        self.wire = wire
        self._run_number = -1
        self._widths: dict[tuple[str, bool], int] = {}

    # --- cells ------------------------------------------------------------

    @staticmethod
    def _cells(row: LiveRow, short: bool) -> dict[str, str]:
        return {
            "node": str(row.node_id),
            "address": row.address,
            "sent": _number(row.sent, short),
            "received": _number(row.received, short),
            "relayed": _number(row.relayed, short),
            "sum_sent": _number(row.sum_sent, short),
            "sum_received": _number(row.sum_received, short),
            "rate": compact(row.rate),
            "state": row.state,
        }

    @staticmethod
    def _footer(snap: LiveSnapshot, short: bool) -> dict[str, str]:
        gone = sum(r.state == "gone" for r in snap.rows)
        return {
            "node": "total",
            "address": f"{len(snap.rows) - gone} live",
            "sent": _number(snap.total("sent"), short),
            "received": _number(snap.total("received"), short),
            "relayed": _number(snap.total("relayed"), short),
            "sum_sent": _number(snap.total("sum_sent"), short),
            "sum_received": _number(snap.total("sum_received"), short),
            "rate": compact(sum(r.rate for r in snap.rows)),
            "state": f"{gone} gone" if gone else "",
        }

    def _seeds(self, snap: LiveSnapshot, short: bool) -> dict[str, str]:
        """Values the run will reach: columns start this wide."""
        expected = snap.expected or 0
        # Payload sums are sums of random 32-bit values: a few standard
        # deviations of such a walk.
        walk = _number(-int(2**32 * math.sqrt(expected)), short)
        return {
            "node": "127",
            "sent": _number(expected, short),
            "received": _number(expected, short),
            "relayed": _number(max(snap.relay_estimate, expected), short),
            "sum_sent": walk,
            "sum_received": walk,
            "rate": "999.9k",
            "state": "unresponsive",
        }

    def _column_widths(
        self, snap: LiveSnapshot, short: bool, cells: list[dict[str, str]], footer: dict[str, str]
    ) -> dict[str, int]:
        seeds = self._seeds(snap, short)
        widths: dict[str, int] = {}
        for column in COLUMNS:
            key = column.key
            texts = [c[key] for c in cells] + [footer[key], column.header, seeds.get(key, "")]
            wanted = max(len(t) for t in texts)
            widths[key] = max(wanted, self._widths.get((key, short), 0))
        return widths

    # --- layout -----------------------------------------------------------

    def _fit(
        self, snap: LiveSnapshot, width: int
    ) -> tuple[list[Column], dict[str, int], bool, list[dict[str, str]], dict[str, str]]:
        if snap.run_number != self._run_number:
            self._run_number = snap.run_number
            self._widths = {}
        for dropped, short in LAYOUTS:
            cells = [self._cells(r, short) for r in snap.rows]
            footer = self._footer(snap, short)
            widths = self._column_widths(snap, short, cells, footer)
            columns = [c for c in COLUMNS if c.key not in dropped]
            needed = sum(widths[c.key] for c in columns) + 3 * (len(columns) - 1)
            if needed <= width or (dropped, short) == LAYOUTS[-1]:
                for column in columns:
                    self._widths[(column.key, short)] = widths[column.key]
                return columns, widths, short, cells, footer
        raise AssertionError("unreachable")

    def _visible_rows(
        self, snap: LiveSnapshot, cells: list[dict[str, str]], height: int | None
    ) -> tuple[list[int], str | None]:
        """Which rows fit, and the line summing up the others."""
        count = len(snap.rows)
        if height is None:
            return list(range(count)), None
        room = max(1, height - FIXED_LINES - (0 if snap.expected is not None else 1))
        if count <= room:
            return list(range(count)), None
        shown = list(range(max(room - 1, 0)))
        hidden = [snap.rows[i] for i in range(len(shown), count)]
        states: dict[str, int] = {}
        for row in hidden:
            states[row.state] = states.get(row.state, 0) + 1
        detail = ", ".join(f"{n} {state}" for state, n in states.items())
        return shown, f"... {len(hidden)} more nodes: {detail}"

    def table(
        self, snap: LiveSnapshot, width: int, height: int | None = None
    ) -> tuple[Table, Text | None]:
        """The table (at most ``height`` lines with what surrounds it) and the
        line that sums up the node rows left out, if any."""
        columns, widths, _, cells, footer = self._fit(snap, width)
        table = Table(
            box=box.SIMPLE_HEAD, show_footer=True, show_edge=False, pad_edge=False,
            padding=(0, 1), expand=False,
        )  # fmt: skip
        for column in columns:
            header = column.header
            if column.key == "rate" and snap.phase == "finished":
                # The run is over: the column now holds each node's average.
                header = "avg/s"
            table.add_column(
                header, footer=footer[column.key],
                justify="left" if column.left else "right",
                width=widths[column.key], no_wrap=True, overflow="crop",
            )  # fmt: skip
        shown, more = self._visible_rows(snap, cells, height)
        for i in shown:
            row = snap.rows[i]
            values = [cells[i][c.key] for c in columns]
            if columns[-1].key == "state":
                values[-1] = Text(row.state, style=STATE_STYLES.get(row.state, ""))  # type: ignore[call-overload]
            table.add_row(*values, style="dim" if row.state == "gone" else None)
        if more is None:
            return table, None
        return table, Text(more, style="italic", no_wrap=True, overflow="ellipsis")

    # --- header and progress ------------------------------------------------

    def header(self, snap: LiveSnapshot, width: int) -> Text:
        """Title and facts, dropping the least useful facts to fit."""
        facts: list[tuple[int, str]] = [(0, f"{snap.nodes} node{'s' if snap.nodes != 1 else ''}")]
        if snap.elapsed is not None:
            facts.append((0, f"{snap.phase} {snap.elapsed:.1f} s"))
            facts.append((1, f"{compact(snap.rate)} delivered/s avg"))
        else:
            facts.append((0, snap.phase))
        if snap.nr is not None:
            facts.append((2, f"NR {snap.nr}"))
        if self.wire:
            facts.append((3, self.wire))
        for limit in (3, 2, 1, 0):
            parts = [text for rank, text in facts if rank <= limit]
            line = self.title + " · " + " · ".join(parts)
            if len(line) <= width:
                break
        text = Text(self.title, style="bold", no_wrap=True, overflow="ellipsis")
        text.append(line[len(self.title) :])
        return text

    def progress(self, snap: LiveSnapshot, width: int) -> RenderableType | None:
        if snap.expected is None:
            return None
        done = min(snap.received, snap.expected)
        share = done / snap.expected if snap.expected else 1.0
        long = (
            f"{snap.received:,} / {snap.expected:,} delivered ({share:.0%}), "
            f"{snap.packets_per_node or 0:,} sent per node"
        )
        short = f"{snap.received:,} / {snap.expected:,} delivered ({share:.0%})"
        text = long if width - len(long) - 1 >= 20 else short
        bar_width = min(40, width - len(text) - 1)
        if bar_width < 10:
            return Text(text, no_wrap=True, overflow="ellipsis")
        grid = Table.grid(padding=(0, 1))
        grid.add_column(width=bar_width)
        grid.add_column(no_wrap=True)
        bar = ProgressBar(
            total=max(snap.expected, 1), completed=done if snap.expected else 1, width=bar_width
        )
        grid.add_row(bar, text)
        return grid

    def frame(self, snap: LiveSnapshot, *, fit_height: bool = True) -> Frame:
        """A renderable that fits whatever console draws it."""
        return Frame(self, snap, fit_height)


class Frame:
    """One snapshot, laid out for the console and options it is drawn with."""

    def __init__(self, table: LiveTable, snap: LiveSnapshot, fit_height: bool) -> None:
        self.table = table
        self.snap = snap
        self.fit_height = fit_height

    def parts(self, width: int, height: int | None) -> Iterable[RenderableType]:
        yield self.table.header(self.snap, width)
        bar = self.table.progress(self.snap, width)
        if bar is not None:
            yield bar
        table, more = self.table.table(self.snap, width, height)
        yield table
        if more is not None:
            yield more

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        height = options.size.height if self.fit_height else None
        yield Group(*self.parts(options.max_width, height))
