"""The node's supervised tasks besides its readers: one writer task per
routing-table peer (in a cancel scope per overlay), the originator, and the
stats task. Each is started by an action of the core and reports back with
an event; each has its own scope so a new manifest or a new progress
interval replaces it without touching the rest."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable

import trio

from trio_dht.protocol.manifest import Overlay
from trio_dht.protocol.node_events import (
    InstallOverlay,
    NodeEvent,
    Originate,
    OriginationDone,
    OverlayReady,
    ProgressDue,
)
from trio_dht.services.config import NodeConfig
from trio_dht.services.node_data import DataPlane, LinkFailed, Peer, close_links, open_links


class NodeTasks:
    def __init__(
        self,
        nursery: trio.Nursery,
        data: DataPlane,
        config: NodeConfig,
        feed: Callable[[NodeEvent], None],
        feed_async: Callable[[NodeEvent], Awaitable[None]],
        current_generation: Callable[[], int],
        changed: Callable[[], None],
        overlay_up: Callable[[Overlay | None, float], None],
    ) -> None:
        self._nursery = nursery
        self.data = data
        self._config = config
        self._feed = feed
        self._feed_async = feed_async
        self._current_generation = current_generation
        self._changed = changed
        # Told when this node's overlay goes down, and when it is up again
        # with the time its manifest arrived.
        self._overlay_up = overlay_up
        self._peer_scope = trio.CancelScope()
        self._origin_scope = trio.CancelScope()
        self._progress_scope: trio.CancelScope | None = None

    async def install(self, action: InstallOverlay) -> None:
        """Replace the overlay: everything of the previous one stops first,
        then the new links are opened and proven, then the core hears."""
        arrived = trio.current_time()
        self._origin_scope.cancel()
        self._peer_scope.cancel()
        self.data.clear()
        self._overlay_up(None, arrived)
        config = self._config
        try:
            peers = await open_links(
                action.overlay, config.per_message_peers, config.writer_capacity,
                config.connect_timeout, config.link_proof,
            )  # fmt: skip
        except LinkFailed as exc:
            await self._feed_async(OverlayReady(action.generation, str(exc)))
            return
        if action.generation != self._current_generation():
            await close_links(peers)  # superseded meanwhile
            return
        scope = trio.CancelScope()
        self._peer_scope = scope
        self._nursery.start_soon(self._run_writers, peers, scope)
        self.data.install(action.generation, action.overlay, peers)
        self._overlay_up(action.overlay, arrived)
        await self._feed_async(OverlayReady(action.generation))

    async def _run_writers(self, peers: list[Peer], scope: trio.CancelScope) -> None:
        with scope:
            try:
                async with trio.open_nursery() as nursery:
                    for peer in peers:
                        nursery.start_soon(peer.writer.run)
            finally:
                await close_links(peers)

    def originate(self, action: Originate, rng: random.Random) -> None:
        scope = trio.CancelScope()
        self._origin_scope = scope
        self._nursery.start_soon(self._originate, action, rng, scope)

    async def _originate(
        self, action: Originate, rng: random.Random, scope: trio.CancelScope
    ) -> None:
        with scope:
            self._changed()
            await self.data.originate(action.packets, rng)
            self._feed(OriginationDone(action.generation))

    def report_progress(self, interval: float) -> None:
        if self._progress_scope is not None:
            self._progress_scope.cancel()
            self._progress_scope = None
        if interval > 0:
            self._progress_scope = trio.CancelScope()
            self._nursery.start_soon(self._report_progress, interval, self._progress_scope)

    async def _report_progress(self, interval: float, scope: trio.CancelScope) -> None:
        """The stats task: the core decides whether there is news to send."""
        with scope:
            self._feed(ProgressDue())
            while True:
                await trio.sleep(interval)
                self._feed(ProgressDue())
