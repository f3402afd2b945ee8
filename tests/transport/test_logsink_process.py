"""A registry whose stderr is a pipe nobody reads keeps serving while a
flood of malformed connections makes it log far more than the pipe holds."""

from __future__ import annotations

import socket
import subprocess
import sys

import trio

from trio_dht.wire import get_dialect
from trio_dht.wire.messages import Registration, RegistrationStatus

LOCAL = "127.0.0.1"
CS455 = get_dialect("cs455")
# Each closed connection is at least one log line of ~150 bytes: 1,200 of
# them are several times a pipe's 64 KiB.
MALFORMED = 1200
CONCURRENCY = 50


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOCAL, 0))
        return int(sock.getsockname()[1])


async def wait_serving(proc: trio.Process) -> None:
    """Return once the registry listens. It opens its port before it reads
    its console, so an answer to a command on stdout (its results stream)
    means it is listening: no polling of the port, no reading of stderr."""
    assert proc.stdin is not None and proc.stdout is not None
    await proc.stdin.send_all(b"help\n")
    assert await proc.stdout.receive_some(), "the registry ended before answering"


async def malformed(port: int, count: int) -> None:
    for _ in range(count):
        stream = await trio.open_tcp_stream(LOCAL, port, local_address="127.0.0.2")
        try:
            await stream.send_all(b"\x00\x00\x00\x00")  # length 0: malformed
            while await stream.receive_some(1024):
                pass
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        finally:
            await stream.aclose()


async def register(port: int) -> RegistrationStatus:
    stream = await trio.open_tcp_stream(LOCAL, port)
    async with stream:
        await stream.send_all(CS455.encode(Registration(LOCAL, free_port())))
        framer = CS455.framer()
        while True:
            data = await stream.receive_some(4096)
            assert data, "the registry closed the connection without answering"
            bodies = framer.feed(data)
            if bodies:
                message = CS455.decode(bodies[0])
                assert isinstance(message, RegistrationStatus)
                return message


async def test_a_registry_with_an_unread_stderr_keeps_serving() -> None:
    port = free_port()
    proc = await trio.lowlevel.open_process(
        [sys.executable, "-m", "trio_dht", "registry", str(port), "--host", LOCAL],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,  # read once, for the answer to ``help``
        stderr=subprocess.PIPE,  # never read
    )
    try:
        with trio.fail_after(60):
            await wait_serving(proc)
            async with trio.open_nursery() as nursery:
                for _ in range(CONCURRENCY):
                    nursery.start_soon(malformed, port, MALFORMED // CONCURRENCY)
            # Without a non-blocking stderr the registry is stuck in a write
            # to the full pipe by now and never answers.
            with trio.fail_after(10):
                answer = await register(port)
        assert isinstance(answer, RegistrationStatus)
        assert proc.poll() is None
    finally:
        proc.kill()
        with trio.CancelScope(shield=True), trio.move_on_after(10):
            await proc.wait()
