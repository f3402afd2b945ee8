"""Length-prefixed framing, shared by both dialects (sans-IO).

Both dialects put a big-endian length before each frame (4 bytes signed in
cs455, 8 bytes unsigned in minichord); only the header differs. A framer takes
bytes exactly as they arrive -- one byte at a time or many frames at once --
and returns every whole frame body now available.

Memory is bounded per connection by what the dialect can legitimately send
(``FrameLimits``): a length above the largest body of any type is refused from
the prefix alone, and one above the largest body of its own type as soon as
the bytes naming the type have arrived -- in both cases before the body is
buffered. A framer therefore never holds more than one legitimate frame plus
its prefix, whatever a peer announces.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from types import MappingProxyType

from trio_dht.wire.errors import RemoteWireError

# The default of the services' --max-frame: no extra cap. The effective limit
# of a dialect's framer is min(max_frame, the dialect's own largest body), so
# this only matters to framers built without a dialect.
DEFAULT_MAX_FRAME = 1 << 20


class FrameLimits:
    """The largest legitimate body of each message type of one dialect.

    A type is named by the first bytes of its body (``tags``): the type byte
    in cs455, the first field tag -- one or two varint bytes -- in minichord.
    Bodies that start with no known tag (unknown types: the decoder will
    refuse them with a precise reason) may be as long as ``max_body``.
    """

    __slots__ = ("_names", "_refine", "_tags", "by_first_byte", "dialect", "max_body")

    def __init__(self, dialect: str, tags: Mapping[bytes, tuple[str, int]]) -> None:
        """``tags`` maps the leading bytes of a body to (type name, largest
        body of that type)."""
        if not tags or any(not tag for tag in tags):
            raise ValueError("frame limits need at least one non-empty tag")
        self.dialect = dialect
        self.max_body = max(limit for _, limit in tags.values())
        self._tags: Mapping[bytes, int] = MappingProxyType(
            {tag: limit for tag, (_, limit) in tags.items()}
        )
        self._names: Mapping[bytes, str] = MappingProxyType(
            {tag: name for tag, (name, _) in tags.items()}
        )
        # The fast table: for each first byte, the smallest limit of the
        # tags starting with it (max_body when none does). A length within it
        # is legitimate whatever the rest of the tag; only a longer one needs
        # the slow look at the whole tag (``type_limit``), and only for first
        # bytes that do not name one type on their own.
        first = [self.max_body] * 256
        groups: dict[int, list[bytes]] = {}
        for tag in self._tags:
            groups.setdefault(tag[0], []).append(tag)
        refine = set()
        for byte, members in groups.items():
            first[byte] = min(self._tags[tag] for tag in members)
            if members != [bytes((byte,))]:
                refine.add(byte)
        self.by_first_byte: tuple[int, ...] = tuple(first)
        self._refine = frozenset(refine)

    def type_limit(self, head: bytes) -> int | None:
        """The largest legitimate body for a body starting with ``head``
        (its first bytes, as many as have arrived), or None when more bytes
        are needed to tell its type."""
        if not head:
            return None
        if head[0] not in self._refine:
            return self.by_first_byte[head[0]]
        for tag, limit in self._tags.items():
            if tag[0] != head[0]:
                continue
            if head[: len(tag)] == tag:
                return limit
            if len(head) < len(tag) and tag.startswith(head):
                return None
        return self.max_body

    def type_name(self, head: bytes) -> str:
        """Words naming the type of a body starting with ``head``."""
        for tag, name in self._names.items():
            if head[: len(tag)] == tag:
                return name
        return f"unknown type (first byte 0x{head[0]:02x})" if head else "unknown type"


class LengthPrefixFramer:
    """Splits a byte stream into frame bodies (the bytes after the length).

    ``max_frame`` caps every body; ``limits`` (a dialect's ``FrameLimits``)
    caps each type further, and the effective overall cap is the smaller of
    ``max_frame`` and ``limits.max_body``.

    A RemoteWireError leaves the framer unusable: the stream has lost sync
    and the connection must be closed.
    """

    __slots__ = (
        "_buf",
        "_by_first_byte",
        "_header_size",
        "_limits",
        "_max_frame",
        "_unpack_from",
    )

    def __init__(
        self,
        header: struct.Struct,
        max_frame: int = DEFAULT_MAX_FRAME,
        limits: FrameLimits | None = None,
    ) -> None:
        self._buf = bytearray()
        self._unpack_from = header.unpack_from
        self._header_size = header.size
        self._limits = limits
        if limits is not None:
            max_frame = min(max_frame, limits.max_body)
            self._by_first_byte = limits.by_first_byte
        else:
            self._by_first_byte = (max_frame,) * 256
        self._max_frame = max_frame

    @property
    def max_frame(self) -> int:
        """The longest body this framer accepts, of any type."""
        return self._max_frame

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
        by_first_byte = self._by_first_byte
        while end - pos >= size:
            (length,) = unpack_from(data, pos)
            if length < 1 or length > max_frame:
                raise RemoteWireError(self._bad_length(length))
            start = pos + size
            stop = start + length
            # The type's own limit, as soon as its first byte is here: one
            # index and compare per frame, the slow look only past it.
            if stop > end:
                if start < end and length > by_first_byte[data[start]]:
                    self._check_type(data[start : min(end, start + 8)], length)
                break
            if length > by_first_byte[data[start]]:
                self._check_type(data[start : min(stop, start + 8)], length)
            frames.append(data[start:stop])
            pos = stop
        if pos < end:
            buf += data[pos:] if pos else data
        return frames

    def _check_type(self, head: bytes, length: int) -> None:
        """Raise if a body of ``length`` starting with ``head`` (its first
        bytes, up to 8) is longer than its type allows; return when it is
        not, or when the type cannot be told yet (then at most a tag's few
        bytes get buffered until it can; a body shorter than every tag it
        could begin is of no known type and has passed the overall cap)."""
        limits = self._limits
        if limits is None:
            return
        limit = limits.type_limit(head)
        if limit is not None and length > limit:
            raise RemoteWireError(
                f"{limits.dialect} frame of {limits.type_name(head)} announces "
                f"{length} bytes; the largest legitimate body of that type is {limit} bytes"
            )

    def _bad_length(self, length: int) -> str:
        if length < 0:
            return f"frame length {length} is negative"
        if length == 0:
            return "frame length 0: an empty frame carries no message"
        what = f"{self._limits.dialect} " if self._limits is not None else ""
        return (
            f"frame length {length} exceeds the maximum of {self._max_frame} bytes "
            f"for a {what}frame of any type"
        )
