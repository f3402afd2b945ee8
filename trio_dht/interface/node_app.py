"""``trio_dht node``: a messaging node program with its console."""

from __future__ import annotations

import argparse
import logging

import trio

from trio_dht.interface import exit_codes
from trio_dht.interface.console import (
    Command,
    CommandReader,
    find_command,
    help_text,
    suggest,
    watch_signals,
)
from trio_dht.interface.render import node_counters_table
from trio_dht.interface.screen import ConsoleObserver, Screen, setup_logging
from trio_dht.interface.service_config import node_config, node_dialect
from trio_dht.services.node import MessagingNode, NodeError, NodeErrorKind
from trio_dht.transport import parse_address

log = logging.getLogger(__name__)

COMMANDS: tuple[Command, ...] = (
    Command("print-counters-and-diagnostics", ("print",), "",
            "this node's counters and routing table"),
    Command("exit-overlay", ("exit", "quit"), "", "deregister, wait for the answer, close, exit"),
    Command("help", (), "", "this text"),
)  # fmt: skip
HELP = help_text(COMMANDS)

EXAMPLES = """\
examples:
  python -m trio_dht node 127.0.0.1:5000    # join the registry on port 5000
  python -m trio_dht node 5000 --retry 30   # wait up to 30 s for it to start
  python -m trio_dht node 10.0.0.1:5000 --wire minichord"""

# On a signal, how long to wait for the registry's answer to our
# deregistration before exiting anyway (the user asked us to stop).
SIGNAL_LEAVE_TIMEOUT = 1.0
# With --retry: the pause between attempts to reach the registry.
RETRY_PAUSE = 0.5


class NodeApp:
    def __init__(
        self, args: argparse.Namespace, host: str, port: int, screen: Screen | None = None
    ) -> None:
        self.args = args
        verbosity = -1 if args.quiet else args.verbose
        if screen is None:
            screen = Screen.standard(verbosity)
            setup_logging(screen)
        self.screen = screen
        self.console = screen.out
        self.observer = ConsoleObserver(screen)
        self.host, self.port = host, port
        self.config = node_config(args)
        self.node = self._new_node()
        self.exit_status = 0

    def _new_node(self) -> MessagingNode:
        dialect = node_dialect(self.args)
        return MessagingNode(self.host, self.port, dialect, self.observer, self.config)

    async def _join(self, nursery: trio.Nursery) -> int:
        """Register, retrying an unreachable registry for --retry seconds.
        0, or (after saying why) the exit status of the failure."""
        deadline = trio.current_time() + self.args.retry
        waiting_said = False
        # A signal (exit_status set) ends the attempts; it is the news, not
        # the error the interrupted attempt raised.
        while not self.exit_status:
            try:
                await nursery.start(self.node.run)
                return exit_codes.OK
            except NodeError as exc:
                if self.exit_status:
                    break
                text = str(exc)
                retry = exc.kind is NodeErrorKind.UNREACHABLE
                if retry and trio.current_time() < deadline:
                    if not waiting_said:
                        self.screen.say(
                            f"The registry is not reachable yet; retrying for up to "
                            f"{self.args.retry:g} s."
                        )
                        waiting_said = True
                    log.debug("attempt failed: %s", text)
                    await trio.sleep(RETRY_PAUSE)
                    self.node = self._new_node()
                    continue
                self.screen.error(f"error: {text}{self._hint(exc.kind)}")
                return exit_codes.NODE_ERROR[exc.kind]
        return self.exit_status

    def _hint(self, kind: NodeErrorKind) -> str:
        if kind is NodeErrorKind.HUNG_UP:
            other = "minichord" if self.args.wire == "cs455" else "cs455"
            return (
                f". This node speaks --wire {self.args.wire}; if the registry speaks "
                f"{other}, start the node with --wire {other}."
            )
        if kind is NodeErrorKind.UNREACHABLE and not self.args.retry:
            return ". Is the registry running? --retry SECONDS waits for it."
        return ""

    async def main(self) -> int:
        async with trio.open_nursery() as nursery:
            await nursery.start(watch_signals, self._on_signal)
            failed = await self._join(nursery)
            if failed:
                nursery.cancel_scope.cancel()
                return failed
            reader = CommandReader(
                self.screen, COMMANDS, self._prompt,
                on_terminal_eof=self._terminal_eof, on_pipe_eof=self._pipe_eof,
            )  # fmt: skip
            nursery.start_soon(reader.run, self.handle)
            # The node's own nursery ends when it leaves or the registry goes.
            await self.node.stopped.wait()
            nursery.cancel_scope.cancel()
        return self.exit_status

    def _prompt(self) -> str:
        node_id = self.node.node_id
        return "node> " if node_id is None else f"node {node_id}> "

    async def _terminal_eof(self) -> None:
        self.screen.say("End of input (Ctrl-D): leaving the overlay, as 'exit' does.")
        await self._leave()

    async def _pipe_eof(self) -> None:
        log.info("end of input: no more commands are read; the node keeps serving")

    async def _on_signal(self, signum: int) -> None:
        self.exit_status = exit_codes.SIGNAL_EXIT.get(signum, 1)
        self.screen.say("Interrupted: deregistering and leaving.")
        self.node.config.leave_timeout = SIGNAL_LEAVE_TIMEOUT
        await self.node.leave()

    async def _leave(self) -> None:
        status = await self.node.leave()
        if status is None:
            self.screen.say("The registry did not answer the deregistration; leaving anyway.")

    async def handle(self, line: str) -> None:
        word, *rest = line.split()
        word = word.lower()
        command = find_command(COMMANDS, "help" if word == "?" else word)
        if command is None:
            self.screen.error(suggest(COMMANDS, word))
        elif rest:
            self.screen.error(f"error: {word} takes no arguments")
        elif command.name == "print-counters-and-diagnostics":
            self.screen.result(node_counters_table(self.node))
        elif command.name == "exit-overlay":
            await self._leave()
        else:
            self.screen.result(HELP)


def registry_address(args: argparse.Namespace) -> tuple[str, int]:
    """HOST:PORT, HOST PORT or PORT -> (host, port); ValueError explains."""
    if args.registry_port is not None:
        return parse_address(f"{args.registry}:{args.registry_port}")
    return parse_address(args.registry)
