"""The command line, end to end: arguments refused before anything starts
(with the message and exit status a script can rely on), network trouble
told apart from usage errors, and --help with examples that fits 80
columns."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import Launcher, Proc

LISTENING_LINE = r"^Registry listening"


def assert_clean(*procs: Proc) -> None:
    for proc in procs:
        assert not any("Traceback (most recent call last)" in line for line in proc.output)


def error_lines(proc: Proc) -> list[str]:
    return [line for line in proc.output if "error:" in line]


@pytest.mark.parametrize(
    "address", ["nonsense", "127.0.0.1:99999", "127.0.0.1:abc", ":5000", "127.0.0.1:"]
)
async def test_node_with_a_bad_address(launcher: Launcher, address: str) -> None:
    proc, rc = await launcher.run("node", address)
    assert rc != 0
    assert len(error_lines(proc)) == 1, proc.tail()
    assert_clean(proc)


async def test_node_with_no_registry_listening(launcher: Launcher) -> None:
    proc, rc = await launcher.run("node", "127.0.0.1:1")
    assert rc == 4  # not 2: the command line was fine, the network said no
    errors = error_lines(proc)
    assert len(errors) == 1, proc.tail()
    assert errors[0].startswith("error:") and "127.0.0.1:1" in errors[0]
    assert "--retry" in errors[0]
    assert_clean(proc)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--nodes", "0", "--start", "5"], "--nodes must be between 2 and 127"),
        (["--nodes", "128", "--start", "5"], "--nodes must be between 2 and 127 with --wire cs455"),
        (["--nodes", "5", "--nr", "4", "--start", "5"], "--nr 4 is not valid for 5 nodes"),
        (["--nr", "0"], "--nr only apply to an unattended run: add --start N"),
        (["--nodes", "3", "--timeout", "2"], "--nodes, --timeout only apply to an unattended"),
        (["--start", "-1"], "--start must be between 0 and"),
        (["notaport"], "'notaport' is not a port number"),
        (["70000"], "port 70000 is out of range: use 1..65535, or 0"),
        (["65536"], "port 65536 is out of range"),
    ],
    ids=[
        "nodes-0", "nodes-128-cs455", "nr-too-big", "nr-alone", "needs-start",
        "start-negative", "bad-port", "port-70000", "port-65536",
    ],
)  # fmt: skip
async def test_registry_with_bad_options(launcher: Launcher, args: list[str], message: str) -> None:
    proc, rc = await launcher.run("registry", *args)
    assert rc == 2
    errors = error_lines(proc)
    assert len(errors) == 1 and message in errors[0], proc.tail()
    assert not proc.find(LISTENING_LINE)
    assert_clean(proc)


@pytest.mark.parametrize(
    ("args", "usage"),
    [
        (["registry", "70000"], "usage: trio-dht registry [options] [port]"),
        (["node"], "usage: trio-dht node [options] registry"),
        (["demo", "--nodes", "1"], "usage: trio-dht demo [options]"),
    ],
)
async def test_usage_errors_are_short(launcher: Launcher, args: list[str], usage: str) -> None:
    # The error, not a 13-line synopsis of every option, is what a person
    # reads at 80 columns; --help still lists them all.
    proc, rc = await launcher.run(*args)
    assert rc == 2
    assert proc.output == [
        usage,
        *error_lines(proc),
        f"(see '{usage.split()[1]} {args[0]} --help' for every option)",
    ], proc.tail()
    assert len(error_lines(proc)) == 1


async def test_registry_on_a_busy_port(launcher: Launcher) -> None:
    first, port = await launcher.registry()
    proc, rc = await launcher.run("registry", str(port), "--host", "127.0.0.1")
    assert rc == 4
    errors = error_lines(proc)
    assert len(errors) == 1 and str(port) in errors[0], proc.tail()
    assert_clean(proc)
    assert first.running


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--help"], ["registry", "node"]),
        (
            ["registry", "--help"],
            ["list-messaging-nodes", "setup-overlay", "list-routing-tables", "start N", "exit"],
        ),
        (["node", "--help"], ["print-counters-and-diagnostics", "exit-overlay", "--retry"]),
        (["demo", "--help"], ["--summary", "--output", "json.load"]),
    ],
    ids=["main", "registry", "node", "demo"],
)
async def test_help(launcher: Launcher, args: list[str], words: list[str]) -> None:
    proc, rc = await launcher.run(*args, merge=False)
    assert rc == 0
    text = "\n".join(proc.out)
    for word in [*words, "examples:", "exit status:", "usage error", "network"]:
        assert word in text
    assert all(len(line) <= 80 for line in proc.out), text  # wrapped to the terminal (80 in a pipe)
    assert_clean(proc)
