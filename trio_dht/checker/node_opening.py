"""The first steps of ``check node`` for one copy: it starts and registers
(cases 1.x), takes its manifest and connects (2.1, 2.2)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

from trio_dht.checker import node_grading as grading
from trio_dht.checker.ledger import lanes
from trio_dht.checker.node_catalogue import SUCCESS
from trio_dht.checker.node_copy import Copy, Stop
from trio_dht.checker.process import Child
from trio_dht.wire.messages import OverlaySetupStatus, Registration, RegistrationStatus

if TYPE_CHECKING:
    from trio_dht.checker.node_checker import NodeChecker

CONNECT_TIME = 1.0  # after its setup status, how long a copy may take to connect


async def start(k: NodeChecker, copy: Copy, name: str) -> None:
    """Start a process for ``copy`` and wait for the first frame on a new
    registry connection (its registration, or what it sent instead)."""
    h = k.h
    h.claiming = copy.index
    try:
        copy.child = Child(name, k.command(copy), h.poke)
        if not await copy.child.start(h.nursery):
            raise Stop(copy.child.start_error or "could not start")
        if copy.pid is None:  # a second process keeps the first one's name
            copy.pid = copy.child.pid

        def spoke() -> bool:
            assert copy.child is not None
            return copy.child.exited.is_set() or any(
                not e.consumed and (isinstance(e.message, Registration)
                                    or (e.event is not None and e.event.malformed))
                for e in h.entries_of(copy.index)
            )  # fmt: skip

        await h.until(spoke, k.config.startup_timeout)
    finally:
        h.claiming = None


async def register(k: NodeChecker, copy: Copy) -> None:
    h, cfg = k.h, k.config
    name = "node" if cfg.count == 1 else f"node copy {copy.index}"
    try:
        await start(k, copy, name)
    except Stop as stop:
        copy.case("1.1").fail(str(stop))
        raise
    entry = await h.expect(Registration, 0, copy.index)
    first = copy.case("1.1")
    bad = [e.event for e in h.entries_of(copy.index) if e.event is not None and e.event.malformed]
    if entry is None and bad:
        first.fail(f"its first frame does not decode as {k.dialect.name}: {bad[0].error}",
                   grading.frame_evidence(k.dialect, bad[0]))  # fmt: skip
        raise Stop("no registration the checker could read")
    if entry is None or entry.event is None:
        exited = copy.child.returncode if copy.child is not None else None
        why = f"no registration within {cfg.startup_timeout:g} s"
        if exited is not None:
            why += f" (the process exited with status {exited})"
        first.fail(why, {"process_output": copy.tail()})
        raise Stop(why)
    event = entry.event
    message = event.message
    assert isinstance(message, Registration)
    copy.address = h.addresses[copy.index] = (message.host, message.port)
    if grading.check_exact(first, k.dialect, event, "registration"):
        first.passed("ok", grading.frame_evidence(k.dialect, event))
    real = copy.case("1.2")
    came_from = h.peer_hosts.get(copy.index)
    if message.host != came_from:
        real.fail(f"registered {message.host}, but the connection comes from {came_from}",
                  grading.frame_evidence(k.dialect, event))  # fmt: skip
    else:
        real.passed(f"ok: {message.host}")
    listening = copy.case("1.3")
    try:
        with trio.fail_after(cfg.timeout):
            stream = await trio.open_tcp_stream(message.host, message.port)
        await stream.aclose()
        listening.passed(f"ok: {message.host}:{message.port} accepts connections")
    except (OSError, trio.TooSlowError) as exc:
        listening.fail(f"cannot connect to {message.host}:{message.port}: {exc!r}")
    status = RegistrationStatus(copy.me, SUCCESS.format(len(k.ids)))
    if not await h.send_control(status, copy.index, reply_to=entry):
        raise Stop("the registration connection closed before the answer")
    copy.active = True


async def setup(k: NodeChecker, copy: Copy) -> None:
    h, cfg = k.h, k.config
    await h.send_control(k.manifest(copy), copy.index)
    entry = await h.expect(OverlaySetupStatus, cfg.timeout, copy.index)
    status_case = copy.case("2.2")
    if entry is None or entry.event is None:
        status_case.fail(f"no overlay setup status within {cfg.timeout:g} s")
        raise Stop("no setup status")
    event = entry.event
    assert isinstance(event.message, OverlaySetupStatus)
    evidence = grading.frame_evidence(k.dialect, event, expected_status=copy.me)
    if event.message.status != copy.me:
        status_case.fail(f"status {event.message.status}, expected its id {copy.me}", evidence)
    elif grading.check_exact(status_case, k.dialect, event, "setup status"):
        status_case.passed(f"ok: status {copy.me}", evidence)
    copy.lanes = lanes(copy.me, k.tables)
    await h.until(lambda: k.links.connected(copy.index) >= set(copy.table), CONNECT_TIME)
    connected = k.links.connected(copy.index)
    # No connection at all: it may dial per message (the seed's Go port);
    # judged once it has sent its packets (grade_connections after the runs).
    copy.connects_on_demand = not connected
    if not copy.connects_on_demand:
        grade_connections(copy, connected)


def grade_connections(copy: Copy, connected: set[int]) -> None:
    table = set(copy.table)
    wanted = {"table": list(copy.table), "connected_to": sorted(connected)}
    conn = copy.case("2.1")
    if copy.connects_on_demand and connected and connected <= table:
        conn.tolerate("no connection at setup; it dials its entries only when it sends "
                      "(one message per connection)", wanted)  # fmt: skip
    elif connected - table:
        conn.fail(f"connected to nodes outside its table: {sorted(connected - table)}", wanted)
    elif table - connected:
        conn.fail(f"did not connect to {sorted(table - connected)} of its table", wanted)
    else:
        conn.passed(f"ok: connected to {list(copy.table)}", wanted)
