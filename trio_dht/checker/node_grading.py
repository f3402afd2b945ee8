"""Grading what a node under test did, from the ledger (no I/O).

Each rule is one case and each broken forward is charged to exactly one of
them (outside the table, else past the destination, else the wrong entry), so
a flawed implementation fails the case meant for its flaw and no other.
"""

from __future__ import annotations

from typing import Any

from trio_dht.checker.capture import describe, vector_fields
from trio_dht.checker.frames import FrameEvent
from trio_dht.checker.ledger import (
    OUTSIDE_TABLE,
    OVERSHOOT,
    OWN_PACKET,
    WRONG_ENTRY,
    Arrival,
    Counts,
    Ledger,
    chi_square,
)
from trio_dht.checker.report import Case, Evidence, Report
from trio_dht.overlay import next_hop
from trio_dht.wire import Dialect
from trio_dht.wire.messages import Deregistration, Message, TaskFinished, TrafficSummary

MAX_EXAMPLES = 5
INT32_QUARTER = 2**30
MIN_PACKETS_FOR_RANGE = 500  # below this the payload range is only informational


def frame_evidence(dialect: Dialect, event: FrameEvent, **extra: Any) -> Evidence:
    """A frame as evidence: decoded, in hex, plus what was expected."""
    evidence: Evidence = {"frame": describe(dialect.name, event), "frame_hex": event.frame.hex()}
    if event.message is not None:
        evidence["fields"] = vector_fields(dialect.name, event.message)[1]
    evidence.update(extra)
    return evidence


def exact(dialect: Dialect, event: FrameEvent) -> bool:
    """The frame is what this dialect's canonical encoder makes of its message."""
    return event.message is not None and dialect.encode(event.message) == event.frame


def check_exact(case: Case, dialect: Dialect, event: FrameEvent, what: str) -> bool:
    if exact(dialect, event):
        return True
    assert event.message is not None
    case.fail(
        f"the {what} is not byte-exact {dialect.name}",
        frame_evidence(dialect, event, expected_hex=dialect.encode(event.message).hex()),
    )
    return False


def _arrival_evidence(dialect: Dialect, arrival: Arrival, **extra: Any) -> Evidence:
    return frame_evidence(
        dialect, FrameEvent(0, arrival.frame, arrival.packet), sent_to=arrival.probe, **extra
    )


def grade_routing(report: Report, ledger: Ledger, dialect: Dialect) -> None:
    me, table = ledger.me, ledger.table
    cases = {
        OWN_PACKET: report.case("3.1"),
        OVERSHOOT: report.case("3.2"),
        WRONG_ENTRY: report.case("3.3"),
        OUTSIDE_TABLE: report.case("3.4"),
    }
    shown: dict[str, int] = {}
    counts: dict[str, int] = {}
    for verdict, received, arrival in ledger.bad_hops:
        if verdict == OWN_PACKET and received is None:
            continue  # an origination for itself: case 4.1
        counts[verdict] = counts.get(verdict, 0) + 1
        if shown.get(verdict, 0) < MAX_EXAMPLES:
            shown[verdict] = shown.get(verdict, 0) + 1
            d = arrival.packet.destination
            expected = "deliver it" if d == me else f"send it to {next_hop(me, d, table)}"
            cases[verdict].fail(
                "", _arrival_evidence(dialect, arrival, expected=expected, table=list(table))
            )
    for verdict, case in cases.items():
        if verdict in counts:
            case.detail = f"{counts[verdict]} of {ledger.hops_checked} forwards: {verdict}"
        else:
            case.passed(f"ok: {ledger.hops_checked} forwards checked")

    traces = report.case("3.5")
    bad = 0
    hops_differ = 0
    for item, arrival in ledger.relays:
        want = (*item.packet.trace, me)
        if item.packet.destination == me:
            continue
        if arrival.packet.trace != want:
            bad += 1
            if bad <= MAX_EXAMPLES:
                traces.fail("", _arrival_evidence(dialect, arrival, expected_trace=list(want)))
        elif arrival.packet.hops != len(arrival.packet.trace):
            hops_differ += 1
    for arrival in ledger.strays[:MAX_EXAMPLES]:
        traces.fail("", _arrival_evidence(dialect, arrival, expected="a packet it was handed "
                                          "(same destination, source, payload) or its own"))  # fmt: skip
    if bad or ledger.strays:
        traces.detail = (
            f"{bad} of {len(ledger.relays)} relayed traces are not the trace received plus its "
            f"own id; {len(ledger.strays)} packets it was never handed and did not originate"
        )
    else:
        note = f" ({hops_differ} with hops != trace length, tolerated)" if hops_differ else ""
        traces.passed(f"ok: {len(ledger.relays)} relayed traces{note}")

    missing = report.case("3.6")
    if ledger.awaited:
        lost = [i for items in ledger.pending.values() for i in items
                if i.packet.destination != me][:MAX_EXAMPLES]  # fmt: skip
        missing.fail(
            f"{ledger.awaited} packets for other nodes were never forwarded",
            *({"handed": describe(dialect.name, FrameEvent(0, b"", i.packet)), "from": i.via}
              for i in lost),
        )  # fmt: skip
    else:
        missing.passed(f"ok: all {len(ledger.relays)} packets handed to it came out")

    exact_case = report.case("3.7")
    arrivals = [a for _, a in ledger.relays] + ledger.originations + ledger.strays
    inexact = [a for a in arrivals if dialect.encode(a.packet) != a.frame]
    for arrival in inexact[:MAX_EXAMPLES]:
        exact_case.fail("", _arrival_evidence(dialect, arrival,
                        expected_hex=dialect.encode(arrival.packet).hex()))  # fmt: skip
    if inexact:
        exact_case.detail = f"{len(inexact)} of {len(arrivals)} data frames are not byte-exact"
    else:
        exact_case.passed(f"ok: {len(arrivals)} data frames")


