"""How services tell their user what happens, without knowing how it is shown."""

from __future__ import annotations

from collections.abc import Callable

import trio

from trio_dht.services.report import RunResult


class Observer:
    """Receives a service's user-facing events.

    The interface layer subclasses this to print, log or draw a live table;
    the default keeps the lines, which is what tests want.
    """

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.results: list[RunResult] = []

    def say(self, text: str) -> None:
        """A line for the user's console (protocol events, refusals)."""
        self.lines.append(text)

    def run_finished(self, result: RunResult) -> None:
        """A run ended and every summary is in (or given up on)."""
        self.results.append(result)

    def changed(self) -> None:
        """Counters or node states changed (for live views); cheap, may be
        called often."""


class WatchingObserver(Observer):
    """An Observer that a task can wait on: ``wait_until(condition)`` returns
    once ``condition()`` holds, checked again each time the service calls
    ``changed``. The registry calls it after every event it handles; a node
    after every control event and when it accepts a connection, but not per
    data packet (its counters move without it)."""

    def __init__(self) -> None:
        super().__init__()
        self._change = trio.Event()

    def changed(self) -> None:
        self._change.set()
        self._change = trio.Event()

    async def wait_until(self, condition: Callable[[], bool]) -> None:
        while not condition():
            await self._change.wait()
