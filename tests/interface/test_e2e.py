"""End to end: real registry and node processes on loopback sockets, driven
through their stdin, signals and command lines (helpers in conftest.py)."""

from __future__ import annotations

import re
import signal
import subprocess
from typing import TYPE_CHECKING

import pytest
import trio

if TYPE_CHECKING:
    # Fixtures and their classes live in conftest.py (not importable by name
    # at run time: every test directory may have its own conftest module).
    from conftest import Launcher, Proc

DEVNULL = subprocess.DEVNULL

VERDICT = re.compile(r"^(CORRECT|INCORRECT)\b.*$")
READY = re.compile(r"^Registry now ready to initiate tasks\.$")
NUM = r"-?[\d,]+"
SUMMARY_ROW = re.compile(rf"^\s*(\d+)\s+({NUM})\s+({NUM})\s+({NUM})\s+({NUM})\s+({NUM})\s*$")
TOTAL_ROW = re.compile(rf"^\s*total\s+({NUM})\s+({NUM})\s+({NUM})\s+({NUM})\s+({NUM})\s*$")
RELAYS = re.compile(r"mean relays per packet (\d+\.\d+)")
LIST_ROW = re.compile(r"^\s*127\.0\.0\.1\s+(\d+)\s+(\d+)\s+(\S+)\s*$")
ROUTE_ROW = re.compile(r"^\s*(\d+)\s+((?:\d+ 127\.0\.0\.1:\d+\s*)+)$")
REGISTERED = re.compile(r"^Registered node (\d+) at 127\.0\.0\.1:(\d+) \((\d+) nodes?\)")
NODE_SUMMARY = re.compile(
    r"^Traffic summary sent: sent ([\d,]+), received ([\d,]+), relayed ([\d,]+);"
)
SPURIOUS_LOSS = "disconnected without deregistering"
LISTENING_LINE = r"^Registry listening"

# A whole 10 x 25,000 run normally takes a few seconds; this only bounds a hang.
RUN_TIMEOUT = 60.0


def number(text: str) -> int:
    return int(text.replace(",", ""))


def summary(proc: Proc, since: int = 0) -> tuple[dict[int, tuple[int, ...]], tuple[int, ...]]:
    """The per-node rows and the totals row of the last summary table after
    ``since``."""
    lines = proc.out[since:]
    totals_at = max(i for i, line in enumerate(lines) if TOTAL_ROW.match(line))
    title_at = max(i for i, line in enumerate(lines[:totals_at]) if "Traffic summary" in line)
    rows: dict[int, tuple[int, ...]] = {}
    for line in lines[title_at:totals_at]:
        if m := SUMMARY_ROW.match(line):
            assert int(m[1]) not in rows, f"node {m[1]} appears twice in the summary"
            rows[int(m[1])] = tuple(number(g) for g in m.groups()[1:])
    match = TOTAL_ROW.match(lines[totals_at])
    assert match is not None
    return rows, tuple(number(g) for g in match.groups())


def verdicts(proc: Proc, since: int = 0) -> list[str]:
    return [line for line in proc.out[since:] if VERDICT.match(line)]


def expected_tables(ids: list[int], nr: int) -> dict[int, list[int]]:
    """SYSTEM.md: entry k of the node at index i is ids[(i + 2**k) mod N]."""
    ring = sorted(ids)
    n = len(ring)
    return {node: [ring[(i + 2**k) % n] for k in range(nr)] for i, node in enumerate(ring)}


async def list_rows(registry: Proc) -> dict[int, tuple[int, str]]:
    """``list`` at the registry console -> {id: (port, state)}."""
    mark = registry.mark()
    await registry.send("list")
    rows: dict[int, tuple[int, str]] = {}
    for line in await registry.lines_until_help(mark):
        if m := LIST_ROW.match(line):
            rows[int(m[2])] = (int(m[1]), m[3])
    return rows


def has_traceback(lines: list[str]) -> bool:
    return any("Traceback (most recent call last)" in line for line in lines)


def assert_clean(*procs: Proc) -> None:
    for proc in procs:
        assert not has_traceback(proc.output), proc.tail()


async def cpu_over(proc: Proc, seconds: float) -> float:
    """CPU time ``proc`` used over ``seconds`` of wall time."""
    before = proc.cpu_seconds()
    # The measurement window, not a wait for anything: an idle process uses
    # next to no CPU over any window, a spinning one about all of it, so no
    # length of the window (a loaded machine stretches it) makes a correct
    # program fail.
    await trio.sleep(seconds)
    return proc.cpu_seconds() - before


# --- 1. unattended run ---------------------------------------------------------


# Both dialects must pass the same end-to-end runs.
WIRES = pytest.mark.parametrize("wire", ["cs455", "minichord"])


