"""``trio_dht registry``: the registry program with its console.

Interactive: commands typed at the ``registry> `` prompt (or piped in).
Unattended (``--start N``): waits for ``--nodes``, sets up the overlay,
runs, prints the result and exits with a status that says whether the
totals were correct; stdin is not read.
"""

from __future__ import annotations

import argparse
import logging
import math
import random
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import trio
from rich.console import Console, RenderableType

from trio_dht.interface import exit_codes
from trio_dht.interface.console import (
    Command,
    CommandReader,
    find_command,
    help_text,
    parse_int,
    suggest,
    watch_for_abort,
    watch_signals,
)
from trio_dht.interface.figure_options import console_path, run_figure_lines
from trio_dht.interface.live import LiveDisplay, TrafficView
from trio_dht.interface.options import default_nr
from trio_dht.interface.render import (
    error_json,
    node_list_table,
    own_command,
    plain_text,
    routing_tables_table,
    run_details,
)
from trio_dht.interface.screen import (
    ConsoleObserver,
    Screen,
    make_console,
    setup_logging,
)
from trio_dht.interface.service_config import registry_config
from trio_dht.interface.summary_formats import document, result_block
from trio_dht.services.registry import CommandError, Registry
from trio_dht.services.report import RunResult
from trio_dht.wire import get_dialect

log = logging.getLogger(__name__)

COMMANDS: tuple[Command, ...] = (
    Command("list-messaging-nodes", ("list",), "", "one line per node: host, port, id, state"),
    Command("setup-overlay", ("setup",), "[NR]",
            "send the routing tables (no NR: the largest valid, at most 3)"),
    Command("list-routing-tables", ("route",), "", "each node's routing table"),
    Command("start", (), "N", "every node sends N packets; progress, then the summary"),
    Command("abort", (), "", "end the run that is waiting (typed during a run on a terminal)"),
    Command("path", (), "SRC DST", "the route from SRC to DST: each hop and why"),
    Command("figure", (), "FILE", "draw the last run to FILE (.svg/.png): ring, relays, load"),
    Command("exit", ("quit",), "", "leave (nodes see the registry go)"),
    Command("help", (), "", "this text"),
)  # fmt: skip
HELP = help_text(COMMANDS)

Handler = Callable[[str, list[str]], Awaitable[None]]


def as_screen(console: Console | Screen | None, verbosity: int = 0) -> Screen:
    """A Screen; a single Console (tests) takes both streams."""
    if isinstance(console, Screen):
        return console
    if console is not None:
        return Screen(console, console, verbosity=verbosity)
    return Screen(make_console(), None, verbosity=verbosity)


