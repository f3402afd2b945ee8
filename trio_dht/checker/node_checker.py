"""``check node``: run a foreign messaging node against the checker's registry
and peers, step by step, and grade it case by case.

The checker plays the registry and every other node of a 10-node overlay, so
it sees every frame the node under test sends. Packets for it are handed over
while the first task runs (so that a node resetting its counters at a task's
start still reports the first run right), after it finished, and between the
two runs (which a node resetting only at the next task then loses).
Every wait is bounded; a step that runs out of time fails its case and the
cases that could not be reached after it fail as "not reached".
"""

from __future__ import annotations

import random

import trio

from trio_dht.checker import node_endgame as endgame
from trio_dht.checker import node_grading as grading
from trio_dht.checker.frames import FrameEvent
from trio_dht.checker.ledger import Ledger, lanes, make_batch
from trio_dht.checker.node_catalogue import (
    HANDED,
    NODE_CASES,
    SETTLE,
    SUCCESS,
    NodeCheckConfig,
)
from trio_dht.checker.node_harness import Control, Harness, Recorded
from trio_dht.checker.process import Child, fill
from trio_dht.checker.report import Case, Report
from trio_dht.overlay import ID_SPACE, routing_tables
from trio_dht.wire import get_dialect
from trio_dht.wire.messages import (
    NodeManifest,
    OverlaySetupStatus,
    PeerEntry,
    Registration,
    RegistrationStatus,
    TaskFinished,
    TaskInitiate,
    TrafficSummary,
    TrafficSummaryRequest,
)


class Stop(Exception):
    """A step cannot go on; the cases after it are not reached."""


