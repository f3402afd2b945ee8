"""Idle strangers on a node's listening port once its overlay is up: closed
after the idle limit or to make room, while the peers' silent links, which
nothing on the wire tells from them, are kept (LinkKeeper)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import trio
from node_helpers import LOCAL
from trio.testing import MockClock

from trio_dht.services.node import NodeConfig

STRANGER = "127.0.0.2"


class Strangers:
    """Idle connections from STRANGER to one port; with ``again`` each one
    reconnects half a second after the node closes it (as flooders do)."""

    def __init__(self, port: int, again: bool = False) -> None:
        self.port = port
        self.again = again
        self.closed = 0

    async def one(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        while True:
            stream = await trio.open_tcp_stream(LOCAL, self.port, local_address=STRANGER)
            task_status.started()
            task_status = trio.TASK_STATUS_IGNORED
            try:
                while await stream.receive_some(1024):
                    pass
            except trio.BrokenResourceError:
                pass
            self.closed += 1
            await stream.aclose()
            if not self.again:
                return
            await trio.sleep(0.5)  # the flooder's pause before it reconnects


async def test_silent_strangers_are_closed_and_the_overlay_links_kept(
    cluster: Callable[..., Any], mock_clock: MockClock
) -> None:
    # The node keeps as many silent connections as the overlay has links
    # into it (NR 2: two) and closes the rest after the idle limit: 20 that
    # came a second before the setup and 30 after it.
    mock_clock.autojump_threshold = 0.01
    config = NodeConfig(incoming_idle_timeout=2.0)
    with trio.fail_after(120):
        async with cluster() as c, trio.open_nursery() as nursery:
            for _ in range(4):
                await c.add_node(config=config)
            strangers = Strangers(c.nodes[0].port)
            for _ in range(20):
                await nursery.start(strangers.one)
            await trio.sleep(1)  # virtual time: they came a second before the setup
            c.registry.setup_overlay(2)
            await c.registry.wait_ready()
            links = [node.incoming for node in c.nodes]
            assert links == [22, 2, 2, 2], links
            for _ in range(30):
                await nursery.start(strangers.one)
            await trio.sleep(10)  # virtual time: five idle limits, no traffic
            assert strangers.closed == 50
            assert [node.incoming for node in c.nodes] == [2, 2, 2, 2]
            run = c.registry.start(200)
            await run.done.wait()
            assert run.result is not None and run.result.correct, run.result


async def test_a_flood_that_fills_the_slots_never_displaces_the_links(
    cluster: Callable[..., Any], mock_clock: MockClock
) -> None:
    # 12 strangers from another host keep a node's 8 incoming slots full,
    # reconnecting whenever closed. The peers' links wait in the backlog
    # behind them and are accepted late, among strangers as new as they
    # are; then `start` waits ten seconds, while the longest-idle silent
    # connection keeps being closed to make room. The links must survive.
    mock_clock.autojump_threshold = 0.01
    with trio.fail_after(120):
        async with cluster() as c, trio.open_nursery() as nursery:
            await c.add_node(config=NodeConfig(max_incoming=8))
            for _ in range(3):
                await c.add_node()
            strangers = Strangers(c.nodes[0].port, again=True)
            for _ in range(12):
                nursery.start_soon(strangers.one)
            await trio.sleep(3)  # virtual time: the flood is on before the setup
            c.registry.setup_overlay(2)
            await c.registry.wait_ready()
            await trio.sleep(10)  # virtual time: the flood goes on, no traffic
            assert strangers.closed > 20  # room was made, again and again
            run = c.registry.start(200)
            await run.done.wait()
            assert run.result is not None and run.result.correct, run.result
            nursery.cancel_scope.cancel()
