"""The field primitives of the classic ``cs455`` dialect: a writer and a reader.

Java ``DataOutputStream`` primitives (WIRE-CS455.md): signed byte, big-endian
int (32 bit) and long (64 bit), a ``string`` (a byte ``n`` <= 127 then ``n``
ASCII bytes) and an ``ip`` field, which real peers write in one of two forms:

- raw: a byte ``n`` then the ``n`` address bytes, 4 (IPv4) or 16 (IPv6);
- text: a byte ``n`` then the address as ASCII text, e.g. ``09 3132372e302e302e31``
  for 127.0.0.1 (dotted IPv4 is 7..15 bytes; IPv6 text is read too).

The two never collide: a length of 4 or 16 is always raw, any other length
from 2 to 45 is text. Writing IPv6 as text, a spelling whose length would be
4 or 16 is written exploded (39 bytes) instead, so it still reads back.

The writer raises LocalWireError (our message cannot be expressed), the reader
RemoteWireError (the peer's bytes are wrong), each naming the field.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Callable

from trio_dht.wire.errors import LocalWireError, RemoteWireError

# Java reads a byte signed, so any count or length in a byte must stay <= 127.
MAX_BYTE_COUNT = 127
INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1

RAW_ADDRESS_SIZES = (4, 16)
# The longest address text: IPv6 with an IPv4 tail,
# "0000:0000:0000:0000:0000:ffff:255.255.255.255".
MAX_TEXT_ADDRESS = 45
MIN_TEXT_ADDRESS = 2  # "::"
# The longest ip field on the wire: its length byte plus the longest text.
MAX_IP_FIELD = 1 + MAX_TEXT_ADDRESS
# The shortest: length byte plus "::" as text.
MIN_IP_FIELD = 1 + MIN_TEXT_ADDRESS

INT = struct.Struct(">i")
LONG = struct.Struct(">q")


class Writer:
    """Accumulates the body of one message; every put checks its value so the
    caller gets a LocalWireError naming the field rather than struct.error."""

    __slots__ = ("_parts", "_what")

    def __init__(self, what: str, type_number: int) -> None:
        self._what = what
        self._parts: list[bytes] = [bytes((type_number,))]

    def body(self) -> bytes:
        return b"".join(self._parts)

    def put_int(self, field: str, value: int) -> None:
        self._parts.append(INT.pack(self._ranged(field, value, INT32_MIN, INT32_MAX, "32")))

    def put_long(self, field: str, value: int) -> None:
        self._parts.append(LONG.pack(self._ranged(field, value, INT64_MIN, INT64_MAX, "64")))

    def put_count(self, field: str, value: int, why: str, wide: bool = False) -> None:
        """A count carried in a (signed) byte, or in an int when ``wide``."""
        if wide:
            self.put_int(field, value)
            return
        if not 0 <= value <= MAX_BYTE_COUNT:
            raise LocalWireError(
                f"{self._what}.{field} is {value} but cs455 carries it in a signed byte "
                f"(0..{MAX_BYTE_COUNT}): {why}"
            )
        self._parts.append(bytes((value,)))

    def put_ints(self, field: str, values: tuple[int, ...]) -> None:
        for index, value in enumerate(values):
            self.put_int(f"{field}[{index}]", value)

    def put_ip(self, field: str, host: str, text: bool) -> None:
        """``host`` (an IP literal) as a raw or text ip field."""
        self._parts.append(pack_ip(f"{self._what}.{field}", host, text))

    def put_string(self, field: str, text: str) -> None:
        if not isinstance(text, str):
            raise LocalWireError(f"{self._what}.{field} must be a str, not {type(text).__name__}")
        try:
            raw = text.encode("ascii")
        except UnicodeEncodeError as exc:
            raise LocalWireError(
                f"{self._what}.{field} contains non-ASCII text at position {exc.start}; "
                "the cs455 dialect carries ASCII strings only"
            ) from None
        if len(raw) > MAX_BYTE_COUNT:
            raise LocalWireError(
                f"{self._what}.{field} is {len(raw)} characters long; the cs455 dialect "
                f"carries the length in a signed byte, so at most {MAX_BYTE_COUNT}"
            )
        self._parts.append(bytes((len(raw),)) + raw)

    def _ranged(self, field: str, value: int, low: int, high: int, bits: str) -> int:
        # Anything that is not an int (bool is one, and encodes as 0/1) would
        # reach struct and raise struct.error instead of a LocalWireError.
        if not isinstance(value, int):
            raise LocalWireError(f"{self._what}.{field} must be an int, not {type(value).__name__}")
        if not low <= value <= high:
            raise LocalWireError(
                f"{self._what}.{field} = {value} does not fit a signed {bits}-bit integer"
            )
        return value


def pack_ip(what: str, host: str, text: bool) -> bytes:
    """``host`` as the ip primitive: length byte, then the raw address or,
    when ``text``, its text."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise LocalWireError(
            f"{what} is {host!r}, not an IP literal; the cs455 dialect carries IP "
            "addresses, so resolve host names before encoding"
        ) from None
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
        raise LocalWireError(
            f"{what} is {host!r}: an IPv6 scope id cannot be carried by the cs455 dialect"
        )
    if not text:
        packed = address.packed
        return bytes((len(packed),)) + packed
    spelled = str(address)
    if len(spelled) in RAW_ADDRESS_SIZES:
        # Would read back as raw bytes: the exploded spelling (39) cannot.
        spelled = address.exploded
    return bytes((len(spelled),)) + spelled.encode("ascii")


