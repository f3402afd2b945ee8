"""The scripted Go peers (tests/peers/go_per_message.py) against each other:
they must reproduce the captured connection model and frames before they
can stand in for the real port in the interop tests."""

from __future__ import annotations

import json
import random
from pathlib import Path

import trio
from peers import go_wire as wire
from peers.connlog import ConnLog
from peers.go_per_message import GoNode, GoQuirks, GoRegistry, quiet_overlay

HOST = "127.0.0.1"
VECTORS = Path(__file__).resolve().parents[1] / "vectors"


def go_a_vectors() -> list[dict[str, object]]:
    with (VECTORS / "minichord.jsonl").open(encoding="utf-8") as stream:
        rows = [json.loads(line) for line in stream if line.strip()]
    chosen = [row for row in rows if row["origin"] == "go-a"]
    assert chosen, "no vectors of the seed's Go port (origin go-a)"
    return chosen


def build(message: str, f: dict[str, object]) -> bytes:
    """The frame the scripted Go peers write for these vector fields."""
    g = f.get

    def num(key: str) -> int:
        value = g(key, 0)
        assert isinstance(value, int)
        return value

    def text(key: str) -> str:
        return str(g(key, ""))

    if message == "registration":
        return wire.frame(wire.registration(text("address")))
    if message == "registration_status":
        return wire.frame(wire.registration_response(num("result"), text("info")))
    if message == "deregistration":
        return wire.frame(wire.deregistration(text("address"), num("node_id")))
    if message == "deregistration_status":
        return wire.frame(wire.deregistration_response(num("result"), text("info")))
    if message == "node_manifest":
        peers = g("peers", [])
        assert isinstance(peers, list)
        entries = [(int(p.get("node_id", 0)), str(p["address"])) for p in peers]
        ids = g("ids", [])
        assert isinstance(ids, list)
        return wire.frame(wire.node_registry(num("nr"), entries, ids))
    if message == "overlay_setup_status":
        return wire.frame(wire.setup_status(num("result"), text("info")))
    if message == "task_initiate":
        return wire.frame(wire.initiate_task(num("packets")))
    if message == "data":
        trace = g("trace", [])
        assert isinstance(trace, list)
        return wire.frame(
            wire.node_data(num("destination"), num("source"), num("payload"), num("hops"), trace)
        )
    if message == "task_finished":
        return wire.frame(wire.task_finished(text("address"), num("node_id")))
    if message == "traffic_summary_request":
        return wire.frame(wire.summary_request())
    if message == "traffic_summary":
        return wire.frame(
            wire.traffic_summary(
                num("node_id"),
                num("sent"),
                num("relayed"),
                num("received"),
                num("total_sent"),
                num("total_received"),
            )
        )
    raise AssertionError(f"no builder for {message}")


def test_frames_equal_the_captured_frames_of_the_go_port() -> None:
    for row in go_a_vectors():
        fields = row["fields"]
        assert isinstance(fields, dict)
        assert build(str(row["message"]), fields).hex() == row["frame_hex"], row


def test_texts_are_the_go_ports() -> None:
    texts = {
        str(row["fields"]["info"])
        for row in go_a_vectors()
        if isinstance(row["fields"], dict) and "info" in row["fields"]
    }
    assert wire.SETUP_OK_TEXT in texts
    assert wire.DEREGISTERED_TEXT in texts
    assert wire.REGISTERED_TEXT.format(count=1) in texts


