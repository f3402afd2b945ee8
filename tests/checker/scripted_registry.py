"""A small registry for the checker's tests, with one deliberate flaw.

Run as ``python scripted_registry.py --wire W --flaw F PORT``; commands on
stdin: ``setup-overlay NR``, ``start N``, ``exit``. Without a flaw it follows
SYSTEM.md (and waits ``--grace`` seconds after the last task-finished, as the
classic registries do); each flaw breaks exactly one rule:

- wrong_order: manifest entries in reverse order (4, 2, 1 positions ahead)
- accept_spoof: takes any address a registration claims
- early_summary: asks for the summaries as soon as every node finished
- double_dereg: answers a second deregistration with success
"""

from __future__ import annotations

import argparse
import random
import sys

import trio

from trio_dht.overlay import IdAllocator, routing_tables
from trio_dht.wire import WireError, get_dialect
from trio_dht.wire.messages import (
    Deregistration,
    DeregistrationStatus,
    Message,
    NodeManifest,
    PeerEntry,
    Registration,
    RegistrationStatus,
    TaskFinished,
    TaskInitiate,
    TrafficSummary,
    TrafficSummaryRequest,
)

FLAWS = ("none", "wrong_order", "accept_spoof", "early_summary", "double_dereg")
TEXT = ("Registration request successful. The number of messaging nodes currently "
        "constituting the overlay is ({})")  # fmt: skip


class Registry:
    def __init__(self, wire: str, flaw: str, grace: float) -> None:
        self.dialect = get_dialect(wire)
        self.flaw = flaw
        self.grace = grace
        self.ids = IdAllocator(rng=random.Random())
        # id -> (host, port, stream)
        self.nodes: dict[int, tuple[str, int, trio.SocketStream]] = {}
        self.gone: set[int] = set()
        self.finished: set[int] = set()
        self.lock = trio.Lock()

    async def send(self, stream: trio.SocketStream, message: Message) -> None:
        async with self.lock:
            await stream.send_all(self.dialect.encode(message))

    async def serve(self, stream: trio.SocketStream) -> None:
        framer = self.dialect.framer()
        real_host = str(stream.socket.getpeername()[0])
        try:
            while data := await stream.receive_some(65536):
                for body in framer.feed(data):
                    await self.on_message(self.dialect.decode(body), stream, real_host)
        except (WireError, trio.BrokenResourceError):
            return

    async def on_message(self, m: Message, stream: trio.SocketStream, real_host: str) -> None:
        if isinstance(m, Registration):
            taken = any((h, p) == (m.host, m.port) for h, p, _ in self.nodes.values())
            if m.host != real_host and self.flaw != "accept_spoof":
                await self.send(stream, RegistrationStatus(-1, "address mismatch"))
            elif taken:
                await self.send(stream, RegistrationStatus(-1, "already registered"))
            else:
                node_id = self.ids.allocate()
                self.nodes[node_id] = (m.host, m.port, stream)
                await self.send(stream, RegistrationStatus(node_id, TEXT.format(len(self.nodes))))
        elif isinstance(m, Deregistration):
            record = self.nodes.get(m.node_id)
            if m.node_id in self.gone and self.flaw == "double_dereg":
                await self.send(stream, DeregistrationStatus(m.node_id, "gone"))
            elif record is None or record[2] is not stream:
                await self.send(stream, DeregistrationStatus(-1, "not yours"))
            else:
                del self.nodes[m.node_id]
                self.ids.release(m.node_id)
                self.gone.add(m.node_id)
                await self.send(stream, DeregistrationStatus(m.node_id, "bye"))
        elif isinstance(m, TaskFinished):
            self.finished.add(m.node_id)
            if self.finished >= set(self.nodes):
                if self.flaw != "early_summary":
                    # The classic registries' own behaviour (they sleep
                    # before asking), which the checker measures: not a wait.
                    await trio.sleep(self.grace)
                for _, _, node_stream in self.nodes.values():
                    await self.send(node_stream, TrafficSummaryRequest())
        elif isinstance(m, TrafficSummary):
            print(f"summary {m}", flush=True)

    async def console(self) -> None:
        while line := await trio.to_thread.run_sync(sys.stdin.readline, abandon_on_cancel=True):
            words = line.split()
            if words[:1] == ["setup-overlay"]:
                tables = routing_tables(self.nodes, int(words[1]))
                ids = tuple(sorted(self.nodes))
                for node_id, entries in tables.items():
                    order = entries[::-1] if self.flaw == "wrong_order" else entries
                    peers = tuple(PeerEntry(e, *self.nodes[e][:2]) for e in order)
                    await self.send(self.nodes[node_id][2], NodeManifest(peers, ids))
            elif words[:1] == ["start"]:
                self.finished = set()
                for _, _, stream in self.nodes.values():
                    await self.send(stream, TaskInitiate(int(words[1])))
            elif words[:1] == ["exit"]:
                return


async def main(args: argparse.Namespace) -> None:
    registry = Registry(args.wire, args.flaw, args.grace)
    listeners = await trio.open_tcp_listeners(args.port, host="127.0.0.1")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.serve_listeners, registry.serve, listeners)
        await registry.console()
        nursery.cancel_scope.cancel()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--wire", default="cs455")
    parser.add_argument("--flaw", choices=FLAWS, default="none")
    parser.add_argument("--grace", type=float, default=3.0)
    parser.add_argument("port", type=int)
    trio.run(main, parser.parse_args())
