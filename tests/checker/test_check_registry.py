"""``check registry`` against trio_dht's registry and scripted registries with
one flaw each: every flaw is caught by the case meant for it and no other."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import trio

from trio_dht.checker.registry_checker import (
    REGISTRY_CASES,
    RegistryCheckConfig,
    RegistryChecker,
)
from trio_dht.checker.report import Grade, Report

SCRIPTED = str(Path(__file__).with_name("scripted_registry.py"))
RUN_BOUND = 60
HOLD = 1.0  # the checker's nodes hold back their last packets this long
GRACE = "2"  # a registry that waits longer than HOLD after the last finished


async def check(spawn: list[str], wire: str = "cs455") -> Report:
    config = RegistryCheckConfig(spawn=tuple(spawn), wire=wire, hold=HOLD, seed=5)
    with trio.fail_after(RUN_BOUND):
        return await RegistryChecker(config).run()


def failed(report: Report) -> set[str]:
    return {c.number for c in report.cases if c.grade in (Grade.FAIL, Grade.NON_STRICT)}


def trio_dht_registry(wire: str, grace: str = GRACE) -> list[str]:
    return [sys.executable, "-m", "trio_dht", "registry", "--wire", wire, "--grace", grace,
            "{port}"]  # fmt: skip


def scripted(flaw: str, wire: str = "cs455") -> list[str]:
    return [sys.executable, SCRIPTED, "--wire", wire, "--flaw", flaw, "--grace", GRACE, "{port}"]


@pytest.mark.parametrize("wire", ["cs455", "minichord"])
async def test_trio_dht_registry_passes_every_case(wire: str) -> None:
    report = await check(trio_dht_registry(wire), wire)
    assert failed(report) == set(), [c.to_json() for c in report.cases if c.grade is Grade.FAIL]
    assert [c.number for c in report.sorted_cases()] == [n for n, _, _ in REGISTRY_CASES]
    assert report.case("5.3").grade is Grade.INFORMATIONAL
    assert report.exit_status == 0


async def test_a_registry_that_asks_too_early_is_caught_by_the_in_flight_case() -> None:
    # trio_dht's own registry with a grace period shorter than the hold.
    report = await check(trio_dht_registry("cs455", grace="0"))
    assert failed(report) == {"5.2"}
    evidence = report.case("5.2").evidence[0]
    assert evidence["received_when_asked"] < evidence["sent"]


async def test_the_scripted_registry_without_a_flaw_passes_every_case() -> None:
    report = await check(scripted("none"))
    assert failed(report) == set(), [c.to_json() for c in report.cases if c.grade is Grade.FAIL]


FLAWS = {
    "accept_spoof": "2.1",
    "double_dereg": "2.5",
    "wrong_order": "3.1",
    "early_summary": "5.2",
}


@pytest.mark.parametrize(("flaw", "case"), FLAWS.items(), ids=list(FLAWS))
async def test_each_flaw_fails_exactly_its_case(flaw: str, case: str) -> None:
    report = await check(scripted(flaw))
    assert failed(report) == {case}
    assert report.exit_status == 1


async def test_wrong_order_in_minichord_shows_the_manifest_as_evidence() -> None:
    report = await check(scripted("wrong_order", "minichord"), "minichord")
    assert failed(report) == {"3.1"}
    evidence = report.case("3.1").evidence[0]
    assert evidence["frame"].startswith("node_manifest nr=3")


async def test_a_registry_that_never_listens_fails_in_bounded_time() -> None:
    config = RegistryCheckConfig(spawn=(sys.executable, "-c", "raise SystemExit(4)"),
                                 startup_timeout=5)  # fmt: skip
    with trio.fail_after(RUN_BOUND):
        report = await RegistryChecker(config).run()
    assert all(c.grade is not Grade.PASS for c in report.cases)
    assert "cannot connect to the registry" in report.case("1.1").detail
    assert "exited with status 4" in report.case("1.1").detail


GO_REGISTRY = str(Path(__file__).with_name("go_registry_main.py"))


async def per_message_check(spawn: list[str], wire: str) -> Report:
    config = RegistryCheckConfig(spawn=tuple(spawn), wire=wire, hold=HOLD, seed=5,
                                 per_message=True)  # fmt: skip
    with trio.fail_after(RUN_BOUND):
        return await RegistryChecker(config).run()


async def test_the_go_per_message_registry_that_waits_passes_every_case() -> None:
    # Helper F's scripted Go registry: one frame per connection, dials the
    # nodes for everything it says; told to wait longer than the hold.
    report = await per_message_check([sys.executable, GO_REGISTRY, "--sleep", GRACE, "{port}"],
                                     "minichord")  # fmt: skip
    assert failed(report) == set(), [c.to_json() for c in report.cases if c.grade is Grade.FAIL]


async def test_the_go_registry_asks_for_summaries_too_early_as_the_real_one() -> None:
    report = await per_message_check([sys.executable, GO_REGISTRY, "{port}"], "minichord")
    assert failed(report) == {"5.2"}
    assert "still in flight" in report.case("5.3").detail


async def test_trio_dht_registry_with_per_message_nodes_passes_every_case() -> None:
    report = await per_message_check(trio_dht_registry("minichord"), "minichord")
    assert failed(report) == set(), [c.to_json() for c in report.cases if c.grade is Grade.FAIL]
