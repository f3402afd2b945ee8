"""``trio_dht registry``: the registry program with its console."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

import trio
from rich.console import Console

from trio_dht.interface.console import (
    SIGNAL_EXIT,
    ConsoleObserver,
    make_console,
    parse_int,
    read_commands,
    stdin_is_terminal,
    watch_signals,
)
from trio_dht.interface.live import LiveDisplay, TrafficView
from trio_dht.interface.render import (
    node_list_table,
    routing_tables_table,
    run_details,
)
from trio_dht.interface.summary_formats import FORMATS, result_block
from trio_dht.services.registry import CommandError, Registry, RegistryConfig
from trio_dht.services.report import RunResult
from trio_dht.wire import DEFAULT_MAX_FRAME, get_dialect

HELP = """Commands:
  list-messaging-nodes | list        one line per node: host, port, identifier
  setup-overlay [NR]   | setup [NR]  build and send the routing tables (NR defaults to 3)
  list-routing-tables  | route       each node's routing table
  start N                            every node originates N packets; prints the summary
  exit | quit                        leave (nodes see the registry go)
  help                               this text"""


class RegistryApp:
    """The registry service plus what a person (or script) at its console
    needs: commands, printed results, an exit status."""

    def __init__(self, args: argparse.Namespace, console: Console | None = None) -> None:
        self.args = args
        self.console = console if console is not None else make_console()
        self.observer = ConsoleObserver(self.console, on_result=self._print_result)
        config = RegistryConfig(
            grace=args.grace,
            progress_interval=args.progress_interval,
            stall_timeout=args.stall_timeout,
            max_frame=getattr(args, "max_frame", DEFAULT_MAX_FRAME),
            idle_timeout=getattr(args, "idle_timeout", 10.0),
            frame_timeout=getattr(args, "idle_timeout", 10.0),
            max_pending=getattr(args, "max_pending", 256),
        )
        self.registry = Registry(get_dialect(args.wire), self.observer, config)
        self.summary_format: str = getattr(args, "summary", "table")
        # Extra lines printed after a run's summary, before its verdict.
        self.notes: Callable[[RunResult], list[str]] = lambda result: []
        self.display: LiveDisplay | None = None
        if getattr(args, "live", False):
            view = TrafficView(self.registry, wire=args.wire, title="trio_dht registry")
            self.display = LiveDisplay(view, self.console, self.observer)
        self.exit_status = 0
        self._scope = trio.CancelScope()

    @property
    def scope(self) -> trio.CancelScope:
        """Cancelled by ``exit``, a signal or the end of an unattended run."""
        return self._scope

    def _print_result(self, result: RunResult) -> None:
        notes = self.notes(result)
        display = self.display
        if display is not None and display.interactive:
            # The live table shows the totals; the details and the verdict
            # go under it.
            if self.summary_format != "table":
                # The machine-readable lines scroll above the table.
                for line in result_block(result, self.summary_format)[:-1]:
                    self.observer.say(str(line))
            display.view.notes = [run_details(result), *result.accounting(), *notes]
            display.refresh()
            return
        for item in result_block(result, self.summary_format, notes):
            if isinstance(item, str):
                self.observer.say(item)
            else:
                self.console.print(item)

    async def main(self) -> int:
        with self._scope:
            async with trio.open_nursery() as nursery:
                await nursery.start(watch_signals, self._on_signal)
                try:
                    port = await nursery.start(self.registry.serve, self.args.host, self.args.port)
                except OSError as exc:
                    self.observer.say(f"error: cannot listen on port {self.args.port}: {exc.strerror or exc}")
                    self.exit_status = 2
                    self._scope.cancel()
                    return self.exit_status
                shown = self.args.host or "all interfaces"
                self.observer.say(
                    f"Registry listening on port {port} ({shown}, wire {self.args.wire}). "
                    f"Join with: python -m trio_dht node {self.args.host or '127.0.0.1'}:{port}"
                    + ("" if self.args.wire == "cs455" else f" --wire {self.args.wire}")
                )
                if self.display is not None:
                    await nursery.start(self.display.run)
                nursery.start_soon(read_commands, self.handle_typed)
                if self.args.start is not None:
                    nursery.start_soon(self._automatic)
        return self.exit_status

    async def on_signal(self, signum: int) -> None:
        """SIGINT/SIGTERM: close the registry."""
        await self._on_signal(signum)

    async def _on_signal(self, signum: int) -> None:
        self.observer.say("Interrupted: closing the registry.")
        self.exit_status = SIGNAL_EXIT.get(signum, 1)
        self._scope.cancel()

    async def _automatic(self) -> None:
        """--nodes K --start N: the whole run without a person at the
        console; the exit status tells whether the totals were correct."""
        args = self.args
        timeout = args.timeout if args.timeout > 0 else math.inf
        with trio.move_on_after(timeout) as scope:
            if len(self.registry.nodes) < args.nodes:
                self.observer.say(f"Waiting for {args.nodes} nodes to register...")
            await self.registry.wait_for_nodes(args.nodes)
            for _ in range(args.runs):
                # Set up before the first run, and again whenever nodes came
                # or went (a run that lost a node leaves the overlay stale).
                if not self.registry.ready:
                    try:
                        self.registry.setup_overlay(args.nr)
                    except CommandError as exc:
                        self.observer.say(f"error: {exc}")
                        self.exit_status = 2
                        self._scope.cancel()
                        return
                    await self.registry.wait_ready()
                run = self.registry.start(args.start)
                await run.done.wait()
                assert run.result is not None
                if not run.result.correct:
                    self.exit_status = 1
        if scope.cancelled_caught:
            self.observer.say(f"error: gave up after --timeout {args.timeout:g} s")
            self.exit_status = 3
        self._scope.cancel()

    async def handle_typed(self, line: str) -> None:
        """A command read from stdin (which a terminal echoed)."""
        if self.display is not None and self.display.interactive and stdin_is_terminal():
            self.display.input_echoed()
        await self.handle(line)

    async def handle(self, line: str) -> None:
        """One console command."""
        word, *rest = line.split()
        word = word.lower()
        try:
            if word in ("list-messaging-nodes", "list"):
                self._no_args(word, rest)
                nodes = self.registry.node_list()
                if nodes:
                    self.console.print(node_list_table(nodes))
                else:
                    self.observer.say("No messaging nodes are registered.")
            elif word in ("setup-overlay", "setup"):
                nr = parse_int(rest[0], "NR", 1, 7) if rest else 3
                if len(rest) > 1:
                    raise ValueError(f"{word} takes at most one argument (NR)")
                self.registry.setup_overlay(nr)
            elif word in ("list-routing-tables", "route"):
                self._no_args(word, rest)
                self.console.print(routing_tables_table(self.registry.routing_table_rows()))
            elif word == "start":
                if len(rest) != 1:
                    raise ValueError("usage: start N (the number of packets each node sends)")
                self.registry.start(parse_int(rest[0], "N", 0, 0x7FFFFFFF))
            elif word in ("exit", "quit"):
                self.observer.say("Registry exiting.")
                self._scope.cancel()
            elif word in ("help", "?"):
                self.observer.say(HELP)
            else:
                self.observer.say(f"Unknown command {word!r}; type 'help' for the list.")
        except (CommandError, ValueError) as exc:
            self.observer.say(f"error: {exc}")

    @staticmethod
    def _no_args(word: str, rest: list[str]) -> None:
        if rest:
            raise ValueError(f"{word} takes no arguments")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "port", nargs="?", type=int, default=0,
        help="port to listen on (default 0: the OS picks a free one; the address is printed)",
    )  # fmt: skip
    parser.add_argument("--host", default=None, help="address to listen on (default: all)")
    auto = parser.add_argument_group(
        "unattended run",
        "With --start the registry drives a whole run itself and exits with status 0 only "
        "if the totals are correct (1 if not, 2 on a usage error, 3 on --timeout).",
    )
    auto.add_argument("--nodes", type=int, default=10, metavar="K",
                      help="wait for K nodes to register (default 10)")  # fmt: skip
    auto.add_argument("--nr", type=int, default=3, help="routing table size (default 3)")
    auto.add_argument("--start", type=int, default=None, metavar="N",
                      help="packets each node sends; enables the unattended run")  # fmt: skip
    auto.add_argument("--runs", type=int, default=1, help="how many runs (default 1)")
    auto.add_argument("--timeout", type=float, default=0,
                      help="give up after this many seconds (default 0: never)")  # fmt: skip
    add_output_arguments(parser, live_option=True)
    add_tuning_arguments(parser)
    add_limit_arguments(parser)


def add_limit_arguments(parser: argparse.ArgumentParser) -> None:
    limits = parser.add_argument_group("limits against broken or hostile peers")
    limits.add_argument(
        "--max-frame", type=int, default=DEFAULT_MAX_FRAME, metavar="BYTES",
        help=f"largest frame accepted; a larger claimed length closes the connection "
        f"(default {DEFAULT_MAX_FRAME})",
    )  # fmt: skip
    limits.add_argument(
        "--idle-timeout", type=float, default=10.0, metavar="SECONDS",
        help="a connection that has not registered must send a whole frame within this time, "
        "and a started frame must complete within it (default 10)",
    )  # fmt: skip
    limits.add_argument(
        "--max-pending", type=int, default=256, metavar="N",
        help="at most this many connections that have not registered a node; more are closed "
        "at once (default 256)",
    )  # fmt: skip


def add_output_arguments(parser: argparse.ArgumentParser, *, live_option: bool) -> None:
    output = parser.add_argument_group("output")
    if live_option:
        output.add_argument(
            "--live", action="store_true",
            help="show the live traffic table (a row per node, refreshed during runs); "
            "without a terminal, a plain progress line every second instead",
        )  # fmt: skip
    output.add_argument(
        "--summary", choices=FORMATS, default="table",
        help="how each run's result is printed: table (default), csv (comma-separated "
        "lines, no thousands separators) or json (one line); the verdict line comes last",
    )  # fmt: skip


def add_tuning_arguments(parser: argparse.ArgumentParser) -> None:
    tuning = parser.add_argument_group("run end detection")
    tuning.add_argument(
        "--grace", type=float, default=15.0, metavar="SECONDS",
        help="with classic nodes that do not report progress, how long to wait after the last "
        "task-finished report before asking for summaries (default 15)",
    )  # fmt: skip
    tuning.add_argument(
        "--progress-interval", type=float, default=0.05, metavar="SECONDS",
        help="how often trio_dht nodes report progress during a run (default 0.05)",
    )  # fmt: skip
    tuning.add_argument(
        "--stall-timeout", type=float, default=3.0, metavar="SECONDS",
        help="stop waiting for missing packets after this long without progress (default 3)",
    )  # fmt: skip
