"""The sniffing proxy on real loopback sockets: a trio_dht registry and nodes
talking through it, and malformed frames that must still get through."""

from __future__ import annotations

import json
import random
import struct
from collections import Counter

import pytest
import trio

from trio_dht.checker.capture import KINDS, vector_fields, vector_line
from trio_dht.checker.frames import StreamDecoder
from trio_dht.checker.proxy import CLIENT_TO_TARGET, TARGET_TO_CLIENT, Proxy, Seen
from trio_dht.services.node import MessagingNode
from trio_dht.services.observer import Observer
from trio_dht.services.registry import Registry
from trio_dht.wire import get_dialect
from trio_dht.wire.messages import Data, TaskInitiate

LOCAL = "127.0.0.1"
CORE_KINDS = {
    "registration", "registration_status", "node_manifest", "overlay_setup_status",
    "task_initiate", "task_finished", "traffic_summary_request", "traffic_summary",
    "deregistration", "deregistration_status",
}  # fmt: skip


@pytest.mark.parametrize(("wire", "proxy_wire"), [("cs455", "auto"), ("minichord", "auto"),
                                                  ("minichord", "minichord")])  # fmt: skip
async def test_a_whole_run_through_the_proxy_is_recorded_and_exact(
    wire: str, proxy_wire: str
) -> None:
    dialect = get_dialect(wire)
    seen: list[Seen] = []
    with trio.fail_after(30):
        registry = Registry(dialect, Observer(), None, random.Random(7))
        async with trio.open_nursery() as nursery:
            registry_port = await nursery.start(registry.serve, LOCAL, 0)
            proxy = Proxy(LOCAL, registry_port, proxy_wire, seen.append)
            proxy_port = await nursery.start(proxy.serve, LOCAL, 0)
            nodes = []
            for index in range(4):
                node = MessagingNode(LOCAL, proxy_port, dialect, Observer(), None,
                                     random.Random(index))  # fmt: skip
                await nursery.start(node.run)
                nodes.append(node)
            await registry.wait_for_nodes(4)
            registry.setup_overlay(2)
            await registry.wait_ready()
            run = registry.start(200)
            await run.done.wait()
            assert run.result is not None and run.result.correct
            await nodes[0].leave()
            nursery.cancel_scope.cancel()

    assert all(s.dialect == wire for s in seen)
    assert not [s for s in seen if s.event.malformed]
    kinds = Counter(KINDS[type(s.event.message)] for s in seen)
    assert CORE_KINDS <= set(kinds), kinds
    assert kinds["registration"] == kinds["node_manifest"] == kinds["traffic_summary"] == 4
    assert kinds["deregistration"] == 1
    # Directions: nodes dialled the proxy, so node messages go client -> target.
    for s in seen:
        kind = KINDS[type(s.event.message)]
        sent_by_node = kind in ("registration", "overlay_setup_status", "task_finished",
                                "traffic_summary", "deregistration", "progress_report",
                                "load_report")  # fmt: skip
        assert s.arrow == (CLIENT_TO_TARGET if sent_by_node else TARGET_TO_CLIENT), s
    # The summaries the proxy decoded are the counters the registry printed.
    assert run.result is not None
    summaries = {s.event.message.node_id: s.event.message for s in seen
                 if KINDS[type(s.event.message)] == "traffic_summary"}  # fmt: skip
    assert sum(m.sent for m in summaries.values()) == run.result.sent == 800
    assert sum(m.sum_received for m in summaries.values()) == run.result.sum_received
    # Each capture line decodes back from its frame_hex to its own fields.
    for s in seen:
        record = json.loads(vector_line(s.dialect, s.event, "test", "node->registry"))
        (again,) = StreamDecoder(wire).feed(bytes.fromhex(record["frame_hex"]))
        assert again.message is not None
        assert vector_fields(wire, again.message) == (record["message"], record["fields"])


async def _serve_raw(
    received: list[bytes],
    reply: bytes,
    done: trio.Event,
    *,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """A raw target: sends ``reply`` on accept, keeps every byte it gets."""
    listeners = await trio.open_tcp_listeners(0, host=LOCAL)
    task_status.started(int(listeners[0].socket.getsockname()[1]))
    stream = await listeners[0].accept()
    await stream.send_all(reply)
    while data := await stream.receive_some(65536):
        received.append(data)
    await stream.aclose()
    done.set()


@pytest.mark.parametrize("wire", ["cs455", "minichord"])
async def test_malformed_frames_are_flagged_with_offsets_and_forwarded_unchanged(
    wire: str,
) -> None:
    dialect = get_dialect(wire)
    good = dialect.encode(TaskInitiate(3))
    data = dialect.encode(Data(1, 2, 3, (4,)))
    # An unknown type (cs455) / a MiniChord with only an unknown field (minichord).
    junk_body = b"\x63" if wire == "cs455" else b"\xf8\x01\x01"
    header = struct.Struct(">i" if wire == "cs455" else ">Q")
    junk = header.pack(len(junk_body)) + junk_body
    truncated = header.pack(40) + b"abc"
    outgoing = good + junk + data + truncated
    reply = dialect.encode(TaskInitiate(9)) + header.pack(0)
    seen: list[Seen] = []
    received: list[bytes] = []
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            done = trio.Event()
            target = await nursery.start(_serve_raw, received, reply, done)
            proxy = Proxy(LOCAL, target, "auto", seen.append)
            port = await nursery.start(proxy.serve, LOCAL, 0)
            client = await trio.open_tcp_stream(LOCAL, port)
            # One byte at a time: the proxy must not care how bytes arrive.
            for i in range(len(outgoing)):
                await client.send_all(outgoing[i : i + 1])
            back = b""
            while len(back) < len(reply):
                back += await client.receive_some(65536)
            await client.send_eof()
            await done.wait()
            await client.aclose()
            nursery.cancel_scope.cancel()

    assert b"".join(received) == outgoing
    assert back == reply
    forward = [s.event for s in seen if s.arrow == CLIENT_TO_TARGET]
    assert [e.malformed for e in forward] == [False, True, False, True]
    assert forward[1].offset == len(good) and forward[1].frame == junk
    assert forward[2].message == Data(1, 2, 3, (4,))
    assert forward[3].offset == len(good + junk + data)
    assert "truncated frame: 3 of 40" in (forward[3].error or "")
    backward = [s.event for s in seen if s.arrow == TARGET_TO_CLIENT]
    assert backward[0].message == TaskInitiate(9)
    assert backward[1].malformed and backward[1].offset == len(good)
    assert "bad length 0" in (backward[1].error or "")
    assert {s.dialect for s in seen} == {wire}
