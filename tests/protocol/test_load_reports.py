"""Load reports in the cores, without sockets or clock: the node sends one
with every progress report and before its summary, from the counters the
data plane fills; the registry keeps one only from the node it names, on its
session, during its part of a run, when it can be true, and the run's result
carries it (absent = unknown)."""

from __future__ import annotations

import logging
from typing import Any

from core_helpers import Driver, registry_core
from test_node_core import GOOD, NodeDriver

from trio_dht.protocol.events import Close, Log, Received, RunEnded, Send
from trio_dht.protocol.node_events import Originate, OriginationDone, ProgressDue
from trio_dht.protocol.rules import MemberPhase
from trio_dht.wire.messages import (
    PROGRESS_MARKER,
    LinkLoad,
    LoadReport,
    NodeManifest,
    OverlaySetupStatus,
    PeerEntry,
    ProgressReport,
    ProgressRequest,
    TaskFinished,
    TaskInitiate,
    TrafficSummary,
    TrafficSummaryRequest,
)

# --- the node --------------------------------------------------------------------


def sent_to_registry(actions: list[Any]) -> list[Any]:
    return [a.message for a in actions if isinstance(a, Send)]


def running_node() -> NodeDriver:
    d = NodeDriver().registered(10)
    d.set_up(GOOD)  # entries 20, 30
    d.from_registry(ProgressRequest(50))
    d.from_registry(TaskInitiate(5))
    return d


def test_each_progress_report_is_followed_by_the_loads_of_the_same_counters() -> None:
    d = running_node()
    c = d.core.counters
    # What the data plane does per batch: 3 packets on entry 30 (index 1), 2
    # on entry 20; two packets delivered here, after 0 and 2 relays.
    c.sent, c.relayed, c.received = 4, 1, 2
    c.links[1] += 3
    c.links[0] += 2
    c.relays[0] += 1
    c.relays[2] += 1
    d.now = 0.1
    messages = sent_to_registry(d.feed(ProgressDue()))
    assert [type(m) for m in messages] == [ProgressReport, LoadReport]
    assert messages[1] == LoadReport(10, (LinkLoad(20, 2), LinkLoad(30, 3)), (1, 0, 1))


def test_the_summary_is_preceded_by_final_loads_and_resets_them() -> None:
    d = running_node()
    originate = next(a for a in d.actions if isinstance(a, Originate))
    d.core.counters.sent = 5
    d.core.counters.links[0] = 5
    d.feed(OriginationDone(originate.generation))
    d.core.counters.relays[1] = 7  # arrived after the last report
    d.core.counters.received = 7
    messages = sent_to_registry(d.from_registry(TrafficSummaryRequest()))
    assert [type(m) for m in messages] == [ProgressReport, LoadReport, TrafficSummary]
    assert messages[1] == LoadReport(10, (LinkLoad(20, 5), LinkLoad(30, 0)), (0, 7))
    assert d.core.counters.links[:2] == [0, 0] and not any(d.core.counters.relays)


def test_no_loads_without_a_progress_request() -> None:
    # A classic registry never asks for progress, so it never sees type 102.
    d = NodeDriver().registered(10)
    d.set_up(GOOD)
    d.from_registry(TaskInitiate(5))
    d.now = 2.0
    d.feed(ProgressDue())
    d.from_registry(TrafficSummaryRequest())
    assert not any(isinstance(m, LoadReport) for m in sent_to_registry(d.actions))


def test_no_loads_for_a_table_no_trio_dht_registry_builds() -> None:
    # Eight entries (a foreign registry's table) do not fit a load report:
    # progress goes on, the loads are left out rather than failing to encode.
    d = NodeDriver().registered(10)
    peers = tuple(PeerEntry(11 + k, "127.0.0.1", 4011 + k) for k in range(8))
    d.set_up(NodeManifest(peers, tuple(range(10, 19))))
    d.from_registry(ProgressRequest(50))
    d.from_registry(TaskInitiate(5))
    d.now = 0.1
    assert [type(m) for m in sent_to_registry(d.feed(ProgressDue()))] == [ProgressReport]


def test_traces_beyond_the_last_bin_share_it() -> None:
    d = running_node()
    c = d.core.counters
    c.received = 3
    c.relays[127] = 1
    c.relays[200] = 2
    d.now = 0.1
    report = sent_to_registry(d.feed(ProgressDue()))[1]
    assert len(report.relays) == 128 and report.relays[127] == 3


# --- the registry ----------------------------------------------------------------


def run_of_three() -> tuple[Driver, dict[int, int], dict[int, tuple[int, ...]]]:
    d = Driver(registry_core())
    conns = d.overlay(3, nr=2)
    d.core.start(10)
    return d, conns, dict(d.core.tables)


def warnings(d: Driver) -> list[str]:
    return [a.text for a in d.actions if isinstance(a, Log) and a.level == logging.WARNING]


def honest(node_id: int, table: tuple[int, ...], received: int) -> LoadReport:
    links = tuple(LinkLoad(e, 5 if k == 0 else 0) for k, e in enumerate(table))
    return LoadReport(node_id, links, (received - 1, 1))


def test_an_honest_report_is_kept_and_reaches_the_result() -> None:
    d, conns, tables = run_of_three()
    for node_id, conn in conns.items():
        d.feed(Received(conn, TaskFinished("127.0.0.1", 0, node_id)))
        d.feed(Received(conn, ProgressReport(node_id, 10, 10, 0, 0, 0)))
        d.feed(Received(conn, honest(node_id, tables[node_id], 10)))
        assert d.core.members[node_id].loads == honest(node_id, tables[node_id], 10)
    d.tick(0.1)
    for node_id, conn in conns.items():
        d.feed(Received(conn, TrafficSummary(node_id, 10, 0, 0, 10, 0)))
    result = next(a.result for a in d.actions if isinstance(a, RunEnded))
    assert result.correct and result.unmeasured == ()
    assert result.relay_histogram == {0: 27, 1: 3}
    assert result.link_loads == {
        (n, e): 5 if k == 0 else 0 for n, t in tables.items() for k, e in enumerate(t)
    }
    assert not warnings(d)


