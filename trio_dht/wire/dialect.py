"""The small interface every wire dialect implements.

Services hold one ``Dialect`` and never branch on which one it is. The general
path turns whole messages into frames and back; the data path works on raw
frame bodies so a relay never builds a message object per packet.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from typing import ClassVar

from trio_dht.wire.framing import DEFAULT_MAX_FRAME, LengthPrefixFramer
from trio_dht.wire.messages import Message


class Refusal(enum.Enum):
    """Why a registry refuses a registration or deregistration. Each dialect
    maps these to its own status numbers."""

    ADDRESS_MISMATCH = "address mismatch"
    ALREADY_REGISTERED = "already registered"
    OVERLAY_FULL = "overlay full"
    NOT_REGISTERED = "not registered"
    ID_MISMATCH = "id/address mismatch"
    OTHER = "other"


class Dialect(ABC):
    """A wire format: framing plus message codec. Stateless; share freely."""

    name: ClassVar[str]

    @abstractmethod
    def framer(self, max_frame: int = DEFAULT_MAX_FRAME) -> LengthPrefixFramer:
        """A fresh framer for one byte stream."""

    @abstractmethod
    def encode(self, message: Message) -> bytes:
        """The whole frame for ``message``, length prefix included.

        Raises WireError when the message cannot be expressed in this dialect
        (e.g. a string over 127 bytes in cs455)."""

    @abstractmethod
    def decode(self, body: bytes) -> Message:
        """The message in one frame body (the bytes after the length prefix).
        Raises WireError on anything malformed: unknown type, truncated body,
        trailing bytes, out-of-range values."""

    # --- status numbers: classic peers know only -1 ------------------------

    def refusal_status(self, refusal: Refusal) -> int:
        """The status number a refusal carries in this dialect."""
        return -1

    def deregistered_status(self, node_id: int) -> int:
        """The status of a successful deregistration (classic: the id)."""
        return node_id

    # --- data path: no message objects, one call per packet ---------------

    @abstractmethod
    def encode_data(self, destination: int, source: int, payload: int) -> bytes:
        """The whole frame of a freshly originated packet (empty trace)."""

    @abstractmethod
    def data_head(self, body: bytes) -> tuple[int, int] | None:
        """``(destination, payload)`` if ``body`` is a well-formed data frame,
        else None (the caller then uses ``decode`` for the general path,
        which raises WireError on malformed bodies)."""

    @abstractmethod
    def relay(self, body: bytes, relay_id: int) -> bytes:
        """The whole frame to forward: ``body`` (a data frame that
        ``data_head`` accepted) with ``relay_id`` appended to its trace."""
