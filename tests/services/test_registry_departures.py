"""How nodes leave the registry, driven by raw cs455 clients over real
sockets: deregistering (and the refused deregistrations, which must leave
the registry's state as it was), dropping the connection, being closed for
a malformed or out-of-place message, and the registry shutting down."""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

import pytest
import trio
from registry_helpers import DEREG_OK, LOCAL, REG_OK, SPOOF, without_probe

from trio_dht.services.registry import CommandError
from trio_dht.wire.messages import (
    Data,
    Deregistration,
    DeregistrationStatus,
    NodeManifest,
    OverlaySetupStatus,
    ProgressRequest,
    RegistrationStatus,
    TaskInitiate,
    TrafficSummaryRequest,
)


@pytest.fixture
def cluster(cluster: Callable[..., Any]) -> Callable[..., Any]:
    """No registration probe: see ``registry_helpers.without_probe``."""
    return without_probe(cluster)


async def test_deregistration_success_then_double_deregistration(
    cluster: Callable[..., Any], connect: Callable[..., Any], registry_state: Callable[..., Any]
) -> None:
    with trio.fail_after(5):
        async with cluster() as c:
            stay = await connect(c.port)
            await stay.register(port=45001)
            client = await connect(c.port)
            node_id = (await client.register(port=45000)).status
            await client.send(Deregistration(LOCAL, 45000, node_id))
            status = await client.receive()
            assert isinstance(status, DeregistrationStatus)
            assert status.status == node_id
            assert status.info == DEREG_OK.format(1)
            assert node_id not in c.registry.nodes
            assert node_id not in c.registry.core.admission.ids

            before = registry_state(c.registry)
            await client.send(Deregistration(LOCAL, 45000, node_id))
            again = await client.receive()
            assert isinstance(again, DeregistrationStatus)
            assert again.status == -1
            assert again.info.startswith("Deregistration request unsuccessful.")
            assert "not registered" in again.info
            assert registry_state(c.registry) == before
            # The connection stays open and usable.
            assert (await client.register(port=45000)).info == REG_OK.format(2)


async def test_deregistration_of_an_unregistered_id(
    cluster: Callable[..., Any], connect: Callable[..., Any], registry_state: Callable[..., Any]
) -> None:
    with trio.fail_after(5):
        async with cluster() as c:
            client = await connect(c.port)
            mine = (await client.register(port=46000)).status
            stranger = (mine + 1) % 128
            before = registry_state(c.registry)
            await client.send(Deregistration(LOCAL, 46000, stranger))
            status = await client.receive()
            assert isinstance(status, DeregistrationStatus)
            assert status.status == -1
            assert f"Node {stranger} is not registered" in status.info
            assert registry_state(c.registry) == before

            # Never registered at all, on a fresh connection.
            fresh = await connect(c.port)
            await fresh.send(Deregistration(LOCAL, 46001, mine))
            status = await fresh.receive()
            assert status.status == -1
            assert registry_state(c.registry) == before


async def test_deregistration_of_another_connections_node(
    cluster: Callable[..., Any], connect: Callable[..., Any], registry_state: Callable[..., Any]
) -> None:
    with trio.fail_after(5):
        async with cluster() as c:
            victim = await connect(c.port)
            victim_id = (await victim.register(port=47000)).status
            attacker = await connect(c.port)
            await attacker.register(port=47001)
            before = registry_state(c.registry)
            await attacker.send(Deregistration(LOCAL, 47000, victim_id))
            status = await attacker.receive()
            assert isinstance(status, DeregistrationStatus)
            assert status.status == -1
            assert "not registered to this connection" in status.info
            assert registry_state(c.registry) == before
            assert victim_id in c.registry.nodes


async def test_deregistration_with_a_spoofed_address(
    cluster: Callable[..., Any], connect: Callable[..., Any], registry_state: Callable[..., Any]
) -> None:
    with trio.fail_after(5):
        async with cluster() as c:
            client = await connect(c.port, bind_host=SPOOF)
            node_id = (await client.register(host=SPOOF, port=48000)).status
            assert node_id >= 0
            before = registry_state(c.registry)
            await client.send(Deregistration(LOCAL, 48000, node_id))
            status = await client.receive()
            assert isinstance(status, DeregistrationStatus)
            assert status.status == -1
            assert LOCAL in status.info and SPOOF in status.info
            assert registry_state(c.registry) == before
            assert any("Refused deregistration" in line for line in c.registry.observer.lines)


