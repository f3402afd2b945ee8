"""Tables and lines for the consoles (rich renderables and plain text)."""

from __future__ import annotations

import io
import json
import os
import shlex
import sys
from collections.abc import Iterable

from rich import box
from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.measure import Measurement
from rich.table import Table

from trio_dht.interface.screen import PIPE_WIDTH
from trio_dht.services.node import MessagingNode
from trio_dht.services.registry import NodeRecord
from trio_dht.services.report import RunResult

SUMMARY_COLUMNS = ("node", "sent", "received", "relayed", "sum sent", "sum received")
UNBOUNDED = 100_000


def summary_table(result: RunResult) -> RenderableType:
    """SYSTEM.md's summary table: a row per node and a totals row. Numbers
    are never cut: each number column is as wide as its widest value. When
    that is wider than the console (big payload sums at 80 columns) it is
    shown as two tables, the counters and then the payload sums, each with
    the node column, rather than squeezing a column away."""
    return _SummaryTable(result)


class _SummaryTable:
    def __init__(self, result: RunResult) -> None:
        self.result = result

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        whole = _summary(self.result, SUMMARY_COLUMNS, "Traffic summary")
        # Measured without the console's limit (a measurement is clamped to it).
        unbounded = options.update(max_width=UNBOUNDED)
        if Measurement.get(console, unbounded, whole).minimum <= options.max_width:
            yield whole
            return
        yield _summary(self.result, SUMMARY_COLUMNS[:4], "Traffic summary")
        yield _summary(self.result, ("node", *SUMMARY_COLUMNS[4:]), "Payload sums")


def _summary(result: RunResult, columns: Iterable[str], title: str) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_footer=True, title=title)
    numbers = SUMMARY_COLUMNS[1:]
    total = (result.sent, result.received, result.relayed, result.sum_sent, result.sum_received)
    footers = {"node": "total"} | {k: f"{v:,}" for k, v in zip(numbers, total, strict=True)}
    rows: list[dict[str, str]] = []
    for row in result.nodes:
        label = str(row.node_id)
        if row.source != "summary":
            label += " (gone: last progress)" if row.source == "last-progress" else " (gone)"
        values = (row.sent, row.received, row.relayed, row.sum_sent, row.sum_received)
        rows.append({"node": label} | {k: f"{v:,}" for k, v in zip(numbers, values, strict=True)})
    names = list(columns)
    for name in names:
        if name == "node":
            table.add_column(name, footer=footers[name], justify="left", overflow="fold")
        else:
            widest = max([len(footers[name]), *(len(r[name]) for r in rows)])
            table.add_column(
                name, footer=footers[name], justify="right", no_wrap=True, min_width=widest
            )
    for cells in rows:
        table.add_row(*(cells[name] for name in names))
    return table


# Old state names (before the registry's rewrite) and the names shown now.
_STATE_NAMES = {"connected": "idle", "finished": "relaying", "asked": "relaying"}

# How the registry decided a run was over, in words.
_QUIESCENCE = {
    "progress": "every packet counted in the nodes' progress reports (exact)",
    "stalled": "progress stopped short of the total (gave up after the stall timeout)",
    "grace period": "a grace period after the last task-finished report (classic nodes)",
}


def state_name(state: str) -> str:
    """A node's state as shown: registered, idle, sending, relaying, done,
    gone, unresponsive (older registries said connected and finished)."""
    return _STATE_NAMES.get(state, state)


def run_details(result: RunResult) -> list[str]:
    """Two lines under the summary: the run's size and time; the routing
    cost and how its end was detected."""
    sending = (
        f" (nodes sent for {result.sending_elapsed:.2f} s)"
        if result.sending_elapsed is not None
        else ""
    )
    relays = f"{result.relays_per_packet:.4f}" if result.received else "-"
    how = _QUIESCENCE.get(result.quiescence, result.quiescence)
    return [
        (
            f"{len(result.nodes)} nodes, NR {result.nr}, {result.packets_per_node:,} packets "
            f"per node: {result.elapsed:.2f} s from start to summary{sending}."
        ),
        f"Routing: mean relays per packet {relays}. End of run: {how}.",
    ]


def node_list_table(records: Iterable[NodeRecord]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, title="Messaging nodes")
    for name in ("host", "port", "id", "state"):
        table.add_column(name, justify="right" if name in ("port", "id") else "left")
    for r in records:
        table.add_row(r.host, str(r.port), str(r.node_id), state_name(r.state))
    return table


def routing_tables_table(rows: Iterable[tuple[NodeRecord, list[NodeRecord]]]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, title="Routing tables")
    table.add_column("node", justify="right")
    table.add_column("entries (id host:port), 1, 2, 4, ... positions ahead")
    for record, entries in rows:
        table.add_row(str(record.node_id), "   ".join(f"{e.node_id} {e.address}" for e in entries))
    return table


def node_counters_table(node: MessagingNode) -> Table:
    c = node.counters
    title = f"Node {node.node_id} at {node.address} ({state_name(node.state)})"
    table = Table(box=box.SIMPLE_HEAD, title=title)
    for name in ("sent", "received", "relayed", "sum sent", "sum received", "dropped"):
        table.add_column(name, justify="right")
    table.add_row(
        f"{c.sent:,}",
        f"{c.received:,}",
        f"{c.relayed:,}",
        f"{c.sum_sent:,}",
        f"{c.sum_received:,}",
        f"{c.dropped:,}",
    )
    peers = ", ".join(f"{p.node_id} ({p.host}:{p.port})" for p in node.peers) or "none yet"
    table.caption = f"routing table: {peers}"
    # Left, not centred: three entries with addresses wrap at 80 columns,
    # and centred wrapped lines read as a ragged block.
    table.caption_justify = "left"
    return table


def plain_text(items: list[RenderableType]) -> str:
    """Renderables as plain text (for --output in table format)."""
    console = Console(width=PIPE_WIDTH, no_color=True, file=io.StringIO())
    for item in items:
        console.print(item, soft_wrap=isinstance(item, str))
    text: str = console.file.getvalue()  # type: ignore[attr-defined]
    return text


def error_json(message: str) -> str:
    """The JSON document of a program that ended without a result."""
    return json.dumps({"correct": False, "verdict": message, "error": message, "runs": []}) + "\n"


def own_command() -> str:
    """This program as it can be run again from here: the same Python (a
    bare ``python`` is often one without our dependencies), relative to the
    current directory when it lies inside it, so a hint can be pasted."""
    exe = sys.executable or "python"
    try:
        relative = os.path.relpath(exe)
    except ValueError:  # another drive
        relative = exe
    if not relative.startswith(os.pardir):
        exe = relative
    return f"{shlex.quote(exe)} -m trio_dht"
