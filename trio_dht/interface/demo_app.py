"""``trio_dht demo``: the whole task in one command.

Starts a registry and K messaging nodes on 127.0.0.1, sets up the overlay,
runs the task with the live traffic table on screen, and ends on the
registry's verdict line; the exit status is 0 only if the totals are
correct. The nodes run inside this process (one trio run loop: fast to
start) or, with ``--processes``, one OS process each (what a real deployment
looks like).

With stdin a terminal the registry's console commands keep working during
the run (``list``, ``route``, ...); ``--stay`` keeps the overlay up after the
verdict until ``exit``. Otherwise the demo runs to the end unattended.
"""

from __future__ import annotations

import argparse
import logging
import math
import subprocess
import sys
import time
from collections.abc import Callable

import trio
from rich.console import Console

from trio_dht.interface import registry_app
from trio_dht.interface.console import read_commands, stdin_is_terminal, watch_signals
from trio_dht.interface.registry_app import RegistryApp
from trio_dht.services.node import MessagingNode, NodeConfig, NodeError
from trio_dht.services.observer import Observer
from trio_dht.services.registry import CommandError
from trio_dht.services.report import RunResult
from trio_dht.wire import Dialect, get_dialect

log = logging.getLogger(__name__)

DEFAULT_NODES = 10
DEFAULT_NR = 3
DEFAULT_PACKETS = 25_000
HOST = "127.0.0.1"
# Registration and overlay setup must be done within this time.
STARTUP_TIMEOUT = 30.0
# Node processes get this long to leave on their own before being killed.
STOP_TIMEOUT = 2.0

HELP = """\
Starts a registry and K messaging nodes on 127.0.0.1, sets up the overlay, runs
the task (every node sends N packets to random sinks) with the live traffic
table on screen, and ends on the registry's verdict line. Exit status: 0 if the
totals are correct, 1 if not, 2 on a setup error, 3 on a timeout.

Without a terminal (CI, pipes) it prints plain lines: a progress line every
second, then the summary (--summary table|csv|json) and the verdict last."""

NodeFactory = Callable[[str, int, Dialect, Observer, NodeConfig], MessagingNode]


class _NodeLog(Observer):
    """In-process nodes' console lines go to the log (shown with -v)."""

    def __init__(self, label: str) -> None:
        super().__init__()
        self.label = label
        self.node: MessagingNode | None = None

    def say(self, text: str) -> None:
        node_id = self.node.node_id if self.node is not None else None
        log.info("%s: %s", self.label if node_id is None else f"node {node_id}", text)


