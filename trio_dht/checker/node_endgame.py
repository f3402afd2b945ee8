"""The last steps of ``check node``: a setup that must fail, leaving, and the
robustness cases.

Robustness runs on a second process of the first copy, started after every
copy left: a node that does not survive a malformed frame then fails only its
(non-strict) robustness case, never the strict leaving cases after it. It is
graded once, whatever the number of copies: the frames are the same for all.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

import trio

from trio_dht.checker import node_grading as grading
from trio_dht.checker.ledger import Ledger
from trio_dht.checker.node_catalogue import HOLD_ANSWER, ROBUSTNESS, SUCCESS
from trio_dht.checker.node_copy import Copy, Stop
from trio_dht.checker.node_opening import start
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


async def setup_failure(k: NodeChecker, c: Copy) -> None:
    listeners = await trio.open_tcp_listeners(0, host=k.config.host)
    closed_port = int(listeners[0].socket.getsockname()[1])
    await listeners[0].aclose()
    await k.h.send_control(k.manifest(c, closed_port), c.index)
    entry = await k.h.expect(OverlaySetupStatus, k.config.timeout, c.index)
    case = c.case("2.3")
    if entry is None or entry.event is None:
        case.fail(f"no setup status within {k.config.timeout:g} s for a manifest "
                  f"whose entry {c.table[0]} is unreachable")  # fmt: skip
        return
    message = entry.event.message
    assert isinstance(message, OverlaySetupStatus)
    evidence = grading.frame_evidence(k.dialect, entry.event,
                                      expected="a negative status and a reason")  # fmt: skip
    if message.status < 0 and message.info.strip():
        case.passed(f"ok: status {message.status}", evidence)
    elif c.connects_on_demand:
        case.tolerate("reported success: it connects only when it sends (one message per "
                      "connection), so it cannot know at setup", evidence)  # fmt: skip
    else:
        case.fail(f"status {message.status} for an unreachable entry", evidence)


async def leave(k: NodeChecker, c: Copy) -> None:
    h, cfg = k.h, k.config
    assert c.child is not None
    child = c.child
    await child.type(cfg.exit_command)
    entry = await h.expect(Deregistration, cfg.timeout, c.index)
    case = c.case("7.1")
    if entry is None or entry.event is None:
        case.fail(f"no deregistration within {cfg.timeout:g} s of typing "
                  f"{cfg.exit_command!r}", {"process_output": c.tail()})  # fmt: skip
        return
    event = entry.event
    grading.grade_node_report(case, k.dialect, event, c.me, c.address[0])
    asked = trio.current_time()
    wait = c.case("7.2")
    if await h.until(lambda: h.closed_since(asked, entry.connection) or child.exited.is_set(),
                     HOLD_ANSWER):  # fmt: skip
        gone = "exited" if child.exited.is_set() else "closed the connection"
        wait.fail(
            f"{gone} within {HOLD_ANSWER} s of its deregistration, before the answer",
            grading.frame_evidence(k.dialect, event, expected="stay connected until "
                                   "the deregistration status arrives"),
        )  # fmt: skip
    else:
        wait.passed(f"ok: still connected after {HOLD_ANSWER} s without an answer")
    answer = DeregistrationStatus(k.dialect.deregistered_status(c.me),
                                  "Deregistration request successful.")  # fmt: skip
    await h.send_control(answer, c.index, reply_to=entry)
    answered = trio.current_time()
    exits = c.case("7.3")
    if await h.until(child.exited.is_set, cfg.timeout):
        took = trio.current_time() - answered
        exits.inform(f"exited {took:.2f} s after the answer, status {child.returncode}")
    else:
        exits.inform(f"still running {cfg.timeout:g} s after the answer")


async def _second_copy(k: NodeChecker, c: Copy) -> str | None:
    """Start, register and set up a fresh process for ``c``; why not, or None."""
    h, cfg = k.h, k.config
    if c.child is not None:
        await c.child.stop()
    await k.links.close_pipes(c.index)
    h.forget(c.index)
    try:
        await start(k, c, "node (second copy)" if cfg.count == 1 else
                    f"node copy {c.index} (second process)")  # fmt: skip
    except Stop as stop:
        return str(stop)
    if c.child is not None:
        c.report.notes.append(f"{c.label}: robustness (8.x) ran on its second process, "
                              f"pid {c.child.pid}")  # fmt: skip
    entry = await h.expect(Registration, 0, c.index)
    if entry is None or entry.event is None:
        return "it did not register"
    message = entry.event.message
    assert isinstance(message, Registration)
    c.address = h.addresses[c.index] = (message.host, message.port)
    await h.send_control(RegistrationStatus(c.me, SUCCESS.format(len(k.ids))), c.index,
                         reply_to=entry)  # fmt: skip
    await h.send_control(k.manifest(c), c.index)
    status = await h.expect(OverlaySetupStatus, cfg.timeout, c.index)
    if status is None or not isinstance(status.message, OverlaySetupStatus):
        return "it sent no setup status"
    if status.message.status != c.me:
        return f"its setup failed (status {status.message.status})"
    c.ledger = Ledger(c.me, c.table, k.ids)
    c.active = True
    return None


async def robustness(k: NodeChecker, c: Copy) -> None:
    if all(number in c.done for number in ROBUSTNESS):
        return  # the copy dropped out earlier: not reached
    problem = await _second_copy(k, c)
    if problem is not None:
        for number in ROBUSTNESS:
            c.case(number).fail(f"not reached: a second process of the node for these cases: "
                                f"{problem}", {"process_output": c.tail()})  # fmt: skip
        return
    assert c.child is not None
    header = struct.Struct(">i" if k.dialect.name == "cs455" else ">Q")
    unknown = b"\x63\x00\x00\x00\x01" if k.dialect.name == "cs455" else b"\xf0\x01\x01"
    outside = next(i for i in range(ID_SPACE) if i not in k.ids)
    attacks = {
        "8.1": header.pack(40) + b"\x09\x00\x00",
        "8.2": header.pack(len(unknown)) + unknown,
        "8.3": k.dialect.encode(Data(outside, c.table[0], 12345, ())),
    }
    for number, payload in attacks.items():
        case = c.case(number)
        evidence = {"sent_hex": payload.hex()}
        try:
            with trio.fail_after(k.config.timeout):
                stream = await trio.open_tcp_stream(*c.address)
                await stream.send_all(payload)
                await stream.aclose()
        except (OSError, trio.TooSlowError, trio.BrokenResourceError) as exc:
            case.fail(f"could not deliver the frame: {exc!r}", evidence)
            continue
        k.hand(c, 3)
        if await k.quiet():
            case.passed("ok: survived and kept relaying", evidence)
            continue
        if c.child.exited.is_set():
            case.fail(f"the process exited (status {c.child.returncode})",
                      {**evidence, "process_output": c.tail()})  # fmt: skip
            for rest in ROBUSTNESS[ROBUSTNESS.index(number) + 1 :]:
                c.case(rest).fail(f"not reached: the node exited at case {number}")
            return
        case.fail("it stopped relaying afterwards", evidence)
