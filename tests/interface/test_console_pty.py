"""The consoles as a person meets them: driven through a pseudo-terminal
(the standard library's pty) so that readline is active, as at a real
terminal. Prompt, typo suggestions, history (up arrow), completion (Tab),
Ctrl-D, and an interactive run that leaves its final table and verdict
before the next prompt."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from typing import TYPE_CHECKING

import trio

if TYPE_CHECKING:
    from conftest import Launcher

TIMEOUT = 15.0
RUN_TIMEOUT = 60.0
ESCAPES = re.compile(r"\x1b(\[[0-9;?]*[A-Za-z]|[()][0-9A-B]|[=>])")
UP = b"\x1b[A"
TAB = b"\t"
CTRL_D = b"\x04"
ERASE_LINE = "\x1b[2K"


class Terminal:
    """A program on the slave side of a pty; what it writes, as text."""

    def __init__(self, process: trio.Process, master: int) -> None:
        self.process = process
        self.master = master
        self.raw = ""
        self._stream = trio.lowlevel.FdStream(master)

    @property
    def text(self) -> str:
        """The output without escape sequences and carriage returns."""
        return ESCAPES.sub("", self.raw).replace("\r", "")

    async def send(self, data: bytes) -> None:
        with trio.fail_after(TIMEOUT):
            await self._stream.send_all(data)

    async def wait_for(self, pattern: str, count: int = 1, timeout: float = TIMEOUT) -> None:
        regex = re.compile(pattern)
        try:
            with trio.fail_after(timeout):
                while len(regex.findall(self.text)) < count:
                    try:
                        chunk = await self._stream.receive_some(65536)
                    except OSError:  # EIO: the program closed the terminal
                        chunk = b""
                    if not chunk:
                        raise AssertionError(f"ended without {pattern!r}:\n{self.text}")
                    self.raw += chunk.decode(errors="replace")
        except trio.TooSlowError:
            raise AssertionError(f"no {pattern!r} within {timeout:g} s:\n{self.text}") from None

    async def read_to_end(self) -> None:
        """Everything the program writes until it closes the terminal."""
        with trio.fail_after(TIMEOUT):
            while True:
                try:
                    chunk = await self._stream.receive_some(65536)
                except (OSError, trio.BrokenResourceError):  # EIO: closed
                    return
                if not chunk:
                    return
                self.raw += chunk.decode(errors="replace")

    async def aclose(self) -> None:
        with trio.CancelScope(shield=True):
            if self.process.returncode is None:
                self.process.kill()
            with trio.move_on_after(5):
                await self.process.wait()
            await self._stream.aclose()


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    for name in ("FORCE_COLOR", "TTY_INTERACTIVE", "TTY_COMPATIBLE", "COLUMNS", "LINES"):
        env.pop(name, None)
    return env


async def open_terminal(*args: str, columns: int = 80, rows: int = 24) -> Terminal:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    env = child_env() | {"TERM": "xterm-256color"}
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "trio_dht", *args],
        stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True,
    )  # fmt: skip
    os.close(slave)
    return Terminal(process, master)


async def test_registry_prompt_suggestions_history_completion_and_ctrl_d() -> None:
    term = await open_terminal("registry", "0", "--host", "127.0.0.1")
    try:
        await term.wait_for(r"Type 'help' for the commands\.\nregistry> ")

        # A prompt follows each answer (the output of other events redraws
        # it too, so each wait names what precedes it).
        await term.send(b"lst\r")
        suggestion = r"Unknown command 'lst'; did you mean 'list'\? Type 'help' for the list\."
        await term.wait_for(suggestion + r"\nregistry> ")

        # The up arrow recalls the last line: the same answer again, and no
        # raw escape sequence taken for a command.
        await term.send(UP + b"\r")
        await term.wait_for(suggestion + r"\nregistry> ", count=2)
        assert "^[[A" not in term.text and "Unknown command '\\x1b" not in term.text

        # Tab completes a command name.
        await term.send(b"rou" + TAB)
        await term.wait_for(r"registry> route ")
        await term.send(b"\r")
        await term.wait_for(r"error: no overlay is set up now[^\n]*\nregistry> ")

        # Ctrl-D says what happens, then the registry exits like 'exit'.
        await term.send(CTRL_D)
        await term.wait_for(r"End of input \(Ctrl-D\): leaving, as 'exit' does\.")
        with trio.fail_after(TIMEOUT):
            assert await term.process.wait() == 0
    finally:
        await term.aclose()


async def test_interactive_run_leaves_table_and_verdict_before_the_next_prompt(
    launcher: Launcher,
) -> None:
    term = await open_terminal("registry", "0", "--host", "127.0.0.1")
    node_term: Terminal | None = None
    try:
        await term.wait_for(r"Registry listening on port \d+")
        port = int(re.findall(r"Registry listening on port (\d+)", term.text)[0])
        node_term = await open_terminal("node", f"127.0.0.1:{port}")
        await node_term.wait_for(r"node \d+> ")  # the node's prompt names it
        await launcher.nodes(port, 3, stdin=subprocess.DEVNULL)
        await term.wait_for(r"Registered node \d+[^\n]*\(4 nodes\)\.?\nregistry> ")

        await term.send(b"setup\r")
        await term.wait_for(r"NR 2: the largest valid for 4 nodes, at most 3\.")
        await term.wait_for(r"Registry now ready to initiate tasks\.\nregistry> ")
        await term.send(b"start 20000\r")
        verdict_then_prompt = r"CORRECT: 80000 sent[^\n]*\nregistry> "
        await term.wait_for(verdict_then_prompt, timeout=RUN_TIMEOUT)
        text = term.text
        typed = text.rindex("registry> start 20000")
        table = text.index("trio_dht registry ·", typed)
        total = text.index("total", table)
        verdict = text.index("CORRECT: 80000 sent", total)
        prompt = text.index("registry> ", verdict)
        # In order: the command, the live/final table with its totals, the
        # verdict, and only then the next prompt.
        assert typed < table < total < verdict < prompt
        assert "registry> " not in text[typed + 10 : verdict]
        # The final table (printed whole once the live view is gone) fits.
        final = text.rindex("trio_dht registry ·", table, verdict)
        assert "finished" in text[final : text.index("\n", final)]
        assert all(len(line) <= 80 for line in text[final:verdict].splitlines())
        await term.send(b"exit\r")
        with trio.fail_after(TIMEOUT):
            assert await term.process.wait() == 0
    finally:
        await term.aclose()
        if node_term is not None:
            await node_term.aclose()


async def test_abort_typed_during_a_run_ends_it_with_its_verdict(launcher: Launcher) -> None:
    term = await open_terminal("registry", "0", "--host", "127.0.0.1")
    try:
        await term.wait_for(r"Registry listening on port \d+")
        port = int(re.findall(r"Registry listening on port (\d+)", term.text)[0])
        await launcher.nodes(port, 3, stdin=subprocess.DEVNULL)
        await term.wait_for(r"\(3 nodes\)\.?\nregistry> ")
        await term.send(b"setup\r")
        await term.wait_for(r"Registry now ready to initiate tasks\.\nregistry> ")
        # Far more than the test waits for: only 'abort' can end it in time.
        await term.send(b"start 2000000000\r")  # more than a counter holds: refused
        await term.wait_for(r"more than\s+a counter of this wire dialect holds")
        await term.send(b"start 20000000\r")
        await term.wait_for(r"delivered")
        await term.send(b"abort\r")
        await term.wait_for(r"INCORRECT: [^\n]*the run was aborted[^\n]*\n", timeout=RUN_TIMEOUT)
        await term.wait_for(r"registry> ", count=5)
        await term.send(b"exit\r")
        with trio.fail_after(TIMEOUT):
            assert await term.process.wait() == 0
    finally:
        await term.aclose()


async def test_ctrl_c_mid_run_leaves_the_table_where_it_stood() -> None:
    term = await open_terminal("demo", "--packets", "5000000")
    try:
        await term.wait_for(r"delivered \([1-9]\d*%\)", timeout=RUN_TIMEOUT)
        os.killpg(term.process.pid, 2)  # Ctrl-C reaches the terminal's process group
        with trio.fail_after(TIMEOUT):
            assert await term.process.wait() == 130
        await term.read_to_end()
        assert "Interrupted" in term.text
        # The live table is transient: stopping it erases its lines. What the
        # person sees at the end is what was written after the last erase,
        # and that must be the table, every node's row and the totals.
        shown = ESCAPES.sub("", term.raw.rsplit(ERASE_LINE, 1)[1]).replace("\r", "")
        rows = re.findall(r"(?m)^\s+\d+\s+[\d,]+\s+[\d,]+\s+[\d,]+", shown)
        assert len(rows) == 10 and re.search(r"(?m)^total\s+[\d,]+", shown), shown
    finally:
        await term.aclose()
