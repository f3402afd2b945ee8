"""A transparent TCP proxy that decodes every frame it forwards.

Each accepted connection gets a fresh connection to the target; bytes go
through unchanged in both directions, in the chunks they arrived in, and a
copy of each chunk is split into frames (``StreamDecoder``) for the sink. A
half-close is passed on as a half-close, so request/answer peers that shut
down their sending side still get their answer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import attrs
import trio

from trio_dht.checker.frames import FrameEvent, StreamDecoder
from trio_dht.transport import format_address, peer_address

log = logging.getLogger(__name__)

CHUNK = 65536
# Arrow names of the two directions: the proxy only knows who dialled whom.
CLIENT_TO_TARGET = ">>"
TARGET_TO_CLIENT = "<<"


@attrs.frozen
class Seen:
    """A frame seen by the proxy: which connection, which way, in which dialect."""

    connection: int
    arrow: str
    dialect: str
    event: FrameEvent
    time: float  # trio.current_time() when its last byte arrived


FrameSink = Callable[[Seen], None]


@attrs.define
class Proxy:
    """``serve`` accepts on ``listen``, dials ``target`` per connection."""

    target_host: str
    target_port: int
    wire: str
    sink: FrameSink
    connections: int = 0

    async def serve(
        self,
        host: str,
        port: int,
        *,
        task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        listeners = await trio.open_tcp_listeners(port, host=host)
        bound = int(listeners[0].socket.getsockname()[1])
        task_status.started(bound)
        await trio.serve_listeners(self._handle, listeners)

    async def _handle(self, client: trio.SocketStream) -> None:
        self.connections += 1
        number = self.connections
        try:
            target = await trio.open_tcp_stream(self.target_host, self.target_port)
        except OSError as exc:
            where = format_address(self.target_host, self.target_port)
            log.warning("connection %d from %s: cannot reach %s: %s", number,
                        peer_address(client), where, exc)  # fmt: skip
            await client.aclose()
            return
        log.info("connection %d: %s -> %s", number, peer_address(client), peer_address(target))
        forward = StreamDecoder(self.wire)
        backward = StreamDecoder(self.wire)
        async with client, target, trio.open_nursery() as nursery:
            nursery.start_soon(self._pump, number, CLIENT_TO_TARGET, client, target, forward,
                               backward, nursery.cancel_scope)  # fmt: skip
            nursery.start_soon(self._pump, number, TARGET_TO_CLIENT, target, client, backward,
                               forward, nursery.cancel_scope)  # fmt: skip
        log.info("connection %d closed", number)

    async def _pump(
        self,
        number: int,
        arrow: str,
        source: trio.SocketStream,
        dest: trio.SocketStream,
        decoder: StreamDecoder,
        other: StreamDecoder,
        scope: trio.CancelScope,
    ) -> None:
        try:
            while data := await source.receive_some(CHUNK):
                # Forward first: the capture must never delay the traffic
                # more than one decode of a chunk already on its way.
                await dest.send_all(data)
                self._report(number, arrow, decoder, other, decoder.feed(data))
            self._report(number, arrow, decoder, other, decoder.close())
            await dest.send_eof()
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            log.info("connection %d %s: %s", number, arrow, exc)
            self._report(number, arrow, decoder, other, decoder.close())
            scope.cancel()

    def _report(
        self,
        number: int,
        arrow: str,
        decoder: StreamDecoder,
        other: StreamDecoder,
        events: list[FrameEvent],
    ) -> None:
        dialect = decoder.dialect
        if dialect is not None:
            # Whichever side spoke first settles the dialect of the connection.
            other.adopt(dialect.name)
        name = dialect.name if dialect is not None else "unknown"
        now = trio.current_time()
        for event in events:
            self.sink(Seen(number, arrow, name, event, now))