@WIRES
async def test_unattended_run_is_correct_and_everyone_exits(launcher: Launcher, wire: str) -> None:
    registry, port = await launcher.registry(
        "--nodes", "10", "--start", "25000", "--timeout", str(RUN_TIMEOUT), "--wire", wire,
        stdin=DEVNULL,
    )  # fmt: skip
    nodes = await launcher.nodes(port, 10, "--wire", wire, stdin=DEVNULL)
    assert await registry.wait(RUN_TIMEOUT + 10) == 0, registry.tail()

    assert verdicts(registry) == ["CORRECT: 250000 sent, 250000 received, sums match"]
    rows, totals = summary(registry)
    sent, received, relayed, sum_sent, sum_received = totals
    assert (sent, received) == (250_000, 250_000)
    assert sum_sent == sum_received
    assert set(rows) == {n.node_id for n in nodes}
    for row in rows.values():
        assert row[0] == 25_000
    # The totals row adds up the node rows.
    assert tuple(sum(column) for column in zip(*rows.values(), strict=True)) == totals

    details = [m for line in registry.out if (m := RELAYS.search(line))]
    assert len(details) == 1
    mean = float(details[0][1])
    assert abs(mean - 8 / 9) <= 0.01 * 8 / 9, f"mean relays per packet {mean}, expected 8/9"
    assert abs(mean - relayed / received) < 1e-4

    # The nodes leave by themselves once the registry is gone.
    for node in nodes:
        assert await node.wait() == 0, node.tail()
        assert node.find(r"registry closed the connection"), node.tail()
        # Each node's own report agrees with the registry's row for it.
        reports = node.find(NODE_SUMMARY)
        assert len(reports) == 1, node.tail()
        own = tuple(number(g) for g in reports[0].groups())
        assert own == (rows[node.node_id][0], rows[node.node_id][1], rows[node.node_id][2])
    assert_clean(registry, *nodes)
    # Closing the registry is not the nodes crashing.
    assert not registry.find(SPURIOUS_LOSS), registry.tail()


# --- 2. interactive run ----------------------------------------------------------


@WIRES
async def test_interactive_session(launcher: Launcher, wire: str) -> None:
    registry, port = await launcher.registry("--wire", wire)
    nodes = await launcher.nodes(port, 10, "--wire", wire, stdin=DEVNULL)
    await registry.wait_for(REGISTERED, count=10)
    ports = {int(m[1]): int(m[2]) for m in registry.find(REGISTERED)}
    assert set(ports) == {n.node_id for n in nodes}
    assert max(int(m[3]) for m in registry.find(REGISTERED)) == 10

    mark = registry.mark()
    await registry.send("setup 3")
    await registry.wait_for(READY, since=mark)

    mark = registry.mark()
    await registry.send("start 25000")
    verdict = await registry.wait_for(VERDICT, since=mark, timeout=RUN_TIMEOUT)
    assert verdict[0] == "CORRECT: 250000 sent, 250000 received, sums match"
    rows, totals = summary(registry, mark)
    assert set(rows) == set(ports)
    assert totals[0] == totals[1] == 250_000 and totals[3] == totals[4]

    listed = await list_rows(registry)
    assert listed == {node_id: (ports[node_id], "idle") for node_id in ports}

    mark = registry.mark()
    await registry.send("route")
    lines = await registry.lines_until_help(mark)
    assert any("Routing tables" in line for line in lines), lines
    tables: dict[int, list[int]] = {}
    for line in lines:
        if m := ROUTE_ROW.match(line):
            entries = re.findall(r"(\d+) 127\.0\.0\.1:(\d+)", m[2])
            for entry_id, entry_port in entries:
                assert ports[int(entry_id)] == int(entry_port)
            tables[int(m[1])] = [int(entry_id) for entry_id, _ in entries]
    assert tables == expected_tables(list(ports), 3)

    mark = registry.mark()
    await registry.send("exit")
    assert await registry.wait() == 0, registry.tail()
    for node in nodes:
        assert await node.wait() == 0, node.tail()
    assert_clean(registry, *nodes)
    assert not registry.find(SPURIOUS_LOSS, mark), registry.tail()


# --- 3. a node killed before setup -----------------------------------------------


async def test_killed_node_is_removed_and_the_rest_still_work(launcher: Launcher) -> None:
    registry, port = await launcher.registry()
    nodes = await launcher.nodes(port, 10, stdin=DEVNULL)
    await registry.wait_for(REGISTERED, count=10)

    victim = nodes[4]
    victim.signal(signal.SIGKILL)
    assert await victim.wait() == -signal.SIGKILL
    await registry.wait_for(
        rf"^Node {victim.node_id} at 127\.0\.0\.1:\d+ .*(disconnected|removed).*\(9 nodes remain\)"
    )

    listed = await list_rows(registry)
    assert set(listed) == {n.node_id for n in nodes if n is not victim}

    mark = registry.mark()
    await registry.send("setup 3")
    await registry.wait_for(READY, since=mark)
    assert registry.find(r"^Sent manifests to 9 nodes", mark)

    mark = registry.mark()
    await registry.send("start 1000")
    verdict = await registry.wait_for(VERDICT, since=mark, timeout=RUN_TIMEOUT)
    assert verdict[0] == "CORRECT: 9000 sent, 9000 received, sums match"
    rows, _ = summary(registry, mark)
    assert victim.node_id not in rows and len(rows) == 9
    assert registry.running
    assert all(n.running for n in nodes if n is not victim)
    assert_clean(registry, *nodes)


