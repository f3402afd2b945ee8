"""Splitting captured streams into frames with offsets, and the vector format (no sockets)."""

from __future__ import annotations

import json
import struct

import pytest

from trio_dht.checker.capture import describe, direction_of, vector_fields, vector_line
from trio_dht.checker.frames import FrameEvent, StreamDecoder, detect_dialect
from trio_dht.wire import get_dialect
from trio_dht.wire.messages import (
    Data,
    Message,
    NodeManifest,
    PeerEntry,
    Registration,
    RegistrationStatus,
    TaskInitiate,
    TrafficSummary,
    TrafficSummaryRequest,
)

SAMPLES: list[Message] = [
    Registration("127.0.0.1", 40123),
    RegistrationStatus(17, "Registration request successful."),
    NodeManifest((PeerEntry(0, "127.0.0.1", 5000), PeerEntry(9, "127.0.0.1", 5001)), (0, 9, 17)),
    TaskInitiate(25000),
    Data(9, 0, -5, (17, 3)),
    TrafficSummaryRequest(),
    TrafficSummary(17, 3, 2, -9, 4, 12),
]


@pytest.mark.parametrize("wire", ["cs455", "minichord"])
def test_auto_detects_each_dialect_and_splits_byte_by_byte(wire: str) -> None:
    dialect = get_dialect(wire)
    stream = b"".join(dialect.encode(m) for m in SAMPLES)
    decoder = StreamDecoder("auto")
    events = [e for i in range(len(stream)) for e in decoder.feed(stream[i : i + 1])]
    assert decoder.dialect is not None and decoder.dialect.name == wire
    assert [e.message for e in events] == SAMPLES
    assert b"".join(e.frame for e in events) == stream
    offsets = [e.offset for e in events]
    assert offsets[0] == 0
    assert all(offsets[i + 1] == offsets[i] + len(events[i].frame) for i in range(len(events) - 1))
    assert decoder.close() == []


def test_detection_needs_four_bytes_and_reads_zero_as_minichord() -> None:
    assert detect_dialect(b"\0\0\0") is None
    assert detect_dialect(b"\0\0\0\0\0\0\0\x14") == "minichord"
    assert detect_dialect(b"\0\0\0\x0a\x02") == "cs455"
    # The documented corner case: a malformed cs455 zero length reads as minichord.
    assert detect_dialect(b"\0\0\0\0\x02") == "minichord"


def test_adopt_settles_an_auto_decoder_before_its_own_bytes() -> None:
    decoder = StreamDecoder("auto")
    decoder.adopt("minichord")
    frame = get_dialect("minichord").encode(TaskInitiate(7))
    assert [e.message for e in decoder.feed(frame)] == [TaskInitiate(7)]


def test_malformed_body_is_flagged_with_its_offset_and_decoding_goes_on() -> None:
    cs455 = get_dialect("cs455")
    good = cs455.encode(TaskInitiate(5))
    unknown = struct.pack(">iB", 1, 99)
    stream = good + unknown + good
    events = StreamDecoder("cs455").feed(stream)
    assert [e.malformed for e in events] == [False, True, False]
    bad = events[1]
    assert bad.offset == len(good)
    assert bad.frame == unknown
    assert "unknown cs455 message type 99" in (bad.error or "")
    assert "MALFORMED at byte 9" in describe("cs455", bad)


def test_bad_length_stops_decoding_but_keeps_earlier_frames() -> None:
    cs455 = get_dialect("cs455")
    good = cs455.encode(TaskInitiate(5))
    decoder = StreamDecoder("cs455")
    events = decoder.feed(good + struct.pack(">i", -3) + b"junk" + good)
    assert [e.message for e in events[:1]] == [TaskInitiate(5)]
    assert events[1].malformed and events[1].offset == len(good)
    assert "bad length -3" in (events[1].error or "")
    assert decoder.feed(b"more") == []
    assert decoder.unsynced == 4 + 4 + len(good) + 4
    assert decoder.close() == []


def test_truncated_frame_is_reported_at_close() -> None:
    frame = get_dialect("minichord").encode(TaskInitiate(5))
    decoder = StreamDecoder("minichord")
    assert decoder.feed(frame + frame[:10]) != []
    (event,) = decoder.close()
    assert event.malformed and event.offset == len(frame)
    assert event.frame == frame[:10]
    assert "truncated frame: 2 of" in (event.error or "")


def test_unknown_wire_name_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown wire"):
        StreamDecoder("json")


@pytest.mark.parametrize("wire", ["cs455", "minichord"])
def test_vector_lines_re_decode_to_their_fields(wire: str) -> None:
    dialect = get_dialect(wire)
    for message in SAMPLES:
        frame = dialect.encode(message)
        line = vector_line(wire, FrameEvent(0, frame, message), "test", direction_of(message))
        record = json.loads(line)
        assert sorted(record) == ["dialect", "direction", "fields", "frame_hex", "message",
                                  "origin"]  # fmt: skip
        (event,) = StreamDecoder(record["dialect"]).feed(bytes.fromhex(record["frame_hex"]))
        assert event.message == message
        assert vector_fields(wire, message) == (record["message"], record["fields"])


def test_minichord_fields_leave_out_zero_values_as_proto3_does() -> None:
    kind, fields = vector_fields("minichord", Data(9, 0, 0, ()))
    assert (kind, fields) == ("data", {"destination": 9})
    _, cs = vector_fields("cs455", Data(9, 0, 0, ()))
    assert cs == {"destination": 9, "source": 0, "payload": 0, "trace": []}


def test_long_lists_are_elided_on_the_terminal() -> None:
    message = Data(1, 2, 3, tuple(range(20)))
    text = describe("cs455", FrameEvent(0, get_dialect("cs455").encode(message), message))
    assert "trace=[0, 1, 2, 3, 4, 5, 6, 7, ... 12 more]" in text
