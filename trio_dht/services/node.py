"""The messaging node: registers, connects to its routing table, originates
and relays data packets, reports its counters.

One nursery supervises: the listener (one reader task per incoming
connection), the registry session (reader + writer), one writer task per
routing-table peer, the progress (stats) task and, during a run, the
originator. Leaving the overlay is cancelling that nursery's scope.

The data path never awaits per packet: a reader takes every whole frame of a
received chunk, routes them all synchronously into per-peer lists, and then
hands each list to that peer's writer as one joined batch.
"""

from __future__ import annotations

import logging
import random
import struct
from collections.abc import Sequence

import attrs
import trio

from trio_dht.overlay import ID_SPACE, next_hop_map
from trio_dht.services.errors import ProtocolViolation
from trio_dht.services.observer import Observer
from trio_dht.transport import (
    DialWriter,
    FrameReader,
    FrameWriter,
    QueuedWriter,
    can_dial,
    format_address,
    local_host,
    peer_address,
)
from trio_dht.wire import DEFAULT_MAX_FRAME, Dialect, WireError
from trio_dht.wire.messages import (
    PROGRESS_MARKER,
    Deregistration,
    DeregistrationStatus,
    Message,
    NodeManifest,
    OverlaySetupStatus,
    ProgressReport,
    ProgressRequest,
    Registration,
    RegistrationStatus,
    TaskFinished,
    TaskInitiate,
    TrafficSummary,
    TrafficSummaryRequest,
)

log = logging.getLogger(__name__)

# Packets originated between two checkpoints: large enough that readers
# get big chunks (fewer wake-ups and syscalls per packet: 10 x 100,000 in one
# process went from 420k to 540k delivered/s going from 256 to 2048), small
# enough that relaying for others is never starved for long (~0.5 ms).
ORIGINATE_BATCH = 2048
NO_ROUTE = -1


class NodeError(Exception):
    """The node cannot go on (registry unreachable, registration refused)."""


@attrs.define
class NodeConfig:
    connect_timeout: float = 5.0
    leave_timeout: float = 5.0
    writer_capacity: int = 64
    # Send data to routing-table peers on a fresh connection per packet, for
    # overlays that mix in nodes of the one-message-per-connection kind (they
    # read one frame per connection). Nothing in the traffic can tell us a
    # peer is of that kind before we send to it, hence a setting.
    per_message_peers: bool = False
    # How long the liveness probe of a registry that closed our connection
    # may take.
    probe_timeout: float = 1.0
    # Limits against broken or hostile peers: the largest frame accepted,
    # how long a started frame may take to arrive, and how many incoming
    # connections may be open at once (more are closed straight away).
    max_frame: int = DEFAULT_MAX_FRAME
    frame_timeout: float = 10.0
    max_incoming: int = 1024
    # Reproducible traffic: when set, sinks and payloads are drawn from a
    # generator seeded with (seed, own id) once the id is known, so a run's
    # totals do not depend on which process got which id.
    seed: int | None = None


class Counters:
    """The node's traffic counters (plain attributes: the hot path updates
    them once per received chunk)."""

    __slots__ = ("dropped", "received", "relayed", "sent", "sum_received", "sum_sent")

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.sent = 0
        self.received = 0
        self.relayed = 0
        self.sum_sent = 0
        self.sum_received = 0
        self.dropped = 0

    def snapshot(self) -> tuple[int, int, int, int, int, int]:
        return (
            self.sent,
            self.received,
            self.relayed,
            self.sum_sent,
            self.sum_received,
            self.dropped,
        )


@attrs.define(eq=False)
class Peer:
    """An outgoing connection to one routing-table entry."""

    node_id: int
    host: str
    port: int
    writer: QueuedWriter
    # Set once its connection broke (so that is logged once, not per batch).
    lost: bool = False


