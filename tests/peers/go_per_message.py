"""Scripted peers of the one-message-per-connection kind: the seed's Go
port, minichord dialect, as ../vectors/minichord-per-message-transcript.md
describes it (tests/vectors/ holds the copy).

``GoNode`` (here) and ``GoRegistry`` (go_registry.py, re-exported here) run
on trio with real loopback sockets and behave like the transcript:

- Every accepted connection is read for exactly one frame, with one receive
  call for the 8-byte prefix and one for the body; a short read is a
  "length error" (see go_wire.py). Accepted connections are never closed
  while the peer runs (``GoQuirks.hold_accepted``).
- Every frame is written in two writes (prefix, body).
- Registration: the node dials the registry, writes, reads one answer and
  never reads or closes that connection again; the registry answers on it
  and keeps it open and unread as well.
- Manifest, initiate task and summary request: the registry dials the
  node's listening address, writes one frame, closes (the initiate-task
  connections all together after the last one was written).
- On a manifest the node probes each peer with an empty connection, then
  dials the registry with its setup status and leaves that connection open.
- Data: a fresh connection per packet to the next hop, closed at once.
  Task finished and traffic summary: a fresh connection each, closed at
  once. Deregistration: a fresh connection, one answer read from it.

The Go port's quirks are switches of ``GoQuirks``. ON by default (harmless
to exact totals, and what a peer must tolerate): ``source_in_trace``,
``hold_accepted``, ``panic_on_length_error``. OFF by default (they would
break exact totals or hide routing): ``sinks_from_table``,
``count_sends_as_relays``, ``send_interval`` (0.0 instead of the port's
10 ms sleep). Next hops follow SYSTEM.md (tests/peers/ring.py), so
trio_dht's peers see correct routing.

Use (inside one trio run; every peer writes into one shared ConnLog):

    log = ConnLog()
    registry = GoRegistry(log, before_summaries=quiet_overlay)
    port = await nursery.start(registry.serve)
    nodes = [GoNode(HOST, port, log) for _ in range(4)]
    for node in nodes:
        await nursery.start(node.run)
    await registry.setup(3)
    await registry.wait_ready()
    run = await registry.start(20)
    await run.done.wait()
    assert run.exact(4 * 20)
    assert not log.length_errors()
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import trio
import trio.testing

from peers import go_wire as wire
from peers.connlog import Conn, ConnLog, ConnOwner
from peers.go_registry import GoRegistry, GoRun
from peers.ring import next_hop
from trio_dht.wire import minichord_pb2 as pb

__all__ = ["GoNode", "GoQuirks", "GoRegistry", "GoRun", "quiet_overlay"]

HOST = "127.0.0.1"
# Real seconds every task must stay blocked for the overlay to count as
# quiet (covers a loopback segment whose delivery the kernel deferred).
QUIET_CUSHION = 0.05


async def quiet_overlay() -> None:
    """Wait until every other task of this trio run has been blocked, with
    no socket ready, for a short cushion: with every peer in one process,
    nothing is in flight any more. Pass as ``before_summaries=``. (Sleeping
    tasks count as blocked; a peer with a periodic timer still lets this
    return between its ticks.)"""
    await trio.testing.wait_all_tasks_blocked(cushion=QUIET_CUSHION)


@dataclass
class GoQuirks:
    """Switches for the Go port's habits (see the module docstring)."""

    # The sender appends its own id to the trace and adds 1 to hops before
    # every send, so an originated packet leaves with trace [source], hops 1.
    source_in_trace: bool = True
    # Sinks are random routing-table entries only (nothing is ever relayed).
    sinks_from_table: bool = False
    # Every data frame sent (originated or relayed) counts as relayed.
    count_sends_as_relays: bool = False
    # Sleep after each originated packet (the port: 0.010 s).
    send_interval: float = 0.0
    # Keep accepted connections open until the node stops (captured); False
    # closes each once its frame was handled, as Go's garbage collector
    # would eventually do (needed at 25,000 packets per node: descriptors).
    hold_accepted: bool = True
    # A length error ends the node (the real process dies of a nil pointer).
    panic_on_length_error: bool = True


