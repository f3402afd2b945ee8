"""The registry service: a thin trio shell around ``RegistryCore``.

It accepts connections (each served in its own nursery: once a node
registers on it, that nursery is the node's session and cancelling it is
the node's teardown), reads frames, decodes them, feeds the core, and
carries out the core's actions: send on a connection, dial a node that
takes one message per connection, close with a reason, probe an address,
say a line, report a run's result. A ticker feeds the time. No protocol
decision is taken here.
"""

from __future__ import annotations

import itertools
import logging
import random
import time
from collections.abc import Callable, Iterable

import attrs
import trio

from trio_dht.protocol.errors import LocalProtocolError
from trio_dht.protocol.events import (
    Action,
    Close,
    Closed,
    ConnRole,
    Dial,
    Event,
    Forget,
    Log,
    Opened,
    Probe,
    ProbeResult,
    Received,
    RunEnded,
    Say,
    Send,
    Tick,
)
from trio_dht.protocol.members import Member
from trio_dht.protocol.registry_admission import plain_host
from trio_dht.protocol.registry_core import RegistryCore
from trio_dht.protocol.report import RunResult
from trio_dht.services.config import RegistryConfig, registry_rules
from trio_dht.services.connection import Connection
from trio_dht.services.dialling import Dialler, probe
from trio_dht.services.observer import Observer
from trio_dht.transport import ByteBudget, ConnectionSlots, Slot, limits_from_rlimit
from trio_dht.wire import Dialect, WireError
from trio_dht.wire.messages import Deregistration, Message, Registration, TaskFinished

log = logging.getLogger(__name__)

# How often time is fed to the core (timers are checked this often).
TICK = 0.05
# A stranger idle this long may be closed to make room when all slots are
# taken (a flood of idle connections cannot lock a node out).
EVICT_AFTER = 1.0

NodeRecord = Member
# Messages whose bytes tell the peer's address form (answered in that form).
SHOWS_FORM = (Registration, Deregistration, TaskFinished)

__all__ = ["CommandError", "NodeRecord", "Registry", "RegistryConfig", "Run"]


class CommandError(Exception):
    """A console command that cannot be carried out now; the text says why."""


