"""``check registry``: drive a registry with the checker's own nodes and grade it.

The registry is either running already (HOST:PORT; the checker tells the
user what to type at its console) or started by the checker (``--spawn``,
commands typed at its stdin). The nodes are complete (``ScriptedPeer``) but
hold back their last packets after reporting they finished, to see whether
the registry asks for the summaries while packets are still in flight.
"""

from __future__ import annotations

import random
import re
import sys

import attrs
import trio

from trio_dht.checker import node_grading as grading
from trio_dht.checker.frames import FrameEvent, StreamDecoder
from trio_dht.checker.process import Child, fill
from trio_dht.checker.report import Case, Grade, Report
from trio_dht.checker.scripted_peer import Heard, ScriptedPeer, Traffic
from trio_dht.overlay import ID_SPACE, routing_tables
from trio_dht.wire import get_dialect
from trio_dht.wire.messages import (
    Deregistration,
    DeregistrationStatus,
    Message,
    NodeManifest,
    Registration,
    RegistrationStatus,
    TaskInitiate,
    TrafficSummaryRequest,
)

REGISTRY_CASES: tuple[tuple[str, str, bool], ...] = (
    ("1.1", "registration gives ids in 0..127, unique", True),
    ("1.2", "the success text of the spec, with the node count", True),
    ("1.3", "registration statuses are byte-exact", True),
    ("2.1", "refuses a registration with a spoofed address (negative status, a reason)", True),
    ("2.2", "refuses a duplicate registration", True),
    ("2.3", "refuses a deregistration of another node's id", True),
    ("2.4", "accepts a node's own deregistration", True),
    ("2.5", "refuses a second deregistration", True),
    ("3.1", "manifest entries are 1, 2, 4 ... positions ahead, in order, right addresses", True),
    ("3.2", "manifest id list is every registered id, sorted", True),
    ("3.3", "manifests are byte-exact", True),
    ("4.1", "task initiate carries the count typed at its console", True),
    ("5.1", "summary requests only after every node finished", True),
    ("5.2", "summary requests only after every packet arrived", True),
    ("5.3", "delay between the last packet and the summary request", False),
)
TEXT = re.compile(
    r"^Registration request successful\. The number of messaging nodes currently "
    r"constituting the overlay is \((\d+)\)\.?$"
)
READ_PAUSE = 0.3
SPOOFED_HOST = "192.0.2.1"  # TEST-NET-1: never a real peer's address


@attrs.frozen
class RegistryCheckConfig:
    host: str = "127.0.0.1"
    port: int = 0
    spawn: tuple[str, ...] = ()
    wire: str = "cs455"
    nodes: int = 10
    nr: int = 3
    packets: int = 200
    hold: float = 2.0
    timeout: float = 10.0
    summary_timeout: float = 40.0  # classic registries sleep 10-20 s
    startup_timeout: float = 20.0
    seed: int | None = None
    per_message: bool = False  # the registry reads one frame per connection


class Stop(Exception):
    pass


