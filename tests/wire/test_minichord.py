"""The minichord dialect: byte-exact against frames captured from the Go ports,
round-trips for every message type, and only WireError on bad input."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import attrs
import pytest
from google.protobuf.descriptor import FieldDescriptor
from hypothesis import example, given
from hypothesis import strategies as st
from wire_vectors import load_vectors

from trio_dht.wire import WireError, get_dialect
from trio_dht.wire import minichord_pb2 as pb
from trio_dht.wire.messages import (
    CORE_MESSAGES,
    EXTENSION_MESSAGES,
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
from trio_dht.wire.minichord import MinichordDialect

REPO = Path(__file__).resolve().parents[2]
DIALECT = MinichordDialect()

INT32 = (-(2**31), 2**31 - 1)
UINT32 = (0, 2**32 - 1)
INT64 = (-(2**63), 2**63 - 1)


def split(frame: bytes) -> bytes:
    """The one body in ``frame``, through the dialect's own framer."""
    bodies = DIALECT.framer().feed(frame)
    assert len(bodies) == 1
    return bodies[0]


# --- captured vectors ---------------------------------------------------------


def _vector_params() -> list[Any]:
    vectors = load_vectors("minichord.jsonl")
    return [
        pytest.param(v, id=f"{i:03d}-{v['origin']}-{v['message']}") for i, v in enumerate(vectors)
    ]


VECTORS = _vector_params()


def _address(text: str) -> tuple[str, int]:
    # Independent of the module under test: the captured addresses are IPv4.
    host, _, port = text.rpartition(":")
    return host, int(port)


def expected_message(kind: str, f: dict[str, Any]) -> Message:
    """The message a vector's decoded fields describe (absent = zero/empty)."""
    if kind == "registration":
        return Registration(*_address(f["address"]))
    if kind in ("deregistration", "task_finished"):
        cls = Deregistration if kind == "deregistration" else TaskFinished
        return cls(*_address(f["address"]), node_id=f.get("node_id", 0))
    statuses = {
        "registration_status": RegistrationStatus,
        "deregistration_status": DeregistrationStatus,
        "overlay_setup_status": OverlaySetupStatus,
    }
    if kind in statuses:
        return statuses[kind](status=f.get("result", 0), info=f.get("info", ""))
    if kind == "node_manifest":
        peers = f.get("peers", [])
        ids = f.get("ids", [])
        # The vectors are self-consistent; the dialect relies on it.
        assert f.get("nr", 0) == len(peers)
        assert f.get("no_ids", 0) == len(ids)
        entries = tuple(PeerEntry(p.get("node_id", 0), *_address(p["address"])) for p in peers)
        return NodeManifest(entries=entries, node_ids=tuple(ids))
    if kind == "task_initiate":
        return TaskInitiate(packets=f.get("packets", 0))
    if kind == "data":
        return Data(
            destination=f.get("destination", 0),
            source=f.get("source", 0),
            payload=f.get("payload", 0),
            trace=tuple(f.get("trace", [])),
            hops=f.get("hops", 0),
        )
    if kind == "traffic_summary_request":
        return TrafficSummaryRequest()
    if kind == "traffic_summary":
        return TrafficSummary(
            node_id=f.get("node_id", 0),
            sent=f.get("sent", 0),
            relayed=f.get("relayed", 0),
            sum_sent=f.get("total_sent", 0),
            received=f.get("received", 0),
            sum_received=f.get("total_received", 0),
        )
    raise AssertionError(f"vector message kind {kind!r} unknown to this test")


@pytest.mark.parametrize("vector", VECTORS)
def test_vector(vector: dict[str, Any]) -> None:
    frame = bytes.fromhex(vector["frame_hex"])
    body = split(frame)
    # Also one byte at a time: a short read must never look like a frame.
    framer = DIALECT.framer()
    pieces = [framer.feed(frame[i : i + 1]) for i in range(len(frame))]
    assert [b for got in pieces for b in got] == [body]

    expected = expected_message(vector["message"], vector["fields"])
    assert DIALECT.decode(body) == expected
    assert DIALECT.encode(expected) == frame

    if isinstance(expected, Data):
        assert DIALECT.data_head(body) == (expected.destination, expected.payload)
        relayed = DIALECT.decode(split(DIALECT.relay(body, 77)))
        assert relayed == attrs.evolve(
            expected, trace=(*expected.trace, 77), hops=expected.hops + 1
        )
    else:
        assert DIALECT.data_head(body) is None


