"""The final result of a run in the three ``--summary`` formats.

``table``: the rich summary table, the details line and the verdict (what a
person reads). ``csv``: comma-separated lines without thousands separators
(header, a row per node, a totals row), then the verdict. ``json``: one line
holding the whole result, built from the attrs classes with cattrs so the
field names are stable, then the verdict. In every format the verdict line
(``CORRECT ...`` / ``INCORRECT ...``) comes last: scripts read it.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from typing import Any

import attrs
import cattrs
from rich.console import RenderableType

from trio_dht.interface.render import run_details, summary_table
from trio_dht.services.report import NodeTotals, RunResult

FORMATS: tuple[str, ...] = ("table", "json", "csv")

CSV_HEADER: tuple[str, ...] = ("node", "sent", "received", "relayed", "sum_sent", "sum_received")


@attrs.frozen
class Totals:
    """The totals row."""

    sent: int
    received: int
    relayed: int
    sum_sent: int
    sum_received: int
    dropped: int


@attrs.frozen
class RunSummary:
    """The JSON document for one run. Field names are part of the program's
    interface: add fields, never rename them."""

    correct: bool
    verdict: str
    packets_per_node: int
    nr: int
    expected_sent: int
    elapsed: float
    quiescence: str
    relays_per_packet: float
    totals: Totals
    nodes: tuple[NodeTotals, ...]
    gone: tuple[int, ...] = ()
    sending_elapsed: float | None = None

    @classmethod
    def from_result(cls, result: RunResult) -> RunSummary:
        return cls(
            correct=result.correct,
            verdict=result.verdict(),
            packets_per_node=result.packets_per_node,
            nr=result.nr,
            expected_sent=result.packets_per_node * len(result.nodes),
            elapsed=result.elapsed,
            quiescence=result.quiescence,
            relays_per_packet=result.relays_per_packet,
            totals=Totals(
                sent=result.sent,
                received=result.received,
                relayed=result.relayed,
                sum_sent=result.sum_sent,
                sum_received=result.sum_received,
                dropped=result.dropped,
            ),
            nodes=result.nodes,
            gone=result.gone,
            sending_elapsed=result.sending_elapsed,
        )


_converter = cattrs.Converter()


def summary_dict(result: RunResult) -> dict[str, Any]:
    """The result as plain data (what the JSON holds)."""
    data: dict[str, Any] = _converter.unstructure(RunSummary.from_result(result))
    return data


def summary_json(result: RunResult) -> str:
    """The result as one line of JSON."""
    return json.dumps(summary_dict(result), separators=(",", ":"))


def parse_summary_json(text: str) -> RunSummary:
    """Read back what :func:`summary_json` wrote."""
    return _converter.structure(json.loads(text), RunSummary)


def summary_csv(result: RunResult) -> list[str]:
    """Header, one line per node, a totals line; plain integers."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for row in result.nodes:
        writer.writerow(
            (row.node_id, row.sent, row.received, row.relayed, row.sum_sent, row.sum_received)
        )
    writer.writerow(
        (
            "total",
            result.sent,
            result.received,
            result.relayed,
            result.sum_sent,
            result.sum_received,
        )
    )
    return buffer.getvalue().splitlines()


def result_block(
    result: RunResult, fmt: str = "table", notes: Iterable[str] = ()
) -> list[RenderableType]:
    """Everything printed at the end of a run, in order: the summary in
    ``fmt``, then ``notes`` (extra plain lines), then the verdict line."""
    items: list[RenderableType] = []
    if fmt == "table":
        items.append(summary_table(result))
        items.append(run_details(result))
    elif fmt == "csv":
        items.extend(summary_csv(result))
    elif fmt == "json":
        items.append(summary_json(result))
    else:
        raise ValueError(f"unknown summary format {fmt!r}; choose one of {', '.join(FORMATS)}")
    # After a failure: how the shortfall is explained (empty otherwise).
    items.extend(result.accounting())
    items.extend(notes)
    items.append(result.verdict())
    return items
