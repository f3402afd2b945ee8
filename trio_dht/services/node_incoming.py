"""What arrives on one connection accepted on a node's listening port.

Data from peers that have this node in their table goes to the data plane
in batches; anything else is control, which only a registry that dials its
messages in may send here, so it goes to the control consumer (and the core
decides, closing the connection if the sender had no right to). A link that
carried data of an earlier overlay generation is left over from a run that
ended: its data is counted as stale, never as received.

Which silent connections a node keeps (LinkKeeper) is decided here too.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable

import trio

from trio_dht.protocol.events import ConnRole, Opened, Received
from trio_dht.protocol.manifest import Overlay
from trio_dht.protocol.node_events import NodeEvent
from trio_dht.protocol.registry_admission import plain_host
from trio_dht.services.connection import Connection
from trio_dht.services.node_data import DataPlane
from trio_dht.transport import Slot
from trio_dht.wire import WireError
from trio_dht.wire.messages import Message


class IncomingLink:
    """The batch handler of one accepted connection."""

    def __init__(
        self,
        io: Connection,
        slot: Slot,
        data: DataPlane,
        decode: Callable[[bytes], Message],
        control: trio.MemorySendChannel[NodeEvent],
        announced: dict[int, str],
    ) -> None:
        self.io = io
        self.slot = slot
        self.data = data
        self.decode = decode
        self.control = control
        # Connections the core has been told of (it hears Closed for them).
        self.announced = announced
        self.generation: int | None = None

    async def __call__(self, bodies: list[bytes]) -> None:
        # It speaks: never the one to make room, never reaped as idle (so
        # nothing per batch after the first: this is the data path).
        slot = self.slot
        if not slot.member:
            slot.member = True
            slot.idle_timeout = math.inf
            slot.progress()
        data = self.data
        data_head = data.dialect.data_head
        if data.ready and self.generation != data.generation:
            if self.generation is None:
                self.generation = data.generation
            else:
                kept = [b for b in bodies if data_head(b) is None]
                data.counters.stale += len(bodies) - len(kept)
                bodies = kept
        if data.ready:
            outs, others, stray = data.route(bodies)
            if outs is not None:
                await data.flush(outs)
        else:
            others = [b for b in bodies if data_head(b) is None]
            stray = len(bodies) - len(others)
        if stray:
            self.io.close(
                f"{stray} data packet(s) this node cannot route (no overlay, or ids outside it)"
            )
            return
        for body in others:
            try:
                message = self.decode(body)
            except WireError as exc:
                self.io.close(f"malformed input: {exc}")
                return
            conn = self.io.conn
            if conn not in self.announced:
                # (Normalised only here: a flood of silent strangers costs
                # no address parsing.)
                host = plain_host(self.slot.host)
                self.announced[conn] = host
                await self.control.send(Opened(conn, ConnRole.LISTENER, host))
            await self.control.send(Received(conn, message))


class LinkKeeper:
    """The node's keep policy for ConnectionSlots: which connections that
    never spoke outlive the idle limit.

    Peers link to a node while the overlay is set up, some before the
    node's own manifest is in, and classic peers then say nothing until the
    run, however long that waits. Nothing on the wire tells such a link
    from a stranger's idle connection, but the overlay says how many there
    are (``Overlay.expected_links``), where they come from and when. So it
    keeps that many silent connections, preferring

    - those from a host the overlay is known to live on (its table entries',
      the registry's, this node's own): a flood from other hosts then does
      not displace a link from those, even one that waited in the listen
      backlog behind the flood and was accepted late;
    - then those opened nearest the manifest's arrival here (the registry
      sends every node its manifest at once, so peers link then).

    The rest are strangers, closed after the idle limit or to make room.
    Without an overlay it keeps none.
    """

    def __init__(self) -> None:
        self.expected = 0
        self.since = 0.0
        self.hosts: frozenset[str] = frozenset()

    def overlay(self, overlay: Overlay | None, since: float, hosts: tuple[str, ...] = ()) -> None:
        """The overlay is up (its manifest arrived at ``since``; ``hosts``
        are known members' besides its entries'), or down."""
        self.expected = 0 if overlay is None else overlay.expected_links
        self.since = since
        entries = () if overlay is None else overlay.entries
        plain = {plain_host(h) for h in (*hosts, *(e.host for e in entries))}
        # Both forms a dual-stack listener may report, so that ranking (a
        # flood's thousands of slots, every reap interval) parses nothing.
        self.hosts = frozenset(plain | {f"::ffff:{h}" for h in plain if ":" not in h})

    def __call__(self, silent: list[Slot]) -> list[Slot]:
        if len(silent) <= self.expected:
            return silent
        since, hosts = self.since, self.hosts

        def rank(slot: Slot) -> tuple[bool, float]:
            return slot.host not in hosts, abs(slot.opened - since)

        return heapq.nsmallest(self.expected, silent, key=rank)
