"""How services tell their user what happens, without knowing how it is shown."""

from __future__ import annotations

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
