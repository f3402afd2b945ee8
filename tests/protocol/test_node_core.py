"""The node core driven by events alone: what it obeys, from whom, and what a
manifest must mean before it changes anything."""

from __future__ import annotations

from typing import Any

import pytest

from trio_dht.protocol.events import Close, Closed, ConnRole, Dial, Log, Opened, Received, Send
from trio_dht.protocol.node_core import NodeCore
from trio_dht.protocol.node_events import (
    InstallOverlay,
    Left,
    Originate,
    OriginationDone,
    OverlayReady,
    Registered,
    RegistryModel,
)
from trio_dht.protocol.rules import NodePhase
from trio_dht.wire import get_dialect
from trio_dht.wire.messages import (
    DeregistrationStatus,
    NodeManifest,
    OverlaySetupStatus,
    PeerEntry,
    RegistrationStatus,
    TaskFinished,
    TaskInitiate,
    TrafficSummary,
    TrafficSummaryRequest,
)

REGISTRY = "127.0.0.1"
REG_CONN = 1


class NodeDriver:
    def __init__(self, model: RegistryModel = RegistryModel.UNKNOWN) -> None:
        self.core = NodeCore(REGISTRY, 9000, get_dialect("cs455").clip, registry_model=model)
        self.actions: list[Any] = []
        self.now = 0.0
        self.feed(Opened(REG_CONN, ConnRole.REGISTRATION, REGISTRY))
        self.core.register(REG_CONN, REGISTRY, 4000)
        self.actions.extend(self.core.take_actions())

    def feed(self, event: Any) -> list[Any]:
        self.core.handle(event, self.now)
        out = self.core.take_actions()
        self.actions.extend(out)
        return out

    def from_registry(self, message: Any) -> list[Any]:
        return self.feed(Received(REG_CONN, message))

    def registered(self, node_id: int = 10) -> NodeDriver:
        out = self.from_registry(RegistrationStatus(node_id, "ok"))
        assert any(isinstance(a, Registered) for a in out)
        return self

    def set_up(self, manifest: NodeManifest) -> None:
        out = self.from_registry(manifest)
        install = next(a for a in out if isinstance(a, InstallOverlay))
        self.feed(OverlayReady(install.generation))
        assert self.core.phase is NodePhase.IDLE

    def statuses(self) -> list[OverlaySetupStatus]:
        return [
            a.message
            for a in self.actions
            if isinstance(a, (Send, Dial)) and isinstance(a.message, OverlaySetupStatus)
        ]


GOOD = NodeManifest(
    (PeerEntry(20, "127.0.0.1", 4020), PeerEntry(30, "127.0.0.1", 4030)), (10, 20, 30, 40)
)


@pytest.mark.parametrize(
    ("manifest", "why"),
    [
        # Only the predecessor: nothing gets closer to 20 without passing it.
        (
            NodeManifest((PeerEntry(40, "127.0.0.1", 4040),), (10, 20, 30, 40)),
            "no entry gets closer",
        ),
        (NodeManifest((PeerEntry(20, "127.0.0.1", 4020),), (10, 20, 200)), "outside 0..127"),
        (
            NodeManifest((PeerEntry(500, "127.0.0.1", 4020),), (10, 20)),
            "not in the manifest's id list",
        ),
        (NodeManifest((PeerEntry(20, "127.0.0.1", 4020),), (10, 20, 20)), "repeats"),
        (NodeManifest((PeerEntry(10, "127.0.0.1", 4010),), (10, 20)), "this node itself"),
        (NodeManifest((PeerEntry(20, "127.0.0.1", 0),), (10, 20)), "port 0"),
    ],
)
def test_a_meaningless_manifest_is_refused_and_changes_nothing(
    manifest: NodeManifest, why: str
) -> None:
    d = NodeDriver().registered()
    d.set_up(GOOD)
    generation = d.core.generation
    out = d.from_registry(manifest)
    assert not any(isinstance(a, InstallOverlay) for a in out)
    status = d.statuses()[-1]
    assert status.status == -1 and why in status.info
    assert d.core.phase is NodePhase.IDLE and d.core.generation == generation
    assert d.core.overlay is not None and d.core.overlay.entries == GOOD.entries


def test_a_manifest_that_leaves_out_the_own_id_is_the_text_variant() -> None:
    d = NodeDriver().registered(10)
    manifest = NodeManifest((PeerEntry(20, "127.0.0.1", 4020),), (20,))
    d.set_up(manifest)
    assert d.core.overlay is not None and d.core.overlay.node_ids == (10, 20)


