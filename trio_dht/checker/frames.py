"""Decoding a captured byte stream frame by frame, with byte offsets (sans-IO).

The services' framer gives bodies only and gives up on the first bad length,
dropping whatever else arrived in the same chunk. A capture needs more: the
byte offset of every frame, the whole frame as it crossed the wire, and every
good frame before a bad one. So this module splits the stream itself, with
the same length headers as the dialects (WIRE-CS455.md: 4 bytes big-endian
signed; WIRE-MINICHORD.md: 8 bytes big-endian unsigned), and hands each body
to the dialect's own ``decode``.

``--wire auto`` tells the dialects apart from the first four bytes of a
connection (whichever direction speaks first; see ``detect_dialect``).
"""

from __future__ import annotations

import struct

import attrs

from trio_dht.wire import DEFAULT_MAX_FRAME, Dialect, WireError, get_dialect
from trio_dht.wire.messages import Message

HEADERS: dict[str, struct.Struct] = {"cs455": struct.Struct(">i"), "minichord": struct.Struct(">Q")}
WIRE_CHOICES: tuple[str, ...] = ("cs455", "minichord", "auto")


def detect_dialect(prefix: bytes) -> str | None:
    """The dialect whose stream starts with ``prefix``; None until 4 bytes are in.

    A minichord length is 8 bytes big-endian, so its first four bytes are zero
    for every frame under 4 GiB (all of them: frames stop at 1 MiB). A cs455
    length is 4 bytes and legal only from 1 up, so a legal cs455 stream never
    starts with four zero bytes. Corner cases, both of a malformed stream:
    a cs455 stream whose first frame claims length 0 is taken as minichord
    (and then shown malformed under it), and a stream whose first bytes are
    garbage is taken as cs455 unless they are four zeros.
    """
    if len(prefix) < 4:
        return None
    return "minichord" if prefix[:4] == b"\0\0\0\0" else "cs455"


@attrs.frozen
class FrameEvent:
    """One frame of a stream: decoded (``message``) or malformed (``error``).

    ``offset`` is the position of the frame's first byte (its length prefix)
    in the bytes of its direction; ``frame`` is the frame as it crossed the
    wire, prefix included (for a malformed length or a truncated frame, the
    bytes that were there)."""

    offset: int
    frame: bytes
    message: Message | None
    error: str | None = None

    @property
    def malformed(self) -> bool:
        return self.message is None


class StreamDecoder:
    """Frames of one direction of one connection.

    ``wire`` is a dialect name or ``"auto"``; an auto decoder picks its
    dialect from its own first bytes unless ``adopt`` gave it one first (the
    other direction of the connection spoke first). After a bad length the
    stream has no frame boundaries any more: the rest is counted in
    ``unsynced`` and not decoded.
    """

    def __init__(self, wire: str, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        if wire not in WIRE_CHOICES:
            raise ValueError(f"unknown wire {wire!r}; choose one of {', '.join(WIRE_CHOICES)}")
        self._buf = bytearray()
        self._offset = 0  # stream position of self._buf[0]
        self._max_frame = max_frame
        self._dialect: Dialect | None = None
        self.unsynced = 0
        if wire != "auto":
            self.adopt(wire)

    @property
    def dialect(self) -> Dialect | None:
        return self._dialect

    def adopt(self, name: str) -> None:
        """Use dialect ``name`` unless one is already chosen."""
        if self._dialect is None:
            self._dialect = get_dialect(name)

    def feed(self, data: bytes) -> list[FrameEvent]:
        if self.unsynced:
            self.unsynced += len(data)
            return []
        self._buf += data
        if self._dialect is None:
            name = detect_dialect(bytes(self._buf[:4]))
            if name is None:
                return []
            self.adopt(name)
        return self._split()

    def close(self) -> list[FrameEvent]:
        """End of stream: a partial frame left over is reported truncated."""
        if not self._buf or self.unsynced:
            return []
        header = HEADERS[self._dialect.name] if self._dialect else HEADERS["cs455"]
        rest = bytes(self._buf)
        self._buf.clear()
        if len(rest) < header.size:
            what = f"truncated length prefix: {len(rest)} of {header.size} bytes"
        else:
            (length,) = header.unpack_from(rest)
            what = f"truncated frame: {len(rest) - header.size} of {length} body bytes"
        return [FrameEvent(self._offset, rest, None, what)]

    def _split(self) -> list[FrameEvent]:
        assert self._dialect is not None
        dialect = self._dialect
        header = HEADERS[dialect.name]
        size = header.size
        data = bytes(self._buf)
        events: list[FrameEvent] = []
        pos = 0
        while len(data) - pos >= size:
            (length,) = header.unpack_from(data, pos)
            if length < 1 or length > self._max_frame:
                events.append(
                    FrameEvent(
                        self._offset + pos,
                        data[pos : pos + size],
                        None,
                        f"bad length {length} (legal: 1..{self._max_frame}); "
                        "the rest of this stream is not decoded",
                    )
                )
                self.unsynced = len(data) - pos
                self._buf.clear()
                self._offset += pos
                return events
            stop = pos + size + length
            if stop > len(data):
                break
            events.append(self._decode(dialect, self._offset + pos, data[pos:stop], size))
            pos = stop
        del self._buf[:pos]
        self._offset += pos
        return events

    @staticmethod
    def _decode(dialect: Dialect, offset: int, frame: bytes, size: int) -> FrameEvent:
        try:
            return FrameEvent(offset, frame, dialect.decode(frame[size:]))
        except WireError as exc:
            return FrameEvent(offset, frame, None, str(exc))