def test_a_node_without_loads_is_unknown_not_zero() -> None:
    d, conns, tables = run_of_three()
    quiet = min(conns)
    for node_id, conn in conns.items():
        d.feed(Received(conn, TaskFinished("127.0.0.1", 0, node_id)))
        d.feed(Received(conn, ProgressReport(node_id, 10, 10, 0, 0, 0)))
        if node_id != quiet:
            d.feed(Received(conn, honest(node_id, tables[node_id], 10)))
    d.tick(0.1)
    for node_id, conn in conns.items():
        d.feed(Received(conn, TrafficSummary(node_id, 10, 0, 0, 10, 0)))
    result = next(a.result for a in d.actions if isinstance(a, RunEnded))
    assert result.unmeasured == (quiet,)
    assert result.relay_histogram is None  # a part of the nodes would mislead
    assert {n for n, _ in result.link_loads} == set(conns) - {quiet}


def test_reports_that_cannot_be_true_are_refused_and_logged() -> None:
    d, conns, tables = run_of_three()
    node_id = min(conns)
    conn, table = conns[node_id], tables[node_id]
    stranger = node_id  # never an entry of its own table
    d.feed(Received(conn, ProgressReport(node_id, 6, 4, 1, 0, 0)))
    bad = [
        (LoadReport(node_id, (LinkLoad(stranger, 1),), ()), "not an entry of its routing table"),
        (LoadReport(node_id, (LinkLoad(table[0], 1),) * 2, ()), "names an entry twice"),
        (LoadReport(node_id, (), (3, 2)), "5 packets in its relay counts but 4 received"),
        (LoadReport(node_id, (LinkLoad(table[0], 8),), ()), "8 packets forwarded"),
        (LoadReport(node_id, (LinkLoad(table[0], -1),), ()), "a negative count"),
    ]
    for report, words in bad:
        d.feed(Received(conn, report))
        assert words in warnings(d)[-1], (report, warnings(d))
    member = d.core.members[node_id]
    assert member.loads is None and conn not in d.closed()
    # The refusals changed nothing else: an honest one is still taken.
    good = LoadReport(node_id, (LinkLoad(table[0], 7),), (4,))
    d.feed(Received(conn, good))
    assert member.loads == good


def test_loads_before_any_progress_are_refused() -> None:
    d, conns, _ = run_of_three()
    node_id = min(conns)
    d.feed(Received(conns[node_id], LoadReport(node_id, (), ())))
    assert "no progress report of the run came before it" in warnings(d)[-1]
    assert d.core.members[node_id].loads is None


def test_loads_naming_another_node_close_the_session() -> None:
    # As for progress: a session speaks for its own node only.
    d, conns, _ = run_of_three()
    a, b = sorted(conns)[:2]
    d.feed(Received(conns[a], LoadReport(b, (), ())))
    assert conns[a] in [x.conn for x in d.actions if isinstance(x, Close)]
    assert d.core.members.get(b) is None or d.core.members[b].loads is None


def test_loads_outside_the_nodes_part_of_a_run_are_ignored() -> None:
    d = Driver(registry_core())
    conns = d.overlay(2)
    node_id = min(conns)
    d.feed(Received(conns[node_id], ProgressReport(node_id, 0, 0, 0, 0, 0)))
    d.feed(Received(conns[node_id], LoadReport(node_id, (), ())))  # no run
    assert d.core.members[node_id].loads is None and not warnings(d)
    assert d.core.members[node_id].phase is MemberPhase.IDLE


def test_a_node_that_did_not_opt_in_is_not_measured() -> None:
    # A classic peer's setup status carries no marker: it is never asked for
    # progress, and anything it might send is not used.
    d = Driver(registry_core())
    conns = {}
    for k in range(2):
        conn, node_id = d.register(5000 + k)
        conns[node_id] = conn
    d.core.setup(1)
    for node_id, conn in conns.items():
        marker = "" if node_id == min(conns) else f" {PROGRESS_MARKER}"
        d.feed(Received(conn, OverlaySetupStatus(node_id, f"ok{marker}")))
    classic = min(conns)
    assert not any(
        isinstance(a, Send) and a.conn == conns[classic] and isinstance(a.message, ProgressRequest)
        for a in d.actions
    )
    d.core.start(1)
    d.feed(Received(conns[classic], ProgressReport(classic, 1, 1, 0, 0, 0)))
    d.feed(Received(conns[classic], LoadReport(classic, (), (1,))))
    assert d.core.members[classic].loads is None


def test_a_new_run_forgets_the_last_runs_loads() -> None:
    d, conns, tables = run_of_three()
    node_id = min(conns)
    d.feed(Received(conns[node_id], ProgressReport(node_id, 10, 10, 0, 0, 0)))
    d.feed(Received(conns[node_id], honest(node_id, tables[node_id], 10)))
    assert d.core.members[node_id].loads is not None
    d.core.abort()
    d.core.setup(2)
    for n, conn in conns.items():
        d.feed(Received(conn, OverlaySetupStatus(n, f"ok {PROGRESS_MARKER}")))
    d.core.start(10)
    assert d.core.members[node_id].loads is None
