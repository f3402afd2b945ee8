"""ConnectionSlots over real loopback sockets: no accept while full (the
backlog holds the dialler), eviction of the longest-idle connection for a
waiting dialler, idle connections reaped, EMFILE paused and reported once
per interval, and the descriptor-derived caps."""

from __future__ import annotations

import json
import math
import resource
import socket
import subprocess
import sys
import textwrap
from collections.abc import Callable

import pytest
import trio
import trio.testing

from trio_dht.transport import ConnectionSlots, Slot, limits_from_descriptors, limits_from_rlimit

LOCAL = "127.0.0.1"


class Server:
    """A ConnectionSlots whose handler records each slot and waits until
    the test lets it end."""

    def __init__(
        self, slots: ConnectionSlots, on_slot: Callable[[Slot], None] | None = None
    ) -> None:
        self.slots = slots
        self.on_slot = on_slot
        self.served: list[Slot] = []
        self.arrived = trio.Event()
        self.ended: dict[int, trio.Event] = {}
        self.release: dict[int, trio.Event] = {}
        self.port = 0

    async def handle(self, stream: trio.SocketStream, slot: Slot) -> None:
        index = len(self.served)
        self.served.append(slot)
        self.ended[index] = trio.Event()
        self.release.setdefault(index, trio.Event())
        if self.on_slot is not None:
            self.on_slot(slot)
        self.arrived.set()
        self.arrived = trio.Event()
        try:
            await self.release[index].wait()
        finally:
            self.ended[index].set()

    async def start(self, nursery: trio.Nursery) -> None:
        listeners = await trio.open_tcp_listeners(0, host=LOCAL)
        self.port = listeners[0].socket.getsockname()[1]
        await nursery.start(self.slots.serve, self.handle, listeners)

    async def served_count(self, count: int) -> None:
        while len(self.served) < count:
            await self.arrived.wait()


def dial(port: int, source: str) -> socket.socket:
    """A blocking client socket from ``source``: connect completes once the
    kernel queues it, accepted or not."""
    return socket.create_connection((LOCAL, port), timeout=5, source_address=(source, 0))


async def test_no_accept_while_full_the_backlog_holds_the_dialler() -> None:
    server = Server(ConnectionSlots(2))
    clients: list[socket.socket] = []
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await server.start(nursery)
            for _ in range(3):
                clients.append(dial(server.port, "127.0.0.2"))
            await server.served_count(2)
            await trio.testing.wait_all_tasks_blocked(cushion=0.1)
            # The third is connected (kernel backlog) but neither accepted
            # nor closed.
            assert server.slots.accepted == 2
            assert len(server.slots) == 2
            assert server.slots.count("127.0.0.2") == 2
            clients[2].setblocking(False)
            with pytest.raises(BlockingIOError):
                clients[2].recv(1)
            server.release[0].set()
            await server.served_count(3)
            assert [s.port for s in server.served] == [c.getsockname()[1] for c in clients]
            nursery.cancel_scope.cancel()
    for client in clients:
        client.close()


async def test_a_waiting_dialler_gets_the_slot_of_the_longest_idle() -> None:
    offered: list[Slot] = []

    def evict(slot: Slot) -> bool:
        offered.append(slot)
        return not slot.member

    server = Server(ConnectionSlots(2, evict=evict))
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await server.start(nursery)
            first = dial(server.port, "127.0.0.2")
            await server.served_count(1)
            second = dial(server.port, "127.0.0.3")
            await server.served_count(2)
            server.served[1].progress()
            third = dial(server.port, "127.0.0.4")
            await server.served_count(3)
            await server.ended[0].wait()
            assert offered == [server.served[0]]
            assert server.served[0].closed == "evicted"
            assert server.slots.evicted == 1
            assert server.served[1].closed is None
            # The evicted stranger's socket was closed by the server.
            first.settimeout(5)
            assert first.recv(1) == b""
            nursery.cancel_scope.cancel()
    for client in (first, second, third):
        client.close()


async def test_eviction_looks_past_connections_the_owner_keeps() -> None:
    offered: list[str] = []

    def evict(slot: Slot) -> bool:
        offered.append(slot.host)
        return not slot.member

    def members_from_2(slot: Slot) -> None:
        slot.member = slot.host == "127.0.0.2"

    server = Server(ConnectionSlots(2, evict=evict), members_from_2)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await server.start(nursery)
            member = dial(server.port, "127.0.0.2")
            await server.served_count(1)
            stranger = dial(server.port, "127.0.0.3")
            await server.served_count(2)
            newcomer = dial(server.port, "127.0.0.4")
            await server.served_count(3)
            await server.ended[1].wait()
            # The member was the longest idle, but the policy kept it.
            assert offered == ["127.0.0.2", "127.0.0.3"]
            assert server.served[1].closed == "evicted"
            assert server.served[0].closed is None
            assert server.slots.count("127.0.0.2") == server.slots.count("127.0.0.4") == 1
            nursery.cancel_scope.cancel()
    for client in (member, stranger, newcomer):
        client.close()


