"""The bounded queue in front of every writer task.

Producers hand over bytes with ``send``, which only awaits when the queue is
full -- that is the backpressure that bounds memory. Subclasses supply the
task that empties the queue (``run``) and how a batch of frames is queued
(``send_frames``).
"""

from __future__ import annotations

import trio

from trio_dht.transport.budget import ByteBudget

# Items, not bytes: producers queue one joined batch per chunk or burst, so
# this bounds memory at roughly capacity x one batch per peer.
DEFAULT_CAPACITY = 32


class QueuedWriter:
    """A bounded queue of bytes for one destination, emptied by ``run``.

    When ``run`` ends because the destination broke, it sets ``broken`` and
    closes the queue, so producers get trio.BrokenResourceError.
    """

    __slots__ = (
        "_receive_channel",
        "_send_channel",
        "broken",
        "budget",
        "capacity",
        "done",
        "held",
    )

    def __init__(self, capacity: int = DEFAULT_CAPACITY, budget: ByteBudget | None = None) -> None:
        self.capacity = capacity
        # Bytes queued or being written; counted in ``budget`` too, if any.
        self.held = 0
        self.budget = budget
        self._send_channel, self._receive_channel = trio.open_memory_channel[bytes](capacity)
        self.broken: BaseException | None = None
        self.done = trio.Event()

    def send_nowait(self, data: bytes) -> None:
        """Queue ``data``; raises trio.WouldBlock when full, and
        trio.BrokenResourceError / trio.ClosedResourceError when the writer
        is gone."""
        self._send_channel.send_nowait(data)
        self._took(len(data))

    async def send(self, data: bytes) -> None:
        """Queue ``data``, awaiting only if the queue is full."""
        try:
            self._send_channel.send_nowait(data)
        except trio.WouldBlock:
            await self._send_channel.send(data)
        self._took(len(data))

    def _took(self, size: int) -> None:
        self.held += size
        if self.budget is not None:
            self.budget.take(size)

    def _written(self, size: int) -> None:
        """``size`` bytes were written (for run)."""
        self.held -= size
        if self.budget is not None:
            self.budget.give(size)

    def _end(self) -> None:
        """For the end of ``run``: close the queue (producers then get
        BrokenResourceError) and give back what it still held."""
        self._receive_channel.close()
        self._written(self.held)

    async def send_frames(self, frames: list[bytes]) -> None:
        raise NotImplementedError

    def queued(self) -> int:
        """Items waiting to be written."""
        return self._send_channel.statistics().current_buffer_used

    def close(self) -> None:
        """No more data: the writer task sends what is queued, then ends."""
        self._send_channel.close()

    async def run(self) -> None:
        raise NotImplementedError
