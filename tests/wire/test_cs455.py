"""The classic cs455 dialect: byte-exact against frames captured from Java
implementations, round-trips over full value ranges, and nothing but
WireError for malformed input."""

from __future__ import annotations

import contextlib
import struct
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wire_vectors import CS455_MESSAGES, cs455_message, load_vectors

from trio_dht.wire import LocalWireError, RemoteWireError, WireError, get_dialect
from trio_dht.wire.cs455 import Cs455Dialect
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

DIALECT = Cs455Dialect()
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

# --------------------------------------------------------------------------
# captured vectors
# --------------------------------------------------------------------------

VECTORS = load_vectors("cs455.jsonl")


def vector_params(vectors: list[dict[str, Any]] = VECTORS) -> list[Any]:
    return [
        pytest.param(vector, id=f"{index:03d}-{vector['origin']}-{vector['message']}")
        for index, vector in enumerate(vectors)
    ]


def only_body(frame: bytes) -> bytes:
    (body,) = DIALECT.framer().feed(frame)
    return body


def test_vectors_cover_every_dialect_feature() -> None:
    assert {vector["dialect"] for vector in VECTORS} == {"cs455"}
    assert {vector["message"] for vector in VECTORS} <= set(CS455_MESSAGES)


@pytest.mark.parametrize("vector", vector_params())
def test_vector_decodes_and_reencodes_byte_for_byte(vector: dict[str, Any]) -> None:
    frame = bytes.fromhex(vector["frame_hex"])
    framer = DIALECT.framer()
    bodies = framer.feed(frame)
    assert len(bodies) == 1
    assert framer.buffered == 0
    message = DIALECT.decode(bodies[0])
    assert message == cs455_message(vector)
    assert DIALECT.encode(message) == frame
    assert DIALECT.encode(cs455_message(vector)) == frame


@pytest.mark.parametrize(
    "vector",
    vector_params([vector for vector in VECTORS if vector["message"] == "data"]),
)
def test_vector_data_fast_path(vector: dict[str, Any]) -> None:
    fields = vector["fields"]
    body = only_body(bytes.fromhex(vector["frame_hex"]))
    assert DIALECT.data_head(body) == (fields["destination"], fields["payload"])
    relayed = DIALECT.relay(body, 77)
    message = DIALECT.decode(only_body(relayed))
    assert message == Data(
        destination=fields["destination"],
        source=fields["source"],
        payload=fields["payload"],
        trace=(*fields["trace"], 77),
    )
    assert message.hops == len(fields["trace"]) + 1
    if not fields["trace"]:
        assert DIALECT.encode_data(
            fields["destination"], fields["source"], fields["payload"]
        ) == bytes.fromhex(vector["frame_hex"])


# --------------------------------------------------------------------------
# hand-built frames: message types and hosts the captures do not contain
# --------------------------------------------------------------------------

EXTRA_MESSAGES: list[Message] = [
    Registration(host="::1", port=0),
    Registration(host="2001:db8::ff00:42:8329", port=INT32_MAX),
    RegistrationStatus(status=-1, info="Registration request failed: duplicate node"),
    Deregistration(host="10.0.0.7", port=INT32_MIN, node_id=127),
    Deregistration(host="fe80::1", port=40000, node_id=0),
    DeregistrationStatus(status=-1, info=""),
    DeregistrationStatus(status=5, info="x" * 127),
    NodeManifest(entries=(), node_ids=()),
    NodeManifest(
        entries=(PeerEntry(node_id=3, host="::ffff:102:304", port=1), PeerEntry(1, "1.2.3.4", 2)),
        node_ids=(1, 3, 127),
    ),
    OverlaySetupStatus(status=9, info="ok [trio_dht:progress]"),
    TaskInitiate(packets=INT32_MIN),
    Data(destination=1, source=2, payload=INT32_MIN, trace=tuple(range(128))),
    TaskFinished(host="255.255.255.255", port=-1, node_id=-1),
    TrafficSummaryRequest(),
    TrafficSummary(
        node_id=1, sent=2, relayed=3, sum_sent=INT64_MIN, received=4, sum_received=INT64_MAX
    ),
    ProgressRequest(interval_ms=250),
    ProgressRequest(interval_ms=0),
    ProgressReport(
        node_id=1, sent=2, received=3, relayed=4, sum_sent=-5, sum_received=6, dropped=7
    ),
    ProgressReport(
        node_id=INT32_MAX,
        sent=INT32_MIN,
        received=0,
        relayed=0,
        sum_sent=INT64_MAX,
        sum_received=INT64_MIN,
    ),
]


