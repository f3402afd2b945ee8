"""The registry core driven by events alone: who may say what, honest runs."""

from __future__ import annotations

import pytest
from core_helpers import CS455, Driver, last, registry_core

from trio_dht.protocol.errors import LocalProtocolError
from trio_dht.protocol.events import Close, Closed, Dial, ProbeResult, Received, RunEnded, Send
from trio_dht.protocol.members import NodeKind
from trio_dht.protocol.rules import MemberPhase
from trio_dht.wire.messages import (
    Deregistration,
    NodeManifest,
    OverlaySetupStatus,
    ProgressReport,
    Registration,
    RegistrationStatus,
    TaskFinished,
    TaskInitiate,
    TrafficSummary,
    TrafficSummaryRequest,
)


def finish_run(d: Driver, conns: dict[int, int], packets: int) -> None:
    """Every node finishes, reports all received, and answers its summary."""
    share = {node_id: 0 for node_id in conns}
    total = packets * len(conns)
    ids = sorted(conns)
    for k in range(total):
        share[ids[k % len(ids)]] += 1
    for node_id, conn in conns.items():
        d.feed(Received(conn, TaskFinished("127.0.0.1", 0, node_id)))
        d.progress(conn, node_id, packets, share[node_id])
    for node_id, conn in conns.items():
        d.feed(Received(conn, TrafficSummary(node_id, packets, 0, 0, share[node_id], 0)))


def test_a_forged_correct_is_impossible_from_fresh_connections() -> None:
    d = Driver(registry_core())
    conns = d.overlay(3)
    d.core.start(100)
    victim = min(conns)
    # A local process names the node on fresh connections from its host.
    for forged in (
        TaskFinished("127.0.0.1", 0, victim),
        ProgressReport(victim, 100, 100, 0, 0, 0),
        TrafficSummary(victim, 100, 0, 0, 100, 0),
    ):
        attacker = d.connect()
        d.feed(Received(attacker, forged))
        assert attacker in d.closed()
    member = d.core.members[victim]
    assert member.phase is MemberPhase.SENDING
    assert member.progress is None and member.summary is None
    assert d.core.run is not None and victim not in d.core.run.finished


def test_reports_only_when_expected_and_once() -> None:
    d = Driver(registry_core())
    conns = d.overlay(2)
    a, _b = sorted(conns)
    # Before any run: a summary is ignored (logged), not stored.
    d.feed(Received(conns[a], TrafficSummary(a, 5, 0, 0, 5, 0)))
    assert d.core.members[a].summary is None
    d.core.start(10)
    d.feed(Received(conns[a], TaskFinished("127.0.0.1", 0, a)))
    d.feed(Received(conns[a], TaskFinished("127.0.0.1", 0, a)))  # a second: refused
    assert d.core.members[a].phase is MemberPhase.RELAYING
    # A summary before it was asked for is refused.
    d.feed(Received(conns[a], TrafficSummary(a, 10, 0, 0, 10, 0)))
    assert d.core.members[a].summary is None


def test_quiet_is_judged_from_progress_and_the_run_is_exact() -> None:
    d = Driver(registry_core())
    conns = d.overlay(3)
    d.core.start(20)
    finish_run(d, conns, 20)
    ended = last(d.actions, RunEnded).result
    assert ended.correct and ended.quiescence == "progress", ended.verdict()
    assert len(d.sent(TrafficSummaryRequest)) == 3
    assert d.core.ready and not d.core.needs_setup


def test_a_silent_node_is_named_waited_for_and_not_called_a_loss() -> None:
    d = Driver(registry_core(unresponsive_after=5, stall_timeout=3, run_timeout=30))
    conns = d.overlay(3)
    a, b, c = sorted(conns)
    d.core.start(10)
    for node_id in (a, b, c):
        d.feed(Received(conns[node_id], TaskFinished("127.0.0.1", 0, node_id)))
    d.progress(conns[a], a, 10, 10)
    d.progress(conns[b], b, 10, 10)
    d.progress(conns[c], c, 10, 5)
    # a and b heartbeat; c falls silent holding packets.
    for _ in range(10):
        d.progress(conns[a], a, 10, 10, dt=1)
        d.progress(conns[b], b, 10, 10)
        d.tick(0)
    assert any(f"Waiting for node {c}: no progress" in line for line in d.said())
    assert not d.sent(TrafficSummaryRequest), "a silent node is not a loss: keep waiting"
    # It comes back and delivers the rest: the run ends exact.
    d.progress(conns[c], c, 10, 10, dt=1)
    assert any(f"Node {c} is answering again" in line for line in d.said())
    for node_id, conn in conns.items():
        d.feed(Received(conn, TrafficSummary(node_id, 10, 0, 0, 10, 0)))
    assert last(d.actions, RunEnded).result.correct