async def test_dropped_connection_removes_the_node(
    cluster: Callable[..., Any], connect: Callable[..., Any], wait_until: Callable[..., Any]
) -> None:
    with trio.fail_after(5):
        async with cluster() as c:
            stay = await connect(c.port)
            stay_id = (await stay.register(port=49001)).status
            client = await connect(c.port)
            node_id = (await client.register(port=49000)).status
            await client.aclose()
            await wait_until(c.registry, lambda: node_id not in c.registry.nodes)
            assert list(c.registry.nodes) == [stay_id]
            assert node_id not in c.registry.core.admission.ids
            lines = [line for line in c.registry.observer.lines if "disconnected" in line]
            assert len(lines) == 1
            assert f"Node {node_id}" in lines[0] and "49000" in lines[0]
            # Its identifier and address are free again.
            again = await connect(c.port)
            assert (await again.register(port=49000)).info == REG_OK.format(2)


async def test_dropped_connection_of_a_real_node_changes_the_overlay(
    cluster: Callable[..., Any], wait_until: Callable[..., Any]
) -> None:
    with trio.fail_after(10):
        async with cluster(3) as c:
            c.registry.setup_overlay(2)
            await c.registry.wait_ready()
            victim = c.nodes[1]
            victim.stop()
            await victim.stopped.wait()
            await wait_until(c.registry, lambda: victim.node_id not in c.registry.nodes)
            assert len(c.registry.nodes) == 2
            assert not c.registry.ready
            assert c.registry.overlay_nr is None
            with pytest.raises(CommandError, match="not ready"):
                c.registry.start(10)
            lines = c.registry.observer.lines
            assert any("disconnected without deregistering" in line for line in lines)


@pytest.mark.parametrize(
    "garbage",
    [
        struct.pack(">i", -5),
        struct.pack(">i", 0),
        struct.pack(">i", 2) + b"\x4d\x00",  # unknown type 77
        struct.pack(">i", 3) + b"\x02\x04\x7f",  # truncated registration
    ],
    ids=["negative-length", "empty-frame", "unknown-type", "truncated-body"],
)
async def test_malformed_frame_closes_only_that_connection(
    cluster: Callable[..., Any],
    connect: Callable[..., Any],
    wait_until: Callable[..., Any],
    garbage: bytes,
) -> None:
    with trio.fail_after(5):
        async with cluster() as c:
            good = await connect(c.port)
            good_id = (await good.register(port=51000)).status
            bad = await connect(c.port)
            bad_id = (await bad.register(port=51001)).status
            await bad.send_raw(garbage)
            assert await bad.wait_closed() == []
            # The offender's node is gone, the other one is untouched.
            await wait_until(c.registry, lambda: bad_id not in c.registry.nodes)
            assert list(c.registry.nodes) == [good_id]
            # The registry keeps serving: old and new connections alike.
            await good.send(Deregistration(LOCAL, 51000, bad_id))
            assert (await good.receive()).status == -1
            newcomer = await connect(c.port)
            assert (await newcomer.register(port=51002)).info == REG_OK.format(2)


@pytest.mark.parametrize(
    "message",
    [
        TaskInitiate(10),
        Data(1, 2, 3),
        TrafficSummaryRequest(),
        RegistrationStatus(1, "hi"),
        NodeManifest((), (1, 2)),
        ProgressRequest(10),
    ],
    ids=lambda m: type(m).__name__,
)
async def test_non_registry_message_closes_that_connection(
    cluster: Callable[..., Any],
    connect: Callable[..., Any],
    wait_until: Callable[..., Any],
    message: object,
) -> None:
    with trio.fail_after(5):
        async with cluster() as c:
            good = await connect(c.port)
            good_id = (await good.register(port=52000)).status
            rude = await connect(c.port)
            rude_id = (await rude.register(port=52001)).status
            await rude.send(message)
            assert await rude.wait_closed() == []
            await wait_until(c.registry, lambda: rude_id not in c.registry.nodes)
            assert list(c.registry.nodes) == [good_id]
            unregistered = await connect(c.port)
            await unregistered.send(message)
            assert await unregistered.wait_closed() == []
            newcomer = await connect(c.port)
            assert (await newcomer.register(port=52002)).info == REG_OK.format(2)


async def test_setup_status_from_an_unregistered_connection_closes_it(
    cluster: Callable[..., Any], connect: Callable[..., Any]
) -> None:
    with trio.fail_after(5):
        async with cluster() as c:
            client = await connect(c.port)
            await client.send(OverlaySetupStatus(3, "hello"))
            assert await client.wait_closed() == []
            assert c.registry.nodes == {}


async def test_shutdown_does_not_report_nodes_as_lost(
    cluster: Callable[..., Any], connect: Callable[..., Any]
) -> None:
    with trio.fail_after(5):
        async with cluster() as c:
            client = await connect(c.port)
            await client.register(port=53000)
            c.stop_registry()
            assert await client.wait_closed() == []
            assert not any("disconnected" in line for line in c.registry.observer.lines)
