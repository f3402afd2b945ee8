"""Helpers for end-to-end tests: real ``python -m trio_dht`` processes driven
from trio through pipes.

``launcher`` (a fixture) starts processes and kills whatever is still running
when the test ends, passed or failed. Each ``Proc`` collects its stdout and
stderr line by line as they arrive; ``wait_for`` waits (bounded) for a line
matching a pattern.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence

import pytest
import trio

# Generous bounds: a hang fails in seconds, a slow machine still passes.
STARTUP_TIMEOUT = 15.0
LINE_TIMEOUT = 10.0
EXIT_TIMEOUT = 10.0

LISTENING = re.compile(r"^Registry listening on port (\d+)")
NODE_REGISTERED = re.compile(r"^Registered as node (\d+) at (\S+):(\d+)")
HELP_LAST = re.compile(r"^\s*help\s+this text\s*$")

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    for name in ("FORCE_COLOR", "TTY_INTERACTIVE", "TTY_COMPATIBLE", "COLUMNS", "LINES"):
        env.pop(name, None)
    return env


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "trio_dht", *args]


def has_traceback(lines: Sequence[str]) -> bool:
    return any("Traceback (most recent call last)" in line for line in lines)


class Proc:
    """One child process with its output collected line by line."""

    def __init__(self, name: str, process: trio.Process) -> None:
        self.name = name
        self.process = process
        self.out: list[str] = []
        self.err: list[str] = []
        self.node_id: int | None = None
        self._changed = trio.Event()
        self._open_streams = 0
        self._streams_done = trio.Event()

    def __repr__(self) -> str:
        return f"<Proc {self.name} pid {self.process.pid} rc {self.process.returncode}>"

    # --- plumbing ---------------------------------------------------------

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    async def _pump(self, stream: trio.abc.ReceiveStream, lines: list[str]) -> None:
        buffer = b""
        try:
            while True:
                try:
                    chunk = await stream.receive_some(65536)
                except (trio.ClosedResourceError, trio.BrokenResourceError):
                    break
                if not chunk:
                    break
                buffer += chunk
                *complete, buffer = buffer.split(b"\n")
                if complete:
                    lines.extend(raw.decode(errors="replace").rstrip("\r") for raw in complete)
                    self._notify()
        finally:
            if buffer:
                lines.append(buffer.decode(errors="replace"))
            self._open_streams -= 1
            if self._open_streams <= 0:
                self._streams_done.set()
            self._notify()

    # --- output -----------------------------------------------------------

    @property
    def output(self) -> list[str]:
        return self.out + self.err

    def mark(self) -> int:
        """Where stdout is now: pass as ``since`` to look only at later lines."""
        return len(self.out)

    def tail(self, count: int = 40) -> str:
        out = "\n".join(self.out[-count:])
        err = "\n".join(self.err[-count:])
        return f"--- {self.name} stdout (last {count}) ---\n{out}\n--- stderr ---\n{err}"

    def find(
        self, pattern: str | re.Pattern[str], since: int = 0, stream: str | None = None
    ) -> list[re.Match[str]]:
        """Matches in ``out`` (or in ``err`` with stream="err")."""
        regex = re.compile(pattern)
        lines = self.err if stream == "err" else self.out
        return [m for line in lines[since:] if (m := regex.search(line))]

    async def wait_for(
        self,
        pattern: str | re.Pattern[str],
        *,
        since: int = 0,
        count: int = 1,
        timeout: float = LINE_TIMEOUT,
        stream: str | None = None,
    ) -> re.Match[str]:
        """Wait until ``count`` stdout lines after ``since`` match; return the
        last of those matches. Fails (AssertionError with the output) on
        timeout, or when the process ended without printing it."""
        regex = re.compile(pattern)
        try:
            with trio.fail_after(timeout):
                while True:
                    found = self.find(regex, since, stream)
                    if len(found) >= count:
                        return found[count - 1]
                    if self._streams_done.is_set():
                        raise AssertionError(
                            f"{self.name} closed its output (rc {self.process.returncode}) "
                            f"without {count} line(s) matching {regex.pattern!r}\n{self.tail()}"
                        )
                    await self._changed.wait()
        except trio.TooSlowError:
            raise AssertionError(
                f"{self.name}: no {count} line(s) matching {regex.pattern!r} within "
                f"{timeout:g} s\n{self.tail()}"
            ) from None

    async def lines_until_help(
        self, since: int, after: str | re.Pattern[str] | None = None
    ) -> list[str]:
        """Send ``help`` and return the stdout lines printed between ``since``
        and the help text: everything the earlier commands printed (stdin is
        handled in order, so the help text comes after).

        Errors go to stderr, written by a thread of their own (never
        blocking), so in a merged pipe an error can land after a later
        command's stdout: name the line expected with ``after`` and it is
        waited for before ``help`` is sent."""
        if after is not None:
            await self.wait_for(after, since=since)
        await self.send("help")
        await self.wait_for(HELP_LAST, since=since)
        lines = self.out[since:]
        start = next(i for i, line in enumerate(lines) if line.startswith("Commands:"))
        return lines[:start]

    # --- input, signals, exit ----------------------------------------------

    async def send(self, line: str | bytes) -> None:
        """One line to stdin (bytes are sent as they are)."""
        assert self.process.stdin is not None, f"{self.name} has no stdin pipe"
        data = line if isinstance(line, bytes) else line.encode()
        with trio.fail_after(LINE_TIMEOUT):
            await self.process.stdin.send_all(data + b"\n")

    async def close_stdin(self) -> None:
        assert self.process.stdin is not None
        await self.process.stdin.aclose()

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    async def wait(self, timeout: float = EXIT_TIMEOUT) -> int:
        """Wait for the process to exit and its output to be complete;
        returns the exit status."""
        try:
            with trio.fail_after(timeout):
                await self.process.wait()
                await self._streams_done.wait()
        except trio.TooSlowError:
            raise AssertionError(
                f"{self.name} did not exit within {timeout:g} s\n{self.tail()}"
            ) from None
        rc = self.process.returncode
        assert rc is not None
        return rc

    def cpu_seconds(self) -> float:
        """utime + stime of the process (Linux /proc)."""
        with open(f"/proc/{self.process.pid}/stat") as f:
            stat = f.read()
        fields = stat[stat.rindex(")") + 2 :].split()
        # fields[0] is the state (field 3 of stat); utime, stime are 14, 15.
        return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS

    def kill(self) -> None:
        if self.process.returncode is None:
            try:
                self.process.kill()
            except ProcessLookupError:
                pass


class Launcher:
    """Starts processes in the fixture's nursery; ``aclose`` kills leftovers."""

    def __init__(self, nursery: trio.Nursery) -> None:
        self._nursery = nursery
        self.procs: list[Proc] = []
        self._counter = 0

    async def start(
        self,
        *args: str,
        name: str | None = None,
        stdin: int | None = subprocess.PIPE,
        env: dict[str, str] | None = None,
        merge: bool = True,
    ) -> Proc:
        """``merge``: stderr goes into the same pipe as stdout, so ``out``
        holds both in the order they were written (results are on stdout,
        events and errors on stderr). Without it ``out`` and ``err`` are
        the two streams."""
        self._counter += 1
        name = name or f"{args[0] if args else 'trio_dht'}#{self._counter}"
        with trio.fail_after(STARTUP_TIMEOUT):
            process = await trio.lowlevel.open_process(
                command(*args),
                stdin=stdin,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT if merge else subprocess.PIPE,
                env=child_env() | (env or {}),
            )
        proc = Proc(name, process)
        self.procs.append(proc)
        proc._open_streams = 1 if merge else 2
        assert process.stdout is not None
        self._nursery.start_soon(proc._pump, process.stdout, proc.out)
        if not merge:
            assert process.stderr is not None
            self._nursery.start_soon(proc._pump, process.stderr, proc.err)
        return proc

    async def run(
        self, *args: str, timeout: float = EXIT_TIMEOUT, merge: bool = True
    ) -> tuple[Proc, int]:
        """Run a command to completion (stdin at EOF)."""
        proc = await self.start(*args, stdin=subprocess.DEVNULL, merge=merge)
        return proc, await proc.wait(timeout)

    async def registry(
        self,
        *args: str,
        stdin: int | None = subprocess.PIPE,
        env: dict[str, str] | None = None,
        merge: bool = True,
    ) -> tuple[Proc, int]:
        """A registry on 127.0.0.1 with an OS-chosen port; returns it and the
        port once it listens (the banner is on stderr: with ``merge`` False
        this waits on ``err``)."""
        proc = await self.start(
            "registry", "0", "--host", "127.0.0.1", *args,
            name="registry", stdin=stdin, env=env, merge=merge,
        )  # fmt: skip
        match = await proc.wait_for(
            LISTENING, timeout=STARTUP_TIMEOUT, stream=None if merge else "err"
        )
        return proc, int(match[1])

    async def node(
        self,
        port: int,
        *args: str,
        stdin: int | None = subprocess.PIPE,
        env: dict[str, str] | None = None,
        registered: bool = True,
    ) -> Proc:
        proc = await self.start("node", f"127.0.0.1:{port}", *args, stdin=stdin, env=env)
        if registered:
            match = await proc.wait_for(NODE_REGISTERED, timeout=STARTUP_TIMEOUT)
            proc.node_id = int(match[1])
            proc.name = f"node {proc.node_id}"
        return proc

    async def nodes(
        self, port: int, count: int, *args: str, stdin: int | None = subprocess.PIPE
    ) -> list[Proc]:
        """``count`` nodes started concurrently; returns once all registered."""
        started: list[Proc] = []

        async def one() -> None:
            started.append(await self.node(port, *args, stdin=stdin))

        async with trio.open_nursery() as nursery:
            for _ in range(count):
                nursery.start_soon(one)
        return started

    async def aclose(self) -> None:
        with trio.CancelScope(shield=True):
            for proc in self.procs:
                proc.kill()
            with trio.move_on_after(EXIT_TIMEOUT):
                for proc in self.procs:
                    await proc.process.wait()
            for proc in self.procs:
                if proc.process.stdin is not None:
                    await proc.process.stdin.aclose()


@pytest.fixture
async def launcher() -> AsyncIterator[Launcher]:
    async with trio.open_nursery() as nursery:
        launch = Launcher(nursery)
        try:
            yield launch
        finally:
            await launch.aclose()
            nursery.cancel_scope.cancel()
