"""The classic cs455 dialect: byte-exact against frames captured from Java
implementations, round-trips over full value ranges, and nothing but
WireError for malformed input."""

from __future__ import annotations

import struct
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wire_vectors import CS455_EXTRA_MESSAGES, CS455_MESSAGES, cs455_message, load_vectors

from trio_dht.wire import get_dialect
from trio_dht.wire.cs455 import Cs455Dialect
from trio_dht.wire.messages import (
    CORE_MESSAGES,
    EXTENSION_MESSAGES,
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


@pytest.mark.parametrize("message", CS455_EXTRA_MESSAGES, ids=repr)
def test_extra_messages_round_trip(message: Message) -> None:
    assert DIALECT.decode(only_body(DIALECT.encode(message))) == message


def test_every_message_class_is_covered() -> None:
    classes = {type(message) for message in CS455_EXTRA_MESSAGES}
    assert classes == set(CORE_MESSAGES) | set(EXTENSION_MESSAGES)


@pytest.mark.parametrize(
    ("message", "size"),
    [
        (Registration(host="127.0.0.1", port=5000), 10),
        (TrafficSummary(1, 2, 3, 4, 5, 6), 33),
        (Data(1, 2, 3, trace=(4, 5)), 17 + 8),
        (ProgressRequest(100), 5),
        (ProgressReport(1, 2, 3, 4, 5, 6, 7), 37),
        (LoadReport(1, (LinkLoad(2, 3),), (4, 5)), 1 + 4 + 4 + 8 + 4 + 8),
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
    assert DIALECT.encode(LoadReport(9, (LinkLoad(10, 11), LinkLoad(13, 0)), (6, 7, 8))) == (
        struct.pack(">iBiiiiiiiiii", 41, 102, 9, 2, 10, 11, 13, 0, 3, 6, 7, 8)
    )
    assert DIALECT.encode(Registration("::1", 1)) == (
        struct.pack(">iBB", 22, 2, 16) + bytes(15) + b"\x01" + struct.pack(">i", 1)
    )


def test_data_hops_is_ignored_on_encode_and_derived_on_decode() -> None:
    odd = Data(destination=1, source=2, payload=3, trace=(4,), hops=9)
    frame = DIALECT.encode(odd)
    assert frame == DIALECT.encode(Data(1, 2, 3, trace=(4,)))
    decoded = DIALECT.decode(only_body(frame))
    assert isinstance(decoded, Data)
    assert decoded.hops == 1


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
    LoadReport: st.builds(
        LoadReport,
        node_id=st.integers(0, 127),
        links=st.lists(
            st.builds(LinkLoad, node_id=st.integers(0, 127), packets=st.integers(0, INT32_MAX)),
            max_size=7,
        ).map(tuple),
        relays=st.lists(st.integers(0, INT32_MAX), max_size=128).map(tuple),
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
