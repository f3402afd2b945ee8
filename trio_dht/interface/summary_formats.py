"""The result of a run in the three ``--summary`` formats.

``table`` is for people: the summary table, the details and the verdict
line. ``json`` and ``csv`` are for scripts: the program's stdout is exactly
one JSON document or one CSV table, and the verdict is a field inside it.

Both machine formats carry the same fields. JSON: one object per run (the
run-level fields, ``totals`` and ``nodes``). CSV: a row per node and a
``total`` row per run; the run-level fields are columns filled on the
``total`` row. Field names are part of the program's interface: add
fields, never rename them. Numbers are plain (no thousands separators);
times are seconds rounded to the millisecond.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from typing import Any

import attrs
import cattrs
from rich.console import RenderableType

from trio_dht.interface.render import run_details, summary_table
from trio_dht.services.report import NodeTotals, RunResult

FORMATS: tuple[str, ...] = ("table", "json", "csv")

# Counters of a node row and of the totals row, in this order.
COUNTERS: tuple[str, ...] = (
    "sent", "received", "relayed", "sum_sent", "sum_received", "dropped",
)  # fmt: skip
# Run-level fields, in the order the CSV gives them (on the total row).
RUN_FIELDS: tuple[str, ...] = (
    "correct", "verdict", "packets_per_node", "nr", "expected_sent", "elapsed",
    "sending_elapsed", "quiescence", "relays_per_packet", "gone", "unresponsive",
    "no_summary", "aborted", "problems", "seed",
)  # fmt: skip
CSV_HEADER: tuple[str, ...] = ("run", "node", "host", "port", *COUNTERS, "source", *RUN_FIELDS)


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


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
    """The JSON document for one run."""

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
    unresponsive: tuple[int, ...] = ()
    # Asked for a summary, sent none in time; a run ended by 'abort'; reports
    # refused because they contradicted the same node's earlier ones.
    no_summary: tuple[int, ...] = ()
    aborted: bool = False
    problems: tuple[str, ...] = ()
    run: int = 1
    # --seed of the run (demo): the same seed gives the same totals.
    seed: int | None = None

    @classmethod
    def from_result(cls, result: RunResult, run: int = 1, seed: int | None = None) -> RunSummary:
        return cls(
            correct=result.correct,
            verdict=result.verdict(),
            packets_per_node=result.packets_per_node,
            nr=result.nr,
            expected_sent=result.packets_per_node * len(result.nodes),
            elapsed=round(result.elapsed, 3),
            quiescence=result.quiescence,
            relays_per_packet=round(result.relays_per_packet, 6),
            totals=Totals(*(getattr(result, name) for name in COUNTERS)),
            nodes=result.nodes,
            gone=tuple(result.gone),
            sending_elapsed=_seconds(result.sending_elapsed),
            unresponsive=tuple(result.unresponsive),
            no_summary=tuple(result.no_summary),
            aborted=result.aborted,
            problems=tuple(result.problems),
            run=run,
            seed=seed,
        )


_converter = cattrs.Converter()


def summary_dict(result: RunResult, run: int = 1, seed: int | None = None) -> dict[str, Any]:
    """One run as plain data (what the JSON holds)."""
    data: dict[str, Any] = _converter.unstructure(RunSummary.from_result(result, run, seed))
    return data


def summary_json(result: RunResult, run: int = 1, seed: int | None = None) -> str:
    """One run as one line of JSON."""
    return json.dumps(summary_dict(result, run, seed), separators=(",", ":"))


def parse_summary_json(text: str) -> RunSummary:
    """Read back what :func:`summary_json` wrote."""
    return _converter.structure(json.loads(text), RunSummary)


def document_json(results: Sequence[RunResult], seed: int | None = None) -> str:
    """The whole program's JSON output: the run's object for one run; for
    several, an object with ``correct`` (all of them), ``verdict`` (the
    first incorrect run's, else the last one's) and ``runs``."""
    if len(results) == 1:
        return summary_json(results[0], seed=seed)
    runs = [summary_dict(r, i, seed) for i, r in enumerate(results, 1)]
    wrong = [r for r in results if not r.correct]
    document = {
        "correct": not wrong,
        "verdict": (wrong[0] if wrong else results[-1]).verdict(),
        "runs": runs,
    }
    return json.dumps(document, separators=(",", ":"))


def _ids(ids: Iterable[int]) -> str:
    return " ".join(str(i) for i in ids)


def summary_csv(
    result: RunResult, run: int = 1, *, header: bool = True, seed: int | None = None
) -> list[str]:
    """The header (unless ``header`` is False), a row per node and the total
    row carrying the run-level fields; plain numbers."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if header:
        writer.writerow(CSV_HEADER)
    blank = [""] * len(RUN_FIELDS)
    for row in result.nodes:
        counters = [getattr(row, name) for name in COUNTERS]
        writer.writerow([run, row.node_id, row.host, row.port, *counters, row.source, *blank])
    summary = RunSummary.from_result(result, run, seed)
    fields: dict[str, object] = {
        name: getattr(summary, name)
        for name in RUN_FIELDS
        if name not in ("gone", "unresponsive", "no_summary", "problems")
    }
    fields["correct"] = "true" if summary.correct else "false"
    fields["gone"] = _ids(summary.gone)
    fields["unresponsive"] = _ids(summary.unresponsive)
    fields["no_summary"] = _ids(summary.no_summary)
    fields["aborted"] = "true" if summary.aborted else "false"
    fields["problems"] = "; ".join(summary.problems)
    for name in ("sending_elapsed", "seed"):
        if fields[name] is None:
            fields[name] = ""
    totals = [getattr(result, name) for name in COUNTERS]
    writer.writerow([run, "total", "", "", *totals, "", *(fields[n] for n in RUN_FIELDS)])
    return buffer.getvalue().splitlines()


def document_csv(results: Sequence[RunResult], seed: int | None = None) -> str:
    """The whole program's CSV output: one header, then every run's rows."""
    lines: list[str] = []
    for run, result in enumerate(results, 1):
        lines.extend(summary_csv(result, run, header=run == 1, seed=seed))
    return "\n".join(lines) + "\n"


def document(results: Sequence[RunResult], fmt: str, seed: int | None = None) -> str:
    """The machine-readable document for ``fmt`` (json or csv)."""
    if fmt == "json":
        return document_json(results, seed) + "\n"
    if fmt == "csv":
        return document_csv(results, seed)
    raise ValueError(f"{fmt!r} is not a machine-readable format; choose json or csv")


def result_block(
    result: RunResult, fmt: str = "table", notes: Iterable[str] = ()
) -> list[RenderableType]:
    """Everything a person reads at the end of a run, in order: the summary
    in ``fmt``, then how a shortfall is explained, then ``notes``, then the
    verdict line."""
    items: list[RenderableType] = []
    if fmt == "table":
        items.append(summary_table(result))
        items.extend(run_details(result))
    elif fmt == "csv":
        items.extend(summary_csv(result))
    elif fmt == "json":
        items.append(summary_json(result))
    else:
        raise ValueError(f"unknown summary format {fmt!r}; choose one of {', '.join(FORMATS)}")
    items.extend(result.accounting())
    items.extend(notes)
    items.append(result.verdict())
    return items
