"""Message layouts of the classic ``cs455`` dialect and its variants.

Types 2..12 are the classic messages (WIRE-CS455.md). Two trio_dht extension
types carry the progress protocol; they are only ever sent to peers that
announced ``PROGRESS_MARKER`` (see ``messages.py``), so a classic peer never
sees them:

- 100 ProgressRequest: type, int interval_ms (5 bytes without the length)
- 101 ProgressReport: type, int node_id, int sent, int received, int relayed,
  long sum_sent, long sum_received, int dropped (37 bytes)

The classic data packet has no hops field: decoding sets ``hops`` to the trace
length and encoding ignores ``Data.hops``.

Variants ("Variants" in WIRE-CS455.md; frames in cs455-variants.jsonl). Each
is a ``Variant`` below, used to *encode*; decoding reads every one of them:

- ``canonical``: raw ip fields, byte NR.
- ``text-address``: every ip field as text (registration, deregistration,
  task finished, manifest entries); byte NR. (Its registry also leaves the
  receiver's own id out of the manifest's id list: that is content, which
  the registry decides, not layout.)
- ``int-nr``: canonical registration and deregistration; the manifest has a
  4-byte int NR and text addresses; task finished has no port field (type,
  ip, int id). Decoding such a task finished gives ``port`` 0, and encoding
  one in this variant leaves the port out. Its registration is the canonical
  one, so a registration never reveals this variant.

Every body parses without trailing bytes under exactly one layout: an ip
field's length says its form (see ``cs455_primitives``); a task finished is
followed by 8 bytes (port, id) or 4 (id only); and a manifest read with a
byte NR and with an int NR cannot both end exactly at the body's end (an int
NR of at most 128 starts with two zero bytes, which as a byte NR and an id
count make a 3-byte manifest, while an int-NR manifest is at least 6 bytes).
Mixing raw and text addresses within one message is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import attrs

from trio_dht.wire.cs455_primitives import (
    MAX_BYTE_COUNT,
    MAX_IP_FIELD,
    MIN_IP_FIELD,
    Reader,
    Writer,
)
from trio_dht.wire.errors import LocalWireError, RemoteWireError
from trio_dht.wire.messages import (
    Data,
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


@attrs.frozen
class Variant:
    """How one family of peers writes the fields that differ."""

    name: str
    text_in_reports: bool  # ip of registration, deregistration, task finished
    text_in_manifest: bool  # ip of every manifest entry
    int_nr: bool  # manifest NR as a 4-byte int
    port_in_task_finished: bool


CANONICAL = Variant("canonical", False, False, False, True)
TEXT_ADDRESS = Variant("text-address", True, True, False, True)
INT_NR = Variant("int-nr", False, True, True, False)
VARIANTS: Mapping[str, Variant] = MappingProxyType(
    {v.name: v for v in (CANONICAL, TEXT_ADDRESS, INT_NR)}
)

# A manifest lists at most one entry per routing-table row; an int NR above
# this is corrupt (a byte NR stops at 127 anyway).
MAX_MANIFEST_ENTRIES = 128
# The longest trace a legitimate data packet carries.
MAX_TRACE = 128
# Smallest manifest entry (int id, raw IPv4 ip field, int port): lets a
# decoder refuse an absurd entry count before looping over it.
_MIN_ENTRY_SIZE = 4 + MIN_IP_FIELD + 4
_MAX_ENTRY_SIZE = 4 + MAX_IP_FIELD + 4
_MAX_STATUS = 1 + 4 + 1 + MAX_BYTE_COUNT

# Type number -> (class, largest legitimate body in bytes, type byte included).
# The frame limits of the dialect are derived from these.
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


def _encode_task_finished(w: Writer, m: TaskFinished, v: Variant) -> None:
    w.put_ip("host", m.host, v.text_in_reports)
    if v.port_in_task_finished:
        w.put_int("port", m.port)
    w.put_int("node_id", m.node_id)


def _encode_manifest(w: Writer, m: NodeManifest, v: Variant) -> None:
    why = "a 128-node overlay cannot be described to a classic peer"
    if v.int_nr and len(m.entries) > MAX_MANIFEST_ENTRIES:
        raise LocalWireError(
            f"NodeManifest has {len(m.entries)} entries; a manifest lists at most "
            f"{MAX_MANIFEST_ENTRIES}"
        )
    w.put_count("entries", len(m.entries), why, wide=v.int_nr)
    for index, entry in enumerate(m.entries):
        w.put_int(f"entries[{index}].node_id", entry.node_id)
        w.put_ip(f"entries[{index}].host", entry.host, v.text_in_manifest)
        w.put_int(f"entries[{index}].port", entry.port)
    w.put_count("node_ids", len(m.node_ids), why)
    w.put_ints("node_ids", m.node_ids)


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


# Each codec is typed for its own class; the table is keyed by that class.
ENCODERS: Mapping[type, Callable[[Writer, Any, Variant], None]] = MappingProxyType(
    {
        Registration: _encode_registration,
        RegistrationStatus: _encode_status,
        Deregistration: _encode_deregistration,
        DeregistrationStatus: _encode_status,
        NodeManifest: _encode_manifest,
        OverlaySetupStatus: _encode_status,
        TaskInitiate: _encode_task_initiate,
        Data: _encode_data,
        TaskFinished: _encode_task_finished,
        TrafficSummaryRequest: _encode_empty,
        TrafficSummary: _encode_traffic_summary,
        ProgressRequest: _encode_progress_request,
        ProgressReport: _encode_progress_report,
    }
)


# --------------------------------------------------------------------------
# decoding: each returns the message and the variant its layout reveals
# (None when nothing in it tells variants apart)
# --------------------------------------------------------------------------

Decoded = tuple[Message, str | None]


def _address_form(r: Reader) -> str | None:
    """The variant the ip fields read so far reveal."""
    if r.raw_addresses and r.text_addresses:
        raise r.fail("mixes raw and text addresses; a peer writes all of them one way")
    if r.text_addresses:
        return TEXT_ADDRESS.name
    return CANONICAL.name if r.raw_addresses else None


def _decode_registration(r: Reader) -> Decoded:
    host = r.read_ip("host")
    return Registration(host=host, port=r.read_int("port")), _address_form(r)


def _decode_status(cls: type) -> Callable[[Reader], Decoded]:
    def decode(r: Reader) -> Decoded:
        status = r.read_int("status")
        return cls(status=status, info=r.read_string("info")), None

    return decode


def _decode_deregistration(r: Reader) -> Decoded:
    host = r.read_ip("host")
    port = r.read_int("port")
    return Deregistration(host=host, port=port, node_id=r.read_int("node_id")), _address_form(r)


def _decode_task_finished(r: Reader) -> Decoded:
    host = r.read_ip("host")
    form = _address_form(r)
    if r.remaining == 4:
        # The int-nr variant writes no port: only the id follows.
        return TaskFinished(host=host, port=0, node_id=r.read_int("node_id")), INT_NR.name
    port = r.read_int("port")
    return TaskFinished(host=host, port=port, node_id=r.read_int("node_id")), form


def _read_manifest(r: Reader, int_nr: bool) -> NodeManifest:
    if int_nr:
        count = r.read_int("entry count (NR, a 4-byte int)")
        if not 0 <= count <= MAX_MANIFEST_ENTRIES:
            raise r.fail(f"entry count (NR) {count} is outside 0..{MAX_MANIFEST_ENTRIES}")
    else:
        count = r.read_count("entry count (NR)")
    if count * _MIN_ENTRY_SIZE > r.remaining:
        raise RemoteWireError(
            f"truncated node manifest: {count} entries need at least "
            f"{count * _MIN_ENTRY_SIZE} bytes but only {r.remaining} remain"
        )
    entries = []
    for index in range(count):
        node_id = r.read_int(f"entries[{index}].node_id")
        host = r.read_ip(f"entries[{index}].host")
        entries.append(
            PeerEntry(node_id=node_id, host=host, port=r.read_int(f"entries[{index}].port"))
        )
    id_count = r.read_count("id count")
    manifest = NodeManifest(entries=tuple(entries), node_ids=r.read_ints("node_ids", id_count))
    r.finish()
    return manifest


def decode_manifest(body: bytes) -> Decoded:
    """A manifest body under whichever layout it parses: byte NR or int NR
    (see the module docstring for why at most one can)."""
    found: list[Decoded] = []
    errors: list[RemoteWireError] = []
    for int_nr in (False, True):
        reader = Reader(body, "NodeManifest")
        try:
            manifest = _read_manifest(reader, int_nr)
            form = _address_form(reader)
        except RemoteWireError as exc:
            errors.append(exc)
            continue
        found.append((manifest, INT_NR.name if int_nr else form))
    if len(found) == 1:
        return found[0]
    if found:
        raise RemoteWireError("node manifest parses both with a byte NR and an int NR")
    raise RemoteWireError(f"{errors[0]} (read with a 4-byte int NR instead: {errors[1]})")


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
        10: _decode_task_finished,
        11: _decode_traffic_summary_request,
        12: _decode_traffic_summary,
        100: _decode_progress_request,
        101: _decode_progress_report,
    }
)
