"""Batched writing: one task per outgoing stream, fed by a bounded channel.

Producers hand over already-encoded bytes (usually many frames joined) with
``send``, which only awaits when the channel is full -- that is the
backpressure. The writer task takes everything queued at once and makes one
``send_all`` of it, so a busy peer costs one syscall per batch, not per
packet (DEVELOPERS.md: a per-packet await costs ten times the per-hop budget).
"""

from __future__ import annotations

import trio

# Items, not bytes: producers queue one joined batch per chunk or burst, so
# this bounds memory at roughly capacity x 64 KiB per peer.
DEFAULT_CAPACITY = 32


class FrameWriter:
    """The queue and writer task of one outgoing stream.

    ``run`` is the writer task. It ends when the queue is closed and drained
    (``close``) or when the stream breaks; in the latter case ``broken`` is
    set, the queue is closed, and producers get trio.BrokenResourceError.
    """

    __slots__ = ("_receive_channel", "_send_channel", "broken", "capacity", "done", "stream")

    def __init__(self, stream: trio.abc.SendStream, capacity: int = DEFAULT_CAPACITY) -> None:
        self.stream = stream
        self.capacity = capacity
        self._send_channel, self._receive_channel = trio.open_memory_channel[bytes](capacity)
        self.broken: BaseException | None = None
        self.done = trio.Event()

    def send_nowait(self, data: bytes) -> None:
        """Queue ``data``; raises trio.WouldBlock when full, and
        trio.BrokenResourceError / trio.ClosedResourceError when the writer
        is gone."""
        self._send_channel.send_nowait(data)

    async def send(self, data: bytes) -> None:
        """Queue ``data``, awaiting only if the queue is full."""
        try:
            self._send_channel.send_nowait(data)
        except trio.WouldBlock:
            await self._send_channel.send(data)

    async def send_frames(self, frames: list[bytes]) -> None:
        """Queue a batch of whole frames as one item (written with one
        send_all together with whatever else is queued)."""
        await self.send(frames[0] if len(frames) == 1 else b"".join(frames))

    def queued(self) -> int:
        """Items waiting to be written."""
        return self._send_channel.statistics().current_buffer_used

    def close(self) -> None:
        """No more data: the writer task sends what is queued, then ends."""
        self._send_channel.close()

    async def run(self) -> None:
        receive = self._receive_channel
        send_all = self.stream.send_all
        try:
            while True:
                try:
                    first = await receive.receive()
                except trio.EndOfChannel:
                    return
                parts = [first]
                try:
                    while True:
                        parts.append(receive.receive_nowait())
                except (trio.WouldBlock, trio.EndOfChannel):
                    pass
                await send_all(first if len(parts) == 1 else b"".join(parts))
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            self.broken = exc
        finally:
            receive.close()
            self.done.set()
