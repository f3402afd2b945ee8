"""Output a script can rely on, with real processes: stdout is exactly one
JSON document or one CSV table (the verdict inside), everything else is on
stderr; -q leaves results and errors; exit statuses tell usage errors from
network trouble; a node waits for a registry with --retry and hints at
--wire when the registry hangs up on its first frame."""

from __future__ import annotations

import csv
import io
import json
import re
import signal
import socket
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest
import trio

from trio_dht.interface.summary_formats import CSV_HEADER

if TYPE_CHECKING:
    from conftest import Launcher

DEVNULL = subprocess.DEVNULL
RUN_TIMEOUT = 60.0
CORRECT = re.compile(r"^CORRECT: (\d+) sent, \1 received, sums match$")


async def run_cli(*args: str) -> subprocess.CompletedProcess[bytes]:
    with trio.fail_after(RUN_TIMEOUT):
        return await trio.run_process(
            [sys.executable, "-m", "trio_dht", *args],
            stdin=DEVNULL, capture_stdout=True, capture_stderr=True, check=False,
        )  # fmt: skip


async def test_demo_json_on_stdout_parses_whole() -> None:
    done = await run_cli("demo", "--nodes", "4", "--packets", "500", "--summary", "json")
    assert done.returncode == 0, done.stderr.decode()
    data = json.load(io.StringIO(done.stdout.decode()))
    assert CORRECT.match(data["verdict"]) and data["correct"] is True
    assert data["totals"]["sent"] == data["totals"]["received"] == 2000
    assert data["nr"] == 2 and len(data["nodes"]) == 4
    # A person still sees what happened, on stderr.
    assert b"Registry now ready" in done.stderr


async def test_demo_csv_on_stdout_parses_whole() -> None:
    done = await run_cli("demo", "--nodes", "3", "--packets", "400", "--summary", "csv")
    assert done.returncode == 0, done.stderr.decode()
    rows = list(csv.reader(io.StringIO(done.stdout.decode())))
    assert tuple(rows[0]) == CSV_HEADER
    records = [dict(zip(CSV_HEADER, row, strict=True)) for row in rows[1:]]
    assert [r["node"] for r in records][-1] == "total"
    assert len(records) == 4
    total = records[-1]
    assert CORRECT.match(total["verdict"]) and total["correct"] == "true"
    assert sum(int(r["received"]) for r in records[:-1]) == int(total["received"]) == 1200


@pytest.mark.parametrize("fmt", ["json", "csv"])
async def test_unattended_registry_prints_one_document(launcher: Launcher, fmt: str) -> None:
    registry, port = await launcher.registry(
        "--nodes", "4", "--start", "1000", "--runs", "2", "--timeout", str(RUN_TIMEOUT),
        "--summary", fmt, stdin=DEVNULL, merge=False,
    )  # fmt: skip
    await launcher.nodes(port, 4, stdin=DEVNULL)
    assert await registry.wait(RUN_TIMEOUT) == 0, registry.tail()
    stdout = "\n".join(registry.out) + "\n"
    if fmt == "json":
        data = json.load(io.StringIO(stdout))
        assert data["correct"] is True
        assert [run["run"] for run in data["runs"]] == [1, 2]
        assert all(CORRECT.match(run["verdict"]) for run in data["runs"])
    else:
        rows = list(csv.DictReader(io.StringIO(stdout)))
        totals = [row for row in rows if row["node"] == "total"]
        assert [row["run"] for row in totals] == ["1", "2"]
        assert all(CORRECT.match(row["verdict"]) for row in totals)
        assert len(rows) == 2 * (4 + 1)
    assert any(line.startswith("Registered node") for line in registry.err)


async def test_quiet_registry_prints_only_the_result(launcher: Launcher) -> None:
    registry = await launcher.start(
        "registry", "0", "--host", "127.0.0.1", "--nodes", "2", "--start", "100", "-q",
        "--timeout", "3", stdin=DEVNULL, merge=False,
    )  # fmt: skip
    # Nobody joins: the timeout is the only thing to say, as an error.
    assert await registry.wait() == 3
    assert registry.out == []
    assert len(registry.err) == 1 and registry.err[0].startswith("error: gave up"), registry.err


async def test_timeout_still_gives_a_json_document(launcher: Launcher) -> None:
    registry = await launcher.start(
        "registry", "0", "--host", "127.0.0.1", "--nodes", "2", "--start", "100",
        "--timeout", "1", "--summary", "json", stdin=DEVNULL, merge=False,
    )  # fmt: skip
    assert await registry.wait() == 3
    data = json.loads("\n".join(registry.out))
    assert data["correct"] is False and "timeout" in data["verdict"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def test_node_retries_until_the_registry_is_up(launcher: Launcher) -> None:
    port = free_port()
    node = await launcher.node(port, "--retry", "20", registered=False)
    await node.wait_for(r"not reachable yet; retrying for up to 20 s")
    registry = await launcher.start("registry", str(port), "--host", "127.0.0.1")
    await registry.wait_for(r"^Registered node \d+")
    await node.wait_for(r"^Registered as node \d+")
    assert node.running


async def test_wrong_wire_is_hinted(launcher: Launcher) -> None:
    _, port = await launcher.registry()
    proc, rc = await launcher.run("node", f"127.0.0.1:{port}", "--wire", "minichord")
    assert rc == 4, proc.tail()
    errors = [line for line in proc.out if line.startswith("error:")]
    assert len(errors) == 1, proc.tail()
    assert "--wire cs455" in errors[0], errors[0]


async def test_interrupt_while_waiting_for_the_registry_ends_the_waiting(
    launcher: Launcher,
) -> None:
    node = await launcher.node(free_port(), "--retry", "60", registered=False)
    await node.wait_for(r"not reachable yet; retrying for up to 60 s")
    node.signal(signal.SIGINT)
    # The interrupt is the news: 130, no error about the registry.
    assert await node.wait() == 130, node.tail()
    assert not node.find(r"^error:"), node.tail()