def test_control_on_the_listening_port_from_a_stranger_closes_it() -> None:
    d = NodeDriver().registered()
    d.set_up(GOOD)  # the registry speaks on the registration connection
    d.feed(Opened(7, ConnRole.LISTENER, "127.0.0.1"))
    for message in (TaskInitiate(5), GOOD, TrafficSummaryRequest(), DeregistrationStatus(10, "x")):
        out = d.feed(Received(7, message))
        assert [a.conn for a in out if isinstance(a, Close)] == [7]
    assert d.core.phase is NodePhase.IDLE
    assert not any(isinstance(a, Originate) for a in d.actions)


def test_control_dialled_in_from_the_registry_host_is_a_per_message_registry() -> None:
    d = NodeDriver().registered(10)
    d.feed(Opened(7, ConnRole.LISTENER, REGISTRY))
    out = d.feed(Received(7, GOOD))
    assert d.core.model is RegistryModel.PER_MESSAGE
    install = next(a for a in out if isinstance(a, InstallOverlay))
    out = d.feed(OverlayReady(install.generation))
    # Answers are dialled to the registry's port, in one frame each.
    dial = next(a for a in out if isinstance(a, Dial))
    assert (dial.host, dial.port) == (REGISTRY, 9000)
    assert isinstance(dial.message, OverlaySetupStatus) and dial.message.status == 10
    # From another host it is still a stranger.
    d.feed(Opened(8, ConnRole.LISTENER, "127.0.0.5"))
    out = d.feed(Received(8, TaskInitiate(5)))
    assert any(isinstance(a, Close) for a in out)


def test_no_switch_to_per_message_once_the_registry_spoke_on_its_connection() -> None:
    d = NodeDriver().registered()
    d.set_up(GOOD)
    d.feed(Opened(7, ConnRole.LISTENER, REGISTRY))
    out = d.feed(Received(7, TaskInitiate(5)))
    assert any(isinstance(a, Close) for a in out)
    assert d.core.model is RegistryModel.PERSISTENT


def test_a_new_manifest_replaces_the_old_one_and_its_late_answer_is_ignored() -> None:
    d = NodeDriver().registered(10)
    first = next(a for a in d.from_registry(GOOD) if isinstance(a, InstallOverlay))
    second_manifest = NodeManifest((PeerEntry(40, "127.0.0.1", 4040),), (10, 40))
    second = next(a for a in d.from_registry(second_manifest) if isinstance(a, InstallOverlay))
    assert second.generation == first.generation + 1
    assert d.feed(OverlayReady(first.generation)) == []  # superseded
    d.feed(OverlayReady(second.generation))
    assert d.core.overlay is not None and d.core.overlay.node_ids == (10, 40)


def test_task_summary_and_reset() -> None:
    d = NodeDriver().registered(10)
    d.set_up(GOOD)
    d.from_registry(TrafficSummaryRequest())  # before any task: refused
    assert not any(isinstance(a, Send) and isinstance(a.message, TrafficSummary) for a in d.actions)
    out = d.from_registry(TaskInitiate(-1))
    assert any(isinstance(a, Log) for a in out) and d.core.phase is NodePhase.IDLE
    out = d.from_registry(TaskInitiate(3))
    originate = next(a for a in out if isinstance(a, Originate))
    d.from_registry(TrafficSummaryRequest())  # while sending: refused
    d.core.counters.sent = 3
    out = d.feed(OriginationDone(originate.generation))
    assert any(isinstance(a, Send) and isinstance(a.message, TaskFinished) for a in out)
    out = d.from_registry(TrafficSummaryRequest())
    summary = next(
        a.message for a in out if isinstance(a, Send) and isinstance(a.message, TrafficSummary)
    )
    assert summary.sent == 3 and d.core.counters.sent == 0
    assert d.core.phase is NodePhase.IDLE


def test_a_forged_deregistration_status_does_not_make_it_leave() -> None:
    d = NodeDriver().registered()
    d.set_up(GOOD)
    out = d.from_registry(DeregistrationStatus(10, "bye"))
    assert not any(isinstance(a, Left) for a in out)
    assert d.core.phase is NodePhase.IDLE


def test_the_registration_connection_closing_stops_a_persistent_node() -> None:
    d = NodeDriver().registered()
    d.set_up(GOOD)
    out = d.feed(Closed(REG_CONN))
    assert any(type(a).__name__ == "Stop" for a in out)


def test_a_manifest_of_this_node_alone_is_refused() -> None:
    # Found by hypothesis: an empty manifest made a one-node overlay, and a
    # task then had no sink to draw from.
    d = NodeDriver().registered(10)
    out = d.from_registry(NodeManifest((), ()))
    assert not any(isinstance(a, InstallOverlay) for a in out)
    assert d.statuses()[-1].status == -1
    assert d.core.phase is NodePhase.REGISTERED
