"""Drivers for the sans-IO cores in tests: no sockets, no clock; the test
chooses every event and the time."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from trio_dht.protocol.events import Close, ConnRole, Opened, ProbeResult, Received, Say, Send, Tick
from trio_dht.protocol.registry_core import RegistryCore
from trio_dht.protocol.registry_rules import RegistryRules
from trio_dht.wire import get_dialect
from trio_dht.wire.messages import (
    PROGRESS_MARKER,
    Message,
    OverlaySetupStatus,
    ProgressReport,
    Registration,
    RegistrationStatus,
)

CS455 = get_dialect("cs455")


def registry_core(**timers: float) -> RegistryCore:
    rules = RegistryRules(clip=CS455.clip, refusal_status=CS455.refusal_status)
    for name, value in timers.items():
        setattr(rules.timers, name, value)
    return RegistryCore(rules)


class Driver:
    """Feeds one registry core and keeps every action it returned."""

    def __init__(self, core: RegistryCore) -> None:
        self.core = core
        self.now = 0.0
        self.actions: list[Any] = []
        self._next_conn = 1

    def feed(self, event: Any, dt: float = 0.0) -> list[Any]:
        self.now += dt
        self.core.handle(event, self.now)
        out = self.core.take_actions()
        self.actions.extend(out)
        return out

    def tick(self, dt: float) -> list[Any]:
        return self.feed(Tick(), dt)

    def connect(self, host: str = "127.0.0.1") -> int:
        conn = self._next_conn
        self._next_conn += 1
        self.feed(Opened(conn, ConnRole.ACCEPTED, host))
        return conn

    def register(self, port: int, host: str = "127.0.0.1") -> tuple[int, int]:
        """A node registers (its probe succeeds): (conn, node id)."""
        conn = self.connect(host)
        self.feed(Received(conn, Registration(host, port)))
        self.feed(ProbeResult(conn, True))
        status = last(self.actions, Send).message
        assert isinstance(status, RegistrationStatus) and status.status >= 0, status
        return conn, status.status

    def overlay(self, count: int, nr: int = 1) -> dict[int, int]:
        """``count`` persistent trio_dht nodes, set up and ready: id -> conn."""
        conns = {}
        for k in range(count):
            conn, node_id = self.register(5000 + k)
            conns[node_id] = conn
        self.core.setup(nr)
        self.feed(Tick())
        for node_id, conn in conns.items():
            self.feed(Received(conn, OverlaySetupStatus(node_id, f"ok {PROGRESS_MARKER}")))
        assert self.core.ready
        return conns

    def progress(self, conn: int, node_id: int, sent: int, received: int, dt: float = 0.0) -> None:
        self.feed(Received(conn, ProgressReport(node_id, sent, received, 0, 0, 0)), dt)

    def said(self) -> list[str]:
        return [a.text for a in self.actions if isinstance(a, Say)]

    def closed(self) -> list[int]:
        return [a.conn for a in self.actions if isinstance(a, Close)]

    def sent(self, kind: type) -> list[Send]:
        return [a for a in self.actions if isinstance(a, Send) and isinstance(a.message, kind)]


def last(actions: Iterable[Any], kind: type) -> Any:
    found = [a for a in actions if isinstance(a, kind)]
    assert found, f"no {kind.__name__} among {list(actions)}"
    return found[-1]


def message_of(action: Any) -> Message:
    return action.message  # type: ignore[no-any-return]
