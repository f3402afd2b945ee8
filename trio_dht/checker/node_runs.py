"""The middle of ``check node``: two task runs of every copy at once, with
packets handed over, and a summary after each (cases 3 to 6).

The copies run their tasks together, as in a real overlay, and a summary is
requested only once the overlay is quiet: every packet handed over or passed
between copies came out, and every copy is proven to have read every packet
for it (``NodeChecker.flush``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import trio

from trio_dht.checker import node_grading as grading
from trio_dht.checker.frames import FrameEvent
from trio_dht.checker.node_catalogue import HANDED, SETTLE
from trio_dht.checker.node_copy import Copy, Stop
from trio_dht.checker.node_opening import grade_connections
from trio_dht.wire.messages import TaskFinished, TaskInitiate, TrafficSummary, TrafficSummaryRequest

if TYPE_CHECKING:
    from trio_dht.checker.node_checker import NodeChecker


async def _originated(k: NodeChecker, copy: Copy, count: int) -> bool:
    """Wait for ``count`` originations in all, then a short quiet time."""
    ledger = copy.ledger
    reached = await k.h.until(lambda: len(ledger.originations) >= count, k.config.timeout)
    await k.h.until(lambda: len(ledger.originations) > count, SETTLE)
    return reached


async def _run(k: NodeChecker, packets: int, handed: int, total: int, label: str) -> None:
    """A task of ``packets`` on every copy, ``handed`` more packets each."""
    for copy in k.active:
        copy.ledger.mark(label)
    await k.each(lambda c: _initiate(k, c, packets))
    for copy in k.active:
        k.hand(copy, handed)
    await k.quiet()

    async def finish(copy: Copy) -> None:
        finished = await k.h.expect(TaskFinished, k.config.timeout + packets / 500, copy.index)
        await _originated(k, copy, total)
        if label == "task1":
            _grade_finished(k, copy, finished.event if finished is not None else None)

    await k.each(finish)


async def _initiate(k: NodeChecker, copy: Copy, packets: int) -> None:
    if not await k.h.send_control(TaskInitiate(packets), copy.index):
        raise Stop("its registry connection is closed")


def _grade_finished(k: NodeChecker, copy: Copy, event: FrameEvent | None) -> None:
    case = copy.case("5.2")
    if event is None:
        case.fail(f"no task finished within {k.config.timeout:g} s")
        return
    grading.grade_node_report(case, k.dialect, event, copy.me, copy.address[0])


async def first_run(k: NodeChecker) -> None:
    cfg = k.config
    await _run(k, cfg.packets, HANDED[0], cfg.packets, "task1")
    for copy in k.active:
        count = copy.case("5.1")
        seen = len(copy.ledger.originations)
        if seen != cfg.packets:
            count.fail(f"originated {seen} packets, expected {cfg.packets}")
        else:
            count.passed(f"ok: {seen}")
        grading.grade_origination(copy.report, copy.ledger, k.dialect, cfg.packets)
        copy.done.update({"4.1", "4.2", "4.3", "4.4"})
        k.hand(copy, HANDED[1])
    await k.quiet()
    for copy in k.active:
        after = copy.case("5.3")
        if copy.ledger.awaited == 0:
            after.passed(f"ok: {HANDED[1]} packets handed over after it finished came out")
        else:
            after.fail(f"{copy.ledger.awaited} packets handed over (or passed on by other "
                       "copies) after it finished were not forwarded",
                       {"connection_errors": k.links.errors[:10]})  # fmt: skip


def _early_summaries(k: NodeChecker, copy: Copy) -> None:
    case = copy.case("6.1")
    for entry in k.h.entries_of(copy.index):
        if isinstance(entry.message, TrafficSummary) and not entry.consumed:
            entry.consumed = True
            assert entry.event is not None
            case.fail("a traffic summary arrived before it was requested",
                      grading.frame_evidence(k.dialect, entry.event))  # fmt: skip
    case.passed("ok: summaries only on request")


async def _settle_for_summary(k: NodeChecker) -> None:
    await k.flush()
    if k.config.per_message:
        # Packets on separate connections may be read in any order: the
        # relays seen do not prove the deliveries before them were read.
        await trio.sleep(SETTLE)


async def _request_summary(k: NodeChecker, copy: Copy) -> FrameEvent | None:
    _early_summaries(k, copy)
    await k.h.send_control(TrafficSummaryRequest(), copy.index)
    entry = await k.h.expect(TrafficSummary, k.config.timeout, copy.index)
    return entry.event if entry is not None else None


async def summary_one(k: NodeChecker) -> None:
    await _settle_for_summary(k)

    async def one(copy: Copy) -> None:
        expected = copy.ledger.since("start")
        event = await _request_summary(k, copy)
        copy.ledger.mark("summary1")
        case = copy.case("6.2")
        if event is None:
            case.fail(f"no traffic summary within {k.config.timeout:g} s of the request")
            raise Stop("no traffic summary")
        grading.grade_summary(case, k.dialect, event, copy.me, expected)

    await k.each(one)


async def second_run(k: NodeChecker) -> None:
    cfg = k.config
    # In a real overlay nothing is in flight when a summary is answered;
    # implementations that reset just after sending it may count a packet
    # arriving in between, then wipe it. Do not hand packets that early.
    await trio.sleep(SETTLE)
    for copy in k.active:
        k.hand(copy, HANDED[2])
    await k.quiet()
    total = cfg.packets + cfg.second_packets
    await _run(k, cfg.second_packets, HANDED[3], total, "task2")
    await _settle_for_summary(k)

    async def one(copy: Copy) -> None:
        expected = copy.ledger.since("summary1")
        never = copy.ledger.since("start")
        at_task = copy.ledger.since("task2")
        event = await _request_summary(k, copy)
        case = copy.case("6.3")
        if event is None:
            case.fail(f"no second traffic summary within {cfg.timeout:g} s")
            return
        grading.grade_summary(
            case, k.dialect, event, copy.me, expected,
            **{"of both runs: never reset": never,
               "since the second task began: reset at the task, not after the summary": at_task},
        )  # fmt: skip

    await k.each(one)


def grade_routing_of(k: NodeChecker) -> Callable[[Copy], Awaitable[None]]:
    async def grade(copy: Copy) -> None:
        grading.grade_routing(copy.report, copy.ledger, k.dialect)
        if copy.connects_on_demand:
            grade_connections(copy, k.links.connected(copy.index))
        copy.done.update({"3.1", "3.2", "3.3", "3.4", "3.5", "3.6", "3.7"})
        await trio.lowlevel.checkpoint()

    return grade
