"""``trio_dht sniff``: a transparent proxy that prints every frame it forwards."""

from __future__ import annotations

import argparse
import signal
import sys
from typing import IO

import trio

from trio_dht.checker.capture import describe, direction_of, vector_line
from trio_dht.checker.frames import WIRE_CHOICES
from trio_dht.checker.proxy import CLIENT_TO_TARGET, Proxy, Seen
from trio_dht.interface.check_cmd import add_logging_arguments, log_to_stderr
from trio_dht.transport import format_address, parse_address

HELP = """\
Put it between nodes and a registry (or between two nodes): nodes connect to
--listen instead of the registry's port, the proxy dials --to for each of
their connections and forwards every byte unchanged both ways. One line per
frame on stdout:

  +SECONDS  cN >> DIRECTION  message field=value ...

cN numbers the connections, >> is client to target, << the reverse;
DIRECTION follows from the message type (registry->node, node->registry,
node->node). Malformed frames are shown as MALFORMED with their byte offset in
that direction and forwarded all the same.

--wire auto tells the dialects apart per connection from the first four bytes
either side sends: four zero bytes start a minichord frame (an 8-byte length
under 4 GiB), anything else a cs455 one (a 4-byte length that must be >= 1).
Only a malformed cs455 stream starting with a zero length is mistaken.

--jsonl FILE writes one JSON object per frame in the format of the project's
wire vectors (dialect, origin, direction, frame_hex, message, fields);
malformed frames appear as message "malformed" with the error and offset.

The per-message Go port dials the registry afresh for each message and the
registry dials nodes directly: only connections made to --listen pass through."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--listen", required=True, metavar="PORT", type=int,
                        help="port to accept connections on (0: any free port, printed)")  # fmt: skip
    parser.add_argument("--to", required=True, metavar="HOST:PORT", help="where to forward")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1)")  # fmt: skip
    parser.add_argument("--wire", choices=WIRE_CHOICES, default="auto",
                        help="dialect to decode (default auto: per connection)")  # fmt: skip
    parser.add_argument("--jsonl", metavar="FILE", help="also save every frame as JSON lines")
    parser.add_argument("--origin", default="sniff",
                        help="the origin field of --jsonl records (default sniff)")  # fmt: skip


class SniffApp:
    def __init__(
        self, args: argparse.Namespace, out: IO[str] = sys.stdout, jsonl: IO[str] | None = None
    ) -> None:
        self.args = args
        self.out = out
        self.jsonl = jsonl
        self.start = 0.0
        self.frames = 0
        self.malformed = 0
        self.exit_status = 0

    def on_frame(self, seen: Seen) -> None:
        event = seen.event
        self.frames += 1
        if event.message is None:
            self.malformed += 1
            direction = "client->target" if seen.arrow == CLIENT_TO_TARGET else "target->client"
        else:
            direction = direction_of(event.message)
        text = describe(seen.dialect, event)
        self.out.write(
            f"{seen.time - self.start:+10.3f}  c{seen.connection} {seen.arrow} "
            f"{direction:<14}  {seen.dialect:<9}  {text}\n"
        )
        if self.jsonl is not None:
            self.jsonl.write(vector_line(seen.dialect, event, self.args.origin, direction) + "\n")

    async def main(self) -> int:
        target_host, target_port = parse_address(self.args.to)
        proxy = Proxy(target_host, target_port, self.args.wire, self.on_frame)
        self.start = trio.current_time()
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                await nursery.start(self._watch_signals)
                port = await nursery.start(proxy.serve, self.args.host, self.args.listen)
                print(
                    f"sniff: listening on {format_address(self.args.host, port)}, forwarding "
                    f"to {format_address(target_host, target_port)}, wire {self.args.wire}",
                    file=sys.stderr,
                    flush=True,
                )
        except OSError as exc:
            print(f"error: {exc}", file=sys.stderr, flush=True)
            return 2
        finally:
            self.out.flush()
            print(f"sniff: {self.frames} frames, {self.malformed} malformed", file=sys.stderr)
        return self.exit_status

    async def _watch_signals(self, *, task_status: trio.TaskStatus[None]) -> None:
        # Ctrl-C or SIGTERM ends the capture cleanly (files flushed, no traceback).
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            task_status.started()
            async for signum in signals:
                self.exit_status = 128 + signum
                self._nursery.cancel_scope.cancel()
                return


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``sniff`` to the command line."""
    parser = sub.add_parser(
        "sniff", help="a proxy that shows every frame between nodes and a registry",
        description="A transparent TCP proxy that decodes every frame.\n\n" + HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    add_arguments(parser)
    add_logging_arguments(parser)
    parser.set_defaults(run=main)


def main(args: argparse.Namespace) -> int:
    """Entry point for the command line (``args`` from ``add_arguments``)."""
    log_to_stderr(args)
    try:
        parse_address(args.to)
    except ValueError as exc:
        print(f"error: --to: {exc}", file=sys.stderr)
        return 2
    if not args.jsonl:
        return trio.run(SniffApp(args).main)
    try:
        jsonl = open(args.jsonl, "w", encoding="utf-8")  # noqa: SIM115 (closed below)
    except OSError as exc:
        print(f"error: --jsonl: {exc}", file=sys.stderr)
        return 2
    with jsonl:
        return trio.run(SniffApp(args, jsonl=jsonl).main)
