"""Hypothesis sends random sequences of well-formed messages of every type
at a live registry and live nodes, in both dialects: from strangers to the
registry, from strangers to a node's listening port, and from a node's own
registry. Nothing crashes; nothing a stranger says changes the registry's
state; and the next run is CORRECT exactly when no stranger's data packet
was counted (never CORRECT for a run that double-counted)."""

from __future__ import annotations

from typing import Any

import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trio_dht.services.config import NodeConfig
from trio_dht.services.node import MessagingNode
from trio_dht.services.observer import Observer
from trio_dht.services.registry import Registry
from trio_dht.wire import get_dialect
from trio_dht.wire.messages import (
    Data,
    Deregistration,
    DeregistrationStatus,
    Message,
    NodeManifest,
    OverlaySetupStatus,
    PeerEntry,
    ProgressReport,
    ProgressRequest,
    Registration,
    RegistrationStatus,
    TaskFinished,
    TaskInitiate,
    TrafficSummary,
    TrafficSummaryRequest,
)

HOST = "127.0.0.1"
NODES = 3
SETTINGS = settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

ids = st.integers(0, 127)
counts = st.integers(0, 3000)
text = st.text(alphabet="abcdefghij ", max_size=20)
hosts = st.sampled_from([HOST, "127.0.0.2", "10.0.0.1"])
ports = st.integers(1, 65535)


def messages() -> st.SearchStrategy[Message]:
    """Every message type, with fields a peer could put there."""
    return st.one_of(
        st.builds(Registration, hosts, ports),
        st.builds(RegistrationStatus, st.integers(-4, 127), text),
        st.builds(Deregistration, hosts, ports, ids),
        st.builds(DeregistrationStatus, st.integers(-2, 127), text),
        st.builds(
            NodeManifest,
            st.lists(st.builds(PeerEntry, ids, st.just(HOST), ports), max_size=3).map(tuple),
            st.lists(ids, max_size=5).map(tuple),
        ),
        st.builds(OverlaySetupStatus, st.integers(-1, 127), text),
        st.builds(TaskInitiate, counts),
        st.builds(Data, ids, ids, st.integers(-(2**31), 2**31 - 1)),
        st.builds(TaskFinished, hosts, ports, ids),
        st.just(TrafficSummaryRequest()),
        st.builds(TrafficSummary, ids, counts, counts, st.just(0), counts, st.just(0)),
        st.builds(ProgressRequest, st.integers(0, 100)),
        st.builds(ProgressReport, ids, counts, counts, counts, st.just(0), st.just(0)),
    )


async def say(port: int, frames: bytes) -> None:
    """One stranger's connection: send, then read until the other side is
    done with it (closed, or quiet for a moment: some messages are answered
    and the connection left open)."""
    stream = await trio.open_tcp_stream(HOST, port)
    async with stream:
        await stream.send_all(frames)
        with trio.move_on_after(0.2):
            while await stream.receive_some(4096):
                pass


def registry_state(registry: Registry) -> tuple[Any, ...]:
    return (
        tuple(
            (i, m.host, m.port, m.session, m.phase, m.kind)
            for i, m in sorted(registry.nodes.items())
        ),
        registry.overlay_nr,
        registry.ready,
    )


@pytest.mark.parametrize("wire", ["cs455", "minichord"])
@SETTINGS
@given(script=st.lists(st.tuples(st.sampled_from(["registry", "node"]), messages()), max_size=8))
async def test_strangers_sequences_change_nothing_and_runs_stay_honest(
    wire: str, script: list[tuple[str, Message]]
) -> None:
    dialect = get_dialect(wire)
    registry = Registry(dialect, Observer())
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            port = await nursery.start(registry.serve, HOST, 0)
            nodes = [
                await nursery.start(
                    MessagingNode(HOST, port, dialect, Observer(), NodeConfig()).run
                )
                for _ in range(NODES)
            ]
            registry.setup_overlay(1)
            await registry.wait_ready()
            overlay = set(registry.nodes)
            before = registry_state(registry)
            injected = 0
            for target, message in script:
                try:
                    frame = dialect.encode(message)
                except ValueError:
                    continue  # not expressible in this dialect: not well-formed here
                if target == "registry":
                    await say(port, frame)
                else:
                    await say(nodes[0].port, frame)
                    if isinstance(message, Data) and message.destination in overlay:
                        injected += 1
            assert registry_state(registry) == before
            assert all(not n.stopped.is_set() for n in nodes)
            run = registry.start(100)
            await run.done.wait()
            result = run.result
            assert result is not None
            if injected:
                assert not result.correct, result.verdict()
            else:
                assert result.correct, result.verdict()
            nursery.cancel_scope.cancel()


@pytest.mark.parametrize("wire", ["cs455", "minichord"])
@SETTINGS
@given(script=st.lists(messages(), max_size=10))
async def test_a_node_survives_any_sequence_from_its_registry(
    wire: str, script: list[Message]
) -> None:
    dialect = get_dialect(wire)
    listeners = await trio.open_tcp_listeners(0, host=HOST)
    registry_port = listeners[0].socket.getsockname()[1]
    node = MessagingNode(
        HOST, registry_port, dialect, Observer(), NodeConfig(connect_timeout=2, answer_timeout=2)
    )
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(node.run)
            stream = await listeners[0].accept()
            await stream.receive_some(4096)  # the registration
            await stream.send_all(dialect.encode(RegistrationStatus(10, "ok")))
            for message in script:
                try:
                    await stream.send_all(dialect.encode(message))
                except ValueError:
                    continue
            # Whatever came before, a good manifest is still obeyed.
            peer = (await trio.open_tcp_listeners(0, host=HOST))[0]
            good = NodeManifest((PeerEntry(20, HOST, peer.socket.getsockname()[1]),), (10, 20))
            await stream.send_all(dialect.encode(good))
            reader_bytes = b""
            answered = False
            with trio.move_on_after(5):
                while not answered:
                    chunk = await stream.receive_some(65536)
                    if not chunk:
                        break
                    reader_bytes += chunk
                    framer = dialect.framer()
                    for body in framer.feed(reader_bytes):
                        decoded = dialect.decode(body)
                        if isinstance(decoded, OverlaySetupStatus) and decoded.status == 10:
                            answered = True
            if node.stopped.is_set():
                # Only a deregistration answer it never asked for, or a
                # refusal before its id, may end it -- never a crash.
                assert node.state == "gone"
            else:
                assert answered
            await peer.aclose()
            nursery.cancel_scope.cancel()
    for listener in listeners:
        await listener.aclose()
