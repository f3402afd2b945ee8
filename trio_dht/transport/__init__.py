"""Transport layer: framed trio streams, batched per-peer writers, and the
per-process limits that keep a flood from locking anyone out.

- FrameReader / FrameWriter / DialWriter / QueuedWriter: framed reading and
  batched writing (unchanged API; an optional ``budget=`` was added).
- ByteBudget (budget.py): one per process; readers' partial frames and
  writers' queues are counted in it, and readers stop reading past it.
- ConnectionSlots / Slot (slots.py): our accept loop; no accept while full,
  evict-the-longest-idle for a waiting dialler, idle reaping, EMFILE paused
  with one warning per interval.
- limits_from_rlimit (limits.py): connection caps from RLIMIT_NOFILE.

A service puts them together like this::

    budget = ByteBudget()                          # 16 MiB per process
    slots = ConnectionSlots(
        limits_from_rlimit().connections,
        idle_timeout=config.idle_timeout,           # for connections not yet useful
        evict=lambda slot: not slot.member and slot.idle_for() >= 1.0,
    )

    async def handle(stream: trio.SocketStream, slot: Slot) -> None:
        reader = FrameReader(stream, dialect.framer(), budget=budget)
        writer = FrameWriter(stream, budget=budget)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(writer.run)
                while batch := await reader.receive_batch(frame_timeout=10):
                    if core_says_this_was_progress(batch):
                        slot.progress()
                    if core_says_registered(batch):
                        slot.member = True
                        slot.idle_timeout = math.inf
                writer.close()
        finally:
            reader.release()
        # Returning (or slot.close(reason) from anywhere) closes the stream.

    listeners = await trio.open_tcp_listeners(port, host=host)
    await nursery.start(slots.serve, handle, listeners)
"""

from trio_dht.transport.addresses import (
    format_address,
    local_host,
    parse_address,
    peer_address,
    peer_host,
)
from trio_dht.transport.budget import DEFAULT_BUDGET, ByteBudget
from trio_dht.transport.dialer import DialWriter, can_dial
from trio_dht.transport.limits import ConnectionLimits, limits_from_descriptors, limits_from_rlimit
from trio_dht.transport.queue import DEFAULT_CAPACITY, QueuedWriter
from trio_dht.transport.reader import DEFAULT_CHUNK, FrameReader
from trio_dht.transport.slots import ConnectionSlots, Slot
from trio_dht.transport.writer import FrameWriter

__all__ = [
    "DEFAULT_BUDGET",
    "DEFAULT_CAPACITY",
    "DEFAULT_CHUNK",
    "ByteBudget",
    "ConnectionLimits",
    "ConnectionSlots",
    "DialWriter",
    "FrameReader",
    "FrameWriter",
    "QueuedWriter",
    "Slot",
    "can_dial",
    "format_address",
    "limits_from_descriptors",
    "limits_from_rlimit",
    "local_host",
    "parse_address",
    "peer_address",
    "peer_host",
]