class GoNode:
    """The seed's Go messaging node. ``run`` listens, registers and serves
    until ``stop``, ``leave`` or cancellation; it reports itself to
    ``nursery.start`` once registered."""

    def __init__(
        self,
        registry_host: str,
        registry_port: int,
        log: ConnLog | None = None,
        quirks: GoQuirks | None = None,
        rng: random.Random | None = None,
        host: str = HOST,
    ) -> None:
        self.registry_host = registry_host
        self.registry_port = registry_port
        self.log = log if log is not None else ConnLog()
        self.quirks = quirks if quirks is not None else GoQuirks()
        self.rng = rng if rng is not None else random.Random()
        self.host = host
        self.port = 0
        self.node_id = -1
        self.conns = ConnOwner(self.log, "go node")
        self.registration: Conn | None = None
        self.table: list[tuple[int, str]] = []
        self.ids: list[int] = []
        self.sent = self.received = self.relayed = 0
        self.total_sent = self.total_received = 0
        self.dropped = 0
        self.setup_result: int | None = None
        self.manifests = 0
        self.finished = trio.Event()
        self.stopped = trio.Event()
        self._scope = trio.CancelScope()
        self._nursery: trio.Nursery | None = None

    @property
    def name(self) -> str:
        return self.conns.name

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    async def run(self, *, task_status: trio.TaskStatus[GoNode] = trio.TASK_STATUS_IGNORED) -> None:
        listeners = await trio.open_tcp_listeners(0, host=self.host)
        self.port = listeners[0].socket.getsockname()[1]
        self.conns.name = f"go node {self.address}"
        try:
            with self._scope:
                async with trio.open_nursery() as nursery:
                    self._nursery = nursery
                    await nursery.start(self.conns.serve, listeners, self._on_accept)
                    await self._register()
                    task_status.started(self)
        finally:
            with trio.CancelScope(shield=True):
                for listener in listeners:
                    await listener.aclose()
                await self.conns.close_all()
            self.stopped.set()

    def stop(self) -> None:
        """Exit: every connection this node holds closes."""
        self._scope.cancel()

    async def _register(self) -> None:
        conn = await self.conns.dial(self.registry_host, self.registry_port, "registration")
        self.registration = conn
        await wire.write_frame(self.log, conn, wire.registration(self.address))
        answer = await wire.read_frame(self.log, conn, panic=self.quirks.panic_on_length_error)
        if answer is None or wire.kind(answer) != "registrationResponse":
            raise RuntimeError(f"{self.name}: no registration answer ({answer!r})")
        result = answer.registrationResponse.Result
        if result < 0:
            raise RuntimeError(
                f"{self.name}: registration refused: {result} {answer.registrationResponse.Info}"
            )
        self.node_id = result
        self.log.names[self.address] = f"go node {result}"
        # From here on this connection is neither read nor closed.

    # --- accepted connections: one frame each --------------------------------

    async def _on_accept(self, stream: trio.SocketStream) -> None:
        conn = self.conns.adopt(stream)
        message = await wire.read_frame(self.log, conn, panic=self.quirks.panic_on_length_error)
        if message is not None:
            conn.purpose = wire.kind(message)
            await self._dispatch(conn, message)
        if not self.quirks.hold_accepted:
            await self.conns.close(conn)

    async def _dispatch(self, conn: Conn, message: pb.MiniChord) -> None:
        name = wire.kind(message)
        if name == "nodeRegistry":
            await self._on_manifest(message.nodeRegistry)
        elif name == "initiateTask":
            assert self._nursery is not None
            self._nursery.start_soon(self._originate, message.initiateTask.Packets)
        elif name == "nodeData":
            await self._on_data(message.nodeData)
        elif name == "requestTrafficSummary":
            await self._send_summary()
        else:
            self.log.event(conn, "unexpected", name)

    async def _on_manifest(self, manifest: pb.NodeRegistry) -> None:
        self.manifests += 1
        self.table = [(peer.Id, peer.Address) for peer in manifest.Peers]
        self.ids = list(manifest.Ids)
        result = self.node_id
        for peer_id, address in self.table:
            if peer_id == self.node_id:
                continue
            try:
                host, port = wire.split_address(address)
                probe = await self.conns.dial(host, port, "probe")
            except (OSError, ValueError) as exc:
                self.log.note(self.name, "refused", f"probe of {address}: {exc}")
                result = wire.SETUP_FAILED_RESULT
                continue
            await self.conns.close(probe)
        self.setup_result = result
        info = wire.SETUP_OK_TEXT if result >= 0 else wire.SETUP_FAILED_TEXT
        conn = await self.conns.dial(self.registry_host, self.registry_port, "setup-status")
        await wire.write_frame(self.log, conn, wire.setup_status(result, info))
        # Left open: the port has no Close on this path.

    # --- data -------------------------------------------------------------------

    async def _originate(self, packets: int) -> None:
        me = self.node_id
        if self.quirks.sinks_from_table:
            sinks = [peer_id for peer_id, _ in self.table if peer_id != me]
        else:
            sinks = [i for i in self.ids if i != me]
        for _ in range(packets):
            payload = self.rng.randint(-(2**31), 2**31 - 1)
            self.sent += 1
            self.total_sent += payload
            await self._send_data(self.rng.choice(sinks), me, payload, 0, [], relay=False)
            if self.quirks.send_interval:
                # The port's pacing between packets (a captured quirk, off
                # by default): behaviour being imitated, not a wait.
                await trio.sleep(self.quirks.send_interval)
        conn = await self.conns.dial(self.registry_host, self.registry_port, "task-finished")
        await wire.write_frame(self.log, conn, wire.task_finished(self.address, me))
        await self.conns.close(conn)
        self.finished.set()

    async def _on_data(self, data: pb.NodeData) -> None:
        if data.Destination == self.node_id:
            self.received += 1
            self.total_received += data.Payload
            return
        await self._send_data(
            data.Destination, data.Source, data.Payload, data.Hops, list(data.Trace), relay=True
        )

    async def _send_data(
        self,
        destination: int,
        source: int,
        payload: int,
        hops: int,
        trace: list[int],
        *,
        relay: bool,
    ) -> None:
        if self.quirks.source_in_trace or relay:
            trace.append(self.node_id)
            hops += 1
        if relay or self.quirks.count_sends_as_relays:
            self.relayed += 1
        via = next_hop(self.node_id, destination, [peer_id for peer_id, _ in self.table])
        address = dict(self.table).get(via) if via is not None else None
        if address is None:
            self.dropped += 1
            self.log.note(self.name, "no-route", f"packet for {destination}")
            return
        host, port = wire.split_address(address)
        try:
            conn = await self.conns.dial(host, port, "data")
        except OSError as exc:
            self.dropped += 1
            self.log.note(self.name, "refused", f"data to {address}: {exc}")
            return
        try:
            await wire.write_frame(
                self.log, conn, wire.node_data(destination, source, payload, hops, trace)
            )
        except trio.BrokenResourceError as exc:
            # The receiver accepted and reset the connection: the packet is
            # lost (the port logs a failed Write and goes on).
            self.dropped += 1
            self.log.event(conn, "refused", f"data to {address}: {exc}")
        await self.conns.close(conn)

    # --- reports -----------------------------------------------------------------

    async def _send_summary(self) -> None:
        conn = await self.conns.dial(self.registry_host, self.registry_port, "summary")
        await wire.write_frame(
            self.log,
            conn,
            wire.traffic_summary(
                self.node_id,
                self.sent,
                self.relayed,
                self.received,
                self.total_sent,
                self.total_received,
            ),
        )
        await self.conns.close(conn)
        self.sent = self.received = self.relayed = 0
        self.total_sent = self.total_received = 0

    async def leave(self) -> int:
        """Deregister on a fresh connection and read one answer; on result 0
        the node exits. Returns the result."""
        conn = await self.conns.dial(self.registry_host, self.registry_port, "deregistration")
        await wire.write_frame(self.log, conn, wire.deregistration(self.address, self.node_id))
        answer = await wire.read_frame(self.log, conn, panic=self.quirks.panic_on_length_error)
        if answer is None or wire.kind(answer) != "deregistrationResponse":
            raise RuntimeError(f"{self.name}: no deregistration answer ({answer!r})")
        result = answer.deregistrationResponse.Result
        if result == 0:
            self.stop()
        return result
