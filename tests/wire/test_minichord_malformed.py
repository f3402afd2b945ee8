"""The minichord dialect on bad input: only RemoteWireError for a peer's bytes,
LocalWireError for what we cannot encode."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trio_dht.wire import WireError
from trio_dht.wire import minichord_pb2 as pb
from trio_dht.wire.messages import (
    Data,
    Deregistration,
    DeregistrationStatus,
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
)
from trio_dht.wire.minichord import MinichordDialect

DIALECT = MinichordDialect()


def split(frame: bytes) -> bytes:
    """The one body in ``frame``, through the dialect's own framer."""
    bodies = DIALECT.framer().feed(frame)
    assert len(bodies) == 1
    return bodies[0]


# --- malformed input ------------------------------------------------------------


@given(st.one_of(st.binary(max_size=300), st.binary(max_size=300).map(lambda b: b"\x7a" + b)))
def test_random_bytes_only_raise_wire_error(body: bytes) -> None:
    try:
        DIALECT.decode(body)
    except WireError:
        pass
    head = DIALECT.data_head(body)
    assert head is None or isinstance(head, tuple)
    try:
        DIALECT.relay(body, 3)
    except WireError:
        pass


@pytest.mark.parametrize(
    "body",
    [b"", bytes.fromhex("d80105"), bytes.fromhex("ba0600")],
    ids=["empty", "unknown-varint-field", "unknown-member-103"],
)
def test_no_member_set(body: bytes) -> None:
    with pytest.raises(WireError, match="sets no message type"):
        DIALECT.decode(body)
    assert DIALECT.data_head(body) is None
    with pytest.raises(WireError):
        DIALECT.relay(body, 1)


def test_not_protobuf() -> None:
    # Field 17 claims 0x7f bytes and the body ends first.
    with pytest.raises(WireError, match="not valid protobuf"):
        DIALECT.decode(bytes.fromhex("8a017f0a"))
    # Invalid UTF-8 in a string field.
    with pytest.raises(WireError, match="not valid protobuf"):
        DIALECT.decode(bytes.fromhex("8a01030a01ff"))


@pytest.mark.parametrize("depth", [1, 200, 5000])
def test_deeply_nested_unknown_groups(depth: int) -> None:
    # Unknown field 30 as nested start-group/end-group pairs: parsers recurse
    # on these, so a hostile depth must end in WireError, not RecursionError.
    groups = b"\xf3\x01" * depth + b"\xf4\x01" * depth
    for body in (groups, b"\x7a\x00" + groups, b"\xf3\x01" * depth):
        try:
            DIALECT.decode(body)
        except WireError:
            pass
        if DIALECT.data_head(body) is not None:
            DIALECT.relay(body, 1)


def test_unknown_fields_decode_but_do_not_survive_encode() -> None:
    message = Registration("10.0.0.1", 8080)
    body = split(DIALECT.encode(message))
    # An unknown field inside Registration (field 9, varint 1): the inner
    # length grows by two bytes.
    inner = body[3:]
    extended = body[:2] + bytes([len(inner) + 2]) + inner + b"\x48\x01"
    assert DIALECT.decode(extended) == message
    assert split(DIALECT.encode(DIALECT.decode(extended))) == body


def test_relay_forwards_unknown_fields() -> None:
    body = split(DIALECT.encode_data(1, 2, 3)) + b"\xd8\x01\x05"
    relayed = split(DIALECT.relay(body, 9))
    assert relayed.endswith(b"\xd8\x01\x05")
    assert DIALECT.decode(relayed) == Data(1, 2, 3, trace=(9,), hops=1)


def test_data_head_rejects_other_last_member() -> None:
    # Starts like a data frame, but the last oneof member on the wire wins.
    body = split(DIALECT.encode_data(1, 2, 3)) + split(DIALECT.encode(TaskInitiate(5)))
    assert DIALECT.decode(body) == TaskInitiate(5)
    assert DIALECT.data_head(body) is None
    with pytest.raises(WireError, match="nodeData"):
        DIALECT.relay(body, 4)


@pytest.mark.parametrize(
    ("nr", "no_ids"), [(3, 2), (1, 1), (2, 3)], ids=["nr-high", "nr-low", "noids-high"]
)
def test_manifest_count_mismatch(nr: int, no_ids: int) -> None:
    peers = [pb.Deregistration(Address="127.0.0.1:1", Id=1), pb.Deregistration(Address="h:2")]
    body = pb.MiniChord(
        nodeRegistry=pb.NodeRegistry(NR=nr, Peers=peers, Ids=[1, 2], NoIds=no_ids)
    ).SerializeToString()
    with pytest.raises(WireError, match="inconsistent"):
        DIALECT.decode(body)


BAD_ADDRESSES = [
    "",
    "127.0.0.1",
    "127.0.0.1:",
    ":80",
    "127.0.0.1:65536",
    "127.0.0.1:-1",
    "127.0.0.1:+80",
    "127.0.0.1: 80",
    "127.0.0.1:080",
    "127.0.0.1:8_0",
    "127.0.0.1:\uff18\uff10",
    "127.0.0.1:99999999999999999999",
    "::1:80",
    "[::1]80",
    "[::1]",
    "[::1:80",
    "[]:80",
    "[1.2.3.4]:80",
    "bad host:80",
    "a]b:80",
]