class Reader:
    """A cursor over one body that names what it was reading when the bytes
    went wrong. Counts the address forms it met (``raw_addresses``,
    ``text_addresses``) so the caller can tell the peer's variant."""

    __slots__ = ("_body", "_pos", "_what", "raw_addresses", "text_addresses")

    def __init__(self, body: bytes, what: str, pos: int = 1) -> None:
        self._body = body
        self._pos = pos  # after the type byte, read by the dispatcher
        self._what = what
        self.raw_addresses = 0
        self.text_addresses = 0

    @property
    def remaining(self) -> int:
        return len(self._body) - self._pos

    def fail(self, reason: str) -> RemoteWireError:
        """An error about this body (for the caller to raise)."""
        return RemoteWireError(f"{self._what}: {reason}")

    def _need(self, size: int, field: str) -> int:
        pos = self._pos
        if len(self._body) - pos < size:
            raise RemoteWireError(
                f"truncated {self._what}: {field} needs {size} bytes at offset {pos} "
                f"but only {len(self._body) - pos} remain"
            )
        self._pos = pos + size
        return pos

    def read_count(self, field: str) -> int:
        pos = self._need(1, field)
        value = self._body[pos]
        if value > MAX_BYTE_COUNT:
            raise self.fail(
                f"{field} byte is {value}, which a Java peer reads as "
                f"{value - 256}; a count or length must be 0..{MAX_BYTE_COUNT}"
            )
        return value

    def read_int(self, field: str) -> int:
        value: int = INT.unpack_from(self._body, self._need(4, field))[0]
        return value

    def read_long(self, field: str) -> int:
        value: int = LONG.unpack_from(self._body, self._need(8, field))[0]
        return value

    def read_ints(self, field: str, count: int) -> tuple[int, ...]:
        # Checked before struct sees the count: a hostile count never makes
        # us build a huge format or tuple.
        if count < 0:
            raise self.fail(f"{field} count {count} is negative")
        pos = self._need(4 * count, f"{field} ({count} ints)")
        values: tuple[int, ...] = struct.unpack_from(f">{count}i", self._body, pos)
        return values

    def read_ip(self, field: str) -> str:
        pos = self._need(1, f"{field} length")
        size = self._body[pos]
        if size in RAW_ADDRESS_SIZES:
            pos = self._need(size, f"{field} address")
            raw = self._body[pos : pos + size]
            self.raw_addresses += 1
            address = ipaddress.IPv4Address(raw) if size == 4 else ipaddress.IPv6Address(raw)
            return str(address)
        if not MIN_TEXT_ADDRESS <= size <= MAX_TEXT_ADDRESS:
            raise self.fail(
                f"{field} has address length {size}; cs455 carries 4 (IPv4) or 16 (IPv6) "
                f"raw bytes, or {MIN_TEXT_ADDRESS}..{MAX_TEXT_ADDRESS} bytes of address text"
            )
        pos = self._need(size, f"{field} address text")
        raw = self._body[pos : pos + size]
        self.text_addresses += 1
        return _parse_text_address(
            raw, lambda why: self.fail(f"{field} (address length {size}) {why}")
        )

    def read_string(self, field: str) -> str:
        size = self.read_count(f"{field} length")
        pos = self._need(size, field)
        raw = self._body[pos : pos + size]
        try:
            return raw.decode("ascii")
        except UnicodeDecodeError as exc:
            raise self.fail(
                f"{field} holds a non-ASCII byte 0x{raw[exc.start]:02x} at "
                f"position {exc.start}; cs455 strings are ASCII"
            ) from None

    def finish(self) -> None:
        extra = self.remaining
        if extra:
            raise RemoteWireError(
                f"{self._what} has {extra} trailing byte{'s' if extra != 1 else ''} "
                "after its last field"
            )


def _parse_text_address(raw: bytes, fail: Callable[[str], RemoteWireError]) -> str:
    """The address in an ip field written as text (canonical spelling back)."""
    try:
        text = raw.decode("ascii")
        address = ipaddress.ip_address(text)
    except (UnicodeDecodeError, ValueError):
        raise fail(f"is neither raw address bytes nor an IP address as text: {raw!r}") from None
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
        raise fail(f"is {text!r}: an IPv6 scope id has no place on the cs455 wire")
    return str(address)