async def test_idle_connections_are_reaped_unless_the_owner_says_otherwise() -> None:
    def keep_second(slot: Slot) -> None:
        if slot.host == "127.0.0.3":
            slot.idle_timeout = math.inf

    server = Server(ConnectionSlots(10, idle_timeout=0.3), keep_second)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await server.start(nursery)
            idle = dial(server.port, "127.0.0.2")
            await server.served_count(1)
            kept = dial(server.port, "127.0.0.3")
            await server.served_count(2)
            await server.ended[0].wait()
            assert server.served[0].closed == "idle"
            assert server.slots.reaped == 1
            idle.settimeout(5)
            assert idle.recv(1) == b""
            assert server.served[1].closed is None
            assert len(server.slots) == 1
            nursery.cancel_scope.cancel()
    idle.close()
    kept.close()


async def test_the_keep_policy_shields_silent_connections_from_reaper_and_eviction() -> None:
    asked: list[list[str]] = []

    def keep(silent: list[Slot]) -> list[Slot]:
        asked.append(sorted(slot.host for slot in silent))
        return [slot for slot in silent if slot.host == "127.0.0.2"]

    slots = ConnectionSlots(2, idle_timeout=0.3, evict=lambda slot: not slot.member, keep=keep)
    server = Server(slots)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await server.start(nursery)
            kept = dial(server.port, "127.0.0.2")
            await server.served_count(1)
            stranger = dial(server.port, "127.0.0.3")
            await server.served_count(2)
            # Both silent past the idle limit: only the stranger is reaped.
            await server.ended[1].wait()
            assert server.served[1].closed == "idle"
            assert server.served[0].closed is None and server.served[0].kept
            assert ["127.0.0.2", "127.0.0.3"] in asked
            # Full again: a newcomer makes room by evicting the stranger
            # that is not kept, although the kept one is the longest idle.
            slots.idle_timeout = math.inf  # (so the reaper cannot come first)
            second = dial(server.port, "127.0.0.4")
            await server.served_count(3)
            newcomer = dial(server.port, "127.0.0.5")
            await server.served_count(4)
            assert server.served[2].closed == "evicted"
            assert server.served[0].closed is None
            assert slots.reaped == 1 and slots.evicted == 1
            nursery.cancel_scope.cancel()
    for client in (kept, stranger, second, newcomer):
        client.close()


async def test_progress_restarts_the_idle_time(autojump_clock: trio.testing.MockClock) -> None:
    slot = Slot("127.0.0.2", 1, 5.0)
    start = trio.current_time()
    autojump_clock.jump(3.0)
    assert slot.idle_for() == pytest.approx(3.0)
    slot.progress()
    assert slot.idle_for() == 0
    assert slot.last_progress == pytest.approx(start + 3.0)


EMFILE_CHILD = textwrap.dedent(
    """
    import json, logging, os, resource, socket, sys
    import trio
    from trio_dht.transport import ConnectionSlots

    N = 30

    async def main() -> None:
        logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        port = listeners[0].socket.getsockname()[1]
        slots = ConnectionSlots(1000)
        everyone = trio.Event()

        async def handle(stream, slot):
            if slots.accepted == N:
                everyone.set()
            await trio.sleep_forever()

        async with trio.open_nursery() as nursery:
            await nursery.start(slots.serve, handle, listeners)
            clients = [
                socket.create_connection(("127.0.0.1", port), source_address=("127.0.0.3", 0))
                for _ in range(N)
            ]
            soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            resource.setrlimit(resource.RLIMIT_NOFILE, (len(os.listdir("/proc/self/fd")) + 4, hard))
            with trio.move_on_after(1.5):
                await everyone.wait()
            starved = {"accepted": slots.accepted, "errors": slots.resource_errors}
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
            with trio.fail_after(10):
                await everyone.wait()
            print(json.dumps({"starved": starved, "accepted": slots.accepted}))
            nursery.cancel_scope.cancel()
        for client in clients:
            client.close()

    trio.run(main)
    """
)


def test_out_of_descriptors_pauses_accepting_with_one_warning_per_interval() -> None:
    done = subprocess.run(
        [sys.executable, "-c", EMFILE_CHILD],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["starved"]["accepted"] < 30
    assert result["starved"]["errors"] >= 3
    assert result["accepted"] == 30
    warnings = [
        line for line in done.stderr.splitlines() if "out of file descriptors (EMFILE)" in line
    ]
    assert 1 <= len(warnings) <= 4, done.stderr
    assert "Traceback" not in done.stderr


def test_caps_leave_room_below_the_descriptor_limit() -> None:
    limits = limits_from_descriptors(1024)
    assert (limits.connections, limits.outgoing) == (720, 240)
    assert limits.connections + limits.outgoing + 64 == 1024
    assert limits_from_descriptors(10).connections == 16
    # Memory caps it whatever the descriptors (15 KB per connection).
    big = limits_from_descriptors(20_000)
    assert (big.connections, big.outgoing) == (1024, 20_000 - 64 - 1024)
    own = limits_from_rlimit()
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    assert own.connections < min(soft, 1 << 16)