# --- 4. node exit command ----------------------------------------------------------


async def test_node_exit_command_deregisters(launcher: Launcher) -> None:
    registry, port = await launcher.registry()
    node = await launcher.node(port)
    other = await launcher.node(port, stdin=DEVNULL)

    mark = registry.mark()
    await node.send("exit")
    await registry.wait_for(rf"^Deregistered node {node.node_id} \(1 nodes? remains?\)", since=mark)
    assert await node.wait() == 0, node.tail()
    assert node.find(r"^Deregistration: Deregistration request successful")
    assert not registry.find(SPURIOUS_LOSS, mark)

    assert set(await list_rows(registry)) == {other.node_id}
    assert registry.running and other.running
    assert_clean(registry, node, other)


# --- 5. signals ---------------------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_signal_to_node_deregisters_first(launcher: Launcher, signum: int) -> None:
    registry, port = await launcher.registry()
    node = await launcher.node(port)

    mark = registry.mark()
    node.signal(signum)
    await registry.wait_for(rf"^Deregistered node {node.node_id} \(0 nodes? remains?\)", since=mark)
    rc = await node.wait(5.0)
    assert rc == 128 + signum, node.tail()
    assert not registry.find(SPURIOUS_LOSS, mark)
    assert registry.running
    assert_clean(registry, node)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_signal_to_registry_closes_it(launcher: Launcher, signum: int) -> None:
    registry, port = await launcher.registry()
    node = await launcher.node(port, stdin=DEVNULL)

    mark = registry.mark()
    registry.signal(signum)
    rc = await registry.wait(5.0)
    assert rc == 128 + signum, registry.tail()
    assert registry.find(r"^Interrupted", mark)
    assert not registry.find(SPURIOUS_LOSS, mark), registry.tail()
    # Its node sees it go and leaves too.
    assert await node.wait(5.0) == 0, node.tail()
    assert_clean(registry, node)


# --- 6. stdin at end of input ----------------------------------------------------------

CPU_LIMIT = 0.3  # seconds of CPU over about one second idle; a spinning loop uses ~1


async def closed_stdin(proc: Proc, how: str) -> None:
    if how == "closed-pipe":
        await proc.close_stdin()


@pytest.mark.parametrize("how", ["devnull", "closed-pipe"])
async def test_registry_survives_end_of_input(launcher: Launcher, how: str) -> None:
    registry, port = await launcher.registry(stdin=DEVNULL if how == "devnull" else subprocess.PIPE)
    await closed_stdin(registry, how)
    used = await cpu_over(registry, 1.0)
    assert registry.running, registry.tail()
    assert used < CPU_LIMIT, f"registry used {used:.2f} s CPU in 1 s with stdin at EOF"

    # It still serves: nodes can join and a run works.
    nodes = await launcher.nodes(port, 2, stdin=DEVNULL)
    await registry.wait_for(REGISTERED, count=2)
    assert registry.running
    assert all(n.running for n in nodes)
    assert_clean(registry, *nodes)


@pytest.mark.parametrize("how", ["devnull", "closed-pipe"])
async def test_node_survives_end_of_input(launcher: Launcher, how: str) -> None:
    registry, port = await launcher.registry()
    stdin = DEVNULL if how == "devnull" else subprocess.PIPE
    nodes = await launcher.nodes(port, 2, stdin=stdin)
    for node in nodes:
        await closed_stdin(node, how)
    before = [n.cpu_seconds() for n in nodes]
    await trio.sleep(1.0)  # the measurement window (see cpu_over), not a wait
    for node, cpu in zip(nodes, before, strict=True):
        assert node.running, node.tail()
        used = node.cpu_seconds() - cpu
        assert used < CPU_LIMIT, f"{node.name} used {used:.2f} s CPU in 1 s with stdin at EOF"

    # They still serve: overlay setup and a small run.
    mark = registry.mark()
    await registry.send("setup 1")
    await registry.wait_for(READY, since=mark)
    await registry.send("start 100")
    verdict = await registry.wait_for(VERDICT, since=mark, timeout=RUN_TIMEOUT)
    assert verdict[0] == "CORRECT: 200 sent, 200 received, sums match"
    assert_clean(registry, *nodes)
