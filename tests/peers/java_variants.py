"""Scripted peers of the cs455 Java variant that marshals addresses as text
(``java-variant-text-address`` in tests/vectors/cs455-variants.jsonl), with
the persistent connection model of the Java ports.

- ``TextAddressNode`` keeps one connection to its registry for all control
  traffic both ways, opens one connection per routing-table entry when its
  manifest arrives and sends every data packet on those; it reads each
  accepted connection as a stream of frames (exact reads, like Java's
  readFully). It registers with its address as dotted text, reads
  addresses in manifests as text (a raw 4-byte address becomes a garbled
  host name it cannot connect to: setup status -1) and picks sinks among
  the manifest's ids other than its own.
- ``TextAddressRegistry`` answers on the node's connection, compares the
  registered address as a string with the host the connection comes from
  and refuses a mismatch with status -1 and an info text that quotes the
  claimed address as received (a raw 4-byte registration quoted as its
  four raw bytes, as captured), lists in a manifest only the distinct
  entries (NR byte = entries listed) and every id but the receiver's, and
  forgets a node whose connection closes. Summaries are requested as soon
  as every node has finished unless ``before_summaries`` is given (pass
  go_per_message.quiet_overlay for exact totals).

Frames: cs455_text.py (struct only). Routing: ring.py (SYSTEM.md). Every
peer records its connections in a ConnLog like the Go peers do.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import trio

from peers import cs455_text as wire
from peers.connlog import ConnLog, ConnOwner
from peers.java_stream import KIND_NAMES, FrameStream, field_int, field_str
from peers.java_text_node import TextAddressNode
from peers.ring import ID_SPACE, distinct_tables

__all__ = ["TextAddressNode", "TextAddressRegistry", "TextRun"]

HOST = "127.0.0.1"
# --- registry ---------------------------------------------------------------------


@dataclass(eq=False)
class TextRecord:
    node_id: int
    host: str
    port: int
    stream: FrameStream


@dataclass(eq=False)
class TextRun:
    packets: int
    node_ids: tuple[int, ...]
    finished: set[int] = field(default_factory=set)
    summaries: dict[int, dict[str, object]] = field(default_factory=dict)
    done: trio.Event = field(default_factory=trio.Event)

    def total(self, key: str) -> int:
        return sum(field_int(s, key) for s in self.summaries.values())

    def exact(self, expected: int) -> bool:
        return (
            self.total("sent") == self.total("received") == expected
            and self.total("sum_sent") == self.total("sum_received")
            and set(self.summaries) == set(self.node_ids)
        )

    def verdict(self) -> str:
        return (
            f"sent {self.total('sent')}, received {self.total('received')}, "
            f"relayed {self.total('relayed')}, sums {self.total('sum_sent')}/"
            f"{self.total('sum_received')}, summaries {sorted(self.summaries)} of "
            f"{sorted(self.node_ids)}"
        )


class TextAddressRegistry:
    """``serve`` listens and reports its port to ``nursery.start``; the
    coroutines below are its console commands."""

    def __init__(
        self,
        log: ConnLog | None = None,
        rng: random.Random | None = None,
        host: str = HOST,
        before_summaries: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        self.log = log if log is not None else ConnLog()
        self.rng = rng if rng is not None else random.Random()
        self.host = host
        self.port = 0
        self.before_summaries = before_summaries
        self.conns = ConnOwner(self.log, "text registry")
        self.nodes: dict[int, TextRecord] = {}
        self.refusals: list[dict[str, object]] = []
        self.setup_results: dict[int, int] = {}
        self.ready = trio.Event()
        self.run: TextRun | None = None
        self._changed = trio.Event()
        self._nursery: trio.Nursery | None = None

    @property
    def name(self) -> str:
        return self.conns.name

    async def serve(
        self, port: int = 0, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED
    ) -> None:
        listeners = await trio.open_tcp_listeners(port, host=self.host)
        self.port = listeners[0].socket.getsockname()[1]
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                await nursery.start(self.conns.serve, listeners, self._on_accept)
                task_status.started(self.port)
        finally:
            with trio.CancelScope(shield=True):
                for listener in listeners:
                    await listener.aclose()
                await self.conns.close_all()

    def _poke(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    async def wait_for_nodes(self, count: int) -> None:
        while len(self.nodes) < count:
            await self._changed.wait()

    async def _on_accept(self, stream: trio.SocketStream) -> None:
        conn = self.conns.adopt(stream)
        frames = FrameStream(self.log, conn)
        mine: set[int] = set()
        try:
            while (message := await frames.read_decoded()) is not None:
                await self._dispatch(frames, message, mine)
                self._poke()
        except wire.TextFrameError:
            pass
        for node_id in mine:
            # Its connection is gone: as if it had deregistered.
            self.nodes.pop(node_id, None)
        await self.conns.close(conn)
        self._poke()

    async def _dispatch(self, frames: FrameStream, message: wire.Decoded, mine: set[int]) -> None:
        f = message.fields
        if message.kind == wire.REGISTRATION:
            await self._register(frames, field_str(f, "ip"), field_int(f, "port"), mine)
        elif message.kind == wire.DEREGISTRATION:
            await self._deregister(frames, f, mine)
        elif message.kind == wire.SETUP_STATUS:
            self.setup_results[field_int(f, "status")] = field_int(f, "status")
            if self.nodes and all(self.setup_results.get(i) == i for i in self.nodes):
                self.ready.set()
        elif message.kind == wire.TASK_FINISHED:
            self._on_finished(field_int(f, "node_id"))
        elif message.kind == wire.SUMMARY and self.run is not None:
            self.run.summaries[field_int(f, "node_id")] = f
            if len(self.run.summaries) >= len(self.nodes):
                self.run.done.set()
        else:
            self.log.event(frames.conn, "unexpected", KIND_NAMES[message.kind])

    async def _register(self, frames: FrameStream, ip: str, port: int, mine: set[int]) -> None:
        real = frames.conn.remote.rpartition(":")[0]
        if ip != real:
            info = wire.MISMATCH_TEXT.format(real=real, claimed=ip)
            self.refusals.append({"ip": ip, "port": port, "info": info})
            await frames.write(wire.status(wire.REGISTRATION_STATUS, -1, info))
            return
        if any((r.host, r.port) == (ip, port) for r in self.nodes.values()) or mine:
            info = "Registration request unsuccessful. The node is already registered."
            await frames.write(wire.status(wire.REGISTRATION_STATUS, -1, info))
            return
        free = [i for i in range(ID_SPACE) if i not in self.nodes]
        node_id = self.rng.choice(free)
        self.nodes[node_id] = TextRecord(node_id, ip, port, frames)
        mine.add(node_id)
        info = wire.REGISTERED_TEXT.format(count=len(self.nodes))
        await frames.write(wire.status(wire.REGISTRATION_STATUS, node_id, info))

    async def _deregister(self, frames: FrameStream, f: dict[str, object], mine: set[int]) -> None:
        node_id = field_int(f, "node_id")
        record = self.nodes.get(node_id)
        if record is None or node_id not in mine or record.host != field_str(f, "ip"):
            info = "Deregistration request unsuccessful. The node is not registered."
            await frames.write(wire.status(wire.DEREGISTRATION_STATUS, -1, info))
            return
        del self.nodes[node_id]
        mine.discard(node_id)
        info = wire.DEREGISTERED_TEXT.format(count=len(self.nodes))
        await frames.write(wire.status(wire.DEREGISTRATION_STATUS, node_id, info))

    async def setup(self, nr: int = 3) -> None:
        ids = sorted(self.nodes)
        self.ready = trio.Event()
        self.setup_results = {}
        for node_id, entries in sorted(distinct_tables(ids, nr).items()):
            listed = [(e, self.nodes[e].host, self.nodes[e].port) for e in entries]
            others = [i for i in ids if i != node_id]
            await self.nodes[node_id].stream.write(wire.manifest(listed, others))

    async def wait_ready(self) -> None:
        await self.ready.wait()

    async def start(self, packets: int) -> TextRun:
        run = TextRun(packets, tuple(sorted(self.nodes)))
        self.run = run
        for node_id in run.node_ids:
            await self.nodes[node_id].stream.write(wire.task_initiate(packets))
        return run

    def _on_finished(self, node_id: int) -> None:
        run = self.run
        if run is None or node_id in run.finished:
            return
        run.finished.add(node_id)
        if run.finished >= set(self.nodes):
            assert self._nursery is not None
            self._nursery.start_soon(self._request_summaries)

    async def _request_summaries(self) -> None:
        if self.before_summaries is not None:
            await self.before_summaries()
        for record in list(self.nodes.values()):
            await record.stream.write(wire.summary_request())