@pytest.mark.parametrize("message", EXTRA_MESSAGES, ids=repr)
def test_extra_messages_round_trip(message: Message) -> None:
    assert DIALECT.decode(only_body(DIALECT.encode(message))) == message


def test_every_message_class_is_covered() -> None:
    classes = {type(message) for message in EXTRA_MESSAGES}
    assert classes == set(CORE_MESSAGES) | set(EXTENSION_MESSAGES)


@pytest.mark.parametrize(
    ("message", "size"),
    [
        (Registration(host="127.0.0.1", port=5000), 10),
        (TrafficSummary(1, 2, 3, 4, 5, 6), 33),
        (Data(1, 2, 3, trace=(4, 5)), 17 + 8),
        (ProgressRequest(100), 5),
        (ProgressReport(1, 2, 3, 4, 5, 6, 7), 37),
        (TrafficSummaryRequest(), 1),
        (
            NodeManifest(
                entries=tuple(PeerEntry(i, "127.0.0.1", 9000 + i) for i in range(3)),
                node_ids=tuple(range(10)),
            ),
            82,
        ),
    ],
    ids=repr,
)
def test_body_sizes_match_the_spec(message: Message, size: int) -> None:
    frame = DIALECT.encode(message)
    assert len(frame) == 4 + size
    assert struct.unpack(">i", frame[:4]) == (size,)


def test_layouts_of_the_specific_fields() -> None:
    # Type 12 puts relayed before sum_sent and received between the longs.
    assert DIALECT.encode(TrafficSummary(1, 2, 3, 4, 5, 6)) == struct.pack(
        ">iBiiiqiq", 33, 12, 1, 2, 3, 4, 5, 6
    )
    assert DIALECT.encode(ProgressReport(1, 2, 3, 4, 5, 6, 7)) == struct.pack(
        ">iBiiiiqqi", 37, 101, 1, 2, 3, 4, 5, 6, 7
    )
    assert DIALECT.encode(ProgressRequest(-1)) == bytes.fromhex("0000000564ffffffff")
    assert DIALECT.encode(Registration("::1", 1)) == (
        struct.pack(">iBB", 22, 2, 16) + bytes(15) + b"\x01" + struct.pack(">i", 1)
    )


def test_data_hops_is_ignored_on_encode_and_derived_on_decode() -> None:
    odd = Data(destination=1, source=2, payload=3, trace=(4,), hops=9)
    frame = DIALECT.encode(odd)
    assert frame == DIALECT.encode(Data(1, 2, 3, trace=(4,)))
    assert DIALECT.decode(only_body(frame)).hops == 1


def test_dialect_registration() -> None:
    dialect = get_dialect("cs455")
    assert isinstance(dialect, Cs455Dialect)
    assert dialect.name == "cs455"


def test_type_3_and_5_are_distinct_statuses() -> None:
    # Some registries answer a failed deregistration with type 3: the codec
    # reports what is on the wire and lets the service accept either.
    body3 = only_body(DIALECT.encode(RegistrationStatus(-1, "no")))
    body5 = only_body(DIALECT.encode(DeregistrationStatus(-1, "no")))
    assert body3[0] == 3 and body5[0] == 5
    assert DIALECT.decode(body3) == RegistrationStatus(-1, "no")
    assert DIALECT.decode(body5) == DeregistrationStatus(-1, "no")


# --------------------------------------------------------------------------
# property-based round trips
# --------------------------------------------------------------------------

int32 = st.integers(INT32_MIN, INT32_MAX)
int64 = st.integers(INT64_MIN, INT64_MAX)
hosts = st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)).map(str)
ascii_text = st.text(alphabet=st.characters(max_codepoint=127), max_size=127)
traces = st.lists(int32, max_size=128).map(tuple)
entries = st.builds(PeerEntry, node_id=int32, host=hosts, port=int32)

