"""Reading whole frames from a trio stream.

With a ByteBudget (see budget.py) the partial frame a reader keeps between
chunks is counted in the process's budget; with no room left a reader
does not receive, it waits (budget.py says exactly how far the total can
pass the limit).
Release the reader when its connection is done::

    reader = FrameReader(stream, dialect.framer(), budget=budget)
    try:
        while batch := await reader.receive_batch(idle_timeout=10, frame_timeout=10):
            ...
    finally:
        reader.release()
"""

from __future__ import annotations

import math

import trio

from trio_dht.transport.budget import ByteBudget
from trio_dht.wire import LengthPrefixFramer, WireError

# One receive_some per call: at 20-30 bytes a data frame, 64 KiB carries a
# couple of thousand packets, so the per-chunk costs (the syscall, the
# checkpoint, the batch flush) vanish against the per-packet work.
DEFAULT_CHUNK = 1 << 16


class FrameReader:
    """Yields the frame bodies of a stream in batches: every whole frame of
    each chunk received, so the caller handles them without awaiting."""

    __slots__ = ("_budget", "_chunk", "_framer", "_held", "_stream")

    def __init__(
        self,
        stream: trio.abc.ReceiveStream,
        framer: LengthPrefixFramer,
        chunk: int = DEFAULT_CHUNK,
        budget: ByteBudget | None = None,
    ) -> None:
        self._stream = stream
        self._framer = framer
        self._chunk = chunk
        self._budget = budget
        # Bytes of ours counted in the budget (the framer's partial frame).
        self._held = 0

    @property
    def held(self) -> int:
        """Bytes of a partial frame this reader keeps (counted in its budget)."""
        return self._framer.buffered

    def release(self) -> None:
        """Give this reader's bytes back to the budget (idempotent; call it
        when the connection is done)."""
        if self._held and self._budget is not None:
            self._budget.give(self._held)
        self._held = 0

    def __del__(self) -> None:
        # A safety net for an owner that forgot release(): the budget must
        # not leak with every dropped connection.
        if self._held and self._budget is not None:
            self._budget.give(self._held)

    async def receive_batch(
        self, idle_timeout: float = math.inf, frame_timeout: float = math.inf
    ) -> list[bytes]:
        """The next non-empty list of frame bodies, or [] when the peer closed
        the stream cleanly between frames.

        ``idle_timeout`` bounds the wait for the first byte of a frame,
        ``frame_timeout`` the time a started frame may take to complete (a
        peer trickling a byte a minute); either raises trio.TooSlowError.
        Raises WireError for malformed framing, including a stream that ends
        inside a frame, and trio.BrokenResourceError if the connection broke.
        With a budget, waiting for room counts against the same timeouts.
        """
        framer = self._framer
        budget = self._budget
        started = framer.buffered > 0
        deadline = trio.current_time() + (frame_timeout if started else idle_timeout)
        while True:
            if budget is not None and budget.used + self._chunk > budget.limit:
                data = await self._receive_tight(budget, deadline)
            elif deadline == math.inf:
                # No limit: skip the cancel scope (a few % of a busy reader).
                data = await self._stream.receive_some(self._chunk)
            else:
                with trio.fail_at(deadline):
                    data = await self._stream.receive_some(self._chunk)
            if not data:
                if framer.buffered:
                    self.release()
                    raise WireError(
                        f"connection closed inside a frame ({framer.buffered} bytes of it received)"
                    )
                return []
            try:
                bodies = framer.feed(data)
            except WireError:
                self.release()
                raise
            if budget is not None:
                held = framer.buffered
                if held != self._held:
                    budget.adjust(self._held, held)
                    self._held = held
            if bodies:
                return bodies
            if not started:
                # A frame has begun: from now on it must complete in time.
                started = True
                deadline = trio.current_time() + frame_timeout

    async def _receive_tight(self, budget: ByteBudget, deadline: float) -> bytes | bytearray:
        """Receive at most the room left in the budget, so that the partial
        frame kept afterwards stays within it; wait (until ``deadline``)
        while there is none.

        The room is reserved for the time of the receive, so that readers
        woken together cannot count on the same room. On a socket the
        reader first waits until it is readable, so a reader whose peer
        sends nothing holds no room while it waits."""
        sock = getattr(self._stream, "socket", None)
        with trio.fail_at(deadline):
            while True:
                await budget.wait_for_room()
                if sock is not None:
                    await trio.lowlevel.wait_readable(sock)
                    if budget.used >= budget.limit:
                        continue
                room = min(self._chunk, budget.limit - budget.used)
                # Reserved from here until the caller counts what it keeps
                # (trio yields after the recv, before we see its result).
                budget.take(room)
                try:
                    return await self._stream.receive_some(room)
                finally:
                    budget.give(room)
