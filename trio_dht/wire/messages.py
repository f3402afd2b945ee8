"""The messages of the overlay protocol, independent of any wire dialect.

Each class is one message type of SYSTEM.md. A dialect module (``cs455``,
``minichord``) turns these into bytes and back; services only ever see these
classes. The field set is the union of what both dialects carry, so a frame of
either dialect decodes to one of these and re-encodes to the same bytes.

Addresses are a ``host`` string plus a ``port``: the classic dialect carries
raw IP bytes and an int port, minichord a ``"host:port"`` string; both map
onto this pair.

Data packets on the hot path do not go through these classes (see
``Dialect.data_head``/``Dialect.relay``); ``Data`` exists for the general
codec, tests and tools.
"""

from __future__ import annotations

import attrs

# Appended to the info text of a node's overlay-setup status by trio_dht nodes.
# Classic registries print the text and ignore it; a trio_dht registry reads it
# as the node's promise that it understands the progress extension below, and
# only then sends it a ProgressRequest. Nothing else ever announces support,
# so a classic or Go peer never receives a message type it does not know.
PROGRESS_MARKER = "[trio_dht:progress]"


@attrs.frozen
class Registration:
    """Node -> registry: register me; ``host`` is the node's side of the
    registry connection, ``port`` its listening port."""

    host: str
    port: int


@attrs.frozen
class RegistrationStatus:
    """Registry -> node: the new id (status >= 0) or a refusal (negative)."""

    status: int
    info: str


@attrs.frozen
class Deregistration:
    """Node -> registry: remove me."""

    host: str
    port: int
    node_id: int


@attrs.frozen
class DeregistrationStatus:
    """Registry -> node: outcome of a deregistration."""

    status: int
    info: str


@attrs.frozen
class PeerEntry:
    """One routing-table entry of a manifest."""

    node_id: int
    host: str
    port: int


@attrs.frozen
class NodeManifest:
    """Registry -> node: its routing table (1, 2, 4, ... positions ahead) and
    every id in the overlay, sorted."""

    entries: tuple[PeerEntry, ...]
    node_ids: tuple[int, ...]


@attrs.frozen
class OverlaySetupStatus:
    """Node -> registry: connected to every entry (status = own id) or not."""

    status: int
    info: str


@attrs.frozen
class TaskInitiate:
    """Registry -> node: originate ``packets`` data packets."""

    packets: int


@attrs.frozen
class Data:
    """Node -> node: one data packet. ``trace`` holds the relays so far.

    ``hops`` exists on the minichord wire only; some ports fill it differently
    from ``len(trace)``, so it is kept as received. The classic dialect has no
    such field and always encodes ``len(trace)``.
    """

    destination: int
    source: int
    payload: int
    trace: tuple[int, ...] = ()
    hops: int = attrs.field()

    @hops.default
    def _hops_default(self) -> int:
        return len(self.trace)


@attrs.frozen
class TaskFinished:
    """Node -> registry: I have originated all my packets."""

    host: str
    port: int
    node_id: int


@attrs.frozen
class TrafficSummaryRequest:
    """Registry -> node: send me your counters (and reset them)."""


@attrs.frozen
class TrafficSummary:
    """Node -> registry: the node's counters for the run."""

    node_id: int
    sent: int
    relayed: int
    sum_sent: int
    received: int
    sum_received: int


@attrs.frozen
class ProgressRequest:
    """trio_dht extension, registry -> node: report progress every
    ``interval_ms`` while counters change (0 stops reports).

    Only sent to nodes that put PROGRESS_MARKER in their setup status."""

    interval_ms: int


@attrs.frozen
class ProgressReport:
    """trio_dht extension, node -> registry: counters so far, not reset.

    Lets the registry know the moment every packet has arrived (received
    totals are monotonic, so once their sum equals the final sent total the
    overlay is quiet) and feeds live views. ``dropped`` counts packets the
    node could not forward because the next hop was gone."""

    node_id: int
    sent: int
    received: int
    relayed: int
    sum_sent: int
    sum_received: int
    dropped: int = 0


Message = (
    Registration
    | RegistrationStatus
    | Deregistration
    | DeregistrationStatus
    | NodeManifest
    | OverlaySetupStatus
    | TaskInitiate
    | Data
    | TaskFinished
    | TrafficSummaryRequest
    | TrafficSummary
    | ProgressRequest
    | ProgressReport
)

# The eleven message types of SYSTEM.md, in classic type-number order.
CORE_MESSAGES: tuple[type, ...] = (
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
)
EXTENSION_MESSAGES: tuple[type, ...] = (ProgressRequest, ProgressReport)