STRATEGIES: dict[type, st.SearchStrategy[Any]] = {
    Registration: st.builds(Registration, host=hosts, port=int32),
    RegistrationStatus: st.builds(RegistrationStatus, status=int32, info=ascii_text),
    Deregistration: st.builds(Deregistration, host=hosts, port=int32, node_id=int32),
    DeregistrationStatus: st.builds(DeregistrationStatus, status=int32, info=ascii_text),
    NodeManifest: st.builds(
        NodeManifest,
        entries=st.lists(entries, max_size=127).map(tuple),
        node_ids=st.lists(int32, max_size=127).map(tuple),
    ),
    OverlaySetupStatus: st.builds(OverlaySetupStatus, status=int32, info=ascii_text),
    TaskInitiate: st.builds(TaskInitiate, packets=int32),
    Data: st.builds(Data, destination=int32, source=int32, payload=int32, trace=traces),
    TaskFinished: st.builds(TaskFinished, host=hosts, port=int32, node_id=int32),
    TrafficSummaryRequest: st.just(TrafficSummaryRequest()),
    TrafficSummary: st.builds(
        TrafficSummary,
        node_id=int32,
        sent=int32,
        relayed=int32,
        sum_sent=int64,
        received=int32,
        sum_received=int64,
    ),
    ProgressRequest: st.builds(ProgressRequest, interval_ms=int32),
    ProgressReport: st.builds(
        ProgressReport,
        node_id=int32,
        sent=int32,
        received=int32,
        relayed=int32,
        sum_sent=int64,
        sum_received=int64,
        dropped=int32,
    ),
}


def test_strategies_cover_every_message_class() -> None:
    assert set(STRATEGIES) == set(CORE_MESSAGES) | set(EXTENSION_MESSAGES)


@pytest.mark.parametrize("cls", list(STRATEGIES), ids=lambda cls: cls.__name__)
def test_round_trip(cls: type) -> None:
    @settings(max_examples=60, deadline=None)
    @given(STRATEGIES[cls])
    def check(message: Message) -> None:
        frame = DIALECT.encode(message)
        assert DIALECT.decode(only_body(frame)) == message

    check()


@settings(max_examples=150, deadline=None)
@given(destination=int32, source=int32, payload=int32, trace=traces, relay_id=int32)
def test_data_fast_path_agrees_with_codec(
    destination: int, source: int, payload: int, trace: tuple[int, ...], relay_id: int
) -> None:
    frame = DIALECT.encode(Data(destination, source, payload, trace=trace))
    if not trace:
        assert DIALECT.encode_data(destination, source, payload) == frame
    body = only_body(frame)
    assert DIALECT.data_head(body) == (destination, payload)
    relayed = DIALECT.relay(body, relay_id)
    assert relayed == DIALECT.encode(Data(destination, source, payload, trace=(*trace, relay_id)))


def test_relay_chain() -> None:
    frame = DIALECT.encode_data(97, 3, -12345)
    for hop in (19, 60, 82):
        frame = DIALECT.relay(only_body(frame), hop)
    assert DIALECT.decode(only_body(frame)) == Data(97, 3, -12345, trace=(19, 60, 82))


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"\x09",
        bytes(17),  # type 0
        only_body(DIALECT.encode(TaskInitiate(5))),
        only_body(DIALECT.encode(Data(1, 2, 3)))[:-1],
        only_body(DIALECT.encode(Data(1, 2, 3))) + b"\x00",
        only_body(DIALECT.encode(Data(1, 2, 3, trace=(4,))))[:-4],
        struct.pack(">Biiii", 9, 1, 2, 3, -1),
        struct.pack(">Biiii", 9, 1, 2, 3, INT32_MAX),
        struct.pack(">Biiii", 9, 1, 2, 3, 1) + bytes(8),
    ],
    ids=[
        "empty",
        "type-only",
        "wrong-type",
        "task-initiate",
        "short",
        "trailing-byte",
        "missing-trace-id",
        "negative-count",
        "absurd-count",
        "count-too-small",
    ],
)
def test_data_head_refuses_anything_but_a_well_formed_packet(body: bytes) -> None:
    assert DIALECT.data_head(body) is None


