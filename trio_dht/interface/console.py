"""The command console shared by the registry and node programs: a prompt,
line editing and history (the standard library's readline) when a person
types at a terminal, plain line reading when commands are piped in;
completion of command names, suggestions for typos, and signals.

Lines are read by a worker thread: putting stdin in non-blocking mode for
trio would also make the shared terminal non-blocking for the writes.
"""

from __future__ import annotations

import difflib
import io
import os
import shutil
import signal
import sys
import textwrap
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import attrs
import trio

from trio_dht.interface.exit_codes import SIGNAL_EXIT
from trio_dht.interface.screen import Screen

try:  # absent on some platforms (Windows); then no line editing
    import termios
except ImportError:  # pragma: no cover
    termios = None  # type: ignore[assignment]

__all__ = [
    "SIGNAL_EXIT",
    "Command",
    "CommandReader",
    "is_terminal",
    "no_echo",
    "parse_int",
    "stdin_is_terminal",
    "suggest",
    "watch_signals",
]


@attrs.frozen
class Command:
    """One console command: its name, short forms, arguments and help."""

    name: str
    aliases: tuple[str, ...] = ()
    args: str = ""
    help: str = ""

    @property
    def words(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


def help_text(commands: Sequence[Command], width: int | None = None) -> str:
    """The 'help' answer: one line per command, its short forms, what it
    does; descriptions wrap to ``width`` (the terminal's by default)."""
    width = width if width is not None else shutil.get_terminal_size().columns - 2
    rows = []
    for command in commands:
        names = " | ".join(f"{word} {command.args}".rstrip() for word in command.words)
        rows.append((names, command.help))
    left = max(len(names) for names, _ in rows) + 4
    lines = ["Commands:"]
    for names, text in rows:
        wrapped = textwrap.wrap(text, max(20, width - left)) or [""]
        lines.append(f"  {names:<{left - 4}}  {wrapped[0]}")
        lines.extend(" " * left + more for more in wrapped[1:])
    return "\n".join(lines)


def find_command(commands: Sequence[Command], word: str) -> Command | None:
    for command in commands:
        if word in command.words:
            return command
    return None


def suggest(commands: Sequence[Command], word: str) -> str:
    """What to say about an unknown command (a close match if there is one)."""
    words = [w for c in commands for w in c.words]
    close = difflib.get_close_matches(word, words, n=1, cutoff=0.6)
    if close:
        return f"Unknown command {word!r}; did you mean {close[0]!r}? Type 'help' for the list."
    return f"Unknown command {word!r}; type 'help' for the list."


def is_terminal(stream: Any) -> bool:
    try:
        return stream is not None and not stream.closed and bool(stream.isatty())
    except (OSError, ValueError, AttributeError):
        return False


def stdin_is_terminal() -> bool:
    """stdin is an open terminal (a person may type; the terminal echoes)."""
    return is_terminal(sys.stdin)


@contextmanager
def no_echo() -> Iterator[None]:
    """Keys typed while a live table is drawn are not echoed into it (they
    are read after the run, at the next prompt). A no-op off a terminal."""
    if termios is None or not stdin_is_terminal():
        yield
        return
    fd = sys.stdin.fileno()
    try:
        saved = termios.tcgetattr(fd)
    except termios.error:
        yield
        return
    quiet = list(saved)
    quiet[3] = quiet[3] & ~termios.ECHO
    termios.tcsetattr(fd, termios.TCSANOW, quiet)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSANOW, saved)


class _ReadlinePrompt:
    """The readline prompt on stdout (a terminal) while input is awaited."""

    def __init__(self, text: str, readline: Any) -> None:
        self.text = text
        self._readline = readline

    def hide(self) -> None:
        sys.stdout.write("\r\x1b[2K")
        sys.stdout.flush()

    def show(self) -> None:
        sys.stdout.write(self.text + self._readline.get_line_buffer())
        sys.stdout.flush()


