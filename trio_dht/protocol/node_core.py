"""The messaging node's control plane as a sans-IO state machine.

It decides, for every control message, whether it may be obeyed (who sent
it, on which connection, in which phase: ``rules.node_check``) and what it
means (``manifest.check_manifest``), and answers with actions: messages to
the registry, an overlay to install, a task to originate. The node service
carries those out and reports back (``OverlayReady``, ``OriginationDone``).

Why the registry model lives here: the one-message-per-connection registry
never reads the connection a node registered on and dials its control in;
a persistent one speaks on that connection. The node learns which from the
traffic (control on a fresh connection from the registry's host before any
on the registration connection) unless a setting forces it, and from then
on accepts control only that way and answers the same way.

Counters live here because the summary is a protocol message built from
them; the service's data path increments them once per batch. With the
progress extension, each progress report is followed by a load report
(packets per link, relays per delivered packet) of the same counters.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from trio_dht.protocol.debug import debug
from trio_dht.protocol.errors import LocalProtocolError, RemoteProtocolError
from trio_dht.protocol.events import (
    Close,
    Closed,
    ConnId,
    ConnRole,
    Dial,
    Log,
    Opened,
    Received,
    Say,
    Send,
    Tick,
)
from trio_dht.protocol.manifest import ManifestRefused, Overlay, check_manifest
from trio_dht.protocol.node_counters import Counters
from trio_dht.protocol.node_events import (
    InstallOverlay,
    Left,
    NodeAction,
    NodeEvent,
    Originate,
    OriginationDone,
    OverlayReady,
    ProgressDue,
    Refused,
    Registered,
    RegistryModel,
    ReportProgress,
    Stop,
)
from trio_dht.protocol.rules import NodePhase, Source, node_check
from trio_dht.wire.messages import (
    MAX_LOAD_LINKS,
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

# During a run a node reports at least this often even when nothing moved,
# so the registry can tell a silent (stopped) node from a quiet one.
HEARTBEAT = 1.0
REGISTRY_KEY = "registry"


class NodeCore:
    """One node's protocol state. Feed ``handle``; read ``take_actions``."""

    def __init__(
        self,
        registry_host: str,
        registry_port: int,
        clip: Callable[[str], str],
        *,
        registry_model: RegistryModel = RegistryModel.UNKNOWN,
    ) -> None:
        self.registry_host = registry_host
        self.registry_port = registry_port
        self._clip = clip
        self.model = registry_model
        self.phase = NodePhase.REGISTERING
        self.node_id: int | None = None
        self.host = ""
        self.port = 0
        self.counters = Counters()
        self.overlay: Overlay | None = None
        # Bumped by every accepted manifest; the data path counts data only
        # on links of the current generation.
        self.generation = 0
        self._pending_overlay: Overlay | None = None
        self._registration_conn: ConnId | None = None
        self._conns: dict[ConnId, tuple[ConnRole, str]] = {}
        self._control_on_session = False
        self._progress_interval = 0.0
        self._last_report: tuple[int, ...] | None = None
        self._last_report_at = 0.0
        self._now = 0.0
        self._actions: list[NodeAction] = []

    # --- driving ----------------------------------------------------------

    def take_actions(self) -> list[NodeAction]:
        actions, self._actions = self._actions, []
        return actions

    def register(self, conn: ConnId, host: str, port: int) -> None:
        """Start: ``conn`` is the open registration connection, ``host`` and
        ``port`` our side of it and our listening port."""
        self._registration_conn = conn
        self.host, self.port = host, port
        self._emit(Send(conn, Registration(host, port)))
        where = f"{self.registry_host}:{self.registry_port}"
        self._debug(f"registering at {where} on connection {conn}")

    def leave(self) -> None:
        """Deregister (the command ``exit-overlay``)."""
        if self.node_id is None or self.phase in (NodePhase.LEAVING, NodePhase.GONE):
            raise LocalProtocolError("this node is not registered")
        self.phase = NodePhase.LEAVING
        self._to_registry(Deregistration(self.host, self.port, self.node_id), await_reply=True)

    def handle(self, event: NodeEvent, now: float) -> None:
        self._now = now
        if isinstance(event, Received):
            self._received(event)
        elif isinstance(event, Opened):
            self._conns[event.conn] = (event.role, event.host)
            if event.role is not ConnRole.REGISTRATION:  # register() says it
                # Per role and host, aggregated: a peer cannot flood the log.
                text = f"connection {event.conn} ({event.role.value}) with {event.host} opened"
                self._debug(text, ("opened", event.role.value, event.host))
        elif isinstance(event, Closed):
            self._closed(event.conn)
        elif isinstance(event, OverlayReady):
            self._overlay_ready(event)
        elif isinstance(event, OriginationDone):
            self._origination_done(event)
        elif isinstance(event, ProgressDue):
            self._progress_due()
        elif isinstance(event, Tick):
            pass

    # --- who is speaking --------------------------------------------------

    def _source(self, conn: ConnId) -> Source:
        role, host = self._conns.get(conn, (ConnRole.LISTENER, ""))
        if role is ConnRole.REGISTRATION:
            return Source.REGISTRY
        if role is ConnRole.DIALLED:
            return Source.REGISTRY
        if host != self.registry_host:
            return Source.PEER
        if self.model is RegistryModel.PER_MESSAGE:
            return Source.REGISTRY
        if (
            self.model is RegistryModel.UNKNOWN
            and not self._control_on_session
            and self._registration_conn in self._conns
            and self.node_id is not None
        ):
            # Control on a fresh connection from the registry's host while the
            # registration connection is open and has carried nothing since
            # the answer: a registry that dials every message in.
            self.model = RegistryModel.PER_MESSAGE
            self._emit(
                Say(
                    "The registry sends control on fresh connections (one message per "
                    "connection): answering it the same way from now on."
                )
            )
            return Source.REGISTRY
        return Source.PEER

    def _received(self, event: Received) -> None:
        message = event.message
        source = self._source(event.conn)
        try:
            node_check(source, self.phase, message)
            self._obey(message, event.conn)
        except RemoteProtocolError as exc:
            if source is Source.PEER:
                self._emit(Close(event.conn, str(exc)))
            else:
                self._emit(Log(logging.WARNING, f"ignored a message from the registry: {exc}"))
            return
        role = self._conns.get(event.conn, (ConnRole.LISTENER, ""))[0]
        if role is ConnRole.REGISTRATION and not isinstance(message, RegistrationStatus):
            self._control_on_session = True
            if self.model is RegistryModel.UNKNOWN:
                self.model = RegistryModel.PERSISTENT
                self._debug("the registry speaks on the registration connection: answering there")

    def _obey(self, message: Message, conn: ConnId) -> None:
        if isinstance(message, RegistrationStatus):
            if self.phase is NodePhase.LEAVING:
                self._left(message.status, message.info)
            else:
                self._registration_status(message)
        elif isinstance(message, DeregistrationStatus):
            self._left(message.status, message.info)
        elif isinstance(message, NodeManifest):
            self._manifest(message)
        elif isinstance(message, TaskInitiate):
            self._task(message)
        elif isinstance(message, TrafficSummaryRequest):
            self._summary()
        elif isinstance(message, ProgressRequest):
            if message.interval_ms < 0:
                raise RemoteProtocolError(f"a progress interval of {message.interval_ms} ms")
            self._progress_interval = message.interval_ms / 1000
            self._last_report = None
            self._emit(ReportProgress(self._progress_interval))
            self._debug(f"the registry asks for progress every {message.interval_ms} ms")

    # --- registration -----------------------------------------------------

    def _registration_status(self, message: RegistrationStatus) -> None:
        if message.status < 0:
            self.phase = NodePhase.GONE
            self._emit(Refused(message.info or f"status {message.status}"))
            return
        if message.status > 127:
            self.phase = NodePhase.GONE
            self._emit(Refused(f"the registry gave the id {message.status}, outside 0..127"))
            return
        self.node_id = message.status
        self.phase = NodePhase.REGISTERED
        self._emit(Registered(message.status, message.info))

    def _left(self, status: int, info: str) -> None:
        self.phase = NodePhase.GONE
        self._emit(Left(status, info))

    def _closed(self, conn: ConnId) -> None:
        role, host = self._conns.pop(conn, (ConnRole.LISTENER, ""))
        if host:
            text = f"connection {conn} ({role.value}) with {host} closed"
            self._debug(text, ("closed", role.value, host))
        if role is not ConnRole.REGISTRATION:
            return
        if self.phase is NodePhase.GONE:
            return
        if self.model is RegistryModel.PER_MESSAGE:
            self._emit(
                Log(logging.INFO, "the registration connection closed; the registry dials in")
            )
            return
        if self.phase is NodePhase.REGISTERING:
            self.phase = NodePhase.GONE
            self._emit(Refused("the registry closed the connection before answering"))
            return
        self.phase = NodePhase.GONE
        self._emit(Stop("The registry closed the connection; leaving."))

    # --- overlay ------------------------------------------------------------

    def _manifest(self, manifest: NodeManifest) -> None:
        assert self.node_id is not None
        try:
            overlay = check_manifest(self.node_id, manifest)
        except ManifestRefused as exc:
            self._emit(Say(f"Refused a manifest: {exc}; keeping the previous state."))
            self._to_registry(OverlaySetupStatus(-1, self._clip(f"Setup failed: {exc}")))
            return
        # A new manifest replaces everything before anything else happens:
        # origination stops, old links close, counters start from zero so
        # nothing of an earlier run can be counted in the next.
        self.generation += 1
        self.phase = NodePhase.CONNECTING
        self.overlay = None
        self._pending_overlay = overlay
        self.counters.reset()
        self._last_report = None
        self._emit(InstallOverlay(self.generation, overlay))
        table = ", ".join(str(e.node_id) for e in overlay.entries)
        nodes = len(overlay.node_ids)
        self._debug(f"manifest {self.generation} accepted: {nodes} nodes, table {table}; linking")

    def _overlay_ready(self, event: OverlayReady) -> None:
        if event.generation != self.generation or self.phase is not NodePhase.CONNECTING:
            return  # superseded by a newer manifest
        overlay = self._pending_overlay
        assert overlay is not None and self.node_id is not None
        self._pending_overlay = None
        if event.failure is not None:
            self.phase = NodePhase.REGISTERED
            self._emit(Say(f"Overlay setup failed: {event.failure}"))
            self._to_registry(OverlaySetupStatus(-1, self._clip(f"Setup failed: {event.failure}")))
            return
        self.overlay = overlay
        self.phase = NodePhase.IDLE
        ids = ", ".join(str(e.node_id) for e in overlay.entries)
        count = len(overlay.entries)
        self._emit(Say(f"Connected to {count} {'peer' if count == 1 else 'peers'} ({ids})."))
        # The marker must survive the clip: clip the human part only.
        text = self._clip(f"Overlay setup succeeded: node {self.node_id} connected to peers {ids}.")
        marker = f" {PROGRESS_MARKER}"
        self._to_registry(OverlaySetupStatus(self.node_id, self._clip(text[:100] + marker)))

    # --- the task -----------------------------------------------------------

    def _task(self, message: TaskInitiate) -> None:
        if message.packets < 0:
            raise RemoteProtocolError(f"a task of {message.packets} packets")
        self.phase = NodePhase.SENDING
        self._emit(Originate(self.generation, message.packets))
        self._debug(f"task: originating {message.packets:,} packets")

    def _origination_done(self, event: OriginationDone) -> None:
        if event.generation != self.generation or self.phase is not NodePhase.SENDING:
            return
        assert self.node_id is not None
        self.phase = NodePhase.RELAYING
        self._to_registry(TaskFinished(self.host, self.port, self.node_id))
        self._debug("origination done, task finished sent; relaying until asked to report")
        self._progress_due(force=True)

    def _summary(self) -> None:
        assert self.node_id is not None
        # The final progress and loads first: the summary resets them.
        self._progress_due(force=True)
        c = self.counters
        self._to_registry(
            TrafficSummary(self.node_id, c.sent, c.relayed, c.sum_sent, c.received, c.sum_received)
        )
        self._emit(
            Say(
                f"Traffic summary sent: sent {c.sent:,}, received {c.received:,}, "
                f"relayed {c.relayed:,}; counters reset."
            )
        )
        c.reset()
        self._last_report = None
        self.phase = NodePhase.IDLE

    def _progress_due(self, force: bool = False) -> None:
        if self.node_id is None or self._progress_interval <= 0:
            return
        snapshot = self.counters.snapshot()
        running = self.phase in (NodePhase.SENDING, NodePhase.RELAYING)
        stale = running and self._now - self._last_report_at >= HEARTBEAT
        if not force and snapshot == self._last_report and not stale:
            return
        if not force and not stale and self.model is RegistryModel.PER_MESSAGE:
            return  # every report is a connection there: once per heartbeat
        self._last_report = snapshot
        self._last_report_at = self._now
        sent, received, relayed, sum_sent, sum_received, dropped = snapshot[:6]
        self._to_registry(
            ProgressReport(self.node_id, sent, received, relayed, sum_sent, sum_received, dropped)
        )
        # From the same counters at the same instant, so the registry can
        # hold the loads against the report just before them.
        entries = () if self.overlay is None else tuple(e.node_id for e in self.overlay.entries)
        if len(entries) <= MAX_LOAD_LINKS:  # a trio_dht registry's table always fits
            self._to_registry(self.counters.load_report(self.node_id, entries))

    # --- output -------------------------------------------------------------

    def _to_registry(self, message: Message, *, await_reply: bool = False) -> None:
        conn = self._registration_conn
        if self.model is RegistryModel.PER_MESSAGE or conn is None or conn not in self._conns:
            self._emit(
                Dial(
                    REGISTRY_KEY,
                    self.registry_host,
                    self.registry_port,
                    message,
                    await_reply=await_reply,
                )
            )
        else:
            self._emit(Send(conn, message))

    def _emit(self, action: NodeAction) -> None:
        self._actions.append(action)

    def _debug(self, text: str, aggregate: tuple[str, ...] | None = None) -> None:
        # Nodes may share a process (the demo): each line says whose it is.
        who = f"node {self.node_id}" if self.node_id is not None else f"{self.host}:{self.port}"
        self._emit(debug(f"{who}: {text}", aggregate))
