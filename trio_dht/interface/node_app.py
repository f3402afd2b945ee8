"""``trio_dht node``: a messaging node program with its console."""

from __future__ import annotations

import argparse
import sys

import trio

from trio_dht.interface.console import (
    SIGNAL_EXIT,
    ConsoleObserver,
    make_console,
    read_commands,
    watch_signals,
)
from trio_dht.interface.render import node_counters_table
from trio_dht.services.node import MessagingNode, NodeConfig, NodeError
from trio_dht.transport import parse_address
from trio_dht.wire import DEFAULT_MAX_FRAME, get_dialect

HELP = """Commands:
  print-counters-and-diagnostics | print   this node's counters and routing table
  exit-overlay | exit                      deregister, wait for the answer, close, exit
  help                                     this text"""

# On a signal, how long to wait for the registry's answer to our
# deregistration before exiting anyway (the user asked us to stop).
SIGNAL_LEAVE_TIMEOUT = 1.0


class NodeApp:
    def __init__(self, args: argparse.Namespace, host: str, port: int) -> None:
        self.console = make_console()
        self.observer = ConsoleObserver(self.console)
        config = NodeConfig(
            per_message_peers=args.per_message_peers,
            max_frame=args.max_frame,
            frame_timeout=args.frame_timeout,
            max_incoming=args.max_incoming,
        )
        self.node = MessagingNode(host, port, get_dialect(args.wire), self.observer, config)
        self.exit_status = 0

    async def main(self) -> int:
        async with trio.open_nursery() as nursery:
            await nursery.start(watch_signals, self._on_signal)
            try:
                await nursery.start(self.node.run)
            except NodeError as exc:
                print(f"error: {exc}", file=sys.stderr, flush=True)
                nursery.cancel_scope.cancel()
                return 2
            nursery.start_soon(read_commands, self.handle)
            # The node's own nursery ends when it leaves or the registry goes.
            await self.node.stopped.wait()
            nursery.cancel_scope.cancel()
        return self.exit_status

    async def _on_signal(self, signum: int) -> None:
        self.exit_status = SIGNAL_EXIT.get(signum, 1)
        self.observer.say("Interrupted: deregistering and leaving.")
        self.node.config.leave_timeout = SIGNAL_LEAVE_TIMEOUT
        await self.node.leave()

    async def handle(self, line: str) -> None:
        word, *rest = line.split()
        word = word.lower()
        if rest and word in ("print-counters-and-diagnostics", "print", "exit-overlay", "exit"):
            self.observer.say(f"error: {word} takes no arguments")
        elif word in ("print-counters-and-diagnostics", "print"):
            self.console.print(node_counters_table(self.node))
        elif word in ("exit-overlay", "exit", "quit"):
            status = await self.node.leave()
            if status is None:
                self.observer.say("The registry did not answer the deregistration; leaving anyway.")
        elif word in ("help", "?"):
            self.observer.say(HELP)
        else:
            self.observer.say(f"Unknown command {word!r}; type 'help' for the list.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "registry", help="the registry's address: HOST:PORT (or HOST PORT, or just PORT)"
    )
    parser.add_argument("registry_port", nargs="?", default=None, help=argparse.SUPPRESS)
    parser.add_argument(
        "--per-message-peers",
        action="store_true",
        help="send data to routing-table peers on a fresh connection per packet. Needed only "
        "when the overlay includes nodes of the one-message-per-connection kind (some Go "
        "ports), which read one frame per connection; slower. The registry's kind needs no "
        "flag: a registry that closes the connection after answering the registration is "
        "detected and dialled for each message.",
    )
    limits = parser.add_argument_group("limits against broken or hostile peers")
    limits.add_argument(
        "--max-frame", type=int, default=DEFAULT_MAX_FRAME, metavar="BYTES",
        help=f"largest frame accepted (default {DEFAULT_MAX_FRAME})",
    )  # fmt: skip
    limits.add_argument(
        "--frame-timeout", type=float, default=10.0, metavar="SECONDS",
        help="a started frame must complete within this time (default 10)",
    )  # fmt: skip
    limits.add_argument(
        "--max-incoming", type=int, default=1024, metavar="N",
        help="at most this many incoming connections at once (default 1024)",
    )  # fmt: skip


def registry_address(args: argparse.Namespace) -> tuple[str, int]:
    """HOST:PORT, HOST PORT or PORT -> (host, port); ValueError explains."""
    if args.registry_port is not None:
        return parse_address(f"{args.registry}:{args.registry_port}")
    return parse_address(args.registry)
