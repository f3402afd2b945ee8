"""``check node`` against trio_dht's own node and against scripted nodes with
one flaw each: every flaw is caught by the case meant for it and no other."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import trio

from trio_dht.checker.node_catalogue import NODE_CASES, NodeCheckConfig
from trio_dht.checker.node_checker import NodeChecker
from trio_dht.checker.report import Grade, Report

SCRIPTED = str(Path(__file__).with_name("scripted_node.py"))
# Generous: a full run takes a few seconds; a hang fails in a minute.
RUN_BOUND = 60


async def check(command: list[str], wire: str = "cs455", **options: object) -> Report:
    # 1000 packets: enough for the payload-range case, a third of the default.
    options.setdefault("packets", 1000)
    options.setdefault("count", 1)
    config = NodeCheckConfig(command=tuple(command), wire=wire, seed=13, **options)  # type: ignore[arg-type]
    with trio.fail_after(RUN_BOUND):
        return await NodeChecker(config).run()


def trio_dht_node(wire: str) -> list[str]:
    return [sys.executable, "-m", "trio_dht", "node", "--wire", wire, "{host}", "{port}"]


def scripted(flaw: str, wire: str = "cs455") -> list[str]:
    return [sys.executable, SCRIPTED, "--wire", wire, "--flaw", flaw, "{host}", "{port}"]


def failed(report: Report) -> set[str]:
    return {c.number for c in report.cases if c.grade in (Grade.FAIL, Grade.NON_STRICT)}


@pytest.mark.parametrize("wire", ["cs455", "minichord"])
async def test_trio_dht_node_passes_every_case(wire: str) -> None:
    report = await check(trio_dht_node(wire), wire, packets=3000)
    assert failed(report) == set(), [c.to_json() for c in report.cases if c.grade is Grade.FAIL]
    assert report.exit_status == 0
    assert [c.number for c in report.sorted_cases()] == [n for n, _, _ in NODE_CASES]
    informational = {c.number for c in report.cases if c.grade is Grade.INFORMATIONAL}
    assert informational == {"4.4", "7.3"}
    # The counters the checker expected are the node's own, in evidence.
    summary = report.case("6.2")
    assert summary.evidence[0]["fields"]["sent"] == 3000


async def test_the_scripted_node_without_a_flaw_passes_every_case() -> None:
    report = await check(scripted("none"))
    assert failed(report) == set(), [c.to_json() for c in report.cases if c.grade is Grade.FAIL]


FLAWS = {
    "overshoot": "3.2",
    "wrong_entry": "3.3",
    "trace_source_relay": "3.5",
    "trace_self_origin": "4.2",
    "early_summary": "6.1",
    "late_reset": "6.3",
    "no_wait_dereg": "7.2",
}


@pytest.mark.parametrize(("flaw", "case"), FLAWS.items(), ids=list(FLAWS))
async def test_each_flaw_fails_exactly_its_case(flaw: str, case: str) -> None:
    report = await check(scripted(flaw))
    assert failed(report) == {case}
    assert report.exit_status == 1
    evidence = report.case(case).evidence
    assert evidence, "a failed case carries its evidence"


@pytest.mark.parametrize(("flaw", "case"), [("wrong_entry", "3.3"), ("late_reset", "6.3")])
async def test_flaws_are_caught_in_minichord_too(flaw: str, case: str) -> None:
    report = await check(scripted(flaw, "minichord"), "minichord")
    assert failed(report) == {case}


async def test_overshoot_evidence_names_the_frame_and_the_right_hop() -> None:
    report = await check(scripted("overshoot"))
    first = report.case("3.2").evidence[0]
    assert first["frame"].startswith("data destination=")
    assert first["expected"].startswith("send it to ")
    assert first["sent_to"] != int(first["expected"].rsplit(" ", 1)[1])


async def test_a_node_that_never_registers_fails_in_bounded_time() -> None:
    # A silent child: reads stdin until the checker ends it.
    silent = [sys.executable, "-c", "import sys; sys.stdin.read()"]
    report = await check(silent, startup_timeout=1.0)
    assert report.case("1.1").grade is Grade.FAIL
    assert "no registration within 1 s" in report.case("1.1").detail
    assert all(c.grade is not Grade.PASS for c in report.cases)
    assert report.case("3.2").detail.startswith("not reached")
    assert report.exit_status == 1


async def test_a_node_that_exits_at_once_is_reported_with_its_status() -> None:
    report = await check([sys.executable, "-c", "raise SystemExit(3)"])
    assert "exited with status 3" in report.case("1.1").detail


async def test_a_command_that_cannot_start_is_a_failed_case() -> None:
    report = await check(["/nonexistent/node-binary", "{host}", "{port}"])
    assert report.case("1.1").grade is Grade.FAIL
    assert "cannot start" in report.case("1.1").detail


GO_NODE = str(Path(__file__).with_name("go_node_main.py"))


async def test_the_go_per_message_node_passes_every_strict_case() -> None:
    # Helper F's scripted Go port: one frame per accepted connection, a fresh
    # connection per message, and it dies of a truncated frame as the real one.
    command = [sys.executable, GO_NODE, "{host}", "{port}"]
    report = await check(command, "minichord", per_message=True)
    assert {c.number for c in report.cases if c.grade is Grade.FAIL} == set()
    assert {c.number for c in report.cases if c.grade is Grade.NON_STRICT} == {"8.1", "8.2", "8.3"}
    assert "exited" in report.case("8.1").detail
    assert report.exit_status == 0


async def test_the_go_habit_of_putting_the_source_in_the_trace_is_caught() -> None:
    command = [sys.executable, GO_NODE, "--source-in-trace", "{host}", "{port}"]
    report = await check(command, "minichord", per_message=True)
    assert {c.number for c in report.cases if c.grade is Grade.FAIL} == {"4.2"}


async def test_a_node_that_connects_on_demand_is_tolerated_at_setup() -> None:
    command = [*trio_dht_node("cs455")[:-2], "--per-message-peers", "{host}", "{port}"]
    report = await check(command)
    assert {c.number for c in report.cases if c.grade is Grade.FAIL} == set()
    assert {c.number for c in report.cases if c.grade is Grade.NON_STRICT} == {"2.1", "2.3"}


async def test_a_registration_that_does_not_decode_fails_case_1_1_with_the_reason() -> None:
    garbage = ("import socket, sys; s = socket.create_connection((sys.argv[1], int(sys.argv[2])));"
               " s.sendall(bytes([0, 0, 0, 2, 99, 0])); sys.stdin.read()")  # fmt: skip
    report = await check([sys.executable, "-c", garbage, "{host}", "{port}"])
    first = report.case("1.1")
    assert first.grade is Grade.FAIL
    assert "unknown cs455 message type 99" in first.detail
    assert first.evidence[0]["frame_hex"] == "0000000263" + "00"
