"""Frame limits per message type (issue 11): a framer refuses a frame longer
than its type can legitimately be as soon as the type is known, and one longer
than any type from the length prefix alone -- before buffering the body --
while the largest legitimate frame of every type still decodes."""

from __future__ import annotations

import itertools
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wire_vectors import CS455_EXTRA_MESSAGES

from trio_dht.wire import (
    DEFAULT_MAX_FRAME,
    DIALECT_NAMES,
    Dialect,
    RemoteWireError,
    get_dialect,
)
from trio_dht.wire.messages import (
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
from trio_dht.wire.minichord import LARGEST, member_tag

CS455 = get_dialect("cs455")
MINICHORD = get_dialect("minichord")
DIALECTS = [get_dialect(name) for name in DIALECT_NAMES]

# The longest address text the cs455 reader takes (IPv6 with an IPv4 tail).
LONG_V6 = "0000:0000:0000:0000:0000:ffff:255.255.255.255"
LONG_V6_HOST = "::ffff:ffff:ffff"
INT = struct.Struct(">i")


def text_ip(text: str = LONG_V6) -> bytes:
    return bytes((len(text),)) + text.encode()


# The largest legitimate cs455 body of each type, written by hand (the text
# form of the longest address is one our encoder never writes), with the
# message it decodes to.
CS455_LARGEST: dict[int, tuple[bytes, Message]] = {
    2: (b"\x02" + text_ip() + INT.pack(-1), Registration(LONG_V6_HOST, -1)),
    3: (b"\x03" + INT.pack(-1) + b"\x7f" + b"i" * 127, RegistrationStatus(-1, "i" * 127)),
    4: (
        b"\x04" + text_ip() + INT.pack(1) + INT.pack(2),
        Deregistration(LONG_V6_HOST, 1, 2),
    ),
    5: (b"\x05" + INT.pack(-1) + b"\x7f" + b"i" * 127, DeregistrationStatus(-1, "i" * 127)),
    6: (
        b"\x06"
        + INT.pack(128)
        + (INT.pack(5) + text_ip() + INT.pack(6)) * 128
        + b"\x7f"
        + INT.pack(9) * 127,
        NodeManifest((PeerEntry(5, LONG_V6_HOST, 6),) * 128, (9,) * 127),
    ),
    7: (b"\x07" + INT.pack(-1) + b"\x7f" + b"i" * 127, OverlaySetupStatus(-1, "i" * 127)),
    8: (b"\x08" + INT.pack(7), TaskInitiate(7)),
    9: (
        b"\x09" + INT.pack(1) + INT.pack(2) + INT.pack(3) + INT.pack(128) + INT.pack(4) * 128,
        Data(1, 2, 3, trace=(4,) * 128),
    ),
    10: (
        b"\x0a" + text_ip() + INT.pack(1) + INT.pack(2),
        TaskFinished(LONG_V6_HOST, 1, 2),
    ),
    11: (b"\x0b", TrafficSummaryRequest()),
    12: (CS455.encode(TrafficSummary(1, 2, 3, 4, 5, 6))[4:], TrafficSummary(1, 2, 3, 4, 5, 6)),
    100: (b"\x64" + INT.pack(9), ProgressRequest(9)),
    101: (
        CS455.encode(ProgressReport(1, 2, 3, 4, 5, 6, 7))[4:],
        ProgressReport(1, 2, 3, 4, 5, 6, 7),
    ),
    102: (
        b"\x66"
        + INT.pack(127)
        + INT.pack(7)
        + (INT.pack(126) + INT.pack(0x7FFFFFFF)) * 7
        + INT.pack(128)
        + INT.pack(0x7FFFFFFF) * 128,
        LoadReport(127, (LinkLoad(126, 0x7FFFFFFF),) * 7, (0x7FFFFFFF,) * 128),
    ),
}


def cs455_cases() -> list[tuple[bytes, int]]:
    return [(bytes((number,)), len(body)) for number, (body, _) in CS455_LARGEST.items()]


def minichord_cases() -> list[tuple[bytes, int]]:
    return [
        (member_tag(member), len(MINICHORD.encode(message)) - 8)
        for member, message in LARGEST.items()
    ]


TYPE_CASES = [
    pytest.param(dialect, tag, limit, id=f"{dialect.name}-{tag.hex()}")
    for dialect, cases in ((CS455, cs455_cases()), (MINICHORD, minichord_cases()))
    for tag, limit in cases
]


def test_every_type_is_covered() -> None:
    assert len(CS455_LARGEST) == 14
    assert len(LARGEST) == 14


@pytest.mark.parametrize(("dialect", "tag", "limit"), TYPE_CASES)
def test_one_byte_over_a_types_limit_is_refused_from_prefix_and_tag(
    dialect: Dialect, tag: bytes, limit: int
) -> None:
    framer = dialect.framer()
    with pytest.raises(RemoteWireError) as caught:
        framer.feed(dialect.length_prefix.pack(limit + 1) + tag)
    words = str(caught.value)
    if limit == dialect.max_body:
        # The longest type: refused from the prefix already.
        assert f"frame length {limit + 1} exceeds the maximum of {limit} bytes" in words
    else:
        assert f"announces {limit + 1} bytes" in words
        assert f"is {limit} bytes" in words
        assert dialect.frame_limits.type_name(tag) in words


@pytest.mark.parametrize(("dialect", "tag", "limit"), TYPE_CASES)
def test_a_types_limit_itself_is_accepted(dialect: Dialect, tag: bytes, limit: int) -> None:
    framer = dialect.framer()
    got = framer.feed(dialect.length_prefix.pack(limit) + tag)
    if limit == len(tag):  # a body of the tag alone: already whole
        assert got == [tag]
    else:
        assert got == []
        assert framer.buffered == dialect.length_prefix.size + len(tag)


@pytest.mark.parametrize(("dialect", "tag", "limit"), TYPE_CASES)
def test_the_tag_arriving_byte_by_byte(dialect: Dialect, tag: bytes, limit: int) -> None:
    framer = dialect.framer()
    data = dialect.length_prefix.pack(limit + 1) + tag
    with pytest.raises(RemoteWireError):
        for index in range(len(data)):
            assert framer.feed(data[index : index + 1]) == []
            # Never more than the prefix and the tag held meanwhile.
            assert framer.buffered <= len(data)


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
def test_over_every_limit_is_refused_from_the_prefix_alone(dialect: Dialect) -> None:
    framer = dialect.framer()
    with pytest.raises(RemoteWireError, match=f"maximum of {dialect.max_body} bytes"):
        framer.feed(dialect.length_prefix.pack(dialect.max_body + 1))


def test_the_overall_limits() -> None:
    assert CS455.max_body == len(CS455_LARGEST[6][0]) == 7426
    assert MINICHORD.max_body == max(limit for _, limit in minichord_cases())
    # Far below the old 1 MiB: per connection, a reader holds at most this.
    assert MINICHORD.max_body < 40_000


@pytest.mark.parametrize("number", list(CS455_LARGEST))
def test_the_largest_cs455_frame_of_each_type_decodes(number: int) -> None:
    body, message = CS455_LARGEST[number]
    frame = INT.pack(len(body)) + body
    # Also one byte at a time.
    framer = CS455.framer()
    got = [b for i in range(len(frame)) for b in framer.feed(frame[i : i + 1])]
    assert got == [body]
    assert CS455.decode(body) == message


@pytest.mark.parametrize("member", list(LARGEST))
def test_the_largest_minichord_frame_of_each_type_decodes(member: str) -> None:
    message = LARGEST[member]
    frame = MINICHORD.encode(message)
    framer = MINICHORD.framer()
    got = [b for i in range(len(frame)) for b in framer.feed(frame[i : i + 1])]
    assert got == [frame[8:]]
    assert MINICHORD.decode(frame[8:]) == message


def test_cs455_encoder_reaches_its_own_limits() -> None:
    # What we send fits what we accept, in every variant.
    big = NodeManifest((PeerEntry(5, "1:2:3:4:5:6:7:8", 6),) * 127, (1,) * 127)
    for variant in CS455.variants:
        frame = CS455.with_variant(variant).encode(big)
        assert len(frame) - 4 <= CS455.max_body
        assert CS455.framer().feed(frame)


def test_an_ambiguous_first_byte_waits_for_the_whole_tag() -> None:
    # 0xa2 starts both deregistrationResponse (0xa2 0x01, up to 1036 bytes)
    # and progressRequest (0xa2 0x06, 8 bytes).
    framer = MINICHORD.framer()
    assert framer.feed(MINICHORD.length_prefix.pack(500) + b"\xa2") == []
    with pytest.raises(RemoteWireError, match="progressRequest"):
        framer.feed(b"\x06")
    framer = MINICHORD.framer()
    assert framer.feed(MINICHORD.length_prefix.pack(500) + b"\xa2\x01") == []


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
def test_unknown_types_may_reach_max_body_and_the_decoder_refuses_them(dialect: Dialect) -> None:
    body = b"\xf0" * dialect.max_body
    (got,) = dialect.framer().feed(dialect.length_prefix.pack(len(body)) + body)
    with pytest.raises(RemoteWireError):
        dialect.decode(got)


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
def test_max_frame_can_only_lower_the_limit(dialect: Dialect) -> None:
    assert dialect.framer().max_frame == dialect.max_body
    assert dialect.framer(None).max_frame == dialect.max_body
    assert dialect.framer(DEFAULT_MAX_FRAME).max_frame == dialect.max_body
    assert dialect.framer(64).max_frame == 64
    with pytest.raises(RemoteWireError, match="maximum of 64 bytes"):
        dialect.framer(64).feed(dialect.length_prefix.pack(65))


def test_a_long_data_frame_split_over_chunks_still_counts_its_type() -> None:
    # The prefix in one chunk, the type byte in the next.
    framer = CS455.framer()
    assert framer.feed(INT.pack(530)) == []
    with pytest.raises(RemoteWireError, match="Data"):
        framer.feed(b"\x09")


def test_frames_after_a_refused_type_are_not_reached() -> None:
    framer = CS455.framer()
    good = CS455.encode(TaskInitiate(1))
    with pytest.raises(RemoteWireError, match="TaskInitiate"):
        framer.feed(good + INT.pack(6) + b"\x08" + bytes(5))


# Legitimate frames of every type and size, for the chunking property below.
STREAM_FRAMES = {
    "cs455": [INT.pack(len(body)) + body for body, _ in CS455_LARGEST.values()]
    + [CS455.encode(m) for m in CS455_EXTRA_MESSAGES],
    "minichord": [MINICHORD.encode(m) for m in LARGEST.values()]
    + [MINICHORD.encode(TrafficSummaryRequest()), MINICHORD.encode_data(1, 2, 3)],
}


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_legitimate_streams_pass_whatever_the_chunking(
    dialect: Dialect, data: st.DataObject
) -> None:
    frames = data.draw(st.lists(st.sampled_from(STREAM_FRAMES[dialect.name]), max_size=12))
    stream = b"".join(frames)
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=30))
    points = sorted({0, len(stream), *cuts})
    framer = dialect.framer()
    got: list[bytes] = []
    for start, stop in itertools.pairwise(points):
        got += framer.feed(stream[start:stop])
        assert framer.buffered <= dialect.length_prefix.size + dialect.max_body
    assert got == [frame[dialect.length_prefix.size :] for frame in frames]
    assert framer.buffered == 0
