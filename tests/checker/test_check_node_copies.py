"""``check node --count K``: several copies of the node in one overlay, each
graded on its own, with real processes on loopback sockets."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import trio

from trio_dht.checker.node_catalogue import NODE_CASES, ROBUSTNESS, NodeCheckConfig
from trio_dht.checker.node_checker import NodeChecker
from trio_dht.checker.report import Grade, Report
from trio_dht.interface.check_cmd import node_problem
from trio_dht.interface.cli import build_parser

SCRIPTED = str(Path(__file__).with_name("scripted_node.py"))
RUN_BOUND = 60  # the bound for a full run; a run here takes about 10 s


async def check(command: list[str], wire: str = "cs455",
                **options: object) -> tuple[NodeChecker, Report]:  # fmt: skip
    """A run with three copies; the checker too, for its copies and frames."""
    options.setdefault("packets", 1000)
    config = NodeCheckConfig(command=tuple(command), wire=wire, seed=13, count=3, **options)  # type: ignore[arg-type]
    checker = NodeChecker(config)
    with trio.fail_after(RUN_BOUND):
        return checker, await checker.run()


def trio_dht_node(wire: str) -> list[str]:
    return [sys.executable, "-m", "trio_dht", "node", "--wire", wire, "{host}", "{port}"]


def bad(report: Report) -> set[str]:
    return {c.number for c in report.cases if c.grade in (Grade.FAIL, Grade.NON_STRICT)}


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("wire", ["cs455", "minichord"])
async def test_three_trio_dht_copies_pass_every_case(wire: str) -> None:
    checker, report = await check(trio_dht_node(wire), wire)
    assert bad(report) == set(), [c.to_json() for c in report.cases if c.grade is Grade.FAIL]
    assert report.exit_status == 0
    assert [c.number for c in report.sorted_cases()] == [n for n, _, _ in NODE_CASES]
    for row in report.cases:
        # Every copy graded on its own, except robustness (copy 1's second process).
        assert len(row.copies) == (1 if row.number in ROBUSTNESS else 3), row.number
        assert all(c.copy.startswith(f"copy {i} (id ") and ", pid " in c.copy
                   for i, c in enumerate(row.copies, start=1))  # fmt: skip
    # Each copy's summary counted the first run: its 1000 packets, and what
    # the others sent it (through the checker's nodes or straight).
    for own in report.case("6.2").copies:
        assert own.evidence[0]["fields"]["sent"] == 1000
        assert own.evidence[0]["fields"]["received"] > 0
    # The copies sit side by side: some packets went from one copy to another.
    ids = {c.me for c in checker.copies}
    between = [r for r in checker.frames
               if r.where.endswith(tuple(f"copy {i}" for i in (1, 2, 3)))
               and int(r.where.split(" ")[0]) in ids]  # fmt: skip
    assert between, "no frame passed from one copy to another"
    # Every process is gone, the first copy's second process too.
    assert all(not alive(c.pid) for c in checker.copies if c.pid is not None)


async def test_one_broken_copy_fails_its_case_and_names_it() -> None:
    # Copy 2 overshoots; copies 1 and 3 follow the rule.
    command = [sys.executable, SCRIPTED, "--flaw", "overshoot", "--flaw-copy", "2",
               "--copy", "{copy}", "{host}", "{port}"]  # fmt: skip
    checker, merged = await check(command)
    assert bad(merged) == {"3.2"}
    assert merged.exit_status == 1
    row = merged.case("3.2")
    broken = checker.copies[1]
    assert row.detail.startswith(f"copy 2 (id {broken.me}, pid {broken.pid}): ")
    assert "2 other copies better" in row.detail
    assert {e["copy"] for e in row.evidence} == {broken.label}
    grades = {c.copy: c.grade for c in row.copies}
    assert grades == {c.label: Grade.FAIL if c is broken else Grade.PASS for c in checker.copies}


async def test_a_copy_that_never_registers_fails_alone_and_is_ended() -> None:
    # Copy 2 reads stdin and says nothing; the others are good nodes.
    script = ("import os, sys\n"
              "if sys.argv[1] == '2':\n"
              "    sys.stdin.read()\n"
              "else:\n"
              "    os.execv(sys.executable, [sys.executable, *sys.argv[2:]])\n")  # fmt: skip
    command = [sys.executable, "-c", script, "{copy}", SCRIPTED, "{host}", "{port}"]
    # 5 s: long enough for the good copies to start on a busy machine.
    checker, report = await check(command, startup_timeout=5.0)
    silent = checker.copies[1]
    assert report.case("1.1").grade is Grade.FAIL
    assert report.case("1.1").detail.startswith(f"copy 2 (id {silent.me}, pid {silent.pid}): "
                                                "no registration within 5 s")  # fmt: skip
    for row in report.cases:
        for own in row.copies:
            if own.copy == silent.label:
                # Registration failed, the rest not reached (non-strict where the case is).
                assert own.grade in (Grade.FAIL, Grade.NON_STRICT)
                assert own.number == "1.1" or own.detail.startswith("not reached")
            else:
                assert own.grade in (Grade.PASS, Grade.INFORMATIONAL), own.to_json()
    assert all(not alive(c.pid) for c in checker.copies if c.pid is not None)


@pytest.mark.parametrize(
    ("options", "says"),
    [(["--count", "0"], "--count must be between 1 and 126"),
     (["--count", "128", "--wire", "minichord"], "--count must be between 1 and 127"),
     (["--count", "2", "--per-message"], "--per-message works with --count 1 only")],
)  # fmt: skip
def test_count_usage_errors(options: list[str], says: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "trio_dht", "check", "node", *options, "--", "x", "{port}"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert says in done.stderr


async def test_a_copy_that_hangs_after_registering_drops_out_and_the_others_go_on() -> None:
    command = [sys.executable, SCRIPTED, "--flaw", "mute", "--flaw-copy", "3",
               "--copy", "{copy}", "{host}", "{port}"]  # fmt: skip
    checker, report = await check(command)
    mute = checker.copies[2]
    assert report.case("2.2").detail.startswith(f"{mute.label}: no overlay setup status within")
    for row in report.cases:
        for own in row.copies:
            if own.copy == mute.label and own.number not in ("1.1", "1.2", "1.3"):
                assert own.grade in (Grade.FAIL, Grade.NON_STRICT), own.to_json()
            else:
                assert own.grade in (Grade.PASS, Grade.INFORMATIONAL), own.to_json()
    assert all(not alive(c.pid) for c in checker.copies if c.pid is not None)


@pytest.mark.parametrize(
    ("options", "count"), [([], 3), (["--per-message"], 1), (["--count", "5"], 5)]
)
def test_count_defaults_to_one_copy_with_per_message(options: list[str], count: int) -> None:
    # --per-message alone must not be a usage error: its default is one copy.
    args = build_parser(["check"]).parse_args(["check", "node", *options, "--", "x", "{port}"])
    assert node_problem(args) is None
    assert args.count == count
