"""``trio_dht demo``: the whole task in one command.

Starts a registry and K messaging nodes on 127.0.0.1, sets up the overlay,
runs the task with its progress on stderr (the live table on a terminal),
and ends on the registry's verdict on stdout; the exit status is 0 only if
the totals are correct. The nodes run inside this process (one trio run
loop: fast to start) or, with ``--processes``, one OS process each (what a
real deployment looks like).

``--stay`` (with stdin a terminal) keeps the overlay up after the verdict
and gives the registry's console until ``exit``.
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

from trio_dht.interface import exit_codes
from trio_dht.interface.console import CommandReader, stdin_is_terminal, watch_signals
from trio_dht.interface.options import default_nr
from trio_dht.interface.registry_app import RegistryApp
from trio_dht.interface.screen import Screen
from trio_dht.services.node import MessagingNode, NodeConfig, NodeError
from trio_dht.services.observer import Observer
from trio_dht.services.registry import CommandError
from trio_dht.services.report import RunResult
from trio_dht.wire import Dialect, get_dialect

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
# Registration and overlay setup must be done within this time.
STARTUP_TIMEOUT = 30.0
# Node processes get this long to leave on their own before being killed.
STOP_TIMEOUT = 2.0

HELP = """\
Starts a registry and K messaging nodes on 127.0.0.1, sets up the overlay, runs
the task (every node sends N packets to random sinks) and ends on the
registry's verdict. Progress goes to stderr: the live table on a terminal,
a plain progress line every second elsewhere. The result goes to stdout."""

EXAMPLES = """\
examples:
  python -m trio_dht demo                       # 10 nodes x 25,000 packets
  python -m trio_dht demo --nodes 127 --processes
  python -m trio_dht demo --summary json | python -c \\
      'import json,sys; print(json.load(sys.stdin)["verdict"])'
  python -m trio_dht demo --summary csv --output run.csv"""

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


class DemoApp:
    """A RegistryApp plus the nodes it needs, driven from start to verdict."""

    def __init__(
        self,
        args: argparse.Namespace,
        console: Console | Screen | None = None,
        node_factory: NodeFactory = MessagingNode,
    ) -> None:
        args.start = None  # the registry's own unattended mode is not used
        if args.nr is None:
            args.nr = default_nr(args.nodes)
        self.args = args
        self.app = RegistryApp(args, console)
        self.app.notes = self._notes
        self.app.display.view.title = self.app.display.table.title = "trio_dht demo"
        self.screen = self.app.screen
        self.console = self.app.console
        self.observer = self.app.observer
        self.registry = self.app.registry
        self.node_factory = node_factory
        self.nodes: list[MessagingNode] = []
        self.processes: list[trio.Process] = []
        self.result: RunResult | None = None
        self.wall_time: float | None = None
        self._t0 = time.monotonic()
        self._finishing = False

    @property
    def mode(self) -> str:
        if self.args.processes:
            return f"{self.args.nodes} node processes"
        return f"{self.args.nodes} nodes in one process"

    def _notes(self, result: RunResult) -> list[str]:
        if self.result is not None:
            return []  # later runs (--stay): no launch-to-verdict time
        self.result = result
        self.wall_time = time.monotonic() - self._t0
        return [f"Wall time {self.wall_time:.2f} s from launch to verdict ({self.mode})."]

    def _fail(self, message: str, status: int) -> None:
        if self.app.failure is None and self.result is None:
            self.app.fail(message, status)

    async def main(self) -> int:
        args = self.args
        self._t0 = time.monotonic()
        interactive = args.stay and stdin_is_terminal()
        # One document for the whole program, unless the console stays.
        self.app.unattended = not interactive
        self.screen.say(
            f"trio_dht demo: a registry and {self.mode} on {HOST}, NR {args.nr}, "
            f"{args.packets:,} packets per node, wire {args.wire}"
            + ("." if args.seed is None else f", seed {args.seed}.")
        )
        try:
            with self.app.scope:
                async with trio.open_nursery() as nursery:
                    await nursery.start(watch_signals, self.app.on_signal)
                    port = await nursery.start(self.registry.serve, HOST, 0)
                    self.screen.say(f"Registry listening on {HOST}:{port}.")
                    await self._drive(nursery, port)
                    if self.result is not None and interactive:
                        self.screen.say(
                            "The overlay stays up: type registry commands ('help'), "
                            "'exit' to leave."
                        )
                        reader = CommandReader(
                            self.screen, self.app.commands, lambda: "registry> ",
                            on_terminal_eof=self.app._terminal_eof,
                            on_pipe_eof=self.app._pipe_eof,
                        )  # fmt: skip
                        await reader.run(self.app.handle)
                    self._finishing = True
                    self.app.close()
        finally:
            self._finishing = True
            self.observer.muted = True
            await self._stop_processes()
        self.app.finish_document()
        if self.app.exit_status:
            return self.app.exit_status  # a signal or a failure
        # The last run decides (more may have been started with --stay).
        last = self.app.results[-1] if self.app.results else None
        if last is None:
            return exit_codes.INCORRECT
        return exit_codes.OK if last.correct else exit_codes.INCORRECT

    async def _drive(self, nursery: trio.Nursery, port: int) -> None:
        """Nodes, overlay, task."""
        args = self.args
        registry = self.registry
        timeout = args.timeout if args.timeout > 0 else math.inf
        with trio.move_on_after(timeout) as timer:
            # Node processes start one Python each: allow for that on a busy machine.
            allowed = STARTUP_TIMEOUT + (args.nodes * 0.5 if args.processes else 0.0)
            with trio.move_on_after(allowed) as startup:
                await self._start_nodes(nursery, port)
                await registry.wait_for_nodes(args.nodes)
                try:
                    registry.setup_overlay(args.nr)
                except CommandError as exc:
                    self._fail(f"error: {exc}", exit_codes.USAGE)
                    return
                await registry.wait_ready()
            if startup.cancelled_caught:
                self._fail(
                    f"error: the overlay was not ready within {allowed:g} s "
                    f"({len(registry.nodes)} of {args.nodes} nodes registered)",
                    exit_codes.TIMEOUT,
                )
                return
            total = args.packets * args.nodes
            self.screen.say(
                f"Starting the task: {args.nodes} nodes x {args.packets:,} packets = {total:,}."
            )
            await self.app.run_and_report(args.packets)
        if timer.cancelled_caught:
            self._fail(f"error: gave up after --timeout {args.timeout:g} s", exit_codes.TIMEOUT)

    # --- nodes --------------------------------------------------------------

    async def _start_nodes(self, nursery: trio.Nursery, port: int) -> None:
        if self.args.processes:
            for _ in range(self.args.nodes):
                await self._spawn(nursery, port)
        else:
            dialect = get_dialect(self.args.wire)
            for k in range(self.args.nodes):
                observer = _NodeLog(f"node #{k}")
                config = NodeConfig(seed=self.args.seed)  # --seed: the same traffic every time
                node = self.node_factory(HOST, port, dialect, observer, config)
                observer.node = node
                self.nodes.append(node)
                nursery.start_soon(self._run_node, node)

    async def _run_node(self, node: MessagingNode) -> None:
        try:
            await node.run()
        except NodeError as exc:
            self._fail(f"error: a node could not join: {exc}", exit_codes.NODE_ERROR[exc.kind])

    def _node_command(self, port: int) -> list[str]:
        command = [sys.executable, "-m", "trio_dht", "node", f"{HOST}:{port}"]
        command += ["--wire", self.args.wire]
        # A node's events are the demo's info lines: only errors unless -v.
        verbose = self.args.verbose if not self.args.quiet else 0
        command.append("-" + "v" * min(verbose, 2) if verbose else "-q")
        return command

    async def _spawn(self, nursery: trio.Nursery, port: int) -> None:
        command = self._node_command(port)
        log.debug("starting %s", " ".join(command))
        process = await trio.lowlevel.open_process(
            command,
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
        """A node process's stderr lines, through this program's logging."""
        assert process.stderr is not None
        level = logging.INFO if self.args.verbose and not self.args.quiet else logging.WARNING
        buffer = b""
        try:
            while chunk := await process.stderr.receive_some(65536):
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    if line.strip():
                        text = line.decode(errors="replace")
                        log.log(level, "node process %d: %s", process.pid, text)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass

    async def _watch(self, process: trio.Process) -> None:
        status = await process.wait()
        if self._finishing:
            return
        self.screen.say(f"Node process {process.pid} exited with status {status}.")
        if self.registry.run is None and self.result is None:
            self._fail(f"error: node process {process.pid} exited during setup", exit_codes.NETWORK)

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
