"""The data plane of ``check node``: every data frame a copy under test sends
or receives passes a socket of the checker.

Each copy gets its own listener per routing-table entry (an ``Entry``), so a
connection accepted there can only come from that copy: the checker knows who
sent every packet even when several copies share an entry. When the entry is
another copy under test, the frame goes on to it through a ``Pipe``, the one
connection per (copy, sending node) that also carries the packets the checker
hands that copy itself. One writer task per pipe keeps its frames in the
order they were queued, which the checker relies on to prove a copy has read
everything (a relay queued last that comes out was read last).
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable

import attrs
import trio

from trio_dht.checker.frames import FrameEvent, StreamDecoder
from trio_dht.wire import Dialect
from trio_dht.wire.messages import Data

CHUNK = 65536


@attrs.define
class Recorded:
    """One frame the checker saw or sent (for ``--capture``)."""

    time: float
    where: str  # "registry", "copy 2 -> 45" (what copy 2 sent to entry 45), "45 -> copy 2"
    direction: str  # "node->registry", "registry->node", "node->node"
    event: FrameEvent


@attrs.define(eq=False)
class Entry:
    """What copy ``copy`` reaches when it connects to table entry ``node_id``."""

    copy: int
    node_id: int
    listener: trio.SocketListener
    port: int
    accepted: list[float] = attrs.field(factory=list)
    others: list[FrameEvent] = attrs.field(factory=list)  # non-data frames received


@attrs.define(eq=False)
class Pipe:
    """Frames into copy ``copy`` at ``address`` as if from node ``via``."""

    copy: int
    via: int
    address: tuple[str, int]
    send: trio.MemorySendChannel[bytes]
    last_delivers: bool = False  # the last frame queued is for the copy itself


# (sending copy, entry, packet, frame, time): a data frame a copy sent.
OnData = Callable[[int, int, Data, bytes, float], None]


async def drain(stream: trio.SocketStream) -> None:
    """Read and drop: nothing is expected back, but a close is noticed."""
    try:
        async with stream:
            while await stream.receive_some(CHUNK):
                pass
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass


class Links:
    def __init__(
        self,
        dialect: Dialect,
        host: str,
        nursery: trio.Nursery,
        poke: Callable[[], None],
        on_data: OnData,
        per_message: bool = False,
    ) -> None:
        self.dialect = dialect
        self.host = host
        self.nursery = nursery
        self.poke = poke
        self.on_data = on_data
        # One message per connection (the seed's Go port): each frame is sent
        # on a fresh connection to the copy's listening address.
        self.per_message = per_message
        self.entries: dict[tuple[int, int], Entry] = {}
        self.pipes: dict[tuple[int, int], Pipe] = {}
        self.errors: list[str] = []
        self.frames: list[Recorded] = []

    # --- what the copies send -------------------------------------------------

    async def open_entry(self, copy: int, node_id: int) -> Entry:
        found = self.entries.get((copy, node_id))
        if found is not None:
            return found
        listener = (await trio.open_tcp_listeners(0, host=self.host))[0]
        entry = Entry(copy, node_id, listener, int(listener.socket.getsockname()[1]))
        self.entries[(copy, node_id)] = entry
        self.nursery.start_soon(trio.serve_listeners, self._accepted(entry), [listener])
        return entry

    def _accepted(self, entry: Entry) -> Callable[[trio.SocketStream], Awaitable[None]]:
        async def handle(stream: trio.SocketStream) -> None:
            entry.accepted.append(trio.current_time())
            self.poke()
            await self._read(entry, stream)

        return handle

    def connected(self, copy: int) -> set[int]:
        """The entries copy ``copy`` has opened a connection to."""
        return {e.node_id for (c, _), e in self.entries.items() if c == copy and e.accepted}

    async def _read(self, entry: Entry, stream: trio.SocketStream) -> None:
        decoder = StreamDecoder(self.dialect.name)
        where = f"copy {entry.copy} -> {entry.node_id}"
        async with stream:
            try:
                while data := await stream.receive_some(CHUNK):
                    now = trio.current_time()
                    for event in decoder.feed(data):
                        self.frames.append(Recorded(now, where, "node->node", event))
                        if isinstance(event.message, Data):
                            self.on_data(entry.copy, entry.node_id, event.message, event.frame, now)
                        else:
                            entry.others.append(event)
                    self.poke()
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass

    # --- what the copies receive ----------------------------------------------

    def queue(self, copy: int, address: tuple[str, int], via: int, packet: Data,
              delivers: bool, frame: bytes | None = None) -> None:  # fmt: skip
        """Send ``packet`` to copy ``copy`` on the pipe from ``via`` (opened on
        first use); synchronous, so callers keep the order they queue in.
        ``delivers``: the packet is for the copy itself."""
        pipe = self.pipes.get((copy, via))
        if pipe is None:
            send, receive = trio.open_memory_channel[bytes](math.inf)
            pipe = Pipe(copy, via, address, send)
            self.pipes[(copy, via)] = pipe
            self.nursery.start_soon(self._write, pipe, receive)
        frame = frame if frame is not None else self.dialect.encode(packet)
        self.frames.append(Recorded(trio.current_time(), f"{via} -> copy {copy}", "node->node",
                                    FrameEvent(0, frame, packet)))  # fmt: skip
        pipe.last_delivers = delivers
        pipe.send.send_nowait(frame)

    def needs_flush(self, copy: int) -> list[int]:
        """The senders whose pipe into ``copy`` ends with a packet for it."""
        return [p.via for (c, _), p in self.pipes.items() if c == copy and p.last_delivers]

    async def _write(self, pipe: Pipe, receive: trio.MemoryReceiveChannel[bytes]) -> None:
        where = f"{pipe.via} -> copy {pipe.copy}"
        stream: trio.SocketStream | None = None
        broken = False  # after a failure the rest is dropped (the copy is gone)
        try:
            async for frame in receive:
                # Everything queued so far goes out in one write.
                frames = [frame]
                while True:
                    try:
                        frames.append(receive.receive_nowait())
                    except (trio.WouldBlock, trio.EndOfChannel):
                        break
                if broken:
                    continue
                if self.per_message:
                    for one in frames:
                        await dial_once(self.nursery, pipe.address, one, self.errors)
                    continue
                try:
                    if stream is None:
                        stream = await trio.open_tcp_stream(*pipe.address)
                        self.nursery.start_soon(drain, stream)
                    await stream.send_all(b"".join(frames))
                except (OSError, trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                    self.errors.append(f"{where}: cannot send to the copy: {exc!r}")
                    broken = True
        finally:
            if stream is not None:
                with trio.CancelScope(shield=True):
                    await stream.aclose()

    async def close_pipes(self, copy: int | None = None) -> None:
        """Close the pipes into ``copy`` (all when None): a fresh copy gets new ones."""
        for key in [k for k in self.pipes if copy is None or k[0] == copy]:
            await self.pipes.pop(key).send.aclose()
        await trio.lowlevel.checkpoint()


async def dial_once(
    nursery: trio.Nursery, address: tuple[str, int], frame: bytes, errors: list[str]
) -> bool:
    """Send ``frame`` on a fresh connection to ``address``."""
    try:
        stream = await trio.open_tcp_stream(*address)
    except OSError as exc:
        errors.append(f"cannot dial the node at {address}: {exc}")
        return False
    # Left open: some per-message peers take a close for an error; the node
    # reads its one frame and leaves the rest to us.
    nursery.start_soon(drain, stream)
    try:
        await stream.send_all(frame)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        return False
    return True