@pytest.mark.parametrize("vector", VECTORS)
def test_truncated_vector_bodies(vector: dict[str, Any]) -> None:
    body = split(bytes.fromhex(vector["frame_hex"]))
    for cut in range(len(body)):
        piece = body[:cut]
        # A prefix may happen to parse as a valid (different) message; all
        # that is required is that nothing but WireError escapes.
        try:
            DIALECT.decode(piece)
        except WireError:
            pass
        head = DIALECT.data_head(piece)
        assert head is None or isinstance(head, tuple)
        try:
            DIALECT.relay(piece, 1)
        except WireError:
            pass
    with pytest.raises(WireError):
        DIALECT.decode(b"")


# --- schema ------------------------------------------------------------------

_TYPE_NAMES = {
    FieldDescriptor.TYPE_STRING: "string",
    FieldDescriptor.TYPE_SFIXED32: "sfixed32",
    FieldDescriptor.TYPE_FIXED32: "fixed32",
    FieldDescriptor.TYPE_SFIXED64: "sfixed64",
    FieldDescriptor.TYPE_MESSAGE: "message",
}

# WIRE-MINICHORD.md's tables plus the two trio_dht extensions.
SCHEMA: dict[str, dict[str, tuple[int, str]]] = {
    "MiniChord": {
        "registration": (17, "Registration"),
        "registrationResponse": (18, "RegistrationResponse"),
        "deregistration": (19, "Deregistration"),
        "deregistrationResponse": (20, "DeregistrationResponse"),
        "nodeRegistry": (21, "NodeRegistry"),
        "nodeRegistryResponse": (22, "NodeRegistryResponse"),
        "initiateTask": (23, "InitiateTask"),
        "nodeData": (15, "NodeData"),
        "taskFinished": (24, "TaskFinished"),
        "requestTrafficSummary": (25, "RequestTrafficSummary"),
        "reportTrafficSummary": (26, "TrafficSummary"),
        "progressRequest": (100, "ProgressRequest"),
        "progressReport": (101, "ProgressReport"),
    },
    "Registration": {"Address": (1, "string")},
    "RegistrationResponse": {"Result": (2, "sfixed32"), "Info": (3, "string")},
    "Deregistration": {"Address": (1, "string"), "Id": (2, "sfixed32")},
    "DeregistrationResponse": {"Result": (2, "sfixed32"), "Info": (3, "string")},
    "NodeRegistry": {
        "NR": (4, "fixed32"),
        "Peers": (5, "repeated Deregistration"),
        "Ids": (6, "repeated sfixed32"),
        "NoIds": (7, "fixed32"),
    },
    "NodeRegistryResponse": {"Result": (2, "sfixed32"), "Info": (3, "string")},
    "InitiateTask": {"Packets": (13, "fixed32")},
    "NodeData": {
        "Destination": (1, "sfixed32"),
        "Source": (2, "sfixed32"),
        "Payload": (3, "sfixed32"),
        "Hops": (4, "fixed32"),
        "Trace": (5, "repeated sfixed32"),
    },
    "TaskFinished": {"Address": (1, "string"), "Id": (2, "sfixed32")},
    "RequestTrafficSummary": {},
    "TrafficSummary": {
        "Id": (2, "sfixed32"),
        "Sent": (11, "fixed32"),
        "Relayed": (12, "fixed32"),
        "Received": (13, "fixed32"),
        "TotalSent": (14, "sfixed64"),
        "TotalReceived": (15, "sfixed64"),
    },
    "ProgressRequest": {"IntervalMs": (1, "fixed32")},
    "ProgressReport": {
        "Id": (1, "sfixed32"),
        "Sent": (2, "fixed32"),
        "Received": (3, "fixed32"),
        "Relayed": (4, "fixed32"),
        "TotalSent": (5, "sfixed64"),
        "TotalReceived": (6, "sfixed64"),
        "Dropped": (7, "fixed32"),
    },
}


