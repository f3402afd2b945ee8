"""Transport layer: framed trio streams, batched per-peer writers."""

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
