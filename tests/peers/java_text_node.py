"""The messaging node of the text-address cs455 Java variant, scripted
(model and frames: see java_variants.py)."""

from __future__ import annotations

import random

import trio

from peers import cs455_text as wire
from peers.connlog import ConnLog, ConnOwner
from peers.java_stream import FrameStream, field_int, field_str
from peers.ring import next_hop

HOST = "127.0.0.1"


class TextAddressNode:
    """``run`` listens, registers (address as text) and serves until
    ``stop``, ``leave`` or cancellation; reports itself to ``nursery.start``
    once registered and raises RuntimeError when refused."""

    def __init__(
        self,
        registry_host: str,
        registry_port: int,
        log: ConnLog | None = None,
        rng: random.Random | None = None,
        host: str = HOST,
    ) -> None:
        self.registry_host = registry_host
        self.registry_port = registry_port
        self.log = log if log is not None else ConnLog()
        self.rng = rng if rng is not None else random.Random()
        self.host = host
        self.port = 0
        self.node_id = -1
        self.conns = ConnOwner(self.log, "text node")
        self.registry: FrameStream | None = None
        self.peers: dict[int, FrameStream] = {}
        self.table: list[int] = []
        self.others: list[int] = []
        self.sent = self.received = self.relayed = 0
        self.sum_sent = self.sum_received = 0
        self.dropped = 0
        self.setup_status: int | None = None
        self.leave_status: int | None = None
        self.registration_info = ""
        self.stopped = trio.Event()
        self._registered = trio.Event()
        self._left = trio.Event()
        self._scope = trio.CancelScope()
        self._nursery: trio.Nursery | None = None

    @property
    def name(self) -> str:
        return self.conns.name

    async def run(
        self, *, task_status: trio.TaskStatus[TextAddressNode] = trio.TASK_STATUS_IGNORED
    ) -> None:
        listeners = await trio.open_tcp_listeners(0, host=self.host)
        self.port = listeners[0].socket.getsockname()[1]
        self.conns.name = f"text node {self.host}:{self.port}"
        try:
            with self._scope:
                async with trio.open_nursery() as nursery:
                    self._nursery = nursery
                    await nursery.start(self.conns.serve, listeners, self._on_accept)
                    conn = await self.conns.dial(self.registry_host, self.registry_port, "registry")
                    self.registry = FrameStream(self.log, conn)
                    nursery.start_soon(self._read_registry, self.registry)
                    # The address of our side of the registry connection.
                    local = conn.local.rpartition(":")[0]
                    await self.registry.write(wire.registration(local, self.port))
                    await self._registered.wait()
                    if self.node_id < 0:
                        raise RuntimeError(
                            f"{self.name}: registration refused: {self.registration_info!r}"
                        )
                    task_status.started(self)
        finally:
            with trio.CancelScope(shield=True):
                for listener in listeners:
                    await listener.aclose()
                await self.conns.close_all()
            self.stopped.set()

    def stop(self) -> None:
        self._scope.cancel()

    async def leave(self) -> int | None:
        """Deregister on the registry connection, wait for the answer, stop.
        Returns the status (None if the registry closed first)."""
        assert self.registry is not None
        await self.registry.write(wire.deregistration(self.host, self.port, self.node_id))
        await self._left.wait()
        self.stop()
        return self.leave_status

    # --- the registry connection: every control message both ways -----------------

    async def _read_registry(self, frames: FrameStream) -> None:
        try:
            while (message := await frames.read_decoded()) is not None:
                await self._on_control(message)
        except wire.TextFrameError:
            pass
        self._registered.set()
        self._left.set()
        self.stop()

    async def _on_control(self, message: wire.Decoded) -> None:
        f = message.fields
        if message.kind == wire.REGISTRATION_STATUS and not self._registered.is_set():
            self.node_id = field_int(f, "status")
            self.registration_info = field_str(f, "info")
            self._registered.set()
        elif message.kind in (wire.DEREGISTRATION_STATUS, wire.REGISTRATION_STATUS):
            self.leave_status = field_int(f, "status")
            self._left.set()
        elif message.kind == wire.MANIFEST:
            await self._on_manifest(f)
        elif message.kind == wire.TASK_INITIATE:
            assert self._nursery is not None
            self._nursery.start_soon(self._originate, field_int(f, "packets"))
        elif message.kind == wire.SUMMARY_REQUEST:
            await self._send_summary()
        else:
            assert self.registry is not None
            self.log.event(self.registry.conn, "unexpected", str(message.kind))

    async def _on_manifest(self, f: dict[str, object]) -> None:
        entries = f["entries"]
        ids = f["node_ids"]
        assert isinstance(entries, list) and isinstance(ids, list)
        for frames in self.peers.values():
            await self.conns.close(frames.conn)
        self.peers = {}
        failure = ""
        for entry in entries:
            peer_id = field_int(entry, "node_id")
            if peer_id == self.node_id or peer_id in self.peers:
                continue
            try:
                conn = await self.conns.dial(
                    field_str(entry, "ip"), field_int(entry, "port"), "peer"
                )
            except OSError as exc:
                failure = f"cannot connect to {peer_id} at {field_str(entry, 'ip')!r}: {exc}"
                break
            self.peers[peer_id] = FrameStream(self.log, conn)
        assert self.registry is not None
        if failure:
            self.setup_status = -1
            await self.registry.write(wire.status(wire.SETUP_STATUS, -1, failure[:127]))
            return
        self.table = list(self.peers)
        self.others = [i for i in ids if isinstance(i, int) and i != self.node_id]
        self.setup_status = self.node_id
        text = wire.SETUP_OK_TEXT.format(node_id=self.node_id)
        await self.registry.write(wire.status(wire.SETUP_STATUS, self.node_id, text))

    # --- data -------------------------------------------------------------------------

    async def _on_accept(self, stream: trio.SocketStream) -> None:
        conn = self.conns.adopt(stream)
        frames = FrameStream(self.log, conn)
        try:
            while (message := await frames.read_decoded()) is not None:
                if message.kind != wire.DATA:
                    self.log.event(conn, "unexpected", str(message.kind))
                    continue
                await self._on_data(message.fields)
        except wire.TextFrameError:
            pass
        await self.conns.close(conn)

    async def _on_data(self, f: dict[str, object]) -> None:
        destination = field_int(f, "destination")
        if destination == self.node_id:
            self.received += 1
            self.sum_received += field_int(f, "payload")
            return
        trace = f["trace"]
        assert isinstance(trace, list)
        self.relayed += 1
        await self._send(
            destination, field_int(f, "source"), field_int(f, "payload"), [*trace, self.node_id]
        )

    async def _send(self, destination: int, source: int, payload: int, trace: list[int]) -> None:
        via = next_hop(self.node_id, destination, self.table)
        if via is None:
            self.dropped += 1
            self.log.note(self.name, "no-route", f"packet for {destination}")
            return
        await self.peers[via].write(wire.data(destination, source, payload, trace))

    async def _originate(self, packets: int) -> None:
        for _ in range(packets):
            payload = self.rng.randint(-(2**31), 2**31 - 1)
            self.sent += 1
            self.sum_sent += payload
            await self._send(self.rng.choice(self.others), self.node_id, payload, [])
        assert self.registry is not None
        await self.registry.write(wire.task_finished(self.host, self.port, self.node_id))

    async def _send_summary(self) -> None:
        assert self.registry is not None
        await self.registry.write(
            wire.summary(
                self.node_id,
                self.sent,
                self.relayed,
                self.sum_sent,
                self.received,
                self.sum_received,
            )
        )
        self.sent = self.received = self.relayed = 0
        self.sum_sent = self.sum_received = 0