def grade_origination(report: Report, ledger: Ledger, dialect: Dialect, first: int) -> None:
    """Cases 4.x over the first ``first`` originations (the first run)."""
    me = ledger.me
    others = [i for i in ledger.ids if i != me]
    packets = ledger.originations[:first]
    sinks = report.case("4.1")
    wrong = [a for a in packets if a.packet.destination not in others]
    for arrival in wrong[:MAX_EXAMPLES]:
        sinks.fail("", _arrival_evidence(dialect, arrival, expected=f"a sink among {others}"))
    if wrong:
        sinks.detail = f"{len(wrong)} of {len(packets)} packets to a sink that is not another node"
    else:
        sinks.passed(f"ok: {len(packets)} packets")

    fresh = report.case("4.2")
    dirty = [a for a in packets if a.packet.trace or a.packet.hops]
    for arrival in dirty[:MAX_EXAMPLES]:
        fresh.fail("", _arrival_evidence(dialect, arrival, expected="source = its id, empty trace"))
    if dirty:
        fresh.detail = f"{len(dirty)} of {len(packets)} originated packets carry a trace"
    else:
        fresh.passed(f"ok: {len(packets)} packets with source {me} and an empty trace")

    spread = report.case("4.3")
    payloads = [a.packet.payload for a in packets]
    if not payloads:
        spread.fail("no originated packets were seen")
    else:
        low, high = min(payloads), max(payloads)
        evidence = {"min": low, "max": high, "packets": len(payloads),
                    "expected": f"below {-INT32_QUARTER} and above {INT32_QUARTER}"}  # fmt: skip
        covers = low < -INT32_QUARTER and high > INT32_QUARTER
        if len(payloads) < MIN_PACKETS_FOR_RANGE:
            spread.inform(f"only {len(payloads)} packets: min {low}, max {high}", evidence)
        elif covers:
            spread.passed(f"ok: min {low}, max {high}", evidence)
        else:
            spread.fail(f"payloads only span {low}..{high}", evidence)

    uniform = report.case("4.4")
    if packets:
        stat, p = chi_square([a.packet.destination for a in packets], others)
        counts = {o: sum(1 for a in packets if a.packet.destination == o) for o in others}
        uniform.inform(
            f"chi-square {stat:.1f} with {len(others) - 1} degrees of freedom, p = {p:.3f}",
            {"per_sink": counts, "p_value": round(p, 4)},
        )


def summary_fields(summary: TrafficSummary) -> Counts:
    return Counts(summary.sent, summary.sum_sent, summary.received, summary.sum_received,
                  summary.relayed)  # fmt: skip


def grade_summary(
    case: Case,
    dialect: Dialect,
    event: FrameEvent,
    me: int,
    expected: Counts,
    **alternatives: Counts,
) -> None:
    """``event`` (a TrafficSummary) against ``expected``; ``alternatives`` name
    wrong resets whose counts, when they match instead, say what went wrong."""
    message: Message | None = event.message
    assert isinstance(message, TrafficSummary)
    check_exact(case, dialect, event, "traffic summary")
    got = summary_fields(message)
    evidence = frame_evidence(dialect, event, expected=expected.as_dict())
    if message.node_id != me:
        case.fail(f"the summary names node {message.node_id}, not {me}", evidence)
    if got != expected:
        why = next((name for name, counts in alternatives.items() if counts == got), None)
        differ = [k for k, v in got.as_dict().items() if expected.as_dict()[k] != v]
        headline = f"counters differ from what the checker observed: {', '.join(differ)}"
        if why is not None:
            headline += f" (they are the counts {why})"
        case.fail(headline, evidence)
    else:
        case.passed(f"ok: {got.as_dict()}", evidence)


def grade_node_report(case: Case, dialect: Dialect, event: FrameEvent, me: int, host: str) -> None:
    """A task finished or deregistration: its id, its address, byte-exact.
    The port is not judged: classic peers put either of two ports there."""
    message = event.message
    assert isinstance(message, TaskFinished | Deregistration)
    evidence = frame_evidence(dialect, event, expected_id=me, expected_host=host)
    name = type(message).__name__
    if message.node_id != me or message.host != host:
        case.fail(f"the {name} names another node or address", evidence)
    elif check_exact(case, dialect, event, name):
        case.passed(f"ok (port {message.port})", evidence)
