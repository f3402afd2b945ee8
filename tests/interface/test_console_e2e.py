"""The consoles, end to end through pipes: every mistake gets one line that
says what is wrong (and a suggestion for a typo), blank lines are ignored,
undecodable bytes are an unknown command, and the program keeps working."""

from __future__ import annotations

import re
import subprocess
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conftest import Launcher, Proc

READY = re.compile(r"^Registry now ready to initiate tasks\.$")
REGISTERED = re.compile(r"^Registered node (\d+) at 127\.0\.0\.1:(\d+) \((\d+) nodes?\)")
DEVNULL = subprocess.DEVNULL


def assert_clean(*procs: Proc) -> None:
    for proc in procs:
        assert not any("Traceback (most recent call last)" in line for line in proc.output)


REGISTRY_MISTAKES = [
    ("frobnicate", r"^Unknown command 'frobnicate'"),
    ("start", r"^error: usage: start N"),
    ("start abc", r"^error: N must be a whole number"),
    ("start -5", r"^error: N must be between"),
    ("start 1 2", r"^error: usage: start N"),
    ("setup 99", r"^error: NR must be between"),
    ("setup x", r"^error: NR must be a whole number"),
    ("start 100", r"^error: the overlay is not ready"),
    ("route", r"^error: no overlay is set up now"),
    ("list extra", r"^error: list takes no arguments"),
]


async def test_registry_console_errors(launcher: Launcher) -> None:
    registry, port = await launcher.registry()
    # Too few nodes for NR 3 (2**2 < 3 fails), but registered all the same.
    await launcher.nodes(port, 3, stdin=DEVNULL)
    await registry.wait_for(REGISTERED, count=3)
    for text, expected in [*REGISTRY_MISTAKES, ("setup 3", r"^error: .*NR")]:
        mark = registry.mark()
        await registry.send(text)
        lines = await registry.lines_until_help(mark, after=expected)
        assert len(lines) == 1, f"{text!r} printed {lines}"
        assert re.search(expected, lines[0]), f"{text!r} printed {lines[0]!r}"
    # Blank input is ignored.
    mark = registry.mark()
    await registry.send("   ")
    assert await registry.lines_until_help(mark) == []
    assert registry.running
    assert not registry.find(r"^Sent manifests")
    assert_clean(registry)

    # ... and after all that it still works.
    mark = registry.mark()
    await registry.send("setup 2")
    await registry.wait_for(READY, since=mark)


async def test_node_console_errors(launcher: Launcher) -> None:
    registry, port = await launcher.registry()
    node = await launcher.node(port)
    for text, expected in [
        ("frobnicate", r"^Unknown command 'frobnicate'"),
        ("print extra", r"^error: print takes no arguments"),
        ("exit now", r"^error: exit takes no arguments"),
    ]:
        mark = node.mark()
        await node.send(text)
        lines = await node.lines_until_help(mark, after=expected)
        assert len(lines) == 1, f"{text!r} printed {lines}"
        assert re.search(expected, lines[0]), f"{text!r} printed {lines[0]!r}"
    mark = node.mark()
    await node.send("print")
    lines = await node.lines_until_help(mark)
    assert any(f"Node {node.node_id} at 127.0.0.1:" in line for line in lines), lines
    assert node.running and registry.running
    assert not registry.find(r"^Deregistered")
    assert_clean(registry, node)


# With a strict stdin decoder (PYTHONIOENCODING=utf-8, or any UTF-8 locale
# other than C/POSIX), a stray non-UTF-8 byte used to raise
# UnicodeDecodeError inside the console reader, which took it for the end of
# input: every later command was silently ignored.
STRICT_STDIN = {"PYTHONIOENCODING": "utf-8"}


async def test_undecodable_input_is_an_unknown_command(launcher: Launcher) -> None:
    registry, port = await launcher.registry(env=STRICT_STDIN)
    mark = registry.mark()
    node = await launcher.node(port, env=STRICT_STDIN)
    # The registry announces the node on its own schedule (after probing its
    # port): let that line come first, so it is not taken for an answer.
    await registry.wait_for(rf"^Registered node {node.node_id} ", since=mark)
    for proc in (registry, node):
        mark = proc.mark()
        await proc.send(b"caf\xe9 \xff")
        lines = await proc.lines_until_help(mark, after="^Unknown command")
        assert len(lines) == 1 and lines[0].startswith("Unknown command"), lines
    mark = registry.mark()
    await node.send("exit")
    await registry.wait_for(rf"^Deregistered node {node.node_id}", since=mark)
    assert await node.wait() == 0
    await registry.send("exit")
    assert await registry.wait() == 0
    assert_clean(registry, node)