def _describe(field: FieldDescriptor) -> str:
    kind = field.message_type.name if field.message_type else _TYPE_NAMES[field.type]
    # Descriptor label API differs across protobuf versions; is_repeated is
    # the current one, label the older.
    repeated = getattr(field, "is_repeated", None)
    if repeated is None:
        repeated = field.label == FieldDescriptor.LABEL_REPEATED
    if field.containing_oneof is None and repeated:
        return f"repeated {kind}"
    return kind


def test_schema_matches_spec() -> None:
    got = {
        name: {f.name: (f.number, _describe(f)) for f in desc.fields}
        for name, desc in pb.DESCRIPTOR.message_types_by_name.items()
    }
    assert got == SCHEMA
    oneof = pb.MiniChord.DESCRIPTOR.oneofs_by_name["message"]
    assert {f.name for f in oneof.fields} == set(SCHEMA["MiniChord"])
    # Packed repeated scalars, as the Go ports send them (proto3 default).
    assert pb.NodeData(Trace=[1, 2]).SerializeToString() == bytes.fromhex("2a080100000002000000")


def test_get_dialect() -> None:
    dialect = get_dialect("minichord")
    assert isinstance(dialect, MinichordDialect)
    assert dialect.name == "minichord"


# --- round trips ---------------------------------------------------------------

int32 = st.integers(*INT32)
uint32 = st.integers(*UINT32)
int64 = st.integers(*INT64)
ports = st.integers(0, 65535)
hosts = st.one_of(
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(str),
    st.sampled_from(["localhost", "node-1.example"]),
)
texts = st.text(max_size=200)

STRATEGIES: dict[type, st.SearchStrategy[Any]] = {
    Registration: st.builds(Registration, host=hosts, port=ports),
    RegistrationStatus: st.builds(RegistrationStatus, status=int32, info=texts),
    Deregistration: st.builds(Deregistration, host=hosts, port=ports, node_id=int32),
    DeregistrationStatus: st.builds(DeregistrationStatus, status=int32, info=texts),
    NodeManifest: st.builds(
        NodeManifest,
        entries=st.lists(
            st.builds(PeerEntry, node_id=int32, host=hosts, port=ports), max_size=8
        ).map(tuple),
        node_ids=st.lists(int32, max_size=130).map(tuple),
    ),
    OverlaySetupStatus: st.builds(OverlaySetupStatus, status=int32, info=texts),
    TaskInitiate: st.builds(TaskInitiate, packets=uint32),
    Data: st.builds(
        Data,
        destination=int32,
        source=int32,
        payload=int32,
        trace=st.lists(int32, max_size=130).map(tuple),
        hops=uint32,
    ),
    TaskFinished: st.builds(TaskFinished, host=hosts, port=ports, node_id=int32),
    TrafficSummaryRequest: st.just(TrafficSummaryRequest()),
    TrafficSummary: st.builds(
        TrafficSummary,
        node_id=int32,
        sent=uint32,
        relayed=uint32,
        sum_sent=int64,
        received=uint32,
        sum_received=int64,
    ),
    ProgressRequest: st.builds(ProgressRequest, interval_ms=uint32),
    ProgressReport: st.builds(
        ProgressReport,
        node_id=int32,
        sent=uint32,
        received=uint32,
        relayed=uint32,
        sum_sent=int64,
        sum_received=int64,
        dropped=uint32,
    ),
}

# proto3 leaves zero values off the wire; they must still come back.
ZERO_MESSAGES: list[Message] = [
    Registration("0.0.0.0", 0),
    RegistrationStatus(0, ""),
    Deregistration("::", 0, 0),
    DeregistrationStatus(0, ""),
    NodeManifest(entries=(), node_ids=()),
    NodeManifest(entries=(PeerEntry(0, "1.2.3.4", 0),), node_ids=(0,)),
    OverlaySetupStatus(0, ""),
    TaskInitiate(0),
    Data(0, 0, 0),
    Data(0, 0, 0, trace=(0, 0), hops=0),
    TaskFinished("::1", 0, 0),
    TrafficSummaryRequest(),
    TrafficSummary(0, 0, 0, 0, 0, 0),
    ProgressRequest(0),
    ProgressReport(0, 0, 0, 0, 0, 0, 0),
]


