"""The node's data plane: links to routing-table peers, routing, origination.

Data never goes through the protocol core: a reader takes every whole frame
of a received chunk, routes them all synchronously into per-peer lists, and
hands each list to that peer's writer as one joined batch, awaiting only
when that writer's queue is full (the backpressure that bounds memory). The
core's counters are updated once per batch.

Links belong to one overlay generation. A new manifest cancels the old
generation's writers and origination at once; data arriving later on a
connection that carried data of an earlier generation is counted as stale
and never as received, so nothing of an ended run counts in the next.
"""

from __future__ import annotations

import logging
import random
import struct
from collections.abc import Sequence

import attrs
import trio

from trio_dht.overlay import ID_SPACE
from trio_dht.protocol.manifest import Overlay
from trio_dht.protocol.node_counters import Counters
from trio_dht.transport import DialWriter, FrameWriter, QueuedWriter, format_address
from trio_dht.wire import Dialect

log = logging.getLogger(__name__)

# Packets originated between two checkpoints: large enough that readers
# get big chunks (fewer wake-ups and syscalls per packet: 10 x 100,000 in one
# process went from 420k to 540k delivered/s going from 256 to 2048), small
# enough that relaying for others is never starved for long (~0.5 ms).
ORIGINATE_BATCH = 2048
NO_ROUTE = -1


@attrs.define(eq=False)
class Peer:
    """An outgoing link to one routing-table entry."""

    node_id: int
    host: str
    port: int
    writer: QueuedWriter
    # Set once its connection broke (so that is logged once, not per batch).
    lost: bool = False

    @property
    def address(self) -> str:
        return format_address(self.host, self.port)


class LinkFailed(Exception):
    """An entry of the manifest cannot be linked; the text says why."""


async def open_links(
    overlay: Overlay,
    per_message: bool,
    capacity: int,
    connect_timeout: float,
    proof: float,
) -> list[Peer]:
    """Open one link per entry and prove it: a peer that accepts and closes
    at once (its slots are full) is not a link. Raises LinkFailed."""
    peers: list[Peer] = []
    try:
        for entry in overlay.entries:
            if per_message:
                dialer = DialWriter(entry.host, entry.port, capacity, connect_timeout)
                peers.append(Peer(entry.node_id, entry.host, entry.port, dialer))
                continue
            try:
                with trio.fail_after(connect_timeout):
                    stream = await trio.open_tcp_stream(entry.host, entry.port)
            except (OSError, trio.TooSlowError) as exc:
                raise LinkFailed(
                    f"cannot connect to node {entry.node_id} at "
                    f"{format_address(entry.host, entry.port)}: {reason(exc)}"
                ) from None
            peers.append(Peer(entry.node_id, entry.host, entry.port, FrameWriter(stream, capacity)))
        closed = await _closed_at_once(peers, proof)
        if closed:
            raise LinkFailed(f"node {closed} closed the link as soon as it was opened")
    except BaseException:
        await close_links(peers)
        raise
    return peers


async def _closed_at_once(peers: list[Peer], proof: float) -> int | None:
    """The id of a peer that closed its link within ``proof`` seconds."""
    closed: list[int] = []

    async def watch(peer: Peer) -> None:
        writer = peer.writer
        if not isinstance(writer, FrameWriter) or not isinstance(writer.stream, trio.SocketStream):
            return
        with trio.move_on_after(proof):
            try:
                data = await writer.stream.receive_some(1)
            except (trio.BrokenResourceError, OSError):
                data = b""
            if not data:
                closed.append(peer.node_id)

    async with trio.open_nursery() as nursery:
        for peer in peers:
            nursery.start_soon(watch, peer)
    return closed[0] if closed else None


async def close_links(peers: Sequence[Peer]) -> None:
    with trio.CancelScope(shield=True):
        for peer in peers:
            if isinstance(peer.writer, FrameWriter):
                await peer.writer.stream.aclose()


