"""Verbosity through a real process: -vv adds debug lines worth reading
(connections, setup steps, quiescence decisions), bounded by the number of
nodes and not by the packets; the default shows none of them, -v adds info
lines, -q leaves stderr empty on success."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import trio

RUN_TIMEOUT = 60.0
LEVEL = re.compile(r"^\d\d:\d\d:\d\d (DEBUG|INFO|WARNING|ERROR) ")

# One line of each: what -vv must let a reader follow.
EXPECTED_DEBUG = (
    r"connection \d+ from 127\.0\.0\.1 accepted",
    r"node \d+: connection|registering at 127\.0\.0\.1:\d+ on connection \d+",
    r"registration on connection \d+: trying 127\.0\.0\.1:\d+",
    r"node \d+: manifest 1 accepted: 3 nodes",
    r"node \d+ set up its overlay \(3 of 3 ready\)",
    r"run started: 20,000 packets from each of 3 nodes",
    r"node \d+: task: originating 20,000 packets",
    r"run: every node finished sending after",
    r"run: every packet is counted as received after [\d.]+ s: asking 3 nodes",
    r"run: every summary in",
    r"connection \d+ closed: node \d+'s registration",
)


async def demo_stderr(*flags: str) -> list[str]:
    with trio.fail_after(RUN_TIMEOUT):
        done = await trio.run_process(
            [sys.executable, "-m", "trio_dht", "demo", "--nodes", "3", "--packets", "20000",
             *flags],
            stdin=subprocess.DEVNULL, capture_stdout=True, capture_stderr=True, check=False,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    assert b"CORRECT" in done.stdout
    return done.stderr.decode().splitlines()


def levels(lines: list[str]) -> set[str]:
    return {m[1] for line in lines if (m := LEVEL.match(line))}


async def test_vv_logs_connections_setup_and_quiescence_not_packets() -> None:
    lines = await demo_stderr("-vv")
    debug = [line for line in lines if " DEBUG " in line]
    for pattern in EXPECTED_DEBUG:
        assert any(re.search(pattern, line) for line in debug), (pattern, debug)
    # 60,000 packets, 3 nodes: a line per packet or per batch would show.
    assert len(debug) < 80, "\n".join(debug)


@pytest.mark.parametrize("flag", ["-q", "", "-v"])
async def test_each_verbosity_shows_its_levels_only(flag: str) -> None:
    lines = await demo_stderr(*([flag] if flag else []))
    if flag == "-q":
        assert lines == []  # results on stdout; no error happened
        return
    assert any(line.startswith("Registry now ready") for line in lines)
    # Warnings may come at any verbosity (a loaded machine); never debug.
    assert "DEBUG" not in levels(lines), lines
    assert ("INFO" in levels(lines)) == (flag == "-v"), lines
