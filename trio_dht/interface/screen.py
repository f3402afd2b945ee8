"""Where a program's output goes.

Results (a run's summary in the chosen format, its verdict, what a typed
command asked for) go to stdout; everything else (banners, registrations,
progress, the live table, logs, errors) goes to stderr. So
``... --summary json > out.json`` leaves exactly one document in the file
and the person still sees what happens.

Everything is printed through one ``Screen`` so that a prompt waiting for
input is taken off its line first and put back after (output never lands
in the middle of what is being typed), and so that ``-q`` / ``-v`` decide
in one place what is shown.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol, TextIO

from rich.console import Console, RenderableType
from rich.text import Text

from trio_dht.interface.logsink import AggregatingHandler, LogSink
from trio_dht.interface.nonblocking_stream import NonBlockingStream, nonblocking
from trio_dht.services.observer import Observer
from trio_dht.services.report import RunResult

# Not a terminal: wide enough that no table is cut (files and pipes have no
# width; a reader's editor wraps if it must).
PIPE_WIDTH = 200

LOG_STYLES = {
    logging.DEBUG: "dim",
    logging.INFO: "",
    logging.WARNING: "yellow",
    logging.ERROR: "bold red",
    logging.CRITICAL: "bold red",
}


class PromptLine(Protocol):
    """A prompt on screen waiting for input (see console.CommandReader)."""

    def hide(self) -> None: ...

    def show(self) -> None: ...


def make_console(stream: TextIO | None = None) -> Console:
    """A console on ``stream`` (stdout by default): the terminal's width on a
    terminal, PIPE_WIDTH and no escape codes elsewhere."""
    file = stream if stream is not None else sys.stdout
    console = Console(file=file, highlight=False)
    if not console.is_terminal:
        console = Console(file=file, highlight=False, width=PIPE_WIDTH, no_color=True)
    return console


def capable(console: Console) -> bool:
    """A terminal that can redraw a table in place (not a pipe, not TERM=dumb)."""
    return console.is_terminal and not console.is_dumb_terminal


class Screen:
    """stdout for results, stderr for the rest, at one verbosity.

    ``verbosity``: -1 (``-q``: results and errors only), 0 (default: events
    and warnings), 1 (``-v``: info logs), 2 (``-vv``: debug logs). Giving
    one console for both streams (tests do) keeps everything in order in it.
    """

    def __init__(self, out: Console, err: Console | None = None, *, verbosity: int = 0) -> None:
        self.out = out
        self.err = err if err is not None else out
        self.verbosity = verbosity
        # Set by a command reader while its prompt waits for input.
        self.prompt: PromptLine | None = None
        # Set while a live table owns the bottom of the terminal: printing
        # goes through its console so it scrolls above the table.
        self.live_console: Console | None = None

    @classmethod
    def standard(cls, verbosity: int = 0) -> Screen:
        err: TextIO = sys.stderr
        if err is sys.__stderr__ and not err.isatty():
            # A pipe nobody reads must not stop the service (nonblocking_stream).
            err = nonblocking(err)
        return cls(make_console(sys.stdout), make_console(err), verbosity=verbosity)

    @property
    def quiet(self) -> bool:
        return self.verbosity < 0

    @property
    def same_terminal(self) -> bool:
        """stdout and stderr both show on a terminal (a person sees both)."""
        return self.out.is_terminal and self.err.is_terminal

    @contextmanager
    def _above_prompt(self) -> Iterator[None]:
        prompt = self.prompt
        if prompt is not None:
            prompt.hide()
        try:
            yield
        finally:
            if prompt is not None:
                prompt.show()

    def _print(self, console: Console, item: RenderableType, style: str = "") -> None:
        if self.live_console is not None and console.is_terminal:
            console = self.live_console
        with self._above_prompt():
            if isinstance(item, str):
                # A terminal wraps prose between words; a file or pipe gets
                # each line whole (scripts read lines).
                console.print(Text(item, style=style), soft_wrap=not console.is_terminal)
            else:
                console.print(item)

    # --- stdout --------------------------------------------------------

    def result(self, item: RenderableType) -> None:
        """A result: the summary, the verdict, a command's answer."""
        self._print(self.out, item)

    def raw_result(self, text: str) -> None:
        """A machine-readable result, written as it is (no wrapping, no
        markup, no escape codes)."""
        with self._above_prompt():
            self.out.file.write(text if text.endswith("\n") else text + "\n")
            self.out.file.flush()

    # --- stderr --------------------------------------------------------

    def say(self, text: str, style: str = "") -> None:
        """An event worth a line (registrations, setup, progress)."""
        if not self.quiet:
            self._print(self.err, text, style)

    def show(self, item: RenderableType) -> None:
        """A renderable on stderr (a final live table)."""
        if not self.quiet:
            self._print(self.err, item)

    def error(self, text: str) -> None:
        """A problem; shown even with -q."""
        self._print(self.err, text, "bold red" if self.err.is_terminal else "")

    def log(self, level: int, text: str) -> None:
        self._print(self.err, text, LOG_STYLES.get(level, ""))


# One time format everywhere: 24-hour clock, no date.
LOG_FORMAT = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S")


class ScreenLogHandler(logging.Handler):
    """Log records as plain lines through the Screen: one time format
    (HH:MM:SS, 24 h), the level, the module, the message."""

    def __init__(self, screen: Screen) -> None:
        super().__init__()
        self.screen = screen
        self.setFormatter(LOG_FORMAT)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.screen.log(record.levelno, self.format(record))
        except Exception:  # noqa: BLE001 - logging must never raise
            self.handleError(record)


def setup_logging(screen: Screen) -> None:
    """-q: errors only; default: warnings; -v: info; -vv: debug."""
    level = {-1: logging.ERROR, 0: logging.WARNING, 1: logging.INFO}.get(
        max(-1, min(screen.verbosity, 2)), logging.DEBUG
    )
    lines = ScreenLogHandler(screen)
    # A flood of one kind is one line per interval, on a terminal too.
    handler: logging.Handler = AggregatingHandler(lines)
    if isinstance(screen.err.file, NonBlockingStream):
        # A pipe nobody reads must not stop the service: see logsink.
        handler = LogSink(lines)
    logging.basicConfig(level=level, handlers=[handler], force=True)
    # basicConfig gave the sink (and so the lines) its default format.
    lines.setFormatter(LOG_FORMAT)


class ConsoleObserver(Observer):
    """A service's events on the Screen (stderr)."""

    def __init__(
        self, screen: Screen, on_result: Callable[[RunResult], None] | None = None
    ) -> None:
        super().__init__()
        self.screen = screen
        self._on_result = on_result
        # Raised by changed(); a live view polls and lowers it.
        self.dirty = True
        # Set while the program shuts down: the nodes it closes itself are
        # not news.
        self.muted = False

    @property
    def console(self) -> Console:
        return self.screen.err

    def say(self, text: str) -> None:
        if not self.muted:
            self.screen.say(text)

    def show(self, renderable: RenderableType) -> None:
        self.screen.show(renderable)

    def run_finished(self, result: RunResult) -> None:
        super().run_finished(result)
        if self._on_result is not None:
            self._on_result(result)

    def changed(self) -> None:
        # Called on every counter or state change: only raise a flag.
        self.dirty = True
