"""One ``start N`` from task to verdict, as a sans-IO state machine.

Why a run is its own object: a run expects things in order (every node's
task-finished once, then quiet, then one summary per node once asked) and
must end honestly whatever the nodes do. It judges quiet from the progress
reports of trio_dht nodes (received counts only grow; once their sum is the
number sent, every packet has arrived) or, with classic peers, after a
grace period; it tells a silent node (stopped, swapped out: no heartbeat)
from a lost packet (every node heartbeating, counters frozen short of the
total); and it refuses reports that contradict what the same node said
before, naming them in the result instead of letting them into the totals.
"""

from __future__ import annotations

import enum
from collections.abc import Callable

import attrs

from trio_dht.protocol.debug import asking, debug, run_started
from trio_dht.protocol.events import Log
from trio_dht.protocol.members import Member, nodes_phrase
from trio_dht.protocol.report import NodeMeasures, NodeTotals, RunResult, nodes_named
from trio_dht.protocol.rules import MemberPhase
from trio_dht.wire.messages import ProgressReport, TrafficSummary


class RunPhase(enum.Enum):
    SENDING = "sending"  # waiting for every task-finished
    QUIESCING = "quiescing"  # all finished; waiting for the last packets
    SUMMARIZING = "summarizing"  # summaries asked for
    ENDED = "ended"


@attrs.define
class RunTimers:
    # A trio_dht node silent this long during a run is named as unresponsive.
    unresponsive_after: float = 5.0
    # With classic peers (no progress): wait this long after the last
    # task-finished before asking for summaries.
    grace: float = 15.0
    # Every node alive and no counter moving this long short of the total:
    # packets were lost; ask for summaries.
    stall_timeout: float = 3.0
    # Nothing moved this long (some node silent): give up on the run.
    run_timeout: float = 60.0
    # Summaries not in this long after asking: end without them.
    summary_timeout: float = 10.0
    # How often trio_dht nodes report during a run even when nothing moved
    # (node_core.HEARTBEAT): a node not heard from for two of these is not
    # known to be answering.
    heartbeat: float = 1.0


Speak = Callable[[str], None]


def _unlogged(line: Log) -> None:
    """A run whose owner keeps no log (tests of the run alone)."""


