"""Who may say what: the phases of both roles and the one table per role of
which message each sender may send in each phase.

Everything a core does with a message starts with ``check``: the sender's
role relative to us and the phase we (or that node) are in select the set
of acceptable message types, and anything else is refused here, with one
reason, before it can change any state. The tables are data so a test can
walk every (role, phase, type) case and so a reader sees the whole protocol
on one screen.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType

from trio_dht.protocol.errors import RemoteProtocolError
from trio_dht.wire.messages import (
    Data,
    Deregistration,
    DeregistrationStatus,
    LoadReport,
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

ALL_MESSAGES: tuple[type, ...] = (
    Registration,
    RegistrationStatus,
    Deregistration,
    DeregistrationStatus,
    NodeManifest,
    OverlaySetupStatus,
    TaskInitiate,
    Data,
    TaskFinished,
    TrafficSummaryRequest,
    TrafficSummary,
    ProgressRequest,
    ProgressReport,
    LoadReport,
)


# --- the registry's view ---------------------------------------------------


class Sender(enum.Enum):
    """Who a message reaching the registry comes from."""

    # A connection on which no node registered, naming no node it may speak
    # for: anyone at all.
    STRANGER = "a stranger"
    # The connection a node registered on (persistent nodes speak there).
    SESSION = "the node's own connection"
    # A fresh connection from the registered host of a node that sends one
    # message per connection (it has no session to speak on).
    DIALLED_IN = "a fresh connection from the node's host"


class MemberPhase(enum.Enum):
    """Where one registered node stands, as the registry sees it. The value
    is the state a live view shows."""

    REGISTERED = "registered"  # no overlay (or the overlay changed)
    SETTING_UP = "setting up"  # manifest sent, status awaited
    IDLE = "idle"  # overlay set up, no run
    SENDING = "sending"  # task sent, finished report awaited
    RELAYING = "relaying"  # finished originating, run still open
    ASKED = "asked"  # traffic summary requested, awaited
    DONE = "done"  # summary in


# Progress (and the load report sent with it) is accepted in every phase (a
# node's heartbeat may cross the end of a run) and used only during a run
# from nodes that were asked for it.
class NeverAccepted(RemoteProtocolError):
    """A message type this role never accepts from anyone (a node sending a
    registry's message): the connection it came on is closed, whoever it is."""


# Message types no node ever sends to a registry.
NEVER_TO_REGISTRY: frozenset[type] = frozenset(
    {
        RegistrationStatus,
        DeregistrationStatus,
        NodeManifest,
        TaskInitiate,
        Data,
        TrafficSummaryRequest,
        ProgressRequest,
    }
)

# The phases of a node's part in a run during which its progress counts.
COUNTING = frozenset({MemberPhase.SENDING, MemberPhase.RELAYING, MemberPhase.ASKED})

_ALWAYS = frozenset({Deregistration, Registration, ProgressReport, LoadReport})
# Registration from a registered node's own connection is answered with a
# refusal ("already registered"), so it is acceptable as a message.
REGISTRY_ACCEPTS: Mapping[MemberPhase, frozenset[type]] = MappingProxyType(
    {
        MemberPhase.REGISTERED: _ALWAYS,
        MemberPhase.SETTING_UP: _ALWAYS | {OverlaySetupStatus},
        MemberPhase.IDLE: _ALWAYS,
        MemberPhase.SENDING: _ALWAYS | {TaskFinished},
        MemberPhase.RELAYING: _ALWAYS,
        MemberPhase.ASKED: _ALWAYS | {TrafficSummary},
        MemberPhase.DONE: _ALWAYS,
    }
)
# Anyone may ask to register, and anyone asking to deregister gets an
# answer (a refusal unless it speaks for that node).
STRANGER_ACCEPTS: frozenset[type] = frozenset({Registration, Deregistration})
# A node without a session may not register again through a fresh
# connection (that would be a second node) but may say everything else.
DIALLED_IN_REFUSES: frozenset[type] = frozenset({Registration})


def registry_check(sender: Sender, phase: MemberPhase | None, message: Message) -> None:
    """Raise RemoteProtocolError unless ``message`` may come from ``sender``
    about a node in ``phase`` (None: no registered node is concerned)."""
    kind = type(message)
    if kind in NEVER_TO_REGISTRY:
        raise NeverAccepted(f"a registry never accepts {_name(kind)}")
    if sender is Sender.STRANGER or phase is None:
        if kind in STRANGER_ACCEPTS:
            return
        raise RemoteProtocolError(
            f"{_name(kind)} from a connection that speaks for no registered node"
        )
    if sender is Sender.DIALLED_IN and kind in DIALLED_IN_REFUSES:
        raise RemoteProtocolError(f"{_name(kind)} on a fresh connection of registered node")
    if kind not in REGISTRY_ACCEPTS[phase]:
        raise RemoteProtocolError(
            f"{_name(kind)} from {sender.value} while the node is {phase.value}"
        )


# --- the node's view -------------------------------------------------------


class NodePhase(enum.Enum):
    """Where a node stands. The value is the state its console shows."""

    REGISTERING = "registering"
    REGISTERED = "registered"  # no overlay yet
    CONNECTING = "connecting"  # manifest accepted, links being opened
    IDLE = "idle"  # overlay up, no task
    SENDING = "sending"  # originating
    RELAYING = "relaying"  # originated all, summary not yet asked
    LEAVING = "leaving"  # deregistration sent
    GONE = "gone"


class Source(enum.Enum):
    """Who a control message reaching a node comes from."""

    REGISTRY = "the registry"
    # A connection accepted on the listening port from anyone else (or from
    # the registry's host while the registry is not known to dial in).
    PEER = "a peer's data connection"


_REGISTRY_ALWAYS = frozenset({ProgressRequest})
NODE_ACCEPTS: Mapping[NodePhase, frozenset[type]] = MappingProxyType(
    {
        NodePhase.REGISTERING: frozenset({RegistrationStatus}),
        NodePhase.REGISTERED: _REGISTRY_ALWAYS | {NodeManifest},
        NodePhase.CONNECTING: _REGISTRY_ALWAYS | {NodeManifest},
        NodePhase.IDLE: _REGISTRY_ALWAYS | {NodeManifest, TaskInitiate},
        NodePhase.SENDING: _REGISTRY_ALWAYS | {NodeManifest},
        NodePhase.RELAYING: _REGISTRY_ALWAYS | {NodeManifest, TrafficSummaryRequest},
        # Some classic registries answer a failed deregistration with a
        # registration status (type 3) instead of type 5.
        NodePhase.LEAVING: frozenset({DeregistrationStatus, RegistrationStatus}),
        NodePhase.GONE: frozenset(),
    }
)


def node_check(source: Source, phase: NodePhase, message: Message) -> None:
    """Raise RemoteProtocolError unless ``message`` may reach a node in
    ``phase`` from ``source``. Data never comes here (it has its own path)."""
    kind = type(message)
    if source is Source.PEER:
        raise RemoteProtocolError(
            f"{_name(kind)} on a data connection (a node's listening port carries data only)"
        )
    if kind not in NODE_ACCEPTS[phase]:
        raise RemoteProtocolError(
            f"{_name(kind)} from the registry while this node is {phase.value}"
        )


def _name(kind: type) -> str:
    return kind.__name__
