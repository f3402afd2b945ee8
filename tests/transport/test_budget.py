"""ByteBudget: readers count the partial frames they keep and stop reading
when the process's budget is used up; writers count what they queue."""

from __future__ import annotations

import gc
import socket
import struct
from functools import partial

import pytest
import trio
import trio.testing

from trio_dht.transport import ByteBudget, DialWriter, FrameReader, FrameWriter
from trio_dht.wire import LengthPrefixFramer, WireError

HEADER = struct.Struct(">i")


def frame(body: bytes) -> bytes:
    return HEADER.pack(len(body)) + body


def reader_on(budget: ByteBudget) -> tuple[trio.testing.MemoryReceiveStream, FrameReader]:
    stream = trio.testing.MemoryReceiveStream()
    return stream, FrameReader(stream, LengthPrefixFramer(HEADER, 1 << 20), budget=budget)


def socket_reader_on(budget: ByteBudget) -> tuple[socket.socket, FrameReader]:
    """A reader on a real socket; the peer is a plain blocking socket the
    test writes to (a few KB, well within the socket buffer)."""
    ours, theirs = socket.socketpair()
    stream = trio.SocketStream(trio.socket.from_stdlib_socket(ours))
    return theirs, FrameReader(stream, LengthPrefixFramer(HEADER, 1 << 20), budget=budget)


async def test_a_partial_frame_is_counted_until_it_completes_or_is_released() -> None:
    budget = ByteBudget(1 << 20)
    stream, reader = reader_on(budget)
    data = frame(b"x" * 300) + frame(b"y" * 500)
    stream.put_data(data[:500])
    with trio.fail_after(5):
        assert await reader.receive_batch() == [b"x" * 300]
    assert budget.used == reader.held == 500 - 304
    stream.put_data(data[500:])
    with trio.fail_after(5):
        assert await reader.receive_batch() == [b"y" * 500]
    assert budget.used == 0
    stream.put_data(data[:10])
    with trio.fail_after(5), pytest.raises(trio.TooSlowError):
        await reader.receive_batch(frame_timeout=0.001)
    assert budget.used == 10
    reader.release()
    reader.release()
    assert budget.used == 0


async def test_readers_never_hold_more_than_the_budget() -> None:
    budget = ByteBudget(1000)
    peers = [socket_reader_on(budget) for _ in range(10)]
    for peer, _ in peers:
        # Each peer sends 600 bytes of a 5000-byte frame it never finishes.
        peer.sendall(frame(b"z" * 5000)[:600])
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            for _, reader in peers:
                nursery.start_soon(reader.receive_batch)
            await trio.testing.wait_all_tasks_blocked()
            assert budget.used == sum(r.held for _, r in peers) == 1000
            # The sockets keep what is unread; readers wait for room (or data).
            assert budget.waiting() >= 8
            nursery.cancel_scope.cancel()
    assert budget.peak == 1000
    for peer, reader in peers:
        reader.release()
        peer.close()
    assert budget.used == 0


async def test_a_waiting_reader_resumes_when_room_is_given_back() -> None:
    budget = ByteBudget(100)
    hog_peer, hog = socket_reader_on(budget)
    peer, reader = socket_reader_on(budget)
    hog_frame = frame(b"h" * 200)
    hog_peer.sendall(hog_frame[:100])
    got: list[list[bytes]] = []

    async def read() -> None:
        got.append(await reader.receive_batch())

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(hog.receive_batch)
            await trio.testing.wait_all_tasks_blocked()
            assert budget.used == 100
            nursery.start_soon(read)
            await trio.testing.wait_all_tasks_blocked()
            peer.sendall(frame(b"ok") * 3)
            await trio.testing.wait_all_tasks_blocked()
            # Budget used up: the second reader has not read its socket.
            assert got == []
            # The hog's frame ends when it is released (its owner closing it
            # after frame_timeout): the room is given back.
            nursery.cancel_scope.cancel()
        hog.release()
        await read()
        assert got == [[b"ok"] * 3]
    assert budget.used == 0
    hog_peer.close()
    peer.close()


