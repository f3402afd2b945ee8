"""FrameWriter: one send_all per batch, backpressure only when full, a clean
close that flushes, and a broken stream that producers find out about."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from trio_dht.transport import DEFAULT_CAPACITY, FrameWriter


class CountingStream(trio.abc.SendStream):
    """Records every send_all; optionally blocks each one until released."""

    def __init__(self, *, gated: bool = False) -> None:
        self.calls: list[bytes] = []
        self.gated = gated
        self._gate = trio.Event()
        self.closed = False

    def release(self) -> None:
        self._gate.set()

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        if self.gated:
            await self._gate.wait()
            self._gate = trio.Event()
        else:
            await trio.lowlevel.checkpoint()
        if self.closed:
            raise trio.ClosedResourceError("closed")
        self.calls.append(bytes(data))

    async def wait_send_all_might_not_block(self) -> None:
        await trio.lowlevel.checkpoint()

    async def aclose(self) -> None:
        self.closed = True
        await trio.lowlevel.checkpoint()

    @property
    def data(self) -> bytes:
        return b"".join(self.calls)


class BrokenStream(trio.abc.SendStream):
    """A stream whose peer has gone: every send_all raises."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc
        self.attempts = 0

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        self.attempts += 1
        await trio.lowlevel.checkpoint()
        raise self.exc

    async def wait_send_all_might_not_block(self) -> None:
        await trio.lowlevel.checkpoint()

    async def aclose(self) -> None:
        await trio.lowlevel.checkpoint()


ITEMS = [f"frame-{i:03d};".encode() for i in range(50)]


def test_default_capacity_is_positive() -> None:
    writer = FrameWriter(CountingStream())
    assert writer.capacity == DEFAULT_CAPACITY > 0
    assert writer.broken is None
    assert not writer.done.is_set()
    assert writer.queued() == 0


async def test_queued_items_are_drained_into_one_send_all() -> None:
    stream = CountingStream()
    writer = FrameWriter(stream, capacity=len(ITEMS))
    for item in ITEMS:
        writer.send_nowait(item)
    assert writer.queued() == len(ITEMS)
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(writer.run)
            await trio.testing.wait_all_tasks_blocked()
            assert stream.calls == [b"".join(ITEMS)]
            assert writer.queued() == 0
            writer.close()
    assert writer.done.is_set()
    assert writer.broken is None


async def test_items_queued_during_a_slow_send_go_out_together() -> None:
    stream = CountingStream(gated=True)
    writer = FrameWriter(stream, capacity=len(ITEMS))
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(writer.run)
            await writer.send(ITEMS[0])
            await trio.testing.wait_all_tasks_blocked()
            # The writer is now inside send_all with the first item; the rest
            # pile up behind it.
            for item in ITEMS[1:]:
                await writer.send(item)
            assert writer.queued() == len(ITEMS) - 1
            stream.release()
            await trio.testing.wait_all_tasks_blocked()
            stream.release()
            await trio.testing.wait_all_tasks_blocked()
            writer.close()
    assert stream.calls == [ITEMS[0], b"".join(ITEMS[1:])]
    assert stream.data == b"".join(ITEMS)


async def test_single_item_is_sent_as_is() -> None:
    stream = CountingStream()
    writer = FrameWriter(stream)
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(writer.run)
            await writer.send(b"only")
            await trio.testing.wait_all_tasks_blocked()
            writer.close()
    assert stream.calls == [b"only"]


async def test_send_does_not_checkpoint_while_there_is_room() -> None:
    writer = FrameWriter(CountingStream(), capacity=3)
    with trio.testing.assert_no_checkpoints():
        await writer.send(b"a")
        await writer.send(b"b")
        await writer.send(b"c")
    assert writer.queued() == 3


async def test_send_blocks_when_full_until_the_writer_drains() -> None:
    stream = CountingStream()
    writer = FrameWriter(stream, capacity=2)
    await writer.send(b"1")
    await writer.send(b"2")
    with pytest.raises(trio.WouldBlock):
        writer.send_nowait(b"x")
    finished = trio.Event()

    async def producer() -> None:
        await writer.send(b"3")
        finished.set()

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(producer)
            await trio.testing.wait_all_tasks_blocked()
            assert not finished.is_set(), "send returned although the queue was full"
            assert stream.calls == []
            nursery.start_soon(writer.run)
            await finished.wait()
            await trio.testing.wait_all_tasks_blocked()
            writer.close()
    assert stream.data == b"123"
    assert writer.done.is_set()