class NodeChecker:
    def __init__(self, config: NodeCheckConfig) -> None:
        self.config = config
        self.dialect = get_dialect(config.wire)
        self.rng = random.Random(config.seed)
        self.report = Report(" ".join(config.command), "node", config.wire)
        for number, title, strict in NODE_CASES:
            self.report.add(number, title, strict=strict)
        self.done: set[str] = set()
        self.connects_on_demand = False
        self.frames: list[Recorded] = []

    def case(self, number: str) -> Case:
        self.done.add(number)
        return self.report.case(number)

    async def run(self) -> Report:
        started = trio.current_time()
        async with trio.open_nursery() as nursery:
            h = Harness(self.dialect, self.config.host, nursery, self.config.per_message)
            self.h = h
            port = await nursery.start(h.serve_registry)
            ids = sorted(self.rng.sample(range(ID_SPACE), self.config.nodes))
            self.ids = ids
            self.me = self.rng.choice(ids)
            self.tables = routing_tables(ids, self.config.nr)
            self.table = self.tables[self.me]
            for node_id in ids:
                if node_id != self.me:
                    await h.open_probe(node_id)
            self.command = fill(self.config.command,
                                {"host": self.config.host, "port": str(port)})  # fmt: skip
            self.child = Child("node", self.command, h.poke)
            try:
                if not await self.child.start(nursery):
                    raise Stop(self.child.start_error or "could not start")
                await self._steps()
            except Stop as stop:
                self._not_reached(str(stop))
            finally:
                with trio.CancelScope(shield=True):
                    await self.child.stop()
                    await h.close_injectors()
                nursery.cancel_scope.cancel()
        self._not_reached("an earlier step did not complete")
        self.report.seconds = trio.current_time() - started
        self.frames = h.frames
        return self.report

    def _not_reached(self, why: str) -> None:
        for case in self.report.cases:
            if case.number not in self.done:
                self.done.add(case.number)
                case.fail(f"not reached: {why}")
        if why != "an earlier step did not complete":
            self.report.notes.append(f"stopped early: {why}")
            self.report.notes.extend(f"node {name}: {line}" for name, lines
                                     in self.child.tail().items() for line in lines)  # fmt: skip

    async def _steps(self) -> None:
        await self._register()
        await self._setup()
        self.ledger = Ledger(self.me, self.table, tuple(self.ids))
        self.h.ledger = self.ledger
        self.lanes = lanes(self.me, self.tables)
        await self._first_run()
        await self._summary_one()
        await self._second_run()
        grading.grade_routing(self.report, self.ledger, self.dialect)
        if self.connects_on_demand:
            self._grade_connections({i for i, p in self.h.probes.items() if p.accepted})
        self.done.update({"3.1", "3.2", "3.3", "3.4", "3.5", "3.6", "3.7"})
        await endgame.setup_failure(self)
        await endgame.leave(self)
        await endgame.robustness(self)

    # --- 1 registration ------------------------------------------------------

    async def _register(self) -> None:
        h, cfg = self.h, self.config

        def spoke() -> bool:
            return self.child.exited.is_set() or any(
                isinstance(e.message, Registration) or (e.event is not None and e.event.malformed)
                for e in h.control
            )

        await h.until(spoke, cfg.startup_timeout)
        entry = await h.expect(Registration, 0)
        first = self.case("1.1")
        bad = [e.event for e in h.control if e.event is not None and e.event.malformed]
        if entry is None and bad:
            first.fail(f"its first frame does not decode as {self.dialect.name}: {bad[0].error}",
                       grading.frame_evidence(self.dialect, bad[0]))  # fmt: skip
            raise Stop("no registration the checker could read")
        if entry is None or entry.event is None:
            exited = self.child.returncode
            why = f"no registration within {cfg.startup_timeout:g} s"
            if exited is not None:
                why += f" (the process exited with status {exited})"
            first.fail(why, {"process_output": self.child.tail()})
            raise Stop(why)
        event = entry.event
        message = event.message
        assert isinstance(message, Registration)
        self.address = h.node_address = (message.host, message.port)
        if grading.check_exact(first, self.dialect, event, "registration"):
            first.passed("ok", grading.frame_evidence(self.dialect, event))
        real = self.case("1.2")
        if message.host != h.control_peer_host:
            real.fail(f"registered {message.host}, but the connection comes from "
                      f"{h.control_peer_host}", grading.frame_evidence(self.dialect, event))  # fmt: skip
        else:
            real.passed(f"ok: {message.host}")
        listening = self.case("1.3")
        try:
            with trio.fail_after(cfg.timeout):
                stream = await trio.open_tcp_stream(message.host, message.port)
            await stream.aclose()
            listening.passed(f"ok: {message.host}:{message.port} accepts connections")
        except (OSError, trio.TooSlowError) as exc:
            listening.fail(f"cannot connect to {message.host}:{message.port}: {exc!r}")
        status = RegistrationStatus(self.me, SUCCESS.format(len(self.ids)))
        if not await h.send_control(status, reply_to=entry):
            raise Stop("the registration connection closed before the answer")

    # --- 2 setup -----------------------------------------------------------------

    def manifest(self, broken_port: int | None = None) -> NodeManifest:
        host = self.config.host
        entries = [PeerEntry(e, host, self.h.probes[e].port) for e in self.table]
        if broken_port is not None:
            entries[0] = PeerEntry(entries[0].node_id, host, broken_port)
        return NodeManifest(tuple(entries), tuple(self.ids))

    async def _setup(self) -> None:
        h, cfg = self.h, self.config
        await h.send_control(self.manifest())
        entry = await h.expect(OverlaySetupStatus, cfg.timeout)
        status_case = self.case("2.2")
        if entry is None or entry.event is None:
            status_case.fail(f"no overlay setup status within {cfg.timeout:g} s")
            raise Stop("no setup status")
        event = entry.event
        assert isinstance(event.message, OverlaySetupStatus)
        evidence = grading.frame_evidence(self.dialect, event, expected_status=self.me)
        if event.message.status != self.me:
            status_case.fail(f"status {event.message.status}, expected its id {self.me}", evidence)
        elif grading.check_exact(status_case, self.dialect, event, "setup status"):
            status_case.passed(f"ok: status {self.me}", evidence)
        await h.until(lambda: all(h.probes[e].accepted for e in self.table), 1.0)
        connected = {i for i, p in h.probes.items() if p.accepted}
        # No connection at all: it may dial per message (the seed's Go port);
        # judged once it has sent its packets (_connections_on_demand).
        self.connects_on_demand = not connected
        if self.connects_on_demand:
            return
        self._grade_connections(connected)

    def _grade_connections(self, connected: set[int]) -> None:
        table = set(self.table)
        wanted = {"table": list(self.table), "connected_to": sorted(connected)}
        conn = self.case("2.1")
        if self.connects_on_demand and connected and connected <= table:
            conn.tolerate("no connection at setup; it dials its entries only when it sends "
                          "(one message per connection)", wanted)  # fmt: skip
        elif connected - table:
            conn.fail(f"connected to nodes outside its table: {sorted(connected - table)}", wanted)
        elif table - connected:
            conn.fail(f"did not connect to {sorted(table - connected)} of its table", wanted)
        else:
            conn.passed(f"ok: connected to {list(self.table)}", wanted)

    # --- 3-5 the first run --------------------------------------------------------

    async def hand(self, count: int) -> bool:
        """Hand ``count`` packets over and wait until every relay came out."""
        batch = make_batch(self.me, self.lanes, count, self.rng)
        await self.h.inject(batch, *self.address)
        return await self.h.until(lambda: self.ledger.awaited == 0, self.config.timeout)

    async def _originated(self, count: int) -> bool:
        """Wait for ``count`` originations in all, then a short quiet time."""
        ledger = self.ledger
        reached = await self.h.until(lambda: len(ledger.originations) >= count,
                                     self.config.timeout)  # fmt: skip
        await self.h.until(lambda: len(ledger.originations) > count, SETTLE)
        return reached

    async def _run(self, packets: int, handed: int, total: int, label: str) -> bool:
        h = self.h
        self.ledger.mark(label)
        await h.send_control(TaskInitiate(packets))
        await self.hand(handed)
        finished = await h.expect(TaskFinished, self.config.timeout + packets / 500)
        await self._originated(total)
        if label == "task1":
            self._grade_finished(finished)
        return finished is not None

    def _grade_finished(self, entry: Control | None) -> None:
        case = self.case("5.2")
        if entry is None or entry.event is None:
            case.fail(f"no task finished within {self.config.timeout:g} s")
            return
        grading.grade_node_report(case, self.dialect, entry.event, self.me, self.address[0])

    async def _first_run(self) -> None:
        cfg = self.config
        await self._run(cfg.packets, HANDED[0], cfg.packets, "task1")
        count = self.case("5.1")
        seen = len(self.ledger.originations)
        if seen != cfg.packets:
            count.fail(f"originated {seen} packets, expected {cfg.packets}")
        else:
            count.passed(f"ok: {seen}")
        grading.grade_origination(self.report, self.ledger, self.dialect, cfg.packets)
        self.done.update({"4.1", "4.2", "4.3", "4.4"})
        after = self.case("5.3")
        if await self.hand(HANDED[1]):
            after.passed(f"ok: {HANDED[1]} packets handed over after it finished came out")
        else:
            after.fail(f"{self.ledger.awaited} packets handed over after it finished were "
                       "not forwarded", {"connection_errors": self.h.inject_errors})  # fmt: skip

    # --- 6 summaries ----------------------------------------------------------------

    def _early_summaries(self) -> None:
        case = self.case("6.1")
        for entry in self.h.control:
            if isinstance(entry.message, TrafficSummary) and not entry.consumed:
                entry.consumed = True
                assert entry.event is not None
                case.fail("a traffic summary arrived before it was requested",
                          grading.frame_evidence(self.dialect, entry.event))  # fmt: skip
        case.passed("ok: summaries only on request")

    async def _request_summary(self) -> FrameEvent | None:
        if self.config.per_message:
            # Packets on separate connections may be read in any order: the
            # relays seen do not prove the deliveries before them were read.
            await trio.sleep(SETTLE)
        self._early_summaries()
        await self.h.send_control(TrafficSummaryRequest())
        entry = await self.h.expect(TrafficSummary, self.config.timeout)
        return entry.event if entry is not None else None

    async def _summary_one(self) -> None:
        expected = self.ledger.since("start")
        event = await self._request_summary()
        self.ledger.mark("summary1")
        case = self.case("6.2")
        if event is None:
            case.fail(f"no traffic summary within {self.config.timeout:g} s of the request")
            raise Stop("no traffic summary")
        grading.grade_summary(case, self.dialect, event, self.me, expected)

    async def _second_run(self) -> None:
        cfg = self.config
        # In a real overlay nothing is in flight when a summary is answered;
        # implementations that reset just after sending it may count a packet
        # arriving in between, then wipe it. Do not hand packets that early.
        await trio.sleep(SETTLE)
        await self.hand(HANDED[2])
        total = cfg.packets + cfg.second_packets
        await self._run(cfg.second_packets, HANDED[3], total, "task2")
        expected = self.ledger.since("summary1")
        never = self.ledger.since("start")
        at_task = self.ledger.since("task2")
        event = await self._request_summary()
        case = self.case("6.3")
        if event is None:
            case.fail(f"no second traffic summary within {cfg.timeout:g} s")
            return
        grading.grade_summary(
            case, self.dialect, event, self.me, expected,
            **{"of both runs: never reset": never,
               "since the second task began: reset at the task, not after the summary": at_task},
        )  # fmt: skip
