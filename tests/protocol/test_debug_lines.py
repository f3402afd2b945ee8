"""The cores' debug lines (-vv): one per connection, setup step or run
decision, never one per packet, report or tick; lines a flood could
multiply carry an aggregation key."""

from __future__ import annotations

import logging
from typing import Any

from core_helpers import Driver, registry_core
from test_node_core import GOOD, NodeDriver

from trio_dht.protocol.events import Closed, ConnRole, Log, Opened, ProbeResult, Received
from trio_dht.protocol.node_events import OriginationDone, ProgressDue
from trio_dht.wire.messages import ProgressRequest, Registration, TaskFinished, TaskInitiate


def debug_lines(actions: list[Any]) -> list[Log]:
    return [a for a in actions if isinstance(a, Log) and a.level == logging.DEBUG]


def texts(actions: list[Any]) -> list[str]:
    return [line.text for line in debug_lines(actions)]


def test_a_runs_decisions_are_logged_once_each_not_per_report() -> None:
    d = Driver(registry_core())
    conns = d.overlay(2)
    a, b = sorted(conns)
    d.actions.clear()
    d.core.start(100)
    for node_id in (a, b):
        d.feed(Received(conns[node_id], TaskFinished("127.0.0.1", 0, node_id)))
    # Many reports and ticks short of the total: no line of their own.
    for received in range(0, 100, 5):
        d.progress(conns[a], a, 100, received, dt=0.05)
        d.progress(conns[b], b, 100, received)
        d.tick(0)
    assert [t.split(":")[0] for t in texts(d.actions)] == ["run started", "run"]
    d.progress(conns[a], a, 100, 100)
    d.progress(conns[b], b, 100, 100)
    lines = texts(d.actions)
    assert lines[0].startswith("run started: 100 packets from each of 2 nodes (NR 1)")
    assert "all report progress" in lines[0]
    assert lines[1].startswith("run: every node finished sending after")
    assert lines[2].startswith("run: every packet is counted as received after")
    assert lines[2].endswith("asking 2 nodes for traffic summaries")
    assert len(lines) == 3


def test_waiting_for_a_silent_node_is_logged_when_it_starts_not_per_tick() -> None:
    d = Driver(registry_core(unresponsive_after=5, stall_timeout=3, run_timeout=30))
    conns = d.overlay(2)
    a, b = sorted(conns)
    d.core.start(10)
    for node_id in (a, b):
        d.feed(Received(conns[node_id], TaskFinished("127.0.0.1", 0, node_id)))
    d.progress(conns[a], a, 10, 10)
    d.progress(conns[b], b, 10, 5)
    for _ in range(20):  # a heartbeats, b is silent
        d.progress(conns[a], a, 10, 10, dt=0.5)
        d.tick(0)
    waiting = [t for t in texts(d.actions) if "stalled" in t]
    expected = (
        f"run: 15 of 20 received; node {b} not heard for 3 s, so the counters are not "
        "judged stalled yet"
    )
    assert waiting == [expected]


def test_connections_are_logged_with_what_they_were() -> None:
    d = Driver(registry_core())
    stranger = d.connect("10.0.0.9")
    conn, node_id = d.register(5000)
    d.feed(Closed(stranger))
    d.feed(Closed(conn))
    lines = debug_lines(d.actions)
    opened = [line for line in lines if "accepted" in line.text]
    assert opened[0].text == "connection 1 from 10.0.0.9 accepted (1 pending)"
    # A flood from one host is one line per interval: keyed by host.
    assert opened[0].aggregate == ("accepted", "10.0.0.9")
    closed = [line for line in lines if "closed" in line.text]
    assert closed[0].text == "connection 1 from 10.0.0.9 closed (no node registered on it)"
    assert closed[0].aggregate == ("closed", "10.0.0.9")
    assert closed[1].text == f"connection {conn} closed: node {node_id}'s registration"
    assert any("trying 127.0.0.1:5000" in line.text for line in lines)


def test_registration_probe_and_setup_steps_are_logged() -> None:
    d = Driver(registry_core())
    conn = d.connect()
    d.feed(Received(conn, Registration("127.0.0.1", 5000)))
    assert "before admitting it" in texts(d.actions)[-1]
    d.feed(ProbeResult(conn, True))
    d = Driver(registry_core())
    d.overlay(2)
    setup = [t for t in texts(d.actions) if "set up its overlay" in t]
    assert [t.split("(")[1] for t in setup] == [
        "1 of 2 ready); it reports progress",
        "2 of 2 ready); it reports progress",
    ]


def test_a_nodes_steps_are_logged_with_its_name_not_per_progress_report() -> None:
    d = NodeDriver().registered(10)
    assert texts(d.actions) == ["127.0.0.1:4000: registering at 127.0.0.1:9000 on connection 1"]
    d.set_up(GOOD)
    d.from_registry(ProgressRequest(50))
    d.from_registry(TaskInitiate(1000))
    generation = d.core.generation
    for k in range(50):
        d.now = k * 0.1
        d.core.counters.sent += 1
        d.feed(ProgressDue())
    d.feed(OriginationDone(generation))
    lines = texts(d.actions)[1:]
    assert lines == [
        "node 10: manifest 1 accepted: 4 nodes, table 20, 30; linking",
        "node 10: the registry speaks on the registration connection: answering there",
        "node 10: the registry asks for progress every 50 ms",
        "node 10: task: originating 1,000 packets",
        "node 10: origination done, task finished sent; relaying until asked to report",
    ]


def test_a_nodes_connections_carry_their_role_and_a_key() -> None:
    d = NodeDriver().registered(10)
    d.feed(Opened(7, ConnRole.LISTENER, "127.0.0.5"))
    d.feed(Closed(7))
    lines = debug_lines(d.actions)[1:]
    assert [(line.text, line.aggregate) for line in lines] == [
        (
            "node 10: connection 7 (listener) with 127.0.0.5 opened",
            ("opened", "listener", "127.0.0.5"),
        ),
        (
            "node 10: connection 7 (listener) with 127.0.0.5 closed",
            ("closed", "listener", "127.0.0.5"),
        ),
    ]
