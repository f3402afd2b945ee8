"""The --summary formats: JSON and CSV parse and carry the counters."""

from __future__ import annotations

import csv
import io
import json

import pytest
import trio
from rich.console import Console

from trio_dht.interface.cli import build_parser
from trio_dht.interface.demo_app import DemoApp
from trio_dht.interface.summary_formats import (
    CSV_HEADER,
    RunSummary,
    parse_summary_json,
    result_block,
    summary_csv,
    summary_dict,
    summary_json,
)
from trio_dht.services.report import NodeTotals, RunResult

DEMO_TIMEOUT = 20.0


def make_result(*, lose_one: bool = False) -> RunResult:
    big = 3_000_000_000_000  # beyond 32 bits, and negative sums below
    rows = (
        NodeTotals(4, "127.0.0.1", 40001, 1000, 1001, 1500, big, -big + 7),
        NodeTotals(19, "127.0.0.1", 40002, 1000, 999 - lose_one, 1400, -big + 7, big),
        NodeTotals(77, "127.0.0.1", 40003, 1000, 1000, 1600, 5, 5, dropped=lose_one),
    )
    return RunResult(
        packets_per_node=1000,
        nr=1,
        nodes=rows,
        elapsed=1.25,
        quiescence="progress",
    )


def test_json_carries_every_counter_and_the_verdict() -> None:
    result = make_result()
    text = summary_json(result)
    assert "\n" not in text
    data = json.loads(text)
    assert data["correct"] is True
    assert data["verdict"] == result.verdict()
    assert data["verdict"].startswith("CORRECT")
    assert data["packets_per_node"] == 1000
    assert data["nr"] == 1
    assert data["expected_sent"] == 3000
    assert data["quiescence"] == "progress"
    assert data["totals"] == {
        "sent": result.sent,
        "received": result.received,
        "relayed": result.relayed,
        "sum_sent": result.sum_sent,
        "sum_received": result.sum_received,
        "dropped": 0,
    }
    assert [n["node_id"] for n in data["nodes"]] == [4, 19, 77]
    for row, node in zip(result.nodes, data["nodes"], strict=True):
        assert node == {
            "node_id": row.node_id,
            "host": row.host,
            "port": row.port,
            "sent": row.sent,
            "received": row.received,
            "relayed": row.relayed,
            "sum_sent": row.sum_sent,
            "sum_received": row.sum_received,
            "dropped": row.dropped,
            "source": row.source,
        }
    assert data["gone"] == []
    # Read back into the attrs classes.
    assert parse_summary_json(text) == RunSummary.from_result(result)


def test_json_of_an_incorrect_run() -> None:
    result = make_result(lose_one=True)
    data = summary_dict(result)
    assert data["correct"] is False
    assert data["verdict"].startswith("INCORRECT")
    assert data["totals"]["received"] == data["totals"]["sent"] - 1
    assert data["totals"]["dropped"] == 1


def test_csv_lines_parse_without_thousands_separators() -> None:
    result = make_result()
    lines = summary_csv(result)
    rows = list(csv.reader(lines))
    assert tuple(rows[0]) == CSV_HEADER
    assert len(rows) == 1 + len(result.nodes) + 1
    for row, node in zip(rows[1:-1], result.nodes, strict=True):
        assert [int(x) for x in row] == [
            node.node_id, node.sent, node.received, node.relayed, node.sum_sent, node.sum_received,
        ]  # fmt: skip
    total = rows[-1]
    assert total[0] == "total"
    assert [int(x) for x in total[1:]] == [
        result.sent, result.received, result.relayed, result.sum_sent, result.sum_received,
    ]  # fmt: skip
    assert all("_" not in field and " " not in field for row in rows[1:] for field in row)


@pytest.mark.parametrize("fmt", ["table", "csv", "json"])
def test_the_verdict_comes_last_in_every_format(fmt: str) -> None:
    result = make_result()
    block = result_block(result, fmt, notes=["a note"])
    assert block[-1] == result.verdict()
    assert block[-2] == "a note"


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown summary format"):
        result_block(make_result(), "yaml")


async def run_demo(*args: str) -> tuple[DemoApp, int, list[str]]:
    parsed = build_parser().parse_args(["demo", *args])
    out = io.StringIO()
    app = DemoApp(parsed, console=Console(file=out, width=200, no_color=True, highlight=False))
    with trio.fail_after(DEMO_TIMEOUT):
        status = await app.main()
    return app, status, out.getvalue().splitlines()


async def test_demo_prints_a_json_summary_matching_the_counters() -> None:
    app, status, lines = await run_demo(
        "--nodes", "4", "--nr", "2", "--packets", "300", "--summary", "json"
    )
    assert status == 0, "\n".join(lines)
    assert app.result is not None
    documents = [line for line in lines if line.startswith("{")]
    assert len(documents) == 1
    data = json.loads(documents[0])
    assert data["correct"] is True
    assert data["totals"]["sent"] == data["totals"]["received"] == 4 * 300
    assert data["totals"]["sum_sent"] == data["totals"]["sum_received"] == app.result.sum_sent
    assert {n["node_id"]: n["received"] for n in data["nodes"]} == {
        n.node_id: n.received for n in app.result.nodes
    }
    assert lines[-1] == app.result.verdict()
    assert lines[-1].startswith("CORRECT")


async def test_demo_prints_a_csv_summary_matching_the_counters() -> None:
    app, status, lines = await run_demo(
        "--nodes", "4", "--nr", "2", "--packets", "250", "--summary", "csv"
    )
    assert status == 0, "\n".join(lines)
    assert app.result is not None
    start = lines.index(",".join(CSV_HEADER))
    rows = list(csv.reader(lines[start + 1 : start + 1 + 4 + 1]))
    by_id = {int(row[0]): [int(x) for x in row[1:]] for row in rows[:-1]}
    assert by_id == {
        n.node_id: [n.sent, n.received, n.relayed, n.sum_sent, n.sum_received]
        for n in app.result.nodes
    }
    assert rows[-1][0] == "total"
    assert int(rows[-1][1]) == int(rows[-1][2]) == 1000
    assert lines[-1].startswith("CORRECT")
