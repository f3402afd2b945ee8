"""The messaging node service: a thin trio shell around ``NodeCore``.

One nursery supervises: the registration connection (reader + writer), the
listener (one reader task per incoming connection), the control consumer,
one writer task per routing-table peer (in a scope per overlay), the stats
task and, during a run, the originator. Leaving is cancelling its scope.

Control messages, from whichever connection, go through one bounded
channel to one consumer, which feeds them to the core in arrival order and
finishes what each asks (opening a new overlay's links) before taking the
next: a new manifest replaces the old peers completely before anything
else happens. Data stays on ``node_data``'s batched path.
"""

from __future__ import annotations

import itertools
import logging
import random

import trio

from trio_dht.protocol.errors import LocalProtocolError
from trio_dht.protocol.events import Close, Closed, ConnRole, Dial, Log, Opened, Received, Say, Send
from trio_dht.protocol.manifest import Overlay
from trio_dht.protocol.node_core import NodeCore
from trio_dht.protocol.node_counters import Counters
from trio_dht.protocol.node_events import (
    InstallOverlay,
    Left,
    NodeAction,
    NodeEvent,
    Originate,
    Refused,
    Registered,
    RegistryModel,
    ReportProgress,
    Stop,
)
from trio_dht.protocol.registry_admission import plain_host
from trio_dht.services.config import NodeConfig
from trio_dht.services.connection import Connection
from trio_dht.services.dialling import Dialler, exchange
from trio_dht.services.node_data import DataPlane, Peer, reason
from trio_dht.services.node_errors import NodeError, NodeErrorKind
from trio_dht.services.node_incoming import IncomingLink, LinkKeeper
from trio_dht.services.node_tasks import NodeTasks
from trio_dht.services.node_texts import address_form_hint
from trio_dht.services.observer import Observer
from trio_dht.transport import (
    ByteBudget,
    ConnectionSlots,
    Slot,
    format_address,
    limits_from_rlimit,
    local_host,
    peer_host,
)
from trio_dht.wire import Dialect, WireError
from trio_dht.wire.messages import DeregistrationStatus, Message

log = logging.getLogger(__name__)

__all__ = ["MessagingNode", "NodeConfig", "NodeError", "NodeErrorKind", "Peer"]

