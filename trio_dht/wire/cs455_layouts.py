"""Message layouts of the classic ``cs455`` dialect.

Types 2..12 are the classic messages (WIRE-CS455.md). Two trio_dht extension
types carry the progress protocol; they are only ever sent to peers that
announced ``PROGRESS_MARKER`` (see ``messages.py``), so a classic peer never
sees them:

- 100 ProgressRequest: type, int interval_ms (5 bytes without the length)
- 101 ProgressReport: type, int node_id, int sent, int received, int relayed,
  long sum_sent, long sum_received, int dropped (37 bytes)
- 102 LoadReport: type, int node_id, int link count (0..7), per link int id
  and int packets, int bin count (0..128), one int per bin (at most 581 bytes)

The classic data packet has no hops field: decoding sets ``hops`` to the trace
length and encoding ignores ``Data.hops``.

The layouts that differ between variants (addresses, the manifest, task
finished) are in ``cs455_variants``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from trio_dht.wire.cs455_primitives import (
    MAX_BYTE_COUNT,
    MAX_IP_FIELD,
    Reader,
    Writer,
)
from trio_dht.wire.cs455_variants import (
    MAX_MANIFEST_ENTRIES,
    Decoded,
    Variant,
    address_form,
    decode_task_finished,
    encode_manifest,
    encode_task_finished,
)
from trio_dht.wire.errors import LocalWireError, RemoteWireError
from trio_dht.wire.messages import (
    MAX_LOAD_LINKS,
    MAX_RELAY_BINS,
    Data,
    Deregistration,
    DeregistrationStatus,
    LinkLoad,
    LoadReport,
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
    load_report_problem,
)

# The longest trace a legitimate data packet carries.
MAX_TRACE = 128
_MAX_ENTRY_SIZE = 4 + MAX_IP_FIELD + 4
_MAX_STATUS = 1 + 4 + 1 + MAX_BYTE_COUNT

# Type number -> (class, largest legitimate body in bytes, type byte included).
# The frame limits of the dialect are derived from these: every ip field in
# its longest form (45 bytes of IPv6 text), texts of 127 bytes, a manifest
# with a 4-byte NR, 128 entries and 127 ids, a data packet with a 128-entry
# trace.
TYPES: Mapping[int, tuple[type, int]] = MappingProxyType(
    {
        2: (Registration, 1 + MAX_IP_FIELD + 4),
        3: (RegistrationStatus, _MAX_STATUS),
        4: (Deregistration, 1 + MAX_IP_FIELD + 4 + 4),
        5: (DeregistrationStatus, _MAX_STATUS),
        6: (NodeManifest, 1 + 4 + MAX_MANIFEST_ENTRIES * _MAX_ENTRY_SIZE + 1 + MAX_BYTE_COUNT * 4),
        7: (OverlaySetupStatus, _MAX_STATUS),
        8: (TaskInitiate, 1 + 4),
        9: (Data, 1 + 4 * 4 + 4 * MAX_TRACE),
        10: (TaskFinished, 1 + MAX_IP_FIELD + 4 + 4),
        11: (TrafficSummaryRequest, 1),
        12: (TrafficSummary, 1 + 4 * 4 + 2 * 8),
        100: (ProgressRequest, 1 + 4),
        101: (ProgressReport, 1 + 5 * 4 + 2 * 8),
        102: (LoadReport, 1 + 4 + 4 + MAX_LOAD_LINKS * 8 + 4 + MAX_RELAY_BINS * 4),
    }
)
TYPE_NUMBERS: Mapping[type, int] = MappingProxyType(
    {cls: number for number, (cls, _) in TYPES.items()}
)


# --------------------------------------------------------------------------
# encoding: each takes the writer, the message and the variant to write
# --------------------------------------------------------------------------


def _encode_registration(w: Writer, m: Registration, v: Variant) -> None:
    w.put_ip("host", m.host, v.text_in_reports)
    w.put_int("port", m.port)


def _encode_status(
    w: Writer, m: RegistrationStatus | DeregistrationStatus | OverlaySetupStatus, v: Variant
) -> None:
    w.put_int("status", m.status)
    w.put_string("info", m.info)


def _encode_deregistration(w: Writer, m: Deregistration, v: Variant) -> None:
    w.put_ip("host", m.host, v.text_in_reports)
    w.put_int("port", m.port)
    w.put_int("node_id", m.node_id)


def _encode_task_initiate(w: Writer, m: TaskInitiate, v: Variant) -> None:
    w.put_int("packets", m.packets)


def _encode_data(w: Writer, m: Data, v: Variant) -> None:
    w.put_int("destination", m.destination)
    w.put_int("source", m.source)
    w.put_int("payload", m.payload)
    w.put_int("trace length", len(m.trace))
    w.put_ints("trace", m.trace)


def _encode_empty(w: Writer, m: TrafficSummaryRequest, v: Variant) -> None:
    pass


def _encode_traffic_summary(w: Writer, m: TrafficSummary, v: Variant) -> None:
    # Wire order differs from the attribute order: relayed before sum_sent,
    # received between the two longs.
    w.put_int("node_id", m.node_id)
    w.put_int("sent", m.sent)
    w.put_int("relayed", m.relayed)
    w.put_long("sum_sent", m.sum_sent)
    w.put_int("received", m.received)
    w.put_long("sum_received", m.sum_received)


def _encode_progress_request(w: Writer, m: ProgressRequest, v: Variant) -> None:
    w.put_int("interval_ms", m.interval_ms)


def _encode_progress_report(w: Writer, m: ProgressReport, v: Variant) -> None:
    w.put_int("node_id", m.node_id)
    w.put_int("sent", m.sent)
    w.put_int("received", m.received)
    w.put_int("relayed", m.relayed)
    w.put_long("sum_sent", m.sum_sent)
    w.put_long("sum_received", m.sum_received)
    w.put_int("dropped", m.dropped)


def _encode_load_report(w: Writer, m: LoadReport, v: Variant) -> None:
    problem = load_report_problem(m)
    if problem is not None:
        raise LocalWireError(f"LoadReport cannot be sent: {problem}")
    w.put_int("node_id", m.node_id)
    w.put_int("link count", len(m.links))
    for index, link in enumerate(m.links):
        w.put_int(f"links[{index}].node_id", link.node_id)
        w.put_int(f"links[{index}].packets", link.packets)
    w.put_int("bin count", len(m.relays))
    w.put_ints("relays", m.relays)


# Each codec is typed for its own class; the table is keyed by that class.
ENCODERS: Mapping[type, Callable[[Writer, Any, Variant], None]] = MappingProxyType(
    {
        Registration: _encode_registration,
        RegistrationStatus: _encode_status,
        Deregistration: _encode_deregistration,
        DeregistrationStatus: _encode_status,
        NodeManifest: encode_manifest,
        OverlaySetupStatus: _encode_status,
        TaskInitiate: _encode_task_initiate,
        Data: _encode_data,
        TaskFinished: encode_task_finished,
        TrafficSummaryRequest: _encode_empty,
        TrafficSummary: _encode_traffic_summary,
        ProgressRequest: _encode_progress_request,
        ProgressReport: _encode_progress_report,
        LoadReport: _encode_load_report,
    }
)


# --------------------------------------------------------------------------
# decoding: each returns the message and the variant its layout reveals
# (None when nothing in it tells variants apart)
# --------------------------------------------------------------------------


def _decode_registration(r: Reader) -> Decoded:
    host = r.read_ip("host")
    return Registration(host=host, port=r.read_int("port")), address_form(r)


def _decode_status(cls: type) -> Callable[[Reader], Decoded]:
    def decode(r: Reader) -> Decoded:
        status = r.read_int("status")
        return cls(status=status, info=r.read_string("info")), None

    return decode


def _decode_deregistration(r: Reader) -> Decoded:
    host = r.read_ip("host")
    port = r.read_int("port")
    return Deregistration(host=host, port=port, node_id=r.read_int("node_id")), address_form(r)


def _decode_task_initiate(r: Reader) -> Decoded:
    return TaskInitiate(packets=r.read_int("packets")), None


def _decode_data(r: Reader) -> Decoded:
    destination = r.read_int("destination")
    source = r.read_int("source")
    payload = r.read_int("payload")
    count = r.read_int("trace length")
    if count < 0 or 4 * count != r.remaining:
        raise RemoteWireError(
            f"data packet claims a trace of {count} ids ({4 * count} bytes) but "
            f"{r.remaining} bytes follow"
        )
    trace = r.read_ints("trace", count)
    return Data(destination=destination, source=source, payload=payload, trace=trace), None


def _decode_traffic_summary_request(r: Reader) -> Decoded:
    return TrafficSummaryRequest(), None


def _decode_traffic_summary(r: Reader) -> Decoded:
    node_id = r.read_int("node_id")
    sent = r.read_int("sent")
    relayed = r.read_int("relayed")
    sum_sent = r.read_long("sum_sent")
    received = r.read_int("received")
    summary = TrafficSummary(
        node_id=node_id,
        sent=sent,
        relayed=relayed,
        sum_sent=sum_sent,
        received=received,
        sum_received=r.read_long("sum_received"),
    )
    return summary, None


def _decode_progress_request(r: Reader) -> Decoded:
    return ProgressRequest(interval_ms=r.read_int("interval_ms")), None


def _decode_progress_report(r: Reader) -> Decoded:
    node_id = r.read_int("node_id")
    sent = r.read_int("sent")
    received = r.read_int("received")
    relayed = r.read_int("relayed")
    sum_sent = r.read_long("sum_sent")
    sum_received = r.read_long("sum_received")
    report = ProgressReport(
        node_id=node_id,
        sent=sent,
        received=received,
        relayed=relayed,
        sum_sent=sum_sent,
        sum_received=sum_received,
        dropped=r.read_int("dropped"),
    )
    return report, None


def _decode_load_report(r: Reader) -> Decoded:
    node_id = r.read_int("node_id")
    links: list[LinkLoad] = []
    count = r.read_int("link count")
    # Bounded before anything is read: a hostile count allocates nothing.
    if not 0 <= count <= MAX_LOAD_LINKS:
        raise r.fail(f"link count {count} outside 0..{MAX_LOAD_LINKS}")
    for index in range(count):
        entry = r.read_int(f"links[{index}].node_id")
        links.append(LinkLoad(entry, r.read_int(f"links[{index}].packets")))
    bins = r.read_int("bin count")
    if not 0 <= bins <= MAX_RELAY_BINS:
        raise r.fail(f"bin count {bins} outside 0..{MAX_RELAY_BINS}")
    report = LoadReport(node_id, tuple(links), r.read_ints("relays", bins))
    problem = load_report_problem(report)
    if problem is not None:
        raise r.fail(problem)
    return report, None


# Type number -> decoder reading the body after its type byte. The manifest
# is absent: it needs the whole body to try both layouts (decode_manifest).
DECODERS: Mapping[int, Callable[[Reader], Decoded]] = MappingProxyType(
    {
        2: _decode_registration,
        3: _decode_status(RegistrationStatus),
        4: _decode_deregistration,
        5: _decode_status(DeregistrationStatus),
        7: _decode_status(OverlaySetupStatus),
        8: _decode_task_initiate,
        9: _decode_data,
        10: decode_task_finished,
        11: _decode_traffic_summary_request,
        12: _decode_traffic_summary,
        100: _decode_progress_request,
        101: _decode_progress_report,
        102: _decode_load_report,
    }
)
