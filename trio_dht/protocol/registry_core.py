"""The registry as a sans-IO state machine.

Every message is first attributed (``_sender``: the node whose connection it
came on, or -- for nodes that send one message per connection -- the node it
names if it comes from that node's registered host, or nobody) and checked
against ``rules.registry_check`` for that node's phase; only then does it
change anything. Membership and connection limits are ``Admission``'s, a
run's expectations are ``Run``'s; this class owns the overlay (setup) and
the commands, and routes events between them.
"""

from __future__ import annotations

import logging
import random

from trio_dht.overlay import IdAllocator
from trio_dht.protocol.debug import setup_reported
from trio_dht.protocol.errors import LocalProtocolError, RemoteProtocolError
from trio_dht.protocol.events import (
    Action,
    Close,
    Closed,
    ConnId,
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
    Unreachable,
)
from trio_dht.protocol.members import Member, NodeKind, nodes_phrase
from trio_dht.protocol.registry_admission import Admission, Conn
from trio_dht.protocol.registry_loads import take_load_report
from trio_dht.protocol.registry_rules import RegistryRules
from trio_dht.protocol.registry_run import Run, RunPhase, start_refusal
from trio_dht.protocol.registry_setup import build_manifests, manifest_deadlines, overdue_notice
from trio_dht.protocol.rules import COUNTING, MemberPhase, NeverAccepted, Sender, registry_check
from trio_dht.wire.messages import (
    PROGRESS_MARKER,
    Deregistration,
    LoadReport,
    Message,
    NodeManifest,
    OverlaySetupStatus,
    ProgressReport,
    ProgressRequest,
    Registration,
    TaskFinished,
    TaskInitiate,
    TrafficSummary,
    TrafficSummaryRequest,
)


