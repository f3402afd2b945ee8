"""Hypothesis throws arbitrary bytes at a live registry and a live node:
the offending connection is closed with one log line, the rest keeps
working. (tools/fuzz.py does the same at scale.)"""

from __future__ import annotations

import logging

import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trio_dht.services.node import MessagingNode
from trio_dht.services.observer import Observer
from trio_dht.services.registry import Registry
from trio_dht.wire import get_dialect

HOST = "127.0.0.1"

# Bytes that start like a frame header more often than pure chance would.
garbage = st.one_of(
    st.binary(min_size=1, max_size=64),
    st.builds(
        lambda length, rest: length.to_bytes(4, "big", signed=True) + rest,
        st.integers(-(2**31), 2**31 - 1),
        st.binary(max_size=40),
    ),
    st.builds(
        lambda kind, rest: (1 + len(rest)).to_bytes(4, "big") + bytes([kind]) + rest,
        st.integers(0, 255),
        st.binary(max_size=40),
    ),
)


async def send_and_wait_close(port: int, payload: bytes) -> str:
    """Send, half-close, wait for the other side to close; returns our
    address as the other side names it in its log."""
    stream = await trio.open_tcp_stream(HOST, port)
    ours = "{}:{}".format(*stream.socket.getsockname()[:2])
    async with stream:
        await stream.send_all(payload)
        await stream.send_eof()
        while await stream.receive_some(4096):
            pass
    return ours


def certainly_malformed(payload: bytes) -> bool:
    """Shorter than a header, an impossible length, or a frame cut short."""
    if len(payload) < 4:
        return True
    length = int.from_bytes(payload[:4], "big", signed=True)
    return not 1 <= length <= 1 << 20 or len(payload) < 4 + length


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(payload=garbage)
async def test_live_registry_and_node_survive_arbitrary_bytes(
    payload: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.clear()
    dialect = get_dialect("cs455")
    registry = Registry(dialect, Observer())
    with trio.fail_after(10), caplog.at_level(logging.WARNING, logger="trio_dht"):
        async with trio.open_nursery() as nursery:
            port = await nursery.start(registry.serve, HOST, 0)
            nodes = [await nursery.start(MessagingNode(HOST, port, dialect).run) for _ in range(2)]
            registry.setup_overlay(1)
            await registry.wait_ready()

            clients = [
                await send_and_wait_close(port, payload),
                await send_and_wait_close(nodes[0].port, payload),
            ]

            # The registry still has both nodes and runs exactly.
            assert len(registry.nodes) == 2
            run = registry.start(50)
            await run.done.wait()
            assert run.result is not None and run.result.correct, run.result.verdict()
            nursery.cancel_scope.cancel()
    closing = [r.getMessage() for r in caplog.records]
    closing = [m for m in closing if m.startswith("closing connection from")]
    for client in clients:
        lines = [m for m in closing if m.startswith(f"closing connection from {client}:")]
        if certainly_malformed(payload):
            assert len(lines) == 1, closing
        else:
            # A well-formed frame may be harmless there (a deregistration
            # is answered, not an offence); never more than one line.
            assert len(lines) <= 1, closing
    assert all("Traceback" not in r.getMessage() for r in caplog.records)
