"""The registry's refusals and error paths, driven by raw cs455 clients over
real sockets. Every refusal must leave the registry's state as it was."""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable
from typing import Any

import pytest
import trio

from trio_dht.services.config import RegistryConfig
from trio_dht.services.registry import CommandError
from trio_dht.wire.messages import (
    Data,
    Deregistration,
    DeregistrationStatus,
    NodeManifest,
    OverlaySetupStatus,
    ProgressRequest,
    Registration,
    RegistrationStatus,
    TaskInitiate,
    TrafficSummaryRequest,
)

LOCAL = "127.0.0.1"
SPOOF = "127.0.0.2"
REG_OK = (
    "Registration request successful. The number of messaging nodes currently "
    "constituting the overlay is ({})"
)
DEREG_OK = (
    "Deregistration request successful. The number of messaging nodes currently "
    "constituting the overlay is ({})"
)


@pytest.fixture
def cluster(cluster: Callable[..., Any]) -> Callable[..., Any]:
    """These tests register fake nodes at made-up ports: the registration
    probe (tested in test_admission.py) would refuse them, so it is off."""

    def without_probe(*args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("config", RegistryConfig(probe_registrations=False))
        return cluster(*args, **kwargs)

    return without_probe


async def test_successful_registrations_count_the_overlay(
    cluster: Callable[..., Any], connect: Callable[..., Any]
) -> None:
    with trio.fail_after(5):
        async with cluster() as c:
            clients = [await connect(c.port) for _ in range(3)]
            ids = []
            for n, client in enumerate(clients, start=1):
                status = await client.register(port=41000 + n)
                assert isinstance(status, RegistrationStatus)
                assert 0 <= status.status <= 127
                assert status.info == REG_OK.format(n)
                ids.append(status.status)
                record = c.registry.nodes[status.status]
                assert (record.host, record.port) == (LOCAL, 41000 + n)
            assert len(set(ids)) == 3
            assert sorted(c.registry.nodes) == sorted(ids)
            assert [r.node_id for r in c.registry.node_list()] == sorted(ids)
            for client in clients:
                await client.aclose()


async def test_registration_from_another_address_is_refused(
    cluster: Callable[..., Any],
    connect: Callable[..., Any],
    registry_state: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    with trio.fail_after(5), caplog.at_level(logging.WARNING, logger="trio_dht"):
        async with cluster() as c:
            spoofer = await connect(c.port, bind_host=SPOOF)
            assert spoofer.host == SPOOF
            before = registry_state(c.registry)
            status = await spoofer.register(host=LOCAL, port=42000)
            assert status.status == -1
            assert status.info.startswith("Registration request unsuccessful.")
            assert LOCAL in status.info and SPOOF in status.info
            assert registry_state(c.registry) == before
            assert any("Refused registration" in r.getMessage() for r in caplog.records)

            # The other way round too: a local connection claiming 127.0.0.2.
            local = await connect(c.port)
            status = await local.register(host=SPOOF, port=42000)
            assert status.status == -1
            assert registry_state(c.registry) == before

            # The refused connection may still register honestly afterwards.
            status = await spoofer.register(host=SPOOF, port=42000)
            assert status.status >= 0
            assert status.info == REG_OK.format(1)
            assert c.registry.nodes[status.status].host == SPOOF


async def test_duplicate_address_and_port_is_refused(
    cluster: Callable[..., Any], connect: Callable[..., Any], registry_state: Callable[..., Any]
) -> None:
    with trio.fail_after(5):
        async with cluster() as c:
            first = await connect(c.port)
            second = await connect(c.port)
            ok = await first.register(port=43000)
            assert ok.status >= 0
            before = registry_state(c.registry)
            status = await second.register(port=43000)
            assert status.status == -1
            assert status.info.startswith("Registration request unsuccessful.")
            assert "already registered" in status.info
            assert f"{LOCAL}:43000" in status.info
            assert registry_state(c.registry) == before
            # Another port on the same host is fine.
            other = await second.register(port=43001)
            assert other.status >= 0 and other.status != ok.status
            assert other.info == REG_OK.format(2)


async def test_second_registration_on_one_connection_is_refused(
    cluster: Callable[..., Any], connect: Callable[..., Any], registry_state: Callable[..., Any]
) -> None:
    with trio.fail_after(5):
        async with cluster() as c:
            client = await connect(c.port)
            ok = await client.register(port=44000)
            before = registry_state(c.registry)
            status = await client.register(port=44001)
            assert status.status == -1
            assert "already registered" in status.info
            assert str(ok.status) in status.info
            assert registry_state(c.registry) == before


async def test_the_129th_node_is_refused(
    cluster: Callable[..., Any], connect: Callable[..., Any], registry_state: Callable[..., Any]
) -> None:
    with trio.fail_after(20):
        async with cluster() as c:
            clients = []
            for k in range(128):
                client = await connect(c.port)
                clients.append(client)
                await client.send(Registration(LOCAL, 20000 + k))
            statuses = [await client.receive() for client in clients]
            assert all(isinstance(s, RegistrationStatus) for s in statuses)
            assert sorted(s.status for s in statuses) == list(range(128))
            assert sorted(s.info for s in statuses) == sorted(
                REG_OK.format(n) for n in range(1, 129)
            )
            before = registry_state(c.registry)
            extra = await connect(c.port)
            status = await extra.register(port=30000)
            assert status.status == -1
            assert status.info.startswith("Registration request unsuccessful.")
            assert "full" in status.info and "128" in status.info
            assert registry_state(c.registry) == before

            # One leaving frees an identifier for the newcomer.
            leaver = clients[5]
            gone_id = statuses[5].status
            await leaver.send(Deregistration(LOCAL, 20005, gone_id))
            assert (await leaver.receive()).status == gone_id
            status = await extra.register(port=30000)
            assert status.status == gone_id
            assert status.info == REG_OK.format(128)
            for client in clients:
                await client.aclose()


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


@pytest.mark.parametrize("nr", [0, -1, 3, 4, 9])
async def test_setup_with_an_invalid_nr_changes_nothing(
    cluster: Callable[..., Any], registry_state: Callable[..., Any], nr: int
) -> None:
    with trio.fail_after(10):
        async with cluster(4) as c:
            c.registry.setup_overlay(2)
            await c.registry.wait_ready()
            tables = {n.node_id: [p.node_id for p in n.peers] for n in c.nodes}
            before = registry_state(c.registry)
            with pytest.raises(CommandError, match="NR must be between 1 and 2"):
                c.registry.setup_overlay(nr)
            assert registry_state(c.registry) == before
            assert c.registry.overlay_nr == 2 and c.registry.ready
            # No manifest went out: set up again with a valid NR and wait for
            # it; manifests reach each node in order, so one sent for the
            # refused NR would have been handled first and counted.
            generations = {n.node_id: n.core.generation for n in c.nodes}
            c.registry.setup_overlay(2)
            assert not c.registry.ready
            await c.registry.wait_ready()
            assert {n.node_id: n.core.generation for n in c.nodes} == {
                i: g + 1 for i, g in generations.items()
            }
            assert not any(
                "Refused a manifest" in line for n in c.nodes for line in n.observer.lines
            )
            assert {n.node_id: [p.node_id for p in n.peers] for n in c.nodes} == tables


async def test_setup_with_too_few_nodes(
    cluster: Callable[..., Any], registry_state: Callable[..., Any]
) -> None:
    with trio.fail_after(5):
        async with cluster(1) as c:
            before = registry_state(c.registry)
            with pytest.raises(CommandError, match="at least 2 nodes"):
                c.registry.setup_overlay(1)
            assert registry_state(c.registry) == before


async def test_start_before_ready_is_refused(
    cluster: Callable[..., Any],
    connect: Callable[..., Any],
    registry_state: Callable[..., Any],
    wait_until: Callable[..., Any],
) -> None:
    with trio.fail_after(5):
        async with cluster() as c:
            clients = [await connect(c.port) for _ in range(3)]
            ids = [(await cl.register(port=50000 + k)).status for k, cl in enumerate(clients)]
            with pytest.raises(CommandError, match="not ready"):
                c.registry.start(10)
            # Manifests go out, but these fake nodes never answer: still not ready.
            c.registry.setup_overlay(1)
            ring = sorted(ids)
            for client, node_id in zip(clients, ids, strict=True):
                manifest = await client.receive()
                assert isinstance(manifest, NodeManifest)
                assert manifest.node_ids == tuple(ring)
                after = ring[(ring.index(node_id) + 1) % 3]
                port = 50000 + ids.index(after)
                assert [(e.node_id, e.host, e.port) for e in manifest.entries] == [
                    (after, LOCAL, port)
                ]
            before = registry_state(c.registry)
            with pytest.raises(CommandError, match="not ready"):
                c.registry.start(10)
            assert registry_state(c.registry) == before

            # Two of three report success: still not ready; a failure is said.
            await clients[0].send(OverlaySetupStatus(ids[0], "fine"))
            await clients[1].send(OverlaySetupStatus(-1, "could not connect"))
            await wait_until(
                c.registry,
                lambda: (
                    c.registry.nodes[ids[0]].setup_ok
                    and any("could not connect" in line for line in c.registry.observer.lines)
                ),
            )
            assert not c.registry.ready
            with pytest.raises(CommandError):
                c.registry.start(10)
            await clients[1].send(OverlaySetupStatus(ids[1], "fine now"))
            await clients[2].send(OverlaySetupStatus(ids[2], "fine"))
            await c.registry.wait_ready()
            assert "Registry now ready to initiate tasks." in c.registry.observer.lines


@pytest.mark.parametrize("packets", [-1, 1 << 31])
async def test_start_with_a_bad_count(cluster: Callable[..., Any], packets: int) -> None:
    with trio.fail_after(10):
        async with cluster(2) as c:
            c.registry.setup_overlay(1)
            await c.registry.wait_ready()
            with pytest.raises(CommandError, match="between 0 and"):
                c.registry.start(packets)
            assert c.registry.run is None


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


@pytest.mark.parametrize("port", [0, -1, 65536])
async def test_registration_with_an_impossible_port_is_refused(
    cluster: Callable[..., Any],
    connect: Callable[..., Any],
    registry_state: Callable[..., Any],
    port: int,
) -> None:
    with trio.fail_after(5):
        async with cluster() as c:
            client = await connect(c.port)
            before = registry_state(c.registry)
            status = await client.register(port=port)
            assert status.status == -1
            assert f"Port {port}" in status.info
            assert registry_state(c.registry) == before
