"""The live traffic view during a run.

On a capable terminal (not a pipe, not TERM=dumb) a rich ``Live`` redraws
the table (see live_table.py) a few times a second on stderr while the run
goes on; everything else printed meanwhile scrolls above it. When the run
ends the live region is cleared and the final table is printed in its
place, whole, so it stays in the scrollback in order, before whatever
comes next (the verdict, the next prompt).

Elsewhere (pipes, CI, TERM=dumb) the view prints a plain progress line
every ``plain_interval`` seconds during the run: no escape codes.
"""

from __future__ import annotations

import logging
from typing import Any

import trio
from rich.live import Live

from trio_dht.interface.console import no_echo
from trio_dht.interface.live_table import LiveTable, compact
from trio_dht.interface.live_view import LiveRow, LiveSnapshot, TrafficView
from trio_dht.interface.screen import ConsoleObserver, Screen, capable

__all__ = ["LiveDisplay", "LiveRow", "LiveSnapshot", "TrafficView", "progress_line"]

log = logging.getLogger(__name__)

REFRESH_PER_SECOND = 4.0
# Without a capable terminal: one progress line per this many seconds.
PLAIN_INTERVAL = 1.0


def progress_line(snap: LiveSnapshot) -> str:
    """The plain progress line (no escape codes): packets delivered so far,
    the time, the average delivery rate, how many nodes are in each state."""
    if snap.expected is None:
        return f"{snap.phase}: {snap.nodes} nodes"
    share = 100 * snap.received / snap.expected if snap.expected else 100.0
    states = ", ".join(f"{n} {state}" for state, n in snap.states().items())
    return (
        f"progress: {snap.received:,}/{snap.expected:,} delivered ({share:.1f}%), "
        f"{snap.elapsed or 0.0:.1f} s, {compact(snap.rate)}/s; {states}"
    )


class LiveDisplay:
    """Shows a TrafficView on a Screen while a run goes on."""

    def __init__(
        self,
        view: TrafficView,
        screen: Screen,
        observer: ConsoleObserver | None = None,
        *,
        refresh_per_second: float = REFRESH_PER_SECOND,
        plain_interval: float = PLAIN_INTERVAL,
    ) -> None:
        self.view = view
        self.screen = screen
        self.observer = observer
        self.table = LiveTable(view.title, view.wire)
        self.period = 1.0 / refresh_per_second
        self.plain_interval = plain_interval
        # The final table was drawn on a terminal the person also sees
        # stdout on: the stdout summary need not repeat it.
        self.drew_final_table = False

    @property
    def console(self) -> Any:
        return self.screen.err

    @property
    def interactive(self) -> bool:
        """True when drawing a live table (stderr is a capable terminal)."""
        return capable(self.screen.err)

    async def follow(self, run: Any) -> None:
        """Show the run until it is done (its ``done`` event is set)."""
        self.drew_final_table = False
        if self.screen.quiet:
            await run.done.wait()
            return
        if self.interactive:
            await self._follow_live(run)
        else:
            await self._follow_plain(run)

    async def _follow_live(self, run: Any) -> None:
        console = self.screen.err
        self.view.update()
        live = Live(
            self.table.frame(self.view.snapshot),
            console=console,
            auto_refresh=False,  # refreshed from this task: no thread reads the registry
            transient=True,  # replaced by the whole final table when it stops
            redirect_stdout=False,
            redirect_stderr=False,
            vertical_overflow="crop",
        )
        log.debug("live table on a %dx%d terminal", console.width, console.height)
        try:
            with no_echo(), live:
                self.screen.live_console = console
                try:
                    while not run.done.is_set():
                        with trio.move_on_after(self.period):
                            await run.done.wait()
                        self.view.update()
                        live.update(self.table.frame(self.view.snapshot), refresh=True)
                finally:
                    self.screen.live_console = None
        finally:
            # The transient live table is gone: leave the whole table behind,
            # also when the run was interrupted (Ctrl-C), so the screen shows
            # where it stood rather than nothing.
            self.view.update()
            self.screen.show(self.table.frame(self.view.snapshot, fit_height=False))
            self.drew_final_table = True

    async def _follow_plain(self, run: Any) -> None:
        while not run.done.is_set():
            with trio.move_on_after(self.plain_interval):
                await run.done.wait()
            if not run.done.is_set():
                self.screen.say(progress_line(self.view.update()))
