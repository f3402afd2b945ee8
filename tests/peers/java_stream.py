"""Frame streams of the persistent (Java) connection model: whole frames
read exactly, one write per frame."""

from __future__ import annotations

import trio

from peers import cs455_text as wire
from peers.connlog import Conn, ConnLog

KIND_NAMES = {
    2: "registration",
    3: "registration_status",
    4: "deregistration",
    5: "deregistration_status",
    6: "node_manifest",
    7: "overlay_setup_status",
    8: "task_initiate",
    9: "data",
    10: "task_finished",
    11: "traffic_summary_request",
    12: "traffic_summary",
}


class FrameStream:
    """Whole frames over one connection: exact reads, one write per frame
    (serialised, since several tasks may send on it)."""

    def __init__(self, log: ConnLog, conn: Conn) -> None:
        self.log = log
        self.conn = conn
        self._buffer = bytearray()
        self._lock = trio.StrictFIFOLock()

    async def write(self, body: bytes) -> None:
        async with self._lock:
            await self.conn.stream.send_all(wire.frame(body))
        name = KIND_NAMES.get(body[0], str(body[0]))
        self.conn.written.append(name)
        self.log.event(self.conn, "write", name)

    async def read(self) -> bytes | None:
        """The next body; None when the connection ended (cleanly or not)."""
        buffer = self._buffer
        while True:
            if len(buffer) >= 4:
                (size,) = wire.LENGTH.unpack_from(buffer)
                if size < 1:
                    self.log.event(self.conn, "unexpected", f"frame length {size}")
                    return None
                if len(buffer) >= 4 + size:
                    body = bytes(buffer[4 : 4 + size])
                    del buffer[: 4 + size]
                    return body
            self.conn.read_calls += 1
            try:
                chunk = await self.conn.stream.receive_some(65536)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                chunk = b""
            if not chunk:
                if buffer:
                    self.log.event(
                        self.conn, "unexpected", f"closed inside a frame ({len(buffer)} bytes)"
                    )
                elif not self.conn.read:
                    self.conn.empty = True
                return None
            buffer += chunk

    async def read_decoded(self) -> wire.Decoded | None:
        """The next frame decoded; None at the end, and for a frame that does
        not parse under this variant (recorded as unexpected)."""
        body = await self.read()
        if body is None:
            return None
        try:
            decoded = wire.decode(body)
        except wire.TextFrameError as exc:
            self.log.event(self.conn, "unexpected", f"{body[:1].hex()}: {exc}")
            raise
        name = KIND_NAMES[decoded.kind]
        self.conn.read.append(name)
        self.log.event(self.conn, "read", name)
        return decoded


def field_int(fields: dict[str, object], key: str) -> int:
    value = fields[key]
    assert isinstance(value, int)
    return value


def field_str(fields: dict[str, object], key: str) -> str:
    return str(fields[key])
