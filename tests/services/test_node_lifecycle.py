"""The messaging node's life outside an overlay, against a real registry and
against raw sockets that play it: registering (and each way that fails, as
a NodeError of the right kind), leaving, and the registry going away."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import trio
from node_helpers import CS455, LOCAL, free_port, make_node

from trio_dht.services.config import RegistryConfig
from trio_dht.services.node import MessagingNode, NodeConfig, NodeError, NodeErrorKind
from trio_dht.services.observer import Observer
from trio_dht.wire.messages import DeregistrationStatus, Registration, RegistrationStatus


async def node_error(
    node: MessagingNode, registry_script: Callable[[], Awaitable[None]]
) -> NodeError:
    """Run ``node`` while a fake registry plays ``registry_script``; the
    NodeError it ends with (the script's own failures propagate)."""
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(registry_script)
            with pytest.raises(NodeError) as err:
                await node.run()
            nursery.cancel_scope.cancel()
    return err.value


async def test_unreachable_registry_raises_node_error_quickly() -> None:
    node = make_node(await free_port())
    with trio.fail_after(3), pytest.raises(NodeError, match="cannot reach the registry") as err:
        await node.run()
    assert err.value.kind is NodeErrorKind.UNREACHABLE
    assert node.node_id is None


async def test_registry_closing_before_answering_is_a_node_error_not_a_crash(
    fake_server: Callable[..., Any],
) -> None:
    registry = await fake_server()
    node = make_node(registry.port)
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:

            async def hang_up() -> None:
                # At once, before the registration is even read: the node's
                # wait for an answer then meets a cancelled scope.
                conn = await registry.accept()
                await conn.stream.aclose()

            nursery.start_soon(hang_up)
            # Through nursery.start, as the node program runs it: it used to
            # end without started() and trio raised RuntimeError.
            with pytest.raises(
                NodeError, match="registration failed: .*closed the connection"
            ) as err:
                await nursery.start(node.run)
    assert err.value.kind is NodeErrorKind.HUNG_UP
    assert node.stopped.is_set()


async def test_refused_registration_raises_node_error_with_the_reason(
    fake_server: Callable[..., Any],
) -> None:
    registry = await fake_server()
    node = make_node(registry.port)

    async def refuse() -> None:
        conn = await registry.accept()
        assert isinstance(await conn.receive(), Registration)
        refusal = "Registration request unsuccessful. No room."
        await conn.send(RegistrationStatus(-1, refusal))

    error = await node_error(node, refuse)
    assert re.search("registration failed: .*No room", str(error))
    assert error.kind is NodeErrorKind.REFUSED
    assert node.node_id is None
    assert node.stopped.is_set()


async def test_registry_closing_before_answering_raises_node_error(
    fake_server: Callable[..., Any],
) -> None:
    registry = await fake_server()
    node = make_node(registry.port)

    async def hang_up() -> None:
        conn = await registry.accept()
        await conn.receive()
        await conn.aclose()

    error = await node_error(node, hang_up)
    assert "closed the connection before answering" in str(error)
    # Read but never answered: the kind a wrong --wire produces.
    assert error.kind is NodeErrorKind.HUNG_UP


async def test_registry_that_never_answers_is_a_no_answer_error(
    fake_server: Callable[..., Any],
) -> None:
    registry = await fake_server()
    config = NodeConfig(answer_timeout=0.3, leave_timeout=0.3)
    node = MessagingNode(LOCAL, registry.port, CS455, Observer(), config)

    async def read_and_stay_silent() -> None:
        conn = await registry.accept()
        assert isinstance(await conn.receive(), Registration)
        await trio.sleep_forever()

    error = await node_error(node, read_and_stay_silent)
    assert "did not answer within 0.3 s" in str(error)
    assert error.kind is NodeErrorKind.NO_ANSWER


async def test_undecodable_answer_is_a_hang_up(fake_server: Callable[..., Any]) -> None:
    # What a node meets at a registry of the other --wire: bytes it cannot
    # decode, then a closed connection.
    registry = await fake_server()
    node = make_node(registry.port)

    async def garble() -> None:
        conn = await registry.accept()
        await conn.receive()
        await conn.send_raw(b"\x00\x00\x00\x03\xff\xff\xff")

    error = await node_error(node, garble)
    assert error.kind is NodeErrorKind.HUNG_UP


async def test_refused_by_a_real_registry_when_full(
    cluster: Callable[..., Any], connect: Callable[..., Any]
) -> None:
    with trio.fail_after(20):
        # The fakes give made-up ports: no registration probe here.
        async with cluster(config=RegistryConfig(probe_registrations=False)) as c:
            fakes = []
            for k in range(128):
                fake = await connect(c.port)
                fakes.append(fake)
                await fake.send(Registration(LOCAL, 20000 + k))
            for fake in fakes:
                assert (await fake.receive()).status >= 0
            with pytest.raises(NodeError, match="overlay is full"):
                await c.add_node()
            assert len(c.registry.nodes) == 128
            for fake in fakes:
                await fake.aclose()


async def test_leave_deregisters_and_run_returns(
    cluster: Callable[..., Any], wait_until: Callable[..., Any]
) -> None:
    with trio.fail_after(10):
        async with cluster(3) as c:
            node = c.nodes[0]
            node_id = node.node_id
            assert node_id in c.registry.nodes
            session = c.registry.nodes[node_id].session
            status = await node.leave()
            assert isinstance(status, DeregistrationStatus)
            assert status.status == node_id
            assert status.info.startswith("Deregistration request successful")
            assert "(2)" in status.info
            await node.stopped.wait()
            assert node.state == "gone"
            assert node_id not in c.registry.nodes
            assert [r.node_id for r in c.registry.node_list()] == sorted(
                n.node_id for n in c.nodes[1:]
            )
            assert any(line.startswith("Deregistration:") for line in node.observer.lines)
            # It left cleanly: once the registry has seen its connection
            # close, it has not reported it as lost.
            await wait_until(c.registry, lambda: session not in c.registry.core.admission.conns)
            assert not any("disconnected" in line for line in c.registry.observer.lines)
            assert not any("closed the connection" in line for line in node.observer.lines)


async def test_node_stops_when_the_registry_goes_away(cluster: Callable[..., Any]) -> None:
    with trio.fail_after(10):
        async with cluster(3) as c:
            c.registry.setup_overlay(2)
            await c.registry.wait_ready()
            c.stop_registry()
            for node in c.nodes:
                await node.stopped.wait()
                assert node.registry_closed
                assert node.state == "gone"
                assert "The registry closed the connection; leaving." in node.observer.lines
