"""Reading whole frames from a trio stream."""

from __future__ import annotations

import math

import trio

from trio_dht.wire import LengthPrefixFramer, WireError

# One receive_some per call: at 20-30 bytes a data frame, 64 KiB carries a
# couple of thousand packets, so the per-chunk costs (the syscall, the
# checkpoint, the batch flush) vanish against the per-packet work.
DEFAULT_CHUNK = 1 << 16


class FrameReader:
    """Yields the frame bodies of a stream in batches: every whole frame of
    each chunk received, so the caller handles them without awaiting."""

    __slots__ = ("_chunk", "_framer", "_stream")

    def __init__(
        self,
        stream: trio.abc.ReceiveStream,
        framer: LengthPrefixFramer,
        chunk: int = DEFAULT_CHUNK,
    ) -> None:
        self._stream = stream
        self._framer = framer
        self._chunk = chunk

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
        """
        framer = self._framer
        started = framer.buffered > 0
        deadline = trio.current_time() + (frame_timeout if started else idle_timeout)
        while True:
            if deadline == math.inf:
                # No limit: skip the cancel scope (a few % of a busy reader).
                data = await self._stream.receive_some(self._chunk)
            else:
                with trio.fail_at(deadline):
                    data = await self._stream.receive_some(self._chunk)
            if not data:
                if framer.buffered:
                    raise WireError(
                        f"connection closed inside a frame ({framer.buffered} bytes of it received)"
                    )
                return []
            bodies = framer.feed(data)
            if bodies:
                return bodies
            if not started:
                # A frame has begun: from now on it must complete in time.
                started = True
                deadline = trio.current_time() + frame_timeout
