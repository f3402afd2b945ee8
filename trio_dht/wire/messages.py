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


# Bounds of a load report. A trio_dht registry builds at most 7 entries
# (1, 2, 4, ..., 64 positions ahead: NR <= 7 for 128 ids), and a route
# among 128 ids has at most 126 relays, so bins 0..127 hold every count.
MAX_LOAD_LINKS = 7
MAX_RELAY_BINS = 128
_IDS = 128  # node ids are 0..127


@attrs.frozen
class LinkLoad:
    """Packets a node forwarded (originated or relayed) on one entry."""

    node_id: int
    packets: int


@attrs.frozen
class LoadReport:
    """trio_dht extension, node -> registry, sent right after each
    ProgressReport from the same counters (not reset): the packets forwarded
    on each routing-table entry, and ``relays[k]`` = packets delivered to
    this node after k relays (trailing zero bins left out).

    Lets the registry draw real link loads and a measured relay histogram;
    sent only to a registry that sent ProgressRequest, like the report."""

    node_id: int
    links: tuple[LinkLoad, ...]
    relays: tuple[int, ...]


def load_report_problem(report: LoadReport) -> str | None:
    """What makes ``report`` nonsense on any wire (None if nothing): more
    entries or bins than any overlay has, ids outside 0..127, negative
    counts. Both dialects refuse such a report on encode and on decode;
    whether it fits the sender's table is the registry's question."""
    if len(report.links) > MAX_LOAD_LINKS:
        return f"{len(report.links)} links (at most {MAX_LOAD_LINKS})"
    if len(report.relays) > MAX_RELAY_BINS:
        return f"{len(report.relays)} relay bins (at most {MAX_RELAY_BINS})"
    ids = (report.node_id, *(link.node_id for link in report.links))
    outside = [i for i in ids if not 0 <= i < _IDS]
    if outside:
        return f"node id {outside[0]} outside 0..{_IDS - 1}"
    counts = (*(link.packets for link in report.links), *report.relays)
    if any(count < 0 for count in counts):
        return f"a negative count ({min(counts)})"
    return None


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
    | LoadReport
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
EXTENSION_MESSAGES: tuple[type, ...] = (ProgressRequest, ProgressReport, LoadReport)
