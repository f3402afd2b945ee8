"""Writing to peers that take one message per connection.

Some ports of this system (the seed's Go port among them) read one frame
per TCP connection and close it; to reach them, every message goes on a
fresh connection to their listening address. DialWriter offers the same
queue interface as FrameWriter so services need not care which kind of
peer they talk to.
"""

from __future__ import annotations

import trio

from trio_dht.transport.budget import ByteBudget
from trio_dht.transport.queue import DEFAULT_CAPACITY, QueuedWriter


class DialWriter(QueuedWriter):
    """Queue of frames for ``host:port``, each delivered on its own
    connection by ``run``. A failed dial ends the task and sets ``broken``;
    producers then get trio.BrokenResourceError."""

    __slots__ = ("connect_timeout", "host", "port")

    def __init__(
        self,
        host: str,
        port: int,
        capacity: int = DEFAULT_CAPACITY,
        connect_timeout: float = 5.0,
        budget: ByteBudget | None = None,
    ) -> None:
        super().__init__(capacity, budget)
        self.host = host
        self.port = port
        self.connect_timeout = connect_timeout

    async def send_frames(self, frames: list[bytes]) -> None:
        """Queue each frame as its own item: one frame per connection is the
        whole point of this writer."""
        for frame in frames:
            await self.send(frame)

    async def run(self) -> None:
        receive = self._receive_channel
        try:
            async for frame in receive:
                with trio.fail_after(self.connect_timeout):
                    stream = await trio.open_tcp_stream(self.host, self.port)
                    try:
                        await stream.send_all(frame)
                    finally:
                        await stream.aclose()
                self._written(len(frame))
        except (
            trio.TooSlowError,
            trio.BrokenResourceError,
            trio.ClosedResourceError,
            OSError,
        ) as exc:
            self.broken = exc
        finally:
            self._end()
            self.done.set()


async def can_dial(host: str, port: int, timeout: float = 1.0) -> bool:
    """Whether something accepts connections at ``host:port`` (a liveness
    probe for peers whose connection closed)."""
    try:
        with trio.fail_after(timeout):
            stream = await trio.open_tcp_stream(host, port)
    except (OSError, trio.TooSlowError):
        return False
    await stream.aclose()
    return True
