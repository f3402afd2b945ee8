"""Frames of the cs455 "text-address" Java variant, with struct only.

Layout (WIRE-CS455.md "Variants", tests/vectors/cs455-variants.jsonl):
every frame is a 4-byte big-endian length and a body whose first byte is
the type. Addresses in registration (2), deregistration (4), task finished
(10) and each manifest entry (6) are a byte ``n`` and ``n`` bytes of
dotted ASCII text. The manifest's NR byte is the number of entries listed
and its id list leaves out the receiving node. Everything else is the
canonical layout.

Decoding reads address bytes as Latin-1 text, the way such a peer takes a
raw 4-byte address for a (garbled) host name; a body with bytes left over
is refused (``TextFrameError``).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

LENGTH = struct.Struct(">i")
INT = struct.Struct(">i")
LONG = struct.Struct(">q")

REGISTRATION = 2
REGISTRATION_STATUS = 3
DEREGISTRATION = 4
DEREGISTRATION_STATUS = 5
MANIFEST = 6
SETUP_STATUS = 7
TASK_INITIATE = 8
DATA = 9
TASK_FINISHED = 10
SUMMARY_REQUEST = 11
SUMMARY = 12

# The variant's texts (captured frames).
REGISTERED_TEXT = (
    "Registration was successful. The number of messaging nodes currently constituting "
    "the overlay is ({count})"
)
DEREGISTERED_TEXT = (
    "Deregistration was successful. The number of messaging nodes currently constituting "
    "the overlay is ({count})"
)
MISMATCH_TEXT = "Registration request unsuccessful. Node {real} tried to register as {claimed}."
SETUP_OK_TEXT = "Overlay Node ({node_id}) has connected to everyone in its routing table."


class TextFrameError(ValueError):
    """A body that does not parse under the text-address layout."""


def frame(body: bytes) -> bytes:
    return LENGTH.pack(len(body)) + body


def text(value: str) -> bytes:
    """A byte n and n Latin-1 bytes (the variant's address and string form)."""
    raw = value.encode("latin-1")
    if len(raw) > 127:
        raise ValueError(f"text of {len(raw)} bytes does not fit a signed byte")
    return bytes([len(raw)]) + raw


def registration(host: str, port: int) -> bytes:
    return bytes([REGISTRATION]) + text(host) + INT.pack(port)


def status(kind: int, value: int, info: str) -> bytes:
    """Types 3, 5 and 7: int status and a string."""
    return bytes([kind]) + INT.pack(value) + text(info)


def deregistration(host: str, port: int, node_id: int) -> bytes:
    return bytes([DEREGISTRATION]) + text(host) + INT.pack(port) + INT.pack(node_id)


def task_finished(host: str, port: int, node_id: int) -> bytes:
    return bytes([TASK_FINISHED]) + text(host) + INT.pack(port) + INT.pack(node_id)


def manifest(entries: list[tuple[int, str, int]], node_ids: list[int]) -> bytes:
    """``entries`` as (id, host, port); ``node_ids`` already without the
    receiver."""
    out = bytearray([MANIFEST, len(entries)])
    for node_id, host, port in entries:
        out += INT.pack(node_id) + text(host) + INT.pack(port)
    out.append(len(node_ids))
    for node_id in node_ids:
        out += INT.pack(node_id)
    return bytes(out)


def task_initiate(packets: int) -> bytes:
    return bytes([TASK_INITIATE]) + INT.pack(packets)


def data(destination: int, source: int, payload: int, trace: list[int]) -> bytes:
    head = bytes([DATA]) + INT.pack(destination) + INT.pack(source) + INT.pack(payload)
    return head + INT.pack(len(trace)) + b"".join(INT.pack(i) for i in trace)


def summary_request() -> bytes:
    return bytes([SUMMARY_REQUEST])


def summary(
    node_id: int, sent: int, relayed: int, sum_sent: int, received: int, sum_received: int
) -> bytes:
    return (
        bytes([SUMMARY])
        + INT.pack(node_id)
        + INT.pack(sent)
        + INT.pack(relayed)
        + LONG.pack(sum_sent)
        + INT.pack(received)
        + LONG.pack(sum_received)
    )


# --- decoding -------------------------------------------------------------------


@dataclass
class Decoded:
    """A decoded body: its type and its fields by the vector files' names."""

    kind: int
    fields: dict[str, object]


class _Cursor:
    def __init__(self, body: bytes) -> None:
        self.body = body
        self.at = 0

    def take(self, n: int) -> bytes:
        if self.at + n > len(self.body):
            raise TextFrameError(f"body of {len(self.body)} bytes ends inside a field")
        part = self.body[self.at : self.at + n]
        self.at += n
        return part

    def byte(self) -> int:
        return self.take(1)[0]

    def int32(self) -> int:
        value: int = INT.unpack(self.take(4))[0]
        return value

    def int64(self) -> int:
        value: int = LONG.unpack(self.take(8))[0]
        return value

    def text(self) -> str:
        return self.take(self.byte()).decode("latin-1")

    def done(self) -> None:
        if self.at != len(self.body):
            raise TextFrameError(f"{len(self.body) - self.at} trailing bytes")


def decode(body: bytes) -> Decoded:
    c = _Cursor(body)
    kind = c.byte()
    f: dict[str, object]
    if kind == REGISTRATION:
        f = {"ip": c.text(), "port": c.int32()}
    elif kind in (REGISTRATION_STATUS, DEREGISTRATION_STATUS, SETUP_STATUS):
        f = {"status": c.int32(), "info": c.text()}
    elif kind in (DEREGISTRATION, TASK_FINISHED):
        f = {"ip": c.text(), "port": c.int32(), "node_id": c.int32()}
    elif kind == MANIFEST:
        entries = [
            {"node_id": c.int32(), "ip": c.text(), "port": c.int32()} for _ in range(c.byte())
        ]
        f = {"entries": entries, "node_ids": [c.int32() for _ in range(c.byte())]}
    elif kind == TASK_INITIATE:
        f = {"packets": c.int32()}
    elif kind == DATA:
        f = {"destination": c.int32(), "source": c.int32(), "payload": c.int32()}
        f["trace"] = [c.int32() for _ in range(c.int32())]
    elif kind == SUMMARY_REQUEST:
        f = {}
    elif kind == SUMMARY:
        f = {
            "node_id": c.int32(),
            "sent": c.int32(),
            "relayed": c.int32(),
            "sum_sent": c.int64(),
            "received": c.int32(),
            "sum_received": c.int64(),
        }
    else:
        raise TextFrameError(f"unknown type {kind}")
    c.done()
    return Decoded(kind, f)