def test_giving_up_names_the_silent_node_and_the_next_start_needs_setup() -> None:
    d = Driver(registry_core(unresponsive_after=5, run_timeout=20, summary_timeout=5))
    conns = d.overlay(3)
    a, b, c = sorted(conns)
    d.core.start(10)
    for node_id in (a, b, c):
        d.feed(Received(conns[node_id], TaskFinished("127.0.0.1", 0, node_id)))
        d.progress(conns[node_id], node_id, 10, 9)
    for _ in range(30):
        d.progress(conns[a], a, 10, 9, dt=1)
        d.progress(conns[b], b, 10, 9)
        d.tick(0)
        if d.sent(TrafficSummaryRequest):
            break
    d.feed(Received(conns[a], TrafficSummary(a, 10, 0, 0, 9, 0)))
    d.feed(Received(conns[b], TrafficSummary(b, 10, 0, 0, 9, 0)))
    d.tick(6)
    result = last(d.actions, RunEnded).result
    assert not result.correct
    assert result.unresponsive == (c,)
    assert f"node {c} stopped answering" in result.verdict()
    assert "no node vanished" not in "\n".join(result.accounting())
    with pytest.raises(LocalProtocolError, match="setup-overlay again"):
        d.core.start(10)
    # Late packets of that run cannot count: a fresh setup comes first.
    d.feed(Received(conns[c], TrafficSummary(c, 10, 0, 0, 12, 0)))
    assert d.core.members[c].summary is None or d.core.members[c].phase is not MemberPhase.DONE


def test_a_summary_below_the_last_progress_is_refused_and_named() -> None:
    d = Driver(registry_core())
    conns = d.overlay(2)
    a, b = sorted(conns)
    d.core.start(10)
    for node_id, conn in conns.items():
        d.feed(Received(conn, TaskFinished("127.0.0.1", 0, node_id)))
        d.progress(conn, node_id, 10, 10)
    d.feed(Received(conns[a], TrafficSummary(a, 10, 0, 0, 3, 0)))
    d.feed(Received(conns[b], TrafficSummary(b, 10, 0, 0, 10, 0)))
    result = last(d.actions, RunEnded).result
    assert not result.correct
    assert any(f"node {a}'s summary" in p for p in result.problems)


def test_a_summary_with_the_wrong_sent_count_makes_the_run_incorrect() -> None:
    d = Driver(registry_core())
    conns = d.overlay(2)
    d.core.start(10)
    for node_id, conn in conns.items():
        d.feed(Received(conn, TaskFinished("127.0.0.1", 0, node_id)))
        d.progress(conn, node_id, 10, 10)
    for node_id, conn in conns.items():
        d.feed(Received(conn, TrafficSummary(node_id, 10 + 5, 0, 0, 10, 0)))
    assert not last(d.actions, RunEnded).result.correct


def test_abort_ends_a_waiting_run() -> None:
    d = Driver(registry_core())
    d.overlay(2)
    d.core.start(10)
    d.core.abort()
    d.tick(0)
    result = last(d.actions, RunEnded).result
    assert result.aborted and not result.correct
    assert "aborted" in result.verdict()
    assert d.core.run is None


def test_start_refuses_counts_the_dialect_cannot_hold() -> None:
    d = Driver(registry_core())
    d.overlay(2)
    with pytest.raises(LocalProtocolError, match="more than a counter"):
        d.core.start(2**30 + 1)
    with pytest.raises(LocalProtocolError, match="between 0 and"):
        d.core.start(-1)


