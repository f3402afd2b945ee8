"""Helper F's scripted Go per-message node (tests/peers/) as a program, so
``check node --per-message`` can start it: ``go_node_main.py HOST PORT``;
``exit`` on stdin makes it deregister. ``--source-in-trace`` keeps the Go
port's habit of putting the sender into the trace (off by default)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for peers.*

from peers.go_per_message import GoNode, GoQuirks


async def console(node: GoNode) -> None:
    while line := await trio.to_thread.run_sync(sys.stdin.readline, abandon_on_cancel=True):
        if line.strip() in ("exit", "exit-overlay"):
            await node.leave()
            return


async def main(args: argparse.Namespace) -> None:
    quirks = GoQuirks(source_in_trace=args.source_in_trace)
    node = GoNode(args.host, args.port, quirks=quirks)
    async with trio.open_nursery() as nursery:
        await nursery.start(node.run)
        nursery.start_soon(console, node)
        await node.stopped.wait()
        nursery.cancel_scope.cancel()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--source-in-trace", action="store_true")
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    trio.run(main, parser.parse_args())
