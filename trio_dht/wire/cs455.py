"""The classic binary dialect ``cs455`` (sans-IO codec).

Byte layouts follow WIRE-CS455.md: a 4-byte big-endian signed length, then a
body whose first byte is the message type. Fields are Java
``DataOutputStream`` primitives: signed byte, big-endian int (32 bit) and long
(64 bit), an ``ip`` (a byte ``n`` then ``n`` raw address bytes, 4 or 16) and a
``string`` (a byte ``n`` <= 127 then ``n`` ASCII bytes).

Types 2..12 are the classic messages. Two trio_dht extension types are added
for the progress protocol; they are only ever sent to peers that announced
``PROGRESS_MARKER`` (see ``messages.py``), so a classic peer never sees them:

- 100 ProgressRequest: type, int interval_ms
- 101 ProgressReport: type, int node_id, int sent, int received, int relayed,
  long sum_sent, long sum_received, int dropped

ProgressReport is therefore 37 bytes, ProgressRequest 5 (without the length).

The classic data packet has no hops field: decoding sets ``hops`` to the trace
length and encoding ignores ``Data.hops``.

Everything that cannot be expressed on this wire (strings over 127 bytes or
not ASCII, manifests of 128 entries or ids, host names instead of IP literals,
integers out of their signed range) raises ``WireError`` on encode, and every
malformed body raises ``WireError`` on decode -- never ``struct.error``,
``IndexError`` or ``UnicodeDecodeError``.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, ClassVar

from trio_dht.wire.dialect import Dialect
from trio_dht.wire.errors import WireError
from trio_dht.wire.framing import DEFAULT_MAX_FRAME, LengthPrefixFramer
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

# Type numbers of the classic table plus the two trio_dht extensions.
# Read-only views: the module holds no mutable state.
TYPE_NUMBERS: Mapping[type, int] = MappingProxyType(
    {
        Registration: 2,
        RegistrationStatus: 3,
        Deregistration: 4,
        DeregistrationStatus: 5,
        NodeManifest: 6,
        OverlaySetupStatus: 7,
        TaskInitiate: 8,
        Data: 9,
        TaskFinished: 10,
        TrafficSummaryRequest: 11,
        TrafficSummary: 12,
        ProgressRequest: 100,
        ProgressReport: 101,
    }
)
DATA_TYPE = 9

# Java reads a byte signed, so any count or length in a byte must stay <= 127.
MAX_BYTE_COUNT = 127
INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1

# Smallest possible manifest entry (int id, 4-byte ip with its length, int
# port): lets a decoder reject an absurd entry count before looping over it.
_MIN_ENTRY_SIZE = 4 + 1 + 4 + 4

_INT = struct.Struct(">i")
_LONG = struct.Struct(">q")


# --------------------------------------------------------------------------
# encoding helpers: each checks its value and says which field was wrong
# --------------------------------------------------------------------------


class _Writer:
    """Accumulates the body of one message; every put checks its range so
    the caller gets a WireError naming the field rather than struct.error."""

    __slots__ = ("_parts", "_what")

    def __init__(self, what: str, type_number: int) -> None:
        self._what = what
        self._parts: list[bytes] = [bytes((type_number,))]

    def body(self) -> bytes:
        return b"".join(self._parts)

    def put_int(self, field: str, value: int) -> None:
        self._parts.append(_INT.pack(self._ranged(field, value, INT32_MIN, INT32_MAX, "32")))

    def put_long(self, field: str, value: int) -> None:
        self._parts.append(_LONG.pack(self._ranged(field, value, INT64_MIN, INT64_MAX, "64")))

    def put_count(self, field: str, value: int, why: str) -> None:
        """A count carried in a (signed) byte."""
        if not 0 <= value <= MAX_BYTE_COUNT:
            raise WireError(
                f"{self._what}.{field} is {value} but cs455 carries it in a signed byte "
                f"(0..{MAX_BYTE_COUNT}): {why}"
            )
        self._parts.append(bytes((value,)))

    def put_ints(self, field: str, values: tuple[int, ...]) -> None:
        for index, value in enumerate(values):
            self.put_int(f"{field}[{index}]", value)

    def put_ip(self, field: str, host: str) -> None:
        self._parts.append(_pack_ip(f"{self._what}.{field}", host))

    def put_string(self, field: str, text: str) -> None:
        if not isinstance(text, str):
            raise WireError(f"{self._what}.{field} must be a str, not {type(text).__name__}")
        try:
            raw = text.encode("ascii")
        except UnicodeEncodeError as exc:
            raise WireError(
                f"{self._what}.{field} contains non-ASCII text at position {exc.start}; "
                "the cs455 dialect carries ASCII strings only"
            ) from None
        if len(raw) > MAX_BYTE_COUNT:
            raise WireError(
                f"{self._what}.{field} is {len(raw)} characters long; the cs455 dialect "
                f"carries the length in a signed byte, so at most {MAX_BYTE_COUNT}"
            )
        self._parts.append(bytes((len(raw),)) + raw)

    def _ranged(self, field: str, value: int, low: int, high: int, bits: str) -> int:
        # Anything that is not an int (bool is one, and encodes as 0/1) would
        # reach struct and raise struct.error instead of a WireError.
        if not isinstance(value, int):
            raise WireError(f"{self._what}.{field} must be an int, not {type(value).__name__}")
        if not low <= value <= high:
            raise WireError(
                f"{self._what}.{field} = {value} does not fit a signed {bits}-bit integer"
            )
        return value


def _pack_ip(what: str, host: str) -> bytes:
    """``host`` as the ip primitive: length byte then the raw address."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise WireError(
            f"{what} is {host!r}, not an IP literal; the cs455 dialect carries raw "
            "address bytes, so resolve host names before encoding"
        ) from None
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
        raise WireError(
            f"{what} is {host!r}: an IPv6 scope id cannot be carried by the cs455 dialect"
        )
    packed = address.packed
    return bytes((len(packed),)) + packed


