"""``python -m trio_dht demo``: the whole task in one command; its exit
status follows the verdict."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys

import attrs
import pytest
import trio
from rich.console import Console

from trio_dht.interface.cli import build_parser
from trio_dht.interface.demo_app import DemoApp
from trio_dht.services.report import RunResult

DEMO_TIMEOUT = 25.0
ESCAPE = "\x1b"


def plain_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    for name in ("FORCE_COLOR", "TTY_INTERACTIVE", "TTY_COMPATIBLE", "COLUMNS", "LINES"):
        env.pop(name, None)
    return env


async def run_cli(*args: str) -> subprocess.CompletedProcess[bytes]:
    with trio.fail_after(DEMO_TIMEOUT):
        return await trio.run_process(
            [sys.executable, "-m", "trio_dht", *args],
            stdin=subprocess.DEVNULL,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
            env=plain_env(),
        )


def lines_of(done: subprocess.CompletedProcess[bytes]) -> list[str]:
    return done.stdout.decode().splitlines()


@pytest.mark.parametrize("mode", [[], ["--processes"]], ids=["in-process", "processes"])
async def test_demo_runs_unattended_and_ends_on_a_correct_verdict(mode: list[str]) -> None:
    done = await run_cli("demo", "--nodes", "4", "--nr", "2", "--packets", "400", *mode)
    out, err = done.stdout.decode(), done.stderr.decode()
    report = f"stdout:\n{out}\nstderr:\n{err}"
    assert done.returncode == 0, report
    lines = lines_of(done)
    assert lines[-1] == "CORRECT: 1600 sent, 1600 received, sums match", report
    assert ESCAPE not in out + err
    # stdout: the result only (summary table, details, verdict).
    assert any("Traffic summary" in line for line in lines)
    assert any("mean relays per packet" in line for line in lines)
    assert not any(
        line.startswith(("Registered node ", "Wall time", "progress:")) for line in lines
    )
    # stderr: what happened on the way.
    events = err.splitlines()
    if not mode:
        assert len([line for line in events if line.startswith("Registered node ")]) == 4
    assert "Registry now ready to initiate tasks." in events
    assert any(line.startswith("Wall time ") for line in events)
    assert "Traceback" not in report


async def test_quiet_leaves_only_the_result() -> None:
    done = await run_cli("demo", "--nodes", "3", "--nr", "1", "--packets", "100", "-q")
    assert done.returncode == 0
    assert done.stderr == b""
    assert lines_of(done)[-1].startswith("CORRECT")


async def test_verbose_logs_go_to_stderr() -> None:
    done = await run_cli(
        "demo", "--nodes", "3", "--nr", "1", "--packets", "100", "-vv", "--summary", "json"
    )
    assert done.returncode == 0
    assert json.loads(done.stdout)["correct"] is True
    assert re.search(rb"^\d\d:\d\d:\d\d (DEBUG|INFO) ", done.stderr, re.MULTILINE), done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--nodes", "1"], "--nodes must be between 2 and 127 with --wire cs455"),
        (["--nodes", "128"], "--nodes must be between 2 and 127 with --wire cs455"),
        (["--nodes", "4", "--nr", "3"], "--nr 3 is not valid for 4 nodes"),
        (["--nodes", "5", "--nr", "10"], "--nr 10 is not valid for 5 nodes"),
        (["--packets", "-1"], "--packets must be between 0 and 2147483647"),
        (["--timeout", "-3"], "must be 0 or more seconds"),
    ],
)
async def test_demo_usage_errors_are_caught_before_anything_starts(
    args: list[str], message: str
) -> None:
    done = await run_cli("demo", *args)
    assert done.returncode == 2
    assert message.encode() in done.stderr, done.stderr
    assert b"Registered" not in done.stderr and done.stdout == b""


@pytest.mark.parametrize(("nodes", "nr"), [(2, 1), (4, 2), (5, 3)])
async def test_demo_picks_the_largest_valid_nr(nodes: int, nr: int) -> None:
    done = await run_cli(
        "demo", "--nodes", str(nodes), "--packets", "10", "--summary", "json", "-q"
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["nr"] == nr  # the largest with 2**(NR-1) < N, at most 3


def miscount(result: RunResult) -> RunResult:
    """One payload too many at the first node: the totals cannot add up."""
    first, *rest = result.nodes
    wrong = attrs.evolve(first, sum_received=first.sum_received + 1)
    return attrs.evolve(result, nodes=(wrong, *rest))


async def test_demo_exit_status_follows_an_incorrect_verdict() -> None:
    args = build_parser().parse_args(["demo", "--nodes", "3", "--nr", "1", "--packets", "50"])
    out = io.StringIO()
    app = DemoApp(args, Console(file=out, width=160))  # both streams
    report = app.app.report
    app.app.report = lambda result: report(miscount(result))  # type: ignore[method-assign]
    with trio.fail_after(DEMO_TIMEOUT):
        status = await app.main()
    assert app.app.results and not app.app.results[-1].correct
    assert status == 1
    last = out.getvalue().splitlines()[-1]
    assert last.startswith("INCORRECT: 150 sent, 150 received; sums differ")