async def test_a_reader_on_a_memory_stream_reserves_the_room_it_receives() -> None:
    budget = ByteBudget(100)
    stream, reader = reader_on(budget)
    stream.put_data(frame(b"m" * 500))
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(reader.receive_batch)
            await trio.testing.wait_all_tasks_blocked()
            assert reader.held == budget.used == 100
            nursery.cancel_scope.cancel()


async def test_waiting_for_room_counts_against_the_timeouts(autojump_clock: trio.abc.Clock) -> None:
    budget = ByteBudget(10)
    budget.take(10)
    stream, reader = reader_on(budget)
    stream.put_data(frame(b"never read"))
    with trio.fail_after(100), pytest.raises(trio.TooSlowError):
        await reader.receive_batch(idle_timeout=5)


async def test_malformed_input_gives_its_bytes_back() -> None:
    budget = ByteBudget(1 << 20)
    stream, reader = reader_on(budget)
    stream.put_data(frame(b"a" * 50)[:20])
    stream.put_eof()
    with trio.fail_after(5), pytest.raises(WireError):
        await reader.receive_batch()
    assert budget.used == 0
    stream, reader = reader_on(budget)
    stream.put_data(b"\xff\xff")
    with trio.fail_after(5), pytest.raises(trio.TooSlowError):
        await reader.receive_batch(frame_timeout=0.001)
    assert budget.used == 2
    stream.put_data(b"\xff\xff")  # a length of -1
    with trio.fail_after(5), pytest.raises(WireError):
        await reader.receive_batch()
    assert budget.used == 0


async def test_a_dropped_reader_gives_its_bytes_back() -> None:
    budget = ByteBudget(1 << 20)
    stream, reader = reader_on(budget)
    stream.put_data(frame(b"whole") + b"\x00\x00\x01\x00abc")
    with trio.fail_after(5):
        assert await reader.receive_batch() == [b"whole"]
    assert budget.used == 7
    del reader
    gc.collect()
    assert budget.used == 0


async def test_a_writer_counts_what_is_queued_until_written() -> None:
    budget = ByteBudget(1 << 20)
    send, receive = trio.testing.memory_stream_pair()
    writer = FrameWriter(send, budget=budget)
    await writer.send(b"a" * 100)
    writer.send_nowait(b"b" * 50)
    assert budget.used == 150
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(writer.run)
            assert await receive.receive_some(1000) == b"a" * 100 + b"b" * 50
            writer.close()
    assert budget.used == 0


async def test_a_broken_writer_gives_everything_back() -> None:
    budget = ByteBudget(1 << 20)
    send, receive = trio.testing.memory_stream_pair()
    writer = FrameWriter(send, capacity=4, budget=budget)
    for _ in range(4):
        writer.send_nowait(b"q" * 1000)
    await receive.aclose()
    with trio.fail_after(5):
        await writer.run()
    assert writer.broken is not None
    assert budget.used == 0
    with pytest.raises(trio.BrokenResourceError):
        writer.send_nowait(b"late")
    assert budget.used == 0


async def test_a_dial_writer_counts_each_frame_until_delivered() -> None:
    budget = ByteBudget(1 << 20)
    got: list[bytes] = []
    delivered = trio.Event()

    async def handler(stream: trio.SocketStream) -> None:
        data = b""
        while chunk := await stream.receive_some(4096):
            data += chunk
        got.append(data)
        if len(got) == 2:
            delivered.set()

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(partial(trio.serve_tcp, handler, 0, host="127.0.0.1"))
            port = listeners[0].socket.getsockname()[1]
            writer = DialWriter("127.0.0.1", port, budget=budget)
            await writer.send_frames([b"a" * 10, b"b" * 20])
            assert budget.used == 30
            nursery.start_soon(writer.run)
            await delivered.wait()
            writer.close()
            await writer.done.wait()
            assert budget.used == 0
            nursery.cancel_scope.cancel()
    assert sorted(got) == [b"a" * 10, b"b" * 20]


async def test_a_dial_writer_that_cannot_connect_gives_everything_back() -> None:
    budget = ByteBudget(1 << 20)
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
        writer = DialWriter("127.0.0.1", port, budget=budget)
        await writer.send_frames([b"x" * 100, b"y" * 100])
        with trio.fail_after(10):
            await writer.run()
    assert writer.broken is not None
    assert budget.used == 0
