"""The hostile clients of tools/flood.py: bounded, loopback only, from
127.0.0.x source addresses other than the legitimate 127.0.0.1."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import trio

from trio_dht.wire import get_dialect
from trio_dht.wire.messages import Registration

LOOPBACK = "127.0.0.1"
CS455 = get_dialect("cs455")


def listening_ports() -> set[int]:
    """Every TCP port something listens on, on this machine (Linux /proc)."""
    ports: set[int] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as lines:
                next(lines, None)
                for line in lines:
                    fields = line.split()
                    if len(fields) > 3 and fields[3] == "0A":  # LISTEN
                        ports.add(int(fields[1].rsplit(":", 1)[1], 16))
        except OSError:
            continue
    return ports


def source_host(k: int) -> str:
    """127.0.0.2 .. 127.0.0.254, round robin: other hosts on loopback."""
    return f"127.0.0.{2 + k % 253}"


class Flood:
    """Bounded hostile clients; counts what they opened and what the victim
    closed."""

    def __init__(self, kind: str, port: int, connections: int, registry_port: int) -> None:
        self.kind = kind
        self.port = port
        self.connections = connections
        self.registry_port = registry_port
        self.opened = 0
        self.closed_by_victim = 0
        # Fake members claim ports nobody listens on: a listener on all
        # addresses (this machine has one on 2024) would pass the
        # registry's reachability check and make a fake a real member.
        if kind == "fakes":
            taken = listening_ports()
            free = (p for p in range(1, 65536) if p not in taken)
            self.fake_ports = [next(free) for _ in range(connections)]

    async def connect(self, k: int) -> trio.SocketStream | None:
        try:
            with trio.fail_after(5):
                stream = await trio.open_tcp_stream(
                    LOOPBACK, self.port, local_address=source_host(k)
                )
        except (OSError, trio.TooSlowError):
            return None
        self.opened += 1
        return stream

    async def hold(
        self, stream: trio.SocketStream, send: Callable[[], Awaitable[None]] | None
    ) -> None:
        """Keep ``stream`` open (running ``send`` between reads) until the
        victim closes it."""
        try:
            while True:
                if send is not None:
                    await send()
                    with trio.move_on_after(0.5):
                        if not await stream.receive_some(4096):
                            break
                elif not await stream.receive_some(4096):
                    break
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass
        self.closed_by_victim += 1
        await trio.aclose_forcefully(stream)

    async def worker(self, k: int) -> None:
        # Each worker owns one connection at a time and reconnects (with a
        # pause, bounded by the tool's timeout) when the victim closes it.
        while True:
            stream = await self.connect(k)
            if stream is None:
                await trio.sleep(0.5)
                continue
            await self.hold(stream, self.sender(stream, k))
            await trio.sleep(0.5 if self.kind in ("idle", "node-idle", "fakes") else 0.05)

    def sender(self, stream: trio.SocketStream, k: int) -> Callable[[], Awaitable[None]] | None:
        kind = self.kind
        if kind in ("none", "idle", "node-idle"):
            return None
        if kind == "slowloris":
            # One frame, claimed 100 bytes long, a byte at a time.
            data = iter(CS455.length_prefix.pack(100) + bytes(100))

            async def trickle() -> None:
                byte = next(data, None)
                if byte is not None:
                    await stream.send_all(bytes([byte]))
                await trio.sleep(0.5)

            return trickle
        if kind == "churn":
            refused = CS455.encode(Registration("127.0.0.254", 9))

            async def churn() -> None:
                await stream.send_all(refused)

            return churn
        if kind == "fakes":
            host = source_host(k)
            fake = CS455.encode(Registration(host, self.fake_ports[k]))
            sent = [False]

            async def register() -> None:
                if not sent[0]:
                    sent[0] = True
                    await stream.send_all(fake)

            return register
        if kind == "bigframes":
            # A data frame (type 8 in cs455) claimed just under 1 MiB long.
            length = (1 << 20) - 16
            head = CS455.length_prefix.pack(length) + b"\x08"
            piece = bytes(64 << 10)

            async def big() -> None:
                await stream.send_all(head)
                left = length - 1
                while left > 0:
                    await stream.send_all(piece[: min(left, len(piece))])
                    left -= len(piece)

            return big
        raise ValueError(kind)

    async def run(self, started: trio.Event) -> None:
        async with trio.open_nursery() as nursery:
            for k in range(0 if self.kind == "none" else self.connections):
                nursery.start_soon(self.worker, k)
            # Let the flood build up before the legitimate nodes arrive.
            with trio.move_on_after(3):
                while self.kind != "none" and self.opened < self.connections:
                    await trio.sleep(0.05)
            started.set()
