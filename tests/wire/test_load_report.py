"""The load report (trio_dht extension, cs455 type 102, minichord field 102):
round trips in both dialects at the bounds, and refusals -- RemoteWireError
on decode, LocalWireError on encode -- for counts no overlay can have, ids
outside 0..127 and negative counts."""

from __future__ import annotations

import struct

import pytest

from trio_dht.wire import Dialect, LocalWireError, RemoteWireError, get_dialect
from trio_dht.wire import minichord_pb2 as pb
from trio_dht.wire.messages import MAX_LOAD_LINKS, MAX_RELAY_BINS, LinkLoad, LoadReport

DIALECTS = [get_dialect("cs455"), get_dialect("minichord")]
INT32_MAX = 2**31 - 1


def body_of(dialect: Dialect, frame: bytes) -> bytes:
    (body,) = dialect.framer().feed(frame)
    return body


def full() -> LoadReport:
    links = tuple(LinkLoad(1 << k, 1000 * k) for k in range(MAX_LOAD_LINKS))
    return LoadReport(0, links, tuple(range(MAX_RELAY_BINS)))


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
@pytest.mark.parametrize(
    "report",
    [LoadReport(5, (), ()), LoadReport(127, (LinkLoad(0, INT32_MAX),), (0, 0, 3)), full()],
    ids=["empty", "one-link", "full"],
)
def test_round_trip(dialect: Dialect, report: LoadReport) -> None:
    assert dialect.decode(body_of(dialect, dialect.encode(report))) == report


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
@pytest.mark.parametrize(
    ("report", "words"),
    [
        (LoadReport(1, (LinkLoad(2, 1),) * (MAX_LOAD_LINKS + 1), ()), "8 links"),
        (LoadReport(1, (), (1,) * (MAX_RELAY_BINS + 1)), "129 relay bins"),
        (LoadReport(128, (), ()), "node id 128"),
        (LoadReport(1, (LinkLoad(-1, 1),), ()), "node id -1"),
        (LoadReport(1, (LinkLoad(2, -1),), ()), "negative count"),
        (LoadReport(1, (), (4, -2)), "negative count"),
    ],
)
def test_nonsense_is_not_encoded(dialect: Dialect, report: LoadReport, words: str) -> None:
    with pytest.raises(LocalWireError, match=words):
        dialect.encode(report)


# --- cs455: hand-made bodies -------------------------------------------------


def cs455_body(
    node_id: int,
    links: list[tuple[int, int]],
    bins: tuple[int, ...] = (),
    *,
    count: int | None = None,
    bin_count: int | None = None,
) -> bytes:
    head = struct.pack(">Bii", 102, node_id, len(links) if count is None else count)
    pairs = b"".join(struct.pack(">ii", *link) for link in links)
    tail = struct.pack(">i", len(bins) if bin_count is None else bin_count)
    return head + pairs + tail + b"".join(struct.pack(">i", b) for b in bins)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (cs455_body(1, [(2, 3)] * 8), "link count 8 outside 0..7"),
        (cs455_body(1, [], (), count=-1), "link count -1"),
        (cs455_body(1, [], (0,) * 129), "bin count 129 outside 0..128"),
        (cs455_body(1, [], (), bin_count=-5), "bin count -5"),
        (cs455_body(1, [(2, -3)]), "negative count"),
        (cs455_body(1, [], (1, -1)), "negative count"),
        (cs455_body(300, []), "node id 300"),
        (cs455_body(1, [(128, 0)]), "node id 128"),
        (cs455_body(1, [(2, 3)], count=2), "truncated"),
        (cs455_body(1, [], (7,), bin_count=2), "truncated"),
        (cs455_body(1, [], (7,)) + b"\x00", "trailing"),
    ],
)
def test_cs455_refuses_malformed(body: bytes, words: str) -> None:
    with pytest.raises(RemoteWireError, match=words):
        get_dialect("cs455").decode(body)


def test_cs455_huge_counts_allocate_nothing() -> None:
    # A count of 2**31 - 1 is refused from the count, not by reading on.
    with pytest.raises(RemoteWireError, match="outside"):
        get_dialect("cs455").decode(cs455_body(1, [], (), count=INT32_MAX))


# --- minichord: bodies built with the protobuf classes --------------------------


def minichord_body(report: pb.LoadReport) -> bytes:
    body: bytes = pb.MiniChord(loadReport=report).SerializeToString()
    return body


@pytest.mark.parametrize(
    ("report", "words"),
    [
        (pb.LoadReport(Id=1, Links=[pb.LinkLoad(Id=2, Packets=1)] * 8), "8 links"),
        (pb.LoadReport(Id=1, Relays=[1] * 129), "129 relay bins"),
        (pb.LoadReport(Id=-3), "node id -3"),
        (pb.LoadReport(Id=1, Links=[pb.LinkLoad(Id=500, Packets=1)]), "node id 500"),
    ],
)
def test_minichord_refuses_out_of_range(report: pb.LoadReport, words: str) -> None:
    with pytest.raises(RemoteWireError, match=words):
        get_dialect("minichord").decode(minichord_body(report))
