"""Length-prefixed framing, shared by both dialects (sans-IO).

Both dialects put a big-endian length before each frame (4 bytes signed in
cs455, 8 bytes unsigned in minichord); only the header differs. A framer takes
bytes exactly as they arrive -- one byte at a time or many frames at once --
and returns every whole frame body now available.
"""

from __future__ import annotations

import struct

from trio_dht.wire.errors import WireError

# Far above any legal frame (a 128-node manifest is under 2 KiB, a data packet
# with a full trace about 530 bytes) yet small enough that a hostile length
# can never make us buffer much.
DEFAULT_MAX_FRAME = 1 << 20


class LengthPrefixFramer:
    """Splits a byte stream into frame bodies (the bytes after the length).

    A WireError leaves the framer unusable: the stream has lost sync and the
    connection must be closed.
    """

    __slots__ = ("_buf", "_header_size", "_max_frame", "_unpack_from")

    def __init__(self, header: struct.Struct, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        self._buf = bytearray()
        self._unpack_from = header.unpack_from
        self._header_size = header.size
        self._max_frame = max_frame

    @property
    def buffered(self) -> int:
        """Bytes held that do not yet make a whole frame (a truncated frame
        if the stream ends now)."""
        return len(self._buf)

    def feed(self, data: bytes | bytearray | memoryview) -> list[bytes]:
        buf = self._buf
        if buf:
            # A frame straddles the chunks: join once, then parse the whole.
            buf += data
            data = bytes(buf)
            buf.clear()
        elif not isinstance(data, bytes):
            data = bytes(data)
        # Slicing the immutable chunk makes each body with one copy (slicing
        # a bytearray and converting would make two).
        frames: list[bytes] = []
        pos = 0
        end = len(data)
        size = self._header_size
        unpack_from = self._unpack_from
        max_frame = self._max_frame
        while end - pos >= size:
            (length,) = unpack_from(data, pos)
            if length < 1 or length > max_frame:
                raise WireError(self._bad_length(length))
            stop = pos + size + length
            if stop > end:
                break
            frames.append(data[pos + size : stop])
            pos = stop
        if pos < end:
            buf += data[pos:] if pos else data
        return frames

    def _bad_length(self, length: int) -> str:
        if length < 0:
            return f"frame length {length} is negative"
        if length == 0:
            return "frame length 0: an empty frame carries no message"
        return f"frame length {length} exceeds the maximum of {self._max_frame} bytes"
