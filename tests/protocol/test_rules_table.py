"""Every (role, phase, message type) case of who may say what.

The expected matrix below is written out from SYSTEM.md and the connection
models, independently of ``rules.py``'s tables; each case is checked against
``registry_check`` / ``node_check`` and, for the registry, against a live
core fed the message (so the core really uses the table)."""

from __future__ import annotations

import itertools

import pytest

from trio_dht.protocol.errors import RemoteProtocolError
from trio_dht.protocol.rules import (
    ALL_MESSAGES,
    MemberPhase,
    NodePhase,
    Sender,
    Source,
    node_check,
    registry_check,
)
from trio_dht.wire.messages import (
    Data,
    Deregistration,
    DeregistrationStatus,
    LinkLoad,
    LoadReport,
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

SAMPLES: dict[type, Message] = {
    Registration: Registration("127.0.0.1", 4000),
    RegistrationStatus: RegistrationStatus(5, "ok"),
    Deregistration: Deregistration("127.0.0.1", 4000, 5),
    DeregistrationStatus: DeregistrationStatus(5, "ok"),
    NodeManifest: NodeManifest((PeerEntry(9, "127.0.0.1", 4001),), (5, 9)),
    OverlaySetupStatus: OverlaySetupStatus(5, "ok"),
    TaskInitiate: TaskInitiate(10),
    Data: Data(9, 5, 1),
    TaskFinished: TaskFinished("127.0.0.1", 4000, 5),
    TrafficSummaryRequest: TrafficSummaryRequest(),
    TrafficSummary: TrafficSummary(5, 10, 0, 0, 0, 0),
    ProgressRequest: ProgressRequest(50),
    ProgressReport: ProgressReport(5, 0, 0, 0, 0, 0),
    LoadReport: LoadReport(5, (LinkLoad(9, 0),), ()),
}


def registry_accepts(sender: Sender, phase: MemberPhase | None, kind: type) -> bool:
    """The registry's rules, spelled out case by case."""
    node_messages = {
        Registration, Deregistration, OverlaySetupStatus, TaskFinished, TrafficSummary,
        ProgressReport, LoadReport,
    }  # fmt: skip
    if kind not in node_messages:
        return False  # a registry's own messages, or data: from nobody
    if sender is Sender.STRANGER or phase is None:
        # Anyone may ask to register, and gets an answer to a deregistration.
        return kind in (Registration, Deregistration)
    if kind is Registration:
        # Answered with a refusal on a session; a one-message node may not
        # register a second node through a fresh connection.
        return sender is Sender.SESSION
    if kind in (Deregistration, ProgressReport, LoadReport):
        # Progress and the loads sent with it may cross a phase change; the
        # core uses them only during the node's part of a run.
        return True
    if kind is OverlaySetupStatus:
        return phase is MemberPhase.SETTING_UP
    if kind is TaskFinished:
        return phase is MemberPhase.SENDING
    if kind is TrafficSummary:
        return phase is MemberPhase.ASKED
    raise AssertionError(kind)


def node_accepts(source: Source, phase: NodePhase, kind: type) -> bool:
    """The node's rules, spelled out case by case."""
    if source is Source.PEER:
        return False  # a listening port carries data only
    allowed: dict[NodePhase, set[type]] = {
        NodePhase.REGISTERING: {RegistrationStatus},
        NodePhase.REGISTERED: {NodeManifest, ProgressRequest},
        NodePhase.CONNECTING: {NodeManifest, ProgressRequest},
        NodePhase.IDLE: {NodeManifest, ProgressRequest, TaskInitiate},
        NodePhase.SENDING: {NodeManifest, ProgressRequest},
        NodePhase.RELAYING: {NodeManifest, ProgressRequest, TrafficSummaryRequest},
        NodePhase.LEAVING: {DeregistrationStatus, RegistrationStatus},
        NodePhase.GONE: set(),
    }
    return kind in allowed[phase]


REGISTRY_CASES = [
    (sender, phase, kind)
    for sender, phase, kind in itertools.product(Sender, [None, *MemberPhase], ALL_MESSAGES)
    if not (sender is not Sender.STRANGER and phase is None)
]
NODE_CASES = list(itertools.product(Source, NodePhase, ALL_MESSAGES))


def test_every_case_is_covered() -> None:
    # 14 types x (stranger x 8 phases + session/dialled-in x 7 phases).
    assert len(REGISTRY_CASES) == 14 * (8 + 2 * 7)
    assert len(NODE_CASES) == 14 * 2 * 8
    assert set(SAMPLES) == set(ALL_MESSAGES)


@pytest.mark.parametrize(("sender", "phase", "kind"), REGISTRY_CASES, ids=str)
def test_registry_case(sender: Sender, phase: MemberPhase | None, kind: type) -> None:
    expected = registry_accepts(sender, phase, kind)
    try:
        registry_check(sender, phase, SAMPLES[kind])
    except RemoteProtocolError:
        accepted = False
    else:
        accepted = True
    assert accepted == expected


@pytest.mark.parametrize(("source", "phase", "kind"), NODE_CASES, ids=str)
def test_node_case(source: Source, phase: NodePhase, kind: type) -> None:
    expected = node_accepts(source, phase, kind)
    try:
        node_check(source, phase, SAMPLES[kind])
    except RemoteProtocolError:
        accepted = False
    else:
        accepted = True
    assert accepted == expected
