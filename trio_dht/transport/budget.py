"""One byte budget per process for what the transport holds in memory.

Two things grow with the number of connections: the partial frames a
FrameReader keeps between chunks, and the bytes producers queued in
writers. A ByteBudget counts both. Readers ask it before each receive: a
reader receives at most the room left (so the partial frame it keeps can
never take the total over the limit), and with no room left it stops
reading until some is given back -- TCP then pushes back on the sender.
Writers only count (their own queue capacity already makes producers
wait): full writer queues use up the room, so the readers that feed them
stop, which is the backpressure we want.

Make one per process and hand it to every reader and writer::

    budget = ByteBudget()                       # DEFAULT_BUDGET, 16 MiB
    reader = FrameReader(stream, framer, budget=budget)
    writer = FrameWriter(stream, budget=budget)
    ...
    reader.release()    # when the connection is done (a finaliser does it
                        # too, but do not rely on garbage collection)

How exact: no reader starts a receive without room, and a reader that
starts one with less than a chunk of room left receives at most that room.
A reader already waiting for data while there was plenty of room receives
up to a chunk when the data comes, keeps at most one partial frame of it
(the framer refuses a frame longer than its per-type limit, at most 7,426
bytes in cs455 and 35,090 in minichord, at its header), and from then on
finds no room. So the total can pass the limit by at most one partial
frame per connection that was idle when the room ran out, and never grows
past that.

A reader stuck waiting for room still honours its ``frame_timeout``: a
peer holding a partial frame it never completes is timed out and its bytes
given back when the owner closes the connection and releases the reader.

No module-level state: the budget is an object the owner creates.
"""

from __future__ import annotations

import trio

# A legitimate frame is well under 2 KiB and a data batch a few KiB, so 16
# MiB is thousands of connections' worth of partial frames plus full writer
# queues, and keeps a process well under 60 MB of RSS (35 MB at rest).
DEFAULT_BUDGET = 16 << 20


class ByteBudget:
    """Bytes held by readers and writers of one process, against ``limit``.

    ``used`` may pass ``limit`` through writers (which only count); readers
    never take it further (they receive at most ``room()``)."""

    __slots__ = ("_lot", "limit", "peak", "used")

    def __init__(self, limit: int = DEFAULT_BUDGET) -> None:
        if limit < 1:
            raise ValueError(f"a byte budget must be positive, not {limit}")
        self.limit = limit
        self.used = 0
        self.peak = 0
        self._lot = trio.lowlevel.ParkingLot()

    def room(self) -> int:
        """Bytes that may still be taken (0 or less: none)."""
        return self.limit - self.used

    def take(self, size: int) -> None:
        """Count ``size`` more bytes held."""
        used = self.used + size
        self.used = used
        self.peak = max(self.peak, used)

    def give(self, size: int) -> None:
        """``size`` bytes are no longer held; wake readers if there is room."""
        self.used -= size
        if self._lot and self.used < self.limit:
            self._lot.unpark_all()

    def adjust(self, before: int, after: int) -> None:
        """A holder went from ``before`` to ``after`` bytes."""
        if after > before:
            self.take(after - before)
        elif after < before:
            self.give(before - after)

    def waiting(self) -> int:
        """Readers waiting for room."""
        return len(self._lot)

    async def wait_for_room(self) -> None:
        """Return once some room is left (at once if there is)."""
        while self.used >= self.limit:
            await self._lot.park()