def test_strategies_cover_every_message_type() -> None:
    assert set(STRATEGIES) == set(CORE_MESSAGES) | set(EXTENSION_MESSAGES)
    assert {type(m) for m in ZERO_MESSAGES} == set(STRATEGIES)


def _round_trip(message: Message) -> None:
    frame = DIALECT.encode(message)
    body = split(frame)
    assert len(frame) == 8 + len(body)
    decoded = DIALECT.decode(body)
    assert decoded == message
    assert DIALECT.encode(decoded) == frame


@pytest.mark.parametrize("message", ZERO_MESSAGES, ids=lambda m: type(m).__name__)
def test_zero_values_round_trip(message: Message) -> None:
    _round_trip(message)


@pytest.mark.parametrize("cls", list(STRATEGIES), ids=lambda c: c.__name__)
def test_round_trip(cls: type) -> None:
    @given(STRATEGIES[cls])
    def check(message: Message) -> None:
        _round_trip(message)

    check()


@given(int32, int32, int32, st.lists(int32, max_size=20))
@example(0, 0, 0, [])
@example(INT32[0], INT32[1], -1, [0])
def test_data_path(destination: int, source: int, payload: int, relays: list[int]) -> None:
    frame = DIALECT.encode_data(destination, source, payload)
    assert frame == DIALECT.encode(Data(destination, source, payload))
    body = split(frame)
    for count, relay_id in enumerate(relays, start=1):
        assert DIALECT.data_head(body) == (destination, payload)
        body = split(DIALECT.relay(body, relay_id))
        assert DIALECT.decode(body) == Data(
            destination, source, payload, trace=tuple(relays[:count]), hops=count
        )
    assert DIALECT.data_head(body) == (destination, payload)


def test_relay_keeps_foreign_hops() -> None:
    # go-b leaves Hops at 0, go-a counts the source in the trace: each keeps
    # its own convention, plus one for our hop.
    body = split(DIALECT.encode(Data(5, 7, 9, trace=(7, 3), hops=0)))
    assert DIALECT.decode(split(DIALECT.relay(body, 4))) == Data(5, 7, 9, trace=(7, 3, 4), hops=1)


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
    [b"", bytes.fromhex("d80105"), bytes.fromhex("b20600")],
    ids=["empty", "unknown-varint-field", "unknown-member-102"],
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
    (DeregistrationStatus(0, b"bytes"), "must be a string"),
    (OverlaySetupStatus(1.5, ""), "must be a signed 32-bit"),
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


# --- generated code --------------------------------------------------------------


def test_generator_reproduces_committed_files(tmp_path: Path) -> None:
    if importlib.util.find_spec("grpc_tools") is None:
        pytest.skip("grpc_tools is not installed (pip install grpcio-tools) to regenerate with")
    subprocess.run(
        [sys.executable, str(REPO / "tools" / "gen_minichord.py"), "--out", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    for name in ("minichord_pb2.py", "minichord_pb2.pyi"):
        committed = (REPO / "trio_dht" / "wire" / name).read_bytes()
        fresh = (tmp_path / name).read_bytes()
        if fresh != committed and name.endswith(".py"):
            version = re.compile(rb"^# Protobuf Python Version: (\S+)$", re.MULTILINE)
            ours, theirs = version.search(committed), version.search(fresh)
            if ours and theirs and ours.group(1) != theirs.group(1):
                pytest.skip(
                    f"installed grpcio-tools generates protobuf {theirs.group(1).decode()} code;"
                    f" the committed file is {ours.group(1).decode()}: compare with that version"
                )
        assert fresh == committed, f"{name} is stale: run tools/gen_minichord.py and commit"