def test_refusal_texts_fit_the_dialect_and_are_ours() -> None:
    d = Driver(registry_core())
    host = "2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff"
    conn = d.connect(host)
    d.feed(Received(conn, Registration("2001:db8::1", 4000)))
    status = last(d.actions, Send).message
    assert isinstance(status, RegistrationStatus) and status.status == -1
    assert len(status.info) <= 127
    CS455.encode(status)  # encodes: the registry's own text never overflows


def test_registration_is_probed_and_repeated_refusals_close() -> None:
    d = Driver(registry_core())
    conn = d.connect()
    d.feed(Received(conn, Registration("127.0.0.1", 4000)))
    d.feed(ProbeResult(conn, False, "refused"))
    refusal = last(d.actions, Send).message
    assert refusal.status == -1 and "Cannot connect to your listening port" in refusal.info
    assert not d.core.members
    for _ in range(2):
        d.feed(Received(conn, Registration("127.0.0.1", 4000)))
        d.feed(ProbeResult(conn, False, "refused"))
    assert conn in d.closed()


def test_the_idle_timer_counts_from_the_open_not_from_traffic() -> None:
    d = Driver(registry_core())
    d.core.rules.admission.idle_timeout = 10
    conn = d.connect()
    for _ in range(4):
        d.feed(Received(conn, Registration("127.0.0.2", 4000)), dt=3)  # refused: wrong address
        d.tick(0)
    assert conn in d.closed()
    assert d.core.admission.pending == 0


def test_pending_caps_per_host_answer_busy() -> None:
    d = Driver(registry_core())
    d.core.rules.admission.max_pending_per_host = 2
    d.connect("127.0.0.2")
    d.connect("127.0.0.2")
    third = d.connect("127.0.0.2")
    busy = last(d.actions, Send)
    assert busy.conn == third and "registry busy" in busy.message.info
    assert third in d.closed()
    ok = d.connect("127.0.0.1")
    assert ok not in d.closed()


def test_a_node_that_never_answers_its_manifest_is_dialled() -> None:
    d = Driver(registry_core())
    conns = {}
    for k in range(2):
        conn, node_id = d.register(6000 + k)
        conns[node_id] = conn
    d.core.setup(1)
    d.tick(0)
    assert (
        len([a for a in d.actions if isinstance(a, Send) and isinstance(a.message, NodeManifest)])
        == 2
    )
    d.tick(2.0)
    dials = [a for a in d.actions if isinstance(a, Dial) and isinstance(a.message, NodeManifest)]
    assert {a.port for a in dials} == {6000, 6001}
    said = [line for line in d.said() if "did not answer the manifest" in line]
    assert len(said) == 1 and said[0].startswith("Nodes ")  # never 'Node(s)'
    assert all(m.kind is NodeKind.PER_MESSAGE for m in d.core.members.values())
    # Its answers come on fresh connections from its host, and are believed.
    for node_id in conns:
        fresh = d.connect()
        d.feed(Received(fresh, OverlaySetupStatus(node_id, "ok")))
    assert d.core.ready
    d.core.start(5)
    assert all(isinstance(a.message, TaskInitiate) for a in d.actions[-2:] if isinstance(a, Dial))
    # A fresh connection from another host naming one is a stranger.
    other = d.connect("127.0.0.9")
    d.feed(Received(other, TaskFinished("127.0.0.9", 0, min(conns))))
    assert other in d.closed()


def test_a_node_that_answers_no_manifest_at_all_is_removed() -> None:
    # One of three answers neither on its connection nor when dialled (a
    # fake that listens, or a frozen node): it would hold the overlay not
    # ready for ever; it is removed and the overlay must be set up again.
    d = Driver(registry_core())
    conns = dict(reversed(d.register(6000 + k)) for k in range(3))
    d.core.setup(1)
    silent = max(conns)
    for node_id, conn in conns.items():
        if node_id != silent:
            d.feed(Received(conn, OverlaySetupStatus(node_id, "ok")))
    d.tick(2.0)  # the manifest is dialled to it
    assert d.core.members[silent].kind is NodeKind.PER_MESSAGE
    d.tick(9.0)  # 9 s after the dialled delivery: still waited for
    assert silent in d.core.members and not d.core.ready
    d.tick(1.0)
    assert silent not in d.core.members
    assert conns[silent] in d.closed()
    assert any(f"Node {silent} " in line and "answered no manifest within 10 s" in line
               for line in d.said())  # fmt: skip
    assert any("run setup-overlay again" in line for line in d.said())
    assert d.core.overlay_nr is None and not d.core.ready
    # The two that remain set up again and become ready.
    d.core.setup(1)
    for node_id, conn in conns.items():
        if node_id != silent:
            d.feed(Received(conn, OverlaySetupStatus(node_id, "ok")))
    assert d.core.ready


