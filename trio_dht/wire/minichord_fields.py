"""Field checks and the address strings of the ``minichord`` dialect.

protobuf itself rejects out-of-range integers, but with "Value out of range:
N" and no field name; the checks here say which field and which range, so a
caller (or a user reading a log) can act on it. Encoding checks raise
LocalWireError; ``parse_address``, used on a peer's bytes, raises
RemoteWireError.

Bounds the Go schema leaves open, chosen so every frame type has a largest
legitimate size (the frame limits derive from them):

- an info text (statuses) is at most ``MAX_TEXT`` = 1024 bytes of UTF-8, far
  above any status a Go port or trio_dht writes (about 100 bytes);
- an address string is at most ``MAX_ADDRESS`` = 259 bytes: a 253-byte DNS
  name, a colon and a 5-digit port (a bracketed IPv6 literal is shorter).
"""

from __future__ import annotations

from trio_dht.wire.errors import LocalWireError, RemoteWireError, WireError

MAX_TEXT = 1024
MAX_HOST = 253
PORT_MAX = 65535
MAX_ADDRESS = MAX_HOST + 1 + len(str(PORT_MAX))

INT32 = (-(1 << 31), (1 << 31) - 1, "a signed 32-bit integer (sfixed32)")
UINT32 = (0, (1 << 32) - 1, "an unsigned 32-bit integer (fixed32)")
INT64 = (-(1 << 63), (1 << 63) - 1, "a signed 64-bit integer (sfixed64)")


def check_int(value: object, bounds: tuple[int, int, str], what: str) -> int:
    lo, hi, kind = bounds
    # bool is an int subclass, but True as a node id is a bug, not a value.
    if not isinstance(value, int) or isinstance(value, bool):
        raise LocalWireError(f"{what} must be {kind}, got {type(value).__name__} {value!r}")
    if not lo <= value <= hi:
        raise LocalWireError(
            f"{what} = {value} does not fit the wire: it must be {kind}, {lo}..{hi}"
        )
    return value


def check_str(value: object, what: str, limit: int | None = None) -> str:
    """``value`` if it is a string that encodes as UTF-8 (in at most
    ``limit`` bytes when given)."""
    if not isinstance(value, str):
        raise LocalWireError(f"{what} must be a string, got {type(value).__name__} {value!r}")
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError as exc:
        # proto3 strings are UTF-8 on the wire; a lone surrogate has no encoding.
        raise LocalWireError(f"{what} {value!r} cannot be encoded as UTF-8: {exc.reason}") from exc
    if limit is not None and size > limit:
        raise LocalWireError(
            f"{what} is {size} bytes of UTF-8; the minichord dialect carries at most {limit}"
        )
    return value


def check_text(value: object, what: str) -> str:
    """An info text: a string of at most MAX_TEXT bytes of UTF-8."""
    return check_str(value, what, MAX_TEXT)


def _check_host(host: str, what: str, error: type[WireError]) -> None:
    if not host:
        raise error(f"{what}: the host is empty")
    if "[" in host or "]" in host or any(c.isspace() for c in host):
        raise error(f"{what}: host {host!r} contains brackets or white space")


def format_address(host: str, port: int, what: str = "address") -> str:
    """``"host:port"`` as the Go ports write it; IPv6 hosts go in brackets.

    Raises LocalWireError for an empty host, a host with brackets or white
    space, a port outside 0..65535, or an address over MAX_ADDRESS bytes."""
    check_str(host, what)
    _check_host(host, what, LocalWireError)
    if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= PORT_MAX:
        raise LocalWireError(f"{what}: port {port!r} is not an integer in 0..{PORT_MAX}")
    text = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return check_str(text, what, MAX_ADDRESS)


def parse_address(text: str, what: str = "address") -> tuple[str, int]:
    """The ``(host, port)`` in a ``"host:port"`` or ``"[v6host]:port"`` string.

    Strict so that decode and encode are exact inverses: the port is decimal
    without sign, white space or leading zeros and at most 65535; brackets
    appear only around a host that contains a colon (IPv6), and an IPv6 host
    must be bracketed. Anything else raises RemoteWireError."""
    fail = RemoteWireError
    size = len(text.encode("utf-8", "replace"))
    if size > MAX_ADDRESS:
        raise fail(f"{what} is {size} bytes long; an address has at most {MAX_ADDRESS}")
    if text.startswith("["):
        close = text.find("]")
        if close < 0 or text[close + 1 : close + 2] != ":":
            raise fail(f"{what} {text!r} is not [host]:port")
        host = text[1:close]
        port_text = text[close + 2 :]
        if ":" not in host:
            raise fail(f"{what} {text!r}: brackets are only for IPv6 hosts")
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep:
            raise fail(f"{what} {text!r} is not host:port (no colon)")
        if ":" in host:
            raise fail(f"{what} {text!r}: an IPv6 host must be in brackets, [host]:port")
    _check_host(host, f"{what} {text!r}", fail)
    # isdecimal() alone would accept non-ASCII digits; int() would accept
    # "+1", " 1" and "1_0". Require the canonical spelling.
    if not (port_text.isascii() and port_text.isdecimal()) or len(port_text) > 5:
        raise fail(f"{what} {text!r}: port {port_text!r} is not a number in 0..{PORT_MAX}")
    port = int(port_text)
    if port > PORT_MAX or str(port) != port_text:
        raise fail(
            f"{what} {text!r}: port {port_text!r} is not a number in 0..{PORT_MAX}"
            " written without leading zeros"
        )
    return host, port
