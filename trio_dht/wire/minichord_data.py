"""The minichord data path, a burst or a batch per call (sans-IO).

``MinichordDialect.route_batch`` and ``originate_batch`` delegate here: the
loops that run for every packet a node relays or originates, written on one
protobuf parse per packet (relay) and one reused message per burst
(origination) instead of one per method call. They must stay equivalent to
the dialect's per-packet methods; tests/wire/test_route_batch.py compares
them.
"""

from __future__ import annotations

from trio_dht.wire import minichord_pb2 as pb
from trio_dht.wire.dialect import RouteTally
from trio_dht.wire.errors import LocalWireError, RemoteWireError
from trio_dht.wire.minichord_codec import LENGTH, PARSE_ERRORS

pack_length = LENGTH.pack

# First byte of a body whose oneof member is nodeData: the tag of field 15,
# wire type 2 (length-delimited), i.e. (15 << 3) | 2. Go and protobuf-python
# both write the single member first, so a data frame always starts with it;
# checking it lets the data path skip parsing control frames altogether.
NODE_DATA_TAG = (15 << 3) | 2


def relay_parsed(proto: pb.MiniChord, relay_id: int) -> bytes:
    """The whole frame to forward for ``proto``, a parsed nodeData frame,
    with ``relay_id`` appended to its trace (``proto`` is changed)."""
    data = proto.nodeData
    try:
        data.Trace.append(relay_id)
    except (TypeError, ValueError) as exc:
        raise LocalWireError(
            f"relay id {relay_id!r} does not fit the trace: it must be a signed 32-bit integer"
        ) from exc
    try:
        # Hops as received plus one: ports that count differently keep
        # their own convention, offset by our hop.
        data.Hops += 1
    except ValueError as exc:
        raise RemoteWireError(
            f"hop count {data.Hops} is already the fixed32 maximum; cannot relay further"
        ) from exc
    out: bytes = proto.SerializeToString()
    return pack_length(len(out)) + out


def route_batch(
    bodies: list[bytes],
    me: int,
    hop: list[int],
    outs: list[list[bytes]],
    check_loops: bool,
    relays: list[int],
) -> RouteTally:
    # The base loop with data_head, trace_length, trace_has and relay
    # inline on one parse: the nodeData view is taken once per packet
    # instead of once per method. Keep it equivalent to those methods
    # (tests compare them).
    from_string = pb.MiniChord.FromString
    try:
        needle = me.to_bytes(4, "little", signed=True)
    except OverflowError:
        raise LocalWireError(f"relay id {me} does not fit a signed 32-bit integer") from None
    routes = len(hop)
    others: list[bytes] = []
    received = relayed = stray = looped = sum_received = 0
    for body in bodies:
        if not body or body[0] != NODE_DATA_TAG:
            others.append(body)
            continue
        try:
            proto = from_string(body)
        except PARSE_ERRORS:
            others.append(body)
            continue
        if not proto.HasField("nodeData"):
            others.append(body)
            continue
        data = proto.nodeData
        destination = data.Destination
        if destination == me:
            received += 1
            sum_received += data.Payload
            relays[len(data.Trace)] += 1
            continue
        via = hop[destination] if 0 <= destination < routes else -1
        if via < 0:
            stray += 1
            continue
        if check_loops and needle in body and me in data.Trace:
            looped += 1
            continue
        outs[via].append(relay_parsed(proto, me))
        relayed += 1
    return RouteTally(received, sum_received, relayed, stray, looped, others)


def originate_batch(
    proto: pb.MiniChord,
    destinations: list[int],
    payloads: tuple[int, ...],
    me: int,
    hop: list[int],
    outs: list[list[bytes]],
) -> None:
    # encode_data inline on the same scratch message, whose source is set
    # once per burst instead of once per packet.
    data = proto.nodeData
    serialize = proto.SerializeToString
    try:
        data.Source = me
        for destination, payload in zip(destinations, payloads, strict=True):
            data.Destination = destination
            data.Payload = payload
            body = serialize()
            outs[hop[destination]].append(pack_length(len(body)) + body)
    except (TypeError, ValueError) as exc:
        raise LocalWireError(
            f"cannot encode data packets from {me!r}: destinations, source and payloads "
            "must be signed 32-bit integers"
        ) from exc