class MessagingNode:
    """A messaging node. ``run`` joins the registry and serves until the node
    leaves (``leave``), the registry goes away, or it is cancelled."""

    def __init__(
        self,
        registry_host: str,
        registry_port: int,
        dialect: Dialect,
        observer: Observer | None = None,
        config: NodeConfig | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.registry_host = registry_host
        self.registry_port = registry_port
        self.dialect = dialect
        self.observer = observer if observer is not None else Observer()
        self.config = config if config is not None else NodeConfig()
        self._rng = rng if rng is not None else random.Random()
        self.counters = Counters()
        self.node_id: int | None = None
        self.host = ""
        self.port = 0
        self.state = "starting"
        self.peers: list[Peer] = []
        self.node_ids: tuple[int, ...] = ()
        # destination id -> index into self.peers (NO_ROUTE when unknown)
        self._hop: list[int] = [NO_ROUTE] * ID_SPACE
        self._others: list[int] = []
        self._registry_writer: QueuedWriter | None = None
        self._scope = trio.CancelScope()
        self._peer_scope: trio.CancelScope | None = None
        self._nursery: trio.Nursery | None = None
        self._registered = trio.Event()
        self._left = trio.Event()
        self._leave_status: DeregistrationStatus | None = None
        self._progress_interval = 0.0
        self._progress_wakeup = trio.Event()
        self._progress_running = False
        self._originating = False
        # A task was started since the last summary: a summary request
        # before any task is a registry in the wrong state.
        self._task_seen = False
        self._incoming = 0
        self._refusal = ""
        self._last_progress: tuple[int, ...] = ()
        self.registry_closed = False
        self.stopped = trio.Event()

    @property
    def address(self) -> str:
        return format_address(self.host, self.port)

    # --- lifecycle ------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[MessagingNode] = trio.TASK_STATUS_IGNORED) -> None:
        """Register and serve. Reports itself to ``nursery.start`` once
        registered; raises NodeError if that fails."""
        try:
            with trio.fail_after(self.config.connect_timeout):
                stream = await trio.open_tcp_stream(self.registry_host, self.registry_port)
        except (OSError, trio.TooSlowError) as exc:
            raise NodeError(
                f"cannot reach the registry at "
                f"{format_address(self.registry_host, self.registry_port)}: {_reason(exc)}"
            ) from None
        # Register with the address the registry sees us at, and listen on it.
        self.host = local_host(stream)
        try:
            listeners = await trio.open_tcp_listeners(0, host=self.host)
        except OSError as exc:
            await stream.aclose()
            raise NodeError(f"cannot listen on {self.host}: {_reason(exc)}") from None
        self.port = listeners[0].socket.getsockname()[1]
        writer = FrameWriter(stream, self.config.writer_capacity)
        self._registry_writer = writer
        refusal: str | None = None
        started = False
        try:
            with self._scope:
                async with trio.open_nursery() as nursery:
                    self._nursery = nursery
                    nursery.start_soon(writer.run)
                    nursery.start_soon(self._registry_session, stream)
                    await nursery.start(trio.serve_listeners, self._serve_incoming, listeners)
                    await writer.send(self.dialect.encode(Registration(self.host, self.port)))
                    with trio.move_on_after(self.config.connect_timeout):
                        await self._registered.wait()
                    if not self._registered.is_set():
                        self._refusal = (
                            f"the registry did not answer within {self.config.connect_timeout:g} s"
                        )
                    if self.node_id is None:
                        refusal = self._refusal or (
                            "the registry closed the connection before answering"
                        )
                        self._scope.cancel()
                    else:
                        self.state = "registered"
                        task_status.started(self)
                        started = True
        finally:
            self.state = "gone"
            self._nursery = None
            self.stopped.set()
            with trio.CancelScope(shield=True):
                await stream.aclose()
                for listener in listeners:
                    await listener.aclose()
        if not started:
            # Refused, timed out, or the registry went away before answering
            # (the wait above was cancelled): never "started", so say why.
            why = refusal or self._refusal or "the registry closed the connection before answering"
            raise NodeError(f"registration failed: {why}")

    async def leave(self) -> DeregistrationStatus | None:
        """Deregister, wait for the answer, and stop the node. Returns the
        registry's answer (None if it did not come in time)."""
        if self.node_id is not None and self._registry_writer is not None:
            message = Deregistration(self.host, self.port, self.node_id)
            try:
                await self._registry_writer.send(self.dialect.encode(message))
                with trio.move_on_after(self.config.leave_timeout):
                    await self._left.wait()
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass
        self._scope.cancel()
        return self._leave_status

    def stop(self) -> None:
        """Stop at once, without deregistering."""
        self._scope.cancel()

    # --- registry session -----------------------------------------------------

    async def _registry_session(self, stream: trio.SocketStream) -> None:
        reader = FrameReader(stream, self.dialect.framer(self.config.max_frame))
        frames = 0
        closed_cleanly = False
        try:
            while True:
                bodies = await reader.receive_batch(frame_timeout=self.config.frame_timeout)
                if not bodies:
                    closed_cleanly = True
                    break
                frames += len(bodies)
                for body in bodies:
                    try:
                        await self._on_control(self.dialect.decode(body))
                    except ProtocolViolation as exc:
                        log.warning("ignored a message from the registry: %s", exc)
        except WireError as exc:
            log.warning("the registry sent malformed data: %s", exc)
        except (trio.BrokenResourceError, trio.ClosedResourceError, trio.TooSlowError, OSError) as exc:
            log.info("registry connection broke: %s", exc)
        if (
            closed_cleanly
            and frames == 1
            and self.node_id is not None
            and not self._left.is_set()
            and await can_dial(self.registry_host, self.registry_port, self.config.probe_timeout)
        ):
            # It answered the registration, closed, and still accepts
            # connections: a registry of the one-message-per-connection
            # kind. It will dial us; we dial it for each message.
            self._use_registry_dialer()
            return
        self._registry_gone()

    def _use_registry_dialer(self) -> None:
        assert self._nursery is not None
        dialer = DialWriter(
            self.registry_host,
            self.registry_port,
            self.config.writer_capacity,
            self.config.connect_timeout,
        )
        self._registry_writer = dialer
        self._nursery.start_soon(self._run_registry_dialer, dialer)
        self.observer.say(
            "The registry closed the connection after answering the registration but accepts "
            "connections: sending it each message on a fresh connection."
        )

    async def _run_registry_dialer(self, dialer: DialWriter) -> None:
        await dialer.run()
        if dialer.broken is not None:
            log.info("cannot reach the registry: %s", dialer.broken)
            self._registry_gone()

    def _registry_gone(self) -> None:
        self.registry_closed = True
        if not self._left.is_set():
            self.observer.say("The registry closed the connection; leaving.")
        self._registered.set()
        self._scope.cancel()

    async def _on_control(self, message: Message) -> None:
        if isinstance(message, RegistrationStatus):
            self._on_registration_status(message)
        elif isinstance(message, NodeManifest):
            await self._on_manifest(message)
        elif isinstance(message, TaskInitiate):
            self._on_task(message)
        elif isinstance(message, TrafficSummaryRequest):
            if not self._task_seen:
                raise ProtocolViolation("a traffic summary request before any task")
            await self._send_summary()
        elif isinstance(message, ProgressRequest):
            self._on_progress_request(message)
        elif isinstance(message, DeregistrationStatus):
            self._on_deregistration_status(message)
        else:
            raise ProtocolViolation(f"a messaging node does not accept {type(message).__name__}")

    def _on_registration_status(self, message: RegistrationStatus) -> None:
        if self._registered.is_set():
            # Some classic registries answer a failed deregistration with a
            # registration status (type 3) instead of type 5.
            self._on_deregistration_status(DeregistrationStatus(message.status, message.info))
            return
        if message.status >= 0:
            self.node_id = message.status
            if self.config.seed is not None:
                self._rng = random.Random(f"{self.config.seed}:{message.status}")
            self.observer.say(f"Registered as node {message.status} at {self.address}: {message.info}")
        else:
            self._refusal = message.info
        self._registered.set()

    def _on_deregistration_status(self, message: DeregistrationStatus) -> None:
        self._leave_status = message
        self.observer.say(f"Deregistration: {message.info}")
        self._left.set()

    async def _send_registry(self, message: Message) -> None:
        assert self._registry_writer is not None
        try:
            await self._registry_writer.send(self.dialect.encode(message))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            log.info("could not send %s: registry connection is gone", type(message).__name__)

    # --- overlay setup ----------------------------------------------------------

    async def _on_manifest(self, manifest: NodeManifest) -> None:
        me = self.node_id
        if me is None:
            raise ProtocolViolation("a manifest before registration")
        if self._originating:
            raise ProtocolViolation("a new manifest while this node is originating packets")
        self._drop_peers()
        entries = [e for e in manifest.entries if e.node_id != me]
        peers: list[Peer] = []
        failure: str | None = None
        for entry in entries:
            if self.config.per_message_peers:
                dialer = DialWriter(
                    entry.host, entry.port, self.config.writer_capacity, self.config.connect_timeout
                )
                peers.append(Peer(entry.node_id, entry.host, entry.port, dialer))
                continue
            try:
                with trio.fail_after(self.config.connect_timeout):
                    stream = await trio.open_tcp_stream(entry.host, entry.port)
            except (OSError, trio.TooSlowError) as exc:
                failure = (
                    f"cannot connect to node {entry.node_id} at "
                    f"{format_address(entry.host, entry.port)}: {_reason(exc)}"
                )
                break
            writer = FrameWriter(stream, self.config.writer_capacity)
            peers.append(Peer(entry.node_id, entry.host, entry.port, writer))
        if failure is not None:
            for peer in peers:
                if isinstance(peer.writer, FrameWriter):
                    await peer.writer.stream.aclose()
            self.observer.say(f"Overlay setup failed: {failure}")
            await self._send_registry(OverlaySetupStatus(-1, _clip(f"Setup failed: {failure}")))
            return
        self._install(peers, manifest.node_ids)
        ids = ", ".join(str(p.node_id) for p in peers)
        self.state = "connected"
        self.observer.say(f"Connected to {len(peers)} peers ({ids}).")
        self.observer.changed()
        # The marker must survive: clip the human part, never the marker.
        text = _clip(f"Overlay setup succeeded: node {me} connected to peers {ids}.", 100)
        await self._send_registry(OverlaySetupStatus(me, f"{text} {PROGRESS_MARKER}"))

    def _install(self, peers: list[Peer], node_ids: Sequence[int]) -> None:
        assert self.node_id is not None and self._nursery is not None
        me = self.node_id
        self.peers = peers
        self.node_ids = tuple(node_ids)
        self._others = [i for i in node_ids if i != me]
        index = {p.node_id: k for k, p in enumerate(peers)}
        hop = [NO_ROUTE] * ID_SPACE
        if peers:
            for destination, via in next_hop_map(me, [p.node_id for p in peers], node_ids).items():
                hop[destination] = index[via]
        self._hop = hop
        scope = trio.CancelScope()
        self._peer_scope = scope
        self._nursery.start_soon(self._run_writers, peers, scope)

    async def _run_writers(self, peers: list[Peer], scope: trio.CancelScope) -> None:
        """The sender tasks of one manifest's peers; a new manifest cancels
        them."""
        with scope:
            try:
                async with trio.open_nursery() as nursery:
                    for peer in peers:
                        nursery.start_soon(peer.writer.run)
            finally:
                with trio.CancelScope(shield=True):
                    for peer in peers:
                        if isinstance(peer.writer, FrameWriter):
                            await peer.writer.stream.aclose()

    def _drop_peers(self) -> None:
        if self._peer_scope is not None:
            self._peer_scope.cancel()
            self._peer_scope = None
        self.peers = []
        self._hop = [NO_ROUTE] * ID_SPACE
        self._others = []

    # --- data path ------------------------------------------------------------

    async def _serve_incoming(self, stream: trio.SocketStream) -> None:
        """Reader task of one incoming connection (a peer that has us in its
        routing table)."""
        peer = peer_address(stream)
        if self._incoming >= self.config.max_incoming:
            log.warning(
                "closing connection from %s: %d incoming connections are open (limit %d)",
                peer,
                self._incoming,
                self.config.max_incoming,
            )
            await stream.aclose()
            return
        self._incoming += 1
        reader = FrameReader(stream, self.dialect.framer(self.config.max_frame))
        frame_timeout = self.config.frame_timeout
        try:
            while True:
                bodies = await reader.receive_batch(frame_timeout=frame_timeout)
                if not bodies:
                    return
                outs, others, stray = self._route(bodies)
                if outs is not None:
                    await self._flush(outs)
                if stray:
                    raise ProtocolViolation(stray)
                for body in others:
                    await self._on_control(self.dialect.decode(body))
        except WireError as exc:
            log.warning("closing connection from %s: malformed input: %s", peer, exc)
        except ProtocolViolation as exc:
            log.warning("closing connection from %s: %s", peer, exc)
        except trio.TooSlowError:
            log.warning("closing connection from %s: a frame took over %g s", peer, frame_timeout)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            log.info("connection from %s broke: %s", peer, exc)
        finally:
            self._incoming -= 1
            with trio.CancelScope(shield=True):
                await stream.aclose()

    def _route(
        self, bodies: list[bytes]
    ) -> tuple[list[list[bytes]] | None, list[bytes], str]:
        """Deliver or forward every data frame in ``bodies``. Returns the
        per-peer batches to flush (None if nothing to forward), the bodies
        that are not data, and why some data could not be routed ("" if all
        could). Synchronous on purpose: no checkpoint per packet."""
        data_head = self.dialect.data_head
        if not self.peers:
            # No overlay yet: no data can be expected, and counting it would
            # corrupt the next run's totals.
            if any(data_head(body) is not None for body in bodies):
                return None, [], "data before this node's overlay was set up"
            return None, bodies, ""
        relay = self.dialect.relay
        hop = self._hop
        me = self.node_id
        outs: list[list[bytes]] = [[] for _ in self.peers]
        others: list[bytes] = []
        received = relayed = stray = 0
        sum_received = 0
        for body in bodies:
            head = data_head(body)
            if head is None:
                others.append(body)
                continue
            destination, payload = head
            if destination == me:
                received += 1
                sum_received += payload
                continue
            via = hop[destination] if 0 <= destination < ID_SPACE else NO_ROUTE
            if via == NO_ROUTE:
                stray += 1
                continue
            outs[via].append(relay(body, me))
            relayed += 1
        c = self.counters
        c.received += received
        c.sum_received += sum_received
        c.relayed += relayed
        why = f"{stray} packet(s) for nodes not in the overlay" if stray else ""
        return (outs if relayed else None), others, why

    async def _flush(self, outs: list[list[bytes]]) -> None:
        """Queue each non-empty batch on its peer's writer, awaiting only when
        that queue is full. That await is the backpressure that bounds
        memory: a reader whose downstream peer is slow stops reading, and
        TCP pushes back on whoever feeds it."""
        peers = self.peers
        for k, frames in enumerate(outs):
            if not frames:
                continue
            try:
                await peers[k].writer.send_frames(frames)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                self.counters.dropped += len(frames)
                peer = peers[k]
                if not peer.lost:
                    peer.lost = True
                    log.warning(
                        "the connection to node %d is gone: dropping and counting the packets "
                        "routed through it",
                        peer.node_id,
                    )

    # --- the task ---------------------------------------------------------------

    def _on_task(self, message: TaskInitiate) -> None:
        if not self.peers or self.node_id is None:
            raise ProtocolViolation("a task before the overlay was set up")
        if self._originating:
            raise ProtocolViolation("a task while a task is running")
        assert self._nursery is not None
        self._originating = True
        self._task_seen = True
        self._nursery.start_soon(self._originate, message.packets)

    async def _originate(self, packets: int) -> None:
        me = self.node_id
        assert me is not None
        self.state = "sending"
        self.observer.changed()
        encode_data = self.dialect.encode_data
        choices = self._rng.choices
        randbytes = self._rng.randbytes
        hop = self._hop
        others = self._others
        counters = self.counters
        try:
            done = 0
            while done < packets:
                count = min(ORIGINATE_BATCH, packets - done)
                outs: list[list[bytes]] = [[] for _ in self.peers]
                # Sinks uniform over the other nodes; payloads from four
                # random bytes each, read as signed big-endian ints: uniform
                # over all signed 32-bit integers. Drawn a burst at a time.
                destinations = choices(others, k=count)
                payloads = struct.unpack(f">{count}i", randbytes(4 * count))
                for destination, payload in zip(destinations, payloads, strict=True):
                    outs[hop[destination]].append(encode_data(destination, me, payload))
                counters.sent += count
                counters.sum_sent += sum(payloads)
                done += count
                await self._flush(outs)
                # Let readers relay and writers drain between bursts.
                await trio.lowlevel.checkpoint()
        finally:
            self._originating = False
        self.state = "finished"
        self.observer.changed()
        await self._send_registry(TaskFinished(self.host, self.port, me))
        self._progress_wakeup.set()

    async def _send_summary(self) -> None:
        c = self.counters
        me = self.node_id if self.node_id is not None else -1
        summary = TrafficSummary(me, c.sent, c.relayed, c.sum_sent, c.received, c.sum_received)
        await self._send_registry(summary)
        self.observer.say(
            f"Traffic summary sent: sent {c.sent}, received {c.received}, relayed {c.relayed}; "
            "counters reset."
        )
        c.reset()
        self._task_seen = False
        self._last_progress = c.snapshot()
        self.state = "connected" if self.peers else "registered"
        self.observer.changed()

    # --- progress (stats task) --------------------------------------------------

    def _on_progress_request(self, message: ProgressRequest) -> None:
        self._progress_interval = message.interval_ms / 1000
        if message.interval_ms > 0 and not self._progress_running and self._nursery is not None:
            self._progress_running = True
            self._nursery.start_soon(self._report_progress)

    async def _report_progress(self) -> None:
        """The stats task: send the counters at once (the subscriber learns
        where we stand), then whenever they changed, at most once per
        interval, and at once when the task finishes."""
        self._last_progress = ()
        self._progress_wakeup.set()
        try:
            while self._progress_interval > 0:
                with trio.move_on_after(self._progress_interval):
                    await self._progress_wakeup.wait()
                self._progress_wakeup = trio.Event()
                snapshot = self.counters.snapshot()
                if snapshot == self._last_progress or self.node_id is None:
                    continue
                self._last_progress = snapshot
                sent, received, relayed, sum_sent, sum_received, dropped = snapshot
                await self._send_registry(
                    ProgressReport(
                        self.node_id, sent, received, relayed, sum_sent, sum_received, dropped
                    )
                )
        finally:
            self._progress_running = False


def _clip(text: str, limit: int = 127) -> str:
    """Status texts must fit the classic dialect's 127-byte strings."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _reason(exc: BaseException) -> str:
    if isinstance(exc, trio.TooSlowError):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