class RegistryApp:
    """The registry service plus what a person (or script) at its console
    needs: commands, printed results, an exit status."""

    def __init__(self, args: argparse.Namespace, console: Console | Screen | None = None) -> None:
        self.args = args
        verbosity = -1 if getattr(args, "quiet", False) else getattr(args, "verbose", 0)
        if console is None:
            self.screen = Screen.standard(verbosity)
            setup_logging(self.screen)
        else:
            self.screen = as_screen(console, verbosity)
        self.console = self.screen.out
        self.observer = ConsoleObserver(self.screen)
        config = registry_config(args)
        seed = getattr(args, "seed", None)  # --seed: the same ids every time
        rng = None if seed is None else random.Random(seed)
        self.registry = Registry(get_dialect(args.wire), self.observer, config, rng)
        self.summary_format: str = getattr(args, "summary", "table")
        self.output: Path | None = getattr(args, "output", None)
        # Unattended: one document for the whole program, written at its end.
        self.unattended = getattr(args, "start", None) is not None
        self.results: list[RunResult] = []
        # Extra lines shown (on stderr) after a run's summary.
        self.notes: Callable[[RunResult], list[str]] = lambda result: []
        view = TrafficView(self.registry, wire=args.wire, title="trio_dht registry")
        self.display = LiveDisplay(view, self.screen, self.observer)
        self.exit_status = 0
        self.failure: str | None = None
        self._scope = trio.CancelScope()
        self._handlers: dict[str, Handler] = {
            "list-messaging-nodes": self._list,
            "setup-overlay": self._setup,
            "list-routing-tables": self._route,
            "start": self._start,
            "abort": self._abort,
            "path": self._path,
            "figure": self._figure,
            "exit": self._exit,
            "help": self._help,
        }
        self.commands: list[Command] = list(COMMANDS)

    def add_command(self, command: Command, handler: Handler) -> None:
        """Another console command (the help lists it before 'exit')."""
        self.commands.insert(len(self.commands) - 2, command)
        self._handlers[command.name] = handler

    def close(self) -> None:
        """End the program: the nodes that go away as the registry closes
        are not news."""
        self.observer.muted = True
        self._scope.cancel()

    @property
    def scope(self) -> trio.CancelScope:
        """Cancelled by ``exit``, a signal or the end of an unattended run."""
        return self._scope

    # --- results ----------------------------------------------------------

    async def run_and_report(self, packets: int) -> RunResult:
        """Start a run, show its progress, print its result."""
        run = self.registry.start(packets)
        log.debug(
            "run of nodes %s: progress shown %s", list(run.node_ids),
            "as a live table" if self.display.interactive else "as plain lines",
        )  # fmt: skip
        await self.display.follow(run)
        result = run.result if run.result is not None else self.observer.results[-1]
        log.debug(
            "run ended after %.3f s (%s): %s", result.elapsed, result.quiescence, result.verdict()
        )
        self.report(result)
        return result

    def _write_output(self, text: str) -> None:
        assert self.output is not None
        with self.output.open("a" if self.results[:-1] and not self.unattended else "w") as f:
            f.write(text)

    def report(self, result: RunResult) -> None:
        """A finished run's result: stdout gets the summary in the chosen
        format and the verdict; stderr the rest."""
        self.results.append(result)
        screen = self.screen
        for note in self.notes(result):
            screen.say(note)
        if getattr(self.args, "figure", None):
            self._draw(self.args.figure, result)
        fmt = self.summary_format
        if fmt == "table":
            items: list[RenderableType] = result_block(result, "table")
            if self.display.drew_final_table and screen.same_terminal:
                items = items[1:]  # the live view left the table on screen
            if self.output is not None:
                self._write_output(plain_text(result_block(result, "table")))
                items = items[-1:]
            for item in items:
                screen.result(item)
        else:
            for line in [*run_details(result), *result.accounting()]:
                screen.say(line)
            if not self.unattended:
                self._emit(document([result], fmt, getattr(self.args, "seed", None)))
            if self.output is not None:
                screen.result(result.verdict())  # the document is in the file
            elif not screen.out.is_terminal:
                screen.say(result.verdict())  # for the person watching stderr

    def _emit(self, text: str) -> None:
        """A machine-readable document: to --output, or to stdout."""
        if self.output is not None:
            self._write_output(text)
        else:
            self.screen.raw_result(text)

    def finish_document(self) -> None:
        """Unattended, machine format: the one document, at the end."""
        if not self.unattended or self.summary_format == "table":
            return
        if self.results:
            self._emit(
                document(self.results, self.summary_format, getattr(self.args, "seed", None))
            )
        elif self.summary_format == "json" and self.failure is not None:
            self._emit(error_json(self.failure))

    def fail(self, message: str, status: int) -> None:
        """An error that ends the program."""
        self.screen.error(message)
        self.failure = message
        self.exit_status = status
        self.close()

    # --- the program --------------------------------------------------------

    async def main(self) -> int:
        with self._scope:
            async with trio.open_nursery() as nursery:
                await nursery.start(watch_signals, self._on_signal)
                try:
                    port = await nursery.start(self.registry.serve, self.args.host, self.args.port)
                except OSError as exc:
                    self.fail(
                        f"error: cannot listen on port {self.args.port}: {exc.strerror or exc}",
                        exit_codes.NETWORK,
                    )
                    return self.exit_status
                self._banner(port)
                if self.unattended:
                    nursery.start_soon(self._automatic)
                else:
                    reader = CommandReader(
                        self.screen, self.commands, lambda: "registry> ",
                        on_terminal_eof=self._terminal_eof, on_pipe_eof=self._pipe_eof,
                    )  # fmt: skip
                    nursery.start_soon(reader.run, self.handle)
        self.finish_document()
        return self.exit_status

    def _banner(self, port: int) -> None:
        shown = self.args.host or "all interfaces"
        wire = "" if self.args.wire == "cs455" else f" --wire {self.args.wire}"
        self.screen.say(
            f"Registry listening on port {port} ({shown}, wire {self.args.wire}). "
            f"Join with: {own_command()} node {self.args.host or '127.0.0.1'}:{port}{wire}"
        )
        if not self.unattended:
            self.screen.say("Type 'help' for the commands.")

    async def _terminal_eof(self) -> None:
        self.screen.say("End of input (Ctrl-D): leaving, as 'exit' does.")
        await self._exit("exit", [])

    async def _pipe_eof(self) -> None:
        self.screen.say(
            "End of input: no more commands are read; the registry keeps serving "
            "until Ctrl-C or SIGTERM."
        )

    async def on_signal(self, signum: int) -> None:
        """SIGINT/SIGTERM: close the registry."""
        await self._on_signal(signum)

    async def _on_signal(self, signum: int) -> None:
        self.screen.say("Interrupted: closing the registry.")
        self.exit_status = exit_codes.SIGNAL_EXIT.get(signum, 1)
        self.close()

    async def _automatic(self) -> None:
        """--start N: the whole run without a person at the console; the exit
        status tells whether the totals were correct."""
        args = self.args
        timeout = args.timeout if args.timeout > 0 else math.inf
        with trio.move_on_after(timeout) as scope:
            if len(self.registry.nodes) < args.nodes:
                self.screen.say(f"Waiting for {args.nodes} nodes to register...")
            await self.registry.wait_for_nodes(args.nodes)
            for _ in range(args.runs):
                # Set up before the first run, and again whenever nodes came
                # or went, during a run or during the setup itself.
                while not self.registry.ready:
                    log.debug(
                        "setting up the overlay: %d nodes, NR %d", len(self.registry.nodes), args.nr
                    )
                    try:
                        self.registry.setup_overlay(args.nr)
                    except CommandError as exc:
                        self.fail(f"error: {exc}", exit_codes.USAGE)
                        return
                    await self.registry.wait_set_up()
                result = await self.run_and_report(args.start)
                if not result.correct:
                    self.exit_status = exit_codes.INCORRECT
        if scope.cancelled_caught:
            self.fail(f"error: gave up after --timeout {args.timeout:g} s", exit_codes.TIMEOUT)
        self.close()

    # --- commands -----------------------------------------------------------

    async def handle_typed(self, line: str) -> None:
        await self.handle(line)

    async def handle(self, line: str) -> None:
        """One console command."""
        word, *rest = line.split()
        word = word.lower()
        log.debug("command %r", line)
        command = find_command(self.commands, "help" if word == "?" else word)
        if command is None:
            self.screen.error(suggest(self.commands, word))
            return
        try:
            await self._handlers[command.name](word, rest)
        except (CommandError, ValueError) as exc:
            self.screen.error(f"error: {exc}")

    @staticmethod
    def _no_args(word: str, rest: list[str]) -> None:
        if rest:
            raise ValueError(f"{word} takes no arguments")

    async def _list(self, word: str, rest: list[str]) -> None:
        self._no_args(word, rest)
        nodes = self.registry.node_list()
        if nodes:
            self.screen.result(node_list_table(nodes))
        else:
            self.screen.result("No messaging nodes are registered.")

    async def _setup(self, word: str, rest: list[str]) -> None:
        if len(rest) > 1:
            raise ValueError(f"{word} takes at most one argument (NR)")
        if rest:
            nr = parse_int(rest[0], "NR", 1, 7)
        else:
            count = len(self.registry.nodes)
            nr = default_nr(count)
            if nr >= 1:
                self.screen.say(f"NR {nr}: the largest valid for {count} nodes, at most 3.")
            else:
                nr = 1  # the registry explains why no NR is possible
        self.registry.setup_overlay(nr)

    async def _route(self, word: str, rest: list[str]) -> None:
        self._no_args(word, rest)
        self.screen.result(routing_tables_table(self.registry.routing_table_rows()))

    async def _path(self, word: str, rest: list[str]) -> None:
        for line in console_path(self.registry.tables, self.registry.overlay_nr, rest):
            self.screen.result(line)

    async def _figure(self, word: str, rest: list[str]) -> None:
        if len(rest) != 1:
            raise ValueError("usage: figure FILE (.svg or .png)")
        if not self.results:
            raise ValueError("no run has finished yet: nothing to draw")
        self._draw(rest[0], self.results[-1])

    def _draw(self, path: str, result: RunResult) -> None:
        for line in run_figure_lines(path, result, getattr(self.args, "seed", None)):
            (self.screen.error if line.startswith("error:") else self.screen.say)(line)

    async def _start(self, word: str, rest: list[str]) -> None:
        if len(rest) != 1:
            raise ValueError("usage: start N (the number of packets each node sends)")
        packets = parse_int(rest[0], "N", 0, 0x7FFFFFFF)
        if sys.stdin is None or not sys.stdin.isatty():
            await self.run_and_report(packets)
            return
        refused: CommandError | None = None
        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch_for_abort, self._abort, self.screen.say)
            try:
                await self.run_and_report(packets)
            except CommandError as exc:  # raised as itself, not in a group
                refused = exc
            nursery.cancel_scope.cancel()
        if refused is not None:
            raise refused

    async def _abort(self, word: str, rest: list[str]) -> None:
        self._no_args(word, rest)
        self.registry.abort()

    async def _exit(self, word: str, rest: list[str]) -> None:
        self.screen.say("Registry exiting.")
        self.close()

    async def _help(self, word: str, rest: list[str]) -> None:
        self.screen.result(help_text(self.commands))