CONTROL_QUEUE = 64
# An incoming connection silent this long may be closed to make room.
EVICT_AFTER = 1.0


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
        self.core: NodeCore | None = None
        self.host, self.port = "", 0
        self.registry_closed = False
        self.stopped = trio.Event()
        self._conns: dict[int, Connection] = {}
        self._listener_hosts: dict[int, str] = {}
        self._ids = itertools.count(1)
        self._scope = trio.CancelScope()
        self._nursery: trio.Nursery | None = None
        self._dialler: Dialler | None = None
        self._control_send, self._control_receive = trio.open_memory_channel[NodeEvent](
            CONTROL_QUEUE
        )
        self._data: DataPlane | None = None
        self._tasks: NodeTasks | None = None
        # Incoming connections take slots; when all are taken, accepting
        # waits and the longest-idle connection that never carried a frame
        # makes room for the one waiting. Silent connections time out,
        # except as many as the overlay has links into this node (LinkKeeper).
        self._keeper = LinkKeeper()
        self._slots = ConnectionSlots(
            self.config.max_incoming or limits_from_rlimit().connections,
            idle_timeout=self.config.incoming_idle_timeout,
            evict=lambda slot: not slot.member and slot.idle_for() >= EVICT_AFTER,
            keep=self._keeper,
        )
        self._budget = ByteBudget(self.config.read_budget)
        self._registered = trio.Event()
        self._left = trio.Event()
        self._refusal = ""
        # Anything decoded on the registration connection: a refusal, not a hang-up.
        self._registry_spoke = False
        self._leave_status: DeregistrationStatus | None = None
        self._counters_placeholder = Counters()

    @property  # --- from here: what the layers above read ---
    def node_id(self) -> int | None:
        return self.core.node_id if self.core is not None else None

    @property
    def counters(self) -> Counters:
        return self.core.counters if self.core is not None else self._counters_placeholder

    @property
    def state(self) -> str:
        return str(self.core.phase.value) if self.core is not None else "starting"

    @property
    def peers(self) -> list[Peer]:
        return self._data.peers if self._data is not None else []

    @property
    def node_ids(self) -> tuple[int, ...]:
        return self._data.node_ids if self._data is not None and self._data.peers else ()

    @property
    def incoming(self) -> int:
        """Connections accepted on the listening port, open now."""
        return len(self._slots)

    @property
    def address(self) -> str:
        return format_address(self.host, self.port)

    # --- lifecycle ----------------------------------------------------------------------

    async def run(
        self, *, task_status: trio.TaskStatus[MessagingNode] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Register and serve. Reports itself to ``nursery.start`` once
        registered; raises NodeError if that fails."""
        where = format_address(self.registry_host, self.registry_port)
        try:
            with trio.fail_after(self.config.connect_timeout):
                stream = await trio.open_tcp_stream(self.registry_host, self.registry_port)
        except (OSError, trio.TooSlowError) as exc:
            why = f"cannot reach the registry at {where}: {reason(exc)}"
            raise NodeError(NodeErrorKind.UNREACHABLE, why) from None
        # Register with the address the registry sees us at, and listen on it.
        self.host = local_host(stream)
        try:
            listeners = await trio.open_tcp_listeners(0, host=self.host)
        except OSError as exc:
            await stream.aclose()
            why = f"cannot listen on {self.host}: {reason(exc)}"
            raise NodeError(NodeErrorKind.CANNOT_LISTEN, why) from None
        self.port = listeners[0].socket.getsockname()[1]
        forced = self.config.per_message_registry
        model = {None: RegistryModel.UNKNOWN, True: RegistryModel.PER_MESSAGE}.get(
            forced, RegistryModel.PERSISTENT
        )
        registry_ip = plain_host(peer_host(stream))
        core = NodeCore(registry_ip, self.registry_port, self.dialect.clip, registry_model=model)
        self.core = core
        self._data = DataPlane(self.dialect, core.counters)
        started = False
        failure = NodeErrorKind.HUNG_UP
        try:
            with self._scope:
                async with trio.open_nursery() as nursery:
                    self._nursery = nursery
                    self._dialler = Dialler(nursery, self.config.writer_capacity, self._feed)
                    self._tasks = NodeTasks(
                        nursery, self._data, self.config, self._feed, self._feed_async,
                        lambda: core.generation, self.observer.changed, self._overlay_up,
                    )  # fmt: skip
                    nursery.start_soon(self._consume_control)
                    conn = next(self._ids)
                    io = Connection(conn, stream, self.config.writer_capacity)
                    self._conns[conn] = io
                    nursery.start_soon(self._serve_registration, io)
                    await nursery.start(self._slots.serve, self._serve_incoming, listeners)
                    self._feed(Opened(conn, ConnRole.REGISTRATION, core.registry_host))
                    core.register(conn, self.host, self.port)
                    self._carry_out(core.take_actions())
                    patience = self.config.answer_timeout
                    with trio.move_on_after(patience):
                        await self._registered.wait()
                    if core.node_id is None:
                        if not self._registered.is_set():
                            failure = NodeErrorKind.NO_ANSWER
                            self._refusal = f"the registry did not answer within {patience:g} s"
                        elif self._registry_spoke:
                            failure = NodeErrorKind.REFUSED
                        self._scope.cancel()
                    else:
                        task_status.started(self)
                        started = True
        finally:
            self._nursery = None
            self.stopped.set()
            with trio.CancelScope(shield=True):
                await stream.aclose()
                for listener in listeners:
                    await listener.aclose()
        if not started:
            why = self._refusal or "the registry closed the connection before answering"
            raise NodeError(failure, f"registration failed: {why}")

    async def leave(self) -> DeregistrationStatus | None:
        """Deregister, wait for the answer, and stop the node. Returns the
        registry's answer (None if it did not come in time)."""
        if self.core is not None:
            try:
                self.core.leave()
            except LocalProtocolError:
                pass
            else:
                self._carry_out(self.core.take_actions())
                with trio.move_on_after(self.config.leave_timeout):
                    await self._left.wait()
        self._scope.cancel()
        return self._leave_status

    def stop(self) -> None:
        """Stop at once, without deregistering."""
        self._scope.cancel()

    # --- connections ----------------------------------------------------------------------

    async def _serve_registration(self, io: Connection) -> None:
        decode = self.dialect.decode

        async def on_bodies(bodies: list[bytes]) -> None:
            for body in bodies:
                try:
                    message = decode(body)
                except WireError as exc:
                    io.close(f"the registry sent malformed data: {exc}")
                    return
                self._registry_spoke = True
                await self._control_send.send(Received(io.conn, message))

        try:
            await io.serve(
                self.dialect, self.config.max_frame, self.config.frame_timeout, on_bodies
            )
        finally:
            self._conns.pop(io.conn, None)
            self._announce_closed(io.conn)

    async def _serve_incoming(self, stream: trio.SocketStream, slot: Slot) -> None:
        """Reader task of one incoming connection: data from peers that have
        us in their table, or control dialled in by a one-message registry."""
        data = self._data
        assert data is not None
        conn = next(self._ids)
        io = Connection(conn, stream, self.config.writer_capacity)
        self._conns[conn] = io
        on_bodies = IncomingLink(
            io, slot, data, self.dialect.decode, self._control_send, self._listener_hosts
        )
        # ``incoming`` counts this connection now (it shows in live views).
        self.observer.changed()
        try:
            await io.serve(
                self.dialect, self.config.max_frame, self.config.frame_timeout, on_bodies,
                budget=self._budget,
            )  # fmt: skip
        finally:
            self._conns.pop(conn, None)
            if self._listener_hosts.pop(conn, None) is not None:
                self._announce_closed(conn)

    def _overlay_up(self, overlay: Overlay | None, since: float) -> None:
        registry = self.core.registry_host if self.core is not None else ""
        self._keeper.overlay(overlay, since, (registry, self.host))
        self._slots.refresh_kept()

    def _announce_closed(self, conn: int) -> None:
        # In order with its messages; a full queue (never, short of a flood)
        # loses only this notice.
        try:
            self._control_send.send_nowait(Closed(conn))
        except (trio.WouldBlock, trio.ClosedResourceError, trio.BrokenResourceError):
            log.info("control queue full: the end of connection %d was not noted", conn)

    async def _consume_control(self) -> None:
        async for event in self._control_receive:
            await self._feed_async(event)

    async def _feed_async(self, event: NodeEvent) -> None:
        assert self.core is not None
        self.core.handle(event, trio.current_time())
        for install in self._carry_out(self.core.take_actions()):
            assert self._tasks is not None
            await self._tasks.install(install)

    def _feed(self, event: NodeEvent) -> None:
        assert self.core is not None
        self.core.handle(event, trio.current_time())
        for install in self._carry_out(self.core.take_actions()):
            # Only a manifest asks for an install, and manifests come
            # through the consumer; never here.
            raise AssertionError(f"unexpected {install}")

    def _carry_out(self, actions: list[NodeAction]) -> list[InstallOverlay]:
        installs: list[InstallOverlay] = []
        nursery = self._nursery
        for action in actions:
            if isinstance(action, Send):
                io = self._conns.get(action.conn)
                frame = self._encode(action.message)
                if io is not None and frame is not None:
                    io.send_nowait(frame)
            elif isinstance(action, Dial):
                frame = self._encode(action.message)
                if frame is not None and nursery is not None:
                    if action.await_reply:
                        nursery.start_soon(self._dial_for_reply, action.host, action.port, frame)
                    elif self._dialler is not None:
                        self._dialler.send(action.key, action.host, action.port, frame)
            elif isinstance(action, Close):
                io = self._conns.get(action.conn)
                if io is not None:
                    io.close(action.reason, action.level)
            elif isinstance(action, InstallOverlay):
                installs.append(action)
            elif isinstance(action, Originate) and self._tasks is not None:
                self._tasks.originate(action, self._rng)
            elif isinstance(action, ReportProgress) and self._tasks is not None:
                self._tasks.report_progress(action.interval)
            elif isinstance(action, Registered):
                self._on_registered(action)
            elif isinstance(action, Refused):
                self._refusal = action.reason + address_form_hint(
                    self.dialect, self.host, action.reason
                )
                self._registered.set()
            elif isinstance(action, Left):
                self._leave_status = DeregistrationStatus(action.status, action.info)
                self.observer.say(f"Deregistration: {action.info}")
                self._left.set()
            elif isinstance(action, Stop):
                self.registry_closed = True
                self.observer.say(action.reason)
                self._registered.set()
                self._scope.cancel()
            elif isinstance(action, Say):
                self.observer.say(action.text)
            elif isinstance(action, Log):
                extra = {} if action.aggregate is None else {"aggregate": action.aggregate}
                log.log(action.level, "%s", action.text, extra=extra)
        self.observer.changed()
        return installs

    def _encode(self, message: Message) -> bytes | None:
        try:
            return self.dialect.encode(message)
        except WireError as exc:
            log.error("could not encode our %s: %s", type(message).__name__, exc)
            return None

    def _on_registered(self, action: Registered) -> None:
        if self.config.seed is not None:
            self._rng = random.Random(f"{self.config.seed}:{action.node_id}")
        self.observer.say(f"Registered as node {action.node_id} at {self.address}: {action.info}")
        self._registered.set()

    async def _dial_for_reply(self, host: str, port: int, frame: bytes) -> None:
        """A message whose answer comes back on the connection it went on."""
        answer = await exchange(host, port, frame, self.dialect, self.config.leave_timeout)
        if answer is not None:
            conn = next(self._ids)
            self._feed(Opened(conn, ConnRole.DIALLED, host))
            self._feed(Received(conn, answer))
