"""The ``minichord`` wire dialect: the protobuf protocol of the Go ports.

A frame is an 8-byte big-endian unsigned length followed by one serialized
``MiniChord`` message (schema in ``minichord.proto`` beside this file, layout in
shared/spec/WIRE-MINICHORD.md). The message type is whichever member of the
``MiniChord`` oneof is set. All encoding and decoding goes through the protobuf
runtime: ``minichord_codec`` maps between the protobuf classes and the
dialect-neutral classes of ``trio_dht.wire.messages``, ``minichord_fields``
checks fields and spells addresses; this module is the dialect itself (the
general codec, the per-packet data path, frame limits, text clipping).

Byte-exactness: protobuf serializes known fields in field-number order and
leaves out zero values, which is exactly what the Go ports put on the wire, so
every frame they send decodes and re-encodes to the same bytes. Two kinds of
frame decode fine but re-encode differently, which is acceptable because the
meaning is preserved:

* Unknown fields (e.g. from a newer schema) are accepted and ignored by
  ``decode``; ``encode`` builds a fresh message, so they are not re-emitted.
  ``relay`` works on the parsed protobuf message and does forward them.
* Non-canonical encodings protobuf accepts (a field repeated, fields out of
  order, an unpacked repeated field) come back canonical.

The dialect has one variant, "canonical". Frame limits: each type's largest
body is measured by encoding its largest legitimate message
(``LARGEST`` below); the framer tells the type from the body's
first field tag (one byte for nodeData, two for the other members).

Sans-IO, but not thread-safe: the data path keeps one scratch message and the
last parse of ``data_head`` per instance (see ``__init__``), so use one
instance per thread (trio runs everything in one).
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from types import MappingProxyType
from typing import ClassVar

from trio_dht.wire import minichord_pb2 as pb
from trio_dht.wire.dialect import Dialect, Refusal, RouteTally
from trio_dht.wire.errors import LocalWireError, RemoteWireError
from trio_dht.wire.framing import FrameLimits
from trio_dht.wire.messages import (
    MAX_LOAD_LINKS,
    MAX_RELAY_BINS,
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
from trio_dht.wire.minichord_codec import (
    DECODERS,
    ENCODERS,
    LENGTH,
    PARSE_ERRORS,
    frame,
    parse,
)
from trio_dht.wire.minichord_data import NODE_DATA_TAG as _NODE_DATA_TAG
from trio_dht.wire.minichord_data import originate_batch, relay_parsed, route_batch
from trio_dht.wire.minichord_fields import (
    MAX_HOST,
    MAX_TEXT,
    PORT_MAX,
    UINT32,
    format_address,
    parse_address,
)

__all__ = ["MinichordDialect", "format_address", "parse_address"]

_pack_length = LENGTH.pack
_MiniChord = pb.MiniChord
_ELLIPSIS = "..."


# --- frame limits ---------------------------------------------------------------
# The largest legitimate message of each type, encoded by the encoders above:
# every integer non-zero (proto3 leaves zeros out), texts of MAX_TEXT bytes,
# addresses of MAX_ADDRESS bytes, 128 manifest entries and ids, a 128-entry
# trace. Each type is named on the wire by the tag of its oneof member, the
# first bytes of the body.

MAX_ENTRIES = 128
MAX_TRACE = 128
_HOST = "h" * MAX_HOST
_TEXT = "t" * MAX_TEXT

LARGEST: Mapping[str, Message] = MappingProxyType(
    {
        "registration": Registration(_HOST, PORT_MAX),
        "registrationResponse": RegistrationStatus(-1, _TEXT),
        "deregistration": Deregistration(_HOST, PORT_MAX, -1),
        "deregistrationResponse": DeregistrationStatus(-1, _TEXT),
        "nodeRegistry": NodeManifest(
            entries=(PeerEntry(-1, _HOST, PORT_MAX),) * MAX_ENTRIES,
            node_ids=(-1,) * MAX_ENTRIES,
        ),
        "nodeRegistryResponse": OverlaySetupStatus(-1, _TEXT),
        "initiateTask": TaskInitiate(UINT32[1]),
        "nodeData": Data(-1, -1, -1, trace=(-1,) * MAX_TRACE, hops=UINT32[1]),
        "taskFinished": TaskFinished(_HOST, PORT_MAX, -1),
        "requestTrafficSummary": TrafficSummaryRequest(),
        "reportTrafficSummary": TrafficSummary(-1, UINT32[1], UINT32[1], -1, UINT32[1], -1),
        "progressRequest": ProgressRequest(UINT32[1]),
        "progressReport": ProgressReport(-1, UINT32[1], UINT32[1], UINT32[1], -1, -1, UINT32[1]),
        "loadReport": LoadReport(
            127,
            (LinkLoad(127, UINT32[1]),) * MAX_LOAD_LINKS,
            (UINT32[1],) * MAX_RELAY_BINS,
        ),
    }
)


def _field_number(member: str) -> int:
    number: int = _MiniChord.DESCRIPTOR.fields_by_name[member].number
    return number


def member_tag(member: str) -> bytes:
    """The first bytes of a body whose oneof member is ``member``: the
    varint key of that field, wire type 2 (length-delimited)."""
    key = (_field_number(member) << 3) | 2
    tag = bytearray()
    while key > 0x7F:
        tag.append(key & 0x7F | 0x80)
        key >>= 7
    tag.append(key)
    return bytes(tag)


def largest_bodies() -> dict[bytes, tuple[str, int]]:
    """Member tag -> (type name, largest legitimate body in bytes)."""
    return {
        member_tag(member): (
            f"type {member} (field {_field_number(member)})",
            len(ENCODERS[type(message)](message).SerializeToString()),
        )
        for member, message in LARGEST.items()
    }


class MinichordDialect(Dialect):
    """The protobuf dialect of the Go ports (8-byte length + MiniChord)."""

    name: ClassVar[str] = "minichord"
    length_prefix: ClassVar[struct.Struct] = LENGTH
    frame_limits: ClassVar[FrameLimits] = FrameLimits("minichord", largest_bodies())
    max_text: ClassVar[int] = MAX_TEXT

    # The statuses the seed's Go port uses (WIRE-MINICHORD.md); a full
    # overlay has no number of its own there, so it takes the generic -1.
    _REFUSALS: ClassVar[Mapping[Refusal, int]] = MappingProxyType(
        {
            Refusal.ALREADY_REGISTERED: -3,
            Refusal.ADDRESS_MISMATCH: -4,
            Refusal.NOT_REGISTERED: -1,
            Refusal.ID_MISMATCH: -2,
        }
    )

    def clip(self, text: str) -> str:
        """Valid UTF-8 (a lone surrogate becomes "?"), at most MAX_TEXT bytes,
        cut at a character boundary."""
        raw = text.encode("utf-8", "replace")
        if len(raw) <= self.max_text:
            return raw.decode("utf-8")
        return raw[: self.max_text - len(_ELLIPSIS)].decode("utf-8", "ignore") + _ELLIPSIS

    def refusal_status(self, refusal: Refusal) -> int:
        return self._REFUSALS.get(refusal, -1)

    def deregistered_status(self, node_id: int) -> int:
        # The Go ports answer a successful deregistration with 0.
        return 0

    def encode(self, message: Message) -> bytes:
        encoder = ENCODERS.get(type(message))
        if encoder is None:
            raise LocalWireError(
                f"{type(message).__name__} is not a message the minichord dialect can carry"
            )
        proto = encoder(message)
        return frame(proto)

    def decode(self, body: bytes) -> Message:
        proto = parse(body)
        member = proto.WhichOneof("message")
        if member is None:
            # Also what a member from a newer schema looks like: protobuf keeps
            # it as an unknown field and the oneof stays unset.
            raise RemoteWireError(
                f"minichord frame of {len(body)} bytes sets no message type this dialect"
                " knows (empty MiniChord, or a member from a newer schema)"
            )
        return DECODERS[member](getattr(proto, member))

    # --- data path ---------------------------------------------------------
    # One fresh protobuf object per call: a cached scratch message measured
    # only ~10% faster and would make the dialect stateful.

    def encode_data(self, destination: int, source: int, payload: int) -> bytes:
        # One message object reused for every originated packet (914 -> 542
        # ns against a fresh one): it only ever holds these three fields,
        # all overwritten here. Single-threaded use, like the parse cache.
        proto = self._scratch
        data = proto.nodeData
        try:
            # Assigning a field of the sub-message marks the oneof member
            # present even when the value is 0, so an all-zero packet still
            # encodes as a nodeData frame. Attribute assignment measured
            # faster than building NodeData(...) and copying it in.
            data.Destination = destination
            data.Source = source
            data.Payload = payload
        except (TypeError, ValueError) as exc:
            # protobuf checks the range itself; this path skips our own checks
            # to stay cheap and only rewords the error.
            raise LocalWireError(
                f"cannot encode data packet (destination={destination!r}, source={source!r},"
                f" payload={payload!r}): each must be a signed 32-bit integer"
            ) from exc
        body: bytes = proto.SerializeToString()
        return _pack_length(len(body)) + body

    def __init__(self) -> None:
        # The last body data_head parsed, and its parse. A node calls
        # data_head and then relay on the same body with no await between,
        # so relay can reuse the parse: it halves the protobuf work per
        # relayed packet. Single-threaded use only (as trio is); a different
        # body is simply parsed again.
        self._last_body: bytes | None = None
        self._last_proto: pb.MiniChord | None = None
        self._scratch = _MiniChord()

    def data_head(self, body: bytes) -> tuple[int, int] | None:
        # Control frames start with another tag: reject them without parsing.
        if not body or body[0] != _NODE_DATA_TAG:
            return None
        try:
            proto = _MiniChord.FromString(body)
        except PARSE_ERRORS:
            return None
        # A body may start with nodeData yet end with another member (the
        # last member on the wire wins); that is not a data frame.
        if not proto.HasField("nodeData"):
            return None
        self._last_body = body
        self._last_proto = proto
        data = proto.nodeData
        return data.Destination, data.Payload

    def trace_has(self, body: bytes, node_id: int) -> bool:
        # The id's four little-endian bytes must occur somewhere; only then
        # look at the trace, in the parse data_head just made (cached).
        try:
            needle = node_id.to_bytes(4, "little", signed=True)
        except OverflowError:
            return False
        if needle not in body:
            return False
        proto = self._last_proto if body is self._last_body else None
        if proto is None:
            try:
                proto = parse(body)
            except RemoteWireError:
                return False
        return node_id in proto.nodeData.Trace

    def trace_length(self, body: bytes) -> int:
        # The parse data_head just made (cached), as trace_has uses it.
        proto = self._last_proto if body is self._last_body else None
        if proto is None:
            proto = parse(body)
        return len(proto.nodeData.Trace)

    def relay(self, body: bytes, relay_id: int) -> bytes:
        if body is self._last_body and self._last_proto is not None:
            proto = self._last_proto
            # Used once: relay mutates it.
            self._last_body = self._last_proto = None
        else:
            proto = parse(body)
        if not proto.HasField("nodeData"):
            raise RemoteWireError(
                "relay needs a nodeData frame; this minichord frame is another type"
            )
        return relay_parsed(proto, relay_id)

    def route_batch(
        self,
        bodies: list[bytes],
        me: int,
        hop: list[int],
        outs: list[list[bytes]],
        check_loops: bool,
        relays: list[int],
    ) -> RouteTally:
        # The per-packet methods' cache must not outlive a batch routed here.
        self._last_body = self._last_proto = None
        return route_batch(bodies, me, hop, outs, check_loops, relays)

    def originate_batch(
        self,
        destinations: list[int],
        payloads: tuple[int, ...],
        me: int,
        hop: list[int],
        outs: list[list[bytes]],
    ) -> None:
        originate_batch(self._scratch, destinations, payloads, me, hop, outs)