def test_a_deregistered_session_may_register_again_without_freeing_a_slot() -> None:
    d = Driver(registry_core())
    conn, node_id = d.register(4000)
    pending = d.core.admission.pending
    d.feed(Received(conn, Deregistration("127.0.0.1", 4000, node_id)))
    assert node_id not in d.core.members
    assert d.core.admission.pending == pending + 1
    d.feed(Closed(conn))
    assert d.core.admission.pending == pending
    assert not [a for a in d.actions if isinstance(a, Close) and a.conn == conn]


def test_a_slow_persistent_node_taken_for_a_dialled_one_is_taken_back() -> None:
    d = Driver(registry_core())
    conn, node_id = d.register(7000)
    other_conn, other_id = d.register(7001)
    d.core.setup(1)
    d.tick(2.0)  # nobody answered in time: both are dialled
    assert d.core.members[node_id].kind is NodeKind.PER_MESSAGE
    # ... but this one answers on its registration connection after all.
    d.feed(Received(conn, OverlaySetupStatus(node_id, "ok [trio_dht:progress]")))
    assert d.core.members[node_id].kind is NodeKind.PERSISTENT
    assert any("after all" in line for line in d.said())
    d.feed(Received(other_conn, OverlaySetupStatus(other_id, "ok [trio_dht:progress]")))
    assert d.core.ready
    d.core.start(5)
    d.tick(0)
    tasks = [a for a in d.actions if isinstance(a, Send) and isinstance(a.message, TaskInitiate)]
    assert {a.conn for a in tasks} == {conn, other_conn}


def test_at_the_total_cap_the_oldest_stranger_makes_room() -> None:
    d = Driver(registry_core())
    d.core.rules.admission.max_pending = 4
    flood = [d.connect(f"127.0.0.{2 + k}") for k in range(3)]
    registering = d.connect("127.0.0.9")
    d.feed(Received(registering, Registration("127.0.0.9", 4000)))  # being probed: kept
    newcomer = d.connect("127.0.0.1")
    assert newcomer not in d.closed()
    assert d.closed() == [flood[0]]
    busy = [a for a in d.sent(RegistrationStatus) if a.conn == flood[0]]
    assert busy and "registry busy: 4 connections pending" in busy[0].message.info
    assert d.core.admission.pending == 4


def test_a_node_that_leaves_mid_run_is_said_to_have_left() -> None:
    d = Driver(registry_core(stall_timeout=1))
    conns = d.overlay(3)
    a, b, c = sorted(conns)
    d.core.start(10)
    d.feed(Received(conns[c], Deregistration("127.0.0.1", 5002, c)))
    for node_id in (a, b):
        d.feed(Received(conns[node_id], TaskFinished("127.0.0.1", 0, node_id)))
        d.progress(conns[node_id], node_id, 10, 10)
    d.tick(1.5)  # the stall: every node left is answering, one is gone
    assert d.sent(TrafficSummaryRequest)
    for node_id in (a, b):
        d.feed(Received(conns[node_id], TrafficSummary(node_id, 10, 0, 0, 10, 0)))
    d.tick(0)
    result = last(d.actions, RunEnded).result
    assert result.left == (c,) and result.gone == (c,)
    assert f"node {c} left during the run" in result.verdict()
    assert "vanished" not in result.verdict()
    # After the run, with the overlay gone, nobody is shown as set up.
    assert all(m.phase is MemberPhase.REGISTERED for m in d.core.members.values())