async def test_close_flushes_everything_queued_then_run_ends() -> None:
    stream = CountingStream()
    writer = FrameWriter(stream, capacity=len(ITEMS))
    for item in ITEMS:
        await writer.send(item)
    writer.close()
    with trio.fail_after(5):
        await writer.run()
    assert stream.data == b"".join(ITEMS)
    assert len(stream.calls) == 1
    assert writer.done.is_set()
    assert writer.broken is None
    with pytest.raises(trio.ClosedResourceError):
        await writer.send(b"late")


async def test_close_while_the_writer_waits_ends_the_task() -> None:
    stream = CountingStream()
    writer = FrameWriter(stream)
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(writer.run)
            await trio.testing.wait_all_tasks_blocked()
            assert not writer.done.is_set()
            await writer.send(b"last words")
            writer.close()
            await writer.done.wait()
    assert stream.data == b"last words"


@pytest.mark.parametrize(
    "exc",
    [
        trio.BrokenResourceError("peer gone"),
        trio.ClosedResourceError("closed"),
        OSError(104, "reset"),
    ],
    ids=["broken", "closed", "oserror"],
)
async def test_broken_stream_sets_broken_and_later_sends_raise(exc: BaseException) -> None:
    stream = BrokenStream(exc)
    writer = FrameWriter(stream)
    await writer.send(b"doomed")
    with trio.fail_after(5):
        await writer.run()  # ends by itself, does not raise
    assert writer.broken is exc
    assert writer.done.is_set()
    assert stream.attempts == 1
    with pytest.raises(trio.BrokenResourceError):
        await writer.send(b"more")
    with pytest.raises(trio.BrokenResourceError):
        writer.send_nowait(b"more")


async def test_producer_blocked_on_a_full_queue_learns_the_stream_broke() -> None:
    stream = CountingStream(gated=True)
    writer = FrameWriter(stream, capacity=1)
    outcome: list[BaseException] = []

    async def producer() -> None:
        try:
            await writer.send(b"blocked")
        except trio.BrokenResourceError as exc:
            outcome.append(exc)

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(writer.run)
            await writer.send(b"first")  # taken by the writer, stuck in send_all
            await trio.testing.wait_all_tasks_blocked()
            await writer.send(b"second")  # fills the queue
            nursery.start_soon(producer)
            await trio.testing.wait_all_tasks_blocked()
            assert outcome == []
            # The send_all in progress fails: the writer gives up while the
            # producer is still waiting for room.
            await stream.aclose()
            stream.release()
            await writer.done.wait()
    assert isinstance(writer.broken, trio.ClosedResourceError)
    assert len(outcome) == 1
    assert stream.calls == []


async def test_writer_over_a_real_memory_stream_pair() -> None:
    send_stream, receive_stream = trio.testing.memory_stream_one_way_pair()
    hook_calls = 0
    inner_hook = send_stream.send_all_hook

    async def counting_hook() -> None:
        nonlocal hook_calls
        hook_calls += 1
        if inner_hook is not None:
            await inner_hook()

    send_stream.send_all_hook = counting_hook
    writer = FrameWriter(send_stream, capacity=len(ITEMS))
    for item in ITEMS:
        writer.send_nowait(item)
    writer.close()
    got = b""
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(writer.run)
            expected = b"".join(ITEMS)
            while len(got) < len(expected):
                got += await receive_stream.receive_some()
    assert got == expected
    assert hook_calls == 1


async def test_send_frames_queues_a_batch_as_one_item() -> None:
    stream = CountingStream()
    writer = FrameWriter(stream, capacity=2)
    await writer.send_frames(ITEMS[:10])
    await writer.send_frames([ITEMS[10]])
    assert writer.queued() == 2
    writer.close()
    with trio.fail_after(5):
        await writer.run()
    assert stream.calls == [b"".join(ITEMS[:11])]
