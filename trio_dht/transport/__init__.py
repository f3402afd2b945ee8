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
from trio_dht.transport.queue import DEFAULT_CAPACITY, QueuedWriter
from trio_dht.transport.reader import DEFAULT_CHUNK, FrameReader
from trio_dht.transport.writer import FrameWriter

__all__ = [
    "DEFAULT_BUDGET",
    "DEFAULT_CAPACITY",
    "DEFAULT_CHUNK",
    "ByteBudget",
    "DialWriter",
    "FrameReader",
    "FrameWriter",
    "QueuedWriter",
    "can_dial",
    "format_address",
    "local_host",
    "parse_address",
    "peer_address",
    "peer_host",
]
