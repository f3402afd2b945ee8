"""The last steps of ``check node``: a setup that must fail, leaving, and the
robustness cases.

Robustness runs on a second copy of the node, started after the first one
left: a node that does not survive a malformed frame then fails only its
(non-strict) robustness case, never the strict leaving cases after it.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

import trio

from trio_dht.checker import node_grading as grading
from trio_dht.checker.ledger import Ledger
from trio_dht.checker.node_catalogue import HOLD_ANSWER, SUCCESS
from trio_dht.checker.process import Child
from trio_dht.overlay import ID_SPACE
from trio_dht.wire.messages import (
    Data,
    Deregistration,
    DeregistrationStatus,
    OverlaySetupStatus,
    Registration,
    RegistrationStatus,
)

if TYPE_CHECKING:
    from trio_dht.checker.node_checker import NodeChecker

ROBUSTNESS = ("8.1", "8.2", "8.3")


async def setup_failure(c: NodeChecker) -> None:
    listeners = await trio.open_tcp_listeners(0, host=c.config.host)
    closed_port = int(listeners[0].socket.getsockname()[1])
    await listeners[0].aclose()
    await c.h.send_control(c.manifest(closed_port))
    entry = await c.h.expect(OverlaySetupStatus, c.config.timeout)
    case = c.case("2.3")
    if entry is None or entry.event is None:
        case.fail(f"no setup status within {c.config.timeout:g} s for a manifest "
                  f"whose entry {c.table[0]} is unreachable")  # fmt: skip
        return
    message = entry.event.message
    assert isinstance(message, OverlaySetupStatus)
    evidence = grading.frame_evidence(c.dialect, entry.event,
                                      expected="a negative status and a reason")  # fmt: skip
    if message.status < 0 and message.info.strip():
        case.passed(f"ok: status {message.status}", evidence)
    elif c.connects_on_demand:
        case.tolerate("reported success: it connects only when it sends (one message per "
                      "connection), so it cannot know at setup", evidence)  # fmt: skip
    else:
        case.fail(f"status {message.status} for an unreachable entry", evidence)


async def leave(c: NodeChecker) -> None:
    h, cfg = c.h, c.config
    await c.child.type(cfg.exit_command)
    entry = await h.expect(Deregistration, cfg.timeout)
    case = c.case("7.1")
    if entry is None or entry.event is None:
        case.fail(f"no deregistration within {cfg.timeout:g} s of typing "
                  f"{cfg.exit_command!r}", {"process_output": c.child.tail()})  # fmt: skip
        return
    event = entry.event
    grading.grade_node_report(case, c.dialect, event, c.me, c.address[0])
    asked = trio.current_time()
    wait = c.case("7.2")
    if await h.until(lambda: h.closed_since(asked, entry.connection) or c.child.exited.is_set(),
                     HOLD_ANSWER):  # fmt: skip
        gone = "exited" if c.child.exited.is_set() else "closed the connection"
        wait.fail(
            f"{gone} within {HOLD_ANSWER} s of its deregistration, before the answer",
            grading.frame_evidence(c.dialect, event, expected="stay connected until "
                                   "the deregistration status arrives"),
        )  # fmt: skip
    else:
        wait.passed(f"ok: still connected after {HOLD_ANSWER} s without an answer")
    answer = DeregistrationStatus(c.dialect.deregistered_status(c.me),
                                  "Deregistration request successful.")  # fmt: skip
    await h.send_control(answer, reply_to=entry)
    answered = trio.current_time()
    exits = c.case("7.3")
    if await h.until(c.child.exited.is_set, cfg.timeout):
        took = trio.current_time() - answered
        exits.inform(f"exited {took:.2f} s after the answer, status {c.child.returncode}")
    else:
        exits.inform(f"still running {cfg.timeout:g} s after the answer")


async def _second_copy(c: NodeChecker) -> str | None:
    """Start, register and set up a fresh copy of the node; why not, or None."""
    h, cfg = c.h, c.config
    await c.child.stop()
    await h.close_injectors()
    h.forget_node()
    c.child = Child("node (second copy)", c.command, h.poke)
    if not await c.child.start(h.nursery):
        return c.child.start_error or "could not start"
    await h.until(lambda: c.child.exited.is_set() or any(
        isinstance(e.message, Registration) and not e.consumed for e in h.control),
        cfg.startup_timeout)  # fmt: skip
    entry = await h.expect(Registration, 0)
    if entry is None or entry.event is None:
        return "it did not register"
    message = entry.event.message
    assert isinstance(message, Registration)
    c.address = h.node_address = (message.host, message.port)
    await h.send_control(RegistrationStatus(c.me, SUCCESS.format(len(c.ids))), reply_to=entry)
    await h.send_control(c.manifest())
    status = await h.expect(OverlaySetupStatus, cfg.timeout)
    if status is None or not isinstance(status.message, OverlaySetupStatus):
        return "it sent no setup status"
    if status.message.status != c.me:
        return f"its setup failed (status {status.message.status})"
    c.ledger = h.ledger = Ledger(c.me, c.table, tuple(c.ids))
    return None


async def robustness(c: NodeChecker) -> None:
    problem = await _second_copy(c)
    if problem is not None:
        for number in ROBUSTNESS:
            c.case(number).fail(f"not reached: a second copy of the node for these cases: "
                                f"{problem}", {"process_output": c.child.tail()})  # fmt: skip
        return
    header = struct.Struct(">i" if c.dialect.name == "cs455" else ">Q")
    unknown = b"\x63\x00\x00\x00\x01" if c.dialect.name == "cs455" else b"\xf0\x01\x01"
    outside = next(i for i in range(ID_SPACE) if i not in c.ids)
    attacks = {
        "8.1": header.pack(40) + b"\x09\x00\x00",
        "8.2": header.pack(len(unknown)) + unknown,
        "8.3": c.dialect.encode(Data(outside, c.table[0], 12345, ())),
    }
    for number, payload in attacks.items():
        case = c.case(number)
        evidence = {"sent_hex": payload.hex()}
        try:
            with trio.fail_after(c.config.timeout):
                stream = await trio.open_tcp_stream(*c.address)
                await stream.send_all(payload)
                await stream.aclose()
        except (OSError, trio.TooSlowError, trio.BrokenResourceError) as exc:
            case.fail(f"could not deliver the frame: {exc!r}", evidence)
            continue
        if await c.hand(3):
            case.passed("ok: survived and kept relaying", evidence)
            continue
        if c.child.exited.is_set():
            case.fail(f"the process exited (status {c.child.returncode})",
                      {**evidence, "process_output": c.child.tail()})  # fmt: skip
            for rest in ROBUSTNESS[ROBUSTNESS.index(number) + 1 :]:
                c.case(rest).fail(f"not reached: the node exited at case {number}")
            return
        case.fail("it stopped relaying afterwards", evidence)
