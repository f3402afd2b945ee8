"""Reaching peers that take one message per connection.

Such a peer reads one frame per accepted connection, so every message goes
on a fresh connection to its listening address, in one write. One queue and
task per destination key keeps a node's messages in order (its manifest
before its task); a destination that cannot be reached is reported to the
core as ``Unreachable`` once, and forgotten.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import trio

from trio_dht.protocol.events import Event, Unreachable
from trio_dht.transport import DialWriter, FrameReader, format_address
from trio_dht.wire import Dialect, WireError
from trio_dht.wire.messages import Message

log = logging.getLogger(__name__)


class Dialler:
    """Per-key DialWriters running in ``nursery``."""

    def __init__(
        self,
        nursery: trio.Nursery,
        capacity: int,
        feed: Callable[[Event], None],
        connect_timeout: float = 5.0,
    ) -> None:
        self._nursery = nursery
        self._capacity = capacity
        self._feed = feed
        self._connect_timeout = connect_timeout
        self._writers: dict[str, tuple[DialWriter, trio.CancelScope]] = {}

    def send(self, key: str, host: str, port: int, frame: bytes) -> None:
        entry = self._writers.get(key)
        if entry is None or entry[0].done.is_set():
            writer = DialWriter(host, port, self._capacity, self._connect_timeout)
            scope = trio.CancelScope()
            entry = (writer, scope)
            self._writers[key] = entry
            self._nursery.start_soon(self._run, key, writer, scope)
        try:
            entry[0].send_nowait(frame)
        except trio.WouldBlock:
            # Connections are made one at a time; a destination this far
            # behind is not taking them: one message is lost, said once.
            log.warning("dropped a message for %s: %d are waiting to be dialled", key,
                        entry[0].queued())  # fmt: skip
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self._lost(key, "its queue is closed")

    def forget(self, key: str) -> None:
        entry = self._writers.pop(key, None)
        if entry is not None:
            entry[1].cancel()

    async def _run(self, key: str, writer: DialWriter, scope: trio.CancelScope) -> None:
        with scope:
            await writer.run()
            if writer.broken is not None and self._writers.get(key, (None,))[0] is writer:
                self._lost(key, str(writer.broken) or type(writer.broken).__name__)

    def _lost(self, key: str, reason: str) -> None:
        self.forget(key)
        if key.startswith("node "):
            self._feed(Unreachable(int(key.split()[1]), reason))
        else:
            log.info("cannot reach %s: %s", key, reason)


async def probe(host: str, port: int, timeout: float) -> tuple[bool, str]:
    """One connection attempt to ``host:port``: (reachable, why not)."""
    try:
        with trio.fail_after(timeout):
            stream = await trio.open_tcp_stream(host, port)
    except trio.TooSlowError:
        return False, f"no answer within {timeout:g} s"
    except OSError as exc:
        return False, exc.strerror or str(exc)
    await stream.aclose()
    return True, ""


async def exchange(
    host: str, port: int, frame: bytes, dialect: Dialect, timeout: float
) -> Message | None:
    """Send ``frame`` on a fresh connection and read one frame back (a
    deregistration to a registry of the one-message kind, which answers on
    the connection the request came on). None if nothing valid came back."""
    try:
        with trio.fail_after(timeout):
            stream = await trio.open_tcp_stream(host, port)
            async with stream:
                await stream.send_all(frame)
                bodies = await FrameReader(stream, dialect.framer()).receive_batch()
    except (OSError, trio.TooSlowError, trio.BrokenResourceError, WireError) as exc:
        log.info("no answer from %s: %s", format_address(host, port), exc or type(exc).__name__)
        return None
    if not bodies:
        return None
    try:
        return dialect.decode(bodies[0])
    except WireError as exc:
        log.warning("malformed answer from %s: %s", format_address(host, port), exc)
        return None