class RegistryChecker:
    def __init__(self, config: RegistryCheckConfig) -> None:
        self.config = config
        self.dialect = get_dialect(config.wire)
        self.rng = random.Random(config.seed)
        subject = " ".join(config.spawn) if config.spawn else f"{config.host}:{config.port}"
        self.report = Report(subject, "registry", config.wire)
        for number, title, strict in REGISTRY_CASES:
            self.report.add(number, title, strict=strict)
        self.done: set[str] = set()
        self.child: Child | None = None
        self.traffic = Traffic()
        self.port = config.port

    def case(self, number: str) -> Case:
        self.done.add(number)
        return self.report.case(number)

    async def run(self) -> Report:
        started = trio.current_time()
        async with trio.open_nursery() as nursery:
            self.nursery = nursery
            try:
                await self._start_registry()
                await self._steps()
            except (Stop, OSError) as stop:
                why = str(stop)
                for case in self.report.cases:
                    if case.number not in self.done or not case.detail:
                        case.fail(f"not reached: {why}")
                if self.child is not None:
                    self.report.notes.extend(f"registry {k}: {line}" for k, lines
                                             in self.child.tail().items() for line in lines)  # fmt: skip
            finally:
                with trio.CancelScope(shield=True):
                    if self.child is not None:
                        await self.child.type("exit")
                        await self.child.stop()
                nursery.cancel_scope.cancel()
        self.report.seconds = trio.current_time() - started
        return self.report

    async def _start_registry(self) -> None:
        cfg = self.config
        if not cfg.spawn:
            return
        if not self.port:
            listeners = await trio.open_tcp_listeners(0, host=cfg.host)
            self.port = int(listeners[0].socket.getsockname()[1])
            await listeners[0].aclose()
        command = fill(cfg.spawn, {"host": cfg.host, "port": str(self.port)})
        self.child = Child("registry", command, lambda: None)
        if not await self.child.start(self.nursery):
            raise Stop(self.child.start_error or "could not start the registry")
        # Its port is known to be open once the first registration connects
        # (_register retries that one for startup_timeout).

    async def _say(self, command: str) -> None:
        """Have ``command`` typed at the registry's console."""
        if self.child is not None:
            await self.child.type(command)
        else:
            print(f"check registry: now type at the registry:  {command}", file=sys.stderr,
                  flush=True)  # fmt: skip

    def _wait(self, timeout: float) -> float:
        # A person typing needs longer than a pipe.
        return timeout if self.child is not None else max(timeout, 120.0)

    async def _steps(self) -> None:
        await self._register()
        await self._refusals()
        await self._setup()
        await self._task()

    def _peer(self) -> ScriptedPeer:
        return ScriptedPeer(self.dialect, self.config.host, self.traffic, hold=self.config.hold,
                            rng=self.rng, per_message=self.config.per_message)  # fmt: skip

    # --- 1 registration ----------------------------------------------------------

    async def _register(self) -> None:
        cfg = self.config
        self.peers: list[ScriptedPeer] = []
        ids_case, text_case, exact_case = self.case("1.1"), self.case("1.2"), self.case("1.3")
        for index in range(cfg.nodes):
            peer = self._peer()
            patience = cfg.startup_timeout if index == 0 and self.child is not None else 0.0
            try:
                await peer.start(self.nursery, cfg.host, self.port, patience)
            except OSError as exc:
                why = f"cannot connect to the registry at {cfg.host}:{self.port}: {exc}"
                if self.child is not None and self.child.exited.is_set():
                    why += f" (it exited with status {self.child.returncode})"
                raise Stop(why) from None
            await peer.register()
            heard = await peer.wait_for(RegistrationStatus, cfg.timeout)
            if heard is None or heard.event is None:
                ids_case.fail(f"no registration status for node {index + 1} within "
                              f"{cfg.timeout:g} s")  # fmt: skip
                raise Stop("registration did not complete")
            event = heard.event
            message = event.message
            assert isinstance(message, RegistrationStatus)
            evidence = grading.frame_evidence(self.dialect, event)
            if not 0 <= message.status < ID_SPACE or message.status in {p.node_id for p in
                                                                           self.peers}:  # fmt: skip
                ids_case.fail(f"node {index + 1} got id {message.status}", evidence)
                raise Stop("registration refused or gave a bad id")
            peer.node_id = message.status
            self.peers.append(peer)
            match = TEXT.match(message.info)
            if match is None or int(match.group(1)) != index + 1:
                text_case.fail(f"registration {index + 1}: the text is not the spec's with "
                               f"({index + 1})", evidence)  # fmt: skip
            grading.check_exact(exact_case, self.dialect, event, "registration status")
        ids = sorted(p.node_id for p in self.peers)
        ids_case.passed(f"ok: {ids}")
        text_case.passed("ok")
        exact_case.passed("ok")

    # --- 2 refusals ---------------------------------------------------------------

    async def _ask(self, message: Message, on: ScriptedPeer | None = None) -> FrameEvent | None:
        """Send ``message`` (on a fresh connection unless ``on``) and return the answer."""
        if on is not None:
            start = len(on.heard)
            await on.send(message)
            heard = await on.wait_for((RegistrationStatus, DeregistrationStatus),
                                      self.config.timeout, after=start)  # fmt: skip
            return heard.event if heard is not None else None
        decoder = StreamDecoder(self.dialect.name)
        with trio.move_on_after(self.config.timeout):
            async with await trio.open_tcp_stream(self.config.host, self.port) as stream:
                await stream.send_all(self.dialect.encode(message))
                while data := await stream.receive_some(65536):
                    events = decoder.feed(data)
                    if events:
                        await self._undo(stream, message, events[0])
                        return events[0]
        return None

    async def _undo(self, stream: trio.SocketStream, sent: Message, answer: FrameEvent) -> None:
        """A registration that should have been refused was accepted: take it
        back, so the wrong node does not spoil the cases after this one."""
        status = answer.message
        if not isinstance(sent, Registration) or not isinstance(status, RegistrationStatus):
            return
        if status.status < 0:
            return
        self.report.notes.append(
            f"a registration of {sent.host}:{sent.port} that should have been refused got id "
            f"{status.status}; the checker deregistered it again"
        )
        await stream.send_all(self.dialect.encode(Deregistration(sent.host, sent.port,
                                                                 status.status)))  # fmt: skip
        await stream.receive_some(65536)

    def _refused(self, case: Case, answer: FrameEvent | None, what: str) -> None:
        if answer is None:
            case.fail(f"no answer to {what} within {self.config.timeout:g} s "
                      "(or the connection was closed without one)")  # fmt: skip
            return
        message = answer.message
        evidence = grading.frame_evidence(self.dialect, answer,
                                          expected="a negative status and a reason")  # fmt: skip
        if not isinstance(message, RegistrationStatus | DeregistrationStatus):
            case.fail(f"answered {what} with something else", evidence)
        elif message.status >= 0 or not message.info.strip():
            case.fail(f"accepted {what}: status {message.status}", evidence)
        else:
            case.passed(f"ok: status {message.status}: {message.info}", evidence)

    async def _refusals(self) -> None:
        first, second = self.peers[0], self.peers[1]
        spoof = await self._ask(Registration(SPOOFED_HOST, first.port + 1))
        self._refused(self.case("2.1"), spoof, f"a registration claiming {SPOOFED_HOST}")
        duplicate = await self._ask(Registration(first.host, first.port))
        self._refused(self.case("2.2"), duplicate, "a second registration of node 1's address")
        other = await self._ask(Deregistration(first.host, first.port, second.node_id), on=first)
        self._refused(self.case("2.3"), other, "a deregistration of another node's id")

        extra = self._peer()
        await extra.start(self.nursery, self.config.host, self.port)
        await extra.register()
        heard = await extra.wait_for(RegistrationStatus, self.config.timeout)
        own = self.case("2.4")
        if heard is None or heard.event is None or not isinstance(
            heard.event.message, RegistrationStatus
        ) or heard.event.message.status < 0:  # fmt: skip
            own.fail("an extra node could not register")
            raise Stop("the extra node could not register")
        extra.node_id = heard.event.message.status
        leave = Deregistration(extra.host, extra.port, extra.node_id)
        answer = await self._ask(leave, on=extra)
        if answer is None or not isinstance(
            answer.message, DeregistrationStatus | RegistrationStatus
        ):
            own.fail("no answer to a node's own deregistration")
        elif answer.message.status < 0:
            own.fail(f"refused: status {answer.message.status}",
                     grading.frame_evidence(self.dialect, answer))  # fmt: skip
        else:
            own.passed(f"ok: status {answer.message.status}")
        if own.grade is not Grade.PASS:
            # Still registered: it takes part like the others, so the cases
            # after this one are not spoiled by a node the checker forgot.
            self.peers.append(extra)
            self.report.notes.append(f"node {extra.node_id} could not leave; it stays in the "
                                     "overlay for the rest of the check")  # fmt: skip
            self.case("2.5").fail("not reached: the node's own deregistration was refused")
            return
        closed = any(h.event is None for h in extra.heard)
        again = await self._ask(leave, on=None if closed else extra)
        self._refused(self.case("2.5"), again, "a second deregistration")
        await extra.close()

    # --- 3 setup, 4-5 the task -------------------------------------------------------

    async def _setup(self) -> None:
        cfg = self.config
        await self._say(f"setup-overlay {cfg.nr}")
        ids = sorted(p.node_id for p in self.peers)
        tables = routing_tables(ids, cfg.nr)
        by_id = {p.node_id: p for p in self.peers}
        order, listing, exact = self.case("3.1"), self.case("3.2"), self.case("3.3")
        for peer in self.peers:
            heard = await peer.wait_for(NodeManifest, self._wait(cfg.timeout))
            if heard is None or heard.event is None:
                order.fail(f"node {peer.node_id} got no manifest")
                raise Stop("no manifest")
            event = heard.event
            message = event.message
            assert isinstance(message, NodeManifest)
            want = [(e, by_id[e].host, by_id[e].port) for e in tables[peer.node_id]]
            got = [(e.node_id, e.host, e.port) for e in message.entries]
            if got != want:
                order.fail(f"node {peer.node_id}: entries {[g[0] for g in got]}, expected "
                           f"{[w[0] for w in want]}",
                           grading.frame_evidence(self.dialect, event, expected=want))  # fmt: skip
            if list(message.node_ids) != ids:
                listing.fail(f"node {peer.node_id}: ids {list(message.node_ids)}",
                             grading.frame_evidence(self.dialect, event, expected=ids))  # fmt: skip
            grading.check_exact(exact, self.dialect, event, "manifest")
        for case in (order, listing, exact):
            case.passed(f"ok: {len(self.peers)} manifests")
        with trio.move_on_after(cfg.timeout):
            for peer in self.peers:
                await peer.set_up.wait()
        # The statuses are sent; give the registry a moment to read them
        # before 'start' is typed (a person would see 'ready' first).
        await trio.sleep(READ_PAUSE)

    async def _task(self) -> None:
        cfg = self.config
        await self._say(f"start {cfg.packets}")
        initiate = self.case("4.1")
        for peer in self.peers:
            heard = await peer.wait_for(TaskInitiate, self._wait(cfg.timeout))
            if heard is None or heard.event is None:
                initiate.fail(f"node {peer.node_id} got no task initiate")
                raise Stop("no task initiate")
            message = heard.event.message
            assert isinstance(message, TaskInitiate)
            if message.packets != cfg.packets:
                initiate.fail(f"asked for {message.packets} packets, {cfg.packets} were typed",
                              grading.frame_evidence(self.dialect, heard.event))  # fmt: skip
            grading.check_exact(initiate, self.dialect, heard.event, "task initiate")
        initiate.passed(f"ok: {cfg.packets}")
        requests: list[Heard] = []
        for peer in self.peers:
            heard = await peer.wait_for(TrafficSummaryRequest, cfg.summary_timeout)
            if heard is None:
                self.case("5.1").fail(f"node {peer.node_id} was never asked for its summary "
                                      f"within {cfg.summary_timeout:g} s")  # fmt: skip
                raise Stop("no summary request")
            requests.append(heard)
        self._grade_timing(self.traffic.asked_at or min(h.time for h in requests))

    def _grade_timing(self, asked: float) -> None:
        traffic = self.traffic
        finished = max(traffic.finished_at) if traffic.finished_at else float("inf")
        early = self.case("5.1")
        evidence: dict[str, float] = {"finished_reports": len(traffic.finished_at),
                                      "nodes": len(self.peers)}  # fmt: skip
        if len(traffic.finished_at) < len(self.peers) or asked < finished:
            early.fail("asked for summaries before every node reported it finished", evidence)
        else:
            early.passed(f"ok: {asked - finished:.2f} s after the last task finished", evidence)
        arrived = self.case("5.2")
        evidence = {"sent": traffic.sent, "received_when_asked": traffic.received_when_asked,
                    "held_back_for_s": self.config.hold}  # fmt: skip
        all_in = traffic.received_when_asked == traffic.sent
        if not all_in:
            arrived.fail(
                f"asked while packets were in flight ({traffic.sent - traffic.received_when_asked} of "
                f"{traffic.sent} not yet arrived; the checker's nodes held back their last "
                f"packets for {self.config.hold:g} s)", evidence)  # fmt: skip
        else:
            arrived.passed("ok: every packet had arrived", evidence)
        delay = self.case("5.3")
        if all_in:
            delay.inform(f"{asked - traffic.last_arrival:.2f} s from the last packet's arrival "
                         "to the first summary request")  # fmt: skip
        else:
            delay.inform(f"asked while {traffic.sent - traffic.received_when_asked} packets "
                         "were still in flight")  # fmt: skip
