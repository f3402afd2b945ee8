"""A small messaging node for the checker's tests, with one deliberate flaw.

Run as ``python scripted_node.py --wire W --flaw F HOST PORT``. Without a
flaw (``--flaw none``) it follows SYSTEM.md; each flaw breaks exactly one rule,
so the checker must fail exactly the case meant for that rule:

- overshoot: forwards to its farthest entry even when that passes the sink
- wrong_entry: forwards to its first entry unless the sink is in its table
- trace_self_origin: puts its own id into the trace of packets it originates
- trace_source_relay: puts the source in front of the trace when relaying
- late_reset: resets its counters when a task starts, not after the summary
- early_summary: sends a summary unasked right after it finished (and later
  answers the request as it should)
- no_wait_dereg: closes its registry connection right after deregistering
- mute: registers, then ignores the registry (a node that hangs)

``--copy {copy} --flaw-copy N`` gives the flaw to copy N only (``check node
--count K`` fills in each copy's number), so one broken copy runs among good ones.
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import AsyncIterator

import trio

from trio_dht.overlay import distance, next_hop
from trio_dht.wire import WireError, get_dialect
from trio_dht.wire.messages import (
    Data,
    Deregistration,
    DeregistrationStatus,
    Message,
    NodeManifest,
    OverlaySetupStatus,
    Registration,
    RegistrationStatus,
    TaskFinished,
    TaskInitiate,
    TrafficSummary,
    TrafficSummaryRequest,
)

FLAWS = ("none", "overshoot", "wrong_entry", "trace_self_origin", "trace_source_relay",
         "late_reset", "early_summary", "no_wait_dereg", "mute")  # fmt: skip


class Node:
    def __init__(self, wire: str, flaw: str) -> None:
        self.dialect = get_dialect(wire)
        self.flaw = flaw
        self.rng = random.Random()
        self.me = -1
        self.host = ""
        self.port = 0
        self.table: list[int] = []
        self.ids: list[int] = []
        self.peers: dict[int, tuple[trio.SocketStream, trio.Lock]] = {}
        self.counts = [0, 0, 0, 0, 0]  # sent, relayed, sum sent, received, sum received
        self.registry: trio.SocketStream | None = None
        self.registry_lock = trio.Lock()
        self.left = trio.Event()

    async def send_registry(self, message: Message) -> None:
        assert self.registry is not None
        async with self.registry_lock:
            await self.registry.send_all(self.dialect.encode(message))

    async def send_peer(self, hop: int, packet: Data) -> None:
        stream, lock = self.peers[hop]
        async with lock:
            await stream.send_all(self.dialect.encode(packet))

    def hop(self, destination: int) -> int:
        if destination in self.table:
            return destination
        if self.flaw == "overshoot":
            return max(self.table, key=lambda e: distance(self.me, e))
        if self.flaw == "wrong_entry":
            return self.table[0]
        return next_hop(self.me, destination, self.table)

    def reset(self) -> None:
        self.counts = [0, 0, 0, 0, 0]

    def summary(self) -> TrafficSummary:
        sent, relayed, sum_sent, received, sum_received = self.counts
        return TrafficSummary(self.me, sent, relayed, sum_sent, received, sum_received)

    async def main(self, host: str, port: int) -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        self.port = int(listeners[0].socket.getsockname()[1])
        self.registry = await trio.open_tcp_stream(host, port)
        self.host = str(self.registry.socket.getsockname()[0])
        async with trio.open_nursery() as nursery:
            nursery.start_soon(trio.serve_listeners, self.serve_peer, listeners)
            nursery.start_soon(self.read_registry, nursery)
            nursery.start_soon(self.read_console)
            await self.send_registry(Registration(self.host, self.port))
            await self.left.wait()
            nursery.cancel_scope.cancel()

    async def frames(self, stream: trio.SocketStream) -> AsyncIterator[Message]:
        framer = self.dialect.framer()
        try:
            while data := await stream.receive_some(65536):
                for body in framer.feed(data):
                    yield self.dialect.decode(body)
        except (WireError, trio.BrokenResourceError):
            return

    async def serve_peer(self, stream: trio.SocketStream) -> None:
        async with stream:
            async for message in self.frames(stream):
                if isinstance(message, Data):
                    await self.on_data(message)

    async def on_data(self, packet: Data) -> None:
        if packet.destination == self.me:
            self.counts[3] += 1
            self.counts[4] += packet.payload
            return
        if packet.destination not in self.ids:
            return
        trace = (*packet.trace, self.me)
        if self.flaw == "trace_source_relay":
            trace = (packet.source, *trace)
        self.counts[1] += 1
        await self.send_peer(self.hop(packet.destination),
                             Data(packet.destination, packet.source, packet.payload, trace))  # fmt: skip

    async def read_registry(self, nursery: trio.Nursery) -> None:
        assert self.registry is not None
        async for message in self.frames(self.registry):
            if isinstance(message, RegistrationStatus):
                self.me = message.status
            elif self.flaw == "mute":
                continue
            elif isinstance(message, NodeManifest):
                await self.on_manifest(message)
            elif isinstance(message, TaskInitiate):
                if self.flaw == "late_reset":
                    self.reset()
                nursery.start_soon(self.originate, message.packets)
            elif isinstance(message, TrafficSummaryRequest):
                # Snapshot and reset in one step: a packet counted while the
                # summary is being sent must count in the next one.
                summary = self.summary()
                if self.flaw != "late_reset":
                    self.reset()
                await self.send_registry(summary)
            elif isinstance(message, DeregistrationStatus):
                self.left.set()
        self.left.set()

    async def on_manifest(self, manifest: NodeManifest) -> None:
        for stream, _ in self.peers.values():
            await stream.aclose()
        self.peers = {}
        try:
            for entry in manifest.entries:
                stream = await trio.open_tcp_stream(entry.host, entry.port)
                self.peers[entry.node_id] = (stream, trio.Lock())
        except OSError as exc:
            await self.send_registry(OverlaySetupStatus(-1, f"cannot connect: {exc}"[:100]))
            return
        self.table = [e.node_id for e in manifest.entries]
        self.ids = list(manifest.node_ids)
        await self.send_registry(OverlaySetupStatus(self.me, "Connected to all entries."))

    async def originate(self, packets: int) -> None:
        others = [i for i in self.ids if i != self.me]
        for _ in range(packets):
            sink = self.rng.choice(others)
            payload = self.rng.randint(-(2**31), 2**31 - 1)
            self.counts[0] += 1
            self.counts[2] += payload
            trace = (self.me,) if self.flaw == "trace_self_origin" else ()
            await self.send_peer(self.hop(sink), Data(sink, self.me, payload, trace))
        await self.send_registry(TaskFinished(self.host, self.port, self.me))
        if self.flaw == "early_summary":
            await self.send_registry(self.summary())

    async def read_console(self) -> None:
        while True:
            line = await trio.to_thread.run_sync(sys.stdin.readline, abandon_on_cancel=True)
            if not line:
                return
            if line.strip() in ("exit-overlay", "exit"):
                await self.send_registry(Deregistration(self.host, self.port, self.me))
                if self.flaw == "no_wait_dereg":
                    assert self.registry is not None
                    await self.registry.aclose()
                    self.left.set()
                return


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--wire", default="cs455")
    parser.add_argument("--flaw", choices=FLAWS, default="none")
    parser.add_argument("--copy", type=int, default=0, help="this copy's number")
    parser.add_argument("--flaw-copy", type=int, default=0, help="the copy with the flaw (0: all)")
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    args = parser.parse_args()
    flaw = args.flaw if args.flaw_copy in (0, args.copy) else "none"
    trio.run(Node(args.wire, flaw).main, args.host, args.port)


if __name__ == "__main__":
    main()
