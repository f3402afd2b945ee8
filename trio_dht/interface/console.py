"""Console plumbing shared by the registry and node programs: reading
commands, printing, logging, signals."""

from __future__ import annotations

import io
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

import trio
from rich.console import Console, RenderableType
from rich.logging import RichHandler

from trio_dht.services.observer import Observer
from trio_dht.services.report import RunResult

# The exit statuses a shell gives to processes ended by these signals.
SIGNAL_EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143}


def make_console() -> Console:
    """stdout console; plain and wide enough for tables when not a terminal."""
    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=max(console.width, 120), no_color=True)
    return console


def setup_logging(verbosity: int, console: Console) -> None:
    """-q (-1): errors only; default (0): warnings; -v: info; -vv: debug.

    Logs go to stderr so stdout stays parseable."""
    level = {-1: logging.ERROR, 0: logging.WARNING, 1: logging.INFO}.get(
        max(-1, min(verbosity, 2)), logging.DEBUG
    )
    err = Console(stderr=True, highlight=False)
    handler: logging.Handler
    if err.is_terminal:
        handler = RichHandler(console=err, show_path=False, rich_tracebacks=False)
        # RichHandler draws the time and level itself (without a formatter
        # basicConfig would add "LEVEL:name:" again).
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler], force=True)


@contextmanager
def logs_through(console: Console) -> Iterator[None]:
    """While a live display owns the terminal, draw rich log records with its
    console so they scroll above the display instead of tearing it."""
    swapped: list[tuple[RichHandler, Console]] = []
    if console.is_terminal:
        for handler in logging.getLogger().handlers:
            if isinstance(handler, RichHandler) and handler.console.is_terminal:
                swapped.append((handler, handler.console))
                handler.console = console
    try:
        yield
    finally:
        for handler, previous in swapped:
            handler.console = previous


class ConsoleObserver(Observer):
    """Prints a service's events on the console."""

    def __init__(self, console: Console, on_result: Callable[[RunResult], None] | None = None) -> None:
        super().__init__()
        self.console = console
        self._on_result = on_result
        # Raised by changed(); a live view polls and lowers it.
        self.dirty = True

    def say(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False, soft_wrap=True)

    def show(self, renderable: RenderableType) -> None:
        self.console.print(renderable)

    def run_finished(self, result: RunResult) -> None:
        super().run_finished(result)
        if self._on_result is not None:
            self._on_result(result)

    def changed(self) -> None:
        # Called on every counter or state change: only raise a flag.
        self.dirty = True


def stdin_is_terminal() -> bool:
    """stdin is an open terminal (a person may type; the terminal echoes)."""
    stream = sys.stdin
    try:
        return stream is not None and not stream.closed and stream.isatty()
    except (OSError, ValueError):
        return False


async def read_commands(handle: Callable[[str], Awaitable[None]]) -> None:
    """Feed each non-empty stdin line to ``handle`` until end of input.

    Lines are read by a worker thread: putting stdin in non-blocking mode for
    trio would also make the shared terminal non-blocking for rich's writes.
    At end of input this returns (it never spins); the caller keeps running.
    """
    stream = sys.stdin
    if stream is None or stream.closed:
        return
    if isinstance(stream, io.TextIOWrapper):
        # A stray non-UTF-8 byte must make an unknown command, not a
        # UnicodeDecodeError (a ValueError) that silently ends the console.
        stream.reconfigure(errors="replace")
    while True:
        try:
            line = await trio.to_thread.run_sync(stream.readline, abandon_on_cancel=True)
        except (OSError, ValueError):
            return
        if not line:
            return
        line = line.strip()
        if line:
            await handle(line)


async def watch_signals(
    on_signal: Callable[[int], Awaitable[None]],
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Turn SIGINT/SIGTERM into a call of ``on_signal`` (a clean shutdown,
    not a KeyboardInterrupt traceback)."""
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        task_status.started()
        async for signum in signals:
            await on_signal(signum)
            return


def parse_int(text: str, what: str, low: int, high: int) -> int:
    """A console argument as an int in [low, high]; ValueError with a one-line
    explanation otherwise."""
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{what} must be a whole number, not {text!r}") from None
    if not low <= value <= high:
        raise ValueError(f"{what} must be between {low} and {high}, not {value}")
    return value
