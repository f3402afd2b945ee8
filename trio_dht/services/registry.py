"""The registry: admits nodes, builds the overlay, runs tasks, proves totals.

Each connection is served by its own nursery; once a node registers on it,
that nursery is the node's session and its cancel scope is the node's
teardown. All state lives on the Registry object and is only touched from
trio tasks of one run loop, so no locks are needed.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import random
import time
from collections.abc import Iterable

import attrs
import trio

from trio_dht.overlay import IdAllocator, OverlayError, routing_tables, validate_nr
from trio_dht.services.errors import ProtocolViolation
from trio_dht.services.observer import Observer
from trio_dht.services.report import NodeTotals, RunResult
from trio_dht.transport import (
    DialWriter,
    FrameReader,
    FrameWriter,
    QueuedWriter,
    can_dial,
    format_address,
    peer_address,
    peer_host,
)
from trio_dht.wire import DEFAULT_MAX_FRAME, Dialect, Refusal, WireError
from trio_dht.wire.messages import (
    PROGRESS_MARKER,
    Deregistration,
    DeregistrationStatus,
    Message,
    NodeManifest,
    OverlaySetupStatus,
    PeerEntry,
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

class CommandError(Exception):
    """A console command that cannot be carried out now; the text says why."""


@attrs.define(eq=False)
class Session:
    """One connection to the registry (and, once registered, one node)."""

    stream: trio.SocketStream
    writer: FrameWriter
    peer_host: str
    peer: str
    scope: trio.CancelScope = attrs.field(factory=trio.CancelScope)
    node_id: int | None = None
    # Frames received so far. A node whose connection closes after its
    # registration alone may be of the one-message-per-connection kind.
    frames: int = 0
    registered_once: bool = False


@attrs.define(eq=False)
class NodeRecord:
    """What the registry knows of one registered node."""

    node_id: int
    host: str
    port: int
    # The persistent connection the node registered on, or None for a node
    # that takes one message per connection (then ``dialer`` reaches it).
    session: Session | None
    dialer: DialWriter | None = None
    dialer_scope: trio.CancelScope | None = None
    # The node put PROGRESS_MARKER in its setup status: it may be sent the
    # progress extension and its reports let the registry detect quiescence.
    progress_capable: bool = False
    setup_ok: bool = False
    state: str = "registered"
    progress: ProgressReport | None = None
    summary: TrafficSummary | None = None

    @property
    def address(self) -> str:
        return format_address(self.host, self.port)

    @property
    def outbox(self) -> QueuedWriter | None:
        """Where messages for this node go."""
        if self.session is not None:
            return self.session.writer
        return self.dialer


@attrs.define(eq=False)
class Run:
    """One ``start N`` in flight."""

    packets: int
    nr: int
    node_ids: tuple[int, ...]
    started: float
    finished: set[int] = attrs.field(factory=set)
    gone: dict[int, NodeRecord] = attrs.field(factory=dict)
    wakeup: trio.Event = attrs.field(factory=trio.Event)
    done: trio.Event = attrs.field(factory=trio.Event)
    result: RunResult | None = None
    last_finished: float | None = None

    def poke(self) -> None:
        self.wakeup.set()

    async def wait_change(self, timeout: float) -> bool:
        """Wait for the next poke; False if ``timeout`` passed first."""
        self.wakeup = trio.Event()
        with trio.move_on_after(timeout):
            await self.wakeup.wait()
            return True
        return False


@attrs.define
class RegistryConfig:
    # How often trio_dht nodes report progress during a run.
    progress_interval: float = 0.05
    # With classic peers (no progress reports): how long to wait after the
    # last task-finished report before asking for summaries.
    grace: float = 15.0
    # With progress: give up waiting for missing packets after this long
    # without any counter moving.
    stall_timeout: float = 3.0
    # How long to wait for traffic summaries once requested.
    summary_timeout: float = 10.0
    writer_capacity: int = 64
    # How long a liveness probe of a node whose connection closed may take.
    probe_timeout: float = 1.0
    # Limits against broken or hostile peers.
    max_frame: int = DEFAULT_MAX_FRAME
    # An unregistered connection must send a whole frame within this time.
    idle_timeout: float = 10.0
    # A frame that has begun must complete within this time.
    frame_timeout: float = 10.0
    # Connections that have not registered a node, at most; more are closed
    # at once so a flood cannot exhaust file descriptors.
    max_pending: int = 256


class Registry:
    """The registry service. ``serve`` runs it; the methods below are the
    console commands."""

    def __init__(
        self,
        dialect: Dialect,
        observer: Observer | None = None,
        config: RegistryConfig | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.dialect = dialect
        self.observer = observer if observer is not None else Observer()
        self.config = config if config is not None else RegistryConfig()
        self._ids = IdAllocator(rng=rng)
        self.nodes: dict[int, NodeRecord] = {}
        self.overlay_nr: int | None = None
        self.tables: dict[int, tuple[int, ...]] = {}
        self.ready = False
        self.run: Run | None = None
        self.port: int = 0
        self._nursery: trio.Nursery | None = None
        self._membership = trio.Event()
        self._ready_event = trio.Event()
        self._pending = 0

    # --- serving --------------------------------------------------------

    async def serve(
        self,
        host: str | None = None,
        port: int = 0,
        *,
        task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Listen and serve until cancelled. Reports the bound port."""
        listeners = await trio.open_tcp_listeners(port, host=host)
        self.port = listeners[0].socket.getsockname()[1]
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            await nursery.start(trio.serve_listeners, self._serve_connection, listeners)
            task_status.started(self.port)

    async def _serve_connection(self, stream: trio.SocketStream) -> None:
        try:
            real_host = _plain_host(peer_host(stream))
        except OSError:
            await stream.aclose()
            return
        if self._pending >= self.config.max_pending:
            log.warning(
                "closing connection from %s: %d connections have not registered yet (limit %d)",
                peer_address(stream),
                self._pending,
                self.config.max_pending,
            )
            await stream.aclose()
            return
        self._pending += 1
        session = Session(
            stream=stream,
            writer=FrameWriter(stream, self.config.writer_capacity),
            peer_host=real_host,
            peer=peer_address(stream),
        )
        reader = FrameReader(stream, self.dialect.framer(self.config.max_frame))
        failure: Exception | None = None
        try:
            with session.scope:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(session.writer.run)
                    # Caught here and re-raised below: leaving the nursery it
                    # would be wrapped in an ExceptionGroup that the except
                    # clauses miss, and take the whole registry down.
                    try:
                        await self._read_session(reader, session)
                    except (
                        WireError,
                        ProtocolViolation,
                        trio.BrokenResourceError,
                        trio.ClosedResourceError,
                        trio.TooSlowError,
                        OSError,
                    ) as exc:
                        failure = exc
                    nursery.cancel_scope.cancel()
            if failure is not None:
                raise failure
        except WireError as exc:
            log.warning("closing connection from %s: malformed input: %s", session.peer, exc)
        except ProtocolViolation as exc:
            log.warning("closing connection from %s: %s", session.peer, exc)
        except trio.TooSlowError:
            log.warning(
                "closing connection from %s: no whole frame within %g s",
                session.peer,
                self.config.idle_timeout if session.frames == 0 else self.config.frame_timeout,
            )
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            log.info("connection from %s broke: %s", session.peer, exc)
        finally:
            if not session.registered_once:
                self._pending -= 1
            # Outside session.scope, a cancellation can only mean the
            # registry itself is closing: its nodes are not "lost" then.
            if trio.current_effective_deadline() != -math.inf:
                self._session_ended(session)
            with trio.CancelScope(shield=True):
                await stream.aclose()

    async def _read_session(self, reader: FrameReader, session: Session) -> None:
        decode = self.dialect.decode
        config = self.config
        while True:
            # Registered nodes may stay quiet between runs; strangers may not.
            idle = math.inf if session.registered_once else config.idle_timeout
            bodies = await reader.receive_batch(idle, config.frame_timeout)
            if not bodies:
                return
            session.frames += len(bodies)
            for body in bodies:
                self._on_message(decode(body), session)

    def _on_message(self, message: Message, session: Session) -> None:
        if isinstance(message, ProgressReport):
            self._on_progress(message, session)
        elif isinstance(message, Registration):
            self._register(message, session)
        elif isinstance(message, Deregistration):
            self._deregister(message, session)
        elif isinstance(message, OverlaySetupStatus):
            self._on_setup_status(message, session)
        elif isinstance(message, TaskFinished):
            self._on_task_finished(message, session)
        elif isinstance(message, TrafficSummary):
            self._on_summary(message, session)
        else:
            raise ProtocolViolation(f"a registry does not accept {type(message).__name__}")

    def _send(self, session: Session, message: Message) -> None:
        """Queue a control message; a session whose writer is full or broken
        is torn down (a node that cannot take a control message is dead to
        us)."""
        try:
            session.writer.send_nowait(self.dialect.encode(message))
        except (trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError):
            log.warning("cannot deliver %s to %s; dropping it", type(message).__name__, session.peer)
            session.scope.cancel()

    # --- registration -----------------------------------------------------

    def _register(self, message: Registration, session: Session) -> None:
        refusal = self._registration_refusal(message, session)
        if refusal is not None:
            why, info = refusal
            self.observer.say(f"Refused registration from {session.peer}: {info}")
            status = self.dialect.refusal_status(why)
            self._send(session, RegistrationStatus(status, "Registration request unsuccessful. " + info))
            return
        node_id = self._ids.allocate()
        record = NodeRecord(node_id, _plain_host(message.host), message.port, session)
        self.nodes[node_id] = record
        session.node_id = node_id
        session.registered_once = True
        self._pending -= 1
        count = len(self.nodes)
        self._send(
            session,
            RegistrationStatus(
                node_id,
                "Registration request successful. The number of messaging nodes currently "
                f"constituting the overlay is ({count})",
            ),
        )
        self.observer.say(f"Registered node {node_id} at {record.address} ({count} nodes)")
        self._membership_changed(f"node {node_id} joined")

    def _registration_refusal(
        self, message: Registration, session: Session
    ) -> tuple[Refusal, str] | None:
        if session.node_id is not None and session.node_id in self.nodes:
            return (
                Refusal.ALREADY_REGISTERED,
                f"This connection already registered node {session.node_id}.",
            )
        claimed = _plain_host(message.host)
        if claimed != session.peer_host:
            return (
                Refusal.ADDRESS_MISMATCH,
                (
                    f"The request gives the address {message.host} but the connection "
                    f"comes from {session.peer_host}."
                ),
            )
        if not 0 < message.port < 65536:
            return Refusal.OTHER, f"Port {message.port} is not a valid listening port."
        for record in self.nodes.values():
            if record.host == claimed and record.port == message.port:
                return (
                    Refusal.ALREADY_REGISTERED,
                    f"A node at {record.address} is already registered (id {record.node_id}).",
                )
        if len(self._ids) >= self._ids.space:
            return (
                Refusal.OVERLAY_FULL,
                f"The overlay is full: all {self._ids.space} identifiers are taken.",
            )
        return None

    def _deregister(self, message: Deregistration, session: Session) -> None:
        record = self.nodes.get(message.node_id)
        claimed = _plain_host(message.host)
        why: Refusal | None = None
        if claimed != session.peer_host:
            why = Refusal.ADDRESS_MISMATCH
            info = (
                f"The request gives the address {message.host} but the connection comes "
                f"from {session.peer_host}."
            )
        elif record is None:
            why = Refusal.NOT_REGISTERED
            info = f"Node {message.node_id} is not registered (already deregistered?)."
        elif record.host != claimed or (
            # A node on a persistent connection may only be removed through
            # it; one that takes a message per connection is known only by
            # its address (its port here may be an ephemeral one).
            record.session is not None and record.session is not session
        ):
            why = Refusal.ID_MISMATCH
            info = f"Node {message.node_id} is not registered to this connection."
        if why is not None:
            self.observer.say(f"Refused deregistration from {session.peer}: {info}")
            status = self.dialect.refusal_status(why)
            self._send(
                session, DeregistrationStatus(status, "Deregistration request unsuccessful. " + info)
            )
            return
        assert record is not None
        self._remove(record)
        answer = DeregistrationStatus(
            self.dialect.deregistered_status(record.node_id),
            "Deregistration request successful. The number of messaging nodes currently "
            f"constituting the overlay is ({len(self.nodes)})",
        )
        if record.session is None and self._nursery is not None:
            # A node of the one-message kind has closed the connection the
            # request came on; it expects the answer at its own address.
            frame = self.dialect.encode(answer)
            self._nursery.start_soon(self._dial_once, record.host, record.port, frame)
        else:
            self._send(session, answer)
        self.observer.say(f"Deregistered node {record.node_id} ({len(self.nodes)} nodes remain)")

    def _session_ended(self, session: Session) -> None:
        node_id = session.node_id
        record = self.nodes.get(node_id) if node_id is not None else None
        if record is None or record.session is not session:
            return
        record.session = None
        if session.frames == 1 and self._nursery is not None:
            # Only the registration came on this connection: the node may
            # be of the kind that closes after every message. Whether it
            # still accepts connections at its address tells.
            self._nursery.start_soon(self._adopt_or_drop, record)
            return
        self._drop(record, "disconnected without deregistering")

    async def _adopt_or_drop(self, record: NodeRecord) -> None:
        alive = await can_dial(record.host, record.port, self.config.probe_timeout)
        if self.nodes.get(record.node_id) is not record:
            return
        if not alive:
            self._drop(record, "disconnected without deregistering")
            return
        assert self._nursery is not None
        record.dialer = DialWriter(record.host, record.port, self.config.writer_capacity)
        record.dialer_scope = trio.CancelScope()
        self._nursery.start_soon(self._run_dialer, record, record.dialer, record.dialer_scope)
        self.observer.say(
            f"Node {record.node_id} closed its connection after registering but accepts "
            f"connections at {record.address}: sending it each message on a fresh connection."
        )

    async def _run_dialer(
        self, record: NodeRecord, dialer: DialWriter, scope: trio.CancelScope
    ) -> None:
        """The per-node task of a one-message-per-connection node; its cancel
        scope is the node's teardown."""
        with scope:
            await dialer.run()
            if dialer.broken is not None and self.nodes.get(record.node_id) is record:
                self._drop(record, f"cannot be reached any more ({dialer.broken})")

    async def _dial_once(self, host: str, port: int, frame: bytes) -> None:
        dialer = DialWriter(host, port, 1, self.config.probe_timeout)
        dialer.send_nowait(frame)
        dialer.close()
        await dialer.run()
        if dialer.broken is not None:
            log.info("could not deliver to %s: %s", format_address(host, port), dialer.broken)

    def _drop(self, record: NodeRecord, why: str) -> None:
        self._remove(record)
        self.observer.say(
            f"Node {record.node_id} at {record.address} {why}: removed "
            f"({len(self.nodes)} nodes remain)"
        )

    def _remove(self, record: NodeRecord) -> None:
        del self.nodes[record.node_id]
        self._ids.release(record.node_id)
        if record.session is not None:
            record.session.node_id = None
        if record.dialer_scope is not None:
            record.dialer_scope.cancel()
        record.state = "gone"
        run = self.run
        if run is not None and record.node_id in run.node_ids:
            run.gone[record.node_id] = record
            run.poke()
        self._membership_changed(f"node {record.node_id} left")

    def _membership_changed(self, why: str) -> None:
        if self.overlay_nr is not None:
            self.overlay_nr = None
            self.tables = {}
            self.ready = False
            self._ready_event = trio.Event()
            if self.run is None:
                self.observer.say(f"The overlay changed ({why}): run setup-overlay again.")
        self._membership.set()
        self._membership = trio.Event()
        self.observer.changed()

    async def wait_for_nodes(self, count: int) -> None:
        """Return once at least ``count`` nodes are registered."""
        while len(self.nodes) < count:
            await self._membership.wait()

    # --- overlay setup ----------------------------------------------------

    def setup_overlay(self, nr: int = 3) -> None:
        """Compute the routing tables and send each node its manifest."""
        if self.run is not None:
            raise CommandError("a task is running; wait for its summary before setting up again")
        ids = sorted(self.nodes)
        try:
            validate_nr(nr, len(ids))
            tables = routing_tables(ids, nr)
        except OverlayError as exc:
            raise CommandError(str(exc)) from None
        manifests: dict[int, NodeManifest] = {}
        for node_id, entries in tables.items():
            peers = tuple(
                PeerEntry(e, self.nodes[e].host, self.nodes[e].port) for e in entries
            )
            manifests[node_id] = NodeManifest(peers, tuple(ids))
        try:
            frames = {node_id: self.dialect.encode(m) for node_id, m in manifests.items()}
        except WireError as exc:
            raise CommandError(f"cannot describe this overlay in the {self.dialect.name} dialect: {exc}") from None
        self.overlay_nr = nr
        self.tables = tables
        self.ready = False
        self._ready_event = trio.Event()
        for node_id, frame in frames.items():
            record = self.nodes[node_id]
            record.setup_ok = False
            record.state = "registered"
            self._deliver(record, frame)
        self.observer.say(f"Sent manifests to {len(frames)} nodes (NR {nr}).")

    def _on_setup_status(self, message: OverlaySetupStatus, session: Session) -> None:
        record = self._sender(session, message.status if message.status >= 0 else None)
        if record is None:
            if message.status < 0:
                self.observer.say(
                    f"A node at {session.peer_host} reported an overlay setup failure: "
                    f"{message.info}"
                )
                return
            raise ProtocolViolation(
                f"overlay setup status for node {message.status}, which is not registered "
                f"from {session.peer_host}"
            )
        if self.overlay_nr is None:
            log.info("setup status from node %d after the overlay changed; ignored", record.node_id)
            return
        record.progress_capable = PROGRESS_MARKER in message.info
        if message.status != record.node_id:
            record.setup_ok = False
            self.observer.say(f"Node {record.node_id} failed to set up its overlay: {message.info}")
            return
        record.setup_ok = True
        record.state = "connected"
        if record.progress_capable:
            interval_ms = max(1, round(self.config.progress_interval * 1000))
            self._deliver(record, self.dialect.encode(ProgressRequest(interval_ms)))
        self.observer.changed()
        if all(r.setup_ok for r in self.nodes.values()) and not self.ready:
            self.ready = True
            self._ready_event.set()
            self.observer.say("Registry now ready to initiate tasks.")

    async def wait_ready(self) -> None:
        """Return once every node has reported a successful setup."""
        while not self.ready:
            await self._ready_event.wait()

    # --- the task -----------------------------------------------------------

    def start(self, packets: int) -> Run:
        """Ask every node to originate ``packets`` packets; returns the run,
        whose ``done`` event is set once the summary is printed."""
        if packets < 0 or packets > 0x7FFFFFFF:
            raise CommandError("the packet count must be between 0 and 2147483647")
        if self.run is not None:
            raise CommandError("a task is already running")
        if not self.ready or self.overlay_nr is None:
            raise CommandError(
                "the overlay is not ready: run setup-overlay and wait for "
                "'Registry now ready to initiate tasks.'"
            )
        assert self._nursery is not None
        run = Run(packets, self.overlay_nr, tuple(sorted(self.nodes)), time.monotonic())
        self.run = run
        frame = self.dialect.encode(TaskInitiate(packets))
        for record in self.nodes.values():
            record.state = "sending"
            record.summary = None
            record.progress = None
            self._deliver(record, frame)
        self.observer.changed()
        self._nursery.start_soon(self._conduct, run)
        return run

    def _on_task_finished(self, message: TaskFinished, session: Session) -> None:
        record = self._known_sender(session, message.node_id, "task-finished report")
        if self.run is None or record.node_id not in self.run.node_ids:
            log.warning("node %d reported task finished with no task running; ignored", record.node_id)
            return
        record.state = "finished"
        self.run.finished.add(record.node_id)
        self.run.last_finished = time.monotonic()
        self.run.poke()
        self.observer.changed()

    def _on_progress(self, message: ProgressReport, session: Session) -> None:
        record = self._known_sender(session, message.node_id, "progress report")
        record.progress = message
        if self.run is not None:
            self.run.poke()
        self.observer.changed()

    def _on_summary(self, message: TrafficSummary, session: Session) -> None:
        record = self._known_sender(session, message.node_id, "traffic summary")
        if self.run is None:
            log.warning("node %d sent a traffic summary with no task running; ignored", record.node_id)
            return
        record.summary = message
        self.run.poke()

    def _known_sender(self, session: Session, node_id: int, what: str) -> NodeRecord:
        """The sender of a message only registered nodes may send; a stranger
        sending one is a protocol violation (its connection closes)."""
        record = self._sender(session, node_id)
        if record is None:
            raise ProtocolViolation(
                f"a {what} for node {node_id}, which is not registered from {session.peer_host} "
                "on this connection"
            )
        return record

    def _sender(self, session: Session, node_id: int | None) -> NodeRecord | None:
        """The registered node a message comes from: the node of its
        connection, or -- for nodes that send each message on a fresh
        connection -- the id inside the message, if that node lives on the
        host the connection comes from."""
        if session.node_id is not None:
            record = self.nodes.get(session.node_id)
            if record is not None and node_id in (None, record.node_id):
                return record
            log.info("message from %s names node %s, not its own", session.peer, node_id)
            return None
        if node_id is None:
            return None
        record = self.nodes.get(node_id)
        if record is None or record.host != session.peer_host:
            return None
        return record

    def _live(self, run: Run) -> list[NodeRecord]:
        return [self.nodes[i] for i in run.node_ids if i in self.nodes]

    async def _conduct(self, run: Run) -> None:
        """Wait for the end of a run, collect summaries, report."""
        # Every node (still alive) has finished originating.
        while not all(r.node_id in run.finished for r in self._live(run)):
            await run.wait_change(math.inf)
        quiescence = await self._await_quiet(run)
        request = self.dialect.encode(TrafficSummaryRequest())
        for record in self._live(run):
            self._deliver(record, request)
        with trio.move_on_after(self.config.summary_timeout):
            while not all(r.summary is not None for r in self._live(run)):
                await run.wait_change(math.inf)
        run.result = self._result(run, quiescence)
        self.run = None
        if self.overlay_nr is None and run.gone:
            self.observer.say(
                "The overlay changed during the run: run setup-overlay again before the next start."
            )
        for record in self._live(run):
            record.state = "connected" if record.setup_ok else "registered"
        self.observer.run_finished(run.result)
        self.observer.changed()
        run.done.set()

    async def _await_quiet(self, run: Run) -> str:
        """How the overlay was judged quiet: see RunResult.quiescence."""
        live = self._live(run)
        classic = [r.node_id for r in live if not r.progress_capable]
        if classic:
            self.observer.say(
                f"{len(classic)} node(s) do not report progress (classic peers): waiting the "
                f"grace period of {self.config.grace:g} s before asking for traffic summaries."
            )
            await trio.sleep(self.config.grace)
            return "grace period"
        expected = run.packets * len(run.node_ids)
        while True:
            received = sum(r.progress.received for r in self._live(run) if r.progress)
            if received >= expected and not run.gone:
                return "progress"
            if not await run.wait_change(self.config.stall_timeout):
                self.observer.say(
                    f"No progress for {self.config.stall_timeout:g} s with {received} of "
                    f"{expected} packets received: asking for summaries anyway."
                )
                return "stalled"

    def _deliver(self, record: NodeRecord, frame: bytes) -> None:
        """Queue a frame for a node on whichever way reaches it. A node that
        cannot take a control message (queue full or gone) is torn down."""
        outbox = record.outbox
        if outbox is None:
            log.warning("node %d is being probed; a message for it was dropped", record.node_id)
            return
        try:
            outbox.send_nowait(frame)
        except (trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError):
            if record.session is not None:
                record.session.scope.cancel()
            elif self.nodes.get(record.node_id) is record:
                self._drop(record, "cannot be reached")

    def _result(self, run: Run, quiescence: str) -> RunResult:
        rows: list[NodeTotals] = []
        for node_id in run.node_ids:
            record = self.nodes.get(node_id) or run.gone.get(node_id)
            if record is None:
                continue
            rows.append(_totals(record))
        return RunResult(
            packets_per_node=run.packets,
            nr=run.nr,
            nodes=tuple(rows),
            elapsed=time.monotonic() - run.started,
            quiescence=quiescence,
            gone=tuple(sorted(run.gone)),
            sending_elapsed=(
                None if run.last_finished is None else run.last_finished - run.started
            ),
        )

    # --- queries ------------------------------------------------------------

    def node_list(self) -> list[NodeRecord]:
        return [self.nodes[i] for i in sorted(self.nodes)]

    def routing_table_rows(self) -> Iterable[tuple[NodeRecord, list[NodeRecord]]]:
        if self.overlay_nr is None:
            raise CommandError("no overlay has been set up (run setup-overlay first)")
        for node_id in sorted(self.tables):
            yield self.nodes[node_id], [self.nodes[e] for e in self.tables[node_id]]


def _totals(record: NodeRecord) -> NodeTotals:
    s = record.summary
    if s is not None:
        dropped = record.progress.dropped if record.progress else 0
        return NodeTotals(
            record.node_id, record.host, record.port,
            s.sent, s.received, s.relayed, s.sum_sent, s.sum_received, dropped, "summary",
        )  # fmt: skip
    p = record.progress
    if p is not None:
        return NodeTotals(
            record.node_id, record.host, record.port,
            p.sent, p.received, p.relayed, p.sum_sent, p.sum_received, p.dropped, "last-progress",
        )  # fmt: skip
    return NodeTotals(record.node_id, record.host, record.port, 0, 0, 0, 0, 0, 0, "none")


def _plain_host(host: str) -> str:
    """Normalise an IP text (``::ffff:1.2.3.4`` -> ``1.2.3.4``) so the same
    address always compares equal."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)
