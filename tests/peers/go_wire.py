"""Frames of the minichord dialect as the seed's Go port writes and reads
them, built directly on the generated protobuf module (not on
trio_dht.wire's codec, so a codec bug cannot hide here).

Writing: two ``send_all`` calls per frame, the 8-byte length and then the
body (the Go port's two ``Write`` calls; with TCP_NODELAY, which trio sets,
two segments on the wire).

Reading: exactly one receive call for the prefix (at most 8 bytes) and one
for the body (at most the announced size), never a loop. A short result is
the Go port's "length error": it is recorded on the connection and, by
default, raised as GoLengthError, because the real process dies of a nil
pointer right after (transcript, "Framing and reads").
"""

from __future__ import annotations

import struct

import trio
from google.protobuf.message import DecodeError  # type: ignore[import-untyped,unused-ignore]

from peers.connlog import Conn, ConnLog
from trio_dht.wire import minichord_pb2 as pb

PREFIX = struct.Struct(">Q")
# A prefix above this is treated as a length error (Go would try to
# allocate it and die; Python would raise MemoryError).
MAX_BODY = 1 << 24

# Texts of the seed's port (captured frames, origin "go-a").
REGISTERED_TEXT = (
    "Registration request successful. The number of messaging nodes currently constituting "
    "the overlay is ({count})."
)
ALREADY_REGISTERED_TEXT = "already registered"
ADDRESS_MISMATCH_TEXT = "address mismatch"
SETUP_OK_TEXT = "Successfully connected to all nodes in the routing table."
SETUP_FAILED_TEXT = "Failed to connect to all nodes in the routing table."
DEREGISTERED_TEXT = "Deregistration successful"
NOT_REGISTERED_TEXT = "not registered"
DEREGISTRATION_MISMATCH_TEXT = "id/address mismatch"
# The node's setup status when a probe failed: 4294967294 as fixed32, the
# same bytes as -2 in the sfixed32 of the schema.
SETUP_FAILED_RESULT = -2


class GoLengthError(Exception):
    """A short read where the Go port expects a whole prefix or body."""


def kind(message: pb.MiniChord) -> str:
    """The oneof member set ("registration", "nodeData", ...)."""
    return message.WhichOneof("message") or "empty"


def frame_parts(message: pb.MiniChord) -> tuple[bytes, bytes]:
    body = message.SerializeToString()
    return PREFIX.pack(len(body)), body


def frame(message: pb.MiniChord) -> bytes:
    prefix, body = frame_parts(message)
    return prefix + body


async def write_frame(log: ConnLog, conn: Conn, message: pb.MiniChord) -> None:
    """One frame in two writes, as the Go port sends it."""
    prefix, body = frame_parts(message)
    await conn.stream.send_all(prefix)
    await conn.stream.send_all(body)
    name = kind(message)
    conn.written.append(name)
    log.event(conn, "write", name)


async def _receive(conn: Conn, size: int) -> bytes:
    conn.read_calls += 1
    try:
        return await conn.stream.receive_some(size)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        return b""


def _length_error(log: ConnLog, conn: Conn, what: str, panic: bool) -> None:
    conn.length_errors += 1
    log.event(conn, "length-error", what)
    if panic:
        raise GoLengthError(f"{conn.owner}: length error on {conn.purpose} connection: {what}")


async def read_frame(log: ConnLog, conn: Conn, *, panic: bool = True) -> pb.MiniChord | None:
    """The single frame the Go port reads from a connection; None for a
    connection closed before its first byte (a probe) or, with ``panic``
    False, for a length error."""
    head = await _receive(conn, PREFIX.size)
    if not head:
        conn.empty = True
        log.event(conn, "empty")
        return None
    if len(head) < PREFIX.size:
        _length_error(log, conn, f"prefix of {len(head)} bytes", panic)
        return None
    (size,) = PREFIX.unpack(head)
    if size > MAX_BODY:
        _length_error(log, conn, f"announced body of {size} bytes", panic)
        return None
    body = await _receive(conn, size) if size else b""
    if len(body) < size:
        _length_error(log, conn, f"body of {len(body)} of {size} bytes", panic)
        return None
    message = pb.MiniChord()
    try:
        message.ParseFromString(body)
    except DecodeError as exc:
        log.event(conn, "unexpected", f"undecodable body: {exc}")
        return None
    name = kind(message)
    conn.read.append(name)
    log.event(conn, "read", name)
    return message


# --- message builders (field names are the schema's) ---------------------------


def registration(address: str) -> pb.MiniChord:
    return pb.MiniChord(registration=pb.Registration(Address=address))


def registration_response(result: int, info: str) -> pb.MiniChord:
    return pb.MiniChord(registrationResponse=pb.RegistrationResponse(Result=result, Info=info))


def deregistration(address: str, node_id: int) -> pb.MiniChord:
    return pb.MiniChord(deregistration=pb.Deregistration(Address=address, Id=node_id))


def deregistration_response(result: int, info: str) -> pb.MiniChord:
    return pb.MiniChord(deregistrationResponse=pb.DeregistrationResponse(Result=result, Info=info))


def node_registry(nr: int, peers: list[tuple[int, str]], ids: list[int]) -> pb.MiniChord:
    entries = [pb.Deregistration(Address=address, Id=node_id) for node_id, address in peers]
    registry = pb.NodeRegistry(NR=nr, Peers=entries, Ids=sorted(ids), NoIds=len(ids))
    return pb.MiniChord(nodeRegistry=registry)


def setup_status(result: int, info: str) -> pb.MiniChord:
    return pb.MiniChord(nodeRegistryResponse=pb.NodeRegistryResponse(Result=result, Info=info))


def initiate_task(packets: int) -> pb.MiniChord:
    return pb.MiniChord(initiateTask=pb.InitiateTask(Packets=packets))


def node_data(
    destination: int, source: int, payload: int, hops: int, trace: list[int]
) -> pb.MiniChord:
    data = pb.NodeData(
        Destination=destination, Source=source, Payload=payload, Hops=hops, Trace=trace
    )
    return pb.MiniChord(nodeData=data)


def task_finished(address: str, node_id: int) -> pb.MiniChord:
    return pb.MiniChord(taskFinished=pb.TaskFinished(Address=address, Id=node_id))


def summary_request() -> pb.MiniChord:
    return pb.MiniChord(requestTrafficSummary=pb.RequestTrafficSummary())


def traffic_summary(
    node_id: int, sent: int, relayed: int, received: int, total_sent: int, total_received: int
) -> pb.MiniChord:
    summary = pb.TrafficSummary(
        Id=node_id,
        Sent=sent,
        Relayed=relayed,
        Received=received,
        TotalSent=total_sent,
        TotalReceived=total_received,
    )
    return pb.MiniChord(reportTrafficSummary=summary)


def split_address(address: str) -> tuple[str, int]:
    """ "host:port" -> (host, port); raises ValueError when malformed."""
    host, _, port = address.rpartition(":")
    if not host:
        raise ValueError(f"no host in {address!r}")
    return host.strip("[]"), int(port)
