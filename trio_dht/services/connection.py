"""One connection's I/O: its writer task, its reader, and one close path.

Why one class: every way a connection ends (the peer closed it, it broke,
a frame was malformed or too slow, the core decided to close it, the service
is shutting down) goes through ``serve``'s single exit, which drains what
was queued for the peer (within a bound), closes the stream once, and logs
once. Services only say ``close(reason)``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable

import trio

from trio_dht.transport import ByteBudget, FrameReader, FrameWriter, peer_address
from trio_dht.wire import Dialect, WireError

log = logging.getLogger(__name__)

# How long a closing connection may take to write what was queued for it
# (an answer before the close) before it is cut.
DRAIN_TIMEOUT = 2.0

Bodies = Callable[[list[bytes]], Awaitable[None]]


class Connection:
    """A framed stream: ``serve`` reads until the end, handing every batch
    of frame bodies to ``on_bodies`` (awaited once per batch, never per
    frame); ``send_nowait`` queues a
    frame; ``close`` ends it after the queue is written."""

    __slots__ = ("_read_scope", "_reason", "conn", "peer", "stream", "writer")

    def __init__(self, conn: int, stream: trio.SocketStream, writer_capacity: int) -> None:
        self.conn = conn
        self.stream = stream
        self.peer = peer_address(stream)
        self.writer = FrameWriter(stream, writer_capacity)
        self._read_scope = trio.CancelScope()
        self._reason: tuple[int, str] | None = None

    def send_nowait(self, frame: bytes) -> bool:
        """Queue ``frame``; False (and the connection closing) if it cannot
        take it: a peer that does not read its control messages is dropped,
        never waited for."""
        try:
            self.writer.send_nowait(frame)
        except (trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError):
            self.close("does not read what is sent to it (queue full or closed)")
            return False
        return True

    @property
    def closing(self) -> bool:
        return self._reason is not None

    def close(self, reason: str, level: int = logging.WARNING) -> None:
        """End the connection once what is queued is written."""
        if self._reason is None:
            self._reason = (level, reason)
        self._read_scope.cancel()

    async def serve(
        self,
        dialect: Dialect,
        max_frame: int,
        frame_timeout: float,
        on_bodies: Bodies,
        idle_timeout: float = math.inf,
        budget: ByteBudget | None = None,
    ) -> None:
        """Run the writer and the reader until the connection ends. With a
        ``budget``, the reader's partial frame counts in the process's byte
        budget, and the reader waits when it is spent."""
        reader = FrameReader(self.stream, dialect.framer(max_frame), budget=budget)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self.writer.run)
                with self._read_scope:
                    await self._read(reader, on_bodies, idle_timeout, frame_timeout)
                self.writer.close()
                with trio.move_on_after(DRAIN_TIMEOUT):
                    await self.writer.done.wait()
                nursery.cancel_scope.cancel()
        finally:
            reader.release()
            if self._reason is not None:
                level, reason = self._reason
                # Marked for aggregation (interface/logsink.py): a flood of
                # one kind from one host becomes one line per interval.
                host = self.peer.rpartition(":")[0]
                kind = reason.partition(":")[0]
                log.log(
                    level,
                    "closing connection from %s: %s",
                    self.peer,
                    reason,
                    extra={
                        "aggregate": ("closing", host, kind),
                        "aggregate_summary": (
                            f"closed {{count:,}} connections from {host} {{period}}: {kind}"
                        ),
                    },
                )
            with trio.CancelScope(shield=True):
                await self.stream.aclose()

    async def _read(
        self, reader: FrameReader, on_bodies: Bodies, idle_timeout: float, frame_timeout: float
    ) -> None:
        try:
            while True:
                bodies = await reader.receive_batch(idle_timeout, frame_timeout)
                if not bodies:
                    return
                await on_bodies(bodies)
        except WireError as exc:
            self.close(f"malformed input: {exc}")
        except trio.TooSlowError:
            self.close(f"no whole frame within {frame_timeout:g} s")
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            self.close(f"broke: {exc}", logging.INFO)