@attrs.define(eq=False)
class Run:
    """What the layers above see of one ``start N``: its shape, and ``done``
    set once ``result`` is in."""

    packets: int
    nr: int
    node_ids: tuple[int, ...]
    started: float
    finished: set[int] = attrs.field(factory=set)
    gone: dict[int, Member] = attrs.field(factory=dict)
    done: trio.Event = attrs.field(factory=trio.Event)
    result: RunResult | None = None


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
        self.core = RegistryCore(registry_rules(self.config, dialect), rng)
        self.port = 0
        # Set once ``port`` is bound and connections are served (for owners
        # that did not start ``serve`` themselves, e.g. under an app).
        self.listening = trio.Event()
        self.run: Run | None = None
        self._conns: dict[int, Connection] = {}
        self._conn_ids = itertools.count(1)
        self._nursery: trio.Nursery | None = None
        self._dialler: Dialler | None = None
        self._changed = trio.Event()
        # Every accepted connection takes a slot; when all are taken, the
        # longest-idle stranger (never a registered node's session) makes
        # room for someone waiting. Strangers' own time limit is the core's.
        self._slots = ConnectionSlots(
            self.config.max_connections or limits_from_rlimit().connections,
            evict=lambda slot: not slot.member and slot.idle_for() >= EVICT_AFTER,
        )
        self._budget = ByteBudget(self.config.read_budget)

    # --- what the layers above read ---------------------------------------------

    @property
    def nodes(self) -> dict[int, Member]:
        return self.core.members

    @property
    def overlay_nr(self) -> int | None:
        return self.core.overlay_nr

    @property
    def tables(self) -> dict[int, tuple[int, ...]]:
        return self.core.tables

    @property
    def ready(self) -> bool:
        return self.core.ready

    def node_list(self) -> list[Member]:
        return [self.nodes[i] for i in sorted(self.nodes)]

    def routing_table_rows(self) -> Iterable[tuple[Member, list[Member]]]:
        if self.overlay_nr is None:
            raise CommandError(
                "no overlay is set up now (a join or leave undoes it): run setup-overlay"
            )
        return [
            (self.nodes[i], [self.nodes[e] for e in self.tables[i]]) for i in sorted(self.tables)
        ]

    async def wait_for_nodes(self, count: int) -> None:
        """Return once at least ``count`` nodes are registered."""
        while len(self.nodes) < count:
            await self._changed.wait()

    async def wait_ready(self) -> None:
        """Return once every node has reported a successful setup."""
        while not self.ready:
            await self._changed.wait()

    async def wait_set_up(self) -> bool:
        """True once every node has reported a successful setup; False as
        soon as the overlay changed instead (a node came or went: it must be
        set up again)."""
        while not self.ready:
            if self.overlay_nr is None:
                return False
            await self._changed.wait()
        return True

    # --- commands ------------------------------------------------------------------

    def setup_overlay(self, nr: int = 3) -> None:
        """Compute the routing tables and send each node its manifest."""
        self._command(lambda: self.core.setup(nr))

    def start(self, packets: int) -> Run:
        """Ask every node to originate ``packets`` packets; the run's
        ``done`` is set once the summary is in."""
        try:
            core_run = self.core.start(packets)
        except LocalProtocolError as exc:
            raise CommandError(str(exc)) from None
        self.run = Run(
            packets,
            core_run.nr,
            core_run.node_ids,
            time.monotonic(),
            core_run.finished,
            core_run.gone,
        )
        self._carry_out(self.core.take_actions())
        return self.run

    def abort(self) -> None:
        """End a run that is waiting; its verdict says it was aborted."""
        self._command(self.core.abort)

    def _command(self, do: Callable[[], None]) -> None:
        try:
            do()
        except LocalProtocolError as exc:
            raise CommandError(str(exc)) from None
        self._carry_out(self.core.take_actions())

    # --- serving ----------------------------------------------------------------------

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
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                self._dialler = Dialler(nursery, self.config.writer_capacity, self._feed)
                nursery.start_soon(self._ticker)
                await nursery.start(self._slots.serve, self._serve_connection, listeners)
                self.listening.set()
                task_status.started(self.port)
        finally:
            self._nursery = None

    async def _ticker(self) -> None:
        while True:
            await trio.sleep(TICK)
            self._feed(Tick())

    async def _serve_connection(self, stream: trio.SocketStream, slot: Slot) -> None:
        host = plain_host(slot.host)
        conn = next(self._conn_ids)
        io = Connection(conn, stream, self.config.writer_capacity)
        self._conns[conn] = io
        self._feed(Opened(conn, ConnRole.ACCEPTED, host))
        decode = self.dialect.decode
        detect = self.dialect.detect_variant

        async def on_bodies(bodies: list[bytes]) -> None:
            for body in bodies:
                try:
                    message = decode(body)
                except WireError as exc:
                    io.close(f"malformed input: {exc}")
                    return
                variant = detect(body) if isinstance(message, SHOWS_FORM) else None
                self._feed(Received(conn, message, variant))
                if io.closing:
                    return
            # A connection that registered a node is never made room from.
            info = self.core.admission.conns.get(conn)
            slot.member = info is not None and info.node_id is not None

        try:
            await io.serve(
                self.dialect, self.config.max_frame, self.config.frame_timeout, on_bodies,
                budget=self._budget,
            )  # fmt: skip
        finally:
            if self._conns.pop(conn, None) is not None and self._nursery is not None:
                self._feed(Closed(conn))

    # --- the core ---------------------------------------------------------------------

    def _feed(self, event: Event) -> None:
        self.core.handle(event, trio.current_time())
        self._carry_out(self.core.take_actions())

    def _carry_out(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, Send):
                io = self._conns.get(action.conn)
                frame = self._encode(action.message, action.variant)
                if io is not None and frame is not None:
                    io.send_nowait(frame)
            elif isinstance(action, Dial):
                frame = self._encode(action.message, action.variant)
                if frame is not None and self._dialler is not None:
                    self._dialler.send(action.key, action.host, action.port, frame)
            elif isinstance(action, Close):
                io = self._conns.get(action.conn)
                if io is not None:
                    io.close(action.reason, action.level)
            elif isinstance(action, Probe):
                if self._nursery is not None:
                    self._nursery.start_soon(self._probe, action)
            elif isinstance(action, Say):
                self.observer.say(action.text)
            elif isinstance(action, Log):
                extra = {} if action.aggregate is None else {"aggregate": action.aggregate}
                log.log(action.level, "%s", action.text, extra=extra)
            elif isinstance(action, RunEnded):
                self._run_ended(action.result)
            elif isinstance(action, Forget) and self._dialler is not None:
                self._dialler.forget(action.key)
        self.observer.changed()
        self._changed.set()
        self._changed = trio.Event()

    def _encode(self, message: Message, variant: str | None) -> bytes | None:
        dialect = self.dialect
        if variant is not None:
            dialect = dialect.with_variant(variant)
        try:
            return dialect.encode(message)
        except WireError as exc:
            # Our own message: a local fault, never blamed on the peer.
            log.error("could not encode our %s: %s", type(message).__name__, exc)
            return None

    async def _probe(self, action: Probe) -> None:
        reachable, reason = await probe(action.host, action.port, self.config.probe_timeout)
        self._feed(ProbeResult(action.conn, reachable, reason))

    def _run_ended(self, result: RunResult) -> None:
        run = self.run
        self.run = None
        self.observer.run_finished(result)
        if run is not None:
            run.result = result
            run.done.set()