class RegistryCore:
    """Feed ``handle(event, now)`` and the commands; read ``take_actions``."""

    def __init__(self, rules: RegistryRules, rng: random.Random | None = None) -> None:
        self.rules = rules
        self.members: dict[int, Member] = {}
        self.overlay_nr: int | None = None
        self.tables: dict[int, tuple[int, ...]] = {}
        self.ready = False
        self.run: Run | None = None
        # After a run that did not end CORRECT, packets of it may still be
        # in flight or held by a stopped node: a fresh setup must come first.
        self.needs_setup = False
        self._manifests: dict[int, NodeManifest] = {}
        self._member_probes: dict[ConnId, int] = {}
        self._actions: list[Action] = []
        self._now = 0.0
        self.admission = Admission(
            rules.admission,
            IdAllocator(rng=rng),
            self.members,
            self._emit,
            rules.refusal_status,
            rules.deregistered_status,
            rules.clip,
            self._joined,
            self._removed,
        )

    def take_actions(self) -> list[Action]:
        actions, self._actions = self._actions, []
        return actions

    def _emit(self, action: object) -> None:
        self._actions.append(action)  # type: ignore[arg-type]

    # --- events -------------------------------------------------------------------

    def handle(self, event: Event, now: float) -> None:
        self._now = now
        if isinstance(event, Received):
            self._received(event, now)
        elif isinstance(event, Opened):
            self.admission.opened(event.conn, event.host, now)
        elif isinstance(event, Closed):
            self._closed(event.conn)
        elif isinstance(event, ProbeResult):
            self._probed(event)
        elif isinstance(event, Unreachable):
            member = self.members.get(event.node_id)
            if member is not None:
                self._remove(member, f"cannot be reached any more ({event.reason})")
        elif isinstance(event, Tick):
            self.admission.tick(now)
            self._manifest_timeouts(now)
        self._advance_run(now)

    def _received(self, event: Received, now: float) -> None:
        info = self.admission.conns.get(event.conn)
        if info is None:
            return  # closed by us meanwhile
        info.frames += 1
        message = event.message
        if isinstance(message, OverlaySetupStatus) and message.status < 0 and info.node_id is None:
            # A failure status names no node; from a one-message node it
            # comes on a fresh connection. Say it; the setup stays incomplete.
            self._emit(
                Say(f"A node at {info.host} reported an overlay setup failure: {message.info}")
            )
            self._emit(Close(info.conn, "one message per connection", logging.DEBUG))
            self.admission.closed(info.conn)
            return
        sender, member = self.admission.attribute(info, message)
        try:
            registry_check(sender, member.phase if member is not None else None, message)
        except RemoteProtocolError as exc:
            if (
                sender is Sender.SESSION
                and member is not None
                and not isinstance(exc, NeverAccepted)
            ):
                self._emit(
                    Log(logging.WARNING, f"ignored a message from node {member.node_id}: {exc}")
                )
            else:
                self._emit(Close(info.conn, str(exc)))
                if info.node_id is None:
                    self.admission.closed(info.conn)
                # A node's session: its Closed event removes the node.
            return
        if member is not None:
            member.last_heard = now
            if sender is Sender.SESSION and not isinstance(message, Registration):
                self._speaks_on_session(member)
        self._dispatch(info, sender, member, message, event.variant, now)
        if sender is Sender.DIALLED_IN and info.conn in self.admission.conns:
            # Its one message is read; the sender never reads this
            # connection (except for a deregistration's answer, sent above).
            self._emit(Close(info.conn, "one message per connection", logging.DEBUG))
            self.admission.closed(info.conn)

    def _dispatch(
        self,
        info: Conn,
        sender: Sender,
        member: Member | None,
        message: Message,
        variant: str | None,
        now: float,
    ) -> None:
        if isinstance(message, Registration):
            self.admission.register(info, message, variant)
        elif isinstance(message, Deregistration):
            self.admission.deregister(info, message, variant)
        elif member is None:
            raise AssertionError("rules admit only registration and deregistration from strangers")
        elif isinstance(message, OverlaySetupStatus):
            self._setup_status(member, message, sender)
        elif isinstance(message, (ProgressReport, LoadReport)):
            # During its part of a run only: after its summary a node's
            # counters restart from zero.
            if self.run is None or not member.progress_capable or member.phase not in COUNTING:
                return
            if isinstance(message, ProgressReport):
                self.run.on_progress(member, message, now)
                return
            warning = take_load_report(member, message, sender, self._manifests.get(member.node_id))
            if warning is not None:
                self._emit(warning)
        elif self.run is None or member.node_id not in self.run.node_ids:
            text = f"{type(message).__name__} from node {member.node_id} outside a run"
            self._emit(Log(logging.WARNING, text))
        elif isinstance(message, TaskFinished):
            self.run.on_finished(member, now)
        elif isinstance(message, TrafficSummary):
            self.run.on_summary(member, message, now)

    def _closed(self, conn: ConnId) -> None:
        info = self.admission.closed(conn)
        if info is None or info.node_id is None:
            return
        member = self.members.get(info.node_id)
        if member is None or member.session != conn:
            return
        member.session = None
        if member.kind is NodeKind.PER_MESSAGE:
            return
        if info.frames == 1 and member.kind is NodeKind.UNKNOWN:
            # Only the registration came on it: perhaps a node that closes
            # after every message. Whether it still accepts connections tells.
            self._member_probes[conn] = member.node_id
            self._emit(Probe(conn, member.host, member.port))
            return
        self._remove(member, "disconnected without deregistering")

    def _probed(self, event: ProbeResult) -> None:
        node_id = self._member_probes.pop(event.conn, None)
        if node_id is None:
            self.admission.probed(event.conn, event.reachable, event.reason)
            return
        member = self.members.get(node_id)
        if member is None:
            return
        if not event.reachable:
            self._remove(member, "disconnected without deregistering")
            return
        member.kind = NodeKind.PER_MESSAGE
        text = f"Node {node_id} closed its connection after registering but accepts connections at"
        self._emit(Say(f"{text} {member.address}: sending it each message on a fresh connection."))

    # --- membership -------------------------------------------------------------

    def _joined(self, member: Member) -> None:
        member.last_heard = self._now
        self._overlay_changed(f"node {member.node_id} joined")

    def _removed(self, member: Member, why: str) -> None:
        member.gone = True
        self._emit(Forget(member.dial_key))
        count = len(self.members)
        remain = f"{nodes_phrase(count)} {'remains' if count == 1 else 'remain'}"
        if why == "left":
            self._emit(Say(f"Deregistered node {member.node_id} ({remain})."))
        else:
            self._emit(Say(f"Node {member.node_id} at {member.address} {why}: removed ({remain})."))
        if self.run is not None and member.node_id in self.run.node_ids:
            self.run.on_gone(member, left=why == "left")
        self._overlay_changed(f"node {member.node_id} {'left' if why == 'left' else 'was lost'}")

    def _remove(self, member: Member, why: str) -> None:
        del self.members[member.node_id]
        self.admission.release(member.node_id)
        self._removed(member, why)

    def _overlay_changed(self, why: str) -> None:
        if self.overlay_nr is None:
            return
        self.overlay_nr = None
        self.tables = {}
        self.ready = False
        if self.run is None:
            for member in self.members.values():
                member.phase = MemberPhase.REGISTERED  # no overlay any more
            self._emit(Say(f"The overlay changed ({why}): run setup-overlay again."))

    # --- setup ---------------------------------------------------------------------

    def setup(self, nr: int) -> None:
        """``setup-overlay NR``: build and send each node its manifest."""
        if self.run is not None:
            raise LocalProtocolError("a task is running; wait for its summary (or abort it) first")
        tables, manifests = build_manifests(self.members, nr, self.rules.max_manifest_ids)
        self.overlay_nr = nr
        self.tables = tables
        self.ready = False
        self.needs_setup = False
        self._manifests = manifests
        for node_id, manifest in manifests.items():
            member = self.members[node_id]
            member.phase = MemberPhase.SETTING_UP
            member.progress_capable = False
            member.manifest_sent_at = self._now
            self._deliver(member, manifest)
        self._emit(Say(f"Sent manifests to {nodes_phrase(len(manifests))} (NR {nr})."))

    def _speaks_on_session(self, member: Member) -> None:
        """A node that speaks on its registration connection reads it too:
        persistent, even if it was slow enough to be taken for the other
        kind (a loaded machine), in which case it is said and undone."""
        if member.kind is NodeKind.PER_MESSAGE and not self.rules.admission.per_message_nodes:
            self._emit(
                Say(
                    f"Node {member.node_id} answered on its registration connection after all: "
                    "sending it messages there again."
                )
            )
        if member.kind is not NodeKind.PERSISTENT and not self.rules.admission.per_message_nodes:
            member.kind = NodeKind.PERSISTENT

    def _setup_status(self, member: Member, message: OverlaySetupStatus, sender: Sender) -> None:
        if message.status != member.node_id:
            # Still setting up: it may report success after a retry.
            self._emit(Say(f"Node {member.node_id} failed to set up its overlay: {message.info}"))
            return
        member.phase = MemberPhase.IDLE
        self._emit(setup_reported(member, self.members, PROGRESS_MARKER in message.info))
        if PROGRESS_MARKER in message.info and member.kind is not NodeKind.PER_MESSAGE:
            member.progress_capable = True
            interval_ms = max(1, round(self.rules.progress_interval * 1000))
            self._deliver(member, ProgressRequest(interval_ms))
        if not self.ready and all(m.phase is MemberPhase.IDLE for m in self.members.values()):
            self.ready = True
            self._emit(Say("Registry now ready to initiate tasks."))

    def _manifest_timeouts(self, now: float) -> None:
        rules = self.rules
        late, silent = manifest_deadlines(
            self.members.values(), now, rules.manifest_timeout, rules.unanswered_after
        )
        if late:
            self._emit(Say(overdue_notice(late, rules.manifest_timeout)))
        for member in late:
            member.kind = NodeKind.PER_MESSAGE
            member.manifest_sent_at = now  # (the dialled delivery's own deadline)
            self._deliver(member, self._manifests[member.node_id])
        for member in silent:
            if member.session is not None:
                self._emit(Close(member.session, "did not answer its manifest"))
            self._remove(member, f"answered no manifest within {rules.unanswered_after:g} s")

    def _deliver(self, member: Member, message: Message) -> None:
        if member.kind is NodeKind.PER_MESSAGE or member.session is None:
            self._emit(Dial(member.dial_key, member.host, member.port, message, member.variant))
        else:
            self._emit(Send(member.session, message, member.variant))

    # --- the run ---------------------------------------------------------------------

    def start(self, packets: int) -> Run:
        """``start N``: every node originates N packets."""
        refusal = start_refusal(
            packets, len(self.members), self.rules.max_counter,
            running=self.run is not None, needs_setup=self.needs_setup, ready=self.ready,
        )  # fmt: skip
        if refusal or self.overlay_nr is None:
            raise LocalProtocolError(refusal or "no overlay is set up")
        run = Run(
            packets, self.overlay_nr, tuple(sorted(self.members)), self._now,
            self.rules.timers, self.members, self._ask_summaries, self._say, log=self._emit,
        )  # fmt: skip
        self.run = run
        for member in self.members.values():
            member.phase = MemberPhase.SENDING
            member.summary = None
            member.progress = member.loads = None
            member.unresponsive = False
            member.last_heard = self._now
            self._deliver(member, TaskInitiate(packets))
        return run

    def abort(self) -> None:
        """``abort``: end a run that is waiting."""
        if self.run is None:
            raise LocalProtocolError("no run to abort")
        self.run.abort(self._now)
        self._advance_run(self._now)

    def _ask_summaries(self, members: list[Member]) -> None:
        for member in members:
            self._deliver(member, TrafficSummaryRequest())

    def _say(self, text: str) -> None:
        self._emit(Say(text))

    def _advance_run(self, now: float) -> None:
        run = self.run
        if run is None:
            return
        run.tick(now)
        if run.phase is not RunPhase.ENDED:
            return
        assert run.result is not None
        self.run = None
        correct = run.result.correct
        for member in self.members.values():
            set_up = correct and self.overlay_nr is not None
            member.phase = MemberPhase.IDLE if set_up else MemberPhase.REGISTERED
        if not correct and self.overlay_nr is not None:
            self.needs_setup = True
            self.ready = False
        self._emit(RunEnded(run.result))
        if not correct:
            self._say(
                "The run did not end CORRECT: run setup-overlay again before the next start, "
                "so that nothing of this run can be counted in the next."
            )