# --------------------------------------------------------------------------
# decoding helper: a cursor that names what it was reading when bytes ran out
# --------------------------------------------------------------------------


class _Reader:
    __slots__ = ("_body", "_pos", "_what")

    def __init__(self, body: bytes, what: str) -> None:
        self._body = body
        self._pos = 1  # the type byte has been read by the dispatcher
        self._what = what

    @property
    def remaining(self) -> int:
        return len(self._body) - self._pos

    def _need(self, size: int, field: str) -> int:
        pos = self._pos
        if len(self._body) - pos < size:
            raise WireError(
                f"truncated {self._what}: {field} needs {size} bytes at offset {pos} "
                f"but only {len(self._body) - pos} remain"
            )
        self._pos = pos + size
        return pos

    def read_count(self, field: str) -> int:
        pos = self._need(1, field)
        value = self._body[pos]
        if value > MAX_BYTE_COUNT:
            raise WireError(
                f"{self._what}: {field} byte is {value}, which a Java peer reads as "
                f"{value - 256}; a count or length must be 0..{MAX_BYTE_COUNT}"
            )
        return value

    def read_int(self, field: str) -> int:
        return _INT.unpack_from(self._body, self._need(4, field))[0]

    def read_long(self, field: str) -> int:
        return _LONG.unpack_from(self._body, self._need(8, field))[0]

    def read_ints(self, field: str, count: int) -> tuple[int, ...]:
        # Checked before struct sees the count: a hostile count never makes
        # us build a huge format or tuple.
        if count < 0:
            raise WireError(f"{self._what}: {field} count {count} is negative")
        pos = self._need(4 * count, f"{field} ({count} ints)")
        return struct.unpack_from(f">{count}i", self._body, pos)

    def read_ip(self, field: str) -> str:
        pos = self._need(1, f"{field} length")
        size = self._body[pos]
        if size not in (4, 16):
            raise WireError(
                f"{self._what}: {field} has address length {size}; cs455 carries 4 (IPv4) "
                "or 16 (IPv6) bytes"
            )
        pos = self._need(size, f"{field} address")
        raw = self._body[pos : pos + size]
        address = ipaddress.IPv4Address(raw) if size == 4 else ipaddress.IPv6Address(raw)
        return str(address)

    def read_string(self, field: str) -> str:
        size = self.read_count(f"{field} length")
        pos = self._need(size, field)
        raw = self._body[pos : pos + size]
        try:
            return raw.decode("ascii")
        except UnicodeDecodeError as exc:
            raise WireError(
                f"{self._what}: {field} holds a non-ASCII byte 0x{raw[exc.start]:02x} at "
                f"position {exc.start}; cs455 strings are ASCII"
            ) from None

    def finish(self) -> None:
        extra = self.remaining
        if extra:
            raise WireError(
                f"{self._what} has {extra} trailing byte{'s' if extra != 1 else ''} "
                "after its last field"
            )