async def test_scripted_go_overlay_is_exact_and_keeps_the_captured_model() -> None:
    log = ConnLog()
    registry = GoRegistry(log, random.Random(1), before_summaries=quiet_overlay)
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            port = await nursery.start(registry.serve)
            nodes: list[GoNode] = [
                await nursery.start(GoNode(HOST, port, log, rng=random.Random(k)).run)
                for k in range(4)
            ]
            await registry.setup(2)
            await registry.wait_ready()
            run = await registry.start(20)
            await run.done.wait()
            assert run.exact(80), run.verdict()
            # Both ends of every registration connection are still open.
            registrations = log.of(None, purpose="registration")
            assert len(registrations) == 8
            assert not any(c.closed or c.closed_by_other_side() for c in registrations)
            # Every connection a node accepted is still open on its side.
            for node in nodes:
                assert not any(c.closed for c in log.of(node.name, dialled=False))
            assert run.relayed > 0, "the overlay relayed nothing: routing is not exercised"
            leaver = nodes[0]
            assert await leaver.leave() == 0
            await leaver.stopped.wait()
            assert leaver.node_id in registry.deregistered
            nursery.cancel_scope.cancel()
    reg = registry.name
    assert not log.length_errors()
    assert not log.kinds("unexpected") and not log.kinds("no-route")

    # Registration: the node dialled, wrote one frame, read one answer, and
    # neither side read, wrote or closed that connection afterwards (until
    # the node's exit).
    for node in nodes:
        (mine,) = log.of(node.name, purpose="registration")
        assert mine.dialled and mine.written == ["registration"]
        assert mine.read == ["registrationResponse"] and mine.read_calls == 2
        assert mine.closed_at_exit
    theirs = log.of(reg, purpose="registration")
    assert len(theirs) == 4
    for conn in theirs:
        assert not conn.dialled and conn.read == ["registration"]
        assert conn.written == ["registrationResponse"] and conn.read_calls == 2
        assert conn.closed_at_exit, "the registry must never close a connection it accepted"

    # Every accepted connection, on both sides: one frame read with two
    # receive calls (or an empty probe), never closed before exit.
    accepted = [c for c in log.conns if not c.dialled]
    for conn in accepted:
        assert len(conn.read) + conn.empty == 1, conn
        assert conn.read_calls <= 2 and (conn.closed_at_exit or not conn.closed), conn

    # The registry dials manifests, tasks and summary requests and closes
    # each; the initiate-task connections only after all were written.
    for purpose in ("manifest", "initiate-task", "summary-request"):
        conns = log.of(reg, purpose=purpose)
        assert len(conns) == 4 and all(c.dialled and len(c.written) == 1 for c in conns)
        assert all(c.closed and not c.closed_at_exit for c in conns)
    initiate = {c.conn_id for c in log.of(reg, purpose="initiate-task")}
    order = [e.kind for e in log.events if e.conn_id in initiate and e.kind in ("write", "close")]
    assert order == ["write"] * 4 + ["close"] * 4

    # Nodes: probes are empty and closed at once; the setup status goes on
    # a fresh connection that stays open; data, task finished and summaries
    # on fresh connections closed at once.
    sent_frames = 0
    for node in nodes:
        probes = log.of(node.name, purpose="probe")
        assert len(probes) == 2 and all(c.written == [] and c.closed for c in probes)
        (status,) = log.of(node.name, purpose="setup-status")
        assert status.written == ["nodeRegistryResponse"] and status.closed_at_exit
        for purpose in ("task-finished", "summary", "data"):
            conns = log.of(node.name, purpose=purpose)
            assert all(len(c.written) == 1 and not c.closed_at_exit for c in conns)
        sent_frames += len(log.of(node.name, purpose="data"))
        leaves = log.of(node.name, purpose="deregistration")
        if node is leaver:
            (leave,) = leaves
            assert leave.written == ["deregistration"] and leave.read == ["deregistrationResponse"]
        else:
            assert leaves == []
    assert sent_frames == run.sent + run.relayed
    # Nothing was ever sent on a connection its receiver does not read.
    assert all(c.unread_bytes() == 0 for c in log.conns)


async def test_the_go_registry_asks_for_summaries_at_once_by_default() -> None:
    """Without ``before_summaries`` the summary requests are dialled right
    after the last task-finished is read, as the real registry does."""
    log = ConnLog()
    registry = GoRegistry(log, random.Random(2))
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            port = await nursery.start(registry.serve)
            for k in range(3):
                await nursery.start(GoNode(HOST, port, log, rng=random.Random(k)).run)
            await registry.setup(1)
            await registry.wait_ready()
            run = await registry.start(5)
            await run.done.wait()
            nursery.cancel_scope.cancel()
    reads = [e for e in log.events if e.owner == registry.name and e.kind == "read"]
    last_finished = max(
        i for i, e in enumerate(log.events) if e in reads and e.detail == "taskFinished"
    )
    first_request = min(
        i
        for i, e in enumerate(log.events)
        if e.owner == registry.name
        and e.kind == "dial"
        and log.conns[e.conn_id].purpose == "summary-request"
    )
    between = log.events[last_finished + 1 : first_request]
    assert all(e.owner != registry.name or e.kind != "read" for e in between)


async def test_quirks_of_the_port_when_switched_on() -> None:
    """Table-only sinks and sends counted as relays give the captured
    summary shape (relayed == sent, nothing relayed for real); the trace
    of an originated packet is [source] with hops 1."""
    log = ConnLog()
    quirks = GoQuirks(sinks_from_table=True, count_sends_as_relays=True)
    registry = GoRegistry(log, random.Random(3), before_summaries=quiet_overlay)
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            port = await nursery.start(registry.serve)
            nodes = [
                await nursery.start(GoNode(HOST, port, log, quirks, random.Random(k)).run)
                for k in range(5)
            ]
            await registry.setup(2)
            await registry.wait_ready()
            run = await registry.start(6)
            await run.done.wait()
            nursery.cancel_scope.cancel()
    assert run.exact(30), run.verdict()
    for summary in run.summaries.values():
        assert summary.Relayed == summary.Sent == 6
    assert len(log.of(None, purpose="data")) == 30
    assert all(n.dropped == 0 for n in nodes)
