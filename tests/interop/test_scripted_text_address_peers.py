"""The scripted text-address cs455 peers (tests/peers/java_variants.py)
against the captured frames of that Java variant and against each other."""

from __future__ import annotations

import json
import random
import struct
from pathlib import Path

import trio
from peers import cs455_text as wire
from peers.connlog import ConnLog
from peers.go_per_message import quiet_overlay
from peers.java_variants import TextAddressNode, TextAddressRegistry

HOST = "127.0.0.1"
VECTORS = Path(__file__).resolve().parents[1] / "vectors"


def text_address_vectors() -> list[dict[str, object]]:
    with (VECTORS / "cs455-variants.jsonl").open(encoding="utf-8") as stream:
        rows = [json.loads(line) for line in stream if line.strip()]
    chosen = [row for row in rows if row["origin"] == "java-variant-text-address"]
    assert chosen, "no vectors of the text-address variant"
    return chosen


def build(message: str, f: dict[str, object]) -> bytes:
    """The body the scripted peers write for these vector fields."""

    def num(key: str) -> int:
        value = f.get(key, 0)
        assert isinstance(value, int)
        return value

    if message == "registration":
        return wire.registration(str(f["ip"]), num("port"))
    if message in ("registration_status", "deregistration_status", "overlay_setup_status"):
        kind = {
            "registration_status": wire.REGISTRATION_STATUS,
            "deregistration_status": wire.DEREGISTRATION_STATUS,
            "overlay_setup_status": wire.SETUP_STATUS,
        }[message]
        return wire.status(kind, num("status"), str(f["info"]))
    if message == "deregistration":
        return wire.deregistration(str(f["ip"]), num("port"), num("node_id"))
    if message == "task_finished":
        return wire.task_finished(str(f["ip"]), num("port"), num("node_id"))
    if message == "node_manifest":
        entries = f["entries"]
        ids = f["node_ids"]
        assert isinstance(entries, list) and isinstance(ids, list)
        listed = [(e["node_id"], e["ip"], e["port"]) for e in entries]
        return wire.manifest(listed, ids)
    if message == "task_initiate":
        return wire.task_initiate(num("packets"))
    if message == "data":
        trace = f["trace"]
        assert isinstance(trace, list)
        return wire.data(num("destination"), num("source"), num("payload"), trace)
    if message == "traffic_summary_request":
        return wire.summary_request()
    if message == "traffic_summary":
        return wire.summary(
            num("node_id"),
            num("sent"),
            num("relayed"),
            num("sum_sent"),
            num("received"),
            num("sum_received"),
        )
    raise AssertionError(f"no builder for {message}")


def test_frames_equal_and_decode_to_the_captured_frames_of_the_variant() -> None:
    for row in text_address_vectors():
        fields = row["fields"]
        assert isinstance(fields, dict)
        hex_frame = str(row["frame_hex"])
        assert wire.frame(build(str(row["message"]), fields)).hex() == hex_frame, row
        decoded = wire.decode(bytes.fromhex(hex_frame)[4:])
        assert {k: v for k, v in decoded.fields.items() if k in fields} == fields, row


def test_the_texts_are_the_variants() -> None:
    infos = {
        str(row["fields"]["info"])  # type: ignore[index]
        for row in text_address_vectors()
        if "info" in row["fields"]  # type: ignore[operator]
    }
    assert wire.REGISTERED_TEXT.format(count=3) in infos
    assert wire.DEREGISTERED_TEXT.format(count=2) in infos
    assert wire.SETUP_OK_TEXT.format(node_id=25) in infos


async def test_the_registry_refuses_a_raw_address_as_captured() -> None:
    registry = TextAddressRegistry(ConnLog(), random.Random(1))
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            port = await nursery.start(registry.serve)
            stream = await trio.open_tcp_stream(HOST, port)
            canonical = bytes([2, 4, 127, 0, 0, 1]) + struct.pack(">i", 36957)
            await stream.send_all(struct.pack(">i", len(canonical)) + canonical)
            answer = b""
            while len(answer) < 4 or len(answer) < 4 + struct.unpack(">i", answer[:4])[0]:
                chunk = await stream.receive_some(4096)
                assert chunk, "the registry closed instead of answering"
                answer += chunk
            await stream.aclose()
            nursery.cancel_scope.cancel()
    (captured,) = [
        row
        for row in text_address_vectors()
        if row["message"] == "registration_status" and row["fields"]["status"] == -1  # type: ignore[index]
    ]
    assert answer.hex() == captured["frame_hex"]
    assert not registry.nodes


async def test_scripted_text_address_overlay_is_exact() -> None:
    log = ConnLog()
    registry = TextAddressRegistry(log, random.Random(4), before_summaries=quiet_overlay)
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            port = await nursery.start(registry.serve)
            nodes: list[TextAddressNode] = [
                await nursery.start(TextAddressNode(HOST, port, log, random.Random(k)).run)
                for k in range(5)
            ]
            await registry.setup(3)
            await registry.wait_ready()
            run = await registry.start(10)
            await run.done.wait()
            leaver = nodes[0]
            status = await leaver.leave()
            await leaver.stopped.wait()
            nursery.cancel_scope.cancel()
    assert run.exact(50), run.verdict()
    assert run.total("relayed") > 0
    assert status == leaver.node_id
    assert leaver.node_id not in registry.nodes
    # Persistent model: one registry connection per node carries every
    # control message; one connection per routing-table entry carries data.
    for node in nodes:
        (control,) = log.of(node.name, purpose="registry")
        assert control.written[0] == "registration"
        assert "overlay_setup_status" in control.written and "task_finished" in control.written
        assert control.read[:2] == ["registration_status", "node_manifest"]
        assert len(log.of(node.name, purpose="peer")) == 3
    assert not log.kinds("unexpected") and not log.kinds("no-route")
