"""The implementation under test as a child process: placeholders filled,
output kept (the tail goes into the report), stdin for console commands."""

from __future__ import annotations

import os
import signal
import subprocess
from collections import deque
from collections.abc import Callable, Sequence

import trio

TAIL = 40  # output lines kept per stream for the report
KILL_GRACE = 2.0  # seconds between SIGTERM and SIGKILL


def fill(command: Sequence[str], values: dict[str, str]) -> list[str]:
    """``command`` with each ``{name}`` replaced; other braces stay as typed."""
    filled = []
    for word in command:
        for name, value in values.items():
            word = word.replace("{" + name + "}", value)
        filled.append(word)
    return filled


class Child:
    def __init__(self, name: str, command: list[str], on_exit: Callable[[], None]) -> None:
        self.name = name
        self._on_exit = on_exit
        self.command = command
        self.process: trio.Process | None = None
        self.out: deque[str] = deque(maxlen=TAIL)
        self.err: deque[str] = deque(maxlen=TAIL)
        self.exited = trio.Event()
        self.start_error: str | None = None

    async def start(self, nursery: trio.Nursery) -> bool:
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        try:
            self.process = await trio.lowlevel.open_process(
                self.command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                start_new_session=True,
            )
        except OSError as exc:
            self.start_error = f"cannot start {self.command[0]!r}: {exc}"
            self.exited.set()
            return False
        assert self.process.stdout is not None and self.process.stderr is not None
        nursery.start_soon(self._collect, self.process.stdout, self.out)
        nursery.start_soon(self._collect, self.process.stderr, self.err)
        nursery.start_soon(self._wait)
        return True

    async def _collect(self, stream: trio.abc.ReceiveStream, lines: deque[str]) -> None:
        pending = b""
        try:
            while chunk := await stream.receive_some(65536):
                pending += chunk
                *whole, pending = pending.split(b"\n")
                lines.extend(w.decode("utf-8", "replace") for w in whole)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        if pending:
            lines.append(pending.decode("utf-8", "replace"))

    async def _wait(self) -> None:
        assert self.process is not None
        await self.process.wait()
        self.exited.set()
        self._on_exit()

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @property
    def returncode(self) -> int | None:
        return self.process.returncode if self.process is not None else None

    async def type(self, line: str) -> bool:
        """Write ``line`` to the child's stdin (a console command)."""
        if self.process is None or self.process.stdin is None:
            return False
        try:
            await self.process.stdin.send_all(line.encode() + b"\n")
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return False
        return True

    async def stop(self) -> None:
        """End the child and everything it started (its own process group)."""
        process = self.process
        if process is None or self.exited.is_set():
            return
        for sig, wait in ((signal.SIGTERM, KILL_GRACE), (signal.SIGKILL, KILL_GRACE)):
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                return
            with trio.move_on_after(wait):
                await self.exited.wait()
                return

    def tail(self) -> dict[str, list[str]]:
        return {"stdout": list(self.out), "stderr": list(self.err)}