# --------------------------------------------------------------------------
# malformed input
# --------------------------------------------------------------------------

ALL_FRAMES: list[tuple[str, bytes]] = [
    (f"{index:03d}-{vector['message']}", bytes.fromhex(vector["frame_hex"]))
    for index, vector in enumerate(VECTORS)
] + [(f"extra-{type(m).__name__}-{i}", DIALECT.encode(m)) for i, m in enumerate(EXTRA_MESSAGES)]


@pytest.mark.parametrize("type_number", [0, 1, 13, 99, 102, 128, 255])
def test_unknown_type(type_number: int) -> None:
    with pytest.raises(WireError, match=f"type {type_number}"):
        DIALECT.decode(bytes((type_number,)) + bytes(40))


def test_empty_body() -> None:
    with pytest.raises(WireError, match="empty"):
        DIALECT.decode(b"")


def test_every_truncation_raises_wire_error() -> None:
    for name, frame in ALL_FRAMES:
        body = only_body(frame)
        for cut in range(len(body)):
            try:
                message = DIALECT.decode(body[:cut])
            except RemoteWireError:
                continue
            # The one truncation that is a frame of its own: a task finished
            # without its last 4 bytes has the int-nr layout (no port).
            if isinstance(message, TaskFinished) and cut == len(body) - 4:
                assert message.port == 0
                assert DIALECT.detect_variant(body[:cut]) == "int-nr"
                continue
            pytest.fail(f"{name} cut to {cut} bytes decoded without error")


def test_truncation_says_what_is_missing() -> None:
    body = only_body(DIALECT.encode(TrafficSummary(1, 2, 3, 4, 5, 6)))
    with pytest.raises(WireError, match=r"truncated TrafficSummary: sum_received needs 8 bytes"):
        DIALECT.decode(body[:-3])


@pytest.mark.parametrize("extra", [1, 3, 8])
def test_trailing_bytes(extra: int) -> None:
    for name, frame in ALL_FRAMES:
        body = only_body(frame) + b"\x00" * extra
        if body == b"\x06" + bytes(5):
            # An empty manifest plus 3 zero bytes is the empty manifest of
            # the int-nr variant (a 4-byte NR of 0, then an id count of 0).
            assert DIALECT.decode(body) == NodeManifest(entries=(), node_ids=())
            assert DIALECT.detect_variant(body) == "int-nr"
            continue
        with pytest.raises(RemoteWireError) as caught:
            DIALECT.decode(body)
        if body[0] != 9:  # in a data packet, extra bytes contradict the trace count
            assert f"{extra} trailing byte" in str(caught.value), name


def test_absurd_counts_fail_fast() -> None:
    bodies = [
        struct.pack(">Biiii", 9, 1, 2, 3, INT32_MAX),
        struct.pack(">Biiii", 9, 1, 2, 3, INT32_MIN),
        struct.pack(">Biiii", 9, 1, 2, 3, -1),
        struct.pack(">Biiii", 9, 1, 2, 3, 2**29),  # 4 * count overflows int32
        bytes((6, 127)),  # 127 manifest entries, none present
        bytes((6, 0, 127)) + bytes(8),  # 127 ids claimed, 2 present
    ]
    start = time.perf_counter()
    for body in bodies:
        with pytest.raises(WireError):
            DIALECT.decode(body)
    assert time.perf_counter() - start < 0.5


@pytest.mark.parametrize("size", [0, 1, 5, 6, 15, 17, 127, 255])
def test_bad_ip_length(size: int) -> None:
    body = bytes((2, size)) + bytes(size) + struct.pack(">i", 1)
    with pytest.raises(WireError, match=f"length {size}"):
        DIALECT.decode(body)


