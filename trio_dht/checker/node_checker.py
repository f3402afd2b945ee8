"""``check node``: run copies of a foreign messaging node in an overlay whose
other nodes, and registry, the checker plays, and grade each copy case by case.

The overlay has ``overlay_size(count)`` nodes (10 by default): the copies take
consecutive places on the ring, so they route to one another, and the
checker's own nodes take the rest. Every data frame still crosses a socket of
the checker (``node_links``): what a copy sends to another copy is recorded,
graded as that copy's hop and passed on, so each copy is graded exactly as if
it were alone, and the routes between copies are graded too.

Packets for the copies are handed over while the first task runs (so that a
node resetting its counters at a task's start still reports the first run
right), after it finished, and between the two runs (which a node resetting
only at the next task then loses). Every wait is bounded; a copy that runs
out of time fails its case, drops out, and its cases after it fail as "not
reached" while the other copies go on.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable

import trio

from trio_dht.checker import node_endgame as endgame
from trio_dht.checker import node_opening as opening
from trio_dht.checker import node_runs as runs
from trio_dht.checker.ledger import Arrival, Injected, make_batch
from trio_dht.checker.node_catalogue import NodeCheckConfig, overlay_size
from trio_dht.checker.node_copy import Copy, Stop
from trio_dht.checker.node_harness import Harness
from trio_dht.checker.node_links import Links, Recorded
from trio_dht.checker.process import fill
from trio_dht.checker.report import Report
from trio_dht.checker.report_copies import merge
from trio_dht.overlay import ID_SPACE, next_hop, routing_tables
from trio_dht.wire import get_dialect
from trio_dht.wire.messages import Data, NodeManifest, PeerEntry


class NodeChecker:
    def __init__(self, config: NodeCheckConfig) -> None:
        self.config = config
        self.dialect = get_dialect(config.wire)
        self.rng = random.Random(config.seed)
        self.subject = " ".join(config.command)
        self.copies: list[Copy] = []
        self.by_id: dict[int, Copy] = {}
        self.frames: list[Recorded] = []
        self.registry_port = 0

    async def run(self) -> Report:
        started = trio.current_time()
        cfg = self.config
        async with trio.open_nursery() as nursery:
            self.h = h = Harness(self.dialect, cfg.host, nursery, cfg.per_message)
            self.links = Links(self.dialect, cfg.host, nursery, h.poke, self._on_data,
                               cfg.per_message)  # fmt: skip
            self.registry_port = await nursery.start(h.serve_registry)
            self._place_copies()
            try:
                await self._steps()
            finally:
                with trio.CancelScope(shield=True):
                    async with trio.open_nursery() as stopping:
                        for copy in self.copies:
                            if copy.child is not None:
                                stopping.start_soon(copy.child.stop)
                    await self.links.close_pipes()
                nursery.cancel_scope.cancel()
        for copy in self.copies:
            copy.not_reached("an earlier step did not complete")
        self.frames = sorted(h.frames + self.links.frames, key=lambda r: r.time)
        report = merge([(c.label, c.report) for c in self.copies], self.subject, cfg.wire)
        report.seconds = trio.current_time() - started
        if self.links.errors:
            report.notes.extend(self.links.errors[:10])
        return report

    def _place_copies(self) -> None:
        """Ids for the overlay; the copies take consecutive places on the ring."""
        cfg = self.config
        ids = sorted(self.rng.sample(range(ID_SPACE), overlay_size(cfg.count)))
        self.ids = tuple(ids)
        self.tables = routing_tables(ids, cfg.nr)
        first = self.rng.randrange(len(ids))
        mine = [ids[(first + i) % len(ids)] for i in range(cfg.count)]
        self.checker_ids = [i for i in ids if i not in mine]
        for index, me in enumerate(mine, start=1):
            copy = Copy(index, me, self.tables[me], self.ids, self.subject, cfg.wire,
                        robustness=index == 1)  # fmt: skip
            copy.rng = random.Random(self.rng.random())
            self.copies.append(copy)
            self.by_id[me] = copy
            self.h.by_id[me] = index
        if cfg.count == 1:
            self.h.only_copy = 1

    def command(self, copy: Copy) -> list[str]:
        """The command line of ``copy``: {host} {port} of the registry, and
        {copy}, its number (1..count), for commands that differ per copy."""
        values = {"host": self.config.host, "port": str(self.registry_port),
                  "copy": str(copy.index)}  # fmt: skip
        return fill(self.config.command, values)

    @property
    def active(self) -> list[Copy]:
        return [c for c in self.copies if c.active]

    async def each(self, step: Callable[[Copy], Awaitable[None]]) -> None:
        """``step`` for every active copy at once; a copy that cannot go on drops out."""

        async def one(copy: Copy) -> None:
            try:
                await step(copy)
            except Stop as stop:
                copy.drop(str(stop))
                if copy.child is not None:
                    await copy.child.stop()

        async with trio.open_nursery() as nursery:
            for copy in self.active:
                nursery.start_soon(one, copy)

    async def _steps(self) -> None:
        # One at a time: a registry connection belongs to the copy being started.
        for copy in self.copies:
            try:
                await opening.register(self, copy)
            except Stop as stop:
                copy.drop(str(stop))
                if copy.child is not None:
                    await copy.child.stop()
        for copy in self.active:
            for entry in copy.table:
                await self.links.open_entry(copy.index, entry)
        await self.each(lambda c: opening.setup(self, c))
        await runs.first_run(self)
        await runs.summary_one(self)
        await runs.second_run(self)
        await self.each(runs.grade_routing_of(self))
        await self.each(lambda c: endgame.setup_failure(self, c))
        await self.each(lambda c: endgame.leave(self, c))
        for copy in self.copies:
            copy.active = False
        await endgame.robustness(self, self.copies[0])

    # --- the data plane ----------------------------------------------------------

    def manifest(self, copy: Copy, broken_port: int | None = None) -> NodeManifest:
        host = self.config.host
        entries = [PeerEntry(e, host, self.links.entries[(copy.index, e)].port)
                   for e in copy.table]  # fmt: skip
        if broken_port is not None:
            entries[0] = PeerEntry(entries[0].node_id, host, broken_port)
        return NodeManifest(tuple(entries), self.ids)

    def _on_data(self, sender: int, entry: int, packet: Data, frame: bytes, now: float) -> None:
        """Copy ``sender`` sent ``packet`` to its entry ``entry``: graded as its
        hop, then passed on: to ``entry`` when it is another copy still
        running, else along the checker's own nodes, as they would route it,
        up to its sink or the next copy on its way."""
        source = self.copies[sender - 1]
        source.ledger.arrive(Arrival(entry, packet, frame, now))
        target = self.by_id.get(entry)
        if target is not None:
            if target.active:
                self._queue(target, Injected(packet, source.me), frame)
            return
        if packet.destination not in self.tables:
            return  # no node has that id (case 8.3): the checker's node drops it
        # Each hop gets strictly closer to the destination: this ends.
        at, trace = entry, packet.trace
        while at != packet.destination:
            trace = (*trace, at)
            hop = next_hop(at, packet.destination, self.tables[at])
            target = self.by_id.get(hop)
            if target is not None:
                if target.active:
                    relayed = Data(packet.destination, packet.source, packet.payload, trace)
                    self._queue(target, Injected(relayed, at))
                return
            at = hop

    def _queue(self, copy: Copy, item: Injected, frame: bytes | None = None) -> None:
        copy.ledger.inject(item)
        self.links.queue(copy.index, copy.address, item.via, item.packet,
                         item.packet.destination == copy.me, frame)  # fmt: skip

    def hand(self, copy: Copy, count: int) -> None:
        """Queue ``count`` packets for ``copy``, each from the node before it on its route."""
        for item in make_batch(copy.me, copy.lanes, count, copy.rng):
            self._queue(copy, item)

    async def quiet(self) -> bool:
        """Wait until every packet handed to a running copy came out."""
        return await self.h.until(lambda: all(c.ledger.awaited == 0 for c in self.active),
                                  self.config.timeout)  # fmt: skip

    async def flush(self) -> bool:
        """Prove every copy has read every packet for it before a summary request.

        A connection whose last packet was for the copy proves nothing; a
        relay queued after it does when it comes out (a node reads a
        connection in order). It goes to one of the checker's nodes, so every
        copy it passes on the way is left with a relay last, too."""
        for copy in self.active:
            for via in self.links.needs_flush(copy.index):
                sink = self.rng.choice([i for i in self.checker_ids if i != via])
                payload = copy.rng.randint(-(2**31), 2**31 - 1)
                self._queue(copy, Injected(Data(sink, via, payload, ()), via))
        return await self.quiet()
