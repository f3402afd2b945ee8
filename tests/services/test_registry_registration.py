"""The registry's answers to registrations, driven by raw cs455 clients over
real sockets: the successes and every refusal, each of which must leave the
registry's state as it was."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
import trio
from registry_helpers import LOCAL, REG_OK, SPOOF, without_probe

from trio_dht.wire.messages import Deregistration, Registration, RegistrationStatus


@pytest.fixture
def cluster(cluster: Callable[..., Any]) -> Callable[..., Any]:
    """No registration probe: see ``registry_helpers.without_probe``."""
    return without_probe(cluster)


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