def test_signed_byte_lengths_refused() -> None:
    # A Java reader sees 128..255 as negative.
    with pytest.raises(WireError, match="-128"):
        DIALECT.decode(bytes((3,)) + struct.pack(">i", 1) + bytes((128,)) + b"a" * 128)
    with pytest.raises(WireError):
        DIALECT.decode(bytes((6, 200)) + bytes(200 * 13))
    with pytest.raises(WireError):
        DIALECT.decode(bytes((6, 0, 128)) + bytes(128 * 4))


def test_non_ascii_string_refused() -> None:
    body = bytes((7,)) + struct.pack(">i", 1) + bytes((3,)) + "é!".encode()
    with pytest.raises(WireError, match="non-ASCII"):
        DIALECT.decode(body)


# --------------------------------------------------------------------------
# what cannot be encoded
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "words"),
    [
        (RegistrationStatus(1, "x" * 128), "128 characters"),
        (OverlaySetupStatus(1, "caf\u00e9"), "non-ASCII"),
        (DeregistrationStatus(1, "\u2603"), "non-ASCII"),
        (NodeManifest(entries=(), node_ids=tuple(range(128))), "128-node overlay"),
        (
            NodeManifest(
                entries=tuple(PeerEntry(i, "1.1.1.1", 1) for i in range(128)), node_ids=()
            ),
            "128-node overlay",
        ),
        (Registration("127.0.0.1", INT32_MAX + 1), "port"),
        (Registration("127.0.0.1", INT32_MIN - 1), "port"),
        (TaskInitiate(2**40), "packets"),
        (TrafficSummary(1, 2, 3, INT64_MAX + 1, 5, 6), "sum_sent"),
        (ProgressReport(1, 2, 3, 4, 5, INT64_MIN - 1), "sum_received"),
        (ProgressReport(1, 2, 3, 4, 5, 6, dropped=2**31), "dropped"),
        (Data(1, 2, 3, trace=(1, 2**31)), r"trace\[1\]"),
        (Registration("localhost", 1), "not an IP literal"),
        (TaskFinished("example.org", 1, 2), "not an IP literal"),
        (Deregistration("fe80::1%eth0", 1, 2), "scope"),
        (Registration("127.0.0.1", "80"), "must be an int"),  # type: ignore[arg-type]
    ],
    ids=repr,
)
def test_encode_refuses(message: Message, words: str) -> None:
    with pytest.raises(WireError, match=words):
        DIALECT.encode(message)


def test_fast_path_refuses_out_of_range() -> None:
    with pytest.raises(WireError):
        DIALECT.encode_data(INT32_MAX + 1, 0, 0)
    with pytest.raises(WireError):
        DIALECT.relay(only_body(DIALECT.encode_data(1, 2, 3)), -(2**40))


def test_encode_refuses_non_messages() -> None:
    with pytest.raises(LocalWireError):
        DIALECT.encode("hello")  # type: ignore[arg-type]


# --------------------------------------------------------------------------
# fuzzing: whatever arrives, only WireError escapes
# --------------------------------------------------------------------------


def decode_stream(data: bytes) -> None:
    framer = DIALECT.framer()
    for body in framer.feed(data):
        DIALECT.decode(body)
        DIALECT.data_head(body)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_only_raise_wire_error(data: bytes) -> None:
    with contextlib.suppress(WireError):
        decode_stream(data)


@settings(max_examples=300, deadline=None)
@given(
    type_number=st.sampled_from([2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 100, 101]),
    rest=st.binary(max_size=200),
)
def test_random_bodies_of_known_types_only_raise_wire_error(type_number: int, rest: bytes) -> None:
    body = bytes((type_number,)) + rest
    with contextlib.suppress(WireError):
        DIALECT.decode(body)
    head = DIALECT.data_head(body)
    if head is not None:
        assert DIALECT.decode(body).destination == head[0]  # type: ignore[union-attr]


@settings(max_examples=300, deadline=None)
@given(
    frame=st.sampled_from([frame for _, frame in ALL_FRAMES]),
    position=st.integers(min_value=4),
    value=st.integers(0, 255),
)
def test_mutated_frames_only_raise_wire_error(frame: bytes, position: int, value: int) -> None:
    mutated = bytearray(frame)
    mutated[4 + position % (len(frame) - 4)] = value
    with contextlib.suppress(WireError):
        decode_stream(bytes(mutated))