class DataPlane:
    """Routing state of one node for its current overlay generation."""

    def __init__(self, dialect: Dialect, counters: Counters) -> None:
        self.dialect = dialect
        self.counters = counters
        self.me = -1
        self.generation = 0
        self.peers: list[Peer] = []
        self.node_ids: tuple[int, ...] = ()
        # destination id -> index into self.peers (NO_ROUTE when unknown)
        self.hop: list[int] = [NO_ROUTE] * ID_SPACE
        self.others: list[int] = []
        self._check_loops = False

    @property
    def ready(self) -> bool:
        return bool(self.peers)

    def install(self, generation: int, overlay: Overlay, peers: list[Peer]) -> None:
        index = {p.node_id: k for k, p in enumerate(peers)}
        hop = [NO_ROUTE] * ID_SPACE
        for destination, via in overlay.next_hop.items():
            hop[destination] = index[via]
        self.me = overlay.me
        self.generation = generation
        self.peers = peers
        self.node_ids = overlay.node_ids
        self.others = [i for i in overlay.node_ids if i != overlay.me]
        self.hop = hop
        # Id 0 is what one classic peer writes into every trace slot
        # (captured), so for node 0 a 0 in a trace proves no loop.
        self._check_loops = overlay.me != 0

    def clear(self) -> None:
        self.peers = []
        self.hop = [NO_ROUTE] * ID_SPACE
        self.others = []

    def route(self, bodies: list[bytes]) -> tuple[list[list[bytes]] | None, list[bytes], int]:
        """Deliver or forward every data frame in ``bodies``. Returns the
        per-peer batches to flush (None if nothing to forward), the bodies
        that are not data, and how many data frames had no route here.
        Synchronous on purpose: no checkpoint per packet."""
        outs: list[list[bytes]] = [[] for _ in self.peers]
        tally = self.dialect.route_batch(
            bodies, self.me, self.hop, outs, self._check_loops, self.counters.relays
        )
        c = self.counters
        c.received += tally.received
        c.sum_received += tally.sum_received
        c.relayed += tally.relayed
        c.dropped += tally.looped
        return (outs if tally.relayed else None), tally.others, tally.stray

    async def flush(self, outs: list[list[bytes]]) -> None:
        """Queue each non-empty batch on its peer's writer, awaiting only when
        that queue is full."""
        peers = self.peers
        links = self.counters.links  # packets per entry, counted per batch
        for k, frames in enumerate(outs):
            if not frames or k >= len(peers):
                continue
            try:
                links[k] += len(frames)
                await peers[k].writer.send_frames(frames)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                links[k] -= len(frames)
                self.counters.dropped += len(frames)
                peer = peers[k]
                if not peer.lost:
                    peer.lost = True
                    log.warning(
                        "the link to node %d is gone: dropping and counting the packets "
                        "routed through it",
                        peer.node_id,
                    )

    async def originate(self, packets: int, rng: random.Random) -> None:
        """Originate ``packets`` packets to sinks uniform over the other nodes,
        with payloads uniform over all signed 32-bit integers."""
        me = self.me
        originate_batch = self.dialect.originate_batch
        hop = self.hop
        others = self.others
        counters = self.counters
        if not others:
            return  # no overlay (the core refuses one of this node alone)
        done = 0
        while done < packets:
            count = min(ORIGINATE_BATCH, packets - done)
            outs: list[list[bytes]] = [[] for _ in self.peers]
            # Drawn a burst at a time: sinks by choices, payloads from four
            # random bytes each read as signed big-endian ints.
            destinations = rng.choices(others, k=count)
            payloads = struct.unpack(f">{count}i", rng.randbytes(4 * count))
            originate_batch(destinations, payloads, me, hop, outs)
            counters.sent += count
            counters.sum_sent += sum(payloads)
            done += count
            await self.flush(outs)
            # Let readers relay and writers drain between bursts.
            await trio.lowlevel.checkpoint()


def reason(exc: BaseException) -> str:
    if isinstance(exc, trio.TooSlowError):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
