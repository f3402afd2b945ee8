"""FrameReader: every whole frame of a chunk at once, [] on a clean end,
WireError when the stream ends (or lies) inside a frame."""

from __future__ import annotations

import struct

import pytest
import trio
import trio.testing

from trio_dht.transport import DEFAULT_CHUNK, FrameReader
from trio_dht.wire import WireError, get_dialect
from trio_dht.wire.messages import Data, Message, TaskInitiate, TrafficSummaryRequest

CS455 = get_dialect("cs455")
HEADER = struct.Struct(">i")


def frame(body: bytes) -> bytes:
    return HEADER.pack(len(body)) + body


BODIES = [b"\x0b", b"\x08\x00\x00\x00\x05", bytes(range(1, 120)), b"abc"]


def make_reader(chunk: int = DEFAULT_CHUNK) -> tuple[trio.testing.MemoryReceiveStream, FrameReader]:
    stream = trio.testing.MemoryReceiveStream()
    return stream, FrameReader(stream, CS455.framer(), chunk)


async def test_returns_every_whole_frame_of_a_chunk() -> None:
    stream, reader = make_reader()
    stream.put_data(b"".join(frame(b) for b in BODIES))
    with trio.fail_after(5):
        assert await reader.receive_batch() == BODIES


async def test_keeps_a_partial_frame_for_the_next_batch() -> None:
    stream, reader = make_reader()
    data = frame(BODIES[0]) + frame(BODIES[2])
    stream.put_data(data[:30])
    with trio.fail_after(5):
        assert await reader.receive_batch() == [BODIES[0]]
        stream.put_data(data[30:])
        assert await reader.receive_batch() == [BODIES[2]]


async def test_waits_across_chunks_until_a_frame_is_whole() -> None:
    stream, reader = make_reader(chunk=3)
    stream.put_data(frame(BODIES[2]) + frame(BODIES[3]))
    with trio.fail_after(5):
        # A 3-byte chunk never holds a whole 123-byte frame: the reader keeps
        # receiving until it does, and never returns an empty batch meanwhile.
        assert await reader.receive_batch() == [BODIES[2]]
        assert await reader.receive_batch() == [BODIES[3]]


async def test_clean_eof_between_frames_returns_empty_list() -> None:
    stream, reader = make_reader()
    stream.put_data(frame(b"\x0b"))
    stream.put_eof()
    with trio.fail_after(5):
        assert await reader.receive_batch() == [b"\x0b"]
        assert await reader.receive_batch() == []


async def test_eof_on_a_fresh_stream_returns_empty_list() -> None:
    stream, reader = make_reader()
    stream.put_eof()
    with trio.fail_after(5):
        assert await reader.receive_batch() == []


@pytest.mark.parametrize("cut", [1, 3, 4, 7], ids=["in-header", "header-3", "header-only", "body"])
async def test_eof_inside_a_frame_raises_wire_error(cut: int) -> None:
    stream, reader = make_reader()
    stream.put_data(frame(b"\x08\x00\x00\x00\x05")[:cut])
    stream.put_eof()
    with trio.fail_after(5), pytest.raises(WireError, match="closed inside a frame") as info:
        await reader.receive_batch()
    assert f"{cut} bytes" in str(info.value)


@pytest.mark.parametrize("length", [0, -4, (1 << 20) + 1])
async def test_bad_length_raises_wire_error(length: int) -> None:
    stream, reader = make_reader()
    stream.put_data(HEADER.pack(length) + b"\x0b" * 8)
    with trio.fail_after(5), pytest.raises(WireError, match="frame length"):
        await reader.receive_batch()


async def test_real_cs455_frames_over_a_memory_stream_pair() -> None:
    send_stream, receive_stream = trio.testing.memory_stream_one_way_pair()
    reader = FrameReader(receive_stream, CS455.framer())
    messages: list[Message] = [TaskInitiate(7), Data(5, 9, -12345, (1, 2)), TrafficSummaryRequest()]
    with trio.fail_after(5):
        await send_stream.send_all(b"".join(CS455.encode(m) for m in messages))
        got: list[Message] = []
        while len(got) < len(messages):
            got += [CS455.decode(body) for body in await reader.receive_batch()]
        assert got == messages
        await send_stream.aclose()
        assert await reader.receive_batch() == []


async def test_broken_stream_propagates() -> None:
    class Broken(trio.abc.ReceiveStream):
        async def receive_some(self, max_bytes: int | None = None) -> bytes:
            await trio.lowlevel.checkpoint()
            raise trio.BrokenResourceError("reset by peer")

        async def aclose(self) -> None:
            await trio.lowlevel.checkpoint()

    reader = FrameReader(Broken(), CS455.framer())
    with trio.fail_after(5), pytest.raises(trio.BrokenResourceError):
        await reader.receive_batch()


async def test_idle_timeout_bounds_the_wait_for_a_frame(autojump_clock: object) -> None:
    _stream, reader = make_reader()
    start = trio.current_time()
    # The outer bound would surface as Cancelled inside, not TooSlowError.
    with trio.fail_after(10), pytest.raises(trio.TooSlowError):
        await reader.receive_batch(idle_timeout=2.0)
    assert trio.current_time() - start == pytest.approx(2.0)


async def test_frame_timeout_bounds_a_started_frame(autojump_clock: object) -> None:
    stream, reader = make_reader()
    stream.put_data(frame(b"\x09" * 10)[:6])
    start = trio.current_time()
    with trio.fail_after(10), pytest.raises(trio.TooSlowError):
        # No idle limit: only the frame that has begun is timed.
        await reader.receive_batch(frame_timeout=1.5)
    assert trio.current_time() - start == pytest.approx(1.5)


async def test_a_frame_finishing_in_time_is_returned(autojump_clock: object) -> None:
    stream, reader = make_reader()
    data = frame(b"\x09" * 10)

    async def trickle() -> None:
        for index in range(len(data)):
            # The slow peer under test, on the virtual clock (autojump):
            # 1.4 s for the frame, exactly, whatever the machine's load.
            await trio.sleep(0.1)
            stream.put_data(data[index : index + 1])

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(trickle)
            batch = await reader.receive_batch(idle_timeout=5.0, frame_timeout=5.0)
            assert batch == [b"\x09" * 10]