# --------------------------------------------------------------------------
# per-message codecs
# --------------------------------------------------------------------------


def _put_address(w: _Writer, m: Registration | Deregistration | TaskFinished) -> None:
    w.put_ip("host", m.host)
    w.put_int("port", m.port)


def _encode_registration(w: _Writer, m: Registration) -> None:
    _put_address(w, m)


def _encode_status(
    w: _Writer, m: RegistrationStatus | DeregistrationStatus | OverlaySetupStatus
) -> None:
    w.put_int("status", m.status)
    w.put_string("info", m.info)


def _encode_node_report(w: _Writer, m: Deregistration | TaskFinished) -> None:
    _put_address(w, m)
    w.put_int("node_id", m.node_id)


def _encode_manifest(w: _Writer, m: NodeManifest) -> None:
    why = "a 128-node overlay cannot be described to a classic peer"
    w.put_count("entries", len(m.entries), why)
    for index, entry in enumerate(m.entries):
        w.put_int(f"entries[{index}].node_id", entry.node_id)
        w.put_ip(f"entries[{index}].host", entry.host)
        w.put_int(f"entries[{index}].port", entry.port)
    w.put_count("node_ids", len(m.node_ids), why)
    w.put_ints("node_ids", m.node_ids)


def _encode_task_initiate(w: _Writer, m: TaskInitiate) -> None:
    w.put_int("packets", m.packets)


def _encode_data(w: _Writer, m: Data) -> None:
    w.put_int("destination", m.destination)
    w.put_int("source", m.source)
    w.put_int("payload", m.payload)
    w.put_int("trace length", len(m.trace))
    w.put_ints("trace", m.trace)


def _encode_empty(w: _Writer, m: TrafficSummaryRequest) -> None:
    pass


def _encode_traffic_summary(w: _Writer, m: TrafficSummary) -> None:
    # Wire order differs from the attribute order: relayed before sum_sent,
    # received between the two longs.
    w.put_int("node_id", m.node_id)
    w.put_int("sent", m.sent)
    w.put_int("relayed", m.relayed)
    w.put_long("sum_sent", m.sum_sent)
    w.put_int("received", m.received)
    w.put_long("sum_received", m.sum_received)


def _encode_progress_request(w: _Writer, m: ProgressRequest) -> None:
    w.put_int("interval_ms", m.interval_ms)


def _encode_progress_report(w: _Writer, m: ProgressReport) -> None:
    w.put_int("node_id", m.node_id)
    w.put_int("sent", m.sent)
    w.put_int("received", m.received)
    w.put_int("relayed", m.relayed)
    w.put_long("sum_sent", m.sum_sent)
    w.put_long("sum_received", m.sum_received)
    w.put_int("dropped", m.dropped)


def _decode_registration(r: _Reader) -> Registration:
    return Registration(host=r.read_ip("host"), port=r.read_int("port"))


