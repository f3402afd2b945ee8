"""The classic cs455 dialect on bad input: only RemoteWireError for a peer's
bytes, LocalWireError for what we cannot encode."""

from __future__ import annotations

import contextlib
import struct
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wire_vectors import CS455_EXTRA_MESSAGES, load_vectors

from trio_dht.wire import LocalWireError, RemoteWireError, WireError
from trio_dht.wire.cs455 import Cs455Dialect
from trio_dht.wire.messages import (
    Data,
    Deregistration,
    DeregistrationStatus,
    Message,
    NodeManifest,
    OverlaySetupStatus,
    PeerEntry,
    ProgressReport,
    Registration,
    RegistrationStatus,
    TaskFinished,
    TaskInitiate,
    TrafficSummary,
)

DIALECT = Cs455Dialect()
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# The variants' frames too: whatever their layout, a cut or an extra byte is
# refused.
VECTORS = load_vectors("cs455.jsonl") + load_vectors("cs455-variants.jsonl")


def only_body(frame: bytes) -> bytes:
    (body,) = DIALECT.framer().feed(frame)
    return body


# --------------------------------------------------------------------------
# malformed input
# --------------------------------------------------------------------------

ALL_FRAMES: list[tuple[str, bytes]] = [
    (f"{index:03d}-{vector['message']}", bytes.fromhex(vector["frame_hex"]))
    for index, vector in enumerate(VECTORS)
] + [
    (f"extra-{type(m).__name__}-{i}", DIALECT.encode(m)) for i, m in enumerate(CS455_EXTRA_MESSAGES)
]


@pytest.mark.parametrize("type_number", [0, 1, 13, 99, 103, 128, 255])
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
            # The truncations that are frames of another layout: a task
            # finished without its last 4 bytes has the int-nr layout (no
            # port), and the first 3 bytes of an int-NR manifest of fewer
            # than 65536 entries are an empty byte-NR manifest.
            if isinstance(message, TaskFinished) and cut == len(body) - 4:
                assert message.port == 0
                assert DIALECT.detect_variant(body[:cut]) == "int-nr"
                continue
            if body[:3] == b"\x06\x00\x00" and cut == 3:
                assert message == NodeManifest(entries=(), node_ids=())
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
        if body[0] == 10:  # a task finished has two lengths
            assert "bytes follow the address" in str(caught.value), name
        elif body[0] != 9:  # in a data packet, extra bytes contradict the trace count
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
