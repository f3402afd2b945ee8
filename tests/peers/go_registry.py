"""The seed's Go registry, scripted (see go_per_message.py for the model).

Every accepted connection is read for one frame and never read or closed
again. Registration and deregistration are answered on the connection they
came on; everything else the registry says is dialled to the node's
registered listening address, one frame per connection, closed at once.
Summaries are requested as soon as the last task-finished is in, like the
real one, unless ``before_summaries`` is given (an awaitable to wait for
the overlay to go quiet first: exact totals need it).
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import trio

from peers import go_wire as wire
from peers.connlog import Conn, ConnLog, ConnOwner
from peers.ring import ID_SPACE, tables
from trio_dht.wire import minichord_pb2 as pb

HOST = "127.0.0.1"


@dataclass(eq=False)
class GoNodeRecord:
    node_id: int
    address: str
    host: str
    port: int
    # The registration connection: kept, never read, written or closed.
    conn: Conn


@dataclass(eq=False)
class GoRun:
    """One ``start N``: task-finished reports and summaries as they come."""

    packets: int
    node_ids: tuple[int, ...]
    finished: set[int] = field(default_factory=set)
    summaries: dict[int, pb.TrafficSummary] = field(default_factory=dict)
    summaries_requested: trio.Event = field(default_factory=trio.Event)
    done: trio.Event = field(default_factory=trio.Event)

    @property
    def sent(self) -> int:
        return sum(s.Sent for s in self.summaries.values())

    @property
    def received(self) -> int:
        return sum(s.Received for s in self.summaries.values())

    @property
    def relayed(self) -> int:
        return sum(s.Relayed for s in self.summaries.values())

    @property
    def total_sent(self) -> int:
        return sum(s.TotalSent for s in self.summaries.values())

    @property
    def total_received(self) -> int:
        return sum(s.TotalReceived for s in self.summaries.values())

    def exact(self, expected: int) -> bool:
        """Every packet counted once at both ends, payload sums equal."""
        return (
            self.sent == self.received == expected
            and self.total_sent == self.total_received
            and set(self.summaries) == set(self.node_ids)
        )

    def verdict(self) -> str:
        return (
            f"sent {self.sent}, received {self.received}, relayed {self.relayed}, "
            f"sums {self.total_sent}/{self.total_received}, "
            f"summaries from {sorted(self.summaries)} of {sorted(self.node_ids)}"
        )


class GoRegistry:
    """``serve`` listens (reporting the port to ``nursery.start``); the other
    coroutines are the registry's console commands."""

    def __init__(
        self,
        log: ConnLog | None = None,
        rng: random.Random | None = None,
        host: str = HOST,
        before_summaries: Callable[[], Awaitable[object]] | None = None,
        panic_on_length_error: bool = True,
    ) -> None:
        self.log = log if log is not None else ConnLog()
        self.rng = rng if rng is not None else random.Random()
        self.host = host
        self.port = 0
        self.before_summaries = before_summaries
        self.panic = panic_on_length_error
        self.conns = ConnOwner(self.log, "go registry")
        self.nodes: dict[int, GoNodeRecord] = {}
        self.setup_results: dict[int, int] = {}
        self.ready = trio.Event()
        self.run: GoRun | None = None
        self.deregistered: list[int] = []
        self._changed = trio.Event()
        self._lock = trio.Lock()
        self._nursery: trio.Nursery | None = None

    @property
    def name(self) -> str:
        return self.conns.name

    async def serve(
        self, port: int = 0, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED
    ) -> None:
        listeners = await trio.open_tcp_listeners(port, host=self.host)
        self.port = listeners[0].socket.getsockname()[1]
        self.log.names[f"{self.host}:{self.port}"] = self.name
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

    async def _until(self, condition: Callable[[], bool]) -> None:
        while not condition():
            await self._changed.wait()

    async def wait_for_nodes(self, count: int) -> None:
        await self._until(lambda: len(self.nodes) >= count)

    # --- accepted connections: one frame each, never closed -------------------

    async def _on_accept(self, stream: trio.SocketStream) -> None:
        conn = self.conns.adopt(stream)
        message = await wire.read_frame(self.log, conn, panic=self.panic)
        if message is None:
            return
        name = wire.kind(message)
        conn.purpose = name
        if name == "registration":
            await self._register(conn, message.registration.Address)
        elif name == "deregistration":
            await self._deregister(conn, message.deregistration)
        elif name == "nodeRegistryResponse":
            self._on_setup_status(message.nodeRegistryResponse)
        elif name == "taskFinished":
            self._on_finished(message.taskFinished)
        elif name == "reportTrafficSummary":
            self._on_summary(message.reportTrafficSummary)
        else:
            self.log.event(conn, "unexpected", name)
        self._poke()

    async def _register(self, conn: Conn, address: str) -> None:
        remote_host = conn.remote.rpartition(":")[0]
        try:
            host, port = wire.split_address(address)
        except ValueError:
            host, port = "", 0
        if host != remote_host:
            answer = wire.registration_response(-4, wire.ADDRESS_MISMATCH_TEXT)
        elif any(record.address == address for record in self.nodes.values()):
            answer = wire.registration_response(-3, wire.ALREADY_REGISTERED_TEXT)
        elif len(self.nodes) >= ID_SPACE:
            answer = wire.registration_response(-1, "the overlay is full")
        else:
            free = [i for i in range(ID_SPACE) if i not in self.nodes]
            node_id = self.rng.choice(free)
            self.nodes[node_id] = GoNodeRecord(node_id, address, host, port, conn)
            self.log.names[address] = f"node {node_id}"
            text = wire.REGISTERED_TEXT.format(count=len(self.nodes))
            answer = wire.registration_response(node_id, text)
        await wire.write_frame(self.log, conn, answer)
        # Success or refusal, the connection stays open and unread.

    async def _deregister(self, conn: Conn, message: pb.Deregistration) -> None:
        record = self.nodes.get(message.Id)
        if record is None:
            answer = wire.deregistration_response(-1, wire.NOT_REGISTERED_TEXT)
        elif record.address != message.Address:
            answer = wire.deregistration_response(-2, wire.DEREGISTRATION_MISMATCH_TEXT)
        else:
            # The registration connection is forgotten, not closed.
            del self.nodes[message.Id]
            self.deregistered.append(message.Id)
            answer = wire.deregistration_response(0, wire.DEREGISTERED_TEXT)
        await wire.write_frame(self.log, conn, answer)

    # --- commands -------------------------------------------------------------------

    async def _tell(self, node_id: int, message: pb.MiniChord, purpose: str) -> Conn:
        record = self.nodes[node_id]
        conn = await self.conns.dial(record.host, record.port, purpose)
        await wire.write_frame(self.log, conn, message)
        return conn

    async def setup(self, nr: int = 3) -> None:
        """Dial each node in sorted id order with its manifest, closing each
        connection at once."""
        async with self._lock:
            ids = sorted(self.nodes)
            self.ready = trio.Event()
            self.setup_results = {}
            for node_id, entries in sorted(tables(ids, nr).items()):
                peers = [(e, self.nodes[e].address) for e in entries]
                conn = await self._tell(node_id, wire.node_registry(nr, peers, ids), "manifest")
                await self.conns.close(conn)

    def _on_setup_status(self, status: pb.NodeRegistryResponse) -> None:
        self.setup_results[status.Result] = status.Result
        if self.nodes and all(self.setup_results.get(i) == i for i in self.nodes):
            self.ready.set()

    async def wait_ready(self) -> None:
        await self.ready.wait()

    async def start(self, packets: int) -> GoRun:
        """Dial every node with the task; the connections are closed together
        after the last one was written. Returns the run (``done`` is set once
        every node's summary is in)."""
        async with self._lock:
            run = GoRun(packets, tuple(sorted(self.nodes)))
            self.run = run
            opened = [
                await self._tell(node_id, wire.initiate_task(packets), "initiate-task")
                for node_id in run.node_ids
            ]
            for conn in opened:
                await self.conns.close(conn)
        return run

    def _on_finished(self, message: pb.TaskFinished) -> None:
        run = self.run
        if run is None:
            return
        run.finished.add(message.Id)
        if run.finished >= set(self.nodes) and not run.summaries_requested.is_set():
            run.summaries_requested.set()
            assert self._nursery is not None
            self._nursery.start_soon(self._request_summaries, run)

    async def _request_summaries(self, run: GoRun) -> None:
        if self.before_summaries is not None:
            await self.before_summaries()
        for node_id in sorted(self.nodes):
            conn = await self._tell(node_id, wire.summary_request(), "summary-request")
            await self.conns.close(conn)

    def _on_summary(self, summary: pb.TrafficSummary) -> None:
        run = self.run
        if run is None:
            return
        run.summaries[summary.Id] = summary
        if len(run.summaries) >= len(self.nodes):
            run.done.set()
