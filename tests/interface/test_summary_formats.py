"""The --summary formats: JSON and CSV parse and carry the counters."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import attrs
import pytest
import trio
from rich.console import Console

from trio_dht.interface.cli import build_parser
from trio_dht.interface.demo_app import DemoApp
from trio_dht.interface.screen import Screen
from trio_dht.interface.summary_formats import (
    COUNTERS,
    CSV_HEADER,
    RUN_FIELDS,
    RunSummary,
    document,
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
        NodeTotals(77, "127.0.0.1", 40003, 1000, 1000, 1600, 5, 5, dropped=int(lose_one)),
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
    rows = list(csv.DictReader(lines))
    assert tuple(next(csv.reader(lines[:1]))) == CSV_HEADER
    assert len(rows) == len(result.nodes) + 1
    for row, node in zip(rows[:-1], result.nodes, strict=True):
        assert row["run"] == "1"
        assert [int(row[k]) for k in ("node", "port", *COUNTERS)] == [
            node.node_id, node.port, node.sent, node.received, node.relayed, node.sum_sent,
            node.sum_received, node.dropped,
        ]  # fmt: skip
        assert row["verdict"] == ""  # run-level fields are on the total row
    total = rows[-1]
    assert total["node"] == "total"
    assert [int(total[k]) for k in COUNTERS] == [
        result.sent, result.received, result.relayed, result.sum_sent, result.sum_received,
        result.dropped,
    ]  # fmt: skip
    assert total["verdict"] == result.verdict() and total["correct"] == "true"
    assert total["elapsed"] == "1.25"
    assert all("_" not in row[k] and " " not in row[k] for row in rows for k in COUNTERS)


def test_json_and_csv_carry_the_same_fields() -> None:
    result = make_result(lose_one=True)
    data = summary_dict(result)
    total = list(csv.DictReader(summary_csv(result)))[-1]
    run_level = set(data) - {"totals", "nodes"}
    assert run_level == set(RUN_FIELDS) | {"run"}
    assert set(data["totals"]) == set(COUNTERS)
    assert set(data["nodes"][0]) == {"node_id", "host", "port", *COUNTERS, "source"}
    for name in ("verdict", "packets_per_node", "nr", "expected_sent", "quiescence"):
        assert str(data[name]) == total[name]
    assert data["correct"] is False and total["correct"] == "false"
    assert data["totals"]["dropped"] == int(total["dropped"]) == 1


def test_elapsed_is_rounded_to_the_millisecond() -> None:
    result = attrs.evolve(make_result(), elapsed=1.23456789, sending_elapsed=0.98765432)
    data = summary_dict(result)
    assert (data["elapsed"], data["sending_elapsed"]) == (1.235, 0.988)
    total = list(csv.DictReader(summary_csv(result)))[-1]
    assert (total["elapsed"], total["sending_elapsed"]) == ("1.235", "0.988")


def test_several_runs_make_one_document() -> None:
    good, bad = make_result(), make_result(lose_one=True)
    data = json.loads(document([good, bad], "json"))
    assert data["correct"] is False
    assert data["verdict"] == bad.verdict()
    assert [run["run"] for run in data["runs"]] == [1, 2]
    rows = list(csv.DictReader(io.StringIO(document([good, bad], "csv"))))
    assert [row["run"] for row in rows if row["node"] == "total"] == ["1", "2"]
    assert json.loads(document([good], "json"))["verdict"] == good.verdict()


@pytest.mark.parametrize("fmt", ["table", "csv", "json"])
def test_the_verdict_comes_last_in_every_format(fmt: str) -> None:
    result = make_result()
    block = result_block(result, fmt, notes=["a note"])
    assert block[-1] == result.verdict()
    assert block[-2] == "a note"


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown summary format"):
        result_block(make_result(), "yaml")


async def run_demo(*args: str) -> tuple[DemoApp, int, str, str]:
    """The demo in this process: its stdout and stderr, as text."""
    parsed = build_parser().parse_args(["demo", *args])
    out, err = io.StringIO(), io.StringIO()
    screen = Screen(Console(file=out, width=200), Console(file=err, width=200))
    app = DemoApp(parsed, screen)
    with trio.fail_after(DEMO_TIMEOUT):
        status = await app.main()
    return app, status, out.getvalue(), err.getvalue()


async def test_demo_prints_one_json_document_matching_the_counters() -> None:
    app, status, out, err = await run_demo(
        "--nodes", "4", "--nr", "2", "--packets", "300", "--summary", "json"
    )
    assert status == 0, out + err
    assert app.result is not None
    data = json.loads(out)  # stdout is the document and nothing else
    assert data["correct"] is True
    assert data["totals"]["sent"] == data["totals"]["received"] == 4 * 300
    assert data["totals"]["sum_sent"] == data["totals"]["sum_received"] == app.result.sum_sent
    assert {n["node_id"]: n["received"] for n in data["nodes"]} == {
        n.node_id: n.received for n in app.result.nodes
    }
    assert data["verdict"] == app.result.verdict()
    assert "Registered node" in err and "mean relays per packet" in err


async def test_demo_prints_one_csv_table_matching_the_counters() -> None:
    app, status, out, err = await run_demo(
        "--nodes", "4", "--nr", "2", "--packets", "250", "--summary", "csv"
    )
    assert status == 0, out + err
    assert app.result is not None
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 4 + 1
    by_id = {int(row["node"]): [int(row[k]) for k in COUNTERS[:5]] for row in rows[:-1]}
    assert by_id == {
        n.node_id: [n.sent, n.received, n.relayed, n.sum_sent, n.sum_received]
        for n in app.result.nodes
    }
    assert rows[-1]["node"] == "total"
    assert int(rows[-1]["sent"]) == int(rows[-1]["received"]) == 1000
    assert rows[-1]["verdict"].startswith("CORRECT")


async def test_output_file_gets_the_document_and_stdout_the_verdict(tmp_path: Path) -> None:
    target = tmp_path / "run.json"
    app, status, out, _ = await run_demo(
        "--nodes", "3", "--nr", "1", "--packets", "100", "--summary", "json", "--output",
        str(target),
    )  # fmt: skip
    assert status == 0
    assert app.result is not None
    assert json.loads(target.read_text())["verdict"] == app.result.verdict()
    assert out == app.result.verdict() + "\n"
