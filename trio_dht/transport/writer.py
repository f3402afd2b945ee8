"""Batched writing: one task per outgoing stream, fed by a bounded channel.

Producers hand over already-encoded bytes (usually many frames joined) with
``send``, which only awaits when the channel is full -- that is the
backpressure. The writer task takes everything queued at once and makes one
``send_all`` of it, so a busy peer costs one syscall per batch, not per
packet (DEVELOPERS.md: a per-packet await costs ten times the per-hop budget).
"""

from __future__ import annotations

import trio

from trio_dht.transport.budget import ByteBudget
from trio_dht.transport.queue import DEFAULT_CAPACITY, QueuedWriter


class FrameWriter(QueuedWriter):
    """The queue and writer task of one outgoing stream.

    ``run`` is the writer task. It ends when the queue is closed and drained
    (``close``) or when the stream breaks; in the latter case ``broken`` is
    set, the queue is closed, and producers get trio.BrokenResourceError.
    """

    __slots__ = ("stream",)

    def __init__(
        self,
        stream: trio.abc.SendStream,
        capacity: int = DEFAULT_CAPACITY,
        budget: ByteBudget | None = None,
    ) -> None:
        super().__init__(capacity, budget)
        self.stream = stream

    async def send_frames(self, frames: list[bytes]) -> None:
        """Queue a batch of whole frames as one item (written with one
        send_all together with whatever else is queued)."""
        await self.send(frames[0] if len(frames) == 1 else b"".join(frames))

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
                data = first if len(parts) == 1 else b"".join(parts)
                await send_all(data)
                self._written(len(data))
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            self.broken = exc
        finally:
            self._end()
            self.done.set()