class _PlainPrompt:
    """A prompt written to stderr (stdin is a terminal, stdout is not)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def hide(self) -> None:
        sys.stderr.write("\r\x1b[2K")
        sys.stderr.flush()

    def show(self) -> None:
        sys.stderr.write(self.text)
        sys.stderr.flush()


class CommandReader:
    """Reads commands until end of input.

    ``prompt`` gives the prompt text (it may change: a node's id is known
    only once it registered). At a terminal, end of input (Ctrl-D) runs
    ``on_terminal_eof``; from a pipe or file it runs ``on_pipe_eof``. Each
    says what happens next.
    """

    def __init__(
        self,
        screen: Screen,
        commands: Sequence[Command],
        prompt: Callable[[], str],
        *,
        on_terminal_eof: Callable[[], Awaitable[None]],
        on_pipe_eof: Callable[[], Awaitable[None]],
    ) -> None:
        self.screen = screen
        self.commands = commands
        self.prompt = prompt
        self.on_terminal_eof = on_terminal_eof
        self.on_pipe_eof = on_pipe_eof
        self._readline: Any = None
        self._saved_tty: Any = None

    @property
    def mode(self) -> str:
        """readline (stdin and stdout terminals), terminal (stdin only) or pipe."""
        if not stdin_is_terminal():
            return "pipe"
        return "readline" if is_terminal(sys.stdout) else "terminal"

    def _complete(self, text: str, state: int) -> str | None:
        readline = self._readline
        if readline.get_begidx() != 0:
            return None  # only the command word is completed
        matches = sorted(w + " " for c in self.commands for w in c.words if w.startswith(text))
        return matches[state] if state < len(matches) else None

    def _setup_readline(self) -> None:
        import readline

        self._readline = readline
        readline.set_completer(self._complete)
        readline.set_completer_delims(" \t")
        if "libedit" in (readline.__doc__ or ""):
            readline.parse_and_bind("bind ^I rl_complete")
        else:
            readline.parse_and_bind("tab: complete")

    async def run(self, handle: Callable[[str], Awaitable[None]]) -> None:
        stream = sys.stdin
        if stream is None or stream.closed:
            await self.on_pipe_eof()
            return
        if isinstance(stream, io.TextIOWrapper):
            # A stray non-UTF-8 byte must make an unknown command, not a
            # UnicodeDecodeError (a ValueError) that silently ends the console.
            stream.reconfigure(errors="replace")
        mode = self.mode
        if mode != "pipe" and termios is not None:
            try:
                self._saved_tty = termios.tcgetattr(stream.fileno())
            except (termios.error, OSError, ValueError):
                self._saved_tty = None
        if mode == "readline":
            self._setup_readline()
        try:
            while True:
                line = await self._read_line(mode)
                if line is None:
                    if mode == "pipe":
                        await self.on_pipe_eof()
                    else:
                        await self.on_terminal_eof()
                    return
                line = line.strip()
                if line:
                    await handle(line)
        finally:
            self.screen.prompt = None
            self._restore_terminal()

    async def _read_line(self, mode: str) -> str | None:
        """One line, or None at end of input."""
        if mode == "readline":
            text = self.prompt()
            shown = _ReadlinePrompt(text, self._readline)
            self.screen.prompt = shown
            try:
                return await trio.to_thread.run_sync(input, text, abandon_on_cancel=True)
            except EOFError:
                sys.stdout.write("\n")
                return None
            except (OSError, ValueError):
                return None
            except trio.Cancelled:
                # The program ends while the prompt waits (a signal, the
                # registry gone): take the prompt off its line, or the
                # shell's prompt would follow ours on it.
                shown.hide()
                raise
            finally:
                self.screen.prompt = None
        prompt = None
        if mode == "terminal":
            prompt = _PlainPrompt(self.prompt())
            prompt.show()
            self.screen.prompt = prompt
        try:
            line = await trio.to_thread.run_sync(sys.stdin.readline, abandon_on_cancel=True)
        except (OSError, ValueError):
            return None
        except trio.Cancelled:
            if prompt is not None:
                prompt.hide()  # as above
            raise
        finally:
            self.screen.prompt = None
        return line if line else None

    def _restore_terminal(self) -> None:
        """Leaving while readline waits for a key must not leave the terminal
        without echo: put back the settings found at the start."""
        if self._saved_tty is None or termios is None:
            return
        try:
            termios.tcsetattr(sys.stdin.fileno(), termios.TCSANOW, self._saved_tty)
        except (termios.error, OSError, ValueError):
            pass


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


async def watch_for_abort(
    abort: Callable[[str, list[str]], Awaitable[None]], say: Callable[[str], None]
) -> None:
    """While a run is shown on a terminal the console waits for it; a typed
    'abort' (the only command taken then) ends the run. Only for a terminal:
    piped commands after 'start' wait their turn instead of being read here."""
    fd = sys.stdin.fileno()
    pending = b""
    while True:
        await trio.lowlevel.wait_readable(fd)
        chunk = os.read(fd, 1024)
        if not chunk:
            return
        pending += chunk
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            if line.strip().lower() == b"abort":
                await abort("abort", [])
            elif line.strip():
                say("During a run only 'abort' is taken (Ctrl-C exits).")
