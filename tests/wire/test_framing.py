"""LengthPrefixFramer: bytes arrive in arbitrary chunks, whole bodies come out,
and a hostile length is refused before anything is buffered for it."""

from __future__ import annotations

import itertools
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trio_dht.wire import DEFAULT_MAX_FRAME, LengthPrefixFramer, WireError

INT_HEADER = struct.Struct(">i")  # cs455
LONG_HEADER = struct.Struct(">Q")  # minichord


def frame(body: bytes, header: struct.Struct = INT_HEADER) -> bytes:
    return header.pack(len(body)) + body


BODIES = [b"\x0b", b"\x02\x04\x7f\x00\x00\x01\x00\x00\x85\x71", bytes(range(200)), b"x" * 3]


@pytest.mark.parametrize("header", [INT_HEADER, LONG_HEADER], ids=["int32", "uint64"])
def test_one_byte_at_a_time(header: struct.Struct) -> None:
    framer = LengthPrefixFramer(header)
    stream = b"".join(frame(body, header) for body in BODIES)
    got: list[bytes] = []
    for index in range(len(stream)):
        got += framer.feed(stream[index : index + 1])
    assert got == BODIES
    assert framer.buffered == 0


@pytest.mark.parametrize("header", [INT_HEADER, LONG_HEADER], ids=["int32", "uint64"])
def test_many_frames_in_one_chunk(header: struct.Struct) -> None:
    framer = LengthPrefixFramer(header)
    many = BODIES * 50
    assert framer.feed(b"".join(frame(body, header) for body in many)) == many
    assert framer.buffered == 0


def test_split_header() -> None:
    framer = LengthPrefixFramer(INT_HEADER)
    data = frame(b"hello")
    assert framer.feed(data[:2]) == []
    assert framer.buffered == 2
    assert framer.feed(data[2:4]) == []
    assert framer.feed(data[4:]) == [b"hello"]
    assert framer.buffered == 0


def test_whole_frame_plus_partial_next() -> None:
    framer = LengthPrefixFramer(INT_HEADER)
    second = frame(b"second frame")
    assert framer.feed(frame(b"first") + second[:7]) == [b"first"]
    # The partial frame (header and three body bytes) is what remains.
    assert framer.buffered == 7
    assert framer.feed(second[7:]) == [b"second frame"]
    assert framer.buffered == 0


def test_accepts_bytearray_and_memoryview() -> None:
    framer = LengthPrefixFramer(INT_HEADER)
    data = frame(b"abc") + frame(b"de")
    assert framer.feed(bytearray(data[:5])) == []
    assert framer.feed(memoryview(data)[5:]) == [b"abc", b"de"]


def test_empty_feed_is_harmless() -> None:
    framer = LengthPrefixFramer(INT_HEADER)
    assert framer.feed(b"") == []
    assert framer.buffered == 0


def test_bodies_are_bytes() -> None:
    framer = LengthPrefixFramer(INT_HEADER)
    (body,) = framer.feed(frame(b"abc"))
    assert type(body) is bytes


@pytest.mark.parametrize(
    ("raw_header", "words"),
    [
        (INT_HEADER.pack(0), "0"),
        (INT_HEADER.pack(-1), "negative"),
        (INT_HEADER.pack(-(2**31)), "negative"),
        (INT_HEADER.pack(DEFAULT_MAX_FRAME + 1), "maximum"),
        (INT_HEADER.pack(2**31 - 1), "maximum"),
    ],
    ids=["zero", "minus-one", "int32-min", "max-plus-one", "int32-max"],
)
def test_bad_int32_lengths(raw_header: bytes, words: str) -> None:
    framer = LengthPrefixFramer(INT_HEADER)
    with pytest.raises(WireError, match=words):
        framer.feed(raw_header + b"\x09")


def test_huge_uint64_length_refused() -> None:
    framer = LengthPrefixFramer(LONG_HEADER)
    with pytest.raises(WireError, match="maximum"):
        framer.feed(LONG_HEADER.pack(2**63) + b"\x01\x02")


def test_zero_uint64_length_refused() -> None:
    with pytest.raises(WireError):
        LengthPrefixFramer(LONG_HEADER).feed(LONG_HEADER.pack(0))


def test_max_frame_is_inclusive() -> None:
    framer = LengthPrefixFramer(INT_HEADER, max_frame=8)
    assert framer.feed(frame(b"12345678")) == [b"12345678"]
    with pytest.raises(WireError):
        framer.feed(frame(b"123456789"))


def test_huge_claim_allocates_nothing() -> None:
    """Even when a framer is configured to allow a 2 GiB frame, a header
    claiming one buffers only what actually arrived."""
    framer = LengthPrefixFramer(INT_HEADER, max_frame=2**31 - 1)
    assert framer.feed(INT_HEADER.pack(2**31 - 1)) == []
    assert framer.buffered == 4
    assert framer.feed(b"\x09" * 100) == []
    assert framer.buffered == 104


def test_huge_claim_with_default_limit_fails_at_once() -> None:
    framer = LengthPrefixFramer(INT_HEADER)
    with pytest.raises(WireError):
        framer.feed(INT_HEADER.pack(2**31 - 1))
    assert framer.buffered <= INT_HEADER.size


@settings(max_examples=100, deadline=None)
@given(
    bodies=st.lists(st.binary(min_size=1, max_size=64), max_size=12),
    cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=20),
)
def test_any_chunking_yields_the_same_bodies(bodies: list[bytes], cuts: list[int]) -> None:
    stream = b"".join(frame(body) for body in bodies)
    points = sorted({min(cut, len(stream)) for cut in cuts} | {0, len(stream)})
    framer = LengthPrefixFramer(INT_HEADER)
    got: list[bytes] = []
    for start, stop in itertools.pairwise(points):
        got += framer.feed(stream[start:stop])
    assert got == bodies
    assert framer.buffered == 0
