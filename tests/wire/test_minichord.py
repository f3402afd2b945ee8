"""The minichord dialect: byte-exact against frames captured from the Go ports,
round-trips for every message type, and only WireError on bad input."""

from __future__ import annotations

from typing import Any

import attrs
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from wire_vectors import load_vectors

from trio_dht.wire import WireError
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
from trio_dht.wire.minichord import MinichordDialect

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
    statuses: dict[str, type[RegistrationStatus | DeregistrationStatus | OverlaySetupStatus]] = {
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
    LoadReport: st.builds(
        LoadReport,
        node_id=st.integers(0, 127),
        links=st.lists(
            st.builds(LinkLoad, node_id=st.integers(0, 127), packets=uint32), max_size=7
        ).map(tuple),
        relays=st.lists(uint32, max_size=128).map(tuple),
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
    LoadReport(0, (LinkLoad(0, 0),), (0, 0)),
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