def _decode_status(cls: type) -> Callable[[_Reader], Message]:
    def decode(r: _Reader) -> Message:
        status = r.read_int("status")
        return cls(status=status, info=r.read_string("info"))

    return decode


def _decode_node_report(cls: type) -> Callable[[_Reader], Message]:
    def decode(r: _Reader) -> Message:
        host = r.read_ip("host")
        port = r.read_int("port")
        return cls(host=host, port=port, node_id=r.read_int("node_id"))

    return decode


def _decode_manifest(r: _Reader) -> NodeManifest:
    count = r.read_count("entry count (NR)")
    if count * _MIN_ENTRY_SIZE > r.remaining:
        raise WireError(
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
    return NodeManifest(entries=tuple(entries), node_ids=r.read_ints("node_ids", id_count))


def _decode_task_initiate(r: _Reader) -> TaskInitiate:
    return TaskInitiate(packets=r.read_int("packets"))


def _decode_data(r: _Reader) -> Data:
    destination = r.read_int("destination")
    source = r.read_int("source")
    payload = r.read_int("payload")
    count = r.read_int("trace length")
    if count < 0 or 4 * count != r.remaining:
        raise WireError(
            f"data packet claims a trace of {count} ids ({4 * count} bytes) but "
            f"{r.remaining} bytes follow"
        )
    return Data(
        destination=destination, source=source, payload=payload, trace=r.read_ints("trace", count)
    )


def _decode_traffic_summary_request(r: _Reader) -> TrafficSummaryRequest:
    return TrafficSummaryRequest()


def _decode_traffic_summary(r: _Reader) -> TrafficSummary:
    node_id = r.read_int("node_id")
    sent = r.read_int("sent")
    relayed = r.read_int("relayed")
    sum_sent = r.read_long("sum_sent")
    received = r.read_int("received")
    return TrafficSummary(
        node_id=node_id,
        sent=sent,
        relayed=relayed,
        sum_sent=sum_sent,
        received=received,
        sum_received=r.read_long("sum_received"),
    )


def _decode_progress_request(r: _Reader) -> ProgressRequest:
    return ProgressRequest(interval_ms=r.read_int("interval_ms"))


def _decode_progress_report(r: _Reader) -> ProgressReport:
    node_id = r.read_int("node_id")
    sent = r.read_int("sent")
    received = r.read_int("received")
    relayed = r.read_int("relayed")
    sum_sent = r.read_long("sum_sent")
    sum_received = r.read_long("sum_received")
    return ProgressReport(
        node_id=node_id,
        sent=sent,
        received=received,
        relayed=relayed,
        sum_sent=sum_sent,
        sum_received=sum_received,
        dropped=r.read_int("dropped"),
    )


# Each codec is typed for its own class; the tables are keyed by that class.
_Encoder = Callable[[_Writer, Any], None]
_Decoder = Callable[[_Reader], Message]

_ENCODERS: Mapping[type, _Encoder] = MappingProxyType(
    {
        Registration: _encode_registration,
        RegistrationStatus: _encode_status,
        Deregistration: _encode_node_report,
        DeregistrationStatus: _encode_status,
        NodeManifest: _encode_manifest,
        OverlaySetupStatus: _encode_status,
        TaskInitiate: _encode_task_initiate,
        Data: _encode_data,
        TaskFinished: _encode_node_report,
        TrafficSummaryRequest: _encode_empty,
        TrafficSummary: _encode_traffic_summary,
        ProgressRequest: _encode_progress_request,
        ProgressReport: _encode_progress_report,
    }
)

_DECODERS: Mapping[int, tuple[type, _Decoder]] = MappingProxyType(
    {
        2: (Registration, _decode_registration),
        3: (RegistrationStatus, _decode_status(RegistrationStatus)),
        4: (Deregistration, _decode_node_report(Deregistration)),
        5: (DeregistrationStatus, _decode_status(DeregistrationStatus)),
        6: (NodeManifest, _decode_manifest),
        7: (OverlaySetupStatus, _decode_status(OverlaySetupStatus)),
        8: (TaskInitiate, _decode_task_initiate),
        9: (Data, _decode_data),
        10: (TaskFinished, _decode_node_report(TaskFinished)),
        11: (TrafficSummaryRequest, _decode_traffic_summary_request),
        12: (TrafficSummary, _decode_traffic_summary),
        100: (ProgressRequest, _decode_progress_request),
        101: (ProgressReport, _decode_progress_report),
    }
)

_KNOWN_TYPES = ", ".join(str(number) for number in sorted(_DECODERS))


class Cs455Dialect(Dialect):
    """The classic binary dialect. Stateless; one instance can serve every
    connection."""

    name: ClassVar[str] = "cs455"

    # Precompiled once per class: the data path below runs per packet.
    _HEADER: ClassVar[struct.Struct] = struct.Struct(">i")
    # Whole frame of a fresh packet: length 17, type 9, dst, src, payload, 0.
    _FRESH: ClassVar[struct.Struct] = struct.Struct(">iBiiii")
    # After the type byte: destination, (skip source), payload, trace count.
    _HEAD: ClassVar[struct.Struct] = struct.Struct(">xi4xii")
    # Relayed frame head: new length, the 13 bytes up to the count, new count.
    _RELAY_HEAD: ClassVar[struct.Struct] = struct.Struct(">i13si")
    _INT: ClassVar[struct.Struct] = _INT

    def framer(self, max_frame: int = DEFAULT_MAX_FRAME) -> LengthPrefixFramer:
        return LengthPrefixFramer(self._HEADER, max_frame)

    def encode(self, message: Message) -> bytes:
        cls = type(message)
        encoder = _ENCODERS.get(cls)
        if encoder is None:
            raise TypeError(f"{cls.__name__} is not a trio_dht message; cs455 cannot encode it")
        writer = _Writer(cls.__name__, TYPE_NUMBERS[cls])
        encoder(writer, message)
        body = writer.body()
        return self._HEADER.pack(len(body)) + body

    def decode(self, body: bytes) -> Message:
        if not body:
            raise WireError("empty cs455 frame body: no message type byte")
        type_number = body[0]
        entry = _DECODERS.get(type_number)
        if entry is None:
            raise WireError(
                f"unknown cs455 message type {type_number} (known types: {_KNOWN_TYPES})"
            )
        cls, decoder = entry
        reader = _Reader(bytes(body), cls.__name__)
        message = decoder(reader)
        reader.finish()
        return message

    # --- data path ---------------------------------------------------------

    def encode_data(self, destination: int, source: int, payload: int) -> bytes:
        try:
            return self._FRESH.pack(17, DATA_TYPE, destination, source, payload, 0)
        except struct.error:
            # Zero-cost on the good path; turns a bad argument into the one
            # error the wire layer promises.
            raise WireError(
                f"data packet ({destination}, {source}, {payload}) has a value outside "
                "the signed 32-bit range"
            ) from None

    def data_head(self, body: bytes) -> tuple[int, int] | None:
        n = len(body)
        if n < 17 or body[0] != DATA_TYPE:
            return None
        destination, payload, count = self._HEAD.unpack_from(body)
        # A negative count makes this false too.
        if n != 17 + 4 * count:
            return None
        return destination, payload

    def relay(self, body: bytes, relay_id: int) -> bytes:
        # data_head accepted body, so its length already says the trace
        # count: the new count is (n - 17) // 4 + 1 == (n - 13) >> 2.
        n = len(body)
        try:
            return (
                self._RELAY_HEAD.pack(n + 4, body[:13], (n - 13) >> 2)
                + body[17:]
                + self._INT.pack(relay_id)
            )
        except struct.error:
            raise WireError(f"relay id {relay_id} does not fit a signed 32-bit integer") from None