@attrs.define(eq=False)
class Run:
    """A run in progress. The registry core feeds it reports and ticks; it
    calls ``ask`` (send summary requests) and ``say`` (console lines)."""

    packets: int
    nr: int
    node_ids: tuple[int, ...]
    started: float
    timers: RunTimers
    members: dict[int, Member]
    ask: Callable[[list[Member]], None]
    say: Speak
    phase: RunPhase = RunPhase.SENDING
    finished: set[int] = attrs.field(factory=set)
    gone: dict[int, Member] = attrs.field(factory=dict)
    problems: list[str] = attrs.field(factory=list)
    # Of ``gone``, the nodes that deregistered (Ctrl-C at a node) rather
    # than vanished.
    left: set[int] = attrs.field(factory=set)
    last_change: float = 0.0
    last_finished: float | None = None
    asked_at: float = 0.0
    quiescence: str = ""
    aborted: bool = False
    no_summary: list[int] = attrs.field(factory=list)
    result: RunResult | None = None
    _named_classic: bool = False
    # Debug lines (quiescence decisions) for the log, not the console.
    log: Callable[[Log], None] = _unlogged
    # The silent nodes a stall decision waits for, to log only changes.
    _waiting_on: tuple[int, ...] = ()

    def __attrs_post_init__(self) -> None:
        self.last_change = self.started
        classic = sum(not m.progress_capable for m in self.live())
        self.log(run_started(self.packets, len(self.node_ids), self.nr, classic))

    # --- what is live ---------------------------------------------------------

    def live(self) -> list[Member]:
        return [self.members[i] for i in self.node_ids if i in self.members]

    @property
    def expected(self) -> int:
        return self.packets * len(self.node_ids)

    # --- reports ----------------------------------------------------------------

    def on_finished(self, member: Member, now: float) -> None:
        member.phase = MemberPhase.RELAYING
        self.finished.add(member.node_id)
        self.last_finished = now
        self.last_change = now

    def on_progress(self, member: Member, report: ProgressReport, now: float) -> None:
        before = member.progress
        if report.sent > self.packets:
            self._problem(f"node {member.node_id} reported {report.sent} sent of {self.packets}")
            return
        if before is not None and _below(report, before):
            self._problem(f"node {member.node_id}'s progress went backwards")
            return
        member.progress = report
        if before is None or _counts(report) != _counts(before):
            self.last_change = now

    def on_summary(self, member: Member, summary: TrafficSummary, now: float) -> None:
        member.phase = MemberPhase.DONE
        last = member.progress
        if last is not None and _below(summary, last):
            self._problem(
                f"node {member.node_id}'s summary (sent {summary.sent}, received "
                f"{summary.received}, relayed {summary.relayed}) is below its last progress "
                f"report (sent {last.sent}, received {last.received}, relayed {last.relayed}); "
                "the summary was refused"
            )
            return
        if summary.sent != self.packets:
            self._problem(
                f"node {member.node_id} reports {summary.sent} sent but was asked for {self.packets}"
            )
        member.summary = summary
        self.last_change = now

    def on_gone(self, member: Member, *, left: bool = False) -> None:
        self.gone[member.node_id] = member
        if left:
            self.left.add(member.node_id)
        self.finished.discard(member.node_id)

    def _problem(self, text: str) -> None:
        if text not in self.problems:
            self.problems.append(text)
            self.say(f"Refused a report: {text}.")

    # --- time ---------------------------------------------------------------------

    def tick(self, now: float) -> None:
        """Advance by the clock and by what the reports say."""
        if self.phase is RunPhase.ENDED:
            return
        self._name_silent(now)
        if self.phase is RunPhase.SENDING and all(m.node_id in self.finished for m in self.live()):
            self.phase = RunPhase.QUIESCING
            took = f"{now - self.started:.1f} s"
            self.log(debug(f"run: every node finished sending after {took}; waiting for quiet"))
        if self.phase is RunPhase.QUIESCING:
            why = self._quiet(now)
            if why:
                self._ask(why, now)
        undecided = self.phase in (RunPhase.SENDING, RunPhase.QUIESCING)
        if undecided and now - self.last_change >= self.timers.run_timeout:
            silent = [m.node_id for m in self.live() if m.unresponsive]
            self.say(
                f"Nothing moved for {self.timers.run_timeout:g} s"
                + (f"; {nodes_named(silent)} stopped answering" if silent else "")
                + ": asking for summaries anyway."
            )
            self._ask("run deadline", now)
        if self.phase is RunPhase.SUMMARIZING:
            waiting = [m for m in self.live() if m.phase is MemberPhase.ASKED]
            if not waiting:
                self.log(debug(f"run: every summary in {now - self.asked_at:.2f} s after asking"))
                self._end(now)
            elif now - self.asked_at >= self.timers.summary_timeout:
                self.no_summary = [m.node_id for m in waiting]
                self.say(
                    f"No traffic summary from {nodes_named(m.node_id for m in waiting)} "
                    f"within {self.timers.summary_timeout:g} s: ending the run without them."
                )
                self._end(now)

    def _name_silent(self, now: float) -> None:
        for m in self.live():
            if m.phase is MemberPhase.DONE:
                continue
            if m.progress_capable:
                silent_for = now - m.last_heard
                # Never less than two heartbeats: a node that reports once
                # a heartbeat is not silent between two reports.
                limit = max(self.timers.unresponsive_after, 2 * self.timers.heartbeat)
                if silent_for >= limit:
                    if not m.unresponsive:
                        m.unresponsive = True
                        self.say(
                            f"Waiting for node {m.node_id}: no progress for {silent_for:.0f} s "
                            "(stopped or swapped out?); giving up after "
                            f"{self.timers.run_timeout:g} s without any progress."
                        )
                elif m.unresponsive:
                    m.unresponsive = False
                    self.say(f"Node {m.node_id} is answering again.")
        classic_waiting = [
            m.node_id
            for m in self.live()
            if not m.progress_capable and m.node_id not in self.finished
        ]
        if (
            classic_waiting
            and not self._named_classic
            and now - self.started >= self.timers.unresponsive_after
        ):
            self._named_classic = True
            self.say(
                f"Waiting for {nodes_named(classic_waiting)} to report task finished "
                "(they do not report progress)."
            )

    def _quiet(self, now: float) -> str:
        live = self.live()
        if any(not m.progress_capable for m in live):
            assert self.last_finished is not None or not live
            if not self.quiescence:
                self.quiescence = "waiting"
                classic = sum(not m.progress_capable for m in live)
                self.say(
                    f"{nodes_phrase(classic)} {'does' if classic == 1 else 'do'} not report progress "
                    f"(classic peers): waiting the grace period of {self.timers.grace:g} s before asking "
                    "for traffic summaries."
                )
            since = self.last_finished if self.last_finished is not None else now
            return "grace period" if now - since >= self.timers.grace else ""
        received = sum(m.progress.received for m in live if m.progress is not None)
        if received >= self.expected and not self.gone:
            return "progress"
        window = max(self.timers.stall_timeout, 2 * self.timers.heartbeat)
        silent = tuple(m.node_id for m in live if m.unresponsive or now - m.last_heard >= window)
        if silent != self._waiting_on:
            self._waiting_on = silent
            if silent:
                self.log(
                    debug(
                        f"run: {received:,} of {self.expected:,} received; "
                        f"{nodes_named(silent)} not heard for {window:g} s, so the "
                        "counters are not judged stalled yet"
                    )
                )
        if silent:
            # Frozen counters prove a loss only while every node is heard
            # from (they heartbeat); a silent node is waited for instead.
            return ""
        if now - self.last_change >= self.timers.stall_timeout:
            self.say(
                f"No progress for {self.timers.stall_timeout:g} s with {received:,} of "
                f"{self.expected:,} packets received and every node answering: "
                "asking for summaries."
            )
            return "stalled"
        return ""

    def _ask(self, why: str, now: float) -> None:
        self.quiescence = why
        self.phase = RunPhase.SUMMARIZING
        self.asked_at = now
        live = [m for m in self.live() if m.phase is not MemberPhase.DONE]
        self.log(asking(why, now - self.started, len(live)))
        for m in live:
            m.phase = MemberPhase.ASKED
        self.ask(live)

    def abort(self, now: float) -> None:
        self.aborted = True
        self.quiescence = self.quiescence or "aborted"
        self.say("Run aborted.")
        self._end(now)

    def _end(self, now: float) -> None:
        rows: list[NodeTotals] = []
        measures: list[NodeMeasures] = []
        for node_id in self.node_ids:
            member = self.members.get(node_id) or self.gone.get(node_id)
            if member is not None:
                rows.append(member.totals())
                measured = member.measures()
                if measured is not None:
                    measures.append(measured)
        self.result = RunResult(
            packets_per_node=self.packets,
            nr=self.nr,
            nodes=tuple(rows),
            elapsed=now - self.started,
            quiescence=self.quiescence or "aborted",
            gone=tuple(sorted(self.gone)),
            left=tuple(sorted(self.left)),
            sending_elapsed=(
                None if self.last_finished is None else self.last_finished - self.started
            ),
            unresponsive=tuple(sorted(m.node_id for m in self.live() if m.unresponsive)),
            problems=tuple(self.problems),
            no_summary=tuple(self.no_summary),
            aborted=self.aborted,
            measures=tuple(measures),
        )
        self.phase = RunPhase.ENDED


def start_refusal(
    packets: int, nodes: int, max_counter: int, *, running: bool, needs_setup: bool, ready: bool
) -> str:
    """Why ``start packets`` cannot begin now ("" if it can)."""
    if not 0 <= packets <= 0x7FFFFFFF:
        return "the packet count must be between 0 and 2147483647"
    if running:
        return "a task is already running"
    if needs_setup:
        return (
            "the last run did not end CORRECT, so packets of it may still be in flight: "
            "run setup-overlay again first"
        )
    if not ready:
        return (
            "the overlay is not ready: run setup-overlay and wait for "
            "'Registry now ready to initiate tasks.'"
        )
    total = packets * nodes
    if total > max_counter:
        return (
            f"{packets} packets on each of {nodes} nodes is {total:,} packets, more than a "
            f"counter of this wire dialect holds ({max_counter:,})"
        )
    return ""


def _counts(r: ProgressReport) -> tuple[int, int, int]:
    return (r.sent, r.received, r.relayed)


def _below(now: ProgressReport | TrafficSummary, before: ProgressReport) -> bool:
    return now.sent < before.sent or now.received < before.received or now.relayed < before.relayed
