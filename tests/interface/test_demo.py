"""``python -m trio_dht demo``: the whole task in one command; its exit
status follows the verdict."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest
import trio
from rich.console import Console

from trio_dht.interface.cli import build_parser
from trio_dht.interface.demo_app import DemoApp
from trio_dht.services.node import MessagingNode

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
    out = done.stdout.decode()
    report = f"stdout:\n{out}\nstderr:\n{done.stderr.decode()}"
    assert done.returncode == 0, report
    lines = lines_of(done)
    assert lines[-1] == "CORRECT: 1600 sent, 1600 received, sums match", report
    assert ESCAPE not in out
    assert len([line for line in lines if line.startswith("Registered node ")]) == 4
    assert "Registry now ready to initiate tasks." in lines
    assert any(line.startswith("Wall time ") for line in lines)
    assert any("mean relays per packet" in line for line in lines)
    assert "Traceback" not in report


async def test_demo_usage_and_setup_errors_exit_non_zero() -> None:
    done = await run_cli("demo", "--nodes", "1")
    assert done.returncode == 2
    assert b"--nodes must be between 2 and 128" in done.stderr
    # NR 3 needs more than 4 nodes: the registry refuses, nothing runs.
    done = await run_cli("demo", "--nodes", "4", "--nr", "3", "--packets", "10")
    assert done.returncode == 2
    lines = lines_of(done)
    assert lines[-1].startswith("error: routing-table size 3 is not valid for 4 nodes")
    assert not any(line.startswith(("CORRECT", "INCORRECT")) for line in lines)


class MiscountingNode(MessagingNode):
    """Reports one payload too many: the totals cannot add up."""

    async def _send_summary(self) -> None:
        self.counters.sum_received += 1
        await super()._send_summary()


async def test_demo_exit_status_follows_an_incorrect_verdict() -> None:
    args = build_parser().parse_args(["demo", "--nodes", "3", "--nr", "1", "--packets", "50"])
    out = io.StringIO()
    made: list[MessagingNode] = []

    def factory(*a: object) -> MessagingNode:
        node = (MiscountingNode if not made else MessagingNode)(*a)  # type: ignore[arg-type]
        made.append(node)
        return node

    app = DemoApp(args, Console(file=out, width=160), node_factory=factory)
    with trio.fail_after(DEMO_TIMEOUT):
        status = await app.main()
    assert app.result is not None
    assert not app.result.correct
    assert status == 1
    last = out.getvalue().splitlines()[-1]
    assert last.startswith("INCORRECT: 150 sent, 150 received; sums differ")