def _address_frames(address: str) -> list[pb.MiniChord]:
    return [
        pb.MiniChord(registration=pb.Registration(Address=address)),
        pb.MiniChord(deregistration=pb.Deregistration(Address=address, Id=3)),
        pb.MiniChord(taskFinished=pb.TaskFinished(Address=address, Id=3)),
        pb.MiniChord(
            nodeRegistry=pb.NodeRegistry(
                NR=1, Peers=[pb.Deregistration(Address=address, Id=3)], Ids=[3], NoIds=1
            )
        ),
    ]


@pytest.mark.parametrize("address", BAD_ADDRESSES)
def test_bad_address_strings(address: str) -> None:
    for proto in _address_frames(address):
        with pytest.raises(WireError, match="address"):
            DIALECT.decode(proto.SerializeToString())


@pytest.mark.parametrize(
    ("address", "host", "port"),
    [("[::1]:80", "::1", 80), ("[fe80::1%eth0]:0", "fe80::1%eth0", 0), ("h:65535", "h", 65535)],
)
def test_good_address_strings(address: str, host: str, port: int) -> None:
    frames = [proto.SerializeToString() for proto in _address_frames(address)]
    assert DIALECT.decode(frames[0]) == Registration(host, port)
    for body in frames:
        assert split(DIALECT.encode(DIALECT.decode(body))) == body


BAD_ENCODES: list[tuple[Any, str]] = [
    (Registration("", 80), "host is empty"),
    (Registration("[::1]", 80), "brackets"),
    (Registration("1.2.3.4", 65536), "port"),
    (Registration("1.2.3.4", -1), "port"),
    (Deregistration("1.2.3.4", 1, 2**31), "Deregistration.node_id"),
    (RegistrationStatus(2**31, "x"), "RegistrationStatus.status"),
    (RegistrationStatus(-(2**31) - 1, "x"), "RegistrationStatus.status"),
    (RegistrationStatus(0, "\ud800"), "UTF-8"),
    (DeregistrationStatus(0, b"bytes"), "must be a string"),  # type: ignore[arg-type]
    (OverlaySetupStatus(1.5, ""), "must be a signed 32-bit"),  # type: ignore[arg-type]
    (TaskInitiate(-1), "TaskInitiate.packets"),
    (TaskInitiate(2**32), "TaskInitiate.packets"),
    (Data(2**31, 0, 0), "Data.destination"),
    (Data(0, 0, 0, hops=-1), "Data.hops"),
    (Data(0, 0, 0, trace=(1, 2**31)), r"Data.trace\[1\]"),
    (Data(True, 0, 0), "Data.destination"),
    (NodeManifest(entries=(PeerEntry(1, "h", 70000),), node_ids=()), "entry 0 address"),
    (NodeManifest(entries=(), node_ids=(1, -(2**31) - 1)), r"node_ids\[1\]"),
    (TaskFinished("h", 1, -(2**31) - 1), "TaskFinished.node_id"),
    (TrafficSummary(0, 2**32, 0, 0, 0, 0), "TrafficSummary.sent"),
    (TrafficSummary(0, 0, 0, 2**63, 0, 0), "TrafficSummary.sum_sent"),
    (ProgressRequest(-1), "ProgressRequest.interval_ms"),
    (ProgressReport(0, 0, 0, 0, 0, 0, dropped=2**32), "ProgressReport.dropped"),
    (object(), "not a message the minichord dialect can carry"),
]


@pytest.mark.parametrize(
    ("message", "match"),
    BAD_ENCODES,
    ids=[f"{i:02d}-{type(m).__name__}" for i, (m, _) in enumerate(BAD_ENCODES)],
)
def test_out_of_range_encode(message: Any, match: str) -> None:
    with pytest.raises(WireError, match=match) as info:
        DIALECT.encode(message)
    # Our words, not protobuf's.
    assert "Value out of range" not in str(info.value)


@pytest.mark.parametrize("args", [(2**31, 0, 0), (0, -(2**31) - 1, 0), (0, 0, 2**40), (0, "1", 0)])
def test_encode_data_out_of_range(args: tuple[Any, Any, Any]) -> None:
    with pytest.raises(WireError, match="signed 32-bit"):
        DIALECT.encode_data(*args)


def test_relay_out_of_range() -> None:
    body = split(DIALECT.encode_data(1, 2, 3))
    with pytest.raises(WireError, match="relay id"):
        DIALECT.relay(body, 2**31)
    full = split(DIALECT.encode(Data(1, 2, 3, trace=(4,), hops=2**32 - 1)))
    with pytest.raises(WireError, match="fixed32 maximum"):
        DIALECT.relay(full, 5)
    with pytest.raises(WireError, match="nodeData"):
        DIALECT.relay(split(DIALECT.encode(TaskInitiate(1))), 5)


@pytest.mark.parametrize("length", [0, 2**63, 2**64 - 1])
def test_framer_rejects_bad_lengths(length: int) -> None:
    with pytest.raises(WireError):
        DIALECT.framer().feed(length.to_bytes(8, "big") + b"\x7a\x00")