class _Abort(Exception):
    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class DemoApp:
    """A RegistryApp plus the nodes it needs, driven from start to verdict."""

    def __init__(
        self,
        args: argparse.Namespace,
        console: Console | None = None,
        node_factory: NodeFactory = MessagingNode,
    ) -> None:
        args.live = True
        self.args = args
        self.app = RegistryApp(args, console)
        self.app.notes = self._notes
        if self.app.display is not None:
            self.app.display.view.title = "trio_dht demo"
        self.console = self.app.console
        self.observer = self.app.observer
        self.registry = self.app.registry
        self.node_factory = node_factory
        self.nodes: list[MessagingNode] = []
        self.processes: list[trio.Process] = []
        self.result: RunResult | None = None
        self.wall_time: float | None = None
        self._t0 = time.monotonic()
        self._failure: _Abort | None = None
        self._drive_scope = trio.CancelScope()
        self._finishing = False

    @property
    def mode(self) -> str:
        if self.args.processes:
            return f"{self.args.nodes} node processes"
        return f"{self.args.nodes} nodes in one process"

    def _notes(self, result: RunResult) -> list[str]:
        self.result = result
        self.wall_time = time.monotonic() - self._t0
        return [f"Wall time {self.wall_time:.2f} s from launch to verdict ({self.mode})."]

    def _fail(self, message: str, status: int) -> None:
        if self._failure is None and self.result is None:
            self._failure = _Abort(message, status)
            self._drive_scope.cancel()

    async def main(self) -> int:
        args = self.args
        self._t0 = time.monotonic()
        self.observer.say(
            f"trio_dht demo: a registry and {self.mode} on {HOST}, NR {args.nr}, "
            f"{args.packets:,} packets per node, wire {args.wire}."
        )
        interactive = stdin_is_terminal()
        # Until a verdict: 'exit' typed before the end is not a success.
        status = 1
        try:
            with self.app.scope:
                async with trio.open_nursery() as nursery:
                    await nursery.start(watch_signals, self.app.on_signal)
                    port = await nursery.start(self.registry.serve, HOST, 0)
                    self.observer.say(f"Registry listening on {HOST}:{port}.")
                    if self.app.display is not None:
                        await nursery.start(self.app.display.run)
                    if interactive:
                        nursery.start_soon(read_commands, self.app.handle_typed)
                    status = await self._drive(nursery, port)
                    if status in (0, 1) and args.stay and interactive:
                        self.observer.say(
                            "The overlay stays up: type registry commands ('help'), "
                            "'exit' to leave."
                        )
                        await trio.sleep_forever()
                    self._finishing = True
                    nursery.cancel_scope.cancel()
        finally:
            self._finishing = True
            await self._stop_processes()
        if self.app.exit_status:
            return self.app.exit_status  # a signal
        if status in (0, 1) and self.result is not None:
            # The last run decides (more may have been started with --stay).
            return 0 if self.result.correct else 1
        return status

    async def _drive(self, nursery: trio.Nursery, port: int) -> int:
        """Nodes, overlay, task. Returns the exit status."""
        args = self.args
        registry = self.registry
        timeout = args.timeout if args.timeout > 0 else math.inf
        try:
            with trio.move_on_after(timeout) as timer, self._drive_scope:
                with trio.move_on_after(STARTUP_TIMEOUT) as startup:
                    await self._start_nodes(nursery, port)
                    await registry.wait_for_nodes(args.nodes)
                    try:
                        registry.setup_overlay(args.nr)
                    except CommandError as exc:
                        raise _Abort(f"error: {exc}", 2) from None
                    await registry.wait_ready()
                if startup.cancelled_caught:
                    raise _Abort(
                        f"error: the overlay was not ready within {STARTUP_TIMEOUT:g} s "
                        f"({len(registry.nodes)} of {args.nodes} nodes registered)",
                        3,
                    )
                total = args.packets * args.nodes
                self.observer.say(
                    f"Starting the task: {args.nodes} nodes x {args.packets:,} packets = {total:,}."
                )
                run = registry.start(args.packets)
                await run.done.wait()
        except _Abort as exc:
            self._failure = exc
        if self._failure is not None:
            self.observer.say(str(self._failure))
            return self._failure.status
        if timer.cancelled_caught:
            self.observer.say(f"error: gave up after --timeout {args.timeout:g} s")
            return 3
        assert self.result is not None
        return 0 if self.result.correct else 1

    # --- nodes --------------------------------------------------------------

    async def _start_nodes(self, nursery: trio.Nursery, port: int) -> None:
        if self.args.processes:
            for _ in range(self.args.nodes):
                await self._spawn(nursery, port)
        else:
            dialect = get_dialect(self.args.wire)
            for k in range(self.args.nodes):
                observer = _NodeLog(f"node #{k}")
                node = self.node_factory(HOST, port, dialect, observer, NodeConfig())
                observer.node = node
                self.nodes.append(node)
                nursery.start_soon(self._run_node, node)

    async def _run_node(self, node: MessagingNode) -> None:
        try:
            await node.run()
        except NodeError as exc:
            self._fail(f"error: a node could not join: {exc}", 2)

    def _node_command(self, port: int) -> list[str]:
        command = [
            sys.executable,
            "-m",
            "trio_dht",
            "node",
            f"{HOST}:{port}",
            "--wire",
            self.args.wire,
        ]
        if self.args.quiet:
            command.append("-q")
        elif self.args.verbose:
            command.append("-" + "v" * min(self.args.verbose, 2))
        return command

    async def _spawn(self, nursery: trio.Nursery, port: int) -> None:
        process = await trio.lowlevel.open_process(
            self._node_command(port),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            # Its own session: a Ctrl-C at the terminal reaches the demo,
            # which then closes the nodes, not every node at once.
            start_new_session=True,
        )
        self.processes.append(process)
        nursery.start_soon(self._relay_stderr, process)
        nursery.start_soon(self._watch, process)

    async def _relay_stderr(self, process: trio.Process) -> None:
        """A node process's log lines, through this program's logging."""
        assert process.stderr is not None
        buffer = b""
        try:
            while chunk := await process.stderr.receive_some(65536):
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    if line.strip():
                        log.warning(
                            "node process %d: %s", process.pid, line.decode(errors="replace")
                        )
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass

    async def _watch(self, process: trio.Process) -> None:
        status = await process.wait()
        if self._finishing:
            return
        self.observer.say(f"Node process {process.pid} exited with status {status}.")
        if self.registry.run is None:
            self._fail(f"error: node process {process.pid} exited during setup", 2)

    async def _stop_processes(self) -> None:
        """The registry is closed: nodes leave by themselves; kill whatever
        is still running after STOP_TIMEOUT."""
        if not self.processes:
            return
        with trio.CancelScope(shield=True):
            with trio.move_on_after(STOP_TIMEOUT):
                for process in self.processes:
                    await process.wait()
            for process in self.processes:
                if process.returncode is None:
                    try:
                        process.kill()
                    except ProcessLookupError:
                        pass
            with trio.move_on_after(STOP_TIMEOUT):
                for process in self.processes:
                    await process.wait()
            for process in self.processes:
                if process.stderr is not None:
                    await process.stderr.aclose()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--nodes", type=int, default=DEFAULT_NODES, metavar="K",
                        help=f"how many messaging nodes (default {DEFAULT_NODES})")  # fmt: skip
    parser.add_argument("--nr", type=int, default=DEFAULT_NR,
                        help=f"routing table size (default {DEFAULT_NR})")  # fmt: skip
    parser.add_argument(
        "--packets", "--start", dest="packets", type=int, default=DEFAULT_PACKETS, metavar="N",
        help=f"packets each node sends (default {DEFAULT_PACKETS:,})",
    )  # fmt: skip
    parser.add_argument(
        "--processes", action="store_true",
        help="run each node as its own OS process (default: all nodes inside this process)",
    )  # fmt: skip
    parser.add_argument(
        "--stay", action="store_true",
        help="with stdin a terminal: after the verdict keep the overlay up and accept "
        "registry commands until 'exit'",
    )  # fmt: skip
    parser.add_argument("--timeout", type=float, default=0,
                        help="give up after this many seconds (default 0: never)")  # fmt: skip
    parser.set_defaults(live=True)
    registry_app.add_output_arguments(parser, live_option=False)
    registry_app.add_tuning_arguments(parser)


def check_arguments(args: argparse.Namespace) -> str | None:
    """A usage error, or None."""
    if not 2 <= args.nodes <= 128:
        return "--nodes must be between 2 and 128"
    if args.nr < 1:
        return "--nr must be at least 1"
    if not 0 <= args.packets <= 0x7FFFFFFF:
        return "--packets must be between 0 and 2147483647"
    return None
